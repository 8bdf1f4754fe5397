//! Creating and checking the cluster over RESP, the same for every target: observe each
//! node (`CLUSTER MYID`, `CLUSTER NODES`, `CLUSTER INFO`), plan the missing steps
//! (`CLUSTER MEET`, `CLUSTER ADDSLOTSRANGE`, `CLUSTER REPLICATE`), run them a phase at a
//! time and wait until every node agrees before the next phase.
//!
//! A shard (a primary's slot range and its replicas) is checked as a unit: after a failover
//! its replica is the primary and the old primary its replica, which is as good as the
//! original layout (each still in a zone other than the other's), so `up` leaves it alone.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::placement::{format_ranges, NodeSpec, Role, SLOTS};
use crate::resp::{Client, Connector, RespError};

/// A node of the deployment with the address the tool reaches it at.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub spec: NodeSpec,
    pub addr: SocketAddr,
    /// Where the other nodes reach it (what `CLUSTER MEET` names): `addr` except on EC2,
    /// where the tool goes through an ssh tunnel and the nodes use private addresses.
    pub meet: SocketAddr,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Resp(#[from] RespError),
    #[error("cannot parse CLUSTER NODES from {0}: {1}")]
    Parse(String, String),
    #[error(
        "{node} does not support CLUSTER REPLICATE ({reply}): use a topology without replicas \
         (replicas_per_primary = 0) or a server binary that has it (--server-bin)"
    )]
    ReplicateUnsupported { node: String, reply: String },
    #[error("{0}")]
    Conflict(String),
    /// Two nodes of one shard claim its slots (just after a failover, before the old
    /// primary hears of it): wait.
    #[error("{0}")]
    Settling(String),
    #[error("timed out after {secs}s waiting for {what}; last seen: {last}")]
    Timeout {
        what: String,
        secs: u64,
        last: String,
    },
    #[error("{0} is not reachable")]
    Unreachable(String),
}

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub id: String,
    pub addr: String,
    pub flags: BTreeSet<String>,
    pub master: Option<String>,
    pub connected: bool,
    pub slots: Vec<(u16, u16)>,
}

impl Peer {
    pub fn flag(&self, f: &str) -> bool {
        self.flags.contains(f)
    }
    /// Not fully joined yet (or lost).
    pub fn pending(&self) -> bool {
        self.flag("handshake") || self.flag("noaddr")
    }
    pub fn failing(&self) -> bool {
        self.flag("fail") || self.flag("fail?")
    }
}

/// Parses `CLUSTER NODES` output.
pub fn parse_nodes(text: &str) -> Result<Vec<Peer>, String> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            return Err(format!("short line `{line}`"));
        }
        let addr = f[1].split('@').next().unwrap_or_default().to_string();
        let mut slots = Vec::new();
        for s in &f[8..] {
            if s.starts_with('[') {
                continue; // migrating / importing marks
            }
            let (a, b) = s.split_once('-').unwrap_or((s, s));
            let a: u16 = a.parse().map_err(|_| format!("bad slot `{s}`"))?;
            let b: u16 = b.parse().map_err(|_| format!("bad slot `{s}`"))?;
            if a > b || b >= SLOTS {
                return Err(format!("bad slot range `{s}`"));
            }
            slots.push((a, b));
        }
        out.push(Peer {
            id: f[0].to_string(),
            addr,
            flags: f[2].split(',').map(str::to_string).collect(),
            master: (f[3] != "-").then(|| f[3].to_string()),
            connected: f[7] == "connected",
            slots,
        });
    }
    Ok(out)
}

/// What one node says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeState {
    pub id: String,
    pub peers: Vec<Peer>,
    pub cluster_state: String,
    /// `master_link_status` of a replica (`INFO replication`), if it says.
    pub link_up: Option<bool>,
    /// False for a node that did not answer, described from another node's view.
    pub reachable: bool,
}

impl NodeState {
    pub fn myself(&self) -> Option<&Peer> {
        self.peers.iter().find(|p| p.flag("myself"))
    }
    pub fn peer(&self, id: &str) -> Option<&Peer> {
        self.peers.iter().find(|p| p.id == id)
    }
}

