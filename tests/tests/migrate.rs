//! MIGRATE between real servers: stock Redis and ferrodis as source and target in every
//! pairing, the source's replies compared with stock Redis's for the same steps; error paths
//! (BUSYKEY forwarded, AUTH refused, unreachable target, timeout); the pooled connection
//! reused and re-opened after the target drops it; a slow target does not stall the source.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use ferrodis_tests::resp_client::escape;
use ferrodis_tests::{Flavor, RespClient, Server};

fn client(s: &Server) -> RespClient {
    let mut c = s.client();
    c.set_timeout(Duration::from_secs(10));
    c
}

fn show(c: &mut RespClient, args: &[&str]) -> String {
    match c.command(args) {
        Ok(r) => escape(r.raw()),
        Err(e) => format!("client error {e}"),
    }
}

/// Builds keys of every type on `c`.
fn build(c: &mut RespClient) {
    c.ok(["SET", "str", "hello"]);
    c.ok(["PEXPIRE", "str", "100000"]);
    c.ok(["RPUSH", "list", "a", "b", "c"]);
    let mut h = vec!["HSET".to_string(), "hash".into()];
    for i in 0..300 {
        h.push(format!("f{i}"));
        h.push(format!("value-{i}-{}", "x".repeat(i % 50)));
    }
    c.ok(&h);
    c.ok(["SADD", "set", "1", "2", "3"]);
    c.ok(["ZADD", "zset", "1", "one", "2.5", "two"]);
    c.ok(["XADD", "stream", "1-1", "f", "v"]);
    c.ok(["XGROUP", "CREATE", "stream", "g", "0"]);
}

/// The canonical content of the keys built by [`build`].
fn contents(c: &mut RespClient) -> Vec<String> {
    [
        vec!["GET", "str"],
        vec!["LRANGE", "list", "0", "-1"],
        vec!["HLEN", "hash"],
        vec!["HGET", "hash", "f299"],
        vec!["SMEMBERS", "set"],
        vec!["ZRANGE", "zset", "0", "-1", "WITHSCORES"],
        vec!["XRANGE", "stream", "-", "+"],
        vec!["XINFO", "GROUPS", "stream"],
    ]
    .iter()
    .map(|a| show(c, a))
    .collect()
}

/// A TCP server that accepts connections and never answers (for timeouts).
fn silent_listener() -> (u16, thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let h = thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
            }
        }
    });
    (port, h)
}

