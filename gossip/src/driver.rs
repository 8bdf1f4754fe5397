//! The tokio driver: the only part of the bus that touches sockets, the clock and OS
//! randomness. It runs on its own thread (a current-thread runtime), so a node thread that
//! waits for a command's answer never starves it.
//!
//! - Listens on the bus port; every inbound connection is read frame by frame and fed to
//!   [`ClusterState::on_message`]. A bad frame closes that connection; the state is unchanged.
//! - One outbound link per node address, (re)connected on demand, writes the frames the state
//!   machine asks for.
//! - Every [`TICK_MS`] calls [`ClusterState::on_tick`].
//! - After every step publishes a fresh [`View`] on a `watch` channel and, when asked, calls
//!   the node's `persist` (nodes.conf) with it before answering the command that caused it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tracing::debug;

use crate::msg::{self, Message};
use crate::state::{
    Addr, ClusterState, Command, CommandError, Effect, Event, LinkInfo, Reply, TICK_MS,
};
use crate::view::View;

/// A bus link's byte stream once the transport has set it up.
pub trait Link: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Link for T {}

/// A boxed [`Link`] (links are few and long-lived, so one allocation each is fine).
pub type BoxIo = Box<dyn Link>;
/// What a [`Transport`] returns.
pub type BoxFuture<T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<T>> + Send>>;

/// Decides whether an inbound link may carry messages from this sender (a TLS peer
/// certificate that must name the sender's node id). A refused sender closes the link.
pub type SenderCheck = Box<dyn Fn(&crate::NodeId) -> bool + Send>;

/// How bus links are secured (TLS for `tls-cluster yes`); without one they are plain TCP.
/// The node supplies it so this crate needs no TLS library.
pub trait Transport: Send + Sync + 'static {
    /// Sets up an inbound link from `peer` (a failed handshake refuses the link), with an
    /// optional check of every sender id the link carries.
    fn accept(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> BoxFuture<(BoxIo, Option<SenderCheck>)>;
    /// Sets up an outbound link to `peer`.
    fn connect(&self, stream: TcpStream, peer: SocketAddr) -> BoxFuture<BoxIo>;
}

/// Saves the configuration (nodes.conf), called on the driver thread before the command that
/// changed it is answered. With `fsync` false it must not block (the node hands the view to
/// a writer); with `fsync` true (an epoch changed) it returns once the file is on disk, and
/// the driver sends nothing and answers nothing before that, as Redis fsyncs in
/// `clusterBeforeSleep` before it writes to clients and links.
pub type Persist = Box<dyn FnMut(&Arc<View>, bool) -> std::io::Result<()> + Send>;

type Request = (
    Command,
    std::sync::mpsc::SyncSender<Result<Reply, CommandError>>,
);

/// The node's side of the bus.
pub struct Handle {
    /// The latest snapshot.
    pub view: watch::Receiver<Arc<View>>,
    cmds: mpsc::UnboundedSender<Request>,
}

impl Clone for Handle {
    fn clone(&self) -> Self {
        Handle {
            view: self.view.clone(),
            cmds: self.cmds.clone(),
        }
    }
}

impl Handle {
    /// Runs a command on the bus and waits for its answer (at most `timeout`). Blocking: the
    /// driver runs on its own thread, so a runtime worker may wait here. None if the driver is
    /// gone or too slow.
    pub fn call(&self, cmd: Command, timeout: Duration) -> Option<Result<Reply, CommandError>> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.cmds.send((cmd, tx)).ok()?;
        rx.recv_timeout(timeout).ok()
    }

    /// Sends a command without waiting (PUBLISH propagation).
    pub fn cast(&self, cmd: Command) {
        let (tx, _rx) = std::sync::mpsc::sync_channel(1);
        let _ = self.cmds.send((cmd, tx));
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Arc<View> {
        self.view.borrow().clone()
    }
}

/// Unix time in ms.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Turns bind directives (`*`, `-::*`, `127.0.0.1`) into addresses; optional ones (`-`) may
/// fail to bind.
fn bind_addrs(bind: &[String], port: u16) -> Vec<(SocketAddr, bool)> {
    bind.iter()
        .filter_map(|b| {
            let (optional, b) = match b.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, b.as_str()),
            };
            let ip: IpAddr = match b {
                "*" => IpAddr::from([0, 0, 0, 0]),
                "::*" => "::".parse().ok()?,
                other => other.parse().ok()?,
            };
            Some((SocketAddr::new(ip, port), optional))
        })
        .collect()
}

