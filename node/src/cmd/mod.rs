//! The command table: one static row per command, and everything derived from it.
//!
//! A row ([`Command`]) carries the name, arity, flags, ACL categories, key specs,
//! subcommands and handler. Lookup, arity errors, key extraction (for locking, and later
//! cluster routing and ACLs), `COMMAND` and its subcommands all read these rows; the name
//! exists nowhere else. Rows live beside their handlers, one file per command group, and
//! [`GROUPS`] joins the groups into the one table.

pub mod acl_commands;
pub mod cluster;
pub mod command;
pub mod connection;
pub mod dump;
pub mod function;
pub mod geo;
pub mod hash;
pub mod hll;
pub mod keys;
pub mod latency;
pub mod list;
pub mod lolwut;
pub mod migrate;
pub mod module;
pub mod multi;
pub mod pubsub;
pub mod repl;
pub mod script;
pub mod server;
pub mod set;
pub mod sort;
pub mod stream;
pub mod string;
pub mod tracking;
pub mod zset;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;

use crate::dispatch::Ctx;
use crate::error::CmdError;

/// What a handler returns: the reply was written to `ctx.out`, or an error to send instead.
pub type CmdResult = Result<(), CmdError>;
/// A command handler.
pub type Handler = fn(&mut Ctx<'_, '_>) -> CmdResult;

