//! List commands: the rows and their handlers (Redis `t_list.c`).
//!
//! The data structure is [`crate::db::types::list`]; blocking (BLPOP & co.) goes through
//! [`crate::blocking`]. Conventions, as in Redis:
//!
//! - Read commands (LLEN, LRANGE, LINDEX, LPOS) count a keyspace hit or miss; the others
//!   look keys up for writing and count nothing.
//! - Arguments are validated in Redis's order, which decides the error a client sees.
//! - A list left empty is deleted (not counted as a change by itself); the dirty counter
//!   grows by the number of elements pushed, popped or removed.
//! - A handler re-run for a ready key (`ctx.serving`) pops from that key only.

use bytes::Bytes;

use crate::blocking;
use crate::cmd::{acl, flags, kflags, BeginSearch, CmdResult, Command, FindKeys, KeySpec};
use crate::config::notify;
use crate::db::types::list::ListValue;
use crate::db::{Db, Value};
use crate::dispatch::Ctx;
use crate::error::CmdError;
use crate::resp::ReplyWriter;
use crate::util::num;

// ---------------------------------------------------------------------------------------------
// Key specs and rows

const KS_RW_INSERT: &[KeySpec] = &[KeySpec::one(1, kflags::RW | kflags::INSERT)];
const KS_RW_POP: &[KeySpec] = &[KeySpec::one(
    1,
    kflags::RW | kflags::ACCESS | kflags::DELETE,
)];
const KS_RO: &[KeySpec] = &[KeySpec::one(1, kflags::RO)];
const KS_RO_ACCESS: &[KeySpec] = &[KeySpec::one(1, kflags::RO | kflags::ACCESS)];
const KS_RW_DELETE: &[KeySpec] = &[KeySpec::one(1, kflags::RW | kflags::DELETE)];
const KS_MOVE: &[KeySpec] = &[
    KeySpec::one(1, kflags::RW | kflags::ACCESS | kflags::DELETE),
    KeySpec::one(2, kflags::RW | kflags::INSERT),
];
const KS_BPOP: &[KeySpec] = &[KeySpec::range(
    1,
    -2,
    1,
    kflags::RW | kflags::ACCESS | kflags::DELETE,
)];

/// `numkeys key [key ...]` with the count at `index`.
const fn keynum(index: i32) -> KeySpec {
    KeySpec {
        notes: "",
        flags: kflags::RW | kflags::ACCESS | kflags::DELETE,
        begin: BeginSearch::Index(index),
        find: FindKeys::Keynum {
            keynumidx: 0,
            firstkey: 1,
            step: 1,
        },
    }
}

const WDF: u32 = flags::WRITE | flags::DENYOOM | flags::FAST;
const WD: u32 = flags::WRITE | flags::DENYOOM;
const WF: u32 = flags::WRITE | flags::FAST;
const BLOCKING: u32 = flags::WRITE | flags::NOSCRIPT | flags::BLOCKING;

