//! Whole RDB files: `REDIS0010`, auxiliary fields, one section per non-empty database
//! (`SELECTDB`, `RESIZEDB`, entries), `EOF` and the CRC-64 of everything before it.

use std::io::Write;
use std::path::Path;

use super::{opcode, write_len, write_string, Limits, RdbError, Reader, RDB_VERSION};
use crate::db::{Entry, Snapshot, Value, NDBS};

/// Fields written as `AUX` records.
pub struct Aux {
    pub ctime: u64,
    pub used_mem: u64,
    /// 1 when the file is the base of an AOF (`aof-use-rdb-preamble`).
    pub aof_base: bool,
}

/// The bytes of an RDB file holding `snap`.
pub fn encode(snap: &Snapshot, aux: &Aux) -> Vec<u8> {
    let size: usize = snap.dbs.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(size + 256);
    out.extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
    let field = |out: &mut Vec<u8>, k: &str, v: &str| {
        out.push(opcode::AUX);
        write_string(out, k.as_bytes(), false);
        write_string(out, v.as_bytes(), false);
    };
    field(&mut out, "redis-ver", crate::REDIS_VERSION);
    field(&mut out, "redis-bits", "64");
    field(&mut out, "ctime", &aux.ctime.to_string());
    field(&mut out, "used-mem", &aux.used_mem.to_string());
    field(&mut out, "aof-base", if aux.aof_base { "1" } else { "0" });
    for (db, entries) in snap.dbs.iter().enumerate() {
        let (keys, expires) = snap.counts[db];
        if keys == 0 {
            continue;
        }
        out.push(opcode::SELECTDB);
        write_len(&mut out, db as u64);
        out.push(opcode::RESIZEDB);
        write_len(&mut out, keys);
        write_len(&mut out, expires);
        out.extend_from_slice(entries);
    }
    out.push(opcode::EOF);
    let crc = super::crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Writes `bytes` to `path` atomically: a temp file in the same directory, fsync, rename,
/// fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!("temp-{}.rdb", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// What loading a file found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub keys: u64,
    pub expired: u64,
    /// Empty aggregates skipped (Redis skips them too).
    pub empty: u64,
    /// RDB version of the file.
    pub version: u16,
    /// Where the RDB data ended (after the checksum): an AOF with an RDB preamble continues
    /// with commands there.
    pub end: usize,
}

/// A file that could not be loaded: what went wrong and where.
#[derive(Debug, PartialEq, Eq)]
pub struct LoadError {
    pub offset: usize,
    pub error: RdbError,
}

