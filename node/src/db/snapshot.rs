//! Point-in-time snapshots of the keyspace without stopping clients (BGSAVE, AOF rewrite,
//! full sync).
//!
//! Redis forks and lets the kernel copy pages on write. Here each shard is copied on first
//! touch instead: starting a snapshot marks every shard pending while all shards are locked
//! (the point in time); after that, a client command that locks a pending shard first
//! serializes what the snapshot still needs of it into a copy kept beside the shard, and
//! only then goes on. Clients therefore only ever wait for the serialization of one shard
//! (1/256 of the keyspace), not for the whole save.
//!
//! The snapshot thread walks the shards in file order (database by database, shard by
//! shard): a shard still pending is serialized straight from the live data, a touched one
//! gives its copy. Each chunk (one database of one shard) goes to the caller's sink as soon
//! as it is ready, so the memory a snapshot costs is the copies clients forced plus one chunk,
//! not a second copy of the dataset.

use parking_lot::MutexGuard;

use super::{Guards, Keyspace, Shard, NDBS, NSHARDS};
use crate::rdb;

/// What a snapshot hands its sink, in file order.
#[derive(Debug)]
pub enum Part<'a> {
    /// A database with keys starts: its index, keys and keys with a TTL.
    Db {
        index: usize,
        keys: u64,
        expires: u64,
    },
    /// RDB entries (optional expire opcode, type, key, value) of the current database.
    Entries(&'a [u8]),
}

/// A shard's part in the snapshot being taken.
#[derive(Default)]
pub(super) struct ShardSnap {
    /// Databases (bit per index) the snapshot still needs from the live data.
    pending: u16,
    /// Entries per database serialized when a client touched the shard first.
    copies: Vec<(usize, Vec<u8>)>,
}

/// The snapshot being taken in the background, if any.
#[derive(Default)]
pub(super) struct Background {
    active: std::sync::atomic::AtomicBool,
    /// `(keys, keys with a TTL)` per database at the point in time.
    counts: parking_lot::Mutex<Option<Vec<(u64, u64)>>>,
    /// LZF for long strings (`rdbcompression`).
    compress: std::sync::atomic::AtomicBool,
}

/// Appends database `db` of `shard` as RDB entries.
fn serialize(shard: &Shard, db: usize, compress: bool, out: &mut Vec<u8>) {
    let Some(db) = &shard.dbs[db] else { return };
    for (k, e) in db.keys.iter() {
        if e.expire_at != 0 {
            out.push(rdb::opcode::EXPIRETIME_MS);
            out.extend_from_slice(&e.expire_at.to_le_bytes());
        }
        out.push(rdb::value_kind(&e.value));
        rdb::write_string(out, k.as_slice(), false);
        rdb::write_value(out, &e.value, compress);
    }
}

/// `(keys, keys with a TTL)` per database over `shards`.
fn counts<'a>(shards: impl Iterator<Item = &'a Shard>) -> Vec<(u64, u64)> {
    let mut c = vec![(0u64, 0u64); NDBS];
    for sh in shards {
        for (i, db) in sh.dbs.iter().enumerate() {
            if let Some(db) = db {
                c[i].0 += db.len() as u64;
                c[i].1 += db.volatile() as u64;
            }
        }
    }
    c
}

/// Feeds `sink` until it fails; afterwards only remembers the error.
struct Feed<F> {
    sink: F,
    result: std::io::Result<()>,
}

impl<F: FnMut(Part<'_>) -> std::io::Result<()>> Feed<F> {
    fn give(&mut self, part: Part<'_>) {
        if self.result.is_ok() {
            self.result = (self.sink)(part);
        }
    }
}