pub static COMMANDS: &[Command] = &[
    Command {
        name: "lpush",
        arity: -3,
        flags: WDF,
        acl: acl::LIST,
        key_specs: KS_RW_INSERT,
        handler: Some(lpush),
        group: "list",
        complexity: "O(1) for each element added",
        summary: "Adds elements at the head of a list, creating it if needed.",
        ..Command::DEFAULT
    },
    Command {
        name: "rpush",
        arity: -3,
        flags: WDF,
        acl: acl::LIST,
        key_specs: KS_RW_INSERT,
        handler: Some(rpush),
        group: "list",
        complexity: "O(1) for each element added",
        summary: "Adds elements at the tail of a list, creating it if needed.",
        ..Command::DEFAULT
    },
    Command {
        name: "lpushx",
        arity: -3,
        flags: WDF,
        acl: acl::LIST,
        key_specs: KS_RW_INSERT,
        handler: Some(lpushx),
        group: "list",
        since: "2.2.0",
        complexity: "O(1) for each element added",
        summary: "Adds elements at the head of a list, only if the list exists.",
        ..Command::DEFAULT
    },
    Command {
        name: "rpushx",
        arity: -3,
        flags: WDF,
        acl: acl::LIST,
        key_specs: KS_RW_INSERT,
        handler: Some(rpushx),
        group: "list",
        since: "2.2.0",
        complexity: "O(1) for each element added",
        summary: "Adds elements at the tail of a list, only if the list exists.",
        ..Command::DEFAULT
    },
    Command {
        name: "lpop",
        arity: -2,
        flags: WF,
        acl: acl::LIST,
        key_specs: KS_RW_POP,
        handler: Some(lpop),
        group: "list",
        complexity: "O(N) for N elements returned",
        summary: "Removes and returns the first elements of a list.",
        ..Command::DEFAULT
    },
    Command {
        name: "rpop",
        arity: -2,
        flags: WF,
        acl: acl::LIST,
        key_specs: KS_RW_POP,
        handler: Some(rpop),
        group: "list",
        complexity: "O(N) for N elements returned",
        summary: "Removes and returns the last elements of a list.",
        ..Command::DEFAULT
    },
    Command {
        name: "llen",
        arity: 2,
        flags: flags::READONLY | flags::FAST,
        acl: acl::LIST,
        key_specs: KS_RO,
        handler: Some(llen),
        group: "list",
        summary: "Returns the number of elements of a list.",
        ..Command::DEFAULT
    },
    Command {
        name: "lrange",
        arity: 4,
        flags: flags::READONLY,
        acl: acl::LIST,
        key_specs: KS_RO_ACCESS,
        handler: Some(lrange),
        group: "list",
        complexity: "O(S+N) for offset S and N elements returned",
        summary: "Returns the elements of a list between two indexes.",
        ..Command::DEFAULT
    },
    Command {
        name: "lindex",
        arity: 3,
        flags: flags::READONLY,
        acl: acl::LIST,
        key_specs: KS_RO_ACCESS,
        handler: Some(lindex),
        group: "list",
        complexity: "O(N) to reach the index",
        summary: "Returns the element of a list at an index.",
        ..Command::DEFAULT
    },
    Command {
        name: "lset",
        arity: 4,
        flags: WD,
        acl: acl::LIST,
        key_specs: &[KeySpec::one(1, kflags::RW | kflags::UPDATE)],
        handler: Some(lset),
        group: "list",
        complexity: "O(N) to reach the index",
        summary: "Replaces the element of a list at an index.",
        ..Command::DEFAULT
    },
    Command {
        name: "linsert",
        arity: 5,
        flags: WD,
        acl: acl::LIST,
        key_specs: KS_RW_INSERT,
        handler: Some(linsert),
        group: "list",
        since: "2.2.0",
        complexity: "O(N) to find the pivot",
        summary: "Inserts an element before or after the first occurrence of another.",
        ..Command::DEFAULT
    },
    Command {
        name: "lrem",
        arity: 4,
        flags: flags::WRITE,
        acl: acl::LIST,
        key_specs: KS_RW_DELETE,
        handler: Some(lrem),
        group: "list",
        complexity: "O(N+M) for N elements scanned and M removed",
        summary: "Removes occurrences of an element from a list.",
        ..Command::DEFAULT
    },
    Command {
        name: "ltrim",
        arity: 4,
        flags: flags::WRITE,
        acl: acl::LIST,
        key_specs: KS_RW_DELETE,
        handler: Some(ltrim),
        group: "list",
        complexity: "O(N) for N elements removed",
        summary: "Keeps only the elements of a list between two indexes.",
        ..Command::DEFAULT
    },
    Command {
        name: "lpos",
        arity: -3,
        flags: flags::READONLY,
        acl: acl::LIST,
        key_specs: KS_RO_ACCESS,
        handler: Some(lpos),
        group: "list",
        since: "6.0.6",
        complexity: "O(N) for N elements scanned",
        summary: "Returns the indexes of matching elements of a list.",
        ..Command::DEFAULT
    },
    Command {
        name: "lmove",
        arity: 5,
        flags: WD,
        acl: acl::LIST,
        key_specs: KS_MOVE,
        handler: Some(lmove),
        group: "list",
        since: "6.2.0",
        summary: "Pops an element from one end of a list and pushes it onto an end of another.",
        ..Command::DEFAULT
    },
    Command {
        name: "rpoplpush",
        arity: 3,
        flags: WD,
        acl: acl::LIST,
        key_specs: KS_MOVE,
        handler: Some(rpoplpush),
        group: "list",
        since: "1.2.0",
        summary: "Pops the last element of a list and pushes it at the head of another.",
        ..Command::DEFAULT
    },
    Command {
        name: "lmpop",
        arity: -4,
        flags: flags::WRITE,
        acl: acl::LIST,
        key_specs: &[keynum(1)],
        handler: Some(lmpop),
        group: "list",
        since: "7.0.0",
        complexity: "O(N+M) for N keys tried and M elements returned",
        summary: "Pops elements from the first non-empty list of several.",
        ..Command::DEFAULT
    },
    Command {
        name: "blpop",
        arity: -3,
        flags: BLOCKING,
        acl: acl::LIST,
        key_specs: KS_BPOP,
        handler: Some(blpop),
        group: "list",
        since: "2.0.0",
        complexity: "O(N) for N keys",
        summary: "Pops the first element of the first non-empty list, waiting for one if needed.",
        ..Command::DEFAULT
    },
    Command {
        name: "brpop",
        arity: -3,
        flags: BLOCKING,
        acl: acl::LIST,
        key_specs: KS_BPOP,
        handler: Some(brpop),
        group: "list",
        since: "2.0.0",
        complexity: "O(N) for N keys",
        summary: "Pops the last element of the first non-empty list, waiting for one if needed.",
        ..Command::DEFAULT
    },
    Command {
        name: "blmove",
        arity: 6,
        flags: BLOCKING | flags::DENYOOM,
        acl: acl::LIST,
        key_specs: KS_MOVE,
        handler: Some(blmove),
        group: "list",
        since: "6.2.0",
        summary: "Like LMOVE, waiting for the source list to be filled if it is empty.",
        ..Command::DEFAULT
    },
    Command {
        name: "brpoplpush",
        arity: 4,
        flags: BLOCKING | flags::DENYOOM,
        acl: acl::LIST,
        key_specs: KS_MOVE,
        handler: Some(brpoplpush),
        group: "list",
        since: "2.2.0",
        summary: "Like RPOPLPUSH, waiting for the source list to be filled if it is empty.",
        ..Command::DEFAULT
    },
    Command {
        name: "blmpop",
        arity: -5,
        flags: flags::WRITE | flags::BLOCKING,
        acl: acl::LIST,
        key_specs: &[keynum(2)],
        handler: Some(blmpop),
        group: "list",
        since: "7.0.0",
        complexity: "O(N+M) for N keys tried and M elements returned",
        summary: "Like LMPOP, waiting for one of the lists to be filled if all are empty.",
        ..Command::DEFAULT
    },
];

