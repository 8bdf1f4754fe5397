//! FAILOVER (standalone replication): a primary hands its role to a caught-up replica and
//! follows it, losing no write, with ferrodis and stock Redis 7.0 on either side; its errors,
//! ABORT and TIMEOUT while a replica cannot catch up, against stock's texts.

use std::time::{Duration, Instant};

use ferrodis_tests::{Flavor, RespClient, Server};

fn info_field(c: &mut RespClient, field: &str) -> String {
    let info = c.ok(["INFO", "replication"]).as_str().unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
        .unwrap_or_default()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The replica has every byte of the primary's stream.
fn wait_caught_up(p: &mut RespClient, r: &mut RespClient) {
    wait_for("the replica to catch up", || {
        let want = info_field(p, "master_repl_offset");
        info_field(r, "master_link_status") == "up" && info_field(r, "slave_repl_offset") == want
    });
}

/// Primary `p` and replica `r`: FAILOVER (to the replica by name, or to any), then the
/// replica is the primary with every key, the old primary follows it and refuses writes.
fn hand_over(primary: Flavor, replica: Flavor, named: bool) {
    let what = format!("{} primary, {} replica", primary.name(), replica.name());
    let p = Server::builder(primary).start();
    let r = Server::replica_of(replica, &p);
    let (mut pc, mut rc) = (p.client(), r.client());
    for i in 0..200 {
        pc.ok(["SET", &format!("k{i}"), &format!("v{i}")]);
    }
    wait_caught_up(&mut pc, &mut rc);
    let port = r.port().to_string();
    let reply = if named {
        pc.ok(["FAILOVER", "TO", "127.0.0.1", &port])
    } else {
        pc.ok(["FAILOVER"])
    };
    assert_eq!(reply.as_str().as_deref(), Some("OK"), "{what}");
    wait_for(&format!("{what}: the replica to take over"), || {
        info_field(&mut rc, "role") == "master"
    });
    wait_for(&format!("{what}: the old primary to follow"), || {
        info_field(&mut pc, "role") == "slave"
            && info_field(&mut pc, "master_port") == port
            && info_field(&mut pc, "master_link_status") == "up"
            && info_field(&mut pc, "master_failover_state") == "no-failover"
    });
    assert_eq!(rc.ok(["DBSIZE"]).as_int(), Some(200), "{what}");
    assert_eq!(
        rc.ok(["GET", "k199"]).as_str().as_deref(),
        Some("v199"),
        "{what}"
    );
    rc.ok(["SET", "after", "1"]);
    wait_for(
        &format!("{what}: the new primary's write to reach the old"),
        || pc.ok(["GET", "after"]).as_str().as_deref() == Some("1"),
    );
    let refused = pc.command(["SET", "x", "1"]).expect("reply");
    assert_eq!(
        refused.raw(),
        b"-READONLY You can't write against a read only replica.\r\n",
        "{what}"
    );
    if primary == Flavor::Ferrodis {
        let log = p.log();
        assert!(
            log.contains(&format!(
                "Failover target 127.0.0.1:{port} is synced, failing over."
            )),
            "{what}: {}",
            p.log_tail(20)
        );
    }
}

#[test]
fn failover_hands_over_between_ferrodis_nodes() {
    hand_over(Flavor::Ferrodis, Flavor::Ferrodis, true);
    hand_over(Flavor::Ferrodis, Flavor::Ferrodis, false);
}

#[test]
fn failover_hands_over_between_ferrodis_and_stock() {
    hand_over(Flavor::Ferrodis, Flavor::Stock, true);
    hand_over(Flavor::Stock, Flavor::Ferrodis, false);
}

/// A command and its reply, as one line.
fn run(c: &mut RespClient, args: &[&str]) -> String {
    let r = c.command(args.iter().copied()).expect("reply");
    format!(
        "{args:?} -> {}",
        String::from_utf8_lossy(r.raw()).trim_end()
    )
}

fn signal(s: &Server, sig: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(s.pid().expect("pid") as i32);
    nix::sys::signal::kill(pid, sig).expect("signal");
}

/// Errors, and a replica that cannot catch up (stopped): the primary waits with writes
/// paused, refuses a second FAILOVER and REPLICAOF, then ABORT, or TIMEOUT, gives the
/// writes back.
fn refusals(flavor: Flavor) -> Vec<String> {
    let p = Server::builder(flavor).start();
    let mut pc = p.client();
    let mut out: Vec<String> = [
        &["FAILOVER"][..],
        &["FAILOVER", "ABORT"],
        &["FAILOVER", "TIMEOUT", "0"],
        &["FAILOVER", "TIMEOUT", "x"],
        &["FAILOVER", "TO", "127.0.0.1"],
        &["FAILOVER", "TO", "127.0.0.1", "port"],
        &["FAILOVER", "FORCE", "FORCE"],
    ]
    .iter()
    .map(|args| run(&mut pc, args))
    .collect();
    let r = Server::replica_of(Flavor::Ferrodis, &p);
    let mut rc = r.client();
    pc.ok(["SET", "k", "v"]);
    wait_caught_up(&mut pc, &mut rc);
    out.push(run(&mut rc, &["FAILOVER"]));
    out.push(run(&mut pc, &["FAILOVER", "TO", "127.0.0.1", "1"]));
    out.push(run(&mut pc, &["FAILOVER", "FORCE"]));
    out.push(run(&mut pc, &["FAILOVER", "TIMEOUT", "100", "FORCE"]));
    // The replica stops, and a write moves the stream past what it acknowledged.
    signal(&r, nix::sys::signal::Signal::SIGSTOP);
    pc.ok(["SET", "k", "v2"]);
    out.push(run(&mut pc, &["FAILOVER", "TIMEOUT", "60000"]));
    out.push(info_field(&mut pc, "master_failover_state"));
    out.push(run(&mut pc, &["FAILOVER"]));
    out.push(run(&mut pc, &["REPLICAOF", "127.0.0.1", "1"]));
    out.push(run(&mut pc, &["FAILOVER", "ABORT"]));
    out.push(info_field(&mut pc, "master_failover_state"));
    out.push(run(&mut pc, &["SET", "k", "after-abort"]));
    out.push(run(&mut pc, &["FAILOVER", "TIMEOUT", "200"]));
    wait_for("the timeout", || {
        info_field(&mut pc, "master_failover_state") == "no-failover"
    });
    out.push(run(&mut pc, &["SET", "k", "after-timeout"]));
    out.push(info_field(&mut pc, "role"));
    signal(&r, nix::sys::signal::Signal::SIGCONT);
    if flavor == Flavor::Ferrodis {
        let log = p.log();
        for line in [
            "FAILOVER requested to any replica.",
            "FAILOVER to any replica aborted: Failover manually aborted",
            "FAILOVER to any replica aborted: Replica never caught up before timeout",
        ] {
            assert!(log.contains(line), "{line}: {}", p.log_tail(20));
        }
    }
    out
}

#[test]
fn failover_refusals_abort_and_timeout_read_as_in_redis() {
    let stock = refusals(Flavor::Stock);
    assert!(stock.iter().any(|l| l == "waiting-for-sync"), "{stock:#?}");
    assert_eq!(refusals(Flavor::Ferrodis), stock);
}

#[test]
fn failover_is_refused_in_cluster_mode() {
    let replies: Vec<Vec<u8>> = [Flavor::Stock, Flavor::Ferrodis]
        .into_iter()
        .map(|flavor| {
            let s = Server::builder(flavor)
                .cluster_bus()
                .directive("cluster-enabled", &["yes"])
                .start();
            let r = s.client().command(["FAILOVER"]).expect("reply");
            r.raw().to_vec()
        })
        .collect();
    assert!(replies[0].starts_with(b"-ERR FAILOVER not allowed in cluster mode."));
    assert_eq!(replies[1], replies[0]);
}
