//! String and bitmap commands: the rows and their handlers (Redis `t_string.c`, `bitops.c`).
//!
//! The algorithms live beside the data, in [`crate::db::types`] (`strings`, `bits`, `lcs`) and
//! [`crate::util::num`]; this file parses arguments in Redis's order (it decides which error
//! wins), looks keys up and writes replies.
//!
//! Conventions kept by every handler:
//!
//! - Read lookups (Redis `lookupKeyRead`) count a keyspace hit or miss, write lookups do not.
//!   The count is taken before any WRONGTYPE error, as in Redis.
//! - Errors are returned before anything is written to the reply.
//! - Values changed in place (INCR, APPEND, SETRANGE, SETBIT, BITFIELD) go through
//!   [`changed`], which counts them in the dirty counter like Redis; `Db::set` and friends
//!   count themselves, corrected where Redis counts differently (SET with an expiry is one
//!   change, BITFIELD counts its writes).

use bytes::Bytes;

use crate::cmd::{acl, flags, kflags, BeginSearch, CmdResult, Command, FindKeys, KeySpec};
use crate::config::notify;
use crate::db::types::bits::{self, BitOp, BitUnit, BitfieldType, Overflow};
use crate::db::types::lcs::{self, LcsError, LcsMode, LcsResult};
use crate::db::types::strings::{self, SetRangePlan};
use crate::db::{Db, SmallBytes, Value};
use crate::dispatch::Ctx;
use crate::error::CmdError;
use crate::resp::ReplyWriter;
use crate::util::num::{self, IncrFloatError};

// ---------------------------------------------------------------------------------------------
// Key specs

const KS_RO: &[KeySpec] = &[KeySpec::one(1, kflags::RO)];
const KS_RO_ACCESS: &[KeySpec] = &[KeySpec::one(1, kflags::RO | kflags::ACCESS)];
const KS_RW_ACCESS_UPDATE: &[KeySpec] = &[KeySpec::one(
    1,
    kflags::RW | kflags::ACCESS | kflags::UPDATE,
)];
const KS_RW_INSERT: &[KeySpec] = &[KeySpec::one(1, kflags::RW | kflags::INSERT)];
const KS_RW_UPDATE: &[KeySpec] = &[KeySpec::one(1, kflags::RW | kflags::UPDATE)];
const KS_OW_INSERT: &[KeySpec] = &[KeySpec::one(1, kflags::OW | kflags::INSERT)];
const KS_OW_UPDATE: &[KeySpec] = &[KeySpec::one(1, kflags::OW | kflags::UPDATE)];

/// One key at index 1, with notes.
const fn noted(notes: &'static str, flags: u16) -> KeySpec {
    KeySpec {
        notes,
        flags,
        begin: BeginSearch::Index(1),
        find: FindKeys::Range {
            lastkey: 0,
            step: 1,
            limit: 0,
        },
    }
}

const KS_SET: &[KeySpec] = &[noted(
    "RW and ACCESS due to the optional `GET` argument",
    kflags::RW | kflags::ACCESS | kflags::UPDATE | kflags::VARIABLE_FLAGS,
)];
const KS_GETEX: &[KeySpec] = &[noted(
    "RW and UPDATE because it changes the TTL",
    kflags::RW | kflags::ACCESS | kflags::UPDATE,
)];
const KS_BITFIELD: &[KeySpec] = &[noted(
    "This command allows both access and modification of the key",
    kflags::RW | kflags::ACCESS | kflags::UPDATE | kflags::VARIABLE_FLAGS,
)];

// ---------------------------------------------------------------------------------------------
// The rows

const WD: u32 = flags::WRITE | flags::DENYOOM;
const WDF: u32 = flags::WRITE | flags::DENYOOM | flags::FAST;
const RF: u32 = flags::READONLY | flags::FAST;
const R: u32 = flags::READONLY;

