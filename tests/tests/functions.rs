//! Function libraries outlive the process and travel: through the RDB file (read by the
//! other server too), the AOF (RDB preamble or commands), replication (full sync and the
//! stream) and FUNCTION DUMP/RESTORE between the two servers. Also a long function: BUSY,
//! FUNCTION STATS and FUNCTION KILL, on both servers. The commands' replies themselves are in
//! `tests/scripts/functions.redis`.

use std::time::{Duration, Instant};

use ferrodis_tests::server::TempDir;
use ferrodis_tests::{Flavor, RespClient, Server};

const LIB: &str = "#!lua name=counters\n\
    local function bump(keys, args) return redis.call('INCRBY', keys[1], args[1] or 1) end\n\
    redis.register_function('bump', bump)\n\
    redis.register_function{function_name='peek', callback=function(keys) \
    return redis.call('GET', keys[1]) end, flags={'no-writes'}, description='reads'}";

const OTHER: &str = "#!lua name=other\n\
    redis.register_function('hello', function() return 'hello' end)";

/// What FUNCTION LIST WITHCODE says, for comparing two servers' libraries: libraries and
/// their functions sorted (Redis lists both in its hash order). An error reply (LOADING,
/// while a replica loads its primary's snapshot) is returned as its text.
fn libraries(c: &mut RespClient) -> String {
    let reply = c.command(["FUNCTION", "LIST", "WITHCODE"]).expect("reply");
    if reply.is_error() {
        return String::from_utf8_lossy(reply.raw()).into_owned();
    }
    let mut libs: Vec<String> = reply
        .children()
        .iter()
        .map(|lib| {
            lib.children()
                .iter()
                .map(|field| match field.children() {
                    [] => String::from_utf8_lossy(field.raw()).into_owned(),
                    functions => {
                        let mut f: Vec<String> = functions
                            .iter()
                            .map(|f| String::from_utf8_lossy(f.raw()).into_owned())
                            .collect();
                        f.sort();
                        f.join("")
                    }
                })
                .collect::<Vec<_>>()
                .join("")
        })
        .collect();
    libs.sort();
    libs.join("\n")
}

fn load(c: &mut RespClient, code: &str) {
    c.ok(["FUNCTION", "LOAD", code]);
}

/// Both functions answer on `c` as they should after `bumps` calls of bump on key `n`.
fn check_functions(c: &mut RespClient, what: &str) {
    let r = c.ok(["FCALL_RO", "peek", "1", "n"]);
    assert_eq!(r.as_str().as_deref(), Some("5"), "{what}: peek");
    let r = c.ok(["FCALL", "bump", "1", "n", "2"]);
    assert_eq!(r.as_int(), Some(7), "{what}: bump");
    assert_eq!(
        c.ok(["FCALL", "hello", "0"]).as_str().as_deref(),
        Some("hello"),
        "{what}"
    );
}

