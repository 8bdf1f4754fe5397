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

async fn admit(server: Arc<Server>, mut stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let settings = server.settings();
    if server.clients.lock().len() as u64 >= settings.maxclients as u64 {
        server.stats.rejected_connections.fetch_add(1, Relaxed);
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        return;
    }
    if protected_refuses(&server, &peer) {
        server.stats.rejected_connections.fetch_add(1, Relaxed);
        let _ = stream.write_all(DENIED.as_bytes()).await;
        return;
    }
    let laddr = stream
        .local_addr()
        .map(|a| fmt_addr(&a))
        .unwrap_or_default();
    let fd = raw_fd(&stream);
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
