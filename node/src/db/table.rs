//! `KeyTable`: one database's keys within one shard (64 hash slots), in a single hash table.
//!
//! Each key and its entry live together in one 72-byte node. Nodes are kept in pages of
//! [`PAGE_SLOTS`] (see [`Nodes`]) and the hash table holds 4-byte node ids: a key costs its
//! node, with no allocator header, plus 5 bytes per bucket (a hash table is between 44% and
//! 87% full), where a heap block per node cost 80 bytes and 9 bytes per bucket.
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

/// Nodes per page: a page is about 2.3 KB, so a table with a few keys wastes little.
const PAGE_SLOTS: usize = 32;

/// A page slot: a node, or a link in the page's list of free slots.
enum Slot {
    Used(Node),
    /// The next free slot of the page ([`PAGE_SLOTS`] at the end of the list).
    Free(u8),
}

const SLOT_BYTES: usize = std::mem::size_of::<Slot>();

struct Page {
    slots: [Slot; PAGE_SLOTS],
    used: u8,
    /// The first free slot ([`PAGE_SLOTS`] if none).
    free: u8,
}

impl Page {
    fn new() -> Box<Page> {
        let page = Box::new(Page {
            slots: std::array::from_fn(|i| Slot::Free(i as u8 + 1)),
            used: 0,
            free: 0,
        });
        // `used_memory` counts the slots in use, not the page: deleting a key must lower it
        // (maxmemory eviction deletes keys until it does).
        crate::alloc::account(-((PAGE_SLOTS * SLOT_BYTES) as isize));
        page
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        // Back to counting the whole block, which the allocator then takes off.
        crate::alloc::account(((PAGE_SLOTS - self.used as usize) * SLOT_BYTES) as isize);
    }
}

/// The nodes of a table, in pages, named by ids (`page * PAGE_SLOTS + slot`).
///
/// A new node goes to the page that last had a free slot, and a page whose last node goes
/// is freed (unless it is the one new nodes go to next), so the memory of deleted keys goes
/// back to the allocator once whole pages of them are gone.
#[derive(Default)]
struct Nodes {
    pages: Vec<Option<Box<Page>>>,
    /// Pages with a free slot, each once (an absent page is all free); the last is used first.
    avail: Vec<u32>,
}

/// A node id that names no node: the table and its pages disagree (a bug).
#[cold]
#[inline(never)]
fn bad_id() -> ! {
    unreachable!("a key table id names no node")
}

impl Nodes {
    /// The node in slot `id`, if the slot is in use (ids drawn at random may name a free one).
    #[inline]
    fn used(&self, id: usize) -> Option<&Node> {
        match self.pages[id / PAGE_SLOTS].as_deref()?.slots[id % PAGE_SLOTS] {
            Slot::Used(ref n) => Some(n),
            Slot::Free(_) => None,
        }
    }

    #[inline]
    fn slot(&self, id: u32) -> &Slot {
        let id = id as usize;
        match &self.pages[id / PAGE_SLOTS] {
            Some(p) => &p.slots[id % PAGE_SLOTS],
            None => bad_id(),
        }
    }

    #[inline]
    fn get(&self, id: u32) -> &Node {
        self.used(id as usize).unwrap_or_else(|| bad_id())
    }

    #[inline]
    fn get_mut(&mut self, id: u32) -> &mut Node {
        let id = id as usize;
        match &mut self.pages[id / PAGE_SLOTS] {
            Some(p) => match &mut p.slots[id % PAGE_SLOTS] {
                Slot::Used(n) => n,
                Slot::Free(_) => bad_id(),
            },
            None => bad_id(),
        }
    }

    fn insert(&mut self, node: Node) -> u32 {
        let p = match self.avail.last() {
            Some(&p) => p as usize,
            None => {
                self.pages.push(None);
                self.avail.push((self.pages.len() - 1) as u32);
                self.pages.len() - 1
            }
        };
        let page = self.pages[p].get_or_insert_with(Page::new);
        let i = page.free as usize;
        let Slot::Free(next) = std::mem::replace(&mut page.slots[i], Slot::Used(node)) else {
            unreachable!("a page's free list names a used slot")
        };
        page.free = next;
        page.used += 1;
        if page.used as usize == PAGE_SLOTS {
            self.avail.pop();
        }
        crate::alloc::account(SLOT_BYTES as isize);
        (p * PAGE_SLOTS + i) as u32
    }

    fn remove(&mut self, id: u32) -> Node {
        let (p, i) = (id as usize / PAGE_SLOTS, id as usize % PAGE_SLOTS);
        let Some(page) = self.pages[p].as_deref_mut() else {
            bad_id()
        };
        let Slot::Used(node) = std::mem::replace(&mut page.slots[i], Slot::Free(page.free)) else {
            bad_id()
        };
        page.free = i as u8;
        if page.used as usize == PAGE_SLOTS {
            self.avail.push(p as u32);
        }
        page.used -= 1;
        crate::alloc::account(-(SLOT_BYTES as isize));
        if page.used == 0 && self.avail.last() != Some(&(p as u32)) {
            self.pages[p] = None;
        }
        node
    }

