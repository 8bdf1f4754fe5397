//! A server's whole dataset read back through commands, in a canonical form, to compare two
//! servers (AOF reloads, replicas) key by key.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::resp_client::{escape, Reply};
use crate::RespClient;

fn text(r: &Reply) -> String {
    format!("{r}")
}

fn items(r: &Reply, sort_pairs: bool) -> Vec<String> {
    let mut v: Vec<String> = r.children().iter().map(text).collect();
    if sort_pairs {
        let mut pairs: Vec<String> = v.chunks(2).map(|c| c.join("=")).collect();
        pairs.sort();
        v = pairs;
    }
    v
}

/// Everything the server holds, read back through commands, in a canonical form: every key
/// of every database with its type, value and whether it has a TTL. Keys about to expire
/// (TTL under 30 s) are left out: they may legitimately be gone after a restart.
pub fn state(c: &mut RespClient) -> BTreeMap<String, String> {
    // Stock Redis answers -LOADING while it reads a big AOF.
    let until = Instant::now() + Duration::from_secs(60);
    while matches!(c.command(["DBSIZE"]), Ok(r) if r.is_error()) {
        assert!(Instant::now() < until, "still loading");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = BTreeMap::new();
    for db in 0..16 {
        c.ok(["SELECT", &db.to_string()]);
        let mut cursor = "0".to_string();
        let mut keys = Vec::new();
        loop {
            let r = c.ok(["SCAN", &cursor, "COUNT", "1000"]);
            cursor = r.children()[0].as_str().unwrap_or_default();
            keys.extend(
                r.children()[1]
                    .children()
                    .iter()
                    .map(|k| k.as_bytes().unwrap_or_default().to_vec()),
            );
            if cursor == "0" {
                break;
            }
        }
        for key in keys {
            let k = &key[..];
            let pttl = c.ok([&b"PTTL"[..], k]).as_int().unwrap_or(-2);
            if pttl == -2 || (0..30_000).contains(&pttl) {
                continue;
            }
            let ty = c.ok([&b"TYPE"[..], k]).as_str().unwrap_or_default();
            let value = match ty.as_str() {
                "string" => {
                    let len = c.ok([&b"STRLEN"[..], k]).as_int().unwrap_or(0);
                    if len > 1 << 20 {
                        // Huge values (SETRANGE/SETBIT far out): length and both ends.
                        let head = c.ok([&b"GETRANGE"[..], k, b"0", b"63"]);
                        let tail = c.ok([&b"GETRANGE"[..], k, b"-64", b"-1"]);
                        vec![format!("len={len} {} {}", text(&head), text(&tail))]
                    } else {
                        let mut v = c
                            .ok([&b"GET"[..], k])
                            .as_bytes()
                            .unwrap_or_default()
                            .to_vec();
                        if v.starts_with(b"HYLL") && v.len() >= 16 {
                            // The cached cardinality is a cache, not the value.
                            v[8..16].fill(0);
                        }
                        vec![escape(&v)]
                    }
                }
                "list" => items(&c.ok([&b"LRANGE"[..], k, b"0", b"-1"]), false),
                "set" => {
                    let mut v = items(&c.ok([&b"SMEMBERS"[..], k]), false);
                    v.sort();
                    v
                }
                "zset" => items(
                    &c.ok([&b"ZRANGE"[..], k, b"0", b"-1", b"WITHSCORES"]),
                    false,
                ),
                "hash" => items(&c.ok([&b"HGETALL"[..], k]), true),
                "stream" => {
                    let mut v = items(&c.ok([&b"XRANGE"[..], k, b"-", b"+"]), false);
                    let groups = c.ok([&b"XINFO"[..], b"GROUPS", k]);
                    for g in groups.children() {
                        // name, consumers, pending, last-delivered-id (lag and entries-read
                        // depend on history a reload does not keep exactly).
                        let f = g.children();
                        let pick = |name: &str| {
                            f.chunks(2)
                                .find(|p| p[0].as_str().as_deref() == Some(name))
                                .map(|p| text(&p[1]))
                                .unwrap_or_default()
                        };
                        let gname = pick("name");
                        let graw = f
                            .chunks(2)
                            .find(|p| p[0].as_str().as_deref() == Some("name"))
                            .and_then(|p| p[1].as_bytes())
                            .unwrap_or_default()
                            .to_vec();
                        v.push(format!(
                            "group {gname} consumers={} pending={} last={}",
                            pick("consumers"),
                            pick("pending"),
                            pick("last-delivered-id")
                        ));
                        let pel = c.ok([&b"XPENDING"[..], k, &graw[..], b"-", b"+", b"1000"]);
                        for p in pel.children() {
                            let f = p.children();
                            // id, consumer, delivery count (idle time is a clock reading)
                            v.push(format!(
                                "pel {} {} {}",
                                text(&f[0]),
                                text(&f[1]),
                                text(&f[3])
                            ));
                        }
                    }
                    v
                }
                other => vec![format!("<{other}>")],
            };
            out.insert(
                format!("db{db} {}", escape(k)),
                format!("{ty} ttl={} {}", pttl >= 0, value.join(" ")),
            );
        }
    }
    c.ok(["SELECT", "0"]);
    out
}

pub fn diff(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> String {
    let mut d = String::new();
    for (k, v) in a {
        match b.get(k) {
            None => d += &format!("  missing {k}: {v}\n"),
            Some(w) if w != v => d += &format!("  {k}:\n    before {v}\n    after  {w}\n"),
            _ => {}
        }
    }
    for (k, v) in b {
        if !a.contains_key(k) {
            d += &format!("  extra {k}: {v}\n");
        }
    }
    d
}

/// The keys whose value differs between `a` and `b`.
pub fn differing(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let mut keys: Vec<String> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect();
    keys.extend(b.keys().filter(|k| !a.contains_key(*k)).cloned());
    keys
}