/// Binds the bus port and starts the driver thread. Returns the handle and the node's event
/// stream.
pub fn spawn(
    state: ClusterState,
    bind: &[String],
    bus_port: u16,
    persist: Persist,
) -> std::io::Result<(Handle, mpsc::UnboundedReceiver<Event>)> {
    spawn_with(state, bind, bus_port, persist, None)
}

/// [`spawn`] with links set up by `transport` (TLS) instead of plain TCP.
pub fn spawn_with(
    mut state: ClusterState,
    bind: &[String],
    bus_port: u16,
    persist: Persist,
    transport: Option<Arc<dyn Transport>>,
) -> std::io::Result<(Handle, mpsc::UnboundedReceiver<Event>)> {
    let mut listeners = Vec::new();
    for (addr, optional) in bind_addrs(bind, bus_port) {
        let bound = std::net::TcpListener::bind(addr).and_then(|l| {
            l.set_nonblocking(true)?;
            Ok(l)
        });
        match bound {
            Ok(l) => listeners.push(l),
            Err(e) if optional => debug!("bus: optional bind {addr} failed: {e}"),
            Err(e) => return Err(e),
        }
    }
    if listeners.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            "no address to bind the cluster bus to",
        ));
    }
    let (view_tx, view_rx) = watch::channel(Arc::new(state.view(unix_ms())));
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("cluster-bus".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::warn!("cluster bus runtime: {e}");
                    return;
                }
            };
            rt.block_on(run(
                state, listeners, cmd_rx, view_tx, ev_tx, persist, transport,
            ));
        })?;
    Ok((
        Handle {
            view: view_rx,
            cmds: cmd_tx,
        },
        ev_rx,
    ))
}

async fn run(
    mut state: ClusterState,
    listeners: Vec<std::net::TcpListener>,
    mut cmds: mpsc::UnboundedReceiver<Request>,
    view_tx: watch::Sender<Arc<View>>,
    events: mpsc::UnboundedSender<Event>,
    mut persist: Persist,
    transport: Option<Arc<dyn Transport>>,
) {
    let (in_tx, mut inbound) = mpsc::unbounded_channel::<(LinkInfo, Message)>();
    for l in listeners {
        match TcpListener::from_std(l) {
            Ok(l) => {
                tokio::spawn(accept_loop(l, in_tx.clone(), transport.clone()));
            }
            Err(e) => tracing::warn!("cluster bus listener: {e}"),
        }
    }
    let mut links: HashMap<Addr, mpsc::Sender<Vec<u8>>> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(TICK_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let (effects, answer) = tokio::select! {
            _ = tick.tick() => (state.on_tick(unix_ms()), None),
            req = cmds.recv() => match req {
                Some((cmd, reply)) => {
                    let (r, effects) = state.on_command(unix_ms(), cmd);
                    (effects, Some((r, reply)))
                }
                None => break,
            },
            Some((link, msg)) = inbound.recv() => (state.on_message(unix_ms(), &link, msg), None),
        };
        // (save, fsync)
        let save = effects.iter().fold((false, false), |acc, e| match e {
            Effect::SaveConfig { fsync } => (true, acc.1 || *fsync),
            _ => acc,
        });
        let view = Arc::new(state.view(unix_ms()));
        if save.0 {
            if let Err(e) = persist(&view, save.1) {
                tracing::warn!("Could not save the cluster configuration: {e}");
            }
        }
        for e in effects {
            match e {
                Effect::Send { to, msg } => send(&mut links, to, &msg, &transport),
                Effect::SaveConfig { .. } => {}
                Effect::Event(ev) => {
                    let _ = events.send(ev);
                }
            }
        }
        view_tx.send_replace(view);
        if let Some((r, reply)) = answer {
            let _ = reply.try_send(r);
        }
    }
}

/// Frames queued on one outbound link before it is dropped as stuck (Redis frees a link
/// whose send buffer grows too much, `cluster-link-sendbuf-limit`).
const LINK_QUEUE: usize = 1024;
/// A write that takes longer than this closes the link.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Queues a frame on the link to `to`, opening it if needed (or replacing a closed or
/// stuck one).
fn send(
    links: &mut HashMap<Addr, mpsc::Sender<Vec<u8>>>,
    to: Addr,
    msg: &Message,
    transport: &Option<Arc<dyn Transport>>,
) {
    let mut frame = Vec::new();
    msg::encode(msg, &mut frame);
    if let Some(tx) = links.get(&to) {
        match tx.try_send(frame) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Closed(f)) => frame = f,
            Err(mpsc::error::TrySendError::Full(f)) => {
                debug!("bus: link to {}:{} is stuck, reconnecting", to.ip, to.cport);
                frame = f;
            }
        }
    }
    let (tx, rx) = mpsc::channel(LINK_QUEUE);
    let _ = tx.try_send(frame);
    tokio::spawn(outbound(to.clone(), rx, transport.clone()));
    links.insert(to, tx);
}

