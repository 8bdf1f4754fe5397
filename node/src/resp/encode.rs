//! Reply encoding straight into the connection's output buffer.

use bytes::{BufMut, BytesMut};

/// The protocol a client speaks, chosen with `HELLO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

/// Writes replies for one client. All RESP2/RESP3 differences are decided here.
pub struct ReplyWriter<'a> {
    pub buf: &'a mut BytesMut,
    pub proto: Protocol,
}

impl<'a> ReplyWriter<'a> {
    pub fn new(buf: &'a mut BytesMut, proto: Protocol) -> Self {
        ReplyWriter { buf, proto }
    }

    pub fn is_resp3(&self) -> bool {
        self.proto == Protocol::Resp3
    }

    /// Current length of the output; used to roll back a partially written reply.
    pub fn mark(&self) -> usize {
        self.buf.len()
    }

    pub fn rollback(&mut self, mark: usize) {
        self.buf.truncate(mark);
    }

    fn header(&mut self, prefix: u8, n: i64) {
        let mut b = itoa::Buffer::new();
        let s = b.format(n);
        self.buf.reserve(s.len() + 3);
        self.buf.put_u8(prefix);
        self.buf.put_slice(s.as_bytes());
        self.buf.put_slice(b"\r\n");
    }

    /// `+text`.
    pub fn simple(&mut self, s: &str) {
        self.buf.reserve(s.len() + 3);
        self.buf.put_u8(b'+');
        self.buf.put_slice(s.as_bytes());
        self.buf.put_slice(b"\r\n");
    }

    pub fn ok(&mut self) {
        self.buf.put_slice(b"+OK\r\n");
    }

    /// `-text`: the text carries its own code (`ERR ...`, `WRONGTYPE ...`). Newlines would
    /// break the protocol: as Redis formats its error replies, CRs and LFs at either end are
    /// dropped (an argument quoted in one may end with a newline) and the others become
    /// spaces.
    pub fn error(&mut self, msg: &str) {
        let msg = msg.trim_matches(['\r', '\n']);
        self.buf.reserve(msg.len() + 3);
        self.buf.put_u8(b'-');
        for &c in msg.as_bytes() {
            self.buf
                .put_u8(if c == b'\r' || c == b'\n' { b' ' } else { c });
        }
        self.buf.put_slice(b"\r\n");
    }

    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    pub fn bulk(&mut self, data: &[u8]) {
        self.header(b'$', data.len() as i64);
        self.buf.put_slice(data);
        self.buf.put_slice(b"\r\n");
    }

