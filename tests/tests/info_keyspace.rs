//! INFO keyspace's `avg_ttl`: the active expiry's running estimate of the remaining TTL of
//! a database's keys, as stock Redis reports it (0 until sampled, back to 0 when no key has a
//! TTL any more).

use std::time::{Duration, Instant};

use ferrodis_tests::{Flavor, RespClient, Server};

/// db0's `avg_ttl` in INFO keyspace.
fn avg_ttl(c: &mut RespClient) -> u64 {
    let info = c.ok(["INFO", "keyspace"]).as_str().expect("text");
    let line = info
        .lines()
        .find(|l| l.starts_with("db0:"))
        .unwrap_or_else(|| panic!("db0 in {info}"));
    line.rsplit_once("avg_ttl=")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("avg_ttl in {line}"))
}

/// Polls until `ok(avg_ttl)` (the estimate moves at the server's hz), for up to 5 s.
fn wait_for(c: &mut RespClient, ok: impl Fn(u64) -> bool) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let v = avg_ttl(c);
        if ok(v) || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn check(flavor: Flavor) {
    let s = Server::builder(flavor).start();
    let mut c = s.client();
    c.ok(["SET", "plain", "v"]);
    assert_eq!(avg_ttl(&mut c), 0, "{flavor:?}: no key with a TTL");
    c.ok(["SET", "a", "v", "EX", "100"]);
    c.ok(["SET", "b", "v", "PX", "100000"]);
    let v = wait_for(&mut c, |v| v > 0);
    assert!((90_000..=100_000).contains(&v), "{flavor:?}: avg_ttl {v}");
    c.ok(["DEL", "a", "b"]);
    let v = wait_for(&mut c, |v| v == 0);
    assert_eq!(v, 0, "{flavor:?}: no TTL left");
}

#[test]
fn avg_ttl_estimates_as_in_redis() {
    check(Flavor::Stock);
    check(Flavor::Ferrodis);
}
