//! Replication commands: REPLICAOF/SLAVEOF, REPLCONF, PSYNC/SYNC (a replica's connection
//! becomes its stream, see [`crate::repl`]), ROLE, WAIT and FAILOVER
//! ([`crate::repl::failover`]).

use std::time::Duration;

use super::{acl, flags as f, CmdResult, Command};
use crate::dispatch::{Action, Ctx};
use crate::error::CmdError;
use crate::repl::SyncRequest;

const ADMIN: u32 = acl::ADMIN | acl::DANGEROUS;

pub static COMMANDS: &[Command] = &[
    Command {
        name: "replicaof",
        arity: 3,
        flags: f::ADMIN | f::NOSCRIPT | f::STALE | f::NO_ASYNC_LOADING,
        acl: ADMIN,
        handler: Some(replicaof),
        group: "server",
        since: "5.0.0",
        summary: "Makes the server a replica of another instance, or promotes it to a primary.",
        ..Command::DEFAULT
    },
    Command {
        name: "slaveof",
        arity: 3,
        flags: f::ADMIN | f::NOSCRIPT | f::STALE | f::NO_ASYNC_LOADING,
        acl: ADMIN,
        handler: Some(replicaof),
        group: "server",
        since: "1.0.0",
        summary: "Makes the server a replica of another instance (old name of REPLICAOF).",
        ..Command::DEFAULT
    },
    Command {
        name: "replconf",
        arity: -1,
        flags: f::ADMIN | f::NOSCRIPT | f::LOADING | f::STALE | f::ALLOW_BUSY,
        acl: ADMIN,
        handler: Some(replconf),
        group: "server",
        since: "3.0.0",
        summary: "An internal command for configuring the replication stream.",
        ..Command::DEFAULT
    },
    Command {
        name: "psync",
        arity: -3,
        flags: f::ADMIN | f::NOSCRIPT | f::NO_ASYNC_LOADING | f::NO_MULTI,
        acl: ADMIN,
        handler: Some(psync),
        group: "server",
        since: "2.8.0",
        summary: "An internal command used in replication.",
        ..Command::DEFAULT
    },
    Command {
        name: "sync",
        arity: 1,
        flags: f::ADMIN | f::NOSCRIPT | f::NO_ASYNC_LOADING | f::NO_MULTI,
        acl: ADMIN,
        handler: Some(sync),
        group: "server",
        since: "1.0.0",
        summary: "An internal command used in replication.",
        ..Command::DEFAULT
    },
    Command {
        name: "role",
        arity: 1,
        flags: f::NOSCRIPT | f::LOADING | f::STALE | f::FAST,
        acl: acl::ADMIN | acl::FAST | acl::DANGEROUS,
        handler: Some(role),
        group: "server",
        since: "2.8.12",
        summary: "Returns the replication role.",
        ..Command::DEFAULT
    },
    Command {
        name: "failover",
        arity: -1,
        flags: f::ADMIN | f::NOSCRIPT | f::STALE,
        acl: acl::ADMIN | acl::SLOW | acl::DANGEROUS,
        handler: Some(failover),
        group: "server",
        since: "6.2.0",
        complexity: "O(1)",
        summary: "Hands the primary role to a replica once it has every write.",
        ..Command::DEFAULT
    },
    Command {
        name: "wait",
        arity: 3,
        flags: f::NOSCRIPT,
        acl: acl::SLOW | acl::CONNECTION,
        handler: Some(wait),
        tips: &["request_policy:all_shards", "response_policy:agg_min"],
        group: "generic",
        since: "3.0.0",
        summary: "Blocks until the writes of this connection reach the given number of replicas.",
        ..Command::DEFAULT
    },
];

