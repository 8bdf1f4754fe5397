//! Point-in-time snapshots of the keyspace without stopping clients (BGSAVE, AOF rewrite).
//!
//! Redis forks and lets the kernel copy pages on write. Here each shard is copied on first
//! touch instead: starting a snapshot marks every shard pending while all shards are locked
//! (the point in time); after that, whoever locks a pending shard first (a client command or
//! the snapshot thread walking the shards) serializes it before doing anything else. A shard
//! is therefore written exactly as it was at the start, and clients only ever wait for the
//! serialization of one shard (1/256 of the keyspace), not for the whole save.
//!
//! A shard's keys are serialized in the RDB entry format into one buffer per database, so
//! the file writer only concatenates them under `SELECTDB`.

use parking_lot::MutexGuard;

use super::{Guards, Keyspace, Shard, NDBS, NSHARDS};
use crate::rdb;

/// What a snapshot holds: every database's entries in RDB form, and their counts.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// RDB entries (optional expire opcode, type, key, value) per database.
    pub dbs: Vec<Vec<u8>>,
    /// `(keys, keys with a TTL)` per database.
    pub counts: Vec<(u64, u64)>,
    /// LZF for long strings (`rdbcompression`).
    compress: bool,
}

impl Snapshot {
    fn new(compress: bool) -> Snapshot {
        Snapshot {
            dbs: vec![Vec::new(); NDBS],
            counts: vec![(0, 0); NDBS],
            compress,
        }
    }

    /// Total keys.
    pub fn keys(&self) -> u64 {
        self.counts.iter().map(|c| c.0).sum()
    }

    /// Appends one shard's keys.
    fn add_shard(&mut self, shard: &Shard) {
        for (i, db) in shard.dbs.iter().enumerate() {
            let Some(db) = db else { continue };
            let out = &mut self.dbs[i];
            for (k, e) in db.keys.iter() {
                if e.expire_at != 0 {
                    out.push(rdb::opcode::EXPIRETIME_MS);
                    out.extend_from_slice(&e.expire_at.to_le_bytes());
                }
                out.push(rdb::value_kind(&e.value));
                rdb::write_string(out, k.as_slice(), false);
                rdb::write_value(out, &e.value, self.compress);
                self.counts[i].0 += 1;
                if e.expire_at != 0 {
                    self.counts[i].1 += 1;
                }
            }
        }
    }
}

/// The snapshot being taken in the background, if any.
#[derive(Default)]
pub(super) struct Background {
    pub(super) active: std::sync::atomic::AtomicBool,
    pub(super) out: parking_lot::Mutex<Option<Snapshot>>,
}

impl Keyspace {
    /// Locks shard `i`, first serializing it into the background snapshot if it is pending.
    pub(super) fn lock_shard(&self, i: usize) -> MutexGuard<'_, Shard> {
        let mut g = self.shards[i].lock();
        if g.snap_pending && self.snap.active.load(std::sync::atomic::Ordering::Acquire) {
            self.serialize_pending(&mut g);
        }
        g
    }

    fn serialize_pending(&self, g: &mut Shard) {
        g.snap_pending = false;
        if let Some(s) = self.snap.out.lock().as_mut() {
            s.add_shard(g);
        }
    }

    /// Whether a background snapshot is being taken.
    pub fn snapshot_in_progress(&self) -> bool {
        self.snap.active.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Completes the background snapshot started by [`super::Db::start_snapshot`]: serializes
    /// the shards no client has touched yet, one lock at a time. None if none was started.
    pub fn finish_snapshot(&self) -> Option<Snapshot> {
        if !self.snapshot_in_progress() {
            return None;
        }
        for i in 0..NSHARDS {
            drop(self.lock_shard(i));
        }
        let s = self.snap.out.lock().take();
        self.snap
            .active
            .store(false, std::sync::atomic::Ordering::Release);
        s
    }
}

impl super::Db<'_> {
    /// Starts a background snapshot of this very moment (the view must hold every shard,
    /// as whole-keyspace commands do). False if one is already running.
    pub fn start_snapshot(&mut self, ks: &Keyspace, compress: bool) -> bool {
        let Guards::All(guards) = &mut self.guards else {
            return false;
        };
        if ks.snapshot_in_progress() {
            return false;
        }
        for g in guards.iter_mut() {
            g.snap_pending = true;
        }
        *ks.snap.out.lock() = Some(Snapshot::new(compress));
        ks.snap
            .active
            .store(true, std::sync::atomic::Ordering::Release);
        true
    }

    /// Serializes the whole keyspace now, through the locks this view holds (SAVE).
    pub fn snapshot_now(&mut self, compress: bool) -> Option<Snapshot> {
        let Guards::All(guards) = &self.guards else {
            return None;
        };
        let mut s = Snapshot::new(compress);
        for g in guards.iter() {
            s.add_shard(g);
        }
        Some(s)
    }
}
