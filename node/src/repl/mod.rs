//! Replication, as Redis 7.0 speaks it on the wire, so ferrodis and stock Redis replicate to
//! each other in both directions.
//!
//! - Primary side (here): the replication ID and offset, the [`backlog::Backlog`] every
//!   propagated write is appended to (in the same deterministic form the AOF gets, while the
//!   command's shards are still locked), and one task per replica ([`serve_replica`]): a full
//!   sync from a point-in-time snapshot (RDB, taken without stopping clients) or a partial one
//!   from the backlog, then the stream, reading `REPLCONF ACK`s.
//! - Replica side ([`link`]): `REPLICAOF host port` connects, handshakes, PSYNCs, loads the
//!   snapshot and applies the stream through dispatch as an obeyed client.

pub mod backlog;
pub mod failover;
pub mod link;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::{info, warn};

use crate::aof::live::encode_propagated;
use crate::resp::{parse_command, Limits};
use crate::server::{unix_ms, Server};
use backlog::Backlog;

/// A fresh 40-character replication ID.
pub fn new_replid() -> String {
    let mut id = [0u8; 20];
    rand::Rng::fill(&mut rand::thread_rng(), &mut id[..]);
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a primary knows of one connected replica (`INFO replication` `slaveN` lines).
#[derive(Debug, Clone)]
pub struct ReplicaState {
    pub ip: String,
    pub port: u16,
    /// `wait_bgsave`, `send_bulk`, `online`.
    pub state: &'static str,
    pub ack_offset: u64,
    /// Unix ms of the last ACK.
    pub last_ack_ms: u64,
}

/// The replication IDs and where the second one stops being valid.
#[derive(Debug, Clone)]
pub struct Ids {
    pub replid: String,
    pub replid2: String,
    /// The last offset (+1) served under `replid2` (-1: none), `second_repl_offset`.
    pub second_offset: i64,
}

/// The primary side's shared state.
pub struct Repl {
    /// Writes are appended to the backlog (a replica connected at least once).
    active: AtomicBool,
    pub ids: Mutex<Ids>,
    backlog: Mutex<Option<Backlog>>,
    /// The database the stream's last SELECT chose.
    selected: Mutex<Option<usize>>,
    /// Wakes replica tasks when the stream grows.
    pub grew: tokio::sync::Notify,
    /// `master_repl_offset` when there is no backlog.
    offset: AtomicU64,
    pub replicas: Mutex<BTreeMap<u64, ReplicaState>>,
    /// Replica side: the link to our primary (see [`link`]).
    pub link: link::LinkState,
    /// FAILOVER (see [`failover`]).
    pub failover: failover::Failover,
}

impl Default for Repl {
    fn default() -> Self {
        Repl {
            active: AtomicBool::new(false),
            ids: Mutex::new(Ids {
                replid: new_replid(),
                replid2: "0".repeat(40),
                second_offset: -1,
            }),
            backlog: Mutex::new(None),
            selected: Mutex::new(None),
            grew: tokio::sync::Notify::new(),
            offset: AtomicU64::new(0),
            replicas: Mutex::new(BTreeMap::new()),
            link: link::LinkState::default(),
            failover: failover::Failover::default(),
        }
    }
}

impl Repl {
    /// Whether writes must be appended to the stream: one relaxed load per command.
    #[inline]
    pub fn on(&self) -> bool {
        self.active.load(Relaxed)
    }

    /// `master_repl_offset`.
    pub fn offset(&self) -> u64 {
        match self.backlog.lock().as_ref() {
            Some(b) => b.end(),
            None => self.offset.load(Relaxed),
        }
    }

    /// Creates the backlog (at the current offset) if there is none.
    pub fn ensure_backlog(&self, size: usize) {
        let mut b = self.backlog.lock();
        if b.is_none() {
            *b = Some(Backlog::new(size, self.offset.load(SeqCst)));
            *self.selected.lock() = None;
            self.active.store(true, SeqCst);
        }
    }

    /// Appends commands applied together to the stream (see [`encode_propagated`]).
    pub fn feed(&self, cmds: &[(usize, Vec<Bytes>)]) {
        let mut out = BytesMut::new();
        {
            let mut sel = self.selected.lock();
            encode_propagated(&mut out, &mut sel, cmds);
        }
        self.feed_raw(&out);
    }

    /// Appends bytes already encoded (a primary's PING, or a stream passed on as it came).
    pub fn feed_raw(&self, bytes: &[u8]) {
        if let Some(b) = self.backlog.lock().as_mut() {
            b.push(bytes);
        }
        self.grew.notify_waiters();
    }

    /// Makes the next fed command start with a SELECT (a full sync starts here).
    pub fn reset_selected(&self) {
        *self.selected.lock() = None;
    }

    /// Up to `max` bytes of the stream from `from`; None if the backlog lost them.
    pub fn read(&self, from: u64, max: usize) -> Option<Vec<u8>> {
        self.backlog.lock().as_ref()?.read(from, max)
    }

    /// `(first byte offset, histlen, size)` of the backlog, for INFO.
    pub fn backlog_info(&self) -> Option<(u64, usize, usize)> {
        self.backlog
            .lock()
            .as_ref()
            .map(|b| (b.start() + 1, b.held(), b.capacity()))
    }

    /// Whether `PSYNC replid psync_offset` (1-based: the next byte wanted is at stream
    /// position `psync_offset - 1`) can continue from the backlog.
    pub fn can_continue(&self, replid: &str, psync_offset: u64) -> bool {
        let ids = self.ids.lock().clone();
        let id_ok = replid == ids.replid
            || (replid == ids.replid2
                && ids.second_offset >= 0
                && psync_offset <= ids.second_offset as u64);
        id_ok
            && psync_offset >= 1
            && self
                .backlog
                .lock()
                .as_ref()
                .is_some_and(|b| b.has(psync_offset - 1))
    }

    /// A new ID and no second one (DEBUG CHANGE-REPL-ID): replicas must resync in full.
    pub fn change_replid(&self) {
        let mut ids = self.ids.lock();
        ids.replid = new_replid();
        ids.replid2 = "0".repeat(40);
        ids.second_offset = -1;
    }

    /// Starts a new history (this node stops following a primary, or takes over): the old
    /// ID stays valid as `replid2` up to the current offset, so replicas continue with PSYNC.
    pub fn shift_replid(&self) {
        let offset = self.offset();
        let mut ids = self.ids.lock();
        ids.replid2 = std::mem::replace(&mut ids.replid, new_replid());
        ids.second_offset = offset as i64 + 1;
    }

    /// Adopts a primary's history after a sync: its ID, the stream continuing at `offset`.
    pub fn adopt(&self, replid: &str, offset: u64, backlog_size: usize) {
        {
            let mut ids = self.ids.lock();
            ids.replid = replid.to_string();
            ids.replid2 = "0".repeat(40);
            ids.second_offset = -1;
        }
        self.offset.store(offset, SeqCst);
        *self.backlog.lock() = Some(Backlog::new(backlog_size, offset));
        // Our own replicas get what we apply, re-encoded: the stream's database restarts.
        *self.selected.lock() = None;
        self.active.store(true, SeqCst);
    }

    /// Online replicas whose last acknowledgement is at most `max_lag` seconds old, counted
    /// in whole seconds as Redis does: the good replicas `min-replicas-to-write` asks for.
    pub fn good_replicas(&self, max_lag: u64) -> usize {
        let now = unix_ms() / 1000;
        self.replicas
            .lock()
            .values()
            .filter(|r| r.state == "online" && now.saturating_sub(r.last_ack_ms / 1000) <= max_lag)
            .count()
    }

    /// Replicas acknowledged at or past `offset`.
    pub fn acked(&self, offset: u64) -> usize {
        self.replicas
            .lock()
            .values()
            .filter(|r| r.state == "online" && r.ack_offset >= offset)
            .count()
    }
}

/// Sent to replicas every `repl-ping-replica-period` (by the cron), so they see the link
/// alive and offsets advance. PING is not tied to a database: the stream's SELECT stays.
pub fn ping_replicas(server: &Server) {
    let r = &server.repl;
    // Not while writes are paused for a manual failover: the replica waits for the offset
    // to match the paused primary's.
    let paused = server
        .pause
        .active(crate::server::PausePurpose::Failover, unix_ms());
    if r.on() && !r.replicas.lock().is_empty() && !r.link.is_replica() && !paused {
        let mut out = BytesMut::new();
        crate::resp::encode_command(&mut out, &["PING"]);
        r.feed_raw(&out);
    }
}

/// Asks replicas for an ACK now (`REPLCONF GETACK *`), for WAIT.
pub fn request_acks(server: &Server) {
    let r = &server.repl;
    if r.on() && !r.replicas.lock().is_empty() {
        let mut out = BytesMut::new();
        crate::resp::encode_command(&mut out, &["REPLCONF", "GETACK", "*"]);
        r.feed_raw(&out);
    }
}

/// How a replica asked to sync.
#[derive(Debug)]
pub struct SyncRequest {
    /// PSYNC's replication ID and offset (`?`/-1 or SYNC: a full sync).
    pub replid: String,
    pub offset: i64,
    /// The old SYNC command: no `+FULLRESYNC` line.
    pub legacy: bool,
    pub ip: String,
    pub port: u16,
    /// `REPLCONF capa eof`: a full sync streams the snapshot, ended by a marker.
    pub eof: bool,
    /// `REPLCONF rdb-filter-only functions`: the snapshot holds no keys.
    pub functions_only: bool,
}

/// Hands the snapshot begun for a full sync to `sink`, or only ends it when the replica
/// asked for the function libraries alone (they are in the file's header part).
fn snapshot_parts(
    ks: &crate::db::Keyspace,
    sink: &mut dyn FnMut(crate::db::Part<'_>) -> std::io::Result<()>,
    functions_only: bool,
) -> Option<std::io::Result<()>> {
    if functions_only {
        ks.finish_snapshot(&mut |_: crate::db::Part<'_>| Ok(()))
    } else {
        ks.finish_snapshot(sink)
    }
}

/// Serves one replica on its connection after PSYNC/SYNC, until it goes away: the full or
/// partial sync, then the stream, while reading its `REPLCONF ACK`s.
pub async fn serve_replica<S>(
    server: std::sync::Arc<Server>,
    stream: S,
    inbuf: BytesMut,
    client: std::sync::Arc<crate::server::ClientInfo>,
    req: SyncRequest,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let id = client.id;
    client
        .flags
        .fetch_or(crate::server::cflags::REPLICA, Relaxed);
    let settings = server.settings();
    server.repl.ensure_backlog(settings.repl_backlog_size);
    let (mut rd, mut wr) = tokio::io::split(stream);
    let replica = ReplicaState {
        ip: req.ip.clone(),
        port: req.port,
        state: "wait_bgsave",
        ack_offset: 0,
        last_ack_ms: unix_ms(),
    };
    server.repl.replicas.lock().insert(id, replica);
    let name = format!("{}:{}", req.ip, req.port);
    let mut streamed = false;
    let from = if !req.legacy
        && req.offset >= 1
        && server.repl.can_continue(&req.replid, req.offset as u64)
    {
        let replid = server.repl.ids.lock().replid.clone();
        info!(
            "Partial resynchronization request from {name} accepted. Sending {} bytes of backlog starting from offset {}.",
            server.repl.offset().saturating_sub(req.offset as u64 - 1),
            req.offset
        );
        let line = format!("+CONTINUE {replid}\r\n");
        if wr.write_all(line.as_bytes()).await.is_err() {
            server.repl.replicas.lock().remove(&id);
            return;
        }
        Some(req.offset as u64 - 1)
    } else {
        if req.replid != "?" {
            info!("Partial resynchronization not accepted for {name}: a full sync follows");
        }
        info!("Full resync requested by replica {name}");
        streamed = req.eof;
        full_sync(&server, &mut wr, &req, &name).await
    };
    let Some(mut at) = from else {
        server.repl.replicas.lock().remove(&id);
        return;
    };
    if let Some(r) = server.repl.replicas.lock().get_mut(&id) {
        r.state = "online";
    }
    let mut acks = inbuf;
    let mut args = Vec::new();
    let limits = Limits {
        max_bulk: 1 << 20,
        unauthenticated: false,
    };
    if streamed {
        // A replica finds the end of a streamed snapshot by its marker coming last: the
        // stream starts once it has loaded the snapshot and acknowledged (as in Redis).
        let timeout = Duration::from_secs(
            server
                .config
                .read()
                .get_str("repl-timeout")
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(60)
                .max(1),
        );
        let mut acked = false;
        while !acked {
            if acks.capacity() - acks.len() < 1024 {
                acks.reserve(4096);
            }
            let read = tokio::select! {
                r = tokio::time::timeout(timeout, rd.read_buf(&mut acks)) => r,
                _ = client.kill.notified() => Ok(Ok(0)),
            };
            if !matches!(read, Ok(Ok(n)) if n > 0) {
                warn!("Replica {name} did not acknowledge the streamed snapshot: disconnecting it");
                server.repl.replicas.lock().remove(&id);
                return;
            }
            while let Ok(true) = parse_command(&mut acks, limits, &mut args) {
                acked |= note_ack(&server, id, &args);
            }
        }
    }
    info!("Synchronization with replica {name} succeeded");
    let lost = loop {
        // Send whatever the stream has past `at`.
        match server.repl.read(at, 64 * 1024) {
            Some(chunk) if !chunk.is_empty() => {
                if wr.write_all(&chunk).await.is_err() {
                    break false;
                }
                at += chunk.len() as u64;
                continue;
            }
            Some(_) => {}
            None => break true,
        }
        let grew = server.repl.grew.notified();
        tokio::pin!(grew);
        grew.as_mut().enable();
        // Re-check: bytes fed between the read and enabling the notification.
        if server.repl.read(at, 1).is_some_and(|c| !c.is_empty()) {
            continue;
        }
        if acks.capacity() - acks.len() < 1024 {
            acks.reserve(4096);
        }
        tokio::select! {
            _ = &mut grew => {}
            _ = client.kill.notified() => break false,
            r = rd.read_buf(&mut acks) => match r {
                Ok(0) | Err(_) => break false,
                Ok(_) => {
                    while let Ok(true) = parse_command(&mut acks, limits, &mut args) {
                        note_ack(&server, id, &args);
                    }
                }
            },
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if server.shutting_down.load(Relaxed) || client.killed.load(Relaxed) {
            break false;
        }
    };
    if lost {
        warn!("Replica {name} fell behind the replication backlog: disconnecting it");
    } else {
        info!("Connection with replica {name} lost.");
    }
    server.repl.replicas.lock().remove(&id);
}

/// `REPLCONF ACK <offset>` from a replica; true if `args` was one.
fn note_ack(server: &Server, id: u64, args: &[Bytes]) -> bool {
    if args.len() >= 3
        && args[0].eq_ignore_ascii_case(b"replconf")
        && args[1].eq_ignore_ascii_case(b"ack")
    {
        if let Some(off) = crate::util::num::parse_i64(&args[2]) {
            if let Some(r) = server.repl.replicas.lock().get_mut(&id) {
                r.ack_offset = r.ack_offset.max(off.max(0) as u64);
                r.last_ack_ms = unix_ms();
            }
        }
        return true;
    }
    false
}

/// A full sync: a point-in-time snapshot at a stream offset, sent as `$<len>` + RDB. Returns
/// the offset the stream continues from.
async fn full_sync<W: AsyncWrite + Unpin>(
    server: &std::sync::Arc<Server>,
    wr: &mut W,
    req: &SyncRequest,
    name: &str,
) -> Option<u64> {
    // One snapshot at a time (BGSAVE, AOF rewrite): wait for ours, keeping the replica
    // alive with newlines as Redis does.
    let (offset, replid) = loop {
        let started = {
            let mut db = crate::persist::lock_everything(server, unix_ms());
            if db.start_snapshot(&server.keyspace, server.settings().rdbcompression) {
                server.repl.reset_selected();
                Some((server.repl.offset(), server.repl.ids.lock().replid.clone()))
            } else {
                None
            }
        };
        if let Some(s) = started {
            break s;
        }
        if wr.write_all(b"\n").await.is_err() {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    info!("Starting BGSAVE for SYNC with target: replicas sockets");
    if !req.legacy {
        let line = format!("+FULLRESYNC {replid} {offset}\r\n");
        if wr.write_all(line.as_bytes()).await.is_err() {
            server.keyspace.abandon_snapshot();
            return None;
        }
    }
    if req.eof {
        if !stream_snapshot(server, wr, req).await {
            warn!("Full sync to {name} failed while sending the snapshot");
            return None;
        }
        info!("Streamed RDB transfer with replica {name} succeeded (socket). Waiting for REPLCONF ACK from replica to enable streaming");
        return Some(offset);
    }
    let me = server.clone();
    let functions_only = req.functions_only;
    let rdb = tokio::task::spawn_blocking(move || {
        let ks = &me.keyspace;
        crate::rdb::file::encode(&crate::persist::aux(&me, false), |sink| {
            snapshot_parts(ks, sink, functions_only)
        })
        .ok()
    })
    .await
    .ok()
    .flatten()?;
    set_state(server, req, "send_bulk");
    let head = format!("${}\r\n", rdb.len());
    if wr.write_all(head.as_bytes()).await.is_err() || wr.write_all(&rdb).await.is_err() {
        warn!("Full sync to {name} failed while sending the snapshot");
        return None;
    }
    info!("Background RDB transfer terminated with success");
    Some(offset)
}

/// Sets the INFO state of the replica `req` came from.
fn set_state(server: &Server, req: &SyncRequest, state: &'static str) {
    if let Some(r) = server
        .repl
        .replicas
        .lock()
        .values_mut()
        .find(|r| r.port == req.port && r.ip == req.ip)
    {
        r.state = state;
    }
}

/// Bytes a streamed snapshot is sent in.
const SYNC_CHUNK: usize = 64 * 1024;

/// The encoder's side of a streamed snapshot: what it writes goes, a chunk at a time, into a
/// bounded channel the sending task drains, so the encoder waits while the replica is slow
/// and the snapshot is never held whole in memory.
struct ChunkSender {
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
}

impl ChunkSender {
    fn send(&mut self) -> std::io::Result<()> {
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(SYNC_CHUNK));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "replica gone"))
    }
}

impl std::io::Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= SYNC_CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            self.send()
        }
    }
}

