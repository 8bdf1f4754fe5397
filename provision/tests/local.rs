//! The `local` target end to end: real servers on 127.0.0.1 (free ports, never 7000-7005),
//! the cluster created by the tool over RESP, checked with the stock redis-cli.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn base(n: u16) -> String {
    free_base_port(n).to_string()
}

/// Three ferrodis primaries over zones a and b: up, idempotent up and plan, status,
/// redis-cli -c, down twice.
#[test]
fn local_ferrodis_primaries_up_status_down() {
    let _g = serial();
    let server = path_str(&ferrodis_server());
    let mut d = Deployment::new("primaries", &[]);
    let cfg = d.config("name = \"prim\"\nreplicas_per_primary = 0\n");
    let port = base(3);
    d.args = vec![
        "local".into(),
        "--config".into(),
        cfg,
        "--server-bin".into(),
        server,
        "--base-port".into(),
        port.clone(),
    ];
    let plan = d.must("plan", &[]);
    assert!(plan.stdout.contains("start prim-1 (zone a)"), "{plan}");
    assert!(
        plan.stdout.contains("CLUSTER ADDSLOTSRANGE 0 5460"),
        "{plan}"
    );
    let up = d.must("up", &[]);
    assert_eq!(up.stdout.matches("CLUSTER MEET").count(), 2, "{up}");
    assert_eq!(
        up.stdout.matches("CLUSTER ADDSLOTSRANGE").count(),
        3,
        "{up}"
    );

    let status = d.must("status", &[]).stdout;
    for (node, zone, slots) in [
        ("prim-1", "a", "0-5460"),
        ("prim-2", "b", "5461-10922"),
        ("prim-3", "a", "10923-16383"),
    ] {
        let r = row(&status, node);
        let f: Vec<&str> = r.split_whitespace().collect();
        assert_eq!(f.get(2), Some(&zone), "{status}");
        assert_eq!(f.get(3), Some(&"primary"), "{status}");
        assert_eq!(f.get(4), Some(&"ok"), "{status}");
        assert_eq!(f.get(5), Some(&slots), "{status}");
    }
    assert!(!status.contains("problem"), "{status}");

    // The stock redis-cli in cluster mode: keys on every shard.
    for i in 0..20 {
        assert_eq!(d.cli(&["set", &format!("key{i}"), &format!("v{i}")]), "OK");
    }
    for i in 0..20 {
        assert_eq!(d.cli(&["get", &format!("key{i}")]), format!("v{i}"));
    }
    let check = run_with_deadline(
        Command::new("redis-cli").args(["--cluster", "check", &format!("127.0.0.1:{port}")]),
        Duration::from_secs(30),
    );
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(text.contains("[OK] All 16384 slots covered."), "{text}");

    // Idempotent: nothing to do, nothing restarted.
    let pids: Vec<Option<i32>> = (1..=3).map(|i| d.pid(&format!("prim-{i}"))).collect();
    let again = d.must("up", &[]);
    assert!(
        again.stdout.contains("cluster: nothing to change"),
        "{again}"
    );
    assert!(!again.stdout.contains("started"), "{again}");
    assert_eq!(
        pids,
        (1..=3)
            .map(|i| d.pid(&format!("prim-{i}")))
            .collect::<Vec<_>>()
    );
    let plan = d.must("plan", &[]);
    assert!(plan.stdout.contains("nothing to do"), "{plan}");

    // A changed description: plan says which configs change, up rewrites and restarts
    // those nodes and the cluster comes back whole.
    d.config("name = \"prim\"\nreplicas_per_primary = 0\nnode_timeout_ms = 3000\n");
    let plan = d.must("plan", &[]);
    for i in 1..=3 {
        let want = format!("rewrite the config of prim-{i} and restart it");
        assert!(plan.stdout.contains(&want), "{plan}");
    }
    let up = d.must("up", &[]);
    assert_eq!(up.stdout.matches("(config changed)").count(), 3, "{up}");
    assert!(up.stdout.contains("cluster: nothing to change"), "{up}");
    assert_eq!(
        d.cli(&["config", "get", "cluster-node-timeout"]),
        "cluster-node-timeout\n3000"
    );
    // appendonly yes (the preset's): the data survived the restarts.
    assert_eq!(d.cli(&["get", "key7"]), "v7");
    let pids: Vec<Option<i32>> = (1..=3).map(|i| d.pid(&format!("prim-{i}"))).collect();

    // down stops what it started (by pid) and removes its files; a second down is a no-op.
    let down = d.must("down", &[]);
    assert_eq!(down.stdout.matches("stopped").count(), 3, "{down}");
    for p in pids.into_iter().flatten() {
        assert!(!alive(p), "pid {p} still running");
    }
    assert!(!d.dir.exists(), "data dir left behind");
    let again = d.must("down", &[]);
    assert!(again.stdout.contains("nothing to remove"), "{again}");
    let status = d.run("status", &[]);
    assert_eq!(status.code, 1, "{status}");
}

