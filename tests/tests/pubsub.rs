//! Slow subscribers and `client-output-buffer-limit pubsub`: a subscriber that never reads
//! while a publisher floods its channel is disconnected, the server's memory stays bounded, and
//! other clients (a reading subscriber, the publisher) carry on. Runs on stock Redis too, so
//! the scenario itself is checked against the reference.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrodis_tests::{Flavor, Server};

const MB: u64 = 1 << 20;

/// Resident set size of a process, from /proc.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn numsub(s: &Server, channel: &str) -> i64 {
    let r = s.client().ok(["PUBSUB", "NUMSUB", channel]);
    r.children().get(1).and_then(|c| c.as_int()).unwrap_or(-1)
}

/// Floods `channel` with `payload`-sized messages in pipelined batches until PUBLISH reaches
/// `until_receivers` or fewer subscribers; returns the bytes published. Panics at the deadline.
fn flood(s: &Server, channel: &str, payload: usize, until_receivers: i64, limit: u64) -> u64 {
    let mut publisher = s.client();
    publisher.set_timeout(Duration::from_secs(10));
    let msg = "x".repeat(payload);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut sent = 0u64;
    loop {
        // Small batches: a pipeline bigger than the limit would overflow even a reading
        // subscriber (the whole batch is queued before anything is written).
        let batch = 8;
        for _ in 0..batch {
            publisher
                .send_command(["PUBLISH", channel, msg.as_str()])
                .expect("send PUBLISH");
        }
        let mut last = i64::MAX;
        for _ in 0..batch {
            let r = publisher.read_reply().expect("PUBLISH reply");
            last = r.as_int().expect("PUBLISH answers an integer");
        }
        sent += (batch * payload) as u64;
        if last <= until_receivers {
            return sent;
        }
        assert!(
            Instant::now() < deadline && sent < limit,
            "{}: subscriber still connected after {} MB published",
            s.flavor().name(),
            sent / MB
        );
    }
}

/// One run of the scenario; returns what must be equal on both servers.
fn hard_limit_scenario(flavor: Flavor) -> Vec<String> {
    let s = Server::builder(flavor)
        .directive("client-output-buffer-limit", &["pubsub", "1mb", "0", "0"])
        .start();
    let pid = s.pid().expect("server pid");

    // A subscriber that reads everything, on its own thread.
    let mut reader = s.client();
    reader.ok(["SUBSCRIBE", "flood"]);
    let stop = Arc::new(AtomicBool::new(false));
    let got = Arc::new(AtomicU64::new(0));
    let mut stream = reader.stream().try_clone().expect("clone stream");
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let (stop2, got2) = (stop.clone(), got.clone());
    let drain = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while !stop2.load(Ordering::Relaxed) {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    got2.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(_) => continue,
            }
        }
    });

    // A subscriber that never reads again.
    let mut slow = s.client();
    slow.ok(["SUBSCRIBE", "flood"]);
    assert_eq!(numsub(&s, "flood"), 2);
    let rss_before = rss_bytes(pid);

    // 16 KB messages until only the reading subscriber is left; never more than 512 MB.
    let sent = flood(&s, "flood", 16 * 1024, 1, 512 * MB);
    let rss_after = rss_bytes(pid);
    assert!(sent > MB, "published only {sent} bytes");
    // The slow subscriber was dropped: it sees the connection closed after its buffered data.
    slow.set_timeout(Duration::from_secs(1));
    let mut closed = false;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buf = vec![0u8; 1 << 16];
    while Instant::now() < deadline {
        match slow.stream().read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(_) => {}
            // A reset is the server closing too (it may drop queued output on the way).
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                closed = true;
                break;
            }
            // Nothing for a second. The kernel may have dropped the server's closed socket
            // while it still held unsent data (TCP memory pressure on a loaded machine), and
            // then nothing comes until this side sends: a PING finds out. An open connection
            // answers it (a subscriber may PING), so this cannot pass for a leaked one.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if slow.stream().write_all(b"PING\r\n").is_err() {
                    closed = true;
                    break;
                }
            }
            Err(e) => panic!("{}: reading the slow subscriber: {e}", flavor.name()),
        }
    }
    assert!(
        closed,
        "{}: slow subscriber not closed; CLIENT LIST:\n{}",
        flavor.name(),
        String::from_utf8_lossy(s.client().ok(["CLIENT", "LIST"]).raw())
    );
    assert_eq!(numsub(&s, "flood"), 1);
    // Memory stayed bounded: far less than what was published.
    let growth = rss_after.saturating_sub(rss_before);
    eprintln!(
        "{}: slow subscriber dropped after {} KB published; RSS {} KB -> {} KB",
        flavor.name(),
        sent / 1024,
        rss_before / 1024,
        rss_after / 1024
    );
    assert!(
        growth < 64 * MB,
        "{}: RSS grew by {} MB while {} MB were published",
        flavor.name(),
        growth / MB,
        sent / MB
    );

    // The reading subscriber got every message it was sent and is still served.
    let mut other = s.client();
    assert_eq!(other.ok(["PUBLISH", "flood", "last"]).as_int(), Some(1));
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.load(Ordering::Relaxed) < sent && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        got.load(Ordering::Relaxed) >= sent,
        "{}: reading subscriber got {} of {} bytes",
        flavor.name(),
        got.load(Ordering::Relaxed),
        sent
    );
    stop.store(true, Ordering::Relaxed);
    let _ = drain.join();
    let ping = other.ok(["PING"]);
    vec![
        String::from_utf8_lossy(ping.raw()).into_owned(),
        format!("numsub={}", numsub(&s, "flood")),
    ]
}