    fn iter(&self) -> impl Iterator<Item = &Node> {
        self.pages.iter().flatten().flat_map(|p| {
            p.slots.iter().filter_map(|s| match s {
                Slot::Used(n) => Some(n),
                Slot::Free(_) => None,
            })
        })
    }

    /// Checks the pages' bookkeeping (tests).
    #[cfg(test)]
    fn check(&self) {
        let mut listed = vec![0; self.pages.len()];
        for &p in &self.avail {
            listed[p as usize] += 1;
        }
        for (p, page) in self.pages.iter().enumerate() {
            let Some(page) = page else {
                assert_eq!(listed[p], 1, "an absent page {p} is available once");
                continue;
            };
            let used = page
                .slots
                .iter()
                .filter(|s| matches!(s, Slot::Used(_)))
                .count();
            assert_eq!(used, page.used as usize);
            assert_eq!(
                listed[p],
                usize::from(used < PAGE_SLOTS),
                "page {p} listed iff it has room"
            );
            let (mut free, mut at) = (0, page.free as usize);
            while at < PAGE_SLOTS {
                let Slot::Free(next) = page.slots[at] else {
                    panic!("free list of page {p} reaches a used slot")
                };
                free += 1;
                at = next as usize;
            }
            assert_eq!(free, PAGE_SLOTS - used, "free list of page {p}");
        }
    }
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
    /// Node ids.
    table: HashTable<u32>,
    nodes: Nodes,
    /// Keys per slot of the shard.
    counts: [u32; SLOTS_PER_SHARD],
}

