//! Transactions under concurrency: 16 clients run MULTI/INCR/EXEC and WATCH check-and-set
//! loops on shared keys at once. Final values must equal the number of transactions that
//! succeeded (no lost update, no partial EXEC), and a reader that reads two keys written
//! together in one EXEC (different hash slots, so different shards) never sees them differ.
//! Bounded in iterations and by a deadline; runs on stock Redis too, as a check of the test.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrodis_tests::resp_client::Reply;
use ferrodis_tests::{RespClient, Server};

const CLIENTS: usize = 16;
const ITERATIONS: usize = 150;
const DEADLINE: Duration = Duration::from_secs(60);

fn int(r: &Reply) -> i64 {
    r.as_int()
        .or_else(|| r.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not an integer: {r}"))
}

fn get(c: &mut RespClient, key: &str) -> i64 {
    let r = c.ok(["GET", key]);
    if r.is_null() {
        0
    } else {
        int(&r)
    }
}

/// One client's loop; returns (MULTI/INCR transactions, successful check-and-sets).
fn worker(s_addr: std::net::SocketAddr, me: usize, stop: Arc<AtomicBool>) -> (u64, u64) {
    let mut c = RespClient::connect(s_addr).expect("connect");
    let started = Instant::now();
    let (mut incrs, mut cas) = (0, 0);
    for i in 0..ITERATIONS {
        if stop.load(Relaxed) || started.elapsed() > DEADLINE {
            break;
        }
        if (me + i).is_multiple_of(2) {
            // Two counters in different slots, always moved together.
            assert_eq!(c.ok(["MULTI"]).as_str().as_deref(), Some("OK"));
            assert_eq!(
                c.ok(["INCR", "{a}counter"]).as_str().as_deref(),
                Some("QUEUED")
            );
            assert_eq!(
                c.ok(["INCR", "{b}counter"]).as_str().as_deref(),
                Some("QUEUED")
            );
            let r = c.ok(["EXEC"]);
            assert_eq!(r.children().len(), 2, "EXEC reply {r}");
            assert_eq!(
                int(&r.children()[0]),
                int(&r.children()[1]),
                "EXEC reply {r}"
            );
            incrs += 1;
        } else {
            // Optimistic check-and-set on one shared key.
            c.ok(["WATCH", "cas"]);
            let v = get(&mut c, "cas");
            c.ok(["MULTI"]);
            let next = (v + 1).to_string();
            c.ok(["SET", "cas", next.as_str()]);
            let r = c.ok(["EXEC"]);
            if !r.is_null() {
                assert_eq!(r.children().len(), 1, "EXEC reply {r}");
                cas += 1;
            }
        }
    }
    (incrs, cas)
}

fn run(s: &Server) {
    let stop = Arc::new(AtomicBool::new(false));
    let torn = Arc::new(AtomicU64::new(0));
    // A reader checks atomicity across shards while the writers run.
    let reader = {
        let (addr, stop, torn) = (s.addr(), stop.clone(), torn.clone());
        std::thread::spawn(move || {
            let mut c = RespClient::connect(addr).expect("connect");
            let mut reads = 0u64;
            while !stop.load(Relaxed) {
                c.ok(["MULTI"]);
                c.ok(["GET", "{a}counter"]);
                c.ok(["GET", "{b}counter"]);
                let r = c.ok(["EXEC"]);
                let v: Vec<String> = r.children().iter().map(|x| x.to_string()).collect();
                if v.len() != 2 || v[0] != v[1] {
                    torn.fetch_add(1, Relaxed);
                }
                reads += 1;
            }
            reads
        })
    };
    let workers: Vec<_> = (0..CLIENTS)
        .map(|me| {
            let (addr, stop) = (s.addr(), stop.clone());
            std::thread::spawn(move || worker(addr, me, stop))
        })
        .collect();
    let (mut incrs, mut cas) = (0, 0);
    for w in workers {
        let (i, c) = w.join().expect("worker panicked");
        incrs += i;
        cas += c;
    }
    stop.store(true, Relaxed);
    let reads = reader.join().expect("reader panicked");
    let mut c = s.client();
    assert_eq!(get(&mut c, "{a}counter") as u64, incrs, "{:?}", s.flavor());
    assert_eq!(get(&mut c, "{b}counter") as u64, incrs, "{:?}", s.flavor());
    assert_eq!(get(&mut c, "cas") as u64, cas, "{:?}", s.flavor());
    assert!(incrs > 0 && cas > 0, "nothing ran: {incrs} {cas}");
    assert!(reads > 0);
    assert_eq!(torn.load(Relaxed), 0, "a reader saw a half-applied EXEC");
}

#[test]
fn concurrent_multi_and_check_and_set_ferrodis() {
    run(&Server::ferrodis());
}

#[test]
fn concurrent_multi_and_check_and_set_stock() {
    run(&Server::stock());
}

/// WATCH is broken by another connection's write and by nothing else, under load: a client
/// watching a quiet key always succeeds while others hammer a neighbour in the same slot.
#[test]
fn watch_is_per_key_under_load() {
    let s = Server::ferrodis();
    let stop = Arc::new(AtomicBool::new(false));
    let hammer = {
        let (addr, stop) = (s.addr(), stop.clone());
        std::thread::spawn(move || {
            let mut c = RespClient::connect(addr).expect("connect");
            while !stop.load(Relaxed) {
                c.ok(["INCR", "{slot}busy"]);
            }
        })
    };
    let mut c = s.client();
    for _ in 0..200 {
        c.ok(["WATCH", "{slot}quiet"]);
        c.ok(["MULTI"]);
        c.ok(["INCR", "{slot}quiet"]);
        let r = c.ok(["EXEC"]);
        assert!(!r.is_null(), "WATCH of a key nobody wrote was broken");
    }
    stop.store(true, Relaxed);
    hammer.join().expect("hammer");
    assert_eq!(get(&mut c, "{slot}quiet"), 200);
}

/// DEBUG POPULATE and DEBUG DIGEST-VALUE queued in a transaction that also writes: they used
/// to lock the keyspace again while EXEC held every shard, and the node hung. Same replies as
/// stock Redis.
fn debug_inside(flavor: ferrodis_tests::Flavor) -> Vec<String> {
    let s = Server::builder(flavor)
        .directive("enable-debug-command", &["yes"])
        .start();
    let mut c = s.client();
    c.set_timeout(Duration::from_secs(10));
    let mut out = Vec::new();
    for args in [
        &["MULTI"][..],
        &["SET", "a", "1"],
        &["DEBUG", "POPULATE", "3", "p"],
        &["DEBUG", "DIGEST-VALUE", "a", "p:1", "nokey"],
        &["EXEC"],
        &["MULTI"],
        &["DEBUG", "POPULATE", "2"],
        &["EXEC"],
        &["DBSIZE"],
        &["GET", "p:2"],
    ] {
        let r = c.command(args.iter().copied()).expect("reply");
        out.push(format!("{args:?} -> {r}"));
    }
    out
}

#[test]
fn debug_populate_and_digest_inside_transactions() {
    let stock = debug_inside(ferrodis_tests::Flavor::Stock);
    assert_eq!(debug_inside(ferrodis_tests::Flavor::Ferrodis), stock);
    assert!(stock[8].ends_with(r#":6\r\n""#), "{stock:?}");
}