/// Reads one node.
pub fn observe_node(conn: &Connector, addr: SocketAddr) -> Result<NodeState, ClusterError> {
    let mut c = conn.connect(addr)?;
    observe_with(&mut c)
}

fn observe_with(c: &mut Client) -> Result<NodeState, ClusterError> {
    let id = c.text(&["CLUSTER", "MYID"])?;
    let nodes = c.text(&["CLUSTER", "NODES"])?;
    let peers = parse_nodes(&nodes).map_err(|e| ClusterError::Parse(c.addr().to_string(), e))?;
    let info = c.text(&["CLUSTER", "INFO"])?;
    let cluster_state = info_field(&info, "cluster_state").unwrap_or_default();
    let repl = c.text(&["INFO", "replication"])?;
    let link_up = info_field(&repl, "master_link_status").map(|s| s == "up");
    Ok(NodeState {
        id,
        peers,
        cluster_state,
        link_up,
        reachable: true,
    })
}

/// `field:value` from INFO-style text.
pub fn info_field(text: &str, field: &str) -> Option<String> {
    text.lines().find_map(|l| {
        l.trim_end()
            .strip_prefix(field)
            .and_then(|r| r.strip_prefix(':'))
            .map(str::to_string)
    })
}

/// Every node. One that does not answer is described as the others know it (its id,
/// role and slots, `reachable: false`), or `None` if none knows it.
pub fn observe(conn: &Connector, eps: &[Endpoint]) -> Vec<Option<NodeState>> {
    let obs: Vec<Option<NodeState>> = eps
        .iter()
        .map(|e| observe_node(conn, e.addr).ok())
        .collect();
    fill_unreachable(eps, obs)
}

/// See [`observe`].
pub fn fill_unreachable(
    eps: &[Endpoint],
    mut obs: Vec<Option<NodeState>>,
) -> Vec<Option<NodeState>> {
    let views: Vec<NodeState> = obs.iter().flatten().cloned().collect();
    for (i, o) in obs.iter_mut().enumerate() {
        if o.is_some() {
            continue;
        }
        let addr = eps[i].addr.to_string();
        *o = views.iter().find_map(|v| {
            let me = v.peers.iter().find(|p| p.addr == addr && !p.pending())?;
            let peers = v
                .peers
                .iter()
                .map(|p| {
                    let mut p = p.clone();
                    p.flags.remove("myself");
                    if p.id == me.id {
                        p.flags.insert("myself".into());
                    }
                    p
                })
                .collect();
            Some(NodeState {
                id: me.id.clone(),
                peers,
                cluster_state: "unknown".into(),
                link_up: None,
                reachable: false,
            })
        });
    }
    obs
}

/// The node's own view, if it answered.
fn answered(o: &Option<NodeState>) -> Option<&NodeState> {
    o.as_ref().filter(|s| s.reachable)
}

/// A step of cluster creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `CLUSTER MEET` sent to `node`, naming `with`.
    Meet { node: usize, with: usize },
    /// `CLUSTER ADDSLOTSRANGE` on `node`.
    AddSlots { node: usize, first: u16, last: u16 },
    /// `CLUSTER REPLICATE` on `node` naming the current primary of its shard.
    Replicate { node: usize, primary: usize },
}

impl Step {
    pub fn describe(&self, eps: &[Endpoint]) -> String {
        let n = |i: usize| format!("{} ({})", eps[i].spec.name, eps[i].addr);
        match *self {
            Step::Meet { node, with } => format!("CLUSTER MEET: {} joins {}", n(node), n(with)),
            Step::AddSlots { node, first, last } => {
                format!("CLUSTER ADDSLOTSRANGE {first} {last} on {}", n(node))
            }
            Step::Replicate { node, primary } => format!(
                "CLUSTER REPLICATE: {} (zone {}) becomes a replica of {} (zone {})",
                n(node),
                eps[node].spec.zone,
                n(primary),
                eps[primary].spec.zone
            ),
        }
    }
}

/// The slots each node (by index) says it owns itself.
fn self_owned(obs: &[Option<NodeState>]) -> Vec<Vec<(u16, u16)>> {
    obs.iter()
        .map(|o| {
            o.as_ref()
                .and_then(|s| s.myself())
                .map(|m| m.slots.clone())
                .unwrap_or_default()
        })
        .collect()
}

