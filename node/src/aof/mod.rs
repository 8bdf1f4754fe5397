//! The append-only file, Redis 7.0's multi-part layout: a directory (`appenddirname`) with a
//! manifest, one base file (an RDB snapshot when `aof-use-rdb-preamble`, else commands) and
//! incremental files of commands in RESP, appended in the order they were applied.
//!
//! - [`manifest`]: the manifest format.
//! - [`parse_commands`]: reads a file of commands, telling a truncated tail (which
//!   `aof-load-truncated` may drop) from corruption (which stops the server).
//! - [`live`]: the buffer applied writes are fed into and the fsync policy that flushes it.
//! - [`load`]: loading the files at start.
//! - [`rewrite`]: BGREWRITEAOF, automatic rewrites and switching the AOF on and off.

pub mod live;
pub mod load;
pub mod manifest;
pub mod plain;
pub mod rewrite;

use bytes::Bytes;

pub use live::Aof;

/// The longest argument a file may hold (Redis's `proto-max-bulk-len` ceiling).
const MAX_ARG: usize = 512 * 1024 * 1024;

/// How a file of commands ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Every command is complete.
    Complete,
    /// The last command (or an unfinished MULTI block) is cut short; the bytes before
    /// `valid_len` are whole commands.
    Truncated { valid_len: usize },
}

/// Bytes that are not commands, at `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFormat {
    pub offset: usize,
}

enum Step {
    Command(Vec<Bytes>, usize),
    Annotation(usize),
    Short,
}

fn line(bytes: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let rest = bytes.get(at..)?;
    let nl = rest.windows(2).position(|w| w == b"\r\n")?;
    Some((&rest[..nl], at + nl + 2))
}

/// Whether `rest` (no line end in it) could still become `<digits>\r\n` with more bytes.
fn could_be_count(rest: &[u8]) -> bool {
    let digits = rest.strip_suffix(b"\r").unwrap_or(rest);
    digits.iter().all(u8::is_ascii_digit)
}

fn number(text: &[u8]) -> Option<usize> {
    if text.is_empty() || text.len() > 12 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// Reads one command (or `#` annotation) at `at`.
fn step(bytes: &[u8], at: usize) -> Result<Step, BadFormat> {
    let bad = |offset| BadFormat { offset };
    if bytes[at] == b'#' {
        return Ok(match bytes[at..].iter().position(|&c| c == b'\n') {
            Some(n) => Step::Annotation(at + n + 1),
            None => Step::Short,
        });
    }
    if bytes[at] != b'*' {
        return Err(bad(at));
    }
    let Some((count, mut p)) = line(bytes, at + 1) else {
        // No line end yet: only a short read if what is there could still be a count.
        return if could_be_count(&bytes[at + 1..]) {
            Ok(Step::Short)
        } else {
            Err(bad(at))
        };
    };
    let n = number(count).filter(|&n| n >= 1).ok_or(bad(at))?;
    let mut args = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        if p >= bytes.len() {
            return Ok(Step::Short);
        }
        if bytes[p] != b'$' {
            return Err(bad(p));
        }
        let Some((len, data)) = line(bytes, p + 1) else {
            return if could_be_count(&bytes[p + 1..]) {
                Ok(Step::Short)
            } else {
                Err(bad(p))
            };
        };
        let len = number(len).filter(|&l| l <= MAX_ARG).ok_or(bad(p))?;
        let end = data + len;
        if end + 2 > bytes.len() {
            // Short, unless the bytes already there past the data are not the line end.
            return match bytes.get(end) {
                Some(&c) if c != b'\r' => Err(bad(end)),
                _ => Ok(Step::Short),
            };
        }
        if &bytes[end..end + 2] != b"\r\n" {
            return Err(bad(end));
        }
        args.push(Bytes::copy_from_slice(&bytes[data..end]));
        p = end + 2;
    }
    Ok(Step::Command(args, p))
}

