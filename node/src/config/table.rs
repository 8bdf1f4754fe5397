//! The directive registry: one row per directive of Redis 7.0.15.
//!
//! Names, aliases, types, bounds, defaults and flags are those of stock
//! redis-server 7.0.15 (`src/config.c`, checked against `CONFIG GET *` and
//! `CONFIG SET` on the real server).
//!
//! Every row also says what ferrodis does with the directive ([`Status`]).

/// Directive flags (bits of [`Directive::flags`]).
pub mod flags {
    /// Only settable at startup (config file or command line): CONFIG SET
    /// answers "can't set immutable config".
    pub const IMMUTABLE: u16 = 1 << 0;
    /// The value is a secret: callers redact it from SLOWLOG, MONITOR and logs.
    pub const SENSITIVE: u16 = 1 << 1;
    /// Left out of `CONFIG GET` glob matches; an exact name still finds it.
    pub const HIDDEN: u16 = 1 << 2;
    /// CONFIG SET refused unless `enable-protected-configs` allows it.
    pub const PROTECTED: u16 = 1 << 3;
    /// Takes several arguments (`save`, `bind`, ...). CONFIG SET splits its
    /// value on single spaces; a config file line with one argument is split
    /// like a line.
    pub const MULTI_ARG: u16 = 1 << 4;
    /// Config file / command line only (`include`, `rename-command`, ...):
    /// unknown to CONFIG GET, SET and to the rewrite of known options.
    pub const FILE_ONLY: u16 = 1 << 5;
}

/// What ferrodis does with a directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Implemented: the value changes the server's behaviour as in Redis.
    Supported,
    /// A tuning knob with no observable effect in ferrodis: validated, stored,
    /// reported by CONFIG GET and written by CONFIG REWRITE.
    Accepted,
    /// A feature not built yet (its name). Any value other than the default is
    /// refused at startup and by CONFIG SET.
    NotYet(&'static str),
}

/// How a numeric value is written and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumFormat {
    /// A plain integer (`string2ll`: no sign `+`, no spaces, no leading zeros).
    Integer,
    /// Bytes with an optional unit: `b`, `k`=1000, `kb`=1024, `m`, `mb`, `g`,
    /// `gb`, case-insensitive. Printed as bytes, rewritten as `2gb`/`5mb`/`3kb`.
    Memory,
    /// [`NumFormat::Memory`] or a percentage `N%`, stored as `-N`.
    MemoryOrPercent,
    /// Octal digits (`unixsocketperm`).
    Octal,
}

/// A numeric directive. Bounds are inclusive; `unsigned` directives compare the
/// parsed 64-bit value as unsigned, like the C `unsigned`/`size_t` fields.
#[derive(Debug, Clone, Copy)]
pub struct NumSpec {
    /// Smallest value accepted.
    pub min: i128,
    /// Largest value accepted.
    pub max: i128,
    /// Value when not configured (a percentage is stored negated).
    pub default: i128,
    /// Range check on the value read as an unsigned 64-bit number.
    pub unsigned: bool,
    pub format: NumFormat,
}

/// A validity check beyond the type; the error is CONFIG SET's reason text.
pub type EnumCheck = fn(u32) -> Result<(), &'static str>;
/// A validity check for a string value.
pub type StrCheck = fn(&[u8]) -> Result<(), &'static str>;

/// An enumeration: `(name, value)` pairs in Redis's order (which is also the
/// order of the "must be one of" error). With [`flags::MULTI_ARG`] the values
/// are bit flags and several names may be given.
#[derive(Debug, Clone, Copy)]
pub struct EnumSpec {
    /// Names and values; a value may have several names (the first is printed).
    pub values: &'static [(&'static str, u32)],
    pub default: u32,
    pub check: Option<EnumCheck>,
}

/// A string. `default: None` is Redis's NULL (printed as ""). With
/// `empty_is_null` an empty value is stored as NULL.
#[derive(Debug, Clone, Copy)]
pub struct StrSpec {
    pub default: Option<&'static str>,
    pub empty_is_null: bool,
    pub check: Option<StrCheck>,
}

