//! A list of byte strings with O(1) push/pop at both ends (`quicklist`, as Redis 7.0 reports
//! every list).
//!
//! Like Redis's quicklist of listpacks, the list is a deque of chunks, each one contiguous
//! buffer of packed elements of at most [`CHUNK_BYTES`] (the default `list-max-listpack-size`
//! of -2, 8 KB), so a small list costs two allocations whatever its length and no element has
//! its own heap block. An element is stored as `varint(len) bytes reversed-varint(len)`: the
//! trailing copy of the length lets the chunk be walked backwards, as a listpack's back-length.
//! Popping from the front of a chunk only moves its start offset (the dead prefix is dropped
//! once it is half the buffer); pushing at the front shifts the chunk's bytes, bounded by the
//! chunk size, as listpack insertion does.

use std::collections::VecDeque;

/// Target size in bytes of one chunk; a single larger element gets a chunk of its own.
pub const CHUNK_BYTES: usize = 8 * 1024;

/// Bytes of the LEB128 encoding of `n`.
fn varint_len(mut n: usize) -> usize {
    let mut l = 1;
    while n >= 0x80 {
        n >>= 7;
        l += 1;
    }
    l
}

/// Bytes one element of `n` bytes takes in a chunk.
fn encoded_len(n: usize) -> usize {
    n + 2 * varint_len(n)
}

/// The length header of an element of `n` bytes: (bytes, how many are used).
fn header(mut n: usize) -> ([u8; 10], usize) {
    let mut tmp = [0u8; 10];
    let mut l = 0;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            tmp[l] = b;
            l += 1;
            break;
        }
        tmp[l] = b | 0x80;
        l += 1;
    }
    (tmp, l)
}

/// Appends one encoded element.
fn write_elem(out: &mut Vec<u8>, v: &[u8]) {
    let (h, l) = header(v.len());
    out.extend_from_slice(&h[..l]);
    out.extend_from_slice(v);
    out.extend(h[..l].iter().rev());
}

/// Writes one encoded element into `dst`, which is exactly [`encoded_len`] bytes.
fn write_elem_into(dst: &mut [u8], v: &[u8]) {
    let (h, l) = header(v.len());
    let (head, rest) = dst.split_at_mut(l);
    head.copy_from_slice(&h[..l]);
    let (data, tail) = rest.split_at_mut(v.len());
    data.copy_from_slice(v);
    for (d, s) in tail.iter_mut().zip(h[..l].iter().rev()) {
        *d = *s;
    }
}

