//! Keyspace commands: deleting, inspecting, expiring, renaming, copying and listing keys,
//! OBJECT, and the database commands (SELECT, SWAPDB, MOVE, DBSIZE, FLUSHDB, FLUSHALL).
//!
//! Whole-keyspace commands (KEYS, SCAN, RANDOMKEY, DBSIZE, FLUSHDB, FLUSHALL, SWAPDB) carry
//! [`f::ALL_SHARDS`] so they see every shard locked at once. SCAN's cursor is the next hash
//! slot to visit and each call returns whole slots, so a key present for a full iteration is
//! always returned.

use std::sync::atomic::Ordering::Relaxed;

use bytes::{Bytes, BytesMut};

use super::{acl, flags as f, kflags as k, CmdResult, Command, KeySpec};
use crate::config::notify;
use crate::db::{
    lfu_decayed, AccessMode, Db, Entry, EvictPolicy, Value, NDBS, SLOTS, SLOTS_PER_SHARD,
};
use crate::dispatch::Ctx;
use crate::error::CmdError;
use crate::resp::ReplyWriter;
use crate::util::glob::glob_match;

/// Integers Redis keeps as shared objects: `0..SHARED_INTEGERS`.
const SHARED_INTEGERS: i64 = 10_000;

const KS: u32 = acl::KEYSPACE;
const KS_DANGER: u32 = acl::KEYSPACE | acl::DANGEROUS;

/// Tips of the commands that take many keys and sum the per-shard answers.
const MULTI_SUM: &[&str] = &["request_policy:multi_shard", "response_policy:agg_sum"];
const ALL_OK: &[&str] = &["request_policy:all_shards", "response_policy:all_succeeded"];
const NONDET: &[&str] = &["nondeterministic_output"];

const KEYS_RM: &[KeySpec] = &[KeySpec::range(1, -1, 1, k::RM | k::DELETE)];
const KEYS_RO: &[KeySpec] = &[KeySpec::range(1, -1, 1, k::RO)];
const KEY_RO: &[KeySpec] = &[KeySpec::one(1, k::RO)];
const KEY_RO_ACCESS: &[KeySpec] = &[KeySpec::one(1, k::RO | k::ACCESS)];
const KEY_RW_UPDATE: &[KeySpec] = &[KeySpec::one(1, k::RW | k::UPDATE)];
const OBJECT_KEY: &[KeySpec] = &[KeySpec::one(2, k::RO)];

/// The expire family: (name, since, summary, handler).
macro_rules! expire_row {
    ($name:literal, $since:literal, $summary:literal, $handler:ident) => {
        Command {
            name: $name,
            arity: -3,
            flags: f::WRITE | f::FAST,
            acl: KS,
            key_specs: KEY_RW_UPDATE,
            handler: Some($handler),
            since: $since,
            summary: $summary,
            ..Command::DEFAULT
        }
    };
}

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME: (name, tips, since, summary, handler).
macro_rules! ttl_row {
    ($name:literal, $tips:expr, $since:literal, $summary:literal, $handler:ident) => {
        Command {
            name: $name,
            arity: 2,
            flags: f::READONLY | f::FAST,
            acl: KS,
            tips: $tips,
            key_specs: KEY_RO_ACCESS,
            handler: Some($handler),
            since: $since,
            summary: $summary,
            ..Command::DEFAULT
        }
    };
}