pub static COMMANDS: &[Command] = &[
    Command {
        name: "set",
        arity: -3,
        flags: WD,
        acl: acl::STRING,
        key_specs: KS_SET,
        handler: Some(set_cmd),
        group: "string",
        summary: "Stores a string value, optionally only if the key exists or not, with an expiry, returning the old value on request.",
        ..Command::DEFAULT
    },
    Command {
        name: "get",
        arity: 2,
        flags: RF,
        acl: acl::STRING,
        key_specs: KS_RO_ACCESS,
        handler: Some(get_cmd),
        group: "string",
        summary: "Returns the string stored at a key.",
        ..Command::DEFAULT
    },
    Command {
        name: "getex",
        arity: -2,
        flags: flags::WRITE | flags::FAST,
        acl: acl::STRING,
        key_specs: KS_GETEX,
        handler: Some(getex_cmd),
        group: "string",
        since: "6.2.0",
        summary: "Returns the string stored at a key and changes or removes its time to live.",
        ..Command::DEFAULT
    },
    Command {
        name: "getdel",
        arity: 2,
        flags: flags::WRITE | flags::FAST,
        acl: acl::STRING,
        key_specs: &[KeySpec::one(
            1,
            kflags::RW | kflags::ACCESS | kflags::DELETE,
        )],
        handler: Some(getdel_cmd),
        group: "string",
        since: "6.2.0",
        summary: "Returns the string stored at a key and deletes the key.",
        ..Command::DEFAULT
    },
    Command {
        name: "getset",
        arity: 3,
        flags: WDF,
        acl: acl::STRING,
        key_specs: KS_RW_ACCESS_UPDATE,
        handler: Some(getset_cmd),
        group: "string",
        summary: "Stores a string value and returns the previous one.",
        ..Command::DEFAULT
    },
    Command {
        name: "mget",
        arity: -2,
        flags: RF,
        acl: acl::STRING,
        tips: &["request_policy:multi_shard"],
        key_specs: &[KeySpec::range(1, -1, 1, kflags::RO | kflags::ACCESS)],
        handler: Some(mget_cmd),
        group: "string",
        complexity: "O(N) for N keys",
        summary: "Returns the strings stored at several keys.",
        ..Command::DEFAULT
    },
    Command {
        name: "mset",
        arity: -3,
        flags: WD,
        acl: acl::STRING,
        tips: &[
            "request_policy:multi_shard",
            "response_policy:all_succeeded",
        ],
        key_specs: &[KeySpec::range(1, -1, 2, kflags::OW | kflags::UPDATE)],
        handler: Some(mset_cmd),
        group: "string",
        since: "1.0.1",
        complexity: "O(N) for N keys",
        summary: "Stores several string values at once.",
        ..Command::DEFAULT
    },
    Command {
        name: "msetnx",
        arity: -3,
        flags: WD,
        acl: acl::STRING,
        tips: &["request_policy:multi_shard", "response_policy:agg_min"],
        key_specs: &[KeySpec::range(1, -1, 2, kflags::OW | kflags::INSERT)],
        handler: Some(msetnx_cmd),
        group: "string",
        since: "1.0.1",
        complexity: "O(N) for N keys",
        summary: "Stores several string values at once, only if none of the keys exists.",
        ..Command::DEFAULT
    },
    Command {
        name: "incr",
        arity: 2,
        flags: WDF,
        acl: acl::STRING,
        key_specs: KS_RW_ACCESS_UPDATE,
        handler: Some(incr_cmd),
        group: "string",
        summary: "Adds one to the integer stored at a key.",
        ..Command::DEFAULT
    },
    Command {
        name: "decr",
        arity: 2,
        flags: WDF,
        acl: acl::STRING,
        key_specs: KS_RW_ACCESS_UPDATE,
        handler: Some(decr_cmd),
        group: "string",
        summary: "Subtracts one from the integer stored at a key.",
        ..Command::DEFAULT
    },
    Command {
        name: "incrby",
        arity: 3,
        flags: WDF,
        acl: acl::STRING,
        key_specs: KS_RW_ACCESS_UPDATE,
        handler: Some(incrby_cmd),
        group: "string",
        summary: "Adds an integer to the integer stored at a key.",
        ..Command::DEFAULT
    },
    Command {
        name: "decrby",
        arity: 3,
        flags: WDF,
        acl: acl::STRING,
        key_specs: KS_RW_ACCESS_UPDATE,
        handler: Some(decrby_cmd),
        group: "string",
        summary: "Subtracts an integer from the integer stored at a key.",
        ..Command::DEFAULT
    },
    Command {
        name: "incrbyfloat",
        arity: 3,
        flags: WDF,
        acl: acl::STRING,
        key_specs: KS_RW_ACCESS_UPDATE,
        handler: Some(incrbyfloat_cmd),
        group: "string",
        since: "2.6.0",
        summary: "Adds a decimal number to the number stored at a key.",
        ..Command::DEFAULT
    },
    Command {
        name: "append",
        arity: 3,
        flags: WDF,
        acl: acl::STRING,
        key_specs: KS_RW_INSERT,
        handler: Some(append_cmd),
        group: "string",
        since: "2.0.0",
        complexity: "O(1) amortized",
        summary: "Adds bytes at the end of a string, creating it if needed.",
        ..Command::DEFAULT
    },
    Command {
        name: "strlen",
        arity: 2,
        flags: RF,
        acl: acl::STRING,
        key_specs: KS_RO,
        handler: Some(strlen_cmd),
        group: "string",
        since: "2.2.0",
        summary: "Returns the length in bytes of a string.",
        ..Command::DEFAULT
    },
    Command {
        name: "getrange",
        arity: 4,
        flags: R,
        acl: acl::STRING,
        key_specs: KS_RO_ACCESS,
        handler: Some(getrange_cmd),
        group: "string",
        since: "2.4.0",
        complexity: "O(N) in the length of the returned part",
        summary: "Returns part of a string, between two byte offsets.",
        ..Command::DEFAULT
    },
    Command {
        name: "substr",
        arity: 4,
        flags: R,
        acl: acl::STRING,
        key_specs: KS_RO_ACCESS,
        handler: Some(getrange_cmd),
        group: "string",
        complexity: "O(N) in the length of the returned part",
        summary: "Returns part of a string, between two byte offsets (old name of GETRANGE).",
        ..Command::DEFAULT
    },
    Command {
        name: "setrange",
        arity: 4,
        flags: WD,
        acl: acl::STRING,
        key_specs: KS_RW_UPDATE,
        handler: Some(setrange_cmd),
        group: "string",
        since: "2.2.0",
        complexity: "O(1) plus the copy of the value",
        summary: "Overwrites part of a string from a byte offset, padding with zero bytes.",
        ..Command::DEFAULT
    },
    Command {
        name: "setnx",
        arity: 3,
        flags: WDF,
        acl: acl::STRING,
        key_specs: KS_OW_INSERT,
        handler: Some(setnx_cmd),
        group: "string",
        summary: "Stores a string value only if the key does not exist.",
        ..Command::DEFAULT
    },
    Command {
        name: "setex",
        arity: 4,
        flags: WD,
        acl: acl::STRING,
        key_specs: KS_OW_UPDATE,
        handler: Some(setex_cmd),
        group: "string",
        since: "2.0.0",
        summary: "Stores a string value with a time to live in seconds.",
        ..Command::DEFAULT
    },
    Command {
        name: "psetex",
        arity: 4,
        flags: WD,
        acl: acl::STRING,
        key_specs: KS_OW_UPDATE,
        handler: Some(psetex_cmd),
        group: "string",
        since: "2.6.0",
        summary: "Stores a string value with a time to live in milliseconds.",
        ..Command::DEFAULT
    },
    Command {
        name: "lcs",
        arity: -3,
        flags: R,
        acl: acl::STRING,
        key_specs: &[KeySpec::range(1, 1, 1, kflags::RO | kflags::ACCESS)],
        handler: Some(lcs_cmd),
        group: "string",
        since: "7.0.0",
        complexity: "O(N*M) for strings of N and M bytes",
        summary: "Finds the longest common subsequence of two strings, its length or where it matches.",
        ..Command::DEFAULT
    },
    Command {
        name: "setbit",
        arity: 4,
        flags: WD,
        acl: acl::BITMAP,
        key_specs: KS_RW_ACCESS_UPDATE,
        handler: Some(setbit_cmd),
        group: "bitmap",
        since: "2.2.0",
        summary: "Sets or clears one bit of a string, growing it as needed, and returns the old bit.",
        ..Command::DEFAULT
    },
    Command {
        name: "getbit",
        arity: 3,
        flags: RF,
        acl: acl::BITMAP,
        key_specs: KS_RO_ACCESS,
        handler: Some(getbit_cmd),
        group: "bitmap",
        since: "2.2.0",
        summary: "Returns one bit of a string.",
        ..Command::DEFAULT
    },
    Command {
        name: "bitcount",
        arity: -2,
        flags: R,
        acl: acl::BITMAP,
        key_specs: KS_RO_ACCESS,
        handler: Some(bitcount_cmd),
        group: "bitmap",
        since: "2.6.0",
        complexity: "O(N)",
        summary: "Counts the set bits of a string, or of a byte or bit range of it.",
        ..Command::DEFAULT
    },
    Command {
        name: "bitpos",
        arity: -3,
        flags: R,
        acl: acl::BITMAP,
        key_specs: KS_RO_ACCESS,
        handler: Some(bitpos_cmd),
        group: "bitmap",
        since: "2.8.7",
        complexity: "O(N)",
        summary: "Finds the first set or clear bit of a string, or of a byte or bit range of it.",
        ..Command::DEFAULT
    },
    Command {
        name: "bitop",
        arity: -4,
        flags: WD,
        acl: acl::BITMAP,
        key_specs: &[
            KeySpec::one(2, kflags::OW | kflags::UPDATE),
            KeySpec::range(3, -1, 1, kflags::RO | kflags::ACCESS),
        ],
        handler: Some(bitop_cmd),
        group: "bitmap",
        since: "2.6.0",
        complexity: "O(N)",
        summary: "Stores the bitwise AND, OR, XOR or NOT of strings at a destination key.",
        ..Command::DEFAULT
    },
    Command {
        name: "bitfield",
        arity: -2,
        flags: WD,
        acl: acl::BITMAP,
        key_specs: KS_BITFIELD,
        handler: Some(bitfield_cmd),
        group: "bitmap",
        since: "3.2.0",
        complexity: "O(1) per operation",
        summary: "Reads, writes and increments integers of any width at any bit offset of a string.",
        ..Command::DEFAULT
    },
    Command {
        name: "bitfield_ro",
        arity: -2,
        flags: RF,
        acl: acl::BITMAP,
        key_specs: KS_RO_ACCESS,
        handler: Some(bitfield_ro_cmd),
        group: "bitmap",
        since: "6.0.0",
        complexity: "O(1) per operation",
        summary: "Reads integers of any width at any bit offset of a string.",
        ..Command::DEFAULT
    },
];

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// Counts a read lookup as a keyspace hit or miss (Redis `lookupKeyRead`).
fn count(hits: &mut u64, misses: &mut u64, found: bool) {
    if found {
        *hits += 1;
    } else {
        *misses += 1;
    }
}

