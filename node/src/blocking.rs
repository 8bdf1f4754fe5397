//! Blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, XREAD/XREADGROUP BLOCK; later
//! BZPOPMIN/BZPOPMAX/BZMPOP): clients waiting for a key to be filled, and serving them.
//!
//! Streams differ from lists in three ways: every XADD signals its key (not only creation),
//! reading consumes nothing so every stream reader on a signalled key is re-run (one that finds
//! nothing keeps waiting without stopping the others), and deleting, replacing, flushing or
//! expiring a stream signals it too, so a blocked XREADGROUP answers Redis's error.
//!
//! How it fits together (Redis `blocked.c`):
//!
//! 1. A blocking handler first tries to serve itself. When every key is empty it calls
//!    [`block`] *while still holding the key shards' locks*, which registers a [`Waiter`] under
//!    each `(db, key)` in first-blocked-first-served order. A writer on another thread either
//!    ran before (and the handler saw its data) or runs after the registration and sees it: no
//!    lost wake-up.
//! 2. [`crate::dispatch`] then answers `Outcome::Blocked`, and the connection task waits for
//!    the reply on a channel, for the deadline, for a kill, or for the socket to close.
//! 3. Whenever a command creates a key of a type clients block on (`Db` records those in
//!    `Db::created`; RENAME, MOVE and COPY onto a watched key count as creation, as in Redis's
//!    `dbAdd`), dispatch calls [`serve_ready`] after releasing the keyspace locks. Every ready
//!    key is served waiter by waiter, in the order they blocked, by re-running the waiter's
//!    command restricted to that key (`Ctx::serving`), until the key is empty again or no
//!    waiter is left. A served command that creates another key (BLMOVE) queues it too.
//! 4. The reply goes through the waiter's channel from whichever thread served it.
//!
//! Serving is serialised by one mutex, and so are timeouts, disconnections and
//! `CLIENT UNBLOCK`: a waiter is either still registered (the canceller removes it and sends
//! the timeout reply itself) or already answered (its reply is waiting in the channel). Lock
//! order: serve mutex, then keyspace shards, then the registry; the registry is never held
//! while taking another lock.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::db::{key_slot, SmallBytes, ViewCtx};
use crate::dispatch::Ctx;
use crate::error::CmdError;
use crate::resp::{Protocol, ReplyWriter};
use crate::server::{cflags, unix_ms, ClientInfo, Server, Settings};
use crate::util::num::LongDouble;

/// A key that became ready: `(db, key)`.
pub type ReadyKey = (usize, SmallBytes);

/// What a blocked client waits on, kept in its `Client` until the connection takes it.
pub enum Blocked {
    /// Registered: the reply arrives on `rx`; `deadline` None means forever.
    Waiting {
        rx: oneshot::Receiver<Bytes>,
        deadline: Option<Instant>,
    },
    /// Set when a re-run for a ready key found nothing to serve (the waiter stays blocked).
    NotServed,
}

/// Everything needed to re-run a blocked client's command on another thread.
pub struct BlockedCall {
    pub db: usize,
    pub args: Vec<Bytes>,
    pub proto: Protocol,
    pub user: Arc<crate::acl::User>,
    pub info: Arc<ClientInfo>,
}

/// One blocked client.
struct Waiter {
    call: Arc<BlockedCall>,
    keys: Vec<SmallBytes>,
    /// The type of value it waits for (`list`, `zset`, `stream`), as `TYPE` names it.
    kind: &'static str,
    has_timeout: bool,
    tx: oneshot::Sender<Bytes>,
}

#[derive(Default)]
struct Registry {
    /// Client ids blocked on each key, first blocked first.
    by_key: HashMap<ReadyKey, VecDeque<u64>>,
    waiters: HashMap<u64, Waiter>,
}

/// The blocked clients of the server.
#[derive(Default)]
pub struct Blocking {
    registry: Mutex<Registry>,
    serve: Mutex<()>,
    blocked: AtomicUsize,
    with_timeout: AtomicUsize,
}

impl Blocking {
    /// Clients currently blocked (`INFO` `blocked_clients`).
    pub fn blocked_clients(&self) -> usize {
        self.blocked.load(SeqCst)
    }