pub static COMMANDS: &[Command] = &[
    Command {
        name: "del",
        arity: -2,
        flags: f::WRITE,
        acl: KS,
        tips: MULTI_SUM,
        key_specs: KEYS_RM,
        handler: Some(del),
        complexity: "O(N) for N keys, plus the size of each removed value",
        summary: "Removes keys, answering how many existed.",
        ..Command::DEFAULT
    },
    Command {
        name: "unlink",
        arity: -2,
        flags: f::WRITE | f::FAST,
        acl: KS,
        tips: MULTI_SUM,
        key_specs: KEYS_RM,
        handler: Some(del),
        since: "4.0.0",
        complexity: "O(1) per key",
        summary: "Removes keys like DEL, freeing large values in the background.",
        ..Command::DEFAULT
    },
    Command {
        name: "exists",
        arity: -2,
        flags: f::READONLY | f::FAST,
        acl: KS,
        tips: MULTI_SUM,
        key_specs: KEYS_RO,
        handler: Some(exists),
        complexity: "O(N) for N keys",
        summary: "Counts how many of the given keys exist (repeats count again).",
        ..Command::DEFAULT
    },
    Command {
        name: "type",
        arity: 2,
        flags: f::READONLY | f::FAST,
        acl: KS,
        key_specs: KEY_RO,
        handler: Some(type_cmd),
        summary: "Names the data type stored at a key, or none.",
        ..Command::DEFAULT
    },
    expire_row!(
        "expire",
        "1.0.0",
        "Gives a key a time to live in seconds.",
        expire
    ),
    expire_row!(
        "pexpire",
        "2.6.0",
        "Gives a key a time to live in milliseconds.",
        pexpire
    ),
    expire_row!(
        "expireat",
        "1.2.0",
        "Makes a key expire at a unix time in seconds.",
        expireat
    ),
    expire_row!(
        "pexpireat",
        "2.6.0",
        "Makes a key expire at a unix time in milliseconds.",
        pexpireat
    ),
    ttl_row!(
        "expiretime",
        &[],
        "7.0.0",
        "The unix time in seconds at which a key expires.",
        expiretime
    ),
    ttl_row!(
        "pexpiretime",
        &[],
        "7.0.0",
        "The unix time in milliseconds at which a key expires.",
        pexpiretime
    ),
    ttl_row!(
        "ttl",
        NONDET,
        "1.0.0",
        "Seconds left before a key expires.",
        ttl
    ),
    ttl_row!(
        "pttl",
        NONDET,
        "2.6.0",
        "Milliseconds left before a key expires.",
        pttl
    ),
    Command {
        name: "persist",
        arity: 2,
        flags: f::WRITE | f::FAST,
        acl: KS,
        key_specs: KEY_RW_UPDATE,
        handler: Some(persist),
        since: "2.2.0",
        summary: "Drops a key's time to live so it never expires.",
        ..Command::DEFAULT
    },
    Command {
        name: "rename",
        arity: 3,
        flags: f::WRITE,
        acl: KS,
        key_specs: &[
            KeySpec::one(1, k::RW | k::ACCESS | k::DELETE),
            KeySpec::one(2, k::OW | k::UPDATE),
        ],
        handler: Some(rename),
        summary: "Gives a key a new name, replacing any key already there.",
        ..Command::DEFAULT
    },
    Command {
        name: "renamenx",
        arity: 3,
        flags: f::WRITE | f::FAST,
        acl: KS,
        key_specs: &[
            KeySpec::one(1, k::RW | k::ACCESS | k::DELETE),
            KeySpec::one(2, k::OW | k::INSERT),
        ],
        handler: Some(renamenx),
        summary: "Gives a key a new name only if that name is free.",
        ..Command::DEFAULT
    },
    Command {
        name: "copy",
        arity: -3,
        flags: f::WRITE | f::DENYOOM,
        acl: KS,
        key_specs: &[
            KeySpec::one(1, k::RO | k::ACCESS),
            KeySpec::one(2, k::OW | k::UPDATE),
        ],
        handler: Some(copy),
        since: "6.2.0",
        complexity: "O(N) in the size of the copied value",
        summary: "Duplicates a key's value under another name, optionally in another database.",
        ..Command::DEFAULT
    },
    Command {
        name: "keys",
        arity: 2,
        flags: f::READONLY | f::ALL_SHARDS,
        acl: KS_DANGER,
        tips: &["request_policy:all_shards", "nondeterministic_output_order"],
        handler: Some(keys),
        complexity: "O(N) in the number of keys in the database",
        summary: "Lists every key matching a glob pattern.",
        ..Command::DEFAULT
    },
    Command {
        name: "scan",
        arity: -2,
        flags: f::READONLY | f::ALL_SHARDS,
        acl: KS,
        tips: &["nondeterministic_output", "request_policy:special"],
        handler: Some(scan),
        since: "2.8.0",
        complexity: "O(1) per call, O(N) for a whole iteration",
        summary: "Walks the keyspace a batch at a time with a cursor.",
        ..Command::DEFAULT
    },
    Command {
        name: "randomkey",
        arity: 1,
        flags: f::READONLY | f::ALL_SHARDS,
        acl: KS,
        tips: &["request_policy:all_shards", "nondeterministic_output"],
        handler: Some(randomkey),
        summary: "Picks a key of the database at random.",
        ..Command::DEFAULT
    },
    Command {
        name: "dbsize",
        arity: 1,
        flags: f::READONLY | f::FAST | f::ALL_SHARDS,
        acl: KS,
        tips: &["request_policy:all_shards", "response_policy:agg_sum"],
        handler: Some(dbsize),
        group: "server",
        summary: "Counts the keys of the selected database.",
        ..Command::DEFAULT
    },
    Command {
        name: "flushdb",
        arity: -1,
        flags: f::WRITE | f::ALL_SHARDS,
        acl: KS_DANGER,
        tips: ALL_OK,
        handler: Some(flushdb),
        group: "server",
        complexity: "O(N) in the number of keys in the database",
        summary: "Deletes every key of the selected database.",
        ..Command::DEFAULT
    },
    Command {
        name: "flushall",
        arity: -1,
        flags: f::WRITE | f::ALL_SHARDS,
        acl: KS_DANGER,
        tips: ALL_OK,
        handler: Some(flushall),
        group: "server",
        complexity: "O(N) in the number of keys in all databases",
        summary: "Deletes every key of every database.",
        ..Command::DEFAULT
    },
    Command {
        name: "touch",
        arity: -2,
        flags: f::READONLY | f::FAST,
        acl: KS,
        tips: MULTI_SUM,
        key_specs: KEYS_RO,
        handler: Some(touch),
        since: "3.2.1",
        complexity: "O(N) for N keys",
        summary: "Records an access to keys, answering how many exist.",
        ..Command::DEFAULT
    },
    Command {
        name: "object",
        arity: -2,
        subcommands: OBJECT,
        since: "2.2.3",
        complexity: "Per subcommand",
        summary: "Looks at how a key's value is stored.",
        ..Command::DEFAULT
    },
    Command {
        name: "select",
        arity: 2,
        flags: f::LOADING | f::STALE | f::FAST,
        acl: acl::CONNECTION,
        handler: Some(select),
        group: "connection",
        summary: "Switches this connection to another database.",
        ..Command::DEFAULT
    },
    Command {
        name: "swapdb",
        arity: 3,
        flags: f::WRITE | f::FAST | f::ALL_SHARDS,
        acl: KS_DANGER,
        handler: Some(swapdb),
        group: "server",
        since: "4.0.0",
        complexity: "O(N) in the clients watching or blocked on either database",
        summary: "Exchanges the contents of two databases.",
        ..Command::DEFAULT
    },
    Command {
        name: "move",
        arity: 3,
        flags: f::WRITE | f::FAST,
        acl: KS,
        key_specs: &[KeySpec::one(1, k::RW | k::ACCESS | k::UPDATE)],
        handler: Some(move_cmd),
        summary: "Moves a key to another database unless the name is taken there.",
        ..Command::DEFAULT
    },
];

