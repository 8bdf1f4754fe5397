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
    /// A load is running (the dataset at start, or a replica's snapshot of its primary;
    /// INFO `loading:1`): commands without the `loading` flag are refused with LOADING, and
    /// the cron waits. Set by [`Loading`].
    pub loading: AtomicBool,
    /// How far the running load is (INFO's `loading_*` fields).
    pub progress: LoadProgress,
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
            progress: LoadProgress::default(),
        }
    }
}

/// How far a load is, for INFO while it runs.
#[derive(Default)]
pub struct LoadProgress {
    /// Unix seconds when it started.
    pub started: AtomicU64,
    /// Bytes of the files (or the payload) to read; 0 when not known.
    pub total_bytes: AtomicU64,
    /// Bytes read so far.
    pub loaded_bytes: AtomicU64,
    /// The `used-mem` aux field of the RDB being read (0 without one).
    pub rdb_used_mem: AtomicU64,
}

impl LoadProgress {
    /// INFO's `loading_*` lines at `now` (unix seconds): the percentage of `total_bytes`
    /// read, and the seconds left at the rate so far (1 in the first second), as Redis
    /// computes them.
    pub fn info(&self, now: u64) -> String {
        let total = self.total_bytes.load(Relaxed);
        // Reads ahead may pass the end of an AOF's RDB part: never over 100%.
        let loaded = match self.loaded_bytes.load(Relaxed) {
            n if total > 0 => n.min(total),
            n => n,
        };
        let started = self.started.load(Relaxed);
        let (perc, remaining) = if total > 0 {
            (
                loaded as f64 / total as f64 * 100.0,
                total.saturating_sub(loaded),
            )
        } else {
            (0.0, 1)
        };
        let elapsed = now.saturating_sub(started);
        let eta = if elapsed == 0 {
            1
        } else {
            (elapsed as u128 * remaining as u128 / (loaded as u128 + 1)) as u64
        };
        format!(
            "loading_start_time:{started}\r\nloading_total_bytes:{total}\r\nloading_rdb_used_mem:{}\r\nloading_loaded_bytes:{loaded}\r\nloading_loaded_perc:{perc:.2}\r\nloading_eta_seconds:{eta}\r\n",
            self.rdb_used_mem.load(Relaxed)
        )
    }
}

/// INFO's `loading:1` and the LOADING refusals, for as long as it lives (also if the load
/// panics). `total`: the bytes the load will read, 0 if not known yet. Started inside
/// another (the AOF's files inside the whole start-up load), it restarts the progress and
/// leaves the flag to the outer one.
pub struct Loading<'a> {
    server: &'a Server,
    outer: bool,
}

impl<'a> Loading<'a> {
    pub fn start(server: &'a Server, total: u64) -> Loading<'a> {
        Self::restart_progress(server, total);
        let outer = !server.rdb.loading.swap(true, SeqCst);
        Loading { server, outer }
    }

    /// Marks `server` as loading `total` bytes from now on, before its clients are accepted;
    /// the thread that then loads takes the state over with [`Loading::adopt`].
    pub fn begin(server: &Server, total: u64) {
        Self::restart_progress(server, total);
        server.rdb.loading.store(true, SeqCst);
    }

    /// Takes over the state [`Loading::begin`] set: it ends when this is dropped.
    pub fn adopt(server: &'a Server) -> Loading<'a> {
        Loading {
            server,
            outer: true,
        }
    }

    fn restart_progress(server: &Server, total: u64) {
        let p = &server.rdb.progress;
        p.started.store(unix_ms() / 1000, Relaxed);
        p.total_bytes.store(total, Relaxed);
        p.loaded_bytes.store(0, Relaxed);
        p.rdb_used_mem.store(0, Relaxed);
    }
}

impl Drop for Loading<'_> {
    fn drop(&mut self) {
        if self.outer {
            self.server.rdb.loading.store(false, SeqCst);
        }
    }
}

/// A reader that adds what it reads to a load's `loaded_bytes`.
pub struct Counted<'a, R> {
    pub inner: R,
    pub count: &'a AtomicU64,
}