// ---------------------------------------------------------------------------------------------
// Helpers

/// The list at `key` for writing: None if missing, WRONGTYPE for another type.
fn get_list<'d>(db: &'d mut Db<'_>, key: &[u8]) -> Result<Option<&'d mut ListValue>, CmdError> {
    match db.get(key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::List(l) => Ok(Some(l)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The list at `key` for reading, counting a keyspace hit or miss.
fn read_list<'d>(
    db: &'d mut Db<'_>,
    hits: &mut u64,
    misses: &mut u64,
    key: &[u8],
) -> Result<Option<&'d ListValue>, CmdError> {
    match db.get(key) {
        None => {
            *misses += 1;
            Ok(None)
        }
        Some(e) => {
            *hits += 1;
            match &e.value {
                Value::List(l) => Ok(Some(l)),
                _ => Err(CmdError::WrongType),
            }
        }
    }
}

/// Deletes `key` if its list is now empty (the `del` event); the deletion itself is no extra
/// change.
fn drop_if_empty(db: &mut Db<'_>, key: &[u8]) {
    let empty =
        matches!(db.peek(key), Some(e) if matches!(&e.value, Value::List(l) if l.is_empty()));
    if empty {
        let d = db.dirty;
        db.remove(key);
        db.dirty = d;
        db.notify(notify::GENERIC, "del", key);
    }
}

fn pop_event(left: bool) -> &'static str {
    if left {
        "lpop"
    } else {
        "rpop"
    }
}

