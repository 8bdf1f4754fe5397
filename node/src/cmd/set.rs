//! Set commands (Redis `t_set.c`): the rows and their handlers.
//!
//! The data structure lives in [`crate::db::types::set`]. Conventions as in `hash.rs`: read
//! lookups count keyspace hits and misses (the sources of the STORE variants too), the dirty
//! counter grows as Redis counts it, and a set left empty
//! is deleted. Results of SUNION, SDIFF and the STORE variants are built by adding members to
//! a new set as Redis does, so their encoding (and, for an `intset`, their sorted order) is
//! the one Redis would give.

use bytes::Bytes;
use rand::Rng;

use super::hash::{count, parse_cursor, parse_scan_opts, scan_reply, signed_count, Batch};
use crate::cmd::{acl, flags, kflags, BeginSearch, CmdResult, Command, FindKeys, KeySpec};
use crate::config::notify;
use crate::db::types::set::SetValue;
use crate::db::{Db, SmallBytes, Value};
use crate::dispatch::Ctx;
use crate::error::CmdError;
use crate::resp::ReplyWriter;

// ---------------------------------------------------------------------------------------------
// The rows

const KS_RW_INSERT: &[KeySpec] = &[KeySpec::one(1, kflags::RW | kflags::INSERT)];
const KS_RW_DELETE: &[KeySpec] = &[KeySpec::one(1, kflags::RW | kflags::DELETE)];
const KS_RW_ACCESS_DELETE: &[KeySpec] = &[KeySpec::one(
    1,
    kflags::RW | kflags::ACCESS | kflags::DELETE,
)];
const KS_RO: &[KeySpec] = &[KeySpec::one(1, kflags::RO)];
const KS_RO_ACCESS: &[KeySpec] = &[KeySpec::one(1, kflags::RO | kflags::ACCESS)];
const KS_ALL_RO_ACCESS: &[KeySpec] = &[KeySpec::range(1, -1, 1, kflags::RO | kflags::ACCESS)];
const KS_SMOVE: &[KeySpec] = &[
    KeySpec::one(1, kflags::RW | kflags::ACCESS | kflags::DELETE),
    KeySpec::one(2, kflags::RW | kflags::INSERT),
];
/// Destination then sources, for the STORE variants.
const fn store_specs(dest: u16) -> [KeySpec; 2] {
    [
        KeySpec::one(1, dest | kflags::UPDATE),
        KeySpec::range(2, -1, 1, kflags::RO | kflags::ACCESS),
    ]
}
const KS_SINTERSTORE: &[KeySpec] = &store_specs(kflags::RW);
const KS_OW_STORE: &[KeySpec] = &store_specs(kflags::OW);
const KS_SINTERCARD: &[KeySpec] = &[KeySpec {
    notes: "",
    flags: kflags::RO | kflags::ACCESS,
    begin: BeginSearch::Index(1),
    find: FindKeys::Keynum {
        keynumidx: 0,
        firstkey: 1,
        step: 1,
    },
}];

const WDF: u32 = flags::WRITE | flags::DENYOOM | flags::FAST;
const WD: u32 = flags::WRITE | flags::DENYOOM;
const WF: u32 = flags::WRITE | flags::FAST;
const RF: u32 = flags::READONLY | flags::FAST;
const R: u32 = flags::READONLY;
const ORDER: &[&str] = &["nondeterministic_output_order"];
const NONDET: &[&str] = &["nondeterministic_output"];

macro_rules! row {
    ($name:literal, $arity:expr, $flags:expr, $ks:expr, $tips:expr, $since:literal, $complexity:literal, $summary:literal, $handler:ident) => {
        Command {
            name: $name,
            arity: $arity,
            flags: $flags,
            acl: acl::SET,
            tips: $tips,
            key_specs: $ks,
            handler: Some($handler),
            group: "set",
            since: $since,
            complexity: $complexity,
            summary: $summary,
            ..Command::DEFAULT
        }
    };
}

