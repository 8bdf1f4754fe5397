//! INFO commandstats: the same commands on both servers count the same calls, refusals and
//! failures per command (times differ and are only checked to be there), including
//! subcommands, commands run by EXEC and by scripts, and CONFIG RESETSTAT. Also MODULE with
//! loading enabled.

use std::collections::BTreeMap;

use ferrodis_tests::{Flavor, RespClient, Server};

/// `cmdstat_<name>` -> `calls=..,rejected_calls=..,failed_calls=..` (usec dropped).
fn commandstats(c: &mut RespClient) -> BTreeMap<String, String> {
    let info = c.ok(["INFO", "commandstats"]).as_str().unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in info.lines() {
        let Some((name, fields)) = line.split_once(':') else {
            continue;
        };
        let kept: Vec<&str> = fields
            .split(',')
            .filter(|f| !f.starts_with("usec"))
            .collect();
        assert!(fields.contains(",usec="), "{line}");
        out.insert(name.to_string(), kept.join(","));
    }
    out
}

fn scenario(flavor: Flavor) -> Vec<BTreeMap<String, String>> {
    let s = Server::builder(flavor).start();
    let mut c = s.client();
    let mut snapshots = Vec::new();
    c.ok(["CONFIG", "RESETSTAT"]);
    let run = |c: &mut RespClient, args: &[&str]| {
        let _ = c.command(args).expect("reply");
    };
    run(&mut c, &["SET", "k", "v"]);
    run(&mut c, &["GET", "k"]);
    run(&mut c, &["GET", "k"]);
    // Refused (arity), failed (wrong type), unknown (not counted per command).
    run(&mut c, &["GET"]);
    run(&mut c, &["LPUSH", "k", "x"]);
    run(&mut c, &["NOSUCHCOMMAND"]);
    run(&mut c, &["CONFIG", "GET", "maxmemory"]);
    run(&mut c, &["CONFIG", "GET"]);
    run(&mut c, &["OBJECT", "ENCODING", "k"]);
    // A transaction: its commands count when EXEC runs them; an error inside fails one.
    run(&mut c, &["MULTI"]);
    run(&mut c, &["INCR", "n"]);
    run(&mut c, &["INCR", "k"]);
    run(&mut c, &["EXEC"]);
    // A transaction refused at EXEC (a queued command had the wrong arity).
    run(&mut c, &["MULTI"]);
    run(&mut c, &["INCR"]);
    run(&mut c, &["EXEC"]);
    // Scripts: the script's commands count too.
    run(
        &mut c,
        &[
            "EVAL",
            "redis.call('INCR', 'n') return redis.call('GET', 'n')",
            "0",
        ],
    );
    run(
        &mut c,
        &["EVAL", "return redis.call('LPUSH', 'k', 'x')", "0"],
    );
    snapshots.push(commandstats(&mut c));
    c.ok(["CONFIG", "RESETSTAT"]);
    run(&mut c, &["PING"]);
    snapshots.push(commandstats(&mut c));
    snapshots
}

#[test]
fn commandstats_count_as_redis_does() {
    let stock = scenario(Flavor::Stock);
    assert_eq!(
        stock[0].get("cmdstat_get").map(String::as_str),
        Some("calls=3,rejected_calls=1,failed_calls=0"),
        "{stock:?}"
    );
    let ferro = scenario(Flavor::Ferrodis);
    for (i, (s, f)) in stock.iter().zip(&ferro).enumerate() {
        assert_eq!(s, f, "snapshot {i}");
    }
}

/// MODULE with `enable-module-command yes`: a load fails (no module can be loaded here; a
/// missing file fails in Redis too) with Redis's reply and a log line naming the module, and
/// counts as a failed call.
fn module_scenario(flavor: Flavor) -> Vec<String> {
    let s = Server::builder(flavor)
        .directive("enable-module-command", &["yes"])
        .start();
    let mut c = s.client();
    let mut out = Vec::new();
    for args in [
        &["MODULE", "LOAD", "/nonexistent/mod.so"][..],
        &["MODULE", "LOADEX", "/nonexistent/mod.so"],
        &["MODULE", "UNLOAD", "mod"],
        &["MODULE", "LIST"],
    ] {
        let r = c.command(args).expect("reply");
        out.push(String::from_utf8_lossy(r.raw()).into_owned());
    }
    let stats = commandstats(&mut c);
    out.push(format!("{:?}", stats.get("cmdstat_module|load")));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !s
        .log()
        .contains("Module /nonexistent/mod.so failed to load")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{}: no log line",
            flavor.name()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    out
}

#[test]
fn module_loads_fail_as_in_redis() {
    let stock = module_scenario(Flavor::Stock);
    assert_eq!(
        stock[0],
        "-ERR Error loading the extension. Please check the server logs.\r\n"
    );
    assert_eq!(stock, module_scenario(Flavor::Ferrodis));
}

