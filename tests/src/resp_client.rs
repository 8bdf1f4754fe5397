//! RESP2/RESP3 replies as the server sent them, and a blocking raw client.
//!
//! The parser keeps the exact bytes of every reply (and of every element inside it), so two
//! servers can be compared byte for byte, while still knowing the structure well enough to sort
//! an unordered array or compare only the shape of a non-deterministic reply.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long a read waits for a reply unless told otherwise.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Nesting deeper than this is treated as a malformed reply (no server sends it).
const MAX_DEPTH: usize = 512;

/// The RESP type of a reply, one per leading byte (null bulk and null array kept apart from the
/// RESP3 null because their bytes differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `+OK`
    Simple,
    /// `-ERR ...`
    Error,
    /// `:1`
    Integer,
    /// `$3\r\nfoo`
    Bulk,
    /// `$-1` (RESP2 null)
    NullBulk,
    /// `*2 ...`
    Array,
    /// `*-1` (RESP2 null array)
    NullArray,
    /// `_` (RESP3 null)
    Null,
    /// `,1.5`
    Double,
    /// `#t` / `#f`
    Boolean,
    /// `(1234...`
    BigNumber,
    /// `!21\r\nSYNTAX ...`
    BulkError,
    /// `=15\r\ntxt:...`
    Verbatim,
    /// `%2 ...` (2 x N elements: key, value, key, value)
    Map,
    /// `~3 ...`
    Set,
    /// `>3 ...` (out-of-band push)
    Push,
    /// `|1 ...`: 2 x N attribute elements, then the reply they decorate as the last child.
    Attribute,
}

impl Kind {
    /// The leading byte of this type on the wire.
    pub fn prefix(self) -> u8 {
        match self {
            Kind::Simple => b'+',
            Kind::Error => b'-',
            Kind::Integer => b':',
            Kind::Bulk | Kind::NullBulk => b'$',
            Kind::Array | Kind::NullArray => b'*',
            Kind::Null => b'_',
            Kind::Double => b',',
            Kind::Boolean => b'#',
            Kind::BigNumber => b'(',
            Kind::BulkError => b'!',
            Kind::Verbatim => b'=',
            Kind::Map => b'%',
            Kind::Set => b'~',
            Kind::Push => b'>',
            Kind::Attribute => b'|',
        }
    }

    /// True for the types that hold other replies.
    pub fn is_aggregate(self) -> bool {
        matches!(
            self,
            Kind::Array | Kind::Map | Kind::Set | Kind::Push | Kind::Attribute
        )
    }
}

/// One complete reply: its exact bytes, and its structure.
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    kind: Kind,
    raw: Vec<u8>,
    /// Payload of scalar replies: the text of `+ - : , # (`, the content of `$ ! =`.
    data: Vec<u8>,
    /// Elements of aggregates, in wire order (for a map: key, value, key, value...).
    children: Vec<Reply>,
}

/// A reply that can never be valid RESP, whatever bytes follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedReply {
    /// Offset of the offending byte in the buffer.
    pub offset: usize,
    /// What was wrong.
    pub reason: String,
}

impl fmt::Display for MalformedReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed reply at byte {}: {}",
            self.offset, self.reason
        )
    }
}

impl std::error::Error for MalformedReply {}

/// Parses one complete reply at the start of `buf`.
///
/// Returns `Ok(None)` when `buf` holds only a prefix of a reply (read more and try again),
/// `Ok(Some((reply, consumed)))` otherwise.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, MalformedReply> {
    let mut pos = 0;
    match parse_at(buf, &mut pos, 0)? {
        Some(reply) => Ok(Some((reply, pos))),
        None => Ok(None),
    }
}

fn malformed(offset: usize, reason: impl Into<String>) -> MalformedReply {
    MalformedReply {
        offset,
        reason: reason.into(),
    }
}

/// Reads the line starting at `*pos` (without its `\r\n`); `None` if no `\r\n` yet.
fn line<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let start = *pos;
    let rest = buf.get(start..)?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    *pos = start + end + 2;
    Some(&rest[..end])
}

