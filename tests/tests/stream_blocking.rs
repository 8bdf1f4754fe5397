//! Blocking stream reads (XREAD / XREADGROUP BLOCK) with several raw clients, and stream
//! checks a script cannot make (XCLAIM's counts beside varying idle times), against stock
//! Redis and ferrodis: each scenario runs on both servers and the replies every client got must
//! match byte for byte, and match what the scenario expects. Every wait has a deadline: clients
//! read with a timeout, and "client is blocked" is polled through `INFO clients`.

use std::time::{Duration, Instant};

use ferrodis_tests::scenario::{both, cmd, read, wait_blocked};
use ferrodis_tests::RespClient;

#[test]
fn stream_timeouts_answer_null_in_resp2_and_resp3() {
    let t = both("timeouts", |s| {
        let mut ctrl = s.client();
        let mut c = s.client();
        ctrl.ok(["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        let started = Instant::now();
        let mut out = vec![
            cmd(&mut c, &["XREAD", "BLOCK", "50", "STREAMS", "s", "$"]),
            cmd(
                &mut c,
                &[
                    "XREADGROUP",
                    "GROUP",
                    "g",
                    "c",
                    "BLOCK",
                    "50",
                    "STREAMS",
                    "s",
                    ">",
                ],
            ),
        ];
        out.push(format!(
            "waited: {}",
            started.elapsed() >= Duration::from_millis(100)
        ));
        c.ok(["HELLO", "3"]);
        out.push(cmd(
            &mut c,
            &["XREAD", "BLOCK", "50", "STREAMS", "nokey", "0"],
        ));
        wait_blocked(&mut ctrl, 0);
        // Whether the timed-out XREADGROUP created its consumer must match stock.
        out.push(cmd(&mut ctrl, &["XINFO", "GROUPS", "s"]));
        out.push(cmd(&mut c, &["PING"]));
        out
    });
    assert_eq!(t[0], "*-1\\r\\n");
    assert_eq!(t[1], "*-1\\r\\n");
    assert_eq!(t[2], "waited: true");
    assert_eq!(t[3], "_\\r\\n");
}

#[test]
fn client_unblock_of_stream_readers() {
    let t = both("unblock", |s| {
        let mut ctrl = s.client();
        let mut c = s.client();
        let id = c.ok(["CLIENT", "ID"]).as_int().unwrap().to_string();
        c.send_command(["XREAD", "BLOCK", "0", "STREAMS", "s", "$"])
            .unwrap();
        wait_blocked(&mut ctrl, 1);
        let mut out = vec![cmd(&mut ctrl, &["CLIENT", "UNBLOCK", &id])];
        out.push(read(&mut c));
        ctrl.ok(["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        c.send_command([
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ])
        .unwrap();
        wait_blocked(&mut ctrl, 1);
        out.push(cmd(&mut ctrl, &["CLIENT", "UNBLOCK", &id, "ERROR"]));
        out.push(read(&mut c));
        out.push(cmd(&mut c, &["PING"]));
        out
    });
    assert_eq!(t[0], ":1\\r\\n");
    assert_eq!(t[1], "*-1\\r\\n");
    assert_eq!(t[3], "-UNBLOCKED client unblocked via CLIENT UNBLOCK\\r\\n");
}

#[test]
fn one_xadd_serves_every_reader_and_one_consumer_per_group() {
    let t = both("fanout", |s| {
        let mut ctrl = s.client();
        ctrl.ok(["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        let mut readers: Vec<RespClient> = (0..2).map(|_| s.client()).collect();
        let mut consumers: Vec<RespClient> = (0..2).map(|_| s.client()).collect();
        let mut n = 0;
        for r in readers.iter_mut() {
            r.send_command(["XREAD", "BLOCK", "0", "STREAMS", "s", "$"])
                .unwrap();
            n += 1;
            wait_blocked(&mut ctrl, n);
        }
        for (i, c) in consumers.iter_mut().enumerate() {
            let name = format!("c{i}");
            c.send_command([
                "XREADGROUP",
                "GROUP",
                "g",
                &name,
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                ">",
            ])
            .unwrap();
            n += 1;
            wait_blocked(&mut ctrl, n);
        }
        let mut out = vec![cmd(&mut ctrl, &["XADD", "s", "1-1", "f", "v"])];
        for r in readers.iter_mut() {
            out.push(read(r));
        }
        out.push(read(&mut consumers[0]));
        // The second consumer found nothing new for the group: still blocked.
        wait_blocked(&mut ctrl, 1);
        out.push(cmd(&mut ctrl, &["XADD", "s", "1-2", "f", "w"]));
        out.push(read(&mut consumers[1]));
        wait_blocked(&mut ctrl, 0);
        out.push(cmd(&mut ctrl, &["XPENDING", "s", "g"]));
        out
    });
    let entry = "*1\\r\\n*2\\r\\n$1\\r\\ns\\r\\n*1\\r\\n*2\\r\\n$3\\r\\n1-1\\r\\n*2\\r\\n$1\\r\\nf\\r\\n$1\\r\\nv\\r\\n";
    assert_eq!(t[1], entry);
    assert_eq!(t[2], entry);
    assert_eq!(t[3], entry);
    assert!(t[5].contains("1-2"), "{}", t[5]);
}

#[test]
fn rename_wakes_a_reader_with_at_most_a_thousand_entries() {
    let t = both("count", |s| {
        let mut ctrl = s.client();
        let mut c = s.client();
        for i in 1..=1005 {
            ctrl.ok(["XADD", "src", &format!("{i}-1"), "f", "v"]);
        }
        c.send_command(["XREAD", "BLOCK", "0", "STREAMS", "dst", "0"])
            .unwrap();
        wait_blocked(&mut ctrl, 1);
        let mut out = vec![cmd(&mut ctrl, &["RENAME", "src", "dst"])];
        let reply = c.read_reply().expect("served");
        let entries = reply.children()[0].children()[1].children().len();
        out.push(format!("entries: {entries}"));
        out
    });
    assert_eq!(t[1], "entries: 1000");
}

/// XCLAIM's RETRYCOUNT below zero is ignored: the delivery count goes up by one, or stays
/// with JUSTID (XPENDING's idle times vary, so only the counts are compared).
#[test]
fn xclaim_ignores_a_negative_retrycount() {
    let counts = both("negative retrycount", |s| {
        let mut c = s.client();
        c.ok(["XADD", "s", "1-1", "a", "1"]);
        c.ok(["XGROUP", "CREATE", "s", "g", "0"]);
        c.ok(["XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", ">"]);
        let mut out = Vec::new();
        for (consumer, justid) in [("c2", true), ("c3", false), ("c4", false)] {
            let mut args = vec!["XCLAIM", "s", "g", consumer, "0", "1-1", "RETRYCOUNT", "-1"];
            if justid {
                args.push("JUSTID");
            }
            c.ok(&args);
            let pending = c.ok(["XPENDING", "s", "g", "-", "+", "10"]);
            let entry = &pending.children()[0];
            let count = entry.children()[3].as_int().unwrap_or(-99);
            out.push(format!("{consumer}: {count}"));
        }
        out
    });
    assert_eq!(counts, ["c2: 1", "c3: 2", "c4: 3"]);
}
