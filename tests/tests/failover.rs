//! Replicas and failover end to end, as the deployment guides test by hand: six ferrodis
//! processes made into three primaries and three replicas by the real `redis-cli --cluster
//! create --cluster-replicas 1`; a primary killed with SIGKILL under a writer that WAITs for
//! one replica after every write, its replica promoted, every acknowledged write still there,
//! the old primary back as a replica; then a coordinated `CLUSTER FAILOVER` under a writer
//! that does not WAIT, losing nothing. And a primary that restarts without its data: its
//! replica takes over instead of being wiped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ferrodis_tests::cluster::{self, cluster_text, wait_for, ClusterClient};
use ferrodis_tests::{Flavor, Server};

const NODE_TIMEOUT: u64 = 2000;

fn myid(s: &Server) -> String {
    cluster_text(s, "MYID")
}

/// The CLUSTER NODES line about `id` as `viewer` sees it.
fn line_about(viewer: &Server, id: &str) -> String {
    cluster_text(viewer, "NODES")
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_default()
        .to_string()
}

/// `viewer` says `id` is a replica of `primary`.
fn follows(viewer: &Server, id: &str, primary: &str) -> bool {
    let l = line_about(viewer, id);
    let f: Vec<&str> = l.split(' ').collect();
    f.len() > 3 && f[2].split(',').any(|x| x == "slave") && f[3] == primary
}

fn is_primary(s: &Server) -> bool {
    let l = line_about(s, &myid(s));
    l.split(' ')
        .nth(2)
        .is_some_and(|f| f.split(',').any(|x| x == "master"))
}

fn link_up(s: &Server) -> bool {
    let mut c = s.client();
    c.command(["INFO", "replication"])
        .ok()
        .and_then(|r| r.as_str())
        .is_some_and(|t| t.contains("master_link_status:up"))
}

fn all_ok(nodes: &[&Server]) -> bool {
    nodes
        .iter()
        .all(|s| cluster_text(s, "INFO").contains("cluster_state:ok"))
}

/// Six nodes: three primaries, each with a replica in sync.
fn six_with_replicas() -> Vec<Server> {
    let nodes = cluster::start_nodes(Flavor::Ferrodis, 6, NODE_TIMEOUT);
    let out = cluster::create_with_replicas(&nodes, 1);
    assert!(
        out.success && out.stdout.contains("[OK] All 16384 slots covered"),
        "cluster create --cluster-replicas 1 failed:\n{}\n{}\nlog of node 0:\n{}",
        out.stdout,
        out.stderr,
        nodes[0].log_tail(30)
    );
    wait_for(Duration::from_secs(30), "three replicas in sync", || {
        let replicas: Vec<&Server> = nodes.iter().filter(|s| !is_primary(s)).collect();
        replicas.len() == 3
            && replicas.iter().all(|s| link_up(s))
            && nodes.iter().all(|s| {
                let t = cluster_text(s, "NODES");
                let replicas = t.lines().filter(|l| {
                    l.split(' ')
                        .nth(2)
                        .is_some_and(|f| f.split(',').any(|x| x == "slave"))
                });
                t.lines().count() == 6 && replicas.count() == 3
            })
            && all_ok(&nodes.iter().collect::<Vec<_>>())
    });
    let check = cluster::check(&nodes[0]);
    assert!(
        check
            .stdout
            .contains("[OK] All nodes agree about slots configuration."),
        "{}",
        check.stdout
    );
    nodes
}

/// The index of a primary and of its replica.
fn primary_and_replica(nodes: &[Server]) -> (usize, usize) {
    let p = nodes.iter().position(is_primary).expect("a primary");
    let pid = myid(&nodes[p]);
    let r = nodes
        .iter()
        .position(|s| follows(&nodes[p], &myid(s), &pid))
        .expect("the primary has a replica");
    (p, r)
}

/// Sets the flag when dropped: a panicking test stops its writer thread before the scope
/// joins it.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// What a writer saw.
#[derive(Default)]
struct Written {
    /// Indexes of acknowledged writes (OK, and with WAIT at least one replica).
    acked: Vec<u64>,
    /// SETs answered OK, acknowledged by a replica or not.
    ok: usize,
}

