//! The `netns` target end to end: six hosts in network namespaces over two zones, joined by
//! a bridge, each bootstrapped by the host script EC2 uses (through `ip netns exec`), the
//! stock `redis-cli -c` from the host namespace, the guide's failover check, `down`.
//! Needs root; without it (or without `ip`) each test says it skipped. Namespaces and the
//! bridge are removed on drop even when a test fails.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// Whether this machine lets us create network namespaces (root with iproute2).
fn netns_available() -> bool {
    let name = format!("fdpchk{}", std::process::id());
    let ok = Command::new("ip")
        .args(["netns", "add", &name])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
    }
    ok
}

/// Deletes the namespaces `<prefix>-N` and the bridge, whatever state the test left.
struct NetCleanup(String);

impl Drop for NetCleanup {
    fn drop(&mut self) {
        for i in 1..=12 {
            let _ = Command::new("ip")
                .args(["netns", "del", &format!("{}-{i}", self.0)])
                .output();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &format!("{}br0", self.0)])
            .output();
    }
}

fn prefix(tag: char) -> String {
    format!("fdt{tag}{}", std::process::id() % 10000)
}

fn network() -> String {
    // 10.200-249: private, per test process.
    format!("10.{}.0.0/16", 200 + std::process::id() % 50)
}

fn description(prefix: &str, extra: &str) -> String {
    format!(
        "name = \"ns\"\nnode_timeout_ms = 2000\nappendonly = false\n{extra}\n\
         [netns]\nprefix = \"{prefix}\"\nnetwork = \"{}\"\n",
        network()
    )
}

