//! A hash: field -> value. Small hashes are a compact pair list (`listpack`), large ones a hash
//! table (`hashtable`), switched by `hash-max-listpack-entries`/`-value`.
//!
//! The `listpack` form is one byte buffer of `len field len value` records (varint lengths)
//! in insertion order, which is the order Redis replies in. The `hashtable` form is a
//! [`Dict`] whose entries are `len field value` in one [`SmallBytes`]. As in Redis a hash
//! never converts back to `listpack`.

use rand::Rng;

use super::dict::{get_len, len_bytes, put_len, Dict, KeyOf};
use crate::db::SmallBytes;

/// A `hashtable` entry's key is its field: `len(field) field value`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FieldKey;

impl KeyOf for FieldKey {
    fn key(entry: &[u8]) -> &[u8] {
        split_entry(entry).0
    }
}

/// `(field, value)` of a `hashtable` entry.
fn split_entry(entry: &[u8]) -> (&[u8], &[u8]) {
    let (n, used) = get_len(entry);
    let rest = &entry[used..];
    rest.split_at(n.min(rest.len()))
}

fn make_entry(field: &[u8], value: &[u8]) -> SmallBytes {
    let mut b = Vec::with_capacity(len_bytes(field.len()) + field.len() + value.len());
    put_len(&mut b, field.len());
    b.extend_from_slice(field);
    b.extend_from_slice(value);
    SmallBytes::from_vec(b)
}

/// The small encoding: `len field len value` records in insertion order.
#[derive(Debug, Clone, Default)]
pub struct Listpack {
    buf: Vec<u8>,
    len: u32,
}

/// One record of a listpack: where it starts and ends, and its field and value ranges.
struct Record {
    start: usize,
    end: usize,
    field: (usize, usize),
    value: (usize, usize),
}

impl Listpack {
    fn record_at(&self, start: usize) -> Record {
        let (flen, u1) = get_len(&self.buf[start..]);
        let fs = start + u1;
        let (vlen, u2) = get_len(&self.buf[fs + flen..]);
        let vs = fs + flen + u2;
        Record {
            start,
            end: vs + vlen,
            field: (fs, fs + flen),
            value: (vs, vs + vlen),
        }
    }

    fn records(&self) -> impl Iterator<Item = Record> + '_ {
        let mut pos = 0;
        std::iter::from_fn(move || {
            if pos >= self.buf.len() {
                return None;
            }
            let r = self.record_at(pos);
            pos = r.end;
            Some(r)
        })
    }

    fn find(&self, field: &[u8]) -> Option<Record> {
        self.records()
            .find(|r| &self.buf[r.field.0..r.field.1] == field)
    }

    fn pair(&self, r: &Record) -> (&[u8], &[u8]) {
        (
            &self.buf[r.field.0..r.field.1],
            &self.buf[r.value.0..r.value.1],
        )
    }

    fn push(&mut self, field: &[u8], value: &[u8]) {
        // Grow to the exact size, as a listpack reallocates per insert: doubling would leave
        // up to half of every small hash unused.
        self.buf.reserve_exact(field.len() + value.len() + 20);
        put_len(&mut self.buf, field.len());
        self.buf.extend_from_slice(field);
        put_len(&mut self.buf, value.len());
        self.buf.extend_from_slice(value);
        self.len += 1;
    }
}

/// A hash value.
#[derive(Debug, Clone)]
pub enum HashValue {
    Listpack(Listpack),
    Table(Dict<FieldKey>),
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::Listpack(Listpack::default())
    }
}

/// Iterator over `(field, value)` pairs, in the hash's order.
pub enum Iter<'a> {
    Listpack(&'a Listpack, usize),
    Table(std::slice::Iter<'a, SmallBytes>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Listpack(lp, pos) => {
                if *pos >= lp.buf.len() {
                    return None;
                }
                let r = lp.record_at(*pos);
                *pos = r.end;
                Some(lp.pair(&r))
            }
            Iter::Table(it) => it.next().map(|e| split_entry(e)),
        }
    }
}

/// The `listpack` limits (`hash-max-listpack-entries`, `hash-max-listpack-value`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub entries: u64,
    pub value: u64,
}