/// Command flags, in the order `COMMAND INFO` prints them.
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const MODULE: u32 = 1 << 3;
    pub const ADMIN: u32 = 1 << 4;
    pub const PUBSUB: u32 = 1 << 5;
    pub const NOSCRIPT: u32 = 1 << 6;
    pub const BLOCKING: u32 = 1 << 7;
    pub const LOADING: u32 = 1 << 8;
    pub const STALE: u32 = 1 << 9;
    pub const SKIP_MONITOR: u32 = 1 << 10;
    pub const SKIP_SLOWLOG: u32 = 1 << 11;
    pub const ASKING: u32 = 1 << 12;
    pub const FAST: u32 = 1 << 13;
    pub const NO_AUTH: u32 = 1 << 14;
    pub const MAY_REPLICATE: u32 = 1 << 15;
    pub const NO_MANDATORY_KEYS: u32 = 1 << 16;
    pub const NO_ASYNC_LOADING: u32 = 1 << 17;
    pub const NO_MULTI: u32 = 1 << 18;
    /// Derived from the key specs, never set by hand.
    pub const MOVABLEKEYS: u32 = 1 << 19;
    pub const ALLOW_BUSY: u32 = 1 << 20;
    /// ferrodis only, not printed: allowed while a RESP2 client is subscribed
    /// ((P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PING, QUIT, RESET).
    pub const PUBSUB_CONTEXT: u32 = 1 << 30;
    /// ferrodis only, not printed: runs a script, which locks the shards it reaches itself
    /// (`Keyspace::script_view`); with ALL_SHARDS, so a transaction holding one locks them all.
    pub const SCRIPT_LOCKS: u32 = 1 << 29;
    /// ferrodis only, not printed: the handler needs every shard locked.
    pub const ALL_SHARDS: u32 = 1 << 31;

    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (MODULE, "module"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (ASKING, "asking"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (MOVABLEKEYS, "movablekeys"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// ACL categories, in the order Redis lists them.
pub mod acl {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const READ: u32 = 1 << 1;
    pub const WRITE: u32 = 1 << 2;
    pub const SET: u32 = 1 << 3;
    pub const SORTEDSET: u32 = 1 << 4;
    pub const LIST: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const STRING: u32 = 1 << 7;
    pub const BITMAP: u32 = 1 << 8;
    pub const HYPERLOGLOG: u32 = 1 << 9;
    pub const GEO: u32 = 1 << 10;
    pub const STREAM: u32 = 1 << 11;
    pub const PUBSUB: u32 = 1 << 12;
    pub const ADMIN: u32 = 1 << 13;
    pub const FAST: u32 = 1 << 14;
    pub const SLOW: u32 = 1 << 15;
    pub const BLOCKING: u32 = 1 << 16;
    pub const DANGEROUS: u32 = 1 << 17;
    pub const CONNECTION: u32 = 1 << 18;
    pub const TRANSACTION: u32 = 1 << 19;
    pub const SCRIPTING: u32 = 1 << 20;

    pub const NAMES: &[(u32, &str)] = &[
        (KEYSPACE, "keyspace"),
        (READ, "read"),
        (WRITE, "write"),
        (SET, "set"),
        (SORTEDSET, "sortedset"),
        (LIST, "list"),
        (HASH, "hash"),
        (STRING, "string"),
        (BITMAP, "bitmap"),
        (HYPERLOGLOG, "hyperloglog"),
        (GEO, "geo"),
        (STREAM, "stream"),
        (PUBSUB, "pubsub"),
        (ADMIN, "admin"),
        (FAST, "fast"),
        (SLOW, "slow"),
        (BLOCKING, "blocking"),
        (DANGEROUS, "dangerous"),
        (CONNECTION, "connection"),
        (TRANSACTION, "transaction"),
        (SCRIPTING, "scripting"),
    ];
}

/// Key spec flags, in the order `COMMAND INFO` prints them.
pub mod kflags {
    pub const RO: u16 = 1 << 0;
    pub const RW: u16 = 1 << 1;
    pub const OW: u16 = 1 << 2;
    pub const RM: u16 = 1 << 3;
    pub const ACCESS: u16 = 1 << 4;
    pub const UPDATE: u16 = 1 << 5;
    pub const INSERT: u16 = 1 << 6;
    pub const DELETE: u16 = 1 << 7;
    pub const NOT_KEY: u16 = 1 << 8;
    pub const INCOMPLETE: u16 = 1 << 9;
    pub const VARIABLE_FLAGS: u16 = 1 << 10;

    pub const NAMES: &[(u16, &str)] = &[
        (RO, "RO"),
        (RW, "RW"),
        (OW, "OW"),
        (RM, "RM"),
        (ACCESS, "access"),
        (UPDATE, "update"),
        (INSERT, "insert"),
        (DELETE, "delete"),
        (NOT_KEY, "not_key"),
        (INCOMPLETE, "incomplete"),
        (VARIABLE_FLAGS, "variable_flags"),
    ];
}

/// Where the search for a key spec's keys starts.
#[derive(Debug, Clone, Copy)]
pub enum BeginSearch {
    /// At this argument index.
    Index(i32),
    /// After `keyword`, searched from `startfrom` (negative: from the end, backwards).
    Keyword {
        keyword: &'static str,
        startfrom: i32,
    },
    /// Not expressible as a spec: the command's [`Command::getkeys`] finds these keys.
    Unknown,
}

/// How keys are found from the start position.
#[derive(Debug, Clone, Copy)]
pub enum FindKeys {
    /// `lastkey` relative to the start (-1 = last argument), every `step`; `limit` > 1
    /// takes only 1/limit of the remaining arguments.
    Range { lastkey: i32, step: i32, limit: i32 },
    /// The number of keys is at `keynumidx` (relative to the start); keys begin at `firstkey`.
    Keynum {
        keynumidx: i32,
        firstkey: i32,
        step: i32,
    },
    /// With [`BeginSearch::Unknown`].
    Unknown,
}

/// One key spec, as in Redis 7's `COMMAND INFO`.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub notes: &'static str,
    pub flags: u16,
    pub begin: BeginSearch,
    pub find: FindKeys,
}

impl KeySpec {
    /// The common spec: one key at `index`.
    pub const fn one(index: i32, flags: u16) -> KeySpec {
        KeySpec {
            notes: "",
            flags,
            begin: BeginSearch::Index(index),
            find: FindKeys::Range {
                lastkey: 0,
                step: 1,
                limit: 0,
            },
        }
    }

    /// Keys from `index` to `lastkey` (relative; -1 = to the end) every `step`.
    pub const fn range(index: i32, lastkey: i32, step: i32, flags: u16) -> KeySpec {
        KeySpec {
            notes: "",
            flags,
            begin: BeginSearch::Index(index),
            find: FindKeys::Range {
                lastkey,
                step,
                limit: 0,
            },
        }
    }
}

/// A command's own key finder: calls back with `(index, key spec flags)` for each key.
pub type GetKeys = fn(&[bytes::Bytes], &mut dyn FnMut(usize, u16));

/// A command (or subcommand) row.
#[derive(Debug)]
pub struct Command {
    /// Lowercase name; subcommands use their own name (`get` for `config|get`).
    pub name: &'static str,
    /// Number of arguments including the name; negative means "at least -arity".
    pub arity: i32,
    pub flags: u32,
    /// Categories given explicitly; the ones implied by flags are added by [`Command::acl_categories`].
    pub acl: u32,
    pub tips: &'static [&'static str],
    pub key_specs: &'static [KeySpec],
    pub subcommands: &'static [Command],
    /// None only for containers that always need a subcommand; a container with a
    /// handler (COMMAND) runs it when called without one.
    pub handler: Option<Handler>,
    /// Finds the keys, `(index, key spec flags)`, where specs cannot (SORT's STORE), as
    /// Redis's getkeys procedures do; the specs are then only shown.
    pub getkeys: Option<GetKeys>,
    pub group: &'static str,
    pub since: &'static str,
    pub complexity: &'static str,
    /// Our own one-line summary (`COMMAND DOCS`).
    pub summary: &'static str,
}

/// One command's counters for INFO commandstats, as Redis keeps them (see [`stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CmdStats {
    pub calls: u64,
    /// Microseconds spent running it.
    pub usec: u64,
    /// Refused before running: arity, ACL, OOM, BUSY, cluster redirection...
    pub rejected: u64,
    /// Ran and answered an error.
    pub failed: u64,
}

