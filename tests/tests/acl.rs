//! ACL files and logs, on stock redis-server and ferrodis alike: the hardened deployment guide's
//! ACL file loaded unchanged, ACL SAVE / ACL LOAD (and the connections LOAD closes), bad files
//! and `user` lines refusing to start with Redis's messages, ACL LOG entry fields.

use std::process::{Command, Stdio};
use std::time::Duration;

use ferrodis_tests::resp_client::RespClient;
use ferrodis_tests::server::{refuses_to_start, Flavor, Server, TempDir};

const FLAVORS: [Flavor; 2] = [Flavor::Stock, Flavor::Ferrodis];

/// The ACL file of the hardened deployment guide, exactly as the guide prints it.
const GUIDE_ACL: &str =
    "user app_user on >AppPassword123! ~session:* ~patient:* +get +set +hget +hset +expire +ttl
user dev_user on >DevPassword123! ~* +get +hget +keys +info +cluster
user admin_user on >AdminPassword123! ~* +@all
user default off
";

fn text(c: &mut RespClient, args: &[&str]) -> String {
    let r = c.command(args.iter().copied()).expect("reply");
    if let Some(s) = r.as_str() {
        return if r.is_error() { format!("-{s}") } else { s };
    }
    String::from_utf8_lossy(r.raw()).into_owned()
}

/// The words of each ACL LIST line, sorted (Redis orders single commands by hash).
fn acl_list_words(c: &mut RespClient) -> Vec<Vec<String>> {
    let r = c.command(["ACL", "LIST"]).expect("ACL LIST");
    r.children()
        .iter()
        .map(|l| {
            let mut w: Vec<String> = l
                .as_str()
                .unwrap_or_default()
                .split(' ')
                .map(str::to_string)
                .collect();
            w.sort();
            w
        })
        .collect()
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run redis-cli");
    // stderr only holds redis-cli's warning about passwords on the command line.
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn hardened_guide_acl_file_loads_unchanged() {
    let mut seen = Vec::new();
    for flavor in FLAVORS {
        let tmp = TempDir::new(&format!("acl-guide-{}", flavor.name()));
        let file = tmp.path().join("users.acl");
        std::fs::write(&file, GUIDE_ACL).unwrap();
        let server = Server::builder(flavor)
            .directive("aclfile", &[file.to_str().unwrap()])
            .start();
        let port = server.port();
        let mut c = server.client();
        // default is off: nothing runs unauthenticated, and it cannot authenticate.
        let noauth = text(&mut c, &["PING"]);
        assert_eq!(noauth, "-NOAUTH Authentication required.", "{flavor:?}");
        let wrongpass = "-WRONGPASS invalid username-password pair or user is disabled.";
        assert_eq!(text(&mut c, &["AUTH", "anything"]), wrongpass);
        assert_eq!(text(&mut c, &["AUTH", "default", ""]), wrongpass);
        assert_eq!(
            text(&mut c, &["HELLO", "3", "AUTH", "default", "x"]),
            wrongpass
        );
        // The guide's own checks, with the real redis-cli.
        let set = redis_cli(
            port,
            &[
                "--user",
                "app_user",
                "--pass",
                "AppPassword123!",
                "SET",
                "session:test",
                "data",
            ],
        );
        assert_eq!(set, "OK\n", "{flavor:?}");
        let flush = redis_cli(
            port,
            &[
                "--user",
                "app_user",
                "--pass",
                "AppPassword123!",
                "FLUSHALL",
            ],
        );
        assert!(
            flush.contains("NOPERM this user has no permissions to run the 'flushall' command"),
            "{flavor:?}: {flush}"
        );
        let ping = redis_cli(
            port,
            &[
                "--user",
                "admin_user",
                "--pass",
                "AdminPassword123!",
                "PING",
            ],
        );
        assert_eq!(ping, "PONG\n", "{flavor:?}");
        assert_eq!(text(&mut c, &["AUTH", "app_user", "AppPassword123!"]), "OK");
        assert_eq!(text(&mut c, &["GET", "session:test"]), "data");
        assert_eq!(
            text(&mut c, &["SET", "other", "x"]),
            "-NOPERM this user has no permissions to access one of the keys used as arguments"
        );
        assert_eq!(text(&mut c, &["AUTH", "dev_user", "DevPassword123!"]), "OK");
        assert_eq!(
            text(&mut c, &["SET", "session:test", "x"]),
            "-NOPERM this user has no permissions to run the 'set' command"
        );
        assert_eq!(
            text(&mut c, &["AUTH", "admin_user", "AdminPassword123!"]),
            "OK"
        );
        seen.push(acl_list_words(&mut c));
    }
    assert_eq!(seen[0], seen[1]);
}

#[test]
fn acl_save_then_load() {
    for flavor in FLAVORS {
        let tmp = TempDir::new(&format!("acl-save-{}", flavor.name()));
        let file = tmp.path().join("users.acl");
        std::fs::write(&file, "").unwrap();
        let server = Server::builder(flavor)
            .directive("aclfile", &[file.to_str().unwrap()])
            .start();
        let mut c = server.client();
        c.ok([
            "ACL", "SETUSER", "alice", "on", ">pw", "~a*", "&c", "+@hash", "-hdel",
        ]);
        c.ok([
            "ACL",
            "SETUSER",
            "bob",
            "on",
            "nopass",
            "%R~r*",
            "(+get ~x*)",
        ]);
        assert_eq!(text(&mut c, &["ACL", "SAVE"]), "OK");
        let saved = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            saved,
            "user alice on #1e2d8d1ad5c33e5b2d5ba97e5bb7d44d36bf45bd1e3bc457e0b5cc5fbd2b6c6e ~a* resetchannels &c -@all +@hash -hdel\n\
             user bob on nopass %R~r* resetchannels -@all (~x* resetchannels -@all +get)\n\
             user default on nopass ~* &* +@all\n"
                .replace(
                    "1e2d8d1ad5c33e5b2d5ba97e5bb7d44d36bf45bd1e3bc457e0b5cc5fbd2b6c6e",
                    &sha256_hex("pw")
                ),
            "{flavor:?}"
        );
        let before = acl_list_words(&mut c);
        // Connections of non-default users are closed by ACL LOAD; default ones stay.
        let mut as_alice = server.client();
        assert_eq!(text(&mut as_alice, &["AUTH", "alice", "pw"]), "OK");
        c.ok(["ACL", "SETUSER", "carol", "on"]);
        c.ok(["ACL", "DELUSER", "bob"]);
        assert_eq!(text(&mut c, &["ACL", "LOAD"]), "OK");
        assert_eq!(acl_list_words(&mut c), before, "{flavor:?}");
        assert!(
            as_alice.expect_closed(Duration::from_secs(5)).is_ok(),
            "{flavor:?}"
        );
        assert_eq!(text(&mut c, &["PING"]), "PONG");
        // A bad file changes nothing and says why.
        std::fs::write(&file, "user alice on\nuser bob badop\n").unwrap();
        let err = text(&mut c, &["ACL", "LOAD"]);
        let path = file.to_str().unwrap();
        assert_eq!(
            err,
            format!("-ERR {path}:2: Syntax error. WARNING: ACL errors detected, no change to the previously active ACL rules was performed"),
            "{flavor:?}"
        );
        assert_eq!(acl_list_words(&mut c), before);
    }
}

