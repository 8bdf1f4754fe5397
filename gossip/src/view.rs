//! The immutable snapshot of the cluster that the node reads: for routing (one pointer load
//! per command) and for CLUSTER NODES/SLOTS/SHARDS/INFO and nodes.conf.

use std::collections::HashMap;
use std::sync::Arc;

use crate::types::{nflags, NodeId, SLOTS};

/// One node as the snapshot shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    pub id: NodeId,
    pub flags: u16,
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    pub hostname: String,
    pub primary: Option<NodeId>,
    /// Unix ms; 0 = none pending.
    pub ping_sent: u64,
    pub pong_received: u64,
    pub config_epoch: u64,
    /// `connected` in CLUSTER NODES.
    pub connected: bool,
    /// Served slots as inclusive ranges.
    pub slots: Vec<(u16, u16)>,
    pub fail_reports: usize,
    /// The replication offset it last announced (ours: the node's current one).
    pub repl_offset: u64,
}

impl NodeView {
    pub fn is_myself(&self) -> bool {
        self.flags & nflags::MYSELF != 0
    }
    pub fn is_primary(&self) -> bool {
        self.flags & nflags::MASTER != 0
    }
    pub fn is_failed(&self) -> bool {
        self.flags & nflags::FAIL != 0
    }
    pub fn slot_count(&self) -> usize {
        self.slots.iter().map(|&(a, b)| (b - a) as usize + 1).sum()
    }
}

/// Where a slot is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: NodeId,
    pub ip: String,
    pub port: u16,
    pub myself: bool,
}

const NONE: u16 = u16::MAX;

/// The slot table: rebuilt only when ownership or addresses change.
#[derive(Debug, Clone)]
pub struct Routing {
    owner: Vec<u16>,
    targets: Vec<Target>,
    /// slot -> the node we are migrating it to.
    pub migrating: HashMap<u16, Target>,
    /// slot -> the node we are importing it from.
    pub importing: HashMap<u16, Target>,
}

impl Routing {
    pub fn new(
        owners: &[Option<NodeId>],
        targets: Vec<Target>,
        migrating: HashMap<u16, Target>,
        importing: HashMap<u16, Target>,
    ) -> Routing {
        let idx: HashMap<NodeId, u16> = targets
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id, i as u16))
            .collect();
        // Owners come in long runs: hash a node id once per run, not once per slot (this
        // runs after every slot change, e.g. each CLUSTER SETSLOT of a reshard).
        let mut last: Option<(NodeId, u16)> = None;
        let owner = (0..SLOTS)
            .map(|s| match owners.get(s).copied().flatten() {
                None => NONE,
                Some(id) => match last {
                    Some((l, i)) if l == id => i,
                    _ => {
                        let i = idx.get(&id).copied().unwrap_or(NONE);
                        last = Some((id, i));
                        i
                    }
                },
            })
            .collect();
        Routing {
            owner,
            targets,
            migrating,
            importing,
        }
    }

    /// The node serving `slot`, if any.
    #[inline]
    pub fn owner(&self, slot: u16) -> Option<&Target> {
        let i = *self.owner.get(slot as usize)?;
        if i == NONE {
            None
        } else {
            self.targets.get(i as usize)
        }
    }
}

/// A snapshot of the cluster as this node sees it.
#[derive(Debug, Clone)]
pub struct View {
    pub myself: NodeId,
    pub current_epoch: u64,
    pub last_vote_epoch: u64,
    pub state_ok: bool,
    /// Myself first, then the others by id.
    pub nodes: Vec<NodeView>,
    pub routing: Arc<Routing>,
    /// (slot, node) pairs for nodes.conf and CLUSTER NODES (`[slot->-id]`, `[slot-<-id]`).
    pub migrating: Vec<(u16, NodeId)>,
    pub importing: Vec<(u16, NodeId)>,
    /// Messages sent and received per type (indexed like [`crate::msg::MSG_TYPES`]).
    pub stats_sent: [u64; 11],
    pub stats_received: [u64; 11],
    pub slots_assigned: usize,
    pub slots_ok: usize,
    pub slots_pfail: usize,
    pub slots_fail: usize,
    /// Primaries serving at least one slot.
    pub size: usize,
    /// This primary restarted without its data and does not serve its slots (nor full syncs)
    /// until a replica that holds the data takes over, or `CLUSTER FAILOVER TAKEOVER` here.
    pub empty_guard: bool,
}

impl View {
    pub fn me(&self) -> &NodeView {
        &self.nodes[0]
    }

    pub fn node(&self, id: &NodeId) -> Option<&NodeView> {
        self.nodes.iter().find(|n| &n.id == id)
    }
}