    /// Blocked clients with a timeout (`INFO` `clients_in_timeout_table`).
    pub fn in_timeout_table(&self) -> usize {
        self.with_timeout.load(SeqCst)
    }

    /// The keys of database `db` that clients are blocked on (SWAPDB rescans them).
    pub fn keys_in_db(&self, db: usize) -> Vec<SmallBytes> {
        let reg = self.registry.lock();
        reg.by_key
            .keys()
            .filter(|(d, _)| *d == db)
            .map(|(_, k)| k.clone())
            .collect()
    }

    /// Unregisters a waiter; None if it is not blocked.
    fn remove(&self, id: u64) -> Option<Waiter> {
        let mut reg = self.registry.lock();
        let w = reg.waiters.remove(&id)?;
        for k in &w.keys {
            let rk = (w.call.db, k.clone());
            if let Some(q) = reg.by_key.get_mut(&rk) {
                q.retain(|&c| c != id);
                if q.is_empty() {
                    reg.by_key.remove(&rk);
                }
            }
        }
        drop(reg);
        self.blocked.fetch_sub(1, SeqCst);
        if w.has_timeout {
            self.with_timeout.fetch_sub(1, SeqCst);
        }
        w.call.info.flags.fetch_and(!cflags::BLOCKED, SeqCst);
        Some(w)
    }

    /// The first client blocked on `key` for values of type `kind`, skipping `skip`. Stream
    /// readers are candidates whatever the key holds: XREADGROUP answers an error when its
    /// stream was deleted or replaced.
    fn first(
        &self,
        key: &ReadyKey,
        kind: Option<&str>,
        skip: &[u64],
    ) -> Option<(u64, Arc<BlockedCall>, &'static str)> {
        let reg = self.registry.lock();
        reg.by_key.get(key)?.iter().find_map(|id| {
            let w = reg.waiters.get(id)?;
            (!skip.contains(id) && (Some(w.kind) == kind || w.kind == "stream"))
                .then(|| (*id, w.call.clone(), w.kind))
        })
    }
}

/// Keys of database `db` (every database when None) that clients wait on with XREAD /
/// XREADGROUP: FLUSHDB and FLUSHALL signal them, so XREADGROUP answers that its stream is gone.
pub fn stream_waited_keys(server: &Server, db: Option<usize>) -> Vec<ReadyKey> {
    let reg = server.blocking.registry.lock();
    reg.waiters
        .values()
        .filter(|w| w.kind == "stream" && db.is_none_or(|d| d == w.call.db))
        .flat_map(|w| w.keys.iter().map(|k| (w.call.db, k.clone())))
        .collect()
}

/// Parses a blocking timeout in seconds as Redis 7.0 `getTimeoutFromObjectOrReply`: a
/// `long double`, turned into whole milliseconds; `0` blocks forever. None means forever.
pub fn parse_timeout(arg: &[u8]) -> Result<Option<Duration>, CmdError> {
    let v = LongDouble::parse(arg).ok_or(CmdError::TimeoutNotFloat)?;
    let ms = v.mul_to_i64(1000);
    if ms < 0 {
        return Err(CmdError::TimeoutNegative);
    }
    Ok((ms > 0).then(|| Duration::from_millis(ms as u64)))
}

/// Blocks the client running `ctx` on `keys` until one of them receives a value of type
/// `kind` or `timeout` passes. Call it from the handler, with the keys still locked, after
/// finding them all empty; write no reply. When the handler is re-run for a ready key
/// (`ctx.serving`), this instead records that there was nothing to serve.
pub fn block(ctx: &mut Ctx<'_, '_>, keys: &[&[u8]], timeout: Option<Duration>, kind: &'static str) {
    let args = ctx.args.to_vec();
    block_as(ctx, args, keys, timeout, kind);
}

