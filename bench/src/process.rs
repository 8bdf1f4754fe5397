//! Child processes with deadlines, and the Ctrl-C story.
//!
//! Every process the harness starts is registered here by PID while it runs. The first SIGINT or
//! SIGTERM only raises [`interrupted`]: the main thread notices at its next wait, returns an
//! error, and the [`crate::server::Server`] drop guards stop the servers in order. A second signal
//! is the impatient path: everything still registered gets SIGKILL and the harness exits 130.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static TEMP_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Installs the SIGINT/SIGTERM handler thread. Call once, before starting any process.
pub fn install_signal_handler() -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .context("installing the signal handler")?;
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for _ in signals.forever() {
                if INTERRUPTED.swap(true, Ordering::SeqCst) {
                    eprintln!("ferrodis-bench: second signal, killing children and exiting");
                    for pid in live_pids() {
                        send(pid, Signal::SIGKILL);
                    }
                    for dir in TEMP_DIRS.lock().map(|v| v.clone()).unwrap_or_default() {
                        let _ = std::fs::remove_dir_all(dir);
                    }
                    std::process::exit(130);
                }
                eprintln!("ferrodis-bench: interrupted, stopping servers (again to force)");
            }
        })
        .context("spawning the signal thread")?;
    Ok(())
}

/// True once SIGINT or SIGTERM has arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Fails if the run was interrupted; sprinkle between steps.
pub fn check_interrupted() -> Result<()> {
    if interrupted() {
        bail!("interrupted");
    }
    Ok(())
}

/// Sleeps for `d`, or less if interrupted.
pub fn nap(d: Duration) {
    let end = Instant::now() + d;
    while !interrupted() {
        let now = Instant::now();
        if now >= end {
            break;
        }
        thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

fn live_pids() -> Vec<u32> {
    LIVE.lock().map(|v| v.clone()).unwrap_or_default()
}

/// Records `pid` as ours while it runs.
pub fn register(pid: u32) {
    if let Ok(mut v) = LIVE.lock() {
        v.push(pid);
    }
}

/// Forgets `pid` once it has been reaped.
pub fn unregister(pid: u32) {
    if let Ok(mut v) = LIVE.lock() {
        v.retain(|p| *p != pid);
    }
}

/// Records a temp dir to remove if the harness is killed by a second signal.
pub fn register_dir(dir: &Path) {
    if let Ok(mut v) = TEMP_DIRS.lock() {
        v.push(dir.to_owned());
    }
}

/// Forgets a temp dir that its owner removed.
pub fn unregister_dir(dir: &Path) {
    if let Ok(mut v) = TEMP_DIRS.lock() {
        v.retain(|d| d != dir);
    }
}

/// Sends `sig` to `pid`, ignoring "no such process".
pub fn send(pid: u32, sig: Signal) {
    if let Ok(raw) = i32::try_from(pid) {
        let _ = kill(Pid::from_raw(raw), sig);
    }
}

/// Waits for `child` to exit until `deadline`, polling; `None` if it is still running.
pub fn wait_until(child: &mut Child, deadline: Instant) -> Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait().context("waiting for child")? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// What a finished short-lived command left behind.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Runs `cmd` to completion with captured output, killing it at `timeout` or on Ctrl-C.
/// The PID is registered while it runs, so a second Ctrl-C can kill it.
pub fn run_captured(cmd: &mut Command, timeout: Duration) -> Result<Finished> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let pid = child.id();
    register(pid);
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let (tx, rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let deadline = start + timeout;
    let mut killed = None;
    let status = loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(status) => break status.context("waiting for child")?,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if killed.is_none() && (interrupted() || Instant::now() >= deadline) {
                    send(pid, Signal::SIGKILL);
                    killed = Some(if interrupted() {
                        "interrupted".to_owned()
                    } else {
                        format!("timed out after {timeout:?}")
                    });
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                bail!("waiter thread for {program} vanished")
            }
        }
    };
    let elapsed = start.elapsed();
    let _ = waiter.join();
    unregister(pid);
    let stdout = stdout.map(join_drain).unwrap_or_default();
    let stderr = stderr.map(join_drain).unwrap_or_default();
    if let Some(why) = killed {
        bail!("{program} {why}");
    }
    Ok(Finished {
        status,
        stdout,
        stderr,
        elapsed,
    })
}

fn drain<R: Read + Send + 'static>(mut r: R) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn join_drain(h: thread::JoinHandle<String>) -> String {
    h.join().unwrap_or_default()
}

/// `BIN --version`, first line, or a note why not (bounded to a few seconds).
pub fn version_of(bin: &Path) -> String {
    match run_captured(Command::new(bin).arg("--version"), Duration::from_secs(3)) {
        Ok(f) if f.status.success() => f.stdout.lines().next().unwrap_or("").trim().to_owned(),
        Ok(f) => format!("`--version` exited with {}", f.status),
        Err(e) => format!("`--version` failed: {e:#}"),
    }
}

/// Resident set size of `pid` in bytes, from `/proc/<pid>/status` (VmRSS).
pub fn vm_rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    parse_vm_rss(&status).ok_or_else(|| anyhow!("no VmRSS line in /proc/{pid}/status"))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => Some(value * 1024),
        _ => None,
    }
}

/// User + system CPU time of all threads of `pid`, from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let ticks =
        parse_stat_ticks(&stat).ok_or_else(|| anyhow!("unexpected /proc/{pid}/stat format"))?;
    Ok(Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64))
}

fn parse_stat_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces; count after the last ')'.
    // After it: state is field 3, utime field 14, stime field 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .and_then(|t| u64::try_from(t).ok())
            .filter(|t| *t > 0)
            .unwrap_or(100)
    })
}

/// CPU time used by all children reaped so far (user + system).
pub fn children_cpu_time() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_CHILDREN) {
        Ok(u) => {
            let tv = |t: nix::sys::time::TimeVal| {
                Duration::from_secs(u64::try_from(t.tv_sec()).unwrap_or(0))
                    + Duration::from_micros(u64::try_from(t.tv_usec()).unwrap_or(0))
            };
            tv(u.user_time()) + tv(u.system_time())
        }
        Err(_) => Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vm_rss() {
        let s = "Name:\tredis-server\nVmPeak:\t  1000 kB\nVmRSS:\t    8 kB\nThreads:\t5\n";
        assert_eq!(parse_vm_rss(s), Some(8192));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
    }

    #[test]
    fn parses_stat_ticks_with_odd_names() {
        let s = "42 (redis server) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 5 0 1 2 3";
        assert_eq!(parse_stat_ticks(s), Some(10));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn captured_run_times_out() {
        let err = run_captured(Command::new("sleep").arg("5"), Duration::from_millis(200))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("timed out"), "{err}");
    }

    #[test]
    fn captured_run_collects_output() {
        let f = run_captured(
            Command::new("sh").args(["-c", "echo out; echo err >&2"]),
            Duration::from_secs(5),
        )
        .unwrap();
        assert!(f.status.success());
        assert_eq!(f.stdout, "out\n");
        assert_eq!(f.stderr, "err\n");
    }
}
