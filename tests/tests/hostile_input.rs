//! Robustness against hostile clients, on ferrodis only.
//!
//! While one well-behaved client runs SET/GET and checks every reply, other connections send
//! truncated frames, oversized lengths, a 100 MB line without a newline and seeded random
//! garbage, then vanish (orderly close or TCP reset). Afterwards the server must still answer
//! PING and the good client must have seen only correct replies. Every loop is bounded by a
//! count and by a deadline; the seed is printed on failure (`HOSTILE_SEED` overrides it).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ferrodis_tests::resp_client::{abort_stream, escape, ClientError};
use ferrodis_tests::{RespClient, Server};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Everything must be over by then.
const DEADLINE: Duration = Duration::from_secs(60);
/// Upper bound on good-client rounds (one SET + one GET each).
const GOOD_MAX_ROUNDS: usize = 200_000;
/// The good client runs at least this many rounds, overlapping the attacks.
const GOOD_MIN_ROUNDS: usize = 500;
/// Size of the line without a newline.
const JUNK_BYTES: usize = 100 * 1024 * 1024;
/// Connections sending random garbage.
const GARBAGE_CONNECTIONS: usize = 300;
const DEFAULT_SEED: u64 = 0x00F3_55ED_0BAD_F00D;

fn seed() -> u64 {
    std::env::var("HOSTILE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

fn connect(addr: SocketAddr) -> Option<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    Some(stream)
}

/// Closes a connection, alternating between an orderly FIN and an abrupt RST.
fn vanish(stream: TcpStream, abrupt: bool) {
    if abrupt {
        abort_stream(stream);
    } else {
        let _ = stream.shutdown(Shutdown::Both);
    }
}

struct GoodReport {
    rounds: usize,
    errors: Vec<String>,
}

/// SET/GET on its own keys, checking every reply, until `stop` (after at least
/// GOOD_MIN_ROUNDS) or the deadline.
fn good_client(addr: SocketAddr, stop: Arc<AtomicBool>, deadline: Instant) -> GoodReport {
    let mut errors = Vec::new();
    let mut client = match RespClient::connect(addr) {
        Ok(c) => c,
        Err(e) => {
            return GoodReport {
                rounds: 0,
                errors: vec![format!("connect: {e}")],
            }
        }
    };
    client.set_timeout(Duration::from_secs(10));
    let mut rounds = 0;
    while rounds < GOOD_MAX_ROUNDS && Instant::now() < deadline {
        if rounds >= GOOD_MIN_ROUNDS && stop.load(Ordering::Relaxed) {
            break;
        }
        let key = format!("good:{}", rounds % 64);
        let value = format!("value-{rounds}-{}", "x".repeat(rounds % 100));
        let expected_get = format!("${}\r\n{value}\r\n", value.len());
        let checks: [(Vec<&str>, &[u8]); 2] = [
            (vec!["SET", &key, &value], b"+OK\r\n"),
            (vec!["GET", &key], expected_get.as_bytes()),
        ];
        for (args, expected) in checks {
            match client.command(&args) {
                Ok(reply) if reply.raw() == expected => {}
                Ok(reply) => errors.push(format!(
                    "round {rounds}: {} -> {reply}, expected \"{}\"",
                    args.join(" "),
                    escape(expected)
                )),
                Err(e) => {
                    errors.push(format!("round {rounds}: {} -> {e}", args.join(" ")));
                    return GoodReport { rounds, errors };
                }
            }
        }
        if errors.len() >= 10 {
            break;
        }
        rounds += 1;
    }
    GoodReport { rounds, errors }
}

/// Every strict prefix of valid frames, then a vanishing client; and every split of the same
/// frames across two writes, which must still be answered correctly.
fn truncated_frames(addr: SocketAddr, deadline: Instant) -> Vec<String> {
    let frames: [(&[u8], &[u8]); 4] = [
        (
            b"*3\r\n$3\r\nSET\r\n$5\r\nhello\r\n$5\r\nworld\r\n",
            b"+OK\r\n",
        ),
        (
            b"*2\r\n$4\r\nECHO\r\n$20\r\n01234567890123456789\r\n",
            b"$20\r\n01234567890123456789\r\n",
        ),
        (b"SET inline value\r\n", b"+OK\r\n"),
        (b"*1\r\n$4\r\nPING\r\n", b"+PONG\r\n"),
    ];
    let mut findings = Vec::new();
    for (frame, reply) in frames {
        for cut in 1..frame.len() {
            if Instant::now() >= deadline {
                return findings;
            }
            // Prefix only, then gone.
            if let Some(mut stream) = connect(addr) {
                let _ = stream.write_all(&frame[..cut]);
                vanish(stream, cut % 2 == 0);
            }
            // Prefix, then the rest in a second write: one correct reply.
            let Ok(mut client) = RespClient::connect(addr) else {
                findings.push("split frame: cannot connect".into());
                continue;
            };
            let sent = client
                .send_raw(&frame[..cut])
                .and_then(|()| client.send_raw(&frame[cut..]));
            if let Err(e) = sent {
                findings.push(format!("split frame at {cut}: write failed: {e}"));
                continue;
            }
            match client.read_reply() {
                Ok(got) if got.raw() == reply => {}
                Ok(got) => findings.push(format!(
                    "\"{}\" split at byte {cut}: got {got}, expected \"{}\"",
                    escape(frame),
                    escape(reply)
                )),
                Err(e) => findings.push(format!("\"{}\" split at byte {cut}: {e}", escape(frame))),
            }
        }
    }
    findings
}

/// Lengths a server must refuse at once: an error reply, then the connection closed.
fn oversized_lengths(addr: SocketAddr) -> Vec<String> {
    let mut findings = Vec::new();
    let refused: [&[u8]; 5] = [
        b"*1\r\n$2147483648\r\n",
        b"*1\r\n$536870913\r\n",
        b"*1\r\n$-5\r\n",
        b"*2147483648\r\n",
        b"*1\r\n$99999999999999999999999\r\n",
    ];
    for bytes in refused {
        let Ok(mut client) = RespClient::connect(addr) else {
            findings.push("oversized: cannot connect".into());
            continue;
        };
        if let Err(e) = client.send_raw(bytes) {
            findings.push(format!("\"{}\": write failed: {e}", escape(bytes)));
            continue;
        }
        match client.read_reply() {
            Ok(reply) if reply.raw().starts_with(b"-ERR Protocol error") => {
                if let Err(other) = client.expect_closed(Duration::from_secs(5)) {
                    findings.push(format!(
                        "\"{}\": not closed after the protocol error: {}",
                        escape(bytes),
                        other
                            .map(|r| r.to_string())
                            .unwrap_or_else(|e| e.to_string())
                    ));
                }
            }
            Ok(reply) => findings.push(format!(
                "\"{}\": expected -ERR Protocol error..., got {reply}",
                escape(bytes)
            )),
            Err(ClientError::Closed { .. }) => findings.push(format!(
                "\"{}\": closed without the protocol error reply",
                escape(bytes)
            )),
            Err(e) => findings.push(format!("\"{}\": {e}", escape(bytes))),
        }
    }
    // Huge but valid-looking headers, then gone: the server must not trust them to allocate.
    let headers: [&[u8]; 3] = [
        b"*1048576\r\n",
        b"*2\r\n$4\r\nECHO\r\n$536870912\r\n",
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$400000000\r\nabc",
    ];
    for (i, bytes) in headers.into_iter().enumerate() {
        if let Some(mut stream) = connect(addr) {
            let _ = stream.write_all(bytes);
            thread::sleep(Duration::from_millis(20));
            vanish(stream, i % 2 == 0);
        }
    }
    findings
}

/// Writes `total` bytes of `fill` without a newline; the server must reject or close the
/// connection rather than buffer forever.
fn endless_line(addr: SocketAddr, first: u8, total: usize, deadline: Instant) -> Vec<String> {
    let what = format!("{} MB line starting with {:?}", total >> 20, first as char);
    let Some(mut stream) = connect(addr) else {
        return vec![format!("{what}: cannot connect")];
    };
    let mut chunk = vec![b'A'; 64 * 1024];
    chunk[0] = first;
    let mut sent = 0;
    let mut write_error = None;
    while sent < total && Instant::now() < deadline {
        let n = chunk.len().min(total - sent);
        if let Err(e) = stream.write_all(&chunk[..n]) {
            write_error = Some(e);
            break;
        }
        // Only the first byte is special.
        chunk[0] = b'A';
        sent += n;
    }
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break false
            }
            Err(_) => break true,
        }
    };
    abort_stream(stream);
    let rejected = reply.starts_with(b"-ERR Protocol error");
    if closed || rejected {
        return Vec::new();
    }
    vec![format!(
        "{what}: sent {sent} bytes ({}), then the server neither replied a protocol error nor \
         closed (stock Redis closes after 64 KB: \"-ERR Protocol error: too big inline \
         request\"); got \"{}\"",
        write_error.map_or("no write error".to_string(), |e| e.to_string()),
        escape(&reply)
    )]
}