impl HashValue {
    pub fn len(&self) -> usize {
        match self {
            HashValue::Listpack(lp) => lp.len as usize,
            HashValue::Table(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The encoding name for `OBJECT ENCODING`.
    pub fn encoding(&self) -> &'static str {
        match self {
            HashValue::Listpack(_) => "listpack",
            HashValue::Table(_) => "hashtable",
        }
    }

    /// Approximate heap bytes used (`MEMORY USAGE`).
    pub fn heap_size(&self) -> usize {
        match self {
            HashValue::Listpack(lp) => lp.buf.capacity(),
            HashValue::Table(d) => d.heap_size(),
        }
    }

    pub fn iter(&self) -> Iter<'_> {
        match self {
            HashValue::Listpack(lp) => Iter::Listpack(lp, 0),
            HashValue::Table(d) => Iter::Table(d.iter()),
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            HashValue::Listpack(lp) => lp.find(field).map(|r| lp.pair(&r).1),
            HashValue::Table(d) => d.find(field).map(|i| split_entry(d.at(i)).1),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Switches to the `hashtable` encoding.
    pub fn convert(&mut self, extra: usize) {
        if let HashValue::Listpack(lp) = self {
            let mut d = Dict::with_capacity(lp.len as usize + extra);
            for r in lp.records() {
                let (f, v) = lp.pair(&r);
                d.insert_new(make_entry(f, v));
            }
            *self = HashValue::Table(d);
        }
    }

    /// Before adding `fields` pairs whose lengths are in `lens` (Redis
    /// `hashTypeTryConversion`): if any is too long the hash becomes a hashtable first.
    pub fn prepare<'a>(&mut self, fields: usize, lens: impl Iterator<Item = &'a [u8]>, l: Limits) {
        if !matches!(self, HashValue::Listpack(_)) {
            return;
        }
        for a in lens {
            if a.len() as u64 > l.value {
                self.convert(fields);
                return;
            }
        }
    }

    /// Sets `field` to `value`; true if the field is new. A listpack grown past the entry
    /// limit, or given a field or value over the size limit, becomes a hashtable.
    pub fn set(&mut self, field: &[u8], value: &[u8], l: Limits) -> bool {
        if let HashValue::Listpack(_) = self {
            if field.len() as u64 > l.value || value.len() as u64 > l.value {
                self.convert(1);
            }
        }
        match self {
            HashValue::Listpack(lp) => {
                let new = match lp.find(field) {
                    Some(r) => {
                        let mut rec = Vec::with_capacity(value.len() + 2);
                        put_len(&mut rec, value.len());
                        rec.extend_from_slice(value);
                        lp.buf.splice(r.field.1..r.end, rec);
                        false
                    }
                    None => {
                        lp.push(field, value);
                        true
                    }
                };
                // Checked after updates too: the limit may have been lowered since.
                if lp.len as u64 > l.entries {
                    self.convert(0);
                }
                new
            }
            HashValue::Table(d) => match d.find(field) {
                Some(i) => {
                    // A value of the same length is written over the old one: no block is
                    // allocated or freed (the field, at the front, stays as it is).
                    let at = len_bytes(field.len()) + field.len();
                    match d.entry_mut(i).heap_mut() {
                        Some(e) if e.len() == at + value.len() => e[at..].copy_from_slice(value),
                        _ => d.replace_at(i, make_entry(field, value)),
                    }
                    false
                }
                None => {
                    d.insert_new(make_entry(field, value));
                    true
                }
            },
        }
    }

    /// Removes `field`; true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            HashValue::Listpack(lp) => match lp.find(field) {
                Some(r) => {
                    lp.buf.drain(r.start..r.end);
                    lp.len -= 1;
                    true
                }
                None => false,
            },
            HashValue::Table(d) => d.remove(field).is_some(),
        }
    }

    /// Positions of every pair, for repeated random picks from a listpack in O(1) each.
    fn offsets(&self) -> Vec<usize> {
        match self {
            HashValue::Listpack(lp) => lp.records().map(|r| r.start).collect(),
            HashValue::Table(_) => Vec::new(),
        }
    }

    /// A source of random pairs (the hash must not be empty).
    pub fn sampler(&self) -> Sampler<'_> {
        Sampler {
            hash: self,
            offsets: self.offsets(),
        }
    }

    /// One HSCAN step: a listpack is returned whole with cursor 0, a hashtable in steps.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        match self {
            HashValue::Listpack(_) => {
                for (k, v) in self.iter() {
                    f(k, v);
                }
                0
            }
            HashValue::Table(d) => d.scan(cursor, count, |e| {
                let (k, v) = split_entry(e);
                f(k, v)
            }),
        }
    }
}

