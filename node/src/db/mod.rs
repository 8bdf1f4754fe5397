//! The keyspace: 16 databases of keys, split by hash slot so that unrelated clients never
//! wait on each other.
//!
//! The 16384 slots are grouped into [`NSHARDS`] shards, each behind its own mutex and
//! holding every database's keys for its slots. Inside a shard each database's keys are one
//! hash table that also records each key's slot and counts keys per slot, so keys can be
//! counted and iterated per slot (the cluster needs that), and a key's
//! expiry is indexed in an ordered set per shard so the active cycle reclaims expired keys
//! without scanning. A command locks the shards of its keys in ascending order (no
//! deadlock), or all shards for whole-keyspace commands, and sees a [`Db`] view.
//!
//! A script cannot say beforehand which keys it will touch, so it locks as it goes (see
//! [`Keyspace::script_view`]): one script at a time holds the script gate, and only it may
//! wait for a shard out of ascending order. While it does, the others that wait for a shard
//! while holding some (multi-shard commands still locking theirs) let theirs go and start
//! again, so no cycle of waiters can form.

pub mod slot;
pub mod small;
mod snapshot;
mod table;
pub mod types;
pub mod value;

use std::collections::BTreeSet;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use rand::Rng;

pub use slot::{key_slot, SLOTS};
pub use small::SmallBytes;
pub use snapshot::Part;
pub use value::{Entry, Value};

/// Databases in standalone mode.
pub const NDBS: usize = 16;
/// Slots per shard; a shard is the unit of locking.
pub const SLOTS_PER_SHARD: usize = 64;
/// Number of shards.
pub const NSHARDS: usize = SLOTS / SLOTS_PER_SHARD;

type Map = table::KeyTable;

/// The shard that holds a slot.
pub fn shard_of_slot(slot: u16) -> usize {
    slot as usize / SLOTS_PER_SHARD
}

/// One database's keys within one shard.
#[derive(Default)]
pub struct DbShard {
    keys: Map,
    /// `(expire_at, key)` for every key with a TTL in this shard.
    expires: BTreeSet<(u64, SmallBytes)>,
}

/// Remaining TTLs of keys picked at random during active expiry, per database (what
/// `INFO keyspace`'s `avg_ttl` estimate is made of, as Redis's expiry cycle samples them).
#[derive(Default)]
pub struct TtlSamples {
    /// Per database: the sum of the TTLs seen (ms), how many, and whether it has keys with a
    /// TTL at all.
    pub dbs: [(u128, u64, bool); NDBS],
}

impl TtlSamples {
    /// One key of `db`'s TTL index, at random: a few random keys until one has a TTL, else,
    /// for a small index, a random entry of it.
    fn sample(&mut self, dbi: usize, db: &DbShard, now: u64, rng: &mut impl Rng) {
        self.dbs[dbi].2 = true;
        let at = (0..4)
            .filter_map(|_| db.keys.random(rng))
            .find(|(_, e)| e.expire_at != 0)
            .map(|(_, e)| e.expire_at)
            .or_else(|| {
                let n = db.expires.len();
                (n <= 64)
                    .then(|| db.expires.iter().nth(rng.gen_range(0..n)))
                    .flatten()
                    .map(|(at, _)| *at)
            });
        if let Some(at) = at.filter(|&at| at > now) {
            self.dbs[dbi].0 += (at - now) as u128;
            self.dbs[dbi].1 += 1;
        }
    }
}

impl DbShard {
    fn new() -> Self {
        DbShard {
            keys: Map::default(),
            expires: BTreeSet::new(),
        }
    }

    /// The shard's key table (every slot of the shard).
    fn map(&mut self, _slot: u16) -> &mut Map {
        &mut self.keys
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn volatile(&self) -> usize {
        self.expires.len()
    }

    /// Removes a key and its TTL index entry.
    fn remove(&mut self, slot: u16, key: &[u8]) -> Option<Entry> {
        let e = self.map(slot).remove(slot, key)?;
        if e.expire_at != 0 {
            self.expires.remove(&(e.expire_at, SmallBytes::new(key)));
        }
        Some(e)
    }
}

/// All databases' keys for one shard's slots.
pub struct Shard {
    /// Inline (not a `Vec`): a lookup goes from the shard lock straight to the database.
    dbs: [Option<Box<DbShard>>; NDBS],
    /// What the background snapshot still needs of this shard (see [`snapshot`]).
    snap: snapshot::ShardSnap,
}

impl Shard {
    fn new() -> Self {
        Shard {
            dbs: std::array::from_fn(|_| None),
            snap: snapshot::ShardSnap::default(),
        }
    }

    fn db(&mut self, i: usize) -> &mut DbShard {
        self.dbs[i].get_or_insert_with(|| Box::new(DbShard::new()))
    }

    pub fn db_ref(&self, i: usize) -> Option<&DbShard> {
        self.dbs[i].as_deref()
    }
}

/// A key of a pipelined batch, for [`Keyspace::prefetch_batch`]: its shard, the key, and the
/// hash field or set member the command looks up in it.
pub type BatchKey<'a> = (usize, &'a [u8], Option<&'a [u8]>);

/// The whole keyspace.
pub struct Keyspace {
    shards: Box<[Mutex<Shard>]>,
    /// The background snapshot in progress, if any.
    snap: snapshot::Background,
    /// Held by the running script (one at a time) for its whole run: taken before any shard.
    script_gate: Mutex<()>,
    /// The script holding the gate waits for a shard against the ascending order: whoever
    /// waits for a shard while holding others lets them go (see [`Keyspace::lock_ordered`]).
    reorder: AtomicBool,
}

impl Default for Keyspace {
    fn default() -> Self {
        Self::new()
    }
}

/// How a key's access is recorded, from `maxmemory-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessMode {
    #[default]
    Lru,
    Lfu {
        log_factor: u32,
        decay_minutes: u32,
    },
}

/// Which keys eviction may pick and by what measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictPolicy {
    NoEviction,
    AllKeysLru,
    VolatileLru,
    AllKeysLfu,
    VolatileLfu,
    AllKeysRandom,
    VolatileRandom,
    VolatileTtl,
}