impl Default for KeyTable {
    fn default() -> Self {
        KeyTable {
            table: HashTable::new(),
            nodes: Nodes::default(),
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

    /// The key's node (the probe keeps the node it compared, so it is looked up once).
    #[inline]
    fn find(&self, key: &[u8]) -> Option<&Node> {
        self.find_hashed(hash(key), key)
    }

    #[inline]
    fn find_hashed(&self, h: u64, key: &[u8]) -> Option<&Node> {
        let mut found = None;
        self.table.find(h, |&id| {
            let n = self.nodes.get(id);
            let hit = n.key.as_slice() == key;
            if hit {
                found = Some(n);
            }
            hit
        });
        found
    }

    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.find(key).map(|n| &n.entry)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let nodes = &self.nodes;
        let id = *self
            .table
            .find(hash(key), |&id| nodes.get(id).key.as_slice() == key)?;
        Some(&mut self.nodes.get_mut(id).entry)
    }

    /// The hash a lookup of `key` uses (for [`KeyTable::prefetch`], computed once for both
    /// steps).
    pub fn hash(key: &[u8]) -> u64 {
        hash(key)
    }

    /// Starts loading what a lookup of a key whose [`KeyTable::hash`] is `h` touches: the
    /// probe walks the control bytes and bucket ids now, and the node of each candidate is
    /// prefetched, not read.
    pub fn prefetch(&self, h: u64) {
        let nodes = &self.nodes;
        let _ = self.table.find(h, |&id| {
            crate::util::prefetch(nodes.slot(id));
            false
        });
    }

    /// The second step after [`KeyTable::prefetch`]: reads the key's node (by now on its
    /// way into the cache) and prefetches the value's heap block, with the allocator's
    /// header before it (freeing a replaced value reads that header).
    pub fn prefetch_value(&self, h: u64, key: &[u8]) {
        if let Some(p) = self
            .find_hashed(h, key)
            .and_then(|n| n.entry.value.heap_ptr())
        {
            crate::util::prefetch(p.wrapping_sub(16));
        }
    }

    pub fn get_key_value(&self, key: &[u8]) -> Option<(&SmallBytes, &Entry)> {
        self.find(key).map(|n| (&n.key, &n.entry))
    }

    /// Inserts or replaces the key, which hashes to `slot`; returns the old entry.
    pub fn insert(&mut self, slot: u16, key: SmallBytes, mut entry: Entry) -> Option<Entry> {
        entry.slot = slot;
        let nodes = &self.nodes;
        match self.table.entry(
            hash(key.as_slice()),
            |&id| nodes.get(id).key.as_slice() == key.as_slice(),
            |&id| hash(nodes.get(id).key.as_slice()),
        ) {
            TableEntry::Occupied(o) => {
                let node = self.nodes.get_mut(*o.get());
                Some(std::mem::replace(&mut node.entry, entry))
            }
            TableEntry::Vacant(v) => {
                debug_assert_eq!(slot, super::key_slot(key.as_slice()));
                v.insert(self.nodes.insert(Node { key, entry }));
                self.counts[slot_index(slot)] += 1;
                None
            }
        }
    }

    /// Removes the key, which hashes to `slot`; returns its entry.
    pub fn remove(&mut self, slot: u16, key: &[u8]) -> Option<Entry> {
        let nodes = &self.nodes;
        let found = self
            .table
            .find_entry(hash(key), |&id| nodes.get(id).key.as_slice() == key);
        let (id, _) = found.ok()?.remove();
        self.counts[slot_index(slot)] -= 1;
        Some(self.nodes.remove(id).entry)
    }

    /// A key picked uniformly at random (eviction samples, RANDOMKEY): a random slot of the
    /// pages, tried again while it is free, so its cost does not grow with the table.
    pub fn random(&self, rng: &mut impl rand::Rng) -> Option<(&SmallBytes, &Entry)> {
        if self.is_empty() {
            return None;
        }
        let slots = self.nodes.pages.len() * PAGE_SLOTS;
        for _ in 0..64 {
            if let Some(n) = self.nodes.used(rng.gen_range(0..slots)) {
                return Some((&n.key, &n.entry));
            }
        }
        // Pages mostly empty (after mass deletion): walk to the key instead.
        self.iter().nth(rng.gen_range(0..self.len()))
    }

    /// Every key, in storage order (not grouped by slot).
    pub fn iter(&self) -> impl Iterator<Item = (&SmallBytes, &Entry)> {
        self.nodes.iter().map(|n| (&n.key, &n.entry))
    }

    /// Every key with its slot, in storage order.
    pub fn iter_with_slot(&self) -> impl Iterator<Item = (u16, &SmallBytes, &Entry)> {
        self.nodes.iter().map(|n| (n.entry.slot, &n.key, &n.entry))
    }

    /// The keys of one slot (walks the nodes up to the slot's last key).
    pub fn iter_slot(&self, slot: u16) -> impl Iterator<Item = (&SmallBytes, &Entry)> {
        // Stops at the slot's last key (at once for an empty slot).
        self.nodes
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
    fn a_node_slot_is_a_node() {
        // The free-list link fits beside the node's tags: a slot costs no more than a node.
        assert_eq!(std::mem::size_of::<Node>(), 72);
        assert_eq!(SLOT_BYTES, 72);
    }

    fn int(e: &Entry) -> i64 {
        match e.value {
            Value::Int(n) => n,
            _ => unreachable!(),
        }
    }

    fn key(n: usize) -> Vec<u8> {
        format!("key:{n}").into_bytes()
    }

    #[test]
    fn pages_go_back_once_their_keys_are_deleted_and_used_memory_follows_the_nodes() {
        let accounted = crate::alloc::accounted_here;
        let base = accounted();
        let mut t = KeyTable::default();
        for n in 0..1000 {
            t.insert(slot(&key(n)), SmallBytes::new(&key(n)), entry(n as i64));
        }
        let pages = t.nodes.pages.iter().flatten().count();
        assert_eq!(pages, 1000usize.div_ceil(PAGE_SLOTS));
        // Counted: the nodes, not the pages' free slots.
        let slack = (pages * PAGE_SLOTS - 1000) * SLOT_BYTES;
        assert_eq!(accounted() - base, -(slack as isize));
        // Every other key goes: no page is empty, none is freed, and their slots are reused.
        for n in (0..1000).step_by(2) {
            assert_eq!(
                t.remove(slot(&key(n)), &key(n)).map(|e| int(&e)),
                Some(n as i64)
            );
        }
        t.nodes.check();
        assert_eq!(t.nodes.pages.iter().flatten().count(), pages);
        for n in 1000..1500 {
            t.insert(slot(&key(n)), SmallBytes::new(&key(n)), entry(n as i64));
        }
        t.nodes.check();
        assert_eq!(t.nodes.pages.iter().flatten().count(), pages);
        // Deleting every key frees every page but the one new keys would go to.
        for n in (1..1000).step_by(2).chain(1000..1500) {
            assert!(t.remove(slot(&key(n)), &key(n)).is_some());
        }
        t.nodes.check();
        assert!(t.is_empty() && t.iter().next().is_none());
        assert_eq!(t.nodes.pages.iter().flatten().count(), 1);
        drop(t);
        assert_eq!(accounted(), base, "what the pages took off is given back");
    }

    #[test]
    fn random_picks_every_key_and_copes_with_sparse_pages() {
        let mut rng = rand::thread_rng();
        let mut t = KeyTable::default();
        assert!(t.random(&mut rng).is_none());
        for n in 0..100 {
            t.insert(slot(&key(n)), SmallBytes::new(&key(n)), entry(n as i64));
        }
        let mut seen = std::collections::HashSet::new();
        for _ in 0..5000 {
            let (k, e) = t.random(&mut rng).expect("a key");
            assert_eq!(k.as_slice(), key(int(e) as usize));
            seen.insert(int(e));
        }
        assert_eq!(seen.len(), 100, "every key is picked in 5000 draws");
        // One key left in pages that are almost all free: still found.
        for n in 0..99 {
            t.remove(slot(&key(n)), &key(n));
        }
        for _ in 0..100 {
            assert_eq!(t.random(&mut rng).map(|(_, e)| int(e)), Some(99));
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
                t.nodes.check();
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