/// Parses an RDB file, handing each live key to `put(db, key, entry)`; keys already expired
/// at `now` are counted and dropped, as a primary does.
pub fn load(
    bytes: &[u8],
    limits: &Limits,
    now: u64,
    mut put: impl FnMut(usize, &[u8], Entry),
) -> Result<Loaded, LoadError> {
    let mut r = Reader::new(bytes);
    let fail = |r: &Reader<'_>, error: RdbError| LoadError {
        offset: r.position(),
        error,
    };
    let magic = r.take(9).map_err(|e| fail(&r, e))?;
    if &magic[..5] != b"REDIS" {
        return Err(fail(
            &r,
            RdbError::Corrupt("wrong signature trying to load DB from file".into()),
        ));
    }
    let version: u16 = std::str::from_utf8(&magic[5..])
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| fail(&r, RdbError::Corrupt("bad version".into())))?;
    if !(1..=RDB_VERSION).contains(&version) {
        return Err(fail(
            &r,
            RdbError::Corrupt(format!("Can't handle RDB format version {version}")),
        ));
    }
    let mut loaded = Loaded {
        version,
        ..Loaded::default()
    };
    let mut db = 0usize;
    let mut expire_at = 0u64;
    loop {
        let t = r.u8().map_err(|e| fail(&r, e))?;
        match t {
            opcode::EXPIRETIME_MS => {
                let b = r.take(8).map_err(|e| fail(&r, e))?;
                expire_at = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
            }
            opcode::EXPIRETIME => {
                let b = r.take(4).map_err(|e| fail(&r, e))?;
                expire_at = u32::from_le_bytes(b.try_into().unwrap_or([0; 4])) as u64 * 1000;
            }
            opcode::IDLE => {
                r.len().map_err(|e| fail(&r, e))?;
            }
            opcode::FREQ => {
                r.u8().map_err(|e| fail(&r, e))?;
            }
            opcode::SELECTDB => {
                let n = r.len().map_err(|e| fail(&r, e))?;
                if n >= NDBS as u64 {
                    return Err(fail(
                        &r,
                        RdbError::Corrupt(format!("FATAL: Data file was created with a Redis server configured to handle more than {NDBS} databases")),
                    ));
                }
                db = n as usize;
            }
            opcode::RESIZEDB => {
                r.len().map_err(|e| fail(&r, e))?;
                r.len().map_err(|e| fail(&r, e))?;
            }
            opcode::AUX => {
                r.string().map_err(|e| fail(&r, e))?;
                r.string().map_err(|e| fail(&r, e))?;
            }
            opcode::MODULE_AUX | opcode::FUNCTION2 | opcode::FUNCTION_PRE_GA => {
                return Err(fail(&r, RdbError::Unsupported(t)));
            }
            opcode::EOF => {
                if version >= 5 {
                    let end = r.position();
                    let b = r.take(8).map_err(|e| fail(&r, e))?;
                    let want = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
                    let got = super::crc64(&bytes[..end]);
                    if want != 0 && want != got {
                        return Err(LoadError {
                            offset: end,
                            error: RdbError::Corrupt(format!(
                                "Wrong RDB checksum expected: ({want:x}) got ({got:x})"
                            )),
                        });
                    }
                }
                loaded.end = r.position();
                return Ok(loaded);
            }
            _ => {
                let key = r.string().map_err(|e| fail(&r, e))?;
                let value: Result<Value, RdbError> = r.read_value(t, limits);
                let at = std::mem::take(&mut expire_at);
                match value {
                    Ok(value) => {
                        if at != 0 && at < now {
                            loaded.expired += 1;
                        } else {
                            loaded.keys += 1;
                            put(db, &key, Entry::new(value, at, 0));
                        }
                    }
                    Err(RdbError::EmptyKey) => loaded.empty += 1,
                    Err(e) => return Err(fail(&r, e)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Keyspace, ViewCtx};

    fn limits() -> Limits {
        Limits {
            hash: crate::db::types::hash::Limits {
                entries: 128,
                value: 64,
            },
            set_max_intset: 512,
            zset: Default::default(),
        }
    }

    fn view(db: usize) -> ViewCtx {
        ViewCtx {
            db,
            now: 1000,
            mode: Default::default(),
        }
    }

    #[test]
    fn file_round_trip() {
        let ks = Keyspace::new();
        {
            let mut d = ks.lock_all(view(0));
            d.set(b"a", Value::string(b"1"), false);
            d.set(b"b", Value::string(b"hello"), false);
            d.set_expire(b"b", 5000);
            d.index = 3;
            d.set(b"c", Value::string(&[b'z'; 100]), false);
        }
        let snap = ks.lock_all(view(0)).snapshot_now(true).unwrap();
        assert_eq!(snap.keys(), 3);
        let bytes = encode(
            &snap,
            &Aux {
                ctime: 1,
                used_mem: 2,
                aof_base: false,
            },
        );
        assert!(bytes.starts_with(b"REDIS0010"));
        let mut got = Vec::new();
        let loaded = load(&bytes, &limits(), 1000, |db, k, e| {
            got.push((db, k.to_vec(), e.expire_at))
        })
        .unwrap();
        assert_eq!(loaded.keys, 3);
        got.sort();
        assert_eq!(
            got,
            vec![
                (0, b"a".to_vec(), 0),
                (0, b"b".to_vec(), 5000),
                (3, b"c".to_vec(), 0)
            ]
        );
        // Loading later drops the expired key.
        let loaded = load(&bytes, &limits(), 6000, |_, _, _| {}).unwrap();
        assert_eq!((loaded.keys, loaded.expired), (2, 1));
        // Every truncation and a flipped byte are errors, never panics.
        for cut in 0..bytes.len() {
            assert!(load(&bytes[..cut], &limits(), 0, |_, _, _| {}).is_err());
        }
        let mut flipped = bytes.clone();
        flipped[20] ^= 0x40;
        assert!(load(&flipped, &limits(), 0, |_, _, _| {}).is_err());
    }

    #[test]
    fn background_snapshot_is_point_in_time() {
        let ks = Keyspace::new();
        {
            let mut d = ks.lock_all(view(0));
            for i in 0..1000 {
                d.set(format!("k{i}").as_bytes(), Value::string(b"old"), false);
            }
            assert!(d.start_snapshot(&ks, false));
            assert!(!d.start_snapshot(&ks, false));
        }
        // Writes after the start, through ordinary views, must not show in the snapshot.
        for i in 0..1000 {
            let (key, extra) = (format!("k{i}"), format!("extra{i}"));
            let slots = [
                crate::db::key_slot(key.as_bytes()),
                crate::db::key_slot(extra.as_bytes()),
            ];
            let mut d = ks.lock_slots(&slots, view(0));
            d.set(key.as_bytes(), Value::string(b"new"), false);
            d.set(extra.as_bytes(), Value::Int(1), false);
        }
        let snap = ks.finish_snapshot().unwrap();
        assert!(!ks.snapshot_in_progress());
        assert_eq!(snap.keys(), 1000);
        let bytes = encode(
            &snap,
            &Aux {
                ctime: 0,
                used_mem: 0,
                aof_base: false,
            },
        );
        let mut n = 0;
        load(&bytes, &limits(), 0, |_, k, e| {
            assert!(k.starts_with(b"k"));
            assert!(matches!(&e.value, Value::Str(s) if s.as_slice() == b"old"));
            n += 1;
        })
        .unwrap();
        assert_eq!(n, 1000);
    }
}