/// Records that a value was changed in place (one change in the dirty counter, as Redis).
fn changed(db: &mut Db<'_>, n: u64) {
    db.dirty += n;
}

/// The bytes of a string value (integers formatted into `tmp`), or WRONGTYPE.
fn str_of<'a>(v: &'a Value, tmp: &'a mut itoa::Buffer) -> Result<&'a [u8], CmdError> {
    if !v.is_string() {
        return Err(CmdError::WrongType);
    }
    v.str_bytes(tmp).ok_or(CmdError::WrongType)
}

/// Writes a string value as a bulk reply, straight from the stored bytes.
fn bulk_value(out: &mut ReplyWriter<'_>, v: &Value) -> CmdResult {
    let mut tmp = itoa::Buffer::new();
    out.bulk(str_of(v, &mut tmp)?);
    Ok(())
}

/// Length in bytes of a string value, or WRONGTYPE.
fn str_len(v: &Value) -> Result<usize, CmdError> {
    let mut tmp = itoa::Buffer::new();
    Ok(str_of(v, &mut tmp)?.len())
}

/// True if `arg` is the keyword `kw`, ignoring ASCII case. Like the C string compares Redis
/// uses for options, the argument ends at its first NUL byte.
fn is_kw(arg: &[u8], kw: &[u8]) -> bool {
    match arg.get(kw.len()) {
        None => arg.eq_ignore_ascii_case(kw),
        Some(0) => arg[..kw.len()].eq_ignore_ascii_case(kw),
        Some(_) => false,
    }
}

/// An integer argument ("value is not an integer or out of range").
fn int_of(arg: &[u8]) -> Result<i64, CmdError> {
    num::parse_i64(arg).ok_or(CmdError::NotInteger)
}

// ---------------------------------------------------------------------------------------------
// SET and its options (Redis `parseExtendedStringArgumentsOrReply`)

/// The expiry options of SET and GETEX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExpireKind {
    /// Seconds from now.
    Ex,
    /// Milliseconds from now.
    Px,
    /// Unix time in seconds.
    ExAt,
    /// Unix time in milliseconds.
    PxAt,
}

/// The parsed options of SET (`for_set`) or GETEX.
#[derive(Debug, Default, Clone, Copy)]
struct ExtOpts<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    expire: Option<(ExpireKind, &'a [u8])>,
}

/// Parses SET options (from argument 3) or GETEX options (from argument 2). The same option
/// may be repeated (the last expiry wins) but conflicting ones are a syntax error.
fn parse_ext_opts(args: &[bytes::Bytes], for_set: bool) -> Result<ExtOpts<'_>, CmdError> {
    let mut o = ExtOpts::default();
    let mut j = if for_set { 3 } else { 2 };
    while j < args.len() {
        let opt = &args[j][..];
        let next = args.get(j + 1).map(|b| &b[..]);
        let expire_ok = |kind: ExpireKind, o: &ExtOpts<'_>| {
            !o.keepttl && !o.persist && o.expire.is_none_or(|(k, _)| k == kind) && next.is_some()
        };
        let kind = if is_kw(opt, b"ex") {
            Some(ExpireKind::Ex)
        } else if is_kw(opt, b"px") {
            Some(ExpireKind::Px)
        } else if is_kw(opt, b"exat") {
            Some(ExpireKind::ExAt)
        } else if is_kw(opt, b"pxat") {
            Some(ExpireKind::PxAt)
        } else {
            None
        };
        if let Some(kind) = kind {
            match next {
                Some(value) if expire_ok(kind, &o) => {
                    o.expire = Some((kind, value));
                    j += 2;
                    continue;
                }
                _ => return Err(CmdError::Syntax),
            }
        }
        if for_set && !o.xx && is_kw(opt, b"nx") {
            o.nx = true;
        } else if for_set && !o.nx && is_kw(opt, b"xx") {
            o.xx = true;
        } else if for_set && is_kw(opt, b"get") {
            o.get = true;
        } else if for_set && !o.persist && o.expire.is_none() && is_kw(opt, b"keepttl") {
            o.keepttl = true;
        } else if !for_set && !o.keepttl && o.expire.is_none() && is_kw(opt, b"persist") {
            o.persist = true;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// The absolute expiry (unix ms) of an expiry option (Redis `getExpireMillisecondsOrReply`):
/// a positive integer, not overflowing once converted and added to `now`.
fn expire_at(kind: ExpireKind, arg: &[u8], now: u64, cmd: &'static str) -> Result<u64, CmdError> {
    let bad = CmdError::InvalidExpire(cmd);
    let mut ms = int_of(arg)?;
    let seconds = matches!(kind, ExpireKind::Ex | ExpireKind::ExAt);
    if ms <= 0 || (seconds && ms > i64::MAX / 1000) {
        return Err(bad);
    }
    if seconds {
        ms *= 1000;
    }
    if matches!(kind, ExpireKind::Ex | ExpireKind::Px) {
        ms = ms.checked_add(now as i64).ok_or(bad)?;
    }
    Ok(ms as u64)
}

/// How SET-like commands answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetReply {
    /// `+OK`, or a null when NX/XX refuses (SET, SETEX, PSETEX).
    Ok,
    /// `:1`, or `:0` when NX refuses (SETNX).
    Int,
}

