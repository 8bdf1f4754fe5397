//! Checks of the harness itself, on stock Redis only: the server guard starts, configures and
//! stops its process and cleans up; the differential runner reports mismatches readably.

use std::path::Path;
use std::time::{Duration, Instant};

use ferrodis_tests::diff::{run_pair, Side};
use ferrodis_tests::script::parse_script;
use ferrodis_tests::server::free_port;
use ferrodis_tests::{Flavor, Server};
use nix::sys::signal::kill;
use nix::unistd::Pid;

fn alive(pid: u32) -> bool {
    kill(Pid::from_raw(pid as i32), None).is_ok()
}

#[test]
fn server_guard_starts_and_cleans_up() {
    let server = Server::stock();
    let pid = server.pid().expect("running");
    let dir = server.dir().to_path_buf();
    assert!(alive(pid));
    assert!(dir.is_dir());
    let mut client = server.client();
    assert_eq!(client.ok(["PING"]).raw(), b"+PONG\r\n");
    // It writes into its own directory, never the cwd.
    let reply = client.ok(["CONFIG", "GET", "dir"]);
    let got = reply.children()[1].as_bytes().unwrap().to_vec();
    assert_eq!(
        Path::new(std::str::from_utf8(&got).unwrap()),
        dir.canonicalize().unwrap()
    );
    drop(client);
    drop(server);
    // Reaped by the guard, so the pid is gone (not a zombie).
    assert!(!alive(pid), "server pid {pid} still alive after drop");
    assert!(!dir.exists(), "{} not removed", dir.display());
}

#[test]
fn server_guard_passes_directives() {
    let server = Server::builder(Flavor::Stock)
        .directive("databases", &["4"])
        .directive("requirepass", &["secret"])
        .start();
    let mut client = server.client();
    assert!(client.ok(["AUTH", "secret"]).raw() == b"+OK\r\n");
    let reply = client.command(["SELECT", "4"]).unwrap();
    assert_eq!(reply.raw(), b"-ERR DB index is out of range\r\n");
}

#[test]
fn server_guard_stop_is_prompt() {
    // SIGTERM then wait: a normal server exits well within the stop deadline.
    let server = Server::stock();
    let pid = server.pid().unwrap();
    let started = Instant::now();
    server.stop();
    assert!(!alive(pid));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
#[should_panic(expected = "exited at start")]
fn server_guard_reports_a_server_that_cannot_start() {
    let _server = Server::builder(Flavor::Stock)
        .directive("no-such-directive", &["1"])
        .start();
}

#[test]
fn free_ports_are_not_handed_out_twice() {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..50 {
        assert!(seen.insert(free_port(false)));
    }
    let bus = free_port(true);
    assert!(bus < 55536);
}

#[test]
fn runner_reports_the_first_mismatch() {
    let script = "SET a 1\n# comment\nGET a\nCONFIG GET databases\nPING\n";
    let steps = parse_script(script).unwrap();
    let reference = Side::start(Flavor::Stock);
    let other = Side::new(
        Server::builder(Flavor::Stock)
            .directive("databases", &["4"])
            .start(),
    );
    let report = run_pair(Path::new("inline.redis"), &steps, reference, other).unwrap_err();
    assert!(
        report.starts_with("inline.redis:4: replies differ"),
        "{report}"
    );
    assert!(
        report.contains("step:     CONFIG GET databases"),
        "{report}"
    );
    assert!(
        report.contains(r#"redis:    "*2\r\n$9\r\ndatabases\r\n$2\r\n16\r\n""#),
        "{report}"
    );
    assert!(
        report.contains(r#"ferrodis: "*2\r\n$9\r\ndatabases\r\n$1\r\n4\r\n""#),
        "{report}"
    );
}

#[test]
fn runner_accepts_sorted_and_ignored_differences() {
    let script = "SADD s a b c d e f g h i j k l m n o p\n@sorted SMEMBERS s\n@ignore CLIENT ID\n\
                  @ignore TIME\n@raw*2 \"PING\\r\\nPING\\r\\n\"\n@raw \"*abc\\r\\n\"\n@closed\nPING\n";
    let steps = parse_script(script).unwrap();
    run_pair(
        Path::new("inline.redis"),
        &steps,
        Side::start(Flavor::Stock),
        Side::start(Flavor::Stock),
    )
    .unwrap();
}
