//! HyperLogLog commands (Redis `hyperloglog.c`): the rows and their handlers.
//!
//! A HyperLogLog is a string value (see [`crate::db::types::hll`]); the commands check its
//! header, change it in place (as `raw`) and keep its cached cardinality as Redis does:
//! PFADD and PFMERGE mark it stale, single-key PFCOUNT refreshes it (one change in the dirty
//! counter).

use crate::cmd::{acl, flags, kflags, BeginSearch, CmdResult, Command, FindKeys, KeySpec};
use crate::config::notify;
use crate::db::types::hll::{self, Corrupt};
use crate::db::Value;
use crate::dispatch::Ctx;
use crate::error::{self, CmdError};

pub static COMMANDS: &[Command] = &[
    Command {
        name: "pfadd",
        arity: -2,
        flags: flags::WRITE | flags::DENYOOM | flags::FAST,
        acl: acl::HYPERLOGLOG,
        key_specs: &[KeySpec::one(1, kflags::RW | kflags::INSERT)],
        handler: Some(pfadd_cmd),
        group: "hyperloglog",
        since: "2.8.9",
        complexity: "O(1) to add every element.",
        summary: "Adds elements to a HyperLogLog, creating it if needed.",
        ..Command::DEFAULT
    },
    Command {
        name: "pfcount",
        arity: -2,
        // It may refresh the cached cardinality: a change replicated as PFCOUNT, held back
        // by CLIENT PAUSE WRITE and refused in read-only scripts, as in Redis.
        flags: flags::READONLY | flags::MAY_REPLICATE,
        acl: acl::HYPERLOGLOG,
        key_specs: &[KeySpec {
            notes: "RW because it may change the internal representation of the key, and propagate to replicas",
            flags: kflags::RW | kflags::ACCESS,
            begin: BeginSearch::Index(1),
            find: FindKeys::Range {
                lastkey: -1,
                step: 1,
                limit: 0,
            },
        }],
        handler: Some(pfcount_cmd),
        group: "hyperloglog",
        since: "2.8.9",
        complexity: "O(1) for one key, O(N) for N keys with a large constant.",
        summary: "Estimates the number of distinct elements added to one or more HyperLogLogs.",
        ..Command::DEFAULT
    },
    Command {
        name: "pfmerge",
        arity: -2,
        flags: flags::WRITE | flags::DENYOOM,
        acl: acl::HYPERLOGLOG,
        key_specs: &[
            KeySpec::one(1, kflags::RW | kflags::ACCESS | kflags::INSERT),
            KeySpec::range(2, -1, 1, kflags::RO | kflags::ACCESS),
        ],
        handler: Some(pfmerge_cmd),
        group: "hyperloglog",
        since: "2.8.9",
        complexity: "O(N) to merge N HyperLogLogs, with a large constant.",
        summary: "Merges HyperLogLogs into a destination HyperLogLog.",
        ..Command::DEFAULT
    },
    Command {
        name: "pfdebug",
        arity: 3,
        flags: flags::WRITE | flags::DENYOOM | flags::ADMIN,
        acl: acl::HYPERLOGLOG,
        key_specs: &[KeySpec::one(2, kflags::RW | kflags::ACCESS)],
        handler: Some(pfdebug_cmd),
        group: "hyperloglog",
        since: "2.8.9",
        complexity: "N/A",
        summary: "Inspects a HyperLogLog: registers, sparse opcodes, encoding, or converts it to dense.",
        ..Command::DEFAULT
    },
    Command {
        name: "pfselftest",
        arity: 1,
        flags: flags::ADMIN,
        acl: acl::HYPERLOGLOG,
        handler: Some(pfselftest_cmd),
        group: "hyperloglog",
        since: "2.8.9",
        complexity: "N/A",
        summary: "Tests the HyperLogLog implementation.",
        ..Command::DEFAULT
    },
];

fn corrupt(_: Corrupt) -> CmdError {
    CmdError::HllCorrupt
}

/// The bytes of a value that passes the HyperLogLog header checks, WRONGTYPE otherwise.
fn hll_bytes(v: &Value) -> Result<&[u8], CmdError> {
    let s: &[u8] = match v {
        Value::Str(s) => s.as_slice(),
        Value::Raw(r) => r,
        Value::Int(_) => return Err(CmdError::NotHll),
        _ => return Err(CmdError::WrongType),
    };
    if hll::looks_valid(s) {
        Ok(s)
    } else {
        Err(CmdError::NotHll)
    }
}

/// Like [`hll_bytes`], then the value as an owned `raw` buffer to change in place
/// (Redis `dbUnshareStringValue`).
fn hll_mut(v: &mut Value) -> Result<&mut Vec<u8>, CmdError> {
    hll_bytes(v)?;
    v.make_raw().ok_or(CmdError::WrongType)
}

/// `PFADD key [element ...]`: 1 if the key was created or a register changed.
fn pfadd_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let key = &args[1][..];
    let max = ctx.settings.hll_sparse_max_bytes as usize;
    let dirty = ctx.db.dirty;
    let mut updated = 0u64;
    let add_all = |h: &mut Vec<u8>, updated: &mut u64| -> CmdResult {
        for ele in &args[2..] {
            if hll::add(h, ele, max).map_err(corrupt)? {
                *updated += 1;
                // At once: a later element may fail, and the change stays.
                hll::invalidate(h);
            }
        }
        // A new key counts as updated: its cache starts stale too.
        if *updated > 0 {
            hll::invalidate(h);
        }
        Ok(())
    };
    match ctx.db.get(key) {
        Some(e) => add_all(hll_mut(&mut e.value)?, &mut updated)?,
        None => {
            let mut h = hll::new_sparse();
            updated = 1;
            add_all(&mut h, &mut updated)?;
            ctx.db.set(key, Value::Raw(h), false);
        }
    }
    ctx.db.dirty = dirty + updated;
    if updated > 0 {
        ctx.db.notify(notify::STRING, "pfadd", key);
    }
    ctx.out.int(i64::from(updated > 0));
    Ok(())
}

