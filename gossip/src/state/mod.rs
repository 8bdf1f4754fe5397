//! The cluster bus as a pure state machine, in Redis's vocabulary (`cluster_legacy.c`):
//! [`ClusterState::on_tick`], [`ClusterState::on_message`] and [`ClusterState::on_command`]
//! take the time as an argument and return [`Effect`]s. No sockets, clocks or OS randomness.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use tracing::{info, warn};

mod failover;

pub use failover::FailoverKind;

use crate::msg::{mflags, Body, GossipEntry, Message};
use crate::types::{nflags, NodeId, SlotSet, SLOTS};
use crate::view::{NodeView, Routing, Target, View};

/// How long a FORGET keeps a node from being re-added by gossip (ms).
pub const FORGET_BLACKLIST_MS: u64 = 60_000;
/// A FAIL on a primary with slots is undone after node_timeout times this (ms).
pub const FAIL_UNDO_TIME_MULT: u64 = 2;
/// Fail reports older than node_timeout times this are ignored.
pub const FAIL_REPORT_VALIDITY_MULT: u64 = 2;
/// Cron period the driver and simulator use (ms).
pub const TICK_MS: u64 = 100;

/// Settings the state machine reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub node_timeout: u64,
    pub require_full_coverage: bool,
    /// `cluster-announce-ip`; None: learnt from the first MEET.
    pub announce_ip: Option<String>,
    /// Client port announced (`cluster-announce-port` or `port`).
    pub port: u16,
    /// Bus port announced (`cluster-announce-bus-port` or the bus port).
    pub cport: u16,
    pub hostname: String,
    /// `cluster-replica-validity-factor` (0: a replica may always fail over).
    pub replica_validity_factor: u64,
    /// `cluster-replica-no-failover`.
    pub replica_no_failover: bool,
    /// `cluster-migration-barrier`.
    pub migration_barrier: u64,
    /// `cluster-allow-replica-migration`.
    pub allow_replica_migration: bool,
    /// `repl-ping-replica-period` in ms (part of the validity window).
    pub repl_ping_period_ms: u64,
}

impl Options {
    /// Redis's defaults for everything but the addresses.
    pub fn new(node_timeout: u64, port: u16, cport: u16) -> Options {
        Options {
            node_timeout,
            require_full_coverage: true,
            announce_ip: None,
            port,
            cport,
            hostname: String::new(),
            replica_validity_factor: 10,
            replica_no_failover: false,
            migration_barrier: 1,
            allow_replica_migration: true,
            repl_ping_period_ms: 10_000,
        }
    }
}

/// Where to send a message: a node's bus address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Addr {
    pub ip: String,
    pub cport: u16,
}

/// What the inbound link a message came on tells about it.
#[derive(Debug, Clone)]
pub struct LinkInfo {
    /// The peer's address as seen on the socket.
    pub peer_ip: String,
    /// Our own address on that socket (how we learn our ip on MEET).
    pub local_ip: Option<String>,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Send {
        to: Addr,
        msg: Message,
    },
    /// Write nodes.conf (the driver passes the new [`View`] to the node's writer). `fsync`:
    /// an epoch changed (current, last vote or myself's config epoch) or CLUSTER RESET ran,
    /// so the file must be on disk before the command is answered or a message sent, as Redis
    /// fsyncs exactly then (`CLUSTER_TODO_FSYNC_CONFIG`); other changes are written without
    /// waiting for the disk.
    SaveConfig {
        fsync: bool,
    },
    Event(Event),
}

/// Things the node may react to.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    StateChanged {
        ok: bool,
    },
    NodeFailed(NodeId),
    Publish {
        channel: Vec<u8>,
        message: Vec<u8>,
    },
    /// Replicate from this primary's client address (`Some((ip, port))`), or serve as a
    /// primary (`None`): CLUSTER REPLICATE, a failover won or lost, a restart as a replica.
    Follow(Option<(String, u16)>),
    /// Manual failover, primary side: pause writes until this unix ms, then report the
    /// replication offset with [`Command::PausedOffset`].
    PauseForFailover {
        until: u64,
    },
    /// The manual failover ended (done or timed out): writes may go on.
    EndPause,
    /// Slots this primary owned were taken over by a primary with a newer config epoch,
    /// and this node stays a primary: the keys it still holds in them are stale and must go
    /// (Redis's dirty slots, emptied with `delKeysInSlot`).
    SlotsLost(Vec<u16>),
}

/// `CLUSTER SETSLOT <slot> ...` actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetSlot {
    Migrating(NodeId),
    Importing(NodeId),
    Stable,
    Node(NodeId),
}

/// Commands from the node (CLUSTER subcommands that change the bus state).
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Meet {
        ip: String,
        port: u16,
        cport: u16,
    },
    Forget(NodeId),
    AddSlots(Vec<u16>),
    DelSlots(Vec<u16>),
    FlushSlots,
    SetSlot {
        slot: u16,
        action: SetSlot,
    },
    SetConfigEpoch(u64),
    BumpEpoch,
    Reset {
        hard: bool,
    },
    CountFailureReports(NodeId),
    Publish {
        channel: Vec<u8>,
        message: Vec<u8>,
    },
    SaveConfig,
    SetOptions(Options),
    /// CLUSTER REPLICATE: follow this primary (the node checked that it holds no keys).
    Replicate(NodeId),
    /// CLUSTER FAILOVER [FORCE|TAKEOVER].
    Failover(FailoverKind),
    /// The node's replication offset and since when (unix ms) its link to its primary has
    /// been down (0: up, or a primary); sent every tick.
    ReplStatus {
        offset: u64,
        link_down_since: u64,
    },
    /// Manual failover, primary side: writes are paused and this is the final offset.
    PausedOffset(u64),
    /// The node loaded no data: a primary with replicas holds back its slots (see
    /// [`ClusterState::guard_empty`]).
    GuardEmpty,
}

/// Successful command answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Ok,
    /// BUMPEPOCH: bumped?, the config epoch.
    Bumped(bool, u64),
    Count(usize),
}

/// Why a command was refused (the node turns these into Redis's texts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("slot {0} is already busy")]
    SlotBusy(u16),
    #[error("slot {0} is already unassigned")]
    SlotUnassigned(u16),
    #[error("unknown node")]
    UnknownNode,
    #[error("can't forget myself")]
    ForgetMyself,
    #[error("can't forget my primary")]
    ForgetMyPrimary,
    #[error("not the owner of slot {0}")]
    NotOwner(u16),
    #[error("already the owner of slot {0}")]
    AlreadyOwner(u16),
    #[error("target node is not a primary")]
    TargetNotPrimary,
    #[error("SETSLOT on a replica")]
    SetSlotOnReplica,
    #[error("config epoch already non-zero")]
    EpochNonZero,
    #[error("the node knows other nodes")]
    EpochKnowsOthers,
    #[error("invalid node address")]
    InvalidAddress,
    #[error("can't replicate myself")]
    ReplicateMyself,
    #[error("can only replicate a primary")]
    ReplicateReplica,
    #[error("a primary with slots can't become a replica")]
    ReplicateNotEmpty,
    #[error("CLUSTER FAILOVER on a primary")]
    FailoverOnPrimary,
    #[error("my primary is unknown")]
    PrimaryUnknown,
    #[error("my primary is down")]
    PrimaryDown,
}

