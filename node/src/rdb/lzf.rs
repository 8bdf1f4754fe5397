//! LZF compression as Redis's bundled liblzf (3.6, `HLOG` 16, `VERY_FAST`) emits it, so that
//! compressed strings and listpacks in DUMP payloads and RDB files are byte-identical to
//! stock Redis's. (Decompression is format-only and comes from the `lzf` crate.)
//!
//! The format: a literal run is `000LLLLL` and L+1 bytes; a back reference is `LLLooooo
//! oooooooo` (length L+2, L < 7) or `111ooooo LLLLLLLL oooooooo` (length L+9), copying from
//! `offset + 1` bytes back. Which matches are found depends on the compressor's hash of three
//! bytes into a 2^16-slot table, on which positions it records (after a match only the last
//! two), and on the unrolled match-extension loop, which may run one byte past `maxlen`:
//! all of that is reproduced here.

use std::cell::RefCell;

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

/// The hash slot of three bytes folded into `h` (liblzf's `IDX` in `VERY_FAST` mode).
fn slot(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

/// The hash table, reused across calls: an entry is `(generation, position)` and only
/// entries of the current call's generation count, so nothing needs clearing per call.
struct Table {
    generation: u32,
    slots: Vec<(u32, u32)>,
}

thread_local! {
    static TABLE: RefCell<Table> = const {
        RefCell::new(Table {
            generation: 0,
            slots: Vec::new(),
        })
    };
}

/// Compresses `data` into at most `out_len` bytes, or None when it does not fit (liblzf
/// returns 0), exactly as `lzf_compress(data, len, out, out_len)`.
pub fn compress(data: &[u8], out_len: usize) -> Option<Vec<u8>> {
    if data.is_empty() || out_len == 0 || u32::try_from(data.len()).is_err() {
        return None;
    }
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        if t.slots.is_empty() {
            t.slots = vec![(0, 0); HSIZE];
        }
        t.generation = t.generation.wrapping_add(1);
        if t.generation == 0 {
            t.slots.iter_mut().for_each(|s| *s = (0, 0));
            t.generation = 1;
        }
        let generation = t.generation;
        compress_with(data, out_len, generation, &mut t.slots)
    })
}

fn compress_with(
    data: &[u8],
    out_len: usize,
    generation: u32,
    table: &mut [(u32, u32)],
) -> Option<Vec<u8>> {
    let n = data.len();
    // Slack past `out_len`: the checks below keep every write inside it (as in liblzf), and
    // the final length is checked again rather than trusted.
    let mut out = vec![0u8; out_len + 4];
    let record = |table: &mut [(u32, u32)], h: u32, pos: usize| -> Option<usize> {
        let s = &mut table[slot(h)];
        let prev = (s.0 == generation).then_some(s.1 as usize);
        *s = (generation, pos as u32);
        prev
    };
    let (mut ip, mut op, mut lit) = (0usize, 1usize, 0usize);
    let frst = |p: usize| -> u32 { (u32::from(data[p]) << 8) | u32::from(data[p + 1]) };
    let mut hval = if n >= 2 { frst(0) } else { 0 };
    while ip + 2 < n {
        hval = (hval << 8) | u32::from(data[ip + 2]);
        let found = record(table, hval, ip).filter(|&r| {
            r < ip
                && ip - r - 1 < MAX_OFF
                && r > 0
                && data[r + 2] == data[ip + 2]
                && data[r..r + 2] == data[ip..ip + 2]
        });
        if let Some(r) = found {
            let mut len = 2;
            let maxlen = (n - ip - len).min(MAX_REF);
            if op + 3 + 1 >= out_len && op - usize::from(lit == 0) + 3 + 1 >= out_len {
                return None;
            }
            out[op - lit - 1] = (lit as u8).wrapping_sub(1);
            op -= usize::from(lit == 0);
            let mut stopped = false;
            if maxlen > 16 {
                for _ in 0..16 {
                    len += 1;
                    if data[r + len] != data[ip + len] {
                        stopped = true;
                        break;
                    }
                }
            }
            if !stopped {
                loop {
                    len += 1;
                    if !(len < maxlen && data[r + len] == data[ip + len]) {
                        break;
                    }
                }
            }
            let off = ip - r - 1;
            len -= 2;
            ip += 1;
            if len < 7 {
                out[op] = ((off >> 8) + (len << 5)) as u8;
                op += 1;
            } else {
                out[op] = ((off >> 8) + (7 << 5)) as u8;
                out[op + 1] = (len - 7) as u8;
                op += 2;
            }
            out[op] = off as u8;
            op += 2; // the offset's low byte, then the next run's length byte
            lit = 0;
            ip += len + 1;
            if ip + 2 >= n {
                break;
            }
            // Record the last two positions of the match.
            ip -= 2;
            hval = frst(ip);
            for _ in 0..2 {
                hval = (hval << 8) | u32::from(data[ip + 2]);
                record(table, hval, ip);
                ip += 1;
            }
        } else {
            if op >= out_len {
                return None;
            }
            out[op] = data[ip];
            lit += 1;
            op += 1;
            ip += 1;
            if lit == MAX_LIT {
                out[op - lit - 1] = (lit - 1) as u8;
                lit = 0;
                op += 1;
            }
        }
    }
    if op + 3 > out_len {
        return None;
    }
    while ip < n {
        out[op] = data[ip];
        lit += 1;
        op += 1;
        ip += 1;
        if lit == MAX_LIT {
            out[op - lit - 1] = (lit - 1) as u8;
            lit = 0;
            op += 1;
        }
    }
    out[op - lit - 1] = (lit as u8).wrapping_sub(1);
    op -= usize::from(lit == 0);
    if op > out_len {
        return None;
    }
    out.truncate(op);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_outputs() {
        // Stock Redis 7.0.15 DUMPs: 22 x 0xE4 (the unrolled match loop runs past maxlen).
        let run = [0xE4u8; 22];
        assert_eq!(
            compress(&run, 18).unwrap(),
            [0x01, 0xE4, 0xE4, 0xE0, 0x0A, 0x00, 0x00, 0xE4]
        );
        // "abcdefghij" x 10 (the dump.redis script's `big`).
        let big = b"abcdefghij".repeat(10);
        assert_eq!(
            compress(&big, 96).unwrap(),
            b"\x0aabcdefghija\xe0N\x09\x01ij".to_vec()
        );
    }

    proptest::proptest! {
        #[test]
        fn round_trips_and_never_overflows(
            data in proptest::collection::vec(0u8..4, 1..3000),
            slack in 0usize..64,
        ) {
            let out_len = data.len().saturating_sub(slack).max(1);
            if let Some(c) = compress(&data, out_len) {
                proptest::prop_assert!(c.len() <= out_len);
                let back = ::lzf::decompress(&c, data.len()).unwrap();
                proptest::prop_assert_eq!(back, data);
            }
        }
    }
}
