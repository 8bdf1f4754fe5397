//! Cluster mode, the node's side: starting the bus ([`ferrodis_gossip::driver`]), nodes.conf,
//! and routing every keyed command to the node that serves its slot (`MOVED`, `ASK`,
//! `CROSSSLOT`, `TRYAGAIN`, `CLUSTERDOWN`). The CLUSTER command itself is in
//! [`crate::cmd::cluster`].
//!
//! The bus runs on its own thread and owns the cluster state; the node sends it commands
//! through a channel and reads an immutable [`View`] from a `watch` (one pointer clone per
//! routed command). No lock is shared between them.

pub mod migrate_pool;
pub mod nodes_conf;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferrodis_gossip::driver::{self, Handle};
use ferrodis_gossip::{
    ClusterState, Command as BusCommand, CommandError, NodeId, Options, Reply, View,
};
use std::sync::atomic::Ordering::Relaxed;
use tracing::info;

use crate::cmd::{flags, Command};
use crate::config::Config;
use crate::db::{key_slot, ViewCtx};
use crate::dispatch::Client;
use crate::error::{self, CmdError};
use crate::server::{unix_ms, PausePurpose, Server, Settings};

/// How long a CLUSTER command waits for the bus.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The running cluster: the bus handle and where nodes.conf lives.
pub struct Cluster {
    pub handle: Handle,
    pub conf_path: PathBuf,
    pub bus_port: u16,
    writer: std::sync::mpsc::Sender<Write>,
    /// Bus events until [`Cluster::forward_events`] takes them.
    events:
        parking_lot::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<ferrodis_gossip::Event>>>,
}

impl Cluster {
    /// The latest snapshot.
    pub fn view(&self) -> Arc<View> {
        self.handle.view.borrow().clone()
    }

    /// Writes the latest configuration to nodes.conf and waits until it is on disk (at
    /// shutdown, CLUSTER SAVECONFIG).
    pub fn flush(&self) -> std::io::Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.writer
            .send(Write::Flush(self.view(), tx))
            .map_err(|_| std::io::Error::other("nodes.conf writer stopped"))?;
        match rx.recv_timeout(CALL_TIMEOUT) {
            Ok(r) => r.map_err(std::io::Error::other),
            Err(_) => Err(std::io::Error::other("nodes.conf writer not responding")),
        }
    }

    /// Propagates a PUBLISH to every node over the bus (for pub/sub in cluster mode; the
    /// receiving side arrives as `Event::Publish` in the task started by [`start`]).
    pub fn publish(&self, channel: &[u8], message: &[u8]) {
        self.handle.cast(BusCommand::Publish {
            channel: channel.to_vec(),
            message: message.to_vec(),
        });
    }

    /// Delivers bus events for the life of the server (called once the dataset is loaded):
    /// a PUBLISH from another node reaches the local subscribers, the replication link
    /// follows the primary the bus names, a manual failover pauses writes. Also reports the
    /// replication offset to the bus every tick. A node that restarted without data as a
    /// primary with replicas is guarded first (see [`View::empty_guard`]).
    pub fn forward_events(&self, server: std::sync::Arc<crate::server::Server>) {
        use ferrodis_gossip::Event;
        let Some(mut events) = self.events.lock().take() else {
            return;
        };
        if server.keyspace.counts().iter().all(|c| c.0 == 0) {
            self.handle.cast(BusCommand::GuardEmpty);
        }
        let s = server.clone();
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                match ev {
                    Event::Publish { channel, message } => {
                        crate::pubsub::publish(&s, &channel, &message);
                    }
                    Event::Follow(target) => follow(&s, target),
                    Event::PauseForFailover { until } => pause_for_failover(&s, until),
                    Event::EndPause => s.pause.resume(PausePurpose::Failover),
                    Event::SlotsLost(slots) => {
                        for slot in slots {
                            s.delete_slot_keys(slot);
                        }
                    }
                    other => tracing::debug!("cluster event: {other:?}"),
                }
            }
        });
        let handle = self.handle.clone();
        tokio::spawn(async move {
            let mut tick =
                tokio::time::interval(Duration::from_millis(ferrodis_gossip::state::TICK_MS));
            while !server.shutting_down.load(Relaxed) {
                tick.tick().await;
                handle.cast(repl_status(&server));
            }
        });
    }

    /// Runs a bus command, waiting for its answer.
    pub fn call(&self, cmd: BusCommand) -> Result<Reply, CmdError> {
        match self.handle.call(cmd, CALL_TIMEOUT) {
            Some(r) => r.map_err(|e| bus_error(&e, "")),
            None => Err(CmdError::raw("ERR cluster bus not responding")),
        }
    }

    /// Like [`Cluster::call`], naming `arg` (a node id or address) in the error text.
    pub fn call_about(&self, cmd: BusCommand, arg: &str) -> Result<Reply, CmdError> {
        match self.handle.call(cmd, CALL_TIMEOUT) {
            Some(r) => r.map_err(|e| bus_error(&e, arg)),
            None => Err(CmdError::raw("ERR cluster bus not responding")),
        }
    }
}

