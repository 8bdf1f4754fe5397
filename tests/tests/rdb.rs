//! RDB files: ferrodis's dump.rdb passes `redis-check-rdb` and loads in stock Redis 7.0, a
//! dump.rdb written by stock Redis loads in ferrodis, BGSAVE under writes is a consistent
//! point in time, a SIGTERM with save points saves, and corrupt files stop the server with a
//! message (never a panic). Streams (nodes, tombstones, consumer groups, PELs) cross in both
//! directions with every reply unchanged.

use std::process::Command;
use std::time::{Duration, Instant};

use ferrodis_tests::resp_client::{escape, Reply};
use ferrodis_tests::server::{refuses_to_start, TempDir as Dir};
use ferrodis_tests::{Flavor, RespClient, Server};

/// Every type, small and large encodings, binary keys, TTLs, two databases.
fn populate(c: &mut RespClient) {
    c.ok(["SET", "str", "hello"]);
    c.ok(["SET", "int", "-42"]);
    c.ok(["SET", "long", &"abc".repeat(500)]);
    c.ok([&b"SET"[..], b"bin\x00\xff\r\n", b"\x00\x01"]);
    c.ok(["SET", "ttl", "v", "EX", "1000"]);
    c.ok(["RPUSH", "list", "a", "b", "1", "2"]);
    let mut big: Vec<String> = vec!["RPUSH".into(), "biglist".into()];
    big.extend((0..2000).map(|i| format!("item-{i}")));
    c.ok(&big);
    c.ok(["HSET", "hash", "f", "v", "n", "5"]);
    let mut bh: Vec<String> = vec!["HSET".into(), "bighash".into()];
    bh.extend((0..300).flat_map(|i| [format!("f{i}"), format!("value-{i}")]));
    c.ok(&bh);
    c.ok(["SADD", "intset", "1", "2", "3", "-7"]);
    c.ok(["SADD", "set", "a", "b", "c"]);
    c.ok(["ZADD", "zset", "1", "a", "2.5", "b", "-inf", "c"]);
    let mut bz: Vec<String> = vec!["ZADD".into(), "bigzset".into()];
    bz.extend((0..300).flat_map(|i| [format!("{}", i as f64 / 7.0), format!("m{i}")]));
    c.ok(&bz);
    c.ok(["PFADD", "hll", "a", "b", "c"]);
    c.ok(["SELECT", "5"]);
    c.ok(["SET", "in-db-5", "x"]);
    c.ok(["SELECT", "0"]);
}

/// A canonical dump of what `populate` wrote, read back through commands.
fn contents(c: &mut RespClient) -> Vec<String> {
    let mut out = Vec::new();
    let mut show = |what: &str, r: Reply, sort: bool| {
        let mut items: Vec<String> = if r.children().is_empty() {
            vec![format!("{r}")]
        } else {
            r.children().iter().map(|x| format!("{x}")).collect()
        };
        if sort {
            items.sort();
        }
        out.push(format!("{what}: {}", items.join(" ")));
    };
    for k in ["str", "int", "long", "ttl", "hll"] {
        show(k, c.ok(["GET", k]), false);
    }
    show("bin", c.ok([&b"GET"[..], b"bin\x00\xff\r\n"]), false);
    show("list", c.ok(["LRANGE", "list", "0", "-1"]), false);
    show("biglist", c.ok(["LRANGE", "biglist", "0", "-1"]), false);
    show("hash", c.ok(["HGETALL", "hash"]), true);
    show("bighash", c.ok(["HGETALL", "bighash"]), true);
    show("intset", c.ok(["SMEMBERS", "intset"]), true);
    show("set", c.ok(["SMEMBERS", "set"]), true);
    show(
        "zset",
        c.ok(["ZRANGE", "zset", "0", "-1", "WITHSCORES"]),
        false,
    );
    show(
        "bigzset",
        c.ok(["ZRANGE", "bigzset", "0", "-1", "WITHSCORES"]),
        false,
    );
    show("dbsize", c.ok(["DBSIZE"]), false);
    c.ok(["SELECT", "5"]);
    show("db5", c.ok(["GET", "in-db-5"]), false);
    c.ok(["SELECT", "0"]);
    let ttl = c.ok(["TTL", "ttl"]).as_int().unwrap_or(-9);
    out.push(format!("ttl in range: {}", (990..=1000).contains(&ttl)));
    out
}

