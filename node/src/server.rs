//! State shared by every connection: the keyspace, configuration, client registry, stats.

use std::collections::BTreeMap;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use tokio::sync::{mpsc, Notify};

use crate::config::Config;
use crate::db::{AccessMode, EvictPolicy, Keyspace};

/// Unix milliseconds minus [`mono_ns`] milliseconds (0: not set yet), re-read by
/// [`resync_clock`].
static CLOCK_BASE: AtomicU64 = AtomicU64::new(0);

/// Nanoseconds on the monotonic clock (`CLOCK_MONOTONIC`, the clock `Instant` reads too): the
/// command path's timer. Differences are plain integer arithmetic, where `Instant` goes through
/// checked `Duration`s and 128-bit conversions (a profile showed that on every command).
pub fn mono_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| (t.tv_sec() as u64) * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

/// Re-reads the wall clock for [`unix_ms_at`] (the cron calls it every tick, so a step of the
/// system clock is followed within one tick).
pub fn resync_clock() {
    let base = unix_ms().saturating_sub(mono_ns() / 1_000_000);
    CLOCK_BASE.store(base.max(1), Relaxed);
}

/// The Unix time in milliseconds at `mono` (a [`mono_ns`] reading the caller already has): the
/// command path reads the clock once and gets both its timer start and its expiry time (on
/// some VMs every clock read is a system call).
pub fn unix_ms_at(mono: u64) -> u64 {
    let mut base = CLOCK_BASE.load(Relaxed);
    if base == 0 {
        resync_clock();
        base = CLOCK_BASE.load(Relaxed);
    }
    base + mono / 1_000_000
}

/// Unix time in milliseconds.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Unix time in microseconds.
pub fn unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Settings read on every command, derived from [`Config`] whenever it changes.
#[derive(Debug, Clone)]
pub struct Settings {
    pub maxmemory: u64,
    pub policy: EvictPolicy,
    pub samples: usize,
    pub access: AccessMode,
    pub proto_max_bulk: u64,
    pub qbuf_limit: u64,
    pub maxclients: u32,
    pub requirepass: Option<Vec<u8>>,
    pub slowlog_slower_than: i64,
    pub slowlog_max_len: u64,
    /// `busy-reply-threshold` (ms).
    pub busy_reply_threshold: u64,
    /// `latency-monitor-threshold` (milliseconds; 0: off).
    pub latency_threshold_ms: u64,
    pub timeout_secs: u64,
    pub hash_max_listpack_entries: u64,
    pub hash_max_listpack_value: u64,
    pub set_max_intset_entries: u64,
    /// `hll-sparse-max-bytes`.
    pub hll_sparse_max_bytes: u64,
    pub zset_limits: crate::db::types::zset::ZSetLimits,
    /// `rdbcompression`: LZF for long strings in RDB files and DUMP payloads.
    pub rdbcompression: bool,
    /// `notify-keyspace-events` bits (`crate::config::notify`); 0 = no keyspace events.
    pub notify_flags: u32,
    /// `stream-node-max-entries` and `stream-node-max-bytes`.
    pub stream_limits: crate::db::types::stream::NodeLimits,
    /// `tracking-table-max-keys` (0 = no limit).
    pub tracking_table_max_keys: u64,
    /// `cluster-enabled`: route keyed commands by slot.
    pub cluster_enabled: bool,
    pub cluster_allow_reads_when_down: bool,
    /// `replica-read-only`.
    pub replica_read_only: bool,
    /// `repl-backlog-size`.
    pub repl_backlog_size: usize,
    /// `min-replicas-to-write` and `min-replicas-max-lag` (seconds), when both are set: a
    /// primary with fewer good replicas refuses writes.
    pub min_replicas: Option<(usize, u64)>,
}