/// Runs the steps with a source of `src` flavor and a target of `dst` flavor; returns the
/// source's replies (the target's content is checked here).
fn scenario(src: Flavor, dst: Flavor) -> Vec<String> {
    let s = Server::builder(src).start();
    let t = Server::builder(dst).start();
    let (mut sc, mut tc) = (client(&s), client(&t));
    build(&mut sc);
    let before = contents(&mut sc);
    let port = t.port().to_string();
    let mut out = Vec::new();
    let mut step = |c: &mut RespClient, args: &[&str]| out.push(show(c, args));
    step(
        &mut sc,
        &["MIGRATE", "127.0.0.1", &port, "str", "0", "5000"],
    );
    step(
        &mut sc,
        &[
            "MIGRATE",
            "127.0.0.1",
            &port,
            "",
            "0",
            "5000",
            "KEYS",
            "list",
            "hash",
            "nokey",
            "set",
            "zset",
            "stream",
        ],
    );
    assert_eq!(
        contents(&mut tc),
        before,
        "{src:?} -> {dst:?}: target content"
    );
    let ttl = tc.ok(["PTTL", "str"]).as_int().unwrap_or(-3);
    assert!((90_000..=100_000).contains(&ttl), "TTL kept: {ttl}");
    step(&mut sc, &["DBSIZE"]);
    step(
        &mut sc,
        &["MIGRATE", "127.0.0.1", &port, "str", "0", "5000"],
    );
    // BUSYKEY is forwarded; the key stays.
    tc.ok(["SET", "busy", "theirs"]);
    sc.ok(["SET", "busy", "mine"]);
    step(
        &mut sc,
        &["MIGRATE", "127.0.0.1", &port, "busy", "0", "5000"],
    );
    step(&mut sc, &["GET", "busy"]);
    step(
        &mut sc,
        &[
            "MIGRATE",
            "127.0.0.1",
            &port,
            "busy",
            "0",
            "5000",
            "COPY",
            "REPLACE",
        ],
    );
    step(&mut sc, &["GET", "busy"]);
    assert_eq!(show(&mut tc, &["GET", "busy"]), "$4\\r\\nmine\\r\\n");
    // Errors of AUTH / AUTH2 forwarded.
    step(
        &mut sc,
        &[
            "MIGRATE",
            "127.0.0.1",
            &port,
            "busy",
            "0",
            "5000",
            "AUTH",
            "pw",
        ],
    );
    step(
        &mut sc,
        &[
            "MIGRATE",
            "127.0.0.1",
            &port,
            "busy",
            "0",
            "5000",
            "AUTH2",
            "u",
            "pw",
        ],
    );
    // Another database.
    step(
        &mut sc,
        &["MIGRATE", "127.0.0.1", &port, "busy", "3", "5000"],
    );
    step(&mut sc, &["EXISTS", "busy"]);
    tc.ok(["SELECT", "3"]);
    assert_eq!(show(&mut tc, &["GET", "busy"]), "$4\\r\\nmine\\r\\n");
    // Unreachable target: the key stays.
    sc.ok(["SET", "k", "v"]);
    let dead = ferrodis_tests::server::free_port(false).to_string();
    step(&mut sc, &["MIGRATE", "127.0.0.1", &dead, "k", "0", "1000"]);
    step(
        &mut sc,
        &["MIGRATE", "nosuchhost.invalid", "1", "k", "0", "1000"],
    );
    // A target that never answers: IOERR after the timeout, the key stays.
    let (silent, h) = silent_listener();
    let started = Instant::now();
    step(
        &mut sc,
        &["MIGRATE", "127.0.0.1", &silent.to_string(), "k", "0", "300"],
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{src:?}: timeout took {took:?}"
    );
    step(&mut sc, &["GET", "k"]);
    drop(h);
    out
}

#[test]
fn migrate_matches_stock_in_every_pairing() {
    for dst in [Flavor::Stock, Flavor::Ferrodis] {
        let reference = scenario(Flavor::Stock, dst);
        let ours = scenario(Flavor::Ferrodis, dst);
        for (i, (a, b)) in reference.iter().zip(&ours).enumerate() {
            assert_eq!(a, b, "step {i} (target {dst:?}): stock vs ferrodis source");
        }
        assert_eq!(reference.len(), ours.len());
        let text = ours.join("\n");
        for want in [
            "+NOKEY",
            "BUSYKEY Target key name already exists.",
            "ERR Target instance replied with error: ERR AUTH <password> called without",
            "ERR Target instance replied with error: WRONGPASS",
            "-IOERR error or timeout writing to target instance",
            "-IOERR error or timeout connecting to the client",
            "-IOERR error or timeout reading to target instance",
        ] {
            assert!(text.contains(want), "missing {want:?} in {text}");
        }
    }
}

fn stat(c: &mut RespClient, section: &str, field: &str) -> i64 {
    let info = c.ok(["INFO", section]).as_str().unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(-1)
}

