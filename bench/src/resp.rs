//! A minimal blocking RESP2 client: enough to PING, DEL, read `INFO`, check `DBSIZE` and
//! stream pipelined `SET`s. Every read and write has a socket timeout, so no call waits forever.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// Longest status/error/integer line we accept from a server.
const MAX_LINE: u64 = 64 * 1024;
/// Largest bulk string we accept (Redis's own `proto-max-bulk-len` default).
const MAX_BULK: usize = 512 * 1024 * 1024;
/// Deepest array nesting we follow.
const MAX_DEPTH: usize = 8;

/// One RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

/// Appends `args` to `out` as a RESP array of bulk strings.
pub fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.push(b'*');
    out.extend_from_slice(args.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        out.extend_from_slice(arg.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// A connection to one server.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    /// Connects with `timeout` for the connect itself and for every later read and write.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        let writer = stream.try_clone()?;
        Ok(Self {
            reader: BufReader::with_capacity(64 * 1024, stream),
            writer,
        })
    }

    /// Sends one command and reads its reply.
    pub fn command(&mut self, args: &[&[u8]]) -> Result<Reply> {
        let mut buf = Vec::new();
        encode_command(&mut buf, args);
        self.send_raw(&buf)?;
        self.read_reply()
    }

    /// Like [`Client::command`], but a RESP error reply becomes an `Err`.
    pub fn command_ok(&mut self, args: &[&[u8]]) -> Result<Reply> {
        match self.command(args)? {
            Reply::Error(e) => bail!(
                "{} replied with an error: {e}",
                String::from_utf8_lossy(args.first().copied().unwrap_or(b"?"))
            ),
            other => Ok(other),
        }
    }

    /// Writes already-encoded commands.
    pub fn send_raw(&mut self, buf: &[u8]) -> Result<()> {
        self.writer.write_all(buf).context("writing to server")?;
        self.writer.flush().context("flushing to server")
    }

    /// Reads one reply.
    pub fn read_reply(&mut self) -> Result<Reply> {
        read_reply(&mut self.reader, 0)
    }
}

fn read_line(r: &mut impl BufRead) -> Result<String> {
    let mut line = Vec::new();
    let n = r
        .take(MAX_LINE)
        .read_until(b'\n', &mut line)
        .context("reading reply")?;
    if n == 0 {
        bail!("server closed the connection");
    }
    if !line.ends_with(b"\r\n") {
        bail!("reply line not terminated by CRLF within {MAX_LINE} bytes");
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).context("reply line is not UTF-8")
}

fn read_reply(r: &mut impl BufRead, depth: usize) -> Result<Reply> {
    if depth > MAX_DEPTH {
        bail!("reply nested deeper than {MAX_DEPTH}");
    }
    let line = read_line(r)?;
    let (kind, rest) = line.split_at(line.len().min(1));
    let parse_len = |s: &str| -> Result<i64> {
        s.parse::<i64>()
            .with_context(|| format!("bad length {s:?} in reply"))
    };
    Ok(match kind {
        "+" => Reply::Simple(rest.to_owned()),
        "-" => Reply::Error(rest.to_owned()),
        ":" => Reply::Int(parse_len(rest)?),
        "$" => {
            let len = parse_len(rest)?;
            if len < 0 {
                Reply::Bulk(None)
            } else {
                let len = usize::try_from(len)?;
                if len > MAX_BULK {
                    bail!("bulk reply of {len} bytes is too large");
                }
                let mut buf = vec![0; len + 2];
                r.read_exact(&mut buf).context("reading bulk reply")?;
                if &buf[len..] != b"\r\n" {
                    bail!("bulk reply not terminated by CRLF");
                }
                buf.truncate(len);
                Reply::Bulk(Some(buf))
            }
        }
        "*" => {
            let len = parse_len(rest)?;
            if len < 0 {
                Reply::Array(None)
            } else {
                let len = usize::try_from(len)?;
                if len > 1_000_000 {
                    bail!("array reply of {len} elements is too large");
                }
                let mut items = Vec::with_capacity(len);
                for _ in 0..len {
                    items.push(read_reply(r, depth + 1)?);
                }
                Reply::Array(Some(items))
            }
        }
        _ => bail!("unexpected reply line {line:?}"),
    })
}

/// Picks `field` out of an `INFO` reply body (`field:value` lines).
pub fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == field).then(|| v.trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Reply> {
        read_reply(&mut &bytes[..], 0)
    }

    #[test]
    fn encodes_commands() {
        let mut out = Vec::new();
        encode_command(&mut out, &[b"SET", b"k", b""]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }

    #[test]
    fn parses_replies() {
        assert_eq!(parse(b"+OK\r\n").unwrap(), Reply::Simple("OK".into()));
        assert_eq!(parse(b"-ERR x\r\n").unwrap(), Reply::Error("ERR x".into()));
        assert_eq!(parse(b":42\r\n").unwrap(), Reply::Int(42));
        assert_eq!(parse(b"$-1\r\n").unwrap(), Reply::Bulk(None));
        assert_eq!(
            parse(b"$3\r\na\r\n\r\n").unwrap(),
            Reply::Bulk(Some(b"a\r\n".to_vec()))
        );
        assert_eq!(
            parse(b"*2\r\n:1\r\n$1\r\nx\r\n").unwrap(),
            Reply::Array(Some(vec![Reply::Int(1), Reply::Bulk(Some(b"x".to_vec()))]))
        );
    }

    #[test]
    fn rejects_truncated_and_garbage() {
        assert!(parse(b"+OK").is_err());
        assert!(parse(b"$5\r\nab\r\n").is_err());
        assert!(parse(b"?\r\n").is_err());
        assert!(parse(b"").is_err());
    }

    #[test]
    fn finds_info_fields() {
        let info = "# Memory\r\nused_memory:1024\r\nused_memory_human:1.00K\r\n";
        assert_eq!(info_field(info, "used_memory").as_deref(), Some("1024"));
        assert_eq!(info_field(info, "nope"), None);
    }
}