impl EvictPolicy {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "noeviction" => Self::NoEviction,
            "allkeys-lru" => Self::AllKeysLru,
            "volatile-lru" => Self::VolatileLru,
            "allkeys-lfu" => Self::AllKeysLfu,
            "volatile-lfu" => Self::VolatileLfu,
            "allkeys-random" => Self::AllKeysRandom,
            "volatile-random" => Self::VolatileRandom,
            "volatile-ttl" => Self::VolatileTtl,
            _ => return None,
        })
    }

    pub fn is_lfu(self) -> bool {
        matches!(self, Self::AllKeysLfu | Self::VolatileLfu)
    }

    fn volatile_only(self) -> bool {
        matches!(
            self,
            Self::VolatileLru | Self::VolatileLfu | Self::VolatileRandom | Self::VolatileTtl
        )
    }
}

/// The LFU counter's starting value for new keys.
pub const LFU_INIT: u32 = 5;

/// Minutes clock used by LFU decay (16 bits, as Redis).
fn lfu_minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) & 0xffff) as u32
}

/// The initial access field of a new key.
pub fn initial_access(mode: AccessMode, now_ms: u64) -> u32 {
    match mode {
        AccessMode::Lru => (now_ms / 1000) as u32,
        AccessMode::Lfu { .. } => (lfu_minutes(now_ms) << 8) | LFU_INIT,
    }
}

/// LFU counter after decay, without recording an access.
pub fn lfu_decayed(access: u32, now_ms: u64, decay_minutes: u32) -> u32 {
    let counter = access & 0xff;
    let last = access >> 8;
    let now = lfu_minutes(now_ms);
    let elapsed = if now >= last {
        now - last
    } else {
        65535 - last + now
    };
    let periods = elapsed.checked_div(decay_minutes).unwrap_or(0);
    counter.saturating_sub(periods)
}

/// Records an access in the key's access field.
fn touch(access: &mut u32, mode: AccessMode, now_ms: u64) {
    match mode {
        AccessMode::Lru => *access = (now_ms / 1000) as u32,
        AccessMode::Lfu {
            log_factor,
            decay_minutes,
        } => {
            let mut counter = lfu_decayed(*access, now_ms, decay_minutes);
            if counter < 255 {
                let base = counter.saturating_sub(LFU_INIT) as f64;
                let p = 1.0 / (base * log_factor as f64 + 1.0);
                if rand::thread_rng().gen::<f64>() < p {
                    counter += 1;
                }
            }
            *access = (lfu_minutes(now_ms) << 8) | counter;
        }
    }
}

/// Which shards a command needs.
pub enum LockSet {
    None,
    Keys(Vec<u16>),
    All,
}

