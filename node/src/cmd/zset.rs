//! Sorted set commands (Redis `t_zset.c`, "sorted set commands" half): the rows and handlers.
//!
//! The data structure lives in [`crate::db::types::zset`]; this file parses arguments in
//! Redis's order (it decides which error wins), looks keys up and writes replies.
//!
//! Conventions:
//!
//! - Read commands look keys up with [`zread`] (a keyspace hit or miss, counted before any
//!   WRONGTYPE, like `lookupKeyRead`); write commands with [`zwrite`] (no statistics).
//! - The dirty counter follows Redis: ZADD counts added + updated members, ZREM and the
//!   ZREMRANGEBY* commands removed members, stores one per written or deleted destination.
//!   `Db::set`/`Db::remove` count one change themselves, so [`put_quiet`]/[`del_quiet`] take
//!   that back where Redis counts otherwise.
//! - A sorted set emptied by a command is deleted.
//! - Scores are replied with `ReplyWriter::double` (`%.17g`, bulk in RESP2, `,` in RESP3);
//!   WITHSCORES replies are flat in RESP2 and `[member, score]` pairs in RESP3.
//! - BZPOPMIN/BZPOPMAX/BZMPOP serve at once when an input has data; otherwise they block
//!   ([`crate::blocking`], kind `zset`) and are re-run for the key that received members.

use bytes::Bytes;
use rand::seq::index::sample;

use crate::cmd::keys::parse_cursor;
use crate::cmd::{acl, flags, kflags, BeginSearch, CmdResult, Command, FindKeys, KeySpec};
use crate::config::notify;
use crate::db::types::set::SetValue;
use crate::db::types::zset::{cmp_elem, ZSetLimits, ZSetValue};
use crate::db::{Db, Value};
use crate::dispatch::Ctx;
use crate::error::CmdError;
use crate::resp::ReplyWriter;
use crate::util::glob::glob_match;
use crate::util::num;

// ---------------------------------------------------------------------------------------------
// Key specs

const KS_RO: &[KeySpec] = &[KeySpec::one(1, kflags::RO)];
const KS_RO_ACCESS: &[KeySpec] = &[KeySpec::one(1, kflags::RO | kflags::ACCESS)];
const KS_RW_UPDATE: &[KeySpec] = &[KeySpec::one(1, kflags::RW | kflags::UPDATE)];
const KS_RW_ACCESS_UPDATE: &[KeySpec] = &[KeySpec::one(
    1,
    kflags::RW | kflags::ACCESS | kflags::UPDATE,
)];
const KS_RW_DELETE: &[KeySpec] = &[KeySpec::one(1, kflags::RW | kflags::DELETE)];
const KS_POP: &[KeySpec] = &[KeySpec::one(
    1,
    kflags::RW | kflags::ACCESS | kflags::DELETE,
)];
const KS_BPOP: &[KeySpec] = &[KeySpec::range(
    1,
    -2,
    1,
    kflags::RW | kflags::ACCESS | kflags::DELETE,
)];

/// Keys counted by the argument at `index` (`numkeys key [key ...]`).
const fn keynum(index: i32, flags: u16) -> KeySpec {
    KeySpec {
        notes: "",
        flags,
        begin: BeginSearch::Index(index),
        find: FindKeys::Keynum {
            keynumidx: 0,
            firstkey: 1,
            step: 1,
        },
    }
}

const KS_MPOP: &[KeySpec] = &[keynum(1, kflags::RW | kflags::ACCESS | kflags::DELETE)];
const KS_BMPOP: &[KeySpec] = &[keynum(2, kflags::RW | kflags::ACCESS | kflags::DELETE)];
const KS_OPS: &[KeySpec] = &[keynum(1, kflags::RO | kflags::ACCESS)];
const KS_OPSTORE: &[KeySpec] = &[
    KeySpec::one(1, kflags::OW | kflags::UPDATE),
    keynum(2, kflags::RO | kflags::ACCESS),
];
const KS_RANGESTORE: &[KeySpec] = &[
    KeySpec::one(1, kflags::OW | kflags::UPDATE),
    KeySpec::one(2, kflags::RO | kflags::ACCESS),
];

// ---------------------------------------------------------------------------------------------
// The rows

const R: u32 = flags::READONLY;
const RF: u32 = flags::READONLY | flags::FAST;
const W: u32 = flags::WRITE;
const WF: u32 = flags::WRITE | flags::FAST;
const WD: u32 = flags::WRITE | flags::DENYOOM;
const WDF: u32 = flags::WRITE | flags::DENYOOM | flags::FAST;
const Z: u32 = acl::SORTEDSET;
const LOGN: &str = "O(log(N))";
const RANGE: &str = "O(log(N)+M) with N the number of elements and M the number returned";

macro_rules! row {
    ($name:literal, $arity:expr, $flags:expr, $ks:expr, $h:ident, $since:literal, $cx:expr, $sum:literal) => {
        Command {
            name: $name,
            arity: $arity,
            flags: $flags,
            acl: Z,
            key_specs: $ks,
            handler: Some($h),
            group: "sorted-set",
            since: $since,
            complexity: $cx,
            summary: $sum,
            ..Command::DEFAULT
        }
    };
}

