//! `Dict`: the `hashtable` encoding shared by large sets and hashes.
//!
//! Entries are compact byte strings ([`SmallBytes`]: inline up to 22 bytes) kept densely in a
//! `Vec`, and a hashbrown table of `u32` positions indexes them by key. Per element that is
//! 24 bytes plus 5 of index, against Redis's dict entry, bucket pointer and sds header.
//! The dense vector also gives O(1) random picks (SPOP, SRANDMEMBER, HRANDFIELD) and a scan
//! cursor that keeps SCAN's guarantee (see [`Dict::scan`]).
//!
//! What part of an entry is the key is decided by a [`KeyOf`]: a set's member is the whole
//! entry, a hash entry is `len(field) field value` and its key is the field.

use std::hash::BuildHasher;
use std::marker::PhantomData;

use hashbrown::HashTable;

use crate::db::SmallBytes;

/// Where the key is inside an entry.
pub trait KeyOf {
    fn key(entry: &[u8]) -> &[u8];
}

/// The whole entry is the key (set members).
#[derive(Debug, Clone, Copy, Default)]
pub struct Whole;

impl KeyOf for Whole {
    fn key(entry: &[u8]) -> &[u8] {
        entry
    }
}

/// Appends `n` as a little-endian base-128 varint.
pub fn put_len(buf: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

/// Bytes [`put_len`] writes for `n`.
pub fn len_bytes(n: usize) -> usize {
    (usize::BITS - (n | 1).leading_zeros()).div_ceil(7) as usize
}

/// Reads a varint written by [`put_len`]: `(value, bytes used)`.
pub fn get_len(buf: &[u8]) -> (usize, usize) {
    let mut n = 0usize;
    let mut shift = 0;
    for (i, &b) in buf.iter().enumerate() {
        n |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            return (n, i + 1);
        }
        shift += 7;
    }
    (n, buf.len())
}

/// A hash table of byte-string entries, indexed by the key part of each entry.
pub struct Dict<K: KeyOf> {
    entries: Vec<SmallBytes>,
    index: HashTable<u32>,
    state: foldhash::fast::RandomState,
    _key: PhantomData<K>,
}

impl<K: KeyOf> Clone for Dict<K> {
    fn clone(&self) -> Self {
        Dict {
            entries: self.entries.clone(),
            index: self.index.clone(),
            state: self.state,
            _key: PhantomData,
        }
    }
}

impl<K: KeyOf> std::fmt::Debug for Dict<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries.iter()).finish()
    }
}

impl<K: KeyOf> Default for Dict<K> {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl<K: KeyOf> Dict<K> {
    pub fn with_capacity(n: usize) -> Self {
        Dict {
            entries: Vec::with_capacity(n),
            index: HashTable::with_capacity(n),
            state: foldhash::fast::RandomState::default(),
            _key: PhantomData,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The position of the entry whose key is `key`.
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        let h = self.state.hash_one(key);
        let entries = &self.entries;
        self.index
            .find(h, |&i| K::key(&entries[i as usize]) == key)
            .map(|&i| i as usize)
    }

    /// The entry at `pos` (positions are `0..len`).
    pub fn at(&self, pos: usize) -> &[u8] {
        &self.entries[pos]
    }

    /// The entry at `pos`, to be changed in place; the caller keeps its key part as it is.
    pub fn entry_mut(&mut self, pos: usize) -> &mut SmallBytes {
        &mut self.entries[pos]
    }

    /// Starts loading what a lookup of `key` reads, without waiting for it (as
    /// [`crate::db::table::KeyTable::prefetch`] does for keys). `deep` is the second step,
    /// once the first one's lines have arrived: the candidates' entries are read and the
    /// heap blocks they point to are prefetched.
    pub fn prefetch(&self, key: &[u8], deep: bool) {
        let h = self.state.hash_one(key);
        let entries = &self.entries;
        let _ = self.index.find(h, |&i| {
            if let Some(e) = entries.get(i as usize) {
                if !deep {
                    crate::util::prefetch(e);
                } else if let SmallBytes::Heap(b) = e {
                    crate::util::prefetch(b.as_ptr().wrapping_sub(16));
                }
            }
            false
        });
    }

    /// Adds an entry whose key is not present yet.
    pub fn insert_new(&mut self, entry: SmallBytes) {
        let h = self.state.hash_one(K::key(&entry));
        let pos = self.entries.len() as u32;
        let (entries, state) = (&self.entries, &self.state);
        self.index
            .insert_unique(h, pos, |&i| state.hash_one(K::key(&entries[i as usize])));
        self.entries.push(entry);
    }

    /// Replaces the entry at `pos` with one that has the same key.
    pub fn replace_at(&mut self, pos: usize, entry: SmallBytes) {
        debug_assert_eq!(K::key(&entry), K::key(&self.entries[pos]));
        self.entries[pos] = entry;
    }

    /// Removes the entry at `pos`; the last entry takes its place.
    pub fn remove_at(&mut self, pos: usize) -> SmallBytes {
        let h = self.state.hash_one(K::key(&self.entries[pos]));
        if let Ok(slot) = self.index.find_entry(h, |&i| i as usize == pos) {
            slot.remove();
        }
        let last = self.entries.len() - 1;
        if pos != last {
            let h = self.state.hash_one(K::key(&self.entries[last]));
            if let Some(slot) = self.index.find_mut(h, |&i| i as usize == last) {
                *slot = pos as u32;
            }
        }
        let removed = self.entries.swap_remove(pos);
        self.maybe_shrink();
        removed
    }

    /// Removes the entry with key `key`.
    pub fn remove(&mut self, key: &[u8]) -> Option<SmallBytes> {
        let pos = self.find(key)?;
        Some(self.remove_at(pos))
    }

    /// Gives memory back once the table is mostly empty (Redis resizes its dicts too).
    fn maybe_shrink(&mut self) {
        let len = self.entries.len();
        if self.entries.capacity() > 16 && len < self.entries.capacity() / 4 {
            self.entries.shrink_to(len * 2);
            let (entries, state) = (&self.entries, &self.state);
            self.index
                .shrink_to(len * 2, |&i| state.hash_one(K::key(&entries[i as usize])));
        }
    }

    pub fn iter(&self) -> std::slice::Iter<'_, SmallBytes> {
        self.entries.iter()
    }