/// Seeded random garbage on many connections, each closed abruptly or not.
fn garbage(addr: SocketAddr, seed: u64, deadline: Instant) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut findings = Vec::new();
    for i in 0..GARBAGE_CONNECTIONS {
        if Instant::now() >= deadline {
            break;
        }
        let len = rng.gen_range(1..8192);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        match i % 4 {
            // Pure noise.
            0 => {}
            // Noise that looks like RESP: type bytes and CRLFs sprinkled in.
            1 => {
                for _ in 0..len / 16 {
                    let at = rng.gen_range(0..bytes.len());
                    let pick: &[u8] = match rng.gen_range(0..6) {
                        0 => b"\r\n",
                        1 => b"*",
                        2 => b"$",
                        3 => b"\r\n$",
                        4 => b"\"",
                        _ => b"'",
                    };
                    let end = (at + pick.len()).min(bytes.len());
                    bytes[at..end].copy_from_slice(&pick[..end - at]);
                }
            }
            // A plausible multibulk header followed by noise.
            2 => {
                let header = format!(
                    "*{}\r\n${}\r\n",
                    rng.gen_range(1..64),
                    rng.gen_range(0..100_000)
                );
                bytes.splice(0..0, header.bytes());
            }
            // Inline-looking text lines of random tokens.
            _ => {
                for b in bytes.iter_mut() {
                    *b = match *b % 40 {
                        0 => b'\n',
                        1 => b' ',
                        n => b'a' + (n % 26),
                    };
                }
            }
        }
        let Some(mut stream) = connect(addr) else {
            findings.push(format!("garbage #{i}: cannot connect (seed {seed})"));
            continue;
        };
        let _ = stream.write_all(&bytes);
        if i % 3 == 0 {
            // Read a little of whatever came back before leaving.
            let _ = stream.set_read_timeout(Some(Duration::from_millis(5)));
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
        }
        vanish(stream, i % 2 == 1);
    }
    findings
}