/// [`block`], re-running `args` instead of the command's own arguments when a key becomes
/// ready (XREAD BLOCK replaces `$` by the ID it stood for when the client blocked).
pub fn block_as(
    ctx: &mut Ctx<'_, '_>,
    args: Vec<Bytes>,
    keys: &[&[u8]],
    timeout: Option<Duration>,
    kind: &'static str,
) {
    if ctx.serving.is_some() {
        ctx.client.blocked = Some(Blocked::NotServed);
        return;
    }
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let (tx, rx) = oneshot::channel();
    let db = ctx.db.index;
    let id = ctx.client.info.id;
    let mut uniq: Vec<SmallBytes> = Vec::with_capacity(keys.len());
    for k in keys {
        if !uniq.iter().any(|u| u.as_slice() == *k) {
            uniq.push(SmallBytes::new(k));
        }
    }
    let waiter = Waiter {
        call: Arc::new(BlockedCall {
            db,
            args,
            proto: ctx.client.proto,
            user: ctx.client.user.clone(),
            info: ctx.client.info.clone(),
        }),
        keys: uniq.clone(),
        kind,
        has_timeout: deadline.is_some(),
        tx,
    };
    let b = &ctx.server.blocking;
    {
        let mut reg = b.registry.lock();
        for k in uniq {
            reg.by_key.entry((db, k)).or_default().push_back(id);
        }
        reg.waiters.insert(id, waiter);
    }
    b.blocked.fetch_add(1, SeqCst);
    if deadline.is_some() {
        b.with_timeout.fetch_add(1, SeqCst);
    }
    ctx.client.info.flags.fetch_or(cflags::BLOCKED, SeqCst);
    ctx.client.blocked = Some(Blocked::Waiting { rx, deadline });
}

/// Serves the clients blocked on keys that commands just created (see the module docs).
/// Call without holding any keyspace lock.
pub fn serve_ready(server: &Server, settings: &Settings, created: Vec<ReadyKey>) {
    let b = &server.blocking;
    if b.blocked.load(SeqCst) == 0 {
        return;
    }
    let _serving = b.serve.lock();
    let mut queue: VecDeque<ReadyKey> = created.into();
    while let Some(rk) = queue.pop_front() {
        // Stream readers that found nothing for them keep waiting; the others are still served
        // (reading a stream consumes nothing, unlike popping a list).
        let mut skip: Vec<u64> = Vec::new();
        loop {
            let kind = {
                let view = ViewCtx {
                    db: rk.0,
                    now: unix_ms(),
                    mode: settings.access,
                };
                let mut db = server.keyspace.lock_slots(&[key_slot(&rk.1)], view);
                db.peek(&rk.1).map(|e| e.value.type_name())
            };
            let Some((id, call, wkind)) = b.first(&rk, kind, &skip) else {
                break;
            };
            let Some((reply, more)) = crate::dispatch::run_blocked(server, settings, &call, &rk.1)
            else {
                if wkind == "stream" {
                    skip.push(id);
                    continue;
                }
                // The key is empty again: the remaining waiters keep waiting.
                break;
            };
            if let Some(w) = b.remove(id) {
                let _ = w.tx.send(reply);
            }
            queue.extend(more);
        }
    }
}

/// Stops waiting for client `id` (its deadline passed, it disconnected or was killed).
/// True if it was still blocked (the caller answers the timeout); false if it was served or
/// unblocked meanwhile, in which case the reply is already in its channel.
pub fn cancel(server: &Server, id: u64) -> bool {
    let _serving = server.blocking.serve.lock();
    server.blocking.remove(id).is_some()
}

thread_local! {
    /// While this thread runs a transaction (see [`defer_unblocks`]): the clients CLIENT
    /// UNBLOCK named, to unblock once the transaction has released its shards.
    static DEFERRED: std::cell::RefCell<Option<Vec<(u64, bool)>>> =
        const { std::cell::RefCell::new(None) };
}

/// CLIENT UNBLOCK queued in a transaction, which holds shards: unblocking takes the serve
/// mutex, which serving takes before a shard, so it cannot be taken there; and holding it
/// for the whole transaction would stall every thread that cancels a wait. The unblocks are
/// recorded instead and run by [`DeferredUnblocks::finish`] after the transaction.
pub struct DeferredUnblocks(());

impl DeferredUnblocks {
    /// Unblocks the clients the transaction named (call without keyspace locks).
    pub fn finish(self, server: &Server) {
        let ids = DEFERRED.with(|d| d.borrow_mut().take()).unwrap_or_default();
        for (id, error) in ids {
            unblock(server, id, error);
        }
    }
}

impl Drop for DeferredUnblocks {
    fn drop(&mut self) {
        DEFERRED.with(|d| d.borrow_mut().take());
    }
}