/// The guide's topology (3 primaries + 3 replicas over two zones) on stock redis-server:
/// every replica in the other zone, the guide's failover check, and `up` bringing the
/// stopped primary back as a replica.
#[test]
fn local_replicas_and_failover_on_stock_redis() {
    let _g = serial();
    let mut d = Deployment::new("stock-ha", &[]);
    let cfg = d.config("name = \"ha\"\nnode_timeout_ms = 2000\nappendonly = false\n");
    d.args = vec![
        "local".into(),
        "--config".into(),
        cfg,
        "--server-bin".into(),
        path_str(&stock_redis()),
        "--base-port".into(),
        base(6),
    ];
    let up = d.must("up", &[]);
    assert_eq!(up.stdout.matches("CLUSTER REPLICATE").count(), 3, "{up}");
    let status = d.must("status", &[]).stdout;
    for (replica, zone, primary) in [
        ("ha-4", "b", "ha-1"),
        ("ha-5", "a", "ha-2"),
        ("ha-6", "b", "ha-3"),
    ] {
        let r = row(&status, replica);
        assert!(r.contains(&format!("replica of {primary}")), "{status}");
        assert_eq!(r.split_whitespace().nth(2), Some(zone), "{status}");
    }
    assert_eq!(d.cli(&["set", "mykey", "Hello, Redis Cluster!"]), "OK");

    // Stop ha-2 (zone b): its replica ha-5 (zone a) takes over.
    let pid = d.pid("ha-2").expect("pid of ha-2");
    Command::new("kill")
        .arg(pid.to_string())
        .status()
        .expect("kill");
    wait_until("ha-5 to be promoted", Duration::from_secs(60), || {
        let s = d.run("status", &[]).stdout;
        promoted(&s, "ha-5", "5461-10922", "ha-2")
    });
    assert_eq!(d.cli(&["get", "mykey"]), "Hello, Redis Cluster!");
    let plan = d.must("plan", &[]);
    assert!(plan.stdout.contains("start ha-2"), "{plan}");

    // up restarts it; it rejoins as a replica of the new primary and the cluster is whole.
    let up = d.must("up", &[]);
    assert!(up.stdout.contains("started ha-2"), "{up}");
    assert!(!up.stdout.contains("CLUSTER MEET"), "{up}");
    let status = d.must("status", &[]).stdout;
    assert!(row(&status, "ha-2").contains("replica of ha-5"), "{status}");
    assert!(!status.contains("problem"), "{status}");
}

/// `up` killed halfway (after the slots of the first shard) completes on the next run
/// without redoing what was done.
#[test]
fn local_up_interrupted_halfway_resumes() {
    let _g = serial();
    let mut d = Deployment::new("resume", &[]);
    let cfg = d.config("name = \"rs\"\nappendonly = false\n");
    d.args = vec![
        "local".into(),
        "--config".into(),
        cfg,
        "--server-bin".into(),
        path_str(&stock_redis()),
        "--base-port".into(),
        base(6),
    ];
    let mut child = Command::new(tool())
        .arg("up")
        .args(&d.args)
        .arg("--dir")
        .arg(&d.dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn up");
    let stdout = child.stdout.take().expect("stdout");
    let start = Instant::now();
    let mut seen = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        seen.push(line.clone());
        if line.starts_with("CLUSTER ADDSLOTSRANGE 5461 10922") {
            // Interrupt right after the first shard's slots (a step is logged before it
            // runs, and steps run one after the other).
            let _ = child.kill();
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "{seen:?}");
    }
    let _ = child.wait();
    assert!(
        seen.iter().any(|l| l.starts_with("CLUSTER ADDSLOTSRANGE")),
        "{seen:?}"
    );

    let plan = d.must("plan", &[]);
    assert!(!plan.stdout.contains("CLUSTER MEET"), "{plan}");
    assert!(!plan.stdout.contains("start "), "{plan}");
    let up = d.must("up", &[]);
    assert!(!up.stdout.contains("started"), "{up}");
    assert!(!up.stdout.contains("CLUSTER MEET"), "{up}");
    assert!(!up.stdout.contains("ADDSLOTSRANGE 0 5460"), "{up}");
    assert!(up.stdout.contains("CLUSTER REPLICATE"), "{up}");
    let status = d.must("status", &[]).stdout;
    assert!(!status.contains("problem"), "{status}");
}

/// ferrodis with the guide's replicas: the whole topology, each replica in another zone.
#[test]
fn local_ferrodis_replicas() {
    let _g = serial();
    let mut d = Deployment::new("fd-ha", &[]);
    let cfg = d.config("name = \"fdha\"\n");
    d.args = vec![
        "local".into(),
        "--config".into(),
        cfg,
        "--server-bin".into(),
        path_str(&ferrodis_server()),
        "--base-port".into(),
        base(6),
    ];
    let up = d.run("up", &[]);
    assert!(up.ok(), "{up}");
    let status = d.must("status", &[]).stdout;
    for (replica, primary) in [
        ("fdha-4", "fdha-1"),
        ("fdha-5", "fdha-2"),
        ("fdha-6", "fdha-3"),
    ] {
        assert!(
            row(&status, replica).contains(&format!("replica of {primary}")),
            "{status}"
        );
    }
    assert!(!status.contains("problem"), "{status}");
}