#[test]
fn migrate_reuses_its_connection_and_reconnects() {
    let s = Server::ferrodis();
    let t = Server::stock();
    let (mut sc, mut tc) = (client(&s), client(&t));
    let port = t.port().to_string();
    let before = stat(&mut tc, "stats", "total_connections_received");
    for i in 0..20 {
        let k = format!("k{i}");
        sc.ok(["SET", &k, "v"]);
        let r = sc.ok(["MIGRATE", "127.0.0.1", &port, &k, "0", "5000"]);
        assert_eq!(r.as_str().as_deref(), Some("OK"));
    }
    let after = stat(&mut tc, "stats", "total_connections_received");
    assert_eq!(after - before, 1, "one pooled connection for 20 MIGRATEs");
    assert_eq!(stat(&mut tc, "keyspace", "db0").max(0), 0);
    assert_eq!(tc.ok(["DBSIZE"]).as_int(), Some(20));
    // The target drops the connection: the next MIGRATE reconnects transparently.
    tc.ok(["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]);
    sc.ok(["SET", "again", "v"]);
    let r = sc.ok(["MIGRATE", "127.0.0.1", &port, "again", "0", "5000"]);
    assert_eq!(r.as_str().as_deref(), Some("OK"));
    assert_eq!(tc.ok(["EXISTS", "again"]).as_int(), Some(1));
}

/// A target that answers `+OK` to everything, `delay` after it received `lines_wanted`
/// commands' worth of data (it counts `*` array headers at line starts roughly: enough for
/// small RESTOREs of short values).
fn slow_target(delay: Duration, replies: usize) -> (u16, thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let h = thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            let mut buf = [0u8; 4096];
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            if s.read(&mut buf).unwrap_or(0) > 0 {
                thread::sleep(delay);
                let _ = s.write_all(&b"+OK\r\n".repeat(replies));
            }
            let _ = s.read(&mut buf);
        }
    });
    (port, h)
}

/// A MIGRATE running on its thread: its escaped reply and how long it took.
type Migration = thread::JoinHandle<(
    Result<String, ferrodis_tests::resp_client::ClientError>,
    Duration,
)>;

/// MIGRATE of `key` from `s` on a thread of its own, to a [`slow_target`] that answers its
/// SELECT and RESTORE after a second; the target's thread too.
fn migrate_to_slow_target(s: &Server, key: &str) -> (Migration, thread::JoinHandle<()>) {
    let (port, h) = slow_target(Duration::from_millis(1000), 2);
    let (addr, key) = (s.addr(), key.to_string());
    let mig = thread::spawn(move || {
        let mut c = RespClient::connect(addr).expect("connect");
        c.set_timeout(Duration::from_secs(10));
        let started = Instant::now();
        let r = c
            .command(["MIGRATE", "127.0.0.1", &port.to_string(), &key, "0", "5000"])
            .map(|r| escape(r.raw()));
        (r, started.elapsed())
    });
    (mig, h)
}

#[test]
fn slow_target_does_not_stall_the_source() {
    let s = Server::ferrodis();
    let mut sc = client(&s);
    sc.ok(["SET", "moving", "old"]);
    sc.ok(["SET", "other", "x"]);
    let (mig, h) = migrate_to_slow_target(&s, "moving");
    thread::sleep(Duration::from_millis(200));
    // Others are served meanwhile: reads (the old value), writes to other keys.
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let t0 = Instant::now();
        assert_eq!(show(&mut sc, &["GET", "moving"]), "$3\\r\\nold\\r\\n");
        sc.ok(["INCR", "counter"]);
        sc.ok(["SET", "other", "y"]);
        worst = worst.max(t0.elapsed());
        thread::sleep(Duration::from_millis(10));
    }
    assert!(
        worst < Duration::from_millis(200),
        "worst latency {worst:?}"
    );
    // A write to the key in flight waits for the migration, then applies after the deletion.
    let t0 = Instant::now();
    sc.ok(["SET", "moving", "new"]);
    let waited = t0.elapsed();
    let (r, took) = mig.join().expect("migrate thread");
    assert_eq!(r.expect("migrate reply"), "+OK\\r\\n");
    assert!(
        took >= Duration::from_millis(900),
        "migration took {took:?}"
    );
    assert!(
        waited >= Duration::from_millis(300),
        "the write waited {waited:?}"
    );
    assert_eq!(show(&mut sc, &["GET", "moving"]), "$3\\r\\nnew\\r\\n");
    drop(h);
}