enum Guards<'a> {
    None,
    One(usize, MutexGuard<'a, Shard>),
    Many(Vec<(usize, MutexGuard<'a, Shard>)>),
    All(Vec<MutexGuard<'a, Shard>>),
    /// A script's view: the gate, and the shards locked so far (see [`ScriptLocks`]).
    Script(Box<ScriptLocks<'a>>),
}

/// What a running script holds: the script gate, and each shard it reached, locked on first
/// use and kept until the script's view is dropped (after its effects are propagated), so
/// the whole script is atomic.
struct ScriptLocks<'a> {
    ks: &'a Keyspace,
    _gate: MutexGuard<'a, ()>,
    /// `(shard, guard)`; once every shard is held, sorted so that `held[i]` is shard `i`.
    held: Vec<(usize, MutexGuard<'a, Shard>)>,
    all: bool,
}

impl<'a> ScriptLocks<'a> {
    fn shard(&mut self, idx: usize) -> &mut Shard {
        if self.all {
            return &mut self.held[idx].1;
        }
        let at = match self.held.iter().position(|(i, _)| *i == idx) {
            Some(at) => at,
            None => {
                self.lock(idx);
                self.held.len() - 1
            }
        };
        &mut self.held[at].1
    }

    /// Locks shard `idx` (not held yet) and appends it to `held`. Waiting for it is safe in
    /// ascending order; against it, only the gate holder (us) ever waits that way, and the
    /// other waiters give way (see [`Keyspace::lock_ordered`]).
    fn lock(&mut self, idx: usize) {
        let ks = self.ks;
        let g = match ks.shards[idx].try_lock() {
            Some(g) => g,
            None if self.held.iter().all(|(i, _)| *i < idx) => ks.shards[idx].lock(),
            None => {
                ks.reorder.store(true, Ordering::SeqCst);
                let g = ks.shards[idx].lock();
                ks.reorder.store(false, Ordering::SeqCst);
                g
            }
        };
        self.held.push((idx, ks.ready(g)));
        if self.held.len() == NSHARDS {
            self.held.sort_unstable_by_key(|(i, _)| *i);
            self.all = true;
        }
    }
}

impl Keyspace {
    pub fn new() -> Self {
        Keyspace {
            shards: (0..NSHARDS).map(|_| Mutex::new(Shard::new())).collect(),
            snap: snapshot::Background::default(),
            script_gate: Mutex::new(()),
            reorder: AtomicBool::new(false),
        }
    }

    /// Locks the shards of `slots` (ascending order, so no deadlock) and returns a view.
    pub fn lock_slots(&self, slots: &[u16], ctx: ViewCtx) -> Db<'_> {
        let guards = match slots {
            [] => Guards::None,
            [s] => {
                let i = shard_of_slot(*s);
                Guards::One(i, self.lock_shard(i))
            }
            _ => {
                let mut idx: Vec<usize> = slots.iter().map(|&s| shard_of_slot(s)).collect();
                idx.sort_unstable();
                idx.dedup();
                if idx.len() == 1 {
                    Guards::One(idx[0], self.lock_shard(idx[0]))
                } else {
                    Guards::Many(self.lock_ordered(&idx))
                }
            }
        };
        Db::new(guards, ctx)
    }

    /// Warms the cache for the lookups of a batch of `(shard, key, member)`s in database `db`
    /// (see [`table::KeyTable::prefetch`]). Every shard involved is locked first (only if free:
    /// a busy shard's keys are skipped, and nothing waits), then all keys are probed in one
    /// loop: a lock is a full memory barrier, so probes between locks
    /// would each wait for their own cache misses instead of overlapping. A second loop
    /// then prefetches the values' heap blocks (see [`table::KeyTable::prefetch_value`]),
    /// and two more, for the keys given a member, do the same inside large hashes and sets
    /// (see [`Value::prefetch_member`]).
    pub fn prefetch_batch(&self, db: usize, keys: &[BatchKey<'_>]) {
        // Per shard: 0 = not seen yet, BUSY = locked elsewhere, else 1 + index in `guards`.
        const BUSY: u8 = u8::MAX;
        let mut held = [0u8; NSHARDS];
        let mut guards: smallvec::SmallVec<[MutexGuard<'_, Shard>; 16]> = smallvec::SmallVec::new();
        for &(i, _, _) in keys.iter().take(BUSY as usize - 1) {
            if held[i] == 0 {
                held[i] = match self.shards[i].try_lock() {
                    Some(g) => {
                        guards.push(g);
                        guards.len() as u8
                    }
                    None => BUSY,
                };
            }
        }
        let table = |i: usize| match held[i] {
            0 | BUSY => None,
            g => guards[g as usize - 1].db_ref(db).map(|d| &d.keys),
        };
        // Each key is hashed once for both steps.
        let hashes: smallvec::SmallVec<[u64; 32]> = keys
            .iter()
            .map(|&(_, key, _)| table::KeyTable::hash(key))
            .collect();
        for (&(i, _, _), &h) in keys.iter().zip(&hashes) {
            if let Some(t) = table(i) {
                t.prefetch(h);
            }
        }
        for (&(i, key, _), &h) in keys.iter().zip(&hashes) {
            if let Some(t) = table(i) {
                t.prefetch_value(h, key);
            }
        }
        if keys.iter().any(|k| k.2.is_some()) {
            for deep in [false, true] {
                for &(i, key, member) in keys {
                    if let (Some(t), Some(m)) = (table(i), member) {
                        if let Some(e) = t.get(key) {
                            e.value.prefetch_member(m, deep);
                        }
                    }
                }
            }
        }
    }

    /// Locks every shard: the command sees the whole keyspace atomically.
    pub fn lock_all(&self, ctx: ViewCtx) -> Db<'_> {
        let all: Vec<usize> = (0..NSHARDS).collect();
        let guards = self
            .lock_ordered(&all)
            .into_iter()
            .map(|(_, g)| g)
            .collect();
        Db::new(Guards::All(guards), ctx)
    }

    /// Locks the shards `idx` (ascending, no duplicates). A shard found busy while others are
    /// held is waited for a millisecond at a time: should the running script be waiting
    /// against the order meanwhile (it may hold what we wait for), all of ours are let go,
    /// and taken again from the first once it has what it waited for.
    fn lock_ordered(&self, idx: &[usize]) -> Vec<(usize, MutexGuard<'_, Shard>)> {
        let mut held = Vec::with_capacity(idx.len());
        'again: loop {
            for &i in &idx[held.len()..] {
                let g = match self.shards[i].try_lock() {
                    Some(g) => g,
                    None if held.is_empty() => self.shards[i].lock(),
                    None => loop {
                        if self.reorder.load(Ordering::SeqCst) {
                            held.clear();
                            while self.reorder.load(Ordering::SeqCst) {
                                std::thread::sleep(Duration::from_micros(50));
                            }
                            continue 'again;
                        }
                        if let Some(g) = self.shards[i].try_lock_for(Duration::from_millis(1)) {
                            break g;
                        }
                    },
                };
                held.push((i, self.ready(g)));
            }
            return held;
        }
    }

    /// A view for a script (EVAL, FCALL): it waits for the script gate, so scripts run one
    /// at a time, and holds no shard yet: each is locked when the script first reaches it
    /// ([`Db::lock_script_slots`] takes the declared keys' up front, in order).
    pub fn script_view(&self, ctx: ViewCtx) -> Db<'_> {
        Db::new(
            Guards::Script(Box::new(ScriptLocks {
                ks: self,
                _gate: self.script_gate.lock(),
                held: Vec::new(),
                all: false,
            })),
            ctx,
        )
    }

    /// Waits for the script gate: for a transaction that runs a script on a view of every
    /// shard, taken before that view's locks (the gate always comes first).
    pub fn script_gate(&self) -> MutexGuard<'_, ()> {
        self.script_gate.lock()
    }

    /// A view that holds no lock, for commands without keys.
    pub fn unlocked(&self, ctx: ViewCtx) -> Db<'_> {
        Db::new(Guards::None, ctx)
    }

    /// Deletes expired keys, shard by shard, at most `budget` per shard lock.
    /// Returns how many were deleted.
    pub fn active_expire(&self, now: u64, budget: usize) -> usize {
        self.active_expire_each(now, budget, &mut TtlSamples::default(), |_, _, _| {})
    }

    /// [`Keyspace::active_expire`], calling `deleted(db, key, entry)` for each key reclaimed
    /// while its shard is still locked (the modified-keys signal, `expired` events, and
    /// clients blocked in XREADGROUP on an expired stream).
    /// It also samples one key with a TTL per shard and database into `ttls` (see
    /// [`TtlSamples`]).
    pub fn active_expire_each(
        &self,
        now: u64,
        budget: usize,
        ttls: &mut TtlSamples,
        mut deleted: impl FnMut(usize, &SmallBytes, &Entry),
    ) -> usize {
        let mut total = 0;
        let mut rng = rand::thread_rng();
        for i in 0..NSHARDS {
            let mut sh = self.lock_shard(i);
            for (dbi, db) in sh.dbs.iter_mut().enumerate() {
                let Some(db) = db else { continue };
                if !db.expires.is_empty() {
                    ttls.sample(dbi, db, now, &mut rng);
                }
                let mut n = 0;
                while n < budget {
                    let Some((at, key)) = db.expires.first().cloned() else {
                        break;
                    };
                    if at >= now {
                        break;
                    }
                    db.expires.pop_first();
                    let slot = key_slot(&key);
                    if let Some(e) = db.map(slot).remove(slot, key.as_slice()) {
                        deleted(dbi, &key, &e);
                    }
                    n += 1;
                }
                total += n;
            }
        }
        total
    }

    /// Keys and keys with a TTL, per database, for `INFO keyspace`.
    pub fn counts(&self) -> [(usize, usize); NDBS] {
        let mut out = [(0, 0); NDBS];
        for i in 0..NSHARDS {
            let sh = self.lock_shard(i);
            for (i, db) in sh.dbs.iter().enumerate() {
                if let Some(db) = db {
                    out[i].0 += db.len();
                    out[i].1 += db.volatile();
                }
            }
        }
        out
    }

    /// Evicts one key chosen by `policy` from `samples` candidates.
    /// Returns false when no key qualifies.
    pub fn evict_one(
        &self,
        policy: EvictPolicy,
        samples: usize,
        now: u64,
        mode: AccessMode,
    ) -> bool {
        self.evict_one_key(policy, samples, now, mode, |_, _| {})
            .is_some()
    }

    /// [`Keyspace::evict_one`], returning the evicted `(db, key)` and calling `evicted(db, key)`
    /// while the key's shard is still locked; None when no key qualifies.
    pub fn evict_one_key(
        &self,
        policy: EvictPolicy,
        samples: usize,
        now: u64,
        mode: AccessMode,
        evicted: impl FnOnce(usize, &[u8]),
    ) -> Option<Evicted> {
        let mut rng = rand::thread_rng();
        // (score: lower is evicted first, shard, db, key)
        let mut best: Option<(u64, usize, usize, SmallBytes)> = None;
        let samples = samples.max(1);
        let mut tries = 0;
        let mut taken = 0;
        while taken < samples && tries < NSHARDS * 2 {
            tries += 1;
            let si = rng.gen_range(0..NSHARDS);
            let sh = self.lock_shard(si);
            for (dbi, db) in sh.dbs.iter().enumerate() {
                let Some(db) = db else { continue };
                let cand: Option<(&SmallBytes, &Entry)> = if policy.volatile_only() {
                    if db.expires.is_empty() {
                        continue;
                    }
                    if policy == EvictPolicy::VolatileTtl {
                        db.expires
                            .first()
                            .and_then(|(_, k)| db.keys.get_key_value(k.as_slice()))
                    } else {
                        // A few random keys until one has a TTL (constant time when most
                        // do, as where volatile policies are used); else a walk of the TTLs.
                        (0..8)
                            .filter_map(|_| db.keys.random(&mut rng))
                            .find(|(_, e)| e.expire_at != 0)
                            .or_else(|| {
                                let (_, k) =
                                    db.expires.iter().nth(rng.gen_range(0..db.expires.len()))?;
                                db.keys.get_key_value(k.as_slice())
                            })
                    }
                } else {
                    db.keys.random(&mut rng)
                };
                let Some((k, e)) = cand else { continue };
                taken += 1;
                let score = match policy {
                    EvictPolicy::VolatileTtl => e.expire_at,
                    EvictPolicy::AllKeysRandom | EvictPolicy::VolatileRandom => rng.gen(),
                    EvictPolicy::AllKeysLfu | EvictPolicy::VolatileLfu => match mode {
                        AccessMode::Lfu { decay_minutes, .. } => {
                            lfu_decayed(e.access, now, decay_minutes) as u64
                        }
                        AccessMode::Lru => 0,
                    },
                    _ => e.access as u64,
                };
                if best.as_ref().is_none_or(|b| score < b.0) {
                    best = Some((score, si, dbi, k.clone()));
                }
            }
        }
        let (_, si, dbi, key) = best?;
        let mut sh = self.lock_shard(si);
        // Another connection may have deleted (or evicted) the key since it was sampled: the
        // caller then samples again instead of giving up.
        if sh.db(dbi).remove(key_slot(&key), &key).is_none() {
            return Some(Evicted::Raced);
        }
        evicted(dbi, &key);
        Some(Evicted::Key(dbi, key))
    }
}

