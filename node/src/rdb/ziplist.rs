//! Reading ziplists, the compact blob Redis 6 and older stored in RDB files (hashes, sorted
//! sets, list nodes). Redis 7.0 still loads them, converting to listpacks; so does ferrodis.

use super::listpack::{le_int, take, Elem};
use super::RdbError;

fn corrupt(what: &str) -> RdbError {
    RdbError::Corrupt(format!("ziplist: {what}"))
}

const ZL: &str = "ziplist";

/// Parses a whole ziplist: `zlbytes u32, zltail u32, zllen u16, entries, 0xFF`; each entry is
/// `prevlen (1 or 5 bytes), encoding, data`.
pub fn parse(buf: &[u8]) -> Result<Vec<Elem<'_>>, RdbError> {
    if buf.len() < 11 {
        return Err(corrupt("shorter than its header"));
    }
    let total = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if total != buf.len() {
        return Err(corrupt("total bytes do not match"));
    }
    let declared = u16::from_le_bytes([buf[8], buf[9]]);
    let mut out = Vec::new();
    let mut p = 10;
    loop {
        let first = *buf.get(p).ok_or_else(|| corrupt("missing end marker"))?;
        if first == 0xFF {
            if p + 1 != buf.len() {
                return Err(corrupt("bytes after the end marker"));
            }
            break;
        }
        p += if first < 254 { 1 } else { 5 };
        let enc = *buf.get(p).ok_or_else(|| corrupt("missing encoding"))?;
        let (elem, size) = match enc >> 6 {
            0 => {
                let n = (enc & 0x3f) as usize;
                (Elem::Str(take(buf, p + 1, n, ZL)?), 1 + n)
            }
            1 => {
                let lo = take(buf, p + 1, 1, ZL)?[0];
                let n = (((enc & 0x3f) as usize) << 8) | lo as usize;
                (Elem::Str(take(buf, p + 2, n, ZL)?), 2 + n)
            }
            2 => {
                let l = take(buf, p + 1, 4, ZL)?;
                let n = u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize;
                (Elem::Str(take(buf, p + 5, n, ZL)?), 5 + n)
            }
            _ => {
                let width = match enc {
                    0xC0 => 2,
                    0xD0 => 4,
                    0xE0 => 8,
                    0xF0 => 3,
                    0xFE => 1,
                    0xF1..=0xFD => 0,
                    _ => return Err(corrupt("unknown entry encoding")),
                };
                if width == 0 {
                    (Elem::Int((enc & 0x0f) as i64 - 1), 1)
                } else {
                    (Elem::Int(le_int(take(buf, p + 1, width, ZL)?)), 1 + width)
                }
            }
        };
        p += size;
        out.push(elem);
    }
    if declared != u16::MAX && declared as usize != out.len() {
        return Err(corrupt("element count does not match"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(entries: &[&[u8]]) -> Vec<u8> {
        // Entries given as their encoding + data; prevlen filled in here.
        let mut body = Vec::new();
        let mut prev = 0usize;
        for e in entries {
            let start = body.len();
            if prev < 254 {
                body.push(prev as u8);
            } else {
                body.push(254);
                body.extend_from_slice(&(prev as u32).to_le_bytes());
            }
            body.extend_from_slice(e);
            prev = body.len() - start;
        }
        let mut out = Vec::new();
        out.extend_from_slice(&((body.len() + 11) as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&body);
        out.push(0xFF);
        out
    }

    #[test]
    fn reads_every_encoding() {
        let zl = build(&[
            b"\x03abc",
            b"\xF5",
            b"\xFE\xF6",
            b"\xC0\x10\x27",
            b"\xF0\x00\x00\x80",
            b"\xD0\x00\x00\x00\x80",
            b"\xE0\x01\x00\x00\x00\x00\x00\x00\x00",
            b"\x40\x02hi",
        ]);
        assert_eq!(
            parse(&zl).unwrap(),
            vec![
                Elem::Str(b"abc"),
                Elem::Int(4),
                Elem::Int(-10),
                Elem::Int(10000),
                Elem::Int(-(1 << 23)),
                Elem::Int(i32::MIN as i64),
                Elem::Int(1),
                Elem::Str(b"hi"),
            ]
        );
        for cut in 0..zl.len() {
            assert!(parse(&zl[..cut]).is_err());
        }
    }
}
