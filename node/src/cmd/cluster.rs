//! Cluster commands: CLUSTER and its subcommands, ASKING, READONLY, READWRITE.
//! The bus state lives in the gossip driver: reads come from its latest [`View`], changes go
//! to it as [`BusCommand`]s (validated here first, with Redis's texts).

use std::fmt::Write as _;

use ferrodis_gossip::msg::MSG_TYPES;
use ferrodis_gossip::state::FailoverKind;
use ferrodis_gossip::{nflags, Command as BusCommand, NodeId, NodeView, Reply, SetSlot, View};

use super::{acl, flags as f, CmdResult, Command};
use crate::cluster::{nodes_conf, Cluster};
use crate::db::{key_slot, SLOTS};
use crate::dispatch::Ctx;
use crate::error::CmdError;
use crate::server::unix_ms;

const SUB: u32 = f::STALE;
const ADMIN_SUB: u32 = f::ADMIN | f::STALE | f::NO_ASYNC_LOADING;
/// The tip of subcommands whose answer depends on the node and the moment.
const NONDET: &[&str] = &["nondeterministic_output"];

macro_rules! sub {
    ($name:literal, $arity:expr, $flags:expr, $handler:ident, $summary:literal) => {
        sub!($name, $arity, $flags, $handler, $summary, &[])
    };
    ($name:literal, $arity:expr, $flags:expr, $handler:ident, $summary:literal, $tips:expr) => {
        Command {
            name: $name,
            arity: $arity,
            flags: $flags,
            handler: Some($handler),
            tips: $tips,
            group: "cluster",
            since: "3.0.0",
            complexity: "O(N)",
            summary: $summary,
            ..Command::DEFAULT
        }
    };
}

