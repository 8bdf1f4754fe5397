//! Request decoding: multibulk (`*N\r\n$len\r\n...`) and inline commands.

use bytes::{Bytes, BytesMut};
use thiserror::Error;

/// Longest inline request or length line accepted without a newline (Redis's 64 KiB).
pub const INLINE_MAX: usize = 64 * 1024;

/// A protocol error: the client gets this text as an error reply and is disconnected.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("Protocol error: too big inline request")]
    InlineTooBig,
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    #[error("Protocol error: too big mbulk count string")]
    MbulkCountTooBig,
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    #[error("Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    #[error("Protocol error: too big bulk count string")]
    BulkCountTooBig,
    #[error("Protocol error: expected '$', got '{}'", *.0 as char)]
    ExpectedDollar(u8),
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    #[error("Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,
}

/// Limits that depend on configuration and on the client.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `proto-max-bulk-len`.
    pub max_bulk: u64,
    /// The client has not authenticated yet while authentication is required.
    pub unauthenticated: bool,
}

/// Parses one command from the front of `buf` into `args` (cleared first).
///
/// Returns `Ok(true)` when a command was consumed (it may be empty: callers skip those),
/// `Ok(false)` when more bytes are needed; nothing is consumed in that case.
pub fn parse_command(
    buf: &mut BytesMut,
    limits: Limits,
    args: &mut Vec<Bytes>,
) -> Result<bool, ProtocolError> {
    args.clear();
    if buf.is_empty() {
        return Ok(false);
    }
    if buf[0] == b'*' {
        parse_multibulk(buf, limits, args)
    } else {
        parse_inline(buf, args)
    }
}

/// Finds `\r` from `from`, the end of a length line.
fn find_cr(buf: &[u8], from: usize) -> Option<usize> {
    buf[from..]
        .iter()
        .position(|&b| b == b'\r')
        .map(|p| p + from)
}

/// Strict decimal parse of a length line, as Redis's `string2ll`. Always inlined: it runs
/// twice per argument, and left to itself the compiler stopped inlining it after unrelated
/// changes (+57 instructions per GET in `scripts/perf-check.sh`).
#[inline(always)]
fn parse_len(digits: &[u8]) -> Option<i64> {
    // The lengths clients send: one to nine digits, no leading zero, which cannot overflow.
    // Anything else (a sign, "0", garbage) takes the general parser and its rules.
    if (1..=9).contains(&digits.len()) && digits[0] != b'0' {
        let mut v = 0i64;
        for &c in digits {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return crate::util::num::parse_i64(digits);
            }
            v = v * 10 + i64::from(d);
        }
        return Some(v);
    }
    crate::util::num::parse_i64(digits)
}

fn parse_multibulk(
    buf: &mut BytesMut,
    limits: Limits,
    args: &mut Vec<Bytes>,
) -> Result<bool, ProtocolError> {
    let Some(cr) = find_cr(buf, 1) else {
        if buf.len() > INLINE_MAX {
            return Err(ProtocolError::MbulkCountTooBig);
        }
        return Ok(false);
    };
    if cr + 1 >= buf.len() {
        return Ok(false);
    }
    let count = match parse_len(&buf[1..cr]) {
        Some(n) if n <= i32::MAX as i64 => n,
        _ => return Err(ProtocolError::InvalidMultibulkLength),
    };
    if count > 10 && limits.unauthenticated {
        return Err(ProtocolError::UnauthenticatedMultibulkLength);
    }
    let mut pos = cr + 2;
    if count <= 0 {
        let _ = buf.split_to(pos);
        return Ok(true);
    }
    // First pass: validate, and find where the command ends, consuming nothing until the whole
    // command is here (no allocation: the second pass re-reads the checked length lines).
    let first = pos;
    for _ in 0..count {
        if pos >= buf.len() {
            return Ok(false);
        }
        if buf[pos] != b'$' {
            return Err(ProtocolError::ExpectedDollar(buf[pos]));
        }
        let Some(cr) = find_cr(buf, pos + 1) else {
            if buf.len() - pos > INLINE_MAX {
                return Err(ProtocolError::BulkCountTooBig);
            }
            return Ok(false);
        };
        if cr + 1 >= buf.len() {
            return Ok(false);
        }
        let len = match parse_len(&buf[pos + 1..cr]) {
            Some(n) if n >= 0 && (n as u64) <= limits.max_bulk => n as usize,
            _ => return Err(ProtocolError::InvalidBulkLength),
        };
        if len > 16384 && limits.unauthenticated {
            return Err(ProtocolError::UnauthenticatedBulkLength);
        }
        let start = cr + 2;
        let end = start + len;
        if end + 2 > buf.len() {
            // Reserve room for big arguments once instead of growing step by step.
            buf.reserve(end + 2 - buf.len());
            return Ok(false);
        }
        pos = end + 2;
    }
    let whole = buf.split_to(pos).freeze();
    args.reserve(count as usize);
    let mut p = first;
    while p < pos {
        // Already validated: `$<len>\r\n<bytes>\r\n`.
        let cr = find_cr(&whole, p + 1).unwrap_or(p + 1);
        let len = parse_len(&whole[p + 1..cr]).unwrap_or(0) as usize;
        let start = cr + 2;
        args.push(whole.slice(start..start + len));
        p = start + len + 2;
    }
    Ok(true)
}