/// The replication offset and link state the bus ranks replicas with.
fn repl_status(server: &Server) -> BusCommand {
    let link_down_since = match server.repl.link.snapshot() {
        Some(l) if !l.up => l.down_since_ms.max(1),
        _ => 0,
    };
    BusCommand::ReplStatus {
        offset: server.repl.offset(),
        link_down_since,
    }
}

/// Points the replication link at the primary the bus names (None: serve as a primary).
fn follow(server: &Arc<Server>, target: Option<(String, u16)>) {
    let link = server.repl.link.snapshot();
    match target {
        Some((ip, port)) => {
            let same = link.is_some_and(|l| l.host == ip && l.port == port);
            if !same {
                crate::repl::link::replicaof(server, Some((ip, port)));
            }
        }
        None => {
            if server.repl.link.is_replica() {
                crate::repl::link::replicaof(server, None);
            }
        }
    }
}

/// Manual failover, primary side: writes wait (CLIENT PAUSE WRITE) until `until`; once the
/// writes already running are done (every shard locked once), the offset is final and the
/// bus tells the replica.
fn pause_for_failover(server: &Arc<Server>, until: u64) {
    server
        .pause
        .pause(PausePurpose::Failover, until, true, unix_ms());
    let s = server.clone();
    tokio::task::spawn_blocking(move || {
        drop(crate::persist::lock_everything(&s, unix_ms()));
        let offset = s.repl.offset();
        if let Some(c) = s.cluster.get() {
            c.handle.cast(BusCommand::PausedOffset(offset));
        }
    });
}

/// Redis's text for a refused bus command.
fn bus_error(e: &CommandError, arg: &str) -> CmdError {
    error::cluster_bus(e, arg)
}

pub use ferrodis_gossip::driver::Transport;

/// The port the cluster announces and derives the bus port from: the TLS port with
/// `tls-cluster yes` (as Redis does), else the plain one.
pub fn port_base(config: &Config, port: u16, tls_port: u16) -> u16 {
    if tls_cluster(config) {
        tls_port
    } else {
        port
    }
}

fn tls_cluster(config: &Config) -> bool {
    config.get_str("tls-cluster").as_deref() == Some("yes")
}

/// The bus port: `cluster-port`, or the client port + 10000.
pub fn bus_port(config: &Config, port: u16) -> u16 {
    match config.cluster_port() {
        0 => port.saturating_add(10000),
        p => p,
    }
}

