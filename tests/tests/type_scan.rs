//! HSCAN and SSCAN over `hashtable` encodings: cursors and batch sizes are implementation
//! details (small encodings are compared reply by reply in `scripts/hash.redis` and
//! `scripts/set.redis`), so this compares the union of items over full iterations with stock
//! Redis, and checks that items present for a whole iteration survive changes in between.

use std::collections::BTreeSet;

use ferrodis_tests::resp_client::{escape, Kind};
use ferrodis_tests::{Flavor, RespClient, Server};

const MAX_CALLS: usize = 100_000;

fn populate(client: &mut RespClient) {
    let mut hset: Vec<String> = vec!["HSET".into(), "h".into()];
    let mut sadd: Vec<String> = vec!["SADD".into(), "s".into()];
    for i in 0..700 {
        hset.push(format!("field:{i}"));
        hset.push(format!("v{i}"));
        sadd.push(format!("m:{i}"));
    }
    client.ok(&hset);
    client.ok(&sadd);
    // An all-integer set beyond set-max-intset-entries.
    let mut ints: Vec<String> = vec!["SADD".into(), "ints".into()];
    ints.extend((0..600).map(|i| (i * 3).to_string()));
    client.ok(&ints);
}

/// Iterates `cmd key` from cursor 0 until 0; calls `between` after each call.
fn full_scan(
    client: &mut RespClient,
    flavor: Flavor,
    cmd: &str,
    key: &str,
    extra: &[&str],
    mut between: impl FnMut(&mut RespClient, usize),
) -> BTreeSet<Vec<u8>> {
    let mut items = BTreeSet::new();
    let mut cursor = b"0".to_vec();
    for call in 0..MAX_CALLS {
        let mut args: Vec<Vec<u8>> = vec![cmd.as_bytes().to_vec(), key.as_bytes().to_vec()];
        args.push(cursor.clone());
        args.extend(extra.iter().map(|a| a.as_bytes().to_vec()));
        let reply = client.ok(&args);
        let what = format!(
            "{} {cmd} {key} {} {extra:?}",
            flavor.name(),
            escape(&cursor)
        );
        let [next, batch] = reply.children() else {
            panic!("{what}: expected [cursor, items], got {reply}");
        };
        assert_eq!(batch.kind(), Kind::Array, "{what}: {reply}");
        let next = next.as_bytes().unwrap_or_default().to_vec();
        let elems = batch.children();
        if cmd == "HSCAN" {
            assert_eq!(elems.len() % 2, 0, "{what}: odd field/value list");
            for pair in elems.chunks(2) {
                let mut item = pair[0].as_bytes().unwrap_or_default().to_vec();
                item.push(b'=');
                item.extend_from_slice(pair[1].as_bytes().unwrap_or_default());
                items.insert(item);
            }
        } else {
            for e in elems {
                items.insert(e.as_bytes().unwrap_or_default().to_vec());
            }
        }
        if next == b"0" {
            return items;
        }
        between(client, call);
        cursor = next;
    }
    panic!("{} {cmd} did not finish", flavor.name());
}

#[test]
fn hscan_sscan_union_matches_stock() {
    let stock = Server::stock();
    let ferro = Server::ferrodis();
    let mut clients = [
        (Flavor::Stock, stock.client()),
        (Flavor::Ferrodis, ferro.client()),
    ];
    for (_, c) in clients.iter_mut() {
        c.ok(["FLUSHALL"]);
        populate(c);
        assert_eq!(
            c.ok(["OBJECT", "ENCODING", "ints"]).as_str().as_deref(),
            Some("hashtable")
        );
    }
    let variants: &[(&str, &str, &[&str])] = &[
        ("HSCAN", "h", &[]),
        ("HSCAN", "h", &["COUNT", "1"]),
        ("HSCAN", "h", &["COUNT", "1000"]),
        ("HSCAN", "h", &["MATCH", "field:1*", "COUNT", "7"]),
        ("HSCAN", "h", &["MATCH", "nomatch"]),
        ("SSCAN", "s", &[]),
        ("SSCAN", "s", &["COUNT", "3"]),
        ("SSCAN", "s", &["MATCH", "m:?"]),
        ("SSCAN", "ints", &["COUNT", "50"]),
        ("SSCAN", "ints", &["MATCH", "*5"]),
    ];
    let mut failures = Vec::new();
    for (cmd, key, extra) in variants {
        let [(sf, sc), (ff, fc)] = &mut clients;
        let expected = full_scan(sc, *sf, cmd, key, extra, |_, _| {});
        let actual = full_scan(fc, *ff, cmd, key, extra, |_, _| {});
        if expected != actual {
            failures.push(format!(
                "{cmd} {key} {extra:?}: redis {} items, ferrodis {} items",
                expected.len(),
                actual.len()
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn sscan_returns_members_present_throughout() {
    let ferro = Server::ferrodis();
    let mut c = ferro.client();
    populate(&mut c);
    // Between calls, remove members 0..100 and add new ones: every other member must come back.
    let seen = full_scan(
        &mut c,
        Flavor::Ferrodis,
        "SSCAN",
        "s",
        &["COUNT", "20"],
        |c, call| {
            for i in call * 5..call * 5 + 5 {
                if i < 100 {
                    c.ok(["SREM", "s", &format!("m:{i}")]);
                }
                c.ok(["SADD", "s", &format!("new:{call}:{i}")]);
            }
        },
    );
    for i in 100..700 {
        let m = format!("m:{i}");
        assert!(seen.contains(m.as_bytes()), "{m} missed");
    }
}
