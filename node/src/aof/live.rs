//! The AOF of a running server: the buffer applied writes are fed into (in the order they were
//! applied, while their shards are still locked), the write and fsync policy that runs before
//! replies go out, and the switch to a new incremental file that a rewrite does.
//!
//! Lock order: `file` before `pending`. Feeding takes only `pending`, so commands never wait
//! for a write or an fsync that another connection is doing, and the writer that holds `file`
//! takes whatever has been fed so far: a group commit.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tracing::warn;

use super::manifest::{self, AofFile, FileType, Manifest};
use super::Fsync;
use crate::resp::encode_command;

/// Commands fed and not yet written.
#[derive(Default)]
struct Pending {
    bytes: BytesMut,
    /// The database the file's last SELECT chose (None: none yet in this file).
    db: Option<usize>,
    /// The last `#TS:` annotation written (`aof-timestamp-enabled`).
    last_ts: u64,
}

/// The open incremental file and the manifest it belongs to.
pub struct Open {
    pub file: Arc<File>,
    pub dir: PathBuf,
    /// `appendfilename`, the prefix of every file name.
    pub prefix: String,
    pub manifest: Manifest,
    /// The sequence number the next base file gets (past every file ever listed).
    pub next_base_seq: u64,
    /// Bytes in the base file and in the incremental files (`aof_current_size`).
    pub base_size: u64,
    pub incr_size: u64,
    /// The manifest on disk does not list the current incremental file yet (AOF switched on
    /// at run time: the files only count once the first rewrite has written a base).
    pub unpersisted: bool,
}

impl Open {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes the manifest atomically (temp file, fsync, rename, directory fsync).
    pub fn persist_manifest(&mut self) -> std::io::Result<()> {
        let name = manifest::manifest_name(&self.prefix);
        write_atomic(&self.dir, &name, self.manifest.render().as_bytes())?;
        self.unpersisted = false;
        Ok(())
    }
}

/// Writes `dir/name` atomically through `dir/temp-name`.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(dir, name, |f| f.write_all(bytes))
}

/// Writes `dir/name` atomically with what `write` produces (buffered) through `dir/temp-name`.
pub fn write_atomic_with<T>(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut std::io::BufWriter<File>) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let tmp = dir.join(format!("temp-{name}"));
    let result = (|| {
        let mut f =
            std::io::BufWriter::with_capacity(crate::rdb::file::WRITE_BUFFER, File::create(&tmp)?);
        let t = write(&mut f)?;
        let f = f.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, dir.join(name))?;
        File::open(dir)?.sync_all()?;
        Ok(t)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// How a base file is written: as an RDB file (`aof-use-rdb-preamble yes`) or as commands
/// (values read back with these limits).
pub enum BaseFormat {
    Rdb(crate::rdb::file::Aux),
    /// Commands: values read back with these limits, and the function libraries' sources
    /// (FUNCTION LOAD first).
    Commands(crate::rdb::Limits, Vec<bytes::Bytes>),
}

impl BaseFormat {
    /// From the configuration now.
    pub fn of(server: &crate::server::Server) -> BaseFormat {
        if server.config.read().aof_use_rdb_preamble() {
            BaseFormat::Rdb(crate::persist::aux(server, true))
        } else {
            BaseFormat::Commands(
                crate::rdb::Limits::from_settings(&server.settings()),
                server.functions.codes(),
            )
        }
    }

    pub fn is_rdb(&self) -> bool {
        matches!(self, BaseFormat::Rdb(_))
    }
}

/// Writes `dir/name` atomically as a base file holding what `feed` hands out; returns its
/// size. `feed` always runs, so a background snapshot always ends.
pub fn save_base(
    dir: &Path,
    name: &str,
    format: &BaseFormat,
    feed: impl crate::rdb::file::Feed,
) -> std::io::Result<u64> {
    let mut feed = Some(feed);
    let r = write_atomic_with(dir, name, |w| match format {
        BaseFormat::Rdb(aux) => crate::rdb::file::stream(w, aux, &mut feed).map(|(_, n)| n),
        BaseFormat::Commands(limits, functions) => {
            let mut cw = super::plain::CommandWriter::new(w, *limits);
            for code in functions {
                cw.function(code)?;
            }
            let run = feed
                .take()
                .ok_or_else(|| std::io::Error::other("the snapshot was already written"))?;
            run(&mut |p| cw.part(p))
                .unwrap_or_else(|| Err(std::io::Error::other("no snapshot was started")))?;
            cw.finish().map(|(_, n)| n)
        }
    });
    crate::rdb::file::release(feed);
    r
}

/// Opens (creating) an incremental file for appending; returns it and its size.
pub fn open_append(path: &Path) -> std::io::Result<(File, u64)> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let size = f.metadata()?.len();
    Ok((f, size))
}

