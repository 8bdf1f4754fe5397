//! Reading the compact blobs Redis 7.0 stores inside RDB values: listpacks (hashes, sorted
//! sets, quicklist nodes) and intsets (sets of integers). Every length and offset is checked:
//! a corrupt blob is an error, never a panic or an out-of-bounds read.

use super::RdbError;

/// One listpack element: Redis stores small integers as integers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Elem<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl Elem<'_> {
    /// The element as the string Redis would reply with.
    pub fn to_vec(&self) -> Vec<u8> {
        match self {
            Elem::Str(s) => s.to_vec(),
            Elem::Int(n) => itoa::Buffer::new().format(*n).as_bytes().to_vec(),
        }
    }
}

const LP: &str = "listpack";

fn corrupt(what: &str) -> RdbError {
    RdbError::Corrupt(format!("listpack: {what}"))
}

/// Bytes the back-length of an entry of `len` bytes takes.
fn backlen_size(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// `n` bytes of a blob at `at`, or a corrupt-`what` error when they run past its end.
pub(super) fn take<'a>(
    buf: &'a [u8],
    at: usize,
    n: usize,
    what: &str,
) -> Result<&'a [u8], RdbError> {
    at.checked_add(n)
        .and_then(|end| buf.get(at..end))
        .ok_or_else(|| RdbError::Corrupt(format!("{what}: entry past the end")))
}

/// A little-endian two's-complement integer of 1 to 8 bytes (listpack, ziplist and intset
/// integers are all stored so).
pub(super) fn le_int(bytes: &[u8]) -> i64 {
    let mut v = 0u64;
    for (i, &x) in bytes.iter().enumerate() {
        v |= (x as u64) << (8 * i);
    }
    let shift = 64 - 8 * bytes.len() as u32;
    ((v << shift) as i64) >> shift
}

/// Parses a whole listpack: `total-bytes u32, count u16, entries, 0xFF`.
pub fn parse(buf: &[u8]) -> Result<Vec<Elem<'_>>, RdbError> {
    if buf.len() < 7 {
        return Err(corrupt("shorter than its header"));
    }
    let total = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if total != buf.len() {
        return Err(corrupt("total bytes do not match"));
    }
    let declared = u16::from_le_bytes([buf[4], buf[5]]);
    let mut out = Vec::new();
    let mut p = 6;
    loop {
        let b = *buf.get(p).ok_or_else(|| corrupt("missing end marker"))?;
        if b == 0xFF {
            if p + 1 != buf.len() {
                return Err(corrupt("bytes after the end marker"));
            }
            break;
        }
        let (elem, size) = if b & 0x80 == 0 {
            (Elem::Int((b & 0x7f) as i64), 1)
        } else if b & 0xC0 == 0x80 {
            let n = (b & 0x3f) as usize;
            (Elem::Str(take(buf, p + 1, n, LP)?), 1 + n)
        } else if b & 0xE0 == 0xC0 {
            let lo = take(buf, p + 1, 1, LP)?[0];
            let v = (((b & 0x1f) as u64) << 8) | lo as u64;
            (Elem::Int(((v << 51) as i64) >> 51), 2)
        } else if b & 0xF0 == 0xE0 {
            let lo = take(buf, p + 1, 1, LP)?[0];
            let n = (((b & 0x0f) as usize) << 8) | lo as usize;
            (Elem::Str(take(buf, p + 2, n, LP)?), 2 + n)
        } else {
            let int = |width: usize| -> Result<(Elem<'_>, usize), RdbError> {
                Ok((Elem::Int(le_int(take(buf, p + 1, width, LP)?)), 1 + width))
            };
            match b {
                0xF0 => {
                    let l = take(buf, p + 1, 4, LP)?;
                    let n = u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize;
                    (Elem::Str(take(buf, p + 5, n, LP)?), 5 + n)
                }
                0xF1 => int(2)?,
                0xF2 => int(3)?,
                0xF3 => int(4)?,
                0xF4 => int(8)?,
                _ => return Err(corrupt("unknown entry encoding")),
            }
        };
        p += size + backlen_size(size);
        out.push(elem);
    }
    if declared != u16::MAX && declared as usize != out.len() {
        return Err(corrupt("element count does not match"));
    }
    Ok(out)
}

