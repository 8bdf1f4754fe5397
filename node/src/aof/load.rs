//! Loading the AOF at start (`appendonly yes`): the manifest, then the base (RDB, or commands
//! with an optional RDB preamble), then every incremental file, each command replayed through
//! dispatch. A cut-short last command of the last file is dropped (the file truncated to its
//! whole commands) when `aof-load-truncated` allows it; anything else unreadable stops the
//! server with the file, the offset and how to repair it.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use tracing::{info, warn};

use super::manifest::{self, AofFile, FileType, Manifest};
use super::{parse_commands, End};
use crate::dispatch::{self, Client};
use crate::server::Server;

/// Loads the AOF the configuration names. `Ok(None)`: there is none yet (no manifest).
/// Err: the message to log before exiting.
pub fn load_at_start(server: &Server) -> Result<Option<Manifest>, String> {
    let truncated_ok = server.config.read().aof_load_truncated();
    let Places {
        dir,
        prefix,
        manifest: mpath,
        old_style,
    } = Places::of(server);
    let found = match std::fs::read(&mpath) {
        Ok(text) => {
            let text = String::from_utf8(text)
                .map_err(|_| format!("Invalid AOF manifest file format ({})", mpath.display()))?;
            Some(Manifest::parse(&text).map_err(|e| format!("{e} ({})", mpath.display()))?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(format!(
                "Fatal error: can't open the AOF manifest {} for reading: {e}",
                mpath.display()
            ))
        }
    };
    let found = upgrade_old_style(&old_style, &dir, &prefix, found)?;
    let Some(m) = found else {
        return Ok(None);
    };
    let started = Instant::now();
    let mut replayer = Replayer::new(server);
    let files: Vec<_> = m.load_order().cloned().collect();
    let total = files
        .iter()
        .map(|f| std::fs::metadata(dir.join(&f.name)).map_or(0, |m| m.len()))
        .sum();
    let _loading = crate::persist::Loading::start(server, total);
    for (i, f) in files.iter().enumerate() {
        let last = i + 1 == files.len();
        let path = dir.join(&f.name);
        let t = Instant::now();
        if f.kind == FileType::Base {
            info!("Reading RDB base file on AOF loading...");
        }
        let n = load_file(&mut replayer, &path, &f.name, last && truncated_ok, last)?;
        let what = if f.kind == FileType::Base {
            "base"
        } else {
            "incr"
        };
        info!(
            "DB loaded from {what} file {}: {:.3} seconds",
            f.name,
            t.elapsed().as_secs_f64()
        );
        let _ = n;
    }
    server.dirty.store(0, SeqCst);
    server.rdb.loaded_keys.store(replayer.rdb_keys, Relaxed);
    server
        .rdb
        .loaded_expired
        .store(replayer.rdb_expired, Relaxed);
    info!(
        "DB loaded from append only file: {:.3} seconds",
        started.elapsed().as_secs_f64()
    );
    Ok(Some(m))
}

/// A single `appendonly.aof` in `dir`, as Redis before 7.0 wrote it (`old_style`), becomes
/// the base of the AOF directory, as Redis 7.0 does at start: when the directory has no
/// manifest, or one listing just that file as base with the file not in the directory (an
/// upgrade cut short). The file keeps its name (`file appendonly.aof seq 1 type b`); the
/// manifest is written first, then the file is moved in. Returns the manifest to load.
fn upgrade_old_style(
    old_style: &Path,
    dir: &Path,
    prefix: &str,
    found: Option<Manifest>,
) -> Result<Option<Manifest>, String> {
    if !old_style.is_file() {
        return Ok(found);
    }
    let interrupted = |m: &Manifest| {
        m.incrs.is_empty()
            && m.base.as_ref().is_some_and(|b| b.name == prefix)
            && !dir.join(prefix).exists()
    };
    let mut m = match found {
        None => Manifest::default(),
        Some(m) if interrupted(&m) => m,
        Some(m) => return Ok(Some(m)),
    };
    std::fs::create_dir_all(dir).map_err(|e| {
        format!(
            "Can't open or create append-only dir {}: {e}",
            dir.display()
        )
    })?;
    m.base = Some(AofFile {
        name: prefix.to_string(),
        seq: 1,
        kind: FileType::Base,
    });
    super::live::write_atomic(dir, &manifest::manifest_name(prefix), m.render().as_bytes())
        .map_err(|e| format!("Can't persist the AOF manifest: {e}"))?;
    std::fs::rename(old_style, dir.join(prefix)).map_err(|e| {
        format!(
            "Error trying to rename the existing AOF to the new AOF directory {}: {e}",
            dir.display()
        )
    })?;
    info!(
        "Successfully migrated an old-style AOF file ({prefix}) into the AOF directory ({}).",
        dir.file_name().map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned()
        )
    );
    Ok(Some(m))
}

