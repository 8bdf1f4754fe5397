//! A set of byte strings: all-integer small sets are a sorted integer array (`intset`, up to
//! `set-max-intset-entries`), others a hash table (`hashtable`).
//!
//! As in Redis 7.0, a new set starts as an intset when its first member is an integer (the
//! canonical text of an `i64`), becomes a hashtable when a non-integer is added or the intset
//! grows past the limit, and never converts back.

use rand::Rng;

use super::dict::{Dict, Whole};
use crate::db::SmallBytes;
use crate::util::num::parse_i64;

/// Sorted distinct integers in the narrowest width (2, 4 or 8 bytes, little endian) that fits
/// them all, like Redis's intset.
#[derive(Debug, Clone)]
pub struct IntSet {
    width: u8,
    data: Vec<u8>,
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet {
            width: 2,
            data: Vec::new(),
        }
    }
}

fn width_of(v: i64) -> u8 {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

impl IntSet {
    pub fn len(&self) -> usize {
        self.data.len() / self.width as usize
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The `i`-th smallest member.
    pub fn get(&self, i: usize) -> i64 {
        let w = self.width as usize;
        let b = &self.data[i * w..(i + 1) * w];
        match w {
            2 => i16::from_le_bytes([b[0], b[1]]) as i64,
            4 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
            _ => i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        }
    }

    fn search(&self, v: i64) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get(mid).cmp(&v) {
                std::cmp::Ordering::Equal => return Ok(mid),
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        Err(lo)
    }

    pub fn contains(&self, v: i64) -> bool {
        width_of(v) <= self.width && self.search(v).is_ok()
    }

    fn encode(v: i64, w: u8) -> ([u8; 8], usize) {
        let mut out = [0u8; 8];
        match w {
            2 => out[..2].copy_from_slice(&(v as i16).to_le_bytes()),
            4 => out[..4].copy_from_slice(&(v as i32).to_le_bytes()),
            _ => out.copy_from_slice(&v.to_le_bytes()),
        }
        (out, w as usize)
    }

    /// Adds `v`; false if it was already there.
    pub fn insert(&mut self, v: i64) -> bool {
        let need = width_of(v);
        if need > self.width {
            let mut data = Vec::with_capacity((self.len() + 1) * need as usize);
            for i in 0..self.len() {
                let (b, n) = Self::encode(self.get(i), need);
                data.extend_from_slice(&b[..n]);
            }
            self.data = data;
            self.width = need;
        }
        match self.search(v) {
            Ok(_) => false,
            Err(pos) => {
                let (b, n) = Self::encode(v, self.width);
                let at = pos * n;
                // Exact growth, as an intset reallocates per insert.
                self.data.reserve_exact(n);
                self.data.splice(at..at, b[..n].iter().copied());
                true
            }
        }
    }

    /// Removes `v`; false if it was not there.
    pub fn remove(&mut self, v: i64) -> bool {
        if width_of(v) > self.width {
            return false;
        }
        match self.search(v) {
            Ok(pos) => {
                self.remove_at(pos);
                true
            }
            Err(_) => false,
        }
    }

    pub fn remove_at(&mut self, pos: usize) -> i64 {
        let v = self.get(pos);
        let w = self.width as usize;
        self.data.drain(pos * w..(pos + 1) * w);
        v
    }

    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    pub fn heap_size(&self) -> usize {
        self.data.capacity()
    }
}

/// A set value.
#[derive(Debug, Clone)]
pub enum SetValue {
    Ints(IntSet),
    Table(Dict<Whole>),
}

impl Default for SetValue {
    fn default() -> Self {
        SetValue::Ints(IntSet::default())
    }
}

/// A member read from a set: intset members are integers, formatted on demand.
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Member<'_> {
    /// The member's text (integers written into `tmp`).
    pub fn bytes<'b>(&'b self, tmp: &'b mut itoa::Buffer) -> &'b [u8] {
        match self {
            Member::Int(v) => tmp.format(*v).as_bytes(),
            Member::Bytes(b) => b,
        }
    }

    pub fn to_small(&self) -> SmallBytes {
        let mut tmp = itoa::Buffer::new();
        SmallBytes::new(self.bytes(&mut tmp))
    }
}

impl SetValue {
    /// An empty set of the encoding Redis picks for a set whose first member is `first`.
    pub fn new_for(first: &[u8]) -> SetValue {
        if parse_i64(first).is_some() {
            SetValue::Ints(IntSet::default())
        } else {
            SetValue::Table(Dict::default())
        }
    }

    pub fn len(&self) -> usize {
        match self {
            SetValue::Ints(s) => s.len(),
            SetValue::Table(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The encoding name for `OBJECT ENCODING`.
    pub fn encoding(&self) -> &'static str {
        match self {
            SetValue::Ints(_) => "intset",
            SetValue::Table(_) => "hashtable",
        }
    }

    /// Approximate heap bytes used (`MEMORY USAGE`).
    pub fn heap_size(&self) -> usize {
        match self {
            SetValue::Ints(s) => s.heap_size(),
            SetValue::Table(d) => d.heap_size(),
        }
    }

    /// Switches to the `hashtable` encoding.
    fn convert(&mut self, extra: usize) {
        if let SetValue::Ints(s) = self {
            let mut d = Dict::with_capacity(s.len() + extra);
            let mut tmp = itoa::Buffer::new();
            for v in s.iter() {
                d.insert_new(SmallBytes::new(tmp.format(v).as_bytes()));
            }
            *self = SetValue::Table(d);
        }
    }

    /// Adds `member`; false if it was already there. `max_intset` is `set-max-intset-entries`.
    pub fn add(&mut self, member: &[u8], max_intset: u64) -> bool {
        if let SetValue::Ints(s) = self {
            match parse_i64(member) {
                Some(v) => {
                    if !s.insert(v) {
                        return false;
                    }
                    if s.len() as u64 > max_intset {
                        self.convert(0);
                    }
                    return true;
                }
                None => self.convert(1),
            }
        }
        let SetValue::Table(d) = self else {
            return false;
        };
        if d.find(member).is_some() {
            return false;
        }
        d.insert_new(SmallBytes::new(member));
        true
    }

    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            SetValue::Ints(s) => parse_i64(member).is_some_and(|v| s.remove(v)),
            SetValue::Table(d) => d.remove(member).is_some(),
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            SetValue::Ints(s) => parse_i64(member).is_some_and(|v| s.contains(v)),
            SetValue::Table(d) => d.find(member).is_some(),
        }
    }

    /// The member at position `i` (`0..len`) of the set's own order.
    pub fn nth(&self, i: usize) -> Member<'_> {
        match self {
            SetValue::Ints(s) => Member::Int(s.get(i)),
            SetValue::Table(d) => Member::Bytes(d.at(i)),
        }
    }

    /// Calls `f` with every member, in the set's order (ascending for an intset).
    pub fn for_each(&self, mut f: impl FnMut(&[u8])) {
        match self {
            SetValue::Ints(s) => {
                let mut tmp = itoa::Buffer::new();
                for v in s.iter() {
                    f(tmp.format(v).as_bytes());
                }
            }
            SetValue::Table(d) => d.iter().for_each(|e| f(e)),
        }
    }

    /// Every member as owned bytes, in the set's order.
    pub fn members(&self) -> Vec<SmallBytes> {
        let mut out = Vec::with_capacity(self.len());
        self.for_each(|m| out.push(SmallBytes::new(m)));
        out
    }

    /// Removes and returns a random member (the set must not be empty).
    pub fn pop_random(&mut self, rng: &mut impl Rng) -> SmallBytes {
        let i = rng.gen_range(0..self.len());
        match self {
            SetValue::Ints(s) => {
                SmallBytes::new(itoa::Buffer::new().format(s.remove_at(i)).as_bytes())
            }
            SetValue::Table(d) => d.remove_at(i),
        }
    }

    /// A set built by adding `members` in order, as Redis builds a STORE result.
    pub fn from_members<'a>(
        members: impl IntoIterator<Item = &'a [u8]>,
        max_intset: u64,
    ) -> SetValue {
        let mut s = SetValue::default();
        for m in members {
            s.add(m, max_intset);
        }
        s
    }

    /// One SSCAN step: an intset is returned whole with cursor 0, a hashtable in steps.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8])) -> u64 {
        match self {
            SetValue::Ints(_) => {
                self.for_each(f);
                0
            }
            SetValue::Table(d) => d.scan(cursor, count, |e| f(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encodings_follow_redis() {
        let mut s = SetValue::new_for(b"1");
        assert_eq!(s.encoding(), "intset");
        assert!(s.add(b"3", 512));
        assert!(s.add(b"-1", 512));
        assert!(!s.add(b"3", 512));
        assert!(s.add(b"100000", 512));
        assert!(s.add(b"-9223372036854775808", 512));
        let mut order = Vec::new();
        s.for_each(|m| order.push(String::from_utf8_lossy(m).into_owned()));
        assert_eq!(order, ["-9223372036854775808", "-1", "3", "100000"]);
        assert!(s.contains(b"100000"));
        assert!(!s.contains(b"03"));
        assert!(s.add(b"03", 512));
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"3") && s.contains(b"03"));
        assert_eq!(s.len(), 5);

        let mut s = SetValue::new_for(b"1");
        for i in 0..3 {
            s.add(i.to_string().as_bytes(), 2);
        }
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(SetValue::new_for(b"a").encoding(), "hashtable");
    }

    #[test]
    fn pop_drains() {
        let mut rng = rand::thread_rng();
        let mut s = SetValue::from_members([&b"1"[..], b"2", b"x"], 512);
        let mut got: Vec<SmallBytes> = (0..3).map(|_| s.pop_random(&mut rng)).collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                SmallBytes::new(b"1"),
                SmallBytes::new(b"2"),
                SmallBytes::new(b"x")
            ]
        );
        assert!(s.is_empty());
    }

    proptest! {
        #[test]
        fn intset_is_a_sorted_set(ops in proptest::collection::vec((any::<bool>(), prop_oneof![
            -40i64..40, any::<i64>(), -70000i64..70000,
        ]), 0..200)) {
            let mut s = IntSet::default();
            let mut model = std::collections::BTreeSet::new();
            for (add, v) in ops {
                if add {
                    prop_assert_eq!(s.insert(v), model.insert(v));
                } else {
                    prop_assert_eq!(s.remove(v), model.remove(&v));
                }
                prop_assert_eq!(s.iter().collect::<Vec<_>>(), model.iter().copied().collect::<Vec<_>>());
            }
        }

        #[test]
        fn set_matches_model(ops in proptest::collection::vec((0u8..3, 0u8..30), 0..200)) {
            let mut s = SetValue::default();
            let mut model = std::collections::BTreeSet::new();
            for (op, k) in ops {
                let m = if k < 20 { k.to_string() } else { format!("s{k}") };
                match op {
                    0 | 1 => prop_assert_eq!(s.add(m.as_bytes(), 8), model.insert(m.clone())),
                    _ => prop_assert_eq!(s.remove(m.as_bytes()), model.remove(&m)),
                }
                prop_assert_eq!(s.len(), model.len());
            }
            let mut all: Vec<String> = Vec::new();
            s.for_each(|m| all.push(String::from_utf8_lossy(m).into_owned()));
            all.sort();
            prop_assert_eq!(all, model.into_iter().collect::<Vec<_>>());
        }
    }
}