fn overlaps(a: &[(u16, u16)], (f, l): (u16, u16)) -> bool {
    a.iter().any(|&(x, y)| x <= l && f <= y)
}

fn covers(a: &[(u16, u16)], (f, l): (u16, u16)) -> bool {
    let mut slots: Vec<(u16, u16)> = a.to_vec();
    slots.sort();
    let mut next = u32::from(f);
    for (x, y) in slots {
        if u32::from(x) <= next && u32::from(y) >= next {
            next = u32::from(y) + 1;
        }
    }
    next > u32::from(l)
}

/// Index of the node of each shard that holds (or will hold) the shard's slots.
pub fn shard_owners(
    nodes: &[NodeSpec],
    obs: &[Option<NodeState>],
) -> Result<Vec<(usize, bool)>, ClusterError> {
    let owned = self_owned(obs);
    let shards = nodes.iter().map(|n| n.shard + 1).max().unwrap_or(0);
    let mut out = Vec::with_capacity(shards);
    for s in 0..shards {
        let members: Vec<&NodeSpec> = nodes.iter().filter(|n| n.shard == s).collect();
        let range = members[0].slots;
        let holders: Vec<usize> = (0..nodes.len())
            .filter(|&i| overlaps(&owned[i], range))
            .collect();
        match holders.as_slice() {
            [] => {
                let primary = members
                    .iter()
                    .find(|n| n.role == Role::Primary)
                    .map_or(members[0].index, |n| n.index);
                out.push((primary, false));
            }
            [h] if nodes[*h].shard == s && covers(&owned[*h], range) => out.push((*h, true)),
            hs if hs.iter().all(|&h| nodes[h].shard == s) => {
                let names: Vec<&str> = hs.iter().map(|&h| nodes[h].name.as_str()).collect();
                return Err(ClusterError::Settling(format!(
                    "{} all claim the slots of shard {}",
                    names.join(" and "),
                    s + 1
                )));
            }
            _ => {
                let names: Vec<&str> = holders.iter().map(|&h| nodes[h].name.as_str()).collect();
                return Err(ClusterError::Conflict(format!(
                    "slots {} of shard {} are held by {} instead of one node of the shard: \
                     moving slots is not provisioning (reshard, or `down` and `up` again)",
                    format_ranges(&[range]),
                    s + 1,
                    names.join(", ")
                )));
            }
        }
    }
    Ok(out)
}

/// The steps still needed, in order (meet, then slots, then replicas). A node nobody
/// knows (`None`) is taken as a fresh one (what `plan` shows before anything runs).
pub fn plan(nodes: &[NodeSpec], obs: &[Option<NodeState>]) -> Result<Vec<Step>, ClusterError> {
    let mut steps = Vec::new();
    let anchor_id = obs.first().and_then(|o| o.as_ref()).map(|s| s.id.clone());
    for (i, o) in obs.iter().enumerate().take(nodes.len()).skip(1) {
        let joined = match (&anchor_id, o) {
            (Some(a), Some(s)) => s.peer(a).is_some_and(|p| !p.pending()),
            _ => false,
        };
        if !joined {
            steps.push(Step::Meet { node: i, with: 0 });
        }
    }
    let owners = shard_owners(nodes, obs)?;
    for (s, &(owner, assigned)) in owners.iter().enumerate() {
        if !assigned {
            let (first, last) = nodes[owner].slots;
            steps.push(Step::AddSlots {
                node: owner,
                first,
                last,
            });
        }
        let owner_id = obs[owner].as_ref().map(|o| o.id.clone());
        for m in nodes.iter().filter(|n| n.shard == s && n.index != owner) {
            let is_replica = match (&obs[m.index], &owner_id) {
                (Some(st), Some(oid)) => st
                    .myself()
                    .is_some_and(|me| me.flag("slave") && me.master.as_deref() == Some(oid)),
                _ => false,
            };
            if !is_replica {
                steps.push(Step::Replicate {
                    node: m.index,
                    primary: owner,
                });
            }
        }
    }
    Ok(steps)
}

