//! Cluster mode end to end: six ferrodis processes joined with the real `redis-cli --cluster`
//! (create, add-node, check), `redis-cli -c` following redirects to every slot range, failure
//! detection after a kill, restart from nodes.conf, and garbage on the bus port.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ferrodis_tests::cluster::{self, addr, cluster_text, redis_cli, wait_for};
use ferrodis_tests::{Flavor, Server};

const NODE_TIMEOUT: u64 = 2000;

fn slot_of(key: &str) -> u16 {
    cluster::key_slot(key.as_bytes())
}

#[test]
fn six_nodes_create_add_node_redirects_and_failure_detection() {
    let mut nodes = cluster::start_nodes(Flavor::Ferrodis, 6, NODE_TIMEOUT);
    let out = cluster::create(&nodes[..3]);
    assert!(
        out.success && out.stdout.contains("[OK] All 16384 slots covered"),
        "cluster create failed:\n{}\n{}\nlog of node 0:\n{}",
        out.stdout,
        out.stderr,
        nodes[0].log_tail(30)
    );
    for i in 3..6 {
        // As with stock Redis, the previous node must be known everywhere before
        // redis-cli's consistency check passes.
        wait_for(Duration::from_secs(30), "the nodes so far to agree", || {
            cluster::all_joined(&nodes[..i], i)
        });
        let out = cluster::add_node(&nodes[i], &nodes[0]);
        assert!(
            out.success && out.stdout.contains("[OK] New node added correctly."),
            "add-node {i} failed:\n{}\n{}",
            out.stdout,
            out.stderr
        );
    }
    wait_for(Duration::from_secs(30), "six nodes to agree", || {
        cluster::all_joined(&nodes, 6)
    });
    let out = cluster::check(&nodes[0]);
    assert!(
        out.stdout.contains("[OK] All 16384 slots covered")
            && out
                .stdout
                .contains("[OK] All nodes agree about slots configuration."),
        "cluster check:\n{}\n{}",
        out.stdout,
        out.stderr
    );

    // Move 100 (empty) slots to a node added later with the real reshard
    // (SETSLOT IMPORTING/MIGRATING, GETKEYSINSLOT, SETSLOT NODE on every node).
    let from = cluster_text(&nodes[0], "MYID");
    let to = cluster_text(&nodes[3], "MYID");
    let args: Vec<String> = [
        "--cluster",
        "reshard",
        &addr(&nodes[0]),
        "--cluster-from",
        &from,
        "--cluster-to",
        &to,
        "--cluster-slots",
        "100",
        "--cluster-yes",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = redis_cli(&args, "", Duration::from_secs(60));
    assert!(out.success, "reshard:\n{}\n{}", out.stdout, out.stderr);
    wait_for(
        Duration::from_secs(20),
        "the reshard to reach every node",
        || {
            let c = cluster::check(&nodes[5]);
            c.stdout
                .contains("[OK] All nodes agree about slots configuration.")
                && c.stdout.contains("[OK] All 16384 slots covered")
                && c.stdout.contains("(100 slots) master")
        },
    );

    // Keys in every slot range (0-5460, 5461-10922, 10923-16383), written and read through
    // an empty node (every command is redirected) with redis-cli -c.
    let mut keys = Vec::new();
    let mut per_range = [0; 3];
    for i in 0.. {
        let k = format!("key:{i}");
        let r = match slot_of(&k) {
            0..=5460 => 0,
            5461..=10922 => 1,
            _ => 2,
        };
        if per_range[r] < 5 {
            per_range[r] += 1;
            keys.push(k);
        }
        if per_range.iter().all(|&n| n == 5) {
            break;
        }
    }
    let mut script = String::new();
    for k in &keys {
        script.push_str(&format!("SET {k} value-of-{k}\nGET {k}\n"));
    }
    let args = vec![
        "-c".to_string(),
        "-p".to_string(),
        nodes[4].port().to_string(),
    ];
    let out = redis_cli(&args, &script, Duration::from_secs(30));
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| !l.starts_with("-> Redirected"))
        .collect();
    let mut expected = Vec::new();
    for k in &keys {
        expected.push("OK".to_string());
        expected.push(format!("value-of-{k}"));
    }
    assert_eq!(lines, expected, "redis-cli -c output:\n{}", out.stdout);
    assert!(out.stdout.contains("-> Redirected to slot"));
    // Plain (non -c) access gets MOVED with the owner's address.
    let mut c = nodes[4].client();
    let r = c.command(["GET", keys[0].as_str()]).expect("GET");
    let text = String::from_utf8_lossy(r.raw()).into_owned();
    assert!(
        text.starts_with(&format!("-MOVED {} 127.0.0.1:", slot_of(&keys[0]))),
        "{text}"
    );

    // PUBLISH on one node reaches subscribers on another, over the bus.
    let mut sub = nodes[5].client();
    sub.ok(["SUBSCRIBE", "news"]);
    let mut publisher = nodes[2].client();
    publisher.ok(["PUBLISH", "news", "over-the-bus"]);
    sub.set_timeout(Duration::from_secs(5));
    let msg = sub.read_reply().expect("message from another node");
    assert_eq!(
        msg.raw(),
        b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$12\r\nover-the-bus\r\n".as_slice()
    );

    // Kill a primary with slots by pid: the others mark it `fail` within 2 x node timeout.
    let victim_id = cluster_text(&nodes[1], "MYID");
    let mut c = nodes[1].client();
    let victim_id = if victim_id.is_empty() {
        c.command(["CLUSTER", "MYID"])
            .ok()
            .and_then(|r| r.as_str())
            .unwrap_or_default()
    } else {
        victim_id
    };
    assert_eq!(victim_id.len(), 40);
    let pid = nodes[1].pid().expect("running");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    let killed_at = Instant::now();
    let victim = nodes.remove(1);
    let deadline = Duration::from_millis(2 * NODE_TIMEOUT);
    wait_for(
        deadline + Duration::from_millis(500),
        "the killed node to be marked fail",
        || {
            nodes.iter().all(|s| {
                cluster_text(s, "NODES").lines().any(|l| {
                    l.starts_with(&victim_id)
                        && l.split(' ')
                            .nth(2)
                            .is_some_and(|f| f.split(',').any(|x| x == "fail"))
                })
            })
        },
    );
    let took = killed_at.elapsed();
    assert!(
        took <= deadline + Duration::from_millis(500),
        "FAIL took {took:?} (node timeout {NODE_TIMEOUT} ms)"
    );
    eprintln!("killed node marked fail everywhere after {took:?}");
    // Its slots are no longer served: the cluster is down.
    assert!(cluster_text(&nodes[0], "INFO").contains("cluster_state:fail"));
    drop(victim);

    // A key node 0 serves (slots 0-5460).
    let own = keys
        .iter()
        .find(|k| slot_of(k) <= 5460)
        .expect("a key in range 0")
        .clone();
    let mut c0 = nodes[0].client();
    let err = |r: ferrodis_tests::Reply| String::from_utf8_lossy(r.raw()).into_owned();
    assert_eq!(
        err(c0.command(["GET", own.as_str()]).unwrap()),
        "-CLUSTERDOWN The cluster is down\r\n"
    );
    c0.ok(["CONFIG", "SET", "cluster-allow-reads-when-down", "yes"]);
    assert_eq!(
        c0.command(["GET", own.as_str()]).unwrap().as_str().unwrap(),
        format!("value-of-{own}")
    );
    assert_eq!(
        err(c0.command(["SET", own.as_str(), "x"]).unwrap()),
        "-CLUSTERDOWN The cluster is down and only accepts read commands\r\n"
    );
    // Without full coverage the two live primaries (a majority) serve their slots again.
    c0.ok(["CONFIG", "SET", "cluster-require-full-coverage", "no"]);
    wait_for(
        Duration::from_secs(5),
        "cluster_state:ok without full coverage",
        || cluster_text(&nodes[0], "INFO").contains("cluster_state:ok"),
    );
    c0.ok(["SET", own.as_str(), "x"]);
}