impl Settings {
    pub fn from_config(c: &Config) -> Settings {
        let policy = EvictPolicy::parse(c.maxmemory_policy()).unwrap_or(EvictPolicy::NoEviction);
        Settings {
            maxmemory: c.maxmemory(),
            policy,
            samples: c.maxmemory_samples() as usize,
            access: if policy.is_lfu() {
                AccessMode::Lfu {
                    log_factor: c.lfu_log_factor(),
                    decay_minutes: c.lfu_decay_time(),
                }
            } else {
                AccessMode::Lru
            },
            proto_max_bulk: c.proto_max_bulk_len(),
            qbuf_limit: c.client_query_buffer_limit(),
            maxclients: c.maxclients(),
            requirepass: c.requirepass(),
            slowlog_slower_than: c.slowlog_log_slower_than(),
            busy_reply_threshold: c.busy_reply_threshold(),
            latency_threshold_ms: c.latency_monitor_threshold(),
            slowlog_max_len: c.slowlog_max_len(),
            timeout_secs: c.timeout(),
            hash_max_listpack_entries: c.hash_max_listpack_entries(),
            hash_max_listpack_value: c.hash_max_listpack_value(),
            set_max_intset_entries: c.set_max_intset_entries(),
            hll_sparse_max_bytes: c.hll_sparse_max_bytes(),
            zset_limits: crate::db::types::zset::ZSetLimits {
                max_entries: c.zset_max_listpack_entries(),
                max_value: c.zset_max_listpack_value(),
            },
            rdbcompression: c.rdbcompression(),
            notify_flags: c.notify_keyspace_events(),
            stream_limits: crate::db::types::stream::NodeLimits {
                max_entries: c.stream_node_max_entries(),
                max_bytes: c.stream_node_max_bytes(),
            },
            tracking_table_max_keys: c.tracking_table_max_keys(),
            cluster_enabled: c.cluster_enabled(),
            cluster_allow_reads_when_down: c.cluster_allow_reads_when_down(),
            replica_read_only: c.get_str("replica-read-only").as_deref() != Some("no"),
            repl_backlog_size: c
                .get_str("repl-backlog-size")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1 << 20),
            min_replicas: {
                let int = |name: &str| c.get_str(name).and_then(|v| v.parse::<u64>().ok());
                let n = int("min-replicas-to-write").unwrap_or(0);
                let lag = int("min-replicas-max-lag").unwrap_or(10);
                (n > 0 && lag > 0).then_some((n as usize, lag))
            },
        }
    }
}

/// Client flags shown by `CLIENT LIST`.
pub mod cflags {
    pub const MONITOR: u32 = 1 << 0;
    pub const NO_EVICT: u32 = 1 << 1;
    /// Waiting in a blocking command (`b`).
    pub const BLOCKED: u32 = 1 << 2;
    /// Subscribed to a channel, pattern or shard channel (`P`).
    pub const PUBSUB: u32 = 1 << 3;
    /// Inside MULTI (`x`).
    pub const MULTI: u32 = 1 << 8;
    /// CLIENT TRACKING on (`t`), in BCAST mode (`B`), its redirection gone (`R`).
    pub const TRACKING: u32 = 1 << 9;
    pub const TRACKING_BCAST: u32 = 1 << 10;
    pub const TRACKING_BROKEN_REDIR: u32 = 1 << 11;
    /// A WATCHed key was modified (`d`).
    pub const DIRTY_CAS: u32 = 1 << 12;
    /// A replica's link to this primary (`S`), our link to our primary (`M`).
    pub const REPLICA: u32 = 1 << 13;
    pub const MASTER: u32 = 1 << 14;
}

/// What the registry knows of a client, shared between its task and CLIENT LIST/KILL.
pub struct ClientInfo {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    pub created: Instant,
    pub last_active_ms: AtomicU64,
    pub name: Mutex<Option<Bytes>>,
    pub db: AtomicUsize,
    pub resp: AtomicU8,
    /// Last command run: (container or "", name).
    pub last_cmd: Mutex<(&'static str, &'static str)>,
    pub flags: AtomicU32,
    pub qbuf: AtomicUsize,
    pub killed: AtomicBool,
    pub kill: Notify,
    /// Subscriptions and the queue of messages for this client (see [`crate::pubsub`]).
    pub pushes: crate::pubsub::Pushes,
    /// A frame from [`crate::push::Pushers`] may be waiting (the connection checks this flag,
    /// not the channel, after every command).
    pub frames: AtomicBool,
    /// Commands queued in MULTI (`multi=` of CLIENT LIST), -1 outside a transaction.
    pub multi: AtomicI64,
    /// CLIENT TRACKING redirection (`redir=`), -1 without tracking.
    pub redir: AtomicI64,
    /// The ACL user the client is authenticated as (`user=`); the connection's own copy is
    /// `Client::user`.
    pub user: Mutex<Arc<crate::acl::User>>,
}