/// Everyone knows everyone: every node lists exactly the deployment's ids, none pending,
/// every link connected. `Err` says what is missing.
pub fn check_joined(obs: &[Option<NodeState>], names: &[String]) -> Result<(), String> {
    let mut ids = BTreeSet::new();
    for (i, o) in obs.iter().enumerate() {
        let s = answered(o).ok_or_else(|| format!("{} unreachable", names[i]))?;
        ids.insert(s.id.clone());
    }
    for (i, o) in obs.iter().enumerate() {
        let s = answered(o).ok_or_else(|| format!("{} unreachable", names[i]))?;
        let known: BTreeSet<String> = s
            .peers
            .iter()
            .filter(|p| !p.pending())
            .map(|p| p.id.clone())
            .collect();
        if known != ids {
            return Err(format!(
                "{} knows {} of {} nodes",
                names[i],
                known.intersection(&ids).count(),
                ids.len()
            ));
        }
        if let Some(p) = s.peers.iter().find(|p| !p.flag("myself") && !p.connected) {
            return Err(format!("{}: link to {} not connected", names[i], p.addr));
        }
    }
    Ok(())
}

/// Every node sees the same owner for every slot, all slots covered, `cluster_state:ok`.
pub fn check_slots(obs: &[Option<NodeState>], names: &[String]) -> Result<(), String> {
    let mut reference: Option<BTreeMap<(u16, u16), String>> = None;
    for (i, o) in obs.iter().enumerate() {
        let s = answered(o).ok_or_else(|| format!("{} unreachable", names[i]))?;
        let map: BTreeMap<(u16, u16), String> = s
            .peers
            .iter()
            .flat_map(|p| p.slots.iter().map(move |r| (*r, p.id.clone())))
            .collect();
        let total: u32 = map.keys().map(|&(a, b)| u32::from(b - a) + 1).sum();
        if total != u32::from(SLOTS) {
            return Err(format!(
                "{} sees {total} of {SLOTS} slots assigned",
                names[i]
            ));
        }
        match &reference {
            None => reference = Some(map),
            Some(r) if *r != map => {
                return Err(format!("{} disagrees about slot owners", names[i]))
            }
            Some(_) => {}
        }
        if s.cluster_state != "ok" {
            return Err(format!(
                "{} says cluster_state:{}",
                names[i], s.cluster_state
            ));
        }
    }
    Ok(())
}

/// Every replica of the plan replicates its shard's owner in every node's view, and its
/// replication link is up.
pub fn check_replicas(nodes: &[NodeSpec], obs: &[Option<NodeState>]) -> Result<(), String> {
    let owners = shard_owners(nodes, obs).map_err(|e| e.to_string())?;
    for n in nodes {
        let (owner, _) = owners[n.shard];
        if owner == n.index {
            continue;
        }
        let (Some(me), Some(primary)) = (answered(&obs[n.index]), answered(&obs[owner])) else {
            return Err(format!("{} or its primary unreachable", n.name));
        };
        for (i, o) in obs.iter().enumerate() {
            let Some(view) = answered(o) else {
                return Err(format!("{} unreachable", nodes[i].name));
            };
            let ok = view.peer(&me.id).is_some_and(|p| {
                p.flag("slave") && p.master.as_deref() == Some(primary.id.as_str())
            });
            if !ok {
                return Err(format!(
                    "{} does not yet see {} as a replica of {}",
                    nodes[i].name, n.name, nodes[owner].name
                ));
            }
        }
        if me.link_up != Some(true) {
            return Err(format!(
                "{}: replication link to its primary not up",
                n.name
            ));
        }
    }
    Ok(())
}

