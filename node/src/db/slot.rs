//! Hash slots: CRC16 (XMODEM) of the key, or of its first non-empty `{hashtag}`, mod 16384.

/// Number of hash slots in a cluster.
pub const SLOTS: usize = 16384;

/// Position of the first `byte` in `s`, eight bytes per step: every command with a key looks
/// for a `{` in it, and a byte-by-byte scan was a visible part of a GET in the profile.
fn find_byte(s: &[u8], byte: u8) -> Option<usize> {
    const LO: u64 = u64::from_ne_bytes([0x01; 8]);
    const HI: u64 = u64::from_ne_bytes([0x80; 8]);
    let pattern = LO * byte as u64;
    let mut chunks = s.chunks_exact(8);
    let mut at = 0;
    for c in chunks.by_ref() {
        let word = u64::from_ne_bytes(c.try_into().expect("8 bytes")) ^ pattern;
        // Nonzero iff some byte of `word` is zero, i.e. some byte of the chunk is `byte`.
        if word.wrapping_sub(LO) & !word & HI != 0 {
            return c.iter().position(|&b| b == byte).map(|i| at + i);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == byte)
        .map(|i| at + i)
}

/// The part of a key that is hashed: the content of the first `{...}` if non-empty.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = find_byte(key, b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// CRC16/XMODEM with the `crc` crate's slice-by-16 tables: a 16-byte key is one step instead
/// of sixteen (the byte-at-a-time `crc16` crate took about 160 instructions per key).
static XMODEM: crc::Crc<u16, crc::Table<16>> =
    crc::Crc::<u16, crc::Table<16>>::new(&crc::CRC_16_XMODEM);

/// The hash slot of a key.
pub fn key_slot(key: &[u8]) -> u16 {
    XMODEM.checksum(hash_tag(key)) & (SLOTS as u16 - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_slots() {
        // Values as reported by CLUSTER KEYSLOT.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(key_slot(b""), 0);
    }

    proptest::proptest! {
        #[test]
        fn same_crc_as_the_crc16_crate(key in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..70)) {
            proptest::prop_assert_eq!(
                XMODEM.checksum(&key),
                crc16::State::<crc16::XMODEM>::calculate(&key)
            );
        }

        #[test]
        fn find_byte_is_position(s in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40), b in proptest::prelude::any::<u8>()) {
            proptest::prop_assert_eq!(find_byte(&s, b), s.iter().position(|&x| x == b));
        }

        #[test]
        fn hash_tag_finds_braces(prefix in "[a-z{}]{0,12}", tag in "[a-z}]{0,6}", rest in "[a-z{}]{0,12}") {
            let key = format!("{prefix}{{{tag}}}{rest}");
            let bytes = key.as_bytes();
            let expected: &[u8] = match bytes.iter().position(|&c| c == b'{') {
                Some(o) => match bytes[o + 1..].iter().position(|&c| c == b'}') {
                    Some(l) if l > 0 => &bytes[o + 1..o + 1 + l],
                    _ => bytes,
                },
                None => bytes,
            };
            proptest::prop_assert_eq!(hash_tag(bytes), expected);
        }
    }
}