pub static COMMANDS: &[Command] = &[
    row!("zadd", -4, WDF, KS_RW_UPDATE, zadd_cmd, "1.2.0", LOGN,
        "Adds members with scores, or updates their scores, with NX/XX/GT/LT/CH/INCR options."),
    row!("zincrby", 4, WDF, KS_RW_ACCESS_UPDATE, zincrby_cmd, "1.2.0", LOGN,
        "Adds to the score of a member, creating it if needed."),
    row!("zscore", 3, RF, KS_RO_ACCESS, zscore_cmd, "1.2.0", "O(1)",
        "Returns the score of a member."),
    row!("zmscore", -3, RF, KS_RO_ACCESS, zmscore_cmd, "6.2.0", "O(N)",
        "Returns the scores of several members."),
    row!("zcard", 2, RF, KS_RO, zcard_cmd, "1.2.0", "O(1)",
        "Returns the number of members."),
    row!("zcount", 4, RF, KS_RO_ACCESS, zcount_cmd, "2.0.0", LOGN,
        "Counts the members within a score range."),
    row!("zlexcount", 4, RF, KS_RO_ACCESS, zlexcount_cmd, "2.8.9", LOGN,
        "Counts the members within a lexicographical range."),
    row!("zrank", 3, RF, KS_RO_ACCESS, zrank_cmd, "2.0.0", LOGN,
        "Returns the rank of a member in ascending score order."),
    row!("zrevrank", 3, RF, KS_RO_ACCESS, zrevrank_cmd, "2.0.0", LOGN,
        "Returns the rank of a member in descending score order."),
    row!("zrange", -4, R, KS_RO_ACCESS, zrange_cmd, "1.2.0", RANGE,
        "Returns members by rank, score or lexicographical range, optionally reversed and limited."),
    row!("zrangestore", -5, WD, KS_RANGESTORE, zrangestore_cmd, "6.2.0", RANGE,
        "Stores a range of members of one sorted set into another key."),
    row!("zrangebyscore", -4, R, KS_RO_ACCESS, zrangebyscore_cmd, "1.0.5", RANGE,
        "Returns members within a score range (legacy form of ZRANGE BYSCORE)."),
    row!("zrevrangebyscore", -4, R, KS_RO_ACCESS, zrevrangebyscore_cmd, "2.2.0", RANGE,
        "Returns members within a score range, highest first (legacy form of ZRANGE BYSCORE REV)."),
    row!("zrangebylex", -4, R, KS_RO_ACCESS, zrangebylex_cmd, "2.8.9", RANGE,
        "Returns members within a lexicographical range (legacy form of ZRANGE BYLEX)."),
    row!("zrevrangebylex", -4, R, KS_RO_ACCESS, zrevrangebylex_cmd, "2.8.9", RANGE,
        "Returns members within a lexicographical range, reversed (legacy form of ZRANGE BYLEX REV)."),
    row!("zrevrange", -4, R, KS_RO_ACCESS, zrevrange_cmd, "1.2.0", RANGE,
        "Returns members by rank, highest score first (legacy form of ZRANGE REV)."),
    row!("zrem", -3, WF, KS_RW_DELETE, zrem_cmd, "1.2.0", "O(M*log(N))",
        "Removes members."),
    row!("zremrangebyrank", 4, W, KS_RW_DELETE, zremrangebyrank_cmd, "2.0.0", RANGE,
        "Removes the members within a rank range."),
    row!("zremrangebyscore", 4, W, KS_RW_DELETE, zremrangebyscore_cmd, "1.2.0", RANGE,
        "Removes the members within a score range."),
    row!("zremrangebylex", 4, W, KS_RW_DELETE, zremrangebylex_cmd, "2.8.9", RANGE,
        "Removes the members within a lexicographical range."),
    row!("zpopmin", -2, WF, KS_POP, zpopmin_cmd, "5.0.0", "O(log(N)*M)",
        "Removes and returns the members with the lowest scores."),
    row!("zpopmax", -2, WF, KS_POP, zpopmax_cmd, "5.0.0", "O(log(N)*M)",
        "Removes and returns the members with the highest scores."),
    row!("zmpop", -4, W, KS_MPOP, zmpop_cmd, "7.0.0", "O(K)+O(M*log(N))",
        "Removes and returns members with the lowest or highest scores from the first non-empty sorted set."),
    row!("bzpopmin", -3, flags::WRITE | flags::NOSCRIPT | flags::FAST | flags::BLOCKING, KS_BPOP,
        bzpopmin_cmd, "5.0.0", LOGN,
        "Removes and returns the member with the lowest score from the first non-empty sorted set, or waits."),
    row!("bzpopmax", -3, flags::WRITE | flags::NOSCRIPT | flags::FAST | flags::BLOCKING, KS_BPOP,
        bzpopmax_cmd, "5.0.0", LOGN,
        "Removes and returns the member with the highest score from the first non-empty sorted set, or waits."),
    row!("bzmpop", -5, flags::WRITE | flags::BLOCKING, KS_BMPOP, bzmpop_cmd, "7.0.0",
        "O(K)+O(M*log(N))",
        "Removes and returns members from the first non-empty sorted set, or waits."),
    Command {
        name: "zrandmember",
        arity: -2,
        flags: R,
        acl: Z,
        tips: &["nondeterministic_output"],
        key_specs: KS_RO_ACCESS,
        handler: Some(zrandmember_cmd),
        group: "sorted-set",
        since: "6.2.0",
        complexity: "O(N) where N is the number of members returned",
        summary: "Returns random members, optionally distinct and with scores.",
        ..Command::DEFAULT
    },
    row!("zunion", -3, R, KS_OPS, zunion_cmd, "6.2.0", "O(N)+O(M*log(M))",
        "Returns the union of sorted sets (and sets), with weights and an aggregate."),
    row!("zinter", -3, R, KS_OPS, zinter_cmd, "6.2.0", "O(N*K)+O(M*log(M))",
        "Returns the intersection of sorted sets (and sets), with weights and an aggregate."),
    row!("zdiff", -3, R, KS_OPS, zdiff_cmd, "6.2.0", "O(L + (N-K)log(N))",
        "Returns the members of the first sorted set that are in none of the others."),
    row!("zunionstore", -4, WD, KS_OPSTORE, zunionstore_cmd, "2.0.0", "O(N)+O(M*log(M))",
        "Stores the union of sorted sets (and sets) into a key."),
    row!("zinterstore", -4, WD, KS_OPSTORE, zinterstore_cmd, "2.0.0", "O(N*K)+O(M*log(M))",
        "Stores the intersection of sorted sets (and sets) into a key."),
    row!("zdiffstore", -4, WD, KS_OPSTORE, zdiffstore_cmd, "6.2.0", "O(L + (N-K)log(N))",
        "Stores the difference of sorted sets into a key."),
    row!("zintercard", -3, R, KS_OPS, zintercard_cmd, "7.0.0", "O(N*K)",
        "Counts the members of the intersection of sorted sets, up to a limit."),
    Command {
        name: "zscan",
        arity: -3,
        flags: R,
        acl: Z,
        tips: &["nondeterministic_output"],
        key_specs: KS_RO_ACCESS,
        handler: Some(zscan_cmd),
        group: "sorted-set",
        since: "2.8.0",
        complexity: "O(1) for every call, O(N) for a complete iteration",
        summary: "Iterates over the members and scores of a sorted set.",
        ..Command::DEFAULT
    },
];

// ---------------------------------------------------------------------------------------------
// Shared helpers

const NAN_ERR: &str = "ERR resulting score is not a number (NaN)";

fn is_kw(arg: &[u8], kw: &str) -> bool {
    arg.eq_ignore_ascii_case(kw.as_bytes())
}

/// A read lookup (`lookupKeyRead`): counts a hit or miss, then checks the type.
fn zread<'a>(
    db: &'a mut Db<'_>,
    hits: &mut u64,
    misses: &mut u64,
    key: &[u8],
) -> Result<Option<&'a mut ZSetValue>, CmdError> {
    match db.get(key) {
        None => {
            *misses += 1;
            Ok(None)
        }
        Some(e) => {
            *hits += 1;
            match &mut e.value {
                Value::ZSet(z) => Ok(Some(z)),
                _ => Err(CmdError::WrongType),
            }
        }
    }
}

