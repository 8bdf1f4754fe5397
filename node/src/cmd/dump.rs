//! DUMP and RESTORE: a key's value as an RDB payload and back (Redis `cluster.c`
//! `dumpCommand`/`restoreCommand`). The format lives in [`crate::rdb`]; payloads are
//! interchangeable with stock Redis 7.0 in both directions.

use super::{acl, flags as f, kflags as k, CmdResult, Command, KeySpec};
use crate::db::{initial_access, AccessMode, Entry, LFU_INIT};
use crate::dispatch::Ctx;
use crate::error::CmdError;
use crate::rdb;

const NONDET: &[&str] = &["nondeterministic_output"];

pub static COMMANDS: &[Command] = &[
    Command {
        name: "dump",
        arity: 2,
        flags: f::READONLY,
        acl: acl::KEYSPACE,
        tips: NONDET,
        key_specs: &[KeySpec::one(1, k::RO | k::ACCESS)],
        handler: Some(dump),
        since: "2.6.0",
        complexity: "O(1) to access the key and O(N*M) to serialize it",
        summary: "Serializes a key's value in the RDB format, with version and checksum.",
        ..Command::DEFAULT
    },
    Command {
        name: "restore",
        arity: -4,
        flags: f::WRITE | f::DENYOOM,
        acl: acl::KEYSPACE | acl::DANGEROUS,
        key_specs: &[KeySpec::one(1, k::OW | k::UPDATE)],
        handler: Some(restore),
        since: "2.6.0",
        complexity: "O(1) to create the key and O(N*M) to rebuild the value",
        summary: "Creates a key from a DUMP payload.",
        ..Command::DEFAULT
    },
    // What MIGRATE sends in cluster mode: RESTORE that may write an importing slot.
    Command {
        name: "restore-asking",
        arity: -4,
        flags: f::WRITE | f::DENYOOM | f::ASKING,
        acl: acl::KEYSPACE | acl::DANGEROUS,
        key_specs: &[KeySpec::one(1, k::OW | k::UPDATE)],
        handler: Some(restore),
        group: "server",
        since: "3.0.0",
        complexity: "O(1) to create the key and O(N*M) to rebuild the value",
        summary: "An internal command for migrating keys in a cluster.",
        ..Command::DEFAULT
    },
];

fn dump(ctx: &mut Ctx) -> CmdResult {
    let key = &ctx.args[1];
    let payload = ctx
        .db
        .get(key)
        .map(|e| rdb::dump(&e.value, ctx.settings.rdbcompression));
    ctx.hit(payload.is_some());
    match payload {
        Some(p) => ctx.out.bulk(&p),
        None => ctx.out.null(),
    }
    Ok(())
}

/// `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]`, checks in Redis's
/// order: options, existing key, TTL, payload footer, payload body.
fn restore(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<i64>, Option<i64>) = (None, None);
    let mut j = 4;
    while j < args.len() {
        let more = j + 1 < args.len();
        let a = &args[j];
        if a.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if a.eq_ignore_ascii_case(b"absttl") {
            absttl = true;
        } else if a.eq_ignore_ascii_case(b"idletime") && more && freq.is_none() {
            let v = ctx.int_arg(j + 1)?;
            if v < 0 {
                return Err(CmdError::err("Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(v);
            j += 1;
        } else if a.eq_ignore_ascii_case(b"freq") && more && idle.is_none() {
            let v = ctx.int_arg(j + 1)?;
            if !(0..=255).contains(&v) {
                return Err(CmdError::err("Invalid FREQ value, must be >= 0 and <= 255"));
            }
            freq = Some(v);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let key = &args[1];
    if !replace && ctx.db.exists(key) {
        return Err(CmdError::raw("BUSYKEY Target key name already exists."));
    }
    let ttl = ctx.int_arg(2)?;
    if ttl < 0 {
        return Err(CmdError::err("Invalid TTL value, must be >= 0"));
    }
    let limits = rdb::Limits::from_settings(ctx.settings);
    let value = match rdb::restore(&args[3], &limits) {
        Ok(v) => v,
        Err(None) => return Err(CmdError::err("DUMP payload version or checksum are wrong")),
        Err(Some(_)) => return Err(CmdError::err("Bad data format")),
    };
    let now = ctx.db.now;
    let expire_at = match ttl {
        0 => 0,
        t if absttl => t as u64,
        t => now.saturating_add(t as u64),
    };
    if expire_at != 0 && expire_at <= now {
        // Already expired: the old key (with REPLACE) goes, nothing is created.
        if replace && ctx.db.remove(key).is_some() {
            ctx.db
                .propagate_as([bytes::Bytes::from_static(b"DEL"), ctx.args[1].clone()]);
        }
        ctx.out.ok();
        return Ok(());
    }
    if expire_at != 0 && !absttl {
        // A relative TTL is propagated as the absolute time it gave.
        let mut args = ctx.args.to_vec();
        args[2] = bytes::Bytes::from(expire_at.to_string());
        args.push(bytes::Bytes::from_static(b"ABSTTL"));
        ctx.db.propagate_as(args);
    }
    if replace {
        ctx.db.remove(key);
    }
    let mode = ctx.db.access_mode();
    let mut access = initial_access(mode, now);
    match mode {
        AccessMode::Lru => {
            if let Some(s) = idle {
                access = ((now / 1000) as u32).saturating_sub(s.min(u32::MAX as i64) as u32);
            }
        }
        AccessMode::Lfu { .. } => {
            if let Some(f) = freq {
                access = (access & !0xff) | f as u32;
            } else if access & 0xff == 0 {
                access |= LFU_INIT;
            }
        }
    }
    ctx.db.set_entry(key, Entry::new(value, expire_at, access));
    // set_entry records the access as "now"; put back what RESTORE asked for.
    if let Some(e) = ctx.db.peek(key) {
        e.access = access;
    }
    ctx.notify(crate::config::notify::GENERIC, "restore", key);
    ctx.out.ok();
    Ok(())
}
