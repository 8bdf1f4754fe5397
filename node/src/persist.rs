//! RDB persistence around the format in [`crate::rdb`]: SAVE, BGSAVE, save points, loading
//! `dbfilename` at start and saving at shutdown, with the state `INFO persistence` shows.
//!
//! BGSAVE takes a point-in-time snapshot without a fork (see `db/snapshot.rs`): the command
//! marks every shard while holding them all, and a background thread streams the shards to
//! a temp file chunk by chunk (those clients touched first give the copy they made), then
//! renames it into place.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicI64;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::Instant;

use tracing::{info, warn};

use crate::db::{initial_access, Db, ViewCtx};
use crate::rdb::{self, file};
use crate::server::{unix_ms, Server};

/// What `INFO persistence` reports about RDB saves.
pub struct RdbState {
    pub bgsave_in_progress: AtomicBool,
    /// Unix ms when the running BGSAVE started.
    pub bgsave_started_ms: AtomicU64,
    pub last_bgsave_ok: AtomicBool,
    /// Seconds the last BGSAVE took; -1 before the first.
    pub last_bgsave_secs: AtomicI64,
    /// Successful saves since start.
    pub saves: AtomicU64,
    /// Unix ms of the last BGSAVE attempt (a failed one is retried after 5 s).
    pub last_try_ms: AtomicU64,
    /// Keys loaded and dropped as expired by the last load.
    pub loaded_keys: AtomicU64,
    pub loaded_expired: AtomicU64,
    /// A BGSAVE asked for with SCHEDULE while another save runs.
    pub scheduled: AtomicBool,
    /// A replica is loading its primary's snapshot (INFO `loading:1`): commands without the
    /// `loading` flag are refused with LOADING, and the cron waits.
    pub loading: AtomicBool,
}

impl Default for RdbState {
    fn default() -> Self {
        RdbState {
            bgsave_in_progress: AtomicBool::new(false),
            bgsave_started_ms: AtomicU64::new(0),
            last_bgsave_ok: AtomicBool::new(true),
            last_bgsave_secs: AtomicI64::new(-1),
            saves: AtomicU64::new(0),
            last_try_ms: AtomicU64::new(0),
            loaded_keys: AtomicU64::new(0),
            loaded_expired: AtomicU64::new(0),
            scheduled: AtomicBool::new(false),
            loading: AtomicBool::new(false),
        }
    }
}

/// `dir/dbfilename`.
pub fn rdb_path(server: &Server) -> PathBuf {
    let c = server.config.read();
    PathBuf::from(c.dir()).join(c.dbfilename())
}

/// The RDB aux fields of a file written now (`aof_base`: the base of an AOF).
pub fn aux(server: &Server, aof_base: bool) -> file::Aux {
    file::Aux {
        ctime: unix_ms() / 1000,
        used_mem: server.used_memory(),
        aof_base,
    }
}

/// Writes the RDB file from the snapshot `feed` hands out; on success the changes it holds
/// stop counting as unsaved.
fn write_snapshot(
    server: &Server,
    feed: impl file::Feed,
    dirty_at_start: u64,
) -> std::io::Result<()> {
    file::save(&rdb_path(server), &aux(server, false), feed)?;
    // Changes made while saving stay counted (Redis: dirty -= dirty_before_bgsave).
    let _ = server
        .dirty
        .fetch_update(SeqCst, SeqCst, |d| Some(d.saturating_sub(dirty_at_start)));
    server.lastsave.store(unix_ms() / 1000, SeqCst);
    server.rdb.saves.fetch_add(1, SeqCst);
    Ok(())
}