impl CmdStats {
    /// The INFO commandstats value, None if the command was never called nor refused.
    pub fn line(&self) -> Option<String> {
        let CmdStats {
            calls,
            usec,
            rejected,
            failed,
        } = *self;
        if calls == 0 && rejected == 0 && failed == 0 {
            return None;
        }
        let per_call = if calls == 0 {
            0.0
        } else {
            usec as f64 / calls as f64
        };
        Some(format!(
            "calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={failed}"
        ))
    }
}

impl Command {
    /// A row with every optional field empty, for `..Command::DEFAULT`.
    pub const DEFAULT: Command = Command {
        name: "",
        arity: 0,
        flags: 0,
        acl: 0,
        tips: &[],
        key_specs: &[],
        subcommands: &[],
        handler: None,
        getkeys: None,
        group: "generic",
        since: "1.0.0",
        complexity: "O(1)",
        summary: "",
    };

    /// Flags including the derived `movablekeys`.
    pub fn all_flags(&self) -> u32 {
        let movable = self.key_specs.iter().any(|s| {
            !matches!(
                (s.begin, s.find),
                (BeginSearch::Index(_), FindKeys::Range { .. })
            )
        });
        self.flags | if movable { flags::MOVABLEKEYS } else { 0 }
    }

    /// ACL categories, with those implied by the flags.
    pub fn acl_categories(&self) -> u32 {
        let mut c = self.acl;
        if self.flags & flags::WRITE != 0 {
            c |= acl::WRITE;
        }
        if self.flags & flags::READONLY != 0 && c & acl::SCRIPTING == 0 {
            c |= acl::READ;
        }
        if self.flags & flags::ADMIN != 0 {
            c |= acl::ADMIN | acl::DANGEROUS;
        }
        if self.flags & flags::PUBSUB != 0 {
            c |= acl::PUBSUB;
        }
        if self.flags & flags::FAST != 0 {
            c |= acl::FAST;
        }
        if self.flags & flags::BLOCKING != 0 {
            c |= acl::BLOCKING;
        }
        if c & acl::FAST == 0 {
            c |= acl::SLOW;
        }
        c
    }

    /// The legacy `(first, last, step)` key range that `COMMAND INFO` reports.
    pub fn legacy_range(&self) -> (i32, i32, i32) {
        if let [KeySpec {
            begin: BeginSearch::Index(i),
            find: FindKeys::Range { lastkey, step, .. },
            ..
        }] = self.key_specs
        {
            let last = if *lastkey >= 0 { i + lastkey } else { *lastkey };
            return (*i, last, *step);
        }
        let (mut first, mut last, mut prev_last) = (i32::MAX, 0i32, 0i32);
        for s in self.key_specs {
            let (BeginSearch::Index(pos), FindKeys::Range { lastkey, step, .. }) =
                (s.begin, s.find)
            else {
                continue;
            };
            if step != 1 || (prev_last != 0 && prev_last != pos - 1) {
                return (0, 0, 0);
            }
            first = first.min(pos);
            let abs = if lastkey >= 0 { lastkey + pos } else { lastkey };
            // Unsigned comparison: a negative (relative-to-end) last key wins.
            if (abs as u32) > (last as u32) {
                last = abs;
            }
            prev_last = last;
        }
        if first == i32::MAX {
            return (0, 0, 0);
        }
        (first, last, 1)
    }