/// A write lookup (`lookupKeyWrite`): no statistics, then the type check.
fn zwrite<'a>(db: &'a mut Db<'_>, key: &[u8]) -> Result<Option<&'a mut ZSetValue>, CmdError> {
    match db.get(key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// Stores a new sorted set without counting a change (the caller counts Redis's way).
fn put_quiet(db: &mut Db<'_>, key: &[u8], z: ZSetValue) {
    db.set(key, Value::ZSet(Box::new(z)), false);
    db.dirty -= 1;
}

/// Deletes a key without counting a change (the caller counts Redis's way).
fn del_quiet(db: &mut Db<'_>, key: &[u8]) {
    if db.remove(key).is_some() {
        db.dirty -= 1;
    }
}

/// Deletes `key` if its sorted set is now empty (the `del` event).
fn drop_if_empty(db: &mut Db<'_>, key: &[u8]) {
    if matches!(db.peek(key), Some(e) if matches!(&e.value, Value::ZSet(z) if z.is_empty())) {
        del_quiet(db, key);
        db.notify(notify::GENERIC, "del", key);
    }
}

/// Writes members, with scores if asked: flat in RESP2, `[member, score]` pairs in RESP3.
fn reply_elems(out: &mut ReplyWriter<'_>, elems: &[(Vec<u8>, f64)], withscores: bool) {
    let nested = withscores && out.is_resp3();
    out.array(if withscores && !nested {
        elems.len() * 2
    } else {
        elems.len()
    });
    for (m, s) in elems {
        if nested {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            out.double(*s);
        }
    }
}

/// An integer argument that must fit `min..=max`; `msg` replaces both error texts.
fn ranged_long(arg: &[u8], min: i64, max: i64, msg: Option<&'static str>) -> Result<i64, CmdError> {
    let err_msg = |default: CmdError| match msg {
        Some(m) => CmdError::err(m),
        None => default,
    };
    let v = num::parse_i64(arg).ok_or_else(|| err_msg(CmdError::NotInteger))?;
    if v < min || v > max {
        return Err(err_msg(CmdError::err(format!(
            "value is out of range, value must between {min} and {max}"
        ))));
    }
    Ok(v)
}

/// `getPositiveLongFromObjectOrReply`: one message (`msg`, or Redis's default) for both a
/// non-integer and a negative value.
fn positive_long(arg: &[u8], msg: Option<&'static str>) -> Result<i64, CmdError> {
    num::parse_i64(arg)
        .filter(|&v| v >= 0)
        .ok_or_else(|| CmdError::err(msg.unwrap_or("value is out of range, must be positive")))
}

// ---------------------------------------------------------------------------------------------
// Ranges

/// A score range (`zrangespec`): `(` makes a bound exclusive.
#[derive(Debug, Clone, Copy)]
struct ScoreRange {
    min: f64,
    minex: bool,
    max: f64,
    maxex: bool,
}

fn parse_score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    match arg.first() {
        Some(b'(') => num::parse_strtod(&arg[1..]).map(|v| (v, true)),
        _ => num::parse_strtod(arg).map(|v| (v, false)),
    }
}

fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
    let err = || CmdError::err("min or max is not a float");
    let (min, minex) = parse_score_bound(min).ok_or_else(err)?;
    let (max, maxex) = parse_score_bound(max).ok_or_else(err)?;
    Ok(ScoreRange {
        min,
        minex,
        max,
        maxex,
    })
}

/// One end of a lexicographical range (`-`, `+`, `[x`, `(x`).
#[derive(Debug, Clone)]
enum LexBound {
    Min,
    Max,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

fn parse_lex_bound(arg: &[u8]) -> Option<LexBound> {
    // `+` and `-` are compared as C strings: the argument ends at a NUL byte.
    let alone = arg.len() == 1 || arg.get(1) == Some(&0);
    match arg.first()? {
        b'+' if alone => Some(LexBound::Max),
        b'-' if alone => Some(LexBound::Min),
        b'(' => Some(LexBound::Excl(arg[1..].to_vec())),
        b'[' => Some(LexBound::Incl(arg[1..].to_vec())),
        _ => None,
    }
}

fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<(LexBound, LexBound), CmdError> {
    let err = || CmdError::err("min or max not valid string range item");
    let lo = parse_lex_bound(min).ok_or_else(err)?;
    let hi = parse_lex_bound(max).ok_or_else(err)?;
    Ok((lo, hi))
}

/// The ascending ranks `lo..hi` of the members within a score range.
fn score_ranks(z: &ZSetValue, r: &ScoreRange) -> (usize, usize) {
    let lo = z.count_prefix(|s, _| if r.minex { s <= r.min } else { s < r.min });
    let hi = z.count_prefix(|s, _| if r.maxex { s < r.max } else { s <= r.max });
    (lo, hi.max(lo))
}

/// Whether `m` is not below `min` / not above `max`.
fn lex_gte_min(m: &[u8], min: &LexBound) -> bool {
    match min {
        LexBound::Min => true,
        LexBound::Max => false,
        LexBound::Incl(x) => m >= x.as_slice(),
        LexBound::Excl(x) => m > x.as_slice(),
    }
}

fn lex_lte_max(m: &[u8], max: &LexBound) -> bool {
    match max {
        LexBound::Min => false,
        LexBound::Max => true,
        LexBound::Incl(x) => m <= x.as_slice(),
        LexBound::Excl(x) => m < x.as_slice(),
    }
}

/// The ascending ranks of the members a lexicographical range selects, walked from the
/// lowest rank (from the highest with `rev`), after LIMIT `offset` / `limit` (a negative
/// offset selects nothing, a negative limit is no limit).
///
/// When every member has the same score (the case the lex commands are for) the members are
/// in order and this is a binary search. Otherwise Redis's answer depends on the order by
/// score (its documentation calls it unspecified), and this walks as its listpack encoding
/// does, so small sorted sets answer as in Redis: nothing unless the last member is not
/// below `min` and the first not above `max`; then the walk starts at the first member, in
/// order, not below `min` if that one is not above `max` (with `rev`: from the end, the
/// first not above `max` if it is not below `min`), skips `offset` members whatever they
/// are, and goes on while members are not above `max` (not below `min`).
fn lex_select(
    z: &ZSetValue,
    min: &LexBound,
    max: &LexBound,
    rev: bool,
    offset: i64,
    limit: i64,
) -> (usize, usize) {
    let n = z.len();
    let (Some((low, low_score)), Some((high, high_score))) =
        (z.get(0), n.checked_sub(1).and_then(|last| z.get(last)))
    else {
        return (0, 0);
    };
    if !lex_gte_min(high, min) || !lex_lte_max(low, max) {
        return (0, 0);
    }
    if low_score == high_score {
        let lo = z.count_prefix(|_, m| !lex_gte_min(m, min));
        let hi = z.count_prefix(|_, m| lex_lte_max(m, max));
        return apply_limit(lo, hi.max(lo), offset, limit, rev);
    }
    if offset < 0 {
        return (0, 0);
    }
    // Entering the range from the walk's side, and staying in it towards the other.
    let enters = |m: &[u8]| {
        if rev {
            lex_lte_max(m, max)
        } else {
            lex_gte_min(m, min)
        }
    };
    let stays = |m: &[u8]| {
        if rev {
            lex_gte_min(m, min)
        } else {
            lex_lte_max(m, max)
        }
    };
    // Positions in walk order: the first member entering the range, then where it ends.
    let (mut first, mut stop, mut dead) = (None::<usize>, None::<usize>, false);
    let mut pos = 0usize;
    z.for_range(0, n, rev, &mut |m, _| {
        match first {
            None if !dead && enters(m) => {
                if stays(m) {
                    first = Some(pos);
                } else {
                    dead = true;
                }
            }
            Some(f) if stop.is_none() && pos >= f + offset as usize && !stays(m) => {
                stop = Some(pos);
            }
            _ => {}
        }
        pos += 1;
    });
    let Some(first) = first else {
        return (0, 0);
    };
    let start = first.saturating_add(offset as usize);
    let mut end = stop.unwrap_or(n).max(start).min(n);
    if limit >= 0 {
        end = end.min(start.saturating_add(limit as usize));
    }
    if start >= end {
        return (0, 0);
    }
    if rev {
        (n - end, n - start)
    } else {
        (start, end)
    }
}

/// Applies LIMIT offset/count to the ranks `lo..hi` walked forwards or backwards; returns the
/// ascending ranks to emit. A negative offset skips everything, a negative count is no limit.
fn apply_limit(lo: usize, hi: usize, offset: i64, limit: i64, rev: bool) -> (usize, usize) {
    if offset < 0 {
        return (lo, lo);
    }
    let n = hi - lo;
    let skip = (offset as u64).min(n as u64) as usize;
    let take = if limit < 0 {
        n - skip
    } else {
        (limit as u64).min((n - skip) as u64) as usize
    };
    if rev {
        (hi - skip - take, hi - skip)
    } else {
        (lo + skip, lo + skip + take)
    }
}

// ---------------------------------------------------------------------------------------------
// ZADD, ZINCRBY

#[derive(Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

fn zadd_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    zadd_generic(ctx, false)
}