    /// A bulk string holding the decimal text of `n`.
    pub fn bulk_int(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(n).as_bytes());
    }

    /// The null of a missing bulk string: `$-1` / `_`.
    pub fn null(&mut self) {
        match self.proto {
            Protocol::Resp2 => self.buf.put_slice(b"$-1\r\n"),
            Protocol::Resp3 => self.buf.put_slice(b"_\r\n"),
        }
    }

    /// The null of a missing array: `*-1` / `_`.
    pub fn null_array(&mut self) {
        match self.proto {
            Protocol::Resp2 => self.buf.put_slice(b"*-1\r\n"),
            Protocol::Resp3 => self.buf.put_slice(b"_\r\n"),
        }
    }

    pub fn array(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    /// A map of `n` pairs: `%n`, or a flat array of `2n` in RESP2.
    pub fn map(&mut self, n: usize) {
        match self.proto {
            Protocol::Resp2 => self.header(b'*', 2 * n as i64),
            Protocol::Resp3 => self.header(b'%', n as i64),
        }
    }

    /// A set: `~n`, or an array in RESP2.
    pub fn set(&mut self, n: usize) {
        match self.proto {
            Protocol::Resp2 => self.header(b'*', n as i64),
            Protocol::Resp3 => self.header(b'~', n as i64),
        }
    }

    /// An out-of-band push: `>n`, or an array in RESP2.
    pub fn push(&mut self, n: usize) {
        match self.proto {
            Protocol::Resp2 => self.header(b'*', n as i64),
            Protocol::Resp3 => self.header(b'>', n as i64),
        }
    }

    /// A double: `,x` in RESP3, a bulk string in RESP2 (`%.17g` as Redis 7.0).
    pub fn double(&mut self, v: f64) {
        let mut tmp = Vec::with_capacity(32);
        crate::util::num::fmt_double_17g(v, &mut tmp);
        match self.proto {
            Protocol::Resp2 => self.bulk(&tmp),
            Protocol::Resp3 => {
                self.buf.put_u8(b',');
                self.buf.put_slice(&tmp);
                self.buf.put_slice(b"\r\n");
            }
        }
    }

    /// A boolean: `#t`/`#f`, or `:1`/`:0` in RESP2.
    pub fn boolean(&mut self, b: bool) {
        match self.proto {
            Protocol::Resp2 => self.int(b as i64),
            Protocol::Resp3 => self.buf.put_slice(if b { b"#t\r\n" } else { b"#f\r\n" }),
        }
    }

    /// Verbatim text (`=len\r\ntxt:...`), a bulk string in RESP2.
    pub fn verbatim(&mut self, data: &[u8]) {
        match self.proto {
            Protocol::Resp2 => self.bulk(data),
            Protocol::Resp3 => {
                self.header(b'=', data.len() as i64 + 4);
                self.buf.put_slice(b"txt:");
                self.buf.put_slice(data);
                self.buf.put_slice(b"\r\n");
            }
        }
    }

    /// `+text` from bytes, CR and LF turned into spaces (a script's status reply).
    pub fn status_bytes(&mut self, s: &[u8]) {
        self.line_bytes(b'+', s);
    }

    /// `-text` from bytes, CR and LF turned into spaces (a script's error reply).
    pub fn error_bytes(&mut self, s: &[u8]) {
        self.line_bytes(b'-', s);
    }

    fn line_bytes(&mut self, prefix: u8, s: &[u8]) {
        self.buf.reserve(s.len() + 3);
        self.buf.put_u8(prefix);
        for &c in s {
            self.buf
                .put_u8(if c == b'\r' || c == b'\n' { b' ' } else { c });
        }
        self.buf.put_slice(b"\r\n");
    }

    /// A big number: `(digits` in RESP3, a bulk string in RESP2.
    pub fn big_number(&mut self, digits: &[u8]) {
        match self.proto {
            Protocol::Resp2 => self.bulk(digits),
            Protocol::Resp3 => self.line_bytes(b'(', digits),
        }
    }

    /// Verbatim text in a given 3-byte format (`=len\r\nfmt:...`), a bulk string in RESP2.
    pub fn verbatim_as(&mut self, format: &[u8; 3], data: &[u8]) {
        match self.proto {
            Protocol::Resp2 => self.bulk(data),
            Protocol::Resp3 => {
                self.header(b'=', data.len() as i64 + 4);
                self.buf.put_slice(format);
                self.buf.put_u8(b':');
                self.buf.put_slice(data);
                self.buf.put_slice(b"\r\n");
            }
        }
    }

    /// Raw, already encoded bytes.
    pub fn raw(&mut self, data: &[u8]) {
        self.buf.put_slice(data);
    }
}

/// Appends `args` as a RESP multibulk command (what clients send; the AOF stores commands so).
pub fn encode_command(out: &mut BytesMut, args: &[impl AsRef<[u8]>]) {
    let mut w = ReplyWriter::new(out, Protocol::Resp2);
    w.array(args.len());
    for a in args {
        w.bulk(a.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(p: Protocol, f: impl FnOnce(&mut ReplyWriter)) -> Vec<u8> {
        let mut b = BytesMut::new();
        f(&mut ReplyWriter::new(&mut b, p));
        b.to_vec()
    }

    #[test]
    fn nulls_and_maps_differ_by_protocol() {
        assert_eq!(out(Protocol::Resp2, |w| w.null()), b"$-1\r\n");
        assert_eq!(out(Protocol::Resp3, |w| w.null()), b"_\r\n");
        assert_eq!(out(Protocol::Resp2, |w| w.map(2)), b"*4\r\n");
        assert_eq!(out(Protocol::Resp3, |w| w.map(2)), b"%2\r\n");
        assert_eq!(
            out(Protocol::Resp2, |w| w.error("ERR a\r\nb")),
            b"-ERR a  b\r\n"
        );
        assert_eq!(out(Protocol::Resp3, |w| w.boolean(true)), b"#t\r\n");
    }
}