/// Writes `prefix:i` = i until `stop` (at most 200,000 keys), each followed by
/// `WAIT 1 500` when `wait`.
fn writer(ports: Vec<u16>, prefix: &str, wait: bool, stop: &AtomicBool, out: &Mutex<Written>) {
    let mut c = ClusterClient::new(ports);
    for i in 0..200_000u64 {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let key = format!("{prefix}:{i}");
        let val = i.to_string();
        let then: Option<&[&str]> = if wait {
            Some(&["WAIT", "1", "500"])
        } else {
            None
        };
        let Ok((r, w)) = c.run(1, &["SET", &key, &val], then, Duration::from_secs(20)) else {
            continue;
        };
        if r.as_str().as_deref() != Some("OK") {
            continue;
        }
        let mut o = out.lock().unwrap();
        o.ok += 1;
        if w.is_none_or(|w| w.as_int().is_some_and(|n| n >= 1)) {
            o.acked.push(i);
        }
    }
}

/// Every acknowledged key reads back with its value.
fn verify(ports: Vec<u16>, prefix: &str, acked: &[u64]) {
    let mut c = ClusterClient::new(ports);
    let mut lost = Vec::new();
    for &i in acked {
        let key = format!("{prefix}:{i}");
        let (r, _) = c
            .run(1, &["GET", &key], None, Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("GET {key}: {e}"));
        if r.as_str() != Some(i.to_string()) {
            lost.push(i);
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost, first: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(10)]
    );
}

/// Runs a [`writer`] while `during` runs, stops it, and returns the writes it had
/// acknowledged.
fn while_writing(
    ports: &[u16],
    prefix: &str,
    wait: bool,
    during: impl FnOnce(&Mutex<Written>),
) -> Vec<u64> {
    let stop = AtomicBool::new(false);
    let out = Mutex::new(Written::default());
    std::thread::scope(|sc| {
        let _stop = StopOnDrop(&stop);
        sc.spawn(|| writer(ports.to_vec(), prefix, wait, &stop, &out));
        during(&out);
    });
    out.into_inner().unwrap().acked
}

/// Waits until the writer has had 50 more SETs answered OK (writes accepted again).
fn more_writes(out: &Mutex<Written>, what: &str) {
    let before = out.lock().unwrap().ok;
    wait_for(Duration::from_secs(20), what, || {
        out.lock().unwrap().ok > before + 50
    });
}

/// `CLUSTER FAILOVER` on replica `to` (of `from`) under a writer (WAITing or not): the
/// roles swap everywhere and every acknowledged write reads back.
fn manual_failover(nodes: &[Server], to: usize, from: usize, prefix: &str, wait: bool) {
    let ports: Vec<u16> = nodes.iter().map(|s| s.port()).collect();
    let (to_id, from_id) = (myid(&nodes[to]), myid(&nodes[from]));
    let acked = while_writing(&ports, prefix, wait, |out| {
        std::thread::sleep(Duration::from_millis(500));
        nodes[to].client().ok(["CLUSTER", "FAILOVER"]);
        wait_for(Duration::from_secs(20), "the manual failover", || {
            is_primary(&nodes[to]) && (0..6).all(|i| follows(&nodes[i], &from_id, &to_id))
        });
        more_writes(out, "writes after the manual failover");
    });
    assert!(acked.len() > 50, "the writer made little progress");
    verify(ports, prefix, &acked);
}

#[test]
fn killed_primary_is_replaced_and_rejoins_then_manual_failover_loses_nothing() {
    let mut nodes = six_with_replicas();
    let ports: Vec<u16> = nodes.iter().map(|s| s.port()).collect();
    let (p, r) = primary_and_replica(&nodes);
    let (pid, rid) = (myid(&nodes[p]), myid(&nodes[r]));

    // 1. SIGKILL of a primary under a writer that WAITs for a replica.
    let mut recovered = Duration::ZERO;
    let acked = while_writing(&ports, "w", true, |out| {
        std::thread::sleep(Duration::from_millis(800));
        nodes[p].crash();
        let killed = Instant::now();
        let live: Vec<&Server> = (0..6).filter(|&i| i != p).map(|i| &nodes[i]).collect();
        wait_for(Duration::from_secs(30), "the replica to take over", || {
            is_primary(&nodes[r]) && all_ok(&live)
        });
        // Writes are accepted again (to every shard: the writer goes round all slots).
        more_writes(out, "writes after the failover");
        recovered = killed.elapsed();
    });
    eprintln!("SIGKILL to writes accepted again: {recovered:?} (node timeout {NODE_TIMEOUT} ms)");
    assert!(acked.len() > 100, "the writer made little progress");
    verify(ports.clone(), "w", &acked);

    // 2. The old primary comes back as a replica of its successor.
    nodes[p].restart();
    wait_for(Duration::from_secs(30), "the old primary to follow", || {
        (0..6).all(|i| follows(&nodes[i], &pid, &rid)) && link_up(&nodes[p])
    });
    assert!(
        nodes[p].log().contains("as a replica of"),
        "{}",
        nodes[p].log_tail(20)
    );

    // 3. CLUSTER FAILOVER back, under a writer that does not wait, then again the other way
    //    under one that WAITs: nothing lost either time.
    manual_failover(&nodes, p, r, "m", false);
    manual_failover(&nodes, r, p, "n", true);
    let check = cluster::check(&nodes[0]);
    assert!(
        check.stdout.contains("[OK] All 16384 slots covered"),
        "{}",
        check.stdout
    );
}