fn zincrby_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    zadd_generic(ctx, true)
}

/// ZADD and ZINCRBY (which is ZADD with INCR set: it even accepts ZADD's flags, then fails on
/// the member count, as Redis).
fn zadd_generic(ctx: &mut Ctx<'_, '_>, incr: bool) -> CmdResult {
    let args = ctx.args;
    let key = &args[1][..];
    let mut f = AddFlags {
        incr,
        ..AddFlags::default()
    };
    let mut idx = 2;
    while idx < args.len() {
        let a = &args[idx][..];
        if is_kw(a, "nx") {
            f.nx = true;
        } else if is_kw(a, "xx") {
            f.xx = true;
        } else if is_kw(a, "ch") {
            f.ch = true;
        } else if is_kw(a, "incr") {
            f.incr = true;
        } else if is_kw(a, "gt") {
            f.gt = true;
        } else if is_kw(a, "lt") {
            f.lt = true;
        } else {
            break;
        }
        idx += 1;
    }
    let rest = &args[idx..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let n = rest.len() / 2;
    if f.nx && f.xx {
        return Err(CmdError::err(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(CmdError::err(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && n > 1 {
        return Err(CmdError::err(
            "INCR option supports a single increment-element pair",
        ));
    }
    let mut scores = Vec::with_capacity(n);
    for pair in rest.chunks(2) {
        scores.push(num::parse_f64(&pair[0]).ok_or(CmdError::NotFloat)?);
    }
    let limits = ctx.settings.zset_limits;
    let Ctx { db, out, .. } = ctx;

    let mut fresh = None;
    let z = match zwrite(db, key)? {
        Some(z) => z,
        None if f.xx => {
            if f.incr {
                out.null();
            } else {
                out.int(0);
            }
            return Ok(());
        }
        None => fresh.insert(ZSetValue::new()),
    };
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut last_score = 0.0;
    for (pair, &score) in rest.chunks(2).zip(&scores) {
        let member = &pair[1][..];
        match z.score(member) {
            Some(cur) => {
                if f.nx {
                    continue;
                }
                let mut score = score;
                if f.incr {
                    score += cur;
                    if score.is_nan() {
                        return Err(CmdError::raw(NAN_ERR));
                    }
                }
                if (f.lt && score >= cur) || (f.gt && score <= cur) {
                    continue;
                }
                last_score = score;
                processed += 1;
                if score != cur {
                    z.insert_with(member, score, limits);
                    updated += 1;
                }
            }
            None if f.xx => {}
            None => {
                z.insert_with(member, score, limits);
                last_score = score;
                added += 1;
                processed += 1;
            }
        }
    }
    if let Some(z) = fresh {
        if !z.is_empty() {
            put_quiet(db, key, z);
        }
    }
    db.dirty += (added + updated) as u64;
    if added + updated > 0 {
        db.notify(notify::ZSET, if f.incr { "zincr" } else { "zadd" }, key);
    }
    if f.incr {
        if processed > 0 {
            out.double(last_score);
        } else {
            out.null();
        }
    } else {
        out.int(if f.ch { added + updated } else { added });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ZSCORE, ZMSCORE, ZCARD, ZCOUNT, ZLEXCOUNT, ZRANK, ZREVRANK

fn zscore_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let Ctx {
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    match zread(db, hits, misses, &args[1])?.and_then(|z| z.score(&args[2])) {
        Some(s) => out.double(s),
        None => out.null(),
    }
    Ok(())
}

fn zmscore_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let Ctx {
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let z = zread(db, hits, misses, &args[1])?;
    out.array(args.len() - 2);
    for m in &args[2..] {
        match z.as_ref().and_then(|z| z.score(m)) {
            Some(s) => out.double(s),
            None => out.null(),
        }
    }
    Ok(())
}

fn zcard_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let Ctx {
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let n = zread(db, hits, misses, &args[1])?.map_or(0, |z| z.len());
    out.int(n as i64);
    Ok(())
}

fn zcount_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let r = parse_score_range(&args[2], &args[3])?;
    let Ctx {
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let n = zread(db, hits, misses, &args[1])?.map_or(0, |z| {
        let (lo, hi) = score_ranks(z, &r);
        hi - lo
    });
    out.int(n as i64);
    Ok(())
}

fn zlexcount_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let (min, max) = parse_lex_range(&args[2], &args[3])?;
    let Ctx {
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let n = zread(db, hits, misses, &args[1])?.map_or(0, |z| {
        let (lo, hi) = lex_select(z, &min, &max, false, 0, -1);
        hi - lo
    });
    out.int(n as i64);
    Ok(())
}

fn zrank_generic(ctx: &mut Ctx<'_, '_>, rev: bool) -> CmdResult {
    let args = ctx.args;
    let Ctx {
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let rank = zread(db, hits, misses, &args[1])?.and_then(|z| {
        z.rank(&args[2])
            .map(|r| if rev { z.len() - 1 - r } else { r })
    });
    match rank {
        Some(r) => out.int(r as i64),
        None => out.null(),
    }
    Ok(())
}

fn zrank_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    zrank_generic(ctx, false)
}

fn zrevrank_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    zrank_generic(ctx, true)
}

// ---------------------------------------------------------------------------------------------
// ZRANGE and friends

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

/// The parsed range of a ZRANGE-family command.
enum RangeSpec {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexBound, LexBound),
}

/// The ascending ranks selected by a range spec in `z`.
fn select(z: &ZSetValue, spec: &RangeSpec, rev: bool, offset: i64, limit: i64) -> (usize, usize) {
    let len = z.len() as i64;
    match spec {
        RangeSpec::Rank(start, end) => {
            let (mut start, mut end) = (*start, *end);
            if start < 0 {
                start += len;
            }
            if end < 0 {
                end += len;
            }
            if start < 0 {
                start = 0;
            }
            if start > end || start >= len {
                return (0, 0);
            }
            if end >= len {
                end = len - 1;
            }
            let (s, e) = (start as usize, end as usize);
            if rev {
                let n = len as usize;
                (n - 1 - e, n - s)
            } else {
                (s, e + 1)
            }
        }
        RangeSpec::Score(r) => {
            let (lo, hi) = score_ranks(z, r);
            apply_limit(lo, hi, offset, limit, rev)
        }
        RangeSpec::Lex(min, max) => lex_select(z, min, max, rev, offset, limit),
    }
}

/// Redis `zrangeGenericCommand`: `src` is the index of the source key; `dst` the destination
/// of ZRANGESTORE. `rtype`/`rev` are fixed by the legacy commands, `Auto`/`None` for ZRANGE.
fn zrange_generic(
    ctx: &mut Ctx<'_, '_>,
    src: usize,
    dst: Option<&[u8]>,
    mut rtype: RangeType,
    rev: Option<bool>,
) -> CmdResult {
    let args = ctx.args;
    let store = dst.is_some();
    let mut reverse = rev;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut withscores = false;
    let mut j = src + 3;
    while j < args.len() {
        let a = &args[j][..];
        let left = args.len() - j - 1;
        if !store && is_kw(a, "withscores") {
            withscores = true;
        } else if is_kw(a, "limit") && left >= 2 {
            offset = ctx.int_arg(j + 1)?;
            limit = ctx.int_arg(j + 2)?;
            j += 2;
        } else if reverse.is_none() && is_kw(a, "rev") {
            reverse = Some(true);
        } else if rtype == RangeType::Auto && is_kw(a, "bylex") {
            rtype = RangeType::Lex;
        } else if rtype == RangeType::Auto && is_kw(a, "byscore") {
            rtype = RangeType::Score;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let reverse = reverse.unwrap_or(false);
    if rtype == RangeType::Auto {
        rtype = RangeType::Rank;
    }
    if limit != -1 && rtype == RangeType::Rank {
        return Err(CmdError::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && rtype == RangeType::Lex {
        return Err(CmdError::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut min_i, mut max_i) = (src + 1, src + 2);
    if reverse && rtype != RangeType::Rank {
        std::mem::swap(&mut min_i, &mut max_i);
    }
    let spec = match rtype {
        RangeType::Score => RangeSpec::Score(parse_score_range(&args[min_i], &args[max_i])?),
        RangeType::Lex => {
            let (lo, hi) = parse_lex_range(&args[min_i], &args[max_i])?;
            RangeSpec::Lex(lo, hi)
        }
        _ => RangeSpec::Rank(ctx.int_arg(min_i)?, ctx.int_arg(max_i)?),
    };
    let limits = ctx.settings.zset_limits;
    let event = ctx.cmd.name;
    let Ctx {
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let Some(z) = zread(db, hits, misses, &args[src])? else {
        match dst {
            Some(dst) => {
                out.int(0);
                if db.remove(dst).is_some() {
                    db.notify(notify::GENERIC, "del", dst);
                }
            }
            None => out.array(0),
        }
        return Ok(());
    };
    let (lo, hi) = select(z, &spec, reverse, offset, limit);
    match dst {
        None => {
            let n = hi - lo;
            let nested = withscores && out.is_resp3();
            out.array(if withscores && !nested { n * 2 } else { n });
            z.for_range(lo, hi, reverse, &mut |m, s| {
                if nested {
                    out.array(2);
                }
                out.bulk(m);
                if withscores {
                    out.double(s);
                }
            });
        }
        Some(dst) => {
            let elems = z.collect_range(lo, hi, reverse);
            store_result(db, out, dst, &elems, limits, event);
        }
    }
    Ok(())
}

/// Writes a computed result to `dst` (or deletes `dst` if it is empty) and replies its size;
/// `event` is the command's keyspace event (`zunionstore`...).
fn store_result(
    db: &mut Db<'_>,
    out: &mut ReplyWriter<'_>,
    dst: &[u8],
    elems: &[(Vec<u8>, f64)],
    limits: ZSetLimits,
    event: &'static str,
) {
    if elems.is_empty() {
        if db.remove(dst).is_some() {
            db.notify(notify::GENERIC, "del", dst);
        }
        out.int(0);
    } else {
        db.set(
            dst,
            Value::ZSet(Box::new(ZSetValue::from_pairs(elems, limits))),
            false,
        );
        db.notify(notify::ZSET, event, dst);
        out.int(elems.len() as i64);
    }
}

fn zrange_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    zrange_generic(ctx, 1, None, RangeType::Auto, None)
}

fn zrangestore_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    zrange_generic(ctx, 2, Some(&args[1]), RangeType::Auto, None)
}

fn zrangebyscore_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    zrange_generic(ctx, 1, None, RangeType::Score, Some(false))
}

fn zrevrangebyscore_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    zrange_generic(ctx, 1, None, RangeType::Score, Some(true))
}

fn zrangebylex_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    zrange_generic(ctx, 1, None, RangeType::Lex, Some(false))
}

fn zrevrangebylex_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    zrange_generic(ctx, 1, None, RangeType::Lex, Some(true))
}

fn zrevrange_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    zrange_generic(ctx, 1, None, RangeType::Rank, Some(true))
}

// ---------------------------------------------------------------------------------------------
// ZREM, ZREMRANGEBY*

fn zrem_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let key = &args[1][..];
    let Ctx { db, out, .. } = ctx;
    let Some(z) = zwrite(db, key)? else {
        out.int(0);
        return Ok(());
    };
    let mut deleted = 0i64;
    for m in &args[2..] {
        if z.remove(m) {
            deleted += 1;
            if z.is_empty() {
                break;
            }
        }
    }
    if deleted > 0 {
        db.notify(notify::ZSET, "zrem", key);
    }
    drop_if_empty(db, key);
    db.dirty += deleted as u64;
    out.int(deleted);
    Ok(())
}

fn zremrange_generic(ctx: &mut Ctx<'_, '_>, rtype: RangeType) -> CmdResult {
    let args = ctx.args;
    let key = &args[1][..];
    let spec = match rtype {
        RangeType::Score => RangeSpec::Score(parse_score_range(&args[2], &args[3])?),
        RangeType::Lex => {
            let (lo, hi) = parse_lex_range(&args[2], &args[3])?;
            RangeSpec::Lex(lo, hi)
        }
        _ => RangeSpec::Rank(ctx.int_arg(2)?, ctx.int_arg(3)?),
    };
    let event = ctx.cmd.name;
    let Ctx { db, out, .. } = ctx;
    let Some(z) = zwrite(db, key)? else {
        out.int(0);
        return Ok(());
    };
    let (lo, hi) = select(z, &spec, false, 0, -1);
    let victims = z.collect_range(lo, hi, false);
    for (m, _) in &victims {
        z.remove(m);
    }
    if !victims.is_empty() {
        db.notify(notify::ZSET, event, key);
    }
    drop_if_empty(db, key);
    db.dirty += victims.len() as u64;
    out.int(victims.len() as i64);
    Ok(())
}

fn zremrangebyrank_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    zremrange_generic(ctx, RangeType::Rank)
}

fn zremrangebyscore_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    zremrange_generic(ctx, RangeType::Score)
}

fn zremrangebylex_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    zremrange_generic(ctx, RangeType::Lex)
}

// ---------------------------------------------------------------------------------------------
// ZPOPMIN, ZPOPMAX, ZMPOP and the non-blocking core of BZPOPMIN, BZPOPMAX, BZMPOP

/// How a pop replies.
#[derive(Clone, Copy)]
pub struct PopReply {
    /// Name the key first (BZPOP*, *MPOP).
    pub emit_key: bool,
    /// `[member, score]` pairs in a nested array (ZMPOP; ZPOP* with COUNT in RESP3).
    pub nested: bool,
    /// A null array, not an empty one, when nothing was popped (ZMPOP, BZ*).
    pub nil_when_empty: bool,
}

/// Pops up to `count` (`None`: one, without COUNT) members with the lowest (or, if `max`,
/// highest) scores from the first existing key of `keys` (a key of another type is
/// WRONGTYPE), and replies (Redis `genericZpopCommand`). Returns whether a key was found.
pub fn zpop_generic(
    db: &mut Db<'_>,
    out: &mut ReplyWriter<'_>,
    keys: &[Bytes],
    max: bool,
    count: Option<u64>,
    how: PopReply,
) -> Result<bool, CmdError> {
    let mut found = None;
    for key in keys {
        if let Some(z) = zwrite(db, key)? {
            if !z.is_empty() {
                found = Some(key);
                break;
            }
        }
    }
    let Some(key) = found else {
        if how.nil_when_empty {
            out.null_array();
        } else {
            out.array(0);
        }
        return Ok(false);
    };
    if count == Some(0) {
        out.array(0);
        return Ok(true);
    }
    let Some(z) = zwrite(db, key)? else {
        return Ok(false);
    };
    let n = (count.unwrap_or(1)).min(z.len() as u64) as usize;
    let len = z.len();
    let popped = if max {
        z.collect_range(len - n, len, true)
    } else {
        z.collect_range(0, n, false)
    };
    for (m, _) in &popped {
        z.remove(m);
    }
    db.notify(notify::ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
    drop_if_empty(db, key);
    db.dirty += popped.len() as u64;
    if how.nested {
        if how.emit_key {
            out.array(2);
            out.bulk(key);
        }
        out.array(popped.len());
    } else {
        out.array(popped.len() * 2 + how.emit_key as usize);
        if how.emit_key {
            out.bulk(key);
        }
    }
    for (m, s) in &popped {
        if how.nested {
            out.array(2);
        }
        out.bulk(m);
        out.double(*s);
    }
    Ok(true)
}

fn zpop_minmax(ctx: &mut Ctx<'_, '_>, max: bool) -> CmdResult {
    let args = ctx.args;
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match args.get(2) {
        Some(a) => Some(positive_long(a, None)? as u64),
        None => None,
    };
    let how = PopReply {
        emit_key: false,
        nested: ctx.out.is_resp3() && count.is_some(),
        nil_when_empty: false,
    };
    let Ctx { db, out, .. } = ctx;
    zpop_generic(db, out, &args[1..2], max, count, how)?;
    Ok(())
}

fn zpopmin_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    zpop_minmax(ctx, false)
}

fn zpopmax_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    zpop_minmax(ctx, true)
}

