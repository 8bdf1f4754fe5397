//! Secrets never show in SLOWLOG or MONITOR: the arguments Redis 7 redacts (AUTH, HELLO's
//! AUTH, MIGRATE's AUTH and AUTH2, sensitive CONFIG SET values, ACL SETUSER) read
//! `(redacted)`, and administrative commands (CONFIG, ACL, SLOWLOG...) are not shown to
//! monitors at all. Both transcripts must equal stock Redis's.

use std::time::{Duration, Instant};

use ferrodis_tests::{Flavor, RespClient, Server};

const COMMANDS: &[&[&str]] = &[
    &["AUTH", "foo", "secret1"],
    &["AUTH", "secret2"],
    &["HELLO", "2", "AUTH", "default", "secret3", "SETNAME", "cli"],
    &["CONFIG", "SET", "masterauth", "secret4"],
    &["CONFIG", "SET", "requirepass", "", "maxmemory-samples", "5"],
    &[
        "MIGRATE",
        "127.0.0.1",
        "1",
        "k",
        "0",
        "100",
        "AUTH",
        "secret5",
    ],
    &[
        "MIGRATE",
        "127.0.0.1",
        "1",
        "k",
        "0",
        "100",
        "COPY",
        "AUTH2",
        "user",
        "secret6",
    ],
    &[
        "MIGRATE",
        "127.0.0.1",
        "1",
        "",
        "0",
        "100",
        "KEYS",
        "AUTH",
        "plainkey",
    ],
    &["ACL", "SETUSER", "bob", "on", ">secret7", "~*"],
    &["SET", "k", "v"],
    &["PING"],
];

/// What SLOWLOG GET and a MONITOR client saw of [`COMMANDS`].
fn transcript(flavor: Flavor) -> (Vec<String>, Vec<String>) {
    let s = Server::builder(flavor).start();
    let mut mon = s.client();
    assert_eq!(mon.ok(["MONITOR"]).raw(), b"+OK\r\n");
    let mut c = s.client();
    c.ok(["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    c.ok(["SLOWLOG", "RESET"]);
    for args in COMMANDS {
        c.command(args.iter()).expect("reply");
    }
    let mut monitor = Vec::new();
    let until = Instant::now() + Duration::from_secs(10);
    while monitor.last().map(String::as_str) != Some("\"PING\"") {
        assert!(
            Instant::now() < until,
            "{}: monitor saw {monitor:?}",
            flavor.name()
        );
        let line = mon.read_reply().expect("monitor line");
        let text = line.as_str().unwrap_or_default();
        // `+<time> [<db> <addr>] "arg" ...`: the arguments only.
        let args = text.split_once("] ").map_or(text.as_str(), |(_, a)| a);
        monitor.push(args.to_string());
    }
    let slowlog = entries(&mut c);
    (slowlog, monitor)
}

/// Each SLOWLOG entry's arguments, oldest first, joined by spaces.
fn entries(c: &mut RespClient) -> Vec<String> {
    let log = c.ok(["SLOWLOG", "GET", "100"]);
    let mut v: Vec<String> = log
        .children()
        .iter()
        .map(|e| {
            e.children()[3]
                .children()
                .iter()
                .map(|a| a.as_str().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    v.reverse();
    v
}

#[test]
fn slowlog_and_monitor_hide_secrets_like_stock() {
    let stock = transcript(Flavor::Stock);
    let ours = transcript(Flavor::Ferrodis);
    assert_eq!(stock.0, ours.0, "SLOWLOG: stock (left), ferrodis (right)");
    assert_eq!(stock.1, ours.1, "MONITOR: stock (left), ferrodis (right)");
    let all = format!("{ours:?}");
    assert!(!all.contains("secret"), "{all}");
    assert!(
        all.contains("(redacted)") && all.contains("plainkey"),
        "{all}"
    );
    assert!(!ours
        .1
        .iter()
        .any(|l| l.starts_with("\"config\"") || l.starts_with("\"acl\"")));
}