impl ClientInfo {
    pub fn kill(&self) {
        self.killed.store(true, Relaxed);
        self.kill.notify_one();
        // The connection's read loop has one wake source, the push queue's notify (`conn.rs`);
        // `kill` above still wakes a connection blocked in a flush or a blocking command.
        self.pushes.ready.notify_one();
    }
}

/// Counters for `INFO stats`.
#[derive(Default)]
pub struct Stats {
    pub connections_received: AtomicU64,
    pub commands_processed: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub expired_keys: AtomicU64,
    pub evicted_keys: AtomicU64,
    pub keyspace_hits: AtomicU64,
    pub keyspace_misses: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub error_replies: AtomicU64,
    /// Error replies by their code (`ERR`, `WRONGTYPE`...), for INFO errorstats, in byte
    /// order as Redis lists them.
    pub error_codes: Mutex<std::collections::BTreeMap<String, u64>>,
    /// Instantaneous ops/sec, updated by the cron.
    pub ops_per_sec: AtomicU64,
}

/// At most this many error codes are counted apart, as in Redis: later new codes are not.
const ERROR_CODES_MAX: usize = 128;

impl Stats {
    /// Counts an error reply (`text` without the leading `-`): its code is the first word
    /// when a space comes within the first 31 bytes, else `ERR`, as Redis takes it.
    pub fn count_error(&self, text: &str) {
        self.error_replies.fetch_add(1, Relaxed);
        let code = match text.as_bytes().iter().take(31).position(|&b| b == b' ') {
            Some(end) => &text[..end],
            None => "ERR",
        };
        let mut codes = self.error_codes.lock();
        if let Some(n) = codes.get_mut(code) {
            *n += 1;
        } else if codes.len() < ERROR_CODES_MAX {
            codes.insert(code.to_string(), 1);
        }
    }
}

/// One `SLOWLOG` entry.
#[derive(Debug, Clone)]
pub struct SlowEntry {
    pub id: u64,
    pub time: u64,
    pub micros: u64,
    pub args: Vec<Bytes>,
    pub addr: String,
    pub name: Bytes,
}

#[derive(Default)]
pub struct SlowLog {
    pub next_id: u64,
    pub entries: std::collections::VecDeque<SlowEntry>,
}

/// Why clients are paused. As in Redis, each purpose has its own pause, and ending one
/// (CLIENT UNPAUSE, the end of a manual failover) leaves the other in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PausePurpose {
    /// `CLIENT PAUSE`.
    Client = 0,
    /// A manual failover, primary side (writes only).
    Failover = 1,
}

#[derive(Default)]
struct PauseSlot {
    /// Unix ms until which this pause holds; 0 = none.
    until: AtomicU64,
    /// Only writes are held back.
    write_only: AtomicBool,
}

/// `CLIENT PAUSE` and manual-failover pauses.
#[derive(Default)]
pub struct Pause {
    slots: [PauseSlot; 2],
}

impl Pause {
    /// Pauses for `purpose` until `until` (unix ms), every command or only writes. A pause of
    /// the same purpose still in force at `now` keeps the later end and the stricter mode.
    pub fn pause(&self, purpose: PausePurpose, until: u64, write_only: bool, now: u64) {
        let s = &self.slots[purpose as usize];
        let current = s.until.load(Relaxed);
        let active = current > now;
        if !active || until > current {
            s.until.store(until, Relaxed);
        }
        if !active {
            s.write_only.store(write_only, Relaxed);
        } else if !write_only {
            s.write_only.store(false, Relaxed);
        }
    }

    /// Ends the pause of `purpose` now.
    pub fn resume(&self, purpose: PausePurpose) {
        self.slots[purpose as usize].until.store(0, Relaxed);
    }