/// The arguments of ZMPOP / BZMPOP after the timeout: keys, MIN|MAX, COUNT.
pub struct MpopArgs {
    /// Index of the first key in the arguments; `nkeys` keys follow.
    pub first_key: usize,
    pub nkeys: usize,
    pub max: bool,
    pub count: u64,
}

/// Parses `numkeys key [key ...] MIN|MAX [COUNT count]` starting at `numkeys_idx`.
pub fn parse_mpop(args: &[Bytes], numkeys_idx: usize) -> Result<MpopArgs, CmdError> {
    let nkeys = ranged_long(
        &args[numkeys_idx],
        1,
        i64::MAX,
        Some("numkeys should be greater than 0"),
    )? as u64;
    let where_idx = (numkeys_idx as u64).saturating_add(nkeys).saturating_add(1);
    if where_idx >= args.len() as u64 {
        return Err(CmdError::Syntax);
    }
    let where_idx = where_idx as usize;
    let max = if is_kw(&args[where_idx], "min") {
        false
    } else if is_kw(&args[where_idx], "max") {
        true
    } else {
        return Err(CmdError::Syntax);
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while j < args.len() {
        if count.is_none() && is_kw(&args[j], "count") && j + 1 < args.len() {
            j += 1;
            count = Some(ranged_long(
                &args[j],
                1,
                i64::MAX,
                Some("count should be greater than 0"),
            )? as u64);
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(MpopArgs {
        first_key: numkeys_idx + 1,
        nkeys: nkeys as usize,
        max,
        count: count.unwrap_or(1),
    })
}

const MPOP_REPLY: PopReply = PopReply {
    emit_key: true,
    nested: true,
    nil_when_empty: true,
};

fn zmpop_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let p = parse_mpop(args, 1)?;
    let Ctx { db, out, .. } = ctx;
    let keys = &args[p.first_key..p.first_key + p.nkeys];
    zpop_generic(db, out, keys, p.max, Some(p.count), MPOP_REPLY)?;
    Ok(())
}

/// A blocking command's timeout: the one parser all blocking commands share.
pub use crate::blocking::parse_timeout;

/// The blocking pops (Redis `blockingGenericZpopCommand`): serves at once when one of `keys`
/// holds a sorted set (the first one in order, a key of another type being WRONGTYPE);
/// otherwise blocks on all of them until one receives a sorted set or `timeout` passes, then
/// replies a null array. Re-run for a ready key (`ctx.serving`), only that key is served.
fn bzpop_generic(
    ctx: &mut Ctx<'_, '_>,
    keys: &[Bytes],
    max: bool,
    count: Option<u64>,
    how: PopReply,
    timeout: Option<std::time::Duration>,
) -> CmdResult {
    let serving = ctx.serving;
    let ready = match serving {
        Some(k) => matches!(zwrite(&mut ctx.db, k), Ok(Some(z)) if !z.is_empty()),
        // A key of another type stops the scan too: zpop_generic answers WRONGTYPE.
        None => keys
            .iter()
            .any(|k| !matches!(zwrite(&mut ctx.db, k), Ok(None)) && !is_empty_zset(&mut ctx.db, k)),
    };
    if ready {
        let Ctx { db, out, .. } = ctx;
        let served = serving
            .and_then(|k| keys.iter().position(|x| &x[..] == k))
            .map_or(keys, |i| &keys[i..=i]);
        let dirty = db.dirty;
        zpop_generic(db, out, served, max, count, how)?;
        if db.dirty > dirty {
            // Propagated as the non-blocking pop, which picks the same key in the same state.
            let mut pop = vec![
                Bytes::from_static(b"ZMPOP"),
                Bytes::from(served.len().to_string()),
            ];
            pop.extend(served.iter().cloned());
            pop.push(Bytes::from_static(if max { b"MAX" } else { b"MIN" }));
            pop.push(Bytes::from_static(b"COUNT"));
            pop.push(Bytes::from(count.unwrap_or(1).to_string()));
            db.propagate_as(pop);
        }
        return Ok(());
    }
    if ctx.client.may_block() {
        let keys: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
        crate::blocking::block(ctx, &keys, timeout, "zset");
    } else {
        ctx.out.null_array();
    }
    Ok(())
}

/// Whether `key` holds a sorted set with no members (never true in a consistent keyspace,
/// kept so the scan above reads as Redis's: exists, right type, non-empty).
fn is_empty_zset(db: &mut Db<'_>, key: &[u8]) -> bool {
    matches!(zwrite(db, key), Ok(Some(z)) if z.is_empty())
}

/// BZPOPMIN / BZPOPMAX `key [key ...] timeout`.
fn bzpop_minmax(ctx: &mut Ctx<'_, '_>, max: bool) -> CmdResult {
    let args = ctx.args;
    let timeout = parse_timeout(&args[args.len() - 1])?;
    let how = PopReply {
        emit_key: true,
        nested: false,
        nil_when_empty: true,
    };
    bzpop_generic(ctx, &args[1..args.len() - 1], max, None, how, timeout)
}

fn bzpopmin_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    bzpop_minmax(ctx, false)
}

fn bzpopmax_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    bzpop_minmax(ctx, true)
}

