//! Command errors: every error text a client can see, in Redis's exact words, in one place.

use std::borrow::Cow;

use thiserror::Error;

/// An error reply. The connection stays open.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CmdError {
    #[error("ERR syntax error")]
    Syntax,
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR value is not a valid float")]
    NotFloat,
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    #[error("ERR no such key")]
    NoSuchKey,
    #[error("ERR index out of range")]
    IndexOutOfRange,
    #[error("ERR DB index is out of range")]
    DbIndexOutOfRange,
    #[error("ERR invalid expire time in '{0}' command")]
    InvalidExpire(&'static str),
    #[error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")]
    StringTooLong,
    #[error("ERR bit offset is not an integer or out of range")]
    BitOffset,
    #[error("ERR wrong number of arguments for '{0}' command")]
    WrongArity(String),
    #[error("ERR unknown subcommand '{0}'. Try {1} HELP.")]
    UnknownSubcommand(String, String),
    #[error("OOM command not allowed when used memory > 'maxmemory'.")]
    Oom,
    #[error("NOAUTH Authentication required.")]
    NoAuth,
    #[error("WRONGPASS invalid username-password pair or user is disabled.")]
    WrongPass,
    #[error("ERR timeout is not an integer or out of range")]
    TimeoutNotInteger,
    #[error("ERR timeout is negative")]
    TimeoutNegative,
    #[error("WRONGTYPE Key is not a valid HyperLogLog string value.")]
    NotHll,
    #[error("INVALIDOBJ Corrupted HLL object detected")]
    HllCorrupt,
    #[error("ERR timeout is not a float or out of range")]
    TimeoutNotFloat,
    /// A RESP2 client in subscriber mode ran something else (the command's full name).
    #[error("ERR Can't execute '{0}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")]
    NotInPubSubContext(String),
    #[error("ERR Invalid stream ID specified as stream command argument")]
    InvalidStreamId,
    /// ACL: the user may not run the command (its full name, `config|get`).
    #[error("NOPERM this user has no permissions to run the '{0}' command")]
    NoPermCommand(String),
    #[error("NOPERM this user has no permissions to access one of the keys used as arguments")]
    NoPermKey,
    #[error("NOPERM this user has no permissions to access one of the channels used as arguments")]
    NoPermChannel,
    /// ACL: a queued command is no longer allowed at EXEC (the reason's words).
    #[error("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {0}")]
    NoPermAtExec(&'static str),
    /// Any other text, with its error code (`ERR ...`).
    #[error("{0}")]
    Msg(Cow<'static, str>),
}

impl CmdError {
    /// `ERR <text>`.
    pub fn err(text: impl Into<String>) -> CmdError {
        CmdError::Msg(Cow::Owned(format!("ERR {}", text.into())))
    }

    /// A full error text with its own code.
    pub fn raw(text: &'static str) -> CmdError {
        CmdError::Msg(Cow::Borrowed(text))
    }

    /// Redis's `addReplySubcommandSyntaxError`: a subcommand of `container` (upper case, as
    /// `CLUSTER`) it does not know, or called with the wrong number of arguments.
    pub fn subcommand_syntax(sub: &[u8], container: &str) -> CmdError {
        CmdError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try {container} HELP.",
            lossy(sub, 128)
        ))
    }
}

/// `ERR unknown command 'x', with args beginning with: 'a' 'b' ` (Redis quotes up to 128 bytes of args).
pub fn unknown_command(args: &[bytes::Bytes]) -> String {
    let name = args.first().map(|a| lossy(a, 128)).unwrap_or_default();
    let mut list = String::new();
    for a in args.iter().skip(1) {
        if list.len() >= 128 {
            break;
        }
        let piece = lossy(a, 128 - list.len());
        list.push('\'');
        list.push_str(&piece);
        list.push_str("' ");
    }
    format!("ERR unknown command '{name}', with args beginning with: {list}")
}