    /// Whether the pause of `purpose` is in force at `now`.
    pub fn active(&self, purpose: PausePurpose, now: u64) -> bool {
        self.slots[purpose as usize].until.load(Relaxed) > now
    }

    /// How long a command (`is_write`: it may write) must still wait at `now`: until the
    /// latest end among the pauses that hold it back.
    pub fn holds(&self, is_write: bool, now: u64) -> Option<Duration> {
        self.slots
            .iter()
            .filter_map(|s| {
                let until = s.until.load(Relaxed);
                (until > now && (is_write || !s.write_only.load(Relaxed))).then_some(until)
            })
            .max()
            .map(|until| Duration::from_millis(until - now))
    }

    /// No pause was ever set, or every one was resumed (checked without reading the clock).
    fn none(&self) -> bool {
        self.slots.iter().all(|s| s.until.load(Relaxed) == 0)
    }
}

/// Shutdown saves when save points are configured.
pub const SHUTDOWN_DEFAULT: u8 = 0;
/// `SHUTDOWN NOSAVE`.
pub const SHUTDOWN_NOSAVE: u8 = 1;
/// `SHUTDOWN SAVE`.
pub const SHUTDOWN_SAVE: u8 = 2;

/// The server.
pub struct Server {
    pub keyspace: Keyspace,
    /// `INFO keyspace`'s avg_ttl per database (ms): the active expiry's running estimate.
    pub avg_ttl: [AtomicU64; crate::db::NDBS],
    /// Clients waiting in blocking commands.
    pub blocking: crate::blocking::Blocking,
    pub config: RwLock<Config>,
    settings: RwLock<Arc<Settings>>,
    settings_version: AtomicU64,
    pub clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
    /// `clients.len()`, readable without the lock.
    pub nclients: AtomicUsize,
    /// The busy-polling task's switch (see [`crate::spin`]).
    pub spin: Arc<crate::spin::Spin>,
    pub next_client_id: AtomicU64,
    pub stats: Stats,
    pub started: Instant,
    pub run_id: String,
    pub pause: Pause,
    pub monitors: Mutex<Vec<(u64, mpsc::UnboundedSender<Bytes>)>>,
    /// Channels, patterns and shard channels with their subscribers.
    pub pubsub: crate::pubsub::PubSub,
    pub has_monitors: AtomicBool,
    pub slowlog: Mutex<SlowLog>,
    /// The latency monitor's samples (LATENCY).
    pub latency: crate::latency::Monitor,
    pub shutdown: Notify,
    pub shutting_down: AtomicBool,
    pub lastsave: AtomicU64,
    pub dirty: AtomicU64,
    /// The TCP port actually listened on.
    pub tcp_port: AtomicU32,
    /// `DEBUG SET-ACTIVE-EXPIRE`.
    pub active_expire: AtomicBool,
    memory_peak: AtomicU64,
    memory_startup: AtomicU64,
    /// Config path as given on the command line (absolute), for INFO.
    pub executable: String,
    /// How the requested shutdown saves: [`SHUTDOWN_DEFAULT`] (if save points are set),
    /// [`SHUTDOWN_NOSAVE`] or [`SHUTDOWN_SAVE`].
    pub shutdown_mode: std::sync::atomic::AtomicU8,
    /// RDB save state (`INFO persistence`).
    pub rdb: crate::persist::RdbState,
    /// The append-only file (see [`crate::aof`]).
    pub aof: crate::aof::Aof,
    /// Replication, both sides (see [`crate::repl`]).
    pub repl: crate::repl::Repl,
    /// The `Arc` this server lives in, for work that outlives a command (BGSAVE).
    me: std::sync::Weak<Server>,
    /// WATCHed keys (see [`crate::keysig`]).
    pub watches: crate::keysig::Watches,
    /// Client-side caching: tracked keys and prefixes (see [`crate::tracking`]).
    pub tracking: crate::tracking::Tracking,
    /// Per-client channels for out-of-band frames (see [`crate::push`]).
    pub pushers: crate::push::Pushers,
    /// Cluster mode (`cluster-enabled yes`): set once at startup.
    pub cluster: std::sync::OnceLock<crate::cluster::Cluster>,
    /// TLS configurations (see [`crate::tls`]).
    pub tls: Arc<crate::tls::Tls>,
    /// The TLS port actually listened on (0: none).
    pub tls_port: AtomicU32,
    /// The accept loops of `tls-port`, replaced when CONFIG SET moves it.
    pub tls_accepts: Mutex<Vec<tokio::task::AbortHandle>>,
    /// ACL users and the ACL log (see [`crate::acl`]).
    pub acl: crate::acl::Acl,
    /// MIGRATE's cached connections and fenced keys (see [`crate::cluster::migrate_pool`]).
    pub migrate: crate::cluster::migrate_pool::Migrations,
    /// The script cache and the running script (see [`crate::scripting`]).
    pub scripts: crate::scripting::Scripts,
    /// Function libraries (FUNCTION LOAD, FCALL).
    pub functions: crate::functions::Functions,
}