fn sha256_hex(s: &str) -> String {
    let out = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(s.as_bytes())?;
            }
            child.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The text after `marker` on the line holding it.
fn line_from(out: &str, marker: &str) -> String {
    out.lines()
        .find_map(|l| l.find(marker).map(|i| l[i..].to_string()))
        .unwrap_or_else(|| panic!("no '{marker}' in:\n{out}"))
}

#[test]
fn bad_acl_files_and_user_lines_refuse_to_start() {
    let tmp = TempDir::new("acl-bad");
    let bad = tmp.path().join("bad.acl");
    std::fs::write(
        &bad,
        "user alice on\nuser bob badop\n# comment\nuser alice\nuser c (+get\nuser d +nosuch\n",
    )
    .unwrap();
    let missing = tmp.path().join("missing.acl");
    let good = tmp.path().join("good.acl");
    std::fs::write(&good, "user alice on\n").unwrap();
    let conf = |name: &str, body: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, body).unwrap();
        p.to_str().unwrap().to_string()
    };
    let mixed = conf(
        "mixed.conf",
        &format!("aclfile {}\nuser bob on\n", good.to_str().unwrap()),
    );
    let badop = conf("badop.conf", "user alice on badop\n");
    let dup = conf("dup.conf", "user alice on >x\nuser alice off\n");
    let unknown = conf("unknown.conf", "user alice on +nosuch\n");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--aclfile".into(), bad.to_str().unwrap().into()],
            "Aborting Redis startup because of ACL errors:",
        ),
        (
            vec!["--aclfile".into(), missing.to_str().unwrap().into()],
            "Aborting Redis startup because of ACL errors:",
        ),
        (vec![mixed], "Configuring Redis with users"),
        (vec![badop], "Error in user declaration"),
        (vec![dup], "Error in user declaration"),
        (vec![unknown.clone()], "Error loading ACL rule"),
    ];
    for (args, marker) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let stock = refuses_to_start(Flavor::Stock, &args);
        let ours = refuses_to_start(Flavor::Ferrodis, &args);
        assert_eq!(
            line_from(&ours, marker),
            line_from(&stock, marker),
            "{args:?}"
        );
        if marker == "Error in user declaration" {
            assert!(
                ours.contains("Reading the configuration file, at line"),
                "{ours}"
            );
        }
    }
    let stock = refuses_to_start(Flavor::Stock, &[&unknown]);
    assert!(stock.contains("Critical error while loading ACLs. Exiting."));
    let ours = refuses_to_start(Flavor::Ferrodis, &[&unknown]);
    assert!(
        ours.contains("Critical error while loading ACLs. Exiting."),
        "{ours}"
    );
}

