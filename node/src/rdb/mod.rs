//! The RDB serialization format of Redis 7.0 (RDB version 10): values, `DUMP`/`RESTORE`
//! payloads, and (next) whole snapshot files.
//!
//! Writing uses the plain encodings every Redis version since 2.x reads (`STRING`, `LIST`,
//! `SET`, `ZSET_2`, `HASH`) and Redis 7.0's `STREAM_LISTPACKS_2` (see [`stream`]), strings as
//! Redis writes them (small integers as integers, LZF as Redis emits it ([`lzf`]) for strings
//! over 20 bytes when `rdbcompression` is on). Reading accepts what Redis 7.0 writes
//! (listpacks, intsets, quicklist 2, streams) and what Redis 6 wrote (ziplists, quicklist,
//! `STREAM_LISTPACKS`), so a payload or file from stock Redis loads here. Every length is checked against the bytes
//! left: hostile input is an error, never a panic or a huge allocation.

pub mod file;
pub mod listpack;
mod lzf;
mod stream;
mod ziplist;

use thiserror::Error;

use crate::db::types::hash::{HashValue, Limits as HashLimits};
use crate::db::types::list::ListValue;
use crate::db::types::set::SetValue;
use crate::db::types::zset::{ZSetLimits, ZSetValue};
use crate::db::Value;
use listpack::Elem;

/// The RDB version written (Redis 7.0).
pub const RDB_VERSION: u16 = 10;

/// Opcodes between entries of a file.
pub mod opcode {
    pub const FUNCTION_PRE_GA: u8 = 0xF6;
    pub const FUNCTION2: u8 = 0xF5;
    pub const MODULE_AUX: u8 = 0xF7;
    pub const IDLE: u8 = 0xF8;
    pub const FREQ: u8 = 0xF9;
    pub const AUX: u8 = 0xFA;
    pub const RESIZEDB: u8 = 0xFB;
    pub const EXPIRETIME_MS: u8 = 0xFC;
    pub const EXPIRETIME: u8 = 0xFD;
    pub const SELECTDB: u8 = 0xFE;
    pub const EOF: u8 = 0xFF;
}

/// Object type bytes.
pub mod kind {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
}

/// Why a payload could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RdbError {
    /// Ran out of bytes.
    #[error("unexpected end of RDB data")]
    Truncated,
    /// Bytes that do not follow the format.
    #[error("corrupt RDB data: {0}")]
    Corrupt(String),
    /// A valid type this build cannot load (modules).
    #[error("unsupported RDB object type {0}")]
    Unsupported(u8),
    /// An aggregate with no elements (Redis skips such keys when loading).
    #[error("empty key")]
    EmptyKey,
}

/// The size limits that decide the encodings of loaded values.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub hash: HashLimits,
    pub set_max_intset: u64,
    pub zset: ZSetLimits,
}

impl Limits {
    /// The limits for a value that comes as a listpack (`listpack` true): Redis 7.0 keeps
    /// such a hash or sorted set packed unless it has too many entries, however long its
    /// values are.
    fn packed(&self, listpack: bool) -> Limits {
        let mut l = *self;
        if listpack {
            l.hash.value = u64::MAX;
            l.zset.max_value = usize::MAX;
        }
        l
    }

