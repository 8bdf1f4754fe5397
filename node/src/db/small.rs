//! `SmallBytes`: immutable bytes stored inline up to 22 bytes, else in one heap block.
//! Used for keys and for short string values, so a small key costs no allocation.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

const INLINE: usize = 22;

#[derive(Clone)]
pub enum SmallBytes {
    Inline { len: u8, data: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl SmallBytes {
    pub fn new(b: &[u8]) -> Self {
        if b.len() <= INLINE {
            let mut data = [0u8; INLINE];
            data[..b.len()].copy_from_slice(b);
            SmallBytes::Inline {
                len: b.len() as u8,
                data,
            }
        } else {
            SmallBytes::Heap(b.into())
        }
    }

    /// Takes `v`'s buffer when it is stored on the heap (no copy, and no reallocation when
    /// `v` has no spare capacity).
    pub fn from_vec(v: Vec<u8>) -> Self {
        if v.len() <= INLINE {
            Self::new(&v)
        } else {
            SmallBytes::Heap(v.into_boxed_slice())
        }
    }

    /// The bytes, writable in place when they are on the heap (the length is fixed).
    pub fn heap_mut(&mut self) -> Option<&mut [u8]> {
        match self {
            SmallBytes::Inline { .. } => None,
            SmallBytes::Heap(b) => Some(b),
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match self {
            SmallBytes::Inline { len, data } => &data[..*len as usize],
            SmallBytes::Heap(b) => b,
        }
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes allocated on the heap for this value (for `MEMORY USAGE`).
    pub fn heap_size(&self) -> usize {
        match self {
            SmallBytes::Inline { .. } => 0,
            SmallBytes::Heap(b) => b.len(),
        }
    }
}

impl std::ops::Deref for SmallBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for SmallBytes {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for SmallBytes {
    fn eq(&self, o: &Self) -> bool {
        self.as_slice() == o.as_slice()
    }
}
impl Eq for SmallBytes {}

impl PartialOrd for SmallBytes {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for SmallBytes {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.as_slice().cmp(o.as_slice())
    }
}

impl Hash for SmallBytes {
    // Must hash exactly like `[u8]` so lookups by `&[u8]` find the entry.
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_slice().hash(h)
    }
}

impl std::fmt::Debug for SmallBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_heap() {
        assert_eq!(std::mem::size_of::<SmallBytes>(), 24);
        let a = SmallBytes::new(b"hello");
        assert_eq!(&*a, b"hello");
        assert_eq!(a.heap_size(), 0);
        let long = vec![7u8; 100];
        let b = SmallBytes::new(&long);
        assert_eq!(&*b, &long[..]);
        let mut m = hashbrown::HashMap::new();
        m.insert(a.clone(), 1);
        assert_eq!(m.get(&b"hello"[..]), Some(&1));
    }
}
