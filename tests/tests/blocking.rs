//! Blocking list commands with several raw clients, against stock Redis and ferrodis: each
//! scenario runs on both servers and the replies every client got must match byte for byte
//! (and match what the scenario expects, so a scenario cannot pass by doing nothing).
//! Every wait has a deadline: clients read with a timeout, and "client is blocked" is polled
//! through `INFO clients` until a deadline.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrodis_tests::scenario::{both, cmd, pipelined, read, wait_blocked};
use ferrodis_tests::{RespClient, Server};

#[test]
fn fifo_fairness_and_wakeup_from_another_connection() {
    let t = both("fifo", |s| {
        let mut ctrl = s.client();
        let mut cs: Vec<RespClient> = (0..3).map(|_| s.client()).collect();
        for (i, c) in cs.iter_mut().enumerate() {
            c.send_command(["BLPOP", "k", "0"]).unwrap();
            wait_blocked(&mut ctrl, i + 1);
        }
        let mut out = vec![cmd(&mut ctrl, &["RPUSH", "k", "a", "b", "c", "d"])];
        for c in cs.iter_mut() {
            out.push(read(c));
        }
        out.push(cmd(&mut ctrl, &["LRANGE", "k", "0", "-1"]));
        wait_blocked(&mut ctrl, 0);
        out
    });
    assert_eq!(t[1], "*2\\r\\n$1\\r\\nk\\r\\n$1\\r\\na\\r\\n");
    assert_eq!(t[3], "*2\\r\\n$1\\r\\nk\\r\\n$1\\r\\nc\\r\\n");
}

#[test]
fn blmove_chains_serve_every_client() {
    let t = both("chain", |s| {
        let mut ctrl = s.client();
        let mut c1 = s.client();
        let mut c2 = s.client();
        let mut c3 = s.client();
        c1.send_command(["BLMOVE", "a", "b", "LEFT", "RIGHT", "0"])
            .unwrap();
        wait_blocked(&mut ctrl, 1);
        c2.send_command(["BRPOPLPUSH", "b", "c", "0"]).unwrap();
        wait_blocked(&mut ctrl, 2);
        c3.send_command(["BLMPOP", "0", "2", "x", "c", "LEFT", "COUNT", "5"])
            .unwrap();
        wait_blocked(&mut ctrl, 3);
        vec![
            cmd(&mut ctrl, &["LPUSH", "a", "v"]),
            read(&mut c1),
            read(&mut c2),
            read(&mut c3),
            cmd(&mut ctrl, &["EXISTS", "a", "b", "c"]),
        ]
    });
    assert_eq!(t[3], "*2\\r\\n$1\\r\\nc\\r\\n*1\\r\\n$1\\r\\nv\\r\\n");
    assert_eq!(t[4], ":0\\r\\n");
}

#[test]
fn multi_key_pops_pick_the_first_non_empty_key() {
    let t = both("multikey", |s| {
        let mut ctrl = s.client();
        let mut c = s.client();
        let mut out = vec![
            cmd(&mut ctrl, &["RPUSH", "k2", "y"]),
            cmd(&mut ctrl, &["RPUSH", "k3", "z"]),
            cmd(&mut c, &["BRPOP", "k1", "k2", "k3", "0"]),
        ];
        c.send_command(["BLPOP", "k1", "k2", "0"]).unwrap();
        wait_blocked(&mut ctrl, 1);
        // A key of another type does not wake a list waiter; a list does.
        out.push(cmd(&mut ctrl, &["SET", "k1", "str"]));
        out.push(cmd(&mut ctrl, &["RPUSH", "k2", "w"]));
        out.push(read(&mut c));
        out
    });
    assert_eq!(t[2], "*2\\r\\n$2\\r\\nk2\\r\\n$1\\r\\ny\\r\\n");
    assert_eq!(t[5], "*2\\r\\n$2\\r\\nk2\\r\\n$1\\r\\nw\\r\\n");
}