/// SET, SETNX, SETEX, PSETEX (Redis `setGenericCommand`): `args[1]` is the key.
fn set_generic(ctx: &mut Ctx<'_, '_>, o: ExtOpts<'_>, vi: usize, reply: SetReply) -> CmdResult {
    let args = ctx.args;
    let key = &args[1][..];
    let value = &args[vi][..];
    let now = ctx.db.now;
    let at = match o.expire {
        Some((kind, arg)) => Some(expire_at(kind, arg, now, ctx.cmd.name)?),
        None => None,
    };
    let found = if o.get {
        let Ctx {
            db,
            out,
            hits,
            misses,
            ..
        } = ctx;
        let e = db.get(key);
        count(hits, misses, e.is_some());
        match e {
            Some(e) => {
                bulk_value(out, &e.value)?;
                true
            }
            None => {
                // SET ... GET looks the old value up as a read (keymiss).
                db.notify(notify::KEY_MISS, "keymiss", key);
                out.null();
                false
            }
        }
    } else if o.nx || o.xx {
        ctx.db.get(key).is_some()
    } else {
        false
    };
    if (o.nx && found) || (o.xx && !found) {
        if !o.get {
            match reply {
                SetReply::Ok => ctx.out.null(),
                SetReply::Int => ctx.out.int(0),
            }
        }
        return Ok(());
    }
    let dirty = ctx.db.dirty;
    ctx.db.set(key, Value::string(value), o.keepttl);
    ctx.db.notify(notify::STRING, "set", key);
    if let Some(at) = at {
        ctx.db.set_expire(key, at);
        ctx.db.notify(notify::GENERIC, "expire", key);
        // A relative expiry is propagated as the absolute time it gave (Redis 7.0).
        ctx.db.propagate_as([
            Bytes::from_static(b"SET"),
            args[1].clone(),
            args[vi].clone(),
            Bytes::from_static(b"PXAT"),
            Bytes::from(at.to_string()),
        ]);
    }
    // One change, whatever the expiry (Redis `server.dirty++`).
    ctx.db.dirty = dirty + 1;
    if !o.get {
        match reply {
            SetReply::Ok => ctx.out.ok(),
            SetReply::Int => ctx.out.int(1),
        }
    }
    Ok(())
}

fn set_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let o = parse_ext_opts(args, true)?;
    set_generic(ctx, o, 2, SetReply::Ok)
}

fn setnx_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let o = ExtOpts {
        nx: true,
        ..ExtOpts::default()
    };
    set_generic(ctx, o, 2, SetReply::Int)
}

fn setex_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    setex_generic(ctx, ExpireKind::Ex)
}

fn psetex_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    setex_generic(ctx, ExpireKind::Px)
}

/// `SETEX key seconds value` / `PSETEX key milliseconds value`.
fn setex_generic(ctx: &mut Ctx<'_, '_>, kind: ExpireKind) -> CmdResult {
    let args = ctx.args;
    let o = ExtOpts {
        expire: Some((kind, &args[2][..])),
        ..ExtOpts::default()
    };
    set_generic(ctx, o, 3, SetReply::Ok)
}

// ---------------------------------------------------------------------------------------------
// GET, GETEX, GETDEL, GETSET, MGET, MSET, MSETNX

fn get_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let Ctx {
        args,
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let e = db.get(&args[1]);
    count(hits, misses, e.is_some());
    match e {
        Some(e) => bulk_value(out, &e.value),
        None => {
            out.null();
            Ok(())
        }
    }
}

/// `GETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST]`: options first, then the lookup (a
/// missing key is a null even with a bad expiry), the type, then the expiry value.
fn getex_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let key = &args[1][..];
    let o = parse_ext_opts(args, false)?;
    let cmd = ctx.cmd.name;
    let now = ctx.db.now;
    let Ctx {
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let e = db.get(key);
    count(hits, misses, e.is_some());
    let Some(e) = e else {
        db.notify(notify::KEY_MISS, "keymiss", key);
        out.null();
        return Ok(());
    };
    if !e.value.is_string() {
        return Err(CmdError::WrongType);
    }
    let at = match o.expire {
        Some((kind, arg)) => Some((kind, expire_at(kind, arg, now, cmd)?)),
        None => None,
    };
    bulk_value(out, &e.value)?;
    let k = || args[1].clone();
    match at {
        Some((ExpireKind::ExAt | ExpireKind::PxAt, at)) if at <= now => {
            db.remove(key);
            db.notify(notify::GENERIC, "del", key);
            db.propagate_as([Bytes::from_static(b"DEL"), k()]);
        }
        Some((_, at)) => {
            db.set_expire(key, at);
            db.notify(notify::GENERIC, "expire", key);
            db.propagate_as([
                Bytes::from_static(b"PEXPIREAT"),
                k(),
                Bytes::from(at.to_string()),
            ]);
        }
        None if o.persist && db.persist(key) => {
            db.notify(notify::GENERIC, "persist", key);
            db.propagate_as([Bytes::from_static(b"PERSIST"), k()]);
        }
        None => {}
    }
    Ok(())
}