/// BZMPOP `timeout numkeys key [key ...] MIN|MAX [COUNT count]`.
fn bzmpop_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let timeout = parse_timeout(&args[1])?;
    let p = parse_mpop(args, 2)?;
    let keys = &args[p.first_key..p.first_key + p.nkeys];
    bzpop_generic(ctx, keys, p.max, Some(p.count), MPOP_REPLY, timeout)
}

// ---------------------------------------------------------------------------------------------
// ZRANDMEMBER

fn zrandmember_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let mut rng = rand::thread_rng();
    if args.len() < 3 {
        let Ctx {
            db,
            out,
            hits,
            misses,
            ..
        } = ctx;
        match zread(db, hits, misses, &args[1])?.and_then(|z| z.random(&mut rng)) {
            Some((m, _)) => out.bulk(m),
            None => out.null(),
        }
        return Ok(());
    }
    let l = ranged_long(&args[2], -i64::MAX, i64::MAX, None)?;
    let withscores = match args.len() {
        3 => false,
        4 if is_kw(&args[3], "withscores") => {
            if !(-i64::MAX / 2..=i64::MAX / 2).contains(&l) {
                return Err(CmdError::err("value is out of range"));
            }
            true
        }
        _ => return Err(CmdError::Syntax),
    };
    let Ctx {
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let Some(z) = zread(db, hits, misses, &args[1])? else {
        out.array(0);
        return Ok(());
    };
    let size = z.len();
    let count = l.unsigned_abs();
    if count == 0 {
        out.array(0);
        return Ok(());
    }
    let nested = withscores && out.is_resp3();
    let emit = |out: &mut ReplyWriter<'_>, m: &[u8], s: f64| {
        if nested {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            out.double(s);
        }
    };
    let header = |out: &mut ReplyWriter<'_>, n: usize| {
        out.array(if withscores && !nested { n * 2 } else { n });
    };
    if l < 0 || count == 1 {
        // With repetitions (or a single member): sample the whole set each time.
        let n = usize::try_from(count).unwrap_or(usize::MAX);
        header(out, n);
        for _ in 0..n {
            if let Some((m, s)) = z.random(&mut rng) {
                emit(out, m, s);
            }
        }
        return Ok(());
    }
    if count as usize >= size {
        // The whole set, highest score first (as Redis answers it).
        header(out, size);
        z.for_range(0, size, true, &mut |m, s| emit(out, m, s));
        return Ok(());
    }
    let picks = sample(&mut rng, size, count as usize);
    header(out, picks.len());
    for i in picks.iter() {
        if let Some((m, s)) = z.get(i) {
            emit(out, m, s);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ZUNION, ZINTER, ZDIFF, their STORE forms, ZINTERCARD

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(target: &mut f64, v: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += v;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if v < *target {
                *target = v;
            }
        }
        Aggregate::Max => {
            if v > *target {
                *target = v;
            }
        }
    }
}

