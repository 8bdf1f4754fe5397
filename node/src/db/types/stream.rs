//! A stream: entries ordered by ID in packed chunks, plus consumer groups (Redis `t_stream.c`'s
//! "stream data structure" half and `stream.h`).
//!
//! Like Redis's radix tree of listpacks, entries live in chunks keyed by their *master ID* (the
//! ID of the first entry ever inserted in the chunk) in a `BTreeMap`. A chunk keeps its IDs in
//! one vector and every entry's fields and values packed in one byte buffer
//! (`varint count | (varint length | bytes)*`). Deleting an entry only flags it (the chunk keeps
//! the bytes, as Redis keeps a deleted listpack entry); a chunk whose entries are all deleted
//! by XDEL goes away. A new chunk starts when the last one reaches `stream-node-max-entries`
//! entries or `stream-node-max-bytes` bytes, the latter measured with the size the same entries
//! take in a Redis listpack ([`Chunk::lp_bytes`]), so that approximate trimming (`MAXLEN ~`)
//! removes the same whole chunks Redis removes.
//!
//! Consumer groups keep a pending entries list (PEL: ID -> [`Nack`]) and each consumer the IDs
//! of its own pending entries.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bytes::Bytes;

/// An entry ID: milliseconds and sequence number, ordered as a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// The next ID, or None after the last possible one (Redis `streamIncrID`).
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous ID, or None before 0-0 (Redis `streamDecrID`).
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    /// `ms-seq` as bytes.
    pub fn to_bytes(self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Redis `string2ull`: a non-negative `long long`, or else what C `strtoull` accepts as a whole
/// string (leading blanks, a sign, decimal digits, no overflow).
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = crate::util::num::parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let digits = &s[i..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// How an ID argument was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedId {
    pub id: StreamId,
    /// False for XADD's `ms-*` form (the sequence is to be chosen).
    pub seq_given: bool,
}

/// Parses a stream ID argument as Redis `streamGenericParseIDOrReply`: `-`, `+` (unless
/// `strict`), `ms` (the sequence is then `missing_seq`), `ms-seq`, and `ms-*` when
/// `allow_star`. None means `ERR Invalid stream ID specified as stream command argument`.
pub fn parse_id(arg: &[u8], missing_seq: u64, strict: bool, allow_star: bool) -> Option<ParsedId> {
    if arg.len() > 127 {
        return None;
    }
    // Redis works on a C string: everything after a NUL byte is invisible.
    let buf = crate::util::cstr(arg);
    if strict && (buf == b"-" || buf == b"+") {
        return None;
    }
    let given = |id| {
        Some(ParsedId {
            id,
            seq_given: true,
        })
    };
    if buf == b"-" {
        return given(StreamId::MIN);
    }
    if buf == b"+" {
        return given(StreamId::MAX);
    }
    match buf.iter().position(|&b| b == b'-') {
        None => given(StreamId::new(string2ull(buf)?, missing_seq)),
        Some(dash) => {
            let ms = string2ull(&buf[..dash])?;
            let rest = &buf[dash + 1..];
            if allow_star && rest == b"*" {
                return Some(ParsedId {
                    id: StreamId::new(ms, 0),
                    seq_given: false,
                });
            }
            given(StreamId::new(ms, string2ull(rest)?))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Listpack sizes (to start chunks where Redis starts listpacks)

/// Bytes a listpack element takes for an integer value.
fn lp_int_size(v: i64) -> usize {
    let enc = if (0..=127).contains(&v) {
        1
    } else if (-4096..=4095).contains(&v) {
        2
    } else if i16::try_from(v).is_ok() {
        3
    } else if (-(1 << 23)..(1 << 23)).contains(&v) {
        4
    } else if i32::try_from(v).is_ok() {
        5
    } else {
        9
    };
    enc + lp_backlen(enc)
}

/// Bytes a listpack element takes for a string (stored as an integer when it is one).
fn lp_str_size(s: &[u8]) -> usize {
    if s.len() <= 20 {
        if let Some(v) = crate::util::num::parse_i64(s) {
            return lp_int_size(v);
        }
    }
    let enc = if s.len() < 64 {
        1 + s.len()
    } else if s.len() < 4096 {
        2 + s.len()
    } else {
        5 + s.len()
    };
    enc + lp_backlen(enc)
}

fn lp_backlen(enc: usize) -> usize {
    match enc {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

// ---------------------------------------------------------------------------------------------
// Chunks

fn put_varint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(b: &[u8], pos: &mut usize) -> usize {
    let mut v = 0usize;
    let mut shift = 0;
    while let Some(&byte) = b.get(*pos) {
        *pos += 1;
        v |= ((byte & 0x7f) as usize) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    v
}

/// Up to `stream-node-max-entries` entries, IDs ascending, fields packed in one buffer.
#[derive(Debug, Clone, Default)]
struct Chunk {
    ids: Vec<StreamId>,
    /// Where each entry's fields start in `data`.
    offs: Vec<u32>,
    data: Vec<u8>,
    deleted: Vec<bool>,
    live: usize,
    /// Size of the equivalent Redis listpack without its two counters (see `lp_bytes`).
    lp_base: usize,
}

impl Chunk {
    /// Fields and values of entry `i`. An entry is `varint (count << 1 | same)` then its
    /// strings; `same` entries (the master entry's field names, as Redis's SAMEFIELDS flag)
    /// store only their values, and take the names from entry 0, which is always whole.
    fn fields(&self, i: usize) -> Vec<&[u8]> {
        let b = &self.data;
        let mut pos = self.offs[i] as usize;
        let h = get_varint(b, &mut pos);
        let (n, same) = (h >> 1, h & 1 == 1);
        let read = |pos: &mut usize| {
            let len = get_varint(b, pos);
            let end = (*pos + len).min(b.len());
            let s = &b[*pos..end];
            *pos = end;
            s
        };
        if !same {
            return (0..n).map(|_| read(&mut pos)).collect();
        }
        let names = self.master_fields();
        let mut out = Vec::with_capacity(2 * n);
        for name in names.into_iter().take(n) {
            out.push(name);
            out.push(read(&mut pos));
        }
        out
    }

    /// Frees the spare capacity of a chunk that will not grow any more.
    fn seal(&mut self) {
        self.ids.shrink_to_fit();
        self.offs.shrink_to_fit();
        self.data.shrink_to_fit();
        self.deleted.shrink_to_fit();
    }

    /// Whether the field names of `fv` (field, value, ...) are the master entry's, in order.
    /// Walks entry 0 in place: XADD asks this of every entry.
    fn has_master_fields<T: AsRef<[u8]>>(&self, fv: &[T]) -> bool {
        let b = &self.data;
        let mut pos = self.offs[0] as usize;
        // Entry 0 is always whole: its count is of names and values.
        let n = get_varint(b, &mut pos) >> 1;
        if n != fv.len() / 2 * 2 {
            return false;
        }
        fv[..n].iter().enumerate().all(|(i, x)| {
            let len = get_varint(b, &mut pos);
            let end = (pos + len).min(b.len());
            let s = &b[pos..end];
            pos = end;
            i % 2 == 1 || s == x.as_ref()
        })
    }

    /// An empty chunk that takes over from `full`: the stream is growing, so its vectors
    /// start at the sizes `full` reached instead of growing again in doublings.
    fn after(full: &Chunk) -> Chunk {
        Chunk {
            ids: Vec::with_capacity(full.ids.len()),
            offs: Vec::with_capacity(full.offs.len()),
            data: Vec::with_capacity(full.data.len()),
            deleted: Vec::with_capacity(full.deleted.len()),
            ..Chunk::default()
        }
    }

    /// The master entry's field names (those of the first entry inserted).
    fn master_fields(&self) -> Vec<&[u8]> {
        self.fields(0).into_iter().step_by(2).collect()
    }

    /// The size Redis's listpack for this node has: header and end byte, the live and deleted
    /// counters, and the master entry and entries (`lp_base`).
    fn lp_bytes(&self) -> usize {
        7 + lp_int_size(self.live as i64)
            + lp_int_size((self.ids.len() - self.live) as i64)
            + self.lp_base
    }

    fn push<T: AsRef<[u8]>>(&mut self, id: StreamId, master: StreamId, fv: &[T]) {
        let nfields = fv.len() / 2;
        if self.ids.is_empty() {
            // Master entry: field count, field names, terminator.
            self.lp_base += lp_int_size(nfields as i64) + lp_int_size(0);
            for f in fv.iter().step_by(2) {
                self.lp_base += lp_str_size(f.as_ref());
            }
        }
        let same = self.ids.is_empty() || self.has_master_fields(fv);
        let ms_diff = id.ms.wrapping_sub(master.ms) as i64;
        let seq_diff = id.seq.wrapping_sub(master.seq) as i64;
        let mut size = lp_int_size(0) + lp_int_size(ms_diff) + lp_int_size(seq_diff);
        let mut lp_count = 3 + nfields;
        for v in fv.iter().skip(1).step_by(2) {
            size += lp_str_size(v.as_ref());
        }
        if !same {
            size += lp_int_size(nfields as i64);
            for f in fv.iter().step_by(2) {
                size += lp_str_size(f.as_ref());
            }
            lp_count += nfields + 1;
        }
        size += lp_int_size(lp_count as i64);
        self.lp_base += size;

        self.offs.push(self.data.len() as u32);
        let packed_same = same && !self.ids.is_empty();
        if packed_same {
            put_varint(&mut self.data, (nfields << 1) | 1);
            for x in fv.iter().skip(1).step_by(2) {
                put_varint(&mut self.data, x.as_ref().len());
                self.data.extend_from_slice(x.as_ref());
            }
        } else {
            put_varint(&mut self.data, fv.len() << 1);
            for x in fv {
                put_varint(&mut self.data, x.as_ref().len());
                self.data.extend_from_slice(x.as_ref());
            }
        }
        self.ids.push(id);
        self.deleted.push(false);
        self.live += 1;
    }

    /// Index of the first entry with ID >= `id`.
    fn lower_bound(&self, id: StreamId) -> usize {
        self.ids.partition_point(|&x| x < id)
    }

    fn heap_size(&self) -> usize {
        self.ids.capacity() * 16
            + self.offs.capacity() * 4
            + self.data.capacity()
            + self.deleted.capacity()
    }
}

// ---------------------------------------------------------------------------------------------
// Consumer groups

/// A pending entry: delivered to `consumer`, not yet acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nack {
    pub consumer: Bytes,
    /// Last delivery, unix ms.
    pub delivery_time: u64,
    pub delivery_count: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Consumer {
    /// Last time the consumer was seen (read, claimed...), unix ms.
    pub seen_time: u64,
    pub pel: BTreeSet<StreamId>,
}

/// The `entries-read` value that means "unknown" (Redis `SCG_INVALID_ENTRIES_READ`).
pub const INVALID_ENTRIES_READ: i64 = -1;

#[derive(Debug, Clone)]
pub struct Group {
    pub last_id: StreamId,
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Bytes, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// The consumer `name`, created if missing (seen now); true in `.1` if created.
    pub fn consumer(&mut self, name: &[u8], now: u64) -> (&mut Consumer, bool) {
        let created = !self.consumers.contains_key(name);
        let c = self
            .consumers
            .entry(Bytes::copy_from_slice(name))
            .or_default();
        if created {
            c.seen_time = now;
        }
        (c, created)
    }

    /// Records that `id` was delivered to `consumer` now (a new pending entry, or one moved
    /// from another consumer with its count reset), as Redis's XREADGROUP does.
    pub fn deliver(&mut self, id: StreamId, consumer: &[u8], now: u64) {
        let name = Bytes::copy_from_slice(consumer);
        if let Some(old) = self.pel.get(&id) {
            let prev = old.consumer.clone();
            if let Some(c) = self.consumers.get_mut(&prev) {
                c.pel.remove(&id);
            }
        }
        self.pel.insert(
            id,
            Nack {
                consumer: name.clone(),
                delivery_time: now,
                delivery_count: 1,
            },
        );
        self.consumers.entry(name).or_default().pel.insert(id);
    }

    /// Acknowledges `id`; true if it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(n) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(c) = self.consumers.get_mut(&n.consumer) {
            c.pel.remove(&id);
        }
        true
    }

    /// Deletes a consumer; returns how many pending entries it had (they are dropped).
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }
}

// ---------------------------------------------------------------------------------------------
// The stream

/// Trimming strategy (XADD/XTRIM `MAXLEN`/`MINID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

/// `stream-node-max-entries` and `stream-node-max-bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLimits {
    pub max_entries: u64,
    pub max_bytes: u64,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            max_entries: 100,
            max_bytes: 4096,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Stream {
    chunks: BTreeMap<StreamId, Chunk>,
    /// Live entries.
    pub length: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted: StreamId,
    pub entries_added: u64,
    pub groups: BTreeMap<Bytes, Group>,
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Number of chunks (`XINFO STREAM` `radix-tree-keys`).
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// Nodes of the radix tree Redis would have for the chunk keys (`radix-tree-nodes`):
    /// a compressed trie of 16-byte big-endian keys.
    pub fn rax_nodes(&self) -> usize {
        let keys: Vec<[u8; 16]> = self
            .chunks
            .keys()
            .map(|id| {
                let mut k = [0u8; 16];
                k[..8].copy_from_slice(&id.ms.to_be_bytes());
                k[8..].copy_from_slice(&id.seq.to_be_bytes());
                k
            })
            .collect();
        fn count(keys: &[[u8; 16]], d: usize) -> usize {
            if keys.is_empty() {
                return 0;
            }
            if d == 16 {
                return 1;
            }
            let first = keys[0];
            if keys.iter().all(|k| k[d] == first[d]) {
                // A run of shared bytes is one (compressed) node.
                let mut e = d + 1;
                while e < 16 && keys.iter().all(|k| k[e] == first[e]) {
                    e += 1;
                }
                return 1 + count(keys, e);
            }
            let mut n = 1;
            let mut i = 0;
            while i < keys.len() {
                let b = keys[i][d];
                let j = i + keys[i..].iter().take_while(|k| k[d] == b).count();
                n += count(&keys[i..j], d + 1);
                i = j;
            }
            n
        }
        if keys.is_empty() {
            1
        } else {
            count(&keys, 0)
        }
    }

    /// The next automatic ID after `last_id` at time `now_ms` (Redis `streamNextID`), or None
    /// when the stream holds the last possible ID.
    pub fn next_auto_id(&self, now_ms: u64) -> Option<StreamId> {
        if now_ms > self.last_id.ms {
            Some(StreamId::new(now_ms, 0))
        } else {
            self.last_id.incr()
        }
    }

    /// Appends an entry with `fv` = field, value, ... at `id`, which must be above `last_id`.
    pub fn append(&mut self, id: StreamId, fv: &[Bytes], limits: NodeLimits) {
        let max_bytes = if limits.max_bytes == 0 || limits.max_bytes > (1 << 30) {
            1 << 30
        } else {
            limits.max_bytes as usize
        };
        let totelelen: usize = fv.iter().map(|x| x.len()).sum();
        let new_chunk = match self.chunks.last_key_value() {
            None => true,
            Some((_, c)) => {
                c.lp_bytes() + totelelen >= max_bytes
                    || (limits.max_entries > 0 && c.ids.len() as u64 >= limits.max_entries)
            }
        };
        if new_chunk {
            let next = match self.chunks.last_entry() {
                Some(mut last) => {
                    last.get_mut().seal();
                    Chunk::after(last.get())
                }
                None => Chunk::default(),
            };
            self.chunks.insert(id, next);
        }
        if let Some(mut e) = self.chunks.last_entry() {
            let master = *e.key();
            e.get_mut().push(id, master, fv);
        }
        if self.length == 0 {
            self.first_id = id;
        }
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
    }

    fn locate(&self, id: StreamId) -> Option<(StreamId, usize)> {
        let (&master, c) = self.chunks.range(..=id).next_back()?;
        let i = c.lower_bound(id);
        (i < c.ids.len() && c.ids[i] == id && !c.deleted[i]).then_some((master, i))
    }

    /// The fields and values of entry `id`, if it exists.
    pub fn get(&self, id: StreamId) -> Option<Vec<&[u8]>> {
        let (m, i) = self.locate(id)?;
        Some(self.chunks[&m].fields(i))
    }

    pub fn contains(&self, id: StreamId) -> bool {
        self.locate(id).is_some()
    }

    /// Deletes entry `id` (flags it; drops its chunk when nothing live is left). True if it
    /// existed. Does not update `first_id` / `max_deleted` (XDEL does, after all deletions).
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((m, i)) = self.locate(id) else {
            return false;
        };
        let Some(c) = self.chunks.get_mut(&m) else {
            return false;
        };
        c.deleted[i] = true;
        c.live -= 1;
        if c.live == 0 {
            self.chunks.remove(&m);
        }
        self.length -= 1;
        true
    }

    /// Calls `f(id, fields)` for live entries with `start <= id <= end`, ascending (or
    /// descending when `rev`), until `f` returns false.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        mut f: impl FnMut(StreamId, Vec<&[u8]>) -> bool,
    ) {
        if start > end {
            return;
        }
        if !rev {
            let first = self.chunks.range(..=start).next_back().map(|(k, _)| *k);
            let from = first.unwrap_or(start);
            for (_, c) in self.chunks.range(from..=end) {
                let mut i = c.lower_bound(start);
                while i < c.ids.len() {
                    let id = c.ids[i];
                    if id > end {
                        return;
                    }
                    if !c.deleted[i] && !f(id, c.fields(i)) {
                        return;
                    }
                    i += 1;
                }
            }
        } else {
            for (_, c) in self.chunks.range(..=end).rev() {
                let mut i = c.ids.partition_point(|&x| x <= end);
                while i > 0 {
                    i -= 1;
                    let id = c.ids[i];
                    if id < start {
                        return;
                    }
                    if !c.deleted[i] && !f(id, c.fields(i)) {
                        return;
                    }
                }
            }
        }
    }

    /// The first (or last) live entry's ID.
    pub fn edge_id(&self, first: bool) -> Option<StreamId> {
        let mut out = None;
        self.range(StreamId::MIN, StreamId::MAX, !first, |id, _| {
            out = Some(id);
            false
        });
        out
    }

    /// The last live entry's ID, or 0-0 (Redis `streamLastValidID`).
    pub fn last_valid_id(&self) -> StreamId {
        self.edge_id(false).unwrap_or(StreamId::MIN)
    }

    /// Trims as Redis `streamTrim`: whole chunks first; with `approx` only whole chunks;
    /// `limit` (0 = none) caps the entries removed. Returns the number removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted = 0u64;
        loop {
            if let Trim::MaxLen(max) = how {
                if self.length <= max {
                    break;
                }
            }
            let Some(mut e) = self.chunks.first_entry() else {
                break;
            };
            let entries = e.get().live as u64;
            if limit > 0 && deleted + entries > limit {
                break;
            }
            let remove = match how {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => e.get().ids.last().is_some_and(|&l| l < min),
            };
            if remove {
                e.remove();
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            let c = e.get_mut();
            for i in 0..c.ids.len() {
                let stop = match how {
                    Trim::MaxLen(max) => self.length <= max,
                    Trim::MinId(min) => c.ids[i] >= min,
                };
                if stop {
                    break;
                }
                if !c.deleted[i] {
                    c.deleted[i] = true;
                    c.live -= 1;
                    self.length -= 1;
                    deleted += 1;
                }
            }
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if let Some(f) = self.edge_id(true) {
            self.first_id = f;
        }
        deleted
    }

    /// True if `[start, end]` may contain a deleted entry (Redis `streamRangeHasTombstones`).
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.length == 0 || self.max_deleted.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted {
            return false;
        }
        start <= self.max_deleted && self.max_deleted <= end
    }

    /// The logical read counter of `id`, if knowable (Redis
    /// `streamEstimateDistanceFromFirstEverEntry`).
    pub fn estimate_distance(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.length == 0 && id <= self.last_id {
            return Some(self.entries_added);
        }
        if id == self.last_id {
            return Some(self.entries_added);
        }
        if id > self.last_id {
            return None;
        }
        if self.max_deleted.is_zero() || self.max_deleted < self.first_id {
            if id < self.first_id {
                return Some(self.entries_added - self.length);
            }
            if id == self.first_id {
                return Some(self.entries_added - self.length + 1);
            }
        }
        None
    }

    /// A group's lag, if knowable (Redis `streamReplyWithCGLag`).
    pub fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != INVALID_ENTRIES_READ
            && !self.range_has_tombstones(g.last_id, StreamId::MAX)
        {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        self.estimate_distance(g.last_id)
            .map(|r| self.entries_added as i64 - r as i64)
    }

    /// Moves `g`'s last delivered ID to `id` after delivering it, updating `entries_read`
    /// as Redis's `streamReplyWithRange` does.
    pub fn advance_group(&self, g: &mut Group, id: StreamId) {
        if id <= g.last_id {
            return;
        }
        if g.entries_read != INVALID_ENTRIES_READ && !self.range_has_tombstones(id, StreamId::MAX) {
            g.entries_read += 1;
        } else if self.entries_added > 0 {
            g.entries_read = self
                .estimate_distance(id)
                .map_or(INVALID_ENTRIES_READ, |v| v as i64);
        }
        g.last_id = id;
    }

    /// Approximate heap bytes (`MEMORY USAGE`).
    pub fn heap_size(&self) -> usize {
        let chunks: usize = self.chunks.values().map(|c| 64 + c.heap_size()).sum();
        let groups: usize = self
            .groups
            .iter()
            .map(|(n, g)| {
                n.len()
                    + 96
                    + g.pel.len() * (64 + 32)
                    + g.consumers
                        .iter()
                        .map(|(n, c)| n.len() + 64 + c.pel.len() * 24)
                        .sum::<usize>()
            })
            .sum();
        chunks + groups
    }
}

// ---------------------------------------------------------------------------------------------
// Persistence: the chunks as Redis's listpacks hold them (RDB writer and loader)

/// A chunk as stored, deleted entries included (a Redis listpack keeps them, flagged).
#[derive(Debug, Default)]
pub struct Node<'a> {
    pub master: StreamId,
    /// Entry IDs in insertion order.
    pub ids: &'a [StreamId],
    pub deleted: &'a [bool],
    /// The field names of the chunk's first entry (Redis's master entry).
    pub master_fields: Vec<&'a [u8]>,
    /// Field, value... of every entry one after the other (see [`Node::entry`]).
    fields: Vec<&'a [u8]>,
    starts: Vec<usize>,
}

impl<'a> Node<'a> {
    /// Field, value, field, value... of entry `i`.
    pub fn entry(&self, i: usize) -> &[&'a [u8]] {
        match (self.starts.get(i), self.starts.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.fields[a..b],
            _ => &[],
        }
    }
}

impl Chunk {
    /// Appends entry `i`'s fields and values to `out`, taking the names of `same` entries from
    /// `names` (the master fields) instead of decoding entry 0 again.
    fn fields_into<'a>(&'a self, i: usize, names: &[&'a [u8]], out: &mut Vec<&'a [u8]>) {
        let b = &self.data;
        let mut pos = self.offs[i] as usize;
        let h = get_varint(b, &mut pos);
        let (n, same) = (h >> 1, h & 1 == 1);
        let read = |pos: &mut usize| {
            let len = get_varint(b, pos);
            let end = (*pos + len).min(b.len());
            let s = &b[*pos..end];
            *pos = end;
            s
        };
        if !same {
            out.extend((0..n).map(|_| read(&mut pos)));
            return;
        }
        for name in names.iter().take(n) {
            out.push(name);
            out.push(read(&mut pos));
        }
    }
}

impl Stream {
    /// Calls `f` with every chunk in ID order (RDB writer). The buffers are reused from one
    /// chunk to the next.
    pub fn for_each_node(&self, mut f: impl FnMut(&Node<'_>)) {
        let mut node = Node::default();
        for (&master, c) in &self.chunks {
            node.master = master;
            node.ids = &c.ids;
            node.deleted = &c.deleted;
            node.master_fields = c.master_fields();
            node.fields.clear();
            node.starts.clear();
            for i in 0..c.ids.len() {
                node.starts.push(node.fields.len());
                c.fields_into(i, &node.master_fields, &mut node.fields);
            }
            node.starts.push(node.fields.len());
            f(&node);
        }
    }

    /// The key of the last chunk, if any.
    pub fn last_chunk_id(&self) -> Option<StreamId> {
        self.chunks.last_key_value().map(|(k, _)| *k)
    }

    /// Appends a chunk read back from a file: `master` is its key, `entries` are `(id,
    /// deleted, range)` in order, the range locating the entry's field/value pairs in
    /// `fields`. The caller has checked that the IDs ascend, that every entry holds at least
    /// one pair and that the chunk comes after every chunk so far; the stream's counters
    /// (length, IDs, entries added) are the caller's to set. Returns false, adding nothing,
    /// for a chunk without entries.
    pub fn push_node<T: AsRef<[u8]>>(
        &mut self,
        master: StreamId,
        entries: &[(StreamId, bool, std::ops::Range<usize>)],
        fields: &[T],
    ) -> bool {
        if entries.is_empty() {
            return false;
        }
        let mut c = Chunk::default();
        for (id, deleted, range) in entries {
            c.push(*id, master, fields.get(range.clone()).unwrap_or_default());
            if *deleted {
                if let Some(d) = c.deleted.last_mut() {
                    *d = true;
                }
                c.live -= 1;
            }
        }
        if let Some(mut last) = self.chunks.last_entry() {
            last.get_mut().seal();
        }
        self.chunks.insert(master, c);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fv(pairs: &[(&str, &str)]) -> Vec<Bytes> {
        pairs
            .iter()
            .flat_map(|(f, v)| [Bytes::from(f.to_string()), Bytes::from(v.to_string())])
            .collect()
    }

    fn ids(s: &Stream) -> Vec<StreamId> {
        let mut v = Vec::new();
        s.range(StreamId::MIN, StreamId::MAX, false, |id, _| {
            v.push(id);
            true
        });
        v
    }

    #[test]
    fn master_fields_are_matched_in_place() {
        let mut c = Chunk::default();
        let master = fv(&[("a", "1"), ("bb", "2"), ("c", "3")]);
        c.push(StreamId::new(1, 0), StreamId::new(1, 0), &master);
        let cases: [&[(&str, &str)]; 7] = [
            &[("a", "x"), ("bb", "y"), ("c", "z")],
            &[("a", "x"), ("c", "y"), ("bb", "z")],
            &[("a", "x"), ("bb", "y")],
            &[("a", "x"), ("bb", "y"), ("c", "z"), ("d", "w")],
            &[("a", "x"), ("b", "y"), ("c", "z")],
            &[("1", "a"), ("2", "bb"), ("3", "c")],
            &[("a", "1"), ("bb", "2"), ("c", "3")],
        ];
        for case in cases {
            let entry = fv(case);
            let names: Vec<&[u8]> = entry.iter().step_by(2).map(|b| &b[..]).collect();
            assert_eq!(
                c.has_master_fields(&entry),
                names == c.master_fields(),
                "{case:?}"
            );
        }
        // Entries stored either way read back whole.
        for (i, case) in cases.iter().enumerate() {
            c.push(StreamId::new(2, i as u64), StreamId::new(1, 0), &fv(case));
            let got: Vec<Vec<u8>> = c.fields(i + 1).iter().map(|b| b.to_vec()).collect();
            let want: Vec<Vec<u8>> = fv(case).iter().map(|b| b.to_vec()).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn id_parsing_like_redis() {
        let p = |s: &str| parse_id(s.as_bytes(), 0, false, false).map(|p| p.id);
        assert_eq!(p("-"), Some(StreamId::MIN));
        assert_eq!(p("+"), Some(StreamId::MAX));
        assert_eq!(p("5"), Some(StreamId::new(5, 0)));
        assert_eq!(p("5-3"), Some(StreamId::new(5, 3)));
        assert_eq!(
            p("18446744073709551615-18446744073709551615"),
            Some(StreamId::MAX)
        );
        assert_eq!(p("18446744073709551616"), None);
        assert_eq!(p("-1"), None);
        assert_eq!(p("1-2-3"), None);
        assert_eq!(p("a"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("1-"), None);
        assert_eq!(p("1-*"), None);
        assert_eq!(
            parse_id(b"5", u64::MAX, false, false).map(|p| p.id),
            Some(StreamId::new(5, u64::MAX))
        );
        assert_eq!(parse_id(b"+", 0, true, false), None);
        assert_eq!(parse_id(b"-", 0, true, false), None);
        let star = parse_id(b"7-*", 0, false, true).unwrap();
        assert_eq!((star.id, star.seq_given), (StreamId::new(7, 0), false));
        assert_eq!(parse_id(&[b'1'; 128], 0, false, false), None);
        assert_eq!(
            parse_id(b"3-4\x00junk", 0, false, false).map(|p| p.id),
            Some(StreamId::new(3, 4))
        );
    }

    #[test]
    fn incr_decr_edges() {
        assert_eq!(StreamId::MAX.incr(), None);
        assert_eq!(StreamId::MIN.decr(), None);
        assert_eq!(StreamId::new(1, u64::MAX).incr(), Some(StreamId::new(2, 0)));
        assert_eq!(StreamId::new(2, 0).decr(), Some(StreamId::new(1, u64::MAX)));
    }

    #[test]
    fn chunks_split_at_max_entries_and_approx_trim_drops_whole_chunks() {
        let mut s = Stream::new();
        let lim = NodeLimits {
            max_entries: 10,
            max_bytes: 4096,
        };
        for i in 1..=35 {
            s.append(StreamId::new(i, 0), &fv(&[("f", "v")]), lim);
        }
        assert_eq!(s.chunk_count(), 4);
        assert_eq!(s.trim(Trim::MaxLen(12), true, 0), 20);
        assert_eq!(s.len(), 15);
        assert_eq!(s.first_id, StreamId::new(21, 0));
        assert_eq!(s.trim(Trim::MaxLen(12), false, 0), 3);
        assert_eq!(s.len(), 12);
        assert_eq!(ids(&s).first(), Some(&StreamId::new(24, 0)));
        assert_eq!(s.trim(Trim::MinId(StreamId::new(30, 0)), false, 0), 6);
        assert_eq!(ids(&s).first(), Some(&StreamId::new(30, 0)));
    }

    #[test]
    fn big_values_start_new_chunks_by_bytes() {
        let mut s = Stream::new();
        let big = "x".repeat(1500);
        for i in 1..=5 {
            s.append(
                StreamId::new(i, 0),
                &fv(&[("f", &big)]),
                NodeLimits::default(),
            );
        }
        // 4096 bytes hold two such entries.
        assert_eq!(s.chunk_count(), 3);
        // Different field names per entry (no SAMEFIELDS): Redis 7.0 makes 2 listpacks.
        let mut s = Stream::new();
        let v = "y".repeat(90);
        for i in 1..=60 {
            s.append(
                StreamId::new(i, 0),
                &fv(&[(&format!("field{i}"), &v)]),
                NodeLimits::default(),
            );
        }
        assert_eq!(s.chunk_count(), 2);
    }

    #[test]
    fn rax_node_counts() {
        let mut s = Stream::new();
        let lim = NodeLimits {
            max_entries: 1,
            max_bytes: 4096,
        };
        assert_eq!(s.rax_nodes(), 1);
        s.append(StreamId::new(1, 0), &fv(&[("a", "b")]), lim);
        assert_eq!(s.rax_nodes(), 2);
        // Counts Redis 7.0 reports in XINFO STREAM for the same keys.
        s.append(StreamId::new(2, 0), &fv(&[("a", "b")]), lim);
        assert_eq!(s.rax_nodes(), 6);
        s.append(StreamId::new(3, 0), &fv(&[("a", "b")]), lim);
        assert_eq!(s.rax_nodes(), 8);
        s.append(StreamId::new(300, 0), &fv(&[("a", "b")]), lim);
        assert_eq!(s.rax_nodes(), 11);
        assert!(s.delete(StreamId::new(2, 0)));
        assert_eq!(s.rax_nodes(), 9);
    }

    proptest! {
        #[test]
        fn range_matches_a_model(
            ops in proptest::collection::vec((0u8..4, 0u64..60), 1..200),
            max_entries in 1u64..8,
        ) {
            let lim = NodeLimits { max_entries, max_bytes: 4096 };
            let mut s = Stream::new();
            let mut model: BTreeMap<StreamId, String> = BTreeMap::new();
            let mut next = 1u64;
            for (op, x) in ops {
                match op {
                    0 | 1 => {
                        let id = StreamId::new(next, x);
                        next += 1 + x % 3;
                        let v = format!("v{x}");
                        // Alternate field names so both entry layouts (same fields as the
                        // chunk's first entry or not) are exercised.
                        let name = if x % 3 == 0 { "g" } else { "f" };
                        s.append(id, &fv(&[(name, &v)]), lim);
                        model.insert(id, format!("{name}={v}"));
                    }
                    2 => {
                        let target = model.keys().nth(x as usize % model.len().max(1)).copied();
                        if let Some(id) = target {
                            prop_assert!(s.delete(id));
                            model.remove(&id);
                        }
                    }
                    _ => {
                        let keep = x % 20;
                        s.trim(Trim::MaxLen(keep), false, 0);
                        while model.len() as u64 > keep {
                            model.pop_first();
                        }
                    }
                }
                prop_assert_eq!(s.len(), model.len() as u64);
            }
            let got = ids(&s);
            let want: Vec<StreamId> = model.keys().copied().collect();
            prop_assert_eq!(&got, &want);
            let mut rev = Vec::new();
            s.range(StreamId::MIN, StreamId::MAX, true, |id, f| {
                rev.push((id, [f[0], b"=", f[1]].concat()));
                true
            });
            rev.reverse();
            let want_v: Vec<(StreamId, Vec<u8>)> =
                model.iter().map(|(k, v)| (*k, v.as_bytes().to_vec())).collect();
            prop_assert_eq!(rev, want_v);
            if let (Some(a), Some(b)) = (want.first(), want.last()) {
                let mid = StreamId::new((a.ms + b.ms) / 2, 0);
                let mut part = Vec::new();
                s.range(mid, StreamId::MAX, false, |id, _| { part.push(id); true });
                let want_part: Vec<StreamId> = want.iter().copied().filter(|&i| i >= mid).collect();
                prop_assert_eq!(part, want_part);
            }
        }

        #[test]
        fn parse_roundtrips(ms in any::<u64>(), seq in any::<u64>()) {
            let s = StreamId::new(ms, seq).to_string();
            prop_assert_eq!(parse_id(s.as_bytes(), 0, true, false).map(|p| p.id), Some(StreamId::new(ms, seq)));
        }
    }
}
