//! Whole RDB files: `REDIS0010`, auxiliary fields, one section per non-empty database
//! (`SELECTDB`, `RESIZEDB`, entries), `EOF` and the CRC-64 of everything before it.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::{opcode, write_len, write_string, Limits, RdbError, Reader, RDB_VERSION};
use crate::db::{Entry, Part, Value, NDBS};

/// Fields written as `AUX` records.
pub struct Aux {
    pub ctime: u64,
    pub used_mem: u64,
    /// 1 when the file is the base of an AOF (`aof-use-rdb-preamble`).
    pub aof_base: bool,
    /// The function libraries, as RDB records (see [`crate::functions::write_record`]),
    /// written after the aux fields.
    pub functions: Vec<u8>,
}

/// Writes an RDB file as its parts come: the header and aux fields at once, then each part
/// of a snapshot ([`crate::db::Part`]), then `EOF` and the CRC-64 computed along the way, so
/// a snapshot is never held whole in memory.
pub struct Encoder<W: Write> {
    w: W,
    crc: crc::Digest<'static, u64>,
    /// Bytes written so far.
    len: u64,
    /// Scratch for opcodes and lengths.
    head: Vec<u8>,
}

impl<W: Write> Encoder<W> {
    /// Starts a file on `w` with `REDIS0010` and the aux fields.
    pub fn new(w: W, aux: &Aux) -> std::io::Result<Encoder<W>> {
        let mut e = Encoder {
            w,
            crc: super::CRC64.digest(),
            len: 0,
            head: Vec::with_capacity(256),
        };
        let out = &mut e.head;
        out.extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
        let field = |out: &mut Vec<u8>, k: &str, v: &str| {
            out.push(opcode::AUX);
            write_string(out, k.as_bytes(), false);
            write_string(out, v.as_bytes(), false);
        };
        field(out, "redis-ver", crate::REDIS_VERSION);
        field(out, "redis-bits", "64");
        field(out, "ctime", &aux.ctime.to_string());
        field(out, "used-mem", &aux.used_mem.to_string());
        field(out, "aof-base", if aux.aof_base { "1" } else { "0" });
        out.extend_from_slice(&aux.functions);
        e.flush_head()?;
        Ok(e)
    }

    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.crc.update(bytes);
        self.len += bytes.len() as u64;
        self.w.write_all(bytes)
    }

    fn flush_head(&mut self) -> std::io::Result<()> {
        let head = std::mem::take(&mut self.head);
        let r = self.put(&head);
        self.head = head;
        self.head.clear();
        r
    }

    /// Appends one part of a snapshot.
    pub fn part(&mut self, part: Part<'_>) -> std::io::Result<()> {
        match part {
            Part::Db {
                index,
                keys,
                expires,
            } => {
                self.head.push(opcode::SELECTDB);
                write_len(&mut self.head, index as u64);
                self.head.push(opcode::RESIZEDB);
                write_len(&mut self.head, keys);
                write_len(&mut self.head, expires);
                self.flush_head()
            }
            Part::Entries(bytes) => self.put(bytes),
        }
    }

    /// Ends the file (`EOF`, CRC-64) and flushes it; returns the writer and the file's size.
    pub fn finish(mut self) -> std::io::Result<(W, u64)> {
        self.put(&[opcode::EOF])?;
        let crc = self.crc.finalize();
        self.len += 8;
        self.w.write_all(&crc.to_le_bytes())?;
        self.w.flush()?;
        Ok((self.w, self.len))
    }
}