/// Polls `check` until it passes or `timeout` runs out.
pub fn wait_for(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<(), String>,
) -> Result<(), ClusterError> {
    let start = Instant::now();
    loop {
        match check() {
            Ok(()) => return Ok(()),
            Err(last) if start.elapsed() >= timeout => {
                return Err(ClusterError::Timeout {
                    what: what.to_string(),
                    secs: timeout.as_secs(),
                    last,
                })
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Runs one step.
fn run_step(conn: &Connector, eps: &[Endpoint], step: &Step) -> Result<(), ClusterError> {
    match *step {
        Step::Meet { node, with } => {
            let mut c = conn.connect(eps[node].addr)?;
            let a = eps[with].meet;
            c.ok(&[
                "CLUSTER",
                "MEET",
                &a.ip().to_string(),
                &a.port().to_string(),
            ])?;
        }
        Step::AddSlots { node, first, last } => {
            let mut c = conn.connect(eps[node].addr)?;
            c.ok(&[
                "CLUSTER",
                "ADDSLOTSRANGE",
                &first.to_string(),
                &last.to_string(),
            ])?;
        }
        Step::Replicate { node, primary } => {
            let id = observe_node(conn, eps[primary].addr)?.id;
            let mut c = conn.connect(eps[node].addr)?;
            match c.call(&["CLUSTER", "REPLICATE", &id])? {
                crate::resp::Value::Simple(s) if s == "OK" => {}
                crate::resp::Value::Error(e) if e.contains("nknown subcommand") => {
                    return Err(ClusterError::ReplicateUnsupported {
                        node: eps[node].spec.name.clone(),
                        reply: e,
                    })
                }
                v => {
                    return Err(ClusterError::Conflict(format!(
                        "CLUSTER REPLICATE on {}: {v:?}",
                        eps[node].spec.name
                    )))
                }
            }
        }
    }
    Ok(())
}

/// Creates (or completes) the cluster: meet, slots, replicas, each phase waited for.
/// `log` gets one line per step run. Returns the steps run.
pub fn converge(
    conn: &Connector,
    eps: &[Endpoint],
    timeout: Duration,
    log: &mut dyn FnMut(&str),
) -> Result<usize, ClusterError> {
    let nodes: Vec<NodeSpec> = eps.iter().map(|e| e.spec.clone()).collect();
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let mut ran = 0;
    let observe_all = |conn: &Connector| -> Result<Vec<Option<NodeState>>, ClusterError> {
        let obs = observe(conn, eps);
        if let Some(i) = obs.iter().position(|o| answered(o).is_none()) {
            // Say why, with the connection error.
            observe_node(conn, eps[i].addr)?;
            return Err(ClusterError::Unreachable(names[i].clone()));
        }
        Ok(obs)
    };
    // Runs the steps of one kind that the plan (from a fresh observation) still needs.
    let run_phase =
        |kind: fn(&Step) -> bool, log: &mut dyn FnMut(&str)| -> Result<usize, ClusterError> {
            let obs = observe_all(conn)?;
            let steps = plan(&nodes, &obs)?;
            let mut n = 0;
            for step in steps.iter().filter(|s| kind(s)) {
                log(&step.describe(eps));
                run_step(conn, eps, step)?;
                n += 1;
            }
            Ok(n)
        };
    // After a failover a restarted old primary claims its slots until it hears otherwise.
    wait_for("the slot owners to settle", timeout, || match shard_owners(
        &nodes,
        &observe(conn, eps),
    ) {
        Err(ClusterError::Settling(m)) => Err(m),
        _ => Ok(()),
    })?;
    // Phase 1: meet.
    ran += run_phase(|s| matches!(s, Step::Meet { .. }), log)?;
    wait_for("every node to know every other", timeout, || {
        check_joined(&observe(conn, eps), &names)
    })?;
    // Phase 2: slots.
    ran += run_phase(|s| matches!(s, Step::AddSlots { .. }), log)?;
    wait_for("every node to agree on the slots", timeout, || {
        check_slots(&observe(conn, eps), &names)
    })?;
    // Phase 3: replicas.
    ran += run_phase(|s| matches!(s, Step::Replicate { .. }), log)?;
    wait_for(
        "every replica to be seen by all and in sync",
        timeout,
        || {
            let obs = observe(conn, eps);
            check_replicas(&nodes, &obs)?;
            check_slots(&obs, &names)
        },
    )?;
    Ok(ran)
}

/// One row of `status`.
#[derive(Debug, Clone)]
pub struct StatusRow {
    pub name: String,
    pub addr: SocketAddr,
    pub zone: String,
    pub role: String,
    pub slots: String,
    pub cluster_state: String,
}

impl fmt::Display for StatusRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<14} {:<21} {:<6} {:<28} {:<14} {}",
            self.name,
            self.addr.to_string(),
            self.zone,
            self.role,
            self.cluster_state,
            self.slots
        )
    }
}