pub static COMMANDS: &[Command] = &[
    Command {
        name: "cluster",
        arity: -2,
        group: "cluster",
        since: "3.0.0",
        complexity: "Depends on subcommand.",
        summary: "A container for Redis Cluster commands.",
        subcommands: &[
            sub!(
                "addslots",
                -3,
                ADMIN_SUB,
                addslots,
                "Assigns new hash slots to the node."
            ),
            sub!(
                "addslotsrange",
                -4,
                ADMIN_SUB,
                addslotsrange,
                "Assigns new hash slot ranges to the node."
            ),
            sub!(
                "bumpepoch",
                2,
                ADMIN_SUB,
                bumpepoch,
                "Advances the cluster config epoch.",
                NONDET
            ),
            sub!(
                "count-failure-reports",
                3,
                f::ADMIN | SUB,
                count_failure_reports,
                "Returns the number of active failure reports for a node.",
                NONDET
            ),
            sub!(
                "countkeysinslot",
                3,
                SUB,
                countkeysinslot,
                "Returns the number of keys in a hash slot."
            ),
            sub!(
                "delslots",
                -3,
                ADMIN_SUB,
                delslots,
                "Sets hash slots as unbound for a node."
            ),
            sub!(
                "delslotsrange",
                -4,
                ADMIN_SUB,
                delslotsrange,
                "Sets hash slot ranges as unbound for a node."
            ),
            sub!(
                "flushslots",
                2,
                ADMIN_SUB,
                flushslots,
                "Deletes all slots information from a node."
            ),
            sub!(
                "failover",
                -2,
                ADMIN_SUB,
                failover,
                "Forces a replica to perform a manual failover of its master."
            ),
            sub!(
                "forget",
                3,
                ADMIN_SUB,
                forget,
                "Removes a node from the nodes table."
            ),
            sub!(
                "getkeysinslot",
                4,
                SUB,
                getkeysinslot,
                "Returns the key names in a hash slot.",
                NONDET
            ),
            sub!(
                "help",
                2,
                f::LOADING | f::STALE,
                help,
                "Returns helpful text about the different subcommands."
            ),
            sub!(
                "info",
                2,
                SUB,
                info,
                "Returns information about the state of a node.",
                NONDET
            ),
            sub!(
                "keyslot",
                3,
                SUB,
                keyslot,
                "Returns the hash slot for a key."
            ),
            sub!(
                "links",
                2,
                SUB,
                links,
                "Returns a list of all TCP links to and from peer nodes.",
                NONDET
            ),
            sub!(
                "meet",
                -4,
                ADMIN_SUB,
                meet,
                "Forces a node to handshake with another node."
            ),
            sub!("myid", 2, SUB, myid, "Returns the ID of a node."),
            sub!(
                "nodes",
                2,
                SUB,
                nodes,
                "Returns the cluster configuration for a node.",
                NONDET
            ),
            sub!(
                "replicas",
                3,
                f::ADMIN | SUB,
                replicas,
                "Lists the replica nodes of a master node.",
                NONDET
            ),
            sub!(
                "replicate",
                3,
                ADMIN_SUB,
                replicate,
                "Configure a node as replica of a master node."
            ),
            sub!(
                "reset",
                -2,
                f::ADMIN | f::NOSCRIPT | f::STALE,
                reset,
                "Resets a node."
            ),
            sub!(
                "saveconfig",
                2,
                ADMIN_SUB,
                saveconfig,
                "Forces a node to save the cluster configuration to disk."
            ),
            sub!(
                "set-config-epoch",
                3,
                ADMIN_SUB,
                set_config_epoch,
                "Sets the configuration epoch for a new node."
            ),
            sub!(
                "setslot",
                -4,
                ADMIN_SUB,
                setslot,
                "Binds a hash slot to a node."
            ),
            sub!(
                "shards",
                2,
                SUB,
                shards,
                "Returns the mapping of cluster slots to shards.",
                NONDET
            ),
            sub!(
                "slaves",
                3,
                f::ADMIN | SUB,
                replicas,
                "Lists the replica nodes of a master node.",
                NONDET
            ),
            sub!(
                "slots",
                2,
                SUB,
                slots,
                "Returns the mapping of cluster slots to nodes.",
                NONDET
            ),
        ],
        ..Command::DEFAULT
    },
    Command {
        name: "asking",
        arity: 1,
        flags: f::FAST,
        acl: acl::CONNECTION,
        handler: Some(asking),
        group: "cluster",
        since: "3.0.0",
        summary: "Signals that a cluster client is following an -ASK redirect.",
        ..Command::DEFAULT
    },
    Command {
        name: "readonly",
        arity: 1,
        flags: f::LOADING | f::STALE | f::FAST,
        acl: acl::CONNECTION,
        handler: Some(readonly),
        group: "cluster",
        since: "3.0.0",
        summary: "Enables read-only queries for a connection to a Redis Cluster replica node.",
        ..Command::DEFAULT
    },
    Command {
        name: "readwrite",
        arity: 1,
        flags: f::LOADING | f::STALE | f::FAST,
        acl: acl::CONNECTION,
        handler: Some(readwrite),
        group: "cluster",
        since: "3.0.0",
        summary: "Enables read-write queries for a connection to a Reids Cluster replica node.",
        ..Command::DEFAULT
    },
];

fn disabled() -> CmdError {
    CmdError::raw("ERR This instance has cluster support disabled")
}

fn cluster<'a>(ctx: &Ctx<'_, 'a>) -> Result<&'a Cluster, CmdError> {
    ctx.server.cluster.get().ok_or_else(disabled)
}

fn text(ctx: &mut Ctx, s: &str) {
    ctx.out.verbatim(s.as_bytes());
}

fn asking(ctx: &mut Ctx) -> CmdResult {
    cluster(ctx)?;
    ctx.client.asking = true;
    ctx.out.ok();
    Ok(())
}

fn readonly(ctx: &mut Ctx) -> CmdResult {
    cluster(ctx)?;
    ctx.client.readonly = true;
    ctx.out.ok();
    Ok(())
}

fn readwrite(ctx: &mut Ctx) -> CmdResult {
    cluster(ctx)?;
    ctx.client.readonly = false;
    ctx.out.ok();
    Ok(())
}