fn parse_len(text: &[u8], offset: usize) -> Result<i64, MalformedReply> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| malformed(offset, format!("bad length {:?}", escape(text))))
}

fn parse_at(buf: &[u8], pos: &mut usize, depth: usize) -> Result<Option<Reply>, MalformedReply> {
    if depth > MAX_DEPTH {
        return Err(malformed(*pos, "nesting too deep"));
    }
    let start = *pos;
    let Some(&tag) = buf.get(start) else {
        return Ok(None);
    };
    *pos += 1;
    let Some(head) = line(buf, pos) else {
        return Ok(None);
    };
    let head = head.to_vec();
    let scalar = |kind: Kind, data: Vec<u8>, pos: &usize| Reply {
        kind,
        raw: buf[start..*pos].to_vec(),
        data,
        children: Vec::new(),
    };
    let reply = match tag {
        b'+' => scalar(Kind::Simple, head, pos),
        b'-' => scalar(Kind::Error, head, pos),
        b':' => {
            parse_len(&head, start + 1)?;
            scalar(Kind::Integer, head, pos)
        }
        b',' => scalar(Kind::Double, head, pos),
        b'(' => scalar(Kind::BigNumber, head, pos),
        b'#' => {
            if head != b"t" && head != b"f" {
                return Err(malformed(start + 1, "boolean must be t or f"));
            }
            scalar(Kind::Boolean, head, pos)
        }
        b'_' => {
            if !head.is_empty() {
                return Err(malformed(start + 1, "null with payload"));
            }
            scalar(Kind::Null, Vec::new(), pos)
        }
        b'$' | b'!' | b'=' => {
            let len = parse_len(&head, start + 1)?;
            if len == -1 && tag == b'$' {
                return Ok(Some(scalar(Kind::NullBulk, Vec::new(), pos)));
            }
            let len = usize::try_from(len)
                .map_err(|_| malformed(start + 1, format!("negative length {len}")))?;
            let data_start = *pos;
            let Some(data_end) = data_start.checked_add(len) else {
                return Err(malformed(start + 1, "length overflows"));
            };
            if buf.len() < data_end + 2 {
                return Ok(None);
            }
            if &buf[data_end..data_end + 2] != b"\r\n" {
                return Err(malformed(data_end, "bulk payload not followed by CRLF"));
            }
            *pos = data_end + 2;
            let kind = match tag {
                b'$' => Kind::Bulk,
                b'!' => Kind::BulkError,
                _ => Kind::Verbatim,
            };
            scalar(kind, buf[data_start..data_end].to_vec(), pos)
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let len = parse_len(&head, start + 1)?;
            if len == -1 && tag == b'*' {
                return Ok(Some(scalar(Kind::NullArray, Vec::new(), pos)));
            }
            let len = usize::try_from(len)
                .map_err(|_| malformed(start + 1, format!("negative length {len}")))?;
            let (kind, count) = match tag {
                b'*' => (Kind::Array, len),
                b'~' => (Kind::Set, len),
                b'>' => (Kind::Push, len),
                b'%' => (Kind::Map, len.saturating_mul(2)),
                _ => (Kind::Attribute, len.saturating_mul(2).saturating_add(1)),
            };
            let mut children = Vec::with_capacity(count.min(1024));
            for _ in 0..count {
                match parse_at(buf, pos, depth + 1)? {
                    Some(child) => children.push(child),
                    None => return Ok(None),
                }
            }
            Reply {
                kind,
                raw: buf[start..*pos].to_vec(),
                data: Vec::new(),
                children,
            }
        }
        other => {
            return Err(malformed(
                start,
                format!("unknown type byte {:?}", escape(&[other])),
            ))
        }
    };
    Ok(Some(reply))
}