fn push_event(left: bool) -> &'static str {
    if left {
        "lpush"
    } else {
        "rpush"
    }
}

/// A `long` argument with a custom message for both parse and range errors (Redis
/// `getRangeLongFromObjectOrReply` with a message).
fn long_in(arg: &[u8], min: i64, msg: &'static str) -> Result<i64, CmdError> {
    match num::parse_i64(arg) {
        Some(v) if v >= min => Ok(v),
        _ => Err(CmdError::err(msg)),
    }
}

/// `LEFT` (head, true) or `RIGHT` (tail, false), else a syntax error.
fn side(arg: &[u8]) -> Result<bool, CmdError> {
    if arg.eq_ignore_ascii_case(b"left") {
        Ok(true)
    } else if arg.eq_ignore_ascii_case(b"right") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// The elements `start..=end` (Redis indexes, negative from the end) as an array, reversed if
/// asked (Redis `addListRangeReply`).
fn range_reply(out: &mut ReplyWriter<'_>, l: &ListValue, start: i64, end: i64, reverse: bool) {
    let len = l.len() as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        out.array(0);
        return;
    }
    if end >= len {
        end = len - 1;
    }
    let n = (end - start + 1) as usize;
    out.array(n);
    let it = l.range(start as usize, n);
    if reverse {
        for e in it.rev() {
            out.bulk(e);
        }
    } else {
        for e in it {
            out.bulk(e);
        }
    }
}

/// Pops up to `count` elements from one end of the list at `key` and replies them as an
/// array, the first popped first; deletes the list if emptied. Returns how many were popped.
fn pop_range(
    ctx: &mut Ctx<'_, '_>,
    key: &[u8],
    left: bool,
    count: usize,
) -> Result<usize, CmdError> {
    let Some(l) = get_list(&mut ctx.db, key)? else {
        return Ok(0);
    };
    let n = count.min(l.len());
    if left {
        range_reply(&mut ctx.out, l, 0, n as i64 - 1, false);
        l.delete_front(n);
    } else {
        range_reply(&mut ctx.out, l, -(n as i64), -1, true);
        l.delete_back(n);
    }
    ctx.db.dirty += n as u64;
    if n > 0 {
        ctx.db.notify(notify::LIST, pop_event(left), key);
    }
    drop_if_empty(&mut ctx.db, key);
    Ok(n)
}

/// Pops one element from the list at `key` (known to be non-empty).
fn pop_one(ctx: &mut Ctx<'_, '_>, key: &[u8], left: bool) -> Result<Option<Vec<u8>>, CmdError> {
    let Some(l) = get_list(&mut ctx.db, key)? else {
        return Ok(None);
    };
    let v = l.pop(left);
    if v.is_some() {
        ctx.db.dirty += 1;
        ctx.db.notify(notify::LIST, pop_event(left), key);
        drop_if_empty(&mut ctx.db, key);
    }
    Ok(v)
}

/// True if `key` holds a non-empty list; WRONGTYPE for another type.
fn has_elements(db: &mut Db<'_>, key: &[u8]) -> Result<bool, CmdError> {
    Ok(get_list(db, key)?.is_some_and(|l| !l.is_empty()))
}

// ---------------------------------------------------------------------------------------------
// Push and pop

