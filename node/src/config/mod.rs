//! The configuration: one registry of every Redis 7.0 directive ([`DIRECTIVES`]),
//! loaded from redis.conf text and `--directive value` flags, read by CONFIG
//! GET, changed by CONFIG SET and written back by CONFIG REWRITE.
//!
//! Stock redis-server 7.0.15 is the reference for every name, alias, bound,
//! default, value format and error text. Deviations, on purpose:
//!
//! - `save` defaults to "" (RDB persistence is not built yet); Redis's
//!   built-in default is `3600 1 300 100 60 10000`.
//! - Directives whose feature is not built ([`Status::NotYet`]) refuse any
//!   value but their default, at startup and in CONFIG SET, with
//!   "`<feature>` is not supported by this ferrodis build yet".
//! - `dir` does not `chdir`: the value is checked (must be an existing
//!   directory), stored absolute, and relative paths (`include`, `logfile`)
//!   resolve against it. The server changes its working directory to
//!   [`Config::dir`] after loading and after CONFIG SET dir.
//! - String values other than the secrets (`requirepass`, `masterauth`,
//!   `masteruser`) must be UTF-8.
//! - The fatal-error header names ferrodis and its version instead of
//!   "Redis 7.0.15"; the lines after it are Redis's.
//! - `include` nesting is limited to 16 levels (Redis recurses until it
//!   crashes); `include` globs use Redis's glob matcher per path component.
//! - CONFIG GET returns matches in registry order (Redis: hash order).
//! - A bare `sentinel` line (what `--sentinel` becomes) is refused as NotYet;
//!   Redis ignores it in a file and enters Sentinel mode from argv.
//! - `rename-command` and `loadmodule` lines are NotYet (Redis checks the
//!   command name, the module).
//! - `activedefrag yes` is accepted (Debian's build, without the bundled
//!   jemalloc, refuses it; upstream builds accept it).
//! - `io-threads N`, when given, is the number of threads that serve clients
//!   (each does its connections' I/O and runs their commands); without it,
//!   there is one per CPU the process may use. Redis's main thread does every
//!   command and N - 1 threads share the socket I/O.
//! - "can't open config file" is the bare message; Redis logs it with the
//!   log-line prefix (`pid:C date # `).
//!
//! Beyond the features the brief names, NotYet also covers `supervised`
//! (systemd/upstart readiness notification) and `syslog-enabled`, since
//! silently ignoring them would change behaviour.

pub(crate) mod parse;
mod rewrite;
mod table;
#[cfg(test)]
mod tests;

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use table::{find, index_of, TABLE};
pub use table::{
    flags, Directive, EnumSpec, FileOnly, Kind, NumFormat, NumSpec, Special, Status, StrSpec,
};

/// Every directive, canonical names first in Redis's order, then the
/// config-file-only ones.
pub static DIRECTIVES: &[Directive] = TABLE;

/// The directive called `name` (or with that alias), case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static Directive> {
    find(name).and_then(|(i, _)| TABLE.get(i))
}

/// Whether CONFIG SET of `name` must be redacted from SLOWLOG, MONITOR and logs.
pub fn is_sensitive(name: &[u8]) -> bool {
    lookup(name).is_some_and(|d| d.has(flags::SENSITIVE))
}

/// Bits of [`Config::notify_keyspace_events`] (Redis's `NOTIFY_*`).
pub mod notify {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const KEYEVENT: u32 = 1 << 1;
    pub const GENERIC: u32 = 1 << 2;
    pub const STRING: u32 = 1 << 3;
    pub const LIST: u32 = 1 << 4;
    pub const SET: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const ZSET: u32 = 1 << 7;
    pub const EXPIRED: u32 = 1 << 8;
    pub const EVICTED: u32 = 1 << 9;
    pub const STREAM: u32 = 1 << 10;
    pub const KEY_MISS: u32 = 1 << 11;
    pub const MODULE: u32 = 1 << 13;
    pub const NEW: u32 = 1 << 14;
    /// `A`: every class but `m` (key miss) and `n` (new key).
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

const VERSION: &str = env!("CARGO_PKG_VERSION");
const BAD_DIRECTIVE: &str = "Bad directive or wrong number of arguments";
const WRONG_ARGS: &str = "wrong number of arguments";
const MAX_INCLUDE_DEPTH: usize = 16;

/// Why the configuration could not be loaded. `Display` is the whole message
/// to print on stderr before exiting with status 1 (Redis's text, without a
/// trailing newline).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A line of the configuration was rejected. `line` counts from 1 in the
    /// text that was parsed: for command-line flags, the config file's text
    /// followed by one line per flag, as redis-server does.
    #[error(
        "\n*** FATAL CONFIG FILE ERROR (ferrodis {VERSION}) ***\n\
         Reading the configuration file, at line {line}\n>>> '{text}'\n{reason}"
    )]
    Directive {
        /// The file the line comes from (or "command line").
        origin: String,
        line: usize,
        /// The line, trimmed.
        text: String,
        reason: String,
    },
    /// A configuration file could not be read.
    #[error("Fatal error, can't open config file '{path}': {reason}")]
    Open { path: String, reason: String },
    /// A check after loading failed (the log file cannot be opened).
    #[error("\n*** FATAL CONFIG FILE ERROR (ferrodis {VERSION}) ***\n{reason}")]
    Check { reason: String },
}

/// Output buffer limits of one client class (`client-output-buffer-limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObufLimit {
    pub hard_bytes: u64,
    pub soft_bytes: u64,
    pub soft_seconds: i64,
}

const fn obuf(hard_bytes: u64, soft_bytes: u64, soft_seconds: i64) -> ObufLimit {
    ObufLimit {
        hard_bytes,
        soft_bytes,
        soft_seconds,
    }
}

/// Defaults for normal, replica, pubsub clients.
const OBUF_DEFAULTS: [ObufLimit; 3] = [
    obuf(0, 0, 0),
    obuf(256 << 20, 64 << 20, 60),
    obuf(32 << 20, 8 << 20, 60),
];
const OBUF_CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];
const OOM_DEFAULTS: [i32; 3] = [0, 200, 800];
const BIND_DEFAULT: [&str; 2] = ["*", "-::*"];
const PERCENTILES_DEFAULT: [f64; 3] = [50.0, 99.0, 99.9];

/// The value of one directive.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Bool(bool),
    Num(i128),
    Enum(u32),
    /// `None` is Redis's NULL.
    Str(Option<Vec<u8>>),
    Dir(String),
    Save(Vec<(i64, i64)>),
    Obuf([ObufLimit; 3]),
    Oom([i32; 3]),
    Notify(u32),
    Bind(Vec<String>),
    ReplicaOf(Option<(String, u16)>),
    Percentiles(Vec<f64>),
    /// Config-file-only directives keep no value.
    Nothing,
}