impl Server {
    pub fn new(config: Config) -> Arc<Server> {
        let settings = Arc::new(Settings::from_config(&config));
        crate::cmd::set_latency_tracking(config.latency_tracking());
        let pubsub = crate::pubsub::PubSub::default();
        pubsub.set_limits(&config.client_output_buffer_limit());
        let mut rid = [0u8; 20];
        rand::Rng::fill(&mut rand::thread_rng(), &mut rid[..]);
        let run_id = rid.iter().map(|b| format!("{b:02x}")).collect();
        let acl = crate::acl::Acl::new(&config);
        Arc::new_cyclic(|me| Server {
            me: me.clone(),
            acl,
            migrate: Default::default(),
            scripts: Default::default(),
            functions: Default::default(),
            shutdown_mode: std::sync::atomic::AtomicU8::new(SHUTDOWN_DEFAULT),
            rdb: crate::persist::RdbState::default(),
            aof: crate::aof::Aof::default(),
            repl: crate::repl::Repl::default(),
            keyspace: Keyspace::new(),
            avg_ttl: Default::default(),
            blocking: crate::blocking::Blocking::default(),
            config: RwLock::new(config),
            settings: RwLock::new(settings),
            settings_version: AtomicU64::new(1),
            clients: Mutex::new(BTreeMap::new()),
            nclients: AtomicUsize::new(0),
            spin: Arc::default(),
            next_client_id: AtomicU64::new(1),
            stats: Stats::default(),
            started: Instant::now(),
            run_id,
            pause: Pause::default(),
            monitors: Mutex::new(Vec::new()),
            pubsub,
            has_monitors: AtomicBool::new(false),
            slowlog: Mutex::new(SlowLog::default()),
            latency: Default::default(),
            shutdown: Notify::new(),
            shutting_down: AtomicBool::new(false),
            lastsave: AtomicU64::new(unix_ms() / 1000),
            dirty: AtomicU64::new(0),
            tcp_port: AtomicU32::new(0),
            active_expire: AtomicBool::new(true),
            memory_peak: AtomicU64::new(0),
            memory_startup: AtomicU64::new(crate::alloc::allocated() as u64),
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            watches: crate::keysig::Watches::default(),
            tracking: crate::tracking::Tracking::default(),
            pushers: crate::push::Pushers::default(),
            cluster: std::sync::OnceLock::new(),
            tls: Arc::default(),
            tls_port: AtomicU32::new(0),
            tls_accepts: Mutex::new(Vec::new()),
        })
    }

    /// The current settings if they changed since `version`.
    pub fn settings_if_changed(&self, version: &mut u64) -> Option<Arc<Settings>> {
        let v = self.settings_version.load(Relaxed);
        if v == *version {
            return None;
        }
        *version = v;
        Some(self.settings.read().clone())
    }

    pub fn settings(&self) -> Arc<Settings> {
        self.settings.read().clone()
    }

    /// Re-derives the hot settings after a configuration change.
    pub fn config_changed(&self) {
        let s = Arc::new(Settings::from_config(&self.config.read()));
        crate::cmd::set_latency_tracking(self.config.read().latency_tracking());
        self.pubsub
            .set_limits(&self.config.read().client_output_buffer_limit());
        *self.settings.write() = s;
        self.settings_version.fetch_add(1, Relaxed);
        {
            let cfg = self.config.read();
            let acl = &self.acl;
            acl.pubsub_all.store(cfg.acl_pubsub_default_all(), Relaxed);
            acl.log_max.store(cfg.acllog_max_len(), Relaxed);
        }
        crate::cluster::config_changed(self);
    }

