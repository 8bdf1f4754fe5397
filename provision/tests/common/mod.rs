//! Helpers of the provision end-to-end tests: the tool run with a deadline, a data
//! directory taken down (and deleted) on drop even when the test fails, free ports.
#![allow(dead_code)]

use std::collections::HashSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The tool under test.
pub fn tool() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferrodis-provision"))
}

/// ferrodis-server: $FERRODIS_SERVER, else next to the tool (same target directory).
pub fn ferrodis_server() -> PathBuf {
    if let Some(p) = std::env::var_os("FERRODIS_SERVER") {
        return PathBuf::from(p);
    }
    let p = tool()
        .parent()
        .map(|d| d.join("ferrodis-server"))
        .unwrap_or_default();
    assert!(
        p.is_file(),
        "{} not found: build it first (cargo build --release -p ferrodis-node)",
        p.display()
    );
    p
}

/// Stock redis-server, for the paths ferrodis does not have yet (replicas in a cluster).
pub fn stock_redis() -> PathBuf {
    let p = PathBuf::from("/usr/bin/redis-server");
    assert!(
        p.exists(),
        "stock redis-server is needed (scripts/install-deps.sh)"
    );
    p
}

/// One test at a time in a test binary: each starts six servers on a 2-core machine.
pub fn serial() -> MutexGuard<'static, ()> {
    static M: OnceLock<Mutex<()>> = OnceLock::new();
    M.get_or_init(|| Mutex::new(()))
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// A base port with `n` free client ports and their bus ports (+10000), below the
/// ephemeral range, never 7000-7005.
pub fn free_base_port(n: u16) -> u16 {
    static USED: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let used = USED.get_or_init(|| Mutex::new(HashSet::new()));
    let mut used = used.lock().unwrap_or_else(|p| p.into_inner());
    let seed = std::process::id() as u64 ^ Instant::now().elapsed().as_nanos() as u64;
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    for _ in 0..500 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let base = 15000 + ((x >> 33) % 7000) as u16;
        if (0..n).any(|i| used.contains(&(base + i))) {
            continue;
        }
        let free = (0..n).all(|i| {
            TcpListener::bind(("127.0.0.1", base + i)).is_ok()
                && TcpListener::bind(("127.0.0.1", base + i + 10000)).is_ok()
        });
        if free {
            used.extend((0..n).map(|i| base + i));
            return base;
        }
    }
    panic!("no free port range found");
}

/// Runs `cmd` with a deadline; kills it (by its pid) when the deadline passes.
pub fn run_with_deadline(cmd: &mut Command, deadline: Duration) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let start = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    loop {
        if let Ok(out) = rx.recv_timeout(Duration::from_millis(200)) {
            return out.expect("wait");
        }
        if start.elapsed() > deadline {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("{cmd:?} ran past its {deadline:?} deadline");
        }
    }
}

/// A deployment in a fresh data directory, taken down and deleted on drop.
pub struct Deployment {
    pub dir: PathBuf,
    /// Extra arguments for every command (target, --config, --server-bin ...).
    pub args: Vec<String>,
}

pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn ok(&self) -> bool {
        self.code == 0
    }
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Deployment {
    pub fn new(tag: &str, args: &[&str]) -> Deployment {
        let dir = std::env::temp_dir().join(format!(
            "ferrodis-provision-e2e-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Deployment {
            dir,
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Writes a description file in a sibling directory and returns its path.
    pub fn config(&self, text: &str) -> String {
        let p = PathBuf::from(format!("{}.toml", self.dir.display()));
        std::fs::write(&p, text).expect("write config");
        p.display().to_string()
    }

    /// `ferrodis-provision <cmd> <args> --dir <dir> <extra>`.
    pub fn run(&self, cmd: &str, extra: &[&str]) -> Ran {
        let mut c = Command::new(tool());
        c.arg(cmd)
            .args(&self.args)
            .arg("--dir")
            .arg(&self.dir)
            .args(extra);
        let out = run_with_deadline(&mut c, Duration::from_secs(180));
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn must(&self, cmd: &str, extra: &[&str]) -> Ran {
        let r = self.run(cmd, extra);
        assert!(r.ok(), "{cmd} failed: {r}");
        r
    }

    /// `<dir>/redis-cli ARGS` (cluster mode, the deployment's TLS files and admin user).
    pub fn cli(&self, args: &[&str]) -> String {
        let out = run_with_deadline(
            Command::new(self.dir.join("redis-cli")).args(args),
            Duration::from_secs(30),
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Pid of a node from its pid file (`nodes/<n>/ferrodis.pid` or the netns host's).
    pub fn pid(&self, node: &str) -> Option<i32> {
        for p in [
            self.dir.join("nodes").join(node).join("ferrodis.pid"),
            self.dir
                .join("hosts")
                .join(node)
                .join("run/ferrodis/ferrodis.pid"),
        ] {
            if let Ok(s) = std::fs::read_to_string(&p) {
                return s.trim().parse().ok();
            }
        }
        None
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        if self.dir.exists() {
            let r = self.run("down", &[]);
            if !r.ok() {
                eprintln!("cleanup: down failed: {r}");
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(format!("{}.toml", self.dir.display()));
    }
}

/// Polls `f` until it returns true or `timeout` passes.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether process `pid` exists (and is not a zombie).
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
    })
}

/// The status table row of `node`.
pub fn row<'a>(status: &'a str, node: &str) -> &'a str {
    status
        .lines()
        .find(|l| l.split_whitespace().next() == Some(node))
        .unwrap_or("")
}

pub fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// `node` is a primary with `slots` and every node but `down` says cluster_state:ok.
pub fn promoted(status: &str, node: &str, slots: &str, down: &str) -> bool {
    let r = row(status, node);
    r.contains("primary")
        && r.contains(slots)
        && status
            .lines()
            .skip(1)
            .filter(|l| l.split_whitespace().next() != Some(down) && !l.starts_with("problem"))
            .all(|l| l.split_whitespace().nth(4) == Some("ok") || l.contains(" ok "))
}