/// What `INFO persistence` shows about the AOF and its rewrites.
pub struct AofStats {
    pub rewrite_in_progress: AtomicBool,
    pub rewrite_scheduled: AtomicBool,
    /// Unix ms when the running rewrite started.
    pub rewrite_started_ms: AtomicU64,
    /// Seconds the last rewrite took; -1 before the first.
    pub last_rewrite_secs: AtomicI64,
    pub last_rewrite_ok: AtomicBool,
    pub rewrites: AtomicU64,
    pub consecutive_failures: AtomicU64,
    /// `aof_current_size` after the last rewrite (`aof_base_size`), the reference for
    /// `auto-aof-rewrite-percentage`.
    pub rewrite_base_size: AtomicU64,
    pub current_size: AtomicU64,
    /// fsyncs `everysec` found still running from the second before (`aof_delayed_fsync`).
    pub delayed_fsync: AtomicU64,
}

impl Default for AofStats {
    fn default() -> Self {
        AofStats {
            rewrite_in_progress: AtomicBool::new(false),
            rewrite_scheduled: AtomicBool::new(false),
            rewrite_started_ms: AtomicU64::new(0),
            last_rewrite_secs: AtomicI64::new(-1),
            last_rewrite_ok: AtomicBool::new(true),
            rewrites: AtomicU64::new(0),
            consecutive_failures: AtomicU64::new(0),
            rewrite_base_size: AtomicU64::new(0),
            current_size: AtomicU64::new(0),
            delayed_fsync: AtomicU64::new(0),
        }
    }
}

/// The AOF state shared by every connection.
pub struct Aof {
    /// Writes are fed (appendonly on, or being switched on by a rewrite).
    on: AtomicBool,
    policy: AtomicU8,
    timestamps: AtomicBool,
    pending: Mutex<Pending>,
    pub file: Mutex<Option<Open>>,
    /// Bytes fed, written and fsynced since start (positions in one endless stream).
    fed: AtomicU64,
    written: AtomicU64,
    synced: AtomicU64,
    /// The last write failed (`aof_last_write_status:err`); writes are refused meanwhile.
    write_failed: AtomicBool,
    last_error: Mutex<String>,
    /// An fsync is running on the `everysec` thread.
    fsync_running: AtomicBool,
    /// `always`: the highest offset a connection waits to see fsynced, the condition the
    /// fsync thread sleeps on, and how it wakes the connections.
    sync_wanted: Mutex<u64>,
    sync_wake: parking_lot::Condvar,
    synced_notify: tokio::sync::Notify,
    pub stats: AofStats,
}

impl Default for Aof {
    fn default() -> Self {
        Aof {
            on: AtomicBool::new(false),
            policy: AtomicU8::new(Fsync::EverySec as u8),
            timestamps: AtomicBool::new(false),
            pending: Mutex::new(Pending::default()),
            file: Mutex::new(None),
            fed: AtomicU64::new(0),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            write_failed: AtomicBool::new(false),
            last_error: Mutex::new(String::new()),
            fsync_running: AtomicBool::new(false),
            sync_wanted: Mutex::new(0),
            sync_wake: parking_lot::Condvar::new(),
            synced_notify: tokio::sync::Notify::new(),
            stats: AofStats::default(),
        }
    }
}

fn policy_from(v: u8) -> Fsync {
    match v {
        x if x == Fsync::Always as u8 => Fsync::Always,
        x if x == Fsync::No as u8 => Fsync::No,
        _ => Fsync::EverySec,
    }
}

impl Aof {
    /// Whether applied writes must be fed: one relaxed load, checked by dispatch per command.
    #[inline]
    pub fn on(&self) -> bool {
        self.on.load(Relaxed)
    }

    pub fn policy(&self) -> Fsync {
        policy_from(self.policy.load(Relaxed))
    }

    /// Applies `appendfsync` and `aof-timestamp-enabled`.
    pub fn configure(&self, policy: Fsync, timestamps: bool) {
        self.policy.store(policy as u8, Relaxed);
        self.timestamps.store(timestamps, Relaxed);
    }

