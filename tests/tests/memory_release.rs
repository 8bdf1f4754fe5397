//! Freed memory goes back to the kernel: kept for reuse for a while after a big delete (a
//! refill does not fault every page in again), then released by the cron
//! (`node/src/alloc.rs`, `Releaser`), or at once by `MEMORY PURGE`.

use std::time::{Duration, Instant};

use ferrodis_tests::resp_client::encode_command;
use ferrodis_tests::{RespClient, Server};

const MB: u64 = 1 << 20;

/// VmRSS of `pid` in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// Pushes about 150 MB of 1 KiB elements onto `key`, 1,000 to a write.
fn fill(c: &mut RespClient, key: &str) {
    let value = "v".repeat(1024);
    for _ in 0..150 {
        let mut batch = Vec::new();
        for _ in 0..1000 {
            batch.extend(encode_command(["RPUSH", key, value.as_str()]));
        }
        c.send_raw(&batch).unwrap();
        for _ in 0..1000 {
            c.read_reply().unwrap();
        }
    }
}

fn wait_rss_below(pid: u32, limit: u64, deadline: Duration) -> Result<Duration, u64> {
    let start = Instant::now();
    loop {
        let now = rss(pid);
        if now < limit {
            return Ok(start.elapsed());
        }
        if start.elapsed() > deadline {
            return Err(now);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn deleted_memory_is_kept_for_reuse_then_released() {
    let server = Server::ferrodis();
    let pid = server.pid().expect("running");
    let mut c = server.client();
    fill(&mut c, "big");
    let full = rss(pid);
    assert!(full > 150 * MB, "rss {full}");
    assert_eq!(c.ok(["DEL", "big"]).raw(), b":1\r\n");
    // Kept for reuse at first: a second fill right away needs no more memory.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        rss(pid) > full / 2,
        "released at once: {} of {full}",
        rss(pid)
    );
    fill(&mut c, "again");
    assert!(rss(pid) < full + 20 * MB, "{} against {full}", rss(pid));
    // Unused for the delay (10 s), it goes back to the kernel.
    assert_eq!(c.ok(["DEL", "again"]).raw(), b":1\r\n");
    let took = wait_rss_below(pid, 60 * MB, Duration::from_secs(30))
        .unwrap_or_else(|rss| panic!("still {rss} bytes resident after 30 s"));
    assert!(took >= Duration::from_secs(5), "released after {took:?}");
}

#[test]
fn memory_purge_releases_at_once() {
    let server = Server::ferrodis();
    let pid = server.pid().expect("running");
    let mut c = server.client();
    fill(&mut c, "big");
    assert_eq!(c.ok(["DEL", "big"]).raw(), b":1\r\n");
    assert_eq!(c.ok(["MEMORY", "PURGE"]).raw(), b"+OK\r\n");
    if let Err(rss) = wait_rss_below(pid, 60 * MB, Duration::from_secs(2)) {
        panic!("still {rss} bytes resident after MEMORY PURGE");
    }
}
