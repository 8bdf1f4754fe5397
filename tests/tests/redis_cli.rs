//! The real `redis-cli` against stock Redis and ferrodis: same invocations, same output.
//! This exercises the client's own connection handshake and its RESP2/RESP3 rendering.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use ferrodis_tests::server::find_on_path;
use ferrodis_tests::{Flavor, Server};

struct Run {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

fn redis_cli(server: &Server, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let cli = find_on_path("redis-cli")
        .unwrap_or_else(|| panic!("redis-cli not found; run scripts/install-deps.sh"));
    let mut child = Command::new(cli)
        .args(["-h", "127.0.0.1", "-p", &server.port().to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn redis-cli");
    {
        let mut pipe = child.stdin.take().expect("stdin");
        if let Some(bytes) = stdin {
            pipe.write_all(bytes).expect("write redis-cli stdin");
        }
    }
    // Bounded: redis-cli exits on its own; a hung one is killed by pid after the deadline.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            break;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().expect("redis-cli output");
    Run {
        status: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// (args, stdin, sort output lines)
type Case = (&'static [&'static str], Option<&'static [u8]>, bool);

const CASES: &[Case] = &[
    (&["PING"], None, false),
    (&["--no-raw", "SET", "k", "v"], None, false),
    (&["--no-raw", "GET", "k"], None, false),
    (&["--no-raw", "GET", "nokey"], None, false),
    (&["GET", "nokey"], None, false),
    (&["--no-raw", "MSET", "a", "1", "b", "2"], None, false),
    (&["--no-raw", "MGET", "a", "b", "nokey"], None, false),
    (&["--no-raw", "INCR", "a"], None, false),
    (&["--no-raw", "INCRBYFLOAT", "f", "1.5"], None, false),
    (&["--no-raw", "-3", "GET", "nokey"], None, false),
    (&["--no-raw", "-3", "INCRBYFLOAT", "f", "1.5"], None, false),
    (&["--no-raw", "MSET", "x", "ohmytext", "y", "mynewtext"], None, false),
    (&["--no-raw", "LCS", "x", "y", "IDX", "WITHMATCHLEN"], None, false),
    (&["--no-raw", "-3", "LCS", "x", "y", "IDX"], None, false),
    (&["--no-raw", "NOSUCHCOMMAND", "arg"], None, false),
    (&["-e", "NOSUCHCOMMAND"], None, false),
    (&["--no-raw", "GET"], None, false),
    (&["--no-raw", "-n", "3", "SET", "in3", "v"], None, false),
    (&["--no-raw", "-n", "3", "DBSIZE"], None, false),
    (&["--no-raw", "DBSIZE"], None, false),
    (&["-x", "SET", "fromstdin"], Some(b"line one\nline two\n"), false),
    (&["--no-raw", "GET", "fromstdin"], None, false),
    (&["--no-raw", "SET", "bin", "a\x01b"], None, false),
    (&["--no-raw", "GET", "bin"], None, false),
    (&["GET", "bin"], None, false),
    (&["--no-raw", "SETBIT", "bits", "7", "1"], None, false),
    (&["--no-raw", "BITFIELD", "bits", "GET", "u8", "0", "INCRBY", "i4", "0", "100"], None, false),
    (&["--no-raw", "EXPIRE", "k", "100", "GT"], None, false),
    (&["--no-raw", "TTL", "k"], None, false),
    (&["--no-raw", "OBJECT", "ENCODING", "a"], None, false),
    (&["--no-raw", "COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"], None, false),
    (&["--scan"], None, true),
    (&["--scan", "--pattern", "*i*"], None, true),
    (
        &["--pipe"],
        Some(b"*3\r\n$3\r\nSET\r\n$2\r\np1\r\n$1\r\n1\r\nINCR p1\r\n*2\r\n$4\r\nINCR\r\n$2\r\np1\r\nNOSUCH\r\n"),
        false,
    ),
    (&["--no-raw", "GET", "p1"], None, false),
];

#[test]
fn redis_cli_output_matches_stock() {
    let stock = Server::stock();
    let ferro = Server::builder(Flavor::Ferrodis).start();
    let mut failures = Vec::new();
    for (args, stdin, sort) in CASES {
        let a = redis_cli(&stock, args, *stdin);
        let b = redis_cli(&ferro, args, *stdin);
        let normalize = |s: &str| {
            let mut lines: Vec<&str> = s.lines().collect();
            if *sort {
                lines.sort_unstable();
            }
            lines.join("\n")
        };
        if a.status != b.status || normalize(&a.stdout) != normalize(&b.stdout) {
            failures.push(format!(
                "redis-cli {}\n  redis    (exit {:?}): {:?} {:?}\n  ferrodis (exit {:?}): {:?} {:?}",
                args.join(" "),
                a.status,
                a.stdout,
                a.stderr,
                b.status,
                b.stdout,
                b.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
