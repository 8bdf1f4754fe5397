//! Clusters for tests: N servers of one flavor with `cluster-enabled yes` on free ports whose
//! bus port (port + 10000) is free too, joined with the real `redis-cli --cluster`.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::server::{find_on_path, Flavor, Server};

/// The stock `redis-cli` (`$REDIS_CLI` or on `PATH`).
pub fn redis_cli_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("REDIS_CLI") {
        return PathBuf::from(p);
    }
    find_on_path("redis-cli").unwrap_or_else(|| {
        panic!("redis-cli not found on PATH; run scripts/install-deps.sh (or set REDIS_CLI)")
    })
}

/// What a redis-cli run printed.
#[derive(Debug)]
pub struct CliOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `redis-cli args...` with `stdin` as its input; killed (by pid) after `deadline`.
pub fn redis_cli(args: &[String], stdin: &str, deadline: Duration) -> CliOutput {
    let mut child = Command::new(redis_cli_binary())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run redis-cli: {e}"));
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin.as_bytes());
    }
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let until = Instant::now() + deadline;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() < until => thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    CliOutput {
        success: status.is_some_and(|s| s.success()),
        stdout: reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// Starts `n` cluster-enabled servers of `flavor` with `cluster-node-timeout`.
pub fn start_nodes(flavor: Flavor, n: usize, node_timeout_ms: u64) -> Vec<Server> {
    (0..n)
        .map(|_| {
            Server::builder(flavor)
                .cluster_bus()
                .directive("cluster-enabled", &["yes"])
                .directive("cluster-node-timeout", &[node_timeout_ms.to_string()])
                .start()
        })
        .collect()
}

/// `127.0.0.1:<port>`.
pub fn addr(s: &Server) -> String {
    format!("127.0.0.1:{}", s.port())
}

/// `redis-cli --cluster create <nodes> --cluster-replicas 0 --cluster-yes`.
pub fn create(nodes: &[Server]) -> CliOutput {
    let mut args = vec!["--cluster".to_string(), "create".to_string()];
    args.extend(nodes.iter().map(addr));
    args.extend(["--cluster-replicas", "0", "--cluster-yes"].map(String::from));
    redis_cli(&args, "", Duration::from_secs(60))
}

/// `redis-cli --cluster add-node <new> <existing>`.
pub fn add_node(new: &Server, existing: &Server) -> CliOutput {
    let args = ["--cluster", "add-node"]
        .map(String::from)
        .into_iter()
        .chain([addr(new), addr(existing)])
        .collect::<Vec<_>>();
    redis_cli(&args, "", Duration::from_secs(60))
}

/// `redis-cli --cluster check <node>`.
pub fn check(node: &Server) -> CliOutput {
    let args = vec!["--cluster".to_string(), "check".to_string(), addr(node)];
    redis_cli(&args, "", Duration::from_secs(30))
}

/// A CLUSTER subcommand's reply as text (`CLUSTER NODES`, `CLUSTER INFO`).
pub fn cluster_text(s: &Server, sub: &str) -> String {
    let mut c = s.client();
    c.set_timeout(Duration::from_secs(5));
    match c.command(["CLUSTER", sub]) {
        Ok(r) => r.as_str().unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Polls `cond` every 50 ms until it holds; panics with `what` after `deadline`.
pub fn wait_for(deadline: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + deadline;
    loop {
        if cond() {
            return;
        }
        assert!(
            Instant::now() < until,
            "timed out after {deadline:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// True when every node lists `n` nodes, none in handshake, all connected, and its
/// `cluster_state` is ok.
pub fn all_joined(nodes: &[Server], n: usize) -> bool {
    nodes.iter().all(|s| {
        let text = cluster_text(s, "NODES");
        let lines: Vec<&str> = text.lines().collect();
        lines.len() == n
            && lines
                .iter()
                .all(|l| !l.contains("handshake") && l.contains(" connected"))
            && cluster_text(s, "INFO").contains("cluster_state:ok")
    })
}

/// `redis-cli --cluster create <nodes> --cluster-replicas <r> --cluster-yes`.
pub fn create_with_replicas(nodes: &[Server], replicas: usize) -> CliOutput {
    let mut args = vec!["--cluster".to_string(), "create".to_string()];
    args.extend(nodes.iter().map(addr));
    args.extend(["--cluster-replicas".to_string(), replicas.to_string()]);
    args.push("--cluster-yes".to_string());
    redis_cli(&args, "", Duration::from_secs(60))
}

/// The hash slot of a key: CRC16/XMODEM of the key or its `{hashtag}`, mod 16384.
pub fn key_slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        rest.iter()
            .position(|&b| b == b'}')
            .filter(|&close| close > 0)
            .map(|close| &rest[..close])
    });
    let mut crc: u16 = 0;
    for &b in tagged.unwrap_or(key) {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc & 16383
}

/// A minimal cluster-aware client for tests: a slot table from `CLUSTER SLOTS`, one
/// connection per node, MOVED followed, and CLUSTERDOWN or a dead node retried (with a
/// fresh slot table) until a deadline.
pub struct ClusterClient {
    /// Ports that may answer CLUSTER SLOTS.
    seeds: Vec<u16>,
    /// The port serving each slot (0: unknown).
    owner: Vec<u16>,
    conns: std::collections::HashMap<u16, crate::RespClient>,
}

impl ClusterClient {
    pub fn new(seeds: Vec<u16>) -> ClusterClient {
        let mut c = ClusterClient {
            seeds,
            owner: vec![0; 16384],
            conns: Default::default(),
        };
        c.refresh();
        c
    }

    fn conn(&mut self, port: u16) -> Option<&mut crate::RespClient> {
        match self.conns.entry(port) {
            std::collections::hash_map::Entry::Occupied(e) => Some(e.into_mut()),
            std::collections::hash_map::Entry::Vacant(v) => {
                let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
                let mut c = crate::RespClient::connect(addr).ok()?;
                c.set_timeout(Duration::from_secs(3));
                Some(v.insert(c))
            }
        }
    }

    /// Reloads the slot table from the first seed that answers.
    pub fn refresh(&mut self) {
        for port in self.seeds.clone() {
            let Some(c) = self.conn(port) else {
                continue;
            };
            let Ok(r) = c.command(["CLUSTER", "SLOTS"]) else {
                self.conns.remove(&port);
                continue;
            };
            if r.is_error() {
                continue;
            }
            for range in r.children() {
                let f = range.children();
                let (Some(lo), Some(hi)) = (
                    f.first().and_then(|x| x.as_int()),
                    f.get(1).and_then(|x| x.as_int()),
                ) else {
                    continue;
                };
                let Some(p) = f
                    .get(2)
                    .and_then(|n| n.children().get(1))
                    .and_then(|p| p.as_int())
                else {
                    continue;
                };
                for s in lo..=hi {
                    self.owner[s as usize] = p as u16;
                }
            }
            return;
        }
    }

    /// Runs `args` (whose key is `args[key]`) on the node serving it, then `then` (for
    /// example WAIT) on the same connection; retries until `deadline`. Returns both replies.
    pub fn run(
        &mut self,
        key: usize,
        args: &[&str],
        then: Option<&[&str]>,
        deadline: Duration,
    ) -> Result<(crate::Reply, Option<crate::Reply>), String> {
        let slot = key_slot(args[key].as_bytes()) as usize;
        let until = Instant::now() + deadline;
        let mut last = String::new();
        while Instant::now() < until {
            let port = self.owner[slot];
            if port == 0 {
                thread::sleep(Duration::from_millis(50));
                self.refresh();
                continue;
            }
            let Some(c) = self.conn(port) else {
                last = format!("cannot connect to {port}");
                thread::sleep(Duration::from_millis(50));
                self.refresh();
                continue;
            };
            let r = match c.command(args) {
                Ok(r) => r,
                Err(e) => {
                    last = format!("{port}: {e:?}");
                    self.conns.remove(&port);
                    thread::sleep(Duration::from_millis(50));
                    self.refresh();
                    continue;
                }
            };
            let text = String::from_utf8_lossy(r.raw()).into_owned();
            if let Some(rest) = text.strip_prefix("-MOVED ") {
                let to = rest
                    .trim()
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                self.owner[slot] = to;
                continue;
            }
            if text.starts_with("-CLUSTERDOWN") || text.starts_with("-TRYAGAIN") {
                last = text;
                thread::sleep(Duration::from_millis(50));
                self.refresh();
                continue;
            }
            let second = match then.map(|t| c.command(t)) {
                None => None,
                Some(Ok(r)) => Some(r),
                Some(Err(e)) => {
                    // The first command ran, its follow-up got no answer: nothing to count on.
                    self.conns.remove(&port);
                    return Err(format!("{then:?} after {args:?} on {port}: {e:?}"));
                }
            };
            return Ok((r, second));
        }
        Err(format!("gave up on {args:?}: {last}"))
    }
}
