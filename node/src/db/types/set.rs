//! A set of byte strings: all-integer small sets are a sorted integer array (`intset`, up to `set-max-intset-entries`), others a hash table (`hashtable`).

/// Placeholder until the type is built: see the issue for the data types.
#[derive(Debug, Clone, Default)]
pub struct SetValue {
    len: usize,
}

impl SetValue {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The encoding name for `OBJECT ENCODING`.
    pub fn encoding(&self) -> &'static str {
        "hashtable"
    }

    /// Approximate heap bytes used (`MEMORY USAGE`).
    pub fn heap_size(&self) -> usize {
        0
    }
}