/// Role, zone, slots and cluster_state of each node, and the problems found: replicas in
/// their primary's zone, disagreement, failing nodes.
pub fn status(eps: &[Endpoint], obs: &[Option<NodeState>]) -> (Vec<StatusRow>, Vec<String>) {
    let mut problems = Vec::new();
    let by_id: BTreeMap<String, usize> = obs
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.as_ref().map(|s| (s.id.clone(), i)))
        .collect();
    let mut rows = Vec::new();
    let mut failing: BTreeMap<String, usize> = BTreeMap::new();
    for (i, e) in eps.iter().enumerate() {
        let mut row = StatusRow {
            name: e.spec.name.clone(),
            addr: e.addr,
            zone: e.spec.zone.clone(),
            role: "unreachable".into(),
            slots: String::new(),
            cluster_state: "-".into(),
        };
        if let Some(s) = answered(&obs[i]) {
            row.cluster_state = s.cluster_state.clone();
            if let Some(me) = s.myself() {
                row.slots = format_ranges(&me.slots);
                if me.flag("slave") {
                    let m = me.master.clone().unwrap_or_default();
                    match by_id.get(&m) {
                        Some(&j) => {
                            row.role = format!("replica of {}", eps[j].spec.name);
                            if eps[j].spec.zone == e.spec.zone {
                                problems.push(format!(
                                    "{} is in the same zone ({}) as its primary {}",
                                    e.spec.name, e.spec.zone, eps[j].spec.name
                                ));
                            }
                            if s.link_up == Some(false) {
                                problems.push(format!("{}: replication link down", e.spec.name));
                            }
                        }
                        None => row.role = format!("replica of {m}"),
                    }
                } else {
                    row.role = "primary".into();
                }
            }
            if s.cluster_state != "ok" {
                problems.push(format!(
                    "{}: cluster_state:{}",
                    e.spec.name, s.cluster_state
                ));
            }
            for p in s.peers.iter().filter(|p| p.failing()) {
                *failing.entry(p.id.clone()).or_insert(0usize) += 1;
            }
        } else {
            if let Some(s) = &obs[i] {
                let flags = s.myself().map(|m| {
                    m.flags
                        .iter()
                        .filter(|f| *f != "myself")
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(",")
                });
                row.role = format!("unreachable (was {})", flags.unwrap_or_default());
            }
            problems.push(format!("{} ({}) does not answer", e.spec.name, e.addr));
        }
        rows.push(row);
    }
    for (id, count) in failing {
        let who = by_id.get(&id).map_or(id.as_str(), |&j| &eps[j].spec.name);
        problems.push(format!("{who} is seen as failing by {count} node(s)"));
    }
    let names: Vec<String> = eps.iter().map(|e| e.spec.name.clone()).collect();
    if obs.iter().all(|o| answered(o).is_some()) {
        if let Err(e) = check_joined(obs, &names) {
            problems.push(e);
        }
        if let Err(e) = check_slots(obs, &names) {
            problems.push(e);
        }
    }
    problems.dedup();
    (rows, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::place;
    use crate::spec::Preset;

    /// `CLUSTER MEET` names where the other nodes reach a node (`meet`: on EC2 its private
    /// address), not where the tool reaches it (`addr`: an ssh tunnel).
    #[test]
    fn meet_names_the_address_the_nodes_use() {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().expect("accept");
            let mut got = Vec::new();
            let mut buf = [0u8; 256];
            while !got.ends_with(b"6379\r\n") {
                let n = s.read(&mut buf).expect("read");
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"+OK\r\n").expect("reply");
            got
        });
        let nodes = place(&Preset::Ha.deployment());
        let eps: Vec<Endpoint> = nodes
            .iter()
            .take(2)
            .map(|n| Endpoint {
                spec: n.clone(),
                addr,
                meet: SocketAddr::from(([10, 0, 1, 10 + n.index as u8], 6379)),
            })
            .collect();
        let conn = Connector {
            timeout: Some(Duration::from_secs(5)),
            ..Connector::default()
        };
        run_step(&conn, &eps, &Step::Meet { node: 1, with: 0 }).expect("meet");
        let got = server.join().expect("server");
        let mut want = Vec::new();
        crate::resp::encode(&["CLUSTER", "MEET", "10.0.1.10", "6379"], &mut want);
        assert_eq!(got, want);
    }

    const NODES: &str = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host1 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 [93->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]
