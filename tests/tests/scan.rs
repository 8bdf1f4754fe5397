//! SCAN: cursors and batch sizes are implementation details, so instead of comparing replies
//! this compares the union of keys over full iterations (with MATCH, COUNT, TYPE) between
//! stock Redis and ferrodis, and the error replies byte for byte.

use std::collections::BTreeSet;

use ferrodis_tests::resp_client::{escape, Kind};
use ferrodis_tests::{Flavor, RespClient, Server};

/// Upper bound on SCAN calls for one iteration (a server that never returns cursor 0 fails).
const MAX_CALLS: usize = 100_000;

fn populate(client: &mut RespClient) {
    let mut mset: Vec<String> = vec!["MSET".into()];
    for i in 0..400 {
        mset.push(format!("key:{i}"));
        mset.push(format!("v{i}"));
    }
    client.ok(&mset);
    // Binary and odd names.
    client.ok(["SET", "with space", "v"]);
    client.ok([&b"SET"[..], &b"bin\x00\xff\r\n"[..], &b"v"[..]]);
    client.ok(["SET", "", "empty name"]);
    for i in 0..60 {
        client.ok(["RPUSH", &format!("list:{i}"), "a", "b"]);
    }
    for i in 0..40 {
        client.ok(["SADD", &format!("set:{i}"), "a", "b"]);
        client.ok(["HSET", &format!("hash:{i}"), "f", "v"]);
        client.ok(["ZADD", &format!("zset:{i}"), "1", "m"]);
    }
    client.ok(["XADD", "stream:1", "1-1", "f", "v"]);
    // Keys in another database must never show up.
    client.ok(["SELECT", "1"]);
    client.ok(["MSET", "key:other", "x", "db1only", "y"]);
    client.ok(["SELECT", "0"]);
}

/// Iterates SCAN from cursor 0 until it returns 0, checking each reply's shape.
fn full_scan(client: &mut RespClient, flavor: Flavor, extra: &[&str]) -> BTreeSet<Vec<u8>> {
    let mut keys = BTreeSet::new();
    let mut cursor = b"0".to_vec();
    for _ in 0..MAX_CALLS {
        let mut args: Vec<Vec<u8>> = vec![b"SCAN".to_vec(), cursor.clone()];
        args.extend(extra.iter().map(|a| a.as_bytes().to_vec()));
        let reply = client.ok(&args);
        let what = format!("{} SCAN {} {extra:?}", flavor.name(), escape(&cursor));
        assert_eq!(reply.kind(), Kind::Array, "{what}: not an array: {reply}");
        let [next, batch] = reply.children() else {
            panic!("{what}: expected [cursor, keys], got {reply}");
        };
        assert_eq!(
            next.kind(),
            Kind::Bulk,
            "{what}: cursor not a bulk string: {reply}"
        );
        let next = next.as_bytes().unwrap_or_default().to_vec();
        assert!(
            !next.is_empty() && next.iter().all(u8::is_ascii_digit),
            "{what}: cursor is not a decimal number: {reply}"
        );
        assert_eq!(
            batch.kind(),
            Kind::Array,
            "{what}: keys not an array: {reply}"
        );
        for key in batch.children() {
            assert_eq!(
                key.kind(),
                Kind::Bulk,
                "{what}: key not a bulk string: {reply}"
            );
            keys.insert(key.as_bytes().unwrap_or_default().to_vec());
        }
        if next == b"0" {
            return keys;
        }
        cursor = next;
    }
    panic!(
        "{} SCAN {extra:?} did not finish within {MAX_CALLS} calls",
        flavor.name()
    );
}

fn show(keys: &BTreeSet<Vec<u8>>) -> String {
    let shown: Vec<String> = keys.iter().map(|k| escape(k)).collect();
    format!("{} keys: {}", keys.len(), shown.join(", "))
}

