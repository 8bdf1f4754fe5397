//! What a running script gets from the server: [`Host`] runs its Redis commands and logs its
//! lines; [`Reply`] is a command's reply, and a script's, in RESP's terms.

/// A reply, as RESP2 or RESP3 carries it.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `+OK`
    Status(Vec<u8>),
    /// `-ERR ...` (the whole text, code included)
    Error(Vec<u8>),
    /// An error a script returns that the server has counted already (INFO errorstats):
    /// one a command it called gave, as `redis.pcall` returns it or `redis.call` raises it
    /// (their error tables carry `ignore_error_stats_update`, as in Redis 7.0).
    CountedError(Vec<u8>),
    Int(i64),
    Bulk(Vec<u8>),
    /// RESP2's null bulk string (`$-1`).
    NilBulk,
    /// RESP2's null array (`*-1`).
    NilArray,
    /// RESP3's null (`_`).
    Null,
    Array(Vec<Reply>),
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Double(f64),
    Bool(bool),
    BigNumber(Vec<u8>),
    /// A verbatim string: its 3-byte format (`txt`) and its text.
    Verbatim(Vec<u8>, Vec<u8>),
}

/// The server side of a running script.
pub trait Host {
    /// Runs one Redis command (`redis.call`/`redis.pcall`) and returns its reply in the
    /// protocol the script chose with `redis.setresp` (2 or 3). Errors are `Reply::Error`,
    /// already counted in the server's error statistics.
    fn call(&mut self, args: Vec<Vec<u8>>, resp: u8) -> Reply;

    /// `redis.log(level, msg)`: level is 0 (debug) to 3 (warning).
    fn log(&mut self, level: i64, msg: &[u8]);

    /// Polled while the script runs: `Some(reason)` stops it (SCRIPT KILL, shutdown); the
    /// reason is the error the script ends with.
    fn interrupted(&mut self) -> Option<String> {
        None
    }

    /// `redis.set_repl(flags)`: which of the script's writes reach the AOF and replicas
    /// (bit 1: AOF, bit 2: replicas).
    fn set_repl(&mut self, _flags: i64) {}

    /// `redis.acl_check_cmd(...)`: whether the script's user may run this command with these
    /// arguments; Err(text) when it is not a command at all.
    fn acl_check(&mut self, _args: Vec<Vec<u8>>) -> Result<bool, String> {
        Ok(true)
    }
}