    /// Starts feeding into `open` (at start, or when a rewrite switches the AOF on).
    pub fn start(&self, open: Open) {
        let size = open.base_size + open.incr_size;
        self.stats.current_size.store(size, Relaxed);
        if self.stats.rewrite_base_size.load(Relaxed) == 0 {
            self.stats.rewrite_base_size.store(size, Relaxed);
        }
        *self.file.lock() = Some(open);
        self.pending.lock().db = None;
        self.on.store(true, SeqCst);
    }

    /// Stops feeding: writes and fsyncs what is pending, then closes the file.
    pub fn stop(&self) {
        self.on.store(false, SeqCst);
        self.synced_notify.notify_waiters();
        let _ = self.write_out(true);
        *self.file.lock() = None;
        let mut p = self.pending.lock();
        p.bytes.clear();
        p.db = None;
    }

    /// The error writes get while the AOF cannot be written (Redis's `MISCONF` text).
    pub fn write_error(&self) -> Option<String> {
        if !self.write_failed.load(Relaxed) {
            return None;
        }
        Some(format!(
            "MISCONF Errors writing to the AOF file: {}",
            self.last_error.lock()
        ))
    }

    pub fn last_write_ok(&self) -> bool {
        !self.write_failed.load(Relaxed)
    }

    /// Bytes fed and not yet written (`aof_buffer_length`).
    pub fn buffered(&self) -> u64 {
        self.fed.load(Relaxed) - self.written.load(Relaxed)
    }

    pub fn fsync_running(&self) -> bool {
        self.fsync_running.load(Relaxed)
    }

    /// Appends commands applied together (`(db, args)` in order): one command as it is, more
    /// wrapped in MULTI/EXEC so a reader applies all of them or none.
    pub fn feed(&self, cmds: &[(usize, Vec<Bytes>)]) {
        if cmds.is_empty() {
            return;
        }
        let mut p = self.pending.lock();
        let before = p.bytes.len();
        if self.timestamps.load(Relaxed) {
            let now = crate::server::unix_ms() / 1000;
            if now > p.last_ts {
                p.bytes
                    .extend_from_slice(format!("#TS:{now}\r\n").as_bytes());
                p.last_ts = now;
            }
        }
        let p = &mut *p;
        encode_propagated(&mut p.bytes, &mut p.db, cmds);
        let n = (p.bytes.len() - before) as u64;
        self.fed.fetch_add(n, Release);
    }

    /// Called before replies are sent: what was fed is written to the file (and fsynced with
    /// `appendfsync always`), so no client sees an acknowledgement of a write the file lacks.
    /// One atomic load when there is nothing to do.
    #[inline]
    pub async fn before_reply(&self) {
        let fed = self.fed.load(Acquire);
        let always = self.policy() == Fsync::Always;
        if self.done(always) >= fed {
            return;
        }
        if !always {
            // A write(2) is quick: done here.
            self.flush_or_die(fed);
            return;
        }
        // `always`: first let the other connections this worker has ready run (as Redis
        // serves every ready client before its one fsync per event-loop round), so one fsync
        // takes all their writes too; then the fsync thread writes and fsyncs everything fed
        // so far while this worker goes on serving.
        tokio::task::yield_now().await;
        loop {
            let synced = self.synced_notify.notified();
            tokio::pin!(synced);
            synced.as_mut().enable();
            if self.done(true) >= fed || !self.on() || self.policy() != Fsync::Always {
                return;
            }
            {
                let mut want = self.sync_wanted.lock();
                *want = (*want).max(fed);
            }
            self.sync_wake.notify_one();
            synced.await;
        }
    }

