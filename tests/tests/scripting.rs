//! Scripts under concurrency and over time (the replies themselves are in the differential
//! script `tests/scripts/scripting.redis`):
//! - a read-modify-write script run by many clients at once loses no update, and a reader
//!   never sees two keys a script writes together differ (a script is atomic across shards);
//! - a long script makes other clients wait, then answer BUSY after `busy-reply-threshold`;
//!   SCRIPT KILL stops it unless it has written (UNKILLABLE), and the server serves again.
//!
//! Loops are bounded in count and by deadlines; the concurrency test runs on stock Redis too,
//! as a check of the test.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrodis_tests::resp_client::Reply;
use ferrodis_tests::server::Flavor;
use ferrodis_tests::{RespClient, Server};

const CLIENTS: usize = 12;
const CALLS: usize = 200;
const DEADLINE: Duration = Duration::from_secs(60);

/// Reads a counter, adds one and writes it back, and moves two keys in different slots
/// (so different shards) together: only atomic if nothing runs in between.
const BUMP: &str = "local v = tonumber(redis.call('get', KEYS[1]) or '0')
redis.call('set', KEYS[1], v + 1)
redis.call('incr', KEYS[2])
redis.call('incr', KEYS[3])
return v + 1";

fn int(r: &Reply) -> i64 {
    r.as_int()
        .or_else(|| r.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not an integer: {r}"))
}

fn concurrent_scripts(s: &Server) {
    let mut c = s.client();
    let sha = c.ok(["SCRIPT", "LOAD", BUMP]).as_str().expect("sha");
    let stop = Arc::new(AtomicBool::new(false));
    let torn = Arc::new(AtomicU64::new(0));
    let reader = {
        let (addr, stop, torn) = (s.addr(), stop.clone(), torn.clone());
        std::thread::spawn(move || {
            let mut c = RespClient::connect(addr).expect("connect");
            let read = "return {redis.call('get', KEYS[1]), redis.call('get', KEYS[2])}";
            let mut reads = 0u64;
            while !stop.load(Relaxed) && reads < 100_000 {
                let r = c.ok(["EVAL", read, "2", "{a}n", "{b}n"]);
                let v: Vec<String> = r.children().iter().map(|x| x.to_string()).collect();
                if v.len() != 2 || v[0] != v[1] {
                    torn.fetch_add(1, Relaxed);
                }
                reads += 1;
            }
            reads
        })
    };
    let started = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (addr, sha) = (s.addr(), sha.clone());
            std::thread::spawn(move || {
                let mut c = RespClient::connect(addr).expect("connect");
                let mut done = 0u64;
                for _ in 0..CALLS {
                    if started.elapsed() > DEADLINE {
                        break;
                    }
                    let r = c.ok(["EVALSHA", sha.as_str(), "3", "counter", "{a}n", "{b}n"]);
                    assert!(int(&r) > 0, "{r}");
                    done += 1;
                }
                done
            })
        })
        .collect();
    let calls: u64 = workers.into_iter().map(|w| w.join().expect("worker")).sum();
    stop.store(true, Relaxed);
    let reads = reader.join().expect("reader");
    let get = |c: &mut RespClient, k: &str| int(&c.ok(["GET", k])) as u64;
    assert_eq!(get(&mut c, "counter"), calls, "{:?}", s.flavor());
    assert_eq!(get(&mut c, "{a}n"), calls, "{:?}", s.flavor());
    assert_eq!(get(&mut c, "{b}n"), calls, "{:?}", s.flavor());
    assert!(calls > 0 && reads > 0);
    assert_eq!(torn.load(Relaxed), 0, "a reader saw a half-run script");
}

#[test]
fn concurrent_scripts_lose_no_update_ferrodis() {
    concurrent_scripts(&Server::ferrodis());
}

#[test]
fn concurrent_scripts_lose_no_update_stock() {
    concurrent_scripts(&Server::stock());
}

const BUSY: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