/// A node as we know it (Redis's `clusterNode`).
#[derive(Debug, Clone)]
pub struct Node {
    pub id: NodeId,
    pub flags: u16,
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    pub hostname: String,
    pub primary: Option<NodeId>,
    pub config_epoch: u64,
    pub slots: SlotSet,
    /// Cached `slots.ranges()`.
    pub slot_ranges: Vec<(u16, u16)>,
    /// First unanswered PING (unix ms), 0 if none pending.
    pub ping_sent: u64,
    /// Last PING sent, for resending while one is pending.
    pub ping_out: u64,
    pub pong_received: u64,
    pub data_received: u64,
    pub fail_time: u64,
    pub ctime: u64,
    /// Primaries that reported this node PFAIL or FAIL, and when.
    pub fail_reports: Vec<(NodeId, u64)>,
    /// The replication offset its last message carried.
    pub repl_offset: u64,
    /// When we last voted for one of its replicas (it is a primary).
    pub voted_time: u64,
    /// It announced that it restarted without data and does not serve (mflags EMPTY).
    pub empty: bool,
    /// Since when it is a primary with slots and no working replica (0: it has one).
    pub orphaned_time: u64,
}

impl Node {
    fn new(id: NodeId, flags: u16, ip: String, port: u16, cport: u16, now: u64) -> Node {
        Node {
            id,
            flags,
            ip,
            port,
            cport,
            hostname: String::new(),
            primary: None,
            config_epoch: 0,
            slots: SlotSet::default(),
            slot_ranges: Vec::new(),
            ping_sent: 0,
            ping_out: 0,
            pong_received: 0,
            data_received: 0,
            fail_time: 0,
            ctime: now,
            fail_reports: Vec::new(),
            repl_offset: 0,
            voted_time: 0,
            empty: false,
            orphaned_time: 0,
        }
    }

    fn has(&self, f: u16) -> bool {
        self.flags & f != 0
    }

    fn addr(&self) -> Addr {
        Addr {
            ip: self.ip.clone(),
            cport: self.cport,
        }
    }

    fn is_primary(&self) -> bool {
        self.has(nflags::MASTER)
    }

    /// A ping has waited more than half the node timeout and nothing else came from it
    /// (`connected` is false in CLUSTER NODES; Redis: the link is down).
    fn link_stale(&self, now: u64, timeout: u64) -> bool {
        self.ping_sent != 0
            && now.saturating_sub(self.ping_sent) > timeout / 2
            && now.saturating_sub(self.data_received) > timeout / 2
    }
}

/// One node of a saved configuration (nodes.conf), for [`ClusterState::restore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedNode {
    pub id: NodeId,
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    pub hostname: String,
    pub flags: u16,
    pub primary: Option<NodeId>,
    pub config_epoch: u64,
    pub slots: Vec<(u16, u16)>,
}

/// A saved configuration: what nodes.conf holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub nodes: Vec<SavedNode>,
    pub current_epoch: u64,
    pub last_vote_epoch: u64,
    pub migrating: Vec<(u16, NodeId)>,
    pub importing: Vec<(u16, NodeId)>,
}

/// The state machine.
pub struct ClusterState {
    pub myself: NodeId,
    pub current_epoch: u64,
    pub last_vote_epoch: u64,
    pub nodes: BTreeMap<NodeId, Node>,
    /// Owner of each slot.
    slots: Vec<Option<NodeId>>,
    pub migrating: BTreeMap<u16, NodeId>,
    pub importing: BTreeMap<u16, NodeId>,
    /// FORGET: id -> unix ms until which gossip about it is ignored.
    blacklist: BTreeMap<NodeId, u64>,
    pub state_ok: bool,
    opts: Options,
    rng: StdRng,
    stats_sent: [u64; 11],
    stats_received: [u64; 11],
    ticks: u64,
    effects: Vec<Effect>,
    save_needed: bool,
    /// (current_epoch, last_vote_epoch, myself's config_epoch) as last saved with fsync
    /// (all `u64::MAX`: fsync the next save whatever changed).
    durable_epochs: (u64, u64, u64),
    ranges_dirty: bool,
    routing: Option<Arc<Routing>>,
    /// This node's replication offset (see [`Command::ReplStatus`]).
    repl_offset: u64,
    /// Since when the link to our primary is down (0: up).
    link_down_since: u64,
    /// The automatic election in progress, if any (replica side).
    election: failover::Election,
    /// A manual failover in progress (both sides).
    manual: failover::Manual,
    /// Restarted empty as a primary with slots (since when): not serving until a replica
    /// with the data takes over or the operator says so (see [`ClusterState::guard_empty`]).
    empty_guard: Option<u64>,
    /// What keeps this replica from failing over, logged once per reason.
    cant_failover: Option<&'static str>,
}

impl ClusterState {
    /// A fresh node: a primary alone in its cluster.
    pub fn new(opts: Options, myself: NodeId, seed: u64, now: u64) -> ClusterState {
        let ip = opts.announce_ip.clone().unwrap_or_default();
        let mut me = Node::new(
            myself,
            nflags::MYSELF | nflags::MASTER,
            ip,
            opts.port,
            opts.cport,
            now,
        );
        me.hostname = opts.hostname.clone();
        let mut nodes = BTreeMap::new();
        nodes.insert(myself, me);
        ClusterState {
            myself,
            current_epoch: 0,
            last_vote_epoch: 0,
            nodes,
            slots: vec![None; SLOTS],
            migrating: BTreeMap::new(),
            importing: BTreeMap::new(),
            blacklist: BTreeMap::new(),
            state_ok: false,
            opts,
            rng: StdRng::seed_from_u64(seed),
            stats_sent: [0; 11],
            stats_received: [0; 11],
            ticks: 0,
            effects: Vec::new(),
            save_needed: false,
            durable_epochs: (0, 0, 0),
            ranges_dirty: false,
            routing: None,
            repl_offset: 0,
            link_down_since: 0,
            election: failover::Election::default(),
            manual: failover::Manual::default(),
            empty_guard: None,
            cant_failover: None,
        }
    }