/// A slot argument (Redis `getSlotOrReply`).
fn slot_arg(arg: &[u8]) -> Result<u16, CmdError> {
    match crate::util::num::parse_i64(arg) {
        Some(s) if (0..SLOTS as i64).contains(&s) => Ok(s as u16),
        _ => Err(CmdError::raw("ERR Invalid or out of range slot")),
    }
}

fn node_arg(arg: &[u8]) -> Option<NodeId> {
    NodeId::parse(arg)
}

fn lossy(b: &[u8]) -> String {
    crate::error::lossy(b, 256)
}

fn help(ctx: &mut Ctx) -> CmdResult {
    cluster(ctx)?;
    const LINES: &[&str] = &[
        "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ADDSLOTS <slot> [<slot> ...]",
        "    Assign slots to current node.",
        "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
        "    Assign slots which are between <start-slot> and <end-slot> to current node.",
        "BUMPEPOCH",
        "    Advance the cluster config epoch.",
        "COUNT-FAILURE-REPORTS <node-id>",
        "    Return number of failure reports for <node-id>.",
        "COUNTKEYSINSLOT <slot>",
        "    Return the number of keys in <slot>.",
        "DELSLOTS <slot> [<slot> ...]",
        "    Delete slots information from current node.",
        "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
        "    Delete slots information which are between <start-slot> and <end-slot> from current node.",
        "FAILOVER [FORCE|TAKEOVER]",
        "    Promote current replica node to being a master.",
        "FORGET <node-id>",
        "    Remove a node from the cluster.",
        "GETKEYSINSLOT <slot> <count>",
        "    Return key names stored by current node in a slot.",
        "FLUSHSLOTS",
        "    Delete current node own slots information.",
        "INFO",
        "    Return information about the cluster.",
        "KEYSLOT <key>",
        "    Return the hash slot for <key>.",
        "MEET <ip> <port> [<bus-port>]",
        "    Connect nodes into a working cluster.",
        "MYID",
        "    Return the node id.",
        "NODES",
        "    Return cluster configuration seen by node. Output format:",
        "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
        "REPLICATE <node-id>",
        "    Configure current node as replica to <node-id>.",
        "RESET [HARD|SOFT]",
        "    Reset current node (default: soft).",
        "SET-CONFIG-EPOCH <epoch>",
        "    Set config epoch of current node.",
        "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
        "    Set slot state.",
        "REPLICAS <node-id>",
        "    Return <node-id> replicas.",
        "SAVECONFIG",
        "    Force saving cluster configuration on disk.",
        "SLOTS",
        "    Return information about slots range mappings. Each range is made of:",
        "    start, end, master and replicas IP addresses, ports and ids",
        "SHARDS",
        "    Return information about slot range mappings and the nodes associated with them.",
        "LINKS",
        "    Return information about all network links between this node and its peers.",
        "    Output format is an array where each array element is a map containing attributes of a link",
        "HELP",
        "    Prints this help.",
    ];
    ctx.out.array(LINES.len());
    for l in LINES {
        ctx.out.simple(l);
    }
    Ok(())
}

fn myid(ctx: &mut Ctx) -> CmdResult {
    let view = cluster(ctx)?.view();
    ctx.out.bulk(view.myself.to_string().as_bytes());
    Ok(())
}

fn keyslot(ctx: &mut Ctx) -> CmdResult {
    cluster(ctx)?;
    let slot = key_slot(ctx.arg(2));
    ctx.out.int(slot as i64);
    Ok(())
}

fn countkeysinslot(ctx: &mut Ctx) -> CmdResult {
    cluster(ctx)?;
    let slot = ctx.int_arg(2)?;
    if !(0..SLOTS as i64).contains(&slot) {
        return Err(CmdError::raw("ERR Invalid slot"));
    }
    let n = with_slot(ctx, slot as u16, |db| db.count_in_slot(slot as u16));
    ctx.out.int(n as i64);
    Ok(())
}

