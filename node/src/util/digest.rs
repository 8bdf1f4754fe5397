//! `DEBUG DIGEST-VALUE`: Redis's SHA-1 based digest of a value (`debug.c`
//! `xorObjectDigest`), which `redis-cli --cluster fix` compares to decide whether a key found
//! on two nodes holds the same value. Ordered collections mix element digests in order;
//! unordered ones XOR them, so two equal values digest alike whatever their encoding.

use crate::db::Value;

/// SHA-1 of `data` (FIPS 180-4).
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let bits = (data.len() as u64).wrapping_mul(8);
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, c) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

/// `digest ^= sha1(data)` (Redis `xorDigest`).
fn xor(digest: &mut [u8; 20], data: &[u8]) {
    for (d, h) in digest.iter_mut().zip(sha1(data)) {
        *d ^= h;
    }
}

/// `digest = sha1(digest ^ sha1(data))` (Redis `mixDigest`): order matters.
fn mix(digest: &mut [u8; 20], data: &[u8]) {
    xor(digest, data);
    *digest = sha1(&digest[..]);
}

/// Redis's object type numbers (`OBJ_STRING`...), mixed in first.
fn type_number(v: &Value) -> u32 {
    match v {
        Value::Int(_) | Value::Str(_) | Value::Raw(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
        Value::Stream(_) => 6,
    }
}

/// The digest of a value; `has_ttl` mixes in Redis's expire marker.
pub fn value_digest(v: &Value, has_ttl: bool) -> [u8; 20] {
    let mut d = [0u8; 20];
    digest_into(&mut d, v, has_ttl);
    d
}

/// `DEBUG DIGEST`: a digest of every key and value of every database, which two servers
/// holding the same data agree on whatever order they hold it in: per database holding
/// keys, its number is mixed into the result, then each key's digest (its name mixed, then
/// its value's) is XORed in. All zeros for an empty dataset. `keys(db, f)` calls `f` with
/// every key of a database, its value and whether it has a TTL.
pub fn dataset_digest(
    databases: usize,
    mut keys: impl FnMut(usize, &mut dyn FnMut(&[u8], &Value, bool)),
) -> [u8; 20] {
    let mut out = [0u8; 20];
    for db in 0..databases {
        let mut acc = [0u8; 20];
        let mut any = false;
        keys(db, &mut |key, v, has_ttl| {
            any = true;
            let mut d = [0u8; 20];
            mix(&mut d, key);
            digest_into(&mut d, v, has_ttl);
            xor(&mut acc, &d);
        });
        if any {
            mix(&mut out, &(db as u32).to_be_bytes());
            for (o, x) in out.iter_mut().zip(acc) {
                *o ^= x;
            }
        }
    }
    out
}

/// Mixes the digest of `v` into `d`.
fn digest_into(d: &mut [u8; 20], v: &Value, has_ttl: bool) {
    mix(d, &type_number(v).to_be_bytes());
    match v {
        Value::Int(n) => mix(d, itoa::Buffer::new().format(*n).as_bytes()),
        Value::Str(s) => mix(d, s.as_slice()),
        Value::Raw(s) => mix(d, s),
        Value::List(l) => {
            for e in l.iter() {
                mix(d, e);
            }
        }
        Value::Set(s) => s.for_each(|m| xor(d, m)),
        Value::ZSet(z) => z.for_each(|m, score| {
            let mut e = [0u8; 20];
            mix(&mut e, m);
            let mut buf = Vec::new();
            crate::util::num::fmt_double_17g(score, &mut buf);
            mix(&mut e, &buf);
            xor(d, &e);
        }),
        Value::Hash(h) => {
            for (f, val) in h.iter() {
                let mut e = [0u8; 20];
                mix(&mut e, f);
                mix(&mut e, val);
                xor(d, &e);
            }
        }
        Value::Stream(s) => {
            use crate::db::types::stream::StreamId;
            s.range(StreamId::MIN, StreamId::MAX, false, |id, fields| {
                mix(d, format!("{}.{}", id.ms, id.seq).as_bytes());
                for f in fields {
                    mix(d, f);
                }
                true
            });
        }
    }
    if has_ttl {
        xor(d, b"!!expire!!");
    }
}

/// Lowercase hex of a digest.
pub fn hex(d: &[u8; 20]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_vectors() {
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(hex(&sha1(long)), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    }
}
