//! A small blocking RESP2 client: what the tool needs to create and check a cluster
//! (commands as arrays of bulk strings, the five reply types), over TCP or TLS.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// A reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Value>>),
}

impl Value {
    /// The text of a simple or bulk string.
    pub fn text(&self) -> Option<String> {
        match self {
            Value::Simple(s) => Some(s.clone()),
            Value::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RespError {
    #[error("{addr}: {source}")]
    Io {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}: protocol error: {1}")]
    Protocol(SocketAddr, String),
    #[error("{0}: TLS: {1}")]
    Tls(SocketAddr, String),
    #[error("{0}: {1}")]
    Server(SocketAddr, String),
}

/// How to reach the nodes: TLS (CA, client certificate) and credentials.
#[derive(Clone, Default)]
pub struct Connector {
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub auth: Option<(String, String)>,
    pub timeout: Option<Duration>,
}

impl Connector {
    /// A TLS connector trusting `ca_pem` and presenting `cert_pem`/`key_pem`.
    pub fn tls_config(
        ca_pem: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> Result<Arc<rustls::ClientConfig>, String> {
        let mut roots = rustls::RootCertStore::empty();
        for c in pem_certs(ca_pem)? {
            roots.add(c).map_err(|e| format!("CA certificate: {e}"))?;
        }
        let chain = pem_certs(cert_pem)?;
        let key = pem_key(key_pem)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("client certificate: {e}"))?;
        Ok(Arc::new(cfg))
    }

    /// Connects to `addr` (and authenticates).
    pub fn connect(&self, addr: SocketAddr) -> Result<Client, RespError> {
        let timeout = self.timeout.unwrap_or(Duration::from_secs(3));
        let io = |source| RespError::Io { addr, source };
        let tcp = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
        tcp.set_read_timeout(Some(timeout)).map_err(io)?;
        tcp.set_write_timeout(Some(timeout)).map_err(io)?;
        let _ = tcp.set_nodelay(true);
        let stream = match &self.tls {
            None => Stream::Plain(tcp),
            Some(cfg) => {
                let name = ServerName::IpAddress(addr.ip().into());
                let conn = rustls::ClientConnection::new(cfg.clone(), name)
                    .map_err(|e| RespError::Tls(addr, e.to_string()))?;
                Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
            }
        };
        let mut client = Client {
            addr,
            r: BufReader::new(stream),
        };
        if let Some((user, pass)) = &self.auth {
            client.ok(&["AUTH", user, pass])?;
        }
        Ok(client)
    }
}

fn pem_certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    let v: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    let v = v.map_err(|e| format!("certificate PEM: {e}"))?;
    if v.is_empty() {
        return Err("no certificate in PEM".into());
    }
    Ok(v)
}

fn pem_key(pem: &str) -> Result<PrivateKeyDer<'static>, String> {
    use rustls::pki_types::pem::PemObject;
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| format!("key PEM: {e}"))
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// One connection.
pub struct Client {
    addr: SocketAddr,
    r: BufReader<Stream>,
}

impl Client {
    /// Sends a command, returns the reply (an error reply is `Ok(Value::Error)`).
    pub fn call(&mut self, args: &[&str]) -> Result<Value, RespError> {
        let mut out = Vec::with_capacity(64);
        encode(args, &mut out);
        let addr = self.addr;
        let w = self.r.get_mut();
        w.write_all(&out)
            .and_then(|()| w.flush())
            .map_err(|source| RespError::Io { addr, source })?;
        read_value(&mut self.r).map_err(|e| match e {
            ReadError::Io(source) => RespError::Io { addr, source },
            ReadError::Protocol(m) => RespError::Protocol(addr, m),
        })
    }

    /// A command whose error reply is an error.
    pub fn cmd(&mut self, args: &[&str]) -> Result<Value, RespError> {
        match self.call(args)? {
            Value::Error(e) => Err(RespError::Server(self.addr, e)),
            v => Ok(v),
        }
    }

    /// A command whose reply is text (status or bulk).
    pub fn text(&mut self, args: &[&str]) -> Result<String, RespError> {
        let v = self.cmd(args)?;
        v.text().ok_or_else(|| {
            RespError::Protocol(self.addr, format!("{}: unexpected reply {v:?}", args[0]))
        })
    }