/// The members of a set given as an input (each with score 1).
///
/// Integration point with the set type: this branch's `SetValue` is still the placeholder
/// without members (no command can create a set here), so the iteration goes through its API
/// once the set type lands.
fn set_members(s: &SetValue) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    s.for_each(|m| out.push(m.to_vec()));
    out
}

/// One input of a set operation, copied out of the keyspace.
enum Src {
    Missing,
    ZSet(Vec<(Vec<u8>, f64)>, hashbrown::HashMap<Vec<u8>, f64>),
    Set(Vec<Vec<u8>>, hashbrown::HashSet<Vec<u8>>),
}

impl Src {
    fn len(&self) -> usize {
        match self {
            Src::Missing => 0,
            Src::ZSet(v, _) => v.len(),
            Src::Set(v, _) => v.len(),
        }
    }

    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Src::Missing => None,
            Src::ZSet(_, map) => map.get(m).copied(),
            Src::Set(_, set) => set.contains(m).then_some(1.0),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        match self {
            Src::Missing => {}
            Src::ZSet(v, _) => v.iter().for_each(|(m, s)| f(m, *s)),
            Src::Set(v, _) => v.iter().for_each(|m| f(m, 1.0)),
        }
    }
}

/// Redis `zunionInterDiffGenericCommand`.
fn zsetop_generic(
    ctx: &mut Ctx<'_, '_>,
    dst: Option<&[u8]>,
    numkeys_idx: usize,
    op: SetOp,
    card_only: bool,
) -> CmdResult {
    let args = ctx.args;
    let setnum = ctx.int_arg(numkeys_idx)?;
    if setnum < 1 {
        return Err(CmdError::err(format!(
            "at least 1 input key is needed for '{}' command",
            ctx.cmd.name
        )));
    }
    if setnum as u64 > (args.len() - numkeys_idx - 1) as u64 {
        return Err(CmdError::Syntax);
    }
    let setnum = setnum as usize;
    // Inputs are looked up (and type checked) before the options are parsed.
    let mut srcs: Vec<(Src, f64)> = Vec::with_capacity(setnum);
    {
        let Ctx {
            db, hits, misses, ..
        } = &mut *ctx;
        for key in &args[numkeys_idx + 1..numkeys_idx + 1 + setnum] {
            let e = db.get(key);
            if e.is_some() {
                *hits += 1;
            } else {
                *misses += 1;
            }
            let src = match e.map(|e| &e.value) {
                None => Src::Missing,
                Some(Value::ZSet(z)) => {
                    let v = z.collect_range(0, z.len(), false);
                    let map = v.iter().cloned().collect();
                    Src::ZSet(v, map)
                }
                Some(Value::Set(s)) => {
                    let v = set_members(s);
                    let set = v.iter().cloned().collect();
                    Src::Set(v, set)
                }
                Some(_) => return Err(CmdError::WrongType),
            };
            srcs.push((src, 1.0));
        }
    }
    let mut agg = Aggregate::Sum;
    let mut withscores = false;
    let mut limit = 0u64;
    let mut j = numkeys_idx + 1 + setnum;
    while j < args.len() {
        let remaining = args.len() - j;
        let a = &args[j][..];
        if op != SetOp::Diff && !card_only && remaining > setnum && is_kw(a, "weights") {
            j += 1;
            for src in srcs.iter_mut() {
                src.1 = num::parse_f64(&args[j])
                    .ok_or_else(|| CmdError::err("weight value is not a float"))?;
                j += 1;
            }
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && is_kw(a, "aggregate") {
            let v = &args[j + 1][..];
            agg = if is_kw(v, "sum") {
                Aggregate::Sum
            } else if is_kw(v, "min") {
                Aggregate::Min
            } else if is_kw(v, "max") {
                Aggregate::Max
            } else {
                return Err(CmdError::Syntax);
            };
            j += 2;
        } else if dst.is_none() && !card_only && is_kw(a, "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && is_kw(a, "limit") {
            limit = positive_long(&args[j + 1], Some("LIMIT can't be negative"))? as u64;
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if op != SetOp::Diff {
        // Smallest inputs first, as Redis (this also fixes the order of SUM additions).
        srcs.sort_by_key(|(s, _)| s.len());
    }
    let weighted = |w: f64, s: f64| {
        let v = w * s;
        if v.is_nan() {
            0.0
        } else {
            v
        }
    };
    let mut result: Vec<(Vec<u8>, f64)> = Vec::new();
    match op {
        SetOp::Union => {
            let mut acc: hashbrown::HashMap<Vec<u8>, f64> = hashbrown::HashMap::new();
            for (src, w) in &srcs {
                src.for_each(|m, s| {
                    let v = weighted(*w, s);
                    match acc.get_mut(m) {
                        Some(t) => aggregate(t, v, agg),
                        None => {
                            acc.insert(m.to_vec(), v);
                        }
                    }
                });
            }
            result = acc.into_iter().collect();
        }
        SetOp::Inter => {
            if let Some(((first, w0), rest)) = srcs.split_first() {
                let mut count = 0u64;
                first.for_each(|m, s| {
                    if card_only && limit != 0 && count >= limit {
                        return;
                    }
                    let mut score = weighted(*w0, s);
                    for (other, w) in rest {
                        match other.score(m) {
                            Some(s) => aggregate(&mut score, weighted(*w, s), agg),
                            None => return,
                        }
                    }
                    count += 1;
                    if !card_only {
                        result.push((m.to_vec(), score));
                    }
                });
                if card_only {
                    ctx.out.int(count as i64);
                    return Ok(());
                }
            }
        }
        SetOp::Diff => {
            if let Some(((first, _), rest)) = srcs.split_first() {
                first.for_each(|m, s| {
                    if rest.iter().all(|(o, _)| o.score(m).is_none()) {
                        result.push((m.to_vec(), s));
                    }
                });
            }
        }
    }
    if card_only {
        ctx.out.int(0);
        return Ok(());
    }
    result.sort_by(|a, b| cmp_elem(a.1, &a.0, b.1, &b.0));
    let limits = ctx.settings.zset_limits;
    let event = ctx.cmd.name;
    match dst {
        Some(dst) => {
            let Ctx { db, out, .. } = ctx;
            store_result(db, out, dst, &result, limits, event);
        }
        None => reply_elems(&mut ctx.out, &result, withscores),
    }
    Ok(())
}

fn zunion_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    zsetop_generic(ctx, None, 1, SetOp::Union, false)
}

fn zinter_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    zsetop_generic(ctx, None, 1, SetOp::Inter, false)
}

fn zdiff_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    zsetop_generic(ctx, None, 1, SetOp::Diff, false)
}