fn getdel_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let Ctx {
        args,
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let key = &args[1][..];
    let e = db.get(key);
    count(hits, misses, e.is_some());
    let Some(e) = e else {
        db.notify(notify::KEY_MISS, "keymiss", key);
        out.null();
        return Ok(());
    };
    bulk_value(out, &e.value)?;
    db.remove(key);
    db.notify(notify::GENERIC, "del", key);
    db.propagate_as([Bytes::from_static(b"DEL"), args[1].clone()]);
    Ok(())
}

fn getset_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let Ctx {
        args,
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let key = &args[1][..];
    let e = db.get(key);
    count(hits, misses, e.is_some());
    match e {
        Some(e) => bulk_value(out, &e.value)?,
        None => out.null(),
    }
    db.set(key, Value::string(&args[2]), false);
    db.notify(notify::STRING, "set", key);
    Ok(())
}

fn mget_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let Ctx {
        args,
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    out.array(args.len() - 1);
    let mut tmp = itoa::Buffer::new();
    for key in &args[1..] {
        let e = db.get(key);
        count(hits, misses, e.is_some());
        match e.map(|e| str_of(&e.value, &mut tmp)) {
            Some(Ok(b)) => out.bulk(b),
            _ => out.null(),
        }
    }
    Ok(())
}

fn mset_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    mset_generic(ctx, false)
}

fn msetnx_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    mset_generic(ctx, true)
}

/// `MSET k v [k v ...]`, and MSETNX which sets nothing (replying 0) if any key exists.
fn mset_generic(ctx: &mut Ctx<'_, '_>, nx: bool) -> CmdResult {
    let args = ctx.args;
    if args.len() & 1 == 0 {
        return Err(CmdError::WrongArity(ctx.cmd.name.to_string()));
    }
    if nx && args[1..].chunks(2).any(|kv| ctx.db.get(&kv[0]).is_some()) {
        ctx.out.int(0);
        return Ok(());
    }
    for kv in args[1..].chunks(2) {
        ctx.db.set(&kv[0], Value::string(&kv[1]), false);
        ctx.db.notify(notify::STRING, "set", &kv[0]);
    }
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Counters

fn incr_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    incr_generic(ctx, 1)
}

fn decr_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    incr_generic(ctx, -1)
}

fn incrby_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let by = int_of(&ctx.args[2])?;
    incr_generic(ctx, by)
}

fn decrby_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let by = int_of(&ctx.args[2])?;
    let by = by
        .checked_neg()
        .ok_or_else(|| CmdError::err("decrement would overflow"))?;
    incr_generic(ctx, by)
}

/// Adds `by` to the integer at `args[1]` (0 if missing), keeping the TTL; the result is stored
/// `int` encoded.
fn incr_generic(ctx: &mut Ctx<'_, '_>, by: i64) -> CmdResult {
    let args = ctx.args;
    let key = &args[1][..];
    let db = &mut ctx.db;
    let value = match db.get(key) {
        Some(e) => {
            let cur = match &e.value {
                Value::Int(n) => *n,
                v => {
                    let mut tmp = itoa::Buffer::new();
                    int_of(str_of(v, &mut tmp)?)?
                }
            };
            let value = cur.checked_add(by).ok_or(CmdError::Overflow)?;
            e.value = Value::Int(value);
            changed(db, 1);
            value
        }
        None => {
            db.set(key, Value::Int(by), false);
            by
        }
    };
    db.notify(notify::STRING, "incrby", key);
    ctx.out.int(value);
    Ok(())
}

/// `INCRBYFLOAT key incr`: the stored value is checked before the increment; the result is
/// stored as text (`embstr` when short), keeping the TTL.
fn incrbyfloat_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let key = &args[1][..];
    let incr = &args[2][..];
    let float_err = |e: IncrFloatError| match e {
        IncrFloatError::InvalidCurrent | IncrFloatError::InvalidIncrement => CmdError::NotFloat,
        IncrFloatError::NanOrInfinity => CmdError::err("increment would produce NaN or Infinity"),
    };
    let Ctx { db, out, .. } = ctx;
    let sum = match db.get(key) {
        Some(e) => {
            let mut tmp = itoa::Buffer::new();
            let cur = str_of(&e.value, &mut tmp)?;
            let sum = num::incrbyfloat(cur, incr).map_err(float_err)?;
            out.bulk(&sum);
            e.value = Value::Str(SmallBytes::new(&sum));
            changed(db, 1);
            sum
        }
        None => {
            let sum = num::incrbyfloat(b"0", incr).map_err(float_err)?;
            out.bulk(&sum);
            db.set(key, Value::Str(SmallBytes::new(&sum)), false);
            sum
        }
    };
    db.notify(notify::STRING, "incrbyfloat", key);
    // The exact result, so float formatting can't make a reader's value differ (Redis 7.0).
    db.propagate_as([
        Bytes::from_static(b"SET"),
        args[1].clone(),
        Bytes::from(sum),
        Bytes::from_static(b"KEEPTTL"),
    ]);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// APPEND, STRLEN, GETRANGE, SETRANGE

fn append_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let (key, tail) = (&args[1][..], &args[2][..]);
    let max = ctx.settings.proto_max_bulk;
    let db = &mut ctx.db;
    let len = match db.get(key) {
        Some(e) => {
            let cur = str_len(&e.value)?;
            if !strings::check_string_length(cur as u64, tail.len() as u64, max) {
                return Err(CmdError::StringTooLong);
            }
            let buf = e.value.make_raw().ok_or(CmdError::WrongType)?;
            buf.extend_from_slice(tail);
            let len = buf.len();
            changed(db, 1);
            len
        }
        None => {
            db.set(key, Value::string(tail), false);
            tail.len()
        }
    };
    db.notify(notify::STRING, "append", key);
    ctx.out.int(len as i64);
    Ok(())
}

fn strlen_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let Ctx {
        args,
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let e = db.get(&args[1]);
    count(hits, misses, e.is_some());
    let len = match e {
        Some(e) => str_len(&e.value)?,
        None => 0,
    };
    out.int(len as i64);
    Ok(())
}

