//! The modified-keys signal (Redis `signalModifiedKey`) and the WATCH registry it feeds.
//!
//! Handlers do not report anything themselves: a [`Db`] view with `track` on records the keys
//! it writes, deletes or finds expired, and dispatch adds the keys a write command's key specs
//! mark as written (RW/OW) when the command changed something (its dirty count grew). The keys
//! are signalled while their shards are still locked, so an EXEC that locks a watched key's
//! shard and then checks its dirty flag sees every write that came before it. Nothing is
//! recorded unless someone WATCHes or tracks keys ([`active`]: two atomic loads).
//!
//! WATCH is per key and per database: a write to `a` never breaks a WATCH of `b`, whatever
//! their slots. A key watched while already expired keeps a flag, as in Redis 7.0: its lazy or
//! active deletion is no change, and EXEC aborts when a key that was live at WATCH time has
//! expired since (`isWatchedKeyExpired`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::db::{key_slot, Db, SmallBytes};
use crate::server::{cflags, ClientInfo, Server};

/// A command queued in MULTI, as it was resolved when queued.
pub struct Queued {
    /// The container of a subcommand (`CONFIG` of `CONFIG SET`).
    pub parent: Option<&'static crate::cmd::Command>,
    pub cmd: &'static crate::cmd::Command,
    pub args: Vec<Bytes>,
}

/// A client's MULTI state: the queued commands, and whether one was rejected while queueing.
#[derive(Default)]
pub struct Multi {
    pub queued: Vec<Queued>,
    /// A command was rejected at queue time: EXEC answers EXECABORT.
    pub failed: bool,
    /// A queued command may write (EXEC waits out CLIENT PAUSE WRITE).
    pub writes: bool,
    /// A queued command has the write flag (`min-replicas-to-write` refuses the EXEC).
    pub write_cmds: bool,
    /// A queued command lacks the `loading` flag (EXEC is refused while a replica loads).
    pub loading_denied: bool,
}

struct WatchedKey {
    db: usize,
    key: Bytes,
    /// The key was present but logically expired when watched.
    expired: bool,
}

/// One watching client.
pub struct Watcher {
    pub info: Arc<ClientInfo>,
    dirty: AtomicBool,
    keys: Mutex<Vec<WatchedKey>>,
}

impl Watcher {
    pub fn new(info: Arc<ClientInfo>) -> Arc<Watcher> {
        Arc::new(Watcher {
            info,
            dirty: AtomicBool::new(false),
            keys: Mutex::new(Vec::new()),
        })
    }

    /// A watched key was modified since WATCH.
    pub fn is_dirty(&self) -> bool {
        self.dirty.load(Relaxed)
    }

    /// Slots of the watched keys (EXEC locks them with its own keys).
    pub fn slots(&self) -> Vec<u16> {
        self.keys.lock().iter().map(|k| key_slot(&k.key)).collect()
    }

    /// True if a key that was live when watched has expired since (`db` holds its shard).
    pub fn any_expired(&self, db: &mut Db) -> bool {
        let saved = db.index;
        let keys = self.keys.lock();
        let found = keys.iter().any(|k| {
            if k.expired {
                return false;
            }
            db.index = k.db;
            db.raw_state(&k.key) == Some(true)
        });
        db.index = saved;
        found
    }

    fn mark_dirty(&self) {
        self.dirty.store(true, Relaxed);
        self.info.flags.fetch_or(cflags::DIRTY_CAS, Relaxed);
    }
}

/// `(db, key)` -> the clients watching it.
type WatchMap = HashMap<(usize, Bytes), Vec<Arc<Watcher>>>;

/// Every watched `(db, key)` and its watchers.
#[derive(Default)]
pub struct Watches {
    /// Watched (client, key) pairs: the cheap "anyone watching?" test.
    count: AtomicUsize,
    map: Mutex<WatchMap>,
}

impl Watches {
    pub fn active(&self) -> bool {
        self.count.load(Relaxed) > 0
    }

    /// Watches `key` of database `db` for `w` (nothing if already watched). `expired`: the key
    /// is present but logically expired now.
    pub fn watch(&self, w: &Arc<Watcher>, db: usize, key: &[u8], expired: bool) {
        let mut map = self.map.lock();
        let mut keys = w.keys.lock();
        if keys.iter().any(|k| k.db == db && k.key == key) {
            return;
        }
        let key = Bytes::copy_from_slice(key);
        keys.push(WatchedKey {
            db,
            key: key.clone(),
            expired,
        });
        map.entry((db, key)).or_default().push(w.clone());
        self.count.fetch_add(1, Relaxed);
    }

    /// Forgets every key `w` watches and clears its dirty flag (EXEC, DISCARD, UNWATCH, RESET).
    pub fn unwatch_all(&self, w: &Watcher) {
        let mut map = self.map.lock();
        let mut keys = w.keys.lock();
        for k in keys.drain(..) {
            let id = (k.db, k.key);
            if let Some(v) = map.get_mut(&id) {
                v.retain(|x| !std::ptr::eq(Arc::as_ptr(x), w));
                if v.is_empty() {
                    map.remove(&id);
                }
            }
            self.count.fetch_sub(1, Relaxed);
        }
        w.dirty.store(false, Relaxed);
        w.info.flags.fetch_and(!cflags::DIRTY_CAS, Relaxed);
    }

    /// Number of keys watched by at least one client.
    pub fn watched_keys(&self) -> usize {
        self.map.lock().len()
    }