/// Waits (bounded) for `c` to answer `cmd` with BUSY, as other clients do once a script has
/// run past the threshold.
fn until_busy(c: &mut RespClient) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = c.command(["PING"]).expect("ping");
        if r.is_error() {
            assert_eq!(r.as_str().as_deref(), Some(BUSY), "{r}");
            return;
        }
        assert!(Instant::now() < deadline, "never BUSY");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_long_script_makes_others_busy_and_script_kill_stops_it() {
    let s = Server::builder(Flavor::Ferrodis)
        .arg("--busy-reply-threshold")
        .arg("200")
        .start();
    let mut runner = s.client();
    runner.set_timeout(Duration::from_secs(30));
    let mut other = s.client();
    other.set_timeout(Duration::from_secs(30));
    let r = other.command(["SCRIPT", "KILL"]).expect("kill");
    assert_eq!(
        r.as_str().as_deref(),
        Some("NOTBUSY No scripts in execution right now.")
    );

    // A script that never ends (the interpreter polls for SCRIPT KILL as it loops).
    runner
        .send_command(["EVAL", "local i = 0 while true do i = i + 1 end", "0"])
        .expect("send");
    until_busy(&mut other);
    // Other commands, keyed ones too, get BUSY (and do not hang the worker); so does a
    // SHUTDOWN that would save the script's writes half done.
    let r = other.command(["GET", "k"]).expect("get");
    assert_eq!(r.as_str().as_deref(), Some(BUSY));
    let r = other.command(["SHUTDOWN"]).expect("shutdown");
    assert_eq!(r.as_str().as_deref(), Some(BUSY));
    assert_eq!(other.ok(["SCRIPT", "KILL"]).as_str().as_deref(), Some("OK"));
    let r = runner.read_reply().expect("the script's reply");
    assert!(
        r.as_str()
            .is_some_and(|t| t.starts_with("ERR Script killed by user with SCRIPT KILL")),
        "{r}"
    );
    assert_eq!(other.ok(["PING"]).as_str().as_deref(), Some("PONG"));

    // A script that wrote cannot be killed; it ends on its own here (bounded loop).
    runner
        .send_command([
            "EVAL",
            "redis.call('set', 'k', 'v') local t = redis.call('time') local i = 0 \
             while i < 2e9 do i = i + 1 if i % 100000 == 0 and \
             tonumber(redis.call('time')[1]) - tonumber(t[1]) >= 2 then break end end \
             return 'done'",
            "0",
        ])
        .expect("send");
    until_busy(&mut other);
    let r = other.command(["SCRIPT", "KILL"]).expect("kill");
    assert!(
        r.as_str().is_some_and(|t| t.starts_with("UNKILLABLE ")),
        "{r}"
    );
    let r = runner.read_reply().expect("the script's reply");
    assert_eq!(r.as_str().as_deref(), Some("done"));
    assert_eq!(other.ok(["GET", "k"]).as_str().as_deref(), Some("v"));
}