/// OBJECT's subcommands, by name. (Stock Redis lists them in a hash order that changes
/// with every process, so no fixed order matches it.)
static OBJECT: &[Command] = &[
    Command {
        name: "encoding",
        arity: 3,
        flags: f::READONLY,
        acl: KS,
        tips: NONDET,
        key_specs: OBJECT_KEY,
        handler: Some(object_encoding),
        since: "2.2.3",
        summary: "The internal representation of the key's value.",
        ..Command::DEFAULT
    },
    Command {
        name: "freq",
        arity: 3,
        flags: f::READONLY,
        acl: KS,
        tips: NONDET,
        key_specs: OBJECT_KEY,
        handler: Some(object_freq),
        since: "4.0.0",
        summary: "The key's logarithmic access counter (LFU policies only).",
        ..Command::DEFAULT
    },
    Command {
        name: "help",
        arity: 2,
        flags: f::LOADING | f::STALE,
        acl: KS,
        handler: Some(object_help),
        since: "6.2.0",
        summary: "Describes the OBJECT subcommands.",
        ..Command::DEFAULT
    },
    Command {
        name: "idletime",
        arity: 3,
        flags: f::READONLY,
        acl: KS,
        tips: NONDET,
        key_specs: OBJECT_KEY,
        handler: Some(object_idletime),
        since: "2.2.3",
        summary: "Seconds since the key was last read or written.",
        ..Command::DEFAULT
    },
    Command {
        name: "refcount",
        arity: 3,
        flags: f::READONLY,
        acl: KS,
        tips: NONDET,
        key_specs: OBJECT_KEY,
        handler: Some(object_refcount),
        since: "2.2.3",
        summary: "How many references the key's value has.",
        ..Command::DEFAULT
    },
];

// ---------------------------------------------------------------------------------------------
// Argument helpers

/// An `int` argument as Redis's `getIntFromObjectOrReply`: `msg` (without `ERR `) replaces
/// both error texts when given.
fn int32_arg(ctx: &Ctx, i: usize, msg: Option<&str>) -> Result<i32, CmdError> {
    let custom = |default: CmdError| msg.map_or(default, CmdError::err);
    let v = crate::util::num::parse_i64(ctx.arg(i)).ok_or_else(|| custom(CmdError::NotInteger))?;
    i32::try_from(v).map_err(|_| {
        custom(CmdError::err(format!(
            "value is out of range, value must between {} and {}",
            i32::MIN,
            i32::MAX
        )))
    })
}

/// A database index argument: an `int`, then in range.
fn db_arg(ctx: &Ctx, i: usize) -> Result<usize, CmdError> {
    let id = int32_arg(ctx, i, None)?;
    usize::try_from(id)
        .ok()
        .filter(|&id| id < NDBS)
        .ok_or(CmdError::DbIndexOutOfRange)
}

