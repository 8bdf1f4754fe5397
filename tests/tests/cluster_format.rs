//! Differential format test: a three-primary stock Redis cluster and a three-primary ferrodis
//! cluster, built by the same `redis-cli --cluster create`, answer CLUSTER NODES, SLOTS,
//! SHARDS and INFO alike field by field once ids, addresses, ports and timestamps are named
//! by the node's position (RESP2 and RESP3 both).

use std::time::Duration;

use ferrodis_tests::cluster::{self, wait_for};
use ferrodis_tests::resp_client::Kind;
use ferrodis_tests::{Flavor, Reply, Server};

/// Node i's id, port and bus port, to be replaced by names.
struct Names {
    ids: Vec<String>,
    ports: Vec<u16>,
}

impl Names {
    fn of(nodes: &[Server]) -> Names {
        let ids = nodes
            .iter()
            .map(|s| {
                s.client()
                    .ok(["CLUSTER", "MYID"])
                    .as_str()
                    .unwrap_or_default()
            })
            .collect();
        Names {
            ids,
            ports: nodes.iter().map(|s| s.port()).collect(),
        }
    }

    fn text(&self, t: &str) -> String {
        let mut t = t.to_string();
        for (i, id) in self.ids.iter().enumerate() {
            t = t.replace(id.as_str(), &format!("<id{i}>"));
        }
        for (i, p) in self.ports.iter().enumerate() {
            t = t.replace(
                &format!(":{}@{}", p, p + 10000),
                &format!(":<port{i}>@<cport{i}>"),
            );
            t = t.replace(&format!("127.0.0.1:{p}"), &format!("127.0.0.1:<port{i}>"));
        }
        t
    }

    /// A reply rendered as nested text with ids and ports named.
    fn reply(&self, r: &Reply) -> String {
        match r.kind() {
            k if k.is_aggregate() => {
                let inner: Vec<String> = r.children().iter().map(|c| self.reply(c)).collect();
                format!("{:?}[{}]", k, inner.join(", "))
            }
            Kind::Integer => {
                let n = r.as_int().unwrap_or(-1);
                match self.ports.iter().position(|&p| p as i64 == n) {
                    Some(i) => format!("<port{i}>"),
                    None => n.to_string(),
                }
            }
            k => format!("{:?}({})", k, self.text(&r.as_str().unwrap_or_default())),
        }
    }
}

