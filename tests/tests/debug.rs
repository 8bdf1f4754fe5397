//! DEBUG's subcommands that tools and client test suites use (DIGEST, DIGEST-VALUE, OBJECT,
//! PROTOCOL, ERROR, LOG, POPULATE), against stock Redis with `enable-debug-command yes`:
//! the same replies byte for byte, except DEBUG OBJECT's address and LRU clock.

use ferrodis_tests::{Flavor, RespClient, Server};

fn run(c: &mut RespClient, out: &mut Vec<String>, args: &[&str]) {
    let r = c
        .command(args.iter().copied())
        .unwrap_or_else(|e| panic!("{args:?}: {e:?} after {out:#?}"));
    let mut text = format!("{r}");
    if args.starts_with(&["DEBUG", "OBJECT"]) {
        // "Value at:0x... refcount:1 ... lru:123 lru_seconds_idle:0 ..."
        text = text
            .split(' ')
            .map(|w| match w.split_once(':') {
                Some(("at" | "lru" | "lru_seconds_idle", _)) => "_",
                _ => w,
            })
            .collect::<Vec<_>>()
            .join(" ");
    }
    out.push(format!("{args:?} -> {text}"));
}

fn session(flavor: Flavor) -> Vec<String> {
    let s = Server::builder(flavor)
        .directive("enable-debug-command", &["yes"])
        .start();
    let mut c = s.client();
    let mut out = Vec::new();
    let data: &[&[&str]] = &[
        &["SET", "str", "hello"],
        &["SET", "int", "12345"],
        &["SET", "ttl", "x", "EX", "1000"],
        &["RPUSH", "list", "a", "b", "c"],
        &["SADD", "iset", "1", "2", "3"],
        &["SADD", "set", "x", "y"],
        &["ZADD", "zset", "1", "a", "2.5", "b"],
        &["HSET", "hash", "f", "v", "g", "w"],
        &["XADD", "stream", "1-1", "f", "v"],
        &["SELECT", "3"],
        &["SET", "other", "db3"],
        &["SELECT", "0"],
    ];
    run(&mut c, &mut out, &["DEBUG", "DIGEST"]);
    for args in data {
        run(&mut c, &mut out, args);
    }
    for args in [
        &["DEBUG", "DIGEST"][..],
        &[
            "DEBUG",
            "DIGEST-VALUE",
            "str",
            "int",
            "ttl",
            "list",
            "iset",
            "set",
        ],
        &["DEBUG", "DIGEST-VALUE", "zset", "hash", "stream", "nokey"],
        &["DEBUG", "OBJECT", "str"],
        &["DEBUG", "OBJECT", "list"],
        &["DEBUG", "OBJECT", "nokey"],
        &["DEBUG", "ERROR", "MYERR something failed"],
        &["DEBUG", "ERROR", "a", "b"],
        &["DEBUG", "LOG", "a line from the test"],
        &["DEBUG", "PROTOCOL", "nosuch"],
    ] {
        run(&mut c, &mut out, args);
    }
    for proto in ["2", "3"] {
        c.ok(["HELLO", proto]);
        for t in [
            "string", "integer", "double", "bignum", "null", "array", "set", "map", "verbatim",
            "true", "false", "attrib", "push",
        ] {
            run(&mut c, &mut out, &["DEBUG", "PROTOCOL", t]);
            if t == "push" && proto == "3" {
                // The reply that follows the push message.
                let r = c.read_reply().expect("reply");
                out.push(format!("  then {r}"));
            }
        }
    }
    c.ok(["HELLO", "2"]);
    // The digest moves with a value, and comes back with it.
    run(&mut c, &mut out, &["SET", "str", "changed"]);
    run(&mut c, &mut out, &["DEBUG", "DIGEST"]);
    run(&mut c, &mut out, &["SET", "str", "hello"]);
    run(&mut c, &mut out, &["DEBUG", "DIGEST"]);
    run(&mut c, &mut out, &["FLUSHALL"]);
    run(&mut c, &mut out, &["DEBUG", "DIGEST"]);
    out
}

#[test]
fn debug_subcommands_answer_as_in_redis() {
    let stock = session(Flavor::Stock);
    let ours = session(Flavor::Ferrodis);
    for (s, o) in stock.iter().zip(&ours) {
        assert_eq!(o, s);
    }
    assert_eq!(ours.len(), stock.len());
    // The digest of an empty dataset is all zeros, and of this one is not.
    assert!(
        stock[0].ends_with(&format!("+{}\\r\\n\"", "0".repeat(40))),
        "{}",
        stock[0]
    );
    assert!(!stock[13].contains(&"0".repeat(40)), "{}", stock[13]);
}