/// Indexes of the directives with typed accessors.
mod idx {
    use super::index_of;
    pub const PORT: usize = index_of("port");
    pub const BIND: usize = index_of("bind");
    pub const PROTECTED_MODE: usize = index_of("protected-mode");
    pub const MAXMEMORY: usize = index_of("maxmemory");
    pub const MAXMEMORY_POLICY: usize = index_of("maxmemory-policy");
    pub const MAXMEMORY_SAMPLES: usize = index_of("maxmemory-samples");
    pub const LFU_LOG_FACTOR: usize = index_of("lfu-log-factor");
    pub const LFU_DECAY_TIME: usize = index_of("lfu-decay-time");
    pub const PROTO_MAX_BULK_LEN: usize = index_of("proto-max-bulk-len");
    pub const ZSET_MAX_LISTPACK_ENTRIES: usize = index_of("zset-max-listpack-entries");
    pub const ZSET_MAX_LISTPACK_VALUE: usize = index_of("zset-max-listpack-value");
    pub const STREAM_NODE_MAX_ENTRIES: usize = index_of("stream-node-max-entries");
    pub const STREAM_NODE_MAX_BYTES: usize = index_of("stream-node-max-bytes");
    pub const CLIENT_QUERY_BUFFER_LIMIT: usize = index_of("client-query-buffer-limit");
    pub const MAXCLIENTS: usize = index_of("maxclients");
    pub const REQUIREPASS: usize = index_of("requirepass");
    pub const ACLFILE: usize = index_of("aclfile");
    pub const ACL_PUBSUB_DEFAULT: usize = index_of("acl-pubsub-default");
    pub const ACLLOG_MAX_LEN: usize = index_of("acllog-max-len");
    pub const LOGLEVEL: usize = index_of("loglevel");
    pub const LOGFILE: usize = index_of("logfile");
    pub const ALWAYS_SHOW_LOGO: usize = index_of("always-show-logo");
    pub const DAEMONIZE: usize = index_of("daemonize");
    pub const HZ: usize = index_of("hz");
    pub const TIMEOUT: usize = index_of("timeout");
    pub const TCP_KEEPALIVE: usize = index_of("tcp-keepalive");
    pub const SLOWLOG_LOG_SLOWER_THAN: usize = index_of("slowlog-log-slower-than");
    pub const LATENCY_MONITOR_THRESHOLD: usize = index_of("latency-monitor-threshold");
    pub const LATENCY_TRACKING: usize = index_of("latency-tracking");
    pub const BUSY_REPLY_THRESHOLD: usize = index_of("busy-reply-threshold");
    pub const SLOWLOG_MAX_LEN: usize = index_of("slowlog-max-len");
    pub const DATABASES: usize = index_of("databases");
    pub const DIR: usize = index_of("dir");
    pub const APPENDONLY: usize = index_of("appendonly");
    pub const APPENDFSYNC: usize = index_of("appendfsync");
    pub const APPENDFILENAME: usize = index_of("appendfilename");
    pub const APPENDDIRNAME: usize = index_of("appenddirname");
    pub const AOF_LOAD_TRUNCATED: usize = index_of("aof-load-truncated");
    pub const AOF_TIMESTAMP_ENABLED: usize = index_of("aof-timestamp-enabled");
    pub const AOF_USE_RDB_PREAMBLE: usize = index_of("aof-use-rdb-preamble");
    pub const AUTO_AOF_REWRITE_PERCENTAGE: usize = index_of("auto-aof-rewrite-percentage");
    pub const AUTO_AOF_REWRITE_MIN_SIZE: usize = index_of("auto-aof-rewrite-min-size");
    pub const PIDFILE: usize = index_of("pidfile");
    pub const CLUSTER_NODE_TIMEOUT: usize = index_of("cluster-node-timeout");
    pub const CLUSTER_CONFIG_FILE: usize = index_of("cluster-config-file");
    pub const NOTIFY_KEYSPACE_EVENTS: usize = index_of("notify-keyspace-events");
    pub const CLIENT_OUTPUT_BUFFER_LIMIT: usize = index_of("client-output-buffer-limit");
    pub const ENABLE_PROTECTED_CONFIGS: usize = index_of("enable-protected-configs");
    pub const ENABLE_DEBUG_COMMAND: usize = index_of("enable-debug-command");
    pub const ENABLE_MODULE_COMMAND: usize = index_of("enable-module-command");
    pub const TCP_BACKLOG: usize = index_of("tcp-backlog");
    pub const HASH_MAX_LISTPACK_ENTRIES: usize = index_of("hash-max-listpack-entries");
    pub const HASH_MAX_LISTPACK_VALUE: usize = index_of("hash-max-listpack-value");
    pub const SET_MAX_INTSET_ENTRIES: usize = index_of("set-max-intset-entries");
    pub const HLL_SPARSE_MAX_BYTES: usize = index_of("hll-sparse-max-bytes");
    pub const RDBCOMPRESSION: usize = index_of("rdbcompression");
    pub const DBFILENAME: usize = index_of("dbfilename");
    pub const SAVE: usize = index_of("save");
    pub const TRACKING_TABLE_MAX_KEYS: usize = index_of("tracking-table-max-keys");
    pub const CLUSTER_ENABLED: usize = index_of("cluster-enabled");
    pub const CLUSTER_PORT: usize = index_of("cluster-port");
    pub const CLUSTER_ANNOUNCE_IP: usize = index_of("cluster-announce-ip");
    pub const CLUSTER_ANNOUNCE_PORT: usize = index_of("cluster-announce-port");
    pub const CLUSTER_ANNOUNCE_BUS_PORT: usize = index_of("cluster-announce-bus-port");
    pub const CLUSTER_ANNOUNCE_HOSTNAME: usize = index_of("cluster-announce-hostname");
    pub const CLUSTER_REQUIRE_FULL_COVERAGE: usize = index_of("cluster-require-full-coverage");
    pub const CLUSTER_ALLOW_READS_WHEN_DOWN: usize = index_of("cluster-allow-reads-when-down");
}

/// The server's configuration: a value per directive of [`DIRECTIVES`] and
/// the config file it was started with (re-read by [`Config::rewrite`]).
#[derive(Clone)]
pub struct Config {
    values: Vec<Value>,
    config_file: Option<PathBuf>,
    /// `user` lines: the user name, then its rules (loaded by [`crate::acl`] at startup).
    users: Vec<Vec<Vec<u8>>>,
    /// Whether `io-threads` was given (see [`Config::worker_threads`]).
    io_threads_given: bool,
}

impl std::fmt::Debug for Config {
    /// Lists the file only: values may hold secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("config_file", &self.config_file)
            .finish_non_exhaustive()
    }
}

impl Default for Config {
    /// Every directive at its default; `dir` is the current directory.
    /// `CONFIG GET *` then prints what stock 7.0.15 prints when started without
    /// a config file, except `dir` (the current directory) and `save` ("",
    /// see the module documentation); checked by the tests.
    fn default() -> Config {
        Config {
            values: TABLE.iter().map(default_value).collect(),
            config_file: None,
            users: Vec::new(),
            io_threads_given: false,
        }
    }
}

/// An error in one line of configuration text.
enum LineError {
    /// The reason printed under the line.
    Reason(String),
    /// An error in an included file, reported as is.
    Nested(ConfigError),
}

impl From<String> for LineError {
    fn from(reason: String) -> LineError {
        LineError::Reason(reason)
    }
}

impl From<&str> for LineError {
    fn from(reason: &str) -> LineError {
        LineError::Reason(reason.to_string())
    }
}