/// What [`Keyspace::evict_one_key`] did.
#[derive(Debug)]
pub enum Evicted {
    /// This key of this database went.
    Key(usize, SmallBytes),
    /// The key chosen was deleted by another connection before it could be: sample again.
    Raced,
}

/// Per-command context a view needs.
#[derive(Debug, Clone, Copy)]
pub struct ViewCtx {
    /// Selected database.
    pub db: usize,
    /// The command's clock, unix milliseconds.
    pub now: u64,
    pub mode: AccessMode,
}

/// A command's view of the keyspace: the locked shards and the selected database.
pub struct Db<'a> {
    guards: Guards<'a>,
    pub index: usize,
    pub now: u64,
    mode: AccessMode,
    /// Changes made through this view (the server's dirty counter).
    pub dirty: u64,
    /// Keys found expired and deleted on access.
    pub expired: u64,
    /// `(address, length, slot)` of the key the dispatcher already hashed, so the usual
    /// single-key command computes its CRC16 once (see [`Db::set_slot_hint`]).
    hint: (usize, usize, u16),
    /// `notify-keyspace-events` bits for this command (0: record nothing); set by dispatch.
    pub notify_flags: u32,
    /// Record the keys this view writes or deletes in [`Db::modified`] (set by dispatch when
    /// someone WATCHes or tracks keys, so the common case allocates nothing).
    pub track: bool,
    /// Write propagation (AOF, replicas) is on: set by dispatch when someone listens.
    pub propagate: bool,
    /// The running handler called [`Db::propagate_as`]: its own arguments are not propagated.
    pub rewrote: bool,
    /// What the command recorded for dispatch to act on afterwards, allocated on first use:
    /// most commands record nothing, and a smaller view moves cheaply through dispatch.
    pub fx: Option<Box<Effects>>,
}