    /// The `always` fsync thread: waits for a connection to want bytes synced, then writes and
    /// fsyncs everything fed so far (a group commit) and wakes the waiting connections.
    pub fn sync_loop(&self) {
        loop {
            {
                let mut want = self.sync_wanted.lock();
                while *want <= self.synced.load(Acquire) {
                    self.sync_wake
                        .wait_for(&mut want, std::time::Duration::from_secs(1));
                }
            }
            let before = self.synced.load(Acquire);
            if let Err(e) = self.write_out(true) {
                if self.policy() == Fsync::Always {
                    warn!("Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...: {e}");
                    std::process::exit(1);
                }
            }
            self.synced_notify.notify_waiters();
            if !self.on() {
                // Switched off: nobody waits any more (waiters return when the AOF is off).
                let mut want = self.sync_wanted.lock();
                *want = (*want).min(self.synced.load(Acquire));
            } else if self.synced.load(Acquire) == before {
                // No progress (a write error under `everysec`): retry, without spinning.
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }

    /// Bytes fsynced (`always`) or written so far.
    fn done(&self, always: bool) -> u64 {
        if always {
            self.synced.load(Acquire)
        } else {
            self.written.load(Acquire)
        }
    }

    /// Writes out up to at least `target` (fsyncing under `always`). Whoever holds the file
    /// writes and fsyncs everything fed so far, so the connections that waited for it find
    /// their bytes done and return: one fsync serves them all (a group commit). A failure
    /// under `always` stops the server, as Redis does, since acknowledged writes could
    /// otherwise be lost.
    pub fn flush_or_die(&self, target: u64) {
        let always = self.policy() == Fsync::Always;
        let mut guard = self.file.lock();
        if self.done(always) >= target {
            return;
        }
        let result = match guard.as_mut() {
            Some(open) => self.write_locked(open, always),
            None => Ok(()),
        };
        drop(guard);
        if let Err(e) = result {
            if always {
                warn!("Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...: {e}");
                std::process::exit(1);
            }
        }
    }

    /// Writes what is pending to the current file, then fsyncs when `fsync`.
    pub fn write_out(&self, fsync: bool) -> std::io::Result<()> {
        let mut guard = self.file.lock();
        let Some(open) = guard.as_mut() else {
            return Ok(());
        };
        self.write_locked(open, fsync)
    }

    /// [`Aof::write_out`] with `file` already held (a rewrite switching files).
    pub fn write_locked(&self, open: &mut Open, fsync: bool) -> std::io::Result<()> {
        let (chunk, end) = {
            let mut p = self.pending.lock();
            (p.bytes.split().freeze(), self.fed.load(Acquire))
        };
        if !chunk.is_empty() {
            if let Err(e) = (&*open.file).write_all(&chunk) {
                // Cut the file back to whole commands and keep the bytes for the next try.
                let _ = open.file.set_len(open.incr_size);
                let mut p = self.pending.lock();
                let rest = p.bytes.split();
                p.bytes.extend_from_slice(&chunk);
                p.bytes.unsplit(rest);
                self.fail(&e);
                return Err(e);
            }
            open.incr_size += chunk.len() as u64;
            self.stats
                .current_size
                .fetch_add(chunk.len() as u64, Relaxed);
            self.written.store(end, Release);
        }
        if self.write_failed.swap(false, Relaxed) {
            warn!("AOF write error looks solved, Redis can write again.");
        }
        if fsync && self.synced.load(Acquire) < end {
            if let Err(e) = open.file.sync_data() {
                self.fail(&e);
                return Err(e);
            }
            self.synced.store(end, Release);
        }
        Ok(())
    }

    fn fail(&self, e: &std::io::Error) {
        if !self.write_failed.swap(true, Relaxed) {
            warn!("Error writing to the AOF file: {e}");
        }
        *self.last_error.lock() = e.to_string();
    }

    /// The once-a-second work of `everysec` (also writes out under `no`, so commands nobody
    /// waits for, like active expiry's DELs, reach the file): the fsync runs without holding
    /// any lock feeders or writers need.
    pub fn every_second(&self) {
        if !self.on() {
            return;
        }
        let policy = self.policy();
        let _ = self.write_out(false);
        if policy != Fsync::EverySec {
            return;
        }
        let written = self.written.load(Acquire);
        if self.synced.load(Acquire) >= written {
            return;
        }
        let Some(file) = self.file.lock().as_ref().map(|o| o.file.clone()) else {
            return;
        };
        self.fsync_running.store(true, Relaxed);
        let ok = file.sync_data();
        self.fsync_running.store(false, Relaxed);
        match ok {
            Ok(()) => {
                self.synced.fetch_max(written, Release);
            }
            Err(e) => self.fail(&e),
        }
    }

    /// Starts a new incremental file for a rewrite: writes out and fsyncs the current one,
    /// opens `<prefix>.<seq>.incr.aof`, lists it in the manifest (persisted unless the AOF is
    /// being switched on) and makes the next feed start with a SELECT. The caller holds every
    /// shard, so no command is applied in between.
    pub fn switch_incr(&self, open: &mut Open) -> std::io::Result<AofFile> {
        self.write_locked(open, true)?;
        let seq = open.manifest.next_incr_seq();
        let name = manifest::incr_name(&open.prefix, seq);
        let (f, size) = open_append(&open.path(&name))?;
        let entry = AofFile {
            name,
            seq,
            kind: FileType::Incr,
        };
        open.manifest.incrs.push(entry.clone());
        if !open.unpersisted {
            if let Err(e) = open.persist_manifest() {
                open.manifest.incrs.pop();
                return Err(e);
            }
        }
        tracing::info!(
            "Creating AOF incr file {} on background rewrite",
            entry.name
        );
        open.file = Arc::new(f);
        open.base_size += open.incr_size;
        open.incr_size = size;
        self.pending.lock().db = None;
        Ok(entry)
    }
}

/// Encodes commands applied together (`(db, args)` in order) for the AOF or a replication
/// stream whose last SELECT chose `selected`: one command as it is, more wrapped in
/// MULTI/EXEC so a reader applies all of them or none.
pub fn encode_propagated(
    out: &mut BytesMut,
    selected: &mut Option<usize>,
    cmds: &[(usize, Vec<Bytes>)],
) {
    let mut select = |out: &mut BytesMut, db: usize| {
        if *selected != Some(db) {
            encode_command(out, &["SELECT", itoa::Buffer::new().format(db)]);
            *selected = Some(db);
        }
    };
    let Some(first) = cmds.first() else {
        return;
    };
    let wrap = cmds.len() > 1;
    if wrap {
        select(out, first.0);
        encode_command(out, &["MULTI"]);
    }
    for (db, args) in cmds {
        select(out, *db);
        encode_command(out, args);
    }
    if wrap {
        encode_command(out, &["EXEC"]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_in(dir: &Path) -> Open {
        std::fs::create_dir_all(dir).unwrap();
        let name = manifest::incr_name("appendonly.aof", 1);
        let (f, size) = open_append(&dir.join(&name)).unwrap();
        Open {
            file: Arc::new(f),
            dir: dir.to_path_buf(),
            prefix: "appendonly.aof".into(),
            manifest: Manifest {
                base: None,
                incrs: vec![AofFile {
                    name,
                    seq: 1,
                    kind: FileType::Incr,
                }],
                history: vec![],
            },
            next_base_seq: 1,
            base_size: 0,
            incr_size: size,
            unpersisted: false,
        }
    }

    fn cmd(args: &[&str]) -> Vec<Bytes> {
        args.iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    fn read_cmds(path: &Path) -> Vec<String> {
        let bytes = std::fs::read(path).unwrap();
        let mut got = Vec::new();
        let end = super::super::parse_commands(&bytes, |a| {
            got.push(
                a.iter()
                    .map(|x| String::from_utf8_lossy(x).into_owned())
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        });
        assert_eq!(end, Ok(super::super::End::Complete));
        got
    }

    #[test]
    fn feeds_select_wraps_and_writes_before_replies() {
        let dir = std::env::temp_dir().join(format!("ferrodis-aof-live-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let aof = Aof::default();
        aof.configure(Fsync::Always, false);
        aof.start(open_in(&dir));
        aof.feed(&[(0, cmd(&["SET", "a", "1"]))]);
        aof.feed(&[(2, cmd(&["DEL", "x"])), (2, cmd(&["SET", "x", "2"]))]);
        assert!(aof.buffered() > 0);
        aof.flush_or_die(u64::MAX);
        assert_eq!(aof.buffered(), 0);
        let path = dir.join("appendonly.aof.1.incr.aof");
        assert_eq!(
            read_cmds(&path),
            ["SELECT 0", "SET a 1", "SELECT 2", "MULTI", "DEL x", "SET x 2", "EXEC"]
        );
        // A new incremental file starts with its own SELECT and is listed in the manifest.
        let mut guard = aof.file.lock();
        let open = guard.as_mut().unwrap();
        let next = aof.switch_incr(open).unwrap();
        drop(guard);
        assert_eq!(next.name, "appendonly.aof.2.incr.aof");
        aof.feed(&[(2, cmd(&["INCR", "n"]))]);
        aof.flush_or_die(u64::MAX);
        assert_eq!(read_cmds(&dir.join(&next.name)), ["SELECT 2", "INCR n"]);
        let text = std::fs::read_to_string(dir.join("appendonly.aof.manifest")).unwrap();
        assert!(
            text.contains("appendonly.aof.2.incr.aof seq 2 type i"),
            "{text}"
        );
        aof.stop();
        assert!(!aof.on());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