6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:30005@31005 slave,fail? 67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 0 1426238316232 5 disconnected
";

    #[test]
    fn parses_cluster_nodes() {
        let peers = parse_nodes(NODES).expect("parse");
        assert_eq!(peers.len(), 4);
        assert_eq!(peers[0].addr, "127.0.0.1:30004");
        assert!(peers[0].flag("slave"));
        assert_eq!(
            peers[0].master.as_deref(),
            Some("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca")
        );
        assert_eq!(peers[1].slots, vec![(5461, 10922)]);
        assert!(peers[2].flag("myself") && peers[2].master.is_none());
        assert_eq!(peers[2].slots, vec![(0, 5460)]);
        assert!(peers[3].failing() && !peers[3].connected);
        assert!(parse_nodes("abc 1.2.3.4:1@2 master").is_err());
        assert!(parse_nodes(&NODES.replace("0-5460", "0-99999")).is_err());
    }

    fn id(i: usize) -> String {
        format!("{:040}", i)
    }

    /// A healthy view of the `ha` preset as node `me` reports it; `roles[i]` = Some(shard
    /// owner index) for replicas.
    fn view(me: usize, owners: &[usize], nodes: &[NodeSpec]) -> NodeState {
        let mut text = String::new();
        for n in nodes {
            let owner = owners[n.shard];
            let mut flags = if n.index == owner { "master" } else { "slave" }.to_string();
            if n.index == me {
                flags = format!("myself,{flags}");
            }
            let master = if n.index == owner {
                "-".into()
            } else {
                id(owner)
            };
            let slots = if n.index == owner {
                format!("{}-{}", n.slots.0, n.slots.1)
            } else {
                String::new()
            };
            text.push_str(&format!(
                "{} 127.0.0.1:{}@{} {flags} {master} 0 0 1 connected {slots}\n",
                id(n.index),
                7000 + n.index,
                17000 + n.index
            ));
        }
        NodeState {
            id: id(me),
            peers: parse_nodes(&text).expect("view"),
            cluster_state: "ok".into(),
            link_up: (owners[nodes[me].shard] != me).then_some(true),
            reachable: true,
        }
    }

    fn fresh(i: usize) -> NodeState {
        NodeState {
            id: id(i),
            peers: parse_nodes(&format!(
                "{} 127.0.0.1:{}@{} myself,master - 0 0 0 connected\n",
                id(i),
                7000 + i,
                17000 + i
            ))
            .expect("fresh"),
            cluster_state: "fail".into(),
            link_up: None,
            reachable: true,
        }
    }

    #[test]
    fn plan_for_fresh_nodes_is_meet_slots_replicate() {
        let nodes = place(&Preset::Ha.deployment());
        for obs in [
            vec![None; 6],
            (0..6).map(|i| Some(fresh(i))).collect::<Vec<_>>(),
        ] {
            let steps = plan(&nodes, &obs).expect("plan");
            assert_eq!(
                steps,
                vec![
                    Step::Meet { node: 1, with: 0 },
                    Step::Meet { node: 2, with: 0 },
                    Step::Meet { node: 3, with: 0 },
                    Step::Meet { node: 4, with: 0 },
                    Step::Meet { node: 5, with: 0 },
                    Step::AddSlots {
                        node: 0,
                        first: 0,
                        last: 5460
                    },
                    Step::Replicate {
                        node: 3,
                        primary: 0
                    },
                    Step::AddSlots {
                        node: 1,
                        first: 5461,
                        last: 10922
                    },
                    Step::Replicate {
                        node: 4,
                        primary: 1
                    },
                    Step::AddSlots {
                        node: 2,
                        first: 10923,
                        last: 16383
                    },
                    Step::Replicate {
                        node: 5,
                        primary: 2
                    },
                ]
            );
        }
    }

    #[test]
    fn healthy_cluster_needs_nothing_even_after_failover() {
        let nodes = place(&Preset::Ha.deployment());
        let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
        // As created, and with shard 1's replica (node 4) promoted.
        for owners in [vec![0, 1, 2], vec![0, 4, 2]] {
            let obs: Vec<Option<NodeState>> =
                (0..6).map(|i| Some(view(i, &owners, &nodes))).collect();
            assert_eq!(plan(&nodes, &obs).expect("plan"), vec![]);
            check_joined(&obs, &names).expect("joined");
            check_slots(&obs, &names).expect("slots");
            check_replicas(&nodes, &obs).expect("replicas");
            let eps: Vec<Endpoint> = nodes
                .iter()
                .map(|n| Endpoint {
                    spec: n.clone(),
                    addr: SocketAddr::from(([127, 0, 0, 1], 7000 + n.index as u16)),
                    meet: SocketAddr::from(([127, 0, 0, 1], 7000 + n.index as u16)),
                })
                .collect();
            let (rows, problems) = status(&eps, &obs);
            assert!(problems.is_empty(), "{problems:?}");
            assert_eq!(rows[0].role, "primary");
            assert_eq!(rows[0].slots, "0-5460");
            let want = if owners[1] == 4 {
                "primary"
            } else {
                "replica of ferrodis-2"
            };
            assert_eq!(rows[4].role, want);
        }
    }

    #[test]
    fn half_done_cluster_resumes_where_it_stopped() {
        let nodes = place(&Preset::Ha.deployment());
        let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
        let mut obs: Vec<Option<NodeState>> =
            (0..6).map(|i| Some(view(i, &[0, 1, 2], &nodes))).collect();
        // Node 5 still a primary without slots (its REPLICATE never ran).
        for o in obs.iter_mut().flatten() {
            for p in o.peers.iter_mut().filter(|p| p.id == id(5)) {
                p.flags.remove("slave");
                p.flags.insert("master".into());
                p.master = None;
            }
        }
        assert_eq!(
            plan(&nodes, &obs).expect("plan"),
            vec![Step::Replicate {
                node: 5,
                primary: 2
            }]
        );
        assert!(check_replicas(&nodes, &obs).is_err());
        // Node 2 lost: the plan still stands, the checks fail.
        obs[2] = None;
        assert!(check_joined(&obs, &names).is_err());
    }

    #[test]
    fn slots_held_by_the_wrong_shard_are_a_conflict() {
        let nodes = place(&Preset::Ha.deployment());
        let mut obs: Vec<Option<NodeState>> = (0..6).map(|i| Some(fresh(i))).collect();
        if let Some(o) = obs[1].as_mut() {
            o.peers[0].slots = vec![(0, 100)];
        }
        let err = plan(&nodes, &obs).expect_err("conflict").to_string();
        assert!(err.contains("held by ferrodis-2"), "{err}");
    }

    #[test]
    fn status_flags_a_replica_in_its_primarys_zone() {
        let mut d = Preset::Ha.deployment();
        d.zones = vec!["a".into(), "b".into()];
        let mut nodes = place(&d);
        nodes[3].zone = "a".into(); // as if misplaced by hand
        let obs: Vec<Option<NodeState>> =
            (0..6).map(|i| Some(view(i, &[0, 1, 2], &nodes))).collect();
        let eps: Vec<Endpoint> = nodes
            .iter()
            .map(|n| Endpoint {
                spec: n.clone(),
                addr: SocketAddr::from(([127, 0, 0, 1], 7000 + n.index as u16)),
                meet: SocketAddr::from(([127, 0, 0, 1], 7000 + n.index as u16)),
            })
            .collect();
        let (_, problems) = status(&eps, &obs);
        assert_eq!(
            problems,
            vec!["ferrodis-4 is in the same zone (a) as its primary ferrodis-1".to_string()]
        );
    }

    #[test]
    fn covers_and_overlaps() {
        assert!(covers(&[(0, 10), (11, 20)], (0, 20)));
        assert!(!covers(&[(0, 10), (12, 20)], (0, 20)));
        assert!(overlaps(&[(5, 6)], (6, 100)));
        assert!(!overlaps(&[(5, 6)], (7, 100)));
    }
}
