//! The append-only file: every differential script's end state survives a SIGKILL and a
//! reload from the AOF, and the AOF directory loads in the other server in both directions
//! (stock Redis 7.0 reads ferrodis's files, ferrodis reads Redis's); acknowledged writes
//! survive SIGKILL with `appendfsync always` (and lose at most about a second with
//! `everysec`); BGREWRITEAOF and automatic rewrites under writes lose nothing; truncated and
//! corrupt files give Redis's documented behaviour, never a panic.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrodis_tests::diff::{script_names, scripts_dir, Side};
use ferrodis_tests::script::parse_script;
use ferrodis_tests::server::{ferrodis_binary, free_port, refuses_to_start, TempDir as Dir};
use ferrodis_tests::state::{diff, differing, state};
use ferrodis_tests::{Flavor, RespClient, Server};

fn start_aof(flavor: Flavor, dir: &Dir, extra: &[(&str, &str)]) -> Server {
    let mut b = Server::builder(flavor)
        .directive("dir", &[dir.as_str()])
        .directive("appendonly", &["yes"]);
    for (k, v) in extra {
        b = b.directive(k, &[*v]);
    }
    b.start()
}

/// Runs `steps` on `writer` (AOF on, `appendfsync always`); returns the state it held and
/// the AOF directory after a SIGKILL.
fn write_and_crash(
    name: &str,
    steps: &[ferrodis_tests::script::Step],
    writer: Flavor,
) -> (BTreeMap<String, String>, Dir) {
    let dir = Dir::new(&format!("aof-{name}"));
    let server = start_aof(writer, &dir, &[("appendfsync", "always")]);
    let mut side = Side::new(server);
    for step in steps {
        let _ = side.run(step);
    }
    let mut c = side.server.client();
    // Scripts may leave a memory limit that would evict while reading back.
    let _ = c.command(["CONFIG", "SET", "maxmemory", "0"]);
    let want = state(&mut c);
    drop(c);
    let mut server = side.server;
    server.crash();
    (want, dir)
}

/// Runs `script` in each server with the AOF on, crashes it, and reloads the AOF in both
/// servers: every reload must hold what the writer held, except where stock Redis itself
/// differs when it reloads its own AOF (its quirks, e.g. a key BITFIELD creates without a
/// change, which it never propagates).
fn replay_script(name: &str) -> Result<(), String> {
    let path = scripts_dir().join(format!("{name}.redis"));
    let steps = parse_script(&std::fs::read_to_string(&path).map_err(|e| e.to_string())?)
        .map_err(|e| format!("{e:?}"))?;
    let mut baseline = Vec::new();
    let mut failures = String::new();
    for writer in [Flavor::Stock, Flavor::Ferrodis] {
        let (want, dir) = write_and_crash(name, &steps, writer);
        for reader in [Flavor::Stock, Flavor::Ferrodis] {
            let s = start_aof(reader, &dir, &[]);
            let got = state(&mut s.client());
            let keys = differing(&want, &got);
            if writer == Flavor::Stock && reader == Flavor::Stock {
                baseline = keys;
            } else {
                let unexplained: Vec<&String> =
                    keys.iter().filter(|k| !baseline.contains(k)).collect();
                if !unexplained.is_empty() {
                    let only = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
                        m.iter()
                            .filter(|(k, _)| unexplained.contains(k))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect()
                    };
                    failures += &format!(
                        "{name}: written by {}, reloaded by {}:\n{}\nreader log:\n{}\n",
                        writer.name(),
                        reader.name(),
                        diff(&only(&want), &only(&got)),
                        s.log_tail(10)
                    );
                }
            }
            s.stop();
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures)
    }
}