/// SAVE: serializes everything through `db` (which holds every shard) and writes the file.
pub fn save(server: &Server, db: &mut Db<'_>) -> Result<(), String> {
    if server.rdb.bgsave_in_progress.load(SeqCst) {
        return Err("Background save already in progress".into());
    }
    if !db.holds_everything() {
        return Err("SAVE needs every shard locked".into());
    }
    let compress = server.settings().rdbcompression;
    let dirty = server.dirty.load(SeqCst);
    match write_snapshot(server, |sink| db.snapshot_now(compress, sink), dirty) {
        Ok(()) => {
            info!("DB saved on disk");
            Ok(())
        }
        Err(e) => {
            warn!("Failed opening the temp RDB file temp-{}.rdb (in server root dir {}) for saving: {e}",
                std::process::id(), server.config.read().dir());
            Err(e.to_string())
        }
    }
}

/// BGSAVE: starts a snapshot now (through `db`, which holds every shard) and finishes it on a
/// background thread. Err with Redis's reason if one is already running.
pub fn bgsave(server: &Server, db: &mut Db<'_>) -> Result<(), &'static str> {
    let Some(me) = server.arc() else {
        return Err("server is shutting down");
    };
    if server.rdb.bgsave_in_progress.swap(true, SeqCst) {
        return Err("Background save already in progress");
    }
    let compress = server.settings().rdbcompression;
    if !db.start_snapshot(&server.keyspace, compress) {
        server.rdb.bgsave_in_progress.store(false, SeqCst);
        return Err("Background save already in progress");
    }
    let dirty = server.dirty.load(SeqCst);
    let now = unix_ms();
    server.rdb.bgsave_started_ms.store(now, SeqCst);
    server.rdb.last_try_ms.store(now, SeqCst);
    info!("Background saving started");
    let spawned = std::thread::Builder::new()
        .name("bgsave".into())
        .spawn(move || finish_bgsave(&me, dirty));
    if spawned.is_err() {
        // Release the shards rather than leave them pending forever.
        server.keyspace.abandon_snapshot();
        server.rdb.bgsave_in_progress.store(false, SeqCst);
        server.rdb.last_bgsave_ok.store(false, SeqCst);
        return Err("Can't start the background save thread");
    }
    Ok(())
}

fn finish_bgsave(server: &Server, dirty_at_start: u64) {
    let started = Instant::now();
    let ks = &server.keyspace;
    let result = write_snapshot(server, |sink| ks.finish_snapshot(sink), dirty_at_start)
        .map_err(|e| e.to_string());
    let st = &server.rdb;
    st.last_bgsave_secs
        .store(started.elapsed().as_secs() as i64, SeqCst);
    match result {
        Ok(()) => {
            st.last_bgsave_ok.store(true, SeqCst);
            info!("DB saved on disk");
            info!("Background saving terminated with success");
        }
        Err(e) => {
            st.last_bgsave_ok.store(false, SeqCst);
            warn!("Background saving error: {e}");
        }
    }
    st.bgsave_in_progress.store(false, SeqCst);
}

/// A view of database 0 holding every shard, at time `now`.
pub fn lock_everything(server: &Server, now: u64) -> Db<'_> {
    server.keyspace.lock_all(ViewCtx {
        db: 0,
        now,
        mode: server.settings().access,
    })
}

/// Runs a BGSAVE through a fresh view holding every shard (save points, SCHEDULE).
pub fn bgsave_now(server: &Server) -> Result<(), &'static str> {
    let mut db = lock_everything(server, unix_ms());
    bgsave(server, &mut db)
}

/// Called by the cron: starts a BGSAVE when a save point is reached (or one was scheduled).
pub fn cron(server: &Server) {
    let st = &server.rdb;
    if st.bgsave_in_progress.load(SeqCst) {
        return;
    }
    if st.scheduled.swap(false, SeqCst) {
        let _ = bgsave_now(server);
        return;
    }
    let params = server.config.read().save_params();
    if params.is_empty() {
        return;
    }
    let now = unix_ms();
    let dirty = server.dirty.load(SeqCst);
    let since_save = (now / 1000).saturating_sub(server.lastsave.load(SeqCst));
    // After a failed save, retry only every 5 seconds (CONFIG_BGSAVE_RETRY_DELAY).
    let may_retry =
        st.last_bgsave_ok.load(SeqCst) || now.saturating_sub(st.last_try_ms.load(SeqCst)) > 5000;
    for (secs, changes) in params {
        if dirty >= changes && since_save >= secs && may_retry {
            info!("{changes} changes in {secs} seconds. Saving...");
            let _ = bgsave_now(server);
            return;
        }
    }
}