/// Runs `f` on a view of database 0 holding `slot`'s shard: the command's own when it holds
/// every shard (in a transaction or a script, which hold locks this thread must not take
/// again), else one locked for the purpose.
fn with_slot<R>(
    ctx: &mut Ctx<'_, '_>,
    slot: u16,
    f: impl FnOnce(&mut crate::db::Db<'_>) -> R,
) -> R {
    ctx.with_view(0, Some(&[slot]), f)
}

fn getkeysinslot(ctx: &mut Ctx) -> CmdResult {
    cluster(ctx)?;
    let slot = ctx.int_arg(2)?;
    let max = ctx.int_arg(3)?;
    if max < 0 || !(0..SLOTS as i64).contains(&slot) {
        return Err(CmdError::raw("ERR Invalid slot or number of keys"));
    }
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    let keys = with_slot(ctx, slot as u16, |db| db.keys_in_slot(slot as u16, max));
    ctx.out.array(keys.len());
    for k in &keys {
        ctx.out.bulk(k);
    }
    Ok(())
}

fn info(ctx: &mut Ctx) -> CmdResult {
    let view = cluster(ctx)?.view();
    let me = view.me();
    let my_epoch = match me.primary.and_then(|p| view.node(&p)) {
        Some(p) => p.config_epoch,
        None => me.config_epoch,
    };
    let mut s = String::new();
    let _ = write!(
        s,
        "cluster_state:{}\r\ncluster_slots_assigned:{}\r\ncluster_slots_ok:{}\r\n\
         cluster_slots_pfail:{}\r\ncluster_slots_fail:{}\r\ncluster_known_nodes:{}\r\n\
         cluster_size:{}\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{}\r\n",
        if view.state_ok { "ok" } else { "fail" },
        view.slots_assigned,
        view.slots_ok,
        view.slots_pfail,
        view.slots_fail,
        view.nodes.len(),
        view.size,
        view.current_epoch,
        my_epoch
    );
    for (dir, counts) in [
        ("sent", &view.stats_sent),
        ("received", &view.stats_received),
    ] {
        for (name, n) in MSG_TYPES.iter().zip(counts.iter()) {
            if *n > 0 {
                let _ = write!(s, "cluster_stats_messages_{name}_{dir}:{n}\r\n");
            }
        }
        let total: u64 = counts.iter().sum();
        let _ = write!(s, "cluster_stats_messages_{dir}:{total}\r\n");
    }
    s.push_str("total_cluster_links_buffer_limit_exceeded:0\r\n");
    text(ctx, &s);
    Ok(())
}

fn nodes(ctx: &mut Ctx) -> CmdResult {
    let view = cluster(ctx)?.view();
    let s = nodes_conf::cluster_nodes(&view, unix_ms());
    text(ctx, &s);
    Ok(())
}

/// ip, port, id and the metadata map (hostname when set), as CLUSTER SLOTS lists a node.
fn slot_node(ctx: &mut Ctx, n: &NodeView) {
    ctx.out.array(4);
    ctx.out.bulk(n.ip.as_bytes());
    ctx.out.int(n.port as i64);
    ctx.out.bulk(n.id.to_string().as_bytes());
    if n.hostname.is_empty() {
        ctx.out.map(0);
    } else {
        ctx.out.map(1);
        ctx.out.bulk(b"hostname");
        ctx.out.bulk(n.hostname.as_bytes());
    }
}

fn replicas_of<'v>(view: &'v View, id: &NodeId) -> Vec<&'v NodeView> {
    view.nodes
        .iter()
        .filter(|n| n.primary.as_ref() == Some(id) && !n.is_primary())
        .collect()
}

