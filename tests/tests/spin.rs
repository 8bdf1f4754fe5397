//! A server confined to one CPU busy-polls while commands come (see `node/src/spin.rs`), and
//! must stop once they stop: an idle server uses no CPU.

use std::time::{Duration, Instant};

use ferrodis_tests::Server;
use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

/// CPU time (user + system) of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name, which is in parentheses: utime and stime are the
    // 12th and 13th of them.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Starts ferrodis allowed on one CPU only (the first this thread may use); the affinity is
/// inherited by the child and this thread's own is put back.
fn start_on_one_cpu() -> Server {
    let me = Pid::from_raw(0);
    let old = sched_getaffinity(me).expect("affinity");
    let cpu = (0..CpuSet::count())
        .find(|&c| old.is_set(c).unwrap_or(false))
        .expect("a cpu");
    let mut one = CpuSet::new();
    one.set(cpu).unwrap();
    sched_setaffinity(me, &one).expect("pin");
    let server = Server::ferrodis();
    sched_setaffinity(me, &old).expect("unpin");
    server
}

#[test]
fn a_server_on_one_cpu_stops_spinning_when_commands_stop() {
    let server = start_on_one_cpu();
    let pid = server.pid().expect("running");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let allowed = status
        .lines()
        .find(|l| l.starts_with("Cpus_allowed_list"))
        .unwrap();
    assert!(!allowed.contains(['-', ',']), "{allowed}");

    let mut c = server.client();
    // Traffic for a while: one command at a time, as a -P 1 client sends them.
    let until = Instant::now() + Duration::from_millis(500);
    let mut n = 0;
    while Instant::now() < until && n < 200_000 {
        assert_eq!(
            c.ok(["INCR", "counter"]).raw(),
            format!(":{}\r\n", n + 1).as_bytes()
        );
        n += 1;
    }
    // Then nothing, with the connection still open. The spinner parks 50 us after the last
    // command; over two idle seconds the process may use a few ticks (the cron), never
    // most of a CPU.
    std::thread::sleep(Duration::from_millis(200));
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(pid) - before;
    assert!(used < 20, "{used} ticks of CPU in 2 idle seconds");
    // And it still answers at once.
    assert_eq!(
        c.ok(["GET", "counter"]).raw(),
        format!("${}\r\n{n}\r\n", n.to_string().len()).as_bytes()
    );
}