/// The state machine's options from the configuration.
pub fn options(config: &Config, port: u16) -> Options {
    let ip = config.cluster_announce_ip();
    // With tls-cluster the announced client port is the TLS one (cluster-announce-tls-port).
    let announce = if tls_cluster(config) {
        config
            .get_str("cluster-announce-tls-port")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    } else {
        config.cluster_announce_port()
    };
    let announced_port = match announce {
        0 => port,
        p => p,
    };
    let announced_cport = match config.cluster_announce_bus_port() {
        0 => bus_port(config, port),
        p => p,
    };
    Options {
        node_timeout: config.cluster_node_timeout(),
        require_full_coverage: config.cluster_require_full_coverage(),
        announce_ip: (!ip.is_empty()).then(|| ip.to_string()),
        port: announced_port,
        cport: announced_cport,
        hostname: config.cluster_announce_hostname().to_string(),
        replica_validity_factor: int(config, "cluster-replica-validity-factor", 10),
        replica_no_failover: config.get_str("cluster-replica-no-failover").as_deref()
            == Some("yes"),
        migration_barrier: int(config, "cluster-migration-barrier", 1),
        allow_replica_migration: config.get_str("cluster-allow-replica-migration").as_deref()
            != Some("no"),
        repl_ping_period_ms: int(config, "repl-ping-replica-period", 10) * 1000,
    }
}