fn slots(ctx: &mut Ctx) -> CmdResult {
    let view = cluster(ctx)?.view();
    // Every range of every primary, in slot order.
    let mut ranges: Vec<(u16, u16, &NodeView)> = view
        .nodes
        .iter()
        .filter(|n| n.is_primary())
        .flat_map(|n| n.slots.iter().map(move |&(a, b)| (a, b, n)))
        .collect();
    ranges.sort_by_key(|r| r.0);
    ctx.out.array(ranges.len());
    for (a, b, n) in ranges {
        let reps: Vec<&NodeView> = replicas_of(&view, &n.id)
            .into_iter()
            .filter(|r| !r.is_failed())
            .collect();
        ctx.out.array(3 + reps.len());
        ctx.out.int(a as i64);
        ctx.out.int(b as i64);
        slot_node(ctx, n);
        for r in reps {
            slot_node(ctx, r);
        }
    }
    Ok(())
}

fn shard_node(ctx: &mut Ctx, n: &NodeView) {
    let fields = if n.hostname.is_empty() { 7 } else { 8 };
    ctx.out.map(fields);
    ctx.out.bulk(b"id");
    ctx.out.bulk(n.id.to_string().as_bytes());
    ctx.out.bulk(b"port");
    ctx.out.int(n.port as i64);
    ctx.out.bulk(b"ip");
    ctx.out.bulk(n.ip.as_bytes());
    ctx.out.bulk(b"endpoint");
    ctx.out.bulk(n.ip.as_bytes());
    if !n.hostname.is_empty() {
        ctx.out.bulk(b"hostname");
        ctx.out.bulk(n.hostname.as_bytes());
    }
    ctx.out.bulk(b"role");
    ctx.out.bulk(if n.is_primary() {
        b"master"
    } else {
        b"replica"
    });
    ctx.out.bulk(b"replication-offset");
    ctx.out.int(n.repl_offset as i64);
    ctx.out.bulk(b"health");
    ctx.out
        .bulk(if n.is_failed() { b"fail" } else { b"online" });
}

fn shards(ctx: &mut Ctx) -> CmdResult {
    let view = cluster(ctx)?.view();
    let primaries: Vec<&NodeView> = view
        .nodes
        .iter()
        .filter(|n| n.is_primary() && n.flags & nflags::HANDSHAKE == 0)
        .collect();
    ctx.out.array(primaries.len());
    for p in primaries {
        ctx.out.map(2);
        ctx.out.bulk(b"slots");
        ctx.out.array(p.slots.len() * 2);
        for &(a, b) in &p.slots {
            ctx.out.int(a as i64);
            ctx.out.int(b as i64);
        }
        ctx.out.bulk(b"nodes");
        let reps = replicas_of(&view, &p.id);
        ctx.out.array(1 + reps.len());
        shard_node(ctx, p);
        for r in reps {
            shard_node(ctx, r);
        }
    }
    Ok(())
}

fn links(ctx: &mut Ctx) -> CmdResult {
    let view = cluster(ctx)?.view();
    let peers: Vec<&NodeView> = view
        .nodes
        .iter()
        .filter(|n| !n.is_myself() && n.connected)
        .collect();
    ctx.out.array(peers.len());
    for n in peers {
        ctx.out.map(6);
        ctx.out.bulk(b"direction");
        ctx.out.bulk(b"to");
        ctx.out.bulk(b"node");
        ctx.out.bulk(n.id.to_string().as_bytes());
        ctx.out.bulk(b"create-time");
        ctx.out.int(n.pong_received as i64);
        ctx.out.bulk(b"events");
        ctx.out.bulk(b"r");
        ctx.out.bulk(b"send-buffer-allocated");
        ctx.out.int(0);
        ctx.out.bulk(b"send-buffer-used");
        ctx.out.int(0);
    }
    Ok(())
}

/// Checks ADDSLOTS/DELSLOTS arguments in Redis's order: each slot parsed, then busy (or
/// unassigned), then given twice.
fn check_slots(view: &View, slots: &[u16], del: bool) -> Result<(), CmdError> {
    let mut seen = vec![false; SLOTS];
    for &s in slots {
        let owned = view.routing.owner(s).is_some();
        if del && !owned {
            return Err(CmdError::err(format!("Slot {s} is already unassigned")));
        }
        if !del && owned {
            return Err(CmdError::err(format!("Slot {s} is already busy")));
        }
        if std::mem::replace(&mut seen[s as usize], true) {
            return Err(CmdError::err(format!("Slot {s} specified multiple times")));
        }
    }
    Ok(())
}