fn default_value(d: &Directive) -> Value {
    match d.kind {
        Kind::Bool { default } => Value::Bool(default),
        Kind::Num(n) => Value::Num(n.default),
        Kind::Enum(e) => Value::Enum(e.default),
        Kind::Str(s) => Value::Str(s.default.map(|v| v.as_bytes().to_vec())),
        Kind::Special(special) => match special {
            Special::Dir => Value::Dir(
                std::env::current_dir()
                    .ok()
                    .and_then(|p| p.to_str().map(str::to_string))
                    .unwrap_or_default(),
            ),
            Special::Save => Value::Save(vec![(3600, 1), (300, 100), (60, 10000)]),
            Special::ClientOutputBufferLimit => Value::Obuf(OBUF_DEFAULTS),
            Special::OomScoreAdjValues => Value::Oom(OOM_DEFAULTS),
            Special::NotifyKeyspaceEvents => Value::Notify(0),
            Special::Bind => Value::Bind(BIND_DEFAULT.iter().map(|s| s.to_string()).collect()),
            Special::ReplicaOf => Value::ReplicaOf(None),
            Special::LatencyPercentiles => Value::Percentiles(PERCENTILES_DEFAULT.to_vec()),
        },
        Kind::FileOnly(_) | Kind::Deprecated => Value::Nothing,
    }
}

/// The text of an I/O error as C's `strerror` gives it.
fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn utf8(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| "argument must be a valid UTF-8 string".to_string())
}

fn not_yet(feature: &str) -> String {
    format!("{feature} is not supported by this ferrodis build yet")
}

fn set_failed(name: &str, reason: &str) -> String {
    format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}")
}

fn enum_name(spec: &EnumSpec, value: u32, bitflags: bool) -> String {
    let mut names: Option<String> = None;
    let mut unmatched = value;
    for &(name, v) in spec.values {
        if v == value {
            return name.to_string();
        }
        if bitflags && v != 0 && v == unmatched & v {
            names = Some(match names {
                Some(n) => format!("{n} {name}"),
                None => name.to_string(),
            });
            unmatched &= !v;
        }
    }
    match names {
        Some(n) if unmatched == 0 => n,
        _ => "unknown".to_string(),
    }
}

fn parse_enum(spec: &EnumSpec, bitflags: bool, args: &[&[u8]]) -> Result<u32, String> {
    let invalid = || {
        let names: Vec<&str> = spec.values.iter().map(|(n, _)| *n).collect();
        format!(
            "argument(s) must be one of the following: {}",
            names.join(", ")
        )
    };
    if args.is_empty() || (!bitflags && args.len() != 1) {
        return Err(invalid());
    }
    let mut value = 0;
    for arg in args {
        let mut matched = false;
        for &(name, v) in spec.values {
            if arg.eq_ignore_ascii_case(name.as_bytes()) {
                value |= v;
                matched = true;
            }
        }
        if !matched {
            return Err(invalid());
        }
    }
    if let Some(check) = spec.check {
        check(value)?;
    }
    Ok(value)
}

fn parse_num(spec: &NumSpec, arg: &[u8]) -> Result<i128, String> {
    let memory = matches!(spec.format, NumFormat::Memory | NumFormat::MemoryOrPercent);
    let mut parsed = None;
    if memory {
        parsed = parse::memtoull(arg).map(|v| v as i64);
    }
    if parsed.is_none() && spec.format == NumFormat::MemoryOrPercent {
        if let [digits @ .., b'%'] = arg {
            if !digits.is_empty() {
                parsed = parse::string2ll(digits).filter(|v| *v >= 0).map(|v| -v);
            }
        }
    }
    if parsed.is_none() && spec.format == NumFormat::Octal {
        parsed = parse::strtoll_octal(arg);
    }
    if parsed.is_none() && spec.format == NumFormat::Integer {
        parsed = parse::string2ll(arg);
    }
    let Some(ll) = parsed else {
        return Err(match spec.format {
            NumFormat::MemoryOrPercent => "argument must be a memory or percent value",
            NumFormat::Memory => "argument must be a memory value",
            NumFormat::Octal => "argument couldn't be parsed as an octal number",
            NumFormat::Integer => "argument couldn't be parsed into an integer",
        }
        .to_string());
    };
    let out_of_range = || {
        if spec.format == NumFormat::Octal {
            format!(
                "argument must be between {:o} and {:o} inclusive",
                spec.min, spec.max
            )
        } else {
            format!(
                "argument must be between {} and {} inclusive",
                spec.min, spec.max
            )
        }
    };
    if spec.unsigned {
        let v = i128::from(ll as u64);
        if v < spec.min || v > spec.max {
            return Err(out_of_range());
        }
        return Ok(v);
    }
    let v = i128::from(ll);
    if spec.format == NumFormat::MemoryOrPercent && v < 0 {
        if v < spec.min {
            return Err(format!(
                "percentage argument must be less or equal to {}",
                -spec.min
            ));
        }
    } else if v < spec.min || v > spec.max {
        return Err(out_of_range());
    }
    Ok(v)
}

fn parse_save(args: &[&[u8]]) -> Result<Vec<(i64, i64)>, String> {
    const INVALID: &str = "Invalid save parameters";
    let args = match args {
        [[]] => &[],
        _ => args,
    };
    if args.len() % 2 == 1 {
        return Err(INVALID.into());
    }
    let mut params = Vec::new();
    for pair in args.chunks(2) {
        let seconds = parse::strtoll(pair[0]).filter(|v| *v >= 1);
        let changes = parse::strtoll(pair[1]).filter(|v| *v >= 0);
        match (seconds, changes) {
            (Some(s), Some(c)) => params.push((s, i64::from(c as i32))),
            _ => return Err(INVALID.into()),
        }
    }
    Ok(params)
}

fn parse_obuf(args: &[&[u8]], current: &[ObufLimit; 3]) -> Result<[ObufLimit; 3], String> {
    if !args.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut limits = *current;
    let mut updates = Vec::new();
    for quad in args.chunks(4) {
        let class = match quad[0].to_ascii_lowercase().as_slice() {
            b"normal" => 0,
            b"slave" | b"replica" => 1,
            b"pubsub" => 2,
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let hard = parse::memtoull(quad[1]);
        let soft = parse::memtoull(quad[2]);
        let seconds = parse::strtoll(quad[3])
            .map(|s| s as i32)
            .filter(|s| *s >= 0);
        match (hard, soft, seconds) {
            (Some(hard), Some(soft), Some(seconds)) => {
                updates.push((class, obuf(hard, soft, i64::from(seconds))))
            }
            _ => {
                return Err(
                    "Error in hard, soft or soft_seconds setting in buffer limit \
                            configuration."
                        .into(),
                )
            }
        }
    }
    for (class, limit) in updates {
        limits[class] = limit;
    }
    Ok(limits)
}

fn parse_oom(args: &[&[u8]]) -> Result<[i32; 3], String> {
    if args.len() != 3 {
        return Err(WRONG_ARGS.into());
    }
    let mut values = [0; 3];
    for (slot, arg) in values.iter_mut().zip(args) {
        match parse::strtoll(arg) {
            Some(v) if (-2000..=2000).contains(&v) => *slot = v as i32,
            _ => {
                return Err(
                    "Invalid oom-score-adj-values, elements must be between -2000 and 2000.".into(),
                )
            }
        }
    }
    Ok(values)
}

fn parse_notify(arg: &[u8]) -> Result<u32, String> {
    use notify::*;
    let mut flags = 0;
    for c in arg {
        flags |= match c {
            b'A' => ALL,
            b'g' => GENERIC,
            b'$' => STRING,
            b'l' => LIST,
            b's' => SET,
            b'h' => HASH,
            b'z' => ZSET,
            b'x' => EXPIRED,
            b'e' => EVICTED,
            b'K' => KEYSPACE,
            b'E' => KEYEVENT,
            b't' => STREAM,
            b'm' => KEY_MISS,
            b'd' => MODULE,
            b'n' => NEW,
            _ => return Err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into()),
        };
    }
    Ok(flags)
}

