//! A sorted set: member -> score, ordered by (score, member bytes), like Redis `t_zset.c`'s
//! "sorted set API" half.
//!
//! Two encodings, reported by `OBJECT ENCODING` exactly as Redis 7.0 names them:
//!
//! - `listpack` ([`Pack`]): one contiguous byte buffer of entries sorted by (score, member),
//!   each `score (8 bytes) | varint length | member bytes`. Used while the set has at most
//!   `zset-max-listpack-entries` members of at most `zset-max-listpack-value` bytes; every
//!   operation is a linear walk, as in Redis.
//! - `skiplist` ([`Big`]): members live once, in a dense slot array indexed by a chained hash
//!   table (member -> slot, so ZSCORE is O(1) and ZSCAN can use Redis's reverse-binary bucket
//!   cursor), and an order-statistics B-tree of `(score, slot)` items with subtree counts gives
//!   O(log n) rank, rank -> element and score/lex range bounds.
//!
//! A listpack set converts to the tree when an insertion would break a limit ([`ZSetLimits`])
//! and never converts back, except that freshly built destinations (ZUNIONSTORE, ZRANGESTORE...)
//! take the compact encoding if their final contents allow it ([`ZSetValue::from_pairs`]).

use std::cmp::Ordering;
use std::hash::BuildHasher;

/// The compact-encoding thresholds (`zset-max-listpack-entries`, `zset-max-listpack-value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZSetLimits {
    pub max_entries: usize,
    pub max_value: usize,
}

impl Default for ZSetLimits {
    /// Redis's defaults: 128 entries of up to 64 bytes.
    fn default() -> Self {
        ZSetLimits {
            max_entries: 128,
            max_value: 64,
        }
    }
}

/// Redis's element order: by score, then by member bytes (`-0` and `0` compare equal).
pub fn cmp_elem(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    if s1 < s2 {
        Ordering::Less
    } else if s1 > s2 {
        Ordering::Greater
    } else {
        m1.cmp(m2)
    }
}

// ---------------------------------------------------------------------------------------------
// The compact encoding

/// Sorted entries in one buffer: `score f64 LE | LEB128 member length | member`.
#[derive(Debug, Clone, Default)]
struct Pack {
    buf: Vec<u8>,
    len: usize,
}

fn read_varint(b: &[u8]) -> (usize, usize) {
    let mut v = 0usize;
    for (i, &c) in b.iter().enumerate().take(10) {
        v |= ((c & 0x7f) as usize) << (7 * i);
        if c & 0x80 == 0 {
            return (v, i + 1);
        }
    }
    (v, b.len())
}

fn write_varint(mut v: usize, out: &mut Vec<u8>) {
    loop {
        let c = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(c);
            return;
        }
        out.push(c | 0x80);
    }
}

/// One entry of a [`Pack`]: where it starts and ends, its score and member.
#[derive(Debug, Clone, Copy)]
struct PackEntry<'a> {
    off: usize,
    end: usize,
    score: f64,
    member: &'a [u8],
}

struct PackIter<'a> {
    buf: &'a [u8],
    off: usize,
}

impl<'a> Iterator for PackIter<'a> {
    type Item = PackEntry<'a>;

    fn next(&mut self) -> Option<PackEntry<'a>> {
        let off = self.off;
        let head = self.buf.get(off..off + 8)?;
        let mut raw = [0u8; 8];
        raw.copy_from_slice(head);
        let (mlen, n) = read_varint(&self.buf[off + 8..]);
        let start = off + 8 + n;
        let member = self.buf.get(start..start + mlen)?;
        self.off = start + mlen;
        Some(PackEntry {
            off,
            end: self.off,
            score: f64::from_le_bytes(raw),
            member,
        })
    }
}