impl<R: std::io::Read> std::io::Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Relaxed);
        Ok(n)
    }
}

/// `dir/dbfilename`.
pub fn rdb_path(server: &Server) -> PathBuf {
    let c = server.config.read();
    PathBuf::from(c.dir()).join(c.dbfilename())
}

/// The RDB aux fields of a file written now (`aof_base`: the base of an AOF).
pub fn aux(server: &Server, aof_base: bool) -> file::Aux {
    let compress = server.settings().rdbcompression;
    let mut functions = Vec::new();
    for code in server.functions.codes() {
        crate::functions::write_record(&mut functions, &code, compress);
    }
    file::Aux {
        ctime: unix_ms() / 1000,
        used_mem: server.used_memory(),
        aof_base,
        functions,
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

/// [`lock_everything`] with the script gate taken first, for loads that replace the function
/// libraries too: the functions' interpreter lock is taken after the gate and the shards,
/// as a running function takes it.
pub fn lock_everything_gated(server: &Server, now: u64) -> Db<'_> {
    let mut db = server.keyspace.script_view(ViewCtx {
        db: 0,
        now,
        mode: server.settings().access,
    });
    db.lock_script_all();
    db
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

/// How much of an RDB's start is read ahead for its aux fields (Redis writes about 150
/// bytes of them).
const AUX_PEEK: u64 = 4096;

/// Loads an RDB file from `src` into the keyspace, holding every shard (the file at start, an
/// AOF's base or preamble), a chunk at a time: memory holds the key being read, not the whole
/// file. Keys already expired are counted and dropped.
pub fn load_rdb_from(
    server: &Server,
    src: impl std::io::Read,
) -> Result<file::Loaded, file::LoadError> {
    let mut db = lock_everything_gated(server, unix_ms());
    load_rdb_into(server, &mut db, src, OnDuplicate::Replace)
}

/// What a load does with a key or a function library the keyspace already has.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OnDuplicate {
    /// The file's wins (an empty keyspace, DEBUG RELOAD MERGE).
    Replace,
    /// The load fails there (DEBUG RELOAD NOFLUSH without MERGE); what came before stays.
    Refuse,
}

/// [`load_rdb_from`] through `db`, which holds every shard.
pub fn load_rdb_into(
    server: &Server,
    db: &mut Db<'_>,
    src: impl std::io::Read,
    dup: OnDuplicate,
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
    // The header and aux fields come first: read them ahead for the log and INFO's
    // `loading_rdb_used_mem`, then parse from the start.
    use std::io::Read as _;
    let progress = &server.rdb.progress;
    let mut src = Counted {
        inner: src,
        count: &progress.loaded_bytes,
    };
    let mut head = Vec::new();
    if let Err(e) = (&mut src).take(AUX_PEEK).read_to_end(&mut head) {
        return Err(file::LoadError {
            offset: head.len(),
            error: rdb::RdbError::Corrupt(format!("read error: {e}")),
        });
    }
    for (k, v) in file::aux_fields(&head) {
        let v = String::from_utf8_lossy(&v);
        match &k[..] {
            b"redis-ver" => info!("Loading RDB produced by version {v}"),
            b"ctime" => {
                let age = (unix_ms() / 1000) as i64 - v.parse::<i64>().unwrap_or(0);
                info!("RDB age {} seconds", age.max(0));
            }
            b"used-mem" => {
                let m = v.parse::<u64>().unwrap_or(0);
                info!(
                    "RDB memory usage when created {:.2} Mb",
                    m as f64 / (1024.0 * 1024.0)
                );
                progress.rdb_used_mem.store(m, Relaxed);
            }
            _ => {}
        }
    }
    let src = std::io::Cursor::new(head).chain(src);
    let mut duplicate = None;
    let loaded = file::load_from(src, &limits, now, |index, key, mut entry| {
        if duplicate.is_some() {
            return;
        }
        db.index = index;
        if dup == OnDuplicate::Refuse && db.peek(key).is_some() {
            duplicate = Some((index, key.to_vec()));
            return;
        }
        entry.access = access;
        db.set_entry(key, entry);
        if let Some(d) = delay {
            std::thread::sleep(d);
        }
    })?;
    if let Some((index, key)) = duplicate {
        warn!(
            "RDB has duplicated key '{}' in DB {index}",
            crate::error::lossy(&key, 128)
        );
        return Err(file::LoadError {
            offset: loaded.end,
            error: rdb::RdbError::Corrupt("Duplicated key found in RDB file".into()),
        });
    }
    // The file's function libraries, each replacing one of the same name unless refused.
    server
        .functions
        .load_all(&loaded.functions, dup == OnDuplicate::Replace)
        .map_err(|e| file::LoadError {
            offset: loaded.end,
            error: rdb::RdbError::Corrupt(format!("Failed loading library: {e}")),
        })?;
    Ok(loaded)
}

/// Loads `dir/dbfilename` at start. Err: the message to log before exiting.
pub fn load_at_start(server: &Server) -> Result<(), String> {
    let path = rdb_path(server);
    let started = Instant::now();
    let loaded = match std::fs::File::open(&path) {
        Ok(f) => {
            let _loading = Loading::start(server, f.metadata().map_or(0, |m| m.len()));
            load_rdb_from(server, f).map(Some)
        }
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
                "Done loading RDB, keys loaded: {}, keys expired: {}.",
                l.keys, l.expired
            );
            if l.empty > 0 {
                warn!("Done loading RDB, empty keys skipped: {}.", l.empty);
            }
            info!(
                "DB loaded from disk: {:.3} seconds",
                started.elapsed().as_secs_f64()
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(started: u64, total: u64, loaded: u64) -> LoadProgress {
        let p = LoadProgress::default();
        p.started.store(started, Relaxed);
        p.total_bytes.store(total, Relaxed);
        p.loaded_bytes.store(loaded, Relaxed);
        p.rdb_used_mem.store(7, Relaxed);
        p
    }

    #[test]
    fn an_inner_load_leaves_the_flag_to_the_outer_one() {
        let server = Server::new(crate::config::Config::default());
        let loading = || server.rdb.loading.load(SeqCst);
        let outer = Loading::start(&server, 0);
        {
            let _inner = Loading::start(&server, 100);
            assert!(loading());
            assert_eq!(server.rdb.progress.total_bytes.load(Relaxed), 100);
        }
        assert!(loading());
        drop(outer);
        assert!(!loading());
    }

    #[test]
    fn loading_progress_as_redis_reports_it() {
        // 1,000 of 4,000 bytes in 10 s: 25%, 3,000 bytes left at 1,001 bytes per 10 s.
        assert_eq!(
            progress(100, 4000, 1000).info(110),
            "loading_start_time:100\r\nloading_total_bytes:4000\r\nloading_rdb_used_mem:7\r\nloading_loaded_bytes:1000\r\nloading_loaded_perc:25.00\r\nloading_eta_seconds:29\r\n"
        );
        // The first second says 1; an unknown total says 0% and a byte left.
        assert!(progress(100, 4000, 0)
            .info(100)
            .ends_with("loading_loaded_perc:0.00\r\nloading_eta_seconds:1\r\n"));
        assert!(progress(100, 0, 9)
            .info(102)
            .ends_with("loading_loaded_perc:0.00\r\nloading_eta_seconds:0\r\n"));
        // Reading past the total (an AOF's RDB part read ahead) stays at 100%.
        assert!(progress(100, 4000, 5000)
            .info(101)
            .contains("loading_loaded_bytes:4000\r\nloading_loaded_perc:100.00\r\n"));
    }
}