#[test]
fn timeouts_answer_null_in_resp2_and_resp3() {
    let t = both("timeouts", |s| {
        let mut c = s.client();
        let mut out = vec![
            cmd(&mut c, &["BLPOP", "nokey", "0.05"]),
            cmd(&mut c, &["BLMOVE", "nokey", "d", "LEFT", "LEFT", "0.05"]),
            cmd(&mut c, &["BLMPOP", "0.05", "1", "nokey", "RIGHT"]),
        ];
        c.ok(["HELLO", "3"]);
        out.push(cmd(&mut c, &["BRPOP", "nokey", "0.05"]));
        out.push(cmd(&mut c, &["BRPOPLPUSH", "nokey", "d", "0.05"]));
        out.push(cmd(&mut c, &["PING"]));
        out
    });
    assert_eq!(t[0], "*-1\\r\\n");
    assert_eq!(t[3], "_\\r\\n");
}

#[test]
fn client_unblock_and_client_list_flag() {
    let t = both("unblock", |s| {
        let mut ctrl = s.client();
        let mut c = s.client();
        let id = c.ok(["CLIENT", "ID"]).as_int().unwrap().to_string();
        let mut out = vec![cmd(&mut ctrl, &["CLIENT", "UNBLOCK", &id])];
        c.send_command(["BLPOP", "k", "0"]).unwrap();
        wait_blocked(&mut ctrl, 1);
        let list = ctrl.ok(["CLIENT", "LIST", "ID", &id]);
        let line = String::from_utf8_lossy(list.as_bytes().unwrap_or_default()).to_string();
        out.push(format!("has b flag: {}", line.contains(" flags=b ")));
        out.push(cmd(&mut ctrl, &["CLIENT", "UNBLOCK", &id]));
        out.push(read(&mut c));
        c.send_command(["BLMOVE", "k", "d", "LEFT", "LEFT", "0"])
            .unwrap();
        wait_blocked(&mut ctrl, 1);
        out.push(cmd(&mut ctrl, &["CLIENT", "UNBLOCK", &id, "ERROR"]));
        out.push(read(&mut c));
        out.push(cmd(&mut ctrl, &["CLIENT", "UNBLOCK", &id, "TIMEOUT"]));
        out.push(cmd(&mut c, &["PING"]));
        out
    });
    assert_eq!(t[1], "has b flag: true");
    assert_eq!(t[3], "*-1\\r\\n");
    assert_eq!(t[5], "-UNBLOCKED client unblocked via CLIENT UNBLOCK\\r\\n");
}

#[test]
fn disconnect_while_blocked_unregisters() {
    let t = both("disconnect", |s| {
        let mut ctrl = s.client();
        let mut c = s.client();
        c.send_command(["BLPOP", "k", "0"]).unwrap();
        wait_blocked(&mut ctrl, 1);
        c.shutdown();
        wait_blocked(&mut ctrl, 0);
        vec![
            cmd(&mut ctrl, &["RPUSH", "k", "v"]),
            cmd(&mut ctrl, &["LRANGE", "k", "0", "-1"]),
        ]
    });
    assert_eq!(t[1], "*1\\r\\n$1\\r\\nv\\r\\n");
}

#[test]
fn pipelined_commands_wait_for_the_blocked_one() {
    let t = both("pipeline", |s| {
        let mut ctrl = s.client();
        let mut c = s.client();
        c.send_raw(b"BLPOP k 0\r\nPING\r\n").unwrap();
        wait_blocked(&mut ctrl, 1);
        vec![
            cmd(&mut ctrl, &["LPUSH", "k", "v"]),
            read(&mut c),
            read(&mut c),
        ]
    });
    assert_eq!(t[2], "+PONG\\r\\n");
}

/// A command pipelined behind one that blocked starts its own timer: the time spent blocked
/// is neither in its SLOWLOG duration nor in its clock (ferrodis chains one command's end
/// time into the next command's start inside a batch).
#[test]
fn a_command_after_a_blocked_one_in_the_same_batch_is_not_slow() {
    let t = both("slow-after-block", |s| {
        let mut c = s.client();
        let mut out = vec![
            cmd(
                &mut c,
                &["CONFIG", "SET", "slowlog-log-slower-than", "100000"],
            ),
            cmd(&mut c, &["SLOWLOG", "RESET"]),
        ];
        out.extend(pipelined(&mut c, &[&["BLPOP", "nolist", "0.3"], &["PING"]]));
        out.push(cmd(&mut c, &["SLOWLOG", "LEN"]));
        out
    });
    assert_eq!(t[2], "*-1\\r\\n");
    assert_eq!(t[3], "+PONG\\r\\n");
    assert_eq!(t[4], ":0\\r\\n");
}

