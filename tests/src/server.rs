//! A server process owned by a test: stock `redis-server` or `ferrodis-server` on a free
//! loopback port, in its own temporary directory, stopped by pid when the guard drops.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::resp_client::RespClient;

/// How long a server gets to answer its first PING.
pub const START_DEADLINE: Duration = Duration::from_secs(10);
/// How long a server gets to exit after SIGTERM before it is sent SIGKILL.
pub const STOP_DEADLINE: Duration = Duration::from_secs(5);
/// Attempts with a fresh port when the server dies at start (e.g. the port was taken meanwhile).
const START_ATTEMPTS: usize = 4;

/// Which implementation to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Stock `redis-server` (the reference).
    Stock,
    /// `ferrodis-server` (the implementation under test).
    Ferrodis,
}

impl Flavor {
    /// Short name used in test output.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Stock => "redis",
            Flavor::Ferrodis => "ferrodis",
        }
    }

    /// The binary to run: see [`stock_binary`] and [`ferrodis_binary`].
    pub fn binary(self) -> PathBuf {
        match self {
            Flavor::Stock => stock_binary(),
            Flavor::Ferrodis => ferrodis_binary(),
        }
    }
}

/// The cargo workspace root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate has a parent directory")
        .to_path_buf()
}

/// `$REDIS_SERVER`, or `redis-server` found on `PATH`. Panics with advice when missing.
pub fn stock_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("REDIS_SERVER") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "REDIS_SERVER={} does not exist",
            path.display()
        );
        return path;
    }
    find_on_path("redis-server").unwrap_or_else(|| {
        panic!(
            "stock redis-server not found on PATH; run scripts/install-deps.sh \
             (or set REDIS_SERVER=/path/to/redis-server)"
        )
    })
}

/// `$FERRODIS_SERVER`, or `<workspace>/target/release/ferrodis-server`. Panics with advice when
/// missing.
pub fn ferrodis_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("FERRODIS_SERVER") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "FERRODIS_SERVER={} does not exist",
            path.display()
        );
        return path;
    }
    let path = workspace_root().join("target/release/ferrodis-server");
    assert!(
        path.is_file(),
        "{} not found: build it first with `cargo build --release -p ferrodis-node`, \
         or set FERRODIS_SERVER=/path/to/binary (FERRODIS_SERVER=/usr/bin/redis-server \
         checks the harness itself against stock Redis)",
        path.display()
    );
    path
}

/// Finds an executable by name on `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// A loopback port that was free a moment ago and that this process has not handed out before.
/// With `with_bus`, `port + 10000` (the cluster bus port) was free too.
pub fn free_port(with_bus: bool) -> u16 {
    for _ in 0..200 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        if with_bus {
            let Some(bus) = port.checked_add(10000) else {
                continue;
            };
            if TcpListener::bind(("127.0.0.1", bus)).is_err() {
                continue;
            }
        }
        let mut ports = handed_out().lock().unwrap_or_else(|p| p.into_inner());
        if ports.insert(port) {
            return port;
        }
    }
    panic!("no free loopback port found after 200 tries");
}

fn unique_temp_dir(flavor: Flavor) -> PathBuf {
    unique_dir(flavor.name())
}

/// A new empty directory under the system temp dir, unique across tests and processes.
fn unique_dir(tag: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "ferrodis-tests-{}-{}-{}-{}",
        tag,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    ));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// Runs `flavor` with `args` (followed by `--port <free> --bind 127.0.0.1 --save ""`),