fn int(config: &Config, name: &str, default: u64) -> u64 {
    config
        .get_str(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Loads (or creates) nodes.conf and starts the bus. Called once at startup.
pub fn start(
    config: &Config,
    port: u16,
    transport: Option<Arc<dyn Transport>>,
) -> anyhow::Result<Cluster> {
    use anyhow::Context;
    if config.cluster_port() == 0 && port > 55535 {
        anyhow::bail!("Redis port number too high. Cluster communication port is 10,000 port numbers higher than your Redis port. Your Redis port number must be 55535 or less.");
    }
    let conf_path = PathBuf::from(config.cluster_config_file());
    let opts = options(config, port);
    let now = unix_ms();
    let seed: u64 = rand::random();
    let state = match std::fs::read_to_string(&conf_path) {
        Ok(text) if !text.trim().is_empty() => {
            let saved = nodes_conf::parse(&text).map_err(anyhow::Error::msg)?;
            let st = ClusterState::restore(opts, saved, seed, now)
                .context("nodes.conf has no myself node")?;
            info!("Node configuration loaded, I'm {}", st.myself);
            st
        }
        _ => {
            let id = NodeId::random(&mut rand::thread_rng());
            info!("No cluster configuration found, I'm {id}");
            ClusterState::new(opts, id, seed, now)
        }
    };
    let bus = bus_port(config, port);
    // nodes.conf is written by its own thread, always the latest view (a burst of changes is
    // one write). The bus waits for the disk only when an epoch changed (fsync), where Redis
    // fsyncs too; other changes are written without fsync and without waiting.
    let writer = spawn_writer(conf_path.clone())?;
    let to_writer = writer.clone();
    let persist: driver::Persist = Box::new(move |view: &Arc<View>, fsync: bool| {
        let stopped = || std::io::Error::other("nodes.conf writer stopped");
        if !fsync {
            return to_writer
                .send(Write::View(view.clone()))
                .map_err(|_| stopped());
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        to_writer
            .send(Write::Flush(view.clone(), tx))
            .map_err(|_| stopped())?;
        match rx.recv_timeout(CALL_TIMEOUT) {
            Ok(r) => r.map_err(std::io::Error::other),
            Err(_) => Err(std::io::Error::other("nodes.conf writer not responding")),
        }
    });
    let bind = config.bind();
    let (handle, events) = driver::spawn_with(state, &bind, bus, persist, transport)
        .with_context(|| format!("Could not bind the cluster bus port {bus}"))?;
    let cluster = Cluster {
        handle,
        conf_path,
        bus_port: bus,
        writer,
        events: parking_lot::Mutex::new(Some(events)),
    };
    // Save at once, as Redis does, so the id survives a restart.
    cluster.flush().with_context(|| {
        format!(
            "Could not create the cluster config file {}",
            cluster.conf_path.display()
        )
    })?;
    Ok(cluster)
}

/// What the nodes.conf writer thread is asked to do.
enum Write {
    /// Write this view (no fsync).
    View(Arc<View>),
    /// Write this view with fsync and answer when it is on disk.
    Flush(Arc<View>, std::sync::mpsc::SyncSender<Result<(), String>>),
}

fn spawn_writer(path: PathBuf) -> anyhow::Result<std::sync::mpsc::Sender<Write>> {
    let (tx, rx) = std::sync::mpsc::channel::<Write>();
    std::thread::Builder::new()
        .name("nodes-conf".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut latest = first;
                // Coalesce: only the newest view matters (a flush waiting to be answered
                // takes the newer view with it).
                while let Ok(next) = rx.try_recv() {
                    latest = match (latest, next) {
                        (Write::Flush(_, done), Write::View(v)) => Write::Flush(v, done),
                        (older, next) => {
                            if matches!(older, Write::Flush(..)) {
                                save(&path, &older);
                            }
                            next
                        }
                    };
                }
                save(&path, &latest);
            }
        })?;
    Ok(tx)
}

fn save(path: &std::path::Path, w: &Write) {
    let (view, done) = match w {
        Write::View(v) => (v, None),
        Write::Flush(v, done) => (v, Some(done)),
    };
    let r = nodes_conf::write_atomic(path, &nodes_conf::render_file(view), done.is_some());
    match done {
        Some(done) => {
            let _ = done.try_send(r.map_err(|e| e.to_string()));
        }
        None => {
            if let Err(e) = r {
                tracing::warn!("Could not save the cluster configuration: {e}");
            }
        }
    }
}

/// Pushes configuration changes (CONFIG SET of cluster-*) to the bus.
pub fn config_changed(server: &Server) {
    if let Some(c) = server.cluster.get() {
        let port = server.tcp_port.load(std::sync::atomic::Ordering::Relaxed) as u16;
        let tls_port = server.tls_port.load(std::sync::atomic::Ordering::Relaxed) as u16;
        let cfg = server.config.read();
        let opts = options(&cfg, port_base(&cfg, port, tls_port));
        c.handle.cast(BusCommand::SetOptions(opts));
    }
}

/// Decides whether this node may run `cmd` (Redis `getNodeByQuery`); Some(error) is the
/// redirection or refusal to send instead.
pub fn route(
    server: &Server,
    settings: &Settings,
    client: &Client,
    cmd: &Command,
    args: &[Bytes],
) -> Option<CmdError> {
    route_with(server, settings, client, cmd, args, None)
}

/// [`route`] for a command a script calls: the keys of a migrating or importing slot are
/// looked up through the script's own view, which may hold their shard already (locking it
/// again would wait forever).
pub fn route_in_script(
    server: &Server,
    settings: &Settings,
    client: &Client,
    cmd: &Command,
    args: &[Bytes],
    db: &mut crate::db::Db<'_>,
) -> Option<CmdError> {
    route_with(server, settings, client, cmd, args, Some(db))
}

fn route_with(
    server: &Server,
    settings: &Settings,
    client: &Client,
    cmd: &Command,
    args: &[Bytes],
    script_view: Option<&mut crate::db::Db<'_>>,
) -> Option<CmdError> {
    let cluster = server.cluster.get()?;
    if cmd.key_specs.is_empty() {
        return None;
    }
    route_keys(server, settings, client, cmd, args, cluster, script_view)
}

/// EXEC in cluster mode: the keys of every queued command must hash to one slot served here
/// (Redis skips redirection while queueing and checks the whole transaction at EXEC).
pub fn route_exec(server: &Server, settings: &Settings, client: &Client) -> Option<CmdError> {
    /// Stands for the transaction: every argument after the name is a key.
    static EXEC_KEYS: Command = Command {
        name: "exec",
        key_specs: &[crate::cmd::KeySpec::range(1, -1, 1, crate::cmd::kflags::RW)],
        ..Command::DEFAULT
    };
    let cluster = server.cluster.get()?;
    let m = client.multi.as_ref()?;
    let mut args: Vec<Bytes> = vec![Bytes::from_static(b"exec")];
    let mut idx = Vec::new();
    for q in &m.queued {
        if q.parent.is_some() || !q.cmd.subcommands.is_empty() || q.cmd.key_specs.is_empty() {
            continue;
        }
        q.cmd.key_indices(&q.args, &mut idx);
        args.extend(idx.iter().map(|&i| q.args[i].clone()));
    }
    if args.len() == 1 {
        return None;
    }
    route_keys(server, settings, client, &EXEC_KEYS, &args, cluster, None)
}

fn route_keys(
    server: &Server,
    settings: &Settings,
    client: &Client,
    cmd: &Command,
    args: &[Bytes],
    cluster: &Cluster,
    script_view: Option<&mut crate::db::Db<'_>>,
) -> Option<CmdError> {
    let mut idx_buf = Vec::new();
    let single;
    let keys: &[usize] = match cmd.single_key(args.len()) {
        Some(i) => {
            single = [i];
            &single
        }
        None => {
            cmd.key_indices(args, &mut idx_buf);
            &idx_buf
        }
    };
    let first = *keys.first()?;
    let slot = key_slot(&args[first]);
    let mut multiple_keys = false;
    for &i in &keys[1..] {
        if key_slot(&args[i]) != slot {
            return Some(CmdError::raw(
                "CROSSSLOT Keys in request don't hash to the same slot",
            ));
        }
        if args[i] != args[first] {
            multiple_keys = true;
        }
    }
    let view = cluster.view();
    let routing = &view.routing;
    let Some(owner) = routing.owner(slot) else {
        return Some(CmdError::raw("CLUSTERDOWN Hash slot not served"));
    };
    let migrating = if owner.myself {
        routing.migrating.get(&slot)
    } else {
        None
    };
    let importing = routing.importing.get(&slot);
    let mut missing = 0;
    if migrating.is_some() || importing.is_some() {
        let count = |db: &mut crate::db::Db<'_>| {
            keys.iter()
                .filter(|&&i| db.peek(&args[i]).is_none())
                .count()
        };
        missing = match script_view {
            Some(db) => db.in_db(client.db, count),
            None => count(&mut server.keyspace.lock_slots(
                &[slot],
                ViewCtx {
                    db: client.db,
                    now: unix_ms(),
                    mode: settings.access,
                },
            )),
        };
    }
    let write = cmd.flags & flags::WRITE != 0;
    if !view.state_ok {
        if !settings.cluster_allow_reads_when_down {
            return Some(CmdError::raw("CLUSTERDOWN The cluster is down"));
        }
        if write {
            return Some(CmdError::raw(
                "CLUSTERDOWN The cluster is down and only accepts read commands",
            ));
        }
    }
    if (migrating.is_some() || importing.is_some()) && cmd.name == "migrate" {
        return None;
    }
    if let Some(target) = migrating {
        if missing > 0 {
            if multiple_keys {
                return Some(CmdError::raw(
                    "TRYAGAIN Multiple keys request during rehashing of slot",
                ));
            }
            return Some(CmdError::Msg(
                format!("ASK {slot} {}:{}", target.ip, target.port).into(),
            ));
        }
    }
    if importing.is_some() && (client.asking || cmd.flags & flags::ASKING != 0) {
        if multiple_keys && missing > 0 {
            return Some(CmdError::raw(
                "TRYAGAIN Multiple keys request during rehashing of slot",
            ));
        }
        return None;
    }
    if owner.myself && view.empty_guard {
        return Some(CmdError::raw("CLUSTERDOWN The cluster is down"));
    }
    if !owner.myself {
        let me = view.me();
        // READONLY on a replica of the owner serves reads.
        if client.readonly && !write && me.primary == Some(owner.id) {
            return None;
        }
        return Some(CmdError::Msg(
            format!("MOVED {slot} {}:{}", owner.ip, owner.port).into(),
        ));
    }
    None
}
