//! Hash commands (Redis `t_hash.c`): the rows and their handlers.
//!
//! The data structure lives in [`crate::db::types::hash`]. Conventions as in `string.rs`:
//! read lookups count a keyspace hit or miss (before WRONGTYPE), write lookups do not; the
//! dirty counter grows by what Redis counts (HSET: one per pair given, HDEL: one per field
//! removed); a hash left empty is deleted. The scan helpers here are shared with SSCAN.

use bytes::{Bytes, BytesMut};

use crate::cmd::{acl, flags, kflags, CmdResult, Command, KeySpec};
use crate::config::notify;
use crate::db::types::hash::{HashValue, Limits};
use crate::db::{Db, Value};
use crate::dispatch::Ctx;
use crate::error::CmdError;
use crate::resp::{Protocol, ReplyWriter};
use crate::server::Settings;
use crate::util::glob::glob_match;
use crate::util::num::{self, LongDouble};

// ---------------------------------------------------------------------------------------------
// The rows

const KS_RW_UPDATE: &[KeySpec] = &[KeySpec::one(1, kflags::RW | kflags::UPDATE)];
const KS_RW_INSERT: &[KeySpec] = &[KeySpec::one(1, kflags::RW | kflags::INSERT)];
const KS_RW_DELETE: &[KeySpec] = &[KeySpec::one(1, kflags::RW | kflags::DELETE)];
const KS_RW_ACCESS_UPDATE: &[KeySpec] = &[KeySpec::one(
    1,
    kflags::RW | kflags::ACCESS | kflags::UPDATE,
)];
const KS_RO: &[KeySpec] = &[KeySpec::one(1, kflags::RO)];
const KS_RO_ACCESS: &[KeySpec] = &[KeySpec::one(1, kflags::RO | kflags::ACCESS)];

const WDF: u32 = flags::WRITE | flags::DENYOOM | flags::FAST;
const RF: u32 = flags::READONLY | flags::FAST;
const ORDER: &[&str] = &["nondeterministic_output_order"];
const NONDET: &[&str] = &["nondeterministic_output"];

macro_rules! row {
    ($name:literal, $arity:expr, $flags:expr, $ks:expr, $tips:expr, $since:literal, $complexity:literal, $summary:literal, $handler:ident) => {
        Command {
            name: $name,
            arity: $arity,
            flags: $flags,
            acl: acl::HASH,
            tips: $tips,
            key_specs: $ks,
            handler: Some($handler),
            group: "hash",
            since: $since,
            complexity: $complexity,
            summary: $summary,
            ..Command::DEFAULT
        }
    };
}

