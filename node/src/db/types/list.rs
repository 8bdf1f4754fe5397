//! A list of byte strings with O(1) push/pop at both ends (`quicklist`, as Redis 7.0 reports every list).

/// Placeholder until the type is built: see the issue for the data types.
#[derive(Debug, Clone, Default)]
pub struct ListValue {
    len: usize,
}

impl ListValue {
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
        0
    }
}