    /// A node restarted from a saved configuration (its first node must be itself).
    pub fn restore(opts: Options, saved: Saved, seed: u64, now: u64) -> Option<ClusterState> {
        let me = saved.nodes.iter().find(|n| n.flags & nflags::MYSELF != 0)?;
        let mut st = ClusterState::new(opts, me.id, seed, now);
        st.current_epoch = saved.current_epoch;
        st.last_vote_epoch = saved.last_vote_epoch;
        for n in &saved.nodes {
            let mut node = Node::new(n.id, n.flags, n.ip.clone(), n.port, n.cport, now);
            node.hostname = n.hostname.clone();
            node.primary = n.primary;
            node.config_epoch = n.config_epoch;
            node.flags &= !(nflags::PFAIL);
            if n.id == st.myself {
                node.flags |= nflags::MYSELF;
                node.port = st.opts.port;
                node.cport = st.opts.cport;
                node.hostname = st.opts.hostname.clone();
                if let Some(ip) = &st.opts.announce_ip {
                    node.ip = ip.clone();
                }
            } else {
                node.flags &= !nflags::MYSELF;
                // Redis starts with a pending ping so a dead node is detected.
                node.pong_received = 0;
            }
            st.nodes.insert(n.id, node);
            for &(a, b) in &n.slots {
                for s in a..=b.min(SLOTS as u16 - 1) {
                    st.assign(s, Some(n.id));
                }
            }
        }
        st.refresh_ranges();
        st.migrating = saved.migrating.into_iter().collect();
        st.importing = saved.importing.into_iter().collect();
        st.update_state(now);
        if let Some(p) = st.me().primary {
            st.emit_follow(Some(p));
        }
        // What was loaded is on disk already.
        st.durable_epochs = (st.current_epoch, st.last_vote_epoch, st.me().config_epoch);
        Some(st)
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    fn me(&self) -> &Node {
        &self.nodes[&self.myself]
    }

    fn me_mut(&mut self) -> &mut Node {
        self.nodes
            .get_mut(&self.myself)
            .expect("myself is always in the node table")
    }

    /// The owner of a slot.
    pub fn slot_owner(&self, slot: u16) -> Option<NodeId> {
        self.slots.get(slot as usize).copied().flatten()
    }

    /// Gives `slot` to `owner` (None: unassigns), keeping every node's slot set in step.
    fn assign(&mut self, slot: u16, owner: Option<NodeId>) {
        let i = slot as usize;
        if self.slots[i] == owner {
            return;
        }
        if let Some(old) = self.slots[i] {
            if let Some(n) = self.nodes.get_mut(&old) {
                n.slots.remove(slot);
            }
        }
        if let Some(new) = owner {
            if let Some(n) = self.nodes.get_mut(&new) {
                n.slots.insert(slot);
            }
        }
        self.slots[i] = owner;
        self.routing = None;
        self.ranges_dirty = true;
        self.save_needed = true;
    }

    /// Recomputes the cached ranges of every node whose set changed (after bulk assigns).
    fn refresh_ranges(&mut self) {
        if !self.ranges_dirty {
            return;
        }
        self.ranges_dirty = false;
        for n in self.nodes.values_mut() {
            let r = n.slots.ranges();
            if r != n.slot_ranges {
                n.slot_ranges = r;
            }
        }
    }

    fn take_effects(&mut self) -> Vec<Effect> {
        if self.save_needed {
            self.save_needed = false;
            let epochs = (
                self.current_epoch,
                self.last_vote_epoch,
                self.me().config_epoch,
            );
            let fsync = epochs != self.durable_epochs;
            self.durable_epochs = epochs;
            self.effects.push(Effect::SaveConfig { fsync });
        }
        std::mem::take(&mut self.effects)
    }

    // ----- messages out -----

    fn header(&self, body: Body) -> Message {
        let me = self.me();
        let (config_epoch, slots) = match me.primary.and_then(|p| self.nodes.get(&p)) {
            Some(p) => (p.config_epoch, p.slot_ranges.clone()),
            None => (me.config_epoch, me.slot_ranges.clone()),
        };
        Message {
            sender: self.myself,
            current_epoch: self.current_epoch,
            config_epoch,
            flags: me.flags & (nflags::MASTER | nflags::SLAVE | nflags::NOFAILOVER),
            primary: me.primary,
            slots,
            ip: self.opts.announce_ip.clone(),
            port: self.opts.port,
            cport: self.opts.cport,
            hostname: self.opts.hostname.clone(),
            repl_offset: self.header_offset(),
            mflags: self.header_mflags(),
            body,
        }
    }

    fn send(&mut self, to: Addr, body: Body) {
        self.refresh_ranges();
        self.stats_sent[body.type_index()] += 1;
        let msg = self.header(body);
        self.effects.push(Effect::Send { to, msg });
    }

    /// The gossip section: a few random nodes plus every node we think is PFAIL.
    fn gossip_section(&mut self, now: u64) -> Vec<GossipEntry> {
        let candidates: Vec<NodeId> = self
            .nodes
            .values()
            .filter(|n| {
                n.id != self.myself && !n.has(nflags::HANDSHAKE | nflags::NOADDR | nflags::PFAIL)
            })
            .map(|n| n.id)
            .collect();
        let wanted = (self.nodes.len() / 10).max(3).min(candidates.len());
        let mut chosen: Vec<NodeId> = candidates
            .choose_multiple(&mut self.rng, wanted)
            .copied()
            .collect();
        chosen.extend(
            self.nodes
                .values()
                .filter(|n| n.has(nflags::PFAIL) && !n.has(nflags::HANDSHAKE | nflags::NOADDR))
                .map(|n| n.id),
        );
        let _ = now;
        chosen
            .iter()
            .filter_map(|id| self.nodes.get(id))
            .map(|n| GossipEntry {
                id: n.id,
                ip: n.ip.clone(),
                port: n.port,
                cport: n.cport,
                flags: n.flags & !nflags::MYSELF,
                ping_sent: n.ping_sent,
                pong_received: n.pong_received,
            })
            .collect()
    }

    fn send_ping(&mut self, now: u64, id: NodeId, kind: u8) {
        let gossip = self.gossip_section(now);
        let Some(n) = self.nodes.get_mut(&id) else {
            return;
        };
        if n.ping_sent == 0 {
            n.ping_sent = now;
        }
        n.ping_out = now;
        let to = n.addr();
        let body = match kind {
            b'M' => Body::Meet(gossip),
            b'P' => Body::Ping(gossip),
            _ => Body::Pong(gossip),
        };
        self.send(to, body);
    }

    fn broadcast(&mut self, body: Body) {
        let targets: Vec<Addr> = self
            .nodes
            .values()
            .filter(|n| n.id != self.myself && !n.has(nflags::HANDSHAKE | nflags::NOADDR))
            .map(|n| n.addr())
            .collect();
        for to in targets {
            self.send(to, body.clone());
        }
    }

    // ----- time -----

    /// The cron (every [`TICK_MS`]): handshakes, pings, PFAIL detection, cluster state.
    pub fn on_tick(&mut self, now: u64) -> Vec<Effect> {
        self.ticks += 1;
        let timeout = self.opts.node_timeout.max(1);
        let handshake_timeout = timeout.max(1000);
        self.blacklist.retain(|_, until| *until > now);

        // Handshake nodes: retry, or give up.
        let handshakes: Vec<(NodeId, u64, u16, u64)> = self
            .nodes
            .values()
            .filter(|n| n.has(nflags::HANDSHAKE))
            .map(|n| (n.id, n.ctime, n.flags, n.ping_out))
            .collect();
        for (id, ctime, flags, ping_out) in handshakes {
            if now.saturating_sub(ctime) > handshake_timeout {
                self.nodes.remove(&id);
                continue;
            }
            if ping_out == 0 || now.saturating_sub(ping_out) >= (handshake_timeout / 4).max(TICK_MS)
            {
                let kind = if flags & nflags::MEET != 0 {
                    b'M'
                } else {
                    b'P'
                };
                self.send_ping(now, id, kind);
            }
        }

        // Once a second, ping the node with the oldest PONG among a few random ones.
        if self.ticks.is_multiple_of(10) {
            let idle: Vec<(NodeId, u64)> = self
                .nodes
                .values()
                .filter(|n| {
                    n.id != self.myself
                        && n.ping_sent == 0
                        && !n.has(nflags::HANDSHAKE | nflags::NOADDR)
                })
                .map(|n| (n.id, n.pong_received))
                .collect();
            if let Some((id, _)) = idle
                .choose_multiple(&mut self.rng, 5)
                .min_by_key(|(_, pong)| *pong)
                .copied()
            {
                self.send_ping(now, id, b'P');
            }
        }

        let others: Vec<NodeId> = self
            .nodes
            .values()
            .filter(|n| n.id != self.myself && !n.has(nflags::HANDSHAKE | nflags::NOADDR))
            .map(|n| n.id)
            .collect();
        // Every node is pinged at least this often (Redis: half the node timeout). In a small
        // cluster a tighter bound (a quarter of the timeout, at most a second) costs a few
        // messages a second and finds a dead node sooner: PFAIL comes node_timeout after the
        // first unanswered ping.
        let ping_every =
            (timeout / 2).min((self.nodes.len() as u64 * 10).max((timeout / 4).min(1000)));
        let mut new_pfail = false;
        for id in others {
            let n = &self.nodes[&id];
            let (ping_sent, ping_out, pong, data, flags) = (
                n.ping_sent,
                n.ping_out,
                n.pong_received,
                n.data_received,
                n.flags,
            );
            if ping_sent == 0 && now.saturating_sub(pong) > ping_every {
                self.send_ping(now, id, b'P');
            } else if ping_sent != 0 && now.saturating_sub(ping_out) > timeout / 2 {
                // A ping or its pong may have been lost with the link: ask again, keeping
                // the time of the first unanswered ping.
                self.send_ping(now, id, b'P');
            }
            if ping_sent != 0 {
                let delay = now.saturating_sub(ping_sent).min(now.saturating_sub(data));
                if delay > timeout && flags & (nflags::PFAIL | nflags::FAIL) == 0 {
                    if let Some(n) = self.nodes.get_mut(&id) {
                        n.flags |= nflags::PFAIL;
                    }
                    tracing::debug!("*** NODE {id} possibly failing");
                    self.mark_failing_if_needed(now, id);
                    new_pfail = true;
                }
            }
        }
        if new_pfail {
            // Spread the news at once (the gossip section carries every PFAIL node), so
            // the primaries reach the FAIL quorum without waiting for the next ping round.
            let healthy: Vec<NodeId> = self
                .nodes
                .values()
                .filter(|n| {
                    n.id != self.myself
                        && !n.has(nflags::HANDSHAKE | nflags::NOADDR | nflags::PFAIL | nflags::FAIL)
                })
                .map(|n| n.id)
                .collect();
            for id in healthy {
                self.send_ping(now, id, b'P');
            }
        }
        self.failover_cron(now);
        self.update_state(now);
        self.take_effects()
    }

    // ----- failure detection -----

    fn add_fail_report(&mut self, now: u64, failing: NodeId, reporter: NodeId) {
        if let Some(n) = self.nodes.get_mut(&failing) {
            match n.fail_reports.iter_mut().find(|(r, _)| *r == reporter) {
                Some(r) => r.1 = now,
                None => n.fail_reports.push((reporter, now)),
            }
        }
    }

    fn clean_fail_reports(&mut self, now: u64, id: NodeId) -> usize {
        let max_age = self.opts.node_timeout * FAIL_REPORT_VALIDITY_MULT;
        let Some(n) = self.nodes.get_mut(&id) else {
            return 0;
        };
        n.fail_reports
            .retain(|(_, t)| now.saturating_sub(*t) <= max_age);
        n.fail_reports.len()
    }

    /// Primaries serving slots: the voters.
    fn cluster_size(&self) -> usize {
        self.nodes
            .values()
            .filter(|n| n.is_primary() && !n.slots.is_empty())
            .count()
    }

    /// PFAIL -> FAIL once a majority of primaries agree (Redis `markNodeAsFailingIfNeeded`).
    fn mark_failing_if_needed(&mut self, now: u64, id: NodeId) {
        let quorum = self.cluster_size() / 2 + 1;
        let Some(n) = self.nodes.get(&id) else {
            return;
        };
        if !n.has(nflags::PFAIL) || n.has(nflags::FAIL) {
            return;
        }
        let mut failures = self.clean_fail_reports(now, id);
        if self.me().is_primary() {
            failures += 1;
        }
        if failures < quorum {
            return;
        }
        info!("Marking node {id} as failing (quorum reached).");
        if let Some(n) = self.nodes.get_mut(&id) {
            n.flags &= !nflags::PFAIL;
            n.flags |= nflags::FAIL;
            n.fail_time = now;
        }
        self.effects.push(Effect::Event(Event::NodeFailed(id)));
        self.broadcast(Body::Fail(id));
        self.save_needed = true;
    }

    /// A FAIL node we hear from again (Redis `clearNodeFailureIfNeeded`).
    fn clear_failure_if_needed(&mut self, now: u64, id: NodeId) {
        let undo = self.opts.node_timeout * FAIL_UNDO_TIME_MULT;
        let Some(n) = self.nodes.get_mut(&id) else {
            return;
        };
        if !n.has(nflags::FAIL) {
            return;
        }
        if !n.is_primary() || n.slots.is_empty() {
            info!("Clear FAIL state for node {id}: replica is reachable again.");
            n.flags &= !nflags::FAIL;
            self.save_needed = true;
        } else if now.saturating_sub(n.fail_time) > undo {
            info!("Clear FAIL state for node {id}: is reachable again and nobody is serving its slots after some time.");
            n.flags &= !nflags::FAIL;
            self.save_needed = true;
        }
    }

    /// Recomputes `cluster_state` (Redis `clusterUpdateState`).
    fn update_state(&mut self, _now: u64) {
        let mut ok = true;
        if self.opts.require_full_coverage {
            // Slots are owned by one node each: full coverage = the non-failed owners' slot
            // counts add up to every slot.
            let served: usize = self
                .nodes
                .values()
                .filter(|n| !n.has(nflags::FAIL))
                .map(|n| n.slots.len())
                .sum();
            ok = served == SLOTS;
        }
        let size = self.cluster_size();
        let reachable = self
            .nodes
            .values()
            .filter(|n| {
                n.is_primary() && !n.slots.is_empty() && !n.has(nflags::FAIL | nflags::PFAIL)
            })
            .count();
        if reachable < size / 2 + 1 {
            ok = false;
        }
        if ok != self.state_ok {
            self.state_ok = ok;
            warn!("Cluster state changed: {}", if ok { "ok" } else { "fail" });
            self.effects.push(Effect::Event(Event::StateChanged { ok }));
        }
    }

    // ----- messages in -----

    /// Handles one message (Redis `clusterProcessPacket`).
    pub fn on_message(&mut self, now: u64, link: &LinkInfo, msg: Message) -> Vec<Effect> {
        self.stats_received[msg.body.type_index()] += 1;
        self.refresh_ranges();
        let sender_ip = msg.ip.clone().unwrap_or_else(|| link.peer_ip.clone());
        let known = self
            .nodes
            .get(&msg.sender)
            .is_some_and(|n| !n.has(nflags::HANDSHAKE))
            && msg.sender != self.myself;
        if msg.sender == self.myself {
            return self.take_effects();
        }
        match &msg.body {
            Body::Ping(_) | Body::Meet(_) => {
                let is_meet = matches!(msg.body, Body::Meet(_));
                if (is_meet || self.me().ip.is_empty()) && self.opts.announce_ip.is_none() {
                    if let Some(local) = &link.local_ip {
                        if &self.me().ip != local {
                            self.me_mut().ip = local.clone();
                            warn!("IP address for this node updated to {local}");
                            self.routing = None;
                            self.save_needed = true;
                        }
                    }
                }
                if !known && is_meet {
                    self.start_handshake(now, &sender_ip, msg.port, msg.cport, false);
                    if let Body::Meet(g) = &msg.body {
                        self.process_gossip(now, None, g);
                    }
                }
                // Anyway reply with a PONG.
                let to = Addr {
                    ip: sender_ip.clone(),
                    cport: msg.cport,
                };
                let gossip = self.gossip_section(now);
                self.send(to, Body::Pong(gossip));
            }
            Body::Pong(_) => {
                // A handshake node at this address: the PONG tells us its real id.
                let hs = self
                    .nodes
                    .values()
                    .find(|n| n.has(nflags::HANDSHAKE) && n.ip == sender_ip && n.cport == msg.cport)
                    .map(|n| n.id);
                if let Some(hs) = hs {
                    self.nodes.remove(&hs);
                    if !known {
                        if self.blacklist.contains_key(&msg.sender) {
                            return self.take_effects();
                        }
                        let mut n = Node::new(
                            msg.sender,
                            nflags::MASTER,
                            sender_ip.clone(),
                            msg.port,
                            msg.cport,
                            now,
                        );
                        n.hostname = msg.hostname.clone();
                        self.nodes.insert(msg.sender, n);
                        info!("Handshake with node {} completed.", msg.sender);
                        self.save_needed = true;
                        self.routing = None;
                    }
                }
            }
            _ => {}
        }
        let known = self
            .nodes
            .get(&msg.sender)
            .is_some_and(|n| !n.has(nflags::HANDSHAKE));
        if !known {
            return self.take_effects();
        }
        let sender = msg.sender;
        {
            let n = self.nodes.get_mut(&sender).expect("known");
            n.data_received = now;
            n.repl_offset = msg.repl_offset;
            n.flags = (n.flags & !nflags::NOFAILOVER) | (msg.flags & nflags::NOFAILOVER);
            n.empty = msg.primary.is_none() && msg.mflags & mflags::EMPTY != 0;
            if msg.primary.is_none() && msg.config_epoch > n.config_epoch {
                n.config_epoch = msg.config_epoch;
                self.save_needed = true;
            }
        }
        if msg.mflags & mflags::PAUSED != 0 && self.me().primary == Some(sender) {
            self.primary_paused(now, msg.repl_offset);
        }
        if msg.current_epoch > self.current_epoch {
            self.current_epoch = msg.current_epoch;
            self.save_needed = true;
        }
        match &msg.body {
            Body::Ping(g) | Body::Pong(g) | Body::Meet(g) => {
                self.update_sender(now, &msg, &sender_ip);
                // A node we think is failing talks again: ask it for a PONG now, so its FAIL
                // clears without waiting for the next ping round.
                let n = &self.nodes[&sender];
                if !matches!(msg.body, Body::Pong(_))
                    && n.has(nflags::FAIL | nflags::PFAIL)
                    && now.saturating_sub(n.ping_out) >= TICK_MS
                {
                    self.send_ping(now, sender, b'P');
                }
                if matches!(msg.body, Body::Pong(_)) {
                    let n = self.nodes.get_mut(&sender).expect("known");
                    n.pong_received = now;
                    n.ping_sent = 0;
                    if n.has(nflags::PFAIL) {
                        n.flags &= !nflags::PFAIL;
                        self.save_needed = true;
                    } else if n.has(nflags::FAIL) {
                        self.clear_failure_if_needed(now, sender);
                    }
                }
                self.update_roles_and_slots(now, &msg);
                self.process_gossip(now, Some(sender), g);
            }
            Body::Fail(id) => {
                let id = *id;
                if id != self.myself {
                    if let Some(n) = self.nodes.get_mut(&id) {
                        if !n.has(nflags::FAIL) {
                            info!("FAIL message received from {sender} about {id}");
                            n.flags |= nflags::FAIL;
                            n.flags &= !nflags::PFAIL;
                            n.fail_time = now;
                            self.save_needed = true;
                        }
                    }
                }
            }
            Body::Update {
                id,
                config_epoch,
                slots,
            } => {
                let id = *id;
                let epoch = *config_epoch;
                let stale = self.nodes.get(&id).map(|n| n.config_epoch < epoch);
                if stale == Some(true) {
                    if let Some(n) = self.nodes.get_mut(&id) {
                        n.config_epoch = epoch;
                        n.flags = (n.flags & !nflags::SLAVE) | nflags::MASTER;
                        n.primary = None;
                    }
                    self.update_slots_config_with(id, epoch, &SlotSet::from_ranges(slots));
                    self.save_needed = true;
                }
            }
            Body::Publish { channel, message } => {
                self.effects.push(Effect::Event(Event::Publish {
                    channel: channel.clone(),
                    message: message.clone(),
                }));
            }
            Body::AuthRequest => self.vote_if_needed(now, &msg),
            Body::AuthAck => self.count_vote(now, &msg),
            Body::MfStart => self.manual_failover_requested(now, sender),
        }
        self.update_state(now);
        self.take_effects()
    }

    /// Address and hostname changes of a known sender.
    fn update_sender(&mut self, _now: u64, msg: &Message, ip: &str) {
        let Some(n) = self.nodes.get_mut(&msg.sender) else {
            return;
        };
        let moved = n.ip != ip || n.port != msg.port;
        if n.ip != ip || n.port != msg.port || n.cport != msg.cport {
            n.ip = ip.to_string();
            n.port = msg.port;
            n.cport = msg.cport;
            n.flags &= !nflags::NOADDR;
            self.routing = None;
            self.save_needed = true;
        }
        if n.hostname != msg.hostname {
            n.hostname = msg.hostname.clone();
            self.save_needed = true;
        }
        if moved && self.me().primary == Some(msg.sender) {
            // Our primary moved: the replication link follows it.
            self.emit_follow(Some(msg.sender));
        }
    }

    /// Role, slots, epoch collisions and stale claims from a PING/PONG/MEET header.
    fn update_roles_and_slots(&mut self, now: u64, msg: &Message) {
        let sender = msg.sender;
        {
            let n = self.nodes.get_mut(&sender).expect("known");
            match msg.primary {
                None => {
                    if n.has(nflags::SLAVE) {
                        n.flags = (n.flags & !nflags::SLAVE) | nflags::MASTER;
                        n.primary = None;
                        self.save_needed = true;
                    }
                }
                Some(p) => {
                    if n.has(nflags::MASTER) || n.primary != Some(p) {
                        n.flags = (n.flags & !nflags::MASTER) | nflags::SLAVE;
                        n.primary = Some(p);
                        self.save_needed = true;
                    }
                }
            }
        }
        if msg.primary.is_some() {
            return;
        }
        let n = &self.nodes[&sender];
        if n.slot_ranges != msg.slots {
            let claimed = SlotSet::from_ranges(&msg.slots);
            self.update_slots_config_with(sender, msg.config_epoch, &claimed);
            // A claim on a slot whose owner has a newer config epoch: tell the sender.
            let mut stale: Option<NodeId> = None;
            'outer: for &(a, b) in &msg.slots {
                for s in a..=b.min(SLOTS as u16 - 1) {
                    if let Some(owner) = self.slots[s as usize] {
                        if owner != sender && self.nodes[&owner].config_epoch > msg.config_epoch {
                            stale = Some(owner);
                            break 'outer;
                        }
                    }
                }
            }
            if let Some(owner) = stale {
                let o = &self.nodes[&owner];
                let body = Body::Update {
                    id: owner,
                    config_epoch: o.config_epoch,
                    slots: o.slot_ranges.clone(),
                };
                let to = self.nodes[&sender].addr();
                self.send(to, body);
            }
        }
        // configEpoch collision: the node with the lower id takes a new epoch.
        let me = self.me();
        if me.is_primary()
            && msg.config_epoch == me.config_epoch
            && self.nodes[&sender].is_primary()
            && sender > self.myself
        {
            self.current_epoch += 1;
            let e = self.current_epoch;
            self.me_mut().config_epoch = e;
            self.save_needed = true;
            warn!("WARNING: configEpoch collision with node {sender}. configEpoch set to {e}");
        }
        let _ = now;
    }