    /// One step of a SCAN: visits about `count` entries and returns the next cursor (0: done).
    ///
    /// The cursor is the number of positions still to visit, walked from the top down, so
    /// cursor 0 starts at `len`. Removing an entry moves the last one (already visited) into
    /// the hole, and new entries are appended above the cursor, so every entry present for a
    /// whole iteration is returned at least once, as SCAN promises.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8])) -> u64 {
        let len = self.entries.len() as u64;
        let top = if cursor == 0 { len } else { cursor.min(len) };
        let bottom = top.saturating_sub(count.max(1) as u64);
        for e in self.entries[bottom as usize..top as usize].iter().rev() {
            f(e);
        }
        bottom
    }

    /// Approximate heap bytes used.
    pub fn heap_size(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<SmallBytes>()
            + self.entries.iter().map(|e| e.heap_size()).sum::<usize>()
            + self.index.capacity() * (std::mem::size_of::<u32>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn varints_round_trip() {
        for n in [0usize, 1, 127, 128, 300, 16383, 16384, 1 << 30] {
            let mut b = Vec::new();
            put_len(&mut b, n);
            assert_eq!(get_len(&b), (n, b.len()));
            assert_eq!(len_bytes(n), b.len(), "{n}");
        }
    }

    #[test]
    fn prefetch_reads_nothing_it_changes() {
        let mut d: Dict<Whole> = Dict::default();
        let long = |i: u32| format!("member:{i:040}").into_bytes();
        for i in 0..100 {
            d.insert_new(SmallBytes::new(&long(i)));
            d.insert_new(SmallBytes::new(&i.to_be_bytes()));
        }
        for i in 0..300 {
            for deep in [false, true] {
                d.prefetch(&long(i), deep);
                d.prefetch(&i.to_be_bytes(), deep);
            }
        }
        assert_eq!(d.len(), 200);
        assert!((0..100).all(|i| d.find(&long(i)).is_some() && d.find(&i.to_be_bytes()).is_some()));
    }

    proptest! {
        #[test]
        fn behaves_like_a_set(ops in proptest::collection::vec((any::<bool>(), 0u8..40), 0..300)) {
            let mut d: Dict<Whole> = Dict::default();
            let mut model = std::collections::BTreeSet::new();
            for (add, k) in ops {
                let key = [k];
                if add {
                    if d.find(&key).is_none() {
                        d.insert_new(SmallBytes::new(&key));
                    }
                    model.insert(k);
                } else {
                    prop_assert_eq!(d.remove(&key).is_some(), model.remove(&k));
                }
                prop_assert_eq!(d.len(), model.len());
            }
            for k in 0u8..40 {
                prop_assert_eq!(d.find(&[k]).is_some(), model.contains(&k));
            }
            let mut seen: Vec<u8> = d.iter().map(|e| e[0]).collect();
            seen.sort_unstable();
            prop_assert_eq!(seen, model.iter().copied().collect::<Vec<_>>());
        }

        #[test]
        fn scan_returns_survivors(n in 1usize..200, count in 1usize..30, del in 0usize..50) {
            let mut d: Dict<Whole> = Dict::default();
            for i in 0..n {
                d.insert_new(SmallBytes::new(format!("m{i}").as_bytes()));
            }
            let mut seen = std::collections::HashSet::new();
            let mut cursor = 0;
            let mut step = 0;
            loop {
                cursor = d.scan(cursor, count, |e| { seen.insert(e.to_vec()); });
                // Remove and add entries between calls.
                if step < del && !d.is_empty() {
                    let k = format!("m{}", (step * 7) % n);
                    d.remove(k.as_bytes());
                    d.insert_new(SmallBytes::new(format!("new{step}").as_bytes()));
                }
                step += 1;
                if cursor == 0 { break; }
            }
            for e in d.iter() {
                if e.starts_with(b"m") {
                    prop_assert!(seen.contains(&e.to_vec()), "{:?} missed", e);
                }
            }
        }
    }
}
