//! The replication backlog: the last `repl-backlog-size` bytes of the replication stream, by
//! offset, so a replica that reconnects after a short break continues where it stopped
//! (PSYNC) instead of a full sync.

/// A ring of the most recent bytes of the stream.
pub struct Backlog {
    buf: Vec<u8>,
    /// Stream offset of the next byte written (`master_repl_offset`).
    end: u64,
    /// Bytes held (at most `buf.len()`).
    held: usize,
}

impl Backlog {
    /// An empty backlog holding up to `size` bytes, whose next byte has offset `end`.
    pub fn new(size: usize, end: u64) -> Backlog {
        Backlog {
            buf: vec![0; size.max(16)],
            end,
            held: 0,
        }
    }

    /// Offset of the next byte written.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Offset of the oldest byte held (`repl_backlog_first_byte_offset` is this + 1).
    pub fn start(&self) -> u64 {
        self.end - self.held as u64
    }

    pub fn held(&self) -> usize {
        self.held
    }

    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Appends bytes, forgetting the oldest when full.
    pub fn push(&mut self, mut bytes: &[u8]) {
        let cap = self.buf.len();
        if bytes.len() > cap {
            self.end += (bytes.len() - cap) as u64;
            bytes = &bytes[bytes.len() - cap..];
        }
        let at = (self.end % cap as u64) as usize;
        let first = bytes.len().min(cap - at);
        self.buf[at..at + first].copy_from_slice(&bytes[..first]);
        self.buf[..bytes.len() - first].copy_from_slice(&bytes[first..]);
        self.end += bytes.len() as u64;
        self.held = (self.held + bytes.len()).min(cap);
    }

    /// Whether the stream from offset `from` is still here.
    pub fn has(&self, from: u64) -> bool {
        from >= self.start() && from <= self.end
    }

    /// Up to `max` bytes from offset `from` (None if they are no longer held).
    pub fn read(&self, from: u64, max: usize) -> Option<Vec<u8>> {
        if !self.has(from) {
            return None;
        }
        let cap = self.buf.len();
        let n = ((self.end - from) as usize).min(max);
        let at = (from % cap as u64) as usize;
        let first = n.min(cap - at);
        let mut out = Vec::with_capacity(n);
        out.extend_from_slice(&self.buf[at..at + first]);
        out.extend_from_slice(&self.buf[..n - first]);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wraps_and_forgets_the_oldest() {
        let mut b = Backlog::new(16, 100);
        b.push(b"0123456789");
        assert_eq!(b.read(100, 100).unwrap(), b"0123456789");
        b.push(b"abcdefghij");
        assert_eq!(b.end(), 120);
        assert_eq!(b.start(), 104);
        assert!(b.read(103, 1).is_none());
        assert_eq!(b.read(104, 100).unwrap(), b"456789abcdefghij");
        assert_eq!(b.read(118, 100).unwrap(), b"ij");
        assert_eq!(b.read(120, 100).unwrap(), b"");
        b.push(&[b'x'; 40]);
        assert_eq!(b.read(b.start(), 100).unwrap(), vec![b'x'; 16]);
    }

    proptest! {
        #[test]
        fn matches_a_plain_vector(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..30), cap in 1usize..64) {
            let mut b = Backlog::new(cap, 7);
            let mut all = Vec::new();
            for c in &chunks {
                b.push(c);
                all.extend_from_slice(c);
            }
            let cap = b.capacity();
            let keep = all.len().min(cap);
            let tail = &all[all.len() - keep..];
            prop_assert_eq!(b.end(), 7 + all.len() as u64);
            prop_assert_eq!(b.read(b.start(), usize::MAX).unwrap(), tail.to_vec());
        }
    }
}