    /// Milliseconds since start, a cheap clock for idle times.
    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Registers a new client.
    pub fn register_client(&self, addr: String, laddr: String, fd: i32) -> Arc<ClientInfo> {
        let id = self.next_client_id.fetch_add(1, Relaxed);
        let info = Arc::new(ClientInfo {
            id,
            addr,
            laddr,
            fd,
            created: Instant::now(),
            last_active_ms: AtomicU64::new(self.uptime_ms()),
            name: Mutex::new(None),
            db: AtomicUsize::new(0),
            resp: AtomicU8::new(2),
            last_cmd: Mutex::new(("", "NULL")),
            flags: AtomicU32::new(0),
            qbuf: AtomicUsize::new(0),
            killed: AtomicBool::new(false),
            kill: Notify::new(),
            pushes: crate::pubsub::Pushes::default(),
            frames: AtomicBool::new(false),
            multi: AtomicI64::new(-1),
            redir: AtomicI64::new(-1),
            user: Mutex::new(self.acl.default_user().clone()),
        });
        let mut clients = self.clients.lock();
        clients.insert(id, info.clone());
        self.nclients.store(clients.len(), Relaxed);
        info
    }

    /// Closes another client (CLIENT KILL, ACL changes, idle timeout): its connection task
    /// ends it, and its subscriptions stop counting at once, as Redis frees the client before
    /// the next command.
    pub fn close_client(&self, c: &ClientInfo) {
        c.kill();
        crate::pubsub::unsubscribe_all(self, c);
    }

    pub fn unregister_client(&self, id: u64) {
        let removed = {
            let mut clients = self.clients.lock();
            let r = clients.remove(&id);
            self.nclients.store(clients.len(), Relaxed);
            r
        };
        if let Some(info) = removed {
            crate::pubsub::unsubscribe_all(self, &info);
        }
        self.pushers.unregister(id);
        self.tracking.disable(id);
        self.unregister_monitor(id);
    }

    /// Stops feeding MONITOR output to a client.
    pub fn unregister_monitor(&self, id: u64) {
        let mut m = self.monitors.lock();
        m.retain(|(cid, _)| *cid != id);
        self.has_monitors.store(!m.is_empty(), Relaxed);
    }

    /// True while `CLIENT PAUSE` holds back a command (`is_write`: the command may write).
    pub fn paused_for(&self, is_write: bool) -> Option<Duration> {
        if self.pause.none() {
            return None;
        }
        self.pause.holds(is_write, unix_ms())
    }

    /// Asks the server to shut down.
    /// A strong handle on this server (None while it is being dropped).
    pub fn arc(&self) -> Option<Arc<Server>> {
        self.me.upgrade()
    }

    pub fn request_shutdown(&self) {
        self.shutting_down.store(true, Relaxed);
        self.shutdown.notify_waiters();
        self.shutdown.notify_one();
    }

    /// Bytes currently allocated by the process (the counting allocator).
    pub fn used_memory(&self) -> u64 {
        crate::alloc::allocated() as u64
    }

    /// Records `used` as the peak if it is one; returns the peak.
    pub fn note_memory_peak(&self, used: u64) -> u64 {
        self.memory_peak.fetch_max(used, Relaxed).max(used)
    }

    /// Bytes allocated when the server started.
    pub fn startup_memory(&self) -> u64 {
        self.memory_startup.load(Relaxed)
    }

    /// Propagates the deletion of a key no command named (active expiry, eviction), called
    /// while its shard is locked so the AOF keeps the order of writes to it.
    fn propagate_del(&self, db: usize, key: &[u8]) {
        let repl = self.repl.on() && !self.repl.link.is_replica();
        if self.aof.on() || repl {
            let cmd = [(
                db,
                vec![Bytes::from_static(b"DEL"), Bytes::copy_from_slice(key)],
            )];
            if self.aof.on() {
                self.aof.feed(&cmd);
            }
            if repl {
                self.repl.feed(&cmd);
            }
        }
    }