/// Sends the snapshot started for a full sync while it is encoded, as Redis's diskless sync
/// does to a replica with `capa eof`: `$EOF:<40-character marker>`, the RDB, the marker.
/// False if the replica went away or the encoding failed (the snapshot ends either way).
async fn stream_snapshot<W: AsyncWrite + Unpin>(
    server: &std::sync::Arc<Server>,
    wr: &mut W,
    req: &SyncRequest,
) -> bool {
    let mark = new_replid();
    set_state(server, req, "send_bulk");
    if wr
        .write_all(format!("$EOF:{mark}\r\n").as_bytes())
        .await
        .is_err()
    {
        server.keyspace.abandon_snapshot();
        return false;
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let me = server.clone();
    let functions_only = req.functions_only;
    let encoder = tokio::task::spawn_blocking(move || {
        let ks = &me.keyspace;
        let out = ChunkSender {
            tx,
            buf: Vec::with_capacity(SYNC_CHUNK),
        };
        crate::rdb::file::write_to(out, &crate::persist::aux(&me, false), |sink| {
            snapshot_parts(ks, sink, functions_only)
        })
        .is_ok()
    });
    let mut sent = true;
    while let Some(chunk) = rx.recv().await {
        if wr.write_all(&chunk).await.is_err() {
            sent = false;
            break;
        }
    }
    // An encoder still running finds the channel closed and stops.
    drop(rx);
    let encoded = encoder.await.unwrap_or(false);
    sent && encoded && wr.write_all(mark.as_bytes()).await.is_ok()
}

/// The `# Replication` section of INFO.
pub fn info(server: &Server) -> String {
    let r = &server.repl;
    let ids = r.ids.lock().clone();
    let offset = r.offset();
    let mut s = String::new();
    if let Some(l) = r.link.snapshot() {
        s.push_str(&format!(
            "role:slave\r\nmaster_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\nmaster_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:{}\r\nslave_read_repl_offset:{}\r\nslave_repl_offset:{}\r\nslave_priority:{}\r\nslave_read_only:{}\r\nreplica_announced:1\r\n",
            l.host,
            l.port,
            if l.up { "up" } else { "down" },
            if l.up { (unix_ms().saturating_sub(l.last_io_ms) / 1000) as i64 } else { -1 },
            l.syncing as u8,
            offset,
            offset,
            server.config.read().get_str("replica-priority").unwrap_or_else(|| "100".into()),
            (server.config.read().get_str("replica-read-only").as_deref() == Some("yes")) as u8,
        ));
        if !l.up {
            s.push_str(&format!(
                "master_link_down_since_seconds:{}\r\n",
                (unix_ms().saturating_sub(l.down_since_ms) / 1000)
            ));
        }
    } else {
        s.push_str("role:master\r\n");
    }
    let replicas = r.replicas.lock().clone();
    s.push_str(&format!("connected_slaves:{}\r\n", replicas.len()));
    if let Some((_, lag)) = server.settings().min_replicas {
        s.push_str(&format!(
            "min_slaves_good_slaves:{}\r\n",
            r.good_replicas(lag)
        ));
    }
    for (i, rep) in replicas.values().enumerate() {
        let lag = (unix_ms().saturating_sub(rep.last_ack_ms)) / 1000;
        s.push_str(&format!(
            "slave{i}:ip={},port={},state={},offset={},lag={}\r\n",
            rep.ip, rep.port, rep.state, rep.ack_offset, lag
        ));
    }
    let (first, histlen, size, active) = match r.backlog_info() {
        Some((first, held, cap)) => (first, held, cap, 1),
        None => (0, 0, server.settings().repl_backlog_size, 0),
    };
    s.push_str(&format!(
        "master_failover_state:{}\r\nmaster_replid:{}\r\nmaster_replid2:{}\r\nmaster_repl_offset:{}\r\nsecond_repl_offset:{}\r\nrepl_backlog_active:{}\r\nrepl_backlog_size:{}\r\nrepl_backlog_first_byte_offset:{}\r\nrepl_backlog_histlen:{}\r\n",
        r.failover.state_name(),
        ids.replid,
        ids.replid2,
        offset,
        ids.second_offset,
        active,
        size,
        first,
        histlen
    ));
    s
}