    /// A command that must answer +OK.
    pub fn ok(&mut self, args: &[&str]) -> Result<(), RespError> {
        match self.cmd(args)? {
            Value::Simple(s) if s == "OK" => Ok(()),
            v => Err(RespError::Protocol(
                self.addr,
                format!("{}: expected OK, got {v:?}", args[0]),
            )),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// A command as an array of bulk strings.
pub fn encode(args: &[&str], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

#[derive(Debug)]
enum ReadError {
    Io(std::io::Error),
    Protocol(String),
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        ReadError::Io(e)
    }
}

fn read_line(r: &mut impl BufRead) -> Result<String, ReadError> {
    let mut buf = Vec::new();
    let n = r.take(64 * 1024).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Err(ReadError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    if !buf.ends_with(b"\r\n") {
        return Err(ReadError::Protocol("line without CRLF".into()));
    }
    buf.truncate(buf.len() - 2);
    String::from_utf8(buf).map_err(|_| ReadError::Protocol("line is not UTF-8".into()))
}

fn read_value(r: &mut impl BufRead) -> Result<Value, ReadError> {
    let line = read_line(r)?;
    let (kind, rest) = line.split_at(line.len().min(1));
    let int = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| ReadError::Protocol(format!("bad integer `{s}`")))
    };
    match kind {
        "+" => Ok(Value::Simple(rest.to_string())),
        "-" => Ok(Value::Error(rest.to_string())),
        ":" => Ok(Value::Int(int(rest)?)),
        "$" => {
            let n = int(rest)?;
            if n < 0 {
                return Ok(Value::Bulk(None));
            }
            if n > 512 * 1024 * 1024 {
                return Err(ReadError::Protocol(format!("bulk of {n} bytes")));
            }
            let mut b = vec![0u8; n as usize + 2];
            r.read_exact(&mut b)?;
            if !b.ends_with(b"\r\n") {
                return Err(ReadError::Protocol("bulk without CRLF".into()));
            }
            b.truncate(n as usize);
            Ok(Value::Bulk(Some(b)))
        }
        "*" => {
            let n = int(rest)?;
            if n < 0 {
                return Ok(Value::Array(None));
            }
            if n > 1 << 20 {
                return Err(ReadError::Protocol(format!("array of {n} elements")));
            }
            let items: Result<Vec<Value>, ReadError> = (0..n).map(|_| read_value(r)).collect();
            Ok(Value::Array(Some(items?)))
        }
        _ => Err(ReadError::Protocol(format!(
            "unexpected reply line `{line}`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_commands() {
        let mut out = Vec::new();
        encode(&["CLUSTER", "MEET", "127.0.0.1", ""], &mut out);
        assert_eq!(
            out,
            b"*4\r\n$7\r\nCLUSTER\r\n$4\r\nMEET\r\n$9\r\n127.0.0.1\r\n$0\r\n\r\n"
        );
    }

    #[test]
    fn decodes_replies() {
        let mut r: &[u8] = b"+OK\r\n-ERR x y\r\n:42\r\n$3\r\na\r\n\r\n$-1\r\n*2\r\n:1\r\n*-1\r\n";
        assert_eq!(read_value(&mut r).ok(), Some(Value::Simple("OK".into())));
        assert_eq!(
            read_value(&mut r).ok(),
            Some(Value::Error("ERR x y".into()))
        );
        assert_eq!(read_value(&mut r).ok(), Some(Value::Int(42)));
        assert_eq!(
            read_value(&mut r).ok(),
            Some(Value::Bulk(Some(b"a\r\n".to_vec())))
        );
        assert_eq!(read_value(&mut r).ok(), Some(Value::Bulk(None)));
        assert_eq!(
            read_value(&mut r).ok(),
            Some(Value::Array(Some(vec![Value::Int(1), Value::Array(None)])))
        );
        for bad in [&b"?x\r\n"[..], b":x\r\n", b"+OK\n", b"$2\r\nabc\r\n"] {
            let mut r = bad;
            assert!(read_value(&mut r).is_err(), "{bad:?}");
        }
    }
}
