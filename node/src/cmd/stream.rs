//! Stream commands: the rows and their handlers (Redis `t_stream.c`'s command half).
//!
//! The data structure is [`crate::db::types::stream`]. Conventions, as in Redis:
//!
//! - Arguments are validated in Redis's order (which decides the error a client sees), and
//!   commands that may fail half-way (XDEL, XACK, XCLAIM) parse every ID before changing
//!   anything.
//! - XREAD/XREADGROUP `BLOCK` go through [`crate::blocking`] with kind `stream`: XADD signals
//!   the key each time it adds an entry (`Db::created`), and deleting or replacing a stream
//!   signals it too, so a blocked XREADGROUP answers Redis's error. A blocked XREAD keeps the
//!   ID that `$` stood for when it blocked ([`blocking::block_as`]).
//! - A handler re-run for a ready key (`ctx.serving`) serves that stream only, with at most
//!   1000 entries when no COUNT was given (Redis `XREAD_BLOCKED_DEFAULT_COUNT`).

use bytes::{Bytes, BytesMut};

use crate::blocking;
use crate::cmd::{acl, flags, kflags, BeginSearch, CmdResult, Command, FindKeys, KeySpec};
use crate::db::types::stream::{parse_id, Group, Stream, StreamId, Trim, INVALID_ENTRIES_READ};
use crate::db::{Db, SmallBytes, Value};
use crate::dispatch::Ctx;
use crate::error::{lossy, CmdError};
use crate::resp::ReplyWriter;
use crate::util::num;

/// The keyspace-event class of every stream event (`t`).
const T: u32 = crate::config::notify::STREAM;

// ---------------------------------------------------------------------------------------------
// Key specs and rows

const KS_RW_UPDATE: &[KeySpec] = &[KeySpec::one(1, kflags::RW | kflags::UPDATE)];
const KS_RW_DELETE: &[KeySpec] = &[KeySpec::one(1, kflags::RW | kflags::DELETE)];
const KS_RO_ACCESS: &[KeySpec] = &[KeySpec::one(1, kflags::RO | kflags::ACCESS)];
const KS_RO: &[KeySpec] = &[KeySpec::one(1, kflags::RO)];
const KS2_RW_INSERT: &[KeySpec] = &[KeySpec::one(2, kflags::RW | kflags::INSERT)];
const KS2_RW_DELETE: &[KeySpec] = &[KeySpec::one(2, kflags::RW | kflags::DELETE)];
const KS2_RW_UPDATE: &[KeySpec] = &[KeySpec::one(2, kflags::RW | kflags::UPDATE)];
const KS2_RO_ACCESS: &[KeySpec] = &[KeySpec::one(2, kflags::RO | kflags::ACCESS)];

/// `STREAMS key [key ...] id [id ...]`: the first half of what follows the keyword.
const fn streams_spec(startfrom: i32) -> KeySpec {
    KeySpec {
        notes: "",
        flags: kflags::RO | kflags::ACCESS,
        begin: BeginSearch::Keyword {
            keyword: "STREAMS",
            startfrom,
        },
        find: FindKeys::Range {
            lastkey: -1,
            step: 1,
            limit: 2,
        },
    }
}

const NONDET: &[&str] = &["nondeterministic_output"];
const S: u32 = acl::STREAM;

pub static COMMANDS: &[Command] = &[
    Command {
        name: "xadd",
        arity: -5,
        flags: flags::WRITE | flags::DENYOOM | flags::FAST,
        acl: S,
        tips: NONDET,
        key_specs: &[KeySpec {
            notes: "UPDATE instead of INSERT because of the optional trimming feature",
            ..KeySpec::one(1, kflags::RW | kflags::UPDATE)
        }],
        handler: Some(xadd),
        group: "stream",
        since: "5.0.0",
        complexity: "O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.",
        summary: "Appends an entry to a stream, creating it if needed.",
        ..Command::DEFAULT
    },
    Command {
        name: "xrange",
        arity: -4,
        flags: flags::READONLY,
        acl: S,
        key_specs: KS_RO_ACCESS,
        handler: Some(xrange),
        group: "stream",
        since: "5.0.0",
        complexity: "O(N) with N being the number of elements being returned.",
        summary: "Entries of a stream within an ID range, oldest first.",
        ..Command::DEFAULT
    },
    Command {
        name: "xrevrange",
        arity: -4,
        flags: flags::READONLY,
        acl: S,
        key_specs: KS_RO_ACCESS,
        handler: Some(xrevrange),
        group: "stream",
        since: "5.0.0",
        complexity: "O(N) with N being the number of elements returned.",
        summary: "Entries of a stream within an ID range, newest first.",
        ..Command::DEFAULT
    },
    Command {
        name: "xlen",
        arity: 2,
        flags: flags::READONLY | flags::FAST,
        acl: S,
        key_specs: KS_RO,
        handler: Some(xlen),
        group: "stream",
        since: "5.0.0",
        summary: "The number of entries in a stream.",
        ..Command::DEFAULT
    },
    Command {
        name: "xdel",
        arity: -3,
        flags: flags::WRITE | flags::FAST,
        acl: S,
        key_specs: KS_RW_DELETE,
        handler: Some(xdel),
        group: "stream",
        since: "5.0.0",
        complexity: "O(1) for each single item to delete in the stream.",
        summary: "Deletes entries of a stream by ID.",
        ..Command::DEFAULT
    },
    Command {
        name: "xtrim",
        arity: -4,
        flags: flags::WRITE,
        acl: S,
        tips: NONDET,
        key_specs: KS_RW_DELETE,
        handler: Some(xtrim),
        group: "stream",
        since: "5.0.0",
        complexity: "O(N), with N being the number of evicted entries.",
        summary: "Trims a stream to a length or a minimum ID.",
        ..Command::DEFAULT
    },
    Command {
        name: "xread",
        arity: -4,
        flags: flags::READONLY | flags::BLOCKING,
        acl: S,
        key_specs: &[streams_spec(1)],
        handler: Some(xread),
        group: "stream",
        since: "5.0.0",
        complexity: "For each stream mentioned: O(N) with N the number of entries returned.",
        summary: "Reads entries after given IDs from streams, optionally waiting for some.",
        ..Command::DEFAULT
    },
    Command {
        name: "xreadgroup",
        arity: -7,
        flags: flags::WRITE | flags::BLOCKING,
        acl: S,
        key_specs: &[streams_spec(4)],
        handler: Some(xreadgroup),
        group: "stream",
        since: "5.0.0",
        complexity: "For each stream mentioned: O(M) with M the number of entries returned.",
        summary: "Reads entries for a consumer of a group, optionally waiting for some.",
        ..Command::DEFAULT
    },
    Command {
        name: "xack",
        arity: -4,
        flags: flags::WRITE | flags::FAST,
        acl: S,
        key_specs: KS_RW_UPDATE,
        handler: Some(xack),
        group: "stream",
        since: "5.0.0",
        complexity: "O(1) for each message ID processed.",
        summary: "Acknowledges pending entries of a consumer group.",
        ..Command::DEFAULT
    },
    Command {
        name: "xpending",
        arity: -3,
        flags: flags::READONLY,
        acl: S,
        tips: NONDET,
        key_specs: KS_RO_ACCESS,
        handler: Some(xpending),
        group: "stream",
        since: "5.0.0",
        complexity: "O(N) with N the number of elements returned.",
        summary: "Pending entries of a consumer group: a summary or a list.",
        ..Command::DEFAULT
    },
    Command {
        name: "xclaim",
        arity: -6,
        flags: flags::WRITE | flags::FAST,
        acl: S,
        tips: NONDET,
        key_specs: KS_RW_UPDATE,
        handler: Some(xclaim),
        group: "stream",
        since: "5.0.0",
        complexity: "O(log N) with N being the number of messages in the PEL of the consumer group.",
        summary: "Moves pending entries to another consumer.",
        ..Command::DEFAULT
    },
    Command {
        name: "xautoclaim",
        arity: -6,
        flags: flags::WRITE | flags::FAST,
        acl: S,
        tips: NONDET,
        key_specs: KS_RW_DELETE,
        handler: Some(xautoclaim),
        group: "stream",
        since: "6.2.0",
        complexity: "O(1) if COUNT is small.",
        summary: "Moves idle pending entries to another consumer, scanning like a cursor.",
        ..Command::DEFAULT
    },
    Command {
        name: "xsetid",
        arity: -3,
        flags: flags::WRITE | flags::DENYOOM | flags::FAST,
        acl: S,
        key_specs: KS_RW_UPDATE,
        handler: Some(xsetid),
        group: "stream",
        since: "5.0.0",
        summary: "Sets a stream's last ID and counters.",
        ..Command::DEFAULT
    },
    Command {
        name: "xgroup",
        arity: -2,
        subcommands: XGROUP,
        group: "stream",
        since: "5.0.0",
        complexity: "Depends on subcommand.",
        summary: "Manages the consumer groups of a stream.",
        ..Command::DEFAULT
    },
    Command {
        name: "xinfo",
        arity: -2,
        subcommands: XINFO,
        group: "stream",
        since: "5.0.0",
        complexity: "Depends on subcommand.",
        summary: "Describes streams, their groups and consumers.",
        ..Command::DEFAULT
    },
];