#[test]
fn restart_keeps_identity_epochs_and_slots() {
    let tmp = ferrodis_tests::server::TempDir::new("cluster-restart");
    let dir = tmp.path();
    let start = || {
        Server::builder(Flavor::Ferrodis)
            .cluster_bus()
            .directive("cluster-enabled", &["yes"])
            .directive("dir", &[dir.display().to_string()])
            .start()
    };
    let s = start();
    let mut c = s.client();
    let id = c.ok(["CLUSTER", "MYID"]).as_str().unwrap();
    c.ok(["CLUSTER", "ADDSLOTSRANGE", "0", "99"]);
    c.ok(["CLUSTER", "SET-CONFIG-EPOCH", "7"]);
    let before = cluster_text(&s, "NODES");
    // SIGTERM saves nodes.conf (with fsync, slow on a busy disk) before exiting.
    assert!(
        s.stop_within(Duration::from_secs(30)),
        "no clean exit on SIGTERM"
    );
    let conf = std::fs::read_to_string(dir.join("nodes.conf")).expect("nodes.conf written");
    assert!(
        conf.contains(&format!("{id} ")) && conf.contains("myself,master - 0 0 7 connected 0-99"),
        "{conf}"
    );
    assert!(
        conf.ends_with("vars currentEpoch 7 lastVoteEpoch 0\n"),
        "{conf}"
    );
    let s = start();
    let mut c = s.client();
    assert_eq!(c.ok(["CLUSTER", "MYID"]).as_str().unwrap(), id);
    let after = cluster_text(&s, "NODES");
    let fields = |t: &str| -> Vec<String> {
        let f: Vec<&str> = t.split_whitespace().collect();
        vec![f[0].into(), f[2].into(), f[6].into(), f[8].into()]
    };
    assert_eq!(fields(&before), fields(&after), "{before}\n{after}");
    assert!(cluster_text(&s, "INFO").contains("cluster_current_epoch:7"));
    drop(s);
}