/// Calls `f` for every command of an AOF file in order. A MULTI block left open at the end
/// counts as truncated at its MULTI, as Redis reverts a partial transaction.
pub fn parse_commands(bytes: &[u8], mut f: impl FnMut(Vec<Bytes>)) -> Result<End, BadFormat> {
    let mut at = 0;
    let mut multi_at: Option<usize> = None;
    let mut held: Vec<Vec<Bytes>> = Vec::new();
    while at < bytes.len() {
        match step(bytes, at)? {
            Step::Annotation(next) => at = next,
            Step::Short => {
                return Ok(End::Truncated {
                    valid_len: multi_at.unwrap_or(at),
                })
            }
            Step::Command(args, next) => {
                let name = args[0].to_ascii_lowercase();
                if name == b"multi" {
                    multi_at = Some(at);
                    held.push(args);
                } else if multi_at.is_some() {
                    let done = name == b"exec";
                    held.push(args);
                    if done {
                        multi_at = None;
                        held.drain(..).for_each(&mut f);
                    }
                } else {
                    f(args);
                }
                at = next;
            }
        }
    }
    Ok(match multi_at {
        Some(m) => End::Truncated { valid_len: m },
        None => End::Complete,
    })
}

/// `appendfsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    Always = 1,
    EverySec = 0,
    No = 2,
}

impl Fsync {
    pub fn parse(s: &str) -> Fsync {
        match s {
            "always" => Fsync::Always,
            "no" => Fsync::No,
            _ => Fsync::EverySec,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::encode_command;
    use bytes::BytesMut;

    fn cmds(text: &[u8]) -> (Vec<Vec<String>>, Result<End, BadFormat>) {
        let mut got = Vec::new();
        let end = parse_commands(text, |a| {
            got.push(
                a.iter()
                    .map(|x| String::from_utf8_lossy(x).into_owned())
                    .collect(),
            )
        });
        (got, end)
    }

    #[test]
    fn reads_commands_annotations_and_transactions() {
        let mut f = BytesMut::new();
        encode_command(&mut f, &["SELECT", "0"]);
        f.extend_from_slice(b"#TS:1700000000\r\n");
        encode_command(&mut f, &["SET", "a", "1\r\n2"]);
        encode_command(&mut f, &["MULTI"]);
        encode_command(&mut f, &["INCR", "a"]);
        encode_command(&mut f, &["EXEC"]);
        let (got, end) = cmds(&f);
        assert_eq!(end, Ok(End::Complete));
        assert_eq!(got.len(), 5);
        assert_eq!(got[1], vec!["SET", "a", "1\r\n2"]);
        // Every strict prefix is a clean truncation at a command boundary.
        for cut in 1..f.len() {
            let (_, end) = cmds(&f[..cut]);
            match end {
                Ok(End::Truncated { valid_len }) => assert!(valid_len <= cut),
                Ok(End::Complete) => {}
                Err(e) => panic!("prefix {cut}: {e:?}"),
            }
        }
    }

    #[test]
    fn open_multi_is_truncated_at_multi() {
        let mut f = BytesMut::new();
        encode_command(&mut f, &["SET", "a", "1"]);
        let multi_at = f.len();
        encode_command(&mut f, &["MULTI"]);
        encode_command(&mut f, &["INCR", "a"]);
        let (got, end) = cmds(&f);
        assert_eq!(got.len(), 1);
        assert_eq!(
            end,
            Ok(End::Truncated {
                valid_len: multi_at
            })
        );
    }

    #[test]
    fn garbage_is_bad_format() {
        assert!(cmds(b"hello\r\n").1.is_err());
        assert!(cmds(b"*1\r\n$3\r\nabcXY").1.is_err());
        assert!(cmds(b"*x\r\n").1.is_err());
        assert!(cmds(b"*1\r\n+OK\r\n").1.is_err());
        assert_eq!(
            cmds(b"*1\r\n$99\r\nab").1,
            Ok(End::Truncated { valid_len: 0 })
        );
    }

    proptest::proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse_commands(&bytes, |_| {});
        }
    }
}