    /// Takes the claimed slots whose current owner has an older config epoch
    /// (Redis `clusterUpdateSlotsConfigWith`). When that empties the shard this node belongs
    /// to (its own slots, or its primary's), the node follows the sender: a primary that was
    /// replaced (failover) becomes a replica of its successor, and so do the other replicas.
    fn update_slots_config_with(&mut self, sender: NodeId, epoch: u64, claimed: &SlotSet) {
        if sender == self.myself {
            return;
        }
        let shard = self.me().primary.unwrap_or(self.myself);
        let mut changed = false;
        let mut taken_from_shard = 0;
        let mut lost = Vec::new();
        for s in claimed.iter() {
            let cur = self.slots[s as usize];
            if cur == Some(sender) || self.importing.contains_key(&s) {
                continue;
            }
            let older = match cur.and_then(|id| self.nodes.get(&id)) {
                None => true,
                Some(o) => o.config_epoch < epoch,
            };
            if older {
                if cur == Some(self.myself) {
                    self.migrating.remove(&s);
                    lost.push(s);
                }
                if cur == Some(shard) {
                    taken_from_shard += 1;
                }
                self.assign(s, Some(sender));
                changed = true;
            }
        }
        if changed {
            self.refresh_ranges();
        }
        let shard_empty = self.nodes.get(&shard).is_some_and(|n| n.slots.is_empty());
        if taken_from_shard > 0
            && shard_empty
            && (self.opts.allow_replica_migration || claimed.len() == taken_from_shard)
        {
            if shard == self.myself {
                warn!(
                    "Configuration change detected. Reconfiguring myself as a replica of {sender}"
                );
            } else {
                warn!("Configuration change detected. Following {sender} as the new primary of my shard");
            }
            self.set_primary(sender);
        } else if !lost.is_empty() {
            // Still a primary (a replica owns no slots): only the lost slots' keys go. A node
            // that follows the sender instead drops all its data with the full sync.
            self.effects.push(Effect::Event(Event::SlotsLost(lost)));
        }
    }