    /// True if `argc` satisfies the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.arity;
        (a > 0 && argc as i32 == a) || (a < 0 && argc as i32 >= -a)
    }

    /// Indices of the key arguments in `args` (args[0] is the command name).
    /// The index of the only key when the command has exactly one key spec naming one fixed
    /// argument (GET, SET, INCR...), the common case the dispatcher takes without allocating.
    pub fn single_key(&self, argc: usize) -> Option<usize> {
        match self.key_specs {
            [KeySpec {
                flags,
                begin: BeginSearch::Index(i),
                find: FindKeys::Range { lastkey: 0, .. },
                ..
            }] if flags & kflags::NOT_KEY == 0 && (*i as usize) < argc => Some(*i as usize),
            _ => None,
        }
    }

    pub fn key_indices(&self, args: &[bytes::Bytes], out: &mut Vec<usize>) {
        self.key_indices_with(args, out, u16::MAX);
    }

    /// Indices of the keys whose spec may change them (RW or OW): the keys a write command
    /// signals as modified (WATCH, client-side caching). Deletions (RM) are reported by the
    /// keyspace itself, only when a key was really removed.
    pub fn written_key_indices(&self, args: &[bytes::Bytes], out: &mut Vec<usize>) {
        self.key_indices_with(args, out, kflags::RW | kflags::OW);
    }

    /// [`Command::key_indices`] restricted to specs having one of the `any` flags.
    fn key_indices_with(&self, args: &[bytes::Bytes], out: &mut Vec<usize>, any: u16) {
        out.clear();
        self.visit_keys(args, any, |i, _| out.push(i));
    }

    /// Every key argument with the flags of the key spec that found it (ACL read/write checks,
    /// COMMAND GETKEYSANDFLAGS). `VARIABLE_FLAGS` specs get the flags of these arguments, as
    /// Redis's key callbacks (`setGetKeys`, `bitfieldGetKeys`) give them. False if a spec
    /// does not fit the arguments (Redis's "invalid spec": a bad key count, keys past the end).
    pub fn keys_with_flags(&self, args: &[bytes::Bytes], out: &mut Vec<(usize, u16)>) -> bool {
        out.clear();
        self.visit_keys(args, u16::MAX, |i, f| {
            let f = if f & kflags::VARIABLE_FLAGS != 0 {
                variable_key_flags(self.name, args)
            } else {
                f
            };
            out.push((i, f))
        })
    }

    /// Calls `f(index, spec flags)` for each key found by the specs having one of the `any`
    /// flags. Returns false if a spec does not fit the arguments as Redis judges it (its
    /// first or last key out of range, a key count that is not a number, negative or zero);
    /// the keys it does find are visited anyway.
    fn visit_keys(&self, args: &[bytes::Bytes], any: u16, mut f: impl FnMut(usize, u16)) -> bool {
        if let Some(getkeys) = self.getkeys {
            getkeys(args, &mut |i, flags| {
                if flags & any != 0 {
                    f(i, flags)
                }
            });
            return true;
        }
        let argc = args.len() as i32;
        let mut valid = true;
        // MIGRATE ... "" ... KEYS k...: the key argument is an empty placeholder, not a key
        // (Redis's `migrateGetKeys`).
        let skip_first = self.name == "migrate" && migrate::uses_keys_option(args);
        for (n, spec) in self.key_specs.iter().enumerate() {
            if spec.flags & kflags::NOT_KEY != 0 || spec.flags & any == 0 || (skip_first && n == 0)
            {
                continue;
            }
            let start = match spec.begin {
                BeginSearch::Index(i) => i,
                BeginSearch::Keyword { keyword, startfrom } => {
                    let found = if startfrom >= 0 {
                        (startfrom..argc)
                            .find(|&i| args[i as usize].eq_ignore_ascii_case(keyword.as_bytes()))
                    } else {
                        (1..=(argc + startfrom).max(0))
                            .rev()
                            .find(|&i| args[i as usize].eq_ignore_ascii_case(keyword.as_bytes()))
                    };
                    match found {
                        Some(i) => i + 1,
                        None => continue,
                    }
                }
                BeginSearch::Unknown => continue,
            };
            if start >= argc {
                valid = false;
                continue;
            }
            match spec.find {
                FindKeys::Range {
                    lastkey,
                    step,
                    limit,
                } => {
                    let last = if lastkey >= 0 {
                        start + lastkey
                    } else if limit > 1 {
                        start + (argc - start) / limit - 1
                    } else {
                        argc + lastkey
                    };
                    valid &= last < argc && last >= start;
                    let mut i = start;
                    while i <= last.min(argc - 1) {
                        f(i as usize, spec.flags);
                        i += step.max(1);
                    }
                }
                FindKeys::Keynum {
                    keynumidx,
                    firstkey,
                    step,
                } => {
                    let idx = start + keynumidx;
                    if idx >= argc {
                        valid = false;
                        continue;
                    }
                    let Some(n) = crate::util::num::parse_i64(&args[idx as usize]) else {
                        valid = false;
                        continue;
                    };
                    let first = start + firstkey;
                    if n <= 0 || first as i64 + n > argc as i64 {
                        valid = false;
                    }
                    if n <= 0 {
                        continue;
                    }
                    for k in 0..n.min(argc as i64) as i32 {
                        let i = first + k * step.max(1);
                        if i < argc {
                            f(i as usize, spec.flags);
                        }
                    }
                }
                FindKeys::Unknown => {}
            }
        }
        valid
    }
    /// The subcommand row for `name`, case-insensitively.
    pub fn subcommand(&self, name: &[u8]) -> Option<&'static Command>
    where
        Self: 'static,
    {
        let sub: &'static [Command] = self.subcommands;
        sub.iter()
            .find(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
    }
}

