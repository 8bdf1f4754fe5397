//! Listening sockets and the accept loop: maxclients, protected mode, TCP keepalive.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use anyhow::Context;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tracing::{info, warn};

use crate::server::Server;

/// Binds every address of `bind` on `port`. A leading `-` marks an address whose failure
/// is ignored; `*` is every IPv4 address and `::*` every IPv6 address.
pub async fn bind_all(bind: &[String], port: u16) -> anyhow::Result<Vec<TcpListener>> {
    let mut out = Vec::new();
    for spec in bind {
        let (optional, addr) = match spec.strip_prefix('-') {
            Some(a) => (true, a),
            None => (false, spec.as_str()),
        };
        let host = match addr {
            "*" => "0.0.0.0".to_string(),
            "::*" => "::".to_string(),
            a => a.to_string(),
        };
        let sa: SocketAddr = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, port),
            Err(_) => {
                if optional {
                    continue;
                }
                anyhow::bail!("Invalid bind address '{addr}'");
            }
        };
        match TcpListener::bind(sa).await {
            Ok(l) => out.push(l),
            Err(e) if optional => {
                tracing::debug!("Could not bind optional address {sa}: {e}");
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("Failed listening on port {port} (tcp), aborting."));
            }
        }
    }
    Ok(out)
}

/// [`bind_all`] for callers outside async code (CONFIG SET of `tls-port`): binds with std
/// sockets and hands them to tokio. Must run inside the runtime.
pub fn bind_all_now(bind: &[String], port: u16) -> std::io::Result<Vec<TcpListener>> {
    let mut out = Vec::new();
    for spec in bind {
        let (optional, addr) = match spec.strip_prefix('-') {
            Some(a) => (true, a),
            None => (false, spec.as_str()),
        };
        let ip: std::net::IpAddr = match addr {
            "*" => std::net::Ipv4Addr::UNSPECIFIED.into(),
            "::*" => std::net::Ipv6Addr::UNSPECIFIED.into(),
            a => match a.parse() {
                Ok(ip) => ip,
                Err(_) if optional => continue,
                Err(_) => {
                    return Err(std::io::Error::other(format!(
                        "Invalid bind address '{addr}'"
                    )))
                }
            },
        };
        let bound = std::net::TcpListener::bind(SocketAddr::new(ip, port)).and_then(|l| {
            l.set_nonblocking(true)?;
            TcpListener::from_std(l)
        });
        match bound {
            Ok(l) => out.push(l),
            Err(_) if optional => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Runs the accept loops of `tls-port` on `listeners`, stopping the previous ones (established
/// connections stay).
pub fn serve_tls(server: &Arc<Server>, listeners: Vec<TcpListener>) {
    let mut handles = server.tls_accepts.lock();
    for h in handles.drain(..) {
        h.abort();
    }
    for l in listeners {
        handles.push(tokio::spawn(tls_accept_loop(server.clone(), l)).abort_handle());
    }
}

/// Text sent to a remote client refused by protected mode.
const DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers, you may disable protected mode with 'CONFIG SET protected-mode no' from the loopback interface, set a password for the default user, or bind to specific addresses instead of all interfaces.\r\n";

/// Accepts connections forever, one task per client.
pub async fn accept_loop(server: Arc<Server>, listener: TcpListener) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                warn!("Accepting client connection: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let server = server.clone();
        tokio::spawn(async move { admit(server, stream, peer).await });
    }
}

async fn admit(server: Arc<Server>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let laddr = stream
        .local_addr()
        .map(|a| fmt_addr(&a))
        .unwrap_or_default();
    let fd = raw_fd(&stream);
    admit_stream(server, stream, peer, laddr, fd).await;
}

/// Accepts TLS connections (`tls-port`) forever: the handshake runs in the client's own task
/// with the configuration current at accept time, so a reload never touches an established
/// connection.
pub async fn tls_accept_loop(server: Arc<Server>, listener: TcpListener) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                warn!("Accepting client connection: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let server = server.clone();
        tokio::spawn(async move { admit_tls(server, stream, peer).await });
    }
}

/// How long a TLS client may take to finish its handshake.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn admit_tls(server: Arc<Server>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let Some(ctx) = server.tls.contexts() else {
        return;
    };
    let laddr = stream
        .local_addr()
        .map(|a| fmt_addr(&a))
        .unwrap_or_default();
    let fd = raw_fd(&stream);
    let stream =
        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, crate::tls::accept(&ctx, stream)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                warn!(
                    "Error accepting a client connection: {e} (conn: fd={fd}, addr={})",
                    fmt_addr(&peer)
                );
                return;
            }
            Err(_) => {
                warn!(
                    "Error accepting a client connection: TLS handshake timed out (addr={})",
                    fmt_addr(&peer)
                );
                return;
            }
        };
    drop(ctx);
    admit_stream(server, stream, peer, laddr, fd).await;
}

/// The checks every new connection goes through (maxclients, protected mode), then its task.
async fn admit_stream<S>(
    server: Arc<Server>,
    mut stream: S,
    peer: SocketAddr,
    laddr: String,
    fd: i32,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let settings = server.settings();
    if server.clients.lock().len() as u64 >= settings.maxclients as u64 {
        server.stats.rejected_connections.fetch_add(1, Relaxed);
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        let _ = stream.flush().await;
        return;
    }
    if protected_refuses(&server, &peer) {
        server.stats.rejected_connections.fetch_add(1, Relaxed);
        let _ = stream.write_all(DENIED.as_bytes()).await;
        let _ = stream.flush().await;
        return;
    }
    server.stats.connections_received.fetch_add(1, Relaxed);
    let info = server.register_client(fmt_addr(&peer), laddr, fd);
    crate::conn::serve(server, stream, info).await;
}

/// Protected mode: no password, default bind, and a non-loopback peer.
fn protected_refuses(server: &Server, peer: &SocketAddr) -> bool {
    if peer.ip().is_loopback() {
        return false;
    }
    let cfg = server.config.read();
    // Protected mode only guards a default user without a password (Redis 7.0).
    if !cfg.protected_mode() || !server.acl.default_user().rules().nopass() {
        return false;
    }
    let bind = cfg.bind();
    let default_bind = bind.iter().all(|b| {
        let b = b.trim_start_matches('-');
        b == "*" || b == "::*" || b == "0.0.0.0" || b == "::"
    });
    default_bind
}

/// `ip:port`, with IPv6 as `[ip]:port` like Redis.
pub fn fmt_addr(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V4(v) => format!("{}:{}", v.ip(), v.port()),
        SocketAddr::V6(v) => match v.ip().to_ipv4_mapped() {
            Some(ip4) => format!("{}:{}", ip4, v.port()),
            None => format!("[{}]:{}", v.ip(), v.port()),
        },
    }
}

fn raw_fd(s: &TcpStream) -> i32 {
    use std::os::fd::AsRawFd;
    s.as_raw_fd()
}

/// Logs where we listen.
pub fn log_listening(listeners: &[TcpListener]) {
    for l in listeners {
        if let Ok(a) = l.local_addr() {
            tracing::debug!("Listening on {a}");
        }
    }
    if listeners.is_empty() {
        info!("No TCP listener configured (port 0 or empty bind).");
    }
}