/// Directives with a parser of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// The working directory (absolute; relative values resolve against the
    /// previous one). Must exist.
    Dir,
    /// RDB save points: `seconds changes` pairs.
    Save,
    /// `class hard soft seconds` quadruples for normal, replica, pubsub.
    ClientOutputBufferLimit,
    /// Three integers in -2000..=2000.
    OomScoreAdjValues,
    /// Keyspace event classes, `Ag$lshzxeKEtmdn`.
    NotifyKeyspaceEvents,
    /// Up to 16 addresses; a single "" means none.
    Bind,
    /// `host port` or `no one`.
    ReplicaOf,
    /// Percentiles in 0.0..=100.0.
    LatencyPercentiles,
}

/// Config-file-only directives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOnly {
    /// `include path-or-glob`.
    Include,
    /// `rename-command name new-name`.
    RenameCommand,
    /// `user name rules...`.
    User,
    /// `loadmodule path args...`.
    LoadModule,
    /// `sentinel ...` (Sentinel mode).
    Sentinel,
}

/// The type of a directive.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `yes`/`no`, case-insensitive.
    Bool {
        default: bool,
    },
    Num(NumSpec),
    Enum(EnumSpec),
    Str(StrSpec),
    Special(Special),
    FileOnly(FileOnly),
    /// Accepted and ignored in a config file with exactly one argument, as
    /// Redis 7.0 does (`list-max-ziplist-entries`, ...).
    Deprecated,
}

/// One directive.
#[derive(Debug, Clone, Copy)]
pub struct Directive {
    /// Canonical name (lowercase).
    pub name: &'static str,
    /// Old name accepted everywhere the name is (`slaveof` for `replicaof`).
    pub alias: Option<&'static str>,
    pub kind: Kind,
    /// Bits of [`flags`].
    pub flags: u16,
    pub status: Status,
}

impl Directive {
    pub const fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    /// Known to CONFIG GET/SET (not file-only, not deprecated).
    pub const fn is_runtime(&self) -> bool {
        !matches!(self.kind, Kind::FileOnly(_) | Kind::Deprecated)
    }

    const fn alias(self, alias: &'static str) -> Directive {
        Directive {
            alias: Some(alias),
            ..self
        }
    }

    const fn flag(self, flag: u16) -> Directive {
        Directive {
            flags: self.flags | flag,
            ..self
        }
    }

    const fn imm(self) -> Directive {
        self.flag(flags::IMMUTABLE)
    }

    const fn sup(self) -> Directive {
        Directive {
            status: Status::Supported,
            ..self
        }
    }

    const fn not_yet(self, feature: &'static str) -> Directive {
        Directive {
            status: Status::NotYet(feature),
            ..self
        }
    }
}

const fn row(name: &'static str, kind: Kind) -> Directive {
    Directive {
        name,
        alias: None,
        kind,
        flags: 0,
        status: Status::Accepted,
    }
}

const fn yesno(default: bool) -> Kind {
    Kind::Bool { default }
}

const fn num(min: i128, max: i128, default: i128, unsigned: bool, format: NumFormat) -> Kind {
    Kind::Num(NumSpec {
        min,
        max,
        default,
        unsigned,
        format,
    })
}

/// A signed integer (C `int`, `long`, `long long`, `time_t`, `off_t`).
const fn int(min: i128, max: i128, default: i128) -> Kind {
    num(min, max, default, false, NumFormat::Integer)
}

/// An unsigned integer (C `unsigned int`, `size_t`).
const fn uint(min: i128, max: i128, default: i128) -> Kind {
    num(min, max, default, true, NumFormat::Integer)
}

/// A signed memory value (C `long long`, `off_t`).
const fn mem(min: i128, max: i128, default: i128) -> Kind {
    num(min, max, default, false, NumFormat::Memory)
}

/// An unsigned memory value (C `size_t`, `unsigned long long`).
const fn umem(min: i128, max: i128, default: i128) -> Kind {
    num(min, max, default, true, NumFormat::Memory)
}