#[test]
fn primary_restarted_without_data_does_not_wipe_its_replica() {
    let mut nodes = six_with_replicas();
    let ports: Vec<u16> = nodes.iter().map(|s| s.port()).collect();
    let (p, r) = primary_and_replica(&nodes);
    let (pid, rid) = (myid(&nodes[p]), myid(&nodes[r]));
    let acked = while_writing(&ports, "e", true, |out| {
        wait_for(Duration::from_secs(20), "some writes", || {
            out.lock().unwrap().acked.len() > 300
        });
    });
    // No AOF, no RDB: the primary comes back empty, faster than the failure detection.
    nodes[p].crash();
    nodes[p].restart();
    wait_for(
        Duration::from_secs(30),
        "the replica with the data to take over",
        || {
            is_primary(&nodes[r])
                && (0..6).all(|i| follows(&nodes[i], &pid, &rid))
                && link_up(&nodes[p])
        },
    );
    assert!(
        nodes[p].log().contains("restarted without data"),
        "{}",
        nodes[p].log_tail(20)
    );
    verify(ports, "e", &acked);
}

/// `redis-cli --cluster add-node --cluster-slave`, then replica migration: with two replicas
/// on one primary and the only replica of another killed, one of the two moves over.
#[test]
fn add_node_as_replica_and_replica_migration() {
    let mut nodes = cluster::start_nodes(Flavor::Ferrodis, 6, NODE_TIMEOUT);
    let out = cluster::create(&nodes[..3]);
    assert!(out.success, "{}\n{}", out.stdout, out.stderr);
    let ids: Vec<String> = nodes.iter().map(myid).collect();
    // Nodes 3 and 4 replicate node 0, node 5 replicates node 1.
    for (new, primary) in [(3, 0), (4, 0), (5, 1)] {
        wait_for(Duration::from_secs(30), "the nodes so far to agree", || {
            cluster::all_joined(&nodes[..new], new)
        });
        let args: Vec<String> = [
            "--cluster",
            "add-node",
            &cluster::addr(&nodes[new]),
            &cluster::addr(&nodes[0]),
            "--cluster-slave",
            "--cluster-master-id",
            &ids[primary],
        ]
        .map(String::from)
        .to_vec();
        let out = cluster::redis_cli(&args, "", Duration::from_secs(60));
        assert!(
            out.success && out.stdout.contains("[OK] New node added correctly."),
            "add-node --cluster-slave {new}:\n{}\n{}",
            out.stdout,
            out.stderr
        );
    }
    wait_for(Duration::from_secs(30), "three replicas in sync", || {
        (3..6).all(|i| link_up(&nodes[i]))
            && (0..6).all(|v| {
                follows(&nodes[v], &ids[3], &ids[0])
                    && follows(&nodes[v], &ids[4], &ids[0])
                    && follows(&nodes[v], &ids[5], &ids[1])
            })
    });
    // Node 1 loses its only replica: the lower-id replica of node 0 migrates to it.
    nodes[5].crash();
    let mover = if ids[3] < ids[4] { 3 } else { 4 };
    wait_for(Duration::from_secs(40), "a replica to migrate", || {
        (0..5).all(|v| follows(&nodes[v], &ids[mover], &ids[1])) && link_up(&nodes[mover])
    });
    assert!(nodes[mover].log().contains("Migrating to orphaned master"));
    let stays = 7 - mover;
    assert!(follows(&nodes[0], &ids[stays], &ids[0]));
}
