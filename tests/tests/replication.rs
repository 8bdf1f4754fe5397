//! Replication in both directions with stock Redis 7.0: every differential script run on a
//! primary reaches a ferrodis replica and a stock replica (attached before the script, so the
//! stream is what carries it), with ferrodis and with stock Redis as the primary; a broken
//! link resumes with a partial resync; replicas refuse writes; WAIT counts acknowledgements;
//! REPLICAOF NO ONE promotes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ferrodis_tests::diff::{script_names, scripts_dir, Side};
use ferrodis_tests::script::parse_script;
use ferrodis_tests::state::{diff, differing, state};
use ferrodis_tests::{Flavor, RespClient, Server};

fn info_field(c: &mut RespClient, section: &str, field: &str) -> String {
    let info = c.ok(["INFO", section]).as_str().unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
        .unwrap_or_default()
}

/// Waits until `replica` reports its link up and its offset at `offset`.
fn wait_synced(replica: &Server, offset: &str) -> Result<(), String> {
    let until = Instant::now() + Duration::from_secs(20);
    let mut c = replica.client();
    loop {
        let up = info_field(&mut c, "replication", "master_link_status") == "up";
        let at = info_field(&mut c, "replication", "slave_repl_offset");
        if up && at == offset {
            return Ok(());
        }
        if Instant::now() > until {
            return Err(format!(
                "{} replica not synced (link up {up}, offset {at}, want {offset}); log:\n{}",
                replica.flavor().name(),
                replica.log_tail(15)
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_online(primary: &Server, n: usize) {
    let until = Instant::now() + Duration::from_secs(20);
    let mut c = primary.client();
    while info_field(&mut c, "replication", "connected_slaves") != n.to_string()
        || c.ok(["INFO", "replication"])
            .as_str()
            .unwrap_or_default()
            .matches("state=online")
            .count()
            < n
    {
        assert!(
            Instant::now() < until,
            "replicas not online: {}",
            primary.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One script on a `primary` flavor with a replica of each flavor; the keys where a replica
/// differs from the primary, per replica flavor.
fn replicate_script(
    name: &str,
    primary: Flavor,
) -> Result<Vec<(Flavor, String, Vec<String>)>, String> {
    let steps = parse_script(
        &std::fs::read_to_string(scripts_dir().join(format!("{name}.redis")))
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("{e:?}"))?;
    // A stock primary streams snapshots to replicas that say `capa eof` (both flavors do)
    // after waiting repl-diskless-sync-delay (5 s) for more replicas: not here.
    let p = Server::builder(primary)
        .directive("repl-diskless-sync-delay", &["0"])
        .start();
    let replicas = [
        Server::replica_of(Flavor::Ferrodis, &p),
        Server::replica_of(Flavor::Stock, &p),
    ];
    wait_online(&p, 2);
    let mut side = Side::new(p);
    for step in &steps {
        let _ = side.run(step);
    }
    let mut c = side.server.client();
    let _ = c.command(["CONFIG", "SET", "maxmemory", "0"]);
    let offset = info_field(&mut c, "replication", "master_repl_offset");
    let want = state(&mut c);
    let mut out = Vec::new();
    for r in &replicas {
        wait_synced(r, &offset).map_err(|e| format!("{name}: {e}"))?;
        let got = state(&mut r.client());
        out.push((r.flavor(), diff(&want, &got), differing(&want, &got)));
    }
    Ok(out)
}

#[test]
fn every_script_reaches_replicas_of_both_servers() {
    let names = script_names();
    let failures = std::sync::Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    std::thread::scope(|sc| {
        for _ in 0..3 {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(name) = names.get(i) else {
                    return;
                };
                // Stock primary with a stock replica is the baseline: keys it gets wrong
                // itself are Redis's behaviour, not ours to fix.
                let stock = match replicate_script(name, Flavor::Stock) {
                    Ok(r) => r,
                    Err(e) => {
                        failures.lock().unwrap().push(e);
                        continue;
                    }
                };
                let baseline: Vec<String> = stock
                    .iter()
                    .filter(|(f, _, _)| *f == Flavor::Stock)
                    .flat_map(|(_, _, k)| k.clone())
                    .collect();
                let ours = match replicate_script(name, Flavor::Ferrodis) {
                    Ok(r) => r,
                    Err(e) => {
                        failures.lock().unwrap().push(e);
                        continue;
                    }
                };
                for (primary, results) in [("redis", &stock), ("ferrodis", &ours)] {
                    for (replica, text, keys) in results {
                        if keys.iter().any(|k| !baseline.contains(k)) {
                            failures.lock().unwrap().push(format!(
                                "{name}: {primary} primary, {} replica:\n{text}",
                                replica.name()
                            ));
                        }
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn broken_link_resumes_with_a_partial_resync_and_wait_counts_acks() {
    let p = Server::builder(Flavor::Ferrodis).start();
    let mut c = p.client();
    c.ok(["SET", "before", "1"]);
    let r = Server::replica_of(Flavor::Ferrodis, &p);
    let stock = Server::replica_of(Flavor::Stock, &p);
    wait_online(&p, 2);
    c.ok(["RPUSH", "l", "a", "b"]);
    assert_eq!(c.ok(["WAIT", "2", "5000"]).as_int(), Some(2));
    // Replicas refuse writes, with Redis's words.
    let mut rc = r.client();
    let mut sc = stock.client();
    let ours = rc.command(["SET", "x", "1"]).unwrap();
    let theirs = sc.command(["SET", "x", "1"]).unwrap();
    assert_eq!(ours.raw(), theirs.raw());
    // Break the links: both replicas come back with PSYNC +CONTINUE, no full sync.
    let killed = c.ok(["CLIENT", "KILL", "TYPE", "replica"]).as_int();
    assert!(
        killed.is_some_and(|n| n >= 1),
        "CLIENT KILL TYPE replica: {killed:?}"
    );
    for i in 0..50 {
        c.ok(["SET", &format!("gap{i}"), "v"]);
    }
    wait_online(&p, 2);
    let offset = info_field(&mut c, "replication", "master_repl_offset");
    wait_synced(&r, &offset).unwrap();
    wait_synced(&stock, &offset).unwrap();
    assert!(
        r.log()
            .contains("Successful partial resynchronization with master."),
        "{}",
        r.log_tail(20)
    );
    assert!(
        stock.log().contains("Successful partial resynchronization"),
        "{}",
        stock.log_tail(20)
    );
    let want = state(&mut c);
    assert_eq!(state(&mut rc), want);
    assert_eq!(state(&mut sc), want);
    // ROLE on both sides.
    let role = rc.ok(["ROLE"]);
    assert_eq!(role.children()[0].as_str().as_deref(), Some("slave"));
    assert_eq!(role.children()[3].as_str().as_deref(), Some("connected"));
    let role = c.ok(["ROLE"]);
    assert_eq!(role.children()[0].as_str().as_deref(), Some("master"));
    assert_eq!(role.children()[2].children().len(), 2);
    // Promotion: writes are accepted, and the old data stays.
    assert_eq!(rc.ok(["REPLICAOF", "NO", "ONE"]).raw(), b"+OK\r\n");
    assert_eq!(rc.ok(["SET", "x", "1"]).raw(), b"+OK\r\n");
    assert_eq!(rc.ok(["GET", "gap49"]).as_str().as_deref(), Some("v"));
    assert_eq!(info_field(&mut rc, "replication", "role"), "master");
}

#[test]
fn stock_primary_full_sync_of_every_type_reaches_ferrodis() {
    let p = Server::builder(Flavor::Stock)
        .directive("repl-diskless-sync-delay", &["0"])
        .start();
    let mut c = p.client();
    c.ok(["SET", "s", "v"]);
    c.ok(["SET", "t", "v", "EX", "1000"]);
    c.ok(["RPUSH", "l", "a", "b", "c"]);
    c.ok(["HSET", "h", "f", "v", "g", "w"]);
    c.ok(["SADD", "set", "1", "2", "x"]);
    c.ok(["ZADD", "z", "1", "a", "2.5", "b"]);
    c.ok(["PFADD", "hll", "a", "b"]);
    c.ok(["XADD", "st", "1-1", "f", "v"]);
    c.ok(["XGROUP", "CREATE", "st", "g", "0"]);
    c.ok(["XREADGROUP", "GROUP", "g", "c", "STREAMS", "st", ">"]);
    c.ok(["SELECT", "3"]);
    c.ok(["SET", "in3", "x"]);
    c.ok(["SELECT", "0"]);
    let r = Server::replica_of(Flavor::Ferrodis, &p);
    wait_online(&p, 1);
    c.ok(["INCRBYFLOAT", "f", "1.5"]);
    c.ok(["SPOP", "set"]);
    c.ok(["EXPIRE", "l", "500"]);
    let offset = info_field(&mut c, "replication", "master_repl_offset");
    wait_synced(&r, &offset).unwrap();
    let want = state(&mut c);
    let got = state(&mut r.client());
    assert!(got == want, "{}", diff(&want, &got));
}

fn signal(s: &Server, sig: nix::sys::signal::Signal) {
    let pid = s.pid().expect("running");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig).expect("kill");
}

/// Polls `SET k v` on `c` until its reply is `want` (or fails after 20 s).
fn wait_set_reply(c: &mut RespClient, want: &[u8], what: &str) {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let got = c.command(["SET", "k", "v"]).unwrap();
        if got.raw() == want {
            return;
        }
        assert!(Instant::now() < until, "{what}: last reply {got}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `min-replicas-to-write`, with stock Redis and ferrodis as the primary (and a ferrodis
/// replica, whose acknowledgements both must count): writes are refused until the replica is
/// online, accepted while it acknowledges, refused once its last acknowledgement is older
/// than `min-replicas-max-lag` (the replica is stopped, its link still open), accepted again
/// when it resumes, and refused when it is gone. INFO counts the good replicas.
#[test]
fn min_replicas_to_write_counts_replicas_that_acknowledge() {
    const REFUSED: &[u8] = b"-NOREPLICAS Not enough good replicas to write.\r\n";
    for flavor in [Flavor::Stock, Flavor::Ferrodis] {
        let p = Server::builder(flavor)
            .directive("repl-diskless-sync-delay", &["0"])
            .directive("min-replicas-to-write", &["1"])
            .directive("min-replicas-max-lag", &["2"])
            .start();
        let mut c = p.client();
        let name = flavor.name();
        assert_eq!(
            c.command(["SET", "k", "v"]).unwrap().raw(),
            REFUSED,
            "{name}"
        );
        assert_eq!(
            info_field(&mut c, "replication", "min_slaves_good_slaves"),
            "0"
        );
        let r = Server::replica_of(Flavor::Ferrodis, &p);
        wait_online(&p, 1);
        wait_set_reply(&mut c, b"+OK\r\n", &format!("{name}: replica online"));
        assert_eq!(
            info_field(&mut c, "replication", "min_slaves_good_slaves"),
            "1"
        );
        signal(&r, nix::sys::signal::Signal::SIGSTOP);
        wait_set_reply(&mut c, REFUSED, &format!("{name}: replica stopped"));
        assert_eq!(info_field(&mut c, "replication", "connected_slaves"), "1");
        assert_eq!(
            info_field(&mut c, "replication", "min_slaves_good_slaves"),
            "0"
        );
        signal(&r, nix::sys::signal::Signal::SIGCONT);
        wait_set_reply(&mut c, b"+OK\r\n", &format!("{name}: replica resumed"));
        drop(r);
        wait_set_reply(&mut c, REFUSED, &format!("{name}: replica gone"));
    }
}

/// Reads from `s` into `buf` until `done(buf)` or 10 s pass.
fn read_until(s: &mut std::net::TcpStream, buf: &mut Vec<u8>, done: impl Fn(&[u8]) -> bool) {
    use std::io::Read;
    let until = Instant::now() + Duration::from_secs(10);
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut chunk = [0u8; 64 * 1024];
    while !done(buf) {
        assert!(
            Instant::now() < until,
            "timed out; got {:?}",
            String::from_utf8_lossy(&buf[..buf.len().min(200)])
        );
        match s.read(&mut chunk) {
            Ok(0) => panic!("closed; got {:?}", String::from_utf8_lossy(buf)),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
    }
}

/// A raw replica connection to `p`: the handshake with `capa`, then PSYNC ? -1; returns the
/// socket and what it read up to the end of the `+FULLRESYNC` line.
fn raw_full_sync(p: &Server, capa: &[&str]) -> (std::net::TcpStream, Vec<u8>) {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(p.addr()).unwrap();
    let mut replconf = vec!["REPLCONF", "listening-port", "7777"];
    for c in capa {
        replconf.extend(["capa", *c]);
    }
    s.write_all(&ferrodis_tests::resp_client::encode_command(replconf))
        .unwrap();
    let mut buf = Vec::new();
    read_until(&mut s, &mut buf, |b| b.ends_with(b"+OK\r\n"));
    buf.clear();
    s.write_all(&ferrodis_tests::resp_client::encode_command([
        "PSYNC", "?", "-1",
    ]))
    .unwrap();
    read_until(&mut s, &mut buf, |b| {
        b.starts_with(b"+FULLRESYNC ") && b.windows(2).any(|w| w == b"\r\n")
    });
    let end = buf.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    let rest = buf.split_off(end);
    (s, rest)
}

/// The two forms of a full sync's snapshot. A replica without `capa eof` gets `$<len>` and
/// the RDB. One with it (stock replicas say it) gets the RDB streamed as it is encoded:
/// `$EOF:<40-character marker>`, the RDB, the marker; and the command stream starts only
/// after its first REPLCONF ACK, so the marker is the last thing it reads before loading.
#[test]
fn full_sync_sends_the_snapshot_by_length_or_streamed_to_a_marker() {
    use std::io::Write;
    let p = Server::builder(Flavor::Ferrodis).start();
    let mut c = p.client();
    c.ok(["SET", "before", "1"]);

    let (mut s, mut buf) = raw_full_sync(&p, &["psync2"]);
    read_until(&mut s, &mut buf, |b| b.windows(2).any(|w| w == b"\r\n"));
    let head_end = buf.windows(2).position(|w| w == b"\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = head
        .strip_prefix('$')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("header {head:?}"));
    let body = head_end + 2;
    read_until(&mut s, &mut buf, |b| b.len() >= body + len);
    assert!(buf[body..].starts_with(b"REDIS0"));
    drop(s);

    let (mut s, mut buf) = raw_full_sync(&p, &["eof", "psync2"]);
    read_until(&mut s, &mut buf, |b| b.windows(2).any(|w| w == b"\r\n"));
    let head_end = buf.windows(2).position(|w| w == b"\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mark = head
        .strip_prefix("$EOF:")
        .unwrap_or_else(|| panic!("header {head:?}"))
        .as_bytes()
        .to_vec();
    assert_eq!(mark.len(), 40);
    let body = head_end + 2;
    read_until(&mut s, &mut buf, |b| {
        b.len() >= body + mark.len() && b.ends_with(&mark)
    });
    assert!(buf[body..].starts_with(b"REDIS0"));
    assert!(buf[body..buf.len() - mark.len()]
        .windows(6)
        .any(|w| w == b"before"));
    // Writes meanwhile wait for the replica's acknowledgement.
    c.ok(["SET", "after", "2"]);
    std::thread::sleep(Duration::from_millis(300));
    let mut more = Vec::new();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut chunk = [0u8; 1024];
    if let Ok(n) = std::io::Read::read(&mut s, &mut chunk) {
        more.extend_from_slice(&chunk[..n]);
    }
    assert!(more.is_empty(), "stream sent before the ACK: {more:?}");
    s.write_all(&ferrodis_tests::resp_client::encode_command([
        "REPLCONF", "ACK", "0",
    ]))
    .unwrap();
    read_until(&mut s, &mut more, |b| b.windows(5).any(|w| w == b"after"));
}

/// A ferrodis primary that starts full syncs at once, holding `k0`.. `k{n-1}` = `value(i)`.
fn primary_with_keys(n: usize, value: impl Fn(usize) -> String) -> Server {
    let p = Server::builder(Flavor::Ferrodis)
        .directive("repl-diskless-sync-delay", &["0"])
        .start();
    let mut c = p.client();
    for i in 0..n {
        c.ok(["SET", &format!("k{i}"), &value(i)]);
    }
    p
}

/// `REPLICAOF` the primary `p`, through `c`.
fn follow(c: &mut RespClient, p: &Server) {
    let reply = c.ok(["REPLICAOF", "127.0.0.1", &p.port().to_string()]);
    assert!(
        reply.as_str().unwrap_or_default().starts_with("OK"),
        "{reply}"
    );
}

/// DBSIZE once the server has loaded its data (it answers LOADING until then; 20 s at most).
fn dbsize_once_loaded(c: &mut RespClient) -> ferrodis_tests::Reply {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let got = c.command(["DBSIZE"]).unwrap();
        if !got.raw().starts_with(b"-LOADING") || Instant::now() > until {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `s` has no AOF rewrite running or scheduled and its AOF is on.
fn wait_aof_settled(s: &Server) {
    let until = Instant::now() + Duration::from_secs(20);
    let mut c = s.client();
    loop {
        let on = info_field(&mut c, "persistence", "aof_enabled") == "1";
        let running = info_field(&mut c, "persistence", "aof_rewrite_in_progress") != "0";
        let scheduled = info_field(&mut c, "persistence", "aof_rewrite_scheduled") != "0";
        if on && !running && !scheduled {
            return;
        }
        assert!(
            Instant::now() < until,
            "{}: AOF not settled (on {on}, running {running}, scheduled {scheduled}); log:\n{}",
            s.flavor().name(),
            s.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A replica with `appendonly yes` keeps what a full sync brought in its AOF: promoted and
/// restarted, it loads the primary's keys and the stream's, and none of the keys it held
/// before the sync. (Before, ferrodis appended on to its old AOF, so a restart brought back
/// its old keys and lost the snapshot's.) Stock and ferrodis replicas of a ferrodis primary.
#[test]
fn replica_with_aof_keeps_a_full_sync_across_a_restart() {
    let p = primary_with_keys(100, |i| format!("v{i}"));
    let mut pc = p.client();
    pc.ok(["RPUSH", "list", "a", "b"]);
    for flavor in [Flavor::Stock, Flavor::Ferrodis] {
        let name = flavor.name();
        let mut r = Server::builder(flavor)
            .directive("appendonly", &["yes"])
            .start();
        let mut rc = r.client();
        rc.ok(["SET", "old", "x"]);
        wait_aof_settled(&r);
        follow(&mut rc, &p);
        wait_online(&p, 1);
        pc.ok(["SET", "after", name]);
        let offset = info_field(&mut pc, "replication", "master_repl_offset");
        wait_synced(&r, &offset).unwrap();
        wait_aof_settled(&r);
        // A replica's log lines carry the role letter S, as Redis's.
        let log = r.log();
        assert!(
            log.lines()
                .any(|l| l.contains(":S ") && l.contains("MASTER <-> REPLICA sync: Finished")),
            "{name}: {}",
            r.log_tail(10)
        );
        assert_eq!(rc.ok(["REPLICAOF", "NO", "ONE"]).raw(), b"+OK\r\n");
        // A clean stop, then the same server again on the same files.
        let _ = rc.command(["SHUTDOWN"]);
        r.crash();
        r.restart();
        let mut rc = r.client();
        let dbsize = dbsize_once_loaded(&mut rc);
        assert_eq!(dbsize.raw(), b":102\r\n", "{name}: {}", r.log_tail(30));
        assert_eq!(
            rc.ok(["GET", "k42"]).as_str().as_deref(),
            Some("v42"),
            "{name}"
        );
        assert_eq!(
            rc.ok(["GET", "after"]).as_str().as_deref(),
            Some(name),
            "{name}"
        );
        assert_eq!(rc.ok(["EXISTS", "old"]).raw(), b":0\r\n", "{name}");
        assert_eq!(rc.ok(["LLEN", "list"]).raw(), b":2\r\n", "{name}");
        drop(r);
        wait_online(&p, 0);
    }
}

/// A full sync goes through a file in the replica's `dir`, as in Redis: afterwards the
/// snapshot is the replica's `dump.rdb` (a restart loads it), no temp file is left, and with
/// `rdb-del-sync-files yes` on a replica without persistence there is no file at all; with
/// `repl-diskless-load swapdb` nothing is written. Stock and ferrodis replicas of a ferrodis
/// primary.
#[test]
fn full_sync_leaves_the_snapshot_as_the_replicas_rdb_file() {
    let p = primary_with_keys(50, |i| format!("v{i}"));
    let mut pc = p.client();
    for flavor in [Flavor::Stock, Flavor::Ferrodis] {
        // (rdb-del-sync-files, repl-diskless-load): kept, deleted, never written (loaded
        // from the socket).
        for (delete, load) in [("no", "disabled"), ("yes", "disabled"), ("no", "swapdb")] {
            let what = format!(
                "{} rdb-del-sync-files {delete} repl-diskless-load {load}",
                flavor.name()
            );
            let mut r = Server::builder(flavor)
                .directive("rdb-del-sync-files", &[delete])
                .directive("repl-diskless-load", &[load])
                .start();
            let mut rc = r.client();
            follow(&mut rc, &p);
            wait_online(&p, 1);
            let offset = info_field(&mut pc, "replication", "master_repl_offset");
            wait_synced(&r, &offset).unwrap();
            assert_eq!(rc.ok(["DBSIZE"]).raw(), b":50\r\n", "{what}");
            let mut files: Vec<String> = std::fs::read_dir(r.dir())
                .unwrap()
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".rdb"))
                .collect();
            files.sort();
            if (delete, load) != ("no", "disabled") {
                assert!(files.is_empty(), "{what}: {files:?}");
                continue;
            }
            assert_eq!(files, ["dump.rdb"], "{what}");
            let head = std::fs::read(r.dir().join("dump.rdb")).unwrap();
            assert!(head.starts_with(b"REDIS"), "{what}");
            r.crash();
            r.restart();
            let mut rc = r.client();
            let dbsize = dbsize_once_loaded(&mut rc);
            assert_eq!(dbsize.raw(), b":50\r\n", "{what}: {}", r.log_tail(20));
            drop(r);
            wait_online(&p, 0);
        }
    }
}

/// While a replica loads its primary's snapshot it answers: INFO says `loading:1` (both
/// servers), and on ferrodis commands without the `loading` flag get LOADING at once (PING,
/// GET, an EXEC of such commands), as Redis's processCommand rejects them. Stock Redis serves
/// clients only between keys while it loads and, in these runs, held a command on a connection
/// opened before the load until the load ended (a new connection's PING got LOADING): timing,
/// so those replies are checked on ferrodis alone. Once loaded, the data is there. `key-load-delay`
/// (50 ms a key) makes the load last; 1 KiB values with `loading-process-events-interval-bytes
/// 1024` make stock Redis serve clients between keys. Stock and ferrodis replicas of a
/// ferrodis primary.
#[test]
fn replica_answers_loading_while_it_loads_a_snapshot() {
    const LOADING: &[u8] = b"-LOADING Redis is loading the dataset in memory\r\n";
    let value = "v".repeat(1024);
    let p = primary_with_keys(40, |_| value.clone());
    let mut pc = p.client();
    for flavor in [Flavor::Stock, Flavor::Ferrodis] {
        let name = flavor.name();
        let r = Server::builder(flavor)
            .directive("key-load-delay", &["50000"])
            .directive("loading-process-events-interval-bytes", &["1024"])
            .start();
        // Connected before the load: a watcher, and a transaction queued already.
        let mut c = r.client();
        let mut tx = r.client();
        assert_eq!(tx.ok(["MULTI"]).raw(), b"+OK\r\n");
        assert_eq!(tx.ok(["GET", "k1"]).raw(), b"+QUEUED\r\n");
        follow(&mut c, &p);
        let until = Instant::now() + Duration::from_secs(20);
        while info_field(&mut c, "persistence", "loading") != "1" {
            assert!(
                Instant::now() < until,
                "{name} never loading: {}",
                r.log_tail(20)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        if flavor == Flavor::Ferrodis {
            assert_eq!(c.command(["PING"]).unwrap().raw(), LOADING);
            assert_eq!(c.command(["GET", "k1"]).unwrap().raw(), LOADING);
            assert_eq!(
                tx.command(["EXEC"]).unwrap().raw(),
                b"-EXECABORT Transaction discarded because of: LOADING Redis is loading the dataset in memory\r\n",
            );
            // Still loading: the load takes 2 s, the checks above far less.
            assert_eq!(info_field(&mut c, "persistence", "loading"), "1");
        }
        let offset = info_field(&mut pc, "replication", "master_repl_offset");
        wait_synced(&r, &offset).unwrap();
        assert_eq!(info_field(&mut c, "persistence", "loading"), "0", "{name}");
        assert_eq!(
            c.ok(["GET", "k39"]).as_str().as_deref(),
            Some(value.as_str()),
            "{name}"
        );
        drop(r);
        wait_online(&p, 0);
    }
}