/// Decodes the element starting at `pos`: (data start, data length, next element's position).
fn read_fwd(buf: &[u8], pos: usize) -> (usize, usize, usize) {
    let (mut n, mut shift, mut p) = (0usize, 0, pos);
    loop {
        let b = buf[p];
        p += 1;
        n |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let hl = p - pos;
    (p, n, p + n + hl)
}

/// Decodes the element ending at `end` (exclusive): (data start, data length, element start).
fn read_bwd(buf: &[u8], end: usize) -> (usize, usize, usize) {
    let (mut n, mut shift, mut p) = (0usize, 0, end);
    loop {
        p -= 1;
        let b = buf[p];
        n |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let hl = end - p;
    let data = p - n;
    (data, n, data - hl)
}

/// One packed run of elements: the live bytes are `buf[start..]`.
#[derive(Debug, Clone, Default)]
struct Chunk {
    buf: Vec<u8>,
    start: usize,
    count: u32,
}

impl Chunk {
    fn live(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Room for one more element of `n` bytes without passing the target size.
    fn fits(&self, n: usize) -> bool {
        self.live() + encoded_len(n) <= CHUNK_BYTES
    }

    fn with(elems: &[&[u8]]) -> Chunk {
        let mut buf = Vec::with_capacity(elems.iter().map(|e| encoded_len(e.len())).sum());
        for e in elems {
            write_elem(&mut buf, e);
        }
        Chunk {
            buf,
            start: 0,
            count: elems.len() as u32,
        }
    }

    /// The chunk started by pushing `v` onto a list that has outgrown one chunk. Its buffer
    /// takes at once as many elements of `v`'s size as fit the target size, `v` at the end
    /// the list grows from, so a run of such pushes fills it without reallocating and leaves
    /// no spare room (a doubled buffer would waste up to half of it). An element larger than
    /// the target gets a chunk of exactly its size.
    fn sized_for(v: &[u8], front: bool) -> Chunk {
        let e = encoded_len(v.len());
        let cap = (CHUNK_BYTES / e).max(1) * e;
        if front {
            let mut buf = vec![0u8; cap];
            write_elem_into(&mut buf[cap - e..], v);
            Chunk {
                buf,
                start: cap - e,
                count: 1,
            }
        } else {
            let mut buf = Vec::with_capacity(cap);
            write_elem(&mut buf, v);
            Chunk {
                buf,
                start: 0,
                count: 1,
            }
        }
    }

    /// The elements, front to back.
    fn elems(&self) -> Vec<&[u8]> {
        let mut v = Vec::with_capacity(self.count as usize);
        let mut p = self.start;
        while p < self.buf.len() {
            let (d, n, next) = read_fwd(&self.buf, p);
            v.push(&self.buf[d..d + n]);
            p = next;
        }
        v
    }

    fn push_back(&mut self, v: &[u8]) {
        let need = encoded_len(v.len());
        if self.buf.capacity() - self.buf.len() < need {
            // Doubling, as a Vec grows, but never past the target size: `fits` bounds the
            // live bytes, so the buffer never needs more than the dead prefix plus that.
            let len = self.buf.len();
            let want = (2 * len).min(self.start + CHUNK_BYTES).max(len + need);
            self.buf.reserve_exact(want - len);
        }
        write_elem(&mut self.buf, v);
        self.count += 1;
    }

    fn push_front(&mut self, v: &[u8]) {
        let need = encoded_len(v.len());
        if self.start < need {
            // Room in front: the live bytes move up once, leaving as much free space before
            // them as they take (within the chunk's size), so a run of pushes at the front
            // moves each byte a bounded number of times instead of once per push.
            let live = self.live();
            let room = live.min(CHUNK_BYTES.saturating_sub(live)).max(need);
            let mut buf = Vec::with_capacity(room + live);
            buf.resize(room, 0);
            buf.extend_from_slice(&self.buf[self.start..]);
            self.buf = buf;
            self.start = room;
        }
        let s = self.start - need;
        write_elem_into(&mut self.buf[s..self.start], v);
        self.start = s;
        self.count += 1;
    }

    /// Removes the first element, returning its data range in the old buffer.
    fn pop_front(&mut self) -> Vec<u8> {
        let (d, n, next) = read_fwd(&self.buf, self.start);
        let v = self.buf[d..d + n].to_vec();
        self.start = next;
        self.count -= 1;
        self.compact();
        v
    }

    fn pop_back(&mut self) -> Vec<u8> {
        let (d, n, s) = read_bwd(&self.buf, self.buf.len());
        let v = self.buf[d..d + n].to_vec();
        self.buf.truncate(s);
        self.count -= 1;
        v
    }

    /// Drops the dead prefix once it is half the buffer.
    fn compact(&mut self) {
        if self.count == 0 {
            self.buf = Vec::new();
            self.start = 0;
        } else if self.start > self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

/// A list value.
#[derive(Debug, Clone, Default)]
pub struct ListValue {
    chunks: VecDeque<Chunk>,
    len: usize,
}

impl ListValue {
    pub fn new() -> ListValue {
        ListValue {
            chunks: VecDeque::with_capacity(1),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The encoding name for `OBJECT ENCODING`.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Approximate heap bytes used (`MEMORY USAGE`).
    pub fn heap_size(&self) -> usize {
        self.chunks.capacity() * std::mem::size_of::<Chunk>()
            + self.chunks.iter().map(|c| c.buf.capacity()).sum::<usize>()
    }

    /// The chunk a push of `v` starts: sized exactly for a list's first chunk (most lists are
    /// small), filled in advance once the list has outgrown one ([`Chunk::sized_for`]).
    fn new_chunk(&self, v: &[u8], front: bool) -> Chunk {
        if self.chunks.is_empty() {
            Chunk::with(&[v])
        } else {
            Chunk::sized_for(v, front)
        }
    }

    pub fn push_back(&mut self, v: &[u8]) {
        match self.chunks.back_mut() {
            Some(c) if c.fits(v.len()) => c.push_back(v),
            _ => self.chunks.push_back(self.new_chunk(v, false)),
        }
        self.len += 1;
    }

    pub fn push_front(&mut self, v: &[u8]) {
        match self.chunks.front_mut() {
            Some(c) if c.fits(v.len()) => c.push_front(v),
            _ => self.chunks.push_front(self.new_chunk(v, true)),
        }
        self.len += 1;
    }

    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        let c = self.chunks.front_mut()?;
        let v = c.pop_front();
        if c.count == 0 {
            self.chunks.pop_front();
        }
        self.len -= 1;
        Some(v)
    }

    pub fn pop_back(&mut self) -> Option<Vec<u8>> {
        let c = self.chunks.back_mut()?;
        let v = c.pop_back();
        if c.count == 0 {
            self.chunks.pop_back();
        }
        self.len -= 1;
        Some(v)
    }

    /// Pushes at the head (`left`) or the tail.
    pub fn push(&mut self, v: &[u8], left: bool) {
        if left {
            self.push_front(v)
        } else {
            self.push_back(v)
        }
    }

    /// Pops from the head (`left`) or the tail.
    pub fn pop(&mut self, left: bool) -> Option<Vec<u8>> {
        if left {
            self.pop_front()
        } else {
            self.pop_back()
        }
    }

    /// Removes `n` elements from the head.
    pub fn delete_front(&mut self, mut n: usize) {
        n = n.min(self.len);
        self.len -= n;
        while n > 0 {
            let Some(c) = self.chunks.front_mut() else {
                break;
            };
            if c.count as usize <= n {
                n -= c.count as usize;
                self.chunks.pop_front();
                continue;
            }
            for _ in 0..n {
                let (_, _, next) = read_fwd(&c.buf, c.start);
                c.start = next;
                c.count -= 1;
            }
            c.compact();
            n = 0;
        }
    }

    /// Removes `n` elements from the tail.
    pub fn delete_back(&mut self, mut n: usize) {
        n = n.min(self.len);
        self.len -= n;
        while n > 0 {
            let Some(c) = self.chunks.back_mut() else {
                break;
            };
            if c.count as usize <= n {
                n -= c.count as usize;
                self.chunks.pop_back();
                continue;
            }
            for _ in 0..n {
                let (_, _, s) = read_bwd(&c.buf, c.buf.len());
                c.buf.truncate(s);
                c.count -= 1;
            }
            n = 0;
        }
    }

    /// The chunk holding element `i` (< len) and the index within it.
    fn locate(&self, i: usize) -> (usize, usize) {
        if i < self.len / 2 {
            let mut rest = i;
            for (ci, c) in self.chunks.iter().enumerate() {
                if rest < c.count as usize {
                    return (ci, rest);
                }
                rest -= c.count as usize;
            }
        } else {
            let mut from_end = self.len - i;
            for (ci, c) in self.chunks.iter().enumerate().rev() {
                if from_end <= c.count as usize {
                    return (ci, c.count as usize - from_end);
                }
                from_end -= c.count as usize;
            }
        }
        (self.chunks.len().saturating_sub(1), 0)
    }

    /// Byte offset of element `k` of chunk `ci`.
    fn offset_in(&self, ci: usize, k: usize) -> usize {
        let c = &self.chunks[ci];
        if k <= c.count as usize / 2 {
            let mut p = c.start;
            for _ in 0..k {
                p = read_fwd(&c.buf, p).2;
            }
            p
        } else {
            let mut end = c.buf.len();
            for _ in 0..(c.count as usize - k) {
                end = read_bwd(&c.buf, end).2;
            }
            end
        }
    }

    /// Element `i` counted from the head.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len {
            return None;
        }
        let (ci, k) = self.locate(i);
        let p = self.offset_in(ci, k);
        let c = &self.chunks[ci];
        let (d, n, _) = read_fwd(&c.buf, p);
        Some(&c.buf[d..d + n])
    }

    /// Replaces chunk `ci` by chunks holding `elems` (split to the target size; none if empty).
    fn replace_chunk(&mut self, ci: usize, elems: &[&[u8]]) {
        let mut parts: Vec<Chunk> = Vec::new();
        let mut from = 0;
        let mut size = 0;
        for (i, e) in elems.iter().enumerate() {
            let l = encoded_len(e.len());
            if i > from && size + l > CHUNK_BYTES {
                parts.push(Chunk::with(&elems[from..i]));
                from = i;
                size = 0;
            }
            size += l;
        }
        if from < elems.len() {
            parts.push(Chunk::with(&elems[from..]));
        }
        self.chunks.remove(ci);
        for (k, p) in parts.into_iter().enumerate() {
            self.chunks.insert(ci + k, p);
        }
    }

    /// Replaces element `i`; false if out of range.
    pub fn set(&mut self, i: usize, v: &[u8]) -> bool {
        if i >= self.len {
            return false;
        }
        let (ci, k) = self.locate(i);
        let old = std::mem::take(&mut self.chunks[ci]);
        let mut elems = old.elems();
        elems[k] = v;
        self.replace_chunk(ci, &elems);
        true
    }

    /// Inserts `v` so that it becomes element `i` (`i == len` appends).
    pub fn insert(&mut self, i: usize, v: &[u8]) {
        if i == 0 {
            return self.push_front(v);
        }
        if i >= self.len {
            return self.push_back(v);
        }
        let (ci, k) = self.locate(i);
        let old = std::mem::take(&mut self.chunks[ci]);
        let mut elems = old.elems();
        elems.insert(k, v);
        self.replace_chunk(ci, &elems);
        self.len += 1;
    }

    /// Removes up to `limit` elements equal to `v` (0: all), scanning from the tail if
    /// `from_tail`. Returns how many were removed.
    pub fn remove_matching(&mut self, v: &[u8], limit: usize, from_tail: bool) -> usize {
        let mut removed = 0;
        let mut budget = if limit == 0 { usize::MAX } else { limit };
        // A chunk with several elements is within the target size, so once some are removed
        // it is rebuilt as at most one chunk: indices below the current one never move.
        let mut ci = if from_tail { self.chunks.len() } else { 0 };
        loop {
            if budget == 0 {
                break;
            }
            if from_tail {
                if ci == 0 {
                    break;
                }
                ci -= 1;
            } else if ci >= self.chunks.len() {
                break;
            }
            let old = std::mem::take(&mut self.chunks[ci]);
            let elems = old.elems();
            let mut keep = vec![true; elems.len()];
            let mut n = 0;
            let order: Box<dyn Iterator<Item = usize>> = if from_tail {
                Box::new((0..elems.len()).rev())
            } else {
                Box::new(0..elems.len())
            };
            for j in order {
                if budget == 0 {
                    break;
                }
                if elems[j] == v {
                    keep[j] = false;
                    budget -= 1;
                    n += 1;
                }
            }
            if n == 0 {
                drop(elems);
                self.chunks[ci] = old;
                if !from_tail {
                    ci += 1;
                }
                continue;
            }
            removed += n;
            let kept: Vec<&[u8]> = elems
                .iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(e, _)| *e)
                .collect();
            let nonempty = !kept.is_empty();
            self.replace_chunk(ci, &kept);
            if !from_tail && nonempty {
                ci += 1;
            }
        }
        self.len -= removed;
        removed
    }

    /// Iterates over elements `start..start + n` (clamped to the list).
    pub fn range(&self, start: usize, n: usize) -> Iter<'_> {
        let n = n.min(self.len.saturating_sub(start));
        if n == 0 {
            return Iter {
                list: self,
                front: (0, 0),
                back: (0, 0),
                remaining: 0,
            };
        }
        let (fc, fk) = self.locate(start);
        let fp = self.offset_in(fc, fk);
        let last = start + n - 1;
        let (bc, bk) = self.locate(last);
        let bp = read_fwd(&self.chunks[bc].buf, self.offset_in(bc, bk)).2;
        Iter {
            list: self,
            front: (fc, fp),
            back: (bc, bp),
            remaining: n,
        }
    }

    /// Iterates over every element, front to back (reversible).
    pub fn iter(&self) -> Iter<'_> {
        self.range(0, self.len)
    }
}

/// Iterator over a range of a list, in either direction.
pub struct Iter<'a> {
    list: &'a ListValue,
    /// (chunk, byte offset of the next element from the front).
    front: (usize, usize),
    /// (chunk, byte offset just past the next element from the back).
    back: (usize, usize),
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        let (mut ci, mut p) = self.front;
        let mut c = &self.list.chunks[ci];
        if p >= c.buf.len() {
            ci += 1;
            c = &self.list.chunks[ci];
            p = c.start;
        }
        let (d, n, next) = read_fwd(&c.buf, p);
        self.front = (ci, next);
        self.remaining -= 1;
        Some(&c.buf[d..d + n])
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<'a> DoubleEndedIterator for Iter<'a> {
    fn next_back(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        let (mut ci, mut end) = self.back;
        let mut c = &self.list.chunks[ci];
        if end <= c.start {
            ci -= 1;
            c = &self.list.chunks[ci];
            end = c.buf.len();
        }
        let (d, n, s) = read_bwd(&c.buf, end);
        self.back = (ci, s);
        self.remaining -= 1;
        Some(&c.buf[d..d + n])
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn contents(l: &ListValue) -> Vec<Vec<u8>> {
        l.iter().map(|e| e.to_vec()).collect()
    }

    fn check(l: &ListValue, model: &VecDeque<Vec<u8>>) {
        assert_eq!(l.len(), model.len());
        assert_eq!(
            l.chunks.iter().map(|c| c.count as usize).sum::<usize>(),
            l.len
        );
        assert!(l.chunks.iter().all(|c| c.count > 0));
        let fwd = contents(l);
        assert_eq!(fwd, model.iter().cloned().collect::<Vec<_>>());
        let mut rev: Vec<Vec<u8>> = l.iter().rev().map(|e| e.to_vec()).collect();
        rev.reverse();
        assert_eq!(rev, fwd);
    }

    #[test]
    fn push_pop_both_ends() {
        let mut l = ListValue::new();
        l.push_back(b"b");
        l.push_front(b"a");
        l.push_back(b"c");
        assert_eq!(
            contents(&l),
            vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
        );
        assert_eq!(l.get(1), Some(&b"b"[..]));
        assert_eq!(l.pop_back().unwrap(), b"c");
        assert_eq!(l.pop_front().unwrap(), b"a");
        assert_eq!(l.pop_front().unwrap(), b"b");
        assert!(l.pop_front().is_none());
        assert!(l.is_empty());
    }

    #[test]
    fn long_elements_and_varints() {
        let mut l = ListValue::new();
        let big = vec![7u8; 20_000];
        let mid = vec![1u8; 200];
        l.push_back(&mid);
        l.push_back(&big);
        l.push_front(&big);
        l.push_back(b"");
        assert_eq!(l.len(), 4);
        assert_eq!(l.get(0).unwrap(), &big[..]);
        assert_eq!(l.get(1).unwrap(), &mid[..]);
        assert_eq!(l.get(3).unwrap(), b"");
        assert_eq!(l.iter().next_back().unwrap(), b"");
    }

    #[test]
    fn a_long_list_fills_chunks_sized_in_advance() {
        let e = encoded_len(1024);
        let per = CHUNK_BYTES / e;
        for front in [true, false] {
            let mut l = ListValue::new();
            let mut model = VecDeque::new();
            for i in 0..10 * per {
                let v = vec![i as u8; 1024];
                l.push(&v, front);
                if front {
                    model.push_front(v);
                } else {
                    model.push_back(v);
                }
            }
            check(&l, &model);
            // Past the first chunk, each holds as many elements as fit the target, in a
            // buffer of exactly their size.
            let later: Vec<&Chunk> = if front {
                l.chunks.iter().rev().skip(1).collect()
            } else {
                l.chunks.iter().skip(1).collect()
            };
            assert_eq!(later.len(), 9);
            for c in later {
                assert_eq!((c.count as usize, c.buf.capacity()), (per, per * e));
            }
            assert!(l.heap_size() < 10 * per * e + CHUNK_BYTES + 1024);
        }
    }

    #[test]
    fn a_tail_chunk_never_grows_past_the_target() {
        let mut l = ListValue::new();
        for i in 0..5000usize {
            l.push_back(&vec![b'x'; i % 40]);
        }
        for c in &l.chunks {
            assert!(c.buf.capacity() <= CHUNK_BYTES, "{}", c.buf.capacity());
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(bool, Vec<u8>),
        Pop(bool),
        Set(usize, Vec<u8>),
        Insert(usize, Vec<u8>),
        Remove(Vec<u8>, usize, bool),
        DelFront(usize),
        DelBack(usize),
        Range(usize, usize),
    }

    fn elem() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            8 => prop::collection::vec(0u8..3, 0..3),
            1 => prop::collection::vec(any::<u8>(), 100..300),
            1 => prop::collection::vec(any::<u8>(), 3000..9000),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (any::<bool>(), elem()).prop_map(|(l, e)| Op::Push(l, e)),
            3 => any::<bool>().prop_map(Op::Pop),
            1 => (0usize..40, elem()).prop_map(|(i, e)| Op::Set(i, e)),
            1 => (0usize..40, elem()).prop_map(|(i, e)| Op::Insert(i, e)),
            1 => (elem(), 0usize..3, any::<bool>()).prop_map(|(e, n, t)| Op::Remove(e, n, t)),
            1 => (0usize..5).prop_map(Op::DelFront),
            1 => (0usize..5).prop_map(Op::DelBack),
            1 => (0usize..40, 0usize..40).prop_map(|(s, n)| Op::Range(s, n)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn behaves_like_a_deque(ops in prop::collection::vec(op(), 0..120)) {
            let mut l = ListValue::new();
            let mut m: VecDeque<Vec<u8>> = VecDeque::new();
            for o in ops {
                match o {
                    Op::Push(left, e) => {
                        l.push(&e, left);
                        if left { m.push_front(e) } else { m.push_back(e) }
                    }
                    Op::Pop(left) => {
                        let want = if left { m.pop_front() } else { m.pop_back() };
                        prop_assert_eq!(l.pop(left), want);
                    }
                    Op::Set(i, e) => {
                        let ok = i < m.len();
                        prop_assert_eq!(l.set(i, &e), ok);
                        if ok { m[i] = e; }
                    }
                    Op::Insert(i, e) => {
                        let i = i.min(m.len());
                        l.insert(i, &e);
                        m.insert(i, e);
                    }
                    Op::Remove(e, n, tail) => {
                        let mut removed = 0;
                        let idx: Vec<usize> = if tail { (0..m.len()).rev().collect() } else { (0..m.len()).collect() };
                        let mut gone = vec![false; m.len()];
                        for i in idx {
                            if n != 0 && removed == n { break; }
                            if m[i] == e { gone[i] = true; removed += 1; }
                        }
                        let mut k = 0;
                        m.retain(|_| { k += 1; !gone[k - 1] });
                        prop_assert_eq!(l.remove_matching(&e, n, tail), removed);
                    }
                    Op::DelFront(n) => {
                        l.delete_front(n);
                        for _ in 0..n.min(m.len()) { m.pop_front(); }
                    }
                    Op::DelBack(n) => {
                        l.delete_back(n);
                        for _ in 0..n.min(m.len()) { m.pop_back(); }
                    }
                    Op::Range(s, n) => {
                        let got: Vec<Vec<u8>> = l.range(s, n).map(|e| e.to_vec()).collect();
                        let want: Vec<Vec<u8>> = m.iter().skip(s).take(n).cloned().collect();
                        prop_assert_eq!(&got, &want);
                        let mut back: Vec<Vec<u8>> = l.range(s, n).rev().map(|e| e.to_vec()).collect();
                        back.reverse();
                        prop_assert_eq!(back, want);
                    }
                }
                check(&l, &m);
                for (i, e) in m.iter().enumerate() {
                    prop_assert_eq!(l.get(i), Some(&e[..]));
                }
            }
        }
    }
}