fn same_object() -> CmdError {
    CmdError::err("source and destination objects are the same")
}

/// Stores an entry moved from elsewhere (RENAME, MOVE): the value keeps its access record.
fn put_moved(db: &mut Db, key: &[u8], entry: Entry) {
    let access = entry.access;
    db.set_entry(key, entry);
    if let Some(e) = db.peek(key) {
        e.access = access;
    }
}

/// Writes bulk strings into a side buffer, so an array's length can be sent first.
struct Batch {
    buf: BytesMut,
    n: usize,
}

impl Batch {
    fn new() -> Self {
        Batch {
            buf: BytesMut::new(),
            n: 0,
        }
    }

    fn push(&mut self, proto: crate::resp::Protocol, b: &[u8]) {
        ReplyWriter::new(&mut self.buf, proto).bulk(b);
        self.n += 1;
    }

    fn send(self, out: &mut ReplyWriter) {
        out.array(self.n);
        out.raw(&self.buf);
    }
}

// ---------------------------------------------------------------------------------------------
// DEL, UNLINK, EXISTS, TOUCH, TYPE

fn del(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let mut n = 0;
    for key in &args[1..] {
        if ctx.db.remove(key).is_some() {
            ctx.db.notify(notify::GENERIC, "del", key);
            n += 1;
        }
    }
    ctx.out.int(n as i64);
    Ok(())
}

fn exists(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let mut n = 0;
    for key in &args[1..] {
        let found = ctx.db.peek(key).is_some();
        ctx.hit(found);
        n += found as i64;
    }
    ctx.out.int(n);
    Ok(())
}

fn touch(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let mut n = 0;
    for key in &args[1..] {
        let found = ctx.db.get(key).is_some();
        ctx.hit(found);
        n += found as i64;
    }
    ctx.out.int(n);
    Ok(())
}