/// CLUSTER NODES with names, timestamps blanked, lines sorted.
fn nodes_text(names: &Names, s: &Server) -> Vec<String> {
    let t = names.text(&cluster::cluster_text(s, "NODES"));
    let mut lines: Vec<String> = t
        .lines()
        .map(|l| {
            l.split(' ')
                .enumerate()
                .map(|(i, f)| if i == 4 || i == 5 { "<t>" } else { f })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    lines.sort();
    lines
}

/// CLUSTER INFO with the per-type message counters left out (their mix is the bus's own),
/// the totals kept as names only.
fn info_text(s: &Server) -> Vec<String> {
    cluster::cluster_text(s, "INFO")
        .lines()
        .filter(|l| {
            !(l.starts_with("cluster_stats_messages_")
                && l.split(':').next().is_some_and(|k| {
                    k != "cluster_stats_messages_sent" && k != "cluster_stats_messages_received"
                }))
        })
        .map(|l| {
            if l.starts_with("cluster_stats_messages_") {
                l.split(':').next().unwrap_or_default().to_string()
            } else {
                l.to_string()
            }
        })
        .collect()
}

struct Side {
    nodes: Vec<Server>,
    names: Names,
}

fn build(flavor: Flavor) -> Side {
    let nodes = cluster::start_nodes(flavor, 3, 5000);
    let out = cluster::create(&nodes);
    assert!(
        out.success && out.stdout.contains("[OK] All 16384 slots covered"),
        "{} cluster create:\n{}\n{}",
        flavor.name(),
        out.stdout,
        out.stderr
    );
    wait_for(Duration::from_secs(30), "the cluster to agree", || {
        cluster::all_joined(&nodes, 3)
    });
    let names = Names::of(&nodes);
    // Every node has heard every other's header (config epochs included).
    let view = |s: &Server| -> Vec<String> {
        nodes_text(&names, s)
            .iter()
            .map(|l| l.replace("myself,", ""))
            .collect()
    };
    wait_for(
        Duration::from_secs(30),
        "every node to see the same table",
        || {
            let first = view(&nodes[0]);
            nodes.iter().all(|s| view(s) == first)
        },
    );
    Side { nodes, names }
}

#[test]
fn cluster_nodes_slots_shards_info_match_stock() {
    let stock = build(Flavor::Stock);
    let ours = build(Flavor::Ferrodis);
    for i in 0..3 {
        let (a, b) = (&stock.nodes[i], &ours.nodes[i]);
        assert_eq!(
            nodes_text(&stock.names, a),
            nodes_text(&ours.names, b),
            "CLUSTER NODES of node {i}"
        );
        assert_eq!(info_text(a), info_text(b), "CLUSTER INFO of node {i}");
        for proto in ["2", "3"] {
            let mut ca = a.client();
            let mut cb = b.client();
            ca.ok(["HELLO", proto]);
            cb.ok(["HELLO", proto]);
            for sub in ["SLOTS", "SHARDS", "MYID", "COUNTKEYSINSLOT", "KEYSLOT"] {
                let args: Vec<&str> = match sub {
                    "COUNTKEYSINSLOT" => vec!["CLUSTER", sub, "0"],
                    "KEYSLOT" => vec!["CLUSTER", sub, "{user1000}.following"],
                    _ => vec!["CLUSTER", sub],
                };
                let ra = ca.command(args.clone()).expect("stock reply");
                let rb = cb.command(args.clone()).expect("ferrodis reply");
                let (mut ta, mut tb) = (stock.names.reply(&ra), ours.names.reply(&rb));
                if sub == "SHARDS" {
                    // Shards come in the node table's order: compare as a set.
                    let sort = |r: &Reply, n: &Names| {
                        let mut v: Vec<String> = r.children().iter().map(|c| n.reply(c)).collect();
                        v.sort();
                        v.join("\n")
                    };
                    ta = sort(&ra, &stock.names);
                    tb = sort(&rb, &ours.names);
                }
                assert_eq!(ta, tb, "CLUSTER {sub} of node {i} (RESP{proto})");
            }
        }
    }
    // Errors and redirections through the same inputs.
    let mut ca = stock.nodes[0].client();
    let mut cb = ours.nodes[0].client();
    let cases: &[&[&str]] = &[
        &["GET", "foo"],
        &["MGET", "a", "b"],
        &["MGET", "{t}a", "{t}b"],
        &["SELECT", "1"],
        &["SWAPDB", "0", "1"],
        &["CLUSTER", "ADDSLOTS", "0"],
        &["CLUSTER", "ADDSLOTS", "16384"],
        &["CLUSTER", "DELSLOTSRANGE", "5", "3"],
        &["CLUSTER", "SETSLOT", "1", "bogus"],
        &["CLUSTER", "SETSLOT", "6000", "MIGRATING", "x"],
        &["CLUSTER", "FORGET", "abc"],
        &["CLUSTER", "MEET", "x", "70"],
        &["CLUSTER", "MEET", "1.2.3.4", "7", "8", "9"],
        &["CLUSTER", "COUNTKEYSINSLOT", "99999"],
        &["CLUSTER", "GETKEYSINSLOT", "1", "-1"],
        &["CLUSTER", "RESET", "bogus"],
        &["CLUSTER", "SET-CONFIG-EPOCH", "-1"],
        &["CLUSTER", "SET-CONFIG-EPOCH", "9"],
        &["CLUSTER", "COUNT-FAILURE-REPORTS", "nope"],
        &["CLUSTER", "HELP"],
        &["CLUSTER", "NOPE"],
        &["CLUSTER"],
        &["READONLY"],
        &["READWRITE"],
        &["ASKING"],
        // "bar" (5061) and "hello" (866) are both node 0's: a transaction must stay in one slot.
        &["MULTI"],
        &["SET", "bar", "1"],
        &["SET", "hello", "2"],
        &["EXEC"],
        &["MULTI"],
        &["SET", "bar", "1"],
        &["GET", "foo"],
        &["EXEC"],
    ];
    for args in cases {
        let ra = ca.command(args.to_vec()).expect("stock");
        let rb = cb.command(args.to_vec()).expect("ferrodis");
        assert_eq!(
            stock.names.reply(&ra),
            ours.names.reply(&rb),
            "{}",
            args.join(" ")
        );
    }
}

/// The same slot migration (redis-cli --cluster reshard's steps) on one side; returns the
/// transcript of normalized replies.
fn migrate(side: &Side) -> Vec<String> {
    let n = &side.names;
    let (id0, id1) = (n.ids[0].clone(), n.ids[1].clone());
    let mut c0 = side.nodes[0].client();
    let mut c1 = side.nodes[1].client();
    let mut log = Vec::new();
    let mut step = |c: &mut ferrodis_tests::RespClient, args: &[&str], sorted: bool| {
        let r = c.command(args.to_vec()).expect("reply");
        let mut t = n.reply(&r);
        if sorted {
            let mut v: Vec<String> = r.children().iter().map(|x| n.reply(x)).collect();
            v.sort();
            t = v.join(",");
        }
        log.push(format!("{} -> {t}", n.text(&args.join(" "))));
    };
    // "bar" and "{bar}..." hash to slot 5061, served by node 0.
    step(&mut c0, &["SET", "bar", "x"], false);
    step(&mut c0, &["SET", "{bar}y", "y"], false);
    step(
        &mut c1,
        &["CLUSTER", "SETSLOT", "5061", "IMPORTING", &id0],
        false,
    );
    step(
        &mut c0,
        &["CLUSTER", "SETSLOT", "5061", "MIGRATING", &id1],
        false,
    );
    step(
        &mut c0,
        &["CLUSTER", "SETSLOT", "5061", "IMPORTING", &id1],
        false,
    );
    step(
        &mut c1,
        &["CLUSTER", "SETSLOT", "5061", "MIGRATING", &id0],
        false,
    );
    step(&mut c0, &["GET", "bar"], false);
    step(&mut c0, &["GET", "{bar}missing"], false);
    step(&mut c0, &["MGET", "bar", "{bar}missing"], false);
    step(&mut c0, &["MGET", "bar", "{bar}y"], false);
    step(&mut c1, &["GET", "bar"], false);
    step(&mut c1, &["ASKING"], false);
    step(&mut c1, &["GET", "bar"], false);
    step(&mut c1, &["GET", "bar"], false);
    step(&mut c1, &["ASKING"], false);
    step(&mut c1, &["MGET", "bar", "{bar}y"], false);
    step(&mut c1, &["ASKING"], false);
    step(&mut c1, &["SET", "{bar}new", "v"], false);
    step(
        &mut c0,
        &["CLUSTER", "SETSLOT", "5061", "NODE", &id1],
        false,
    );
    step(&mut c0, &["CLUSTER", "COUNTKEYSINSLOT", "5061"], false);
    step(&mut c0, &["CLUSTER", "GETKEYSINSLOT", "5061", "10"], true);
    step(&mut c0, &["DEL", "bar", "{bar}y"], false);
    step(
        &mut c1,
        &["CLUSTER", "SETSLOT", "5061", "NODE", &id1],
        false,
    );
    step(
        &mut c0,
        &["CLUSTER", "SETSLOT", "5061", "NODE", &id1],
        false,
    );
    step(&mut c0, &["GET", "bar"], false);
    step(&mut c1, &["GET", "{bar}new"], false);
    step(&mut c1, &["CLUSTER", "SETSLOT", "5061", "STABLE"], false);
    log
}

#[test]
fn slot_migration_ask_tryagain_and_setslot_match_stock() {
    let stock = build(Flavor::Stock);
    let ours = build(Flavor::Ferrodis);
    let a = migrate(&stock);
    let b = migrate(&ours);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y);
    }
    assert_eq!(a.len(), b.len());
    let all = b.join("\n");
    for expected in [
        "Error(ASK 5061 127.0.0.1:<port1>)",
        "Error(TRYAGAIN",
        "Error(MOVED 5061 127.0.0.1:<port0>)",
        "Error(MOVED 5061 127.0.0.1:<port1>)",
        "Error(ERR Can't assign hashslot 5061",
    ] {
        assert!(all.contains(expected), "{expected} missing from:\n{all}");
    }
    // Every node learns the new owner (node 1, with a bumped config epoch).
    for side in [&stock, &ours] {
        // Node 1's line (slot 5061 and its bumped config epoch) the same on every node.
        let line_of_1 = |s: &Server| {
            nodes_text(&side.names, s)
                .into_iter()
                .find(|l| l.starts_with("<id1>"))
                .map(|l| l.replace("myself,", ""))
                .unwrap_or_default()
        };
        wait_for(
            Duration::from_secs(20),
            "slot 5061 to move everywhere",
            || {
                let mine = line_of_1(&side.nodes[1]);
                mine.contains(" 5061") && side.nodes.iter().all(|s| line_of_1(s) == mine)
            },
        );
    }
    for i in 0..3 {
        assert_eq!(
            nodes_text(&stock.names, &stock.nodes[i]),
            nodes_text(&ours.names, &ours.nodes[i]),
            "CLUSTER NODES of node {i} after the migration"
        );
        assert_eq!(
            info_text(&stock.nodes[i]),
            info_text(&ours.nodes[i]),
            "CLUSTER INFO of node {i} after the migration"
        );
    }
}
