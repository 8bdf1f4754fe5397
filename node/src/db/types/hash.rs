//! A hash: field -> value. Small hashes are a compact pair list (`listpack`), large ones a hash table (`hashtable`), switched by `hash-max-listpack-entries`/`-value`.

/// Placeholder until the type is built: see the issue for the data types.
#[derive(Debug, Clone, Default)]
pub struct HashValue {
    len: usize,
}

impl HashValue {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The encoding name for `OBJECT ENCODING`.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }

    /// Approximate heap bytes used (`MEMORY USAGE`).
    pub fn heap_size(&self) -> usize {
        0
    }
}