pub static COMMANDS: &[Command] = &[
    row!(
        "hset",
        -4,
        WDF,
        KS_RW_UPDATE,
        &[],
        "2.0.0",
        "O(1) for each field/value pair added",
        "Sets fields of a hash, creating it if needed; returns how many fields are new.",
        hset
    ),
    row!(
        "hmset",
        -4,
        WDF,
        KS_RW_UPDATE,
        &[],
        "2.0.0",
        "O(N) where N is the number of fields being set",
        "Sets fields of a hash (deprecated form of HSET that replies OK).",
        hmset
    ),
    row!(
        "hsetnx",
        4,
        WDF,
        KS_RW_INSERT,
        &[],
        "2.0.0",
        "O(1)",
        "Sets a field of a hash only if the field does not exist yet.",
        hsetnx
    ),
    row!(
        "hget",
        3,
        RF,
        KS_RO_ACCESS,
        &[],
        "2.0.0",
        "O(1)",
        "Returns the value of a field of a hash.",
        hget
    ),
    row!(
        "hmget",
        -3,
        RF,
        KS_RO_ACCESS,
        &[],
        "2.0.0",
        "O(N) where N is the number of fields being requested",
        "Returns the values of several fields of a hash.",
        hmget
    ),
    row!(
        "hdel",
        -3,
        flags::WRITE | flags::FAST,
        KS_RW_DELETE,
        &[],
        "2.0.0",
        "O(N) where N is the number of fields to be removed",
        "Removes fields from a hash; returns how many existed.",
        hdel
    ),
    row!(
        "hexists",
        3,
        RF,
        KS_RO,
        &[],
        "2.0.0",
        "O(1)",
        "Tells whether a field exists in a hash.",
        hexists
    ),
    row!(
        "hlen",
        2,
        RF,
        KS_RO,
        &[],
        "2.0.0",
        "O(1)",
        "Returns the number of fields of a hash.",
        hlen
    ),
    row!(
        "hstrlen",
        3,
        RF,
        KS_RO,
        &[],
        "3.2.0",
        "O(1)",
        "Returns the length of the value of a field of a hash.",
        hstrlen
    ),
    row!(
        "hkeys",
        2,
        flags::READONLY,
        KS_RO_ACCESS,
        ORDER,
        "2.0.0",
        "O(N) where N is the size of the hash.",
        "Returns every field of a hash.",
        hkeys
    ),
    row!(
        "hvals",
        2,
        flags::READONLY,
        KS_RO_ACCESS,
        ORDER,
        "2.0.0",
        "O(N) where N is the size of the hash.",
        "Returns every value of a hash.",
        hvals
    ),
    row!(
        "hgetall",
        2,
        flags::READONLY,
        KS_RO_ACCESS,
        ORDER,
        "2.0.0",
        "O(N) where N is the size of the hash.",
        "Returns every field and value of a hash.",
        hgetall
    ),
    row!(
        "hincrby",
        4,
        WDF,
        KS_RW_ACCESS_UPDATE,
        &[],
        "2.0.0",
        "O(1)",
        "Adds an integer to the integer value of a field of a hash.",
        hincrby
    ),
    row!(
        "hincrbyfloat",
        4,
        WDF,
        KS_RW_ACCESS_UPDATE,
        &[],
        "2.6.0",
        "O(1)",
        "Adds a number to the floating point value of a field of a hash.",
        hincrbyfloat
    ),
    row!(
        "hrandfield",
        -2,
        flags::READONLY,
        KS_RO_ACCESS,
        NONDET,
        "6.2.0",
        "O(N) where N is the number of fields returned",
        "Returns random fields of a hash, optionally with their values.",
        hrandfield
    ),
    row!(
        "hscan",
        -3,
        flags::READONLY,
        KS_RO_ACCESS,
        NONDET,
        "2.8.0",
        "O(1) for every call. O(N) for a complete iteration.",
        "Iterates over the fields and values of a hash.",
        hscan
    ),
];

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// The `listpack` limits from the configuration.
fn limits(s: &Settings) -> Limits {
    Limits {
        entries: s.hash_max_listpack_entries,
        value: s.hash_max_listpack_value,
    }
}

/// Counts a read lookup as a keyspace hit or miss (a key of another type is a hit).
pub(crate) fn count<T>(hits: &mut u64, misses: &mut u64, r: &Result<Option<T>, CmdError>) {
    if matches!(r, Ok(None)) {
        *misses += 1;
    } else {
        *hits += 1;
    }
}