pub static COMMANDS: &[Command] = &[
    row!("sadd", -3, WDF, KS_RW_INSERT, &[], "1.0.0", "O(1) for each element added",
        "Adds members to a set, creating it if needed; returns how many were new.", sadd),
    row!("srem", -3, WF, KS_RW_DELETE, &[], "1.0.0", "O(N) where N is the number of members to be removed.",
        "Removes members from a set; returns how many were there.", srem),
    row!("sismember", 3, RF, KS_RO, &[], "1.0.0", "O(1)",
        "Tells whether a value is a member of a set.", sismember),
    row!("smismember", -3, RF, KS_RO_ACCESS, &[], "6.2.0", "O(N) where N is the number of elements being checked for membership",
        "Tells for each of several values whether it is a member of a set.", smismember),
    row!("smembers", 2, R, KS_RO_ACCESS, ORDER, "1.0.0", "O(N) where N is the set cardinality.",
        "Returns every member of a set.", smembers),
    row!("scard", 2, RF, KS_RO, &[], "1.0.0", "O(1)",
        "Returns the number of members of a set.", scard),
    row!("spop", -2, WF, KS_RW_ACCESS_DELETE, NONDET, "1.0.0", "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.",
        "Removes and returns random members of a set.", spop),
    row!("srandmember", -2, R, KS_RO_ACCESS, NONDET, "1.0.0", "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.",
        "Returns random members of a set without removing them.", srandmember),
    row!("smove", 4, WF, KS_SMOVE, &[], "1.0.0", "O(1)",
        "Moves a member from one set to another.", smove),
    row!("sinter", -2, R, KS_ALL_RO_ACCESS, ORDER, "1.0.0", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
        "Returns the intersection of sets.", sinter),
    row!("sintercard", -3, R, KS_SINTERCARD, &[], "7.0.0", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
        "Returns the size of the intersection of sets, optionally stopping at a limit.", sintercard),
    row!("sinterstore", -3, WD, KS_SINTERSTORE, &[], "1.0.0", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
        "Stores the intersection of sets in a key.", sinterstore),
    row!("sunion", -2, R, KS_ALL_RO_ACCESS, ORDER, "1.0.0", "O(N) where N is the total number of elements in all given sets.",
        "Returns the union of sets.", sunion),
    row!("sunionstore", -3, WD, KS_OW_STORE, &[], "1.0.0", "O(N) where N is the total number of elements in all given sets.",
        "Stores the union of sets in a key.", sunionstore),
    row!("sdiff", -2, R, KS_ALL_RO_ACCESS, ORDER, "1.0.0", "O(N) where N is the total number of elements in all given sets.",
        "Returns the members of the first set that are in none of the others.", sdiff),
    row!("sdiffstore", -3, WD, KS_OW_STORE, &[], "1.0.0", "O(N) where N is the total number of elements in all given sets.",
        "Stores the difference of sets in a key.", sdiffstore),
    row!("sscan", -3, R, KS_RO_ACCESS, NONDET, "2.8.0", "O(1) for every call. O(N) for a complete iteration.",
        "Iterates over the members of a set.", sscan),
];

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// The set at `key`: `Ok(None)` if there is no key, WRONGTYPE for another type.
fn get_set<'a>(db: &'a mut Db<'_>, key: &[u8]) -> Result<Option<&'a mut SetValue>, CmdError> {
    match db.get(key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Set(s) => Ok(Some(s)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// Deletes a key emptied by the command, without counting it as a change of its own
/// (Redis counts the removed members instead).
fn delete_emptied(db: &mut Db<'_>, key: &[u8]) {
    let dirty = db.dirty;
    db.remove(key);
    db.dirty = dirty;
    db.notify(notify::GENERIC, "del", key);
}

/// Stores a STORE result (replacing the key and its TTL), or deletes the destination when
/// the result is empty; replies the result's size. One change either way, as Redis.
/// `event` is the command's keyspace event (`sinterstore`...).
fn store(
    db: &mut Db<'_>,
    out: &mut ReplyWriter<'_>,
    dst: &[u8],
    result: SetValue,
    event: &'static str,
) {
    let n = result.len();
    if n == 0 {
        if db.remove(dst).is_some() {
            db.notify(notify::GENERIC, "del", dst);
        }
    } else {
        db.set(dst, Value::Set(Box::new(result)), false);
        db.notify(notify::SET, event, dst);
    }
    out.int(n as i64);
}

/// Writes a whole set as a set reply, in its own order.
fn reply_members(out: &mut ReplyWriter<'_>, s: &SetValue) {
    out.set(s.len());
    s.for_each(|m| out.bulk(m));
}

// ---------------------------------------------------------------------------------------------
// SADD, SREM, SMOVE

fn sadd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let key = &args[1][..];
    let max = ctx.settings.set_max_intset_entries;
    let db = &mut ctx.db;
    let dirty = db.dirty;
    let added = match get_set(db, key)? {
        Some(s) => args[2..].iter().filter(|m| s.add(m, max)).count(),
        None => {
            let mut s = SetValue::new_for(&args[2]);
            let added = args[2..].iter().filter(|m| s.add(m, max)).count();
            db.set(key, Value::Set(Box::new(s)), false);
            added
        }
    };
    db.dirty = dirty + added as u64;
    if added > 0 {
        db.notify(notify::SET, "sadd", key);
    }
    ctx.out.int(added as i64);
    Ok(())
}

fn srem(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let key = &args[1][..];
    let db = &mut ctx.db;
    let mut removed = 0;
    let mut empty = false;
    if let Some(s) = get_set(db, key)? {
        for m in &args[2..] {
            if s.remove(m) {
                removed += 1;
                if s.is_empty() {
                    empty = true;
                    break;
                }
            }
        }
    }
    if removed > 0 {
        db.notify(notify::SET, "srem", key);
    }
    if empty {
        delete_emptied(db, key);
    }
    db.dirty += removed;
    ctx.out.int(removed as i64);
    Ok(())
}

fn smove(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let (src, dst, member) = (&args[1][..], &args[2][..], &args[3][..]);
    let max = ctx.settings.set_max_intset_entries;
    let Ctx { db, out, .. } = ctx;
    let is_set = |e: &mut crate::db::Entry| matches!(e.value, Value::Set(_));
    let src_type = db.get(src).map(is_set);
    let dst_type = db.get(dst).map(is_set);
    let Some(src_is_set) = src_type else {
        out.int(0);
        return Ok(());
    };
    if !src_is_set || dst_type == Some(false) {
        return Err(CmdError::WrongType);
    }
    if src == dst {
        let found = get_set(db, src)?.is_some_and(|s| s.contains(member));
        out.int(found as i64);
        return Ok(());
    }
    let Some(s) = get_set(db, src)? else {
        out.int(0);
        return Ok(());
    };
    if !s.remove(member) {
        out.int(0);
        return Ok(());
    }
    let emptied = s.is_empty();
    db.notify(notify::SET, "srem", src);
    if emptied {
        delete_emptied(db, src);
    }
    let dirty = db.dirty + 1;
    let added = match get_set(db, dst)? {
        Some(d) => d.add(member, max),
        None => {
            let mut d = SetValue::new_for(member);
            d.add(member, max);
            db.set(dst, Value::Set(Box::new(d)), false);
            true
        }
    };
    db.dirty = dirty + added as u64;
    if added {
        db.notify(notify::SET, "sadd", dst);
    }
    out.int(1);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reads of one set

fn read_int(ctx: &mut Ctx<'_, '_>, f: impl FnOnce(&SetValue, &[bytes::Bytes]) -> i64) -> CmdResult {
    let Ctx {
        args,
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let s = get_set(db, &args[1]);
    count(hits, misses, &s);
    out.int(s?.map_or(0, |s| f(s, args)));
    Ok(())
}

fn sismember(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    read_int(ctx, |s, a| s.contains(&a[2]) as i64)
}

fn scard(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    read_int(ctx, |s, _| s.len() as i64)
}

fn smismember(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let Ctx {
        args,
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let s = get_set(db, &args[1]);
    count(hits, misses, &s);
    let s = s?;
    out.array(args.len() - 2);
    for m in &args[2..] {
        out.int(s.as_ref().is_some_and(|s| s.contains(m)) as i64);
    }
    Ok(())
}

fn smembers(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    inter_generic(ctx, 1..ctx.args.len(), None, None)
}

fn sscan(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let cursor = parse_cursor(&args[2])?;
    let Ctx {
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let s = get_set(db, &args[1]);
    count(hits, misses, &s);
    let Some(s) = s? else {
        scan_reply(out, 0, &Batch::new(out.proto));
        return Ok(());
    };
    let o = parse_scan_opts(args, 3)?;
    let mut items = Batch::new(out.proto);
    let next = s.scan(cursor, o.count, |m| {
        if o.matches(m) {
            items.bulk(m);
        }
    });
    scan_reply(out, next, &items);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// SPOP, SRANDMEMBER

fn spop(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    match args.len() {
        3 => return spop_count(ctx),
        n if n > 3 => return Err(CmdError::Syntax),
        _ => {}
    }
    let key = &args[1][..];
    let Ctx { db, out, .. } = ctx;
    let Some(s) = get_set(db, key)? else {
        out.null();
        return Ok(());
    };
    let m = s.pop_random(&mut rand::thread_rng());
    let empty = s.is_empty();
    out.bulk(&m);
    db.notify(notify::SET, "spop", key);
    if empty {
        delete_emptied(db, key);
    }
    db.dirty += 1;
    // The member chosen at random, so every reader removes the same one.
    db.propagate_as([
        Bytes::from_static(b"SREM"),
        args[1].clone(),
        Bytes::copy_from_slice(&m),
    ]);
    Ok(())
}

fn spop_count(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let key = &args[1][..];
    let positive = || CmdError::err("value is out of range, must be positive");
    let n = crate::util::num::parse_i64(&args[2]).ok_or_else(positive)?;
    let n = u64::try_from(n).map_err(|_| positive())?;
    let Ctx { db, out, hits, .. } = ctx;
    let Some(s) = get_set(db, key)? else {
        out.set(0);
        return Ok(());
    };
    if n == 0 {
        out.set(0);
        return Ok(());
    }
    let size = s.len();
    if n >= size as u64 {
        // The whole set, replied as Redis's SUNION of it (a read lookup: one hit).
        reply_members(out, s);
        *hits += 1;
        db.notify(notify::SET, "spop", key);
        delete_emptied(db, key);
        // Redis counts the members removed, not the count asked for.
        db.dirty += size as u64;
        db.propagate_as([Bytes::from_static(b"DEL"), args[1].clone()]);
    } else {
        let mut rng = rand::thread_rng();
        out.set(n as usize);
        let mut srem = vec![Bytes::from_static(b"SREM"), args[1].clone()];
        for _ in 0..n {
            let m = s.pop_random(&mut rng);
            out.bulk(&m);
            srem.push(Bytes::copy_from_slice(&m));
        }
        db.dirty += n;
        db.notify(notify::SET, "spop", key);
        db.propagate_as(srem);
    }
    Ok(())
}

fn srandmember(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let n = match args.len() {
        3 => Some(signed_count(&args[2])?),
        n if n > 3 => return Err(CmdError::Syntax),
        _ => None,
    };
    let Ctx {
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let s = get_set(db, &args[1]);
    count(hits, misses, &s);
    let s = s?;
    let mut rng = rand::thread_rng();
    let mut tmp = itoa::Buffer::new();
    let Some(n) = n else {
        match s {
            Some(s) => out.bulk(s.nth(rng.gen_range(0..s.len())).bytes(&mut tmp)),
            None => out.null(),
        }
        return Ok(());
    };
    let Some(s) = s else {
        out.array(0);
        return Ok(());
    };
    let count = n.unsigned_abs() as usize;
    let size = s.len();
    if count == 0 {
        out.array(0);
    } else if n < 0 || count == 1 {
        out.array(count);
        for _ in 0..count {
            out.bulk(s.nth(rng.gen_range(0..size)).bytes(&mut tmp));
        }
    } else if count >= size {
        out.array(size);
        s.for_each(|m| out.bulk(m));
    } else {
        out.array(count);
        for i in rand::seq::index::sample(&mut rng, size, count) {
            out.bulk(s.nth(i).bytes(&mut tmp));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// SINTER, SINTERCARD, SINTERSTORE

/// Looks up every source set: its size, or None for a missing key. These are read lookups
/// (hits and misses count, the STORE variants included); the first key of another type stops
/// with WRONGTYPE.
fn lookup_sources(
    ctx: &mut Ctx<'_, '_>,
    keys: &[bytes::Bytes],
) -> Result<Vec<Option<usize>>, CmdError> {
    let Ctx {
        db, hits, misses, ..
    } = ctx;
    let mut sizes = Vec::with_capacity(keys.len());
    for k in keys {
        let s = get_set(db, k).map(|s| s.map(|s| s.len()));
        count(hits, misses, &s);
        sizes.push(s?);
    }
    Ok(sizes)
}

fn members_of(db: &mut Db<'_>, key: &[u8]) -> Vec<SmallBytes> {
    match get_set(db, key) {
        Ok(Some(s)) => s.members(),
        _ => Vec::new(),
    }
}

/// SINTER (`dst` None, `limit` None), SINTERCARD (`limit` Some: 0 = no limit) and SINTERSTORE
/// over the keys `args[keys]`.
fn inter_generic(
    ctx: &mut Ctx<'_, '_>,
    keys: std::ops::Range<usize>,
    dst: Option<&[u8]>,
    limit: Option<u64>,
) -> CmdResult {
    let args = ctx.args;
    let keys = &args[keys];
    let sizes = lookup_sources(ctx, keys)?;
    let max = ctx.settings.set_max_intset_entries;
    let event = ctx.cmd.name;
    let Ctx { db, out, .. } = ctx;
    let mut result: Vec<SmallBytes> = Vec::new();
    if sizes.iter().all(Option::is_some) {
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by_key(|&i| sizes[i]);
        let smallest = &keys[order[0]];
        result = members_of(db, smallest);
        for &j in &order[1..] {
            if result.is_empty() {
                break;
            }
            if keys[j] == *smallest {
                continue;
            }
            if let Ok(Some(s)) = get_set(db, &keys[j]) {
                result.retain(|m| s.contains(m));
            }
        }
    }
    match (dst, limit) {
        (Some(dst), _) => {
            let s = SetValue::from_members(result.iter().map(|m| &m[..]), max);
            store(db, out, dst, s, event);
        }
        (None, Some(limit)) => {
            let n = result.len() as u64;
            out.int(if limit > 0 { n.min(limit) } else { n } as i64);
        }
        (None, None) => {
            out.set(result.len());
            for m in &result {
                out.bulk(m);
            }
        }
    }
    Ok(())
}

fn sinter(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    inter_generic(ctx, 1..ctx.args.len(), None, None)
}

fn sinterstore(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    inter_generic(ctx, 2..args.len(), Some(&args[1]), None)
}

fn sintercard(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let numkeys_err = || CmdError::err("numkeys should be greater than 0");
    let numkeys = crate::util::num::parse_i64(&args[1]).ok_or_else(numkeys_err)?;
    if numkeys < 1 {
        return Err(numkeys_err());
    }
    if numkeys > (args.len() - 2) as i64 {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    let end = 2 + numkeys as usize;
    let mut limit = 0u64;
    let mut j = end;
    while j < args.len() {
        if args[j].eq_ignore_ascii_case(b"limit") && j + 1 < args.len() {
            let negative = || CmdError::err("LIMIT can't be negative");
            let n = crate::util::num::parse_i64(&args[j + 1]).ok_or_else(negative)?;
            limit = u64::try_from(n).map_err(|_| negative())?;
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    inter_generic(ctx, 2..end, None, Some(limit))
}

// ---------------------------------------------------------------------------------------------
// SUNION, SDIFF and their STORE variants

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Diff,
}

fn union_diff(ctx: &mut Ctx<'_, '_>, first: usize, dst: Option<&[u8]>, op: Op) -> CmdResult {
    let args = ctx.args;
    let keys = &args[first..];
    let sizes = lookup_sources(ctx, keys)?;
    let max = ctx.settings.set_max_intset_entries;
    let event = ctx.cmd.name;
    let Ctx { db, out, .. } = ctx;
    let mut result = SetValue::default();
    let same = sizes[0].is_some() && keys[1..].iter().any(|k| *k == keys[0]);
    match op {
        Op::Union => {
            for (k, size) in keys.iter().zip(&sizes) {
                if size.is_some() {
                    for m in members_of(db, k) {
                        result.add(&m, max);
                    }
                }
            }
        }
        Op::Diff if same => {}
        Op::Diff => {
            if let Some(size0) = sizes[0] {
                // Redis picks between two algorithms by estimated work; the second one starts
                // from a copy of the first set, which decides the result's encoding.
                let present = sizes.iter().flatten().count() as u64;
                let one = present * size0 as u64 / 2;
                let two: u64 = sizes.iter().flatten().map(|&n| n as u64).sum();
                let first_members = members_of(db, &keys[0]);
                if one <= two {
                    let mut keep = first_members;
                    for (k, size) in keys[1..].iter().zip(&sizes[1..]) {
                        if size.is_some() && !keep.is_empty() {
                            if let Ok(Some(s)) = get_set(db, k) {
                                keep.retain(|m| !s.contains(m));
                            }
                        }
                    }
                    result = SetValue::from_members(keep.iter().map(|m| &m[..]), max);
                } else {
                    result = SetValue::from_members(first_members.iter().map(|m| &m[..]), max);
                    for (k, size) in keys[1..].iter().zip(&sizes[1..]) {
                        if size.is_none() || result.is_empty() {
                            continue;
                        }
                        for m in members_of(db, k) {
                            result.remove(&m);
                        }
                    }
                }
            }
        }
    }
    match dst {
        Some(dst) => store(db, out, dst, result, event),
        None => reply_members(out, &result),
    }
    Ok(())
}

fn sunion(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    union_diff(ctx, 1, None, Op::Union)
}

fn sunionstore(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    union_diff(ctx, 2, Some(&args[1]), Op::Union)
}

fn sdiff(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    union_diff(ctx, 1, None, Op::Diff)
}

fn sdiffstore(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    union_diff(ctx, 2, Some(&args[1]), Op::Diff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_match_redis() {
        let find = |n: &str| COMMANDS.iter().find(|c| c.name == n);
        assert_eq!(
            find("sinterstore").map(Command::legacy_range),
            Some((1, -1, 1))
        );
        assert_eq!(find("smove").map(Command::legacy_range), Some((1, 2, 1)));
        assert_eq!(
            find("sintercard").map(Command::legacy_range),
            Some((0, 0, 0))
        );
        let sadd = find("sadd").map(Command::acl_categories);
        assert_eq!(sadd, Some(acl::WRITE | acl::SET | acl::FAST));
    }
}
