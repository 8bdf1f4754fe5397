//! `daemonize yes`: the command returns at once, the daemon writes its pidfile, serves clients,
//! and on SIGTERM exits and removes the pidfile, for stock Redis and ferrodis alike.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ferrodis_tests::server::free_port;
use ferrodis_tests::{Flavor, RespClient};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

fn wait_for(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn check(flavor: Flavor) {
    let tmp = ferrodis_tests::server::TempDir::new(&format!("daemonize-{}", flavor.name()));
    let dir = tmp.path();
    let port = free_port(false);
    let pidfile = dir.join("server.pid");
    let status = Command::new(flavor.binary())
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--daemonize", "yes", "--dir"])
        .arg(dir)
        .arg("--pidfile")
        .arg(&pidfile)
        .arg("--logfile")
        .arg(dir.join("log"))
        .status()
        .expect("start server");
    assert!(
        status.success(),
        "{}: launcher exited with {status}",
        flavor.name()
    );
    wait_for("pidfile", Duration::from_secs(10), || {
        std::fs::read_to_string(&pidfile).is_ok_and(|s| s.trim().parse::<i32>().is_ok())
    });
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let guard = KillOnDrop(pid);
    let mut client = None;
    wait_for("PING", Duration::from_secs(10), || {
        client = RespClient::connect(([127, 0, 0, 1], port).into()).ok();
        client.is_some()
    });
    let reply = client.unwrap().ok(["PING"]);
    assert_eq!(reply.raw(), b"+PONG\r\n", "{}", flavor.name());
    kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
    wait_for("exit", Duration::from_secs(10), || {
        kill(Pid::from_raw(pid), None).is_err()
    });
    std::mem::forget(guard);
    assert!(
        !Path::new(&pidfile).exists(),
        "{}: pidfile left behind",
        flavor.name()
    );
}

/// Kills the daemon if the test fails half-way (it is not our child, so no Server guard).
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0), Signal::SIGKILL);
    }
}

#[test]
fn stock_daemonizes() {
    check(Flavor::Stock);
}

#[test]
fn ferrodis_daemonizes() {
    check(Flavor::Ferrodis);
}