/// The synchronous save at shutdown (when save points are configured or SHUTDOWN SAVE asked).
pub fn shutdown_save(server: &Server) -> bool {
    info!("Saving the final RDB snapshot before exiting.");
    // A background snapshot still running is dropped first (its shards are needed unlocked).
    server.keyspace.abandon_snapshot();
    let mut db = lock_everything(server, unix_ms());
    let compress = server.settings().rdbcompression;
    let dirty = server.dirty.load(SeqCst);
    match write_snapshot(server, |sink| db.snapshot_now(compress, sink), dirty) {
        Ok(()) => {
            info!("DB saved on disk");
            true
        }
        Err(e) => {
            warn!("Error trying to save the DB, can't exit: {e}");
            false
        }
    }
}

/// Loads an RDB file from `src` into the keyspace, holding every shard (the file at start, an
/// AOF's base or preamble), a chunk at a time: memory holds the key being read, not the whole
/// file. Keys already expired are counted and dropped.
pub fn load_rdb_from(
    server: &Server,
    src: impl std::io::Read,
) -> Result<file::Loaded, file::LoadError> {
    let mut db = lock_everything(server, unix_ms());
    load_rdb_into(server, &mut db, src)
}

/// [`load_rdb_from`] through `db`, which holds every shard.
pub fn load_rdb_into(
    server: &Server,
    db: &mut Db<'_>,
    src: impl std::io::Read,
) -> Result<file::Loaded, file::LoadError> {
    let s = server.settings();
    let limits = rdb::Limits::from_settings(&s);
    let now = unix_ms();
    let access = initial_access(s.access, now);
    // `key-load-delay` (microseconds per key, for tests of loading as in Redis).
    let delay = server
        .config
        .read()
        .get_str("key-load-delay")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&d| d > 0)
        .map(std::time::Duration::from_micros);
    file::load_from(src, &limits, now, |index, key, mut entry| {
        db.index = index;
        entry.access = access;
        db.set_entry(key, entry);
        if let Some(d) = delay {
            std::thread::sleep(d);
        }
    })
}

/// Loads `dir/dbfilename` at start. Err: the message to log before exiting.
pub fn load_at_start(server: &Server) -> Result<(), String> {
    let path = rdb_path(server);
    let started = Instant::now();
    let loaded = match std::fs::File::open(&path) {
        Ok(f) => load_rdb_from(server, f).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(file::LoadError {
            offset: 0,
            error: rdb::RdbError::Corrupt(format!("Fatal error loading the DB: {e}. Exiting.")),
        }),
    };
    match loaded {
        Ok(None) => Ok(()),
        Ok(Some(l)) => {
            server.dirty.store(0, SeqCst);
            server.rdb.loaded_keys.store(l.keys, Relaxed);
            server.rdb.loaded_expired.store(l.expired, Relaxed);
            info!(
                "DB loaded from disk: {:.3} seconds",
                started.elapsed().as_secs_f64()
            );
            info!(
                "Done loading RDB, keys loaded: {}, keys expired: {}.",
                l.keys, l.expired
            );
            if l.empty > 0 {
                warn!("Done loading RDB, empty keys skipped: {}.", l.empty);
            }
            Ok(())
        }
        Err(e) => Err(match e.error {
            rdb::RdbError::Truncated => format!(
                "Short read or OOM loading DB ({} at offset {}). Unrecoverable error, aborting now.",
                path.display(),
                e.offset
            ),
            other => format!(
                "Internal error in RDB reading offset {} of {}: {other}. Check the file with redis-check-rdb.",
                e.offset,
                path.display()
            ),
        }),
    }
}