impl Keyspace {
    /// Locks shard `i`, first copying what the background snapshot still needs of it.
    #[inline]
    pub(super) fn lock_shard(&self, i: usize) -> MutexGuard<'_, Shard> {
        self.ready(self.shards[i].lock())
    }

    /// A shard just locked, once the background snapshot has what it still needs of it.
    #[inline]
    pub(super) fn ready<'a>(&self, mut g: MutexGuard<'a, Shard>) -> MutexGuard<'a, Shard> {
        if g.snap.pending != 0 {
            self.copy_for_snapshot(&mut g);
        }
        g
    }

    /// Copies what the background snapshot still needs of a shard about to be touched.
    #[cold]
    #[inline(never)]
    fn copy_for_snapshot(&self, sh: &mut Shard) {
        if !self.snap.active.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        let compress = self
            .snap
            .compress
            .load(std::sync::atomic::Ordering::Relaxed);
        for db in 0..NDBS {
            if sh.snap.pending & (1 << db) != 0 {
                let mut out = Vec::new();
                serialize(sh, db, compress, &mut out);
                if !out.is_empty() {
                    sh.snap.copies.push((db, out));
                }
            }
        }
        sh.snap.pending = 0;
    }

    /// Whether a background snapshot is being taken.
    pub fn snapshot_in_progress(&self) -> bool {
        self.snap.active.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Completes the background snapshot started by [`super::Db::start_snapshot`], handing
    /// it to `sink` chunk by chunk in file order and holding one shard lock at a time (never
    /// during a call to `sink`). The first error of `sink` ends the feeding but not the walk,
    /// which still releases every shard. None if no snapshot was started.
    pub fn finish_snapshot(
        &self,
        sink: impl FnMut(Part<'_>) -> std::io::Result<()>,
    ) -> Option<std::io::Result<()>> {
        if !self.snapshot_in_progress() {
            return None;
        }
        let counts = self.snap.counts.lock().take()?;
        let compress = self
            .snap
            .compress
            .load(std::sync::atomic::Ordering::Relaxed);
        let mut feed = Feed {
            sink,
            result: Ok(()),
        };
        let mut chunk = Vec::new();
        for (index, &(keys, expires)) in counts.iter().enumerate() {
            if keys == 0 {
                continue;
            }
            feed.give(Part::Db {
                index,
                keys,
                expires,
            });
            for i in 0..NSHARDS {
                chunk.clear();
                {
                    let mut g = self.shards[i].lock();
                    let sh = &mut *g;
                    if sh.snap.pending & (1 << index) != 0 {
                        sh.snap.pending &= !(1 << index);
                        if feed.result.is_ok() {
                            serialize(sh, index, compress, &mut chunk);
                        }
                    } else if let Some(p) = sh.snap.copies.iter().position(|c| c.0 == index) {
                        chunk = sh.snap.copies.swap_remove(p).1;
                    }
                }
                if !chunk.is_empty() {
                    feed.give(Part::Entries(&chunk));
                }
            }
        }
        // Databases that were empty at the point in time leave nothing behind.
        for i in 0..NSHARDS {
            let mut g = self.shards[i].lock();
            g.snap.pending = 0;
            g.snap.copies = Vec::new();
        }
        self.snap
            .active
            .store(false, std::sync::atomic::Ordering::Release);
        Some(feed.result)
    }

    /// Ends a background snapshot nobody will read (its consumer failed to start).
    pub fn abandon_snapshot(&self) {
        let _ = self.finish_snapshot(|_| Ok(()));
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
        let counts = counts(guards.iter().map(|g| &**g));
        for g in guards.iter_mut() {
            g.snap.pending = counts
                .iter()
                .enumerate()
                .filter(|c| c.1 .0 > 0)
                .fold(0u16, |m, (i, _)| m | (1 << i));
            g.snap.copies.clear();
        }
        ks.snap
            .compress
            .store(compress, std::sync::atomic::Ordering::Relaxed);
        *ks.snap.counts.lock() = Some(counts);
        ks.snap
            .active
            .store(true, std::sync::atomic::Ordering::Release);
        true
    }

    /// Whether this view holds every shard (what [`Self::snapshot_now`] needs).
    pub fn holds_everything(&self) -> bool {
        matches!(self.guards, Guards::All(_))
    }

    /// Serializes the whole keyspace now, through the locks this view holds (SAVE), handing
    /// it to `sink` chunk by chunk in file order. None if the view does not hold every shard.
    pub fn snapshot_now(
        &mut self,
        compress: bool,
        sink: impl FnMut(Part<'_>) -> std::io::Result<()>,
    ) -> Option<std::io::Result<()>> {
        let Guards::All(guards) = &self.guards else {
            return None;
        };
        let mut feed = Feed {
            sink,
            result: Ok(()),
        };
        let counts = counts(guards.iter().map(|g| &**g));
        let mut chunk = Vec::new();
        for (index, &(keys, expires)) in counts.iter().enumerate() {
            if keys == 0 {
                continue;
            }
            feed.give(Part::Db {
                index,
                keys,
                expires,
            });
            for g in guards.iter() {
                chunk.clear();
                serialize(g, index, compress, &mut chunk);
                if !chunk.is_empty() {
                    feed.give(Part::Entries(&chunk));
                }
                if feed.result.is_err() {
                    return Some(feed.result);
                }
            }
        }
        Some(feed.result)
    }
}