/// The key flags of SET (`GET` reads the old value) and BITFIELD (read-only with only GET
/// operations) for these arguments.
fn variable_key_flags(name: &str, args: &[bytes::Bytes]) -> u16 {
    let eq = |a: &bytes::Bytes, w: &[u8]| a.eq_ignore_ascii_case(w);
    match name {
        "set" => {
            if args.iter().skip(3).any(|a| eq(a, b"get")) {
                kflags::RW | kflags::ACCESS | kflags::UPDATE
            } else {
                kflags::OW | kflags::UPDATE
            }
        }
        _ => {
            let mut readonly = true;
            let mut i = 2;
            while i < args.len() {
                let rem = args.len() - i - 1;
                if eq(&args[i], b"get") && rem >= 2 {
                    i += 3;
                } else if eq(&args[i], b"overflow") && rem >= 1 {
                    i += 2;
                } else {
                    readonly = false;
                    break;
                }
            }
            if readonly {
                kflags::RO | kflags::ACCESS
            } else {
                kflags::RW | kflags::ACCESS | kflags::UPDATE
            }
        }
    }
}

/// Every command group's rows; together they are the command table.
pub static GROUPS: &[&[Command]] = &[
    connection::COMMANDS,
    server::COMMANDS,
    latency::COMMANDS,
    lolwut::COMMANDS,
    repl::COMMANDS,
    command::COMMANDS,
    string::COMMANDS,
    keys::COMMANDS,
    dump::COMMANDS,
    migrate::COMMANDS,
    module::COMMANDS,
    hash::COMMANDS,
    list::COMMANDS,
    script::COMMANDS,
    function::COMMANDS,
    sort::COMMANDS,
    set::COMMANDS,
    zset::COMMANDS,
    hll::COMMANDS,
    geo::COMMANDS,
    pubsub::COMMANDS,
    stream::COMMANDS,
    multi::COMMANDS,
    cluster::COMMANDS,
    acl_commands::COMMANDS,
];

/// Dense numbers for every command and subcommand row, by the row's address (the rows are
/// statics without room for counters: they would be interior-mutable temporaries).
fn numbers() -> &'static HashMap<usize, usize, foldhash::fast::RandomState> {
    static TABLE: OnceLock<HashMap<usize, usize, foldhash::fast::RandomState>> = OnceLock::new();
    TABLE.get_or_init(|| {
        all_rows()
            .enumerate()
            .map(|(i, c)| (c as *const Command as usize, i))
            .collect()
    })
}

/// The counters of every row, by its number (see [`numbers`]): calls, usec, rejected,
/// failed.
fn table() -> &'static [[AtomicU64; 4]] {
    static TABLE: OnceLock<Vec<[AtomicU64; 4]>> = OnceLock::new();
    TABLE.get_or_init(|| (0..numbers().len()).map(|_| Default::default()).collect())
}