fn slot_list(ctx: &Ctx) -> Result<Vec<u16>, CmdError> {
    ctx.args[2..].iter().map(|a| slot_arg(a)).collect()
}

fn range_list(ctx: &Ctx) -> Result<Vec<u16>, CmdError> {
    if ctx.args.len() % 2 == 1 {
        return Err(CmdError::WrongArity(format!(
            "cluster|{}",
            String::from_utf8_lossy(ctx.arg(1)).to_lowercase()
        )));
    }
    let mut out = Vec::new();
    for pair in ctx.args[2..].chunks(2) {
        let a = slot_arg(&pair[0])?;
        let b = slot_arg(&pair[1])?;
        if a > b {
            return Err(CmdError::err(format!(
                "start slot number {a} is greater than end slot number {b}"
            )));
        }
        out.extend(a..=b);
    }
    Ok(out)
}

fn change_slots(ctx: &mut Ctx, slots: Vec<u16>, del: bool) -> CmdResult {
    let c = cluster(ctx)?;
    check_slots(&c.view(), &slots, del)?;
    let cmd = if del {
        BusCommand::DelSlots(slots)
    } else {
        BusCommand::AddSlots(slots)
    };
    c.call(cmd)?;
    ctx.out.ok();
    Ok(())
}

fn addslots(ctx: &mut Ctx) -> CmdResult {
    cluster(ctx)?;
    let slots = slot_list(ctx)?;
    change_slots(ctx, slots, false)
}

fn addslotsrange(ctx: &mut Ctx) -> CmdResult {
    cluster(ctx)?;
    let slots = range_list(ctx)?;
    change_slots(ctx, slots, false)
}

fn delslots(ctx: &mut Ctx) -> CmdResult {
    cluster(ctx)?;
    let slots = slot_list(ctx)?;
    change_slots(ctx, slots, true)
}

fn delslotsrange(ctx: &mut Ctx) -> CmdResult {
    cluster(ctx)?;
    let slots = range_list(ctx)?;
    change_slots(ctx, slots, true)
}

fn db0_is_empty(ctx: &Ctx) -> bool {
    // The command's own view when it holds every shard (see `with_slot`).
    let counts = ctx
        .db
        .counts()
        .unwrap_or_else(|| ctx.server.keyspace.counts());
    counts[0].0 == 0
}

fn flushslots(ctx: &mut Ctx) -> CmdResult {
    let c = cluster(ctx)?;
    if !db0_is_empty(ctx) {
        return Err(CmdError::raw(
            "ERR DB must be empty to perform CLUSTER FLUSHSLOTS.",
        ));
    }
    c.call(BusCommand::FlushSlots)?;
    ctx.out.ok();
    Ok(())
}

fn meet(ctx: &mut Ctx) -> CmdResult {
    let c = cluster(ctx)?;
    if ctx.args.len() > 5 {
        return Err(CmdError::subcommand_syntax(ctx.arg(1), "CLUSTER"));
    }
    let ip_arg = lossy(ctx.arg(2));
    let port_arg = lossy(ctx.arg(3));
    let Some(port) = crate::util::num::parse_i64(ctx.arg(3)) else {
        return Err(CmdError::err(format!(
            "Invalid TCP base port specified: {port_arg}"
        )));
    };
    let cport = match ctx.args.get(4) {
        Some(a) => match crate::util::num::parse_i64(a) {
            Some(p) => p,
            None => {
                return Err(CmdError::err(format!(
                    "Invalid TCP bus port specified: {}",
                    lossy(a)
                )))
            }
        },
        None => port + 10000,
    };
    let invalid = || {
        CmdError::err(format!(
            "Invalid node address specified: {ip_arg}:{port_arg}"
        ))
    };
    let ip: std::net::IpAddr = ip_arg.parse().map_err(|_| invalid())?;
    if !(1..=65535).contains(&port) || !(1..=65535).contains(&cport) {
        return Err(invalid());
    }
    let ip = match ip {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or_else(|| v6.to_string(), |v4| v4.to_string()),
        v4 => v4.to_string(),
    };
    c.call(BusCommand::Meet {
        ip,
        port: port as u16,
        cport: cport as u16,
    })
    .map_err(|_| invalid())?;
    ctx.out.ok();
    Ok(())
}