impl Pack {
    fn iter(&self) -> PackIter<'_> {
        PackIter {
            buf: &self.buf,
            off: 0,
        }
    }

    fn find(&self, member: &[u8]) -> Option<(usize, PackEntry<'_>)> {
        self.iter().enumerate().find(|(_, e)| e.member == member)
    }

    fn insert(&mut self, member: &[u8], score: f64) {
        // Redis keeps listpack scores as text, where -0 is written "0".
        let score = if score == 0.0 { 0.0 } else { score };
        let pos = self
            .iter()
            .find(|e| cmp_elem(e.score, e.member, score, member) == Ordering::Greater)
            .map_or(self.buf.len(), |e| e.off);
        let mut entry = Vec::with_capacity(member.len() + 10);
        entry.extend_from_slice(&score.to_le_bytes());
        write_varint(member.len(), &mut entry);
        entry.extend_from_slice(member);
        // Exact growth, as a listpack reallocates per insert (doubling wastes up to half).
        self.buf.reserve_exact(entry.len());
        self.buf.splice(pos..pos, entry);
        self.len += 1;
    }

    fn remove_at(&mut self, off: usize, end: usize) {
        self.buf.drain(off..end);
        self.len -= 1;
        if self.buf.capacity() > 2 * self.buf.len() + 64 {
            self.buf.shrink_to_fit();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The large encoding: slots + chained hash index + counted B-tree

const NIL: u32 = u32::MAX;

/// One member of a [`Big`] set.
#[derive(Debug, Clone)]
struct Slot {
    member: Box<[u8]>,
    score: f64,
    /// Next slot in the same hash bucket.
    next: u32,
    /// Low bits of the member's hash (enough for any bucket mask).
    hash: u32,
}

/// A tree item: an element's score and slot.
#[derive(Debug, Clone, Copy)]
struct Item {
    score: f64,
    id: u32,
}

const LEAF_MAX: usize = 64;
const INNER_MAX: usize = 32;

#[derive(Debug, Clone)]
enum Node {
    Leaf(Vec<Item>),
    Inner(Vec<Child>),
}

/// A subtree with its smallest item (the routing key) and item count.
#[derive(Debug, Clone)]
struct Child {
    min: Item,
    count: usize,
    node: Box<Node>,
}

fn cmp_item(a: &Item, s: f64, m: &[u8], slots: &[Slot]) -> Ordering {
    cmp_elem(a.score, &slots[a.id as usize].member, s, m)
}

/// The child of an inner node that holds (or would hold) the element `(s, m)`.
fn route(ch: &[Child], s: f64, m: &[u8], slots: &[Slot]) -> usize {
    ch[1..].partition_point(|c| cmp_item(&c.min, s, m, slots) != Ordering::Greater)
}

impl Node {
    fn width(&self) -> usize {
        match self {
            Node::Leaf(v) => v.len(),
            Node::Inner(c) => c.len(),
        }
    }

    fn cap(&self) -> usize {
        match self {
            Node::Leaf(_) => LEAF_MAX,
            Node::Inner(_) => INNER_MAX,
        }
    }

    /// The smallest item; the node must not be empty.
    fn first(&self) -> Item {
        match self {
            Node::Leaf(v) => v[0],
            Node::Inner(c) => c[0].min,
        }
    }

    fn heap_size(&self) -> usize {
        match self {
            Node::Leaf(v) => v.capacity() * std::mem::size_of::<Item>(),
            Node::Inner(c) => {
                c.capacity() * std::mem::size_of::<Child>()
                    + c.iter()
                        .map(|c| std::mem::size_of::<Node>() + c.node.heap_size())
                        .sum::<usize>()
            }
        }
    }
}

/// An order-statistics B-tree of items, ordered by (score, member of the slot).
#[derive(Debug, Clone)]
struct Tree {
    root: Node,
    len: usize,
}

impl Tree {
    fn new() -> Tree {
        Tree {
            root: Node::Leaf(Vec::new()),
            len: 0,
        }
    }

    fn insert(&mut self, it: Item, slots: &[Slot]) {
        let m = &slots[it.id as usize].member;
        if let Some(right) = insert_rec(&mut self.root, it, it.score, m, slots) {
            let left = std::mem::replace(&mut self.root, Node::Leaf(Vec::new()));
            let left_count = self.len + 1 - right.count;
            self.root = Node::Inner(vec![
                Child {
                    min: left.first(),
                    count: left_count,
                    node: Box::new(left),
                },
                right,
            ]);
        }
        self.len += 1;
    }

    fn remove(&mut self, s: f64, m: &[u8], slots: &[Slot]) -> bool {
        if !remove_rec(&mut self.root, s, m, slots) {
            return false;
        }
        self.len -= 1;
        loop {
            match &mut self.root {
                Node::Inner(ch) if ch.len() <= 1 => {
                    self.root = match ch.pop() {
                        Some(c) => *c.node,
                        None => Node::Leaf(Vec::new()),
                    };
                }
                _ => break,
            }
        }
        true
    }

    /// Changes the slot of the item `(s, m)` from `old` to `new` (slots must still be intact).
    fn set_id(&mut self, s: f64, m: &[u8], old: u32, new: u32, slots: &[Slot]) {
        let mut node = &mut self.root;
        loop {
            match node {
                Node::Leaf(v) => {
                    let pos = v.partition_point(|x| cmp_item(x, s, m, slots) == Ordering::Less);
                    if let Some(x) = v.get_mut(pos) {
                        if x.id == old {
                            x.id = new;
                        }
                    }
                    return;
                }
                Node::Inner(ch) => {
                    let j = route(ch, s, m, slots);
                    if ch[j].min.id == old {
                        ch[j].min.id = new;
                    }
                    node = &mut ch[j].node;
                }
            }
        }
    }

    /// How many leading items satisfy `pred` (which must hold for a prefix of the order).
    fn count_prefix(&self, pred: impl Fn(&Item) -> bool) -> usize {
        let mut node = &self.root;
        let mut acc = 0;
        loop {
            match node {
                Node::Leaf(v) => return acc + v.partition_point(&pred),
                Node::Inner(ch) => {
                    let j = ch[1..].partition_point(|c| pred(&c.min));
                    acc += ch[..j].iter().map(|c| c.count).sum::<usize>();
                    node = &ch[j].node;
                }
            }
        }
    }

    fn get(&self, mut rank: usize) -> Option<Item> {
        if rank >= self.len {
            return None;
        }
        let mut node = &self.root;
        loop {
            match node {
                Node::Leaf(v) => return v.get(rank).copied(),
                Node::Inner(ch) => {
                    let mut next = None;
                    for c in ch {
                        if rank < c.count {
                            next = Some(&c.node);
                            break;
                        }
                        rank -= c.count;
                    }
                    node = next?;
                }
            }
        }
    }

    /// Calls `f` for the items of ranks `start..end`, ascending or (if `rev`) descending.
    fn visit(&self, start: usize, end: usize, rev: bool, f: &mut impl FnMut(Item)) {
        let end = end.min(self.len);
        if start < end {
            visit_rec(&self.root, self.len, start, end, rev, f);
        }
    }
}

fn insert_rec(node: &mut Node, it: Item, s: f64, m: &[u8], slots: &[Slot]) -> Option<Child> {
    match node {
        Node::Leaf(v) => {
            let pos = v.partition_point(|x| cmp_item(x, s, m, slots) == Ordering::Less);
            v.insert(pos, it);
            if v.len() > LEAF_MAX {
                let right = v.split_off(v.len() / 2);
                return Some(Child {
                    min: right[0],
                    count: right.len(),
                    node: Box::new(Node::Leaf(right)),
                });
            }
            None
        }
        Node::Inner(ch) => {
            let j = route(ch, s, m, slots);
            let c = &mut ch[j];
            c.count += 1;
            if cmp_item(&c.min, s, m, slots) == Ordering::Greater {
                c.min = it;
            }
            let split = insert_rec(&mut c.node, it, s, m, slots)?;
            c.count -= split.count;
            ch.insert(j + 1, split);
            if ch.len() > INNER_MAX {
                let right = ch.split_off(ch.len() / 2);
                let count = right.iter().map(|c| c.count).sum();
                return Some(Child {
                    min: right[0].min,
                    count,
                    node: Box::new(Node::Inner(right)),
                });
            }
            None
        }
    }
}

fn remove_rec(node: &mut Node, s: f64, m: &[u8], slots: &[Slot]) -> bool {
    match node {
        Node::Leaf(v) => {
            let pos = v.partition_point(|x| cmp_item(x, s, m, slots) == Ordering::Less);
            if pos < v.len() && cmp_item(&v[pos], s, m, slots) == Ordering::Equal {
                v.remove(pos);
                return true;
            }
            false
        }
        Node::Inner(ch) => {
            let j = route(ch, s, m, slots);
            if !remove_rec(&mut ch[j].node, s, m, slots) {
                return false;
            }
            ch[j].count -= 1;
            if ch[j].count == 0 {
                ch.remove(j);
            } else {
                ch[j].min = ch[j].node.first();
                rebalance(ch, j);
            }
            true
        }
    }
}

/// Merges an underfull child with a neighbour when both fit in one node.
fn rebalance(ch: &mut Vec<Child>, j: usize) {
    let n = ch[j].node.width();
    let cap = ch[j].node.cap();
    if n >= cap / 4 {
        return;
    }
    let k = if j + 1 < ch.len() && ch[j + 1].node.width() + n <= cap {
        j
    } else if j > 0 && ch[j - 1].node.width() + n <= cap {
        j - 1
    } else {
        return;
    };
    let right = ch.remove(k + 1);
    let left = &mut ch[k];
    left.count += right.count;
    match (&mut *left.node, *right.node) {
        (Node::Leaf(a), Node::Leaf(b)) => a.extend(b),
        (Node::Inner(a), Node::Inner(b)) => a.extend(b),
        // All leaves are at the same depth, so siblings always have the same kind.
        _ => unreachable!("siblings of different kinds"),
    }
}

fn visit_rec(
    node: &Node,
    total: usize,
    start: usize,
    end: usize,
    rev: bool,
    f: &mut impl FnMut(Item),
) {
    match node {
        Node::Leaf(v) => {
            let part = &v[start..end];
            if rev {
                part.iter().rev().for_each(|&it| f(it));
            } else {
                part.iter().for_each(|&it| f(it));
            }
        }
        Node::Inner(ch) if !rev => {
            let mut lo = 0;
            for c in ch {
                let hi = lo + c.count;
                if hi > start && lo < end {
                    visit_rec(
                        &c.node,
                        c.count,
                        start.saturating_sub(lo),
                        end.min(hi) - lo,
                        rev,
                        f,
                    );
                }
                lo = hi;
                if lo >= end {
                    break;
                }
            }
        }
        Node::Inner(ch) => {
            let mut hi = total;
            for c in ch.iter().rev() {
                let lo = hi - c.count;
                if lo < end && hi > start {
                    visit_rec(
                        &c.node,
                        c.count,
                        start.saturating_sub(lo),
                        end.min(hi) - lo,
                        rev,
                        f,
                    );
                }
                hi = lo;
                if hi <= start {
                    break;
                }
            }
        }
    }
}

/// The `skiplist` encoding.
#[derive(Clone)]
struct Big {
    slots: Vec<Slot>,
    /// Heads of the hash chains; the length is a power of two.
    buckets: Vec<u32>,
    hasher: foldhash::fast::RandomState,
    tree: Tree,
}

impl std::fmt::Debug for Big {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Big")
            .field("len", &self.slots.len())
            .field("buckets", &self.buckets.len())
            .finish()
    }
}

const MIN_BUCKETS: usize = 4;

impl Big {
    fn new() -> Big {
        Big {
            slots: Vec::new(),
            buckets: vec![NIL; MIN_BUCKETS],
            hasher: foldhash::fast::RandomState::default(),
            tree: Tree::new(),
        }
    }

    fn hash(&self, member: &[u8]) -> u32 {
        self.hasher.hash_one(member) as u32
    }

    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    fn find(&self, member: &[u8]) -> Option<u32> {
        let h = self.hash(member);
        let mut id = self.buckets[h as usize & self.mask()];
        while id != NIL {
            let s = &self.slots[id as usize];
            if s.hash == h && *s.member == *member {
                return Some(id);
            }
            id = s.next;
        }
        None
    }

    fn resize(&mut self, n: usize) {
        self.buckets = vec![NIL; n];
        let mask = n - 1;
        for (id, s) in self.slots.iter_mut().enumerate() {
            let b = s.hash as usize & mask;
            s.next = self.buckets[b];
            self.buckets[b] = id as u32;
        }
    }

    /// Adds a member known to be absent.
    fn insert_new(&mut self, member: &[u8], score: f64) {
        let h = self.hash(member);
        let id = self.slots.len() as u32;
        let b = h as usize & self.mask();
        self.slots.push(Slot {
            member: member.into(),
            score,
            next: self.buckets[b],
            hash: h,
        });
        self.buckets[b] = id;
        self.tree.insert(Item { score, id }, &self.slots);
        if self.slots.len() > self.buckets.len() {
            self.resize(self.buckets.len() * 2);
        }
    }

    fn set_score(&mut self, id: u32, score: f64) {
        let old = self.slots[id as usize].score;
        let m = &self.slots[id as usize].member;
        self.tree.remove(old, m, &self.slots);
        self.slots[id as usize].score = score;
        self.tree.insert(Item { score, id }, &self.slots);
    }

    /// Points whatever references slot `from` in its hash chain at `to` instead.
    fn relink(&mut self, from: u32, to: u32) {
        let b = self.slots[from as usize].hash as usize & self.mask();
        if self.buckets[b] == from {
            self.buckets[b] = to;
            return;
        }
        let mut id = self.buckets[b];
        while id != NIL {
            let s = &mut self.slots[id as usize];
            if s.next == from {
                s.next = to;
                return;
            }
            id = s.next;
        }
    }

    fn remove(&mut self, member: &[u8]) -> bool {
        let Some(id) = self.find(member) else {
            return false;
        };
        // Unlink from the hash chain.
        let next = self.slots[id as usize].next;
        self.relink(id, next);
        let score = self.slots[id as usize].score;
        self.tree.remove(score, member, &self.slots);
        // Keep the slots dense: the last slot moves into the hole.
        let last = (self.slots.len() - 1) as u32;
        if id != last {
            let (ls, lm) = (
                self.slots[last as usize].score,
                self.slots[last as usize].member.clone(),
            );
            self.tree.set_id(ls, &lm, last, id, &self.slots);
            self.relink(last, id);
        }
        self.slots.swap_remove(id as usize);
        let n = self.buckets.len();
        if n > MIN_BUCKETS && self.slots.len() < n / 8 {
            self.resize(self.slots.len().next_power_of_two().max(MIN_BUCKETS));
        }
        true
    }

    fn elem(&self, it: Item) -> (&[u8], f64) {
        (&self.slots[it.id as usize].member, it.score)
    }
}

// ---------------------------------------------------------------------------------------------
// The value

#[derive(Debug, Clone)]
enum Repr {
    Pack(Pack),
    Big(Box<Big>),
}

/// A sorted set value.
#[derive(Debug, Clone)]
pub struct ZSetValue {
    repr: Repr,
}

impl Default for ZSetValue {
    fn default() -> Self {
        Self::new()
    }
}

impl ZSetValue {
    /// An empty set in the compact encoding.
    pub fn new() -> ZSetValue {
        ZSetValue {
            repr: Repr::Pack(Pack::default()),
        }
    }

    /// An empty set in the `skiplist` encoding.
    fn new_big() -> ZSetValue {
        ZSetValue {
            repr: Repr::Big(Box::new(Big::new())),
        }
    }

    /// A set built from distinct members, in the encoding Redis gives a freshly stored
    /// destination (`zsetConvertToListpackIfNeeded`): `listpack` if the final contents fit.
    pub fn from_pairs(pairs: &[(Vec<u8>, f64)], limits: ZSetLimits) -> ZSetValue {
        let fits = pairs.len() <= limits.max_entries
            && pairs.iter().all(|(m, _)| m.len() <= limits.max_value);
        let mut z = if fits {
            ZSetValue::new()
        } else {
            ZSetValue::new_big()
        };
        for (m, s) in pairs {
            z.insert_raw(m, *s);
        }
        z
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Pack(p) => p.len,
            Repr::Big(b) => b.slots.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The encoding name for `OBJECT ENCODING`.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Pack(_) => "listpack",
            Repr::Big(_) => "skiplist",
        }
    }

    /// Approximate heap bytes used (`MEMORY USAGE`).
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Pack(p) => p.buf.capacity(),
            Repr::Big(b) => {
                std::mem::size_of::<Big>()
                    + b.slots.capacity() * std::mem::size_of::<Slot>()
                    + b.slots.iter().map(|s| s.member.len()).sum::<usize>()
                    + b.buckets.capacity() * 4
                    + b.tree.root.heap_size()
            }
        }
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Pack(p) => p.find(member).map(|(_, e)| e.score),
            Repr::Big(b) => b.find(member).map(|id| b.slots[id as usize].score),
        }
    }

    /// Adds or updates `member` with the default limits; true if it is new.
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        self.insert_with(member, score, ZSetLimits::default())
    }

    /// Adds or updates `member`; true if it is new. A compact set converts to the `skiplist`
    /// encoding first when the new member would break `limits` (Redis `zsetAdd`).
    pub fn insert_with(&mut self, member: &[u8], score: f64, limits: ZSetLimits) -> bool {
        if let Repr::Pack(p) = &self.repr {
            if p.find(member).is_none()
                && (p.len + 1 > limits.max_entries || member.len() > limits.max_value)
            {
                self.convert_to_big();
            }
        }
        self.insert_raw(member, score)
    }

    /// Adds or updates without considering the encoding.
    fn insert_raw(&mut self, member: &[u8], score: f64) -> bool {
        match &mut self.repr {
            Repr::Pack(p) => {
                if let Some((_, e)) = p.find(member) {
                    if e.score == score {
                        return false;
                    }
                    let (off, end) = (e.off, e.end);
                    p.remove_at(off, end);
                    p.insert(member, score);
                    return false;
                }
                p.insert(member, score);
                true
            }
            Repr::Big(b) => {
                if let Some(id) = b.find(member) {
                    if b.slots[id as usize].score != score {
                        b.set_score(id, score);
                    }
                    return false;
                }
                b.insert_new(member, score);
                true
            }
        }
    }

    /// Removes `member`; true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Pack(p) => match p.find(member) {
                Some((_, e)) => {
                    let (off, end) = (e.off, e.end);
                    p.remove_at(off, end);
                    true
                }
                None => false,
            },
            Repr::Big(b) => b.remove(member),
        }
    }

    /// Makes a listpack sorted set a skiplist, as Redis's SORT does to every sorted set it
    /// reads (OBJECT ENCODING shows it).
    pub fn to_skiplist(&mut self) {
        self.convert_to_big();
    }

    fn convert_to_big(&mut self) {
        let Repr::Pack(p) = &self.repr else {
            return;
        };
        let mut b = Big::new();
        for e in p.iter() {
            b.insert_new(e.member, e.score);
        }
        self.repr = Repr::Big(Box::new(b));
    }

    /// Calls `f` for every member with `min <= score <= max`, ascending.
    pub fn range_by_score(&self, min: f64, max: f64, mut f: impl FnMut(&[u8], f64)) {
        let lo = self.count_prefix(|s, _| s < min);
        let hi = self.count_prefix(|s, _| s <= max);
        self.for_range(lo, hi, false, &mut f);
    }

    /// The 0-based rank of `member` in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match &self.repr {
            Repr::Pack(p) => p.find(member).map(|(i, _)| i),
            Repr::Big(b) => {
                let id = b.find(member)?;
                let s = b.slots[id as usize].score;
                Some(
                    b.tree
                        .count_prefix(|it| cmp_item(it, s, member, &b.slots) == Ordering::Less),
                )
            }
        }
    }

    /// The element of ascending rank `rank`.
    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        match &self.repr {
            Repr::Pack(p) => p.iter().nth(rank).map(|e| (e.member, e.score)),
            Repr::Big(b) => b.tree.get(rank).map(|it| b.elem(it)),
        }
    }

    /// How many leading elements (in ascending order) satisfy `pred(score, member)`, which must
    /// hold for a prefix of the order (a lower bound on scores or members).
    pub fn count_prefix(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.repr {
            Repr::Pack(p) => p.iter().take_while(|e| pred(e.score, e.member)).count(),
            Repr::Big(b) => b
                .tree
                .count_prefix(|it| pred(it.score, &b.slots[it.id as usize].member)),
        }
    }

    /// Calls `f` for the elements of ascending ranks `start..end`, in ascending order, or in
    /// descending order if `rev`.
    pub fn for_range(&self, start: usize, end: usize, rev: bool, f: &mut impl FnMut(&[u8], f64)) {
        let end = end.min(self.len());
        if start >= end {
            return;
        }
        match &self.repr {
            Repr::Pack(p) => {
                let part = p.iter().skip(start).take(end - start);
                if rev {
                    let v: Vec<PackEntry<'_>> = part.collect();
                    v.iter().rev().for_each(|e| f(e.member, e.score));
                } else {
                    part.for_each(|e| f(e.member, e.score));
                }
            }
            Repr::Big(b) => b.tree.visit(start, end, rev, &mut |it| {
                let (m, s) = b.elem(it);
                f(m, s)
            }),
        }
    }

    /// Calls `f` for every element, ascending.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        self.for_range(0, self.len(), false, &mut f);
    }

    /// The elements of ascending ranks `start..end` (descending if `rev`), copied out.
    pub fn collect_range(&self, start: usize, end: usize, rev: bool) -> Vec<(Vec<u8>, f64)> {
        let mut v = Vec::with_capacity(end.saturating_sub(start).min(self.len()));
        self.for_range(start, end, rev, &mut |m, s| v.push((m.to_vec(), s)));
        v
    }

    /// One ZSCAN step from `cursor`: a compact set returns everything and cursor 0; a large
    /// one walks hash buckets with Redis's reverse-binary cursor until about `count` elements
    /// were emitted (at most `10 * count` buckets). Returns the next cursor.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        let b = match &self.repr {
            Repr::Pack(p) => {
                p.iter().for_each(|e| f(e.member, e.score));
                return 0;
            }
            Repr::Big(b) => b,
        };
        let mask = b.mask() as u64;
        let mut v = cursor;
        let mut emitted = 0usize;
        let mut budget = count.saturating_mul(10);
        loop {
            let mut id = b.buckets[(v & mask) as usize];
            while id != NIL {
                let s = &b.slots[id as usize];
                f(&s.member, s.score);
                emitted += 1;
                id = s.next;
            }
            v |= !mask;
            v = v.reverse_bits().wrapping_add(1).reverse_bits();
            if v == 0 || budget == 0 || emitted >= count {
                return v;
            }
            budget -= 1;
        }
    }

    /// A uniformly random element index in `0..len` turned into its element.
    pub fn random(&self, rng: &mut impl rand::Rng) -> Option<(&[u8], f64)> {
        if self.is_empty() {
            return None;
        }
        self.get(rng.gen_range(0..self.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn big_limits() -> ZSetLimits {
        ZSetLimits {
            max_entries: 0,
            max_value: 0,
        }
    }

    fn contents(z: &ZSetValue) -> Vec<(Vec<u8>, f64)> {
        z.collect_range(0, z.len(), false)
    }

    #[test]
    fn compact_then_converts() {
        let mut z = ZSetValue::new();
        let lim = ZSetLimits {
            max_entries: 3,
            max_value: 5,
        };
        assert!(z.insert_with(b"b", 2.0, lim));
        assert!(z.insert_with(b"a", 2.0, lim));
        assert!(z.insert_with(b"c", 1.0, lim));
        assert!(!z.insert_with(b"c", 3.0, lim));
        assert_eq!(z.encoding(), "listpack");
        assert_eq!(
            contents(&z),
            vec![
                (b"a".to_vec(), 2.0),
                (b"b".to_vec(), 2.0),
                (b"c".to_vec(), 3.0)
            ]
        );
        assert!(z.insert_with(b"d", 0.0, lim));
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(z.rank(b"d"), Some(0));
        assert_eq!(z.rank(b"c"), Some(3));
        assert!(z.remove(b"d"));
        assert_eq!(z.encoding(), "skiplist");
        let mut z2 = ZSetValue::new();
        z2.insert_with(b"toolong", 1.0, lim);
        assert_eq!(z2.encoding(), "skiplist");
    }

    #[test]
    fn big_tree_ranks_and_ranges() {
        let mut z = ZSetValue::new_big();
        for i in 0..5000u32 {
            z.insert_with(format!("m{i}").as_bytes(), (i % 100) as f64, big_limits());
        }
        assert_eq!(z.len(), 5000);
        let mut seen = 0;
        z.range_by_score(10.0, 10.0, |_, s| {
            assert_eq!(s, 10.0);
            seen += 1;
        });
        assert_eq!(seen, 50);
        for i in (0..5000u32).step_by(3) {
            assert!(z.remove(format!("m{i}").as_bytes()));
        }
        let all = contents(&z);
        assert_eq!(all.len(), z.len());
        for w in all.windows(2) {
            assert_eq!(cmp_elem(w[0].1, &w[0].0, w[1].1, &w[1].0), Ordering::Less);
        }
        for (i, (m, s)) in all.iter().enumerate() {
            assert_eq!(z.rank(m), Some(i));
            assert_eq!(z.score(m), Some(*s));
            assert_eq!(z.get(i).map(|(m, _)| m.to_vec()), Some(m.clone()));
        }
        let rev = z.collect_range(10, 200, true);
        let fwd = z.collect_range(10, 200, false);
        assert_eq!(rev.into_iter().rev().collect::<Vec<_>>(), fwd);
    }

    #[test]
    fn deep_tree_survives_mass_removal_and_score_updates() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut z = ZSetValue::new_big();
        let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
        for i in 0..20_000u32 {
            let m = format!("m{i}").into_bytes();
            let s = rng.gen_range(0..500) as f64;
            z.insert_with(&m, s, big_limits());
            model.insert(m, s);
        }
        let keys: Vec<Vec<u8>> = model.keys().cloned().collect();
        for (i, k) in keys.iter().enumerate() {
            if i % 50 != 0 {
                assert!(z.remove(k));
                model.remove(k);
            } else {
                let s = rng.gen_range(-10..10) as f64;
                z.insert_with(k, s, big_limits());
                model.insert(k.clone(), s);
            }
        }
        let mut expect: Vec<(Vec<u8>, f64)> = model.into_iter().collect();
        expect.sort_by(|a, b| cmp_elem(a.1, &a.0, b.1, &b.0));
        assert_eq!(contents(&z), expect);
        for (i, (m, _)) in expect.iter().enumerate() {
            assert_eq!(z.rank(m), Some(i));
        }
        for (m, _) in &expect {
            assert!(z.remove(m));
        }
        assert!(z.is_empty());
        assert_eq!(z.get(0), None);
    }

    #[test]
    fn scan_visits_everything_across_resizes() {
        let mut z = ZSetValue::new_big();
        for i in 0..1000u32 {
            z.insert_with(format!("k{i}").as_bytes(), i as f64, big_limits());
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut steps = 0;
        loop {
            cursor = z.scan(cursor, 10, |m, _| {
                seen.insert(m.to_vec());
            });
            steps += 1;
            if steps == 20 {
                // Shrink the table in the middle of the iteration.
                for i in 0..900u32 {
                    if i % 2 == 1 {
                        z.remove(format!("k{i}").as_bytes());
                    }
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000u32 {
            if i % 2 == 0 || i >= 900 {
                assert!(seen.contains(format!("k{i}").as_bytes()), "k{i} missed");
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, i8),
        Remove(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<u8>(), -5i8..5).prop_map(|(m, s)| Op::Insert(m, s)),
            any::<u8>().prop_map(Op::Remove),
        ]
    }

    proptest! {
        #[test]
        fn matches_btreemap_model(ops in proptest::collection::vec(op(), 1..600), small in any::<bool>()) {
            let lim = if small { ZSetLimits { max_entries: 16, max_value: 64 } } else { big_limits() };
            let mut z = ZSetValue::new();
            let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(m, s) => {
                        let key = format!("member-{m}").into_bytes();
                        let new = z.insert_with(&key, s as f64, lim);
                        prop_assert_eq!(new, model.insert(key, s as f64).is_none());
                    }
                    Op::Remove(m) => {
                        let key = format!("member-{m}").into_bytes();
                        prop_assert_eq!(z.remove(&key), model.remove(&key).is_some());
                    }
                }
                prop_assert_eq!(z.len(), model.len());
            }
            let mut expect: Vec<(Vec<u8>, f64)> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
            expect.sort_by(|a, b| cmp_elem(a.1, &a.0, b.1, &b.0));
            prop_assert_eq!(contents(&z), expect.clone());
            for (i, (m, s)) in expect.iter().enumerate() {
                prop_assert_eq!(z.rank(m), Some(i));
                prop_assert_eq!(z.score(m), Some(*s));
            }
            let below_zero = expect.iter().filter(|(_, s)| *s < 0.0).count();
            prop_assert_eq!(z.count_prefix(|s, _| s < 0.0), below_zero);
            let rev = z.collect_range(0, z.len(), true);
            prop_assert_eq!(rev.into_iter().rev().collect::<Vec<_>>(), expect);
        }
    }
}