const fn enumeration(values: &'static [(&'static str, u32)], default: u32) -> Kind {
    Kind::Enum(EnumSpec {
        values,
        default,
        check: None,
    })
}

/// A string whose empty value is NULL and whose default is NULL.
const fn nullable() -> Kind {
    Kind::Str(StrSpec {
        default: None,
        empty_is_null: true,
        check: None,
    })
}

/// A string that may be empty.
const fn string(default: &'static str) -> Kind {
    Kind::Str(StrSpec {
        default: Some(default),
        empty_is_null: false,
        check: None,
    })
}

const fn checked_string(default: &'static str, check: StrCheck) -> Kind {
    Kind::Str(StrSpec {
        default: Some(default),
        empty_is_null: false,
        check: Some(check),
    })
}

const fn special(which: Special) -> Kind {
    Kind::Special(which)
}

const INT_MIN: i128 = i32::MIN as i128;
const INT_MAX: i128 = i32::MAX as i128;
const UINT_MAX: i128 = u32::MAX as i128;
const LONG_MAX: i128 = i64::MAX as i128;
const ULLONG_MAX: i128 = u64::MAX as i128;
const MB: i128 = 1024 * 1024;

pub(crate) const MAXMEMORY_POLICIES: &[(&str, u32)] = &[
    ("volatile-lru", 0),
    ("volatile-lfu", 1),
    ("volatile-random", 2),
    ("volatile-ttl", 3),
    ("allkeys-lru", 4),
    ("allkeys-lfu", 5),
    ("allkeys-random", 6),
    ("noeviction", 7),
];
const SYSLOG_FACILITIES: &[(&str, u32)] = &[
    ("user", 0),
    ("local0", 1),
    ("local1", 2),
    ("local2", 3),
    ("local3", 4),
    ("local4", 5),
    ("local5", 6),
    ("local6", 7),
    ("local7", 8),
];
pub(crate) const LOGLEVELS: &[(&str, u32)] =
    &[("debug", 0), ("verbose", 1), ("notice", 2), ("warning", 3)];
const SUPERVISED: &[(&str, u32)] = &[("upstart", 0), ("systemd", 1), ("auto", 2), ("no", 3)];
const APPENDFSYNC: &[(&str, u32)] = &[("everysec", 0), ("always", 1), ("no", 2)];
const SHUTDOWN_ON_SIG: &[(&str, u32)] = &[
    ("default", 0),
    ("save", 1),
    ("nosave", 2),
    ("now", 4),
    ("force", 8),
];
const REPL_DISKLESS_LOAD: &[(&str, u32)] = &[("disabled", 0), ("on-empty-db", 1), ("swapdb", 2)];
const TLS_AUTH_CLIENTS: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("optional", 2)];
const TLS_PEER_VERIFY: &[(&str, u32)] = &[("none", 0), ("address", 1), ("node-id", 2)];
const OOM_SCORE_ADJ: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)];
const ACL_PUBSUB_DEFAULT: &[(&str, u32)] = &[("allchannels", 1), ("resetchannels", 0)];
const SANITIZE_DUMP_PAYLOAD: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("clients", 2)];
/// Values of `enable-protected-configs`, `enable-debug-command`, `enable-module-command`.
pub(crate) const PROTECTED_ACTION: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("local", 2)];
const ENDPOINT_TYPES: &[(&str, u32)] = &[("ip", 0), ("hostname", 1), ("unknown-endpoint", 2)];
const PROPAGATION_ERROR_BEHAVIOR: &[(&str, u32)] =
    &[("ignore", 0), ("panic", 1), ("panic-on-replicas", 2)];

fn check_shutdown_flags(v: u32) -> Result<(), &'static str> {
    if v & 1 != 0 && v & 2 != 0 {
        return Err("shutdown options SAVE and NOSAVE can't be used simultaneously");
    }
    Ok(())
}