/// expecting it to refuse to start: exit status 1 within 10 s, without a panic. Returns what
/// it printed.
pub fn refuses_to_start(flavor: Flavor, args: &[&str]) -> String {
    let port = free_port(false);
    let mut child = Command::new(flavor.binary())
        .args(args)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let out = child.wait_with_output().expect("output");
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            assert_eq!(status.code(), Some(1), "{flavor:?}: {text}");
            assert!(!text.contains("panicked"), "{text}");
            return text;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{flavor:?} started with {args:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// A directory of a test's own (data files shared by several servers), removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        TempDir(unique_dir(tag))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The path as text, for `--dir`.
    pub fn as_str(&self) -> &str {
        self.0.to_str().expect("temp dir paths are UTF-8")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Builds a [`Server`]: config file, extra `--directive value` arguments, cluster bus port.
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    flavor: Flavor,
    binary: Option<PathBuf>,
    config_file: Option<PathBuf>,
    args: Vec<OsString>,
    with_bus: bool,
    /// Whether a `-LOADING` reply counts as started (else start waits until the load ends).
    ready_while_loading: bool,
}

impl ServerBuilder {
    /// Runs this binary instead of the flavor's default.
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// Passes a config file as the first argument.
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_file = Some(path.into());
        self
    }

    /// Adds `--name value...` (name without the dashes). Later directives win over the defaults.
    pub fn directive<V: AsRef<str>>(mut self, name: &str, values: &[V]) -> Self {
        self.args.push(format!("--{name}").into());
        self.args
            .extend(values.iter().map(|v| OsString::from(v.as_ref())));
        self
    }

    /// Adds raw command-line arguments.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Picks a port whose cluster bus port (`port + 10000`) is free too.
    pub fn cluster_bus(mut self) -> Self {
        self.with_bus = true;
        self
    }

    /// Starts the server and waits until it answers PING. Panics (with the server's log) when
    /// it does not come up.
    /// `start` returns as soon as the server answers, even `-LOADING` while it loads its
    /// dataset (by default it waits until the load is done).
    pub fn ready_while_loading(mut self) -> Self {
        self.ready_while_loading = true;
        self
    }

    pub fn start(self) -> Server {
        let binary = self.binary.clone().unwrap_or_else(|| self.flavor.binary());
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port(self.with_bus);
            let dir = unique_temp_dir(self.flavor);
            let mut server = match self.spawn(&binary, port, &dir) {
                Ok(server) => server,
                Err(e) => {
                    let _ = fs::remove_dir_all(&dir);
                    panic!("cannot run {}: {e}", binary.display());
                }
            };
            match server.wait_ready(START_DEADLINE) {
                Ok(()) => return server,
                Err(StartFailure::Exited(log)) => {
                    // Most likely the port was taken between probing and binding: retry.
                    last_log = log;
                    continue;
                }
                Err(StartFailure::Deadline(log)) => panic!(
                    "{} ({}) did not answer PING on port {port} within {:?}; log:\n{log}",
                    self.flavor.name(),
                    binary.display(),
                    START_DEADLINE
                ),
            }
        }
        panic!(
            "{} ({}) exited at start {START_ATTEMPTS} times; last log:\n{last_log}",
            self.flavor.name(),
            binary.display()
        )
    }

    fn spawn(&self, binary: &Path, port: u16, dir: &Path) -> std::io::Result<Server> {
        let (child, log_path) = self.spawn_child(binary, port, dir)?;
        Ok(Server {
            flavor: self.flavor,
            binary: binary.to_path_buf(),
            child: Some(child),
            port,
            dir: dir.to_path_buf(),
            log_path,
            launch: self.clone(),
        })
    }

    fn spawn_child(
        &self,
        binary: &Path,
        port: u16,
        dir: &Path,
    ) -> std::io::Result<(Child, PathBuf)> {
        let log_path = dir.join("server.log");
        let log = fs::File::create(&log_path)?;
        let mut cmd = Command::new(binary);
        if let Some(conf) = &self.config_file {
            cmd.arg(conf);
        }
        cmd.arg("--port")
            .arg(port.to_string())
            .args(["--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir)
            // No RDB snapshots and no AOF: nothing is written behind the test's back.
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--protected-mode", "no"])
            .args(["--daemonize", "no"])
            .args(["--logfile", ""])
            .args(&self.args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd.spawn()?;
        Ok((child, log_path))
    }
}

enum StartFailure {
    Exited(String),
    Deadline(String),
}

/// A running server. Dropping it sends SIGTERM to its pid, then SIGKILL after
/// [`STOP_DEADLINE`], and removes its directory.
#[derive(Debug)]
pub struct Server {
    flavor: Flavor,
    binary: PathBuf,
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    log_path: PathBuf,
    /// How it was started, for [`Server::restart`].
    launch: ServerBuilder,
}

impl Server {
    /// A builder for `flavor` with the default arguments.
    pub fn builder(flavor: Flavor) -> ServerBuilder {
        ServerBuilder {
            flavor,
            binary: None,
            config_file: None,
            args: Vec::new(),
            with_bus: false,
            ready_while_loading: false,
        }
    }

    /// Starts stock `redis-server` with default arguments.
    pub fn stock() -> Server {
        Server::builder(Flavor::Stock).start()
    }

    /// Starts `ferrodis-server` with default arguments.
    pub fn ferrodis() -> Server {
        Server::builder(Flavor::Ferrodis).start()
    }

    /// Starts `flavor` with default arguments as a replica of `primary` (REPLICAOF, not
    /// waited for).
    pub fn replica_of(flavor: Flavor, primary: &Server) -> Server {
        let s = Server::builder(flavor).start();
        let r = s
            .client()
            .ok(["REPLICAOF", "127.0.0.1", &primary.port().to_string()]);
        assert!(r.as_str().unwrap_or_default().starts_with("OK"), "{r}");
        s
    }

    /// Which implementation this is.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// The binary that was started.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The server's own directory (`dir` directive), removed on drop.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A new connection.
    pub fn client(&self) -> RespClient {
        RespClient::connect(self.addr()).unwrap_or_else(|e| {
            panic!(
                "connect to {} on {}: {e}; log:\n{}",
                self.flavor.name(),
                self.addr(),
                self.log_tail(40)
            )
        })
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Everything the server wrote to stdout/stderr so far.
    pub fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Stops the server now (same as dropping it).
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// SIGTERM, then waits up to `deadline` for the server to exit by itself; true if it did
    /// (false: it was SIGKILLed at the deadline). For tests that check what a clean shutdown
    /// leaves on disk, where a loaded machine's fsync may take longer than [`STOP_DEADLINE`].
    pub fn stop_within(mut self, deadline: Duration) -> bool {
        self.shutdown_within(deadline)
    }

    /// Starts a crashed server again: same binary, arguments, port and directory (what it
    /// left there: nodes.conf, data files), waiting until it answers. Its log starts over.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart of a running server");
        let (child, _) = self
            .launch
            .spawn_child(&self.binary, self.port, &self.dir)
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.binary.display()));
        self.child = Some(child);
        if let Err(StartFailure::Exited(log) | StartFailure::Deadline(log)) =
            self.wait_ready(START_DEADLINE)
        {
            panic!("restart on port {} failed; log:\n{log}", self.port);
        }
    }

    /// Crashes the server: SIGKILL to its pid, then waits for it. Its log stays readable.
    pub fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Child::kill sends SIGKILL to this child's pid only.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn wait_ready(&mut self, deadline: Duration) -> Result<(), StartFailure> {
        let until = Instant::now() + deadline;
        let mut pause = Duration::from_millis(2);
        loop {
            if !self.is_running() {
                let log = self.log();
                self.shutdown();
                return Err(StartFailure::Exited(log));
            }
            if let Ok(mut client) = RespClient::connect(self.addr()) {
                client.set_timeout(Duration::from_secs(2));
                // Any reply counts (a server with requirepass answers -NOAUTH), but
                // -LOADING only when asked: the dataset is not there yet.
                let answered = client.command(["PING"]).is_ok_and(|r| {
                    self.launch.ready_while_loading || !r.raw().starts_with(b"-LOADING")
                });
                if answered {
                    // Still ours? A server that lost the port race exits right away.
                    if self.is_running() {
                        return Ok(());
                    }
                    continue;
                }
            }
            if Instant::now() >= until {
                let log = self.log();
                self.shutdown();
                return Err(StartFailure::Deadline(log));
            }
            thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    fn shutdown(&mut self) {
        self.shutdown_within(STOP_DEADLINE);
    }

    fn shutdown_within(&mut self, deadline: Duration) -> bool {
        let mut clean = true;
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                if let Ok(pid) = i32::try_from(child.id()) {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
                }
                let until = Instant::now() + deadline;
                loop {
                    match child.try_wait() {
                        Ok(Some(_)) => break,
                        Ok(None) if Instant::now() < until => {
                            thread::sleep(Duration::from_millis(5))
                        }
                        _ => {
                            // Child::kill sends SIGKILL to this child's pid only.
                            let _ = child.kill();
                            let _ = child.wait();
                            clean = false;
                            break;
                        }
                    }
                }
            }
        }
        if self.dir.exists() {
            let _ = fs::remove_dir_all(&self.dir);
        }
        clean
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}
