//! Processes the tool started, found by pid file: alive only if the pid's executable is
//! the binary we started (a recycled pid is never signalled), stopped with SIGTERM and,
//! after a deadline, SIGKILL.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The pid in `pidfile`, if it names a live process running `exe`.
pub fn running(pidfile: &Path, exe: &Path) -> Option<i32> {
    let pid: i32 = fs::read_to_string(pidfile).ok()?.trim().parse().ok()?;
    (pid > 0 && runs(pid, exe)).then_some(pid)
}

/// Whether process `pid` runs the executable `exe`.
pub fn runs(pid: i32, exe: &Path) -> bool {
    let Ok(actual) = fs::read_link(format!("/proc/{pid}/exe")) else {
        return false;
    };
    let actual = actual.to_string_lossy();
    let actual = actual.trim_end_matches(" (deleted)");
    let want = fs::canonicalize(exe).unwrap_or_else(|_| exe.to_path_buf());
    Path::new(actual) == want
}

fn gone(pid: i32) -> bool {
    // A zombie counts as gone: it no longer serves anything.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// SIGTERM, wait up to `grace`, then SIGKILL; returns once the process is gone.
pub fn stop(pid: i32, grace: Duration) -> Result<(), String> {
    let p = Pid::from_raw(pid);
    if kill(p, Signal::SIGTERM).is_err() {
        return Ok(()); // already gone
    }
    let start = Instant::now();
    while start.elapsed() < grace {
        if gone(pid) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = kill(p, Signal::SIGKILL);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if gone(pid) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("process {pid} survived SIGKILL"))
}

/// The last `n` lines of a log file (for error messages).
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_stops_a_process_by_pid_file() {
        let dir = crate::files::test_dir("proc");
        let sleep = Path::new("/bin/sleep");
        let mut child = std::process::Command::new(sleep)
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id() as i32;
        let pf = dir.join("p.pid");
        fs::write(&pf, format!("{pid}\n")).expect("pid file");
        assert_eq!(running(&pf, sleep), Some(pid));
        // Another executable: not ours.
        assert_eq!(running(&pf, Path::new("/bin/cat")), None);
        stop(pid, Duration::from_secs(5)).expect("stop");
        let _ = child.wait();
        assert_eq!(running(&pf, sleep), None);
        fs::write(&pf, "garbage").expect("pid file");
        assert_eq!(running(&pf, sleep), None);
        let _ = fs::remove_dir_all(&dir);
    }
}