/// SIGTERM while a script loops forever: the server still exits by itself, promptly.
#[test]
fn sigterm_stops_a_server_running_an_endless_script() {
    let s = Server::ferrodis();
    let mut runner = s.client();
    runner
        .send_command(["EVAL", "while true do end", "0"])
        .expect("send");
    // Let the script start and pass the point where it hands off its worker.
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    assert!(
        s.stop_within(Duration::from_secs(10)),
        "the server did not exit on SIGTERM"
    );
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

/// MONITOR shows EVAL, then the commands the script called, from `lua`.
fn monitor_lines(s: &Server) -> Vec<String> {
    let mut m = s.client();
    m.set_timeout(Duration::from_secs(10));
    assert_eq!(m.ok(["MONITOR"]).as_str().as_deref(), Some("OK"));
    let mut c = s.client();
    c.ok(["EVAL", "return redis.call('set', KEYS[1], 'v')", "1", "mk"]);
    (0..2)
        .map(|_| {
            let line = m
                .read_reply()
                .expect("a monitor line")
                .as_str()
                .expect("text");
            // Drop the timestamp and the client's address.
            let (_, rest) = line.split_once(" [").expect("monitor format");
            let (db_source, args) = rest.split_once("] ").expect("monitor format");
            let (db, source) = db_source.split_once(' ').expect("monitor format");
            let source = if source == "lua" { "lua" } else { "client" };
            format!("[{db} {source}] {args}")
        })
        .collect()
}

#[test]
fn monitor_shows_the_script_then_its_commands() {
    let want = vec![
        r#"[0 client] "EVAL" "return redis.call('set', KEYS[1], 'v')" "1" "mk""#.to_string(),
        r#"[0 lua] "set" "mk" "v""#.to_string(),
    ];
    assert_eq!(monitor_lines(&Server::stock()), want);
    assert_eq!(monitor_lines(&Server::ferrodis()), want);
}

/// Accounts, each under its own hash tag so they spread over the shards.
const ACCOUNTS: usize = 16;
const BALANCE: i64 = 1000;

/// Moves an amount between two accounts the script did not declare (it names them from
/// its arguments), so it reaches their shards in any order while it runs.
const TRANSFER: &str = "local a = 'acct:{' .. ARGV[1] .. '}'
local b = 'acct:{' .. ARGV[2] .. '}'
redis.call('decrby', a, ARGV[3])
redis.call('incrby', b, ARGV[3])
return 1";

/// The sum of every account, read by a script that declares none of them.
const TOTAL: &str = "local s = 0
for i = 0, tonumber(ARGV[1]) - 1 do
  s = s + tonumber(redis.call('get', 'acct:{' .. i .. '}'))
end
return s";

fn account(i: usize) -> String {
    format!("acct:{{{i}}}")
}

/// Scripts moving amounts between accounts they did not declare, transactions doing the
/// same (they lock both shards in order), scripts and MGETs summing every account, and
/// KEYS (every shard) all at once: nothing deadlocks (each client's calls end within the
/// deadline) and nobody ever sees a transfer half done.
fn undeclared_keys_under_contention(s: &Server) {
    let mut c = s.client();
    for i in 0..ACCOUNTS {
        c.ok(["SET", &account(i), &BALANCE.to_string()]);
    }
    let total = BALANCE * ACCOUNTS as i64;
    let sha = c.ok(["SCRIPT", "LOAD", TRANSFER]).as_str().expect("sha");
    let started = Instant::now();
    let clients: Vec<_> = (0..8u64)
        .map(|t| {
            let (addr, sha) = (s.addr(), sha.clone());
            std::thread::spawn(move || {
                let mut c = RespClient::connect(addr).expect("connect");
                c.set_timeout(Duration::from_secs(20));
                let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ (t + 1);
                let mut next = |n: usize| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed % n as u64) as usize
                };
                let mut torn = 0;
                for _ in 0..300 {
                    if started.elapsed() > DEADLINE {
                        break;
                    }
                    let a = next(ACCOUNTS);
                    let b = (a + 1 + next(ACCOUNTS - 1)) % ACCOUNTS;
                    let amount = (1 + next(50)).to_string();
                    match t % 4 {
                        0 | 1 => {
                            let (a, b) = (a.to_string(), b.to_string());
                            let r = c.ok(["EVALSHA", &sha, "0", &a, &b, &amount]);
                            assert_eq!(int(&r), 1);
                        }
                        2 => {
                            c.ok(["MULTI"]);
                            c.ok(["DECRBY", &account(a), &amount]);
                            c.ok(["INCRBY", &account(b), &amount]);
                            assert_eq!(c.ok(["EXEC"]).children().len(), 2);
                        }
                        _ => {
                            let n = ACCOUNTS.to_string();
                            let sum = if next(2) == 0 {
                                int(&c.ok(["EVAL", TOTAL, "0", &n]))
                            } else {
                                let keys: Vec<String> = (0..ACCOUNTS).map(account).collect();
                                let mut args = vec!["MGET".to_string()];
                                args.extend(keys);
                                c.ok(args).children().iter().map(int).sum()
                            };
                            if sum != total {
                                torn += 1;
                            }
                            if next(10) == 0 {
                                let keys = c.ok(["KEYS", "acct:*"]);
                                assert_eq!(keys.children().len(), ACCOUNTS);
                            }
                        }
                    }
                }
                torn
            })
        })
        .collect();
    let torn: u64 = clients.into_iter().map(|w| w.join().expect("client")).sum();
    assert_eq!(
        torn,
        0,
        "a reader saw a transfer half done ({:?})",
        s.flavor()
    );
    let sum: i64 = (0..ACCOUNTS)
        .map(|i| int(&c.ok(["GET", &account(i)])))
        .sum();
    assert_eq!(sum, total, "{:?}", s.flavor());
}

#[test]
fn scripts_reaching_undeclared_keys_stay_atomic_ferrodis() {
    undeclared_keys_under_contention(&Server::ferrodis());
}

#[test]
fn scripts_reaching_undeclared_keys_stay_atomic_stock() {
    undeclared_keys_under_contention(&Server::stock());
}