    fn process_gossip(&mut self, now: u64, sender: Option<NodeId>, entries: &[GossipEntry]) {
        let sender_is_primary = sender
            .and_then(|s| self.nodes.get(&s))
            .is_some_and(|n| n.is_primary());
        for g in entries {
            if g.id == self.myself {
                continue;
            }
            if self
                .nodes
                .get(&g.id)
                .is_some_and(|n| !n.has(nflags::HANDSHAKE))
            {
                if let (Some(s), true) = (sender, sender_is_primary) {
                    if g.flags & (nflags::FAIL | nflags::PFAIL) != 0 {
                        self.add_fail_report(now, g.id, s);
                        self.mark_failing_if_needed(now, g.id);
                    } else if let Some(n) = self.nodes.get_mut(&g.id) {
                        n.fail_reports.retain(|(r, _)| *r != s);
                    }
                }
                let n = self.nodes.get_mut(&g.id).expect("checked");
                if g.flags & (nflags::FAIL | nflags::PFAIL) == 0
                    && n.ping_sent == 0
                    && n.fail_reports.is_empty()
                    && g.pong_received > n.pong_received
                    && g.pong_received <= now + 500
                {
                    n.pong_received = g.pong_received;
                }
            } else if sender.is_some()
                && g.flags & nflags::NOADDR == 0
                && !self.blacklist.contains_key(&g.id)
                && !self.nodes.contains_key(&g.id)
            {
                self.start_handshake(now, &g.ip, g.port, g.cport, false);
            }
        }
    }