fn unknown_node(arg: &[u8]) -> CmdError {
    CmdError::err(format!("Unknown node {}", lossy(arg)))
}

fn replicate(ctx: &mut Ctx) -> CmdResult {
    let c = cluster(ctx)?;
    let arg = ctx.arg(2);
    let id = node_arg(arg).ok_or_else(|| unknown_node(arg))?;
    let view = c.view();
    let me = view.me();
    // A primary must hold no keys to follow another (the bus checks its slots and the rest,
    // in Redis's order: this check comes after "unknown", "myself" and "a replica").
    let target_ok = view.node(&id).is_some_and(|n| n.is_primary()) && id != me.id;
    if me.is_primary() && target_ok && !db0_is_empty(ctx) {
        return Err(CmdError::raw(
            "ERR To set a master the node must be empty and without assigned slots.",
        ));
    }
    c.call_about(BusCommand::Replicate(id), &lossy(arg))?;
    ctx.out.ok();
    Ok(())
}

fn failover(ctx: &mut Ctx) -> CmdResult {
    let c = cluster(ctx)?;
    let kind = match ctx.args.len() {
        2 => FailoverKind::Default,
        3 if ctx.arg(2).eq_ignore_ascii_case(b"force") => FailoverKind::Force,
        3 if ctx.arg(2).eq_ignore_ascii_case(b"takeover") => FailoverKind::Takeover,
        _ => return Err(CmdError::raw("ERR syntax error")),
    };
    c.call(BusCommand::Failover(kind))?;
    ctx.out.ok();
    Ok(())
}

fn forget(ctx: &mut Ctx) -> CmdResult {
    let c = cluster(ctx)?;
    let arg = ctx.arg(2);
    let id = node_arg(arg).ok_or_else(|| unknown_node(arg))?;
    c.call_about(BusCommand::Forget(id), &lossy(arg))?;
    ctx.out.ok();
    Ok(())
}

fn reset(ctx: &mut Ctx) -> CmdResult {
    let c = cluster(ctx)?;
    let hard = match ctx.args.get(2) {
        None => false,
        Some(a) if a.eq_ignore_ascii_case(b"hard") => true,
        Some(a) if a.eq_ignore_ascii_case(b"soft") => false,
        Some(_) => return Err(CmdError::Syntax),
    };
    if ctx.args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    if c.view().me().is_primary() && !db0_is_empty(ctx) {
        return Err(CmdError::raw(
            "ERR CLUSTER RESET can't be called with master nodes containing keys",
        ));
    }
    c.call(BusCommand::Reset { hard })?;
    ctx.out.ok();
    Ok(())
}

fn saveconfig(ctx: &mut Ctx) -> CmdResult {
    let c = cluster(ctx)?;
    c.flush()
        .map_err(|e| CmdError::err(format!("error saving the cluster node config: {e}")))?;
    ctx.out.ok();
    Ok(())
}

fn set_config_epoch(ctx: &mut Ctx) -> CmdResult {
    let c = cluster(ctx)?;
    let e = ctx.int_arg(2)?;
    if e < 0 {
        return Err(CmdError::err(format!(
            "Invalid config epoch specified: {e}"
        )));
    }
    c.call(BusCommand::SetConfigEpoch(e as u64))?;
    ctx.out.ok();
    Ok(())
}