/// Every row's latency histogram, by its number (see [`numbers`]), made on its first sample.
fn histograms() -> &'static [OnceLock<crate::hdr::Histogram>] {
    static TABLE: OnceLock<Vec<OnceLock<crate::hdr::Histogram>>> = OnceLock::new();
    TABLE.get_or_init(|| (0..numbers().len()).map(|_| OnceLock::new()).collect())
}

/// `latency-tracking`, read as each call ends: the CONFIG SET that turns it off is not
/// recorded and the one that turns it on is, as in Redis.
static LATENCY_TRACKING: AtomicBool = AtomicBool::new(true);

/// Sets `latency-tracking` (at start and after each configuration change).
pub fn set_latency_tracking(on: bool) {
    LATENCY_TRACKING.store(on, Relaxed);
}

/// Whether commands' latencies are recorded (`latency-tracking`).
pub fn latency_tracking() -> bool {
    LATENCY_TRACKING.load(Relaxed)
}

/// Latency samples a connection keeps for its latest command kind before adding them to
/// the row's histogram: a batch's calls mostly fall in one or two slots.
const LATENCY_PENDING: usize = 4;

/// A connection's counts of its latest command kind, not yet added to the server's table: a
/// pipeline of one command adds once per batch instead of once per command (see
/// [`PendingStats::flush`]).
#[derive(Debug, Default)]
pub struct PendingStats {
    /// The row's address (0: none).
    key: usize,
    n: usize,
    calls: u64,
    usec: u64,
    failed: u64,
    /// Samples of those calls of 0 to 7 microseconds, by microseconds (bit `i` of the mask:
    /// `by_usec[i]` is not zero)...
    by_usec: [u32; 8],
    by_usec_mask: u8,
    /// ... and `(histogram slot, samples)` of the longer ones (see [`crate::hdr`]).
    latency: [(u16, u32); LATENCY_PENDING],
    latency_len: usize,
}

impl PendingStats {
    /// One call of `cmd` that took `usec` microseconds; `failed` if it answered an error.
    /// With `latency-tracking` on, its latency goes to the command's histogram.
    #[inline]
    pub fn call(&mut self, cmd: &Command, usec: u64, failed: bool) {
        let key = cmd as *const Command as usize;
        if key != self.key {
            self.flush();
            let Some(&n) = numbers().get(&key) else {
                return;
            };
            self.key = key;
            self.n = n;
        }
        self.calls += 1;
        self.usec += usec;
        self.failed += failed as u64;
        if LATENCY_TRACKING.load(Relaxed) {
            match self.by_usec.get_mut(usec as usize) {
                // Most calls: counted by microseconds, their slot found at the flush.
                Some(n) => {
                    *n += 1;
                    self.by_usec_mask |= 1 << usec;
                }
                None => self.sample(usec),
            }
        }
    }

    /// A call of a microsecond or more (out of line: the usual call takes less).
    #[inline(never)]
    fn sample(&mut self, usec: u64) {
        // Redis records microseconds as nanoseconds.
        let slot = crate::hdr::slot_of(usec.saturating_mul(1000)) as u16;
        let pending = &mut self.latency[..self.latency_len];
        if let Some(p) = pending.iter_mut().find(|p| p.0 == slot) {
            p.1 += 1;
            return;
        }
        if self.latency_len == LATENCY_PENDING {
            self.flush_latency();
        }
        self.latency[self.latency_len] = (slot, 1);
        self.latency_len += 1;
    }

    fn flush_latency(&mut self) {
        if self.latency_len == 0 && self.by_usec_mask == 0 {
            return;
        }
        if let Some(h) = histograms().get(self.n) {
            let h = h.get_or_init(Default::default);
            for &(slot, n) in &self.latency[..self.latency_len] {
                h.add(slot as usize, n as u64);
            }
            let mut mask = self.by_usec_mask;
            while mask != 0 {
                let usec = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                // Redis records microseconds as nanoseconds (0 as 1 ns).
                let slot = crate::hdr::slot_of(usec as u64 * 1000);
                h.add(slot, self.by_usec[usec] as u64);
            }
        }
        self.latency_len = 0;
        self.by_usec_mask = 0;
        self.by_usec = [0; 8];
    }

    /// Adds what is pending to the server's table (at the end of each batch, before the
    /// replies are written, so a reply's command is counted before the client sees it).
    pub fn flush(&mut self) {
        if self.calls == 0 {
            return;
        }
        if let Some(c) = table().get(self.n) {
            c[0].fetch_add(self.calls, Relaxed);
            c[1].fetch_add(self.usec, Relaxed);
            if self.failed > 0 {
                c[3].fetch_add(self.failed, Relaxed);
            }
        }
        self.flush_latency();
        self.calls = 0;
        self.usec = 0;
        self.failed = 0;
    }
}