    /// Deletes every live key of `slot` (Redis's `delKeysInSlot`, for a slot this primary
    /// lost to one with a newer config epoch). Each deletion signals WATCH and client
    /// tracking and is propagated to replicas and the AOF while the slot's shard is locked.
    /// Returns how many keys went.
    pub fn delete_slot_keys(&self, slot: u16) -> usize {
        let ctx = crate::db::ViewCtx {
            db: 0,
            now: unix_ms(),
            mode: self.settings().access,
        };
        let mut db = self.keyspace.lock_slots(&[slot], ctx);
        let keys = db.keys_in_slot(slot, usize::MAX);
        let mut n = 0;
        for key in &keys {
            if db.remove(key).is_some() {
                crate::keysig::signal_deleted(self, 0, key);
                self.propagate_del(0, key);
                n += 1;
            }
        }
        self.dirty.fetch_add(n as u64, Relaxed);
        n
    }

    /// Evicts keys until under `maxmemory`; false if that was not possible.
    pub fn free_memory_if_needed(&self, s: &Settings, now: u64) -> bool {
        if s.maxmemory == 0 {
            return true;
        }
        let mut guard = 0;
        while self.used_memory() > s.maxmemory {
            if s.policy == EvictPolicy::NoEviction || guard > 100_000 {
                return false;
            }
            let evicted =
                self.keyspace
                    .evict_one_key(s.policy, s.samples, now, s.access, |db, key| {
                        crate::keysig::signal_deleted(self, db, key);
                        self.propagate_del(db, key);
                    });
            let (db, key) = match evicted {
                Some(crate::db::Evicted::Key(db, key)) => (db, key),
                Some(crate::db::Evicted::Raced) => {
                    guard += 1;
                    continue;
                }
                None => return false,
            };
            self.stats.evicted_keys.fetch_add(1, Relaxed);
            crate::pubsub::notify_key(
                self,
                s.notify_flags,
                crate::config::notify::EVICTED,
                "evicted",
                db,
                &key,
            );
            guard += 1;
        }
        true
    }