static XGROUP: &[Command] = &[
    Command {
        name: "create",
        arity: -5,
        flags: flags::WRITE | flags::DENYOOM,
        acl: S,
        key_specs: KS2_RW_INSERT,
        handler: Some(xgroup_create),
        group: "stream",
        since: "5.0.0",
        summary: "Creates a consumer group.",
        ..Command::DEFAULT
    },
    Command {
        name: "setid",
        arity: -5,
        flags: flags::WRITE,
        acl: S,
        key_specs: KS2_RW_UPDATE,
        handler: Some(xgroup_setid),
        group: "stream",
        since: "5.0.0",
        summary: "Sets a consumer group's last delivered ID.",
        ..Command::DEFAULT
    },
    Command {
        name: "destroy",
        arity: 4,
        flags: flags::WRITE,
        acl: S,
        key_specs: KS2_RW_DELETE,
        handler: Some(xgroup_destroy),
        group: "stream",
        since: "5.0.0",
        complexity:
            "O(N) where N is the number of entries in the group's pending entries list (PEL).",
        summary: "Deletes a consumer group.",
        ..Command::DEFAULT
    },
    Command {
        name: "createconsumer",
        arity: 5,
        flags: flags::WRITE | flags::DENYOOM,
        acl: S,
        key_specs: KS2_RW_INSERT,
        handler: Some(xgroup_createconsumer),
        group: "stream",
        since: "6.2.0",
        summary: "Creates a consumer in a group.",
        ..Command::DEFAULT
    },
    Command {
        name: "delconsumer",
        arity: 5,
        flags: flags::WRITE,
        acl: S,
        key_specs: KS2_RW_DELETE,
        handler: Some(xgroup_delconsumer),
        group: "stream",
        since: "5.0.0",
        summary: "Deletes a consumer from a group, dropping its pending entries.",
        ..Command::DEFAULT
    },
    Command {
        name: "help",
        arity: 2,
        flags: flags::LOADING | flags::STALE,
        acl: S,
        handler: Some(xgroup_help),
        group: "stream",
        since: "5.0.0",
        summary: "Lists the XGROUP subcommands.",
        ..Command::DEFAULT
    },
];

static XINFO: &[Command] = &[
    Command {
        name: "stream",
        arity: -3,
        flags: flags::READONLY,
        acl: S,
        key_specs: KS2_RO_ACCESS,
        handler: Some(xinfo_stream),
        group: "stream",
        since: "5.0.0",
        summary: "Describes a stream.",
        ..Command::DEFAULT
    },
    Command {
        name: "groups",
        arity: 3,
        flags: flags::READONLY,
        acl: S,
        key_specs: KS2_RO_ACCESS,
        handler: Some(xinfo_groups),
        group: "stream",
        since: "5.0.0",
        summary: "Describes the consumer groups of a stream.",
        ..Command::DEFAULT
    },
    Command {
        name: "consumers",
        arity: 4,
        flags: flags::READONLY,
        acl: S,
        tips: NONDET,
        key_specs: KS2_RO_ACCESS,
        handler: Some(xinfo_consumers),
        group: "stream",
        since: "5.0.0",
        summary: "Describes the consumers of a group.",
        ..Command::DEFAULT
    },
    Command {
        name: "help",
        arity: 2,
        flags: flags::LOADING | flags::STALE,
        acl: S,
        handler: Some(xinfo_help),
        group: "stream",
        since: "5.0.0",
        summary: "Lists the XINFO subcommands.",
        ..Command::DEFAULT
    },
];

// ---------------------------------------------------------------------------------------------
// Helpers

/// A read lookup (`lookupKeyRead`): counts a hit or miss, then checks the type.
fn read_stream<'a>(
    db: &'a mut Db<'_>,
    hits: &mut u64,
    misses: &mut u64,
    key: &[u8],
) -> Result<Option<&'a mut Stream>, CmdError> {
    match db.get(key) {
        None => {
            *misses += 1;
            Ok(None)
        }
        Some(e) => {
            *hits += 1;
            match &mut e.value {
                Value::Stream(s) => Ok(Some(s)),
                _ => Err(CmdError::WrongType),
            }
        }
    }
}