    /// Adds a handshake node for an address unless one is already in progress.
    fn start_handshake(&mut self, now: u64, ip: &str, port: u16, cport: u16, meet: bool) -> bool {
        if ip.is_empty() {
            return false;
        }
        let busy = self
            .nodes
            .values()
            .any(|n| n.has(nflags::HANDSHAKE) && n.ip == ip && n.port == port && n.cport == cport);
        if busy {
            return false;
        }
        let id = NodeId::random(&mut self.rng);
        let flags = nflags::HANDSHAKE | nflags::MASTER | if meet { nflags::MEET } else { 0 };
        let mut n = Node::new(id, flags, ip.to_string(), port, cport, now);
        n.pong_received = 0;
        self.nodes.insert(id, n);
        true
    }

    // ----- commands -----

    /// Runs a CLUSTER command (validation of arguments is the node's job; state checks are
    /// here).
    pub fn on_command(
        &mut self,
        now: u64,
        cmd: Command,
    ) -> (Result<Reply, CommandError>, Vec<Effect>) {
        let r = self.command(now, cmd);
        self.update_state(now);
        (r, self.take_effects())
    }

    fn command(&mut self, now: u64, cmd: Command) -> Result<Reply, CommandError> {
        match cmd {
            Command::Meet { ip, port, cport } => {
                if ip.is_empty() || port == 0 || cport == 0 {
                    return Err(CommandError::InvalidAddress);
                }
                self.start_handshake(now, &ip, port, cport, true);
                Ok(Reply::Ok)
            }
            Command::Forget(id) => {
                if id == self.myself {
                    return Err(CommandError::ForgetMyself);
                }
                if self.me().primary == Some(id) {
                    return Err(CommandError::ForgetMyPrimary);
                }
                if !self.nodes.contains_key(&id) {
                    return Err(CommandError::UnknownNode);
                }
                self.blacklist.insert(id, now + FORGET_BLACKLIST_MS);
                self.del_node(id);
                Ok(Reply::Ok)
            }
            Command::AddSlots(slots) => {
                if let Some(&s) = slots.iter().find(|&&s| self.slots[s as usize].is_some()) {
                    return Err(CommandError::SlotBusy(s));
                }
                for s in slots {
                    self.importing.remove(&s);
                    self.assign(s, Some(self.myself));
                }
                self.refresh_ranges();
                Ok(Reply::Ok)
            }
            Command::DelSlots(slots) => {
                if let Some(&s) = slots.iter().find(|&&s| self.slots[s as usize].is_none()) {
                    return Err(CommandError::SlotUnassigned(s));
                }
                for s in slots {
                    self.assign(s, None);
                }
                self.refresh_ranges();
                Ok(Reply::Ok)
            }
            Command::FlushSlots => {
                for s in 0..SLOTS as u16 {
                    if self.slots[s as usize] == Some(self.myself) {
                        self.assign(s, None);
                    }
                }
                self.refresh_ranges();
                Ok(Reply::Ok)
            }
            Command::SetSlot { slot, action } => self.set_slot(slot, action),
            Command::SetConfigEpoch(e) => {
                if self.nodes.len() > 1 {
                    return Err(CommandError::EpochKnowsOthers);
                }
                if self.me().config_epoch != 0 {
                    return Err(CommandError::EpochNonZero);
                }
                self.me_mut().config_epoch = e;
                warn!("configEpoch set to {e} via CLUSTER SET-CONFIG-EPOCH");
                if self.current_epoch < e {
                    self.current_epoch = e;
                }
                self.save_needed = true;
                Ok(Reply::Ok)
            }
            Command::BumpEpoch => {
                let bumped = self.bump_epoch_without_consensus();
                Ok(Reply::Bumped(bumped, self.me().config_epoch))
            }
            Command::Reset { hard } => {
                let others: Vec<NodeId> = self
                    .nodes
                    .keys()
                    .filter(|&&id| id != self.myself)
                    .copied()
                    .collect();
                for s in 0..SLOTS as u16 {
                    self.assign(s, None);
                }
                self.migrating.clear();
                self.importing.clear();
                for id in others {
                    self.del_node(id);
                }
                {
                    let me = self.me_mut();
                    me.flags = nflags::MYSELF | nflags::MASTER;
                    me.primary = None;
                }
                if hard {
                    self.current_epoch = 0;
                    self.last_vote_epoch = 0;
                    let new = NodeId::random(&mut self.rng);
                    let mut me = self.nodes.remove(&self.myself).expect("myself");
                    me.config_epoch = 0;
                    me.id = new;
                    self.myself = new;
                    self.nodes.insert(new, me);
                    info!("Node hard reset, now I'm {new}");
                }
                self.refresh_ranges();
                self.routing = None;
                self.save_needed = true;
                // Redis fsyncs after a reset, soft or hard.
                self.durable_epochs = (u64::MAX, u64::MAX, u64::MAX);
                Ok(Reply::Ok)
            }
            Command::CountFailureReports(id) => {
                if !self.nodes.contains_key(&id) {
                    return Err(CommandError::UnknownNode);
                }
                Ok(Reply::Count(self.clean_fail_reports(now, id)))
            }
            Command::Publish { channel, message } => {
                self.broadcast(Body::Publish { channel, message });
                Ok(Reply::Ok)
            }
            Command::SaveConfig => {
                self.save_needed = true;
                Ok(Reply::Ok)
            }
            Command::SetOptions(o) => {
                let addr_changed = o.port != self.opts.port
                    || o.cport != self.opts.cport
                    || o.hostname != self.opts.hostname
                    || o.announce_ip != self.opts.announce_ip;
                self.opts = o;
                if addr_changed {
                    let (port, cport, host, ip) = (
                        self.opts.port,
                        self.opts.cport,
                        self.opts.hostname.clone(),
                        self.opts.announce_ip.clone(),
                    );
                    let me = self.me_mut();
                    me.port = port;
                    me.cport = cport;
                    me.hostname = host;
                    if let Some(ip) = ip {
                        me.ip = ip;
                    }
                    self.routing = None;
                    self.save_needed = true;
                }
                Ok(Reply::Ok)
            }
            Command::Replicate(id) => self.replicate(now, id),
            Command::Failover(kind) => self.manual_failover(now, kind),
            Command::ReplStatus {
                offset,
                link_down_since,
            } => {
                self.repl_offset = offset;
                self.link_down_since = link_down_since;
                Ok(Reply::Ok)
            }
            Command::PausedOffset(offset) => {
                self.paused_offset(now, offset);
                Ok(Reply::Ok)
            }
            Command::GuardEmpty => {
                self.guard_empty(now);
                Ok(Reply::Ok)
            }
        }
    }