fn zunionstore_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    zsetop_generic(ctx, Some(&args[1]), 2, SetOp::Union, false)
}

fn zinterstore_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    zsetop_generic(ctx, Some(&args[1]), 2, SetOp::Inter, false)
}

fn zdiffstore_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    zsetop_generic(ctx, Some(&args[1]), 2, SetOp::Diff, false)
}

fn zintercard_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    zsetop_generic(ctx, None, 1, SetOp::Inter, true)
}

// ---------------------------------------------------------------------------------------------
// ZSCAN

fn zscan_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let cursor = parse_cursor(&args[2]).ok_or_else(|| CmdError::err("invalid cursor"))?;
    let Ctx {
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let Some(z) = zread(db, hits, misses, &args[1])? else {
        out.array(2);
        out.bulk(b"0");
        out.array(0);
        return Ok(());
    };
    let mut count = 10i64;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < args.len() {
        let has_value = i + 1 < args.len();
        if is_kw(&args[i], "count") && has_value {
            count = num::parse_i64(&args[i + 1]).ok_or(CmdError::NotInteger)?;
            if count < 1 {
                return Err(CmdError::Syntax);
            }
        } else if is_kw(&args[i], "match") && has_value {
            let p = &args[i + 1][..];
            pattern = (p != b"*").then_some(p);
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let mut found: Vec<(Vec<u8>, f64)> = Vec::new();
    let next = z.scan(cursor, count as usize, |m, s| {
        if pattern.is_none_or(|p| glob_match(p, m, false)) {
            found.push((m.to_vec(), s));
        }
    });
    out.array(2);
    out.bulk_int(next as i64);
    out.array(found.len() * 2);
    let mut tmp = Vec::with_capacity(32);
    for (m, s) in &found {
        out.bulk(m);
        tmp.clear();
        num::fmt_double_17g(*s, &mut tmp);
        out.bulk(&tmp);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_walk_both_ways() {
        assert_eq!(apply_limit(2, 10, 0, -1, false), (2, 10));
        assert_eq!(apply_limit(2, 10, 3, 2, false), (5, 7));
        assert_eq!(apply_limit(2, 10, 3, 2, true), (5, 7));
        assert_eq!(apply_limit(2, 10, 1, 2, true), (7, 9));
        assert_eq!(apply_limit(2, 10, 20, 2, true), (2, 2));
        assert_eq!(apply_limit(2, 10, -1, 2, false), (2, 2));
    }

    #[test]
    fn range_items_parse_like_redis() {
        assert!(parse_score_range(b"(1", b"+inf").is_ok());
        assert!(parse_score_range(b"", b" 5").is_ok());
        assert!(parse_score_range(b"nan", b"1").is_err());
        assert!(parse_score_range(b"1 ", b"1").is_err());
        assert!(parse_lex_range(b"-", b"+").is_ok());
        assert!(parse_lex_range(b"a", b"+").is_err());
        assert!(parse_lex_range(b"+a", b"+").is_err());
        assert_eq!(
            parse_timeout(b"1.5"),
            Ok(Some(std::time::Duration::from_millis(1500)))
        );
        assert_eq!(parse_timeout(b"-1"), Err(CmdError::TimeoutNegative));
        assert_eq!(parse_timeout(b"x"), Err(CmdError::TimeoutNotFloat));
    }
}