#[test]
fn slow_subscriber_is_dropped_at_the_hard_limit() {
    let stock = hard_limit_scenario(Flavor::Stock);
    let ferro = hard_limit_scenario(Flavor::Ferrodis);
    assert_eq!(stock, ferro);
}

/// One message bigger than the hard limit closes even a subscriber that reads everything (its
/// buffer holds the whole message before any of it is written), while a reading subscriber fed
/// many messages under the limit stays: the limit judges clients, not the server's own pace.
fn one_big_message_scenario(flavor: Flavor) -> Vec<String> {
    let s = Server::builder(flavor)
        .directive("client-output-buffer-limit", &["pubsub", "1mb", "0", "0"])
        .start();
    let mut sub = s.client();
    sub.set_timeout(Duration::from_secs(10));
    sub.ok(["SUBSCRIBE", "big"]);
    let mut publisher = s.client();
    let mut out = Vec::new();
    let small = "s".repeat(64 * 1024);
    for _ in 0..64 {
        let n = publisher.ok(["PUBLISH", "big", small.as_str()]);
        let m = sub.read_reply().expect("message under the limit");
        assert_eq!(m.children().len(), 3, "{}: {m:?}", flavor.name());
        assert_eq!(n.as_int(), Some(1), "{}", flavor.name());
    }
    out.push(format!(
        "after 4 MB in small messages: numsub={}",
        numsub(&s, "big")
    ));
    let big = "b".repeat(2 * MB as usize);
    let n = publisher.ok(["PUBLISH", "big", big.as_str()]);
    out.push(format!("big PUBLISH: {:?}", n.as_int()));
    out.push(format!("after the big one: numsub={}", numsub(&s, "big")));
    out
}

#[test]
fn one_message_over_the_hard_limit_closes_a_reading_subscriber() {
    let stock = one_big_message_scenario(Flavor::Stock);
    assert_eq!(
        stock,
        [
            "after 4 MB in small messages: numsub=1",
            "big PUBLISH: Some(1)",
            "after the big one: numsub=0"
        ]
    );
    assert_eq!(stock, one_big_message_scenario(Flavor::Ferrodis));
}

/// Soft limit: over 256 KB for more than one second closes the subscriber, while a burst
/// that stays under it does not.
fn soft_limit_scenario(flavor: Flavor) -> bool {
    let s = Server::builder(flavor)
        .directive("client-output-buffer-limit", &["pubsub", "0", "256kb", "1"])
        .start();
    let mut slow = s.client();
    slow.ok(["SUBSCRIBE", "soft"]);
    let started = Instant::now();
    flood(&s, "soft", 16 * 1024, 0, 2048 * MB);
    // Not before the soft seconds have passed.
    started.elapsed() >= Duration::from_secs(1) && numsub(&s, "soft") == 0
}

#[test]
fn slow_subscriber_is_dropped_after_the_soft_limit_time() {
    assert!(soft_limit_scenario(Flavor::Stock));
    assert!(soft_limit_scenario(Flavor::Ferrodis));
}