#[test]
fn garbage_on_the_bus_closes_the_link_and_changes_nothing() {
    let s = Server::builder(Flavor::Ferrodis)
        .cluster_bus()
        .directive("cluster-enabled", &["yes"])
        .start();
    let before = cluster_text(&s, "NODES");
    let bus = s.port() + 10000;
    let inputs: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        // Right magic, wrong version.
        b"FRDB\x00\x09\x00\x00\x00\x01x".to_vec(),
        // Right magic and version, a body above the size limit.
        b"FRDB\x00\x02\x7f\xff\xff\xff".to_vec(),
        // A small body that is not a message.
        b"FRDB\x00\x02\x00\x00\x00\x04\xff\xff\xff\xff".to_vec(),
    ];
    for input in inputs {
        let mut t = TcpStream::connect(("127.0.0.1", bus)).expect("connect to the bus");
        t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        t.write_all(&input).unwrap();
        let mut buf = [0u8; 16];
        // The node closes the link: EOF (or a reset), never a hang.
        match t.read(&mut buf) {
            Ok(0) | Err(_) => {}
            Ok(n) => panic!("bus answered {n} bytes to garbage"),
        }
    }
    let mut c = s.client();
    assert_eq!(c.ok(["PING"]).as_str().unwrap(), "PONG");
    let after = cluster_text(&s, "NODES");
    let strip = |t: &str| {
        t.split_whitespace()
            .enumerate()
            .filter(|(i, _)| *i != 5)
            .map(|(_, w)| w.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&before), strip(&after));
    let _ = addr(&s);
}
