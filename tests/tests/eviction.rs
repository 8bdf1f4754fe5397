//! `maxmemory` eviction under concurrent writers, on stock Redis and ferrodis: with an
//! `allkeys-*` policy, or a `volatile-*` one and keys with a TTL, every write is accepted (no
//! OOM error), keys are evicted, and memory ends within the limit.

use std::time::Duration;

use ferrodis_tests::resp_client::{encode_command, RespClient};
use ferrodis_tests::{Flavor, Server};

/// A numeric field of an INFO section.
fn info_field(c: &mut RespClient, section: &str, field: &str) -> u64 {
    let info = c.ok(["INFO", section]);
    let text = String::from_utf8_lossy(info.as_bytes().unwrap_or_default()).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("INFO {section} has no {field}"))
}

fn used_memory(c: &mut RespClient) -> u64 {
    info_field(c, "memory", "used_memory")
}

/// Eight connections each write 4,000 keys of 200 bytes in pipelined batches of 100, about
/// twice what 4 MiB over the empty server's memory holds (with a TTL under `volatile-*`).
/// Returns the error replies.
fn writers_past_maxmemory(flavor: Flavor, policy: &str) -> Vec<String> {
    let s = Server::builder(flavor).start();
    let mut c = s.client();
    let max = used_memory(&mut c) + 4 * 1024 * 1024;
    c.ok(["CONFIG", "SET", "maxmemory-policy", policy]);
    c.ok(["CONFIG", "SET", "maxmemory", &max.to_string()]);
    let addr = s.addr();
    let volatile = policy.starts_with("volatile");
    let writers: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = RespClient::connect(addr).expect("connect");
                c.set_timeout(Duration::from_secs(30));
                let value = "v".repeat(200);
                let mut errors = Vec::new();
                for b in 0..40 {
                    let mut batch = Vec::new();
                    for i in 0..100 {
                        let key = format!("key:{t}:{b}:{i}");
                        batch.extend(if volatile {
                            encode_command(["SET", key.as_str(), value.as_str(), "EX", "3600"])
                        } else {
                            encode_command(["SET", key.as_str(), value.as_str()])
                        });
                    }
                    c.send_raw(&batch).expect("send");
                    for _ in 0..100 {
                        let r = c.read_reply().expect("reply");
                        if r.is_error() {
                            errors.push(r.as_str().unwrap_or_default());
                        }
                    }
                }
                errors
            })
        })
        .collect();
    let errors: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().expect("writer"))
        .collect();
    let name = flavor.name();
    assert!(
        info_field(&mut c, "stats", "evicted_keys") > 0,
        "{name} {policy}: nothing evicted"
    );
    let used = used_memory(&mut c);
    assert!(
        used <= max + 512 * 1024,
        "{name} {policy}: used_memory {used} over maxmemory {max}"
    );
    errors
}

#[test]
fn concurrent_writers_past_maxmemory_are_never_refused() {
    for policy in [
        "allkeys-random",
        "allkeys-lru",
        "allkeys-lfu",
        "volatile-random",
        "volatile-lru",
        "volatile-ttl",
    ] {
        for flavor in [Flavor::Stock, Flavor::Ferrodis] {
            let errors = writers_past_maxmemory(flavor, policy);
            assert!(
                errors.is_empty(),
                "{} {policy}: {} errors, first {:?}",
                flavor.name(),
                errors.len(),
                errors.first()
            );
        }
    }
}