fn push_generic(ctx: &mut Ctx<'_, '_>, left: bool, only_existing: bool) -> CmdResult {
    let args = ctx.args;
    let key = &args[1][..];
    let dirty = ctx.db.dirty;
    let len = match get_list(&mut ctx.db, key)? {
        Some(l) => {
            for v in &args[2..] {
                l.push(v, left);
            }
            l.len()
        }
        None if only_existing => {
            ctx.out.int(0);
            return Ok(());
        }
        None => {
            let mut l = ListValue::new();
            for v in &args[2..] {
                l.push(v, left);
            }
            let len = l.len();
            ctx.db.set(key, Value::List(Box::new(l)), false);
            len
        }
    };
    ctx.db.dirty = dirty + (args.len() - 2) as u64;
    ctx.db.notify(notify::LIST, push_event(left), key);
    ctx.out.int(len as i64);
    Ok(())
}

fn lpush(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    push_generic(ctx, true, false)
}

fn rpush(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    push_generic(ctx, false, false)
}

fn lpushx(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    push_generic(ctx, true, true)
}

fn rpushx(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    push_generic(ctx, false, true)
}

/// LPOP/RPOP key [count]: a bulk string without count, an array with one.
fn pop_generic(ctx: &mut Ctx<'_, '_>, left: bool) -> CmdResult {
    let args = ctx.args;
    if args.len() > 3 {
        return Err(CmdError::WrongArity(ctx.cmd.name.to_string()));
    }
    let count = match args.get(2) {
        Some(a) => Some(long_in(a, 0, "value is out of range, must be positive")? as usize),
        None => None,
    };
    let key = &args[1][..];
    let Some(l) = get_list(&mut ctx.db, key)? else {
        match count {
            Some(_) => ctx.out.null_array(),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    match count {
        Some(0) => ctx.out.array(0),
        None => {
            if let Some(v) = l.pop(left) {
                ctx.out.bulk(&v);
                ctx.db.dirty += 1;
                ctx.db.notify(notify::LIST, pop_event(left), key);
                drop_if_empty(&mut ctx.db, key);
            } else {
                ctx.out.null();
            }
        }
        Some(n) => {
            pop_range(ctx, key, left, n)?;
        }
    }
    Ok(())
}

fn lpop(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    pop_generic(ctx, true)
}

fn rpop(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    pop_generic(ctx, false)
}

// ---------------------------------------------------------------------------------------------
// Reads

fn llen(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let key = &ctx.args[1];
    let n = read_list(&mut ctx.db, &mut ctx.hits, &mut ctx.misses, key)?.map_or(0, |l| l.len());
    ctx.out.int(n as i64);
    Ok(())
}

fn lrange(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let start = ctx.int_arg(2)?;
    let end = ctx.int_arg(3)?;
    let key = &ctx.args[1];
    match read_list(&mut ctx.db, &mut ctx.hits, &mut ctx.misses, key)? {
        Some(l) => range_reply(&mut ctx.out, l, start, end, false),
        None => ctx.out.array(0),
    }
    Ok(())
}

fn lindex(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let Some(l) = read_list(&mut ctx.db, &mut ctx.hits, &mut ctx.misses, &args[1])? else {
        ctx.out.null();
        return Ok(());
    };
    let index = num::parse_i64(&args[2]).ok_or(CmdError::NotInteger)?;
    let i = if index < 0 {
        l.len() as i64 + index
    } else {
        index
    };
    match usize::try_from(i).ok().and_then(|i| l.get(i)) {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
    Ok(())
}

fn lpos(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let ele = &args[2][..];
    let (mut rank, mut count, mut maxlen) = (1i64, None::<i64>, 0i64);
    let mut j = 3;
    while j < args.len() {
        let opt = &args[j][..];
        let more = j + 1 < args.len();
        if opt.eq_ignore_ascii_case(b"rank") && more {
            j += 1;
            rank = num::parse_i64(&args[j]).ok_or(CmdError::NotInteger)?;
            if rank == 0 {
                return Err(CmdError::err(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if opt.eq_ignore_ascii_case(b"count") && more {
            j += 1;
            count = Some(long_in(&args[j], 0, "COUNT can't be negative")?);
        } else if opt.eq_ignore_ascii_case(b"maxlen") && more {
            j += 1;
            maxlen = long_in(&args[j], 0, "MAXLEN can't be negative")?;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let from_tail = rank < 0;
    // Redis 7.0 negates the rank in a C long: LONG_MIN stays negative, so every match counts
    // and COUNT never stops the scan.
    let wrapped = rank == i64::MIN;
    let rank = if wrapped { 1 } else { rank.unsigned_abs() };
    let Some(l) = read_list(&mut ctx.db, &mut ctx.hits, &mut ctx.misses, &args[1])? else {
        match count {
            Some(_) => ctx.out.array(0),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let len = l.len();
    let limit = if maxlen == 0 {
        len
    } else {
        (maxlen as usize).min(len)
    };
    let mut found: Vec<usize> = Vec::new();
    let mut matches = 0u64;
    let mut visit = |index: usize, e: &[u8]| -> bool {
        if e == ele {
            matches += 1;
            if matches >= rank {
                found.push(if from_tail { len - index - 1 } else { index });
                match count {
                    None => return false,
                    Some(c) => {
                        if c != 0 && !wrapped && matches - rank + 1 >= c as u64 {
                            return false;
                        }
                    }
                }
            }
        }
        true
    };
    if from_tail {
        for (index, e) in l.iter().rev().take(limit).enumerate() {
            if !visit(index, e) {
                break;
            }
        }
    } else {
        for (index, e) in l.iter().take(limit).enumerate() {
            if !visit(index, e) {
                break;
            }
        }
    }
    match count {
        Some(_) => {
            ctx.out.array(found.len());
            for i in found {
                ctx.out.int(i as i64);
            }
        }
        None => match found.first() {
            Some(i) => ctx.out.int(*i as i64),
            None => ctx.out.null(),
        },
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// In-place changes

fn lset(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let Some(l) = get_list(&mut ctx.db, &args[1])? else {
        return Err(CmdError::NoSuchKey);
    };
    let index = num::parse_i64(&args[2]).ok_or(CmdError::NotInteger)?;
    let i = if index < 0 {
        l.len() as i64 + index
    } else {
        index
    };
    if i < 0 || !l.set(i as usize, &args[3]) {
        return Err(CmdError::IndexOutOfRange);
    }
    ctx.db.dirty += 1;
    ctx.db.notify(notify::LIST, "lset", &args[1]);
    ctx.out.ok();
    Ok(())
}

fn linsert(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let after = if args[2].eq_ignore_ascii_case(b"after") {
        true
    } else if args[2].eq_ignore_ascii_case(b"before") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let Some(l) = get_list(&mut ctx.db, &args[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let Some(pos) = l.iter().position(|e| e == &args[3][..]) else {
        ctx.out.int(-1);
        return Ok(());
    };
    l.insert(pos + after as usize, &args[4]);
    let len = l.len();
    ctx.db.dirty += 1;
    ctx.db.notify(notify::LIST, "linsert", &args[1]);
    ctx.out.int(len as i64);
    Ok(())
}

fn lrem(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let count = ctx.int_arg(2)?;
    let Some(l) = get_list(&mut ctx.db, &args[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let limit = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    let removed = l.remove_matching(&args[3], limit, count < 0);
    ctx.db.dirty += removed as u64;
    if removed > 0 {
        ctx.db.notify(notify::LIST, "lrem", &args[1]);
        drop_if_empty(&mut ctx.db, &args[1]);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

fn ltrim(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let start = ctx.int_arg(2)?;
    let end = ctx.int_arg(3)?;
    let Some(l) = get_list(&mut ctx.db, &args[1])? else {
        ctx.out.ok();
        return Ok(());
    };
    let len = l.len() as i64;
    let mut start = if start < 0 { len + start } else { start };
    let end = if end < 0 { len + end } else { end };
    if start < 0 {
        start = 0;
    }
    let (ltrim, rtrim) = if start > end || start >= len {
        (len, 0)
    } else {
        (start, len - end.min(len - 1) - 1)
    };
    l.delete_front(ltrim as usize);
    l.delete_back(rtrim as usize);
    ctx.db.dirty += (ltrim + rtrim) as u64;
    // Signalled even when nothing was trimmed, as Redis does (a WATCH on it breaks).
    ctx.db.note_modified(&args[1]);
    ctx.db.notify(notify::LIST, "ltrim", &args[1]);
    drop_if_empty(&mut ctx.db, &args[1]);
    ctx.out.ok();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Moves

/// LMOVE's work once the source is known to exist (Redis `lmoveGenericCommand`).
fn lmove_generic(ctx: &mut Ctx<'_, '_>, from_left: bool, to_left: bool) -> CmdResult {
    let args = ctx.args;
    let (src, dst) = (&args[1][..], &args[2][..]);
    let Some(l) = get_list(&mut ctx.db, src)? else {
        ctx.out.null();
        return Ok(());
    };
    if l.is_empty() {
        ctx.out.null();
        return Ok(());
    }
    if src == dst {
        if let Some(v) = l.pop(from_left) {
            l.push(&v, to_left);
            ctx.out.bulk(&v);
        }
        ctx.db.dirty += 1;
        // Redis reports the push, then the pop.
        ctx.db.notify(notify::LIST, push_event(to_left), dst);
        ctx.db.notify(notify::LIST, pop_event(from_left), src);
        return Ok(());
    }
    let dst_exists = get_list(&mut ctx.db, dst)?.is_some();
    let dirty = ctx.db.dirty;
    let Some(v) = get_list(&mut ctx.db, src)?.and_then(|l| l.pop(from_left)) else {
        ctx.out.null();
        return Ok(());
    };
    match get_list(&mut ctx.db, dst)? {
        Some(d) if dst_exists => d.push(&v, to_left),
        _ => {
            let mut d = ListValue::new();
            d.push(&v, to_left);
            ctx.db.set(dst, Value::List(Box::new(d)), false);
        }
    }
    // As Redis: the push on the destination, the pop, then the source's deletion.
    ctx.db.notify(notify::LIST, push_event(to_left), dst);
    ctx.db.notify(notify::LIST, pop_event(from_left), src);
    drop_if_empty(&mut ctx.db, src);
    ctx.db.dirty = dirty + 1;
    ctx.out.bulk(&v);
    Ok(())
}

fn lmove(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let from = side(&ctx.args[3])?;
    let to = side(&ctx.args[4])?;
    lmove_generic(ctx, from, to)
}

fn rpoplpush(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    lmove_generic(ctx, false, true)
}

/// BLMOVE/BRPOPLPUSH once the arguments are parsed (Redis `blmoveGenericCommand`).
fn blmove_generic(
    ctx: &mut Ctx<'_, '_>,
    from: bool,
    to: bool,
    timeout: Option<std::time::Duration>,
) -> CmdResult {
    let src = &ctx.args[1][..];
    let ready = match has_elements(&mut ctx.db, src) {
        Ok(r) => r,
        // Re-run for a ready key that changed type meanwhile: keep waiting.
        Err(_) if ctx.serving.is_some() => false,
        Err(e) => return Err(e),
    };
    if ready {
        let dirty = ctx.db.dirty;
        lmove_generic(ctx, from, to)?;
        if ctx.db.dirty > dirty {
            // Propagated without blocking: a reader must never wait.
            let side = |left: bool| Bytes::from_static(if left { b"LEFT" } else { b"RIGHT" });
            let args = ctx.args;
            ctx.db.propagate_as([
                Bytes::from_static(b"LMOVE"),
                args[1].clone(),
                args[2].clone(),
                side(from),
                side(to),
            ]);
        }
        return Ok(());
    }
    if !ctx.client.may_block() {
        ctx.out.null();
        return Ok(());
    }
    blocking::block(ctx, &[src], timeout, "list");
    Ok(())
}

fn blmove(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let from = side(&ctx.args[3])?;
    let to = side(&ctx.args[4])?;
    let timeout = blocking::parse_timeout(&ctx.args[5])?;
    blmove_generic(ctx, from, to, timeout)
}

fn brpoplpush(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let timeout = blocking::parse_timeout(&ctx.args[3])?;
    blmove_generic(ctx, false, true, timeout)
}

// ---------------------------------------------------------------------------------------------
// Blocking and multi-key pops

/// Pops from the first non-empty list of `keys` (Redis `blockingPopGenericCommand`): one
/// element as `[key, element]` when `count` is None, else up to `count` as `[key, [elements]]`.
/// Blocks when all are empty and `block` is given; answers a null array otherwise.
fn pop_first_nonempty(
    ctx: &mut Ctx<'_, '_>,
    keys: &[bytes::Bytes],
    left: bool,
    count: Option<usize>,
    block: Option<Option<std::time::Duration>>,
) -> CmdResult {
    let serving = ctx.serving;
    let candidates: Vec<&[u8]> = match serving {
        Some(k) => vec![k],
        None => keys.iter().map(|k| &k[..]).collect(),
    };
    for key in candidates {
        let ready = match has_elements(&mut ctx.db, key) {
            Ok(r) => r,
            Err(_) if serving.is_some() => false,
            Err(e) => return Err(e),
        };
        if !ready {
            continue;
        }
        match count {
            None => {
                let Some(v) = pop_one(ctx, key, left)? else {
                    continue;
                };
                ctx.out.array(2);
                ctx.out.bulk(key);
                ctx.out.bulk(&v);
            }
            Some(n) => {
                // Header first; the range reply follows inside.
                let mark = ctx.out.mark();
                ctx.out.array(2);
                ctx.out.bulk(key);
                if pop_range(ctx, key, left, n)? == 0 {
                    ctx.out.rollback(mark);
                    continue;
                }
            }
        }
        // Propagated as a plain pop of the key served: no blocking, no choice of key left.
        let mut pop = vec![
            Bytes::from_static(if left { b"LPOP" } else { b"RPOP" }),
            Bytes::copy_from_slice(key),
        ];
        if let Some(n) = count {
            pop.push(Bytes::from(n.to_string()));
        }
        ctx.db.propagate_as(pop);
        return Ok(());
    }
    match block {
        Some(timeout) if ctx.client.may_block() => {
            let keys: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
            blocking::block(ctx, &keys, timeout, "list");
        }
        _ => ctx.out.null_array(),
    }
    Ok(())
}

fn bpop_generic(ctx: &mut Ctx<'_, '_>, left: bool) -> CmdResult {
    let args = ctx.args;
    let timeout = blocking::parse_timeout(&args[args.len() - 1])?;
    pop_first_nonempty(ctx, &args[1..args.len() - 1], left, None, Some(timeout))
}

fn blpop(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    bpop_generic(ctx, true)
}

fn brpop(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    bpop_generic(ctx, false)
}

/// LMPOP/BLMPOP: `numkeys` at `numkeys_idx`, then the keys, `LEFT|RIGHT`, `[COUNT n]`
/// (Redis `lmpopGenericCommand`).
fn mpop_generic(ctx: &mut Ctx<'_, '_>, numkeys_idx: usize, blocks: bool) -> CmdResult {
    let args = ctx.args;
    let numkeys = long_in(&args[numkeys_idx], 1, "numkeys should be greater than 0")?;
    let where_idx = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(numkeys_idx + 1))
        .filter(|&i| i < args.len())
        .ok_or(CmdError::Syntax)?;
    let left = side(&args[where_idx])?;
    let mut count = None;
    let mut j = where_idx + 1;
    while j < args.len() {
        if count.is_none() && args[j].eq_ignore_ascii_case(b"count") && j + 1 < args.len() {
            j += 1;
            count = Some(long_in(&args[j], 1, "count should be greater than 0")? as usize);
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let count = count.unwrap_or(1);
    let block = if blocks {
        Some(blocking::parse_timeout(&args[1])?)
    } else {
        None
    };
    pop_first_nonempty(
        ctx,
        &args[numkeys_idx + 1..where_idx],
        left,
        Some(count),
        block,
    )
}

fn lmpop(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    mpop_generic(ctx, 1, false)
}

fn blmpop(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    mpop_generic(ctx, 2, true)
}
