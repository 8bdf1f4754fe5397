//! DUMP payloads cross between stock Redis 7.0 and ferrodis in both directions, for every data
//! type in its small and large encodings: a value built on one server, dumped there and
//! restored on the other, reads back the same on both (and keeps its TTL). Streams keep their
//! consumer groups with delivery and seen times.

use ferrodis_tests::resp_client::escape;
use ferrodis_tests::{Flavor, RespClient, Server};

/// Commands that build key `k`, and the command that reads it back in a canonical order.
struct Case {
    name: &'static str,
    build: Vec<Vec<String>>,
    read: Vec<&'static str>,
}

fn words(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn cases() -> Vec<Case> {
    let many = |cmd: &str, n: usize, item: &dyn Fn(usize) -> Vec<String>| -> Vec<Vec<String>> {
        let mut c = words(&[cmd, "k"]);
        for i in 0..n {
            c.extend(item(i));
        }
        vec![c]
    };
    let long = "v".repeat(100);
    vec![
        Case {
            name: "int string",
            build: vec![words(&["SET", "k", "-123456789012"])],
            read: vec!["GET", "k"],
        },
        Case {
            name: "long string",
            build: vec![words(&["SET", "k", &"xyz".repeat(1000)])],
            read: vec!["GET", "k"],
        },
        Case {
            name: "binary string",
            build: vec![vec!["SET".into(), "k".into(), "a\u{0}\r\n\u{7f}".into()]],
            read: vec!["GET", "k"],
        },
        Case {
            name: "small list",
            build: many("RPUSH", 10, &|i| vec![format!("e{i}"), i.to_string()]),
            read: vec!["LRANGE", "k", "0", "-1"],
        },
        Case {
            name: "large list",
            build: many("RPUSH", 3000, &|i| {
                vec![format!("element-{i}-{}", "p".repeat(i % 70))]
            }),
            read: vec!["LRANGE", "k", "0", "-1"],
        },
        Case {
            name: "small hash",
            build: many("HSET", 20, &|i| vec![format!("f{i}"), i.to_string()]),
            read: vec!["HGETALL", "k"],
        },
        Case {
            name: "large hash",
            build: many("HSET", 500, &|i| {
                vec![format!("f{i}"), format!("{i}{long}")]
            }),
            read: vec!["HGETALL", "k"],
        },
        Case {
            name: "intset",
            build: many("SADD", 100, &|i| {
                vec![(i as i64 * 7919 - 300000).to_string()]
            }),
            read: vec!["SMEMBERS", "k"],
        },
        Case {
            name: "large set",
            build: many("SADD", 1000, &|i| vec![format!("m{i}")]),
            read: vec!["SMEMBERS", "k"],
        },
        Case {
            name: "small zset",
            build: many("ZADD", 20, &|i| {
                vec![format!("{}.5", i as i64 - 10), format!("m{i}")]
            }),
            read: vec!["ZRANGE", "k", "0", "-1", "WITHSCORES"],
        },
        Case {
            name: "large zset",
            build: many("ZADD", 1000, &|i| {
                vec![format!("{}", (i * 37 % 1000) as f64 / 3.0), format!("m{i}")]
            }),
            read: vec!["ZRANGE", "k", "0", "-1", "WITHSCORES"],
        },
        Case {
            name: "small stream",
            build: stream_build(false),
            read: vec!["XRANGE", "k", "-", "+"],
        },
        Case {
            name: "stream nodes and tombstones",
            build: stream_build(true),
            read: vec!["XINFO", "STREAM", "k"],
        },
        Case {
            name: "stream groups",
            build: stream_build(true),
            read: vec!["XINFO", "GROUPS", "k"],
        },
        Case {
            name: "stream pending",
            build: stream_build(true),
            read: vec!["XPENDING", "k", "g"],
        },
        Case {
            name: "large stream",
            build: std::iter::once(words(&["XADD", "k", "1-1", "f", &"v".repeat(5000)]))
                .chain((2..300).map(|i| {
                    let v = format!("{i}-{}", "w".repeat(i % 50));
                    words(&[
                        "XADD",
                        "k",
                        &format!("{i}-0"),
                        "field",
                        &v,
                        "n",
                        &i.to_string(),
                    ])
                }))
                .collect(),
            read: vec!["XRANGE", "k", "-", "+"],
        },
    ]
}

/// A stream with entries in several nodes; with `groups`, also deletions, trims and consumer
/// groups with pending entries.
fn stream_build(groups: bool) -> Vec<Vec<String>> {
    let mut b = vec![words(&["CONFIG", "SET", "stream-node-max-entries", "4"])];
    for i in 1..=25 {
        let f = if i % 5 == 0 { "g" } else { "f" };
        b.push(words(&[
            "XADD",
            "k",
            &format!("{i}-0"),
            f,
            &format!("v{i}"),
            "n",
            &i.to_string(),
        ]));
    }
    b.push(words(&["CONFIG", "SET", "stream-node-max-entries", "100"]));
    if groups {
        b.push(words(&["XDEL", "k", "2-0", "3-0", "7-0", "25-0"]));
        b.push(words(&["XTRIM", "k", "MINID", "2"]));
        b.push(words(&["XGROUP", "CREATE", "k", "g", "0"]));
        b.push(words(&[
            "XGROUP",
            "CREATE",
            "k",
            "h",
            "10-0",
            "ENTRIESREAD",
            "7",
        ]));
        b.push(words(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "a",
            "COUNT",
            "5",
            "STREAMS",
            "k",
            ">",
        ]));
        b.push(words(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "b",
            "COUNT",
            "2",
            "STREAMS",
            "k",
            ">",
        ]));
        b.push(words(&["XACK", "k", "g", "4-0"]));
        b.push(words(&["XDEL", "k", "5-0"]));
    }
    b
}