fn start_in(flavor: Flavor, dir: &Dir, extra: &[&str]) -> Server {
    let mut b = Server::builder(flavor).directive("dir", &[dir.as_str()]);
    if !extra.is_empty() {
        b = b.directive("save", extra);
    }
    b.start()
}

#[test]
fn ferrodis_file_checks_and_loads_in_redis() {
    let dir = Dir::new("f2r");
    let ours = start_in(Flavor::Ferrodis, &dir, &[]);
    let mut f = ours.client();
    populate(&mut f);
    assert_eq!(f.ok(["SAVE"]).raw(), b"+OK\r\n");
    let want = contents(&mut f);
    let rdb = dir.path().join("dump.rdb");
    let check = Command::new("redis-check-rdb")
        .arg(&rdb)
        .output()
        .expect("run redis-check-rdb");
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success() && text.contains("RDB looks OK!"),
        "redis-check-rdb:\n{text}"
    );
    drop(ours);
    let stock = start_in(Flavor::Stock, &dir, &[]);
    assert_eq!(contents(&mut stock.client()), want);
}

#[test]
fn redis_file_loads_in_ferrodis() {
    let dir = Dir::new("r2f");
    let stock = start_in(Flavor::Stock, &dir, &[]);
    let mut s = stock.client();
    populate(&mut s);
    assert_eq!(s.ok(["SAVE"]).raw(), b"+OK\r\n");
    let want = contents(&mut s);
    drop(stock);
    let ours = start_in(Flavor::Ferrodis, &dir, &[]);
    let mut f = ours.client();
    assert_eq!(contents(&mut f), want);
    let info = f.ok(["INFO", "persistence"]).as_str().unwrap_or_default();
    assert!(info.contains("rdb_last_load_keys_loaded:15\r\n"), "{info}");
}