    fn del_node(&mut self, id: NodeId) {
        for s in 0..SLOTS as u16 {
            if self.slots[s as usize] == Some(id) {
                self.assign(s, None);
            }
        }
        self.migrating.retain(|_, n| *n != id);
        self.importing.retain(|_, n| *n != id);
        for n in self.nodes.values_mut() {
            n.fail_reports.retain(|(r, _)| *r != id);
        }
        self.nodes.remove(&id);
        self.routing = None;
        self.save_needed = true;
    }

    /// A new config epoch for myself unless it is already the unique highest
    /// (Redis `clusterBumpConfigEpochWithoutConsensus`).
    fn bump_epoch_without_consensus(&mut self) -> bool {
        let max = self
            .nodes
            .values()
            .map(|n| n.config_epoch)
            .max()
            .unwrap_or(0)
            .max(self.current_epoch);
        let mine = self.me().config_epoch;
        let unique = self
            .nodes
            .values()
            .filter(|n| n.config_epoch == mine)
            .count()
            == 1;
        if mine == 0 || mine != max || !unique {
            self.current_epoch = max + 1;
            let e = self.current_epoch;
            self.me_mut().config_epoch = e;
            self.save_needed = true;
            warn!("New configEpoch set to {e}");
            true
        } else {
            false
        }
    }

    fn set_slot(&mut self, slot: u16, action: SetSlot) -> Result<Reply, CommandError> {
        if self.me().has(nflags::SLAVE) {
            return Err(CommandError::SetSlotOnReplica);
        }
        let owner = self.slots[slot as usize];
        let primary_node = |st: &Self, id: &NodeId| -> Result<(), CommandError> {
            match st.nodes.get(id) {
                None => Err(CommandError::UnknownNode),
                Some(n) if !n.is_primary() => Err(CommandError::TargetNotPrimary),
                Some(_) => Ok(()),
            }
        };
        match action {
            SetSlot::Migrating(id) => {
                if owner != Some(self.myself) {
                    return Err(CommandError::NotOwner(slot));
                }
                primary_node(self, &id)?;
                self.migrating.insert(slot, id);
            }
            SetSlot::Importing(id) => {
                if owner == Some(self.myself) {
                    return Err(CommandError::AlreadyOwner(slot));
                }
                primary_node(self, &id)?;
                self.importing.insert(slot, id);
            }
            SetSlot::Stable => {
                self.migrating.remove(&slot);
                self.importing.remove(&slot);
            }
            SetSlot::Node(id) => {
                primary_node(self, &id).map_err(|e| match e {
                    CommandError::TargetNotPrimary => e,
                    _ => CommandError::UnknownNode,
                })?;
                // The node checked "still holds keys" before asking.
                if owner == Some(self.myself) && id != self.myself {
                    self.migrating.remove(&slot);
                }
                self.assign(slot, Some(id));
                self.refresh_ranges();
                if id == self.myself && self.importing.remove(&slot).is_some() {
                    // Importing finished: claim the slot with a new epoch so it wins.
                    if self.bump_epoch_without_consensus() {
                        warn!("configEpoch updated after importing slot {slot}");
                    }
                }
            }
        }
        self.routing = None;
        self.save_needed = true;
        Ok(Reply::Ok)
    }

    // ----- snapshot -----