/// `cmd`'s latency histogram, unless it has no sample.
pub fn latency_of(cmd: &Command) -> Option<crate::hdr::Snapshot> {
    let n = *numbers().get(&(cmd as *const Command as usize))?;
    let snap = histograms()[n].get()?.snapshot();
    (snap.total > 0).then_some(snap)
}

/// Every row's latency histogram that has samples, by full name (INFO latencystats, LATENCY
/// HISTOGRAM).
pub fn latency_histograms() -> Vec<(String, crate::hdr::Snapshot)> {
    all_with_names()
        .filter_map(|(name, c)| Some((name, latency_of(c)?)))
        .collect()
}

/// Counts a refusal of `cmd` before it ran (rare: straight to the table).
pub fn count_rejected(cmd: &Command) {
    if let Some(&n) = numbers().get(&(cmd as *const Command as usize)) {
        table()[n][2].fetch_add(1, Relaxed);
    }
}

/// Every row's counters so far, by full name (INFO commandstats).
pub fn command_stats() -> Vec<(String, CmdStats)> {
    all_with_names()
        .zip(table())
        .map(|((name, _), c)| {
            (
                name,
                CmdStats {
                    calls: c[0].load(Relaxed),
                    usec: c[1].load(Relaxed),
                    rejected: c[2].load(Relaxed),
                    failed: c[3].load(Relaxed),
                },
            )
        })
        .collect()
}

/// CONFIG RESETSTAT: every counter back to zero.
pub fn reset_command_stats() {
    for c in table() {
        for slot in c {
            slot.store(0, Relaxed);
        }
    }
    for h in histograms().iter().filter_map(OnceLock::get) {
        h.reset();
    }
}

/// The optional SYNC | ASYNC of FLUSHALL, FLUSHDB, SCRIPT FLUSH and FUNCTION FLUSH (both
/// flush at once here); `rest`: the arguments after the command's name.
pub fn flush_mode_ok(rest: &[bytes::Bytes]) -> bool {
    match rest {
        [] => true,
        [m] => m.eq_ignore_ascii_case(b"sync") || m.eq_ignore_ascii_case(b"async"),
        _ => false,
    }
}

/// Every command and subcommand row, each container before its subcommands.
fn all_rows() -> impl Iterator<Item = &'static Command> {
    all().flat_map(|c| std::iter::once(c).chain(c.subcommands.iter()))
}

/// Every command and subcommand with its full name (`config|get`), in [`all_rows`]'s
/// order, for INFO commandstats.
pub fn all_with_names() -> impl Iterator<Item = (String, &'static Command)> {
    all().flat_map(|c| {
        std::iter::once((c.name.to_string(), c)).chain(
            c.subcommands
                .iter()
                .map(move |s| (format!("{}|{}", c.name, s.name), s)),
        )
    })
}

/// Iterates over every top-level command row.
pub fn all() -> impl Iterator<Item = &'static Command> {
    GROUPS.iter().flat_map(|g| g.iter())
}

fn index() -> &'static NameIndex {
    static INDEX: OnceLock<NameIndex> = OnceLock::new();
    INDEX.get_or_init(|| all().map(|c| (c.name.as_bytes(), c)).collect())
}

/// Command names to rows, hashed with foldhash: looked up once per command.
type NameIndex = HashMap<&'static [u8], &'static Command, foldhash::fast::RandomState>;

