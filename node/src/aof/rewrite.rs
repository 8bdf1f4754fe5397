//! Switching the AOF on (at start or by `CONFIG SET appendonly yes`), rewriting it
//! (`BGREWRITEAOF`, `auto-aof-rewrite-percentage`) and switching it off.
//!
//! A rewrite never stops clients: holding every shard for a moment, it closes the current
//! incremental file, opens the next one (listed in the manifest at once, so a crash meanwhile
//! loads old base + old increments + new increment) and marks a point-in-time snapshot
//! ([`crate::db::Snapshot`]); a thread then streams the snapshot into the new base (RDB format,
//! `aof-use-rdb-preamble`) and installs it in the manifest, the older files becoming history
//! that is deleted.

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;
use std::time::Instant;

use tracing::{info, warn};

use super::live::{open_append, save_base, BaseFormat, Open};
use super::manifest::{self, AofFile, FileType, Manifest};
use super::Fsync;
use crate::db::Db;
use crate::server::{unix_ms, Server};

/// What a rewrite request did.
#[derive(Debug, PartialEq, Eq)]
pub enum Started {
    Started,
    /// A BGSAVE holds the snapshot: the rewrite starts when it ends.
    Scheduled,
}

/// Applies `appendfsync` and `aof-timestamp-enabled` from the configuration.
pub fn configure(server: &Server) {
    let c = server.config.read();
    server
        .aof
        .configure(Fsync::parse(c.appendfsync()), c.aof_timestamp_enabled());
}

/// The sizes of the files `m` lists, by name, in `dir`.
fn size_of(dir: &std::path::Path, f: &AofFile) -> u64 {
    std::fs::metadata(dir.join(&f.name)).map_or(0, |m| m.len())
}

/// At start, after loading (`loaded`: the manifest the data came from, if any): opens the
/// current incremental file for appending, or creates the base and the first incremental
/// file, as Redis 7.0 does. Err: the message to log before exiting.
pub fn open_at_start(server: &Server, loaded: Option<Manifest>) -> Result<(), String> {
    configure(server);
    let (dir, prefix) = {
        let c = server.config.read();
        (c.aof_dir(), c.appendfilename())
    };
    std::fs::create_dir_all(&dir).map_err(|e| {
        format!(
            "Can't open or create append-only dir {}: {e}",
            dir.display()
        )
    })?;
    let mut m = loaded.unwrap_or_default();
    let mut persist = false;
    if m.base.is_none() && m.incrs.is_empty() {
        // No AOF yet: a base holding the current dataset (empty, or loaded from the RDB file).
        let seq = m.next_base_seq();
        let format = BaseFormat::of(server);
        let name = manifest::base_name(&prefix, seq, format.is_rdb());
        let mut db = crate::persist::lock_everything(server, unix_ms());
        let compress = server.settings().rdbcompression && format.is_rdb();
        save_base(&dir, &name, &format, |sink| db.snapshot_now(compress, sink))
            .map_err(|e| format!("Can't create the AOF base file {name}: {e}"))?;
        drop(db);
        info!("Creating AOF base file {name} on server start");
        m.base = Some(AofFile {
            name,
            seq,
            kind: FileType::Base,
        });
        persist = true;
    }
    let current = match m.incrs.last() {
        Some(f) => {
            info!("Opening AOF incr file {} on server start", f.name);
            f.clone()
        }
        None => {
            let seq = m.next_incr_seq();
            let f = AofFile {
                name: manifest::incr_name(&prefix, seq),
                seq,
                kind: FileType::Incr,
            };
            info!("Creating AOF incr file {} on server start", f.name);
            m.incrs.push(f.clone());
            persist = true;
            f
        }
    };
    let (f, incr_size) = open_append(&dir.join(&current.name))
        .map_err(|e| format!("Can't open the append-only file {}: {e}", current.name))?;
    let others: u64 = m
        .base
        .iter()
        .chain(m.incrs.iter().filter(|i| i.name != current.name))
        .map(|f| size_of(&dir, f))
        .sum();
    let mut open = Open {
        next_base_seq: m.next_base_seq(),
        file: Arc::new(f),
        dir,
        prefix,
        manifest: m,
        base_size: others,
        incr_size,
        unpersisted: false,
    };
    if persist {
        open.persist_manifest()
            .map_err(|e| format!("Can't persist the AOF manifest: {e}"))?;
    }
    server.aof.start(open);
    start_fsync_thread(server);
    Ok(())
}

/// The `everysec` thread: once a second, writes out what is pending and fsyncs.
fn start_fsync_thread(server: &Server) {
    static STARTED: std::sync::Once = std::sync::Once::new();
    let Some(me) = server.arc() else {
        return;
    };
    let weak = Arc::downgrade(&me);
    drop(me);
    STARTED.call_once(|| {
        if let Some(s) = weak.upgrade() {
            let _ = std::thread::Builder::new()
                .name("aof-always".into())
                .spawn(move || s.aof.sync_loop());
        }
        let _ = std::thread::Builder::new()
            .name("aof-fsync".into())
            .spawn(move || loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
                match weak.upgrade() {
                    Some(s) => s.aof.every_second(),
                    None => return,
                }
            });
    });
}