    pub fn from_settings(s: &crate::server::Settings) -> Limits {
        Limits {
            hash: HashLimits {
                entries: s.hash_max_listpack_entries,
                value: s.hash_max_listpack_value,
            },
            set_max_intset: s.set_max_intset_entries,
            zset: s.zset_limits,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Appends an RDB length: 6 bits, 14 bits, 32 or 64 bits big-endian.
pub fn write_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Appends an integer in the shortest special encoding, if it fits 32 bits.
fn write_int_encoded(out: &mut Vec<u8>, v: i64) -> bool {
    if let Ok(v) = i8::try_from(v) {
        out.push(0xC0);
        out.push(v as u8);
    } else if let Ok(v) = i16::try_from(v) {
        out.push(0xC1);
        out.extend_from_slice(&v.to_le_bytes());
    } else if let Ok(v) = i32::try_from(v) {
        out.push(0xC2);
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// Appends a string: as an integer when it is the canonical text of one that fits 32 bits,
/// LZF-compressed when `compress` and that saves at least 4 bytes, else raw.
pub fn write_string(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if s.len() <= 11 {
        if let Some(v) = crate::util::num::parse_i64(s) {
            if write_int_encoded(out, v) {
                return;
            }
        }
    }
    if compress && s.len() > 20 {
        // Worth it only when it saves at least 4 bytes, as Redis's rdbSaveLzfStringObject.
        if let Some(c) = lzf::compress(s, s.len() - 4) {
            out.push(0xC3);
            write_len(out, c.len() as u64);
            write_len(out, s.len() as u64);
            out.extend_from_slice(&c);
            return;
        }
    }
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// The type byte [`write_value`] writes for `v`.
pub fn value_kind(v: &Value) -> u8 {
    match v {
        Value::Int(_) | Value::Str(_) | Value::Raw(_) => kind::STRING,
        Value::List(_) => kind::LIST,
        Value::Set(_) => kind::SET,
        Value::ZSet(_) => kind::ZSET_2,
        Value::Hash(_) => kind::HASH,
        Value::Stream(_) => kind::STREAM_LISTPACKS_2,
    }
}

/// Appends the body of `v` (without its type byte).
pub fn write_value(out: &mut Vec<u8>, v: &Value, compress: bool) {
    match v {
        Value::Int(n) => {
            if !write_int_encoded(out, *n) {
                write_string(out, itoa::Buffer::new().format(*n).as_bytes(), false);
            }
        }
        Value::Str(s) => write_string(out, s.as_slice(), compress),
        Value::Raw(s) => write_string(out, s, compress),
        Value::List(l) => {
            write_len(out, l.len() as u64);
            for e in l.iter() {
                write_string(out, e, compress);
            }
        }
        Value::Set(s) => {
            write_len(out, s.len() as u64);
            s.for_each(|m| write_string(out, m, compress));
        }
        Value::ZSet(z) => {
            write_len(out, z.len() as u64);
            // Redis writes from the highest score down, so loading appends at the head.
            let mut all = Vec::with_capacity(z.len());
            z.for_each(|m, s| all.push((m.to_vec(), s)));
            for (m, s) in all.iter().rev() {
                write_string(out, m, compress);
                out.extend_from_slice(&s.to_le_bytes());
            }
        }
        Value::Hash(h) => {
            write_len(out, h.len() as u64);
            for (f, val) in h.iter() {
                write_string(out, f, compress);
                write_string(out, val, compress);
            }
        }
        Value::Stream(s) => stream::write(out, s, compress),
    }
}

/// The CRC-64 Redis uses for DUMP payloads and RDB files (Jones polynomial, reflected).
pub fn crc64(bytes: &[u8]) -> u64 {
    CRC64.checksum(bytes)
}

/// [`crc64`] as a table, also for computing it piece by piece.
pub static CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

/// A `DUMP` payload: type, body, RDB version (2 bytes LE), CRC-64 (8 bytes LE).
pub fn dump(v: &Value, compress: bool) -> Vec<u8> {
    let mut out = vec![value_kind(v)];
    write_value(&mut out, v, compress);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Checks a `DUMP` payload's footer (version not newer than ours, CRC-64) and decodes it.
/// `Err(None)`: the footer is wrong; `Err(Some(e))`: the body is.
pub fn restore(payload: &[u8], limits: &Limits) -> Result<Value, Option<RdbError>> {
    if payload.len() < 10 {
        return Err(None);
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION {
        return Err(None);
    }
    let crc = u64::from_le_bytes(footer[2..10].try_into().map_err(|_| None)?);
    if crc64(&payload[..payload.len() - 8]) != crc {
        return Err(None);
    }
    let mut r = Reader::new(body);
    let t = r.u8().map_err(Some)?;
    let v = r.read_value(t, limits).map_err(Some)?;
    if !r.is_empty() {
        return Err(Some(RdbError::Corrupt("bytes after the value".into())));
    }
    Ok(v)
}

// ---------------------------------------------------------------------------------------------
// Reading

/// A cursor over RDB bytes.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// A string as read: integers stay integers so `SET`-like values keep the `int` encoding.
enum RdbStr {
    Bytes(Vec<u8>),
    Int(i64),
}

impl RdbStr {
    fn into_vec(self) -> Vec<u8> {
        match self {
            RdbStr::Bytes(b) => b,
            RdbStr::Int(n) => itoa::Buffer::new().format(n).as_bytes().to_vec(),
        }
    }
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn u8(&mut self) -> Result<u8, RdbError> {
        let b = *self.buf.get(self.pos).ok_or(RdbError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], RdbError> {
        let end = self.pos.checked_add(n).ok_or(RdbError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(RdbError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    /// A length, or `Err(Ok(kind))` for a special string encoding (integer or LZF).
    fn len_or_special(&mut self) -> Result<Result<u64, u8>, RdbError> {
        let b = self.u8()?;
        Ok(match b >> 6 {
            0 => Ok((b & 0x3f) as u64),
            1 => Ok((((b & 0x3f) as u64) << 8) | self.u8()? as u64),
            2 => match b {
                0x80 => {
                    let s = self.take(4)?;
                    Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as u64)
                }
                0x81 => {
                    let s = self.take(8)?;
                    Ok(u64::from_be_bytes(
                        s.try_into().map_err(|_| RdbError::Truncated)?,
                    ))
                }
                _ => return Err(RdbError::Corrupt(format!("unknown length encoding {b:#x}"))),
            },
            _ => Err(b & 0x3f),
        })
    }

    /// A plain length.
    pub fn len(&mut self) -> Result<u64, RdbError> {
        self.len_or_special()?
            .map_err(|_| RdbError::Corrupt("encoded string where a length belongs".into()))
    }

    /// A length that counts elements still to read: each takes at least one byte, so a
    /// count above the bytes left is corrupt (this bounds every loop and allocation).
    fn count(&mut self) -> Result<usize, RdbError> {
        let n = self.len()?;
        if n > (self.buf.len() - self.pos) as u64 {
            return Err(RdbError::Truncated);
        }
        Ok(n as usize)
    }

    fn string_inner(&mut self) -> Result<RdbStr, RdbError> {
        match self.len_or_special()? {
            Ok(n) => {
                let n = usize::try_from(n).map_err(|_| RdbError::Truncated)?;
                Ok(RdbStr::Bytes(self.take(n)?.to_vec()))
            }
            Err(0) => Ok(RdbStr::Int(self.u8()? as i8 as i64)),
            Err(1) => {
                let s = self.take(2)?;
                Ok(RdbStr::Int(i16::from_le_bytes([s[0], s[1]]) as i64))
            }
            Err(2) => {
                let s = self.take(4)?;
                Ok(RdbStr::Int(
                    i32::from_le_bytes([s[0], s[1], s[2], s[3]]) as i64
                ))
            }
            Err(3) => {
                let clen = usize::try_from(self.len()?).map_err(|_| RdbError::Truncated)?;
                let ulen = usize::try_from(self.len()?).map_err(|_| RdbError::Truncated)?;
                let data = self.take(clen)?;
                // LZF expands at most ~100x; refuse claims beyond that before allocating.
                if ulen > clen.saturating_mul(128).saturating_add(64) {
                    return Err(RdbError::Corrupt("LZF length out of range".into()));
                }
                let out = ::lzf::decompress(data, ulen)
                    .map_err(|e| RdbError::Corrupt(format!("LZF: {e:?}")))?;
                if out.len() != ulen {
                    return Err(RdbError::Corrupt("LZF length mismatch".into()));
                }
                Ok(RdbStr::Bytes(out))
            }
            Err(k) => Err(RdbError::Corrupt(format!("unknown string encoding {k}"))),
        }
    }

    /// A string as bytes.
    pub fn string(&mut self) -> Result<Vec<u8>, RdbError> {
        Ok(self.string_inner()?.into_vec())
    }

    /// An 8-byte little-endian double (`ZSET_2`).
    fn binary_double(&mut self) -> Result<f64, RdbError> {
        let s = self.take(8)?;
        Ok(f64::from_le_bytes(
            s.try_into().map_err(|_| RdbError::Truncated)?,
        ))
    }

    /// An old-style double (`ZSET`): length byte, then text; 253 nan, 254 +inf, 255 -inf.
    fn text_double(&mut self) -> Result<f64, RdbError> {
        let n = self.u8()?;
        match n {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            _ => {
                let t = self.take(n as usize)?;
                parse_score(t)
            }
        }
    }

    /// One value of type `t`.
    pub fn read_value(&mut self, t: u8, limits: &Limits) -> Result<Value, RdbError> {
        match t {
            kind::STRING => Ok(match self.string_inner()? {
                RdbStr::Int(n) => Value::Int(n),
                RdbStr::Bytes(b) => Value::string(&b),
            }),
            kind::LIST => {
                let n = self.count()?;
                let mut l = ListValue::new();
                for _ in 0..n {
                    l.push_back(&self.string()?);
                }
                finish_list(l)
            }
            kind::SET => {
                let n = self.count()?;
                let mut s = SetValue::default();
                for _ in 0..n {
                    if !s.add(&self.string()?, limits.set_max_intset) {
                        return Err(RdbError::Corrupt("duplicate set member".into()));
                    }
                }
                finish_set(s)
            }
            kind::ZSET | kind::ZSET_2 => {
                let n = self.count()?;
                let mut z = ZSetValue::new();
                for _ in 0..n {
                    let m = self.string()?;
                    let score = if t == kind::ZSET_2 {
                        self.binary_double()?
                    } else {
                        self.text_double()?
                    };
                    if score.is_nan() {
                        return Err(RdbError::Corrupt("NaN score".into()));
                    }
                    if !z.insert_with(&m, score, limits.zset) {
                        return Err(RdbError::Corrupt("duplicate sorted set member".into()));
                    }
                }
                finish_zset(z)
            }
            kind::HASH => {
                let n = self.count()?;
                let mut h = HashValue::default();
                for _ in 0..n {
                    let f = self.string()?;
                    let v = self.string()?;
                    if !h.set(&f, &v, limits.hash) {
                        return Err(RdbError::Corrupt("duplicate hash field".into()));
                    }
                }
                finish_hash(h)
            }
            kind::SET_INTSET => {
                let blob = self.string()?;
                let mut s = SetValue::default();
                for v in listpack::parse_intset(&blob)? {
                    s.add(
                        itoa::Buffer::new().format(v).as_bytes(),
                        limits.set_max_intset,
                    );
                }
                finish_set(s)
            }
            kind::HASH_LISTPACK | kind::HASH_ZIPLIST => {
                let blob = self.string()?;
                let elems = parse_blob(t == kind::HASH_ZIPLIST, &blob)?;
                hash_from_elems(&elems, &limits.packed(t == kind::HASH_LISTPACK))
            }
            kind::ZSET_LISTPACK | kind::ZSET_ZIPLIST => {
                let blob = self.string()?;
                let elems = parse_blob(t == kind::ZSET_ZIPLIST, &blob)?;
                zset_from_elems(&elems, &limits.packed(t == kind::ZSET_LISTPACK))
            }
            kind::LIST_QUICKLIST | kind::LIST_QUICKLIST_2 => {
                let nodes = self.count()?;
                let mut l = ListValue::new();
                for _ in 0..nodes {
                    let container = if t == kind::LIST_QUICKLIST_2 {
                        self.len()?
                    } else {
                        2
                    };
                    let blob = self.string()?;
                    match container {
                        // A plain node: one element.
                        1 => l.push_back(&blob),
                        2 => {
                            let elems = parse_blob(t == kind::LIST_QUICKLIST, &blob)?;
                            if elems.is_empty() {
                                return Err(RdbError::Corrupt("empty quicklist node".into()));
                            }
                            for e in elems {
                                l.push_back(&e.to_vec());
                            }
                        }
                        c => return Err(RdbError::Corrupt(format!("quicklist container {c}"))),
                    }
                }
                finish_list(l)
            }
            kind::LIST_ZIPLIST => {
                let blob = self.string()?;
                let mut l = ListValue::new();
                for e in ziplist::parse(&blob)? {
                    l.push_back(&e.to_vec());
                }
                finish_list(l)
            }
            kind::STREAM_LISTPACKS | kind::STREAM_LISTPACKS_2 => stream::read(self, t),
            other => Err(RdbError::Unsupported(other)),
        }
    }
}

fn parse_blob(zip: bool, blob: &[u8]) -> Result<Vec<Elem<'_>>, RdbError> {
    if zip {
        ziplist::parse(blob)
    } else {
        listpack::parse(blob)
    }
}

fn parse_score(t: &[u8]) -> Result<f64, RdbError> {
    crate::util::num::parse_f64(t).ok_or_else(|| RdbError::Corrupt("bad score".into()))
}

fn hash_from_elems(elems: &[Elem<'_>], limits: &Limits) -> Result<Value, RdbError> {
    if !elems.len().is_multiple_of(2) {
        return Err(RdbError::Corrupt("odd hash listpack".into()));
    }
    let mut h = HashValue::default();
    for pair in elems.chunks_exact(2) {
        if !h.set(&pair[0].to_vec(), &pair[1].to_vec(), limits.hash) {
            return Err(RdbError::Corrupt("duplicate hash field".into()));
        }
    }
    finish_hash(h)
}

fn zset_from_elems(elems: &[Elem<'_>], limits: &Limits) -> Result<Value, RdbError> {
    if !elems.len().is_multiple_of(2) {
        return Err(RdbError::Corrupt("odd sorted set listpack".into()));
    }
    let mut z = ZSetValue::new();
    for pair in elems.chunks_exact(2) {
        let score = match &pair[1] {
            Elem::Int(n) => *n as f64,
            Elem::Str(s) => parse_score(s)?,
        };
        if score.is_nan() || !z.insert_with(&pair[0].to_vec(), score, limits.zset) {
            return Err(RdbError::Corrupt("bad sorted set listpack".into()));
        }
    }
    finish_zset(z)
}

fn finish_list(l: ListValue) -> Result<Value, RdbError> {
    if l.is_empty() {
        return Err(RdbError::EmptyKey);
    }
    Ok(Value::List(Box::new(l)))
}

fn finish_set(s: SetValue) -> Result<Value, RdbError> {
    if s.is_empty() {
        return Err(RdbError::EmptyKey);
    }
    Ok(Value::Set(Box::new(s)))
}

fn finish_zset(z: ZSetValue) -> Result<Value, RdbError> {
    if z.is_empty() {
        return Err(RdbError::EmptyKey);
    }
    Ok(Value::ZSet(Box::new(z)))
}

fn finish_hash(h: HashValue) -> Result<Value, RdbError> {
    if h.is_empty() {
        return Err(RdbError::EmptyKey);
    }
    Ok(Value::Hash(Box::new(h)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            hash: HashLimits {
                entries: 128,
                value: 64,
            },
            set_max_intset: 512,
            zset: ZSetLimits::default(),
        }
    }

    fn round_trip(v: &Value) -> Value {
        let p = dump(v, true);
        restore(&p, &limits()).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn list_of(v: &Value) -> Vec<Vec<u8>> {
        match v {
            Value::List(l) => l.iter().map(<[u8]>::to_vec).collect(),
            _ => panic!("not a list"),
        }
    }

    #[test]
    fn lengths_and_strings() {
        for n in [
            0u64,
            63,
            64,
            16383,
            16384,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
        ] {
            let mut b = Vec::new();
            write_len(&mut b, n);
            assert_eq!(Reader::new(&b).len().unwrap(), n);
        }
        for s in [
            &b""[..],
            b"12",
            b"-129",
            b"70000",
            b"2147483648",
            b"0012",
            b"hello",
            &[b'a'; 100][..],
        ] {
            let mut b = Vec::new();
            write_string(&mut b, s, true);
            assert_eq!(Reader::new(&b).string().unwrap(), s, "{s:?}");
        }
        // 100 identical bytes compress.
        let mut b = Vec::new();
        write_string(&mut b, &[b'a'; 100], true);
        assert_eq!(b[0], 0xC3);
    }

    #[test]
    fn values_round_trip() {
        assert!(matches!(round_trip(&Value::Int(-5)), Value::Int(-5)));
        assert!(matches!(
            round_trip(&Value::Int(i64::MAX)),
            Value::Int(i64::MAX)
        ));
        let mut l = ListValue::new();
        for i in 0..300 {
            l.push_back(format!("e{i}").as_bytes());
        }
        let v = Value::List(Box::new(l));
        assert_eq!(list_of(&round_trip(&v)), list_of(&v));
        let mut z = ZSetValue::new();
        z.insert(b"a", 1.5);
        z.insert(b"b", -2.0);
        z.insert(b"c", f64::INFINITY);
        match round_trip(&Value::ZSet(Box::new(z))) {
            Value::ZSet(z) => {
                assert_eq!(z.len(), 3);
                assert_eq!(z.score(b"c"), Some(f64::INFINITY));
                assert_eq!(z.get(0), Some((&b"b"[..], -2.0)));
            }
            _ => panic!("not a zset"),
        }
    }

    #[test]
    fn bad_payloads() {
        let p = dump(&Value::string(b"hello"), true);
        assert_eq!(restore(&p[..5], &limits()).err(), Some(None));
        let mut flipped = p.clone();
        flipped[2] ^= 1;
        assert_eq!(restore(&flipped, &limits()).err(), Some(None));
        let mut newer = p.clone();
        let n = newer.len();
        newer[n - 10] = 11;
        assert_eq!(restore(&newer, &limits()).err(), Some(None));
    }

    #[test]
    fn reads_redis_listpack_hash() {
        let lp = listpack::tests::build(&[
            Elem::Str(b"f1"),
            Elem::Str(b"v1"),
            Elem::Str(b"n"),
            Elem::Int(42),
        ]);
        let mut body = vec![kind::HASH_LISTPACK];
        write_string(&mut body, &lp, false);
        let mut r = Reader::new(&body);
        let t = r.u8().unwrap();
        match r.read_value(t, &limits()).unwrap() {
            Value::Hash(h) => {
                assert_eq!(h.get(b"n"), Some(&b"42"[..]));
                assert_eq!(h.get(b"f1"), Some(&b"v1"[..]));
            }
            _ => panic!("not a hash"),
        }
    }

    proptest::proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let l = limits();
            for t in 0..20u8 {
                let _ = Reader::new(&bytes).read_value(t, &l);
            }
            let _ = restore(&bytes, &l);
        }
    }
}
