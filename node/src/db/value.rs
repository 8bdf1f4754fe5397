//! Values stored in the keyspace and the per-key metadata beside them.

use super::small::{SmallBytes, STR_INLINE};
use super::types::hash::HashValue;
use super::types::list::ListValue;
use super::types::set::SetValue;
use super::types::stream::Stream;
use super::types::zset::ZSetValue;

/// A stored value. String values keep Redis's three encodings visible to `OBJECT ENCODING`.
#[derive(Debug, Clone)]
pub enum Value {
    /// A string that is the canonical text of an integer (`int`).
    Int(i64),
    /// An immutable string as written by SET (`embstr` up to 44 bytes, `raw` above), inline
    /// up to 30 bytes.
    Str(SmallBytes<STR_INLINE>),
    /// A string modified in place (APPEND, SETRANGE, SETBIT): always `raw`.
    Raw(Vec<u8>),
    // Aggregate types are boxed so a string key's entry stays small.
    Hash(Box<HashValue>),
    List(Box<ListValue>),
    Set(Box<SetValue>),
    ZSet(Box<ZSetValue>),
    Stream(Box<Stream>),
}

/// The longest string Redis stores as `embstr`.
const EMBSTR_MAX: usize = 44;

impl Value {
    /// A string value, encoded as Redis would encode it after SET.
    pub fn string(b: &[u8]) -> Value {
        if b.len() <= 20 {
            if let Some(n) = crate::util::num::parse_i64(b) {
                return Value::Int(n);
            }
        }
        Value::Str(SmallBytes::new(b))
    }

    /// The type name for `TYPE` and `SCAN ... TYPE`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) | Value::Str(_) | Value::Raw(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// The encoding name for `OBJECT ENCODING`.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Str(s) if s.len() <= EMBSTR_MAX => "embstr",
            Value::Str(_) | Value::Raw(_) => "raw",
            Value::Hash(h) => h.encoding(),
            Value::List(l) => l.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(_) => "stream",
        }
    }

    pub fn is_string(&self) -> bool {
        matches!(self, Value::Int(_) | Value::Str(_) | Value::Raw(_))
    }

    /// The bytes of a string value, formatting integers into `tmp`.
    pub fn str_bytes<'a>(&'a self, tmp: &'a mut itoa::Buffer) -> Option<&'a [u8]> {
        match self {
            Value::Int(n) => Some(tmp.format(*n).as_bytes()),
            Value::Str(s) => Some(s.as_slice()),
            Value::Raw(v) => Some(v.as_slice()),
            _ => None,
        }
    }

    /// A string value as an owned, growable buffer (converting it to `raw`).
    pub fn make_raw(&mut self) -> Option<&mut Vec<u8>> {
        match self {
            Value::Raw(v) => return Some(v),
            Value::Int(n) => *self = Value::Raw(itoa::Buffer::new().format(*n).as_bytes().to_vec()),
            Value::Str(s) => *self = Value::Raw(s.as_slice().to_vec()),
            _ => return None,
        }
        match self {
            Value::Raw(v) => Some(v),
            _ => None,
        }
    }

    /// Where the value's own heap block starts, if it has one (long strings, collections).
    pub fn heap_ptr(&self) -> Option<*const u8> {
        match self {
            Value::Int(_) | Value::Str(SmallBytes::Inline { .. }) => None,
            Value::Str(SmallBytes::Heap(b)) => Some(b.as_ptr()),
            Value::Raw(v) => Some(v.as_ptr()),
            Value::Hash(b) => Some(std::ptr::from_ref(&**b).cast()),
            Value::List(b) => Some(std::ptr::from_ref(&**b).cast()),
            Value::Set(b) => Some(std::ptr::from_ref(&**b).cast()),
            Value::ZSet(b) => Some(std::ptr::from_ref(&**b).cast()),
            Value::Stream(b) => Some(std::ptr::from_ref(&**b).cast()),
        }
    }

    /// Starts loading what a lookup of `member` in a large hash or set reads (see
    /// [`super::types::dict::Dict::prefetch`]; `deep` is the second step).
    pub fn prefetch_member(&self, member: &[u8], deep: bool) {
        match self {
            Value::Hash(h) => {
                if let HashValue::Table(d) = &**h {
                    d.prefetch(member, deep);
                }
            }
            Value::Set(s) => {
                if let SetValue::Table(d) = &**s {
                    d.prefetch(member, deep);
                }
            }
            _ => {}
        }
    }

    /// Approximate bytes used by the value beyond the entry itself (`MEMORY USAGE`).
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Int(_) => 0,
            Value::Str(s) => s.heap_size(),
            Value::Raw(v) => v.capacity(),
            Value::Hash(h) => std::mem::size_of::<HashValue>() + h.heap_size(),
            Value::List(l) => std::mem::size_of::<ListValue>() + l.heap_size(),
            Value::Set(s) => std::mem::size_of::<SetValue>() + s.heap_size(),
            Value::ZSet(z) => std::mem::size_of::<ZSetValue>() + z.heap_size(),
            Value::Stream(s) => std::mem::size_of::<Stream>() + s.heap_size(),
        }
    }
}

/// One key's value and metadata.
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    /// Absolute expiry in unix milliseconds; 0 means no expiry.
    pub expire_at: u64,
    /// LRU clock (seconds) or LFU counter and decrement time, per `maxmemory-policy`.
    pub access: u32,
    /// The key's hash slot, set by the key table when the entry is stored (it lives in what
    /// would be padding, so per-slot iteration needs no CRC16 per key).
    pub(super) slot: u16,
}

impl Entry {
    pub fn new(value: Value, expire_at: u64, access: u32) -> Entry {
        Entry {
            value,
            expire_at,
            access,
            slot: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_of_up_to_30_bytes_is_stored_in_the_value_itself() {
        // The inline string makes Value no larger than its other variants need.
        assert_eq!(std::mem::size_of::<Value>(), 32);
        for n in [0, 1, 21, 22, 23, 29, 30] {
            let b = vec![b'x'; n];
            let v = Value::string(&b);
            assert!(v.heap_ptr().is_none(), "{n} bytes");
            assert_eq!(v.heap_size(), 0);
            assert_eq!(v.encoding(), "embstr");
            assert_eq!(v.str_bytes(&mut itoa::Buffer::new()), Some(&b[..]));
        }
        for n in [31, 44, 45, 1000] {
            let b = vec![b'y'; n];
            let v = Value::string(&b);
            assert!(v.heap_ptr().is_some(), "{n} bytes");
            assert_eq!(v.heap_size(), n);
            assert_eq!(v.encoding(), if n <= 44 { "embstr" } else { "raw" });
            assert_eq!(v.str_bytes(&mut itoa::Buffer::new()), Some(&b[..]));
        }
    }
}