/// CLIENT LIST shows a subscriber's counts and the `P` flag, and TYPE pubsub selects it.
fn client_list_scenario(flavor: Flavor) -> Vec<String> {
    let s = Server::builder(flavor).start();
    let mut sub = s.client();
    sub.ok(["CLIENT", "SETNAME", "listener"]);
    sub.send_command(["SUBSCRIBE", "a", "b"]).expect("send");
    sub.read_reply().expect("subscribe a");
    sub.read_reply().expect("subscribe b");
    sub.send_command(["PSUBSCRIBE", "p*"]).expect("send");
    sub.read_reply().expect("psubscribe");
    sub.send_command(["SSUBSCRIBE", "s"]).expect("send");
    sub.read_reply().expect("ssubscribe");
    let mut ctl = s.client();
    let field = |line: &str, name: &str| {
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")).map(str::to_owned))
            .unwrap_or_default()
    };
    let list = |ctl: &mut ferrodis_tests::RespClient, args: &[&str]| {
        let r = ctl.ok(args.iter().copied());
        String::from_utf8_lossy(r.as_bytes().unwrap_or_default()).into_owned()
    };
    let mut out = Vec::new();
    let pubsub = list(&mut ctl, &["CLIENT", "LIST", "TYPE", "pubsub"]);
    for line in pubsub.lines() {
        out.push(
            ["name", "flags", "sub", "psub", "ssub", "cmd"]
                .iter()
                .map(|f| format!("{f}={}", field(line, f)))
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    let normal = list(&mut ctl, &["CLIENT", "LIST", "TYPE", "normal"]);
    out.push(format!("normal clients: {}", normal.lines().count()));
    let killed = ctl.ok(["CLIENT", "KILL", "TYPE", "pubsub"]);
    out.push(format!("killed: {:?}", killed.as_int()));
    out
}

#[test]
fn client_list_shows_subscriptions() {
    let stock = client_list_scenario(Flavor::Stock);
    let ferro = client_list_scenario(Flavor::Ferrodis);
    assert_eq!(
        stock[0],
        "name=listener flags=P sub=2 psub=1 ssub=1 cmd=ssubscribe"
    );
    assert_eq!(stock, ferro);
}

/// `timeout` closes idle clients but never subscribers: a subscriber that only listens is
/// not idle. Also, CLIENT KILL of a subscriber removes it from its channels at once.
fn idle_scenario(flavor: Flavor) -> Vec<String> {
    let s = Server::builder(flavor).directive("timeout", &["1"]).start();
    let mut sub = s.client();
    sub.ok(["CLIENT", "SETNAME", "sub"]);
    sub.ok(["SUBSCRIBE", "idle"]);
    let mut idle = s.client();
    idle.ok(["CLIENT", "SETNAME", "idle"]);
    let mut out = Vec::new();
    // The cron checks idle clients about ten times a second; 1 s idle means closed within 3 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    let names = |s: &Server| {
        let list = s.client().ok(["CLIENT", "LIST"]);
        let mut names: Vec<String> = String::from_utf8_lossy(list.as_bytes().unwrap_or_default())
            .lines()
            .filter_map(|l| l.split(' ').find_map(|kv| kv.strip_prefix("name=")))
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect();
        names.sort();
        names
    };
    while names(&s).contains(&"idle".to_owned()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    out.push(format!("after the timeout: {:?}", names(&s)));
    let mut p = s.client();
    out.push(format!("{:?}", p.ok(["PUBLISH", "idle", "m"]).as_int()));
    let kill = p.ok(["CLIENT", "KILL", "TYPE", "pubsub"]);
    out.push(format!("killed {:?}", kill.as_int()));
    out.push(format!("numsub={}", numsub(&s, "idle")));
    out.push(format!("{:?}", p.ok(["PUBLISH", "idle", "m"]).as_int()));
    out
}

#[test]
fn idle_timeout_spares_subscribers() {
    let stock = idle_scenario(Flavor::Stock);
    assert_eq!(stock[0], "after the timeout: [\"sub\"]");
    assert_eq!(stock, idle_scenario(Flavor::Ferrodis));
}

/// Eviction publishes `evicted` (class `e`) for the keys it removes.
fn evicted_scenario(flavor: Flavor) -> String {
    let s = Server::builder(flavor).start();
    let mut sub = s.client();
    sub.set_timeout(Duration::from_secs(10));
    sub.send_command(["SUBSCRIBE", "__keyevent@0__:evicted"])
        .expect("send");
    sub.read_reply().expect("subscribe");
    let mut c = s.client();
    c.ok(["CONFIG", "SET", "notify-keyspace-events", "Ee"]);
    let info = c.ok(["INFO", "memory"]);
    let text = String::from_utf8_lossy(info.as_bytes().unwrap_or_default()).into_owned();
    let used: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory");
    c.ok(["CONFIG", "SET", "maxmemory-policy", "allkeys-random"]);
    c.ok([
        "CONFIG",
        "SET",
        "maxmemory",
        &(used + 512 * 1024).to_string(),
    ]);
    let value = "v".repeat(1024);
    let mut evicted = None;
    for i in 0..20_000 {
        let key = format!("key:{i}");
        c.ok(["SET", key.as_str(), value.as_str()]);
        let info = c.ok(["INFO", "stats"]);
        let text = String::from_utf8_lossy(info.as_bytes().unwrap_or_default()).into_owned();
        if !text.contains("evicted_keys:0\r\n") {
            evicted = Some(i);
            break;
        }
    }
    assert!(evicted.is_some(), "{}: nothing evicted", flavor.name());
    let msg = sub.read_reply().expect("evicted message");
    let parts: Vec<String> = msg
        .children()
        .iter()
        .map(|p| String::from_utf8_lossy(p.as_bytes().unwrap_or_default()).into_owned())
        .collect();
    assert!(parts[2].starts_with("key:"), "{parts:?}");
    format!("{} {}", parts[0], parts[1])
}

#[test]
fn eviction_notifies_evicted() {
    assert_eq!(
        evicted_scenario(Flavor::Stock),
        "message __keyevent@0__:evicted"
    );
    assert_eq!(
        evicted_scenario(Flavor::Ferrodis),
        "message __keyevent@0__:evicted"
    );
}