#[test]
fn bgsave_under_writes_is_a_point_in_time_and_sigterm_saves() {
    let dir = Dir::new("bg");
    let ours = start_in(Flavor::Ferrodis, &dir, &["3600", "1"]);
    let mut f = ours.client();
    let mut mset: Vec<String> = vec!["MSET".into()];
    for i in 0..50_000 {
        mset.push(format!("k{i}"));
        mset.push("before".into());
    }
    f.ok(&mset);
    assert_eq!(f.ok(["BGSAVE"]).raw(), b"+Background saving started\r\n");
    // Writes right after the start must not reach the file.
    let mut w = ours.client();
    for i in 0..2000 {
        w.ok(["SET", &format!("k{i}"), "after"]);
        w.ok(["SET", &format!("new{i}"), "after"]);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info = f.ok(["INFO", "persistence"]).as_str().unwrap_or_default();
        if info.contains("rdb_bgsave_in_progress:0") {
            assert!(info.contains("rdb_last_bgsave_status:ok"), "{info}");
            break;
        }
        assert!(Instant::now() < deadline, "BGSAVE did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A stock server loading the file sees exactly the state at BGSAVE time.
    let copy = Dir::new("bgcopy");
    std::fs::copy(dir.path().join("dump.rdb"), copy.path().join("dump.rdb"))
        .expect("copy dump.rdb");
    let stock = start_in(Flavor::Stock, &copy, &[]);
    let mut s = stock.client();
    assert_eq!(s.ok(["DBSIZE"]).as_int(), Some(50_000));
    assert_eq!(s.ok(["GET", "k0"]).as_bytes(), Some(&b"before"[..]));
    assert_eq!(s.ok(["GET", "k1999"]).as_bytes(), Some(&b"before"[..]));
    drop(stock);
    // SIGTERM with save points configured saves the latest state.
    drop(ours);
    let again = start_in(Flavor::Ferrodis, &dir, &[]);
    let mut g = again.client();
    assert_eq!(g.ok(["DBSIZE"]).as_int(), Some(52_000));
    assert_eq!(g.ok(["GET", "k0"]).as_bytes(), Some(&b"after"[..]));
}

/// A value of INFO's text, parsed.
fn info_value<T: std::str::FromStr>(info: &str, field: &str) -> Option<T> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn clients_get_loading_while_the_file_loads_and_sigterm_then_keeps_it() {
    let dir = Dir::new("loading");
    let stock = start_in(Flavor::Stock, &dir, &[]);
    let mut s = stock.client();
    let mut mset: Vec<String> = vec!["MSET".into()];
    for i in 0..50_000 {
        mset.extend([format!("k{i}"), "v".into()]);
    }
    s.ok(&mset);
    assert_eq!(s.ok(["SAVE"]).raw(), b"+OK\r\n");
    drop(stock);
    let file = std::fs::read(dir.path().join("dump.rdb")).expect("read dump.rdb");
    let mut transcripts = Vec::new();
    for flavor in [Flavor::Stock, Flavor::Ferrodis] {
        let copy = Dir::new("loading-copy");
        std::fs::write(copy.path().join("dump.rdb"), &file).expect("write dump.rdb");
        // 100 us per key: about 5 s of loading. Save points are set, so a SIGTERM after the
        // load would save; during it, nothing may be written.
        let server = Server::builder(flavor)
            .directive("dir", &[copy.as_str()])
            .directive("save", &["3600", "1"])
            .directive("key-load-delay", &["100"])
            .directive("loading-process-events-interval-bytes", &["1024"])
            .ready_while_loading()
            .start();
        let mut c = server.client();
        let mut t = Vec::new();
        for cmd in [
            &["PING"][..],
            &["GET", "k1"],
            &["DBSIZE"],
            &["MULTI"],
            &["GET", "k1"],
            &["EXEC"],
            &["CONFIG", "GET", "appendonly"],
        ] {
            t.push(escape(c.command(cmd).expect("a reply").raw()));
        }
        // The RDB's aux fields are read by the loading thread: give it a moment.
        let deadline = Instant::now() + Duration::from_secs(2);
        let info = loop {
            let info = c.ok(["INFO", "persistence"]).as_str().unwrap_or_default();
            let used: Option<u64> = info_value(&info, "loading_rdb_used_mem");
            if used.is_some_and(|m| m > 0) || Instant::now() > deadline {
                break info;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(info.contains("\r\nloading:1\r\n"), "{flavor:?}: {info}");
        assert_eq!(
            info_value(&info, "loading_total_bytes"),
            Some(file.len() as u64),
            "{flavor:?}: {info}"
        );
        assert!(
            info_value::<u64>(&info, "loading_rdb_used_mem").is_some_and(|m| m > 0),
            "{flavor:?}: {info}"
        );
        let perc: f64 = info_value(&info, "loading_loaded_perc").unwrap_or(-1.0);
        assert!((0.0..100.0).contains(&perc), "{flavor:?}: {info}");
        assert!(info_value::<u64>(&info, "loading_eta_seconds").is_some());
        let log = server.log();
        assert!(server.stop_within(Duration::from_secs(5)), "{flavor:?}");
        assert_eq!(
            std::fs::read(copy.path().join("dump.rdb")).ok().as_ref(),
            Some(&file),
            "{flavor:?}: the file changed"
        );
        assert!(log.contains("Loading RDB produced by version"), "{log}");
        transcripts.push(t);
    }
    assert_eq!(
        transcripts[0][0],
        "-LOADING Redis is loading the dataset in memory\\r\\n"
    );
    assert_eq!(transcripts[0], transcripts[1]);
    // Started the usual way, a test waits out the load: the data is all there at once.
    let ours = Server::builder(Flavor::Ferrodis)
        .directive("dir", &[dir.as_str()])
        .directive("key-load-delay", &["10"])
        .start();
    assert_eq!(ours.client().ok(["DBSIZE"]).as_int(), Some(50_000));
    let log = ours.log();
    let done = log.find("Done loading RDB, keys loaded: 50000, keys expired: 0.");
    let ready = log.find("Ready to accept connections");
    assert!(done.is_some() && done < ready, "{log}");
}

#[test]
fn corrupt_files_stop_the_server_with_a_message() {
    let dir = Dir::new("good");
    let ours = start_in(Flavor::Ferrodis, &dir, &[]);
    populate(&mut ours.client());
    ours.client().ok(["SAVE"]);
    drop(ours);
    let good = std::fs::read(dir.path().join("dump.rdb")).expect("dump.rdb");
    let mut variants: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..good.len() / 2].to_vec()),
        ("garbage", b"this is not an rdb file at all".to_vec()),
        (
            "future version",
            [b"REDIS0099".as_slice(), &good[9..]].concat(),
        ),
    ];
    let mut flipped = good.clone();
    flipped[good.len() / 3] ^= 0x20;
    variants.push(("bit flip", flipped));
    for (what, bytes) in variants {
        let d = Dir::new("bad");
        std::fs::write(d.path().join("dump.rdb"), &bytes).expect("write");
        let text = refuses_to_start(Flavor::Ferrodis, &["--dir", d.as_str()]);
        assert!(
            text.contains("RDB") || text.contains("DB"),
            "{what}: no message naming the problem:\n{text}"
        );
    }
}

/// Streams of every shape: several nodes (small `stream-node-max-entries`), entries with and
/// without the master entry's fields, deletions, exact and approximate trims, an emptied
/// stream, consumer groups with pending entries moved between consumers, acknowledged and
/// claimed, an idle consumer, a group created with ENTRIESREAD and one at `$`.
fn build_streams(c: &mut RespClient) {
    c.ok(["CONFIG", "SET", "stream-node-max-entries", "5"]);
    for i in 1..=40u64 {
        let f = if i % 6 == 0 { "other" } else { "f" };
        let v = format!("value-{i}-{}", "x".repeat((i as usize * 13) % 90));
        c.ok([
            "XADD",
            "s",
            &format!("{i}-{}", i % 3),
            f,
            &v,
            "n",
            &(i * 7).to_string(),
        ]);
    }
    c.ok([
        "XDEL", "s", "3-0", "4-1", "11-2", "12-0", "13-1", "14-2", "15-0", "40-1",
    ]);
    c.ok(["XTRIM", "s", "MAXLEN", "~", "30"]);
    c.ok(["XTRIM", "s", "MINID", "9"]);
    c.ok(["XGROUP", "CREATE", "s", "workers", "0"]);
    c.ok(["XGROUP", "CREATE", "s", "tail", "$"]);
    c.ok(["XGROUP", "CREATE", "s", "777", "20-0", "ENTRIESREAD", "12"]);
    c.ok([
        "XREADGROUP",
        "GROUP",
        "workers",
        "alice",
        "COUNT",
        "4",
        "STREAMS",
        "s",
        ">",
    ]);
    c.ok([
        "XREADGROUP",
        "GROUP",
        "workers",
        "bob",
        "COUNT",
        "3",
        "STREAMS",
        "s",
        ">",
    ]);
    c.ok(["XREADGROUP", "GROUP", "workers", "bob", "STREAMS", "s", "0"]);
    c.ok(["XACK", "s", "workers", "9-0"]);
    c.ok([
        "XCLAIM",
        "s",
        "workers",
        "carol",
        "0",
        "10-1",
        "RETRYCOUNT",
        "9",
    ]);
    c.ok(["XGROUP", "CREATECONSUMER", "s", "workers", "idle"]);
    c.ok([
        "XREADGROUP",
        "GROUP",
        "777",
        "zed",
        "COUNT",
        "2",
        "STREAMS",
        "s",
        ">",
    ]);
    c.ok(["XDEL", "s", "16-1"]);
    c.ok(["XADD", "gone", "1-0", "a", "b"]);
    c.ok(["XDEL", "gone", "1-0"]);
    c.ok(["XGROUP", "CREATE", "fresh", "g", "$", "MKSTREAM"]);
    c.ok(["XADD", "big", "*", "payload", &"p".repeat(10_000)]);
    c.ok(["CONFIG", "SET", "stream-node-max-entries", "100"]);
}

/// What the streams hold, as the server answers (times included: they travel in the file).
fn stream_views(c: &mut RespClient) -> Vec<String> {
    let mut out = Vec::new();
    let mut show = |args: &[&str]| {
        let r = c.ok(args);
        out.push(format!("{}: {}", args.join(" "), escape(r.raw())));
    };
    for k in ["s", "gone", "fresh", "big"] {
        show(&["XINFO", "STREAM", k, "FULL"]);
        show(&["XINFO", "STREAM", k]);
        show(&["XRANGE", k, "-", "+"]);
        show(&["XREVRANGE", k, "+", "-", "COUNT", "7"]);
    }
    for g in ["workers", "tail", "777"] {
        show(&["XPENDING", "s", g]);
    }
    show(&["TYPE", "s"]);
    show(&["DBSIZE"]);
    out
}

/// XPENDING's extended form: everything but the idle times.
fn pending_detail(c: &mut RespClient) -> Vec<String> {
    c.ok(["XPENDING", "s", "workers", "-", "+", "100"])
        .children()
        .iter()
        .map(|e| {
            let f = e.children();
            format!("{} {} {}", f[0], f[1], f[3])
        })
        .collect()
}

fn wait_bgsave_ok(c: &mut RespClient) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info = c.ok(["INFO", "persistence"]).as_str().unwrap_or_default();
        if info.contains("rdb_bgsave_in_progress:0") {
            assert!(info.contains("rdb_last_bgsave_status:ok"), "{info}");
            return;
        }
        assert!(Instant::now() < deadline, "BGSAVE did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn redis_streams_load_in_ferrodis() {
    let dir = Dir::new("sr2f");
    let stock = start_in(Flavor::Stock, &dir, &[]);
    let mut s = stock.client();
    build_streams(&mut s);
    assert_eq!(s.ok(["SAVE"]).raw(), b"+OK\r\n");
    let (want, want_pending) = (stream_views(&mut s), pending_detail(&mut s));
    // The scenario really has what it is meant to cover.
    assert_eq!(want_pending.len(), 6, "{want_pending:?}");
    assert!(
        want[0].contains("carol") && want[0].contains("idle"),
        "{}",
        want[0]
    );
    let ours = start_in(Flavor::Ferrodis, &dir, &[]);
    let mut f = ours.client();
    assert_eq!(stream_views(&mut f), want);
    assert_eq!(pending_detail(&mut f), want_pending);
    // Loaded nodes keep growing as Redis's do: after the same appends both servers dump the
    // same bytes (listpacks, LZF, groups).
    for c in [&mut s, &mut f] {
        c.ok(["CONFIG", "SET", "stream-node-max-entries", "5"]);
        for i in 0..12 {
            c.ok(["XADD", "s", &format!("100-{i}"), "f", "v"]);
        }
    }
    for k in ["s", "gone", "fresh", "big"] {
        assert_eq!(
            escape(s.ok(["DUMP", k]).raw()),
            escape(f.ok(["DUMP", k]).raw()),
            "DUMP {k}"
        );
    }
}

#[test]
fn ferrodis_streams_check_and_load_in_redis() {
    let dir = Dir::new("sf2r");
    let ours = start_in(Flavor::Ferrodis, &dir, &["3600", "1"]);
    let mut f = ours.client();
    build_streams(&mut f);
    assert_eq!(f.ok(["BGSAVE"]).raw(), b"+Background saving started\r\n");
    wait_bgsave_ok(&mut f);
    let (want, want_pending) = (stream_views(&mut f), pending_detail(&mut f));
    let rdb = dir.path().join("dump.rdb");
    let check = Command::new("redis-check-rdb")
        .arg(&rdb)
        .output()
        .expect("run redis-check-rdb");
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success() && text.contains("RDB looks OK!"),
        "redis-check-rdb:\n{text}"
    );
    let copy = Dir::new("sf2r-copy");
    std::fs::copy(&rdb, copy.path().join("dump.rdb")).expect("copy dump.rdb");
    let stock = start_in(Flavor::Stock, &copy, &[]);
    let mut s = stock.client();
    assert_eq!(stream_views(&mut s), want);
    assert_eq!(pending_detail(&mut s), want_pending);
    drop(stock);
    // SIGTERM with save points saves the streams too, and ferrodis loads its own file.
    f.ok(["XADD", "s", "200-0", "late", "entry"]);
    let want = stream_views(&mut f);
    drop(ours);
    let again = start_in(Flavor::Ferrodis, &dir, &[]);
    assert_eq!(stream_views(&mut again.client()), want);
}
