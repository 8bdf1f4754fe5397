//! Reading back a reply the server wrote itself (a script's `redis.call` runs a command into a
//! scratch buffer and hands the script its reply as a value).

use ferrodis_lua::host::Reply;

/// The first reply in `buf` and the bytes it took, or None when `buf` does not start with a
/// whole, well-formed reply (never the case for what a handler wrote).
pub fn read_reply(buf: &[u8]) -> Option<(Reply, usize)> {
    let (&kind, rest) = buf.split_first()?;
    let eol = rest.windows(2).position(|w| w == b"\r\n")?;
    let line = &rest[..eol];
    let mut used = 1 + eol + 2;
    let int = |l: &[u8]| crate::util::num::parse_i64(l);
    let reply = match kind {
        b'+' => Reply::Status(line.to_vec()),
        b'-' => Reply::Error(line.to_vec()),
        b':' => Reply::Int(int(line)?),
        b'_' => Reply::Null,
        b'#' => Reply::Bool(line == b"t"),
        b',' => Reply::Double(parse_double(line)?),
        b'(' => Reply::BigNumber(line.to_vec()),
        b'$' | b'=' | b'!' => {
            let n = int(line)?;
            if n < 0 {
                return Some((Reply::NilBulk, used));
            }
            let n = usize::try_from(n).ok()?;
            let body = buf.get(used..used.checked_add(n)?)?;
            used += n + 2;
            match kind {
                b'$' => Reply::Bulk(body.to_vec()),
                b'!' => Reply::Error(body.to_vec()),
                _ => {
                    let (fmt, text) = (body.get(..3)?, body.get(4..)?);
                    Reply::Verbatim(fmt.to_vec(), text.to_vec())
                }
            }
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = int(line)?;
            if n < 0 {
                return Some((Reply::NilArray, used));
            }
            let items = if kind == b'%' || kind == b'|' {
                2 * n
            } else {
                n
            };
            let mut all = Vec::with_capacity(usize::try_from(items).ok()?.min(1024));
            for _ in 0..items {
                let (r, len) = read_reply(buf.get(used..)?)?;
                all.push(r);
                used += len;
            }
            match kind {
                b'~' => Reply::Set(all),
                b'%' => {
                    let mut pairs = Vec::with_capacity(all.len() / 2);
                    let mut it = all.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    Reply::Map(pairs)
                }
                // Attributes describe the reply that follows, which is what the caller gets.
                b'|' => {
                    let (r, len) = read_reply(buf.get(used..)?)?;
                    used += len;
                    r
                }
                _ => Reply::Array(all),
            }
        }
        _ => return None,
    };
    Some((reply, used))
}

fn parse_double(line: &[u8]) -> Option<f64> {
    match line {
        b"inf" => Some(f64::INFINITY),
        b"-inf" => Some(f64::NEG_INFINITY),
        b"nan" => Some(f64::NAN),
        _ => std::str::from_utf8(line).ok()?.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_kind() {
        let cases: &[(&[u8], Reply)] = &[
            (b"+OK\r\n", Reply::Status(b"OK".to_vec())),
            (b"-ERR x\r\n", Reply::Error(b"ERR x".to_vec())),
            (b":-5\r\n", Reply::Int(-5)),
            (b"$3\r\na\r\n\r\n", Reply::Bulk(b"a\r\n".to_vec())),
            (b"$-1\r\n", Reply::NilBulk),
            (b"*-1\r\n", Reply::NilArray),
            (b"_\r\n", Reply::Null),
            (b"#f\r\n", Reply::Bool(false)),
            (b",1.5\r\n", Reply::Double(1.5)),
            (b"(123\r\n", Reply::BigNumber(b"123".to_vec())),
            (
                b"=7\r\ntxt:abc\r\n",
                Reply::Verbatim(b"txt".to_vec(), b"abc".to_vec()),
            ),
            (
                b"*2\r\n:1\r\n*1\r\n+a\r\n",
                Reply::Array(vec![
                    Reply::Int(1),
                    Reply::Array(vec![Reply::Status(b"a".to_vec())]),
                ]),
            ),
            (
                b"%1\r\n+k\r\n~1\r\n:2\r\n",
                Reply::Map(vec![(
                    Reply::Status(b"k".to_vec()),
                    Reply::Set(vec![Reply::Int(2)]),
                )]),
            ),
        ];
        for (bytes, want) in cases {
            let (got, used) = read_reply(bytes).unwrap();
            assert_eq!(&got, want, "{:?}", String::from_utf8_lossy(bytes));
            assert_eq!(used, bytes.len());
        }
        assert!(read_reply(b"*2\r\n:1\r\n").is_none());
        assert!(read_reply(b"$5\r\nab\r\n").is_none());
    }
}