/// Connections that open and close without a byte.
fn silent_connections(addr: SocketAddr) -> Vec<String> {
    for i in 0..200 {
        if let Some(stream) = connect(addr) {
            vanish(stream, i % 2 == 0);
        }
    }
    Vec::new()
}

#[test]
fn server_survives_hostile_clients() {
    let seed = seed();
    let mut server = Server::ferrodis();
    let addr = server.addr();
    let deadline = Instant::now() + DEADLINE;
    let stop = Arc::new(AtomicBool::new(false));

    let good = {
        let stop = stop.clone();
        thread::spawn(move || good_client(addr, stop, deadline))
    };
    type Attack = Box<dyn FnOnce() -> Vec<String> + Send>;
    let attacks: Vec<(&str, Attack)> = vec![
        (
            "truncated frames",
            Box::new(move || truncated_frames(addr, deadline)),
        ),
        (
            "oversized lengths",
            Box::new(move || oversized_lengths(addr)),
        ),
        (
            "100 MB inline line",
            Box::new(move || endless_line(addr, b'A', JUNK_BYTES, deadline)),
        ),
        (
            "endless multibulk count",
            Box::new(move || endless_line(addr, b'*', 1 << 20, deadline)),
        ),
        (
            "random garbage",
            Box::new(move || garbage(addr, seed, deadline)),
        ),
        (
            "silent connections",
            Box::new(move || silent_connections(addr)),
        ),
    ];
    let handles: Vec<_> = attacks
        .into_iter()
        .map(|(name, attack)| (name, thread::spawn(attack)))
        .collect();

    let mut failures = Vec::new();
    for (name, handle) in handles {
        match handle.join() {
            Ok(findings) => {
                failures.extend(findings.into_iter().map(|f| format!("[{name}] {f}")));
            }
            Err(_) => failures.push(format!("[{name}] attack thread panicked")),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let report = good.join().expect("good client thread panicked");
    failures.extend(report.errors.iter().map(|e| format!("[good client] {e}")));
    if report.rounds < GOOD_MIN_ROUNDS && report.errors.is_empty() {
        failures.push(format!(
            "[good client] only {} rounds before the deadline",
            report.rounds
        ));
    }

    if !server.is_running() {
        panic!(
            "ferrodis-server died under hostile input (seed {seed}); log:\n{}",
            server.log_tail(40)
        );
    }
    let mut probe = server.client();
    match probe.command(["PING"]) {
        Ok(reply) if reply.raw() == b"+PONG\r\n" => {}
        other => failures.push(format!(
            "[after] PING -> {}",
            other
                .map(|r| r.to_string())
                .unwrap_or_else(|e| e.to_string())
        )),
    }
    match probe.command(["GET", "good:0"]) {
        Ok(reply) if reply.kind() == ferrodis_tests::resp_client::Kind::Bulk => {}
        other => failures.push(format!(
            "[after] GET good:0 -> {}",
            other
                .map(|r| r.to_string())
                .unwrap_or_else(|e| e.to_string())
        )),
    }
    assert!(
        failures.is_empty(),
        "hostile input test failed (seed {seed}, good client ran {} rounds):\n{}",
        report.rounds,
        failures.join("\n")
    );
}