/// Redis's `keyspaceEventsFlagsToString` (note: `A` hides `n`).
fn notify_string(flags: u32) -> String {
    use notify::*;
    let mut s = String::new();
    if flags & ALL == ALL {
        s.push('A');
    } else {
        for (bit, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if flags & bit != 0 {
                s.push(c);
            }
        }
    }
    for (bit, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if flags & bit != 0 {
            s.push(c);
        }
    }
    s
}

fn parse_bind(args: &[&[u8]]) -> Result<Vec<String>, String> {
    if args.len() > 16 {
        return Err("Too many bind addresses specified.".into());
    }
    match args {
        [[]] => Ok(Vec::new()),
        _ => args.iter().map(|a| utf8(a)).collect(),
    }
}

fn parse_replicaof(args: &[&[u8]]) -> Result<Option<(String, u16)>, String> {
    let [host, port] = args else {
        return Err(WRONG_ARGS.into());
    };
    if host.eq_ignore_ascii_case(b"no") && port.eq_ignore_ascii_case(b"one") {
        return Ok(None);
    }
    let port = parse::strtoll(port)
        .and_then(|p| u16::try_from(p).ok())
        .ok_or("Invalid master port")?;
    Ok(Some((utf8(host)?, port)))
}

fn parse_percentiles(args: &[&[u8]]) -> Result<Vec<f64>, String> {
    let args = match args {
        [[]] => &[],
        _ => args,
    };
    args.iter()
        .map(|a| {
            let v =
                parse::string2d(a).ok_or("Invalid latency-tracking-info-percentiles parameters")?;
            if !(0.0..=100.0).contains(&v) {
                return Err(
                    "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                        .to_string(),
                );
            }
            Ok(v)
        })
        .collect()
}

/// `cwd.join(path)` with `.` and `..` resolved lexically (Redis's `getAbsolutePath`).
fn absolute(path: &Path) -> PathBuf {
    let joined = match std::env::current_dir() {
        Ok(cwd) => cwd.join(path),
        Err(_) => path.to_path_buf(),
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn has_wildcard(s: &[u8]) -> bool {
    s.iter().any(|c| matches!(c, b'*' | b'?' | b'['))
}

/// The existing paths matching `pattern`, sorted, like glob(3): wildcards may
/// appear in any component and do not match a leading dot.
fn glob_paths(pattern: &Path) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::new()];
    for component in pattern.components() {
        let part = component.as_os_str().as_bytes();
        let mut next = Vec::new();
        for base in &found {
            if !has_wildcard(part) {
                next.push(base.join(component.as_os_str()));
                continue;
            }
            let dir = if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                base.as_path()
            };
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let bytes = name.as_bytes();
                if bytes.first() == Some(&b'.') && part.first() != Some(&b'.') {
                    continue;
                }
                if parse::glob_match(part, bytes, false) {
                    next.push(base.join(&name));
                }
            }
        }
        found = next;
    }
    found.retain(|p| p.exists());
    found.sort();
    found
}

impl Config {
    /// Like redis-server's argv (without the program name): an optional
    /// config file path first (or `-` for stdin, first or last), then
    /// `--directive value [value...]` (a flag's values run until the next
    /// `--`). The file is loaded first, then the flags as if appended to it,
    /// one line each. Then [`Config::validate`].
    pub fn from_args(args: &[String]) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        let mut j = 0;
        if let Some(first) = args.first() {
            if !first.starts_with('-') {
                config.config_file = Some(absolute(Path::new(first)));
                j = 1;
            }
        }
        let mut from_stdin = false;
        let mut options: Vec<u8> = Vec::new();
        let mut handled_last_arg = true;
        while j < args.len() {
            let arg = &args[j];
            let last = j + 1 == args.len();
            let next_is_flag = args.get(j + 1).is_some_and(|a| a.starts_with("--"));
            if arg == "-" && (j == 0 || last) {
                from_stdin = true;
            } else if handled_last_arg && arg.starts_with("--") {
                if !options.is_empty() {
                    options.push(b'\n');
                }
                options.extend_from_slice(&arg.as_bytes()[2..]);
                options.push(b' ');
                let words = parse::split_args(arg.as_bytes()).map_or(0, |w| w.len());
                if words == 1 {
                    // Only a name: its values follow. Redis special-cases a
                    // valueless `--save` (as `--save ""`) and `--sentinel`.
                    handled_last_arg = false;
                    if arg.eq_ignore_ascii_case("--save") && (next_is_flag || last) {
                        options.extend_from_slice(b"\"\"");
                        handled_last_arg = next_is_flag;
                    } else if arg.eq_ignore_ascii_case("--sentinel") && next_is_flag {
                        handled_last_arg = true;
                    }
                } else {
                    handled_last_arg = true;
                }
            } else {
                parse::repr(&mut options, arg.as_bytes());
                options.push(b' ');
                handled_last_arg = true;
            }
            j += 1;
        }