fn fill(c: &mut RespClient) {
    load(c, LIB);
    load(c, OTHER);
    c.ok(["FCALL", "bump", "1", "n", "5"]);
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SAVE on one server, start the other flavor on its file: the libraries load.
#[test]
fn rdb_files_carry_libraries_both_ways() {
    for (writer, reader) in [
        (Flavor::Ferrodis, Flavor::Ferrodis),
        (Flavor::Stock, Flavor::Ferrodis),
        (Flavor::Ferrodis, Flavor::Stock),
    ] {
        let dir = TempDir::new("fn-rdb");
        let w = Server::builder(writer)
            .directive("dir", &[dir.as_str()])
            .start();
        let mut c = w.client();
        fill(&mut c);
        let want = libraries(&mut c);
        c.ok(["SAVE"]);
        w.stop();
        let r = Server::builder(reader)
            .directive("dir", &[dir.as_str()])
            .start();
        let mut c = r.client();
        let what = format!("{} file read by {}", writer.name(), reader.name());
        assert_eq!(libraries(&mut c), want, "{what}");
        check_functions(&mut c, &what);
    }
}

/// The AOF keeps libraries: loaded after the last rewrite (FUNCTION LOAD in the incremental
/// file), and through a rewrite with and without the RDB preamble; FUNCTION DELETE too.
#[test]
fn aof_keeps_libraries_through_rewrites() {
    for preamble in ["yes", "no"] {
        let dir = TempDir::new("fn-aof");
        let mut s = Server::builder(Flavor::Ferrodis)
            .directive("dir", &[dir.as_str()])
            .directive("appendonly", &["yes"])
            .directive("aof-use-rdb-preamble", &[preamble])
            .start();
        let mut c = s.client();
        fill(&mut c);
        load(
            &mut c,
            "#!lua name=gone\nredis.register_function('gone', function() end)",
        );
        c.ok(["FUNCTION", "DELETE", "gone"]);
        let want = libraries(&mut c);
        s.crash();
        s.restart();
        let mut c = s.client();
        assert_eq!(
            libraries(&mut c),
            want,
            "preamble {preamble}, before a rewrite"
        );
        c.ok(["BGREWRITEAOF"]);
        wait_until("the rewrite", || {
            let info = c.ok(["INFO", "persistence"]).as_str().unwrap_or_default();
            info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0")
        });
        s.crash();
        s.restart();
        let mut c = s.client();
        assert_eq!(
            libraries(&mut c),
            want,
            "preamble {preamble}, after a rewrite"
        );
        check_functions(&mut c, &format!("aof, preamble {preamble}"));
    }
}

/// Libraries loaded before a replica attaches come with the full sync; later ones with the
/// stream. Each primary flavor with a replica of each flavor.
#[test]
fn replicas_get_the_primarys_libraries() {
    for primary in [Flavor::Ferrodis, Flavor::Stock] {
        let p = Server::builder(primary)
            .directive("repl-diskless-sync-delay", &["0"])
            .start();
        let mut c = p.client();
        load(&mut c, LIB);
        c.ok(["FCALL", "bump", "1", "n", "5"]);
        let replicas = [
            Server::replica_of(Flavor::Ferrodis, &p),
            Server::replica_of(Flavor::Stock, &p),
        ];
        // A replica's own library is replaced by the primary's at the full sync.
        for r in &replicas {
            let _ = r.client().command(["FUNCTION", "LOAD", OTHER]);
        }
        load(&mut c, OTHER);
        c.ok([
            "FUNCTION",
            "LOAD",
            "#!lua name=gone\nredis.register_function('gone', function() end)",
        ]);
        c.ok(["FUNCTION", "DELETE", "gone"]);
        let want = libraries(&mut c);
        for r in &replicas {
            let mut rc = r.client();
            let what = format!("{} primary, {} replica", primary.name(), r.flavor().name());
            wait_until(&what, || libraries(&mut rc) == want);
            let peek = rc.ok(["FCALL_RO", "peek", "1", "n"]);
            assert_eq!(peek.as_str().as_deref(), Some("5"), "{what}");
            // A function that may write is refused before it runs.
            let refused = rc.command(["FCALL", "bump", "1", "n"]).expect("reply");
            assert_eq!(
                refused.raw(),
                b"-READONLY You can't write against a read only replica.\r\n",
                "{what}"
            );
        }
    }
}

/// FUNCTION DUMP of one server restores into the other, under each policy.
#[test]
fn dump_and_restore_between_servers() {
    for (from, to) in [
        (Flavor::Stock, Flavor::Ferrodis),
        (Flavor::Ferrodis, Flavor::Stock),
        (Flavor::Ferrodis, Flavor::Ferrodis),
    ] {
        let a = Server::builder(from).start();
        let b = Server::builder(to).start();
        let mut ca = a.client();
        let mut cb = b.client();
        fill(&mut ca);
        let payload = ca
            .ok(["FUNCTION", "DUMP"])
            .as_bytes()
            .unwrap_or_default()
            .to_vec();
        let what = format!("{} dump into {}", from.name(), to.name());
        let restore = |c: &mut RespClient, policy: Option<&str>| {
            let mut args: Vec<&[u8]> = vec![b"FUNCTION", b"RESTORE", &payload];
            if let Some(p) = policy {
                args.push(p.as_bytes());
            }
            c.command(args).expect("reply")
        };
        assert_eq!(restore(&mut cb, None).raw(), b"+OK\r\n", "{what}");
        assert_eq!(libraries(&mut cb), libraries(&mut ca), "{what}");
        // The first library of the payload that is already there is named (payload order).
        let again = String::from_utf8_lossy(restore(&mut cb, Some("APPEND")).raw()).into_owned();
        assert!(
            again == "-ERR Library counters already exists\r\n"
                || again == "-ERR Library other already exists\r\n",
            "{what}: {again}"
        );
        assert_eq!(
            restore(&mut cb, Some("REPLACE")).raw(),
            b"+OK\r\n",
            "{what}"
        );
        cb.ok(["FUNCTION", "DELETE", "other"]);
        load(
            &mut cb,
            "#!lua name=third\nredis.register_function('third', function() end)",
        );
        assert_eq!(restore(&mut cb, Some("FLUSH")).raw(), b"+OK\r\n", "{what}");
        assert_eq!(libraries(&mut cb), libraries(&mut ca), "{what}: FLUSH");
        cb.ok(["SET", "n", "5"]);
        check_functions(&mut cb, &what);
        // A payload cut short, or with a flipped byte, is refused and changes nothing.
        let mut bad = payload.clone();
        bad[3] ^= 0x55;
        let r = cb
            .command(vec![&b"FUNCTION"[..], b"RESTORE", &bad])
            .expect("reply");
        assert!(
            r.raw()
                .starts_with(b"-ERR DUMP payload version or checksum are wrong"),
            "{what}: {r}"
        );
        assert_eq!(
            libraries(&mut cb),
            libraries(&mut ca),
            "{what}: after a bad payload"
        );
    }
}

/// A function that loops: other clients get BUSY naming FUNCTION KILL, FUNCTION STATS names
/// it, SCRIPT KILL refuses, FUNCTION KILL stops it.
fn long_function(flavor: Flavor) -> Vec<String> {
    let s = Server::builder(flavor)
        .directive("busy-reply-threshold", &["100"])
        .start();
    let mut c = s.client();
    load(
        &mut c,
        "#!lua name=slow\nredis.register_function('spin', function() while true do end end)",
    );
    let mut runner = s.client();
    runner.set_timeout(Duration::from_secs(20));
    runner.send_command(["FCALL", "spin", "0"]).expect("send");
    let mut other = s.client();
    other.set_timeout(Duration::from_secs(20));
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    // FUNCTION STATS is served during a script: once it names the function, the function
    // holds the keyspace and a GET must be refused.
    loop {
        let stats = other.ok(["FUNCTION", "STATS"]);
        if !stats.children()[1].is_null() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}: the function never ran",
            flavor.name()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    loop {
        let r = other
            .command(["GET", "x"])
            .unwrap_or_else(|e| panic!("{}: GET during the function: {e:?}", flavor.name()));
        if r.is_error() {
            out.push(String::from_utf8_lossy(r.raw()).into_owned());
            break;
        }
        assert!(Instant::now() < deadline, "{}: never BUSY", flavor.name());
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = other.ok(["FUNCTION", "STATS"]);
    let running = &stats.children()[1];
    let fields: Vec<String> = running
        .children()
        .iter()
        .map(|f| String::from_utf8_lossy(f.as_bytes().unwrap_or(f.raw())).into_owned())
        .collect();
    out.push(format!(
        "{} {} {:?}",
        fields[0],
        fields[1],
        running.children()[3].children().len()
    ));
    out.push(
        String::from_utf8_lossy(other.command(["SCRIPT", "KILL"]).expect("reply").raw())
            .into_owned(),
    );
    out.push(String::from_utf8_lossy(other.ok(["FUNCTION", "KILL"]).raw()).into_owned());
    let r = runner.read_reply().expect("the killed function's reply");
    out.push(String::from_utf8_lossy(r.raw()).into_owned());
    out.push(String::from_utf8_lossy(other.ok(["PING"]).raw()).into_owned());
    out
}

#[test]
fn a_long_function_is_busy_and_killed() {
    let stock = long_function(Flavor::Stock);
    assert_eq!(
        stock[0],
        "-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n"
    );
    assert_eq!(stock, long_function(Flavor::Ferrodis));
}

/// `redis-cli --functions-rdb` (REPLCONF rdb-only and rdb-filter-only functions): a file with
/// the libraries and no key, which a server then starts from. `--rdb` keeps the keys.
#[test]
fn redis_cli_functions_rdb_holds_only_the_libraries() {
    for flavor in [Flavor::Stock, Flavor::Ferrodis] {
        let s = Server::builder(flavor)
            .directive("repl-diskless-sync-delay", &["0"])
            .start();
        let mut c = s.client();
        fill(&mut c);
        let want = libraries(&mut c);
        let dir = TempDir::new("fn-cli-rdb");
        for (flag, keys) in [("--functions-rdb", 0), ("--rdb", 1)] {
            let path = dir.path().join("dump.rdb");
            let out = std::process::Command::new(ferrodis_tests::cluster::redis_cli_binary())
                .args(["-p", &s.port().to_string(), flag])
                .arg(&path)
                .output()
                .expect("run redis-cli");
            assert!(out.status.success(), "{} {flag}: {out:?}", flavor.name());
            // Ferrodis starts from the file: the libraries are there, and the keys or not.
            let r = Server::builder(Flavor::Ferrodis)
                .directive("dir", &[dir.as_str()])
                .start();
            let mut rc = r.client();
            let what = format!("{} {flag}", flavor.name());
            assert_eq!(libraries(&mut rc), want, "{what}");
            assert_eq!(rc.ok(["DBSIZE"]).as_int(), Some(keys), "{what}");
            r.stop();
            std::fs::remove_file(&path).expect("remove the file");
        }
    }
}

/// Functions reaching keys they did not declare while transactions write a key and replace
/// the library: the transaction takes the script gate before its shards, as a function
/// does, so neither waits for the other forever (each call answers within the deadline).
#[test]
fn functions_and_library_loads_in_transactions_do_not_deadlock() {
    const MV: &str = "#!lua name=mv\nredis.register_function('mv', function(keys, args) \
        redis.call('incr', 'a{' .. args[1] .. '}') \
        return redis.call('incr', 'b{' .. args[2] .. '}') end)";
    let s = Server::ferrodis();
    s.client().ok(["FUNCTION", "LOAD", MV]);
    let started = std::time::Instant::now();
    let workers: Vec<_> = (0..5u64)
        .map(|t| {
            let addr = s.addr();
            std::thread::spawn(move || {
                let mut c = RespClient::connect(addr).expect("connect");
                c.set_timeout(std::time::Duration::from_secs(20));
                let mut seed = 0x2545_f491_4f6c_dd1du64 ^ (t + 1);
                let mut next = || {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed % 32).to_string()
                };
                for _ in 0..1000 {
                    if started.elapsed() > std::time::Duration::from_secs(60) {
                        break;
                    }
                    if t < 3 {
                        let (i, j) = (next(), next());
                        c.ok(["FCALL", "mv", "0", &i, &j]);
                    } else {
                        let key = format!("a{{{}}}", next());
                        c.ok(["MULTI"]);
                        c.ok(["SET", &key, "1"]);
                        c.ok(["FUNCTION", "LOAD", "REPLACE", MV]);
                        assert_eq!(c.ok(["EXEC"]).children().len(), 2);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a client timed out or failed");
    }
    assert_eq!(s.client().ok(["PING"]).as_str().as_deref(), Some("PONG"));
}