/// A script writing a key a MIGRATE has in flight waits for the migration, as a plain write
/// does, then applies after the deletion (it used to write at once, and the migration then
/// deleted the key: the write was lost).
#[test]
fn a_script_writing_a_key_in_flight_waits_for_the_migration() {
    let s = Server::ferrodis();
    let mut sc = client(&s);
    sc.ok(["SET", "moving", "old"]);
    let (mig, h) = migrate_to_slow_target(&s, "moving");
    thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    let r = sc.ok([
        "EVAL",
        "return redis.call('set', KEYS[1], 'new')",
        "1",
        "moving",
    ]);
    let waited = t0.elapsed();
    assert_eq!(r.as_str().as_deref(), Some("OK"));
    let (r, _) = mig.join().expect("migrate thread");
    assert_eq!(r.expect("reply"), "+OK\\r\\n");
    assert!(
        waited >= Duration::from_millis(300),
        "the script waited {waited:?}"
    );
    assert_eq!(show(&mut sc, &["GET", "moving"]), "$3\\r\\nnew\\r\\n");
    drop(h);
}

/// `DEBUG DIGEST-VALUE` (what `redis-cli --cluster fix` compares when a key is on two
/// nodes): same digests as stock Redis for every type and encoding.
#[test]
fn debug_digest_value_matches_stock() {
    let run = |flavor: Flavor| -> Vec<String> {
        let s = Server::builder(flavor)
            .directive("enable-debug-command", &["yes"])
            .start();
        let mut c = client(&s);
        build(&mut c);
        c.ok(["SET", "int", "-12345"]);
        c.ok(["SET", "big", &"x".repeat(100)]);
        c.ok(["APPEND", "raw", "abc"]);
        c.ok(["SADD", "intset", "1", "2", "-3"]);
        for i in 0..200 {
            c.ok(["ZADD", "bigz", &format!("{i}.25"), &format!("m{i}")]);
            c.ok(["SADD", "bigs", &format!("m{i}")]);
            c.ok(["RPUSH", "bigl", &i.to_string()]);
        }
        c.ok(["XADD", "stream", "2-0", "a", "b"]);
        let keys = [
            "str", "list", "hash", "set", "zset", "stream", "int", "big", "raw", "intset", "bigz",
            "bigs", "bigl", "nokey",
        ];
        let mut a = vec!["DEBUG", "DIGEST-VALUE"];
        a.extend(keys);
        vec![show(&mut c, &a), show(&mut c, &["DEBUG", "DIGEST-VALUE"])]
    };
    assert_eq!(run(Flavor::Stock), run(Flavor::Ferrodis));
}

/// `DEBUG POPULATE` (benchmarks and `bench/sync-memory.sh` fill servers with it): the same
/// keys, values and errors as stock Redis; keys already there are kept.
#[test]
fn debug_populate_matches_stock() {
    let run = |flavor: Flavor| -> Vec<String> {
        let s = Server::builder(flavor)
            .directive("enable-debug-command", &["yes"])
            .start();
        let mut c = client(&s);
        c.ok(["SET", "key:1", "mine"]);
        let mut seen = Vec::new();
        for cmd in [
            &["DEBUG", "POPULATE", "100"][..],
            &["DBSIZE"],
            &["GET", "key:1"],
            &["GET", "key:99"],
            &["DEBUG", "POPULATE", "5", "p", "3"],
            &["GET", "p:4"],
            &["DEBUG", "POPULATE", "3", "z", "10"],
            &["GET", "z:2"],
            &["OBJECT", "ENCODING", "key:7"],
            &["DEBUG", "POPULATE", "0"],
            &["DEBUG", "POPULATE", "-1"],
            &["DEBUG", "POPULATE", "x"],
            &["DEBUG", "POPULATE", "3", "q", "-5"],
            &["DBSIZE"],
        ] {
            let r = c.command(cmd.iter().copied()).unwrap();
            seen.push(format!("{cmd:?} -> {}", escape(r.raw())));
        }
        seen
    };
    let (stock, ours) = (run(Flavor::Stock), run(Flavor::Ferrodis));
    assert_eq!(ours, stock);
}
