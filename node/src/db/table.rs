//! `KeyTable`: one database's keys within one shard (64 hash slots), in a single hash table.
//!
//! Each key and its entry live together in one heap node and the table holds only node pointers, so a table's spare capacity (a hash table is
//! between 44% and 87% full) costs 9 bytes per empty bucket instead of a whole key and entry.
//!
//! One table per shard rather than one per slot: a lookup goes shard -> table header (one of
//! a few hundred, which stay in cache) -> control bytes -> node, instead of also loading one
//! of 16384 per-slot headers, and the control bytes of all tables are dense enough to stay in
//! cache too. Per-slot key counts are kept beside the table (CLUSTER COUNTKEYSINSLOT, SCAN
//! skipping empty slots); per-slot iteration filters the shard's table by the slot stored in
//! each entry (in the entry's padding: the node stays 72 bytes).

use std::hash::BuildHasher;
use std::sync::OnceLock;

use hashbrown::hash_table::{Entry as TableEntry, HashTable};

use super::small::SmallBytes;
use super::value::Entry;
use super::SLOTS_PER_SHARD;

struct Node {
    key: SmallBytes,
    entry: Entry,
}

/// Keys hash with one random seed per process (hash flooding resistance).
fn hash(key: &[u8]) -> u64 {
    static STATE: OnceLock<foldhash::fast::RandomState> = OnceLock::new();
    STATE.get_or_init(Default::default).hash_one(key)
}

fn slot_index(slot: u16) -> usize {
    slot as usize % SLOTS_PER_SHARD
}

pub struct KeyTable {
    table: HashTable<Box<Node>>,
    /// Keys per slot of the shard.
    counts: [u32; SLOTS_PER_SHARD],
}

impl Default for KeyTable {
    fn default() -> Self {
        KeyTable {
            table: HashTable::new(),
            counts: [0; SLOTS_PER_SHARD],
        }
    }
}

impl KeyTable {
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Keys stored in `slot` (which must belong to this table's shard).
    pub fn slot_len(&self, slot: u16) -> usize {
        self.counts[slot_index(slot)] as usize
    }

    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.table
            .find(hash(key), |n| n.key.as_slice() == key)
            .map(|n| &n.entry)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.table
            .find_mut(hash(key), |n| n.key.as_slice() == key)
            .map(|n| &mut n.entry)
    }

    /// Starts loading what a lookup of `key` touches: the probe walks the control bytes and
    /// bucket pointers now, and the node of each candidate is prefetched, not read.
    pub fn prefetch(&self, key: &[u8]) {
        let _ = self.table.find(hash(key), |n| {
            crate::util::prefetch(&**n);
            false
        });
    }

    /// The second step after [`KeyTable::prefetch`]: reads the key's node (by now on its
    /// way into the cache) and prefetches the value's heap block, with the allocator's
    /// header before it (freeing a replaced value reads that header).
    pub fn prefetch_value(&self, key: &[u8]) {
        if let Some(p) = self.get(key).and_then(|e| e.value.heap_ptr()) {
            crate::util::prefetch(p.wrapping_sub(16));
        }
    }

    pub fn get_key_value(&self, key: &[u8]) -> Option<(&SmallBytes, &Entry)> {
        self.table
            .find(hash(key), |n| n.key.as_slice() == key)
            .map(|n| (&n.key, &n.entry))
    }

    /// Inserts or replaces the key, which hashes to `slot`; returns the old entry.
    pub fn insert(&mut self, slot: u16, key: SmallBytes, mut entry: Entry) -> Option<Entry> {
        entry.slot = slot;
        let h = hash(key.as_slice());
        match self.table.entry(
            h,
            |n| n.key.as_slice() == key.as_slice(),
            |n| hash(n.key.as_slice()),
        ) {
            TableEntry::Occupied(mut o) => Some(std::mem::replace(&mut o.get_mut().entry, entry)),
            TableEntry::Vacant(v) => {
                debug_assert_eq!(slot, super::key_slot(key.as_slice()));
                v.insert(Box::new(Node { key, entry }));
                self.counts[slot_index(slot)] += 1;
                None
            }
        }
    }