/// An outbound link: connect, then write frames until an error or a slow write (then the
/// next send opens a new one).
async fn outbound(to: Addr, rx: mpsc::Receiver<Vec<u8>>, transport: Option<Arc<dyn Transport>>) {
    let stream = match to.ip.parse::<IpAddr>() {
        Ok(ip) => {
            tokio::time::timeout(
                Duration::from_secs(2),
                TcpStream::connect(SocketAddr::new(ip, to.cport)),
            )
            .await
        }
        Err(_) => {
            tokio::time::timeout(
                Duration::from_secs(2),
                TcpStream::connect((to.ip.as_str(), to.cport)),
            )
            .await
        }
    };
    let stream = match stream {
        Ok(Ok(s)) => s,
        _ => return,
    };
    let _ = stream.set_nodelay(true);
    match transport {
        None => write_frames(stream, rx).await,
        Some(t) => {
            let Ok(peer) = stream.peer_addr() else {
                return;
            };
            match tokio::time::timeout(Duration::from_secs(2), t.connect(stream, peer)).await {
                Ok(Ok(s)) => write_frames(s, rx).await,
                Ok(Err(e)) => debug!("bus: TLS to {}:{} failed: {e}", to.ip, to.cport),
                Err(_) => debug!("bus: TLS to {}:{} timed out", to.ip, to.cport),
            }
        }
    }
}

/// Writes queued frames to an outbound link until an error or a slow write.
async fn write_frames<S: AsyncWrite + Unpin>(mut stream: S, mut rx: mpsc::Receiver<Vec<u8>>) {
    while let Some(frame) = rx.recv().await {
        let mut buf = frame;
        while let Ok(more) = rx.try_recv() {
            buf.extend_from_slice(&more);
        }
        match tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&buf)).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
}

async fn accept_loop(
    l: TcpListener,
    tx: mpsc::UnboundedSender<(LinkInfo, Message)>,
    transport: Option<Arc<dyn Transport>>,
) {
    loop {
        match l.accept().await {
            Ok((s, peer)) => {
                let local = s.local_addr().ok().map(|a| canonical(a.ip()));
                let link = LinkInfo {
                    peer_ip: canonical(peer.ip()),
                    local_ip: local,
                };
                let tx = tx.clone();
                match transport.clone() {
                    None => {
                        tokio::spawn(inbound(s, link, tx, None));
                    }
                    Some(t) => {
                        tokio::spawn(async move {
                            let _ = s.set_nodelay(true);
                            match tokio::time::timeout(Duration::from_secs(5), t.accept(s, peer))
                                .await
                            {
                                Ok(Ok((s, check))) => inbound(s, link, tx, check).await,
                                Ok(Err(e)) => {
                                    debug!("bus: TLS from {} refused: {e}", link.peer_ip)
                                }
                                Err(_) => debug!("bus: TLS from {} timed out", link.peer_ip),
                            }
                        });
                    }
                }
            }
            Err(e) => {
                debug!("bus accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

fn canonical(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// Reads frames from one inbound link until EOF or a bad frame.
async fn inbound<S: AsyncRead + Unpin>(
    mut s: S,
    link: LinkInfo,
    tx: mpsc::UnboundedSender<(LinkInfo, Message)>,
    check: Option<SenderCheck>,
) {
    // The last sender `check` accepted (a link carries one node's messages).
    let mut accepted: Option<crate::NodeId> = None;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut used = 0;
        loop {
            match msg::decode(&buf[used..]) {
                Ok(Some((m, len))) => {
                    used += len;
                    if let Some(check) = &check {
                        if accepted.as_ref() != Some(&m.sender) {
                            if !check(&m.sender) {
                                tracing::warn!(
                                    "Refused cluster bus link from {}: its certificate does not name node {}",
                                    link.peer_ip,
                                    m.sender
                                );
                                return;
                            }
                            accepted = Some(m.sender);
                        }
                    }
                    if tx.send((link.clone(), m)).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    debug!("bus: closing link from {}: {e}", link.peer_ip);
                    return;
                }
            }
        }
        buf.drain(..used);
    }
}