/// What hands a snapshot to a sink part by part: [`crate::db::Keyspace::finish_snapshot`] or
/// [`crate::db::Db::snapshot_now`] wrapped in a closure. None: there was no snapshot to hand.
pub trait Feed:
    FnOnce(&mut dyn FnMut(Part<'_>) -> std::io::Result<()>) -> Option<std::io::Result<()>>
{
}
impl<F> Feed for F where
    F: FnOnce(&mut dyn FnMut(Part<'_>) -> std::io::Result<()>) -> Option<std::io::Result<()>>
{
}

/// Streams the snapshot `feed` hands out to `w` as a whole RDB file; returns the writer and
/// the file's size. Takes `feed` out of its option: whatever is left there after a failure
/// must go through [`release`], so a background snapshot always ends.
pub fn stream<W: Write, F: Feed>(
    w: W,
    aux: &Aux,
    feed: &mut Option<F>,
) -> std::io::Result<(W, u64)> {
    let mut enc = Encoder::new(w, aux)?;
    let run = feed
        .take()
        .ok_or_else(|| std::io::Error::other("the snapshot was already written"))?;
    run(&mut |p| enc.part(p))
        .unwrap_or_else(|| Err(std::io::Error::other("no snapshot was started")))?;
    enc.finish()
}

/// Ends a snapshot [`stream`] did not get to (its file could not be created).
pub fn release<F: Feed>(feed: Option<F>) {
    if let Some(run) = feed {
        let _ = run(&mut |_| Err(std::io::Error::other("not written")));
    }
}

/// Writes `path` atomically as an RDB file holding what `feed` hands out; returns its size.
pub fn save<F: Feed>(path: &Path, aux: &Aux, feed: F) -> std::io::Result<u64> {
    let mut feed = Some(feed);
    let r = write_atomic_with(path, |w| stream(w, aux, &mut feed).map(|(_, n)| n));
    release(feed);
    r
}

/// The bytes of an RDB file holding what `feed` hands out.
pub fn encode<F: Feed>(aux: &Aux, feed: F) -> std::io::Result<Vec<u8>> {
    write_to(Vec::new(), aux, feed)
}

/// Writes an RDB file holding what `feed` hands out to `w` (flushed); returns the writer.
pub fn write_to<W: Write, F: Feed>(w: W, aux: &Aux, feed: F) -> std::io::Result<W> {
    let mut feed = Some(feed);
    let r = stream(w, aux, &mut feed).map(|(w, _)| w);
    release(feed);
    r
}

/// Writes `path` atomically with what `write` produces: a temp file in the same directory
/// (buffered), fsync, rename, fsync of the directory.
pub fn write_atomic_with<T>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!("temp-{}.rdb", std::process::id()));
    let result = (|| {
        let mut f = BufWriter::with_capacity(WRITE_BUFFER, File::create(&tmp)?);
        let t = write(&mut f)?;
        let f = f.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()?;
        Ok(t)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The buffer between snapshot chunks and a file.
pub const WRITE_BUFFER: usize = 64 * 1024;

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
    /// The function libraries' sources, in file order.
    pub functions: Vec<bytes::Bytes>,
}

/// A file that could not be loaded: what went wrong and where.
#[derive(Debug, PartialEq, Eq)]
pub struct LoadError {
    pub offset: usize,
    pub error: RdbError,
}

/// Parses an RDB file held whole in memory, handing each live key to `put(db, key, entry)`;
/// keys already expired at `now` are counted and dropped, as a primary does.
pub fn load(
    bytes: &[u8],
    limits: &Limits,
    now: u64,
    mut put: impl FnMut(usize, &[u8], Entry),
) -> Result<Loaded, LoadError> {
    let mut loader = Loader::new(limits, now);
    loader.feed(bytes, &mut put)?;
    loader.finish(bytes.len())
}

/// What [`load_from`] reads at a time: also the most a file load holds beyond its largest
/// single key, and the steps in which INFO's `loading_loaded_bytes` moves.
pub const READ_CHUNK: usize = 64 << 10;

/// Parses an RDB file as `src` yields it, a chunk at a time (see [`Loader`]): memory holds
/// the key being read, not the whole file. Stops after the checksum, so `Loaded::end` is
/// where anything that follows (an AOF's commands) starts.
pub fn load_from(
    src: impl std::io::Read,
    limits: &Limits,
    now: u64,
    put: impl FnMut(usize, &[u8], Entry),
) -> Result<Loaded, LoadError> {
    load_in_chunks(src, READ_CHUNK, limits, now, put)
}

/// [`load_from`] reading `chunk` bytes at a time (less at the end of the data).
fn load_in_chunks(
    mut src: impl std::io::Read,
    chunk: usize,
    limits: &Limits,
    now: u64,
    mut put: impl FnMut(usize, &[u8], Entry),
) -> Result<Loaded, LoadError> {
    let mut loader = Loader::new(limits, now);
    let mut buf: Vec<u8> = Vec::new();
    let mut want = chunk;
    loop {
        let before = buf.len();
        buf.resize(before + want, 0);
        let mut got = 0;
        while got < want {
            match src.read(&mut buf[before + got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(LoadError {
                        offset: loader.consumed + before + got,
                        error: RdbError::Corrupt(format!("read error: {e}")),
                    })
                }
            }
        }
        buf.truncate(before + got);
        let used = loader.feed(&buf, &mut put)?;
        if loader.done.is_some() || got < want {
            let total = loader.consumed + buf.len() - used;
            return loader.finish(total);
        }
        buf.drain(..used);
        // An item larger than what is held: read as much again, so each retry at least
        // doubles what it parses and a huge key costs about twice its size, not its square.
        want = chunk.max(buf.len());
    }
}

/// The aux fields (name, value) at the start of an RDB file, as far as `head` (its first
/// bytes) holds them whole; none if it is not an RDB file.
pub fn aux_fields(head: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut fields = Vec::new();
    let mut r = Reader::new(head);
    if r.take(9).ok().and_then(|m| m.get(..5)) != Some(b"REDIS") {
        return fields;
    }
    while r.u8() == Ok(opcode::AUX) {
        match (r.string(), r.string()) {
            (Ok(k), Ok(v)) => fields.push((k, v)),
            _ => break,
        }
    }
    fields
}

/// An RDB parser fed a piece at a time: [`Loader::feed`] takes the complete items at the front
/// of what it is given and says how many bytes they were; the caller keeps the rest (an item
/// cut short), appends what comes next and feeds again. Nothing of a cut item is applied, so
/// the pieces may be cut anywhere.
pub struct Loader<'l> {
    limits: &'l Limits,
    now: u64,
    version: Option<u16>,
    db: usize,
    expire_at: u64,
    loaded: Loaded,
    crc: crc::Digest<'static, u64>,
    /// Bytes used by earlier feeds.
    consumed: usize,
    /// Set once the `EOF` item (and its checksum) is read.
    done: Option<()>,
}

impl<'l> Loader<'l> {
    pub fn new(limits: &'l Limits, now: u64) -> Loader<'l> {
        Loader {
            limits,
            now,
            version: None,
            db: 0,
            expire_at: 0,
            loaded: Loaded::default(),
            crc: super::CRC64.digest(),
            consumed: 0,
            done: None,
        }
    }

    /// Parses the complete items at the front of `bytes` (which continue what earlier feeds
    /// used); returns how many bytes they take. Stops at the end of the file.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        put: &mut impl FnMut(usize, &[u8], Entry),
    ) -> Result<usize, LoadError> {
        let mut r = Reader::new(bytes);
        let mut used = 0;
        while self.done.is_none() {
            match self.item(&mut r, bytes, put) {
                Ok(()) => used = r.position(),
                Err(RdbError::Truncated) => break,
                Err(error) => {
                    return Err(LoadError {
                        offset: self.consumed + r.position(),
                        error,
                    })
                }
            }
        }
        if self.done.is_none() {
            self.crc.update(&bytes[..used]);
        }
        self.consumed += used;
        Ok(used)
    }

    /// What was loaded, once the end was read; `total`: the bytes given, for the offset of
    /// an error when the data stopped short of the end.
    pub fn finish(mut self, total: usize) -> Result<Loaded, LoadError> {
        if self.done.is_none() {
            return Err(LoadError {
                offset: total,
                error: RdbError::Truncated,
            });
        }
        self.loaded.end = self.consumed;
        Ok(self.loaded)
    }

    /// One item: the header, an opcode and its arguments, or a key and its value. State
    /// changes only once the whole item is read (a cut one is read again, whole, later).
    fn item(
        &mut self,
        r: &mut Reader<'_>,
        bytes: &[u8],
        put: &mut impl FnMut(usize, &[u8], Entry),
    ) -> Result<(), RdbError> {
        let Some(version) = self.version else {
            let magic = r.take(9)?;
            if &magic[..5] != b"REDIS" {
                return Err(RdbError::Corrupt(
                    "wrong signature trying to load DB from file".into(),
                ));
            }
            let version: u16 = std::str::from_utf8(&magic[5..])
                .ok()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| RdbError::Corrupt("bad version".into()))?;
            if !(1..=RDB_VERSION).contains(&version) {
                return Err(RdbError::Corrupt(format!(
                    "Can't handle RDB format version {version}"
                )));
            }
            self.version = Some(version);
            self.loaded.version = version;
            return Ok(());
        };
        let t = r.u8()?;
        match t {
            opcode::EXPIRETIME_MS => {
                let b = r.take(8)?;
                self.expire_at = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
            }
            opcode::EXPIRETIME => {
                let b = r.take(4)?;
                self.expire_at = u32::from_le_bytes(b.try_into().unwrap_or([0; 4])) as u64 * 1000;
            }
            opcode::IDLE => {
                r.len()?;
            }
            opcode::FREQ => {
                r.u8()?;
            }
            opcode::SELECTDB => {
                let n = r.len()?;
                if n >= NDBS as u64 {
                    return Err(RdbError::Corrupt(format!("FATAL: Data file was created with a Redis server configured to handle more than {NDBS} databases")));
                }
                self.db = n as usize;
            }
            opcode::RESIZEDB => {
                r.len()?;
                r.len()?;
            }
            opcode::AUX => {
                r.string()?;
                r.string()?;
            }
            opcode::FUNCTION2 => {
                let code = r.string()?;
                self.loaded.functions.push(code.into());
            }
            opcode::MODULE_AUX | opcode::FUNCTION_PRE_GA => {
                return Err(RdbError::Unsupported(t));
            }
            opcode::EOF => {
                // The checksum covers everything up to and with the EOF opcode.
                let end = r.position();
                if version >= 5 {
                    let b = r.take(8)?;
                    let want = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
                    let mut crc = self.crc.clone();
                    crc.update(&bytes[..end]);
                    let got = crc.finalize();
                    if want != 0 && want != got {
                        return Err(RdbError::Corrupt(format!(
                            "Wrong RDB checksum expected: ({want:x}) got ({got:x})"
                        )));
                    }
                }
                self.done = Some(());
            }
            _ => {
                let key = r.string()?;
                let value: Result<Value, RdbError> = r.read_value(t, self.limits);
                match value {
                    Ok(value) => {
                        let at = std::mem::take(&mut self.expire_at);
                        if at != 0 && at < self.now {
                            self.loaded.expired += 1;
                        } else {
                            self.loaded.keys += 1;
                            put(self.db, &key, Entry::new(value, at, 0));
                        }
                    }
                    Err(RdbError::EmptyKey) => {
                        self.expire_at = 0;
                        self.loaded.empty += 1;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
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

    /// The RDB file of everything `ks` holds.
    fn file_of(ks: &Keyspace) -> Vec<u8> {
        let aux = Aux {
            ctime: 1,
            used_mem: 2,
            aof_base: false,
            functions: Vec::new(),
        };
        let mut d = ks.lock_all(view(0));
        encode(&aux, |sink| d.snapshot_now(true, sink)).unwrap()
    }

    #[test]
    fn aux_fields_are_read_from_the_head() {
        let field = |head: &[u8], name: &[u8]| {
            aux_fields(head)
                .into_iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v)
        };
        let bytes = file_of(&Keyspace::new());
        assert_eq!(aux_fields(&bytes).len(), 5);
        assert_eq!(field(&bytes, b"used-mem"), Some(b"2".to_vec()));
        assert_eq!(field(&bytes, b"ctime"), Some(b"1".to_vec()));
        assert_eq!(field(&bytes, b"nope"), None);
        // Cut short anywhere: the fields whole before the cut.
        let all = aux_fields(&bytes);
        for cut in 0..bytes.len() {
            let got = aux_fields(&bytes[..cut]);
            assert_eq!(got[..], all[..got.len()], "cut at {cut}");
        }
        assert_eq!(aux_fields(&bytes[..12]), vec![]);
        assert_eq!(aux_fields(b"HELLO0010\xfa"), vec![]);
        // Redis writes numbers as integer-encoded strings (0xc2: 32 bits).
        let mut head = b"REDIS0010\xfa\x08used-mem\xc2".to_vec();
        head.extend_from_slice(&19_035_720u32.to_le_bytes());
        assert_eq!(field(&head, b"used-mem"), Some(b"19035720".to_vec()));
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
        let bytes = file_of(&ks);
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

    /// A reader that yields at most `step` bytes per read.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// A loaded key: database, name, expiry time, value as its DUMP payload.
    type Got = (usize, Vec<u8>, u64, Vec<u8>);

    /// What a load returned, and the keys it handed out (sorted).
    fn loaded_by(
        load: impl FnOnce(&mut dyn FnMut(usize, &[u8], Entry)) -> Result<Loaded, LoadError>,
    ) -> (Result<Loaded, LoadError>, Vec<Got>) {
        let mut got = Vec::new();
        let r = load(&mut |db, k, e| {
            got.push((
                db,
                k.to_vec(),
                e.expire_at,
                crate::rdb::dump(&e.value, false),
            ))
        });
        got.sort();
        (r, got)
    }

    #[test]
    fn a_file_read_in_pieces_loads_as_a_whole_one() {
        use crate::db::types::list::ListValue;
        use crate::db::types::zset::ZSetValue;
        let ks = Keyspace::new();
        {
            let mut d = ks.lock_all(view(0));
            d.set(b"small", Value::string(b"1"), false);
            d.set(b"expiring", Value::string(b"v"), false);
            d.set_expire(b"expiring", 5000);
            d.set(b"gone", Value::string(b"v"), false);
            d.set_expire(b"gone", 10);
            // Compressible and not: LZF and plain strings larger than a piece.
            d.set(b"zeros", Value::string(&[b'z'; 5000]), false);
            let noise: Vec<u8> = (0..3000u32).map(|i| (i * 7919 % 251) as u8).collect();
            d.set(b"noise", Value::string(&noise), false);
            let mut l = ListValue::new();
            for i in 0..500 {
                l.push_back(format!("element-{i}").as_bytes());
            }
            d.set(b"list", Value::List(Box::new(l)), false);
            let mut z = ZSetValue::new();
            for i in 0..200 {
                z.insert(format!("m{i}").as_bytes(), i as f64 / 3.0);
            }
            d.set(b"zset", Value::ZSet(Box::new(z)), false);
            d.index = 5;
            d.set(b"in5", Value::string(b"x"), false);
        }
        let mut bytes = file_of(&ks);
        let (whole, want) = loaded_by(|put| load(&bytes, &limits(), 1000, put));
        let whole = whole.unwrap();
        assert_eq!((whole.keys, whole.expired, whole.end), (7, 1, bytes.len()));
        for chunk in [1, 2, 3, 7, 64, 1000, 4096, bytes.len()] {
            // Reads that return less than asked, too.
            let src = Trickle {
                data: &bytes,
                step: 5,
            };
            let (r, got) = loaded_by(|put| load_in_chunks(src, chunk, &limits(), 1000, put));
            assert_eq!(r.as_ref(), Ok(&whole), "chunks of {chunk}");
            assert!(got == want, "chunks of {chunk}: other keys");
        }
        // It stops after the checksum: what follows (an AOF's commands) is not read as RDB.
        let end = bytes.len();
        bytes.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        let r = load_from(
            Trickle {
                data: &bytes,
                step: 5,
            },
            &limits(),
            1000,
            |_, _, _| {},
        );
        assert_eq!(r.map(|l| l.end), Ok(end));
        bytes.truncate(end);
        // Cut anywhere: an error (the data ends early), never a panic or a partial success.
        for cut in (0..bytes.len()).step_by(7) {
            let r = load_in_chunks(&bytes[..cut], 3, &limits(), 1000, |_, _, _| {});
            assert_eq!(
                r.map_err(|e| e.error),
                Err(RdbError::Truncated),
                "cut at {cut}"
            );
        }
        // A wrong checksum is found in pieces too.
        let mut flipped = bytes.clone();
        flipped[end - 9] ^= 1;
        let r = load_from(
            Trickle {
                data: &flipped,
                step: 10,
            },
            &limits(),
            1000,
            |_, _, _| {},
        );
        assert!(
            matches!(
                r,
                Err(LoadError {
                    error: RdbError::Corrupt(_),
                    ..
                })
            ),
            "{r:?}"
        );
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
        let aux = Aux {
            ctime: 0,
            used_mem: 0,
            aof_base: false,
            functions: Vec::new(),
        };
        let bytes = encode(&aux, |sink| ks.finish_snapshot(sink)).unwrap();
        assert!(!ks.snapshot_in_progress());
        let mut n = 0;
        load(&bytes, &limits(), 0, |_, k, e| {
            assert!(k.starts_with(b"k"));
            assert!(matches!(&e.value, Value::Str(s) if s.as_slice() == b"old"));
            n += 1;
        })
        .unwrap();
        assert_eq!(n, 1000);
    }

    /// Writes through ordinary views: `i` picks keys across databases 0..3.
    fn scribble(ks: &Keyspace, i: usize) {
        for db in 0..3 {
            let key = match i % 3 {
                2 => format!("new{i}"),
                _ => format!("k{}", (i * 7 + db * 13) % 500),
            };
            let slots = [crate::db::key_slot(key.as_bytes())];
            let mut d = ks.lock_slots(&slots, view(db));
            match i % 3 {
                0 => d.set(key.as_bytes(), Value::string(b"changed"), false),
                1 => {
                    d.remove(key.as_bytes());
                }
                _ => d.set(key.as_bytes(), Value::Int(i as i64), false),
            }
        }
    }

    #[test]
    fn streamed_background_snapshot_is_the_bytes_of_a_save_then() {
        let ks = Keyspace::new();
        let aux = Aux {
            ctime: 7,
            used_mem: 8,
            aof_base: true,
            functions: Vec::new(),
        };
        let expected = {
            let mut d = ks.lock_all(view(0));
            for db in [0, 1, 2, 9] {
                d.index = db;
                for i in 0..500 {
                    let k = format!("k{i}");
                    d.set(
                        k.as_bytes(),
                        Value::string(format!("{db}-{i}").as_bytes()),
                        false,
                    );
                    if i % 5 == 0 {
                        d.set_expire(k.as_bytes(), 1_000_000 + i);
                    }
                }
            }
            let bytes = encode(&aux, |sink| d.snapshot_now(false, sink)).unwrap();
            assert!(d.start_snapshot(&ks, false));
            bytes
        };
        // Clients keep writing while the snapshot is being written, between its chunks.
        let mut n = 0;
        let mut parts = 0;
        let got = encode(&aux, |sink| {
            ks.finish_snapshot(|p| {
                parts += 1;
                scribble(&ks, n);
                n += 1;
                sink(p)
            })
        })
        .unwrap();
        assert!(parts > 4 * 2, "{parts} parts");
        assert!(!ks.snapshot_in_progress());
        assert_eq!(got.len(), expected.len());
        assert!(
            got == expected,
            "the background snapshot differs from SAVE's"
        );
        // A failing sink still ends the snapshot and releases every shard.
        let mut d = ks.lock_all(view(0));
        assert!(d.start_snapshot(&ks, true));
        drop(d);
        let mut calls = 0;
        let r = ks.finish_snapshot(|_| {
            calls += 1;
            Err(std::io::Error::other("disk full"))
        });
        assert!(matches!(r, Some(Err(_))));
        assert_eq!(calls, 1);
        assert!(!ks.snapshot_in_progress());
        assert!(ks.finish_snapshot(|_| Ok(())).is_none());
        let mut d = ks.lock_all(view(0));
        assert!(d.start_snapshot(&ks, true));
        drop(d);
        ks.abandon_snapshot();
        assert!(!ks.snapshot_in_progress());
    }

    #[test]
    fn a_file_that_cannot_be_created_still_ends_the_snapshot() {
        let ks = Keyspace::new();
        let mut d = ks.lock_all(view(0));
        d.set(b"k", Value::string(b"v"), false);
        assert!(d.start_snapshot(&ks, true));
        drop(d);
        let aux = Aux {
            ctime: 0,
            used_mem: 0,
            aof_base: false,
            functions: Vec::new(),
        };
        let missing = std::env::temp_dir()
            .join(format!("ferrodis-no-such-dir-{}", std::process::id()))
            .join("dump.rdb");
        assert!(save(&missing, &aux, |sink| ks.finish_snapshot(sink)).is_err());
        assert!(!ks.snapshot_in_progress());
        // The next one starts and is written whole.
        let mut d = ks.lock_all(view(0));
        assert!(d.start_snapshot(&ks, true));
        drop(d);
        let bytes = encode(&aux, |sink| ks.finish_snapshot(sink)).unwrap();
        let loaded = load(&bytes, &limits(), 0, |_, _, _| {}).unwrap();
        assert_eq!(loaded.keys, 1);
    }
}