/// Where the AOF is: its directory and file prefix, the manifest, and the single file of
/// the old style (before the directory).
struct Places {
    dir: PathBuf,
    prefix: String,
    manifest: PathBuf,
    old_style: PathBuf,
}

impl Places {
    fn of(server: &Server) -> Places {
        let c = server.config.read();
        let (dir, prefix) = (c.aof_dir(), c.appendfilename());
        Places {
            manifest: dir.join(manifest::manifest_name(&prefix)),
            old_style: PathBuf::from(c.dir()).join(&prefix),
            dir,
            prefix,
        }
    }
}

/// The bytes [`load_at_start`] will read, if there is an AOF to load: the files of the AOF
/// directory when it has a manifest, else the old-style file.
pub fn size_on_disk(server: &Server) -> Option<u64> {
    let p = Places::of(server);
    let size = |p: &Path| std::fs::metadata(p).ok().map(|m| m.len());
    if p.manifest.exists() {
        let files = std::fs::read_dir(&p.dir).ok()?;
        Some(files.flatten().filter_map(|f| size(&f.path())).sum())
    } else {
        size(&p.old_style)
    }
}

/// Replays commands through dispatch with a client of its own.
struct Replayer<'s> {
    server: &'s Server,
    client: Client,
    out: BytesMut,
    rdb_keys: u64,
    rdb_expired: u64,
}

impl<'s> Replayer<'s> {
    fn new(server: &'s Server) -> Self {
        let info = server.register_client("aof".into(), String::new(), -1);
        let mut client = Client::new(info, &server.settings());
        client.authenticated = true;
        client.deny_blocking = true;
        client.obey = true;
        Replayer {
            server,
            client,
            out: BytesMut::new(),
            rdb_keys: 0,
            rdb_expired: 0,
        }
    }

    fn replay(&mut self, args: &[Bytes]) -> Result<(), String> {
        let settings = self.server.settings();
        let r = dispatch::replay(
            self.server,
            &settings,
            &mut self.client,
            args,
            &mut self.out,
        );
        self.out.clear();
        r
    }
}

impl Drop for Replayer<'_> {
    fn drop(&mut self) {
        self.server.unregister_client(self.client.info.id);
    }
}

