//! DEBUG's subcommands that tools and client test suites use (DIGEST, DIGEST-VALUE, OBJECT,
//! PROTOCOL, ERROR, LOG, POPULATE, RELOAD, CHANGE-REPL-ID), against stock Redis with
//! `enable-debug-command yes`: the same replies byte for byte, except DEBUG OBJECT's address and
//! LRU clock.

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

fn int<const N: usize>(c: &mut RespClient, args: [&str; N]) -> i64 {
    let r = c.ok(args);
    r.as_int().unwrap_or_else(|| panic!("{args:?} -> {r}"))
}

/// Keys of every type, one with a TTL, and one in database 3.
const DATASET: &[&[&str]] = &[
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

fn session(flavor: Flavor) -> Vec<String> {
    let s = Server::builder(flavor)
        .directive("enable-debug-command", &["yes"])
        .start();
    let mut c = s.client();
    let mut out = Vec::new();
    run(&mut c, &mut out, &["DEBUG", "DIGEST"]);
    for args in DATASET {
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
    ferrodis_tests::diff::assert_same_transcripts(&stock, &ours);
    // The digest of an empty dataset is all zeros, and of this one is not.
    assert!(
        stock[0].ends_with(&format!("+{}\\r\\n\"", "0".repeat(40))),
        "{}",
        stock[0]
    );
    assert!(!stock[13].contains(&"0".repeat(40)), "{}", stock[13]);
}

/// DEBUG RELOAD and CHANGE-REPL-ID on the same data as stock: the dataset (its digest), the
/// encodings, TTLs and function libraries survive a reload; NOSAVE, NOFLUSH and MERGE behave
/// as in Redis, errors included.
fn reload_session(flavor: Flavor) -> Vec<String> {
    let s = Server::builder(flavor)
        .directive("enable-debug-command", &["yes"])
        .start();
    let mut c = s.client();
    let mut out = Vec::new();
    let library = "#!lua name=lib1\nredis.register_function('f1', function() return 1 end)";
    for args in DATASET {
        run(&mut c, &mut out, args);
    }
    let data: &[&[&str]] = &[
        &["PFADD", "hll", "a", "b", "c"],
        &["FUNCTION", "LOAD", library],
        &["DEBUG", "DIGEST"],
        &["DEBUG", "RELOAD"],
        &["DEBUG", "DIGEST"],
        &["DBSIZE"],
        &["FCALL", "f1", "0"],
    ];
    for args in data {
        run(&mut c, &mut out, args);
    }
    for k in [
        "str", "int", "ttl", "list", "iset", "set", "zset", "hash", "stream", "hll",
    ] {
        run(&mut c, &mut out, &["OBJECT", "ENCODING", k]);
    }
    let ttl = int(&mut c, ["TTL", "ttl"]);
    assert!((990..=1000).contains(&ttl), "{flavor:?}: TTL {ttl}");
    for args in [
        // The libraries are there: without MERGE the load fails on them.
        &["DEBUG", "RELOAD", "NOSAVE", "NOFLUSH"][..],
        &["DEBUG", "RELOAD", "nosave", "noflush", "merge"],
        &["SET", "extra", "1"],
        &["DEBUG", "RELOAD", "MERGE"],
        &["DBSIZE"],
        // A key that is not in the file goes with a flushing reload.
        &["SET", "gone", "1"],
        &["DEBUG", "RELOAD", "NOSAVE"],
        &["EXISTS", "gone"],
        &["DEBUG", "DIGEST"],
        &["DEBUG", "RELOAD", "NOSAVE", "NOSAVE"],
        &["DEBUG", "RELOAD", "FAST"],
        &["DEBUG", "RELOAD", "MERGE", "x"],
        &["DEBUG", "CHANGE-REPL-ID"],
        &["DEBUG", "CHANGE-REPL-ID", "x"],
    ] {
        run(&mut c, &mut out, args);
    }
    out
}

#[test]
fn debug_reload_answers_as_in_redis() {
    let stock = reload_session(Flavor::Stock);
    let ours = reload_session(Flavor::Ferrodis);
    ferrodis_tests::diff::assert_same_transcripts(&stock, &ours);
    // The digest is the same before and after the reload, and is not the empty one.
    let digest = |i: usize| stock[i].rsplit("->").next().unwrap().to_string();
    assert_eq!(digest(14), digest(16), "{stock:#?}");
    assert!(!digest(14).contains(&"0".repeat(40)));
}

/// Where ferrodis differs from Redis on purpose: a file that is not there is refused before
/// the dataset is emptied (Redis empties it, then fails), and a key the file has again under
/// NOFLUSH without MERGE is an error (Redis stops the process). The node answers after both.
#[test]
fn debug_reload_keeps_the_dataset_when_it_cannot_load() {
    let s = Server::builder(Flavor::Ferrodis)
        .directive("enable-debug-command", &["yes"])
        .directive("dbfilename", &["not-there-yet.rdb"])
        .start();
    let mut c = s.client();
    c.ok(["SET", "a", "1"]);
    let e = c.command(["DEBUG", "RELOAD", "NOSAVE"]).unwrap();
    assert_eq!(e.raw(), b"-ERR Error trying to load the RDB dump\r\n");
    assert_eq!(int(&mut c, ["DBSIZE"]), 1);
    c.ok(["DEBUG", "RELOAD"]);
    c.ok(["SET", "b", "2"]);
    let e = c.command(["DEBUG", "RELOAD", "NOSAVE", "NOFLUSH"]).unwrap();
    assert_eq!(e.raw(), b"-ERR Error trying to load the RDB dump\r\n");
    assert_eq!(int(&mut c, ["DBSIZE"]), 2);
    c.ok(["DEBUG", "RELOAD", "NOSAVE", "NOFLUSH", "MERGE"]);
    assert_eq!(int(&mut c, ["DBSIZE"]), 2);
    c.ok(["DEBUG", "RELOAD", "NOSAVE"]);
    assert_eq!(int(&mut c, ["DBSIZE"]), 1);
    // CHANGE-REPL-ID: a new ID, no second one.
    let replid = |c: &mut RespClient| {
        let info = c.ok(["INFO", "replication"]).as_str().unwrap();
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap_or_else(|| panic!("{name} in {info}"))
                .to_string()
        };
        (field("master_replid:"), field("master_replid2:"))
    };
    let before = replid(&mut c);
    c.ok(["DEBUG", "CHANGE-REPL-ID"]);
    let after = replid(&mut c);
    assert_ne!(before.0, after.0);
    assert_eq!(after.0.len(), 40);
    assert_eq!(after.1, "0".repeat(40));
}