/// A fresh AOF for `CONFIG SET appendonly yes`: files a previous run left become history, a
/// new incremental file is opened; nothing is listed on disk until the first base is written.
fn fresh(server: &Server) -> std::io::Result<Open> {
    let (dir, prefix) = {
        let c = server.config.read();
        (c.aof_dir(), c.appendfilename())
    };
    std::fs::create_dir_all(&dir)?;
    let old = std::fs::read_to_string(dir.join(manifest::manifest_name(&prefix)))
        .ok()
        .and_then(|t| Manifest::parse(&t).ok())
        .unwrap_or_default();
    let mut m = Manifest {
        base: None,
        incrs: Vec::new(),
        history: Vec::new(),
    };
    let history = old
        .base
        .iter()
        .chain(old.incrs.iter())
        .chain(old.history.iter());
    m.history = history
        .map(|f| AofFile {
            kind: FileType::History,
            ..f.clone()
        })
        .collect();
    // Sequence numbers continue past every file a previous run listed.
    let base_seq = old.next_base_seq();
    let incr_seq = old.next_incr_seq();
    let name = manifest::incr_name(&prefix, incr_seq);
    let (f, size) = open_append(&dir.join(&name))?;
    m.incrs.push(AofFile {
        name,
        seq: incr_seq,
        kind: FileType::Incr,
    });
    Ok(Open {
        next_base_seq: base_seq,
        file: Arc::new(f),
        dir,
        prefix,
        manifest: m,
        base_size: 0,
        incr_size: size,
        unpersisted: true,
    })
}

/// Starts a rewrite through `db`, which holds every shard. Switches the AOF on first when it
/// is off (`CONFIG SET appendonly yes`).
pub fn start(server: &Server, db: &mut Db<'_>) -> Result<Started, String> {
    let st = &server.aof.stats;
    if st.rewrite_in_progress.load(SeqCst) {
        return Err("Background append only file rewriting already in progress".into());
    }
    if server.keyspace.snapshot_in_progress() {
        st.rewrite_scheduled.store(true, SeqCst);
        return Ok(Started::Scheduled);
    }
    let Some(me) = server.arc() else {
        return Err("server is shutting down".into());
    };
    let enabling = !server.aof.on();
    if enabling {
        configure(server);
        let open = fresh(server).map_err(|e| format!("Can't open the append-only file: {e}"))?;
        server.aof.start(open);
        start_fsync_thread(server);
    }
    let base_seq = {
        let mut guard = server.aof.file.lock();
        let Some(open) = guard.as_mut() else {
            return Err("the AOF is off".into());
        };
        if !enabling {
            server
                .aof
                .switch_incr(open)
                .map_err(|e| format!("Can't open a new AOF incr file: {e}"))?;
        }
        open.next_base_seq
    };
    // The format is chosen now: a base as commands is written from an uncompressed snapshot.
    let format = BaseFormat::of(server);
    let compress = server.settings().rdbcompression && format.is_rdb();
    if !db.start_snapshot(&server.keyspace, compress) {
        st.rewrite_scheduled.store(true, SeqCst);
        return Ok(Started::Scheduled);
    }
    st.rewrite_in_progress.store(true, SeqCst);
    st.rewrite_scheduled.store(false, SeqCst);
    st.rewrite_started_ms.store(unix_ms(), SeqCst);
    info!("Background append only file rewriting started");
    let spawned = std::thread::Builder::new()
        .name("aof-rewrite".into())
        .spawn(move || finish(&me, base_seq, &format));
    if spawned.is_err() {
        server.keyspace.abandon_snapshot();
        st.rewrite_in_progress.store(false, SeqCst);
        st.last_rewrite_ok.store(false, SeqCst);
        return Err("Can't start the background rewrite thread".into());
    }
    Ok(Started::Started)
}

/// Starts a rewrite through a fresh view holding every shard (cron, CONFIG SET).
pub fn start_now(server: &Server) -> Result<Started, String> {
    let mut db = crate::persist::lock_everything(server, unix_ms());
    start(server, &mut db)
}

/// The rewrite thread: writes the snapshot as base `base_seq`, then installs it.
fn finish(server: &Server, base_seq: u64, format: &BaseFormat) {
    let started = Instant::now();
    let st = &server.aof.stats;
    let result = write_base(server, base_seq, format);
    st.last_rewrite_secs
        .store(started.elapsed().as_secs() as i64, SeqCst);
    match result {
        Ok(name) => {
            st.last_rewrite_ok.store(true, SeqCst);
            st.rewrites.fetch_add(1, SeqCst);
            st.consecutive_failures.store(0, SeqCst);
            info!("Successfully renamed the temporary AOF base file into {name}");
            info!("Background AOF rewrite terminated with success");
            info!("Background AOF rewrite finished successfully");
        }
        Err(e) => {
            st.last_rewrite_ok.store(false, SeqCst);
            st.consecutive_failures.fetch_add(1, SeqCst);
            warn!("Background AOF rewrite failed: {e}");
        }
    }
    st.rewrite_in_progress.store(false, SeqCst);
}