/// Loads one file: an RDB (base `.rdb`, or the preamble of an old-style `.aof`) followed by
/// commands. `truncated_ok`: a cut-short tail is dropped with a warning.
fn load_file(
    r: &mut Replayer<'_>,
    path: &Path,
    name: &str,
    truncated_ok: bool,
    last: bool,
) -> Result<u64, String> {
    use std::io::{Read, Seek, SeekFrom};
    let unreadable = |e: std::io::Error| {
        format!("Fatal error: can't open the append log file {name} for reading: {e}")
    };
    let mut f = std::fs::File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!("The AOF file {name} doesn't exist")
        } else {
            unreadable(e)
        }
    })?;
    let mut head = Vec::with_capacity(5);
    (&mut f)
        .take(5)
        .read_to_end(&mut head)
        .map_err(unreadable)?;
    let mut at = 0;
    if head == b"REDIS" {
        // The RDB part is read a chunk at a time (a base can be as large as the dataset).
        f.seek(SeekFrom::Start(0)).map_err(unreadable)?;
        let l = crate::persist::load_rdb_from(r.server, &mut f).map_err(|e| {
            format!(
                "Bad file format reading the RDB part of the append only file {name} at offset {} ({}): make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>",
                e.offset, e.error
            )
        })?;
        info!(
            "Done loading RDB, keys loaded: {}, keys expired: {}.",
            l.keys, l.expired
        );
        r.rdb_keys += l.keys;
        r.rdb_expired += l.expired;
        at = l.end;
    }
    // The commands after it (all of a file without one).
    f.seek(SeekFrom::Start(at as u64)).map_err(unreadable)?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).map_err(unreadable)?;
    let progress = &r.server.rdb.progress;
    progress.loaded_bytes.fetch_add(bytes.len() as u64, Relaxed);
    let mut failed = None;
    let mut n = 0u64;
    let end = parse_commands(&bytes, |args| {
        if failed.is_none() {
            n += 1;
            if let Err(e) = r.replay(&args) {
                failed = Some(e);
            }
        }
    });
    if let Some(e) = failed {
        return Err(format!("{e} reading the append only file {name}"));
    }
    match end {
        Ok(End::Complete) => Ok(n),
        Ok(End::Truncated { valid_len }) => {
            let valid = (at + valid_len) as u64;
            if !truncated_ok {
                if last {
                    warn!("Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.");
                } else {
                    warn!("Fatal error: the truncated file is not the last file");
                }
                return Err(format!(
                    "Unrecoverable error: the append only file {name} ends with an incomplete command at offset {valid}"
                ));
            }
            warn!("!!! Warning: short read while loading the AOF file {name}!!!");
            warn!("!!! Truncating the AOF {name} at offset {valid} !!!");
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|f| f.set_len(valid).and_then(|_| f.sync_all()));
            if let Err(e) = f {
                return Err(format!(
                    "Error truncating the AOF file {name}: {e}. Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"
                ));
            }
            warn!("AOF {name} loaded anyway because aof-load-truncated is enabled");
            Ok(n)
        }
        Err(bad) => Err(format!(
            "Bad file format reading the append only file {name} (at offset {}): make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>",
            at + bad.offset
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_style_file_moves_in_only_when_redis_would() {
        let root =
            std::env::temp_dir().join(format!("ferrodis-aof-upgrade-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let (old, dir) = (root.join("appendonly.aof"), root.join("appendonlydir"));
        let upgraded = "file appendonly.aof seq 1 type b\n";
        // No old file: nothing happens.
        assert_eq!(
            upgrade_old_style(&old, &dir, "appendonly.aof", None),
            Ok(None)
        );
        assert!(!dir.exists());
        // No directory yet: the file moves in as the base.
        std::fs::write(&old, b"*1\r\n$4\r\nPING\r\n").unwrap();
        let m = upgrade_old_style(&old, &dir, "appendonly.aof", None)
            .unwrap()
            .unwrap();
        assert_eq!(m.render(), upgraded);
        assert!(!old.exists() && dir.join("appendonly.aof").exists());
        let on_disk = std::fs::read_to_string(dir.join("appendonly.aof.manifest")).unwrap();
        assert_eq!(on_disk, upgraded);
        // An upgrade cut short after the manifest was written: the move is done again.
        std::fs::rename(dir.join("appendonly.aof"), &old).unwrap();
        let m = upgrade_old_style(&old, &dir, "appendonly.aof", Some(m))
            .unwrap()
            .unwrap();
        assert_eq!(m.render(), upgraded);
        assert!(!old.exists());
        // A directory already in use keeps its manifest; the stray file stays where it is.
        std::fs::write(&old, b"*1\r\n$4\r\nPING\r\n").unwrap();
        let used = Manifest::parse(
            "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.3.incr.aof seq 3 type i\n",
        )
        .unwrap();
        let m = upgrade_old_style(&old, &dir, "appendonly.aof", Some(used.clone())).unwrap();
        assert_eq!(m, Some(used));
        assert!(old.exists());
        let _ = std::fs::remove_dir_all(&root);
    }
}