/// Sorted elements of an array reply (hash/set orders are not part of the contract).
fn canonical(reply: &ferrodis_tests::resp_client::Reply, sort: bool) -> Vec<Vec<u8>> {
    let mut items: Vec<Vec<u8>> = if reply.children().is_empty() {
        vec![reply.raw().to_vec()]
    } else {
        reply.children().iter().map(|c| c.raw().to_vec()).collect()
    };
    if sort {
        items.sort();
    }
    items
}

fn dump(c: &mut RespClient) -> Vec<u8> {
    let r = c.ok(["DUMP", "k"]);
    r.as_bytes().expect("DUMP answers a bulk string").to_vec()
}

#[test]
fn payloads_cross_both_ways() {
    let stock = Server::builder(Flavor::Stock).start();
    let ours = Server::builder(Flavor::Ferrodis).start();
    let (mut s, mut f) = (stock.client(), ours.client());
    for case in cases() {
        for c in [&mut s, &mut f] {
            c.ok(["FLUSHALL"]);
            for cmd in &case.build {
                c.ok(cmd);
            }
        }
        let sort = matches!(case.read[0], "HGETALL" | "SMEMBERS");
        let from_stock = dump(&mut s);
        let from_ours = dump(&mut f);
        let timed = case.build.iter().any(|c| c[0] == "XREADGROUP");
        if case.name.contains("stream") && !timed {
            // Streams are written in Redis's own encoding: the payloads are the same bytes
            // (unless they hold delivery times, which differ between the two servers).
            assert_eq!(escape(&from_ours), escape(&from_stock), "{}", case.name);
        }
        // Each restores the other's payload under a second name, with a TTL.
        let restore = |c: &mut RespClient, payload: &[u8]| {
            let r = c
                .command([&b"RESTORE"[..], b"copy", b"100000", payload])
                .expect("RESTORE answered");
            assert_eq!(
                r.raw(),
                b"+OK\r\n",
                "{}: RESTORE of the other server's payload {}",
                case.name,
                escape(payload)
            );
        };
        restore(&mut f, &from_stock);
        restore(&mut s, &from_ours);
        let read_copy: Vec<&str> = case
            .read
            .iter()
            .map(|&a| if a == "k" { "copy" } else { a })
            .collect();
        let want = canonical(&s.ok(&case.read), sort);
        for (who, c) in [("redis", &mut s), ("ferrodis", &mut f)] {
            assert_eq!(
                canonical(&c.ok(&case.read), sort),
                want,
                "{}: original on {who}",
                case.name
            );
            assert_eq!(
                canonical(&c.ok(&read_copy), sort),
                want,
                "{}: restored copy on {who}",
                case.name
            );
            let ttl = c.ok(["TTL", "copy"]).as_int().unwrap_or(-9);
            assert!(
                (99..=100).contains(&ttl),
                "{}: TTL {ttl} on {who}",
                case.name
            );
        }
        // Redis checks the payload it is given: ours must carry a valid CRC and version.
        let mut bad = from_ours.clone();
        let n = bad.len();
        bad[n - 1] ^= 0x55;
        let r = s
            .command([&b"RESTORE"[..], b"bad", b"0", &bad])
            .expect("RESTORE answered");
        assert_eq!(
            r.raw(),
            b"-ERR DUMP payload version or checksum are wrong\r\n".as_slice()
        );
    }
}

/// A stream's consumer groups travel with their times: what XINFO STREAM FULL shows of the
/// original on one server, the restored copy shows on the other.
#[test]
fn stream_payloads_keep_groups_and_times() {
    let stock = Server::builder(Flavor::Stock).start();
    let ours = Server::builder(Flavor::Ferrodis).start();
    let mut clients = [stock.client(), ours.client()];
    for forward in [true, false] {
        let [s, f] = &mut clients;
        let (from, to) = if forward { (s, f) } else { (f, s) };
        for c in [&mut *from, &mut *to] {
            c.ok(["FLUSHALL"]);
        }
        for cmd in stream_build(true) {
            from.ok(&cmd);
        }
        from.ok(["XGROUP", "CREATECONSUMER", "k", "h", "watcher"]);
        let full = from.ok(["XINFO", "STREAM", "k", "FULL"]);
        assert!(escape(full.raw()).contains("watcher"));
        let payload = dump(from);
        to.ok([&b"RESTORE"[..], b"k", b"0", &payload]);
        assert_eq!(
            escape(to.ok(["XINFO", "STREAM", "k", "FULL"]).raw()),
            escape(full.raw())
        );
        // And the payload written back is the one read (times, counts and nodes unchanged).
        assert_eq!(escape(&dump(to)), escape(&dump(from)));
    }
}