/// Side effects a view records while a command runs, acted on by dispatch afterwards.
#[derive(Default)]
pub struct Effects {
    /// Keys of a type clients can block on (lists, sorted sets, streams) that this view
    /// created, as `(db, key)`: dispatch serves their blocked clients afterwards (see
    /// `crate::blocking`). Streams are also signalled when they receive entries (XADD) and
    /// when they are deleted or replaced.
    pub created: Vec<(usize, SmallBytes)>,
    /// Keyspace events recorded by [`Db::notify`], published by dispatch after the command.
    pub events: Vec<crate::pubsub::Event>,
    /// `(db, key)` written, deleted or expired through this view while `track` is on: the
    /// modified-keys signal (Redis `signalModifiedKey`), turned by dispatch into WATCH
    /// invalidation and client-side caching invalidation (see `crate::keysig`).
    pub modified: Vec<(usize, SmallBytes)>,
    /// `(db, command)` to propagate for this view, in the order applied: keys found expired
    /// (as `DEL`), then what the handler asked for with [`Db::propagate_as`], or the command
    /// itself when it changed something (dispatch appends it).
    pub propagated: Vec<(usize, Vec<bytes::Bytes>)>,
    /// Databases emptied or swapped whole through this view (bit `db`): the watched keys
    /// of these, and only these, changed with them.
    pub replaced_dbs: u32,
}

impl<'a> Db<'a> {
    fn new(guards: Guards<'a>, ctx: ViewCtx) -> Self {
        Db {
            guards,
            index: ctx.db,
            now: ctx.now,
            mode: ctx.mode,
            dirty: 0,
            expired: 0,
            hint: (0, usize::MAX, 0),
            notify_flags: 0,
            track: false,
            propagate: false,
            rewrote: false,
            fx: None,
        }
    }

    /// The side effects recorded so far, allocated on first use.
    pub fn fx(&mut self) -> &mut Effects {
        self.fx.get_or_insert_with(Default::default)
    }

    /// True when a command created keys of a type clients block on (see [`Db::take_created`]).
    pub fn has_created(&self) -> bool {
        self.fx.as_ref().is_some_and(|f| !f.created.is_empty())
    }

    /// True when keyspace events were recorded (see [`Db::take_events`]).
    pub fn has_events(&self) -> bool {
        self.fx.as_ref().is_some_and(|f| !f.events.is_empty())
    }

    /// Takes the created-keys list (see [`Effects::created`]).
    pub fn take_created(&mut self) -> Vec<(usize, SmallBytes)> {
        self.fx
            .as_mut()
            .map(|f| std::mem::take(&mut f.created))
            .unwrap_or_default()
    }

    /// Takes the recorded keyspace events (see [`Effects::events`]).
    pub fn take_events(&mut self) -> Vec<crate::pubsub::Event> {
        self.fx
            .as_mut()
            .map(|f| std::mem::take(&mut f.events))
            .unwrap_or_default()
    }

    /// Takes the modified-keys list (see [`Effects::modified`]).
    pub fn take_modified(&mut self) -> Vec<(usize, SmallBytes)> {
        self.fx
            .as_mut()
            .map(|f| std::mem::take(&mut f.modified))
            .unwrap_or_default()
    }

    /// Propagates `args` (in the selected database) instead of the running command: the
    /// deterministic form of a command whose effect depends on time, randomness or blocking
    /// (Redis `alsoPropagate` + `preventCommandPropagation`). Call it once per command
    /// written; a handler that calls it is never propagated verbatim.
    pub fn propagate_as<A: Into<bytes::Bytes>>(&mut self, args: impl IntoIterator<Item = A>) {
        self.rewrote = true;
        if self.propagate {
            let args = args.into_iter().map(Into::into).collect();
            let index = self.index;
            self.fx().propagated.push((index, args));
        }
    }

    /// Records that `key` disappeared without a command naming it (expiry on access).
    fn propagate_del(&mut self, key: &[u8]) {
        if self.propagate {
            let args = vec![
                bytes::Bytes::from_static(b"DEL"),
                bytes::Bytes::copy_from_slice(key),
            ];
            let index = self.index;
            self.fx().propagated.push((index, args));
        }
    }