/// GETRANGE and SUBSTR: both indexes are parsed before the lookup.
fn getrange_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let start = int_of(&ctx.args[2])?;
    let end = int_of(&ctx.args[3])?;
    let Ctx {
        args,
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let e = db.get(&args[1]);
    count(hits, misses, e.is_some());
    let Some(e) = e else {
        out.bulk(b"");
        return Ok(());
    };
    let mut tmp = itoa::Buffer::new();
    let s = str_of(&e.value, &mut tmp)?;
    out.bulk(&s[strings::getrange(s.len(), start, end)]);
    Ok(())
}

/// `SETRANGE key offset value`: a negative offset is refused before the key is looked at.
fn setrange_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let (key, value) = (&args[1][..], &args[3][..]);
    let offset = int_of(&args[2])?;
    if offset < 0 {
        return Err(CmdError::err("offset is out of range"));
    }
    let max = ctx.settings.proto_max_bulk;
    let plan_err = |_| CmdError::StringTooLong;
    let db = &mut ctx.db;
    let len = match db.get(key) {
        Some(e) => {
            let cur = str_len(&e.value)?;
            match strings::setrange_plan(offset, Some(cur), value.len(), max).map_err(plan_err)? {
                SetRangePlan::Reply(len) => len,
                SetRangePlan::Write(at) => {
                    let buf = e.value.make_raw().ok_or(CmdError::WrongType)?;
                    let len = strings::setrange(buf, at, value);
                    changed(db, 1);
                    db.notify(notify::STRING, "setrange", key);
                    len
                }
            }
        }
        None => match strings::setrange_plan(offset, None, value.len(), max).map_err(plan_err)? {
            SetRangePlan::Reply(len) => len,
            SetRangePlan::Write(at) => {
                let mut buf = Vec::new();
                let len = strings::setrange(&mut buf, at, value);
                db.set(key, Value::Raw(buf), false);
                db.notify(notify::STRING, "setrange", key);
                len
            }
        },
    };
    ctx.out.int(len as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// LCS

fn lcs_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let Ctx {
        args,
        db,
        out,
        hits,
        misses,
        settings,
        ..
    } = ctx;
    // Both keys are looked up (and counted) before either type is checked.
    let mut strings: [Option<Vec<u8>>; 2] = [None, None];
    let mut wrong = false;
    for (i, key) in args[1..3].iter().enumerate() {
        let e = db.get(key);
        count(hits, misses, e.is_some());
        if let Some(e) = e {
            let mut tmp = itoa::Buffer::new();
            match str_of(&e.value, &mut tmp) {
                Ok(b) => strings[i] = Some(b.to_vec()),
                Err(_) => wrong = true,
            }
        }
    }
    if wrong {
        return Err(CmdError::err(
            "The specified keys must contain string values",
        ));
    }
    let (mut idx, mut len, mut withmatchlen, mut minmatchlen) = (false, false, false, 0i64);
    let mut j = 3;
    while j < args.len() {
        let opt = &args[j][..];
        if is_kw(opt, b"idx") {
            idx = true;
        } else if is_kw(opt, b"len") {
            len = true;
        } else if is_kw(opt, b"withmatchlen") {
            withmatchlen = true;
        } else if is_kw(opt, b"minmatchlen") && j + 1 < args.len() {
            minmatchlen = int_of(&args[j + 1])?.max(0);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if idx && len {
        return Err(CmdError::err(
            "If you want both the length and indexes, please just use IDX.",
        ));
    }
    let mode = if idx {
        LcsMode::Idx {
            min_match_len: minmatchlen,
        }
    } else if len {
        LcsMode::Len
    } else {
        LcsMode::String
    };
    let [a, b] = strings;
    let result = lcs::lcs(
        a.as_deref().unwrap_or_default(),
        b.as_deref().unwrap_or_default(),
        mode,
        settings.proto_max_bulk,
    )
    .map_err(|e| match e {
        LcsError::TooLong => CmdError::err("String too long for LCS"),
        LcsError::TableTooBig => CmdError::err(
            "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ),
        LcsError::OutOfMemory => {
            CmdError::err("Insufficient memory, failed allocating transient memory for LCS")
        }
    })?;
    match result {
        LcsResult::String(s) => out.bulk(&s),
        LcsResult::Len(n) => out.int(n as i64),
        LcsResult::Idx { matches, len } => {
            out.map(2);
            out.bulk(b"matches");
            out.array(matches.len());
            for m in &matches {
                out.array(2 + usize::from(withmatchlen));
                out.array(2);
                out.int(m.a.0 as i64);
                out.int(m.a.1 as i64);
                out.array(2);
                out.int(m.b.0 as i64);
                out.int(m.b.1 as i64);
                if withmatchlen {
                    out.int(m.len as i64);
                }
            }
            out.bulk(b"len");
            out.int(len as i64);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP

/// A bit offset argument of SETBIT/GETBIT.
fn bit_offset(arg: &[u8], max: u64) -> Result<u64, CmdError> {
    bits::parse_bit_offset(arg, false, 0, max).ok_or(CmdError::BitOffset)
}

/// `SETBIT key offset 0|1`: the key becomes a `raw` string grown to hold the bit; a change is
/// counted only if the string grew or the bit flipped.
fn setbit_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let key = &args[1][..];
    let offset = bit_offset(&args[2], ctx.settings.proto_max_bulk)?;
    let on = bits::parse_bit_value(&args[3])
        .ok_or_else(|| CmdError::err("bit is not an integer or out of range"))?;
    let db = &mut ctx.db;
    let old = match db.get(key) {
        Some(e) => {
            if !e.value.is_string() {
                return Err(CmdError::WrongType);
            }
            let buf = e.value.make_raw().ok_or(CmdError::WrongType)?;
            let grew = buf.len() <= (offset / 8) as usize;
            let old = bits::setbit(buf, offset, on);
            if grew || old != on {
                changed(db, 1);
                db.notify(notify::STRING, "setbit", key);
            }
            old
        }
        None => {
            let mut buf = Vec::new();
            bits::setbit(&mut buf, offset, on);
            db.set(key, Value::Raw(buf), false);
            db.notify(notify::STRING, "setbit", key);
            false
        }
    };
    ctx.out.int(i64::from(old));
    Ok(())
}

fn getbit_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let offset = bit_offset(&ctx.args[2], ctx.settings.proto_max_bulk)?;
    let Ctx {
        args,
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let e = db.get(&args[1]);
    count(hits, misses, e.is_some());
    let bit = match e {
        Some(e) => {
            let mut tmp = itoa::Buffer::new();
            bits::getbit(str_of(&e.value, &mut tmp)?, offset)
        }
        None => false,
    };
    out.int(i64::from(bit));
    Ok(())
}

/// `BYTE` or `BIT` (syntax error otherwise).
fn bit_unit(arg: &[u8]) -> Result<BitUnit, CmdError> {
    if is_kw(arg, b"bit") {
        Ok(BitUnit::Bit)
    } else if is_kw(arg, b"byte") {
        Ok(BitUnit::Byte)
    } else {
        Err(CmdError::Syntax)
    }
}

/// `BITCOUNT key [start end [BYTE|BIT]]`: a missing key is 0 whatever the other arguments;
/// the range is parsed after the type check, and two negative indexes with `start > end`
/// answer 0 before the unit is looked at.
fn bitcount_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let Ctx {
        args,
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let e = db.get(&args[1]);
    count(hits, misses, e.is_some());
    let Some(e) = e else {
        out.int(0);
        return Ok(());
    };
    let mut tmp = itoa::Buffer::new();
    let s = str_of(&e.value, &mut tmp)?;
    let n = match args.len() {
        2 => bits::bitcount(s, 0, -1, BitUnit::Byte),
        4 | 5 => {
            let start = int_of(&args[2])?;
            let end = int_of(&args[3])?;
            if start < 0 && end < 0 && start > end {
                0
            } else {
                let unit = match args.get(4) {
                    Some(u) => bit_unit(u)?,
                    None => BitUnit::Byte,
                };
                bits::bitcount(s, start, end, unit)
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    out.int(n as i64);
    Ok(())
}

/// `BITPOS key bit [start [end [BYTE|BIT]]]`: the bit is checked first; a missing key answers
/// 0 (looking for 0) or -1 without parsing the range; the unit is parsed before `end`.
fn bitpos_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let bit = int_of(&ctx.args[2])?;
    if bit != 0 && bit != 1 {
        return Err(CmdError::err("The bit argument must be 1 or 0."));
    }
    let bit = bit == 1;
    let Ctx {
        args,
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let e = db.get(&args[1]);
    count(hits, misses, e.is_some());
    let Some(e) = e else {
        out.int(if bit { -1 } else { 0 });
        return Ok(());
    };
    let mut tmp = itoa::Buffer::new();
    let s = str_of(&e.value, &mut tmp)?;
    let pos = match args.len() {
        3 => bits::bitpos(s, bit, 0, None, BitUnit::Byte),
        4..=6 => {
            let start = int_of(&args[3])?;
            let unit = match args.get(5) {
                Some(u) => bit_unit(u)?,
                None => BitUnit::Byte,
            };
            let end = match args.get(4) {
                Some(e) => Some(int_of(e)?),
                None => None,
            };
            bits::bitpos(s, bit, start, end, unit)
        }
        _ => return Err(CmdError::Syntax),
    };
    out.int(pos);
    Ok(())
}

/// `BITOP op dest src...`: missing sources are empty strings; an empty result deletes the
/// destination. The reply is the result's length.
fn bitop_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let Ctx {
        args,
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let name = &args[1][..];
    let op = if is_kw(name, b"and") {
        BitOp::And
    } else if is_kw(name, b"or") {
        BitOp::Or
    } else if is_kw(name, b"xor") {
        BitOp::Xor
    } else if is_kw(name, b"not") {
        BitOp::Not
    } else {
        return Err(CmdError::Syntax);
    };
    if op == BitOp::Not && args.len() != 4 {
        return Err(CmdError::err(
            "BITOP NOT must be called with a single source key.",
        ));
    }
    let mut sources: Vec<Vec<u8>> = Vec::with_capacity(args.len() - 3);
    for key in &args[3..] {
        let e = db.get(key);
        count(hits, misses, e.is_some());
        match e {
            Some(e) => {
                let mut tmp = itoa::Buffer::new();
                sources.push(str_of(&e.value, &mut tmp)?.to_vec());
            }
            None => sources.push(Vec::new()),
        }
    }
    let refs: Vec<&[u8]> = sources.iter().map(Vec::as_slice).collect();
    let result = bits::bitop(op, &refs);
    let len = result.len();
    let dest = &args[2][..];
    if len > 0 {
        db.set(dest, Value::Raw(result), false);
        db.notify(notify::STRING, "set", dest);
    } else if db.remove(dest).is_some() {
        db.notify(notify::GENERIC, "del", dest);
    }
    out.int(len as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// BITFIELD, BITFIELD_RO

/// One BITFIELD operation.
#[derive(Debug, Clone, Copy)]
enum FieldOp {
    Get,
    Set(i64),
    Incr(i64),
}

/// A parsed BITFIELD operation with its field and the OVERFLOW mode in force.
#[derive(Debug, Clone, Copy)]
struct Field {
    op: FieldOp,
    ty: BitfieldType,
    offset: u64,
    overflow: Overflow,
}

/// Parses the BITFIELD operations (Redis `bitfieldGeneric`): the operation name needs all its
/// arguments, else it is a syntax error; then type, offset and value, in that order.
fn parse_fields(args: &[bytes::Bytes], max: u64) -> Result<Vec<Field>, CmdError> {
    let mut fields = Vec::new();
    let mut overflow = Overflow::default();
    let mut j = 2;
    while j < args.len() {
        let rest = args.len() - j - 1;
        let name = &args[j][..];
        let (op, used) = if is_kw(name, b"get") && rest >= 2 {
            (FieldOp::Get, 2)
        } else if is_kw(name, b"set") && rest >= 3 {
            (FieldOp::Set(0), 3)
        } else if is_kw(name, b"incrby") && rest >= 3 {
            (FieldOp::Incr(0), 3)
        } else if is_kw(name, b"overflow") && rest >= 1 {
            overflow = bits::parse_overflow(&args[j + 1])
                .ok_or_else(|| CmdError::err("Invalid OVERFLOW type specified"))?;
            j += 2;
            continue;
        } else {
            return Err(CmdError::Syntax);
        };
        let ty = bits::parse_bitfield_type(&args[j + 1]).ok_or_else(|| {
            CmdError::err(
                "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
            )
        })?;
        let offset =
            bits::parse_bit_offset(&args[j + 2], true, ty.bits, max).ok_or(CmdError::BitOffset)?;
        let op = match op {
            FieldOp::Get => FieldOp::Get,
            FieldOp::Set(_) => FieldOp::Set(int_of(&args[j + 3])?),
            FieldOp::Incr(_) => FieldOp::Incr(int_of(&args[j + 3])?),
        };
        fields.push(Field {
            op,
            ty,
            offset,
            overflow,
        });
        j += used + 1;
    }
    Ok(fields)
}

fn bitfield_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    bitfield_generic(ctx, false)
}

fn bitfield_ro_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    bitfield_generic(ctx, true)
}

/// BITFIELD and BITFIELD_RO. Only GETs: a read lookup, and a missing key reads zeros. Any
/// write: the key is created (or made `raw`) and grown to the farthest written bit before
/// the operations run, even if OVERFLOW FAIL then refuses every write.
fn bitfield_generic(ctx: &mut Ctx<'_, '_>, read_only: bool) -> CmdResult {
    let fields = parse_fields(ctx.args, ctx.settings.proto_max_bulk)?;
    let Ctx {
        args,
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let key = &args[1][..];
    let highest = fields
        .iter()
        .filter(|f| !matches!(f.op, FieldOp::Get))
        .map(|f| f.offset + u64::from(f.ty.bits) - 1)
        .max();
    let Some(highest) = highest else {
        let e = db.get(key);
        count(hits, misses, e.is_some());
        let mut tmp = itoa::Buffer::new();
        let bytes: &[u8] = match e {
            Some(e) => str_of(&e.value, &mut tmp)?,
            None => &[],
        };
        out.array(fields.len());
        for f in &fields {
            out.int(bits::get_field(bytes, f.offset, f.ty));
        }
        return Ok(());
    };
    if read_only {
        return Err(CmdError::err(
            "BITFIELD_RO only supports the GET subcommand",
        ));
    }
    let need = (highest / 8 + 1) as usize;
    let dirty = db.dirty;
    let changes = match db.get(key) {
        Some(e) => {
            if !e.value.is_string() {
                return Err(CmdError::WrongType);
            }
            let buf = e.value.make_raw().ok_or(CmdError::WrongType)?;
            if buf.len() < need {
                buf.resize(need, 0);
            }
            run_fields(buf, &fields, out)
        }
        None => {
            let mut buf = vec![0u8; need];
            let changes = run_fields(&mut buf, &fields, out);
            db.set(key, Value::Raw(buf), false);
            changes
        }
    };
    // Redis counts the writes done, not the key creation.
    db.dirty = dirty;
    changed(db, changes);
    if changes > 0 {
        db.notify(notify::STRING, "setbit", key);
    }
    Ok(())
}

/// Runs BITFIELD operations on a buffer already grown for the writes; returns the number of
/// writes done.
fn run_fields(buf: &mut Vec<u8>, fields: &[Field], out: &mut ReplyWriter<'_>) -> u64 {
    out.array(fields.len());
    let mut changes = 0;
    for f in fields {
        let r = match f.op {
            FieldOp::Get => Some(bits::get_field(buf, f.offset, f.ty)),
            FieldOp::Set(v) => bits::set_field(buf, f.offset, f.ty, v, f.overflow),
            FieldOp::Incr(v) => bits::incr_field(buf, f.offset, f.ty, v, f.overflow),
        };
        if r.is_some() && !matches!(f.op, FieldOp::Get) {
            changes += 1;
        }
        match r {
            Some(v) => out.int(v),
            None => out.null(),
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn args(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    #[test]
    fn set_options() {
        let a = args("set k v nx get ex 10 ex 20");
        let o = parse_ext_opts(&a, true).unwrap_or_default();
        assert!(o.nx && o.get && !o.xx);
        assert_eq!(o.expire, Some((ExpireKind::Ex, &b"20"[..])));
        for bad in [
            "set k v nx xx",
            "set k v ex 10 px 10",
            "set k v keepttl ex 10",
            "set k v ex 10 keepttl",
            "set k v ex",
            "set k v persist",
            "set k v foo",
        ] {
            assert!(parse_ext_opts(&args(bad), true).is_err(), "{bad}");
        }
        assert!(parse_ext_opts(&args("getex k persist persist"), false).is_ok());
        assert!(parse_ext_opts(&args("getex k persist ex 1"), false).is_err());
        assert!(parse_ext_opts(&args("getex k nx"), false).is_err());
        assert!(parse_ext_opts(&args("getex k keepttl"), false).is_err());
        // C compares stop at NUL.
        let a = vec![
            Bytes::from_static(b"set"),
            Bytes::from_static(b"k"),
            Bytes::from_static(b"v"),
            Bytes::from_static(b"NX\0junk"),
        ];
        assert!(parse_ext_opts(&a, true).is_ok_and(|o| o.nx));
    }

    #[test]
    fn expire_values() {
        let now = 1_000_000;
        assert_eq!(expire_at(ExpireKind::Ex, b"10", now, "set"), Ok(1_010_000));
        assert_eq!(expire_at(ExpireKind::PxAt, b"5", now, "set"), Ok(5));
        assert_eq!(
            expire_at(ExpireKind::Ex, b"0", now, "set"),
            Err(CmdError::InvalidExpire("set"))
        );
        assert_eq!(
            expire_at(ExpireKind::Px, b"9223372036854775807", now, "set"),
            Err(CmdError::InvalidExpire("set"))
        );
        assert_eq!(
            expire_at(ExpireKind::ExAt, b"9223372036854776", now, "set"),
            Err(CmdError::InvalidExpire("set"))
        );
        assert_eq!(
            expire_at(ExpireKind::Ex, b"1.5", now, "set"),
            Err(CmdError::NotInteger)
        );
    }

    #[test]
    fn rows_match_redis_categories() {
        let find = |n: &str| COMMANDS.iter().find(|c| c.name == n);
        let set = find("set").map(Command::acl_categories);
        assert_eq!(set, Some(acl::WRITE | acl::STRING | acl::SLOW));
        let get = find("get").map(Command::acl_categories);
        assert_eq!(get, Some(acl::READ | acl::STRING | acl::FAST));
        let bitop = find("bitop").map(Command::legacy_range);
        assert_eq!(bitop, Some((2, -1, 1)));
        let lcs = find("lcs").map(Command::legacy_range);
        assert_eq!(lcs, Some((1, 2, 1)));
        let mset = find("mset").map(Command::legacy_range);
        assert_eq!(mset, Some((1, -1, 2)));
    }
}