/// The same after a WAIT that timed out (no replicas): a SET ... PX pipelined behind it counts
/// its expiry from when it ran, not from before the wait (it would be born expired).
#[test]
fn a_command_after_wait_in_the_same_batch_reads_the_clock() {
    let t = both("expire-after-wait", |s| {
        let mut c = s.client();
        pipelined(
            &mut c,
            &[
                &["WAIT", "1", "300"],
                &["SET", "k", "v", "PX", "250"],
                &["EXISTS", "k"],
            ],
        )
    });
    assert_eq!(t, [":0\\r\\n", "+OK\\r\\n", ":1\\r\\n"]);
}

/// `CLIENT UNBLOCK` inside a transaction that also pushes to the key clients wait on, while
/// another client pushes to it too: serving those clients locks the key after the blocked
/// clients' own mutex, and the transaction holds the key when it unblocks (it used to wait
/// for that mutex there, and both waited forever). No push may be lost either: everything
/// pushed is popped or still in the list.
fn unblock_in_transactions_under_pushes(s: &Server) {
    const ROUNDS: u64 = 300;
    const WRITES: usize = 20;
    let deadline = Instant::now() + Duration::from_secs(30);
    let stop = Arc::new(AtomicBool::new(false));
    let connect = |addr| {
        let mut c = RespClient::connect(addr).expect("connect");
        c.set_timeout(Duration::from_secs(10));
        c
    };
    let ids: Arc<[AtomicI64; 2]> = Arc::new([AtomicI64::new(-1), AtomicI64::new(-1)]);
    let waiters: Vec<_> = (0..2)
        .map(|i| {
            let (addr, stop, ids) = (s.addr(), stop.clone(), ids.clone());
            std::thread::spawn(move || {
                let mut c = connect(addr);
                ids[i].store(c.ok(["CLIENT", "ID"]).as_int().unwrap(), SeqCst);
                let mut popped = 0u64;
                while !stop.load(SeqCst) {
                    let r = c.command(["BLPOP", "k", "0.2"]).expect("BLPOP answers");
                    if !r.is_null() {
                        popped += 1;
                    }
                }
                popped
            })
        })
        .collect();
    while ids.iter().any(|id| id.load(SeqCst) < 0) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let pusher = {
        let (addr, stop) = (s.addr(), stop.clone());
        std::thread::spawn(move || {
            let mut c = connect(addr);
            let mut pushed = 0u64;
            while !stop.load(SeqCst) && pushed < ROUNDS * 20 {
                c.ok(["RPUSH", "k", "p"]);
                pushed += 1;
            }
            pushed
        })
    };
    let mut c = connect(s.addr());
    for n in 0..ROUNDS {
        assert!(Instant::now() < deadline, "too slow");
        let id = ids[(n % 2) as usize].load(SeqCst).to_string();
        // Writes to a key of k's slot before the unblock keep k's shard held a while: a
        // client being served meanwhile waits for it, holding the blocked clients' mutex.
        c.ok(["MULTI"]);
        for _ in 0..WRITES {
            c.ok(["INCR", "{k}n"]);
        }
        c.ok(["CLIENT", "UNBLOCK", &id]);
        let r = c.command(["EXEC"]).expect("EXEC answers");
        assert!(!r.is_error() && r.children().len() == WRITES + 1, "{r}");
    }
    stop.store(true, SeqCst);
    let pushed = pusher.join().expect("pusher");
    let popped: u64 = waiters.into_iter().map(|w| w.join().expect("waiter")).sum();
    let left = c.ok(["LLEN", "k"]).as_int().unwrap() as u64;
    assert_eq!(popped + left, pushed, "{:?}", s.flavor());
}

#[test]
fn client_unblock_in_transactions_under_pushes_ferrodis() {
    unblock_in_transactions_under_pushes(&Server::ferrodis());
}

#[test]
fn client_unblock_in_transactions_under_pushes_stock() {
    unblock_in_transactions_under_pushes(&Server::stock());
}