/// Builds a listpack byte for byte as Redis writes one: strings that are the canonical text of
/// an integer (up to 20 bytes) stored as integers, every integer in its smallest encoding, each
/// entry followed by its back-length, the element count saturating at 65535.
#[derive(Debug, Default)]
pub struct Writer {
    body: Vec<u8>,
    count: usize,
}

impl Writer {
    pub fn new() -> Writer {
        Writer::default()
    }

    /// A writer whose body starts with room for `bytes`.
    pub fn with_capacity(bytes: usize) -> Writer {
        Writer {
            body: Vec::with_capacity(bytes),
            count: 0,
        }
    }

    /// Appends an integer element.
    pub fn int(&mut self, v: i64) {
        let start = self.body.len();
        let b = &mut self.body;
        if (0..=127).contains(&v) {
            b.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u16) & 0x1fff;
            b.push(0xC0 | (u >> 8) as u8);
            b.push(u as u8);
        } else if let Ok(x) = i16::try_from(v) {
            b.push(0xF1);
            b.extend_from_slice(&x.to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&v) {
            b.push(0xF2);
            b.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if let Ok(x) = i32::try_from(v) {
            b.push(0xF3);
            b.extend_from_slice(&x.to_le_bytes());
        } else {
            b.push(0xF4);
            b.extend_from_slice(&v.to_le_bytes());
        }
        self.finish_entry(start);
    }

    /// Appends a string element (as an integer when it is the canonical text of one).
    pub fn str(&mut self, s: &[u8]) {
        if s.len() <= 20 {
            if let Some(v) = crate::util::num::parse_i64(s) {
                return self.int(v);
            }
        }
        let start = self.body.len();
        let b = &mut self.body;
        if s.len() < 64 {
            b.push(0x80 | s.len() as u8);
        } else if s.len() < 4096 {
            b.push(0xE0 | (s.len() >> 8) as u8);
            b.push(s.len() as u8);
        } else {
            b.push(0xF0);
            b.extend_from_slice(&(s.len() as u32).to_le_bytes());
        }
        b.extend_from_slice(s);
        self.finish_entry(start);
    }

    /// Appends the back-length of the entry that started at `start`: its size in 7-bit
    /// groups, most significant first, every byte but the first with the high bit set.
    fn finish_entry(&mut self, start: usize) {
        let len = self.body.len() - start;
        let n = backlen_size(len);
        for i in (0..n).rev() {
            let group = ((len >> (7 * i)) & 0x7f) as u8;
            self.body
                .push(if i + 1 == n { group } else { group | 0x80 });
        }
        self.count += 1;
    }

    /// The whole listpack: total bytes, element count, entries, end marker.
    pub fn finish(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 7);
        out.extend_from_slice(&((self.body.len() + 7) as u32).to_le_bytes());
        out.extend_from_slice(&(self.count.min(u16::MAX as usize) as u16).to_le_bytes());
        out.extend_from_slice(&self.body);
        out.push(0xFF);
        out
    }
}