fn redis_cli(host: &str, args: &[&str]) -> String {
    let out = run_with_deadline(
        Command::new("redis-cli")
            .args(["-c", "-h", host, "-p", "6379"])
            .args(args),
        Duration::from_secs(30),
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn ip_of(status: &str, node: &str) -> String {
    row(status, node)
        .split_whitespace()
        .nth(1)
        .and_then(|a| a.split(':').next())
        .unwrap_or("")
        .to_string()
}

/// SET/GET over every shard through `redis-cli -c` from the host namespace.
fn set_get(status: &str) {
    let first = ip_of(status, "ns-1");
    let last = ip_of(status, "ns-3");
    for i in 0..12 {
        assert_eq!(
            redis_cli(&first, &["set", &format!("k{i}"), &format!("v{i}")]),
            "OK"
        );
    }
    for i in 0..12 {
        assert_eq!(
            redis_cli(&last, &["get", &format!("k{i}")]),
            format!("v{i}")
        );
    }
}

/// The test on the server that has cluster replicas today (stock redis-server):
/// up, SET/GET, stop a primary, its replica in the other zone takes over, `up` brings the
/// old primary back as a replica, down leaves no namespace behind.
#[test]
fn netns_six_hosts_two_zones_failover_on_stock_redis() {
    let _g = serial();
    if !netns_available() {
        eprintln!("SKIPPED netns test: `ip netns add` is not permitted here (needs root)");
        return;
    }
    let p = prefix('s');
    let _net = NetCleanup(p.clone());
    let mut d = Deployment::new("netns-stock", &[]);
    let cfg = d.config(&description(&p, ""));
    d.args = vec![
        "netns".into(),
        "--config".into(),
        cfg,
        "--server-bin".into(),
        path_str(&stock_redis()),
    ];
    let plan = d.must("plan", &[]);
    assert!(
        plan.stdout
            .contains(&format!("create namespace {p}-1 (zone a)")),
        "{plan}"
    );
    let up = d.must("up", &[]);
    assert_eq!(
        up.stdout.matches("bootstrapped and started").count(),
        6,
        "{up}"
    );
    let status = d.must("status", &[]).stdout;
    assert!(!status.contains("problem"), "{status}");
    for (replica, zone, primary) in [
        ("ns-4", "b", "ns-1"),
        ("ns-5", "a", "ns-2"),
        ("ns-6", "b", "ns-3"),
    ] {
        let r = row(&status, replica);
        assert!(r.contains(&format!("replica of {primary}")), "{status}");
        assert_eq!(r.split_whitespace().nth(2), Some(zone), "{status}");
    }
    // Every host has its own address in its zone's range.
    let (a, b) = {
        let n = network();
        let o: Vec<String> = n.split('.').map(str::to_string).collect();
        (o[0].clone(), o[1].clone())
    };
    assert_eq!(ip_of(&status, "ns-1"), format!("{a}.{b}.1.10"));
    assert_eq!(ip_of(&status, "ns-2"), format!("{a}.{b}.2.11"));
    set_get(&status);
    // The bootstrap installed the files with their modes.
    let host = d.dir.join("hosts/ns-1");
    assert!(host.join("etc/ferrodis/redis.conf").is_file());
    assert!(host.join("usr/local/bin/ferrodis-server").is_file());

    // Idempotent.
    let again = d.must("up", &[]);
    assert!(
        again.stdout.contains("cluster: nothing to change"),
        "{again}"
    );
    assert!(!again.stdout.contains("started"), "{again}");

    // The guide's failover check: stop ns-1 (zone a); ns-4 (zone b) takes over.
    let pid = d.pid("ns-1").expect("pid of ns-1");
    Command::new("kill")
        .arg(pid.to_string())
        .status()
        .expect("kill");
    wait_until("ns-4 to be promoted", Duration::from_secs(60), || {
        let s = d.run("status", &[]).stdout;
        promoted(&s, "ns-4", "0-5460", "ns-1")
    });
    let s = d.run("status", &[]).stdout;
    assert_eq!(redis_cli(&ip_of(&s, "ns-2"), &["get", "k0"]), "v0");
    let up = d.must("up", &[]);
    assert!(up.stdout.contains("ns-1: bootstrapped and started"), "{up}");
    let status = d.must("status", &[]).stdout;
    assert!(row(&status, "ns-1").contains("replica of ns-4"), "{status}");
    assert!(!status.contains("problem"), "{status}");

    let down = d.must("down", &[]);
    assert!(
        down.stdout.contains(&format!("deleted bridge {p}br0")),
        "{down}"
    );
    let list = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip");
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(!list.contains(&format!("{p}-")), "{list}");
    assert!(!d.dir.exists());
}

/// The same on ferrodis: six hosts over two zones, SET/GET, the guide's failover check.
#[test]
fn netns_ferrodis_set_get_and_failover() {
    let _g = serial();
    if !netns_available() {
        eprintln!("SKIPPED netns test: `ip netns add` is not permitted here (needs root)");
        return;
    }
    let p = prefix('f');
    let _net = NetCleanup(p.clone());
    let mut d = Deployment::new("netns-fd", &[]);
    let cfg = d.config(&description(&p, ""));
    d.args = vec![
        "netns".into(),
        "--config".into(),
        cfg,
        "--server-bin".into(),
        path_str(&ferrodis_server()),
    ];
    let up = d.run("up", &[]);
    assert!(up.ok(), "{up}");
    let status = d.must("status", &[]).stdout;
    assert!(!status.contains("problem"), "{status}");
    set_get(&status);
    let pid = d.pid("ns-1").expect("pid of ns-1");
    Command::new("kill")
        .arg(pid.to_string())
        .status()
        .expect("kill");
    wait_until("ns-4 to be promoted", Duration::from_secs(60), || {
        let s = d.run("status", &[]).stdout;
        promoted(&s, "ns-4", "0-5460", "ns-1")
    });
    d.must("up", &[]);
    // The others clear ns-1's FAIL flag once it answers their next ping.
    wait_until(
        "ns-1 back as a healthy replica",
        Duration::from_secs(30),
        || {
            let s = d.run("status", &[]);
            s.ok() && row(&s.stdout, "ns-1").contains("replica of ns-4")
        },
    );
    d.must("down", &[]);
}