/// The latency monitor: a command over `latency-monitor-threshold` is a `command` event in
/// LATENCY LATEST and HISTORY (one sample per second, the worst), GRAPH draws it, RESET
/// forgets it.
fn latency_scenario(flavor: Flavor) -> Vec<String> {
    let s = Server::builder(flavor).start();
    let mut c = s.client();
    c.set_timeout(std::time::Duration::from_secs(30));
    c.ok(["CONFIG", "SET", "latency-monitor-threshold", "20"]);
    // A script of some tens of milliseconds in C Lua, longer here.
    c.ok([
        "EVAL",
        "local i = 0 while i < 5000000 do i = i + 1 end return 1",
        "0",
    ]);
    c.ok(["GET", "fast"]);
    let mut out = Vec::new();
    let latest = c.ok(["LATENCY", "LATEST"]);
    for e in latest.children() {
        let f = e.children();
        let name = f[0].as_str().unwrap_or_default();
        let (last, max) = (f[2].as_int().unwrap_or(0), f[3].as_int().unwrap_or(0));
        assert!(
            (20..20_000).contains(&last) && last <= max,
            "{}: {e}",
            flavor.name()
        );
        out.push(format!("event {name}"));
    }
    let history = c.ok(["LATENCY", "HISTORY", "command"]);
    out.push(format!("history {}", history.children().len()));
    let graph = c.command(["LATENCY", "GRAPH", "command"]).expect("reply");
    out.push(format!("graph drawn: {}", !graph.is_error()));
    out.push(format!("reset {:?}", c.ok(["LATENCY", "RESET"]).as_int()));
    out.push(format!(
        "after {}",
        c.ok(["LATENCY", "LATEST"]).children().len()
    ));
    out
}

#[test]
fn latency_monitor_records_slow_commands() {
    let stock = latency_scenario(Flavor::Stock);
    assert_eq!(
        stock,
        [
            "event command",
            "history 1",
            "graph drawn: true",
            "reset Some(1)",
            "after 0"
        ]
    );
    assert_eq!(stock, latency_scenario(Flavor::Ferrodis));
}

/// INFO latencystats and LATENCY HISTOGRAM as shapes (latencies themselves differ between
/// servers and runs): which commands are there, their calls, that each percentile reads as
/// `<digits>.<3 digits>` and the buckets as growing powers of two with growing counts that
/// end at the calls.
fn histogram_scenario(flavor: Flavor) -> Vec<String> {
    let s = Server::builder(flavor).start();
    let mut c = s.client();
    let mut out = Vec::new();
    c.ok(["CONFIG", "RESETSTAT"]);
    for i in 0..100 {
        c.ok(["SET", &format!("k{i}"), "v"]);
    }
    for i in 0..50 {
        c.ok(["GET", &format!("k{i}")]);
    }
    c.ok([
        "CONFIG",
        "SET",
        "latency-tracking-info-percentiles",
        "50 99.9 100 0",
    ]);
    let info = c.ok(["INFO", "latencystats"]).as_str().unwrap_or_default();
    let mut lines: Vec<String> = info
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once(':') {
            Some((name, values)) => {
                let shape: Vec<String> = values
                    .split(',')
                    .map(|v| {
                        let (p, n) = v.split_once('=').expect("p=value");
                        let (int, frac) = n.split_once('.').expect("a decimal");
                        let ok = !int.is_empty()
                            && int.bytes().all(|b| b.is_ascii_digit())
                            && frac.len() == 3
                            && frac.bytes().all(|b| b.is_ascii_digit());
                        format!("{p}={}", if ok { "N.NNN" } else { n })
                    })
                    .collect();
                format!("{name}:{}", shape.join(","))
            }
            None => l.to_string(),
        })
        .collect();
    lines.sort();
    out.extend(lines);
    let histogram = |c: &mut RespClient, args: &[&str]| -> Vec<String> {
        let r = c.command(args).expect("reply");
        r.children()
            .chunks(2)
            .map(|pair| {
                let name = pair[0].as_str().unwrap_or_default();
                let fields = pair[1].children();
                assert_eq!(fields[0].as_str().as_deref(), Some("calls"), "{r}");
                assert_eq!(fields[2].as_str().as_deref(), Some("histogram_usec"), "{r}");
                let calls = fields[1].as_int().expect("calls");
                let rows: Vec<i64> = fields[3]
                    .children()
                    .iter()
                    .map(|x| x.as_int().expect("int"))
                    .collect();
                let (usecs, counts): (Vec<i64>, Vec<i64>) =
                    rows.chunks(2).map(|p| (p[0], p[1])).unzip();
                let buckets_ok = usecs.windows(2).all(|w| w[0] < w[1])
                    && usecs.iter().all(|&u| {
                        [1, 2, 4, 8, 16, 33, 66, 132, 264, 528, 1056].contains(&u) || u > 1056
                    })
                    && counts.windows(2).all(|w| w[0] < w[1])
                    && counts.last() == Some(&calls);
                format!("{name} calls={calls} buckets_ok={buckets_ok}")
            })
            .collect()
    };
    out.extend(histogram(
        &mut c,
        &["LATENCY", "HISTOGRAM", "set", "NOSUCH", "GET", "set"],
    ));
    // A container names its subcommands (in Redis's hash order there: sorted here).
    let mut config = histogram(&mut c, &["LATENCY", "HISTOGRAM", "config"]);
    config.sort();
    out.extend(config);
    c.ok(["CONFIG", "RESETSTAT"]);
    let mut all = histogram(&mut c, &["LATENCY", "HISTOGRAM"]);
    all.sort();
    out.extend(all);
    // Turned off: the CONFIG SET that does it is not recorded, nothing after either.
    c.ok(["CONFIG", "SET", "latency-tracking", "no"]);
    c.ok(["GET", "k1"]);
    out.push(c.ok(["INFO", "latencystats"]).as_str().unwrap_or_default());
    let mut all = histogram(&mut c, &["LATENCY", "HISTOGRAM"]);
    all.sort();
    out.extend(all);
    out
}

#[test]
fn latency_histograms_read_as_in_redis() {
    let stock = histogram_scenario(Flavor::Stock);
    assert!(
        stock.iter().any(|l| l == "set calls=100 buckets_ok=true"),
        "{stock:#?}"
    );
    assert_eq!(histogram_scenario(Flavor::Ferrodis), stock);
}
