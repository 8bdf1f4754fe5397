//! Multi-client scenarios run on stock Redis and ferrodis alike (blocking commands): the
//! helpers `tests/tests/blocking.rs` and `tests/tests/stream_blocking.rs` share.

use std::time::{Duration, Instant};

use crate::resp_client::escape;
use crate::{RespClient, Server};

/// Waits until the server reports `n` blocked clients (deadline 5 s).
pub fn wait_blocked(ctrl: &mut RespClient, n: usize) {
    let want = format!("blocked_clients:{n}\r\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let info = ctrl.ok(["INFO", "clients"]);
        let text = String::from_utf8_lossy(info.as_bytes().unwrap_or_default()).to_string();
        if text.contains(&want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never reached {n} blocked clients: {text}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Reads one reply and returns its exact bytes (escaped, for readable assertions).
pub fn read(c: &mut RespClient) -> String {
    match c.read_reply() {
        Ok(r) => escape(r.raw()),
        Err(e) => format!("<{e}>"),
    }
}

/// Sends a command and returns its reply as [`read`] does.
pub fn cmd(c: &mut RespClient, args: &[&str]) -> String {
    c.send_command(args).expect("send");
    read(c)
}

/// Sends `commands` in one write (so the server reads them as one pipelined batch) and
/// returns their replies as [`read`] does.
pub fn pipelined(c: &mut RespClient, commands: &[&[&str]]) -> Vec<String> {
    let batch: Vec<u8> = commands
        .iter()
        .flat_map(|args| crate::resp_client::encode_command(args.iter()))
        .collect();
    c.send_raw(&batch).expect("send");
    commands.iter().map(|_| read(c)).collect()
}

/// Runs `scenario` on both servers and compares the transcripts.
pub fn both(name: &str, scenario: fn(&Server) -> Vec<String>) -> Vec<String> {
    let stock = Server::stock();
    let ferro = Server::ferrodis();
    let want = scenario(&stock);
    let got = scenario(&ferro);
    assert_eq!(
        want, got,
        "{name}: stock (left) and ferrodis (right) differ"
    );
    got
}