    /// One step of active expiry (at most 64 keys per shard): every reclaimed key signals
    /// WATCH/tracking while its shard is locked; `expired` events and clients blocked in
    /// XREADGROUP on an expired stream are served after. Returns the keys reclaimed.
    pub fn active_expire_cycle(&self, now: u64) -> usize {
        // A replica waits for its primary's DELs, as Redis replicas do.
        if self.repl.link.is_replica() {
            return 0;
        }
        let settings = self.settings();
        let want_expired =
            crate::pubsub::wants(settings.notify_flags, crate::config::notify::EXPIRED);
        let mut streams = Vec::new();
        let mut gone = Vec::new();
        let mut ttls = crate::db::TtlSamples::default();
        let n = self
            .keyspace
            .active_expire_each(now, 64, &mut ttls, |db, key, entry| {
                crate::keysig::signal_deleted(self, db, key);
                self.propagate_del(db, key);
                if matches!(entry.value, crate::db::Value::Stream(_)) {
                    streams.push((db, key.clone()));
                }
                if want_expired {
                    gone.push((db, key.clone()));
                }
            });
        for (db, key) in gone {
            crate::pubsub::notify_key(
                self,
                settings.notify_flags,
                crate::config::notify::EXPIRED,
                "expired",
                db,
                &key,
            );
        }
        self.stats.expired_keys.fetch_add(n as u64, Relaxed);
        // Redis's running estimate: the first sample as it is, then 1/50 of each new one; a
        // database without keys with a TTL goes back to 0.
        for (slot, (sum, count, any)) in self.avg_ttl.iter().zip(ttls.dbs) {
            if !any {
                slot.store(0, Relaxed);
            } else if count > 0 {
                let avg = (sum / count as u128) as u64;
                let old = slot.load(Relaxed);
                slot.store(
                    if old == 0 {
                        avg
                    } else {
                        old / 50 * 49 + avg / 50
                    },
                    Relaxed,
                );
            }
        }
        if !streams.is_empty() {
            crate::blocking::serve_ready(self, &settings, streams);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::Pause;
    use super::PausePurpose::{Client, Failover};
    use std::time::Duration;

    #[test]
    fn errors_are_counted_by_code() {
        use std::sync::atomic::Ordering::Relaxed;
        let s = super::Stats::default();
        s.count_error("ERR syntax error");
        s.count_error("WRONGTYPE Operation against a key holding the wrong kind of value");
        s.count_error("ERR wrong number of arguments for 'get' command");
        // No space within the first 31 bytes: counted as ERR.
        s.count_error("NOSPACEINTHISVERYLONGERRORCODETEXT at all");
        s.count_error("LOADING");
        let codes: Vec<(String, u64)> = s.error_codes.lock().clone().into_iter().collect();
        assert_eq!(codes, vec![("ERR".into(), 4), ("WRONGTYPE".into(), 1)]);
        assert_eq!(s.error_replies.load(Relaxed), 5);
        // Past 128 codes, new ones are not counted apart (the total still is).
        for i in 0..200 {
            s.count_error(&format!("C{i} x"));
        }
        assert_eq!(s.error_codes.lock().len(), super::ERROR_CODES_MAX);
        assert_eq!(s.error_replies.load(Relaxed), 205);
    }

    #[test]
    fn a_lost_slot_loses_its_keys_and_no_other() {
        use crate::db::{key_slot, Value, ViewCtx};
        let s = super::Server::new(crate::config::Config::default());
        let ctx = ViewCtx {
            db: 0,
            now: super::unix_ms(),
            mode: s.settings().access,
        };
        let (lost, kept) = (key_slot(b"{a}"), key_slot(b"b"));
        assert_ne!(lost, kept);
        {
            let mut db = s.keyspace.lock_slots(&[lost, kept], ctx);
            for k in [&b"{a}1"[..], b"{a}2", b"{a}3", b"b"] {
                db.set(k, Value::string(b"v"), false);
            }
        }
        assert_eq!(s.delete_slot_keys(lost), 3);
        let mut db = s.keyspace.lock_slots(&[lost, kept], ctx);
        assert!(db.keys_in_slot(lost, 10).is_empty());
        assert_eq!(db.keys_in_slot(kept, 10), [b"b".to_vec()]);
        drop(db);
        assert_eq!(s.delete_slot_keys(lost), 0);
    }

    fn ms(n: u64) -> Option<Duration> {
        Some(Duration::from_millis(n))
    }

    #[test]
    fn ending_one_pause_leaves_the_other_in_force() {
        let p = Pause::default();
        assert_eq!(p.holds(true, 1000), None);
        // CLIENT PAUSE ALL, then a manual failover pauses writes for less time.
        p.pause(Client, 5000, false, 1000);
        p.pause(Failover, 3000, true, 1000);
        assert_eq!(p.holds(false, 1000), ms(4000));
        // The failover ends: the client's pause stays, reads included.
        p.resume(Failover);
        assert_eq!(p.holds(false, 2000), ms(3000));
        assert_eq!(p.holds(true, 2000), ms(3000));
        // CLIENT UNPAUSE during a failover: writes stay held until the failover ends.
        p.pause(Failover, 9000, true, 2000);
        p.resume(Client);
        assert_eq!(p.holds(false, 2000), None);
        assert_eq!(p.holds(true, 2000), ms(7000));
        assert!(p.active(Failover, 2000) && !p.active(Client, 2000));
    }

    #[test]
    fn a_pause_in_force_keeps_its_later_end_and_stricter_mode() {
        let p = Pause::default();
        p.pause(Client, 5000, false, 1000);
        // Shorter and laxer: nothing changes.
        p.pause(Client, 3000, true, 1000);
        assert_eq!(p.holds(false, 1000), ms(4000));
        // Longer: the end moves, the mode stays ALL.
        p.pause(Client, 8000, true, 1000);
        assert_eq!(p.holds(false, 1000), ms(7000));
        // Once expired, a new pause starts afresh with its own mode.
        p.pause(Client, 10000, true, 9000);
        assert_eq!(p.holds(false, 9000), None);
        assert_eq!(p.holds(true, 9000), ms(1000));
    }
}