    /// The snapshot the node reads.
    pub fn view(&mut self, now: u64) -> View {
        self.refresh_ranges();
        let timeout = self.opts.node_timeout;
        let routing = match &self.routing {
            Some(r) => r.clone(),
            None => {
                let target = |n: &Node, me: NodeId| Target {
                    id: n.id,
                    ip: n.ip.clone(),
                    port: n.port,
                    myself: n.id == me,
                };
                let targets: Vec<Target> = self
                    .nodes
                    .values()
                    .filter(|n| !n.slots.is_empty())
                    .map(|n| target(n, self.myself))
                    .collect();
                let pick = |m: &BTreeMap<u16, NodeId>| -> HashMap<u16, Target> {
                    m.iter()
                        .filter_map(|(s, id)| {
                            self.nodes.get(id).map(|n| (*s, target(n, self.myself)))
                        })
                        .collect()
                };
                let r = Arc::new(Routing::new(
                    &self.slots,
                    targets,
                    pick(&self.migrating),
                    pick(&self.importing),
                ));
                self.routing = Some(r.clone());
                r
            }
        };
        let node_view = |n: &Node| NodeView {
            id: n.id,
            flags: n.flags & !nflags::MEET,
            ip: n.ip.clone(),
            port: n.port,
            cport: n.cport,
            hostname: n.hostname.clone(),
            primary: n.primary,
            ping_sent: n.ping_sent,
            pong_received: n.pong_received,
            config_epoch: n.config_epoch,
            connected: n.id == self.myself
                || !(n.has(nflags::HANDSHAKE) || n.link_stale(now, timeout)),
            slots: n.slot_ranges.clone(),
            fail_reports: n.fail_reports.len(),
            repl_offset: if n.id == self.myself {
                self.repl_offset
            } else {
                n.repl_offset
            },
        };
        let mut nodes = vec![node_view(self.me())];
        nodes.extend(
            self.nodes
                .values()
                .filter(|n| n.id != self.myself)
                .map(node_view),
        );
        let (mut assigned, mut ok, mut pfail, mut fail) = (0, 0, 0, 0);
        for n in self.nodes.values() {
            let c = n.slots.len();
            assigned += c;
            if n.has(nflags::FAIL) {
                fail += c;
            } else if n.has(nflags::PFAIL) {
                pfail += c;
            } else {
                ok += c;
            }
        }
        View {
            myself: self.myself,
            current_epoch: self.current_epoch,
            last_vote_epoch: self.last_vote_epoch,
            state_ok: self.state_ok,
            nodes,
            routing,
            migrating: self.migrating.iter().map(|(s, n)| (*s, *n)).collect(),
            importing: self.importing.iter().map(|(s, n)| (*s, *n)).collect(),
            stats_sent: self.stats_sent,
            stats_received: self.stats_received,
            slots_assigned: assigned,
            slots_ok: ok,
            slots_pfail: pfail,
            slots_fail: fail,
            size: self.cluster_size(),
            empty_guard: self.empty_guard.is_some() && self.me().is_primary(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{ip_of, Sim, CPORT, PORT};

    fn meet(sim: &mut Sim, from: usize, to: usize) {
        let cmd = Command::Meet {
            ip: ip_of(to),
            port: PORT,
            cport: CPORT,
        };
        assert_eq!(sim.command(from, cmd), Ok(Reply::Ok));
    }

    fn three_nodes(seed: u64) -> Sim {
        let mut sim = Sim::new(3, seed, 1000);
        sim.max_delay = 5;
        for i in 0..3 {
            sim.command(i, Command::SetConfigEpoch(i as u64 + 1))
                .unwrap();
        }
        sim.command(0, Command::AddSlots((0..8192).collect()))
            .unwrap();
        sim.command(1, Command::AddSlots((8192..16384).collect()))
            .unwrap();
        meet(&mut sim, 0, 1);
        meet(&mut sim, 0, 2);
        sim.run_for(5000, |_| {});
        for st in &sim.nodes {
            assert_eq!(st.nodes.len(), 3);
            assert!(st.state_ok);
        }
        sim
    }

    #[test]
    fn config_epoch_collision_lower_id_bumps() {
        let mut sim = Sim::new(2, 7, 1000);
        meet(&mut sim, 0, 1);
        sim.run_for(5000, |_| {});
        let e: Vec<u64> = sim
            .nodes
            .iter()
            .map(|st| st.nodes[&st.myself].config_epoch)
            .collect();
        assert_ne!(e[0], e[1], "epochs still collide: {e:?}");
        let lower = if sim.nodes[0].myself < sim.nodes[1].myself {
            0
        } else {
            1
        };
        assert!(e[lower] > e[1 - lower], "the lower id must bump: {e:?}");
    }

    #[test]
    fn forget_blacklists_for_a_minute() {
        let mut sim = three_nodes(11);
        let gone = sim.nodes[2].myself;
        assert_eq!(sim.command(0, Command::Forget(gone)), Ok(Reply::Ok));
        assert_eq!(
            sim.command(0, Command::Forget(sim.nodes[0].myself)),
            Err(CommandError::ForgetMyself)
        );
        // Node 1 still gossips about node 2, and node 2 still pings: not re-added for 60 s.
        sim.run_for(30_000, |_| {});
        assert!(!sim.nodes[0].nodes.contains_key(&gone));
        sim.run_for(40_000, |_| {});
        assert!(
            sim.nodes[0].nodes.contains_key(&gone),
            "re-learnt after the blacklist"
        );
    }

    #[test]
    fn stale_slot_claim_is_corrected_by_update() {
        let mut sim = three_nodes(12);
        let id1 = sim.nodes[1].myself;
        // Node 0 is cut off while node 1 takes slot 0 with a new config epoch.
        sim.group[0] = 1;
        sim.run_for(200, |_| {});
        sim.command(
            1,
            Command::SetSlot {
                slot: 0,
                action: SetSlot::Importing(sim.nodes[0].myself),
            },
        )
        .unwrap();
        sim.command(
            1,
            Command::SetSlot {
                slot: 0,
                action: SetSlot::Node(id1),
            },
        )
        .unwrap();
        assert_eq!(sim.nodes[0].slot_owner(0), Some(sim.nodes[0].myself));
        sim.group[0] = 0;
        sim.run_for(10_000, |_| {});
        for st in &sim.nodes {
            assert_eq!(st.slot_owner(0), Some(id1));
        }
        let v = sim.nodes[0].view(sim.now);
        assert!(v.stats_received[7] > 0, "node 0 got no UPDATE");
        // Node 0 stays a primary of its other slots and is told to drop slot 0's keys, once.
        assert_eq!(sim.lost, [(0, vec![0])]);
        assert!(sim.follows.is_empty());
    }

    #[test]
    fn unanswered_handshake_expires() {
        let mut sim = Sim::new(2, 3, 1000);
        sim.group[1] = 1;
        meet(&mut sim, 0, 1);
        assert_eq!(sim.nodes[0].nodes.len(), 2);
        sim.run_for(1500, |_| {});
        assert_eq!(sim.nodes[0].nodes.len(), 1, "the handshake node is dropped");
    }

    #[test]
    fn slot_commands_check_ownership() {
        let mut sim = three_nodes(13);
        assert_eq!(
            sim.command(1, Command::AddSlots(vec![5])),
            Err(CommandError::SlotBusy(5))
        );
        assert_eq!(sim.command(2, Command::DelSlots(vec![5])), Ok(Reply::Ok));
        assert_eq!(
            sim.command(2, Command::DelSlots(vec![5])),
            Err(CommandError::SlotUnassigned(5))
        );
        let id2 = sim.nodes[2].myself;
        assert_eq!(
            sim.command(
                0,
                Command::SetSlot {
                    slot: 9000,
                    action: SetSlot::Migrating(id2)
                }
            ),
            Err(CommandError::NotOwner(9000))
        );
        assert_eq!(
            sim.command(
                0,
                Command::SetSlot {
                    slot: 1,
                    action: SetSlot::Importing(id2)
                }
            ),
            Err(CommandError::AlreadyOwner(1))
        );
        assert_eq!(
            sim.command(0, Command::SetConfigEpoch(9)),
            Err(CommandError::EpochKnowsOthers)
        );
        assert!(matches!(
            sim.command(2, Command::BumpEpoch),
            Ok(Reply::Bumped(false, 3))
        ));
        assert!(matches!(
            sim.command(0, Command::BumpEpoch),
            Ok(Reply::Bumped(true, 4))
        ));
    }

    /// nodes.conf is fsynced where Redis fsyncs it: when an epoch changes (the first slot
    /// a node finishes importing bumps its config epoch), not on every slot change.
    #[test]
    fn config_is_fsynced_only_when_an_epoch_changes() {
        let mut sim = three_nodes(14);
        let (id0, id1) = (sim.nodes[0].myself, sim.nodes[1].myself);
        let now = sim.now;
        let saves = |st: &mut ClusterState, slot: u16, action: SetSlot| -> Vec<bool> {
            let (r, effects) = st.on_command(now, Command::SetSlot { slot, action });
            assert_eq!(r, Ok(Reply::Ok));
            effects
                .iter()
                .filter_map(|e| match e {
                    Effect::SaveConfig { fsync } => Some(*fsync),
                    _ => None,
                })
                .collect()
        };
        let st = &mut sim.nodes[1];
        assert_eq!(saves(st, 0, SetSlot::Importing(id0)), vec![false]);
        assert_eq!(saves(st, 0, SetSlot::Node(id1)), vec![true], "epoch bump");
        assert_eq!(saves(st, 1, SetSlot::Importing(id0)), vec![false]);
        assert_eq!(
            saves(st, 1, SetSlot::Node(id1)),
            vec![false],
            "already the max"
        );
        assert_eq!(saves(st, 1, SetSlot::Stable), vec![false]);
        let (_, effects) = st.on_command(now, Command::Reset { hard: false });
        assert!(
            effects.contains(&Effect::SaveConfig { fsync: true }),
            "a reset is fsynced"
        );
    }
}