/// The hash at `key`: `Ok(None)` if there is no key, WRONGTYPE for another type.
fn get_hash<'a>(db: &'a mut Db<'_>, key: &[u8]) -> Result<Option<&'a mut HashValue>, CmdError> {
    match db.get(key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Hash(h) => Ok(Some(h)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// Runs `f` on the hash at `key`, creating it if needed (Redis `hashTypeLookupWriteOrCreate`).
/// A new hash is stored only if `f` left it non-empty; the dirty counter is left to the caller.
fn with_hash<R>(
    db: &mut Db<'_>,
    key: &[u8],
    f: impl FnOnce(&mut HashValue) -> Result<R, CmdError>,
) -> Result<R, CmdError> {
    if let Some(h) = get_hash(db, key)? {
        return f(h);
    }
    let mut h = HashValue::default();
    let r = f(&mut h)?;
    if !h.is_empty() {
        let dirty = db.dirty;
        db.set(key, Value::Hash(Box::new(h)), false);
        db.dirty = dirty;
    }
    Ok(r)
}

/// Replies written into a side buffer so that an array's length can be sent first.
pub(crate) struct Batch {
    buf: BytesMut,
    proto: Protocol,
    pub n: usize,
}

impl Batch {
    pub fn new(proto: Protocol) -> Self {
        Batch {
            buf: BytesMut::new(),
            proto,
            n: 0,
        }
    }

    pub fn bulk(&mut self, b: &[u8]) {
        ReplyWriter::new(&mut self.buf, self.proto).bulk(b);
        self.n += 1;
    }

    /// The collected bytes, without a header.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }
}

/// The options of HSCAN/SSCAN/ZSCAN after the cursor: `MATCH pattern`, `COUNT n`.
pub(crate) struct ScanOpts<'a> {
    pub pattern: Option<&'a [u8]>,
    pub count: usize,
}

impl ScanOpts<'_> {
    pub fn matches(&self, item: &[u8]) -> bool {
        self.pattern.is_none_or(|p| glob_match(p, item, false))
    }
}

/// Parses `MATCH`/`COUNT` options from `args[from..]` (Redis `scanGenericCommand`).
pub(crate) fn parse_scan_opts(
    args: &[bytes::Bytes],
    from: usize,
) -> Result<ScanOpts<'_>, CmdError> {
    let mut o = ScanOpts {
        pattern: None,
        count: 10,
    };
    let mut i = from;
    while i < args.len() {
        let more = i + 1 < args.len();
        if args[i].eq_ignore_ascii_case(b"count") && more {
            let n = num::parse_i64(&args[i + 1]).ok_or(CmdError::NotInteger)?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            o.count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if args[i].eq_ignore_ascii_case(b"match") && more {
            let p: &[u8] = &args[i + 1];
            o.pattern = (p != b"*").then_some(p);
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    Ok(o)
}

/// Writes a SCAN-family reply: `[cursor, [items...]]`.
pub(crate) fn scan_reply(out: &mut ReplyWriter<'_>, cursor: u64, items: &Batch) {
    out.array(2);
    out.bulk(itoa::Buffer::new().format(cursor).as_bytes());
    out.array(items.n);
    out.raw(items.bytes());
}

/// A count argument in `-LONG_MAX..=LONG_MAX` (Redis `getRangeLongFromObjectOrReply`).
pub(crate) fn signed_count(arg: &[u8]) -> Result<i64, CmdError> {
    let n = num::parse_i64(arg).ok_or(CmdError::NotInteger)?;
    if n == i64::MIN {
        return Err(CmdError::err(format!(
            "value is out of range, value must between {} and {}",
            -i64::MAX,
            i64::MAX
        )));
    }
    Ok(n)
}

// ---------------------------------------------------------------------------------------------
// HSET, HMSET, HSETNX, HDEL

fn hset(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let n = hset_generic(ctx)?;
    ctx.out.int(n as i64);
    Ok(())
}

fn hmset(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    hset_generic(ctx)?;
    ctx.out.ok();
    Ok(())
}

/// Sets every pair; returns how many fields were new.
fn hset_generic(ctx: &mut Ctx<'_, '_>) -> Result<usize, CmdError> {
    let args = ctx.args;
    if args.len() % 2 == 1 {
        return Err(CmdError::WrongArity(ctx.cmd.name.to_string()));
    }
    let l = limits(ctx.settings);
    let pairs = &args[2..];
    let db = &mut ctx.db;
    let dirty = db.dirty;
    let created = with_hash(db, &args[1], |h| {
        h.prepare(pairs.len() / 2, pairs.iter().map(|a| &a[..]), l);
        Ok(pairs.chunks(2).filter(|p| h.set(&p[0], &p[1], l)).count())
    })?;
    db.dirty = dirty + (pairs.len() / 2) as u64;
    db.notify(notify::HASH, "hset", &args[1]);
    Ok(created)
}

fn hsetnx(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let l = limits(ctx.settings);
    let db = &mut ctx.db;
    let dirty = db.dirty;
    let added = with_hash(db, &args[1], |h| {
        if h.contains(&args[2]) {
            return Ok(false);
        }
        h.prepare(1, args[2..4].iter().map(|a| &a[..]), l);
        h.set(&args[2], &args[3], l);
        Ok(true)
    })?;
    db.dirty = dirty + added as u64;
    if added {
        db.notify(notify::HASH, "hset", &args[1]);
    }
    ctx.out.int(added as i64);
    Ok(())
}

fn hdel(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let key = &args[1][..];
    let db = &mut ctx.db;
    let mut deleted = 0;
    let mut empty = false;
    if let Some(h) = get_hash(db, key)? {
        for f in &args[2..] {
            if h.remove(f) {
                deleted += 1;
                if h.is_empty() {
                    empty = true;
                    break;
                }
            }
        }
    }
    if deleted > 0 {
        db.notify(notify::HASH, "hdel", key);
    }
    if empty {
        db.remove(key);
        db.dirty -= 1;
        db.notify(notify::GENERIC, "del", key);
    }
    db.dirty += deleted;
    ctx.out.int(deleted as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reads

fn hget(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let Ctx {
        args,
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let h = get_hash(db, &args[1]);
    count(hits, misses, &h);
    match h?.and_then(|h| h.get(&args[2])) {
        Some(v) => out.bulk(v),
        None => out.null(),
    }
    Ok(())
}

fn hmget(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let Ctx {
        args,
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let h = get_hash(db, &args[1]);
    count(hits, misses, &h);
    let h = h?;
    out.array(args.len() - 2);
    for f in &args[2..] {
        match h.as_ref().and_then(|h| h.get(f)) {
            Some(v) => out.bulk(v),
            None => out.null(),
        }
    }
    Ok(())
}

/// Runs `f` on the hash at `args[1]` (read lookup); a missing key replies `:0`.
fn read_int(
    ctx: &mut Ctx<'_, '_>,
    f: impl FnOnce(&HashValue, &[bytes::Bytes]) -> i64,
) -> CmdResult {
    let Ctx {
        args,
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let h = get_hash(db, &args[1]);
    count(hits, misses, &h);
    out.int(h?.map_or(0, |h| f(h, args)));
    Ok(())
}

fn hexists(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    read_int(ctx, |h, a| h.contains(&a[2]) as i64)
}

fn hlen(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    read_int(ctx, |h, _| h.len() as i64)
}

fn hstrlen(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    read_int(ctx, |h, a| h.get(&a[2]).map_or(0, |v| v.len() as i64))
}

/// HKEYS, HVALS, HGETALL: what to send of each pair.
#[derive(Clone, Copy)]
enum Part {
    Keys,
    Vals,
    Both,
}

fn getall_generic(ctx: &mut Ctx<'_, '_>, part: Part) -> CmdResult {
    let Ctx {
        args,
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let h = get_hash(db, &args[1]);
    count(hits, misses, &h);
    let h = h?;
    let n = h.as_ref().map_or(0, |h| h.len());
    match part {
        Part::Both => out.map(n),
        _ => out.array(n),
    }
    if let Some(h) = h {
        for (f, v) in h.iter() {
            match part {
                Part::Keys => out.bulk(f),
                Part::Vals => out.bulk(v),
                Part::Both => {
                    out.bulk(f);
                    out.bulk(v);
                }
            }
        }
    }
    Ok(())
}

fn hkeys(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    getall_generic(ctx, Part::Keys)
}

fn hvals(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    getall_generic(ctx, Part::Vals)
}

fn hgetall(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    getall_generic(ctx, Part::Both)
}

// ---------------------------------------------------------------------------------------------
// HINCRBY, HINCRBYFLOAT

fn hincrby(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let incr = num::parse_i64(&args[3]).ok_or(CmdError::NotInteger)?;
    let l = limits(ctx.settings);
    let db = &mut ctx.db;
    let value = with_hash(db, &args[1], |h| {
        let cur = match h.get(&args[2]) {
            Some(v) => {
                num::parse_i64(v).ok_or_else(|| CmdError::err("hash value is not an integer"))?
            }
            None => 0,
        };
        let value = cur.checked_add(incr).ok_or(CmdError::Overflow)?;
        h.set(&args[2], itoa::Buffer::new().format(value).as_bytes(), l);
        Ok(value)
    })?;
    db.dirty += 1;
    db.notify(notify::HASH, "hincrby", &args[1]);
    ctx.out.int(value);
    Ok(())
}

fn hincrbyfloat(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let incr = LongDouble::parse(&args[3]).ok_or(CmdError::NotFloat)?;
    if !incr.is_finite() {
        return Err(CmdError::err("value is NaN or Infinity"));
    }
    let l = limits(ctx.settings);
    let db = &mut ctx.db;
    let text = with_hash(db, &args[1], |h| {
        let cur = match h.get(&args[2]) {
            Some(v) => {
                LongDouble::parse(v).ok_or_else(|| CmdError::err("hash value is not a float"))?
            }
            None => LongDouble::parse(b"0").ok_or(CmdError::NotFloat)?,
        };
        let sum = cur + incr;
        if !sum.is_finite() {
            return Err(CmdError::err("increment would produce NaN or Infinity"));
        }
        let mut text = Vec::new();
        sum.fmt_human(&mut text);
        h.set(&args[2], &text, l);
        Ok(text)
    })?;
    db.dirty += 1;
    db.notify(notify::HASH, "hincrbyfloat", &args[1]);
    // The exact result, so float formatting can't make a reader's value differ.
    db.propagate_as([
        Bytes::from_static(b"HSET"),
        args[1].clone(),
        args[2].clone(),
        Bytes::copy_from_slice(&text),
    ]);
    ctx.out.bulk(&text);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// HRANDFIELD, HSCAN

fn hrandfield(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let mut with_values = false;
    let count_arg = if args.len() >= 3 {
        let n = signed_count(&args[2])?;
        if args.len() > 4 || (args.len() == 4 && !args[3].eq_ignore_ascii_case(b"withvalues")) {
            return Err(CmdError::Syntax);
        }
        if args.len() == 4 {
            with_values = true;
            if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n) {
                return Err(CmdError::err("value is out of range"));
            }
        }
        Some(n)
    } else {
        None
    };
    let Ctx {
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let h = get_hash(db, &args[1]);
    count(hits, misses, &h);
    let h = h?;
    let mut rng = rand::thread_rng();
    let Some(n) = count_arg else {
        match h {
            Some(h) => out.bulk(h.sampler().random(&mut rng).0),
            None => out.null(),
        }
        return Ok(());
    };
    let Some(h) = h else {
        out.array(0);
        return Ok(());
    };
    let resp3 = out.is_resp3();
    let pair = |out: &mut ReplyWriter<'_>, (f, v): (&[u8], &[u8])| {
        if with_values && resp3 {
            out.array(2);
        }
        out.bulk(f);
        if with_values {
            out.bulk(v);
        }
    };
    let header = |out: &mut ReplyWriter<'_>, n: usize| {
        out.array(if with_values && !resp3 { n * 2 } else { n });
    };
    let size = h.len();
    let count = n.unsigned_abs() as usize;
    if count == 0 {
        out.array(0);
        return Ok(());
    }
    let sampler = h.sampler();
    if n < 0 || count == 1 {
        // Repetitions allowed: every pick samples the whole hash.
        header(out, count);
        for _ in 0..count {
            pair(out, sampler.random(&mut rng));
        }
    } else if count >= size {
        header(out, size);
        for p in h.iter() {
            pair(out, p);
        }
    } else {
        header(out, count);
        for i in rand::seq::index::sample(&mut rng, size, count) {
            pair(out, sampler.nth(i));
        }
    }
    Ok(())
}

/// A SCAN cursor (Redis `parseScanCursorOrReply`), with SCAN's error.
pub(crate) fn parse_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    crate::cmd::keys::parse_cursor(arg).ok_or_else(|| CmdError::err("invalid cursor"))
}

fn hscan(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let cursor = parse_cursor(&args[2])?;
    let Ctx {
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let h = get_hash(db, &args[1]);
    count(hits, misses, &h);
    let Some(h) = h? else {
        scan_reply(out, 0, &Batch::new(out.proto));
        return Ok(());
    };
    let o = parse_scan_opts(args, 3)?;
    let mut items = Batch::new(out.proto);
    let next = h.scan(cursor, o.count, |f, v| {
        if o.matches(f) {
            items.bulk(f);
            items.bulk(v);
        }
    });
    scan_reply(out, next, &items);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_match_redis() {
        let find = |n: &str| COMMANDS.iter().find(|c| c.name == n);
        let hset = find("hset").map(Command::acl_categories);
        assert_eq!(hset, Some(acl::WRITE | acl::HASH | acl::FAST));
        let hgetall = find("hgetall").map(Command::acl_categories);
        assert_eq!(hgetall, Some(acl::READ | acl::HASH | acl::SLOW));
    }

    #[test]
    fn scan_options() {
        let a: Vec<bytes::Bytes> = ["hscan", "k", "0", "MATCH", "a*", "count", "5"]
            .iter()
            .map(|s| bytes::Bytes::from(*s))
            .collect();
        let o = parse_scan_opts(&a, 3).unwrap_or(ScanOpts {
            pattern: None,
            count: 0,
        });
        assert_eq!((o.pattern, o.count), (Some(&b"a*"[..]), 5));
        assert!(o.matches(b"abc") && !o.matches(b"b"));
        assert!(parse_scan_opts(&a[..6], 3).is_err());
        assert_eq!(parse_cursor(b"-1"), Ok(u64::MAX));
        assert!(parse_cursor(b"1x").is_err());
    }
}