    /// `key` of `db` was modified; `present`: it is stored now (expired or not).
    pub fn touch(&self, db: usize, key: &[u8], present: bool) {
        self.touch_with(db, key, |expired_flag| {
            if expired_flag && !present {
                // Already expired when watched and now deleted: no logical change.
                Touch::ClearExpired
            } else {
                Touch::Dirty
            }
        });
    }

    /// `key` of `db` was replaced wholesale (FLUSHDB, FLUSHALL, SWAPDB): `before` whether it
    /// was stored before, `after` its state now (None: absent, Some(expired)).
    pub fn touch_replaced(&self, db: usize, key: &[u8], before: bool, after: Option<bool>) {
        if !before && after.is_none() {
            return;
        }
        self.touch_with(db, key, |expired_flag| match (expired_flag, after) {
            (true, None) => Touch::ClearExpired,
            (true, Some(true)) => Touch::Nothing,
            (false, Some(true)) if !before => Touch::SetExpired,
            _ => Touch::Dirty,
        });
    }

    fn touch_with(&self, db: usize, key: &[u8], decide: impl Fn(bool) -> Touch) {
        let map = self.map.lock();
        let Some(list) = map.get(&(db, Bytes::copy_from_slice(key))) else {
            return;
        };
        for w in list {
            let mut keys = w.keys.lock();
            let Some(wk) = keys.iter_mut().find(|k| k.db == db && k.key == key) else {
                continue;
            };
            match decide(wk.expired) {
                Touch::Dirty => w.mark_dirty(),
                Touch::ClearExpired => wk.expired = false,
                Touch::SetExpired => wk.expired = true,
                Touch::Nothing => {}
            }
        }
    }

    /// Every watched `(db, key)` (for whole-database commands to compare before and after).
    pub fn all_keys(&self) -> Vec<(usize, Bytes)> {
        self.map.lock().keys().cloned().collect()
    }
}

enum Touch {
    Dirty,
    ClearExpired,
    SetExpired,
    Nothing,
}

/// True if modified keys must be recorded (someone watches or tracks keys).
pub fn active(server: &Server) -> bool {
    server.watches.active() || server.tracking.active()
}

/// Reports keys modified by client `by` (0: the server itself) to WATCH and to client-side
/// caching. `db` is the view that holds the keys' shards.
pub fn signal(server: &Server, by: u64, db: &mut Db, keys: &[(usize, SmallBytes)]) {
    if keys.is_empty() {
        return;
    }
    if server.watches.active() {
        let saved = db.index;
        for (d, k) in keys {
            db.index = *d;
            let present = db.raw_state(k.as_slice()).is_some();
            server.watches.touch(*d, k.as_slice(), present);
        }
        db.index = saved;
    }
    if server.tracking.active() {
        let ks: Vec<&[u8]> = keys.iter().map(|(_, k)| k.as_slice()).collect();
        server.tracking.invalidate(server, by, &ks);
    }
}

/// A key deleted by the server itself (active expiry, eviction), its shard still locked.
pub fn signal_deleted(server: &Server, db: usize, key: &[u8]) {
    if server.watches.active() {
        server.watches.touch(db, key, false);
    }
    if server.tracking.active() {
        server.tracking.invalidate(server, 0, &[key]);
    }
}

/// State of every watched key before a whole-database command (FLUSHDB, FLUSHALL, SWAPDB).
pub fn snapshot(server: &Server, db: &mut Db) -> Vec<(usize, Bytes, bool)> {
    let saved = db.index;
    let out = server
        .watches
        .all_keys()
        .into_iter()
        .map(|(d, k)| {
            db.index = d;
            let present = db.raw_state(&k).is_some();
            (d, k, present)
        })
        .collect();
    db.index = saved;
    out
}

/// After a whole-database command: touches the watched keys of the databases it emptied
/// or swapped.
pub fn touch_replaced(server: &Server, db: &mut Db, before: Vec<(usize, Bytes, bool)>) {
    let replaced = db.fx.as_ref().map_or(0, |fx| fx.replaced_dbs);
    let saved = db.index;
    for (d, k, was) in before {
        if replaced & (1 << d) == 0 {
            continue;
        }
        db.index = d;
        let after = db.raw_state(&k);
        server.watches.touch_replaced(d, &k, was, after);
    }
    db.index = saved;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> Arc<ClientInfo> {
        let s = Server::new(crate::config::Config::default());
        s.register_client("a".into(), "b".into(), 0)
    }

    #[test]
    fn per_key_and_expired_flag() {
        let w = Watcher::new(info());
        let ws = Watches::default();
        ws.watch(&w, 0, b"a", false);
        ws.watch(&w, 0, b"a", false);
        ws.watch(&w, 0, b"old", true);
        assert_eq!(ws.count.load(Relaxed), 2);
        ws.touch(0, b"b", true);
        ws.touch(1, b"a", true);
        assert!(!w.is_dirty());
        // An already-expired key deleted: no change.
        ws.touch(0, b"old", false);
        assert!(!w.is_dirty());
        // Then written: a change.
        ws.touch(0, b"old", true);
        assert!(w.is_dirty());
        ws.unwatch_all(&w);
        assert!(!w.is_dirty());
        assert!(!ws.active());
        assert_eq!(ws.watched_keys(), 0);
    }

    #[test]
    fn replaced_keys() {
        let w = Watcher::new(info());
        let ws = Watches::default();
        ws.watch(&w, 0, b"missing", false);
        ws.touch_replaced(0, b"missing", false, None);
        assert!(!w.is_dirty());
        ws.touch_replaced(0, b"missing", true, None);
        assert!(w.is_dirty());
    }
}