impl Reply {
    /// Parses a buffer that must hold exactly one complete reply (handy in unit tests).
    pub fn from_bytes(bytes: &[u8]) -> Result<Reply, MalformedReply> {
        match parse_reply(bytes)? {
            Some((reply, used)) if used == bytes.len() => Ok(reply),
            Some((_, used)) => Err(malformed(used, "trailing bytes after the reply")),
            None => Err(malformed(bytes.len(), "incomplete reply")),
        }
    }

    /// The RESP type.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The exact bytes of this reply as sent by the server.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Elements of an aggregate (empty for scalars).
    pub fn children(&self) -> &[Reply] {
        &self.children
    }

    /// True for `-ERR ...` and RESP3 `!` blob errors.
    pub fn is_error(&self) -> bool {
        matches!(self.kind, Kind::Error | Kind::BulkError)
    }

    /// True for every kind of null (`$-1`, `*-1`, `_`).
    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::NullBulk | Kind::NullArray | Kind::Null)
    }

    /// The payload of a string-like reply (simple string, error, bulk, verbatim, double...).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        if self.kind.is_aggregate() || self.is_null() {
            None
        } else {
            Some(&self.data)
        }
    }

    /// The payload as (lossy) UTF-8 text.
    pub fn as_str(&self) -> Option<String> {
        self.as_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// The value of an integer reply.
    pub fn as_int(&self) -> Option<i64> {
        if self.kind != Kind::Integer {
            return None;
        }
        std::str::from_utf8(&self.data).ok()?.parse().ok()
    }

    /// True when both replies have the same type, and recursively the same number of elements
    /// and the same element types: what `@ignore` compares for non-deterministic replies.
    pub fn same_shape(&self, other: &Reply) -> bool {
        self.kind == other.kind
            && self.children.len() == other.children.len()
            && self
                .children
                .iter()
                .zip(&other.children)
                .all(|(a, b)| a.same_shape(b))
    }

    /// The bytes of this reply with the top-level elements sorted (groups of `group` elements
    /// kept together, e.g. 2 for field/value pairs). Maps always sort by key/value pair.
    /// Scalars are returned unchanged.
    pub fn sorted_raw(&self, group: usize) -> Vec<u8> {
        if !self.kind.is_aggregate() || self.kind == Kind::Attribute {
            return self.raw.clone();
        }
        let group = if self.kind == Kind::Map {
            2
        } else {
            group.max(1)
        };
        let header_len = self.raw.len() - self.children.iter().map(|c| c.raw.len()).sum::<usize>();
        let mut units: Vec<Vec<u8>> = self
            .children
            .chunks(group)
            .map(|chunk| chunk.iter().flat_map(|c| c.raw.iter().copied()).collect())
            .collect();
        units.sort();
        let mut out = self.raw[..header_len].to_vec();
        for unit in units {
            out.extend_from_slice(&unit);
        }
        out
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", escape(&self.raw))
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", escape(&self.raw))
    }
}

