//! The replica side: `REPLICAOF host port` starts a task that connects to the primary,
//! handshakes (PING, AUTH with `masteruser`/`masterauth`, REPLCONF listening-port and capa),
//! asks `PSYNC <replid> <offset>` (a partial resync from the backlog when it has a history,
//! else a full one), receives the RDB snapshot to a temp file (in memory with
//! `repl-diskless-load` other than `disabled`), loads it a chunk at a time, keeps it as the
//! RDB file, and applies the stream through dispatch as an
//! obeyed client, acknowledging its offset every second and on `REPLCONF GETACK`. The exact
//! bytes applied are appended to this node's own backlog, so its replicas share the primary's
//! replication ID and offsets. The link reconnects after a failure until REPLICAOF NO ONE.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{info, warn};

use crate::dispatch::Client;
use crate::resp::{encode_command, parse_command, Limits};
use crate::server::{unix_ms, Server};

/// What INFO shows of the link.
#[derive(Debug, Clone)]
pub struct Link {
    pub host: String,
    pub port: u16,
    pub up: bool,
    pub syncing: bool,
    pub last_io_ms: u64,
    pub down_since_ms: u64,
}

/// The link's shared state.
#[derive(Default)]
pub struct LinkState {
    link: Mutex<Option<Link>>,
    /// Bumped by every REPLICAOF: a task whose generation is old stops.
    generation: AtomicU64,
    replica: AtomicBool,
}

impl LinkState {
    /// This node follows a primary.
    #[inline]
    pub fn is_replica(&self) -> bool {
        self.replica.load(SeqCst)
    }

    pub fn snapshot(&self) -> Option<Link> {
        self.link.lock().clone()
    }

    fn update(&self, gen: u64, f: impl FnOnce(&mut Link)) {
        if self.generation.load(SeqCst) == gen {
            if let Some(l) = self.link.lock().as_mut() {
                f(l);
            }
        }
    }

    fn current(&self, gen: u64) -> bool {
        self.generation.load(SeqCst) == gen
    }
}

/// `REPLICAOF host port` (Some) or `REPLICAOF NO ONE` (None).
pub fn replicaof(server: &Arc<Server>, target: Option<(String, u16)>) {
    let st = &server.repl.link;
    let gen = st.generation.fetch_add(1, SeqCst) + 1;
    match target {
        None => {
            if st.replica.swap(false, SeqCst) {
                crate::log::set_role('M');
                *st.link.lock() = None;
                // A new history: our replicas continue with PSYNC under the old ID.
                server.repl.shift_replid();
                info!("MASTER MODE enabled (user request)");
            }
        }
        Some((host, port)) => {
            st.replica.store(true, SeqCst);
            crate::log::set_role('S');
            *st.link.lock() = Some(Link {
                host: host.clone(),
                port,
                up: false,
                syncing: false,
                last_io_ms: 0,
                down_since_ms: unix_ms(),
            });
            info!("REPLICAOF {host}:{port} enabled (user request)");
            let me = server.clone();
            tokio::spawn(async move { run(me, host, port, gen).await });
        }
    }
}