#[test]
fn scan_union_matches_stock() {
    let stock = Server::stock();
    let ferro = Server::ferrodis();
    let mut clients = [
        (Flavor::Stock, stock.client()),
        (Flavor::Ferrodis, ferro.client()),
    ];
    for (_, client) in clients.iter_mut() {
        client.ok(["FLUSHALL"]);
        populate(client);
    }

    let variants: &[&[&str]] = &[
        &[],
        &["COUNT", "1"],
        &["COUNT", "3"],
        &["COUNT", "1000"],
        &["MATCH", "key:1*"],
        &["MATCH", "key:?"],
        &["MATCH", "*:1[0-5]"],
        &["MATCH", "*:1[^0-5]", "COUNT", "7"],
        &["MATCH", "nomatch*"],
        &["MATCH", "*"],
        &["MATCH", "with\\ space"],
        &["MATCH", "with space"],
        &["MATCH", ""],
        &["TYPE", "string"],
        &["TYPE", "list"],
        &["TYPE", "set"],
        &["TYPE", "zset"],
        &["TYPE", "hash"],
        &["TYPE", "stream"],
        &["TYPE", "LIST"],
        &["TYPE", "nosuchtype"],
        &["TYPE", "list", "MATCH", "list:2*", "COUNT", "5"],
        &["COUNT", "10", "TYPE", "hash", "MATCH", "hash:*"],
        &["MATCH", "a", "MATCH", "key:3*"],
        &["COUNT", "1", "COUNT", "50"],
    ];
    let mut failures = Vec::new();
    for extra in variants {
        let [(sf, sc), (ff, fc)] = &mut clients;
        let expected = full_scan(sc, *sf, extra);
        let actual = full_scan(fc, *ff, extra);
        if expected != actual {
            failures.push(format!(
                "SCAN ... {extra:?}\n  redis:    {}\n  ferrodis: {}\n  only in redis:    {}\n  only in ferrodis: {}",
                show(&expected),
                show(&actual),
                show(&expected.difference(&actual).cloned().collect()),
                show(&actual.difference(&expected).cloned().collect()),
            ));
        }
    }

    // Same in RESP3: SCAN still replies a two-element array.
    for (flavor, client) in clients.iter_mut() {
        client.ok(["HELLO", "3"]);
        let all = full_scan(client, *flavor, &["COUNT", "13"]);
        assert_eq!(
            all.len(),
            400 + 3 + 60 + 3 * 40 + 1,
            "{} RESP3 SCAN",
            flavor.name()
        );
    }

    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

#[test]
fn scan_errors_match_stock() {
    let stock = Server::stock();
    let ferro = Server::ferrodis();
    let mut s = stock.client();
    let mut f = ferro.client();
    for client in [&mut s, &mut f] {
        client.ok(["MSET", "a", "1", "b", "2"]);
    }
    let cases: &[&[&str]] = &[
        &["SCAN"],
        &["SCAN", "abc"],
        &["SCAN", "1.5"],
        &["SCAN", "18446744073709551616"],
        &["SCAN", "0", "COUNT", "0"],
        &["SCAN", "0", "COUNT", "-1"],
        &["SCAN", "0", "COUNT", "abc"],
        &["SCAN", "0", "COUNT"],
        &["SCAN", "0", "MATCH"],
        &["SCAN", "0", "TYPE"],
        &["SCAN", "0", "FOO", "bar"],
        &["SCAN", "0", "COUNT", "10", "extra"],
        // Complete in one call with so few keys, whatever the cursor scheme.
        &["SCAN", "0", "TYPE", "nosuchtype"],
        &["SCAN", "0", "MATCH", "nomatch"],
        // Note: `SCAN ""` is accepted as cursor 0 by stock Redis (strtoul), so it is not here.
    ];
    let mut failures = Vec::new();
    for args in cases {
        let expected = s.command(*args).expect("stock reply");
        let actual = f.command(*args).expect("ferrodis reply");
        if expected.raw() != actual.raw() {
            failures.push(format!(
                "{}\n  redis:    {expected}\n  ferrodis: {actual}",
                args.join(" ")
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Iterates ZSCAN over `key` until cursor 0; returns the (member, score) pairs seen.
fn full_zscan(client: &mut RespClient, key: &str, extra: &[&str]) -> BTreeSet<(Vec<u8>, Vec<u8>)> {
    let mut pairs = BTreeSet::new();
    let mut cursor = b"0".to_vec();
    for _ in 0..MAX_CALLS {
        let mut args: Vec<Vec<u8>> = vec![b"ZSCAN".to_vec(), key.into(), cursor.clone()];
        args.extend(extra.iter().map(|a| a.as_bytes().to_vec()));
        let reply = client.ok(&args);
        let [next, batch] = reply.children() else {
            panic!("ZSCAN {key} {extra:?}: expected [cursor, elements], got {reply}");
        };
        let flat = batch.children();
        assert_eq!(flat.len() % 2, 0, "ZSCAN {key}: odd element list {reply}");
        for pair in flat.chunks(2) {
            let m = pair[0].as_bytes().unwrap_or_default().to_vec();
            let s = pair[1].as_bytes().unwrap_or_default().to_vec();
            pairs.insert((m, s));
        }
        let next = next.as_bytes().unwrap_or_default().to_vec();
        if next == b"0" {
            return pairs;
        }
        cursor = next;
    }
    panic!("ZSCAN {key} {extra:?} did not finish within {MAX_CALLS} calls");
}

#[test]
fn zscan_union_matches_stock() {
    let stock = Server::stock();
    let ferro = Server::ferrodis();
    let mut clients = [stock.client(), ferro.client()];
    for client in clients.iter_mut() {
        // 300 members: past zset-max-listpack-entries, so the cursor walks buckets.
        let mut zadd: Vec<String> = vec!["ZADD".into(), "big".into()];
        for i in 0..300 {
            zadd.push(format!("{}.5", i % 17));
            zadd.push(format!("member:{i}"));
        }
        client.ok(&zadd);
        client.ok(["ZADD", "small", "1", "a", "2.5", "b", "-inf", "c"]);
    }
    let variants: &[(&str, &[&str])] = &[
        ("big", &[]),
        ("big", &["COUNT", "1"]),
        ("big", &["COUNT", "7"]),
        ("big", &["COUNT", "1000"]),
        ("big", &["MATCH", "member:1*"]),
        ("big", &["MATCH", "*:2?", "COUNT", "3"]),
        ("big", &["MATCH", "nomatch"]),
        ("small", &["COUNT", "1"]),
        ("small", &["MATCH", "[ab]"]),
        ("nokey", &[]),
    ];
    let [s, f] = &mut clients;
    for (key, extra) in variants {
        let expected = full_zscan(s, key, extra);
        let actual = full_zscan(f, key, extra);
        assert_eq!(expected, actual, "ZSCAN {key} {extra:?}");
    }
    // While the set shrinks between calls, members present throughout are still returned.
    let mut seen = BTreeSet::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let reply = f.ok(["ZSCAN", "big", &cursor, "COUNT", "5"]);
        let [next, batch] = reply.children() else {
            panic!("ZSCAN: unexpected reply {reply}");
        };
        for pair in batch.children().chunks(2) {
            seen.insert(pair[0].as_bytes().unwrap_or_default().to_vec());
        }
        calls += 1;
        if calls == 10 {
            for i in (0..300).filter(|i| i % 3 != 0) {
                f.ok(["ZREM", "big", &format!("member:{i}")]);
            }
        }
        cursor = next.as_str().unwrap_or_default();
        if cursor == "0" {
            break;
        }
    }
    for i in (0..300).filter(|i| i % 3 == 0) {
        assert!(
            seen.contains(format!("member:{i}").as_bytes()),
            "member:{i} was never returned"
        );
    }
}