/// The production guide's topology on ferrodis: TLS only (port 0), ACLs with generated
/// passwords, three primaries over three zones; the app user cannot FLUSHALL, the default
/// user is off, plain TCP is refused, secrets are 0600 and the CA key stays home.
#[test]
fn local_secure_preset_on_ferrodis() {
    let _g = serial();
    secure(&ferrodis_server(), "fd-sec", 0);
}

/// The same with replicas on stock redis-server: TLS replication with masteruser/masterauth.
#[test]
fn local_secure_with_replicas_on_stock_redis() {
    let _g = serial();
    secure(&stock_redis(), "stock-sec", 1);
}

fn secure(server: &std::path::Path, tag: &str, replicas: usize) {
    use std::os::unix::fs::PermissionsExt;
    let mut d = Deployment::new(tag, &[]);
    let cfg = d.config(&format!(
        "preset = \"secure\"\nname = \"sec\"\nreplicas_per_primary = {replicas}\n"
    ));
    let port = base(3 * (1 + replicas as u16));
    d.args = vec![
        "local".into(),
        "--config".into(),
        cfg,
        "--server-bin".into(),
        path_str(server),
        "--base-port".into(),
        port.clone(),
    ];
    let up = d.must("up", &[]);
    let pw_file = d.dir.join("secrets/passwords.toml");
    assert!(
        up.stdout.contains(&format!(
            "ACL passwords (users admin, replication, app): {}",
            pw_file.display()
        )),
        "{up}"
    );
    let status = d.must("status", &[]).stdout;
    assert!(!status.contains("problem"), "{status}");
    for (i, zone) in ["a", "b", "c"].iter().enumerate() {
        let r = row(&status, &format!("sec-{}", i + 1));
        assert_eq!(r.split_whitespace().nth(2), Some(*zone), "{status}");
        assert!(r.contains("primary"), "{status}");
    }
    if replicas > 0 {
        assert!(
            row(&status, "sec-4").contains("replica of sec-1"),
            "{status}"
        );
    }
    assert_eq!(d.cli(&["set", "patient:12345", "encrypted_data"]), "OK");
    assert_eq!(d.cli(&["get", "patient:12345"]), "encrypted_data");

    let pki = d.dir.join("pki");
    let tls = |extra: &[&str], env: Option<(&str, String)>| {
        let mut c = Command::new("redis-cli");
        c.args(["-p", &port, "--tls"])
            .arg("--cacert")
            .arg(pki.join("ca.crt"))
            .arg("--cert")
            .arg(pki.join("operator.crt"))
            .arg("--key")
            .arg(pki.join("operator.key"))
            .args(extra);
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        let out = run_with_deadline(&mut c, Duration::from_secs(30));
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let pw = std::fs::read_to_string(&pw_file).expect("passwords");
    let app = pw
        .lines()
        .find_map(|l| l.strip_prefix("app = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("app password")
        .to_string();
    assert_eq!(app.len(), 64);
    // The default user is off: nothing without credentials.
    assert!(tls(&["ping"], None).contains("NOAUTH"));
    // The app user: reads and writes, no admin commands.
    assert!(tls(
        &["-c", "--user", "app", "set", "session:x", "1"],
        Some(("REDISCLI_AUTH", app.clone()))
    )
    .contains("OK"));
    assert!(tls(&["--user", "app", "flushall"], Some(("REDISCLI_AUTH", app))).contains("NOPERM"));
    // No plain-TCP port.
    let plain = run_with_deadline(
        Command::new("redis-cli").args(["-p", &port, "ping"]),
        Duration::from_secs(30),
    );
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("PONG"));

    // Secrets are private; nodes get their own key and the CA certificate, never the CA key.
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0)
    };
    assert_eq!(mode(&pw_file), 0o600);
    assert_eq!(mode(&pki.join("ca.key")), 0o600);
    assert_eq!(mode(&pki), 0o700);
    let node = d.dir.join("nodes/sec-1");
    assert_eq!(mode(&node.join("tls/node.key")), 0o600);
    assert_eq!(mode(&node.join("users.acl")), 0o600);
    let acl = std::fs::read_to_string(node.join("users.acl")).expect("acl");
    assert!(!acl.contains(&pw.lines().next().unwrap_or("").replace("admin = ", "")));
    let ca_key = std::fs::read(pki.join("ca.key")).expect("ca key");
    for entry in walk(&d.dir.join("nodes")) {
        assert_ne!(
            std::fs::read(&entry).ok().as_deref(),
            Some(&ca_key[..]),
            "{entry:?}"
        );
    }
    // A second up changes nothing.
    let again = d.must("up", &[]);
    assert!(
        again.stdout.contains("cluster: nothing to change"),
        "{again}"
    );
    assert!(!again.stdout.contains("restarted"), "{again}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
