//! `SmallBytes`: immutable bytes stored inline up to `N` bytes (22 by default), else in one
//! heap block. Used for keys and for short string values, so a small key costs no allocation.
//!
//! With the default `N` the type is 24 bytes: a tag, a length and 22 bytes. String values
//! use [`STR_INLINE`] = 30, 32 bytes, which is the size `Value` has anyway (its other variants
//! fit beside the tag), so values of 23 to 30 bytes need no heap block of their own.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

/// Inline bytes of a key (and of hash and set entries).
pub const INLINE: usize = 22;

/// Inline bytes of a string value ([`super::Value::Str`]).
pub const STR_INLINE: usize = 30;

#[derive(Clone)]
pub enum SmallBytes<const N: usize = INLINE> {
    Inline { len: u8, data: [u8; N] },
    Heap(Box<[u8]>),
}

impl<const N: usize> SmallBytes<N> {
    pub fn new(b: &[u8]) -> Self {
        if b.len() <= N {
            let mut data = [0u8; N];
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
        if v.len() <= N {
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

impl<const N: usize> std::ops::Deref for SmallBytes<N> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl<const N: usize> Borrow<[u8]> for SmallBytes<N> {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl<const N: usize> PartialEq for SmallBytes<N> {
    fn eq(&self, o: &Self) -> bool {
        self.as_slice() == o.as_slice()
    }
}
impl<const N: usize> Eq for SmallBytes<N> {}

impl<const N: usize> PartialOrd for SmallBytes<N> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<const N: usize> Ord for SmallBytes<N> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.as_slice().cmp(o.as_slice())
    }
}

impl<const N: usize> Hash for SmallBytes<N> {
    // Must hash exactly like `[u8]` so lookups by `&[u8]` find the entry.
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_slice().hash(h)
    }
}

impl<const N: usize> std::fmt::Debug for SmallBytes<N> {
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
        assert_eq!(std::mem::size_of::<SmallBytes<STR_INLINE>>(), 32);
        let a: SmallBytes = SmallBytes::new(b"hello");
        assert_eq!(&*a, b"hello");
        assert_eq!(a.heap_size(), 0);
        let long = vec![7u8; 100];
        let b: SmallBytes = SmallBytes::new(&long);
        assert_eq!(&*b, &long[..]);
        assert_eq!(b.heap_size(), 100);
        // The inline limit is the type's: 30 bytes fit a value's, not a key's.
        let thirty = [9u8; 30];
        let key: SmallBytes = SmallBytes::from_vec(thirty.to_vec());
        let value: SmallBytes<STR_INLINE> = SmallBytes::from_vec(thirty.to_vec());
        assert_eq!((key.heap_size(), value.heap_size()), (30, 0));
        assert_eq!(&*key, &*value);
        let mut m = hashbrown::HashMap::new();
        m.insert(a.clone(), 1);
        assert_eq!(m.get(&b"hello"[..]), Some(&1));
    }
}