fn type_cmd(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let name = ctx.db.peek(&args[1]).map(|e| e.value.type_name());
    ctx.hit(name.is_some());
    ctx.out.simple(name.unwrap_or("none"));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Expiry

/// Which of NX / XX / GT / LT were given.
#[derive(Default)]
struct ExpireCond {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl ExpireCond {
    fn parse(opts: &[bytes::Bytes]) -> Result<ExpireCond, CmdError> {
        let mut c = ExpireCond::default();
        for opt in opts {
            match opt.to_ascii_uppercase().as_slice() {
                b"NX" => c.nx = true,
                b"XX" => c.xx = true,
                b"GT" => c.gt = true,
                b"LT" => c.lt = true,
                _ => {
                    // Redis prints the option as a C string: up to the first NUL.
                    let end = opt.iter().position(|&b| b == 0).unwrap_or(opt.len());
                    return Err(CmdError::err(format!(
                        "Unsupported option {}",
                        String::from_utf8_lossy(&opt[..end])
                    )));
                }
            }
        }
        if c.nx && (c.xx || c.gt || c.lt) {
            return Err(CmdError::err(
                "NX and XX, GT or LT options at the same time are not compatible",
            ));
        }
        if c.gt && c.lt {
            return Err(CmdError::err(
                "GT and LT options at the same time are not compatible",
            ));
        }
        Ok(c)
    }

    /// Whether a key whose current expiry is `current` (0 = none, an infinite TTL) may get
    /// the expiry `when`.
    fn allows(&self, current: u64, when: i64) -> bool {
        let has = current != 0;
        let current = current as i64;
        !((self.nx && has)
            || (self.xx && !has)
            || (self.gt && (!has || when <= current))
            || (self.lt && has && when >= current))
    }
}

/// EXPIRE and friends: `relative` adds the command's clock, `seconds` scales by 1000.
fn expire_generic(ctx: &mut Ctx, relative: bool, seconds: bool) -> CmdResult {
    let args = ctx.args;
    let cond = ExpireCond::parse(&args[3..])?;
    let invalid = CmdError::InvalidExpire(ctx.cmd.name);
    let mut when = ctx.int_arg(2)?;
    if seconds {
        when = when.checked_mul(1000).ok_or_else(|| invalid.clone())?;
    }
    if relative {
        when = when.checked_add(ctx.db.now as i64).ok_or(invalid)?;
    }
    let key = &args[1];
    let Some(current) = ctx.db.get(key).map(|e| e.expire_at) else {
        ctx.out.int(0);
        return Ok(());
    };
    if !cond.allows(current, when) {
        ctx.out.int(0);
        return Ok(());
    }
    if when <= ctx.db.now as i64 {
        ctx.db.remove(key);
        ctx.db.notify(notify::GENERIC, "del", key);
        ctx.db
            .propagate_as([Bytes::from_static(b"DEL"), key.clone()]);
    } else {
        ctx.db.set_expire(key, when as u64);
        ctx.db.notify(notify::GENERIC, "expire", key);
        // Relative or in seconds, the expiry is propagated as the absolute ms it gave.
        ctx.db.propagate_as([
            Bytes::from_static(b"PEXPIREAT"),
            key.clone(),
            Bytes::from(when.to_string()),
        ]);
    }
    ctx.out.int(1);
    Ok(())
}

fn expire(ctx: &mut Ctx) -> CmdResult {
    expire_generic(ctx, true, true)
}

fn pexpire(ctx: &mut Ctx) -> CmdResult {
    expire_generic(ctx, true, false)
}

fn expireat(ctx: &mut Ctx) -> CmdResult {
    expire_generic(ctx, false, true)
}

fn pexpireat(ctx: &mut Ctx) -> CmdResult {
    expire_generic(ctx, false, false)
}

/// TTL and friends: -2 no key, -1 no expiry; `absolute` reports the unix time instead.
fn ttl_generic(ctx: &mut Ctx, millis: bool, absolute: bool) -> CmdResult {
    let args = ctx.args;
    let now = ctx.db.now as i64;
    let found = ctx.db.peek(&args[1]).map(|e| e.expire_at);
    ctx.hit(found.is_some());
    let reply = match found {
        None => -2,
        Some(0) => -1,
        Some(at) => {
            let at = at as i64;
            let ms = if absolute { at } else { (at - now).max(0) };
            if millis {
                ms
            } else {
                // Rounded to the nearest second without overflowing near i64::MAX.
                ((i128::from(ms) + 500) / 1000) as i64
            }
        }
    };
    ctx.out.int(reply);
    Ok(())
}

fn ttl(ctx: &mut Ctx) -> CmdResult {
    ttl_generic(ctx, false, false)
}

fn pttl(ctx: &mut Ctx) -> CmdResult {
    ttl_generic(ctx, true, false)
}

fn expiretime(ctx: &mut Ctx) -> CmdResult {
    ttl_generic(ctx, false, true)
}

fn pexpiretime(ctx: &mut Ctx) -> CmdResult {
    ttl_generic(ctx, true, true)
}

fn persist(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let done = ctx.db.get(&args[1]).is_some() && ctx.db.persist(&args[1]);
    if done {
        ctx.db.notify(notify::GENERIC, "persist", &args[1]);
    }
    ctx.out.int(done as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// RENAME, RENAMENX, COPY, MOVE

fn rename_generic(ctx: &mut Ctx, nx: bool) -> CmdResult {
    let args = ctx.args;
    let (src, dst) = (&args[1], &args[2]);
    if ctx.db.get(src).is_none() {
        return Err(CmdError::NoSuchKey);
    }
    if src == dst {
        if nx {
            ctx.out.int(0);
        } else {
            ctx.out.ok();
        }
        return Ok(());
    }
    if ctx.db.get(dst).is_some() && nx {
        ctx.out.int(0);
        return Ok(());
    }
    let dirty = ctx.db.dirty;
    let Some(entry) = ctx.db.remove(src) else {
        return Err(CmdError::NoSuchKey);
    };
    ctx.db.remove(dst);
    put_moved(&mut ctx.db, dst, entry);
    ctx.db.dirty = dirty + 1;
    ctx.db.notify(notify::GENERIC, "rename_from", src);
    ctx.db.notify(notify::GENERIC, "rename_to", dst);
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

fn rename(ctx: &mut Ctx) -> CmdResult {
    rename_generic(ctx, false)
}

fn renamenx(ctx: &mut Ctx) -> CmdResult {
    rename_generic(ctx, true)
}

fn copy(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let src_db = ctx.db.index;
    let mut dst_db = src_db;
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        let opt = &args[i];
        if opt.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if opt.eq_ignore_ascii_case(b"db") && i + 1 < args.len() {
            dst_db = db_arg(ctx, i + 1)?;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let (src, dst) = (&args[1], &args[2]);
    if src_db == dst_db && src == dst {
        return Err(same_object());
    }
    let found = ctx.db.get(src).map(|e| (e.value.clone(), e.expire_at));
    ctx.hit(found.is_some());
    let Some((value, expire_at)) = found else {
        ctx.out.int(0);
        return Ok(());
    };
    let dirty = ctx.db.dirty;
    ctx.db.index = dst_db;
    let taken = ctx.db.get(dst).is_some();
    if !taken || replace {
        if taken {
            ctx.db.remove(dst);
        }
        // A fresh value: new access record, the source's expiry.
        ctx.db.set(dst, value, false);
        if expire_at != 0 {
            ctx.db.set_expire(dst, expire_at);
        }
        ctx.db.dirty = dirty + 1;
        ctx.db.notify(notify::GENERIC, "copy_to", dst);
    }
    ctx.db.index = src_db;
    ctx.out.int((!taken || replace) as i64);
    Ok(())
}

fn move_cmd(ctx: &mut Ctx) -> CmdResult {
    if ctx.settings.cluster_enabled {
        return Err(CmdError::raw("ERR MOVE is not allowed in cluster mode"));
    }
    let args = ctx.args;
    let dst_db = db_arg(ctx, 2)?;
    let src_db = ctx.db.index;
    if dst_db == src_db {
        return Err(same_object());
    }
    let key = &args[1];
    if ctx.db.get(key).is_none() {
        ctx.out.int(0);
        return Ok(());
    }
    ctx.db.index = dst_db;
    let taken = ctx.db.get(key).is_some();
    ctx.db.index = src_db;
    if taken {
        ctx.out.int(0);
        return Ok(());
    }
    let dirty = ctx.db.dirty;
    if let Some(entry) = ctx.db.remove(key) {
        ctx.db.index = dst_db;
        put_moved(&mut ctx.db, key, entry);
        ctx.db.index = src_db;
        ctx.db.notify(notify::GENERIC, "move_from", key);
        ctx.db.index = dst_db;
        ctx.db.notify(notify::GENERIC, "move_to", key);
        ctx.db.index = src_db;
    }
    ctx.db.dirty = dirty + 1;
    ctx.out.int(1);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// KEYS, SCAN, RANDOMKEY, DBSIZE

fn keys(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let pattern: &[u8] = &args[1];
    // The matcher never matches an empty key, so `*` alone must bypass it.
    let all = pattern == b"*";
    let proto = ctx.out.proto;
    let mut batch = Batch::new();
    ctx.db.for_each(|key, _| {
        if all || glob_match(pattern, key, false) {
            batch.push(proto, key);
        }
    });
    batch.send(&mut ctx.out);
    Ok(())
}

/// A cursor as Redis reads it with `strtoul`: an optional sign then decimal digits filling the
/// whole argument (a negative value wraps around); the empty string is 0.
pub(crate) fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let digits = match arg.first() {
        None => return Some(0),
        Some(b'-' | b'+') => &arg[1..],
        Some(_) => arg,
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if arg[0] == b'-' { v.wrapping_neg() } else { v })
}

/// SCAN: the cursor is the next slot to visit. Whole slots are returned until at least COUNT
/// keys were looked at (before MATCH and TYPE filter them), so a batch can exceed COUNT.
fn scan(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let cursor = parse_cursor(&args[1]).ok_or_else(|| CmdError::err("invalid cursor"))?;
    let mut count: i64 = 10;
    let mut pattern: Option<&[u8]> = None;
    let mut type_name: Option<&[u8]> = None;
    let mut i = 2;
    while i < args.len() {
        let opt = &args[i];
        let has_value = i + 1 < args.len();
        if opt.eq_ignore_ascii_case(b"count") && has_value {
            count = ctx.int_arg(i + 1)?;
            if count < 1 {
                return Err(CmdError::Syntax);
            }
        } else if opt.eq_ignore_ascii_case(b"match") && has_value {
            let p: &[u8] = &args[i + 1];
            pattern = (p != b"*").then_some(p);
        } else if opt.eq_ignore_ascii_case(b"type") && has_value {
            type_name = Some(&args[i + 1]);
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }

    let proto = ctx.out.proto;
    let mut batch = Batch::new();
    let mut seen: i64 = 0;
    let mut slot = cursor;
    // Keys of one shard's slots (from the cursor on) that pass the filters, by slot.
    let mut matched: Vec<(u16, Vec<u8>)> = Vec::new();
    while slot < SLOTS as u64 && seen < count {
        let s = slot as u16;
        if ctx.db.slot_is_empty(s) {
            slot += 1;
            continue;
        }
        // The slots of this shard this call will take (by the stored counts, which include
        // keys expired but not yet reclaimed: if some are, the next walk takes more slots),
        // then one walk of the shard's table collects their keys.
        let first = s as usize / SLOTS_PER_SHARD * SLOTS_PER_SHARD;
        let mut last = s;
        let mut stored = ctx.db.slot_len(s) as i64;
        while seen + stored < count && (last as usize) < first + SLOTS_PER_SHARD - 1 {
            last += 1;
            stored += ctx.db.slot_len(last) as i64;
        }
        let mut per_slot = [0u32; SLOTS_PER_SHARD];
        matched.clear();
        ctx.db.for_each_in_slots(s, last, |ks, key, e| {
            per_slot[ks as usize - first] += 1;
            if pattern.is_some_and(|p| !glob_match(p, key, false)) {
                return;
            }
            if type_name.is_some_and(|t| !t.eq_ignore_ascii_case(e.value.type_name().as_bytes())) {
                return;
            }
            matched.push((ks, key.to_vec()));
        });
        matched.sort_by_key(|m| m.0);
        let mut next = matched.iter().peekable();
        while slot <= u64::from(last) && seen < count {
            let cur = slot as u16;
            slot += 1;
            seen += i64::from(per_slot[cur as usize - first]);
            while let Some((_, key)) = next.next_if(|m| m.0 == cur) {
                batch.push(proto, key);
            }
        }
    }
    let next = if slot >= SLOTS as u64 { 0 } else { slot };
    ctx.out.array(2);
    ctx.out.bulk_int(next as i64);
    batch.send(&mut ctx.out);
    Ok(())
}

fn randomkey(ctx: &mut Ctx) -> CmdResult {
    match ctx.db.random_key() {
        Some(key) => ctx.out.bulk(&key),
        None => ctx.out.null(),
    }
    Ok(())
}

fn dbsize(ctx: &mut Ctx) -> CmdResult {
    let n = ctx.db.len();
    ctx.out.int(n as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// FLUSHDB, FLUSHALL, SELECT, SWAPDB

/// The optional SYNC / ASYNC argument. Both flush at once: the reply is the same.
fn flush_mode(ctx: &Ctx) -> CmdResult {
    match super::flush_mode_ok(&ctx.args[1..]) {
        true => Ok(()),
        false => Err(CmdError::Syntax),
    }
}

fn flushdb(ctx: &mut Ctx) -> CmdResult {
    flush_mode(ctx)?;
    let db = ctx.db.index;
    ctx.db.flush_db(db);
    let waited = crate::blocking::stream_waited_keys(ctx.server, Some(db));
    ctx.db.fx().created.extend(waited);
    ctx.out.ok();
    Ok(())
}

fn flushall(ctx: &mut Ctx) -> CmdResult {
    flush_mode(ctx)?;
    // Every shard is locked: no client sees some databases flushed and others not.
    for db in 0..NDBS {
        ctx.db.flush_db(db);
    }
    let waited = crate::blocking::stream_waited_keys(ctx.server, None);
    ctx.db.fx().created.extend(waited);
    ctx.db.dirty += 1;
    ctx.out.ok();
    Ok(())
}

fn select(ctx: &mut Ctx) -> CmdResult {
    if ctx.settings.cluster_enabled && int32_arg(ctx, 1, None)? != 0 {
        return Err(CmdError::raw("ERR SELECT is not allowed in cluster mode"));
    }
    let id = db_arg(ctx, 1)?;
    ctx.client.db = id;
    ctx.client.info.db.store(id, Relaxed);
    ctx.out.ok();
    Ok(())
}

fn swapdb(ctx: &mut Ctx) -> CmdResult {
    if ctx.settings.cluster_enabled {
        return Err(CmdError::raw("ERR SWAPDB is not allowed in cluster mode"));
    }
    let a = int32_arg(ctx, 1, Some("invalid first DB index"))?;
    let b = int32_arg(ctx, 2, Some("invalid second DB index"))?;
    let in_range = |id: i32| usize::try_from(id).ok().filter(|&id| id < NDBS);
    let (Some(a), Some(b)) = (in_range(a), in_range(b)) else {
        return Err(CmdError::DbIndexOutOfRange);
    };
    ctx.db.swap_db(a, b);
    // Clients blocked on keys of the swapped databases are re-run after the command (Redis
    // `scanDatabaseForReadyKeys` and `scanDatabaseForDeletedKeys`); the re-run checks the type.
    let current = ctx.db.index;
    for d in [a, b] {
        ctx.db.index = d;
        // Every waited key is re-run: one that arrived may serve its client, and a stream
        // that left answers its XREADGROUP readers with an error (lists keep waiting).
        for key in ctx.server.blocking.keys_in_db(d) {
            ctx.db.fx().created.push((d, key));
        }
    }
    ctx.db.index = current;
    ctx.out.ok();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// OBJECT

/// Reads something from the key of an OBJECT subcommand, without recording an access.
fn object_peek<T>(ctx: &mut Ctx, f: impl FnOnce(&Entry) -> T) -> Option<T> {
    let args = ctx.args;
    let found = ctx.db.peek(&args[2]).map(|e| f(e));
    ctx.hit(found.is_some());
    found
}

fn object_encoding(ctx: &mut Ctx) -> CmdResult {
    match object_peek(ctx, |e| e.value.encoding()) {
        Some(enc) => ctx.out.bulk(enc.as_bytes()),
        None => ctx.out.null(),
    }
    Ok(())
}

/// The reference count Redis reports for a value (OBJECT REFCOUNT, DEBUG OBJECT): Redis
/// shares the integers 0..10000 between keys (refcount INT_MAX) unless an LRU or LFU
/// maxmemory policy is in force. Redis decides when the value is written; we judge by the
/// policy in force now, which differs only for keys written before a policy change.
pub(crate) fn refcount(v: &Value, settings: &crate::server::Settings) -> i64 {
    let no_sharing = settings.maxmemory > 0
        && matches!(
            settings.policy,
            EvictPolicy::AllKeysLru
                | EvictPolicy::VolatileLru
                | EvictPolicy::AllKeysLfu
                | EvictPolicy::VolatileLfu
        );
    match v {
        Value::Int(n) if (0..SHARED_INTEGERS).contains(n) && !no_sharing => i32::MAX as i64,
        _ => 1,
    }
}

fn object_refcount(ctx: &mut Ctx) -> CmdResult {
    let settings = ctx.settings;
    match object_peek(ctx, |e| refcount(&e.value, settings)) {
        Some(n) => ctx.out.int(n),
        None => ctx.out.null(),
    }
    Ok(())
}

fn object_idletime(ctx: &mut Ctx) -> CmdResult {
    let Some(access) = object_peek(ctx, |e| e.access) else {
        ctx.out.null();
        return Ok(());
    };
    if matches!(ctx.db.access_mode(), AccessMode::Lfu { .. }) {
        return Err(CmdError::err(
            "An LFU maxmemory policy is selected, idle time not tracked. Please note that when \
             switching between policies at runtime LRU and LFU data will take some time to adjust.",
        ));
    }
    let now_s = (ctx.db.now / 1000) as u32;
    ctx.out.int(i64::from(now_s.saturating_sub(access)));
    Ok(())
}

fn object_freq(ctx: &mut Ctx) -> CmdResult {
    let Some(access) = object_peek(ctx, |e| e.access) else {
        ctx.out.null();
        return Ok(());
    };
    let AccessMode::Lfu { decay_minutes, .. } = ctx.db.access_mode() else {
        return Err(CmdError::err(
            "An LFU maxmemory policy is not selected, access frequency not tracked. Please note \
             that when switching between policies at runtime LRU and LFU data will take some \
             time to adjust.",
        ));
    };
    ctx.out
        .int(i64::from(lfu_decayed(access, ctx.db.now, decay_minutes)));
    Ok(())
}

fn object_help(ctx: &mut Ctx) -> CmdResult {
    super::connection::help(
        ctx,
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Name the internal representation chosen for the value at <key>",
            "    (for strings: int, embstr or raw).",
            "FREQ <key>",
            "    Report the logarithmic access counter of <key>; needs an LFU",
            "    maxmemory-policy.",
            "IDLETIME <key>",
            "    Report roughly how many seconds passed since <key> was last read or",
            "    written; not available under an LFU maxmemory-policy.",
            "REFCOUNT <key>",
            "    Report how many references point to the value at <key> (shared small",
            "    integers report a very large count).",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_parsing_follows_strtoul() {
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"+5"), Some(5));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551616"), None);
        assert_eq!(parse_cursor(b" 1"), None);
        assert_eq!(parse_cursor(b"1 "), None);
        assert_eq!(parse_cursor(b"-"), None);
        assert_eq!(parse_cursor(b"1.5"), None);
        assert_eq!(parse_cursor(b"abc"), None);
    }

    #[test]
    fn expire_conditions() {
        let gt = ExpireCond {
            gt: true,
            ..ExpireCond::default()
        };
        assert!(!gt.allows(0, 100), "no TTL is an infinite TTL");
        assert!(gt.allows(50, 100));
        assert!(!gt.allows(100, 100));
        let lt = ExpireCond {
            lt: true,
            ..ExpireCond::default()
        };
        assert!(lt.allows(0, 100));
        assert!(!lt.allows(50, 100));
        let nx = ExpireCond {
            nx: true,
            ..ExpireCond::default()
        };
        assert!(nx.allows(0, 1) && !nx.allows(5, 1));
        let xx = ExpireCond {
            xx: true,
            ..ExpireCond::default()
        };
        assert!(!xx.allows(0, 1) && xx.allows(5, 1));
        assert!(ExpireCond::parse(&[bytes::Bytes::from("nx"), bytes::Bytes::from("GT")]).is_err());
    }

    #[test]
    fn rows_are_keyed_like_stock() {
        let copy = super::COMMANDS.iter().find(|c| c.name == "copy").unwrap();
        assert_eq!(copy.legacy_range(), (1, 2, 1));
        let del = super::COMMANDS.iter().find(|c| c.name == "del").unwrap();
        assert_eq!(del.legacy_range(), (1, -1, 1));
        let object = super::COMMANDS.iter().find(|c| c.name == "object").unwrap();
        let enc = object.subcommand(b"ENCODING").unwrap();
        assert_eq!(enc.legacy_range(), (2, 2, 1));
    }
}