/// Starts recording this thread's CLIENT UNBLOCKs (see [`DeferredUnblocks`]).
pub fn defer_unblocks() -> DeferredUnblocks {
    DEFERRED.with(|d| *d.borrow_mut() = Some(Vec::new()));
    DeferredUnblocks(())
}

/// True for the commands a transaction defers (see [`DeferredUnblocks`]).
pub fn needs_deferral(cmd: &crate::cmd::Command) -> bool {
    cmd.group == "connection" && cmd.name == "unblock"
}

/// `CLIENT UNBLOCK id [TIMEOUT|ERROR]`: answers a blocked client as if it timed out, or with
/// an error. False if the client is not blocked.
pub fn unblock(server: &Server, id: u64, error: bool) -> bool {
    // Inside a transaction: answer whether the client is blocked now, unblock it after.
    let deferred = DEFERRED.with(|d| {
        d.borrow_mut().as_mut().map(|list| {
            let blocked = server.blocking.registry.lock().waiters.contains_key(&id);
            if blocked {
                list.push((id, error));
            }
            blocked
        })
    });
    if let Some(blocked) = deferred {
        return blocked;
    }
    let _serving = server.blocking.serve.lock();
    let Some(w) = server.blocking.remove(id) else {
        return false;
    };
    let mut out = bytes::BytesMut::new();
    let mut wr = ReplyWriter::new(&mut out, w.call.proto);
    if error {
        let text = "UNBLOCKED client unblocked via CLIENT UNBLOCK";
        wr.error(text);
        server.stats.count_error(text);
    } else {
        wr.null_array();
    }
    let _ = w.tx.send(out.freeze());
    true
}

/// Unblocks every blocked client for which `error(call, first key)` gives an error text,
/// answering it that error (cluster mode: the slot it waits on moved away, see
/// `crate::cluster::migrate_pool::redirect_blocked`). Returns how many were unblocked.
pub fn unblock_with_error(
    server: &Server,
    error: impl Fn(&BlockedCall, &[u8]) -> Option<String>,
) -> usize {
    if server.blocking.blocked_clients() == 0 {
        return 0;
    }
    let _serving = server.blocking.serve.lock();
    let doomed: Vec<(u64, String)> = {
        let reg = server.blocking.registry.lock();
        reg.waiters
            .iter()
            .filter_map(|(id, w)| {
                let key = w.keys.first()?;
                error(&w.call, key.as_slice()).map(|e| (*id, e))
            })
            .collect()
    };
    let mut n = 0;
    for (id, e) in doomed {
        let Some(w) = server.blocking.remove(id) else {
            continue;
        };
        let mut out = bytes::BytesMut::new();
        ReplyWriter::new(&mut out, w.call.proto).error(&e);
        server.stats.count_error(&e);
        let _ = w.tx.send(out.freeze());
        n += 1;
    }
    n
}

/// The reply of a blocked command that timed out: a null array, as Redis answers for lists,
/// sorted sets and streams.
pub fn timeout_reply(out: &mut bytes::BytesMut, proto: Protocol) {
    ReplyWriter::new(out, proto).null_array();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_like_redis() {
        let ok = |s: &str| parse_timeout(s.as_bytes());
        assert_eq!(ok("0"), Ok(None));
        assert_eq!(ok("0.0001"), Ok(None));
        assert_eq!(ok("1.5"), Ok(Some(Duration::from_millis(1500))));
        assert_eq!(ok("0x10"), Ok(Some(Duration::from_secs(16))));
        assert_eq!(ok("-1"), Err(CmdError::TimeoutNegative));
        assert_eq!(ok("inf"), Err(CmdError::TimeoutNegative));
        assert_eq!(ok("1e16"), Err(CmdError::TimeoutNegative));
        assert_eq!(ok("1e400"), Err(CmdError::TimeoutNegative));
        assert_eq!(ok("-0.0001"), Ok(None));
        assert_eq!(ok("abc"), Err(CmdError::TimeoutNotFloat));
        assert_eq!(ok("nan"), Err(CmdError::TimeoutNotFloat));
        assert_eq!(ok(" 1"), Err(CmdError::TimeoutNotFloat));
        assert_eq!(ok(""), Err(CmdError::TimeoutNotFloat));
    }
}