/// Picks pairs of a hash by position.
pub struct Sampler<'a> {
    hash: &'a HashValue,
    offsets: Vec<usize>,
}

impl<'a> Sampler<'a> {
    /// The pair at position `i` (`0..len`).
    pub fn nth(&self, i: usize) -> (&'a [u8], &'a [u8]) {
        match self.hash {
            HashValue::Listpack(lp) => lp.pair(&lp.record_at(self.offsets[i])),
            HashValue::Table(d) => split_entry(d.at(i)),
        }
    }

    pub fn random(&self, rng: &mut impl Rng) -> (&'a [u8], &'a [u8]) {
        self.nth(rng.gen_range(0..self.hash.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const L: Limits = Limits {
        entries: 4,
        value: 8,
    };

    fn pairs(h: &HashValue) -> Vec<(String, String)> {
        h.iter()
            .map(|(f, v)| {
                (
                    String::from_utf8_lossy(f).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn table_overwrites_values_of_any_length() {
        let mut h = HashValue::default();
        let long = |c: u8, n: usize| vec![c; n];
        for i in 0..10u8 {
            assert!(h.set(&[b'f', i], &long(i, 30), L));
        }
        assert!(matches!(h, HashValue::Table(_)));
        // Same length (written in place), shorter, inline-sized, and longer.
        for (n, c) in [(30, b'x'), (12, b'y'), (1, b'z'), (300, b'w'), (300, b'v')] {
            assert!(!h.set(b"f\x03", &long(c, n), L));
            assert_eq!(h.get(b"f\x03"), Some(&long(c, n)[..]));
            assert_eq!(h.get(b"f\x04"), Some(&long(4, 30)[..]));
        }
        assert_eq!(h.len(), 10);
    }

    #[test]
    fn listpack_keeps_insertion_order_and_converts() {
        let mut h = HashValue::default();
        assert!(h.set(b"b", b"1", L));
        assert!(h.set(b"a", b"2", L));
        assert!(!h.set(b"b", b"longer", L));
        assert_eq!(
            pairs(&h),
            [("b".into(), "longer".into()), ("a".into(), "2".into())]
        );
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        assert_eq!(h.get(b"a"), Some(&b"2"[..]));
        assert_eq!(h.encoding(), "listpack");
        for f in [&b"c"[..], b"d", b"e"] {
            h.set(f, b"x", L);
        }
        assert_eq!(h.encoding(), "listpack");
        h.set(b"f", b"x", L);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 5);
        assert_eq!(h.get(b"f"), Some(&b"x"[..]));

        let mut h = HashValue::default();
        h.set(b"f", b"123456789", L);
        assert_eq!(h.encoding(), "hashtable");
        let mut h = HashValue::default();
        h.prepare(1, [&b"123456789"[..]].into_iter(), L);
        assert_eq!(h.encoding(), "hashtable");
    }

    proptest! {
        #[test]
        fn hash_matches_model(ops in proptest::collection::vec((any::<bool>(), 0u8..10, 0usize..12), 0..200)) {
            let mut h = HashValue::default();
            let mut model = std::collections::BTreeMap::new();
            for (set, f, vlen) in ops {
                let field = format!("f{f}");
                let value = "v".repeat(vlen);
                if set {
                    prop_assert_eq!(h.set(field.as_bytes(), value.as_bytes(), L), model.insert(field, value).is_none());
                } else {
                    prop_assert_eq!(h.remove(field.as_bytes()), model.remove(&field).is_some());
                }
                prop_assert_eq!(h.len(), model.len());
            }
            let mut got = pairs(&h);
            got.sort();
            prop_assert_eq!(got, model.into_iter().collect::<Vec<_>>());
            if !h.is_empty() {
                let s = h.sampler();
                for i in 0..h.len() {
                    let (f, v) = s.nth(i);
                    prop_assert_eq!(h.get(f), Some(v));
                }
            }
        }
    }
}