/// Escapes bytes the way redis-cli quotes them: printable ASCII as is, `\r \n \t \" \\`, and
/// `\xHH` for everything else.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// Encodes a command as a RESP multibulk request.
pub fn encode_command<I, A>(args: I) -> Vec<u8>
where
    I: IntoIterator<Item = A>,
    A: AsRef<[u8]>,
{
    let args: Vec<A> = args.into_iter().collect();
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in &args {
        let arg = arg.as_ref();
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Why a read did not produce a reply.
#[derive(Debug)]
pub enum ClientError {
    /// Nothing complete arrived before the deadline.
    Timeout {
        /// Bytes of an incomplete reply received so far.
        partial: Vec<u8>,
    },
    /// The server closed the connection (EOF or reset).
    Closed {
        /// Bytes of an incomplete reply received before the close.
        partial: Vec<u8>,
    },
    /// The server sent bytes that are not RESP.
    Malformed(MalformedReply),
    /// Any other socket error.
    Io(io::Error),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Timeout { partial } if partial.is_empty() => {
                write!(f, "<timeout: no reply>")
            }
            ClientError::Timeout { partial } => {
                write!(f, "<timeout after partial reply \"{}\">", escape(partial))
            }
            ClientError::Closed { partial } if partial.is_empty() => {
                write!(f, "<connection closed>")
            }
            ClientError::Closed { partial } => {
                write!(f, "<connection closed after \"{}\">", escape(partial))
            }
            ClientError::Malformed(e) => write!(f, "<{e}>"),
            ClientError::Io(e) => write!(f, "<i/o error: {e}>"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn is_closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}

/// Closes a socket abruptly: SO_LINGER with a zero timeout makes close() send RST.
pub fn abort_stream(stream: TcpStream) {
    use nix::sys::socket::{setsockopt, sockopt::Linger};
    let linger = nix::libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let _ = setsockopt(&stream, Linger, &linger);
    drop(stream);
}

/// A blocking client that sends raw bytes and reads back one complete reply at a time.
pub struct RespClient {
    stream: TcpStream,
    buf: Vec<u8>,
    timeout: Duration,
}

impl RespClient {
    /// Connects with [`DEFAULT_READ_TIMEOUT`].
    pub fn connect(addr: SocketAddr) -> io::Result<RespClient> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        Ok(RespClient {
            stream,
            buf: Vec::new(),
            timeout: DEFAULT_READ_TIMEOUT,
        })
    }

    /// Changes how long [`RespClient::read_reply`] waits.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The underlying socket (for tests that misbehave on purpose).
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Writes raw bytes, as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Writes one command as a multibulk request.
    pub fn send_command<I, A>(&mut self, args: I) -> io::Result<()>
    where
        I: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        self.send_raw(&encode_command(args))
    }

    /// Sends a command and reads its reply.
    pub fn command<I, A>(&mut self, args: I) -> Result<Reply, ClientError>
    where
        I: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        self.send_command(args)?;
        self.read_reply()
    }

    /// Sends a command and returns its reply, panicking on an I/O problem or an error reply.
    pub fn ok<I, A>(&mut self, args: I) -> Reply
    where
        I: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        let args: Vec<Vec<u8>> = args.into_iter().map(|a| a.as_ref().to_vec()).collect();
        let shown: Vec<String> = args.iter().map(|a| escape(a)).collect();
        match self.command(&args) {
            Ok(reply) if !reply.is_error() => reply,
            Ok(reply) => panic!("{} -> error reply {reply}", shown.join(" ")),
            Err(e) => panic!("{} -> {e}", shown.join(" ")),
        }
    }

    /// Reads exactly one complete reply, waiting at most the client's timeout.
    pub fn read_reply(&mut self) -> Result<Reply, ClientError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            match parse_reply(&self.buf) {
                Ok(Some((reply, used))) => {
                    self.buf.drain(..used);
                    return Ok(reply);
                }
                Ok(None) => {}
                Err(e) => return Err(ClientError::Malformed(e)),
            }
            match self.fill(deadline) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(ClientError::Closed {
                        partial: std::mem::take(&mut self.buf),
                    })
                }
                Err(e) if is_timeout(&e) => {
                    return Err(ClientError::Timeout {
                        partial: self.buf.clone(),
                    })
                }
                Err(e) if is_closed(&e) => {
                    return Err(ClientError::Closed {
                        partial: std::mem::take(&mut self.buf),
                    })
                }
                Err(e) => return Err(ClientError::Io(e)),
            }
        }
    }

    /// Waits up to `timeout` for the server to close the connection. `Ok(())` when it did with
    /// nothing more sent; otherwise the reply (or the timeout) that came instead.
    pub fn expect_closed(&mut self, timeout: Duration) -> Result<(), Result<Reply, ClientError>> {
        let saved = self.timeout;
        self.timeout = timeout;
        let got = self.read_reply();
        self.timeout = saved;
        match got {
            Err(ClientError::Closed { partial }) if partial.is_empty() => Ok(()),
            other => Err(other),
        }
    }

    /// Closes both directions of the socket now.
    pub fn shutdown(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Drops the connection with a TCP reset instead of an orderly close.
    pub fn abort(self) {
        abort_stream(self.stream);
    }

    /// Reads more bytes into the buffer; `Ok(false)` on EOF.
    fn fill(&mut self, deadline: Instant) -> io::Result<bool> {
        let now = Instant::now();
        if now >= deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
        }
        self.stream.set_read_timeout(Some(deadline - now))?;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: &[&[u8]] = &[
        b"+OK\r\n",
        b"-ERR unknown command 'foo'\r\n",
        b":-42\r\n",
        b"$3\r\nfoo\r\n",
        b"$0\r\n\r\n",
        b"$-1\r\n",
        b"*-1\r\n",
        b"*0\r\n",
        b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n",
        b"_\r\n",
        b",3.14\r\n",
        b",inf\r\n",
        b"#t\r\n",
        b"(3492890328409238509324850943850943825024385\r\n",
        b"!21\r\nSYNTAX invalid syntax\r\n",
        b"=15\r\ntxt:Some string\r\n",
        b"%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
        b"~3\r\n+a\r\n+b\r\n+c\r\n",
        b">2\r\n$7\r\nmessage\r\n$2\r\nhi\r\n",
        b"|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.1923\r\n*1\r\n:2\r\n",
        b"$4\r\na\r\nb\r\n",
    ];

    #[test]
    fn complete_samples_parse_whole() {
        for sample in SAMPLES {
            let reply = Reply::from_bytes(sample).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(reply.raw(), *sample);
        }
    }

    #[test]
    fn every_strict_prefix_is_incomplete() {
        for sample in SAMPLES {
            for cut in 0..sample.len() {
                assert_eq!(
                    parse_reply(&sample[..cut]),
                    Ok(None),
                    "prefix {:?}",
                    escape(&sample[..cut])
                );
            }
        }
    }

    #[test]
    fn two_replies_back_to_back() {
        let (first, used) = parse_reply(b"+OK\r\n:1\r\n").unwrap().unwrap();
        assert_eq!(first.kind(), Kind::Simple);
        assert_eq!(used, 5);
    }

    #[test]
    fn malformed_replies_are_rejected() {
        assert!(parse_reply(b"?\r\n").is_err());
        assert!(parse_reply(b"$3\r\nfooXX").is_err());
        assert!(parse_reply(b"$-2\r\n").is_err());
        assert!(parse_reply(b"#x\r\n").is_err());
    }

    #[test]
    fn sorting_and_shapes() {
        let a = Reply::from_bytes(b"*3\r\n$1\r\nc\r\n$1\r\na\r\n$1\r\nb\r\n").unwrap();
        let b = Reply::from_bytes(b"*3\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\na\r\n").unwrap();
        assert_ne!(a.raw(), b.raw());
        assert_eq!(a.sorted_raw(1), b.sorted_raw(1));
        assert!(a.same_shape(&b));
        let m1 = Reply::from_bytes(b"%2\r\n$1\r\nx\r\n:1\r\n$1\r\ny\r\n:2\r\n").unwrap();
        let m2 = Reply::from_bytes(b"%2\r\n$1\r\ny\r\n:2\r\n$1\r\nx\r\n:1\r\n").unwrap();
        assert_eq!(m1.sorted_raw(1), m2.sorted_raw(1));
        let m3 = Reply::from_bytes(b"%2\r\n$1\r\ny\r\n:1\r\n$1\r\nx\r\n:2\r\n").unwrap();
        assert_ne!(m1.sorted_raw(1), m3.sorted_raw(1));
        let int = Reply::from_bytes(b":1\r\n").unwrap();
        assert!(!int.same_shape(&a));
    }

    #[test]
    fn escape_matches_redis_cli_style() {
        assert_eq!(escape(b"a\r\n\"\\\x00\xff"), "a\\r\\n\\\"\\\\\\x00\\xff");
    }

    #[test]
    fn encode_is_multibulk() {
        assert_eq!(
            encode_command(["SET", "k", ""]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"
        );
    }
}