/// Printable text of client bytes for error messages, as Redis's `%.*s` formatting gives it:
/// cut at the first NUL byte and at `max` bytes, newlines turned into spaces.
pub fn lossy(b: &[u8], max: usize) -> String {
    let b = &b[..b.len().min(max)];
    let b = crate::util::cstr(b);
    String::from_utf8_lossy(b)
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

/// Redis's text for a cluster bus command the bus refused; `arg` is the node id or address
/// the user gave.
pub fn cluster_bus(e: &ferrodis_gossip::CommandError, arg: &str) -> CmdError {
    use ferrodis_gossip::CommandError as E;
    match e {
        E::SlotBusy(s) => CmdError::err(format!("Slot {s} is already busy")),
        E::SlotUnassigned(s) => CmdError::err(format!("Slot {s} is already unassigned")),
        E::UnknownNode => CmdError::err(format!("Unknown node {arg}")),
        E::ForgetMyself => CmdError::raw("ERR I tried hard but I can't forget myself..."),
        E::ForgetMyPrimary => CmdError::raw("ERR Can't forget my master!"),
        E::NotOwner(s) => CmdError::err(format!("I'm not the owner of hash slot {s}")),
        E::AlreadyOwner(s) => CmdError::err(format!("I'm already the owner of hash slot {s}")),
        E::TargetNotPrimary => CmdError::raw("ERR Target node is not a master"),
        E::SetSlotOnReplica => CmdError::raw("ERR Please use SETSLOT only with masters."),
        E::EpochNonZero => CmdError::raw("ERR Node config epoch is already non-zero"),
        E::EpochKnowsOthers => CmdError::raw(
            "ERR The user can assign a config epoch only when the node does not know any other node.",
        ),
        E::InvalidAddress => CmdError::err(format!("Invalid node address specified: {arg}")),
        E::ReplicateMyself => CmdError::raw("ERR Can't replicate myself"),
        E::ReplicateReplica => {
            CmdError::raw("ERR I can only replicate a master, not a replica.")
        }
        E::ReplicateNotEmpty => CmdError::raw(
            "ERR To set a master the node must be empty and without assigned slots.",
        ),
        E::FailoverOnPrimary => {
            CmdError::raw("ERR You should send CLUSTER FAILOVER to a replica")
        }
        E::PrimaryUnknown => CmdError::raw("ERR I'm a replica but my master is unknown to me"),
        E::PrimaryDown => CmdError::raw(
            "ERR Master is down or failed, please use CLUSTER FAILOVER FORCE",
        ),
    }
}

/// CONFIG SET of a `tls-*` directive whose new TLS configuration did not load (`name` as the
/// user spelt it); the reason goes to the log.
pub fn tls_config_set_failed(name: &str) -> CmdError {
    CmdError::err(format!("CONFIG SET failed (possibly related to argument '{name}') - Unable to update TLS configuration. Check server logs."))
}

/// CONFIG SET of a port the server could not listen on.
pub fn listen_failed(name: &str) -> CmdError {
    CmdError::err(format!("CONFIG SET failed (possibly related to argument '{name}') - Unable to listen on this port. Check server logs."))
}

/// Why an ACL rule (`ACL SETUSER` modifier, `user` line, ACL file line) was refused, in the words
/// of Redis 7.0 `ACLSetUserStringError`.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum AclRuleError {
    #[error("Unknown command or category name in ACL")]
    UnknownCommand,
    #[error("Syntax error")]
    Syntax,
    #[error("Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns")]
    KeyAfterAll,
    #[error("Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels")]
    ChannelAfterAll,
    #[error("The password you are trying to remove from the user does not exist")]
    NoSuchPassword,
    #[error("The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters")]
    BadHash,
    #[error("Duplicate user found. A user can only be defined once in config files")]
    Duplicate,
    #[error("Allowing first-arg of a subcommand is not supported")]
    FirstArgOfSubcommand,
}

/// ACL command error texts.
pub mod acl {
    pub const BAD_USERNAME: &str = "ERR Usernames can't contain spaces or null characters";
    pub const DELETE_DEFAULT: &str = "ERR The 'default' user cannot be removed";
    pub const NO_ACLFILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";
    pub const SAVE_FAILED: &str = "ERR There was an error trying to save the ACLs. Please check the server logs for more information";
    pub const GENPASS_RANGE: &str = "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096";
    pub const AUTH_NO_PASSWORD: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
    /// ACL LOAD / startup: the suffix after every error of a refused ACL file.
    pub const FILE_REFUSED: &str =
        "WARNING: ACL errors detected, no change to the previously active ACL rules was performed";
    pub const MIXED_CONFIG: &str = "Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.";
}

/// MIGRATE error texts (Redis `migrateCommand`).
pub mod migrate {
    pub const KEYS_NEED_EMPTY_KEY: &str =
        "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string";
    /// No connection could be made (Redis's own words, "client" included).
    pub const IOERR_CONNECT: &str = "IOERR error or timeout connecting to the client";
    pub const IOERR_WRITING: &str = "IOERR error or timeout writing to target instance";
    pub const IOERR_READING: &str = "IOERR error or timeout reading to target instance";

    /// The target answered an error (its text without the leading `-`).
    pub fn target_error(e: &str) -> String {
        format!("ERR Target instance replied with error: {e}")
    }
}