/// The keyless cluster commands that read the keyspace, called from a script and inside a
/// transaction that also locks shards (they used to wait forever for a shard the caller
/// held, and the node with them): the same replies as stock Redis.
fn cluster_reads_inside(flavor: Flavor) -> Vec<String> {
    let s = Server::builder(flavor)
        .cluster_bus()
        .directive("cluster-enabled", &["yes"])
        .start();
    let mut c = s.client();
    c.set_timeout(Duration::from_secs(10));
    c.ok(["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !String::from_utf8_lossy(c.ok(["CLUSTER", "INFO"]).as_bytes().unwrap_or_default())
        .contains("cluster_state:ok")
    {
        assert!(Instant::now() < deadline, "the cluster never came up");
        std::thread::sleep(Duration::from_millis(50));
    }
    c.ok(["SET", "{t}a", "1"]);
    c.ok(["SET", "{t}b", "2"]);
    let slot = int(&c.ok(["CLUSTER", "KEYSLOT", "{t}a"])).to_string();
    let mut out = Vec::new();
    let mut run = |c: &mut RespClient, args: &[&str]| {
        let r = c.command(args.iter().copied()).expect("reply");
        out.push(format!("{args:?} -> {r}"));
    };
    run(
        &mut c,
        &[
            "EVAL",
            // (GETKEYSINSLOT's order is not the same: stock lists the newest key first.)
            "local keys = redis.call('cluster', 'getkeysinslot', ARGV[1], '10') \
             table.sort(keys) \
             return {redis.call('get', KEYS[1]), \
             redis.call('cluster', 'countkeysinslot', ARGV[1]), keys, redis.call('dbsize')}",
            "1",
            "{t}a",
            &slot,
        ],
    );
    run(&mut c, &["MULTI"]);
    run(&mut c, &["SET", "{t}c", "3"]);
    run(&mut c, &["CLUSTER", "COUNTKEYSINSLOT", &slot]);
    run(&mut c, &["EXEC"]);
    run(&mut c, &["MULTI"]);
    run(&mut c, &["KEYS", "{t}a"]);
    run(&mut c, &["CLUSTER", "COUNTKEYSINSLOT", &slot]);
    run(&mut c, &["EXEC"]);
    run(&mut c, &["PING"]);
    out
}

#[test]
fn cluster_keyspace_reads_inside_scripts_and_transactions() {
    let stock = cluster_reads_inside(Flavor::Stock);
    let ours = cluster_reads_inside(Flavor::Ferrodis);
    assert_eq!(ours, stock);
    assert!(
        stock[0]
            .ends_with(r#"-> "*4\r\n$1\r\n1\r\n:2\r\n*2\r\n$4\r\n{t}a\r\n$4\r\n{t}b\r\n:2\r\n""#),
        "{stock:?}"
    );
}

/// A script calling a command on a key of a slot being migrated: the routing looks the key
/// up through the script's own view (it used to lock the key's shard again, held by the
/// script itself, and the node hung).
#[test]
fn scripts_reach_keys_of_a_migrating_slot() {
    let node = || {
        Server::builder(Flavor::Ferrodis)
            .cluster_bus()
            .directive("cluster-enabled", &["yes"])
            .start()
    };
    let (a, b) = (node(), node());
    let mut c = a.client();
    c.set_timeout(Duration::from_secs(10));
    c.ok(["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]);
    c.ok(["CLUSTER", "MEET", "127.0.0.1", &b.port().to_string()]);
    let b_id = b.client().ok(["CLUSTER", "MYID"]).as_str().expect("id");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !String::from_utf8_lossy(c.ok(["CLUSTER", "NODES"]).as_bytes().unwrap_or_default())
        .contains(&b_id)
        || !String::from_utf8_lossy(c.ok(["CLUSTER", "INFO"]).as_bytes().unwrap_or_default())
            .contains("cluster_state:ok")
    {
        assert!(Instant::now() < deadline, "the cluster never formed");
        std::thread::sleep(Duration::from_millis(50));
    }
    c.ok(["SET", "{m}k", "v"]);
    let slot = int(&c.ok(["CLUSTER", "KEYSLOT", "{m}k"])).to_string();
    c.ok(["CLUSTER", "SETSLOT", &slot, "MIGRATING", &b_id]);
    let r = c
        .command(["EVAL", "return redis.call('get', KEYS[1])", "1", "{m}k"])
        .expect("the script's reply");
    assert_eq!(r.as_str().as_deref(), Some("v"), "{r}");
    // A key of that slot that is not here: ASK, as for the command itself.
    let r = c
        .command(["EVAL", "return redis.call('get', KEYS[1])", "1", "{m}gone"])
        .expect("reply");
    assert!(r.is_error(), "{r}");
    assert_eq!(c.ok(["PING"]).as_str().as_deref(), Some("PONG"));
}