fn bumpepoch(ctx: &mut Ctx) -> CmdResult {
    let c = cluster(ctx)?;
    if let Reply::Bumped(bumped, epoch) = c.call(BusCommand::BumpEpoch)? {
        let word = if bumped { "BUMPED" } else { "STILL" };
        ctx.out.simple(&format!("{word} {epoch}"));
        return Ok(());
    }
    Err(CmdError::raw("ERR unexpected answer from the cluster bus"))
}

fn count_failure_reports(ctx: &mut Ctx) -> CmdResult {
    let c = cluster(ctx)?;
    let arg = ctx.arg(2);
    let id = node_arg(arg).ok_or_else(|| unknown_node(arg))?;
    match c.call_about(BusCommand::CountFailureReports(id), &lossy(arg))? {
        Reply::Count(n) => {
            ctx.out.int(n as i64);
            Ok(())
        }
        _ => Err(CmdError::raw("ERR unexpected answer from the cluster bus")),
    }
}

fn replicas(ctx: &mut Ctx) -> CmdResult {
    let c = cluster(ctx)?;
    let arg = ctx.arg(2);
    let view = c.view();
    let node = node_arg(arg)
        .and_then(|id| view.node(&id))
        .ok_or_else(|| unknown_node(arg))?;
    if !node.is_primary() {
        return Err(CmdError::raw("ERR The specified node is not a master"));
    }
    let now = unix_ms();
    let lines: Vec<String> = replicas_of(&view, &node.id)
        .into_iter()
        .map(|r| nodes_conf::node_line(&view, r, false, now))
        .collect();
    ctx.out.array(lines.len());
    for l in lines {
        ctx.out.bulk(l.as_bytes());
    }
    Ok(())
}

fn setslot(ctx: &mut Ctx) -> CmdResult {
    let c = cluster(ctx)?;
    let view = c.view();
    if view.me().flags & nflags::SLAVE != 0 {
        return Err(CmdError::raw("ERR Please use SETSLOT only with masters."));
    }
    let slot = slot_arg(ctx.arg(2))?;
    let action = ctx.upper(3);
    let bad = || {
        CmdError::raw("ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP")
    };
    let argc = ctx.args.len();
    let target = |i: usize| -> Option<NodeId> {
        node_arg(&ctx.args[i]).filter(|id| view.node(id).is_some())
    };
    let owner = view.routing.owner(slot).map(|t| t.myself);
    let not_primary = || CmdError::raw("ERR Target node is not a master");
    let dont_know =
        |i: usize| CmdError::err(format!("I don't know about node {}", lossy(&ctx.args[i])));
    let action = match (action.as_slice(), argc) {
        (b"MIGRATING", 5) => {
            if owner != Some(true) {
                return Err(CmdError::err(format!(
                    "I'm not the owner of hash slot {slot}"
                )));
            }
            let id = target(4).ok_or_else(|| dont_know(4))?;
            SetSlot::Migrating(id)
        }
        (b"IMPORTING", 5) => {
            if owner == Some(true) {
                return Err(CmdError::err(format!(
                    "I'm already the owner of hash slot {slot}"
                )));
            }
            let id = target(4).ok_or_else(|| dont_know(4))?;
            SetSlot::Importing(id)
        }
        (b"STABLE", 4) => SetSlot::Stable,
        (b"NODE", 5) => {
            let id = target(4).ok_or_else(|| unknown_node(&ctx.args[4]))?;
            if view.node(&id).is_some_and(|n| !n.is_primary()) {
                return Err(not_primary());
            }
            if owner == Some(true) && id != view.myself {
                let keys = with_slot(ctx, slot, |db| db.count_in_slot(slot));
                if keys != 0 {
                    return Err(CmdError::err(format!("Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot.")));
                }
            }
            SetSlot::Node(id)
        }
        _ => return Err(bad()),
    };
    if let SetSlot::Migrating(id) | SetSlot::Importing(id) = &action {
        if view.node(id).is_some_and(|n| !n.is_primary()) {
            return Err(not_primary());
        }
    }
    c.call(BusCommand::SetSlot { slot, action })?;
    ctx.out.ok();
    Ok(())
}
