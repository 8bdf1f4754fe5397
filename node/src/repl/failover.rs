//! FAILOVER: a primary hands its role to one of its replicas without losing a write (the
//! coordinated failover of Redis 6.2, outside cluster mode).
//!
//! 1. FAILOVER pauses writes (the failover pause, as a cluster manual failover) and asks the
//!    replicas for their offsets (`REPLCONF GETACK *`).
//! 2. A watcher waits for the target (or, without TO, the first replica) to acknowledge the
//!    whole stream: `waiting-for-sync`. Past TIMEOUT it gives up and unpauses, or with FORCE
//!    goes on regardless.
//! 3. The primary turns into a replica of the target (`failover-in-progress`) and asks it
//!    `PSYNC <replid> <offset> FAILOVER` ([`super::link`]): a replica receiving that from its
//!    own primary's history becomes a primary first, then serves the PSYNC (a partial
//!    resync, the offsets being equal).
//! 4. Accepted (`+CONTINUE` or `+FULLRESYNC`): writes are unpaused, the old primary now
//!    follows the new one. Refused: the failover is aborted and the old primary is a primary
//!    again (a new history, as REPLICAOF NO ONE makes).
//!
//! Other replicas of the old primary stay with it, chained, as in Redis.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tracing::info;

use super::ReplicaState;
use crate::server::{unix_ms, PausePurpose, Server};

/// Where a failover stands (`master_failover_state`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum State {
    #[default]
    None,
    /// Writes are paused until a replica has everything.
    WaitForSync {
        /// `TO host port`, or the first replica to catch up.
        target: Option<(String, u16)>,
        /// Unix ms when TIMEOUT ends (None: no timeout).
        until: Option<u64>,
        force: bool,
    },
    /// This node follows the target and asks it to take over.
    InProgress { target: (String, u16) },
}

/// The failover of this node, if one runs.
#[derive(Default)]
pub struct Failover {
    state: Mutex<State>,
}

impl Failover {
    /// `master_failover_state` of INFO replication.
    pub fn state_name(&self) -> &'static str {
        match *self.state.lock() {
            State::None => "no-failover",
            State::WaitForSync { .. } => "waiting-for-sync",
            State::InProgress { .. } => "failover-in-progress",
        }
    }

    /// A failover runs (REPLICAOF and replicas' syncs are refused meanwhile).
    pub fn active(&self) -> bool {
        *self.state.lock() != State::None
    }

    /// This node follows the target and its PSYNC must ask it to take over.
    pub fn in_progress(&self) -> bool {
        matches!(*self.state.lock(), State::InProgress { .. })
    }
}

/// What FAILOVER asked for.
pub struct Request {
    pub target: Option<(String, u16)>,
    pub timeout_ms: Option<u64>,
    pub force: bool,
}

/// Starts a failover (FAILOVER's checks in Redis's order, then step 1); Err: the error text.
pub fn start(server: &Arc<Server>, req: Request) -> Result<(), &'static str> {
    let mut state = server.repl.failover.state.lock();
    if *state != State::None {
        return Err("ERR FAILOVER already in progress.");
    }
    if server.repl.link.is_replica() {
        return Err("ERR FAILOVER is not valid when server is a replica.");
    }
    if server.repl.replicas.lock().is_empty() {
        return Err("ERR FAILOVER requires connected replicas.");
    }
    if req.force && (req.timeout_ms.is_none() || req.target.is_none()) {
        return Err(
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        );
    }
    match &req.target {
        Some((host, port)) => {
            let replicas = server.repl.replicas.lock();
            let Some(r) = replicas.values().find(|r| is_at(r, host, *port)) else {
                return Err("ERR FAILOVER target HOST and PORT is not a replica.");
            };
            if r.state != "online" {
                return Err("ERR FAILOVER target replica is not online.");
            }
            info!("FAILOVER requested to {host}:{port}.");
        }
        None => info!("FAILOVER requested to any replica."),
    }
    let now = unix_ms();
    *state = State::WaitForSync {
        target: req.target,
        until: req.timeout_ms.map(|t| now.saturating_add(t)),
        force: req.force,
    };
    drop(state);
    server
        .pause
        .pause(PausePurpose::Failover, u64::MAX, true, now);
    super::request_acks(server);
    let me = server.clone();
    tokio::spawn(async move { watch(me).await });
    Ok(())
}

/// Step 2: every few milliseconds until a replica has caught up, the timeout passes or the
/// failover is aborted.
async fn watch(server: Arc<Server>) {
    let mut acks_asked = unix_ms();
    loop {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let state = server.repl.failover.state.lock();
        let State::WaitForSync {
            target,
            until,
            force,
        } = state.clone()
        else {
            return;
        };
        let now = unix_ms();
        if until.is_some_and(|u| now >= u) {
            match (force, target) {
                (true, Some((host, port))) => {
                    info!("FAILOVER to {host}:{port} time out exceeded, failing over.");
                    hand_over(&server, state, host, port);
                }
                _ => {
                    drop(state);
                    abort(&server, "Replica never caught up before timeout");
                }
            }
            return;
        }
        let offset = server.repl.offset();
        let caught_up = server
            .repl
            .replicas
            .lock()
            .values()
            .find(|r| match &target {
                Some((host, port)) => is_at(r, host, *port),
                None => r.ack_offset == offset,
            })
            .filter(|r| r.ack_offset == offset)
            .map(|r| (r.ip.clone(), r.port));
        if let Some((host, port)) = caught_up {
            info!("Failover target {host}:{port} is synced, failing over.");
            hand_over(&server, state, host, port);
            return;
        }
        drop(state);
        // Replicas acknowledge every second anyway; asking again keeps the wait short.
        if now.saturating_sub(acks_asked) >= 1000 {
            super::request_acks(&server);
            acks_asked = now;
        }
    }
}

/// Whether `r` is the replica at `host:port` (FAILOVER TO's target).
fn is_at(r: &ReplicaState, host: &str, port: u16) -> bool {
    r.ip.eq_ignore_ascii_case(host) && r.port == port
}

/// Step 3: `state` becomes `failover-in-progress` and this node follows the target.
fn hand_over(
    server: &Arc<Server>,
    mut state: parking_lot::MutexGuard<'_, State>,
    host: String,
    port: u16,
) {
    *state = State::InProgress {
        target: (host.clone(), port),
    };
    drop(state);
    super::link::replicaof(server, Some((host, port)));
}

/// Step 4: the target answered the PSYNC. Accepted: the failover is over and writes go on
/// (to the new primary); refused: aborted.
pub fn psync_answered(server: &Arc<Server>, accepted: bool) {
    if accepted {
        clear(server);
    } else {
        abort(server, "Failover target rejected psync request");
    }
}

/// FAILOVER ABORT, a timeout or a refusal: back to a primary if this node already followed
/// the target, writes unpaused. False if no failover ran.
pub fn abort(server: &Arc<Server>, reason: &str) -> bool {
    let state = server.repl.failover.state.lock().clone();
    match &state {
        State::None => return false,
        State::WaitForSync {
            target: Some((host, port)),
            ..
        }
        | State::InProgress {
            target: (host, port),
        } => info!("FAILOVER to {host}:{port} aborted: {reason}"),
        State::WaitForSync { target: None, .. } => {
            info!("FAILOVER to any replica aborted: {reason}")
        }
    }
    if matches!(state, State::InProgress { .. }) {
        super::link::replicaof(server, None);
    }
    clear(server);
    true
}

fn clear(server: &Server) {
    *server.repl.failover.state.lock() = State::None;
    server.pause.resume(PausePurpose::Failover);
}
