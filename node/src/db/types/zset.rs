//! A sorted set: member -> score, ordered by (score, member), with O(log n) rank and range queries. Small ones report `listpack`, large ones `skiplist` (`zset-max-listpack-entries`/`-value`).

/// Placeholder until the type is built: see the issue for the data types.
#[derive(Debug, Clone, Default)]
pub struct ZSetValue {
    len: usize,
}

impl ZSetValue {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The encoding name for `OBJECT ENCODING`.
    pub fn encoding(&self) -> &'static str {
        "skiplist"
    }

    /// Approximate heap bytes used (`MEMORY USAGE`).
    pub fn heap_size(&self) -> usize {
        0
    }
}