/// `PFCOUNT key [key ...]`: one key uses and refreshes its cache; several are merged into a
/// temporary set of registers.
fn pfcount_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    if args.len() > 2 {
        let mut max = vec![0u8; hll::REGISTERS];
        for key in &args[1..] {
            let Ctx {
                db, hits, misses, ..
            } = ctx;
            let Some(e) = db.get(key) else {
                *misses += 1;
                db.notify(notify::KEY_MISS, "keymiss", key);
                continue;
            };
            *hits += 1;
            hll::merge_into(&mut max, hll_bytes(&e.value)?).map_err(corrupt)?;
        }
        ctx.out.int(hll::count_registers(&max) as i64);
        return Ok(());
    }
    let Ctx {
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let Some(e) = db.get(&args[1]) else {
        *misses += 1;
        // A read lookup in Redis, although PFCOUNT is a write command.
        db.notify(notify::KEY_MISS, "keymiss", &args[1]);
        out.int(0);
        return Ok(());
    };
    *hits += 1;
    let h = hll_mut(&mut e.value)?;
    let card = match hll::cached(h) {
        Some(c) => c,
        None => {
            let c = hll::count(h).map_err(corrupt)?;
            hll::set_cached(h, c);
            // The cache is a change of the value (WATCH sees it, as in Redis).
            db.dirty += 1;
            db.note_modified(&args[1]);
            c
        }
    };
    out.int(card as i64);
    Ok(())
}

/// `PFMERGE destkey [sourcekey ...]`: the destination (also a source) gets the register-wise
/// maximum; it becomes dense if any input was dense.
fn pfmerge_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let sparse_max = ctx.settings.hll_sparse_max_bytes as usize;
    let mut max = vec![0u8; hll::REGISTERS];
    let mut use_dense = false;
    for key in &args[1..] {
        let Ctx {
            db, hits, misses, ..
        } = ctx;
        let Some(e) = db.get(key) else {
            *misses += 1;
            continue;
        };
        *hits += 1;
        let s = hll_bytes(&e.value)?;
        use_dense |= s[4] == hll::DENSE;
        hll::merge_into(&mut max, s).map_err(corrupt)?;
    }
    let apply = |h: &mut Vec<u8>| -> CmdResult {
        if use_dense {
            hll::sparse_to_dense(h).map_err(corrupt)?;
        }
        for (j, &m) in max.iter().enumerate() {
            if m != 0 {
                // The destination was checked above; like Redis, a failed set is ignored.
                let _ = hll::set(h, j, m, sparse_max);
            }
        }
        hll::invalidate(h);
        Ok(())
    };
    let dirty = ctx.db.dirty;
    let dest = &args[1][..];
    match ctx.db.get(dest) {
        Some(e) => apply(hll_mut(&mut e.value)?)?,
        None => {
            let mut h = hll::new_sparse();
            apply(&mut h)?;
            ctx.db.set(dest, Value::Raw(h), false);
        }
    }
    ctx.db.dirty = dirty + 1;
    ctx.db.notify(notify::STRING, "pfadd", dest);
    ctx.out.ok();
    Ok(())
}

/// `PFDEBUG GETREG|DECODE|ENCODING|TODENSE key`.
fn pfdebug_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    // Compared like C strings: up to the first NUL byte.
    let sub = crate::util::cstr(&args[1]);
    let Ctx { db, out, .. } = ctx;
    let mut changed = 0;
    let Some(e) = db.get(&args[2]) else {
        return Err(CmdError::err("The specified key does not exist"));
    };
    let h = hll_mut(&mut e.value)?;
    let is = |name: &str| sub.eq_ignore_ascii_case(name.as_bytes());
    if is("getreg") {
        if hll::sparse_to_dense(h).map_err(corrupt)? {
            changed = 1;
        }
        let regs = hll::registers(h).map_err(corrupt)?;
        out.array(regs.len());
        for r in regs {
            out.int(i64::from(r));
        }
    } else if is("decode") {
        if h[4] != hll::SPARSE {
            return Err(CmdError::err("HLL encoding is not sparse"));
        }
        out.bulk(hll::decode_sparse(h).as_bytes());
    } else if is("encoding") {
        out.simple(if h[4] == hll::DENSE {
            "dense"
        } else {
            "sparse"
        });
    } else if is("todense") {
        let converted = hll::sparse_to_dense(h).map_err(corrupt)?;
        changed = u64::from(converted);
        out.int(i64::from(converted));
    } else {
        return Err(CmdError::err(format!(
            "Unknown PFDEBUG subcommand '{}'",
            error::lossy(sub, usize::MAX)
        )));
    }
    db.dirty += changed;
    Ok(())
}

fn pfselftest_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    match hll::self_test() {
        Ok(()) => {
            ctx.out.ok();
            Ok(())
        }
        Err(msg) => Err(CmdError::err(msg)),
    }
}