async fn run(server: Arc<Server>, host: String, port: u16, gen: u64) {
    while server.repl.link.current(gen) && !server.shutting_down.load(SeqCst) {
        info!("Connecting to MASTER {host}:{port}");
        if let Err(e) = session(&server, &host, port, gen).await {
            if server.repl.link.current(gen) {
                warn!("Replication with MASTER {host}:{port}: {e}");
            }
        }
        server.repl.link.update(gen, |l| {
            if l.up {
                l.down_since_ms = unix_ms();
            }
            l.up = false;
            l.syncing = false;
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The link's transport: plain TCP, or TLS with `tls-replication yes`.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// A connection to the primary with a read buffer.
struct Conn {
    stream: Box<dyn Io>,
    buf: BytesMut,
}

impl Conn {
    async fn fill(&mut self, timeout: Duration) -> Result<(), String> {
        self.buf.reserve(16 * 1024);
        match tokio::time::timeout(timeout, self.stream.read_buf(&mut self.buf)).await {
            Ok(Ok(0)) => Err("connection closed by the primary".into()),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timeout talking to the primary".into()),
        }
    }

    /// One `\r\n`-terminated line (leading bare newlines, the primary's keep-alives, skipped).
    async fn line(&mut self, timeout: Duration) -> Result<String, String> {
        loop {
            while self.buf.first() == Some(&b'\n') {
                let _ = self.buf.split_to(1);
            }
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let l = self.buf.split_to(i + 2);
                return Ok(String::from_utf8_lossy(&l[..i]).into_owned());
            }
            if self.buf.len() > 64 * 1024 {
                return Err("protocol error: line too long".into());
            }
            self.fill(timeout).await?;
        }
    }

    async fn command(&mut self, args: &[&[u8]], timeout: Duration) -> Result<String, String> {
        let mut out = BytesMut::new();
        encode_command(&mut out, args);
        self.stream
            .write_all(&out)
            .await
            .map_err(|e| e.to_string())?;
        self.line(timeout).await
    }
}

async fn session(server: &Arc<Server>, host: &str, port: u16, gen: u64) -> Result<(), String> {
    let timeout = Duration::from_secs(
        server
            .config
            .read()
            .get_str("repl-timeout")
            .and_then(|v| v.parse().ok())
            .unwrap_or(60),
    );
    let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect((host, port)))
        .await
        .map_err(|_| "timeout connecting".to_string())?
        .map_err(|e| format!("Error condition on socket for SYNC: {e}"))?;
    let _ = stream.set_nodelay(true);
    let tls = server.config.read().get_str("tls-replication").as_deref() == Some("yes");
    let stream: Box<dyn Io> = if tls {
        let s = crate::tls::connect_replication(&server.tls, host, stream)
            .await
            .map_err(|e| format!("TLS handshake with the primary failed: {e}"))?;
        Box::new(s)
    } else {
        Box::new(stream)
    };
    info!("MASTER <-> REPLICA sync started");
    let mut c = Conn {
        stream,
        buf: BytesMut::new(),
    };
    let pong = c.command(&[b"PING"], timeout).await?;
    if pong.starts_with('-')
        && !pong.starts_with("-NOAUTH")
        && !pong.starts_with("-NOPERM")
        && !pong.starts_with("-ERR operation not permitted")
    {
        return Err(format!("Error reply to PING from master: '{pong}'"));
    }
    info!("Master replied to PING, replication can continue...");
    let (user, pass) = {
        let cfg = server.config.read();
        (
            cfg.get_str("masteruser").filter(|s| !s.is_empty()),
            cfg.get_str("masterauth").filter(|s| !s.is_empty()),
        )
    };
    if let Some(pass) = pass {
        let r = match &user {
            Some(u) => {
                c.command(&[b"AUTH", u.as_bytes(), pass.as_bytes()], timeout)
                    .await?
            }
            None => c.command(&[b"AUTH", pass.as_bytes()], timeout).await?,
        };
        if r.starts_with('-') {
            return Err(format!("Unable to AUTH to MASTER: {r}"));
        }
    }
    let my_port = server.tcp_port.load(SeqCst).to_string();
    let _ = c
        .command(
            &[b"REPLCONF", b"listening-port", my_port.as_bytes()],
            timeout,
        )
        .await?;
    let _ = c
        .command(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"], timeout)
        .await?;
    // PSYNC with our history when we have one (offsets are 1-based on the wire).
    let (replid, next) = {
        let ids = server.repl.ids.lock().clone();
        if server.repl.on() {
            (ids.replid, (server.repl.offset() + 1).to_string())
        } else {
            ("?".to_string(), "-1".to_string())
        }
    };
    info!("Trying a partial resynchronization (request {replid}:{next}).");
    // A FAILOVER hands over to this primary: our PSYNC asks it to take over.
    let failover = server.repl.failover.in_progress();
    let mut psync: Vec<&[u8]> = vec![b"PSYNC", replid.as_bytes(), next.as_bytes()];
    if failover {
        psync.push(b"FAILOVER");
    }
    let reply = c.command(&psync, timeout).await?;
    if failover {
        let accepted = reply.starts_with("+CONTINUE") || reply.starts_with("+FULLRESYNC");
        super::failover::psync_answered(server, accepted);
        if !accepted {
            return Ok(());
        }
    }
    let backlog_size = server.settings().repl_backlog_size;
    let mut processed;
    if let Some(rest) = reply.strip_prefix("+FULLRESYNC ") {
        let mut it = rest.split_whitespace();
        let id = it.next().unwrap_or_default().to_string();
        let offset: u64 = it
            .next()
            .and_then(|o| o.parse().ok())
            .ok_or_else(|| format!("bad FULLRESYNC reply: {reply}"))?;
        info!("Full resync from master: {id}:{offset}");
        server.repl.link.update(gen, |l| l.syncing = true);
        let head = c.line(timeout).await?;
        let end = if let Some(mark) = head.strip_prefix("$EOF:") {
            // A streamed snapshot (we said `capa eof`): it ends where the marker comes.
            let mark: [u8; EOF_MARK_LEN] = mark
                .as_bytes()
                .try_into()
                .map_err(|_| format!("bad bulk payload header: {head}"))?;
            info!("MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to disk");
            PayloadEnd::Marker(mark)
        } else {
            let len: u64 = head
                .strip_prefix('$')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("bad bulk payload header: {head}"))?;
            info!("MASTER <-> REPLICA sync: receiving {len} bytes from master to disk");
            PayloadEnd::Len(len)
        };
        let snapshot = receive(server, &mut c, end, timeout).await?;
        if !server.repl.link.current(gen) {
            snapshot.discard();
            return Ok(());
        }
        // A BGSAVE finishing after the snapshot is in place would put the old data back in the
        // RDB file: it ends first (Redis kills its child).
        while server.rdb.bgsave_in_progress.load(SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // On a blocking thread: the workers go on answering (LOADING, see `dispatch`).
        let me = server.clone();
        tokio::task::spawn_blocking(move || load_snapshot(&me, snapshot))
            .await
            .map_err(|e| format!("loading the snapshot failed: {e}"))??;
        server.repl.adopt(&id, offset, backlog_size);
        processed = offset;
        info!("MASTER <-> REPLICA sync: Finished with success");
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        let new_id = rest.trim();
        processed = server.repl.offset();
        if !new_id.is_empty() && new_id != server.repl.ids.lock().replid {
            server.repl.shift_replid();
            server.repl.ids.lock().replid = new_id.to_string();
        }
        info!("Successful partial resynchronization with master.");
    } else {
        return Err(format!("Unexpected reply to PSYNC from master: {reply}"));
    }
    server.repl.link.update(gen, |l| {
        l.up = true;
        l.syncing = false;
        l.last_io_ms = unix_ms();
    });
    // The stream: apply each command as it came, acknowledging our offset.
    let info = server.register_client(format!("{host}:{port}"), String::new(), -1);
    info.flags.fetch_or(
        crate::server::cflags::MASTER,
        std::sync::atomic::Ordering::Relaxed,
    );
    let mut client = Client::new(info.clone(), &server.settings());
    client.authenticated = true;
    client.deny_blocking = true;
    client.obey = true;
    let result = apply_stream(server, &mut c, &mut client, &mut processed, gen, timeout).await;
    server.unregister_client(info.id);
    result
}

/// How the primary marks the end of a full sync's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PayloadEnd {
    /// `$<len>`: this many bytes are left.
    Len(u64),
    /// `$EOF:<mark>`: the payload ends where the mark comes.
    Marker([u8; EOF_MARK_LEN]),
}

const EOF_MARK_LEN: usize = 40;

impl PayloadEnd {
    /// Moves the payload bytes at the front of `buf` to `out`; true once the payload is
    /// complete, `buf` then holding what follows it (the command stream). With a marker, the
    /// last bytes stay in `buf` until more come: they may be the start of the marker.
    fn take(&mut self, buf: &mut BytesMut, out: &mut impl Write) -> std::io::Result<bool> {
        match self {
            PayloadEnd::Len(left) => {
                let n = (*left).min(buf.len() as u64) as usize;
                out.write_all(&buf[..n])?;
                buf.advance(n);
                *left -= n as u64;
                Ok(*left == 0)
            }
            PayloadEnd::Marker(mark) => {
                if let Some(p) = buf.windows(EOF_MARK_LEN).position(|w| w == &mark[..]) {
                    out.write_all(&buf[..p])?;
                    buf.advance(p + EOF_MARK_LEN);
                    return Ok(true);
                }
                let n = buf.len().saturating_sub(EOF_MARK_LEN - 1);
                out.write_all(&buf[..n])?;
                buf.advance(n);
                Ok(false)
            }
        }
    }
}

/// A full sync's payload once received.
enum Snapshot {
    /// With `repl-diskless-load` other than `disabled`: held in memory, no disk written.
    Memory(Vec<u8>),
    /// As Redis by default: a temp file in `dir`, fsynced; it becomes the RDB file once
    /// loaded.
    File(PathBuf),
}

impl Snapshot {
    fn discard(self) {
        if let Snapshot::File(path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Receives the payload (see [`PayloadEnd`]) into a temp file or memory.
async fn receive(
    server: &Server,
    c: &mut Conn,
    mut end: PayloadEnd,
    timeout: Duration,
) -> Result<Snapshot, String> {
    let disk = server
        .config
        .read()
        .get_str("repl-diskless-load")
        .as_deref()
        == Some("disabled");
    if !disk {
        let mut v = Vec::new();
        while !end.take(&mut c.buf, &mut v).map_err(|e| e.to_string())? {
            c.fill(timeout).await?;
        }
        return Ok(Snapshot::Memory(v));
    }
    let dir = PathBuf::from(server.config.read().dir());
    let tmp = dir.join(format!(
        "temp-{}.{}.rdb",
        unix_ms() / 1000,
        std::process::id()
    ));
    let failed = |e: std::io::Error| {
        format!("Opening the temp file needed for MASTER <-> REPLICA synchronization: {e}")
    };
    let mut f = std::io::BufWriter::with_capacity(
        crate::rdb::file::WRITE_BUFFER,
        std::fs::File::create(&tmp).map_err(failed)?,
    );
    let received: Result<(), String> = async {
        while !end
            .take(&mut c.buf, &mut f)
            .map_err(|e| format!("Write error or short write writing to the DB dump file needed for MASTER <-> REPLICA synchronization: {e}"))?
        {
            c.fill(timeout).await?;
        }
        let f = f.into_inner().map_err(|e| e.to_string())?;
        f.sync_all()
            .map_err(|e| format!("Failed trying to sync the temp DB to disk in MASTER <-> REPLICA synchronization: {e}"))
    }
    .await;
    match received {
        Ok(()) => Ok(Snapshot::File(tmp)),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Replaces the dataset with the primary's snapshot. As in Redis, an AOF stops while the
/// dataset is replaced and starts again with a rewrite of the new one: appending on to the old
/// files would leave an AOF that, loaded after a restart, holds the old data and only the
/// stream's writes on top of it, not the snapshot. A snapshot received to disk is loaded a
/// chunk at a time, then becomes the RDB file (`dir/dbfilename`), as in Redis; it replaces the
/// old file only once it loaded, so a corrupt payload never overwrites a good file.
fn load_snapshot(server: &Server, snapshot: Snapshot) -> Result<(), String> {
    if server.aof.on() {
        server.aof.stop();
    }
    // Gated: the libraries are replaced too (see `persist::lock_everything_gated`).
    let mut db = crate::persist::lock_everything_gated(server, unix_ms());
    let total = match &snapshot {
        Snapshot::Memory(bytes) => bytes.len() as u64,
        Snapshot::File(tmp) => std::fs::metadata(tmp).map_or(0, |m| m.len()),
    };
    let loading = crate::persist::Loading::start(server, total);
    info!("MASTER <-> REPLICA sync: Flushing old data");
    for i in 0..crate::db::NDBS {
        db.flush_db(i);
    }
    // The primary's libraries replace this node's (its snapshot holds them all).
    server.functions.flush();
    info!("MASTER <-> REPLICA sync: Loading DB in memory");
    let loaded = match &snapshot {
        Snapshot::Memory(bytes) => crate::persist::load_rdb_into(
            server,
            &mut db,
            &bytes[..],
            crate::persist::OnDuplicate::Replace,
        )
        .map_err(|e| (e, "socket")),
        Snapshot::File(tmp) => match std::fs::File::open(tmp) {
            Ok(f) => crate::persist::load_rdb_into(
                server,
                &mut db,
                f,
                crate::persist::OnDuplicate::Replace,
            )
            .map_err(|e| (e, "disk")),
            Err(e) => Err((
                crate::rdb::file::LoadError {
                    offset: 0,
                    error: crate::rdb::RdbError::Corrupt(e.to_string()),
                },
                "disk",
            )),
        },
    };
    if let Ok(l) = &loaded {
        info!(
            "Done loading RDB, keys loaded: {}, keys expired: {}.",
            l.keys, l.expired
        );
    }
    if let Snapshot::File(tmp) = snapshot {
        // Still holding every shard, so no BGSAVE starts meanwhile (one that did start before
        // the shards were taken keeps its own file, and the temp file goes).
        if loaded.is_ok() && !server.rdb.bgsave_in_progress.load(SeqCst) {
            install_rdb_file(server, &tmp);
        } else {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    drop(loading);
    drop(db);
    // Restarted whatever the load did: with the old data flushed, the AOF must not keep it.
    restart_aof_after_sync(server);
    loaded.map(drop).map_err(|(e, from)| {
        format!(
            "Failed trying to load the MASTER synchronization DB from {from}: {} at offset {}",
            e.error, e.offset
        )
    })
}

/// The loaded snapshot becomes `dir/dbfilename`, unless `rdb-del-sync-files yes` asks to
/// delete it on a replica with no persistence (no save points, no AOF).
fn install_rdb_file(server: &Server, tmp: &Path) {
    let (delete, path) = {
        let c = server.config.read();
        let no_persistence = c.save_params().is_empty() && !c.appendonly();
        (
            no_persistence && c.get_str("rdb-del-sync-files").as_deref() == Some("yes"),
            crate::persist::rdb_path(server),
        )
    };
    if delete {
        info!(
            "Removing the RDB file obtained from the master. This replica has persistence disabled"
        );
        let _ = std::fs::remove_file(tmp);
        return;
    }
    let renamed = std::fs::rename(tmp, &path).and_then(|()| {
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
        std::fs::File::open(dir.unwrap_or(Path::new(".")))?.sync_all()
    });
    if let Err(e) = renamed {
        warn!(
            "Failed trying to rename the temp DB into {} in MASTER <-> REPLICA synchronization: {e}",
            path.display()
        );
        let _ = std::fs::remove_file(tmp);
    }
}

/// `appendonly yes`: the AOF starts again from the dataset just loaded, by a rewrite. One
/// that cannot start now (another snapshot is being written) is left to the cron, which
/// switches the AOF on as soon as it can.
fn restart_aof_after_sync(server: &Server) {
    if !server.config.read().appendonly() || server.aof.on() {
        return;
    }
    match crate::aof::rewrite::start_now(server) {
        Ok(crate::aof::rewrite::Started::Started) => {}
        Ok(crate::aof::rewrite::Started::Scheduled) | Err(_) => info!(
            "AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible."
        ),
    }
}

async fn apply_stream(
    server: &Arc<Server>,
    c: &mut Conn,
    client: &mut Client,
    processed: &mut u64,
    gen: u64,
    timeout: Duration,
) -> Result<(), String> {
    let mut args: Vec<Bytes> = Vec::new();
    let mut out = BytesMut::new();
    let mut last_ack = std::time::Instant::now();
    let mut last_io = std::time::Instant::now();
    let limits = Limits {
        max_bulk: u64::MAX >> 1,
        unauthenticated: false,
    };
    send_ack(c, *processed).await?;
    loop {
        if !server.repl.link.current(gen) {
            return Ok(());
        }
        loop {
            let before = c.buf.len();
            match parse_command(&mut c.buf, limits, &mut args) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => return Err(format!("protocol error from the primary: {e}")),
            }
            let used = (before - c.buf.len()) as u64;
            if args.is_empty() {
                *processed += used;
                continue;
            }
            let getack = args.len() >= 2
                && args[0].eq_ignore_ascii_case(b"replconf")
                && args[1].eq_ignore_ascii_case(b"getack");
            let replconf = args[0].eq_ignore_ascii_case(b"replconf");
            if !replconf {
                let settings = server.settings();
                let _ = crate::dispatch::replay(server, &settings, client, &args, &mut out);
                out.clear();
            }
            // Our own replicas get the same bytes, so offsets agree down the chain.
            let mut raw = BytesMut::new();
            encode_command(&mut raw, &args);
            server.repl.feed_raw(&raw);
            *processed += used;
            if getack {
                send_ack(c, *processed).await?;
                last_ack = std::time::Instant::now();
            }
        }
        if last_ack.elapsed() >= Duration::from_secs(1) {
            send_ack(c, *processed).await?;
            last_ack = std::time::Instant::now();
        }
        match tokio::time::timeout(Duration::from_secs(1), c.fill(timeout)).await {
            Ok(r) => {
                r?;
                last_io = std::time::Instant::now();
                server.repl.link.update(gen, |l| l.last_io_ms = unix_ms());
            }
            Err(_) if last_io.elapsed() > timeout => {
                return Err("MASTER timeout: no data nor PING received...".into());
            }
            Err(_) => {}
        }
    }
}

async fn send_ack(c: &mut Conn, offset: u64) -> Result<(), String> {
    let mut out = BytesMut::new();
    let off = offset.to_string();
    encode_command(&mut out, &["REPLCONF", "ACK", off.as_str()]);
    c.stream.write_all(&out).await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `stream` to `end` in pieces of `step` bytes: the payload it wrote, and what was
    /// left in the buffer when it said the payload was complete.
    fn split(mut end: PayloadEnd, stream: &[u8], step: usize) -> Option<(Vec<u8>, Vec<u8>)> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in stream.chunks(step) {
            buf.extend_from_slice(piece);
            if end.take(&mut buf, &mut out).unwrap() {
                return Some((out, buf.to_vec()));
            }
        }
        None
    }

    #[test]
    fn payload_ends_at_its_length_or_marker_wherever_reads_cut_it() {
        let rdb: Vec<u8> = (0..3000u32).map(|i| (i % 97) as u8 + b'!').collect();
        let mark = [b'a'; EOF_MARK_LEN];
        let mut marked = rdb.clone();
        marked.extend_from_slice(&mark);
        marked.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        let mut sized = rdb.clone();
        sized.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        for step in [1, 2, 39, 40, 41, 100, 4096] {
            for (end, stream) in [
                (PayloadEnd::Marker(mark), &marked),
                (PayloadEnd::Len(rdb.len() as u64), &sized),
            ] {
                let (payload, rest) = split(end, stream, step).expect("complete");
                assert!(payload == rdb, "{end:?} in pieces of {step}");
                // Whatever arrived after the payload, in the read that completed it, is kept.
                assert!(b"*1\r\n$4\r\nPING\r\n".starts_with(&rest), "{rest:?}");
            }
        }
        // A marker cut short, or a payload one byte short, is not complete.
        assert!(split(PayloadEnd::Marker(mark), &marked[..rdb.len() + 39], 7).is_none());
        assert!(split(PayloadEnd::Len(3001), &rdb, 64).is_none());
    }
}