#[test]
fn user_lines_in_redis_conf_and_config_rewrite() {
    let mut seen = Vec::new();
    let mut rewritten = Vec::new();
    for flavor in FLAVORS {
        let tmp = TempDir::new(&format!("acl-conf-{}", flavor.name()));
        let conf = tmp.path().join("redis.conf");
        std::fs::write(
            &conf,
            "# users\nuser default on >pw ~* &* +@all\nuser alice on >a ~a* +get (+set ~s*)\nport 6379\n",
        )
        .unwrap();
        let server = Server::builder(flavor).config_file(&conf).start();
        let mut c = server.client();
        assert_eq!(
            text(&mut c, &["GET", "a"]),
            "-NOAUTH Authentication required."
        );
        assert_eq!(text(&mut c, &["AUTH", "pw"]), "OK");
        seen.push(acl_list_words(&mut c));
        // CONFIG REWRITE writes the live users in place of the file's user lines.
        c.ok([
            "ACL", "SETUSER", "bob", "on", "nopass", "-@all", "+@hash", "-hdel",
        ]);
        c.ok(["ACL", "DELUSER", "alice"]);
        assert_eq!(text(&mut c, &["CONFIG", "REWRITE"]), "OK");
        let file = std::fs::read_to_string(&conf).unwrap();
        let users: Vec<String> = file
            .lines()
            .filter(|l| l.starts_with("user "))
            .map(str::to_string)
            .collect();
        assert!(file.starts_with("# users\nuser "), "{flavor:?}: {file}");
        rewritten.push(users);
        let mut a = server.client();
        assert_eq!(text(&mut a, &["AUTH", "pw"]), "OK");
        assert_eq!(text(&mut a, &["AUTH", "bob", "x"]), "OK");
        assert!(text(&mut a, &["HDEL", "h", "f"]).starts_with("-NOPERM"));
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(rewritten[0], rewritten[1]);
    assert_eq!(rewritten[0].len(), 2, "{:?}", rewritten[0]);
}

/// One ACL LOG entry as (field, value) pairs.
fn log_entries(c: &mut RespClient) -> Vec<Vec<(String, String)>> {
    let r = c.command(["ACL", "LOG"]).expect("ACL LOG");
    r.children()
        .iter()
        .map(|e| {
            e.children()
                .chunks(2)
                .map(|kv| {
                    let v = kv[1]
                        .as_str()
                        .or_else(|| kv[1].as_int().map(|n| n.to_string()))
                        .unwrap_or_default();
                    (kv[0].as_str().unwrap_or_default(), v)
                })
                .collect()
        })
        .collect()
}

#[test]
fn acl_log_entries() {
    let mut seen = Vec::new();
    for flavor in FLAVORS {
        let server = Server::builder(flavor).start();
        let mut admin = server.client();
        admin.ok([
            "ACL", "SETUSER", "app", "on", ">pw", "~app:*", "&n*", "+get", "+publish", "+multi",
        ]);
        let mut c = server.client();
        assert!(text(&mut c, &["AUTH", "app", "bad"]).starts_with("-WRONGPASS"));
        assert!(text(&mut c, &["auth", "nosuch", "bad"]).starts_with("-WRONGPASS"));
        assert_eq!(text(&mut c, &["AUTH", "app", "pw"]), "OK");
        for _ in 0..3 {
            assert!(text(&mut c, &["GET", "other"]).starts_with("-NOPERM"));
        }
        assert!(text(&mut c, &["PUBLISH", "x", "m"]).starts_with("-NOPERM"));
        assert_eq!(text(&mut c, &["MULTI"]), "OK");
        assert!(text(&mut c, &["SET", "app:1", "v"]).starts_with("-NOPERM"));
        let entries = log_entries(&mut admin);
        let mut fixed = Vec::new();
        for e in &entries {
            let keys: Vec<&str> = e.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(
                keys,
                [
                    "count",
                    "reason",
                    "context",
                    "object",
                    "username",
                    "age-seconds",
                    "client-info"
                ]
            );
            let age: f64 = e[5].1.parse().expect("age-seconds is a number");
            assert!((0.0..30.0).contains(&age), "{flavor:?}: {age}");
            let info = &e[6].1;
            assert!(info.starts_with("id=") && info.contains(" cmd="), "{info}");
            fixed.push(e[..5].to_vec());
            // The client is named as it was when refused.
            let user = if e[1].1 == "auth" { "default" } else { "app" };
            assert!(
                info.contains(&format!(" user={user} ")),
                "{flavor:?}: {info}"
            );
        }
        assert_eq!(fixed.len(), 5, "{flavor:?}: {entries:?}");
        assert_eq!(fixed[2][0].1, "3", "GET refusals are merged: {entries:?}");
        assert_eq!(text(&mut admin, &["ACL", "LOG", "RESET"]), "OK");
        assert!(log_entries(&mut admin).is_empty());
        seen.push(fixed);
    }
    assert_eq!(seen[0], seen[1]);
}