const SHUTDOWN_KIND: Kind = Kind::Enum(EnumSpec {
    values: SHUTDOWN_ON_SIG,
    default: 0,
    check: Some(check_shutdown_flags),
});

fn is_base_name(v: &[u8]) -> bool {
    !v.contains(&b'/') && !v.contains(&b'\\')
}

fn check_dbfilename(v: &[u8]) -> Result<(), &'static str> {
    if !is_base_name(v) {
        return Err("dbfilename can't be a path, just a filename");
    }
    Ok(())
}

fn check_appendfilename(v: &[u8]) -> Result<(), &'static str> {
    if v.is_empty() {
        return Err("appendfilename can't be empty");
    }
    if !is_base_name(v) {
        return Err("appendfilename can't be a path, just a filename");
    }
    Ok(())
}

fn check_appenddirname(v: &[u8]) -> Result<(), &'static str> {
    if v.is_empty() {
        return Err("appenddirname can't be empty");
    }
    if !is_base_name(v) {
        return Err("appenddirname can't be a path, just a dirname");
    }
    Ok(())
}

fn check_hostname(v: &[u8]) -> Result<(), &'static str> {
    if v.len() >= 256 {
        return Err("Hostnames must be less than 256 characters");
    }
    if !v
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
    {
        return Err("Hostnames may only contain alphanumeric characters, hyphens or dots");
    }
    Ok(())
}

/// Redis's `validateProcTitleTemplate`: `{var}` must be a known variable,
/// `{{` is a literal brace, and the expansion must not be blank. Variables are
/// expanded as for a standalone server without unix socket and empty title.
fn check_proc_title(v: &[u8]) -> Result<(), &'static str> {
    const ERR: &str = "template format is invalid or contains unknown variables";
    let mut out: Vec<u8> = Vec::new();
    let mut p = v;
    while !p.is_empty() {
        let Some(open) = p.iter().position(|&c| c == b'{') else {
            out.extend_from_slice(p);
            break;
        };
        out.extend_from_slice(&p[..open]);
        let rest = &p[open + 1..];
        match rest.first() {
            None => return Err(ERR),
            Some(b'{') => {
                out.push(b'{');
                p = &rest[1..];
                continue;
            }
            Some(_) => {}
        }
        let close = rest.iter().position(|&c| c == b'}').ok_or(ERR)?;
        let value: &[u8] = match &rest[..close] {
            b"title" | b"server-mode" | b"unixsocket" => b"",
            b"listen-addr" => b"*:6379",
            b"port" | b"tls-port" => b"0",
            b"config-file" => b"redis.conf",
            _ => return Err(ERR),
        };
        out.extend_from_slice(value);
        p = &rest[close + 1..];
    }
    if out.iter().all(|&c| c == b' ') {
        return Err(ERR);
    }
    Ok(())
}