#[test]
fn every_script_survives_a_crash_and_reloads_in_both_servers() {
    // AOF_SCRIPT=name runs one script.
    let only = std::env::var("AOF_SCRIPT").ok();
    let names: Vec<String> = script_names()
        .into_iter()
        .filter(|n| only.as_ref().is_none_or(|o| o == n))
        .collect();
    let failures = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|sc| {
        for _ in 0..3 {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(name) = names.get(i) else {
                    return;
                };
                if let Err(e) = replay_script(name) {
                    failures.lock().unwrap().push(e);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A writer that sends one command at a time and records what was acknowledged.
fn write_until_killed(
    addr: std::net::SocketAddr,
    stop: &AtomicBool,
    acked: &std::sync::Mutex<Vec<(u64, Instant)>>,
) {
    let Ok(mut c) = RespClient::connect(addr) else {
        return;
    };
    c.set_timeout(Duration::from_secs(5));
    let mut i = 0u64;
    while !stop.load(Ordering::SeqCst) && i < 200_000 {
        match c.command(["SET", &format!("k{i}"), &i.to_string()]) {
            Ok(r) if r.raw() == b"+OK\r\n" => {
                acked.lock().unwrap().push((i, Instant::now()));
            }
            _ => return,
        }
        match c.command(["INCR", "counter"]) {
            Ok(r) if r.as_int().is_some() => {}
            _ => return,
        }
        i += 1;
    }
}

/// SIGKILL at a random moment under a writer; returns `(acked, present)` key indexes and
/// the restarted server.
fn crash_cycle(
    dir: &Dir,
    fsync: &str,
    run_for: Duration,
) -> (Vec<(u64, Instant)>, Vec<u64>, Instant) {
    let mut server = start_aof(Flavor::Ferrodis, dir, &[("appendfsync", fsync)]);
    let stop = AtomicBool::new(false);
    let acked = std::sync::Mutex::new(Vec::new());
    let addr = server.addr();
    let killed_at = std::thread::scope(|sc| {
        sc.spawn(|| write_until_killed(addr, &stop, &acked));
        std::thread::sleep(run_for);
        server.crash();
        let at = Instant::now();
        stop.store(true, Ordering::SeqCst);
        at
    });
    let acked = acked.into_inner().unwrap();
    let s = start_aof(Flavor::Ferrodis, dir, &[]);
    let mut c = s.client();
    let n = acked.len() as u64 + 2;
    let mut present = Vec::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut cmd = vec!["MGET".to_string()];
        cmd.extend(chunk.iter().map(|i| format!("k{i}")));
        let r = c.ok(&cmd);
        for (i, v) in chunk.iter().zip(r.children()) {
            if !v.is_null() {
                assert_eq!(v.as_str(), Some(i.to_string()), "value of k{i}");
                present.push(*i);
            }
        }
    }
    s.stop();
    (acked, present, killed_at)
}

#[test]
fn appendfsync_always_keeps_every_acknowledged_write_through_sigkill() {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    for round in 0..4 {
        let dir = Dir::new("aof-crash-always");
        let run_for = Duration::from_millis(rng.gen_range(100..600));
        let (acked, present, _) = crash_cycle(&dir, "always", run_for);
        assert!(!acked.is_empty(), "round {round}: nothing was acknowledged");
        let last = acked.last().map_or(0, |a| a.0);
        // Every acknowledged key, and at most the one in flight after it.
        for (i, _) in &acked {
            assert!(
                present.binary_search(i).is_ok(),
                "round {round}: acknowledged k{i} lost"
            );
        }
        assert!(
            present.iter().all(|&p| p <= last + 1),
            "round {round}: unacknowledged writes beyond the in-flight one: {:?}",
            present
                .iter()
                .filter(|&&p| p > last + 1)
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn appendfsync_everysec_loses_at_most_about_a_second() {
    let dir = Dir::new("aof-crash-everysec");
    let (acked, present, killed_at) = crash_cycle(&dir, "everysec", Duration::from_millis(1500));
    assert!(!acked.is_empty());
    // What is present is a prefix of what was acknowledged; whatever is missing was
    // acknowledged in the last ~second before the kill (SIGKILL keeps the page cache, so in
    // practice nothing is lost; the bound is what everysec promises).
    let kept = present.len();
    for (n, (i, _)) in acked.iter().enumerate().take(kept) {
        assert_eq!(present.get(n), Some(i), "not a prefix at k{i}");
    }
    if let Some((i, at)) = acked.get(kept) {
        let lost_for = killed_at.duration_since(*at);
        assert!(
            lost_for < Duration::from_millis(2500),
            "k{i} acknowledged {lost_for:?} before the kill was lost"
        );
    }
}

fn info_field(c: &mut RespClient, field: &str) -> String {
    let info = c.ok(["INFO", "persistence"]).as_str().unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
        .unwrap_or_default()
}

fn wait_rewrite_done(c: &mut RespClient) {
    let until = Instant::now() + Duration::from_secs(20);
    while info_field(c, "aof_rewrite_in_progress") != "0"
        || info_field(c, "aof_rewrite_scheduled") != "0"
    {
        assert!(Instant::now() < until, "rewrite did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn manifest(dir: &Dir) -> String {
    std::fs::read_to_string(dir.path().join("appendonlydir/appendonly.aof.manifest"))
        .unwrap_or_default()
}

#[test]
fn rewrites_under_writes_lose_nothing_and_check_clean() {
    let dir = Dir::new("aof-rewrite");
    let server = start_aof(
        Flavor::Ferrodis,
        &dir,
        &[
            ("auto-aof-rewrite-min-size", "200kb"),
            ("auto-aof-rewrite-percentage", "50"),
        ],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let addr = server.addr();
    let writer = {
        let (stop, acked) = (stop.clone(), acked.clone());
        std::thread::spawn(move || write_until_killed(addr, &stop, &acked))
    };
    let mut c = server.client();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(150));
        // The automatic rewrite may be running already: then this one is refused.
        wait_rewrite_done(&mut c);
        let r = c.command(["BGREWRITEAOF"]).expect("BGREWRITEAOF");
        let t = r.as_str().unwrap_or_default();
        assert!(
            t.starts_with("Background append only file rewriting")
                || t.contains("already in progress"),
            "{r}"
        );
        wait_rewrite_done(&mut c);
    }
    // Let the automatic rewrite trigger on growth too.
    let until = Instant::now() + Duration::from_secs(20);
    while info_field(&mut c, "aof_rewrites")
        .parse::<u64>()
        .unwrap_or(0)
        < 4
    {
        assert!(
            Instant::now() < until,
            "no automatic rewrite: {}",
            server.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    wait_rewrite_done(&mut c);
    assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
    let counter = c.ok(["GET", "counter"]).as_str().unwrap_or_default();
    let want = state(&mut c);
    drop(c);
    server.stop();
    let m = manifest(&dir);
    assert_eq!(
        m.lines().filter(|l| l.ends_with("type b")).count(),
        1,
        "{m}"
    );
    assert!(!m.contains("type h"), "history left: {m}");
    let check = Command::new("redis-check-aof")
        .arg(dir.path().join("appendonlydir/appendonly.aof.manifest"))
        .output()
        .expect("redis-check-aof");
    let out = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(
        out.contains("All AOF files and manifest are valid"),
        "{out}"
    );
    for reader in [Flavor::Ferrodis, Flavor::Stock] {
        let s = start_aof(reader, &dir, &[]);
        let mut c = s.client();
        let got = state(&mut c);
        assert_eq!(
            c.ok(["GET", "counter"]).as_str().unwrap_or_default(),
            counter
        );
        assert!(got == want, "{}: {}", reader.name(), diff(&want, &got));
        assert_eq!(got.len() as u64, acked.lock().unwrap().len() as u64 + 1);
        s.stop();
    }
}

#[test]
fn config_set_appendonly_switches_the_aof_on_and_off() {
    let dir = Dir::new("aof-config");
    let s = Server::builder(Flavor::Ferrodis)
        .directive("dir", &[dir.as_str()])
        .start();
    let mut c = s.client();
    c.ok(["SET", "before", "1"]);
    assert_eq!(
        c.ok(["CONFIG", "SET", "appendonly", "yes"]).raw(),
        b"+OK\r\n"
    );
    wait_rewrite_done(&mut c);
    assert_eq!(info_field(&mut c, "aof_enabled"), "1");
    c.ok(["SET", "after", "2"]);
    c.ok(["RPUSH", "l", "a", "b"]);
    let want = state(&mut c);
    drop(c);
    s.stop();
    let m = manifest(&dir);
    assert!(m.contains("type b") && m.contains("type i"), "{m}");
    let s = start_aof(Flavor::Ferrodis, &dir, &[]);
    let mut c = s.client();
    assert_eq!(state(&mut c), want);
    assert_eq!(
        c.ok(["CONFIG", "SET", "appendonly", "no"]).raw(),
        b"+OK\r\n"
    );
    assert_eq!(info_field(&mut c, "aof_enabled"), "0");
    c.ok(["SET", "not-logged", "x"]);
    drop(c);
    s.stop();
    let s = start_aof(Flavor::Ferrodis, &dir, &[]);
    assert_eq!(state(&mut s.client()), want);
}

/// `--appendonly yes --dir <dir>` and `extra`.
fn aof_args<'a>(dir: &'a Dir, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["--appendonly", "yes", "--dir", dir.as_str()];
    a.extend_from_slice(extra);
    a
}

/// An AOF directory holding `n` SETs, written by ferrodis; returns the incr file's path.
fn written_aof(dir: &Dir, n: usize) -> std::path::PathBuf {
    let s = start_aof(Flavor::Ferrodis, dir, &[]);
    let mut c = s.client();
    for i in 0..n {
        c.ok(["SET", &format!("k{i}"), &format!("v{i}")]);
    }
    drop(c);
    s.stop();
    dir.path().join("appendonlydir/appendonly.aof.1.incr.aof")
}

fn append(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn truncated_last_command_is_dropped_or_refused_as_configured() {
    let dir = Dir::new("aof-trunc");
    let incr = written_aof(&dir, 10);
    let good_len = std::fs::metadata(&incr).unwrap().len();
    append(&incr, b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$5\r\nab");
    let out = refuses_to_start(
        Flavor::Ferrodis,
        &aof_args(&dir, &["--aof-load-truncated", "no"]),
    );
    assert!(out.contains("appendonly.aof.1.incr.aof"), "{out}");
    assert!(out.contains("aof-load-truncated"), "{out}");
    let s = start_aof(Flavor::Ferrodis, &dir, &[]);
    let mut c = s.client();
    assert_eq!(c.ok(["DBSIZE"]).as_int(), Some(10));
    assert!(c.ok(["GET", "half"]).is_null());
    assert!(s
        .log()
        .contains("Truncating the AOF appendonly.aof.1.incr.aof at offset"));
    // The file was cut back to whole commands, and new writes follow them.
    c.ok(["SET", "after", "1"]);
    drop(c);
    s.stop();
    assert!(std::fs::metadata(&incr).unwrap().len() > good_len);
    let s = start_aof(Flavor::Stock, &dir, &[]);
    // state() waits while stock Redis answers -LOADING.
    let mut c = s.client();
    assert_eq!(state(&mut c).len(), 11);
}

#[test]
fn corrupt_files_stop_the_server_naming_file_and_offset() {
    // Garbage after whole commands.
    let dir = Dir::new("aof-garbage");
    let incr = written_aof(&dir, 5);
    let at = std::fs::metadata(&incr).unwrap().len();
    append(&incr, b"this is not RESP\r\n*1\r\n$4\r\nPING\r\n");
    let out = refuses_to_start(Flavor::Ferrodis, &aof_args(&dir, &[]));
    assert!(out.contains("Bad file format"), "{out}");
    assert!(out.contains(&format!("offset {at}")), "{out}");
    assert!(out.contains("redis-check-aof"), "{out}");

    // A flipped bit inside the base RDB.
    let dir = Dir::new("aof-flip");
    let _ = written_aof(&dir, 5);
    let s = start_aof(Flavor::Ferrodis, &dir, &[]);
    let mut c = s.client();
    c.ok(["BGREWRITEAOF"]);
    wait_rewrite_done(&mut c);
    drop(c);
    s.stop();
    let m = manifest(&dir);
    let base = m
        .lines()
        .find(|l| l.ends_with("type b"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .to_string();
    let path = dir.path().join("appendonlydir").join(&base);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();
    let out = refuses_to_start(Flavor::Ferrodis, &aof_args(&dir, &[]));
    assert!(out.contains(&base), "{out}");

    // An unknown command, a bad manifest, a missing file.
    let dir = Dir::new("aof-unknown");
    let incr = written_aof(&dir, 1);
    append(&incr, b"*1\r\n$7\r\nNOTACMD\r\n");
    let out = refuses_to_start(Flavor::Ferrodis, &aof_args(&dir, &[]));
    assert!(out.contains("Unknown command 'NOTACMD'"), "{out}");
    let dir = Dir::new("aof-manifest");
    let _ = written_aof(&dir, 1);
    std::fs::write(
        dir.path().join("appendonlydir/appendonly.aof.manifest"),
        "file x seq\n",
    )
    .unwrap();
    let out = refuses_to_start(Flavor::Ferrodis, &aof_args(&dir, &[]));
    assert!(out.contains("Invalid AOF manifest file format"), "{out}");
    let dir = Dir::new("aof-missing");
    let incr = written_aof(&dir, 1);
    std::fs::remove_file(&incr).unwrap();
    let out = refuses_to_start(Flavor::Ferrodis, &aof_args(&dir, &[]));
    assert!(out.contains("doesn't exist"), "{out}");
}

#[test]
fn random_garbage_never_panics() {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let dir = Dir::new("aof-fuzz");
    let incr = written_aof(&dir, 20);
    let good = std::fs::read(&incr).unwrap();
    for _ in 0..15 {
        let mut bytes = good.clone();
        for _ in 0..rng.gen_range(1..6) {
            let i = rng.gen_range(0..bytes.len());
            bytes[i] = rng.gen();
        }
        std::fs::write(&incr, &bytes).unwrap();
        // Either it loads (a change that still parses) or it refuses with a message.
        let port = free_port(false);
        let mut child = Command::new(ferrodis_binary())
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--dir", dir.as_str()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let until = Instant::now() + Duration::from_secs(3);
        let mut exited = false;
        while Instant::now() < until {
            if let Ok(Some(_)) = child.try_wait() {
                exited = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if !exited {
            let _ = child.kill();
        }
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(!text.contains("panicked"), "{text}");
        if exited {
            assert_eq!(out.status.code(), Some(1), "{text}");
        }
        std::fs::write(&incr, &good).unwrap();
    }
}

/// The files of `dir/appendonlydir` and the manifest's text.
fn aof_dir_listing(dir: &Dir) -> (Vec<String>, String) {
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("appendonlydir"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    (names, manifest(dir))
}

#[test]
fn old_style_single_aof_is_upgraded_as_redis_does() {
    // A plain command file as Redis 6 wrote it with `aof-use-rdb-preamble no`.
    let plain: Vec<u8> = [
        &["SELECT", "0"][..],
        &["SET", "s", "hello"],
        &["RPUSH", "l", "a", "b", "c"],
        &["SADD", "set", "x", "y"],
        &["HSET", "h", "f", "v", "g", "w"],
        &["ZADD", "z", "1", "one", "2.5", "two"],
        &["SET", "ttl", "v"],
        &["PEXPIREAT", "ttl", "4102444800000"],
        &["XADD", "st", "1-1", "field", "value"],
        &["SELECT", "3"],
        &["SET", "other-db", "1"],
    ]
    .iter()
    .flat_map(|c| ferrodis_tests::resp_client::encode_command(c.iter().copied()))
    .collect();
    // An RDB preamble followed by commands, as Redis 4-6 wrote it by default: stock Redis
    // 7.0's base and incremental file of the same data, concatenated.
    let preamble = {
        let dir = Dir::new("aof-upgrade-src");
        let s = start_aof(Flavor::Stock, &dir, &[]);
        let mut c = s.client();
        c.ok(["RPUSH", "in-base", "1", "2"]);
        c.ok(["BGREWRITEAOF"]);
        wait_rewrite_done(&mut c);
        c.ok(["SET", "after-base", "x"]);
        drop(c);
        s.stop();
        let m = manifest(&dir);
        let mut bytes = Vec::new();
        for line in m.lines().filter(|l| !l.ends_with("type h")) {
            let name = line.split_whitespace().nth(1).unwrap_or_default();
            bytes.extend(std::fs::read(dir.path().join("appendonlydir").join(name)).unwrap());
        }
        assert!(bytes.starts_with(b"REDIS"), "{m}");
        bytes
    };
    for (what, content) in [("plain", plain), ("preamble", preamble)] {
        let mut seen = Vec::new();
        for flavor in [Flavor::Stock, Flavor::Ferrodis] {
            let dir = Dir::new(&format!("aof-upgrade-{what}"));
            std::fs::write(dir.path().join("appendonly.aof"), &content).unwrap();
            let s = start_aof(flavor, &dir, &[]);
            let mut c = s.client();
            let loaded = state(&mut c);
            c.ok(["SET", "written-after", "1"]);
            let want = state(&mut c);
            drop(c);
            s.stop();
            assert!(
                !dir.path().join("appendonly.aof").exists(),
                "{what}: {} left the old file",
                flavor.name()
            );
            seen.push((loaded, aof_dir_listing(&dir)));
            // Whatever either server made of it loads in the other, with the later write.
            for reader in [Flavor::Stock, Flavor::Ferrodis] {
                let s = start_aof(reader, &dir, &[]);
                let got = state(&mut s.client());
                assert!(
                    got == want,
                    "{what}: upgraded by {}, read by {}: {}",
                    flavor.name(),
                    reader.name(),
                    diff(&want, &got)
                );
                s.stop();
            }
        }
        let (stock, ours) = (&seen[0], &seen[1]);
        assert!(!stock.0.is_empty());
        assert!(stock.0 == ours.0, "{what}: {}", diff(&stock.0, &ours.0));
        assert_eq!(stock.1, ours.1, "{what}: the AOF directories differ");
        assert!(
            ours.1 .1.starts_with("file appendonly.aof seq 1 type b\n"),
            "{}",
            ours.1 .1
        );
    }
}

/// Keys of every type, with more elements than one command of a rewrite holds, TTLs, a
/// second database, and streams with deletions, groups, pending entries and an idle consumer.
fn fill_every_type(c: &mut RespClient) {
    let many: Vec<String> = (0..150).map(|i| format!("m{i}")).collect();
    let mut cmd = |args: Vec<String>| {
        let r = c.command(args.iter().map(String::as_str)).expect("reply");
        assert!(!r.is_error(), "{args:?}: {r}");
    };
    let with = |head: &[&str], tail: Vec<String>| -> Vec<String> {
        head.iter().map(|s| s.to_string()).chain(tail).collect()
    };
    cmd(with(&["SET", "s", "hello"], vec![]));
    cmd(with(&["SET", "n", "-12"], vec![]));
    cmd(with(&["SET", "ttl", "v", "PX", "3600000"], vec![]));
    cmd(with(&["RPUSH", "list"], many.clone()));
    cmd(with(&["SADD", "set"], many.clone()));
    cmd(with(&["SADD", "intset", "1", "2", "-3"], vec![]));
    let zpairs = many
        .iter()
        .enumerate()
        .flat_map(|(i, m)| [format!("{}", i as f64 / 10.0), m.clone()])
        .collect();
    cmd(with(&["ZADD", "zset"], zpairs));
    cmd(with(
        &["ZADD", "zinf", "inf", "a", "-inf", "b", "0.1", "c"],
        vec![],
    ));
    let hpairs = many
        .iter()
        .flat_map(|m| [m.clone(), format!("v-{m}")])
        .collect();
    cmd(with(&["HSET", "hash"], hpairs));
    cmd(with(&["HSET", "small-hash", "f", "v"], vec![]));
    cmd(with(&["EXPIRE", "small-hash", "7200"], vec![]));
    for i in 1..=5 {
        cmd(with(
            &["XADD", "st", &format!("{i}-1"), "f", &i.to_string()],
            vec![],
        ));
    }
    cmd(with(&["XDEL", "st", "5-1"], vec![]));
    cmd(with(&["XGROUP", "CREATE", "st", "g", "0"], vec![]));
    cmd(with(
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "COUNT",
            "2",
            "STREAMS",
            "st",
            ">",
        ],
        vec![],
    ));
    cmd(with(
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "bob",
            "COUNT",
            "1",
            "STREAMS",
            "st",
            ">",
        ],
        vec![],
    ));
    cmd(with(&["XACK", "st", "g", "2-1"], vec![]));
    cmd(with(
        &["XGROUP", "CREATECONSUMER", "st", "g", "idle"],
        vec![],
    ));
    cmd(with(&["XGROUP", "CREATE", "st", "late", "$"], vec![]));
    cmd(with(&["XADD", "emptied", "9-9", "x", "y"], vec![]));
    cmd(with(&["XDEL", "emptied", "9-9"], vec![]));
    cmd(with(
        &["XGROUP", "CREATE", "fresh", "g", "$", "MKSTREAM"],
        vec![],
    ));
    cmd(with(&["SELECT", "5"], vec![]));
    cmd(with(&["SET", "in-db-5", "x"], vec![]));
    cmd(with(&["SELECT", "0"], vec![]));
}

/// What the state comparison leaves out of streams: IDs and counters a rewrite must keep,
/// and who holds which pending entry.
fn stream_details(c: &mut RespClient) -> Vec<String> {
    let mut out = Vec::new();
    for key in ["st", "emptied", "fresh"] {
        let info = c.ok(["XINFO", "STREAM", key]);
        let f = info.children();
        for pair in f.chunks(2) {
            let name = pair[0].as_str().unwrap_or_default();
            if [
                "length",
                "last-generated-id",
                "max-deleted-entry-id",
                "entries-added",
                "groups",
            ]
            .contains(&name.as_str())
            {
                out.push(format!("{key} {name}={}", pair[1]));
            }
        }
    }
    // ID, consumer and delivery count of each pending entry (the idle time moves on).
    for p in c.ok(["XPENDING", "st", "g", "-", "+", "10"]).children() {
        let f = p.children();
        out.push(format!("pending {} {} {}", f[0], f[1], f[3]));
    }
    out.push(format!(
        "{}",
        c.ok(["XINFO", "CONSUMERS", "st", "g"]).children().len()
    ));
    out
}

#[test]
fn base_without_rdb_preamble_is_commands_both_servers_load() {
    let preamble_off = [("aof-use-rdb-preamble", "no")];
    for writer in [Flavor::Ferrodis, Flavor::Stock] {
        let dir = Dir::new("aof-plain-base");
        let s = start_aof(writer, &dir, &preamble_off);
        let mut c = s.client();
        fill_every_type(&mut c);
        c.ok(["BGREWRITEAOF"]);
        wait_rewrite_done(&mut c);
        c.ok(["SET", "after-rewrite", "1"]);
        let want = state(&mut c);
        let details = stream_details(&mut c);
        assert_eq!(want.len(), 15, "{:?}", want.keys());
        drop(c);
        s.stop();
        let m = manifest(&dir);
        let base = m
            .lines()
            .find(|l| l.ends_with("type b"))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or_default()
            .to_string();
        assert_eq!(base, "appendonly.aof.2.base.aof", "{}: {m}", writer.name());
        let bytes = std::fs::read(dir.path().join("appendonlydir").join(&base)).unwrap();
        assert!(
            bytes.starts_with(b"*2\r\n$6\r\nSELECT\r\n"),
            "{}",
            writer.name()
        );
        let check = Command::new("redis-check-aof")
            .arg(dir.path().join("appendonlydir/appendonly.aof.manifest"))
            .output()
            .expect("redis-check-aof");
        let out = String::from_utf8_lossy(&check.stdout).into_owned();
        assert!(
            out.contains("All AOF files and manifest are valid"),
            "{out}"
        );
        for reader in [Flavor::Stock, Flavor::Ferrodis] {
            let s = start_aof(reader, &dir, &preamble_off);
            let mut c = s.client();
            let got = state(&mut c);
            assert!(
                got == want,
                "written by {}, read by {}: {}",
                writer.name(),
                reader.name(),
                diff(&want, &got)
            );
            assert_eq!(
                stream_details(&mut c),
                details,
                "written by {}, read by {}",
                writer.name(),
                reader.name()
            );
            drop(c);
            s.stop();
        }
    }
}
