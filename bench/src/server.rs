//! One server process under test, started with redis-server's command line syntax and stopped
//! by PID when its guard drops (normal end, error, panic unwind or Ctrl-C).

use std::fs::{self, File};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::Signal;

use crate::process::{self, check_interrupted};
use crate::resp::{Client, Reply};

/// How long a server gets to answer PING after it is spawned.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a server gets to exit after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts at a free port (another process may grab the port between probe and bind).
const PORT_ATTEMPTS: u32 = 3;

/// The directives every server gets, in redis-server syntax, with `port` and `dir` filled in.
/// Both servers get exactly these, followed by the user's `--server-arg`s.
pub fn server_args(port: &str, dir: &str, extra: &[String]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--port",
        port,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().cloned());
    args
}

/// Where and how to start one server.
pub struct ServerSpec<'a> {
    /// Short name used in temp dirs, logs and errors ("redis", "ferrodis").
    pub label: &'a str,
    pub binary: &'a Path,
    /// CPU list for `taskset -c`, or `None` to leave placement to the kernel.
    pub cpus: Option<&'a str>,
    /// Extra `--directive value` arguments appended after the common ones.
    pub extra_args: &'a [String],
}

/// A running server; dropping it stops the process and removes its temp dir.
pub struct Server {
    label: String,
    child: Child,
    pid: u32,
    addr: SocketAddr,
    dir: PathBuf,
    stopped: bool,
}

impl Server {
    /// Spawns the server on a free loopback port and waits until it answers PING.
    pub fn start(spec: &ServerSpec<'_>) -> Result<Server> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            check_interrupted()?;
            let port = free_port()?;
            let dir = make_temp_dir(spec.label)?;
            let log = dir.join("server.log");
            let log_file =
                File::create(&log).with_context(|| format!("creating {}", log.display()))?;
            let args = server_args(&port.to_string(), &dir.to_string_lossy(), spec.extra_args);
            let mut cmd = match spec.cpus {
                Some(cpus) => {
                    let mut c = Command::new("taskset");
                    c.arg("-c").arg(cpus).arg(spec.binary);
                    c
                }
                None => Command::new(spec.binary),
            };
            cmd.args(&args)
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(log_file.try_clone()?)
                .stderr(log_file);
            let child = match cmd.spawn() {
                Ok(c) => c,
                Err(e) => {
                    let _ = fs::remove_dir_all(&dir);
                    process::unregister_dir(&dir);
                    return Err(e).with_context(|| {
                        format!("starting {} ({})", spec.label, spec.binary.display())
                    });
                }
            };
            let pid = child.id();
            process::register(pid);
            let mut server = Server {
                label: spec.label.to_owned(),
                child,
                pid,
                addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                dir,
                stopped: false,
            };
            match server.wait_ready() {
                Ok(()) => return Ok(server),
                Err(e) => {
                    let port_taken = server.log_tail(20).contains("Address already in use");
                    if port_taken && attempt < PORT_ATTEMPTS {
                        eprintln!("{}: port {port} was taken, retrying", spec.label);
                        continue; // `server` drops here: stopped and cleaned up
                    }
                    return Err(e);
                }
            }
        }
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last_err = String::from("no attempt made");
        while Instant::now() < deadline {
            check_interrupted()?;
            self.ensure_running()?;
            match ping(self.addr) {
                Ok(()) => return Ok(()),
                Err(e) => last_err = format!("{e:#}"),
            }
            process::nap(Duration::from_millis(25));
        }
        bail!(
            "{} did not answer PING on {} within {START_TIMEOUT:?} (last error: {last_err})\n{}",
            self.label,
            self.addr,
            self.log_tail(20)
        )
    }

    /// Fails with the log tail if the process has exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            self.stopped = true;
            process::unregister(self.pid);
            bail!(
                "{} (pid {}) exited unexpectedly with {status}; last log lines:\n{}",
                self.label,
                self.pid,
                self.log_tail(20)
            );
        }
        Ok(())
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A fresh client connection with a generous timeout.
    pub fn client(&self) -> Result<Client> {
        Client::connect(self.addr, Duration::from_secs(30))
            .with_context(|| format!("connecting to {}", self.label))
    }

    /// The last `n` lines of the server's log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]; idempotent.
    pub fn stop(&mut self) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        process::send(self.pid, Signal::SIGTERM);
        let exited = process::wait_until(&mut self.child, Instant::now() + STOP_TIMEOUT)?;
        if exited.is_none() {
            eprintln!(
                "{} (pid {}) ignored SIGTERM for {STOP_TIMEOUT:?}, sending SIGKILL",
                self.label, self.pid
            );
            process::send(self.pid, Signal::SIGKILL);
            if process::wait_until(&mut self.child, Instant::now() + STOP_TIMEOUT)?.is_none() {
                bail!("{} (pid {}) survived SIGKILL", self.label, self.pid);
            }
        }
        process::unregister(self.pid);
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("stopping {}: {e:#}", self.label);
        }
        let _ = fs::remove_dir_all(&self.dir);
        process::unregister_dir(&self.dir);
    }
}

fn ping(addr: SocketAddr) -> Result<()> {
    let mut c = Client::connect(addr, Duration::from_millis(500))?;
    match c.command(&[b"PING"])? {
        Reply::Simple(s) if s == "PONG" => Ok(()),
        other => bail!("PING answered {other:?}"),
    }
}

/// A port that was free a moment ago: bind port 0 on loopback, note the port, release it.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding port 0")?;
    Ok(listener.local_addr()?.port())
}

fn make_temp_dir(label: &str) -> Result<PathBuf> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("ferrodis-bench-{}-{label}-{n}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => {
                process::register_dir(&dir);
                return Ok(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    bail!("could not create a temp dir for {label}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_args_are_redis_syntax() {
        let extra = vec!["--io-threads".to_owned(), "1".to_owned()];
        let args = server_args("7000", "/tmp/x", &extra);
        assert_eq!(
            args,
            [
                "--port",
                "7000",
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                "/tmp/x",
                "--io-threads",
                "1"
            ]
        );
    }

    #[test]
    fn free_port_is_nonzero() {
        assert_ne!(free_port().unwrap(), 0);
    }
}