/// Finds a command by name, case-insensitively, without allocating for short names.
pub fn lookup(name: &[u8]) -> Option<&'static Command> {
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    index().get(&buf[..name.len()]).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_stats_add_up_per_command_and_line_as_redis() {
        // Rows no other unit test runs (the counters are the process's).
        let get = lookup(b"pfselftest").unwrap();
        let set = lookup(b"pfdebug").unwrap();
        let before = |name: &str| {
            command_stats()
                .into_iter()
                .find(|(n, _)| n == name)
                .map(|(_, s)| s)
                .unwrap()
        };
        let (g0, s0) = (before("pfselftest"), before("pfdebug"));
        let mut p = PendingStats::default();
        p.call(get, 3, false);
        p.call(get, 4, true);
        // Another command flushes the first one's counts.
        p.call(set, 1, false);
        let g = before("pfselftest");
        assert_eq!(
            (g.calls - g0.calls, g.usec - g0.usec, g.failed - g0.failed),
            (2, 7, 1)
        );
        p.flush();
        assert_eq!(before("pfdebug").calls - s0.calls, 1);
        let line = CmdStats {
            calls: 2,
            usec: 7,
            rejected: 1,
            failed: 1,
        }
        .line();
        assert_eq!(
            line.as_deref(),
            Some("calls=2,usec=7,usec_per_call=3.50,rejected_calls=1,failed_calls=1")
        );
        assert_eq!(CmdStats::default().line(), None);
    }

    /// Samples wait in the connection (four slots at most) and all reach the histogram.
    #[test]
    fn latency_samples_reach_the_histogram() {
        // A row no other unit test runs.
        let cmd = lookup(b"readwrite").unwrap();
        let before = latency_of(cmd).map_or(0, |s| s.total);
        let mut p = PendingStats::default();
        // Five different slots: the fifth makes room by adding the first four.
        for usec in [0, 0, 1, 0, 2, 3, 1000, 0] {
            p.call(cmd, usec, false);
        }
        p.flush();
        let s = latency_of(cmd).expect("samples");
        assert_eq!(s.total - before, 8);
        assert_eq!(s.percentile(100.0), 1_003_519, "1 ms is 1,000,000 ns");
        assert_eq!(
            s.percentile(0.0),
            1,
            "0 us is recorded as 1 ns, as in Redis"
        );
    }

    fn check(c: &Command, parent: Option<&str>) {
        let full = match parent {
            Some(p) => format!("{p}|{}", c.name),
            None => c.name.to_string(),
        };
        assert!(!c.name.is_empty(), "empty name");
        assert_eq!(
            c.name,
            c.name.to_lowercase(),
            "{full}: name must be lowercase"
        );
        assert_ne!(c.arity, 0, "{full}: arity must be non-zero");
        assert_eq!(
            c.flags & flags::MOVABLEKEYS,
            0,
            "{full}: movablekeys is derived"
        );
        // A container (e.g. COMMAND) may also have a handler: it runs when the
        // container is called without a subcommand.
        if c.subcommands.is_empty() {
            assert!(c.handler.is_some(), "{full}: no handler");
        }
        for s in c.key_specs {
            if let BeginSearch::Index(i) = s.begin {
                assert!(i >= 1, "{full}: key index must follow the name");
                assert!(
                    c.arity < 0 || i < c.arity,
                    "{full}: key index {i} beyond arity"
                );
            }
            assert!(
                s.flags & (kflags::RO | kflags::RW | kflags::OW | kflags::RM | kflags::NOT_KEY)
                    != 0,
                "{full}: key spec needs an access flag"
            );
        }
        if !c.key_specs.is_empty() && c.flags & flags::NO_MANDATORY_KEYS == 0 {
            let (first, _, _) = c.legacy_range();
            assert!(
                first > 0 || c.all_flags() & flags::MOVABLEKEYS != 0,
                "{full}"
            );
        }
        for s in c.subcommands {
            check(s, Some(c.name));
        }
    }

    #[test]
    fn table_is_consistent() {
        let mut seen = std::collections::HashSet::new();
        for c in all() {
            assert!(seen.insert(c.name), "duplicate command {}", c.name);
            check(c, None);
        }
        assert!(lookup(b"GET").is_some());
        assert!(lookup(b"gEt").is_some());
        assert!(lookup(b"nosuchcommand").is_none());
    }

    #[test]
    fn key_extraction_and_legacy_ranges() {
        let mset = lookup(b"mset").unwrap();
        let args: Vec<bytes::Bytes> = ["mset", "a", "1", "b", "2"]
            .iter()
            .map(|s| bytes::Bytes::from(*s))
            .collect();
        let mut v = Vec::new();
        mset.key_indices(&args, &mut v);
        assert_eq!(v, vec![1, 3]);
        assert_eq!(mset.legacy_range(), (1, -1, 2));
        assert_eq!(lookup(b"bitop").unwrap().legacy_range(), (2, -1, 1));
        assert_eq!(lookup(b"copy").unwrap().legacy_range(), (1, 2, 1));
        assert_eq!(lookup(b"get").unwrap().legacy_range(), (1, 1, 1));
    }
}