/// Parses an intset: `encoding u32 (2, 4 or 8), length u32, sorted little-endian values`.
pub fn parse_intset(buf: &[u8]) -> Result<Vec<i64>, RdbError> {
    let bad = |what: &str| RdbError::Corrupt(format!("intset: {what}"));
    if buf.len() < 8 {
        return Err(bad("shorter than its header"));
    }
    let width = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let len = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
    if !matches!(width, 2 | 4 | 8) {
        return Err(bad("bad encoding"));
    }
    if len.checked_mul(width).and_then(|b| b.checked_add(8)) != Some(buf.len()) {
        return Err(bad("length does not match"));
    }
    let mut out = Vec::with_capacity(len);
    for chunk in buf[8..].chunks_exact(width) {
        let v = le_int(chunk);
        if out.last().is_some_and(|&last| last >= v) {
            return Err(bad("values not sorted"));
        }
        out.push(v);
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a listpack the way Redis writes one (for tests of the reader).
    pub fn build(elems: &[Elem<'_>]) -> Vec<u8> {
        let mut body = Vec::new();
        for e in elems {
            let start = body.len();
            match e {
                Elem::Int(n) if (0..=127).contains(n) => body.push(*n as u8),
                Elem::Int(n) if (-4096..4096).contains(n) => {
                    let v = (*n as u16) & 0x1fff;
                    body.push(0xC0 | (v >> 8) as u8);
                    body.push(v as u8);
                }
                Elem::Int(n) if i16::try_from(*n).is_ok() => {
                    body.push(0xF1);
                    body.extend_from_slice(&(*n as i16).to_le_bytes());
                }
                Elem::Int(n) if (-(1 << 23)..(1 << 23)).contains(n) => {
                    body.push(0xF2);
                    body.extend_from_slice(&(*n as i32).to_le_bytes()[..3]);
                }
                Elem::Int(n) if i32::try_from(*n).is_ok() => {
                    body.push(0xF3);
                    body.extend_from_slice(&(*n as i32).to_le_bytes());
                }
                Elem::Int(n) => {
                    body.push(0xF4);
                    body.extend_from_slice(&n.to_le_bytes());
                }
                Elem::Str(s) if s.len() < 64 => {
                    body.push(0x80 | s.len() as u8);
                    body.extend_from_slice(s);
                }
                Elem::Str(s) if s.len() < 4096 => {
                    body.push(0xE0 | (s.len() >> 8) as u8);
                    body.push(s.len() as u8);
                    body.extend_from_slice(s);
                }
                Elem::Str(s) => {
                    body.push(0xF0);
                    body.extend_from_slice(&(s.len() as u32).to_le_bytes());
                    body.extend_from_slice(s);
                }
            }
            let l = body.len() - start;
            body.extend(std::iter::repeat_n(0u8, backlen_size(l)));
        }
        let mut out = Vec::new();
        out.extend_from_slice(&((body.len() + 7) as u32).to_le_bytes());
        out.extend_from_slice(&(elems.len() as u16).to_le_bytes());
        out.extend_from_slice(&body);
        out.push(0xFF);
        out
    }

    #[test]
    fn reads_every_encoding() {
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 300];
        let elems = [
            Elem::Int(5),
            Elem::Int(-3),
            Elem::Int(4000),
            Elem::Int(-30000),
            Elem::Int(1 << 20),
            Elem::Int(-(1 << 30)),
            Elem::Int(i64::MIN),
            Elem::Str(b"hello"),
            Elem::Str(&mid),
            Elem::Str(&long),
            Elem::Str(b""),
        ];
        let lp = build(&elems);
        assert_eq!(parse(&lp).unwrap(), elems.to_vec());
    }

    #[test]
    fn corrupt_listpacks_are_errors() {
        let lp = build(&[Elem::Str(b"abc"), Elem::Int(7)]);
        for cut in 0..lp.len() {
            assert!(parse(&lp[..cut]).is_err(), "prefix {cut}");
        }
        let mut bad = lp.clone();
        bad[6] = 0x80 | 60; // a string running past the end
        assert!(parse(&bad).is_err());
        let mut count = lp.clone();
        count[4] = 9;
        assert!(parse(&count).is_err());
    }

    #[test]
    fn intsets() {
        let mut b = Vec::new();
        b.extend_from_slice(&4u32.to_le_bytes());
        b.extend_from_slice(&3u32.to_le_bytes());
        for v in [-5i32, 7, 100000] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(parse_intset(&b).unwrap(), vec![-5, 7, 100000]);
        assert!(parse_intset(&b[..b.len() - 1]).is_err());
        let mut unsorted = b.clone();
        unsorted[8..12].copy_from_slice(&200000i32.to_le_bytes());
        assert!(parse_intset(&unsorted).is_err());
    }

    proptest::proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = parse(&bytes);
            let _ = parse_intset(&bytes);
        }
    }
}