        let mut text = Vec::new();
        let mut origin = "command line".to_string();
        if let Some(path) = &config.config_file {
            origin = path.display().to_string();
            text = std::fs::read(path).map_err(|e| ConfigError::Open {
                path: origin.clone(),
                reason: strerror(&e),
            })?;
        }
        if from_stdin {
            std::io::stdin()
                .read_to_end(&mut text)
                .map_err(|e| ConfigError::Open {
                    path: "-".to_string(),
                    reason: strerror(&e),
                })?;
        }
        text.push(b'\n');
        text.extend_from_slice(&options);
        config.load_bytes(&text, &origin)?;
        config.validate()?;
        Ok(config)
    }

    /// Parses config text (redis.conf format: `directive arg...`, `#`
    /// comments, quoting as in redis-cli) and applies it on top of the current
    /// values. `origin` names the text in errors.
    pub fn load_str(&mut self, text: &str, origin: &str) -> Result<(), ConfigError> {
        self.load_bytes(text.as_bytes(), origin)
    }

    /// [`Config::load_str`] for text that may not be UTF-8.
    pub fn load_bytes(&mut self, text: &[u8], origin: &str) -> Result<(), ConfigError> {
        self.load_at(text, origin, 0)
    }

    /// Loads text at `include` nesting `depth`.
    fn load_at(&mut self, text: &[u8], origin: &str, depth: usize) -> Result<(), ConfigError> {
        for (n, raw) in text.split(|&c| c == b'\n').enumerate() {
            let line = parse::trim(raw);
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let result = match parse::split_args(line) {
                None => Err(LineError::from("Unbalanced quotes in configuration line")),
                Some(argv) => match argv.split_first() {
                    None => Ok(()),
                    Some((name, args)) => {
                        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                        self.apply_line(&name.to_ascii_lowercase(), &args, depth)
                    }
                },
            };
            match result {
                Ok(()) => {}
                Err(LineError::Nested(e)) => return Err(e),
                Err(LineError::Reason(reason)) => {
                    return Err(ConfigError::Directive {
                        origin: origin.to_string(),
                        line: n + 1,
                        text: lossy(line),
                        reason,
                    })
                }
            }
        }
        Ok(())
    }

    /// Checks made once everything is loaded: the log file must open for
    /// appending (it is created if missing).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let logfile = self.logfile();
        if !logfile.is_empty() {
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(self.resolve(logfile.as_bytes()))
                .map_err(|e| ConfigError::Check {
                    reason: format!("Can't open the log file: {}", strerror(&e)),
                })?;
        }
        Ok(())
    }

    fn apply_line(&mut self, name: &[u8], args: &[&[u8]], depth: usize) -> Result<(), LineError> {
        let shown = lossy(name);
        let Some((i, _)) = find(name) else {
            if name.contains(&b'.') {
                if args.is_empty() {
                    return Err("Module config specified without value".into());
                }
                return Err(format!("{shown}: {}", not_yet("module configuration")).into());
            }
            return Err(BAD_DIRECTIVE.into());
        };
        let d = &TABLE[i];
        self.io_threads_given |= d.name == "io-threads";
        let unsupported = || -> LineError {
            let feature = match d.status {
                Status::NotYet(feature) => feature,
                _ => d.name,
            };
            format!("{shown}: {}", not_yet(feature)).into()
        };
        match d.kind {
            Kind::FileOnly(FileOnly::Include) => match args {
                [pattern] => self.include(pattern, depth),
                _ => Err(BAD_DIRECTIVE.into()),
            },
            Kind::FileOnly(FileOnly::RenameCommand) if args.len() == 2 => Err(unsupported()),
            Kind::FileOnly(FileOnly::User) if !args.is_empty() => {
                let pubsub_all = self.acl_pubsub_default_all();
                crate::acl::file::check_config_user(args, &self.users, pubsub_all)?;
                self.users.push(args.iter().map(|a| a.to_vec()).collect());
                Ok(())
            }
            Kind::FileOnly(FileOnly::LoadModule) if !args.is_empty() => Err(unsupported()),
            Kind::FileOnly(FileOnly::Sentinel) if args.is_empty() => Err(unsupported()),
            Kind::FileOnly(FileOnly::Sentinel) => {
                Err("sentinel directive while not in sentinel mode".into())
            }
            Kind::FileOnly(_) => Err(BAD_DIRECTIVE.into()),
            Kind::Deprecated if args.len() == 1 => Ok(()),
            Kind::Deprecated => Err(BAD_DIRECTIVE.into()),
            _ => {
                let multi = d.has(flags::MULTI_ARG);
                if !multi && args.len() != 1 {
                    return Err(WRONG_ARGS.into());
                }
                let split;
                let values: Vec<&[u8]> = match args {
                    [one] if multi && !one.is_empty() => {
                        split = parse::split_args(one)
                            .ok_or("Unbalanced quotes in configuration line")?;
                        split.iter().map(Vec::as_slice).collect()
                    }
                    _ => args.to_vec(),
                };
                let value = self.parse_value(i, &values)?;
                if self.is_unsupported_value(d, &value) {
                    return Err(unsupported());
                }
                self.values[i] = value;
                Ok(())
            }
        }
    }

    fn include(&mut self, pattern: &[u8], depth: usize) -> Result<(), LineError> {
        if depth + 1 >= MAX_INCLUDE_DEPTH {
            return Err("include nesting is too deep".into());
        }
        let path = self.resolve(pattern);
        let files = if has_wildcard(pattern) {
            glob_paths(&path)
        } else {
            vec![path]
        };
        for file in files {
            let origin = file.display().to_string();
            let text = std::fs::read(&file).map_err(|e| {
                LineError::Nested(ConfigError::Open {
                    path: origin.clone(),
                    reason: strerror(&e),
                })
            })?;
            self.load_at(&text, &origin, depth + 1)
                .map_err(LineError::Nested)?;
        }
        Ok(())
    }

    /// A path relative to `dir` (Redis resolves against its working
    /// directory, which `dir` sets).
    fn resolve(&self, path: &[u8]) -> PathBuf {
        let path = Path::new(OsStr::from_bytes(path));
        let dir = self.dir();
        if path.is_absolute() || dir.is_empty() {
            path.to_path_buf()
        } else {
            Path::new(dir).join(path)
        }
    }

    /// A NotYet directive given anything but its default.
    fn is_unsupported_value(&self, d: &Directive, value: &Value) -> bool {
        matches!(d.status, Status::NotYet(_)) && *value != default_value(d)
    }

    /// Parses the arguments of directive `i` (already split) into a value.
    fn parse_value(&self, i: usize, args: &[&[u8]]) -> Result<Value, String> {
        let d = &TABLE[i];
        let first = args.first().copied().unwrap_or_default();
        match d.kind {
            Kind::Bool { .. } => {
                if first.eq_ignore_ascii_case(b"yes") {
                    Ok(Value::Bool(true))
                } else if first.eq_ignore_ascii_case(b"no") {
                    Ok(Value::Bool(false))
                } else {
                    Err("argument must be 'yes' or 'no'".into())
                }
            }
            Kind::Num(spec) => {
                let mut v = parse_num(&spec, first)?;
                if i == idx::HZ {
                    // Redis accepts any hz but clamps it to 1..=500.
                    v = v.clamp(1, 500);
                }
                Ok(Value::Num(v))
            }
            Kind::Enum(spec) => parse_enum(&spec, d.has(flags::MULTI_ARG), args).map(Value::Enum),
            Kind::Str(spec) => {
                if let Some(check) = spec.check {
                    check(first)?;
                }
                if !d.has(flags::SENSITIVE) {
                    utf8(first)?;
                }
                Ok(Value::Str(if spec.empty_is_null && first.is_empty() {
                    None
                } else {
                    Some(first.to_vec())
                }))
            }
            Kind::Special(special) => match special {
                Special::Dir => self.parse_dir(args).map(Value::Dir),
                Special::Save => parse_save(args).map(Value::Save),
                Special::ClientOutputBufferLimit => {
                    let current = match &self.values[i] {
                        Value::Obuf(limits) => *limits,
                        _ => OBUF_DEFAULTS,
                    };
                    parse_obuf(args, &current).map(Value::Obuf)
                }
                Special::OomScoreAdjValues => parse_oom(args).map(Value::Oom),
                Special::NotifyKeyspaceEvents => match args {
                    [arg] => parse_notify(arg).map(Value::Notify),
                    _ => Err(WRONG_ARGS.into()),
                },
                Special::Bind => parse_bind(args).map(Value::Bind),
                Special::ReplicaOf => parse_replicaof(args).map(Value::ReplicaOf),
                Special::LatencyPercentiles => parse_percentiles(args).map(Value::Percentiles),
            },
            Kind::FileOnly(_) | Kind::Deprecated => Err(BAD_DIRECTIVE.into()),
        }
    }

    /// `dir`: like Redis's `chdir`, but only checked and recorded.
    fn parse_dir(&self, args: &[&[u8]]) -> Result<String, String> {
        let [arg] = args else {
            return Err(WRONG_ARGS.into());
        };
        if arg.is_empty() {
            return Err("No such file or directory".into());
        }
        let path = self.resolve(arg);
        let meta = std::fs::metadata(&path).map_err(|e| strerror(&e))?;
        if !meta.is_dir() {
            return Err("Not a directory".into());
        }
        let real = std::fs::canonicalize(&path).map_err(|e| strerror(&e))?;
        real.to_str()
            .map(str::to_string)
            .ok_or_else(|| "argument must be a valid UTF-8 string".to_string())
    }

    /// The value of directive `i` as CONFIG GET prints it.
    fn format(&self, i: usize) -> String {
        let d = &TABLE[i];
        match (&d.kind, &self.values[i]) {
            (_, Value::Bool(b)) => String::from(if *b { "yes" } else { "no" }),
            (Kind::Num(spec), Value::Num(v)) => match spec.format {
                NumFormat::MemoryOrPercent if *v < 0 => format!("{}%", -v),
                NumFormat::Octal => format!("{v:o}"),
                _ => v.to_string(),
            },
            (Kind::Enum(spec), Value::Enum(v)) => enum_name(spec, *v, d.has(flags::MULTI_ARG)),
            (_, Value::Str(s)) => s.as_deref().map(lossy).unwrap_or_default(),
            (_, Value::Dir(dir)) => dir.clone(),
            (_, Value::Save(params)) => params
                .iter()
                .map(|(s, c)| format!("{s} {c}"))
                .collect::<Vec<_>>()
                .join(" "),
            (_, Value::Obuf(limits)) => limits
                .iter()
                .zip(OBUF_CLASSES)
                .map(|(l, class)| {
                    format!(
                        "{class} {} {} {}",
                        l.hard_bytes, l.soft_bytes, l.soft_seconds
                    )
                })
                .collect::<Vec<_>>()
                .join(" "),
            (_, Value::Oom(v)) => format!("{} {} {}", v[0], v[1], v[2]),
            (_, Value::Notify(flags)) => notify_string(*flags),
            (_, Value::Bind(addrs)) => addrs.join(" "),
            (_, Value::ReplicaOf(Some((host, port)))) => format!("{host} {port}"),
            (_, Value::ReplicaOf(None)) => String::new(),
            (_, Value::Percentiles(v)) => v
                .iter()
                .map(|p| parse::format_f64(*p))
                .collect::<Vec<_>>()
                .join(" "),
            _ => String::new(),
        }
    }

    /// CONFIG GET: every `(name, value)` whose name or alias matches one of
    /// the patterns. A pattern without `*?[` is an exact, case-insensitive
    /// name (hidden directives included) and is echoed as given; a glob
    /// matches names and aliases case-insensitively, hidden ones excepted.
    /// Each name appears once.
    pub fn get(&self, patterns: &[&[u8]]) -> Vec<(String, String)> {
        let mut matches: Vec<(String, usize)> = Vec::new();
        let seen = |m: &[(String, usize)], name: &[u8]| {
            m.iter()
                .any(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
        };
        for pattern in patterns {
            if !has_wildcard(pattern) {
                if seen(&matches, pattern) {
                    continue;
                }
                if let Some((i, _)) = find(pattern).filter(|(i, _)| TABLE[*i].is_runtime()) {
                    matches.push((lossy(pattern), i));
                }
                continue;
            }
            for (i, d) in TABLE.iter().enumerate() {
                if !d.is_runtime() || d.has(flags::HIDDEN) {
                    continue;
                }
                for name in std::iter::once(d.name).chain(d.alias) {
                    if !seen(&matches, name.as_bytes())
                        && parse::glob_match(pattern, name.as_bytes(), true)
                    {
                        matches.push((name.to_string(), i));
                    }
                }
            }
        }
        matches
            .into_iter()
            .map(|(name, i)| (name, self.format(i)))
            .collect()
    }

    /// CONFIG SET with one or more pairs, all or nothing, as a client that is
    /// not local (see [`Config::set_as`]). Returns the canonical names whose
    /// value changed. Errors are Redis's full error replies (`ERR ...`).
    pub fn set(&mut self, pairs: &[(&[u8], &[u8])]) -> Result<Vec<&'static str>, String> {
        self.set_as(pairs, false)
    }

    /// [`Config::set`] for a client that is (or is not) connected from the
    /// local host, which `enable-protected-configs local` allows to set
    /// protected directives (`dir`, `dbfilename`).
    pub fn set_as(
        &mut self,
        pairs: &[(&[u8], &[u8])],
        client_is_local: bool,
    ) -> Result<Vec<&'static str>, String> {
        let protected_ok = match self.values[idx::ENABLE_PROTECTED_CONFIGS] {
            Value::Enum(1) => true,
            Value::Enum(2) => client_is_local,
            _ => false,
        };
        let mut chosen: Vec<(usize, bool, &[u8])> = Vec::new();
        let mut unknown: Option<&[u8]> = None;
        let mut refused: Option<(String, &str)> = None;
        for &(name, value) in pairs {
            let Some((i, alias)) = find(name).filter(|(i, _)| TABLE[*i].is_runtime()) else {
                if refused.is_none() && unknown.is_none() {
                    unknown = Some(name);
                }
                continue;
            };
            if refused.is_some() || unknown.is_some() {
                continue;
            }
            let d = &TABLE[i];
            let reason = if d.has(flags::IMMUTABLE) {
                Some("can't set immutable config")
            } else if d.has(flags::PROTECTED) && !protected_ok {
                Some("can't set protected config")
            } else if chosen.iter().any(|&(j, a, _)| j == i && a == alias) {
                Some("duplicate parameter")
            } else {
                None
            };
            match reason {
                Some(reason) => refused = Some((lossy(name), reason)),
                None => chosen.push((i, alias, value)),
            }
        }
        if let Some(name) = unknown {
            return Err(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                lossy(name)
            ));
        }
        if let Some((name, reason)) = refused {
            return Err(set_failed(&name, reason));
        }

        let mut next = self.clone();
        let mut changed: Vec<&'static str> = Vec::new();
        for (i, alias, value) in chosen {
            let d = &TABLE[i];
            let shown = if alias {
                d.alias.unwrap_or(d.name)
            } else {
                d.name
            };
            let args = if d.has(flags::MULTI_ARG) {
                parse::split_spaces(value)
            } else {
                vec![value]
            };
            let parsed = next
                .parse_value(i, &args)
                .map_err(|reason| set_failed(shown, &reason))?;
            if next.is_unsupported_value(d, &parsed) {
                let feature = match d.status {
                    Status::NotYet(feature) => feature,
                    _ => d.name,
                };
                return Err(set_failed(shown, &not_yet(feature)));
            }
            if parsed != next.values[i] {
                next.values[i] = parsed;
                if !changed.contains(&d.name) {
                    changed.push(d.name);
                }
            }
        }
        self.values = next.values;
        Ok(changed)
    }

    /// Current value of a directive (by name or alias) as CONFIG GET prints it.
    pub fn get_str(&self, name: &str) -> Option<String> {
        find(name.as_bytes())
            .filter(|(i, _)| TABLE[*i].is_runtime())
            .map(|(i, _)| self.format(i))
    }

    /// How many threads serve clients: `io-threads` when it was given, else `None` (one per
    /// CPU the process may use).
    pub fn worker_threads(&self) -> Option<usize> {
        self.io_threads_given
            .then(|| self.get_str("io-threads")?.parse().ok())
            .flatten()
    }

    /// The config file given at startup (absolute), if any.
    pub fn config_file(&self) -> Option<&Path> {
        self.config_file.as_deref()
    }

    /// The `user` lines of the configuration: name, then rules.
    pub fn users(&self) -> &[Vec<Vec<u8>>] {
        &self.users
    }

    /// `aclfile` ("" when unset).
    pub fn aclfile(&self) -> &str {
        self.text(idx::ACLFILE)
    }

    /// `acl-pubsub-default allchannels`.
    pub fn acl_pubsub_default_all(&self) -> bool {
        self.enum_str(idx::ACL_PUBSUB_DEFAULT) == "allchannels"
    }

    /// `acllog-max-len`.
    pub fn acllog_max_len(&self) -> u64 {
        u64::try_from(self.num(idx::ACLLOG_MAX_LEN)).unwrap_or(128)
    }

    fn num(&self, i: usize) -> i128 {
        match self.values.get(i) {
            Some(Value::Num(v)) => *v,
            _ => 0,
        }
    }

    fn boolean(&self, i: usize) -> bool {
        matches!(self.values.get(i), Some(Value::Bool(true)))
    }

    fn enum_str(&self, i: usize) -> &'static str {
        let (Some(Kind::Enum(spec)), Some(Value::Enum(v))) =
            (TABLE.get(i).map(|d| d.kind), self.values.get(i))
        else {
            return "";
        };
        spec.values
            .iter()
            .find(|(_, val)| val == v)
            .map_or("", |(name, _)| name)
    }

    fn text(&self, i: usize) -> &str {
        match self.values.get(i) {
            Some(Value::Str(Some(v))) => std::str::from_utf8(v).unwrap_or_default(),
            Some(Value::Dir(d)) => d,
            _ => "",
        }
    }

    pub fn port(&self) -> u16 {
        u16::try_from(self.num(idx::PORT)).unwrap_or(6379)
    }

    /// Addresses to listen on. `*` is every IPv4 address, `::*` every IPv6
    /// one; a leading `-` marks an address whose failure to bind is ignored.
    /// Empty: no TCP listener.
    pub fn bind(&self) -> Vec<String> {
        match &self.values[idx::BIND] {
            Value::Bind(addrs) => addrs.clone(),
            _ => Vec::new(),
        }
    }

    pub fn protected_mode(&self) -> bool {
        self.boolean(idx::PROTECTED_MODE)
    }

    /// Bytes; 0 = no limit.
    pub fn maxmemory(&self) -> u64 {
        u64::try_from(self.num(idx::MAXMEMORY)).unwrap_or(0)
    }

    /// One of `volatile-lru volatile-lfu volatile-random volatile-ttl
    /// allkeys-lru allkeys-lfu allkeys-random noeviction`.
    pub fn maxmemory_policy(&self) -> &str {
        self.enum_str(idx::MAXMEMORY_POLICY)
    }

    /// Most fields a hash keeps in its compact `listpack` encoding.
    pub fn hash_max_listpack_entries(&self) -> u64 {
        u64::try_from(self.num(idx::HASH_MAX_LISTPACK_ENTRIES)).unwrap_or(512)
    }

    /// Longest field or value (bytes) a `listpack` hash holds.
    pub fn hash_max_listpack_value(&self) -> u64 {
        u64::try_from(self.num(idx::HASH_MAX_LISTPACK_VALUE)).unwrap_or(64)
    }

    /// RDB save points: `(seconds, changes)`; a BGSAVE starts when one is reached.
    pub fn save_params(&self) -> Vec<(u64, u64)> {
        match self.values.get(idx::SAVE) {
            Some(Value::Save(p)) => p
                .iter()
                .map(|&(s, c)| (s.max(0) as u64, c.max(0) as u64))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The RDB file name, inside `dir`.
    pub fn dbfilename(&self) -> String {
        match self.values.get(idx::DBFILENAME) {
            Some(Value::Str(Some(s))) => String::from_utf8_lossy(s).into_owned(),
            _ => "dump.rdb".to_string(),
        }
    }

    /// `replicaof host port`: the primary to follow from the start.
    pub fn replicaof(&self) -> Option<(String, u16)> {
        self.values.iter().find_map(|v| match v {
            Value::ReplicaOf(r) => r.clone(),
            _ => None,
        })
    }

    /// `appendonly`: the AOF is written (and loaded at start instead of the RDB file).
    pub fn appendonly(&self) -> bool {
        self.boolean(idx::APPENDONLY)
    }

    /// `appendfsync`: `always`, `everysec` or `no`.
    pub fn appendfsync(&self) -> &'static str {
        self.enum_str(idx::APPENDFSYNC)
    }

    /// `appendfilename`: the prefix of the AOF's file names.
    pub fn appendfilename(&self) -> String {
        match self.values.get(idx::APPENDFILENAME) {
            Some(Value::Str(Some(s))) => String::from_utf8_lossy(s).into_owned(),
            _ => "appendonly.aof".to_string(),
        }
    }

    /// `dir/appenddirname`: where the AOF's files and manifest live.
    pub fn aof_dir(&self) -> PathBuf {
        let name = match self.values.get(idx::APPENDDIRNAME) {
            Some(Value::Str(Some(s))) => String::from_utf8_lossy(s).into_owned(),
            _ => "appendonlydir".to_string(),
        };
        PathBuf::from(self.dir()).join(name)
    }

    /// `aof-load-truncated`: a cut-short last command is dropped instead of stopping.
    pub fn aof_load_truncated(&self) -> bool {
        self.boolean(idx::AOF_LOAD_TRUNCATED)
    }

    /// `aof-use-rdb-preamble`: AOF base files in RDB format (else as commands).
    pub fn aof_use_rdb_preamble(&self) -> bool {
        self.boolean(idx::AOF_USE_RDB_PREAMBLE)
    }

    /// `aof-timestamp-enabled`: `#TS:<unix secs>` annotations between commands.
    pub fn aof_timestamp_enabled(&self) -> bool {
        self.boolean(idx::AOF_TIMESTAMP_ENABLED)
    }

    /// `(auto-aof-rewrite-percentage, auto-aof-rewrite-min-size)`.
    pub fn auto_aof_rewrite(&self) -> (u64, u64) {
        (
            u64::try_from(self.num(idx::AUTO_AOF_REWRITE_PERCENTAGE)).unwrap_or(0),
            u64::try_from(self.num(idx::AUTO_AOF_REWRITE_MIN_SIZE)).unwrap_or(0),
        )
    }

    /// LZF-compress strings over 20 bytes in RDB files and DUMP payloads.
    pub fn rdbcompression(&self) -> bool {
        self.boolean(idx::RDBCOMPRESSION)
    }

    /// Most members an all-integer set keeps as an `intset` (Redis caps it at 2^30).
    pub fn set_max_intset_entries(&self) -> u64 {
        u64::try_from(self.num(idx::SET_MAX_INTSET_ENTRIES))
            .unwrap_or(512)
            .min(1 << 30)
    }

    pub fn maxmemory_samples(&self) -> u32 {
        u32::try_from(self.num(idx::MAXMEMORY_SAMPLES)).unwrap_or(5)
    }

    pub fn lfu_log_factor(&self) -> u32 {
        u32::try_from(self.num(idx::LFU_LOG_FACTOR)).unwrap_or(10)
    }

    /// Minutes.
    pub fn lfu_decay_time(&self) -> u32 {
        u32::try_from(self.num(idx::LFU_DECAY_TIME)).unwrap_or(1)
    }

    pub fn proto_max_bulk_len(&self) -> u64 {
        u64::try_from(self.num(idx::PROTO_MAX_BULK_LEN)).unwrap_or(512 << 20)
    }

    pub fn zset_max_listpack_entries(&self) -> usize {
        usize::try_from(self.num(idx::ZSET_MAX_LISTPACK_ENTRIES)).unwrap_or(128)
    }

    pub fn zset_max_listpack_value(&self) -> usize {
        usize::try_from(self.num(idx::ZSET_MAX_LISTPACK_VALUE)).unwrap_or(64)
    }

    pub fn stream_node_max_entries(&self) -> u64 {
        u64::try_from(self.num(idx::STREAM_NODE_MAX_ENTRIES)).unwrap_or(100)
    }

    pub fn stream_node_max_bytes(&self) -> u64 {
        u64::try_from(self.num(idx::STREAM_NODE_MAX_BYTES)).unwrap_or(4096)
    }

    pub fn client_query_buffer_limit(&self) -> u64 {
        u64::try_from(self.num(idx::CLIENT_QUERY_BUFFER_LIMIT)).unwrap_or(1 << 30)
    }

    pub fn maxclients(&self) -> u32 {
        u32::try_from(self.num(idx::MAXCLIENTS)).unwrap_or(10000)
    }

    /// The default user's password; `None` when unset (or set to "").
    pub fn requirepass(&self) -> Option<Vec<u8>> {
        match &self.values[idx::REQUIREPASS] {
            Value::Str(v) => v.clone(),
            _ => None,
        }
    }

    /// One of `debug verbose notice warning`.
    pub fn loglevel(&self) -> &str {
        self.enum_str(idx::LOGLEVEL)
    }

    /// Empty: standard output. Relative paths are relative to [`Config::dir`].
    pub fn logfile(&self) -> &str {
        self.text(idx::LOGFILE)
    }

    pub fn daemonize(&self) -> bool {
        self.boolean(idx::DAEMONIZE)
    }

    pub fn always_show_logo(&self) -> bool {
        self.boolean(idx::ALWAYS_SHOW_LOGO)
    }

    /// Already clamped to 1..=500, like Redis.
    pub fn hz(&self) -> u32 {
        u32::try_from(self.num(idx::HZ)).unwrap_or(10)
    }

    /// Seconds of client idleness before closing; 0 = never.
    pub fn timeout(&self) -> u64 {
        u64::try_from(self.num(idx::TIMEOUT)).unwrap_or(0)
    }

    /// Seconds; 0 = no keepalive.
    pub fn tcp_keepalive(&self) -> u64 {
        u64::try_from(self.num(idx::TCP_KEEPALIVE)).unwrap_or(300)
    }

    pub fn tcp_backlog(&self) -> u32 {
        u32::try_from(self.num(idx::TCP_BACKLOG)).unwrap_or(511)
    }

    /// Microseconds; -1 disables the slow log, 0 logs every command.
    /// Milliseconds a script runs before other clients get BUSY (`busy-reply-threshold`,
    /// `lua-time-limit`).
    pub fn busy_reply_threshold(&self) -> u64 {
        self.num(idx::BUSY_REPLY_THRESHOLD) as u64
    }

    /// Milliseconds from which commands are latency events (0: the monitor is off).
    pub fn latency_monitor_threshold(&self) -> u64 {
        u64::try_from(self.num(idx::LATENCY_MONITOR_THRESHOLD)).unwrap_or(0)
    }

    /// `latency-tracking`: per-command latency histograms are kept.
    pub fn latency_tracking(&self) -> bool {
        self.boolean(idx::LATENCY_TRACKING)
    }

    /// `latency-tracking-info-percentiles`: the percentiles INFO latencystats prints.
    pub fn latency_percentiles(&self) -> Vec<f64> {
        self.values
            .iter()
            .find_map(|v| match v {
                Value::Percentiles(p) => Some(p.clone()),
                _ => None,
            })
            .unwrap_or_default()
    }

    pub fn slowlog_log_slower_than(&self) -> i64 {
        i64::try_from(self.num(idx::SLOWLOG_LOG_SLOWER_THAN)).unwrap_or(10000)
    }

    /// Bytes a sparse HyperLogLog may grow to before it becomes dense.
    /// `tracking-table-max-keys` (0 = no limit).
    pub fn tracking_table_max_keys(&self) -> u64 {
        u64::try_from(self.num(idx::TRACKING_TABLE_MAX_KEYS)).unwrap_or(1_000_000)
    }

    pub fn hll_sparse_max_bytes(&self) -> u64 {
        u64::try_from(self.num(idx::HLL_SPARSE_MAX_BYTES)).unwrap_or(3000)
    }

    pub fn slowlog_max_len(&self) -> u64 {
        u64::try_from(self.num(idx::SLOWLOG_MAX_LEN)).unwrap_or(128)
    }

    /// Any value >= 1 (Redis allows up to `INT_MAX`).
    pub fn databases(&self) -> usize {
        usize::try_from(self.num(idx::DATABASES)).unwrap_or(16)
    }

    /// The working directory, absolute.
    pub fn dir(&self) -> &str {
        self.text(idx::DIR)
    }

    /// Empty: no pid file.
    pub fn pidfile(&self) -> &str {
        self.text(idx::PIDFILE)
    }

    /// Milliseconds.
    pub fn cluster_node_timeout(&self) -> u64 {
        u64::try_from(self.num(idx::CLUSTER_NODE_TIMEOUT)).unwrap_or(15000)
    }

    pub fn cluster_config_file(&self) -> &str {
        self.text(idx::CLUSTER_CONFIG_FILE)
    }

    /// Bits of [`notify`].
    pub fn notify_keyspace_events(&self) -> u32 {
        match self.values[idx::NOTIFY_KEYSPACE_EVENTS] {
            Value::Notify(flags) => flags,
            _ => 0,
        }
    }

    /// Limits for normal, replica and pubsub clients, in that order.
    pub fn client_output_buffer_limit(&self) -> [ObufLimit; 3] {
        match self.values[idx::CLIENT_OUTPUT_BUFFER_LIMIT] {
            Value::Obuf(limits) => limits,
            _ => OBUF_DEFAULTS,
        }
    }

    /// `no`, `yes` or `local`: may DEBUG be used (`local`: from localhost only).
    pub fn enable_debug_command(&self) -> &str {
        self.enum_str(idx::ENABLE_DEBUG_COMMAND)
    }

    /// `no`, `yes` or `local`: may MODULE be used.
    pub fn enable_module_command(&self) -> &str {
        self.enum_str(idx::ENABLE_MODULE_COMMAND)
    }

    pub fn cluster_enabled(&self) -> bool {
        self.boolean(idx::CLUSTER_ENABLED)
    }

    /// The bus port; 0 = port + 10000.
    pub fn cluster_port(&self) -> u16 {
        u16::try_from(self.num(idx::CLUSTER_PORT)).unwrap_or(0)
    }

    /// `cluster-announce-ip`; empty = not set.
    pub fn cluster_announce_ip(&self) -> &str {
        self.text(idx::CLUSTER_ANNOUNCE_IP)
    }

    /// 0 = announce the real port.
    pub fn cluster_announce_port(&self) -> u16 {
        u16::try_from(self.num(idx::CLUSTER_ANNOUNCE_PORT)).unwrap_or(0)
    }

    /// 0 = announce the real bus port.
    pub fn cluster_announce_bus_port(&self) -> u16 {
        u16::try_from(self.num(idx::CLUSTER_ANNOUNCE_BUS_PORT)).unwrap_or(0)
    }

    /// `cluster-announce-hostname`; empty = not set.
    pub fn cluster_announce_hostname(&self) -> &str {
        self.text(idx::CLUSTER_ANNOUNCE_HOSTNAME)
    }

    pub fn cluster_require_full_coverage(&self) -> bool {
        self.boolean(idx::CLUSTER_REQUIRE_FULL_COVERAGE)
    }

    pub fn cluster_allow_reads_when_down(&self) -> bool {
        self.boolean(idx::CLUSTER_ALLOW_READS_WHEN_DOWN)
    }
}