fn parse_inline(buf: &mut BytesMut, args: &mut Vec<Bytes>) -> Result<bool, ProtocolError> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > INLINE_MAX {
            return Err(ProtocolError::InlineTooBig);
        }
        return Ok(false);
    };
    let line = buf.split_to(nl + 1);
    let mut text = &line[..nl];
    if text.last() == Some(&b'\r') {
        text = &text[..text.len() - 1];
    }
    match split_inline_args(text) {
        Some(parts) => {
            args.extend(parts.into_iter().map(Bytes::from));
            Ok(true)
        }
        None => Err(ProtocolError::UnbalancedQuotes),
    }
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Splits a line into arguments with redis-cli / inline quoting rules:
/// blanks separate, "double quotes" take `\n \r \t \b \a \\ \" \xHH` escapes,
/// 'single quotes' take only `\'`. A closing quote must be followed by a blank.
/// Returns `None` on unbalanced quotes.
pub fn split_inline_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Some(out);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 3 < n && line[i + 1] == b'x' {
                    if let (Some(h), Some(l)) = (hex_val(line[i + 2]), hex_val(line[i + 3])) {
                        cur.push(h * 16 + l);
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
                i += 1;
            } else if in_sq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    cur.push(b'\'');
                    i += 2;
                    continue;
                } else if c == b'\'' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                }
                cur.push(c);
                i += 1;
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        i += 1;
                        break;
                    }
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
                i += 1;
            }
        }
        out.push(cur);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIM: Limits = Limits {
        max_bulk: 512 * 1024 * 1024,
        unauthenticated: false,
    };

    fn encode(args: &[Vec<u8>]) -> Vec<u8> {
        let mut v = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            v.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            v.extend_from_slice(a);
            v.extend_from_slice(b"\r\n");
        }
        v
    }

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut buf = BytesMut::from(input);
        let mut args = Vec::new();
        let mut cmds = Vec::new();
        while parse_command(&mut buf, LIM, &mut args)? {
            cmds.push(args.iter().map(|a| a.to_vec()).collect());
        }
        Ok(cmds)
    }

    #[test]
    fn multibulk_and_inline() {
        let cmds = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\na\r\nPING\r\nset \"a b\" 'c'\r\n").unwrap();
        assert_eq!(cmds.len(), 3);
        assert_eq!(cmds[0], vec![b"GET".to_vec(), b"a".to_vec()]);
        assert_eq!(cmds[1], vec![b"PING".to_vec()]);
        assert_eq!(
            cmds[2],
            vec![b"set".to_vec(), b"a b".to_vec(), b"c".to_vec()]
        );
    }

    #[test]
    fn protocol_errors() {
        assert_eq!(
            parse_all(b"*abc\r\n"),
            Err(ProtocolError::InvalidMultibulkLength)
        );
        assert_eq!(
            parse_all(b"*1\r\nfoo\r\n"),
            Err(ProtocolError::ExpectedDollar(b'f'))
        );
        assert_eq!(
            parse_all(b"*1\r\n$-2\r\n"),
            Err(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(
            parse_all(b"*1\r\n$2147483648\r\n").unwrap_err(),
            ProtocolError::InvalidBulkLength
        );
        assert_eq!(
            parse_all(b"set \"a\r\n"),
            Err(ProtocolError::UnbalancedQuotes)
        );
        assert_eq!(parse_all(b"*-5\r\n").unwrap().len(), 1);
        let big = vec![b'a'; INLINE_MAX + 1];
        assert_eq!(parse_all(&big), Err(ProtocolError::InlineTooBig));
        let mut big = b"*1\r\n$".to_vec();
        big.extend(vec![b'1'; INLINE_MAX + 1]);
        assert_eq!(parse_all(&big), Err(ProtocolError::BulkCountTooBig));
    }

    #[test]
    fn inline_escapes() {
        let v = split_inline_args(b"a \"\\x41\\n\" 'it\\'s'").unwrap();
        assert_eq!(v, vec![b"a".to_vec(), b"A\n".to_vec(), b"it's".to_vec()]);
        assert!(split_inline_args(b"\"a\"b").is_none());
        assert_eq!(split_inline_args(b"   ").unwrap().len(), 0);
    }

    proptest! {
        #[test]
        fn round_trip(args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..8)) {
            let bytes = encode(&args);
            let cmds = parse_all(&bytes).unwrap();
            prop_assert_eq!(cmds, vec![args]);
        }

        #[test]
        fn every_strict_prefix_needs_more(args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 1..5)) {
            let bytes = encode(&args);
            for cut in 0..bytes.len() {
                let mut buf = BytesMut::from(&bytes[..cut]);
                let mut out = Vec::new();
                prop_assert_eq!(parse_command(&mut buf, LIM, &mut out), Ok(false));
                prop_assert_eq!(buf.len(), cut);
            }
        }

        #[test]
        fn length_fast_path_matches_the_strict_parser(s in "[-+0-9a ]{0,12}") {
            prop_assert_eq!(parse_len(s.as_bytes()), crate::util::num::parse_i64(s.as_bytes()));
        }

        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut buf = BytesMut::from(&data[..]);
            let mut out = Vec::new();
            for _ in 0..400 {
                match parse_command(&mut buf, LIM, &mut out) {
                    Ok(true) => continue,
                    _ => break,
                }
            }
        }
    }
}