    /// Removes the key, which hashes to `slot`; returns its entry.
    pub fn remove(&mut self, slot: u16, key: &[u8]) -> Option<Entry> {
        match self
            .table
            .find_entry(hash(key), |n| n.key.as_slice() == key)
        {
            Ok(o) => {
                self.counts[slot_index(slot)] -= 1;
                Some(o.remove().0.entry)
            }
            Err(_) => None,
        }
    }

    /// Every key, in table order (not grouped by slot).
    pub fn iter(&self) -> impl Iterator<Item = (&SmallBytes, &Entry)> {
        self.table.iter().map(|n| (&n.key, &n.entry))
    }

    /// Every key with its slot, in table order.
    pub fn iter_with_slot(&self) -> impl Iterator<Item = (u16, &SmallBytes, &Entry)> {
        self.table.iter().map(|n| (n.entry.slot, &n.key, &n.entry))
    }

    /// The keys of one slot (walks the table up to the slot's last key).
    pub fn iter_slot(&self, slot: u16) -> impl Iterator<Item = (&SmallBytes, &Entry)> {
        // Stops at the slot's last key (at once for an empty slot).
        self.table
            .iter()
            .filter(move |n| n.entry.slot == slot)
            .take(self.slot_len(slot))
            .map(|n| (&n.key, &n.entry))
    }
}

impl std::fmt::Debug for KeyTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(k, e)| (k.as_slice(), e)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Value;
    use std::collections::HashMap;

    fn entry(n: i64) -> Entry {
        Entry::new(Value::Int(n), 0, 0)
    }

    fn slot(key: &[u8]) -> u16 {
        crate::db::key_slot(key)
    }

    #[test]
    fn node_fits_the_allocation_class() {
        // 72 bytes + malloc's 8-byte header = an 80-byte chunk.
        assert!(
            std::mem::size_of::<Node>() <= 72,
            "{}",
            std::mem::size_of::<Node>()
        );
    }

    fn int(e: &Entry) -> i64 {
        match e.value {
            Value::Int(n) => n,
            _ => unreachable!(),
        }
    }

    proptest::proptest! {
        /// The table behaves like a HashMap under any sequence of inserts and removes.
        #[test]
        fn matches_a_hashmap(ops in proptest::collection::vec((0u8..3, 0u16..200, proptest::num::i64::ANY), 0..400)) {
            let mut t = KeyTable::default();
            let mut m: HashMap<Vec<u8>, i64> = HashMap::new();
            for (op, k, v) in ops {
                let key = format!("key:{k}").into_bytes();
                match op {
                    0 => {
                        let old = t.insert(slot(&key), SmallBytes::new(&key), entry(v)).map(|e| int(&e));
                        proptest::prop_assert_eq!(old, m.insert(key, v));
                    }
                    1 => {
                        let old = t.remove(slot(&key), &key).map(|e| int(&e));
                        proptest::prop_assert_eq!(old, m.remove(&key));
                    }
                    _ => {
                        proptest::prop_assert_eq!(t.get(&key).map(int), m.get(&key).copied());
                        if let Some(e) = t.get_mut(&key) {
                            e.value = Value::Int(v);
                            m.insert(key, v);
                        }
                    }
                }
                proptest::prop_assert_eq!(t.len(), m.len());
            }
            // (A real table holds one shard's slots; these keys span every shard, so the
            // per-slot counts of slots 64 apart add up.)
            for s in (0..200).map(|k| slot(format!("key:{k}").as_bytes())) {
                let same_index = m.keys().filter(|k| slot(k) % 64 == s % 64).count();
                proptest::prop_assert_eq!(t.slot_len(s), same_index);
                let want: Vec<&Vec<u8>> = m.keys().filter(|k| slot(k) == s).collect();
                proptest::prop_assert_eq!(t.iter_slot(s).count(), want.len());
                for (k, _) in t.iter_slot(s) {
                    proptest::prop_assert_eq!(slot(k), s);
                }
            }
            let mut seen: Vec<(Vec<u8>, i64)> = t.iter().map(|(k, e)| (k.as_slice().to_vec(), int(e))).collect();
            let mut want: Vec<(Vec<u8>, i64)> = m.into_iter().collect();
            seen.sort();
            want.sort();
            proptest::prop_assert_eq!(seen, want);
        }
    }
}