/// Every directive, in the order of Redis's `static_configs[]`, then the
/// config-file-only ones.
pub(crate) const TABLE: &[Directive] = &[
    // Bool
    row("rdbchecksum", yesno(true)).imm(),
    row("daemonize", yesno(false)).imm().sup(),
    row("io-threads-do-reads", yesno(false)).imm(),
    row("always-show-logo", yesno(false)).imm().sup(),
    row("protected-mode", yesno(true)).sup(),
    row("rdbcompression", yesno(true)),
    row("rdb-del-sync-files", yesno(false)),
    row("activerehashing", yesno(true)),
    row("stop-writes-on-bgsave-error", yesno(true)),
    row("set-proc-title", yesno(true)).imm(),
    row("dynamic-hz", yesno(true)),
    row("lazyfree-lazy-eviction", yesno(false)),
    row("lazyfree-lazy-expire", yesno(false)),
    row("lazyfree-lazy-server-del", yesno(false)),
    row("lazyfree-lazy-user-del", yesno(false)),
    row("lazyfree-lazy-user-flush", yesno(false)),
    row("repl-disable-tcp-nodelay", yesno(false)),
    row("repl-diskless-sync", yesno(true)),
    row("aof-rewrite-incremental-fsync", yesno(true)),
    row("no-appendfsync-on-rewrite", yesno(false)),
    row("cluster-require-full-coverage", yesno(true)).sup(),
    row("rdb-save-incremental-fsync", yesno(true)),
    row("aof-load-truncated", yesno(true)),
    row("aof-use-rdb-preamble", yesno(true)),
    row("aof-timestamp-enabled", yesno(false)),
    row("cluster-replica-no-failover", yesno(false)).alias("cluster-slave-no-failover"),
    row("replica-lazy-flush", yesno(false)).alias("slave-lazy-flush"),
    row("replica-serve-stale-data", yesno(true)).alias("slave-serve-stale-data"),
    row("replica-read-only", yesno(true)).alias("slave-read-only"),
    row("replica-ignore-maxmemory", yesno(true)).alias("slave-ignore-maxmemory"),
    row("jemalloc-bg-thread", yesno(true)),
    row("activedefrag", yesno(false)),
    row("syslog-enabled", yesno(false))
        .imm()
        .not_yet("syslog logging"),
    row("cluster-enabled", yesno(false)).imm().sup(),
    row("appendonly", yesno(false)),
    row("cluster-allow-reads-when-down", yesno(false)).sup(),
    row("cluster-allow-pubsubshard-when-down", yesno(true)),
    row("crash-log-enabled", yesno(true)),
    row("crash-memcheck-enabled", yesno(true)),
    row("use-exit-on-panic", yesno(false)).flag(flags::HIDDEN),
    row("disable-thp", yesno(true)).imm(),
    row("cluster-allow-replica-migration", yesno(true)),
    row("replica-announced", yesno(true)),
    row("latency-tracking", yesno(true)),
    row("aof-disable-auto-gc", yesno(false)),
    row("replica-ignore-disk-write-errors", yesno(false)),
    // String
    row("aclfile", string("")).imm(),
    row("unixsocket", nullable())
        .imm()
        .not_yet("unix socket listening"),
    row("pidfile", nullable()).imm().sup(),
    row("replica-announce-ip", nullable()).alias("slave-announce-ip"),
    row("masteruser", nullable()).flag(flags::SENSITIVE),
    row("cluster-announce-ip", nullable()).sup(),
    row("cluster-config-file", string("nodes.conf")).imm().sup(),
    row(
        "cluster-announce-hostname",
        Kind::Str(StrSpec {
            default: None,
            empty_is_null: true,
            check: Some(check_hostname),
        }),
    )
    .sup(),
    row("syslog-ident", string("redis")).imm(),
    row("dbfilename", checked_string("dump.rdb", check_dbfilename)).flag(flags::PROTECTED),
    row(
        "appendfilename",
        checked_string("appendonly.aof", check_appendfilename),
    )
    .imm(),
    row(
        "appenddirname",
        checked_string("appendonlydir", check_appenddirname),
    )
    .imm(),
    row("server_cpulist", nullable()).imm(),
    row("bio_cpulist", nullable()).imm(),
    row("aof_rewrite_cpulist", nullable()).imm(),
    row("bgsave_cpulist", nullable()).imm(),
    row("ignore-warnings", string("")),
    row(
        "proc-title-template",
        checked_string("{title} {listen-addr} {server-mode}", check_proc_title),
    ),
    row("bind-source-addr", nullable()),
    row("logfile", string("")).imm().sup(),
    row("masterauth", nullable()).flag(flags::SENSITIVE),
    row("requirepass", nullable()).flag(flags::SENSITIVE).sup(),
    // Enum
    row("supervised", enumeration(SUPERVISED, 3))
        .imm()
        .not_yet("supervised mode"),
    row("syslog-facility", enumeration(SYSLOG_FACILITIES, 1)).imm(),
    row("repl-diskless-load", enumeration(REPL_DISKLESS_LOAD, 0)),
    row("loglevel", enumeration(LOGLEVELS, 2)).sup(),
    row("maxmemory-policy", enumeration(MAXMEMORY_POLICIES, 7)).sup(),
    row("appendfsync", enumeration(APPENDFSYNC, 0)),
    row("oom-score-adj", enumeration(OOM_SCORE_ADJ, 0)),
    row("acl-pubsub-default", enumeration(ACL_PUBSUB_DEFAULT, 0)),
    row(
        "sanitize-dump-payload",
        enumeration(SANITIZE_DUMP_PAYLOAD, 0),
    ),
    row("enable-protected-configs", enumeration(PROTECTED_ACTION, 0))
        .imm()
        .sup(),
    row("enable-debug-command", enumeration(PROTECTED_ACTION, 0)).imm(),
    row("enable-module-command", enumeration(PROTECTED_ACTION, 0)).imm(),
    row(
        "cluster-preferred-endpoint-type",
        enumeration(ENDPOINT_TYPES, 0),
    ),
    row(
        "propagation-error-behavior",
        enumeration(PROPAGATION_ERROR_BEHAVIOR, 0),
    ),
    row("shutdown-on-sigint", SHUTDOWN_KIND).flag(flags::MULTI_ARG),
    row("shutdown-on-sigterm", SHUTDOWN_KIND).flag(flags::MULTI_ARG),
    // Integer
    row("databases", int(1, INT_MAX, 16)).imm().sup(),
    row("port", int(0, 65535, 6379)).sup(),
    row("io-threads", int(1, 128, 1)).imm(),
    row("auto-aof-rewrite-percentage", int(0, INT_MAX, 100)),
    row("cluster-replica-validity-factor", int(0, INT_MAX, 10))
        .alias("cluster-slave-validity-factor"),
    row("list-max-listpack-size", int(INT_MIN, INT_MAX, -2)).alias("list-max-ziplist-size"),
    row("tcp-keepalive", int(0, INT_MAX, 300)).sup(),
    row("cluster-migration-barrier", int(0, INT_MAX, 1)),
    row("active-defrag-cycle-min", int(1, 99, 1)),
    row("active-defrag-cycle-max", int(1, 99, 25)),
    row("active-defrag-threshold-lower", int(0, 1000, 10)),
    row("active-defrag-threshold-upper", int(0, 1000, 100)),
    row("lfu-log-factor", int(0, INT_MAX, 10)).sup(),
    row("lfu-decay-time", int(0, INT_MAX, 1)).sup(),
    row("replica-priority", int(0, INT_MAX, 100)).alias("slave-priority"),
    row("repl-diskless-sync-delay", int(0, INT_MAX, 5)),
    row("maxmemory-samples", int(1, INT_MAX, 5)).sup(),
    row("maxmemory-eviction-tenacity", int(0, 100, 10)),
    row("timeout", int(0, INT_MAX, 0)).sup(),
    row("replica-announce-port", int(0, 65535, 0)).alias("slave-announce-port"),
    row("tcp-backlog", int(0, INT_MAX, 511)).imm(),
    row("cluster-port", int(0, 65535, 0)).imm().sup(),
    row("cluster-announce-bus-port", int(0, 65535, 0)).sup(),
    row("cluster-announce-port", int(0, 65535, 0)).sup(),
    row("cluster-announce-tls-port", int(0, 65535, 0)),
    row("repl-timeout", int(1, INT_MAX, 60)),
    row("repl-ping-replica-period", int(1, INT_MAX, 10)).alias("repl-ping-slave-period"),
    row("list-compress-depth", int(0, INT_MAX, 0)),
    row("rdb-key-save-delay", int(INT_MIN, INT_MAX, 0)).flag(flags::HIDDEN),
    row("key-load-delay", int(INT_MIN, INT_MAX, 0)).flag(flags::HIDDEN),
    row("active-expire-effort", int(1, 10, 1)),
    row("hz", int(0, INT_MAX, 10)).sup(),
    row("min-replicas-to-write", int(0, INT_MAX, 0)).alias("min-slaves-to-write"),
    row("min-replicas-max-lag", int(0, INT_MAX, 10)).alias("min-slaves-max-lag"),
    row("watchdog-period", int(0, INT_MAX, 0)).flag(flags::HIDDEN),
    row("shutdown-timeout", int(0, INT_MAX, 10)),
    row("repl-diskless-sync-max-replicas", int(0, INT_MAX, 0)),
    // Unsigned int
    row("maxclients", uint(1, UINT_MAX, 10000)).sup(),
    row("unixsocketperm", num(0, 0o777, 0, true, NumFormat::Octal)).imm(),
    row("socket-mark-id", uint(0, UINT_MAX, 0)).imm(),
    // Unsigned long (compared as signed by Redis)
    row("active-defrag-max-scan-fields", int(1, LONG_MAX, 1000)),
    row("slowlog-max-len", int(0, LONG_MAX, 128)).sup(),
    row("acllog-max-len", int(0, LONG_MAX, 128)),
    // Long long
    row("busy-reply-threshold", int(0, LONG_MAX, 5000)).alias("lua-time-limit"),
    row("cluster-node-timeout", int(0, LONG_MAX, 15000)).sup(),
    row("slowlog-log-slower-than", int(-1, LONG_MAX, 10000)).sup(),
    row("latency-monitor-threshold", int(0, LONG_MAX, 0)),
    row("proto-max-bulk-len", mem(MB, LONG_MAX, 512 * MB)).sup(),
    row("stream-node-max-entries", int(0, LONG_MAX, 100)),
    row("repl-backlog-size", mem(1, LONG_MAX, MB)),
    // Unsigned long long
    row("maxmemory", umem(0, ULLONG_MAX, 0)).sup(),
    row("cluster-link-sendbuf-limit", umem(0, ULLONG_MAX, 0)),
    // size_t
    row("hash-max-listpack-entries", uint(0, LONG_MAX, 512))
        .alias("hash-max-ziplist-entries")
        .sup(),
    row("set-max-intset-entries", uint(0, LONG_MAX, 512)).sup(),
    row("zset-max-listpack-entries", uint(0, LONG_MAX, 128))
        .alias("zset-max-ziplist-entries")
        .sup(),
    row("active-defrag-ignore-bytes", umem(1, LONG_MAX, 100 * MB)),
    row("hash-max-listpack-value", umem(0, LONG_MAX, 64))
        .alias("hash-max-ziplist-value")
        .sup(),
    row("stream-node-max-bytes", umem(0, LONG_MAX, 4096)),
    row("zset-max-listpack-value", umem(0, LONG_MAX, 64))
        .alias("zset-max-ziplist-value")
        .sup(),
    row("hll-sparse-max-bytes", umem(0, LONG_MAX, 3000)).sup(),
    row("tracking-table-max-keys", uint(0, LONG_MAX, 1_000_000)),
    row("client-query-buffer-limit", umem(MB, LONG_MAX, 1024 * MB)).sup(),
    row(
        "maxmemory-clients",
        num(-100, LONG_MAX, 0, false, NumFormat::MemoryOrPercent),
    ),
    // time_t, off_t
    row("repl-backlog-ttl", int(0, LONG_MAX, 3600)),
    row("auto-aof-rewrite-min-size", mem(0, LONG_MAX, 64 * MB)),
    row(
        "loading-process-events-interval-bytes",
        int(1024, INT_MAX, 2 * MB),
    )
    .flag(flags::HIDDEN),
    // TLS
    row("tls-port", int(0, 65535, 0)).sup(),
    row("tls-session-cache-size", int(0, INT_MAX, 20 * 1024)).sup(),
    row("tls-session-cache-timeout", int(0, INT_MAX, 300)),
    row("tls-cluster", yesno(false)).sup(),
    row("tls-replication", yesno(false)),
    row("tls-auth-clients", enumeration(TLS_AUTH_CLIENTS, 1)).sup(),
    row("tls-prefer-server-ciphers", yesno(false)).sup(),
    row("tls-session-caching", yesno(true)).sup(),
    row("tls-cert-file", nullable()).sup(),
    row("tls-key-file", nullable()).sup(),
    row("tls-key-file-pass", nullable()).sup(),
    row("tls-client-cert-file", nullable()).sup(),
    row("tls-client-key-file", nullable()).sup(),
    row("tls-client-key-file-pass", nullable()).sup(),
    row("tls-dh-params-file", nullable()),
    row("tls-ca-cert-file", nullable()).sup(),
    row("tls-ca-cert-dir", nullable()).sup(),
    row("tls-protocols", nullable()).sup(),
    row("tls-ciphers", nullable()).sup(),
    row("tls-ciphersuites", nullable()).sup(),
    // Beyond Redis: what a cluster bus peer's certificate must name (`tls-cluster yes`).
    // Hidden so that `CONFIG GET *` lists exactly Redis's directives.
    row("tls-cluster-peer-verify", enumeration(TLS_PEER_VERIFY, 0))
        .flag(flags::HIDDEN)
        .sup(),
    // Special
    row("dir", special(Special::Dir))
        .flag(flags::PROTECTED)
        .sup(),
    row("save", special(Special::Save)).flag(flags::MULTI_ARG),
    row(
        "client-output-buffer-limit",
        special(Special::ClientOutputBufferLimit),
    )
    .flag(flags::MULTI_ARG),
    row("oom-score-adj-values", special(Special::OomScoreAdjValues)).flag(flags::MULTI_ARG),
    row(
        "notify-keyspace-events",
        special(Special::NotifyKeyspaceEvents),
    ),
    row("bind", special(Special::Bind))
        .flag(flags::MULTI_ARG)
        .sup(),
    row("replicaof", special(Special::ReplicaOf))
        .alias("slaveof")
        .imm()
        .flag(flags::MULTI_ARG),
    row(
        "latency-tracking-info-percentiles",
        special(Special::LatencyPercentiles),
    )
    .flag(flags::MULTI_ARG),
    // Config file only
    row("include", Kind::FileOnly(FileOnly::Include))
        .flag(flags::FILE_ONLY)
        .sup(),
    row("rename-command", Kind::FileOnly(FileOnly::RenameCommand))
        .flag(flags::FILE_ONLY)
        .not_yet("command renaming"),
    row("user", Kind::FileOnly(FileOnly::User)).flag(flags::FILE_ONLY),
    row("loadmodule", Kind::FileOnly(FileOnly::LoadModule))
        .flag(flags::FILE_ONLY)
        .not_yet("module loading"),
    row("sentinel", Kind::FileOnly(FileOnly::Sentinel))
        .flag(flags::FILE_ONLY)
        .not_yet("Sentinel mode"),
    row("list-max-ziplist-entries", Kind::Deprecated).flag(flags::FILE_ONLY),
    row("list-max-ziplist-value", Kind::Deprecated).flag(flags::FILE_ONLY),
    row("lua-replicate-commands", Kind::Deprecated).flag(flags::FILE_ONLY),
];

/// Index of a directive by canonical name, at compile time (panics the build
/// if the name is not in [`TABLE`]).
pub(crate) const fn index_of(name: &str) -> usize {
    let name = name.as_bytes();
    let mut i = 0;
    while i < TABLE.len() {
        let row = TABLE[i].name.as_bytes();
        if row.len() == name.len() {
            let mut j = 0;
            while j < row.len() && row[j] == name[j] {
                j += 1;
            }
            if j == row.len() {
                return i;
            }
        }
        i += 1;
    }
    panic!("unknown directive")
}

/// Finds a directive by name or alias, case-insensitively. Returns its index
/// and whether `name` is the alias.
pub(crate) fn find(name: &[u8]) -> Option<(usize, bool)> {
    TABLE.iter().enumerate().find_map(|(i, d)| {
        if d.name.as_bytes().eq_ignore_ascii_case(name) {
            Some((i, false))
        } else if d
            .alias
            .is_some_and(|a| a.as_bytes().eq_ignore_ascii_case(name))
        {
            Some((i, true))
        } else {
            None
        }
    })
}