/// A write lookup (`lookupKeyWrite`): no statistics, then the type check.
fn write_stream<'a>(db: &'a mut Db<'_>, key: &[u8]) -> Result<Option<&'a mut Stream>, CmdError> {
    match db.get(key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Stream(s) => Ok(Some(s)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// A strict ID (`-`/`+` refused), the sequence defaulting to `missing_seq`.
fn strict_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, CmdError> {
    parse_id(arg, missing_seq, true, false)
        .map(|p| p.id)
        .ok_or(CmdError::InvalidStreamId)
}

/// A range bound: `-`/`+`, an ID, or `(ID` for an exclusive bound (Redis
/// `streamParseIntervalIDOrReply`). Returns the ID and whether it is exclusive.
fn interval_id(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), CmdError> {
    if arg.len() > 1 && arg[0] == b'(' {
        return Ok((strict_id(&arg[1..], missing_seq)?, true));
    }
    parse_id(arg, missing_seq, false, false)
        .map(|p| (p.id, false))
        .ok_or(CmdError::InvalidStreamId)
}

/// The inclusive start of an interval argument.
fn range_start(arg: &[u8]) -> Result<StreamId, CmdError> {
    let (id, ex) = interval_id(arg, 0)?;
    if ex {
        return id
            .incr()
            .ok_or_else(|| CmdError::err("invalid start ID for the interval"));
    }
    Ok(id)
}

/// The inclusive end of an interval argument.
fn range_end(arg: &[u8]) -> Result<StreamId, CmdError> {
    let (id, ex) = interval_id(arg, u64::MAX)?;
    if ex {
        return id
            .decr()
            .ok_or_else(|| CmdError::err("invalid end ID for the interval"));
    }
    Ok(id)
}

fn int_or(arg: &[u8], msg: &'static str) -> Result<i64, CmdError> {
    num::parse_i64(arg).ok_or_else(|| CmdError::err(msg))
}

fn int(arg: &[u8]) -> Result<i64, CmdError> {
    num::parse_i64(arg).ok_or(CmdError::NotInteger)
}

/// An error text with its own code (`NOGROUP ...`).
fn coded(text: String) -> CmdError {
    CmdError::Msg(text.into())
}

/// `%s` of a key or name in an error text.
fn show(b: &[u8]) -> String {
    lossy(b, usize::MAX)
}

fn write_id(out: &mut ReplyWriter<'_>, id: StreamId) {
    let mut a = itoa::Buffer::new();
    let mut b = itoa::Buffer::new();
    let ms = a.format(id.ms).as_bytes();
    let seq = b.format(id.seq).as_bytes();
    let mut buf = [0u8; 41];
    buf[..ms.len()].copy_from_slice(ms);
    buf[ms.len()] = b'-';
    buf[ms.len() + 1..ms.len() + 1 + seq.len()].copy_from_slice(seq);
    out.bulk(&buf[..ms.len() + 1 + seq.len()]);
}

/// `[id, [field, value, ...]]`.
fn write_entry(out: &mut ReplyWriter<'_>, id: StreamId, fields: &[&[u8]]) {
    out.array(2);
    write_id(out, id);
    out.array(fields.len());
    for f in fields {
        out.bulk(f);
    }
}

/// Writes the entries of `[start, end]` (at most `count`, 0 = all) as an array.
fn range_reply(
    out: &mut ReplyWriter<'_>,
    s: &Stream,
    start: StreamId,
    end: StreamId,
    count: usize,
    rev: bool,
) -> usize {
    let mut tmp = BytesMut::new();
    let mut w = ReplyWriter::new(&mut tmp, out.proto);
    let mut n = 0;
    s.range(start, end, rev, |id, f| {
        write_entry(&mut w, id, &f);
        n += 1;
        count == 0 || n < count
    });
    out.array(n);
    out.raw(&tmp);
    n
}

/// An entry as `[id, fields]`, or a null when it no longer exists.
fn entry_or_null(out: &mut ReplyWriter<'_>, s: &Stream, id: StreamId) {
    match s.get(id) {
        Some(f) => write_entry(out, id, &f),
        None => out.null(),
    }
}

/// Records that `key`'s stream received entries or lost a group: blocked readers re-check.
fn signal(db: &mut Db<'_>, key: &[u8]) {
    let index = db.index;
    let created = &mut db.fx().created;
    if !created
        .iter()
        .any(|(d, k)| *d == index && k.as_slice() == key)
    {
        created.push((index, SmallBytes::new(key)));
    }
}

// ---------------------------------------------------------------------------------------------
// XADD / XTRIM

/// XADD/XTRIM options (Redis `streamAddTrimArgs`).
struct AddTrimArgs {
    trim: Option<Trim>,
    approx: bool,
    limit: u64,
    nomkstream: bool,
    /// XADD: the ID argument (None for `*`) and its index.
    id: Option<(StreamId, bool)>,
    id_index: usize,
}

/// Parses XADD (`xadd`) or XTRIM options from argument 2, as Redis
/// `streamParseAddOrTrimArgsOrReply`.
#[cfg(test)]
fn parse_add_trim(
    args: &[Bytes],
    xadd: bool,
    node_max_entries: u64,
) -> Result<AddTrimArgs, CmdError> {
    parse_add_trim_for(args, xadd, node_max_entries, false)
}

/// [`parse_add_trim`]; `obey`: the command comes from the AOF or a primary, which may hold
/// `LIMIT` with an exact trim (Redis propagates approximate trims that way).
fn parse_add_trim_for(
    args: &[Bytes],
    xadd: bool,
    node_max_entries: u64,
    obey: bool,
) -> Result<AddTrimArgs, CmdError> {
    let mut a = AddTrimArgs {
        trim: None,
        approx: false,
        limit: 0,
        nomkstream: false,
        id: None,
        id_index: args.len(),
    };
    let mut limit_given = false;
    let mut i = 2;
    let both = "syntax error, MAXLEN and MINID options at the same time are not compatible";
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = &args[i][..];
        if xadd && opt == b"*" {
            a.id_index = i;
            break;
        } else if opt.eq_ignore_ascii_case(b"maxlen") && more > 0 {
            if a.trim.is_some() {
                return Err(CmdError::err(both));
            }
            a.approx = false;
            let next = &args[i + 1][..];
            if more >= 2 && (next == b"~" || next == b"=") {
                a.approx = next == b"~";
                i += 1;
            }
            let n = int(&args[i + 1])?;
            if n < 0 {
                return Err(CmdError::err("The MAXLEN argument must be >= 0."));
            }
            i += 1;
            a.trim = Some(Trim::MaxLen(n as u64));
        } else if opt.eq_ignore_ascii_case(b"minid") && more > 0 {
            if a.trim.is_some() {
                return Err(CmdError::err(both));
            }
            a.approx = false;
            let next = &args[i + 1][..];
            if more >= 2 && (next == b"~" || next == b"=") {
                a.approx = next == b"~";
                i += 1;
            }
            let id = strict_id(&args[i + 1], 0)?;
            i += 1;
            a.trim = Some(Trim::MinId(id));
        } else if opt.eq_ignore_ascii_case(b"limit") && more > 0 {
            let n = int(&args[i + 1])?;
            if n < 0 {
                return Err(CmdError::err("The LIMIT argument must be >= 0."));
            }
            a.limit = n as u64;
            limit_given = true;
            i += 1;
        } else if xadd && opt.eq_ignore_ascii_case(b"nomkstream") {
            a.nomkstream = true;
        } else if xadd {
            let p = parse_id(opt, 0, true, true).ok_or(CmdError::InvalidStreamId)?;
            a.id = Some((p.id, p.seq_given));
            a.id_index = i;
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if a.limit > 0 && a.trim.is_none() {
        return Err(CmdError::err(
            "syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && a.trim.is_none() {
        return Err(CmdError::err(
            "syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if limit_given {
        if !a.approx && obey {
            a.limit = 0;
        } else if !a.approx {
            return Err(CmdError::err(
                "syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if a.approx {
        let l = 100u64.saturating_mul(node_max_entries);
        a.limit = if l == 0 || l > 10000 { 10000 } else { l };
    } else {
        a.limit = 0;
    }
    Ok(a)
}

fn xadd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let limits = ctx.settings.stream_limits;
    let a = parse_add_trim_for(args, true, limits.max_entries, ctx.client.obey)?;
    let field_pos = a.id_index + 1;
    if field_pos > args.len() || (args.len() - field_pos) < 2 || (args.len() - field_pos) % 2 == 1 {
        return Err(CmdError::WrongArity("xadd".into()));
    }
    if let Some((id, true)) = a.id {
        if id.is_zero() {
            return Err(CmdError::err(
                "The ID specified in XADD must be greater than 0-0",
            ));
        }
    }
    let key = &args[1][..];
    let exists = match write_stream(&mut ctx.db, key)? {
        Some(_) => true,
        None if a.nomkstream => {
            ctx.out.null();
            return Ok(());
        }
        None => false,
    };
    if !exists {
        // Counts as the command's one change.
        ctx.db
            .set(key, Value::Stream(Box::new(Stream::new())), false);
    } else {
        ctx.db.dirty += 1;
    }
    let now = ctx.db.now;
    let Some(s) = write_stream(&mut ctx.db, key)? else {
        return Err(CmdError::NoSuchKey);
    };
    if s.last_id == StreamId::MAX {
        return Err(CmdError::err(
            "The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    // Redis answers ERANGE's text when `ms-*` cannot pick a sequence after the last one.
    let too_large = "Elements are too large to be stored";
    let smaller = "The ID specified in XADD is equal or smaller than the target stream top item";
    let id = match a.id {
        None => s.next_auto_id(now).ok_or(smaller),
        Some((id, true)) => Some(id).filter(|&id| id > s.last_id).ok_or(smaller),
        Some((id, false)) => {
            if id.ms > s.last_id.ms {
                Ok(StreamId::new(id.ms, 0))
            } else if id.ms == s.last_id.ms {
                s.last_id.incr().filter(|n| n.ms == id.ms).ok_or(too_large)
            } else {
                Err(smaller)
            }
        }
    };
    let id = match id {
        Ok(id) => id,
        Err(text) => {
            if !exists {
                // Never leave an empty stream behind.
                ctx.db.remove(key);
                ctx.db.dirty -= 2;
            } else {
                ctx.db.dirty -= 1;
            }
            return Err(CmdError::err(text));
        }
    };
    s.append(id, &args[field_pos..], limits);
    let trimmed = match a.trim {
        Some(t) => s.trim(t, a.approx, a.limit),
        None => 0,
    };
    let len = s.len();
    write_id(&mut ctx.out, id);
    ctx.notify(T, "xadd", key);
    if trimmed > 0 {
        ctx.notify(T, "xtrim", key);
    }
    signal(&mut ctx.db, key);
    // Propagated with the ID chosen and an exact trim to the length left, so a reader
    // (whose node layout, hence approximate trimming, may differ) ends with the same entries.
    let mut prop = vec![Bytes::from_static(b"XADD"), args[1].clone()];
    if a.trim.is_some() {
        prop.extend([
            Bytes::from_static(b"MAXLEN"),
            Bytes::from_static(b"="),
            Bytes::from(len.to_string()),
        ]);
    }
    prop.push(Bytes::from(id.to_bytes()));
    prop.extend(args[field_pos..].iter().cloned());
    ctx.db.propagate_as(prop);
    Ok(())
}

fn xtrim(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let key = &ctx.args[1][..];
    // The options first, then the key (as Redis: a syntax error wins over a missing key).
    let max = ctx.settings.stream_limits.max_entries;
    let a = parse_add_trim_for(ctx.args, false, max, ctx.client.obey)?;
    let Some(s) = write_stream(&mut ctx.db, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let deleted = match a.trim {
        Some(t) => s.trim(t, a.approx, a.limit),
        None => 0,
    };
    let len = s.len();
    ctx.db.dirty += deleted;
    if deleted > 0 {
        ctx.notify(T, "xtrim", key);
        ctx.db.propagate_as([
            Bytes::from_static(b"XTRIM"),
            ctx.args[1].clone(),
            Bytes::from_static(b"MAXLEN"),
            Bytes::from_static(b"="),
            Bytes::from(len.to_string()),
        ]);
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// XRANGE / XREVRANGE / XLEN / XDEL

fn range_generic(ctx: &mut Ctx<'_, '_>, rev: bool) -> CmdResult {
    let args = ctx.args;
    let (sarg, earg) = if rev {
        (&args[3], &args[2])
    } else {
        (&args[2], &args[3])
    };
    let start = range_start(sarg)?;
    let end = range_end(earg)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < args.len() {
        if args[j].eq_ignore_ascii_case(b"count") && j + 1 < args.len() {
            count = int(&args[j + 1])?.max(0);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let Some(s) = read_stream(&mut ctx.db, &mut ctx.hits, &mut ctx.misses, &args[1])? else {
        ctx.out.array(0);
        return Ok(());
    };
    if count == 0 {
        ctx.out.null_array();
        return Ok(());
    }
    range_reply(&mut ctx.out, s, start, end, count.max(0) as usize, rev);
    Ok(())
}

fn xrange(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    range_generic(ctx, false)
}

fn xrevrange(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    range_generic(ctx, true)
}

fn xlen(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let n = read_stream(&mut ctx.db, &mut ctx.hits, &mut ctx.misses, &ctx.args[1])?
        .map_or(0, |s| s.len());
    ctx.out.int(n as i64);
    Ok(())
}

fn xdel(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    if write_stream(&mut ctx.db, &args[1])?.is_none() {
        ctx.out.int(0);
        return Ok(());
    }
    let ids = args[2..]
        .iter()
        .map(|a| strict_id(a, 0))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(s) = write_stream(&mut ctx.db, &args[1])? else {
        return Err(CmdError::NoSuchKey);
    };
    let mut deleted = 0u64;
    let mut first = false;
    for id in ids {
        if s.delete(id) {
            if id == s.first_id {
                first = true;
            }
            if id > s.max_deleted {
                s.max_deleted = id;
            }
            deleted += 1;
        }
    }
    if deleted > 0 {
        if s.is_empty() {
            s.first_id = StreamId::MIN;
        } else if first {
            s.first_id = s.edge_id(true).unwrap_or(StreamId::MIN);
        }
    }
    ctx.db.dirty += deleted;
    if deleted > 0 {
        ctx.notify(T, "xdel", &args[1]);
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// XREAD / XREADGROUP

/// Entries blocked readers get per wake-up without COUNT.
const BLOCKED_DEFAULT_COUNT: usize = 1000;

fn xread(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    read_generic(ctx, false)
}

fn xreadgroup(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let dirty = ctx.db.dirty;
    let r = read_generic(ctx, true);
    if ctx.db.dirty > dirty {
        let form = unblocked_read(ctx.args, ctx.serving.is_some());
        ctx.db.propagate_as(form);
    }
    r
}

/// XREADGROUP as propagated: without BLOCK (a reader must never wait), and with the COUNT a
/// blocked reader was served with when none was given.
fn unblocked_read(args: &[Bytes], served_blocked: bool) -> Vec<Bytes> {
    let mut out = Vec::with_capacity(args.len());
    let mut has_count = false;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if i > 0 && a.eq_ignore_ascii_case(b"streams") {
            if served_blocked && !has_count {
                out.push(Bytes::from_static(b"COUNT"));
                out.push(Bytes::from(BLOCKED_DEFAULT_COUNT.to_string()));
            }
            out.extend(args[i..].iter().cloned());
            break;
        }
        if a.eq_ignore_ascii_case(b"group") && i + 2 < args.len() {
            // The group and consumer names may look like options.
            out.extend(args[i..i + 3].iter().cloned());
            i += 3;
            continue;
        }
        if a.eq_ignore_ascii_case(b"block") && i + 1 < args.len() {
            i += 2;
            continue;
        }
        has_count |= a.eq_ignore_ascii_case(b"count");
        out.push(a.clone());
        i += 1;
    }
    out
}

/// What XREAD/XREADGROUP will read from one stream.
enum From {
    /// Entries after this ID (XREAD, or XREADGROUP's history after it).
    After(StreamId),
    /// XREADGROUP `>`: entries never delivered to the group.
    New,
}

fn read_generic(ctx: &mut Ctx<'_, '_>, group_mode: bool) -> CmdResult {
    let args = ctx.args;
    let mut timeout: Option<Option<std::time::Duration>> = None;
    let mut count: usize = 0;
    let mut streams_arg = 0;
    let mut group: Option<(&[u8], &[u8])> = None;
    let mut noack = false;
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - i - 1;
        let o = &args[i][..];
        if o.eq_ignore_ascii_case(b"block") && more > 0 {
            if ctx.client.in_script {
                // Named as the script wrote it, as Redis does.
                return Err(CmdError::err(format!(
                    "{} command is not allowed with BLOCK option from scripts",
                    String::from_utf8_lossy(&args[0])
                )));
            }
            i += 1;
            let ms = num::parse_i64(&args[i]).ok_or(CmdError::TimeoutNotInteger)?;
            if ms < 0 {
                return Err(CmdError::TimeoutNegative);
            }
            if ms > 0 && ms > i64::MAX - ctx.db.now as i64 {
                return Err(CmdError::err("timeout is out of range"));
            }
            timeout = Some((ms > 0).then(|| std::time::Duration::from_millis(ms as u64)));
        } else if o.eq_ignore_ascii_case(b"count") && more > 0 {
            i += 1;
            count = int(&args[i])?.max(0) as usize;
        } else if o.eq_ignore_ascii_case(b"streams") && more > 0 {
            streams_arg = i + 1;
            if !(args.len() - streams_arg).is_multiple_of(2) {
                // Redis 7.0 names XREAD and `$` for both commands.
                return Err(CmdError::err(
                    "Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            break;
        } else if o.eq_ignore_ascii_case(b"group") && more >= 2 {
            if !group_mode {
                return Err(CmdError::err(
                    "The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            group = Some((&args[i + 1], &args[i + 2]));
            i += 2;
        } else if o.eq_ignore_ascii_case(b"noack") {
            if !group_mode {
                return Err(CmdError::err(
                    "The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            noack = true;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if streams_arg == 0 {
        return Err(CmdError::Syntax);
    }
    if group_mode && group.is_none() {
        return Err(CmdError::err("Missing GROUP option for XREADGROUP"));
    }
    let n = (args.len() - streams_arg) / 2;
    let keys = &args[streams_arg..streams_arg + n];
    let id_args = &args[streams_arg + n..];

    if let Some(serving) = ctx.serving {
        return serve_blocked(ctx, serving, keys, id_args, group, noack, count);
    }

    // Resolve the IDs (and check keys, types and groups) in Redis's order.
    let mut froms = Vec::with_capacity(n);
    for (key, ida) in keys.iter().zip(id_args) {
        let s = read_stream(&mut ctx.db, &mut ctx.hits, &mut ctx.misses, key)?;
        if let Some((g, _)) = group {
            if !s.as_ref().is_some_and(|s| s.groups.contains_key(g)) {
                return Err(coded(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    show(key),
                    show(g)
                )));
            }
        }
        if &ida[..] == b"$" {
            if group_mode {
                return Err(CmdError::err("The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."));
            }
            froms.push(From::After(s.map_or(StreamId::MIN, |s| s.last_id)));
        } else if &ida[..] == b">" {
            if !group_mode {
                return Err(CmdError::err("The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."));
            }
            froms.push(From::New);
        } else {
            match strict_id(ida, 0)? {
                // Redis reads `>` as this ID, so the ID itself means the same.
                id if group_mode && id == StreamId::MAX => froms.push(From::New),
                id => froms.push(From::After(id)),
            }
        }
    }

    let now = ctx.db.now;
    let mut tmp = BytesMut::new();
    let mut w = ReplyWriter::new(&mut tmp, ctx.out.proto);
    let mut served = 0;
    let mut created = Vec::new();
    for (key, from) in keys.iter().zip(&froms) {
        let Some(s) = write_stream(&mut ctx.db, key)? else {
            continue;
        };
        // A consumer is made (by `history` or `deliver_new`) when a stream is served to it.
        let new_consumer = |s: &Stream, (g, consumer): (&[u8], &[u8])| {
            s.groups
                .get(g)
                .is_some_and(|gr| !gr.consumers.contains_key(consumer))
        };
        let wrote = match group {
            None => {
                let From::After(gt) = *from else { continue };
                if s.is_empty() || s.last_valid_id() <= gt {
                    continue;
                }
                open_stream(&mut w, key);
                range_after(&mut w, s, gt, count);
                true
            }
            Some((g, consumer)) => match *from {
                From::After(gt) => {
                    if new_consumer(s, (g, consumer)) {
                        created.push(key);
                    }
                    open_stream(&mut w, key);
                    history(&mut w, s, g, consumer, gt, count, now);
                    ctx.db.dirty += 1;
                    true
                }
                From::New => {
                    let last = s.groups.get(g).map_or(StreamId::MAX, |gr| gr.last_id);
                    if s.is_empty() || s.last_valid_id() <= last {
                        continue;
                    }
                    if new_consumer(s, (g, consumer)) {
                        created.push(key);
                    }
                    open_stream(&mut w, key);
                    deliver_new(&mut w, s, g, consumer, last, count, noack, now);
                    ctx.db.dirty += 1;
                    true
                }
            },
        };
        if wrote {
            served += 1;
        }
    }
    for key in created {
        consumer_created(ctx, key);
    }
    if served > 0 {
        // A map of stream -> entries in RESP3, an array of `[stream, entries]` in RESP2.
        if ctx.out.is_resp3() {
            ctx.out.map(served);
        } else {
            ctx.out.array(served);
        }
        ctx.out.raw(&tmp);
        return Ok(());
    }
    match timeout {
        Some(t) if ctx.client.may_block() => {
            // Block, remembering what `$` stood for.
            let mut bargs = args.to_vec();
            for (j, from) in froms.iter().enumerate() {
                if let (From::After(id), true) = (from, &id_args[j][..] == b"$") {
                    bargs[streams_arg + n + j] = Bytes::from(id.to_bytes());
                }
            }
            let ks: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
            blocking::block_as(ctx, bargs, &ks, t, "stream");
        }
        _ => ctx.out.null_array(),
    }
    Ok(())
}

/// A consumer made by XREADGROUP, XCLAIM or XAUTOCLAIM as it was named: a change, and the
/// `xgroup-createconsumer` event XGROUP CREATECONSUMER sends too.
fn consumer_created(ctx: &mut Ctx<'_, '_>, key: &[u8]) {
    ctx.db.dirty += 1;
    ctx.notify(T, "xgroup-createconsumer", key);
}

/// Starts one stream's part of an XREAD reply: `[key, ...` (RESP2) or `key => ...` (RESP3).
fn open_stream(w: &mut ReplyWriter<'_>, key: &[u8]) {
    if !w.is_resp3() {
        w.array(2);
    }
    w.bulk(key);
}

/// Entries with IDs above `gt`.
fn range_after(w: &mut ReplyWriter<'_>, s: &Stream, gt: StreamId, count: usize) {
    match gt.incr() {
        Some(start) => {
            range_reply(w, s, start, StreamId::MAX, count, false);
        }
        None => w.array(0),
    }
}

/// XREADGROUP with an ID: the consumer's pending entries above `gt`, deleted ones as
/// `[id, null]`; each delivery counted again.
fn history(
    w: &mut ReplyWriter<'_>,
    s: &mut Stream,
    g: &[u8],
    consumer: &[u8],
    gt: StreamId,
    count: usize,
    now: u64,
) {
    let Some(start) = gt.incr() else {
        w.array(0);
        return;
    };
    let Some(mut gr) = s.groups.remove(g) else {
        w.array(0);
        return;
    };
    let c = gr.consumer(consumer, now).0;
    c.seen_time = now;
    let ids: Vec<StreamId> = c
        .pel
        .range(start..)
        .take(if count == 0 { usize::MAX } else { count })
        .copied()
        .collect();
    w.array(ids.len());
    for id in ids {
        match s.get(id) {
            Some(f) => {
                write_entry(w, id, &f);
                if let Some(nack) = gr.pel.get_mut(&id) {
                    nack.delivery_time = now;
                    nack.delivery_count += 1;
                }
            }
            None => {
                w.array(2);
                write_id(w, id);
                w.null_array();
            }
        }
    }
    s.groups.insert(Bytes::copy_from_slice(g), gr);
}

/// XREADGROUP `>`: entries after the group's last delivered ID, which moves on; each one
/// becomes pending for `consumer` unless `noack`.
#[allow(clippy::too_many_arguments)]
fn deliver_new(
    w: &mut ReplyWriter<'_>,
    s: &mut Stream,
    g: &[u8],
    consumer: &[u8],
    last: StreamId,
    count: usize,
    noack: bool,
    now: u64,
) {
    let Some(mut gr) = s.groups.remove(g) else {
        w.array(0);
        return;
    };
    gr.consumer(consumer, now).0.seen_time = now;
    let mut tmp = BytesMut::new();
    let mut ew = ReplyWriter::new(&mut tmp, w.proto);
    let mut ids = Vec::new();
    if let Some(start) = last.incr() {
        s.range(start, StreamId::MAX, false, |id, f| {
            write_entry(&mut ew, id, &f);
            ids.push(id);
            count == 0 || ids.len() < count
        });
    }
    for &id in &ids {
        s.advance_group(&mut gr, id);
        if !noack {
            gr.deliver(id, consumer, now);
        }
    }
    w.array(ids.len());
    w.raw(&tmp);
    s.groups.insert(Bytes::copy_from_slice(g), gr);
}

/// A blocked XREAD/XREADGROUP re-run because `serving` became ready (Redis
/// `serveClientsBlockedOnStreamKey`).
fn serve_blocked(
    ctx: &mut Ctx<'_, '_>,
    serving: &[u8],
    keys: &[Bytes],
    id_args: &[Bytes],
    group: Option<(&[u8], &[u8])>,
    noack: bool,
    count: usize,
) -> CmdResult {
    let count = if count == 0 {
        BLOCKED_DEFAULT_COUNT
    } else {
        count
    };
    let Some(j) = keys.iter().position(|k| &k[..] == serving) else {
        blocking::block(ctx, &[], None, "stream");
        return Ok(());
    };
    let now = ctx.db.now;
    let proto = ctx.out.proto;
    let s = match write_stream(&mut ctx.db, serving) {
        Ok(Some(s)) => s,
        _ => {
            if group.is_some() {
                return Err(CmdError::raw("UNBLOCKED the stream key no longer exists"));
            }
            blocking::block(ctx, &[], None, "stream");
            return Ok(());
        }
    };
    let mut tmp = BytesMut::new();
    let mut w = ReplyWriter::new(&mut tmp, proto);
    match group {
        Some((g, consumer)) => {
            let Some(gr) = s.groups.get(g) else {
                return Err(CmdError::raw(
                    "NOGROUP the consumer group this client was blocked on no longer exists",
                ));
            };
            let last = gr.last_id;
            if s.last_id <= last {
                blocking::block(ctx, &[], None, "stream");
                return Ok(());
            }
            let new = s
                .groups
                .get_mut(g)
                .is_some_and(|gr| gr.consumer(consumer, now).1);
            open_stream(&mut w, serving);
            deliver_new(&mut w, s, g, consumer, last, count, noack, now);
            ctx.db.dirty += 1;
            if new {
                consumer_created(ctx, serving);
            }
        }
        None => {
            let gt = strict_id(&id_args[j], 0).unwrap_or(StreamId::MAX);
            if s.last_id <= gt {
                blocking::block(ctx, &[], None, "stream");
                return Ok(());
            }
            open_stream(&mut w, serving);
            range_after(&mut w, s, gt, count);
        }
    }
    if ctx.out.is_resp3() {
        ctx.out.map(1);
    } else {
        ctx.out.array(1);
    }
    ctx.out.raw(&tmp);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// XACK / XPENDING / XCLAIM / XAUTOCLAIM

fn xack(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let has_group = match read_stream(&mut ctx.db, &mut ctx.hits, &mut ctx.misses, &args[1])? {
        Some(s) => s.groups.contains_key(&args[2][..]),
        None => false,
    };
    if !has_group {
        ctx.out.int(0);
        return Ok(());
    }
    let ids = args[3..]
        .iter()
        .map(|a| strict_id(a, 0))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(s) = write_stream(&mut ctx.db, &args[1])? else {
        return Err(CmdError::NoSuchKey);
    };
    let Some(g) = s.groups.get_mut(&args[2][..]) else {
        return Err(CmdError::NoSuchKey);
    };
    let mut acked = 0;
    for id in ids {
        if g.ack(id) {
            acked += 1;
        }
    }
    ctx.db.dirty += acked;
    ctx.out.int(acked as i64);
    Ok(())
}

fn nogroup(key: &[u8], group: &[u8]) -> CmdError {
    coded(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        show(key),
        show(group)
    ))
}

fn xpending(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let argc = args.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(CmdError::Syntax);
    }
    let mut ext = None;
    if argc >= 6 {
        let mut si = 3;
        let mut minidle = 0i64;
        if args[3].eq_ignore_ascii_case(b"idle") {
            minidle = int(&args[4])?;
            if argc < 8 {
                return Err(CmdError::Syntax);
            }
            si += 2;
        }
        let count = int(&args[si + 2])?.max(0) as usize;
        let start = range_start(&args[si])?;
        let end = range_end(&args[si + 1])?;
        let consumer = args.get(si + 3).map(|c| &c[..]);
        ext = Some((minidle, start, end, count, consumer));
    }
    let now = ctx.db.now;
    let s = read_stream(&mut ctx.db, &mut ctx.hits, &mut ctx.misses, &args[1])?;
    let Some(g) = s.and_then(|s| s.groups.get(&args[2][..])) else {
        return Err(nogroup(&args[1], &args[2]));
    };
    let out = &mut ctx.out;
    let Some((minidle, start, end, count, consumer)) = ext else {
        out.array(4);
        out.int(g.pel.len() as i64);
        let (Some((first, _)), Some((last, _))) = (g.pel.first_key_value(), g.pel.last_key_value())
        else {
            out.null();
            out.null();
            out.null_array();
            return Ok(());
        };
        write_id(out, *first);
        write_id(out, *last);
        let busy: Vec<(&Bytes, usize)> = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.pel.is_empty())
            .map(|(n, c)| (n, c.pel.len()))
            .collect();
        out.array(busy.len());
        for (n, k) in busy {
            out.array(2);
            out.bulk(n);
            out.bulk_int(k as i64);
        }
        return Ok(());
    };
    let mut rows = Vec::new();
    if start <= end && count > 0 {
        let ids: Box<dyn Iterator<Item = &StreamId>> = match consumer {
            Some(c) => match g.consumers.get(c) {
                Some(c) => Box::new(c.pel.range(start..=end)),
                None => Box::new(std::iter::empty()),
            },
            None => Box::new(g.pel.range(start..=end).map(|(id, _)| id)),
        };
        for id in ids {
            let Some(n) = g.pel.get(id) else { continue };
            let idle = now.saturating_sub(n.delivery_time);
            if minidle > 0 && (idle as i64) < minidle {
                continue;
            }
            rows.push((*id, n, idle));
            if rows.len() >= count {
                break;
            }
        }
    }
    out.array(rows.len());
    for (id, n, idle) in rows {
        out.array(4);
        write_id(out, id);
        out.bulk(&n.consumer);
        out.int(idle as i64);
        out.int(n.delivery_count as i64);
    }
    Ok(())
}

fn xclaim(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let ok = match read_stream(&mut ctx.db, &mut ctx.hits, &mut ctx.misses, &args[1])? {
        Some(s) => s.groups.contains_key(&args[2][..]),
        None => false,
    };
    if !ok {
        return Err(nogroup(&args[1], &args[2]));
    }
    let minidle = int_or(&args[4], "Invalid min-idle-time argument for XCLAIM")?.max(0) as u64;
    let mut ids = Vec::new();
    let mut j = 5;
    while j < args.len() {
        match parse_id(&args[j], 0, true, false) {
            Some(p) => ids.push(p.id),
            None => break,
        }
        j += 1;
    }
    let now = ctx.db.now;
    let (mut force, mut justid) = (false, false);
    let mut retry: Option<u64> = None;
    let mut delivery: Option<i64> = None;
    let mut last_id = StreamId::MIN;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let o = &args[j][..];
        if o.eq_ignore_ascii_case(b"force") {
            force = true;
        } else if o.eq_ignore_ascii_case(b"justid") {
            justid = true;
        } else if o.eq_ignore_ascii_case(b"idle") && more > 0 {
            j += 1;
            let v = int_or(&args[j], "Invalid IDLE option argument for XCLAIM")?;
            delivery = Some((now as i64).wrapping_sub(v));
        } else if o.eq_ignore_ascii_case(b"time") && more > 0 {
            j += 1;
            delivery = Some(int_or(&args[j], "Invalid TIME option argument for XCLAIM")?);
        } else if o.eq_ignore_ascii_case(b"retrycount") && more > 0 {
            j += 1;
            let v = int_or(&args[j], "Invalid RETRYCOUNT option argument for XCLAIM")?;
            // A negative count is ignored (the usual increment applies), as in Redis.
            retry = u64::try_from(v).ok();
        } else if o.eq_ignore_ascii_case(b"lastid") && more > 0 {
            j += 1;
            last_id = strict_id(&args[j], 0)?;
        } else {
            return Err(CmdError::err(format!(
                "Unrecognized XCLAIM option '{}'",
                show(o)
            )));
        }
        j += 1;
    }
    let delivery = match delivery {
        Some(d) if d >= 0 && (d as u64) <= now => d as u64,
        _ => now,
    };
    let Some(s) = write_stream(&mut ctx.db, &args[1])? else {
        return Err(CmdError::NoSuchKey);
    };
    let Some(mut g) = s.groups.remove(&args[2][..]) else {
        return Err(CmdError::NoSuchKey);
    };
    if last_id > g.last_id {
        g.last_id = last_id;
    }
    let name = &args[3][..];
    let mut tmp = BytesMut::new();
    let mut w = ReplyWriter::new(&mut tmp, ctx.out.proto);
    let mut n = 0;
    let mut dirty = 0;
    let mut props = Vec::new();
    let mut created = false;
    for id in ids {
        if !s.contains(id) {
            if g.ack(id) {
                dirty += 1;
                props.push(ack_form(&args[1..3], id));
            }
            continue;
        }
        let fresh = if !g.pel.contains_key(&id) {
            if !force {
                continue;
            }
            true
        } else {
            false
        };
        if !fresh && minidle > 0 {
            let t = g.pel[&id].delivery_time;
            if now.saturating_sub(t) < minidle {
                continue;
            }
        }
        let (c, new) = g.consumer(name, now);
        c.seen_time = now;
        created |= new;
        let prev = g.pel.get(&id).cloned();
        if let Some(p) = &prev {
            if &p.consumer[..] != name {
                if let Some(c) = g.consumers.get_mut(&p.consumer) {
                    c.pel.remove(&id);
                }
            }
        }
        let mut count = prev.map_or(1, |p| p.delivery_count);
        if let Some(r) = retry {
            count = r;
        } else if !justid {
            count += 1;
        }
        props.push(claim_form(&args[1..4], id, delivery, count));
        g.pel.insert(
            id,
            crate::db::types::stream::Nack {
                consumer: Bytes::copy_from_slice(name),
                delivery_time: delivery,
                delivery_count: count,
            },
        );
        if let Some(c) = g.consumers.get_mut(name) {
            c.pel.insert(id);
        }
        if justid {
            write_id(&mut w, id);
        } else {
            entry_or_null(&mut w, s, id);
        }
        n += 1;
        dirty += 1;
    }
    let group_last = g.last_id;
    s.groups.insert(Bytes::copy_from_slice(&args[2]), g);
    ctx.db.dirty += dirty;
    if created {
        consumer_created(ctx, &args[1]);
    }
    propagate_claims(ctx, props, group_last);
    ctx.out.array(n);
    ctx.out.raw(&tmp);
    Ok(())
}

/// How one claimed entry is propagated (Redis's form): time-free, so a reader claims it
/// whatever its clock says about idle times.
fn claim_form(kgc: &[Bytes], id: StreamId, time: u64, count: u64) -> Vec<Bytes> {
    let mut v = kgc.to_vec();
    v.insert(0, Bytes::from_static(b"XCLAIM"));
    v.extend([
        Bytes::from_static(b"0"),
        Bytes::from(id.to_bytes()),
        Bytes::from_static(b"TIME"),
        Bytes::from(time.to_string()),
        Bytes::from_static(b"RETRYCOUNT"),
        Bytes::from(count.to_string()),
        Bytes::from_static(b"FORCE"),
        Bytes::from_static(b"JUSTID"),
    ]);
    v
}

/// A pending entry whose message was deleted, dropped from the PEL.
fn ack_form(kg: &[Bytes], id: StreamId) -> Vec<Bytes> {
    let mut v = vec![Bytes::from_static(b"XACK")];
    v.extend(kg.iter().cloned());
    v.push(Bytes::from(id.to_bytes()));
    v
}

/// Propagates XCLAIM/XAUTOCLAIM as the claims and acks they made, then the group's last ID.
fn propagate_claims(ctx: &mut Ctx<'_, '_>, props: Vec<Vec<Bytes>>, group_last: StreamId) {
    if props.is_empty() {
        return;
    }
    for p in props {
        ctx.db.propagate_as(p);
    }
    let args = ctx.args;
    ctx.db.propagate_as([
        Bytes::from_static(b"XGROUP"),
        Bytes::from_static(b"SETID"),
        args[1].clone(),
        args[2].clone(),
        Bytes::from(group_last.to_bytes()),
    ]);
}

fn xautoclaim(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let minidle = int_or(&args[4], "Invalid min-idle-time argument for XAUTOCLAIM")?.max(0) as u64;
    let start = range_start(&args[5])?;
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if args[j].eq_ignore_ascii_case(b"count") && more > 0 {
            let max = i64::MAX / 16;
            count = match num::parse_i64(&args[j + 1]) {
                Some(v) if (1..=max).contains(&v) => v,
                _ => return Err(CmdError::err("COUNT must be > 0")),
            };
            j += 1;
        } else if args[j].eq_ignore_ascii_case(b"justid") {
            justid = true;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let ok = match read_stream(&mut ctx.db, &mut ctx.hits, &mut ctx.misses, &args[1])? {
        Some(s) => s.groups.contains_key(&args[2][..]),
        None => false,
    };
    if !ok {
        return Err(nogroup(&args[1], &args[2]));
    }
    // Redis allocates `count` IDs up front and answers this when the allocation fails; we
    // refuse where that allocation (16 bytes per ID) would pass a terabyte.
    if count > (1i64 << 40) / 16 {
        return Err(CmdError::err(
            "Insufficient memory, failed allocating transient memory, COUNT too high.",
        ));
    }
    let now = ctx.db.now;
    let Some(s) = write_stream(&mut ctx.db, &args[1])? else {
        return Err(CmdError::NoSuchKey);
    };
    let Some(mut g) = s.groups.remove(&args[2][..]) else {
        return Err(CmdError::NoSuchKey);
    };
    let name = &args[3][..];
    let mut attempts = count.saturating_mul(10);
    let mut left = count;
    let mut tmp = BytesMut::new();
    let mut w = ReplyWriter::new(&mut tmp, ctx.out.proto);
    let mut claimed = 0;
    let mut deleted = Vec::new();
    let mut dirty = 0;
    let mut created = false;
    let mut cursor = start;
    let mut next: Option<StreamId> = None;
    let mut props = Vec::new();
    loop {
        let cand = g.pel.range(cursor..).next().map(|(id, _)| *id);
        if attempts == 0 || left == 0 {
            next = cand;
            break;
        }
        attempts -= 1;
        let Some(id) = cand else {
            break;
        };
        cursor = match id.incr() {
            Some(c) => c,
            None => {
                // The last possible ID: nothing can follow it.
                StreamId::MAX
            }
        };
        let at_end = id == StreamId::MAX;
        if !s.contains(id) {
            g.ack(id);
            deleted.push(id);
            props.push(ack_form(&args[1..3], id));
            dirty += 1;
            left -= 1;
        } else {
            let nack_time = g.pel[&id].delivery_time;
            if minidle == 0 || now.saturating_sub(nack_time) >= minidle {
                let (c, new) = g.consumer(name, now);
                c.seen_time = now;
                created |= new;
                let prev = g.pel[&id].clone();
                if &prev.consumer[..] != name {
                    if let Some(c) = g.consumers.get_mut(&prev.consumer) {
                        c.pel.remove(&id);
                    }
                }
                let count = prev.delivery_count + u64::from(!justid);
                props.push(claim_form(&args[1..4], id, now, count));
                g.pel.insert(
                    id,
                    crate::db::types::stream::Nack {
                        consumer: Bytes::copy_from_slice(name),
                        delivery_time: now,
                        delivery_count: count,
                    },
                );
                if let Some(c) = g.consumers.get_mut(name) {
                    c.pel.insert(id);
                }
                if justid {
                    write_id(&mut w, id);
                } else {
                    entry_or_null(&mut w, s, id);
                }
                claimed += 1;
                left -= 1;
                dirty += 1;
            }
        }
        if at_end {
            break;
        }
    }
    let group_last = g.last_id;
    s.groups.insert(Bytes::copy_from_slice(&args[2]), g);
    ctx.db.dirty += dirty;
    if created {
        consumer_created(ctx, &args[1]);
    }
    propagate_claims(ctx, props, group_last);
    let out = &mut ctx.out;
    out.array(3);
    write_id(out, next.unwrap_or(StreamId::MIN));
    out.array(claimed);
    out.raw(&tmp);
    out.array(deleted.len());
    for id in deleted {
        write_id(out, id);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// XSETID

fn xsetid(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let id = strict_id(&args[2], 0)?;
    let mut entries_added: i64 = -1;
    let mut max_xdel = StreamId::MIN;
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - 1 - i;
        if args[i].eq_ignore_ascii_case(b"entriesadded") && more > 0 {
            entries_added = int(&args[i + 1])?;
            if entries_added < 0 {
                return Err(CmdError::err("entries_added must be positive"));
            }
            i += 2;
        } else if args[i].eq_ignore_ascii_case(b"maxdeletedid") && more > 0 {
            max_xdel = strict_id(&args[i + 1], 0)?;
            if id < max_xdel {
                return Err(CmdError::err(
                    "The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let Some(s) = write_stream(&mut ctx.db, &args[1])? else {
        return Err(CmdError::NoSuchKey);
    };
    if !s.is_empty() {
        if id < s.last_valid_id() {
            return Err(CmdError::err(
                "The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added != -1 && s.len() > entries_added as u64 {
            return Err(CmdError::err(
                "The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added as u64;
    }
    if !max_xdel.is_zero() {
        s.max_deleted = max_xdel;
    }
    ctx.db.dirty += 1;
    ctx.notify(T, "xsetid", &args[1]);
    ctx.out.ok();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// XGROUP

fn subcommand_syntax(ctx: &Ctx<'_, '_>) -> CmdError {
    CmdError::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        lossy(&ctx.args[1], 128),
        String::from_utf8_lossy(&ctx.args[0]).to_ascii_uppercase()
    ))
}

/// The stream at argument 2 for XGROUP subcommands: must exist unless `mkstream`.
fn xgroup_stream(ctx: &mut Ctx<'_, '_>, mkstream: bool) -> Result<bool, CmdError> {
    let exists = write_stream(&mut ctx.db, &ctx.args[2])?.is_some();
    if !exists && !mkstream {
        return Err(CmdError::err("The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."));
    }
    Ok(exists)
}

/// The group at argument 3, or `NOGROUP No such consumer group ...`.
fn xgroup_group<'a>(ctx: &'a mut Ctx<'_, '_>) -> Result<&'a mut Group, CmdError> {
    let args = ctx.args;
    write_stream(&mut ctx.db, &args[2])?
        .and_then(|s| s.groups.get_mut(&args[3][..]))
        .ok_or_else(|| {
            coded(format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                show(&args[3]),
                show(&args[2])
            ))
        })
}

fn entries_read_arg(arg: &[u8]) -> Result<i64, CmdError> {
    let v = int(arg)?;
    if v < 0 && v != INVALID_ENTRIES_READ {
        return Err(CmdError::err(
            "value for ENTRIESREAD must be positive or -1",
        ));
    }
    Ok(v)
}

fn xgroup_create(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let mut mkstream = false;
    let mut entries_read = INVALID_ENTRIES_READ;
    let mut i = 5;
    while i < args.len() {
        if args[i].eq_ignore_ascii_case(b"mkstream") {
            mkstream = true;
            i += 1;
        } else if args[i].eq_ignore_ascii_case(b"entriesread") && i + 1 < args.len() {
            entries_read = entries_read_arg(&args[i + 1])?;
            i += 2;
        } else {
            return Err(subcommand_syntax(ctx));
        }
    }
    let exists = xgroup_stream(ctx, mkstream)?;
    if args.len() > 8 {
        return Err(subcommand_syntax(ctx));
    }
    let id = if &args[4][..] == b"$" {
        write_stream(&mut ctx.db, &args[2])?.map_or(StreamId::MIN, |s| s.last_id)
    } else {
        strict_id(&args[4], 0)?
    };
    if !exists {
        ctx.db
            .set(&args[2], Value::Stream(Box::new(Stream::new())), false);
        ctx.db.dirty -= 1;
    }
    let Some(s) = write_stream(&mut ctx.db, &args[2])? else {
        return Err(CmdError::NoSuchKey);
    };
    if s.groups.contains_key(&args[3][..]) {
        return Err(CmdError::raw(
            "BUSYGROUP Consumer Group name already exists",
        ));
    }
    s.groups
        .insert(args[3].clone(), Group::new(id, entries_read));
    ctx.db.dirty += 1;
    ctx.notify(T, "xgroup-create", &args[2]);
    ctx.out.ok();
    Ok(())
}

fn xgroup_setid(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    // The options come first, then the key and the group, then the count (as Redis).
    let mut entries_read = INVALID_ENTRIES_READ;
    let mut i = 5;
    while i < args.len() {
        if !args[i].eq_ignore_ascii_case(b"entriesread") || i + 1 == args.len() {
            return Err(subcommand_syntax(ctx));
        }
        entries_read = entries_read_arg(&args[i + 1])?;
        i += 2;
    }
    xgroup_stream(ctx, false)?;
    xgroup_group(ctx)?;
    if args.len() != 5 && args.len() != 7 {
        return Err(subcommand_syntax(ctx));
    }
    let id = if &args[4][..] == b"$" {
        write_stream(&mut ctx.db, &args[2])?.map_or(StreamId::MIN, |s| s.last_id)
    } else {
        parse_id(&args[4], 0, false, false)
            .map(|p| p.id)
            .ok_or(CmdError::InvalidStreamId)?
    };
    let g = xgroup_group(ctx)?;
    g.last_id = id;
    g.entries_read = entries_read;
    ctx.db.dirty += 1;
    ctx.notify(T, "xgroup-setid", &args[2]);
    ctx.out.ok();
    Ok(())
}

fn xgroup_destroy(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    xgroup_stream(ctx, false)?;
    let removed = write_stream(&mut ctx.db, &args[2])?
        .and_then(|s| s.groups.remove(&args[3][..]))
        .is_some();
    if removed {
        ctx.db.dirty += 1;
        ctx.notify(T, "xgroup-destroy", &args[2]);
        // Blocked XREADGROUP clients of the group get an error.
        signal(&mut ctx.db, &args[2]);
    }
    ctx.out.int(i64::from(removed));
    Ok(())
}

fn xgroup_createconsumer(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    xgroup_stream(ctx, false)?;
    let now = ctx.db.now;
    let name = ctx.args[4].clone();
    let created = xgroup_group(ctx)?.consumer(&name, now).1;
    if created {
        ctx.db.dirty += 1;
        ctx.notify(T, "xgroup-createconsumer", &ctx.args[2]);
    }
    ctx.out.int(i64::from(created));
    Ok(())
}

fn xgroup_delconsumer(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    xgroup_stream(ctx, false)?;
    let name = ctx.args[4].clone();
    let pending = xgroup_group(ctx)?.delete_consumer(&name);
    if pending.is_some() {
        ctx.db.dirty += 1;
        ctx.notify(T, "xgroup-delconsumer", &ctx.args[2]);
    }
    ctx.out.int(pending.unwrap_or(0) as i64);
    Ok(())
}

fn xgroup_help(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    super::connection::help(
        ctx,
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [MKSTREAM] [ENTRIESREAD <n>]",
            "    Create a consumer group reading <key> after <id> ($: after its last entry);",
            "    MKSTREAM creates an empty stream when the key is missing.",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Add a consumer to a group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove a consumer, dropping the entries pending for it.",
            "DESTROY <key> <groupname>",
            "    Delete a consumer group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD <n>]",
            "    Move the group's last delivered ID.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// XINFO

fn entries_read_reply(out: &mut ReplyWriter<'_>, g: &Group) {
    if g.entries_read != INVALID_ENTRIES_READ {
        out.int(g.entries_read);
    } else {
        out.null();
    }
}

fn lag_reply(out: &mut ReplyWriter<'_>, s: &Stream, g: &Group) {
    match s.lag(g) {
        Some(l) => out.int(l),
        None => out.null(),
    }
}

fn xinfo_stream(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let options = || -> Result<(bool, i64), CmdError> {
        if args.len() <= 3 {
            return Ok((false, 10));
        }
        if !args[3].eq_ignore_ascii_case(b"full") {
            return Err(subcommand_syntax(ctx));
        }
        if args.len() == 4 {
            return Ok((true, 10));
        }
        if args.len() != 6 || !args[4].eq_ignore_ascii_case(b"count") {
            return Err(subcommand_syntax(ctx));
        }
        let count = int(&args[5])?;
        Ok((true, if count < 0 { 10 } else { count }))
    };
    // The key is looked up before the options are read, as in Redis.
    let options = options();
    let now = ctx.db.now;
    let s: &Stream = read_stream(&mut ctx.db, &mut ctx.hits, &mut ctx.misses, &ctx.args[2])?
        .ok_or(CmdError::NoSuchKey)?;
    let (full, count) = options?;
    let out = &mut ctx.out;
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.int(s.len() as i64);
    out.bulk(b"radix-tree-keys");
    out.int(s.chunk_count() as i64);
    out.bulk(b"radix-tree-nodes");
    out.int(s.rax_nodes() as i64);
    out.bulk(b"last-generated-id");
    write_id(out, s.last_id);
    out.bulk(b"max-deleted-entry-id");
    write_id(out, s.max_deleted);
    out.bulk(b"entries-added");
    out.int(s.entries_added as i64);
    let lim = if count == 0 {
        usize::MAX
    } else {
        count as usize
    };
    if !full {
        out.bulk(b"recorded-first-entry-id");
        write_id(out, s.first_id);
        out.bulk(b"groups");
        out.int(s.groups.len() as i64);
        for (label, first) in [(&b"first-entry"[..], true), (&b"last-entry"[..], false)] {
            out.bulk(label);
            match s.edge_id(first).and_then(|id| s.get(id).map(|f| (id, f))) {
                Some((id, f)) => write_entry(out, id, &f),
                None => out.null(),
            }
        }
        return Ok(());
    }
    out.bulk(b"recorded-first-entry-id");
    write_id(out, s.first_id);
    out.bulk(b"entries");
    range_reply(
        out,
        s,
        StreamId::MIN,
        StreamId::MAX,
        if count == 0 { 0 } else { lim },
        false,
    );
    out.bulk(b"groups");
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        write_id(out, g.last_id);
        out.bulk(b"entries-read");
        entries_read_reply(out, g);
        out.bulk(b"lag");
        lag_reply(out, s, g);
        out.bulk(b"pel-count");
        out.int(g.pel.len() as i64);
        out.bulk(b"pending");
        let pel: Vec<_> = g.pel.iter().take(lim).collect();
        out.array(pel.len());
        for (id, n) in pel {
            out.array(4);
            write_id(out, *id);
            out.bulk(&n.consumer);
            out.int(n.delivery_time as i64);
            out.int(n.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(g.consumers.len());
        for (cname, c) in &g.consumers {
            out.map(4);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"seen-time");
            out.int(c.seen_time as i64);
            out.bulk(b"pel-count");
            out.int(c.pel.len() as i64);
            out.bulk(b"pending");
            let ids: Vec<_> = c.pel.iter().take(lim).collect();
            out.array(ids.len());
            for id in ids {
                let n = &g.pel[id];
                out.array(3);
                write_id(out, *id);
                out.int(n.delivery_time as i64);
                out.int(n.delivery_count as i64);
            }
        }
    }
    let _ = now;
    Ok(())
}

fn xinfo_groups(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let s: &Stream = read_stream(&mut ctx.db, &mut ctx.hits, &mut ctx.misses, &ctx.args[2])?
        .ok_or(CmdError::NoSuchKey)?;
    let out = &mut ctx.out;
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(6);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"consumers");
        out.int(g.consumers.len() as i64);
        out.bulk(b"pending");
        out.int(g.pel.len() as i64);
        out.bulk(b"last-delivered-id");
        write_id(out, g.last_id);
        out.bulk(b"entries-read");
        entries_read_reply(out, g);
        out.bulk(b"lag");
        lag_reply(out, s, g);
    }
    Ok(())
}

fn xinfo_consumers(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let now = ctx.db.now;
    let s: &Stream = read_stream(&mut ctx.db, &mut ctx.hits, &mut ctx.misses, &ctx.args[2])?
        .ok_or(CmdError::NoSuchKey)?;
    let Some(g) = s.groups.get(&args[3][..]) else {
        return Err(coded(format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            show(&args[3]),
            show(&args[2])
        )));
    };
    let out = &mut ctx.out;
    out.array(g.consumers.len());
    for (name, c) in &g.consumers {
        out.map(3);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"pending");
        out.int(c.pel.len() as i64);
        out.bulk(b"idle");
        out.int(now.saturating_sub(c.seen_time) as i64);
    }
    Ok(())
}

fn xinfo_help(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    super::connection::help(
        ctx,
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Describe the consumers of a group: pending entries and idle time.",
            "GROUPS <key>",
            "    Describe the consumer groups of a stream.",
            "STREAM <key> [FULL [COUNT <count>]]",
            "    Describe a stream; FULL adds its entries, groups and pending lists,",
            "    up to <count> of each (10 by default, 0 for all).",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<Bytes> {
        v.iter().map(|s| Bytes::from(s.to_string())).collect()
    }

    #[test]
    fn add_trim_options_parse_like_redis() {
        let a = parse_add_trim(
            &args(&["xadd", "s", "MAXLEN", "~", "10", "*", "f", "v"]),
            true,
            100,
        )
        .unwrap();
        assert_eq!(a.trim, Some(Trim::MaxLen(10)));
        assert!(a.approx);
        assert_eq!(a.limit, 10000);
        assert_eq!(a.id_index, 5);
        let a = parse_add_trim(
            &args(&["xadd", "s", "MINID", "=", "5", "LIMIT", "0", "1-*", "f"]),
            true,
            7,
        );
        assert!(a.is_err());
        let a = parse_add_trim(
            &args(&["xadd", "s", "nomkstream", "5-*", "f", "v"]),
            true,
            100,
        )
        .unwrap();
        assert!(a.nomkstream);
        assert_eq!(a.id, Some((StreamId::new(5, 0), false)));
        let e = parse_add_trim(&args(&["xtrim", "s", "LIMIT", "5"]), false, 100).err();
        assert_eq!(
            e.map(|e| e.to_string()),
            Some(
                "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"
                    .into()
            )
        );
        let e = parse_add_trim(
            &args(&["xtrim", "s", "MAXLEN", "1", "MINID", "2"]),
            false,
            100,
        )
        .err();
        assert!(e.is_some_and(|e| e.to_string().contains("at the same time")));
        let a = parse_add_trim(&args(&["xtrim", "s", "MAXLEN", "~", "1"]), false, 0).unwrap();
        assert_eq!(a.limit, 10000);
    }

    #[test]
    fn interval_bounds() {
        assert_eq!(range_start(b"(5-1"), Ok(StreamId::new(5, 2)));
        assert_eq!(range_end(b"(5-0"), Ok(StreamId::new(4, u64::MAX)));
        assert_eq!(range_end(b"5"), Ok(StreamId::new(5, u64::MAX)));
        assert_eq!(range_start(b"("), Err(CmdError::InvalidStreamId));
        assert_eq!(range_start(b"(+"), Err(CmdError::InvalidStreamId));
        assert!(range_end(b"(0-0").is_err());
        assert!(range_start(b"(18446744073709551615-18446744073709551615").is_err());
    }
}