/// `FAILOVER [TO host port [FORCE]] [TIMEOUT ms]` / `FAILOVER ABORT`: Redis's checks and
/// texts, in its order; the failover itself runs in the background.
fn failover(ctx: &mut Ctx) -> CmdResult {
    if ctx.settings.cluster_enabled {
        return Err(CmdError::raw(
            "ERR FAILOVER not allowed in cluster mode. Use CLUSTER FAILOVER command instead.",
        ));
    }
    let server = server_arc(ctx)?;
    if ctx.args.len() == 2 && ctx.arg(1).eq_ignore_ascii_case(b"abort") {
        if !crate::repl::failover::abort(&server, "Failover manually aborted") {
            return Err(CmdError::raw("ERR No failover in progress."));
        }
        ctx.out.ok();
        return Ok(());
    }
    let mut req = crate::repl::failover::Request {
        target: None,
        timeout_ms: None,
        force: false,
    };
    let mut j = 1;
    while j < ctx.args.len() {
        let word = ctx.arg(j);
        if word.eq_ignore_ascii_case(b"timeout")
            && j + 1 < ctx.args.len()
            && req.timeout_ms.is_none()
        {
            let ms = ctx.int_arg(j + 1)?;
            if ms <= 0 {
                return Err(CmdError::raw("ERR FAILOVER timeout must be greater than 0"));
            }
            req.timeout_ms = Some(ms as u64);
            j += 2;
        } else if word.eq_ignore_ascii_case(b"to") && j + 2 < ctx.args.len() && req.target.is_none()
        {
            let port = ctx.int_arg(j + 2)?;
            let host = String::from_utf8_lossy(ctx.arg(j + 1)).into_owned();
            req.target = Some((host, u16::try_from(port).unwrap_or(0)));
            j += 3;
        } else if word.eq_ignore_ascii_case(b"force") && !req.force {
            req.force = true;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    crate::repl::failover::start(&server, req).map_err(CmdError::raw)?;
    ctx.out.ok();
    Ok(())
}

/// A strong handle on the server, for the work these commands start in the background.
fn server_arc(ctx: &Ctx) -> Result<std::sync::Arc<crate::server::Server>, CmdError> {
    ctx.server
        .arc()
        .ok_or_else(|| CmdError::err("server is shutting down"))
}

/// `REPLICAOF host port` / `REPLICAOF NO ONE`.
fn replicaof(ctx: &mut Ctx) -> CmdResult {
    if ctx.settings.cluster_enabled {
        return Err(CmdError::raw("ERR REPLICAOF not allowed in cluster mode."));
    }
    if ctx.server.repl.failover.active() {
        return Err(CmdError::raw(
            "ERR REPLICAOF not allowed while failing over.",
        ));
    }
    let server = server_arc(ctx)?;
    if ctx.arg(1).eq_ignore_ascii_case(b"no") && ctx.arg(2).eq_ignore_ascii_case(b"one") {
        crate::repl::link::replicaof(&server, None);
        ctx.out.ok();
        return Ok(());
    }
    let port = crate::util::num::parse_i64(ctx.arg(2))
        .filter(|p| (0..=65535).contains(p))
        .ok_or_else(|| CmdError::err("Invalid master port"))?;
    let host = String::from_utf8_lossy(ctx.arg(1)).into_owned();
    if let Some(l) = server.repl.link.snapshot() {
        if l.host.eq_ignore_ascii_case(&host) && l.port == port as u16 {
            ctx.out.simple("OK Already connected to specified master");
            return Ok(());
        }
    }
    crate::repl::link::replicaof(&server, Some((host, port as u16)));
    ctx.out.ok();
    Ok(())
}

/// `REPLCONF option value ...` from a replica before PSYNC (acknowledgements after PSYNC are
/// read by the replica's stream task).
fn replconf(ctx: &mut Ctx) -> CmdResult {
    if !(ctx.args.len() - 1).is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let mut i = 1;
    while i < ctx.args.len() {
        let opt = ctx.arg(i).to_ascii_lowercase();
        match opt.as_slice() {
            b"listening-port" => {
                let p = crate::util::num::parse_i64(ctx.arg(i + 1))
                    .filter(|p| (0..=65535).contains(p))
                    .ok_or(CmdError::NotInteger)?;
                ctx.client.repl_port = p as u16;
            }
            b"capa" => {
                if ctx.arg(i + 1).eq_ignore_ascii_case(b"eof") {
                    ctx.client.repl_capa_eof = true;
                }
            }
            b"rdb-filter-only" => {
                // Redis's one filter: functions only (empty: everything).
                let v = ctx.arg(i + 1);
                if v.is_empty() {
                    ctx.client.repl_functions_only = false;
                } else if v.eq_ignore_ascii_case(b"functions") {
                    ctx.client.repl_functions_only = true;
                } else {
                    return Err(CmdError::err(format!(
                        "Unsupported rdb-filter-only option: {}",
                        String::from_utf8_lossy(v)
                    )));
                }
            }
            b"ip-address" | b"rdb-only" => {}
            // An ACK outside the stream: nothing to answer (Redis replies nothing either).
            b"ack" | b"getack" => return Ok(()),
            _ => {
                return Err(CmdError::err(format!(
                    "Unrecognized REPLCONF option: {}",
                    String::from_utf8_lossy(ctx.arg(i))
                )))
            }
        }
        i += 2;
    }
    ctx.out.ok();
    Ok(())
}

fn sync_request(ctx: &Ctx, replid: String, offset: i64, legacy: bool) -> SyncRequest {
    let addr = &ctx.client.info.addr;
    let ip = addr
        .rsplit_once(':')
        .map_or(addr.as_str(), |(ip, _)| ip)
        .to_string();
    SyncRequest {
        replid,
        offset,
        legacy,
        ip,
        port: ctx.client.repl_port,
        eof: ctx.client.repl_capa_eof,
        functions_only: ctx.client.repl_functions_only,
    }
}

/// `PSYNC replid offset`: the connection becomes the replica's stream.
/// A cluster primary that restarted without data must not wipe its replicas with an empty
/// full sync: one of them takes over instead (see `View::empty_guard`).
fn refuse_if_guarded(ctx: &Ctx) -> CmdResult {
    if ctx
        .server
        .cluster
        .get()
        .is_some_and(|c| c.view().empty_guard)
    {
        return Err(CmdError::raw(
            "NOMASTERLINK Can't SYNC: this primary restarted without its data, a replica takes over",
        ));
    }
    Ok(())
}

fn psync(ctx: &mut Ctx) -> CmdResult {
    // `PSYNC <replid> <offset> FAILOVER` from our primary's history: its FAILOVER makes us
    // the primary, then the PSYNC is served (see `crate::repl::failover`).
    if ctx.args.len() > 3 && ctx.arg(3).eq_ignore_ascii_case(b"failover") {
        let replid = String::from_utf8_lossy(ctx.arg(1)).into_owned();
        if !replid.eq_ignore_ascii_case(&ctx.server.repl.ids.lock().replid) {
            return Err(CmdError::raw(
                "ERR PSYNC FAILOVER replid must match my replid.",
            ));
        }
        let server = server_arc(ctx)?;
        crate::repl::link::replicaof(&server, None);
        tracing::info!("Failover request received for replid {replid}.");
    }
    if ctx.server.repl.failover.active() {
        return Err(CmdError::raw("NOMASTERLINK Can't SYNC while failing over"));
    }
    if ctx.server.repl.link.is_replica() && ctx.server.repl.link.snapshot().is_some_and(|l| !l.up) {
        return Err(CmdError::raw(
            "NOMASTERLINK Can't SYNC while not connected with my master",
        ));
    }
    refuse_if_guarded(ctx)?;
    let replid = String::from_utf8_lossy(ctx.arg(1)).into_owned();
    let offset = crate::util::num::parse_i64(ctx.arg(2)).ok_or(CmdError::NotInteger)?;
    let req = sync_request(ctx, replid, offset, false);
    ctx.client.action = Some(Action::Replica(Box::new(req)));
    Ok(())
}

fn sync(ctx: &mut Ctx) -> CmdResult {
    refuse_if_guarded(ctx)?;
    let req = sync_request(ctx, "?".into(), -1, true);
    ctx.client.action = Some(Action::Replica(Box::new(req)));
    Ok(())
}

fn role(ctx: &mut Ctx) -> CmdResult {
    let r = &ctx.server.repl;
    let offset = r.offset() as i64;
    if let Some(l) = r.link.snapshot() {
        let state = if l.up {
            "connected"
        } else if l.syncing {
            "sync"
        } else {
            "connect"
        };
        ctx.out.array(5);
        ctx.out.bulk(b"slave");
        ctx.out.bulk(l.host.as_bytes());
        ctx.out.int(l.port as i64);
        ctx.out.bulk(state.as_bytes());
        ctx.out.int(if l.up { offset } else { -1 });
        return Ok(());
    }
    let replicas = r.replicas.lock().clone();
    ctx.out.array(3);
    ctx.out.bulk(b"master");
    ctx.out.int(offset);
    ctx.out.array(replicas.len());
    for rep in replicas.values() {
        ctx.out.array(3);
        ctx.out.bulk(rep.ip.as_bytes());
        ctx.out.bulk(rep.port.to_string().as_bytes());
        ctx.out.bulk(rep.ack_offset.to_string().as_bytes());
    }
    Ok(())
}

/// `WAIT numreplicas timeout`: answered at once when enough replicas already acknowledged
/// everything written so far, else by the connection once they do or the timeout passes.
fn wait(ctx: &mut Ctx) -> CmdResult {
    if ctx.server.repl.link.is_replica() {
        return Err(CmdError::err("WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated."));
    }
    let n = ctx.int_arg(1)?;
    let ms = ctx.int_arg(2)?;
    if ms < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    let target = ctx.server.repl.offset();
    let acked = ctx.server.repl.acked(target);
    if acked as i64 >= n || !ctx.client.may_block() {
        ctx.out.int(acked as i64);
        return Ok(());
    }
    crate::repl::request_acks(ctx.server);
    let timeout = (ms > 0).then(|| Duration::from_millis(ms as u64));
    ctx.client.action = Some(Action::Wait {
        offset: target,
        replicas: n.max(0) as usize,
        timeout,
    });
    Ok(())
}