fn write_base(server: &Server, base_seq: u64, format: &BaseFormat) -> Result<String, String> {
    let ks = &server.keyspace;
    let Some((dir, prefix)) = server
        .aof
        .file
        .lock()
        .as_ref()
        .map(|o| (o.dir.clone(), o.prefix.clone()))
    else {
        ks.abandon_snapshot();
        return Err("the AOF was switched off during the rewrite".into());
    };
    let name = manifest::base_name(&prefix, base_seq, format.is_rdb());
    let base_size = save_base(&dir, &name, format, |sink| ks.finish_snapshot(sink))
        .map_err(|e| e.to_string())?;
    let mut guard = server.aof.file.lock();
    let Some(open) = guard.as_mut().filter(|o| o.dir == dir) else {
        let _ = std::fs::remove_file(dir.join(&name));
        return Err("the AOF was switched off during the rewrite".into());
    };
    // The increments written before the switch are in the new base: they become history.
    let m = &mut open.manifest;
    let current = m.incrs.pop();
    let mut history: Vec<AofFile> = m.base.take().into_iter().collect();
    history.append(&mut m.incrs);
    history.append(&mut m.history);
    m.history = history
        .into_iter()
        .map(|f| AofFile {
            kind: FileType::History,
            ..f
        })
        .collect();
    m.base = Some(AofFile {
        name: name.clone(),
        seq: base_seq,
        kind: FileType::Base,
    });
    m.incrs.extend(current);
    open.persist_manifest()
        .map_err(|e| format!("Can't persist the AOF manifest: {e}"))?;
    let disable_gc = server
        .config
        .read()
        .get_str("aof-disable-auto-gc")
        .as_deref()
        == Some("yes");
    if !disable_gc && !open.manifest.history.is_empty() {
        for f in std::mem::take(&mut open.manifest.history) {
            let _ = std::fs::remove_file(open.dir.join(&f.name));
            info!("Removing the history file {} in the background", f.name);
        }
        open.persist_manifest()
            .map_err(|e| format!("Can't persist the AOF manifest: {e}"))?;
    }
    open.next_base_seq = base_seq + 1;
    open.base_size = base_size;
    let size = open.base_size + open.incr_size;
    server.aof.stats.current_size.store(size, SeqCst);
    server.aof.stats.rewrite_base_size.store(size, SeqCst);
    Ok(name)
}

/// Called by the cron: switches the AOF on when the configuration asks and it is off, starts
/// a scheduled rewrite once the BGSAVE holding the snapshot is done, and an automatic one
/// when the AOF has grown by `auto-aof-rewrite-percentage` over its size after the last
/// rewrite (and is over `auto-aof-rewrite-min-size`).
pub fn cron(server: &Server) {
    let st = &server.aof.stats;
    if st.rewrite_in_progress.load(SeqCst) || server.keyspace.snapshot_in_progress() {
        return;
    }
    let want = server.config.read().appendonly();
    if want != server.aof.on() {
        if want {
            if let Err(e) = start_now(server) {
                warn!("Can't switch the AOF on: {e}");
            }
        } else {
            server.aof.stop();
        }
        return;
    }
    if !want {
        return;
    }
    if st.rewrite_scheduled.load(SeqCst) {
        let _ = start_now(server);
        return;
    }
    let (percent, min_size) = server.config.read().auto_aof_rewrite();
    let size = st.current_size.load(Relaxed);
    let base = st.rewrite_base_size.load(Relaxed).max(1);
    if percent > 0 && size > min_size {
        let growth = (size * 100 / base).saturating_sub(100);
        // After a failed rewrite, wait a little before trying again.
        let failures = st.consecutive_failures.load(Relaxed);
        let since = unix_ms().saturating_sub(st.rewrite_started_ms.load(Relaxed));
        if growth >= percent && (failures == 0 || since > 60_000) {
            info!("Starting automatic rewriting of AOF on {growth}% growth");
            if let Err(e) = start_now(server) {
                warn!("Can't start the automatic AOF rewrite: {e}");
            }
        }
    }
}

/// `CONFIG SET appendonly|appendfsync|aof-timestamp-enabled`. `locked`: the caller holds
/// shards (inside EXEC), so switching on is left to the cron.
pub fn config_changed(server: &Server, name: &str, locked: bool) {
    match name {
        "appendfsync" | "aof-timestamp-enabled" => configure(server),
        "appendonly" => {
            let want = server.config.read().appendonly();
            if !want && server.aof.on() {
                server.aof.stop();
                info!("Background append only file rewriting stopped: the AOF is off");
            } else if want && !server.aof.on() && !locked {
                if let Err(e) = start_now(server) {
                    warn!("Can't switch the AOF on: {e}");
                }
            }
        }
        _ => {}
    }
}