    /// Records a keyspace event about `key` in the selected database (Redis's
    /// `notifyKeyspaceEvent`): `class` is a `crate::config::notify` bit, `event` Redis's event
    /// name. Nothing is recorded unless `notify-keyspace-events` asks for that class.
    pub fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        if self.notify_flags != 0 && crate::pubsub::wants(self.notify_flags, class) {
            let db = self.index;
            self.fx().events.push(crate::pubsub::Event {
                class,
                name: event,
                db,
                key: bytes::Bytes::copy_from_slice(key),
            });
        }
    }

    /// Records `key` (in the selected database) in [`Effects::created`].
    fn note_created(&mut self, key: &[u8]) {
        let index = self.index;
        self.fx().created.push((index, SmallBytes::new(key)));
    }

    /// Records `key` (in the selected database) as modified for WATCH and client-side
    /// caching, when someone watches or tracks keys (`track`). Writes through this view do it
    /// themselves; a command calls it for a change Redis signals without one.
    pub fn note_modified(&mut self, key: &[u8]) {
        if self.track {
            let index = self.index;
            self.fx().modified.push((index, SmallBytes::new(key)));
        }
    }

    /// Whether `key` is stored in the selected database, expired or not, without deleting it
    /// (WATCH needs "present but logically expired"): None if absent, Some(expired) if present.
    pub fn raw_state(&mut self, key: &[u8]) -> Option<bool> {
        let slot = self.slot_of(key);
        let db = self.index;
        let now = self.now;
        let e = self.shard(shard_of_slot(slot)).db_ref(db)?.keys.get(key)?;
        Some(e.expire_at != 0 && now > e.expire_at)
    }

    /// True when this view holds at least one shard lock (then nothing may lock the keyspace
    /// again until it is dropped).
    pub fn holds_locks(&self) -> bool {
        !matches!(self.guards, Guards::None)
    }

    /// True when this view holds every shard (whole-keyspace commands, or a transaction that
    /// contains one).
    pub fn holds_all(&self) -> bool {
        match &self.guards {
            Guards::All(_) => true,
            Guards::Script(s) => s.all,
            _ => false,
        }
    }

    /// Keys and keys with a TTL per database, from the shards this view holds; None unless it
    /// holds them all (then [`Keyspace::counts`] would wait on our own locks).
    pub fn counts(&self) -> Option<[(usize, usize); NDBS]> {
        let shards: Vec<&Shard> = match &self.guards {
            Guards::All(v) => v.iter().map(|g| &**g).collect(),
            Guards::Script(s) if s.all => s.held.iter().map(|(_, g)| &**g).collect(),
            _ => return None,
        };
        let mut out = [(0, 0); NDBS];
        for sh in shards {
            for (i, db) in sh.dbs.iter().enumerate() {
                if let Some(db) = db {
                    out[i].0 += db.len();
                    out[i].1 += db.volatile();
                }
            }
        }
        Some(out)
    }

    fn shard(&mut self, idx: usize) -> &mut Shard {
        match &mut self.guards {
            Guards::One(i, g) if *i == idx => g,
            Guards::Many(v) => match v.iter_mut().find(|(i, _)| *i == idx) {
                Some((_, g)) => g,
                None => panic!("shard {idx} used without being locked"),
            },
            Guards::All(v) => &mut v[idx],
            Guards::Script(s) => s.shard(idx),
            _ => panic!("shard {idx} used without being locked"),
        }
    }

    /// Runs `f` with this view's selected database set to `db`, then restores it.
    pub fn in_db<R>(&mut self, db: usize, f: impl FnOnce(&mut Self) -> R) -> R {
        let index = std::mem::replace(&mut self.index, db);
        let r = f(self);
        self.index = index;
        r
    }

    /// Locks, in a script's view, the shards of `slots` not held yet, in ascending order
    /// (a script's declared keys, before it runs).
    pub fn lock_script_slots(&mut self, slots: &[u16]) {
        let mut idx: smallvec::SmallVec<[usize; 8]> =
            slots.iter().map(|&s| shard_of_slot(s)).collect();
        idx.sort_unstable();
        idx.dedup();
        for i in idx {
            self.shard(i);
        }
    }

    /// Locks every shard in a script's view, for a command that needs them all (KEYS, INFO,
    /// FLUSHALL...). Other views are left as they are.
    pub fn lock_script_all(&mut self) {
        if let Guards::Script(s) = &mut self.guards {
            for i in 0..NSHARDS {
                s.shard(i);
            }
        }
    }

    fn dbshard(&mut self, slot: u16) -> &mut DbShard {
        let db = self.index;
        self.shard(shard_of_slot(slot)).db(db)
    }

    /// Tells the view that `key` (this very slice: same address and length) is in `slot`.
    pub fn set_slot_hint(&mut self, key: &[u8], slot: u16) {
        self.hint = (key.as_ptr() as usize, key.len(), slot);
    }

    /// The hash slot of `key`, from the hint when it is the same slice.
    fn slot_of(&self, key: &[u8]) -> u16 {
        let (addr, len, slot) = self.hint;
        if addr == key.as_ptr() as usize && len == key.len() {
            slot
        } else {
            key_slot(key)
        }
    }

    /// True when the entry is past its expiry at this command's clock.
    fn is_expired(&self, e: &Entry) -> bool {
        e.expire_at != 0 && self.now > e.expire_at
    }

    /// Deletes the key if it has expired; true if it did.
    fn expire_if_needed(&mut self, slot: u16, key: &[u8]) -> bool {
        let now = self.now;
        let ds = self.dbshard(slot);
        // Only keys with a TTL are in `expires`: without any, nothing can have expired.
        if ds.expires.is_empty() {
            return false;
        }
        let expired = match ds.map(slot).get(key) {
            Some(e) => e.expire_at != 0 && now > e.expire_at,
            None => false,
        };
        if expired {
            let gone = ds.remove(slot, key);
            self.expired += 1;
            self.propagate_del(key);
            self.notify(crate::config::notify::EXPIRED, "expired", key);
            if gone.is_some_and(|e| matches!(e.value, Value::Stream(_))) {
                self.note_created(key);
            }
            self.note_modified(key);
        }
        expired
    }

    /// Looks a key up, deleting it if expired, and records the access.
    pub fn get(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.lookup(key, true)
    }

    /// Looks a key up without recording an access (TYPE, OBJECT, TTL...).
    pub fn peek(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.lookup(key, false)
    }

    fn lookup(&mut self, key: &[u8], record: bool) -> Option<&mut Entry> {
        let slot = self.slot_of(key);
        self.expire_if_needed(slot, key);
        let (now, mode) = (self.now, self.mode);
        let e = self.dbshard(slot).map(slot).get_mut(key)?;
        if record {
            touch(&mut e.access, mode, now);
        }
        Some(e)
    }

    pub fn exists(&mut self, key: &[u8]) -> bool {
        self.peek(key).is_some()
    }

    /// Stores a value, replacing any old one. The TTL is kept only if `keep_ttl`.
    pub fn set(&mut self, key: &[u8], value: Value, keep_ttl: bool) {
        let slot = self.slot_of(key);
        self.expire_if_needed(slot, key);
        let (now, mode) = (self.now, self.mode);
        self.dirty += 1;
        self.note_modified(key);
        let ds = self.dbshard(slot);
        if let Some(e) = ds.map(slot).get_mut(key) {
            // A stream replaced by another value wakes its XREADGROUP clients (with an error).
            let was_stream = matches!(e.value, Value::Stream(_));
            let now_stream = matches!(value, Value::Stream(_));
            e.value = value;
            touch(&mut e.access, mode, now);
            if !keep_ttl && e.expire_at != 0 {
                let at = std::mem::take(&mut e.expire_at);
                ds.expires.remove(&(at, SmallBytes::new(key)));
            }
            if was_stream || now_stream {
                self.note_created(key);
            }
            return;
        }
        let wakes = matches!(value, Value::List(_) | Value::ZSet(_) | Value::Stream(_));
        let entry = Entry::new(value, 0, initial_access(mode, now));
        ds.map(slot).insert(slot, SmallBytes::new(key), entry);
        if wakes {
            self.note_created(key);
        }
        self.notify(crate::config::notify::NEW, "new", key);
    }

    /// Stores a whole entry (value and TTL), replacing any old one.
    pub fn set_entry(&mut self, key: &[u8], mut entry: Entry) {
        let at = entry.expire_at;
        entry.expire_at = 0;
        self.set(key, entry.value, false);
        if at != 0 {
            self.set_expire(key, at);
        }
    }

    /// Deletes a key; returns its entry if it existed (and had not expired).
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let slot = self.slot_of(key);
        if self.expire_if_needed(slot, key) {
            return None;
        }
        let e = self.dbshard(slot).remove(slot, key)?;
        self.dirty += 1;
        if matches!(e.value, Value::Stream(_)) {
            // Clients blocked in XREADGROUP on a deleted stream get an error.
            self.note_created(key);
        }
        self.note_modified(key);
        Some(e)
    }

    /// Sets an absolute expiry (unix ms) on an existing key; false if there is no key.
    pub fn set_expire(&mut self, key: &[u8], at: u64) -> bool {
        let slot = self.slot_of(key);
        if self.expire_if_needed(slot, key) {
            return false;
        }
        let ds = self.dbshard(slot);
        let Some(e) = ds.map(slot).get_mut(key) else {
            return false;
        };
        let old = std::mem::replace(&mut e.expire_at, at);
        let k = SmallBytes::new(key);
        if old != 0 {
            ds.expires.remove(&(old, k.clone()));
        }
        ds.expires.insert((at, k));
        self.dirty += 1;
        self.note_modified(key);
        true
    }

    /// Removes a key's TTL; true if it had one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        let slot = self.slot_of(key);
        if self.expire_if_needed(slot, key) {
            return false;
        }
        let ds = self.dbshard(slot);
        let Some(e) = ds.map(slot).get_mut(key) else {
            return false;
        };
        if e.expire_at == 0 {
            return false;
        }
        let at = std::mem::take(&mut e.expire_at);
        ds.expires.remove(&(at, SmallBytes::new(key)));
        self.dirty += 1;
        self.note_modified(key);
        true
    }

    /// Keys in a slot of the selected database (live keys only).
    pub fn count_in_slot(&mut self, slot: u16) -> usize {
        let now = self.now;
        let ds = self.dbshard(slot);
        if ds.expires.is_empty() {
            return ds.keys.slot_len(slot);
        }
        ds.keys
            .iter_slot(slot)
            .filter(|(_, e)| e.expire_at == 0 || now <= e.expire_at)
            .count()
    }

    /// Up to `max` live keys of a slot of the selected database (CLUSTER GETKEYSINSLOT): the
    /// walk of the shard's table stops at the `max`th.
    pub fn keys_in_slot(&mut self, slot: u16, max: usize) -> Vec<Vec<u8>> {
        let now = self.now;
        self.dbshard(slot)
            .keys
            .iter_slot(slot)
            .filter(|(_, e)| e.expire_at == 0 || now <= e.expire_at)
            .take(max)
            .map(|(k, _)| k.to_vec())
            .collect()
    }

    /// Calls `f(slot, key, entry)` for every live key of the selected database in slots
    /// `from..=to` (one shard's): one walk of the shard's table, in table order (SCAN sorts
    /// them by slot).
    pub fn for_each_in_slots(&mut self, from: u16, to: u16, mut f: impl FnMut(u16, &[u8], &Entry)) {
        debug_assert_eq!(shard_of_slot(from), shard_of_slot(to));
        let (now, db) = (self.now, self.index);
        let Some(ds) = self.shard(shard_of_slot(from)).db_ref(db) else {
            return;
        };
        for (s, k, e) in ds.keys.iter_with_slot() {
            if (from..=to).contains(&s) && (e.expire_at == 0 || now <= e.expire_at) {
                f(s, k, e);
            }
        }
    }

    /// Calls `f` for every live key of the selected database (needs all shards locked),
    /// shard by shard.
    pub fn for_each(&mut self, mut f: impl FnMut(&[u8], &Entry)) {
        let (now, db) = (self.now, self.index);
        for i in 0..NSHARDS {
            let Some(ds) = self.shard(i).db_ref(db) else {
                continue;
            };
            for (k, e) in ds.keys.iter() {
                if e.expire_at == 0 || now <= e.expire_at {
                    f(k, e);
                }
            }
        }
    }

    /// True if the selected database holds no key in `slot` (never allocates the database,
    /// unlike the lookups; SCAN walks empty slots with it).
    pub fn slot_is_empty(&mut self, slot: u16) -> bool {
        self.slot_len(slot) == 0
    }

    /// Keys stored in `slot` of the selected database, expired but not yet reclaimed included
    /// (never allocates the database).
    pub fn slot_len(&mut self, slot: u16) -> usize {
        let db = self.index;
        self.shard(shard_of_slot(slot))
            .db_ref(db)
            .map_or(0, |d| d.keys.slot_len(slot))
    }

    /// Number of keys in the selected database (expired but not yet reclaimed included, as Redis).
    pub fn len(&mut self) -> usize {
        let db = self.index;
        (0..NSHARDS)
            .map(|i| self.shard(i).db_ref(db).map_or(0, |d| d.len()))
            .sum()
    }

    pub fn is_empty(&mut self) -> bool {
        self.len() == 0
    }

    /// Deletes every key of database `db`; returns how many there were.
    pub fn flush_db(&mut self, db: usize) -> usize {
        let mut n = 0;
        for i in 0..NSHARDS {
            if let Some(d) = self.shard(i).dbs[db].take() {
                n += d.len();
            }
        }
        self.dirty += n as u64;
        self.fx().replaced_dbs |= 1 << db;
        n
    }

    /// Swaps two databases.
    pub fn swap_db(&mut self, a: usize, b: usize) {
        for i in 0..NSHARDS {
            self.shard(i).dbs.swap(a, b);
        }
        self.dirty += 1;
        self.fx().replaced_dbs |= (1 << a) | (1 << b);
    }

    /// A random live key of the selected database.
    pub fn random_key(&mut self) -> Option<SmallBytes> {
        let mut rng = rand::thread_rng();
        let db = self.index;
        let now = self.now;
        let sizes: Vec<usize> = (0..NSHARDS)
            .map(|i| self.shard(i).db_ref(db).map_or(0, |d| d.len()))
            .collect();
        let total: usize = sizes.iter().sum();
        if total == 0 {
            return None;
        }
        // A few tries to skip keys that expired but were not reclaimed yet.
        for _ in 0..100 {
            // A shard weighted by its keys, then a key of it: uniform over the keys.
            let pick = rng.gen_range(0..total);
            let si = sizes
                .iter()
                .scan(0, |end, &n| {
                    *end += n;
                    Some(*end)
                })
                .position(|end| pick < end)?;
            let ds = self.shard(si).dbs[db].as_ref()?;
            let (k, e) = ds.keys.random(&mut rng)?;
            if e.expire_at == 0 || now <= e.expire_at {
                return Some(k.clone());
            }
        }
        None
    }

    /// Moves a key to another database; false if it does not exist or exists there.
    pub fn move_key(&mut self, key: &[u8], to: usize) -> bool {
        let Some(entry) = self.peek(key).cloned() else {
            return false;
        };
        let from = self.index;
        self.index = to;
        let exists = self.exists(key);
        if !exists {
            self.set_entry(key, entry);
        }
        self.index = from;
        if exists {
            return false;
        }
        self.remove(key);
        true
    }

    /// Access mode, for commands that report it (OBJECT FREQ).
    pub fn access_mode(&self) -> AccessMode {
        self.mode
    }

    /// True if the key's entry is expired at this clock (used by iteration helpers).
    pub fn entry_is_expired(&self, e: &Entry) -> bool {
        self.is_expired(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(now: u64) -> ViewCtx {
        ViewCtx {
            db: 0,
            now,
            mode: AccessMode::Lru,
        }
    }

    /// The one wait against the lock order: a script holding shard 10 reaches shard 3 while
    /// a multi-shard command holds 3 and waits for 10. The command lets 3 go, the script goes
    /// on and ends, then the command gets both.
    #[test]
    fn a_script_reaching_a_shard_out_of_order_does_not_deadlock() {
        use std::sync::{mpsc, Arc};
        use std::time::Instant;
        let ks = Arc::new(Keyspace::new());
        let slot = |shard: usize| (shard * SLOTS_PER_SHARD) as u16;
        let (has_10, wait_10) = mpsc::channel();
        let (go_on, script_go) = mpsc::channel::<()>();
        let (done, finished) = mpsc::channel();
        let (k, script_done) = (ks.clone(), done.clone());
        std::thread::spawn(move || {
            let mut db = k.script_view(ctx(0));
            db.lock_script_slots(&[slot(10)]);
            has_10.send(()).unwrap();
            script_go.recv().unwrap();
            db.lock_script_slots(&[slot(3)]);
            db.set(b"k", Value::string(b"v"), false);
            script_done.send("script").unwrap();
        });
        wait_10.recv_timeout(Duration::from_secs(5)).unwrap();
        let k = ks.clone();
        std::thread::spawn(move || {
            let _db = k.lock_slots(&[slot(3), slot(10)], ctx(0));
            done.send("command").unwrap();
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        while !ks.shards[3].is_locked() {
            assert!(Instant::now() < deadline, "the command never took shard 3");
            std::thread::sleep(Duration::from_millis(1));
        }
        go_on.send(()).unwrap();
        let order: Vec<&str> = (0..2)
            .map(|_| {
                finished
                    .recv_timeout(Duration::from_secs(10))
                    .expect("deadlock")
            })
            .collect();
        assert_eq!(order, ["script", "command"]);
    }

    #[test]
    fn set_get_expire() {
        let ks = Keyspace::new();
        let s = key_slot(b"a");
        let mut db = ks.lock_slots(&[s], ctx(1000));
        db.set(b"a", Value::string(b"1"), false);
        assert!(matches!(db.get(b"a").unwrap().value, Value::Int(1)));
        assert!(db.set_expire(b"a", 1500));
        drop(db);
        let mut db = ks.lock_slots(&[s], ctx(1500));
        assert!(db.get(b"a").is_some());
        drop(db);
        let mut db = ks.lock_slots(&[s], ctx(1501));
        assert!(db.get(b"a").is_none());
        assert_eq!(db.expired, 1);
    }

    #[test]
    fn active_expire_reclaims() {
        let ks = Keyspace::new();
        for i in 0..100u32 {
            let k = format!("k{i}");
            let mut db = ks.lock_slots(&[key_slot(k.as_bytes())], ctx(0));
            db.set(k.as_bytes(), Value::string(b"v"), false);
            db.set_expire(k.as_bytes(), if i % 2 == 0 { 10 } else { 1_000_000 });
        }
        assert_eq!(ks.active_expire(11, 1000), 50);
        assert_eq!(ks.counts()[0], (50, 50));
    }

    #[test]
    fn multi_shard_and_all() {
        let ks = Keyspace::new();
        let keys: Vec<&[u8]> = vec![b"foo", b"bar", b"baz"];
        let slots: Vec<u16> = keys.iter().map(|k| key_slot(k)).collect();
        let mut db = ks.lock_slots(&slots, ctx(0));
        for k in &keys {
            db.set(k, Value::string(b"x"), false);
        }
        drop(db);
        let mut db = ks.lock_all(ctx(0));
        assert_eq!(db.len(), 3);
        let mut seen = 0;
        db.for_each(|_, _| seen += 1);
        assert_eq!(seen, 3);
        db.swap_db(0, 1);
        assert_eq!(db.len(), 0);
        db.index = 1;
        assert_eq!(db.flush_db(1), 3);
    }

    #[test]
    fn eviction_picks_a_key() {
        let ks = Keyspace::new();
        for i in 0..50u32 {
            let k = format!("k{i}");
            let mut db = ks.lock_slots(&[key_slot(k.as_bytes())], ctx(0));
            db.set(k.as_bytes(), Value::string(b"v"), false);
        }
        assert!(ks.evict_one(EvictPolicy::AllKeysLru, 5, 0, AccessMode::Lru));
        assert_eq!(ks.counts()[0].0, 49);
        assert!(!ks.evict_one(EvictPolicy::VolatileTtl, 5, 0, AccessMode::Lru));
    }
}
