//! Expected values, texts and files below were produced by stock
//! redis-server 7.0.15 (CONFIG GET *, CONFIG SET replies, startup errors,
//! CONFIG REWRITE output).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("ferrodis-config-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(std::fs::canonicalize(&path).expect("canonical temp dir"))
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dir");
        }
        std::fs::write(&path, text).expect("write file");
        path
    }

    fn str(&self) -> &str {
        self.0.to_str().expect("utf-8 temp dir")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn load(text: &str) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    config.load_str(text, "test.conf")?;
    Ok(config)
}

fn loaded(text: &str) -> Config {
    match load(text) {
        Ok(config) => config,
        Err(e) => panic!("{text:?} failed: {e}"),
    }
}

/// `(line, trimmed text, reason)` of a rejected config.
fn rejected(text: &str) -> (usize, String, String) {
    match load(text) {
        Err(ConfigError::Directive {
            line, text, reason, ..
        }) => (line, text, reason),
        other => panic!("{text:?}: expected a directive error, got {other:?}"),
    }
}

fn get1(config: &Config, name: &str) -> String {
    config
        .get_str(name)
        .unwrap_or_else(|| panic!("no directive {name}"))
}

fn set(config: &mut Config, pairs: &[(&str, &str)]) -> Result<Vec<&'static str>, String> {
    let pairs: Vec<(&[u8], &[u8])> = pairs
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    config.set(&pairs)
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// `CONFIG GET *` of a stock redis-server 7.0.15 started without a config
/// file (port shown as its built-in default, `dir` left out).
const STOCK_DEFAULTS: &str = r#"acl-pubsub-default	resetchannels
aclfile	
acllog-max-len	128
active-defrag-cycle-max	25
active-defrag-cycle-min	1
active-defrag-ignore-bytes	104857600
active-defrag-max-scan-fields	1000
active-defrag-threshold-lower	10
active-defrag-threshold-upper	100
active-expire-effort	1
activedefrag	no
activerehashing	yes
always-show-logo	no
aof-disable-auto-gc	no
aof-load-truncated	yes
aof-rewrite-incremental-fsync	yes
aof-timestamp-enabled	no
aof-use-rdb-preamble	yes
aof_rewrite_cpulist	
appenddirname	appendonlydir
appendfilename	appendonly.aof
appendfsync	everysec
appendonly	no
auto-aof-rewrite-min-size	67108864
auto-aof-rewrite-percentage	100
bgsave_cpulist	
bind	* -::*
bind-source-addr	
bio_cpulist	
busy-reply-threshold	5000
client-output-buffer-limit	normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60
client-query-buffer-limit	1073741824
cluster-allow-pubsubshard-when-down	yes
cluster-allow-reads-when-down	no
cluster-allow-replica-migration	yes
cluster-announce-bus-port	0
cluster-announce-hostname	
cluster-announce-ip	
cluster-announce-port	0
cluster-announce-tls-port	0
cluster-config-file	nodes.conf
cluster-enabled	no
cluster-link-sendbuf-limit	0
cluster-migration-barrier	1
cluster-node-timeout	15000
cluster-port	0
cluster-preferred-endpoint-type	ip
cluster-replica-no-failover	no
cluster-replica-validity-factor	10
cluster-require-full-coverage	yes
cluster-slave-no-failover	no
cluster-slave-validity-factor	10
crash-log-enabled	yes
crash-memcheck-enabled	yes
daemonize	no
databases	16
dbfilename	dump.rdb
disable-thp	yes
dynamic-hz	yes
enable-debug-command	no
enable-module-command	no
enable-protected-configs	no
hash-max-listpack-entries	512
hash-max-listpack-value	64
hash-max-ziplist-entries	512
hash-max-ziplist-value	64
hll-sparse-max-bytes	3000
hz	10
ignore-warnings	
io-threads	1
io-threads-do-reads	no
jemalloc-bg-thread	yes
latency-monitor-threshold	0
latency-tracking	yes
latency-tracking-info-percentiles	50 99 99.9
lazyfree-lazy-eviction	no
lazyfree-lazy-expire	no
lazyfree-lazy-server-del	no
lazyfree-lazy-user-del	no
lazyfree-lazy-user-flush	no
lfu-decay-time	1
lfu-log-factor	10
list-compress-depth	0
list-max-listpack-size	-2
list-max-ziplist-size	-2
logfile	
loglevel	notice
lua-time-limit	5000
masterauth	
masteruser	
maxclients	10000
maxmemory	0
maxmemory-clients	0
maxmemory-eviction-tenacity	10
maxmemory-policy	noeviction
maxmemory-samples	5
min-replicas-max-lag	10
min-replicas-to-write	0
min-slaves-max-lag	10
min-slaves-to-write	0
no-appendfsync-on-rewrite	no
notify-keyspace-events	
oom-score-adj	no
oom-score-adj-values	0 200 800
pidfile	
port	6379
proc-title-template	{title} {listen-addr} {server-mode}
propagation-error-behavior	ignore
protected-mode	yes
proto-max-bulk-len	536870912
rdb-del-sync-files	no
rdb-save-incremental-fsync	yes
rdbchecksum	yes
rdbcompression	yes
repl-backlog-size	1048576
repl-backlog-ttl	3600
repl-disable-tcp-nodelay	no
repl-diskless-load	disabled
repl-diskless-sync	yes
repl-diskless-sync-delay	5
repl-diskless-sync-max-replicas	0
repl-ping-replica-period	10
repl-ping-slave-period	10
repl-timeout	60
replica-announce-ip	
replica-announce-port	0
replica-announced	yes
replica-ignore-disk-write-errors	no
replica-ignore-maxmemory	yes
replica-lazy-flush	no
replica-priority	100
replica-read-only	yes
replica-serve-stale-data	yes
replicaof	
requirepass	
sanitize-dump-payload	no
save	3600 1 300 100 60 10000
server_cpulist	
set-max-intset-entries	512
set-proc-title	yes
shutdown-on-sigint	default
shutdown-on-sigterm	default
shutdown-timeout	10
slave-announce-ip	
slave-announce-port	0
slave-ignore-maxmemory	yes
slave-lazy-flush	no
slave-priority	100
slave-read-only	yes
slave-serve-stale-data	yes
slaveof	
slowlog-log-slower-than	10000
slowlog-max-len	128
socket-mark-id	0
stop-writes-on-bgsave-error	yes
stream-node-max-bytes	4096
stream-node-max-entries	100
supervised	no
syslog-enabled	no
syslog-facility	local0
syslog-ident	redis
tcp-backlog	511
tcp-keepalive	300
timeout	0
tls-auth-clients	yes
tls-ca-cert-dir	
tls-ca-cert-file	
tls-cert-file	
tls-ciphers	
tls-ciphersuites	
tls-client-cert-file	
tls-client-key-file	
tls-client-key-file-pass	
tls-cluster	no
tls-dh-params-file	
tls-key-file	
tls-key-file-pass	
tls-port	0
tls-prefer-server-ciphers	no
tls-protocols	
tls-replication	no
tls-session-cache-size	20480
tls-session-cache-timeout	300
tls-session-caching	yes
tracking-table-max-keys	1000000
unixsocket	
unixsocketperm	0
zset-max-listpack-entries	128
zset-max-listpack-value	64
zset-max-ziplist-entries	128
zset-max-ziplist-value	64"#;

#[test]
fn rows_are_unique_and_lowercase() {
    let mut seen = std::collections::HashSet::new();
    for d in DIRECTIVES {
        for name in std::iter::once(d.name).chain(d.alias) {
            assert_eq!(name, name.to_ascii_lowercase(), "{name}");
            assert!(seen.insert(name), "{name} twice");
        }
        if d.has(flags::MULTI_ARG) {
            assert!(
                matches!(d.kind, Kind::Special(_) | Kind::Enum(_)),
                "{}",
                d.name
            );
        }
        if let Kind::Num(n) = d.kind {
            assert!(n.min <= n.default && n.default <= n.max, "{}", d.name);
        }
    }
    assert_eq!(lookup(b"SLAVEOF").map(|d| d.name), Some("replicaof"));
    assert!(is_sensitive(b"requirepass") && is_sensitive(b"masterauth"));
    assert!(!is_sensitive(b"port"));
}

#[test]
fn names_and_defaults_match_stock() {
    let config = Config::default();
    let mine: std::collections::BTreeMap<String, String> =
        config.get(&[b"*"]).into_iter().collect();
    let mut stock = std::collections::BTreeMap::new();
    for line in STOCK_DEFAULTS.lines() {
        let (name, value) = line.split_once('\t').expect("tab");
        stock.insert(name.to_string(), value.to_string());
    }
    assert_eq!(stock.len() + 1, mine.len(), "every stock name plus dir");
    for (name, value) in &stock {
        assert_eq!(
            mine.get(name).map(String::as_str),
            Some(value.as_str()),
            "{name}"
        );
    }
    let cwd = std::env::current_dir().expect("cwd");
    assert_eq!(mine.get("dir").map(String::as_str), cwd.to_str());
    // Hidden directives: only an exact name finds them.
    for hidden in [
        "use-exit-on-panic",
        "rdb-key-save-delay",
        "key-load-delay",
        "watchdog-period",
        "loading-process-events-interval-bytes",
    ] {
        assert!(!mine.contains_key(hidden));
        assert_eq!(config.get(&[hidden.as_bytes()]).len(), 1, "{hidden}");
    }
    assert_eq!(
        get1(&config, "loading-process-events-interval-bytes"),
        "2097152"
    );
}

#[test]
fn statuses() {
    let status = |name: &str| lookup(name.as_bytes()).map(|d| d.status);
    for name in [
        "bind",
        "port",
        "protected-mode",
        "timeout",
        "tcp-keepalive",
        "loglevel",
        "logfile",
        "databases",
        "always-show-logo",
        "maxclients",
        "maxmemory",
        "maxmemory-policy",
        "maxmemory-samples",
        "lfu-log-factor",
        "lfu-decay-time",
        "proto-max-bulk-len",
        "client-query-buffer-limit",
        "requirepass",
        "hz",
        "slowlog-log-slower-than",
        "slowlog-max-len",
        "pidfile",
        "dir",
        "cluster-node-timeout",
        "cluster-config-file",
        "cluster-enabled",
        "cluster-port",
        "cluster-announce-ip",
        "cluster-announce-port",
        "cluster-announce-bus-port",
        "cluster-announce-hostname",
        "cluster-require-full-coverage",
        "cluster-allow-reads-when-down",
        "include",
        "hash-max-listpack-entries",
        "hash-max-listpack-value",
        "set-max-intset-entries",
        "tls-port",
        "tls-cert-file",
        "tls-key-file",
        "tls-ca-cert-file",
        "tls-cluster",
        "tls-protocols",
        "tls-cluster-peer-verify",
    ] {
        assert_eq!(status(name), Some(Status::Supported), "{name}");
    }
    for name in [
        "tcp-backlog",
        "activerehashing",
        "lazyfree-lazy-eviction",
        "jemalloc-bg-thread",
        "rdbcompression",
        "dbfilename",
        "set-proc-title",
        "notify-keyspace-events",
        "tls-replication",
        "tls-dh-params-file",
        "aclfile",
        "user",
        "aof-use-rdb-preamble",
    ] {
        assert_eq!(status(name), Some(Status::Accepted), "{name}");
    }
    assert_eq!(status("appendonly"), Some(Status::Accepted));
    assert_eq!(status("min-replicas-to-write"), Some(Status::Accepted));
    for name in ["loadmodule", "unixsocket"] {
        assert!(matches!(status(name), Some(Status::NotYet(_))), "{name}");
    }
}

#[test]
fn error_display_is_redis_block() {
    let err = load("port 7777\nfoo bar\n").expect_err("bad directive");
    assert_eq!(
        err.to_string(),
        format!(
            "\n*** FATAL CONFIG FILE ERROR (ferrodis {VERSION}) ***\n\
             Reading the configuration file, at line 2\n\
             >>> 'foo bar'\n\
             Bad directive or wrong number of arguments"
        )
    );
}

#[test]
fn bad_values_report_line_and_reason() {
    let cases: &[(&str, usize, &str, &str)] = &[
        (
            "# c\nmaxmemory 2xb",
            2,
            "maxmemory 2xb",
            "argument must be a memory value",
        ),
        (
            "port abc",
            1,
            "port abc",
            "argument couldn't be parsed into an integer",
        ),
        ("port 1 2", 1, "port 1 2", "wrong number of arguments"),
        ("\"\" ", 1, "\"\"", BAD_DIRECTIVE),
        (
            "\n\n   port 70000  \r",
            3,
            "port 70000",
            "argument must be between 0 and 65535 inclusive",
        ),
        (
            "port \"abc",
            1,
            "port \"abc",
            "Unbalanced quotes in configuration line",
        ),
        (
            "port 'abc'x",
            1,
            "port 'abc'x",
            "Unbalanced quotes in configuration line",
        ),
        (
            "port \"\\x41\"",
            1,
            "port \"\\x41\"",
            "argument couldn't be parsed into an integer",
        ),
        (
            "loglevel nothing",
            1,
            "loglevel nothing",
            "argument(s) must be one of the following: debug, verbose, notice, warning",
        ),
        ("save 10 abc", 1, "save 10 abc", "Invalid save parameters"),
        (
            "bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17",
            1,
            "bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17",
            "Too many bind addresses specified.",
        ),
        (
            "list-max-ziplist-entries 5 6",
            1,
            "list-max-ziplist-entries 5 6",
            BAD_DIRECTIVE,
        ),
        (
            "sentinel monitor x",
            1,
            "sentinel monitor x",
            "sentinel directive while not in sentinel mode",
        ),
        (
            "foo.bar",
            1,
            "foo.bar",
            "Module config specified without value",
        ),
        ("user", 1, "user", BAD_DIRECTIVE),
        ("loadmodule", 1, "loadmodule", BAD_DIRECTIVE),
        (
            "dir /nonexistent-ferrodis",
            1,
            "dir /nonexistent-ferrodis",
            "No such file or directory",
        ),
        ("dir /etc/passwd", 1, "dir /etc/passwd", "Not a directory"),
        (
            "replicaof 1.2.3.4 abc",
            1,
            "replicaof 1.2.3.4 abc",
            "Invalid master port",
        ),
        (
            "unixsocketperm 778",
            1,
            "unixsocketperm 778",
            "argument couldn't be parsed as an octal number",
        ),
        (
            "maxmemory-clients 101%",
            1,
            "maxmemory-clients 101%",
            "percentage argument must be less or equal to 100",
        ),
        (
            "dbfilename a/b",
            1,
            "dbfilename a/b",
            "dbfilename can't be a path, just a filename",
        ),
        (
            "appendfilename \"\"",
            1,
            "appendfilename \"\"",
            "appendfilename can't be empty",
        ),
        (
            "shutdown-on-sigint save nosave",
            1,
            "shutdown-on-sigint save nosave",
            "shutdown options SAVE and NOSAVE can't be used simultaneously",
        ),
        (
            "client-output-buffer-limit master 1 2 3",
            1,
            "client-output-buffer-limit master 1 2 3",
            "Invalid client class specified in buffer limit configuration.",
        ),
        (
            "oom-score-adj-values 0 200",
            1,
            "oom-score-adj-values 0 200",
            "wrong number of arguments",
        ),
        (
            "notify-keyspace-events q",
            1,
            "notify-keyspace-events q",
            "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.",
        ),
        (
            "databases 0",
            1,
            "databases 0",
            "argument must be between 1 and 2147483647 inclusive",
        ),
        (
            "proc-title-template \"{bad}\"",
            1,
            "proc-title-template \"{bad}\"",
            "template format is invalid or contains unknown variables",
        ),
    ];
    for (text, line, shown, reason) in cases {
        let got = rejected(text);
        assert_eq!(
            got,
            (*line, shown.to_string(), reason.to_string()),
            "{text:?}"
        );
    }
}

#[test]
fn accepted_lines() {
    let config = loaded(
        "PORT 7000\n\
         maxmemory 2GB\n\
         maxmemory \"\"\n\
         maxmemory-policy ALLKEYS-LRU\n\
         loglevel WARNING\n\
         save \"\"\n\
         save\n\
         bind \"1.1.1.1 2.2.2.2\"\n\
         list-max-ziplist-entries 5\n\
         lua-replicate-commands yes\n\
         slaveof no one\n\
         replicaof NO ONE\n\
         appendonly no\n\
         tls-port 0\n\
         unixsocketperm 777\n\
         maxmemory-clients 10%\n\
         shutdown-on-sigint \"save now\"\n\
         client-output-buffer-limit \"pubsub 32mb 8mb 61\"\n\
         oom-score-adj-values \"1 2 3\"\n\
         notify-keyspace-events KEA\n\
         latency-tracking-info-percentiles \"\"\n\
         hash-max-ziplist-entries 100\n\
         slave-read-only no\n\
         'port' 7001\n",
    );
    assert_eq!(config.port(), 7001);
    assert_eq!(config.maxmemory(), 0);
    assert_eq!(config.maxmemory_policy(), "allkeys-lru");
    assert_eq!(config.loglevel(), "warning");
    assert_eq!(config.bind(), vec!["1.1.1.1", "2.2.2.2"]);
    assert_eq!(get1(&config, "unixsocketperm"), "777");
    assert_eq!(get1(&config, "maxmemory-clients"), "10%");
    assert_eq!(get1(&config, "shutdown-on-sigint"), "save now");
    assert_eq!(
        get1(&config, "client-output-buffer-limit"),
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 61"
    );
    assert_eq!(get1(&config, "oom-score-adj-values"), "1 2 3");
    assert_eq!(get1(&config, "notify-keyspace-events"), "AKE");
    assert_eq!(
        config.notify_keyspace_events(),
        notify::ALL | notify::KEYSPACE | notify::KEYEVENT
    );
    assert_eq!(get1(&config, "latency-tracking-info-percentiles"), "");
    assert_eq!(get1(&config, "hash-max-listpack-entries"), "100");
    assert_eq!(get1(&config, "replica-read-only"), "no");
}

#[test]
fn not_yet_features_fail_unless_default() {
    let cases = [
        (
            "unixsocket /tmp/x.sock",
            "unixsocket: unix socket listening is not supported by this ferrodis build yet",
        ),
        (
            "loadmodule /x.so",
            "loadmodule: module loading is not supported by this ferrodis build yet",
        ),
        (
            "rename-command FLUSHALL \"\"",
            "rename-command: command renaming is not supported by this ferrodis build yet",
        ),
        (
            "foo.bar 1",
            "foo.bar: module configuration is not supported by this ferrodis build yet",
        ),
        (
            "sentinel",
            "sentinel: Sentinel mode is not supported by this ferrodis build yet",
        ),
    ];
    for (text, reason) in cases {
        let (line, shown, got) = rejected(&format!("# first\n{text}\n"));
        assert_eq!((line, shown.as_str(), got.as_str()), (2, text, reason));
    }
    loaded("appendonly no\ntls-port 0\nsave \"\"\naclfile \"\"\ndaemonize no\nreplicaof no one\n");
}

/// Lines of Debian's /etc/redis/redis.conf that exercise quoting and
/// multi-argument parsing.
const DEBIAN_TRICKY: &str = r#"
# save 3600 1
bind 127.0.0.1 -::1
proc-title-template "{title} {listen-addr} {server-mode}"
oom-score-adj-values 0 200 800
appendfilename "appendonly.aof"
appenddirname "appendonlydir"
auto-aof-rewrite-min-size 64mb
 
notify-keyspace-events ""
client-output-buffer-limit normal 0 0 0
client-output-buffer-limit replica 256mb 64mb 60
client-output-buffer-limit pubsub 32mb 8mb 60
"#;

#[test]
fn debian_tricky_lines() {
    let config = loaded(DEBIAN_TRICKY);
    assert_eq!(config.bind(), vec!["127.0.0.1", "-::1"]);
    assert_eq!(
        get1(&config, "proc-title-template"),
        "{title} {listen-addr} {server-mode}"
    );
    assert_eq!(get1(&config, "auto-aof-rewrite-min-size"), "67108864");
    assert_eq!(get1(&config, "notify-keyspace-events"), "");
    assert_eq!(
        get1(&config, "client-output-buffer-limit"),
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
    );
}

#[test]
fn debian_redis_conf() {
    let Ok(text) = std::fs::read_to_string("/etc/redis/redis.conf") else {
        return; // redis-server's Debian package is not installed
    };
    // As shipped (it daemonizes, logs to /var/log/redis) it loads.
    loaded(&text.replace("\ndir /var/lib/redis\n", "\ndir /tmp\n"));
    let dir = TempDir::new();
    let patched = text.replace("\ndir /var/lib/redis\n", &format!("\ndir {}\n", dir.str()));
    let config = loaded(&patched);
    assert!(config.daemonize());
    assert_eq!(config.port(), 6379);
    assert_eq!(config.bind(), vec!["127.0.0.1", "-::1"]);
    assert!(config.protected_mode());
    assert_eq!(config.loglevel(), "notice");
    assert_eq!(config.logfile(), "/var/log/redis/redis-server.log");
    assert_eq!(config.pidfile(), "/run/redis/redis-server.pid");
    assert_eq!(config.databases(), 16);
    assert_eq!(config.dir(), dir.str());
    assert_eq!(config.maxmemory(), 0);
    assert_eq!(get1(&config, "save"), "3600 1 300 100 60 10000");
}

#[test]
fn deployment_directives() {
    let dir = TempDir::new();
    let config = loaded(&format!(
        "bind 0.0.0.0\nprotected-mode no\nport 6379\ncluster-config-file nodes.conf\n\
         cluster-node-timeout 5000\nloglevel notice\nlogfile /var/log/redis/x.log\n\
         maxmemory 2gb\nmaxmemory-policy allkeys-lru\ndir {}\n",
        dir.str()
    ));
    assert_eq!(config.bind(), vec!["0.0.0.0"]);
    assert!(!config.protected_mode());
    assert_eq!(config.port(), 6379);
    assert_eq!(get1(&config, "cluster-config-file"), "nodes.conf");
    assert_eq!(config.cluster_node_timeout(), 5000);
    assert_eq!(config.loglevel(), "notice");
    assert_eq!(config.logfile(), "/var/log/redis/x.log");
    assert_eq!(config.maxmemory(), 2 * 1024 * 1024 * 1024);
    assert_eq!(get1(&config, "maxmemory"), "2147483648");
    assert_eq!(config.maxmemory_policy(), "allkeys-lru");
    assert_eq!(config.dir(), dir.str());

    let config = loaded("bind 10.0.1.5 127.0.0.1\nport 0\n");
    assert_eq!(config.bind(), vec!["10.0.1.5", "127.0.0.1"]);
    assert_eq!(get1(&config, "bind"), "10.0.1.5 127.0.0.1");
    assert_eq!(config.port(), 0);

    assert!(loaded("port 6379\ncluster-enabled yes\n").cluster_enabled());
    assert!(loaded("appendonly yes\nappendfsync always\n").appendonly());
    assert_eq!(
        get1(
            &loaded("tls-protocols \"TLSv1.2 TLSv1.3\""),
            "tls-protocols"
        ),
        "TLSv1.2 TLSv1.3"
    );
    // Redis has no trailing comments: the comment is two more arguments.
    let err = load("aclfile /etc/redis/users.acl  # Correct path").expect_err("aclfile");
    assert_eq!(
        err.to_string(),
        format!(
            "\n*** FATAL CONFIG FILE ERROR (ferrodis {VERSION}) ***\n\
             Reading the configuration file, at line 1\n\
             >>> 'aclfile /etc/redis/users.acl  # Correct path'\n\
             wrong number of arguments"
        )
    );
    assert_eq!(
        loaded("aclfile /etc/redis/users.acl").aclfile(),
        "/etc/redis/users.acl"
    );
    // `user` lines are checked as they are read (unknown commands only when loaded).
    let c = loaded("user default on\nuser alice on +nosuch ~a*\n");
    assert_eq!(c.users().len(), 2);
    assert_eq!(
        rejected("user alice on badop").2,
        "Error in user declaration 'alice': Syntax error"
    );
}

#[test]
fn typed_accessors() {
    let config = loaded(
        "maxmemory-samples 7\nlfu-log-factor 3\nlfu-decay-time 4\nproto-max-bulk-len 2mb\n\
         client-query-buffer-limit 3mb\nmaxclients 50\nrequirepass \"se cret\"\n\
         always-show-logo yes\nhz 1000\ntimeout 30\ntcp-keepalive 60\n\
         slowlog-log-slower-than -1\nslowlog-max-len 5\ndatabases 4\npidfile /tmp/x.pid\n\
         enable-debug-command local\n",
    );
    assert_eq!(config.maxmemory_samples(), 7);
    assert_eq!(config.lfu_log_factor(), 3);
    assert_eq!(config.lfu_decay_time(), 4);
    assert_eq!(config.proto_max_bulk_len(), 2 << 20);
    assert_eq!(config.client_query_buffer_limit(), 3 << 20);
    assert_eq!(config.maxclients(), 50);
    assert_eq!(config.requirepass(), Some(b"se cret".to_vec()));
    assert!(config.always_show_logo());
    assert_eq!(config.hz(), 500, "hz is clamped to 500");
    assert_eq!(get1(&config, "hz"), "500");
    assert_eq!(config.timeout(), 30);
    assert_eq!(config.tcp_keepalive(), 60);
    assert_eq!(config.tcp_backlog(), 511);
    assert_eq!(config.slowlog_log_slower_than(), -1);
    assert_eq!(config.slowlog_max_len(), 5);
    assert_eq!(config.databases(), 4);
    assert_eq!(config.pidfile(), "/tmp/x.pid");
    assert_eq!(config.enable_debug_command(), "local");
    assert_eq!(config.enable_module_command(), "no");
    assert_eq!(config.client_output_buffer_limit()[1].hard_bytes, 256 << 20);
    let defaults = Config::default();
    assert_eq!(defaults.requirepass(), None);
    assert_eq!(defaults.pidfile(), "");
    assert_eq!(defaults.hz(), 10);
    assert_eq!(loaded("hz 0").hz(), 1);
    assert_eq!(loaded("requirepass \"\"").requirepass(), None);
}

#[test]
fn from_args_builds_lines_like_redis() {
    let flags_only = |list: &[&str]| match Config::from_args(&args(list)) {
        Err(ConfigError::Directive {
            line, text, reason, ..
        }) => (line, text, reason),
        other => panic!("{list:?}: {other:?}"),
    };
    assert_eq!(
        flags_only(&["--port", "abc"]),
        (
            2,
            "port \"abc\"".to_string(),
            "argument couldn't be parsed into an integer".to_string()
        )
    );
    assert_eq!(
        flags_only(&["--port", "7000", "--maxmemory", "1", "2", "--foo"]),
        (
            3,
            "maxmemory \"1\" \"2\"".to_string(),
            WRONG_ARGS.to_string()
        )
    );
    assert_eq!(flags_only(&["--port", "7000", "--foo"]).1, "foo");
    assert_eq!(flags_only(&["--port 7000", "--foo"]).0, 3);

    let config = Config::from_args(&args(&[
        "--port",
        "7001",
        "--save",
        "--bind",
        "127.0.0.1",
        "::1",
        "--requirepass",
        "a b\"c",
        "--save",
    ]))
    .expect("valid flags");
    assert_eq!(config.port(), 7001);
    assert_eq!(config.bind(), vec!["127.0.0.1", "::1"]);
    assert_eq!(config.requirepass(), Some(b"a b\"c".to_vec()));
    assert_eq!(config.config_file(), None);
    let saving = Config::from_args(&args(&["--save", "3600", "1", "60", "5"])).expect("valid");
    assert_eq!(saving.save_params(), vec![(3600, 1), (60, 5)]);
    assert_eq!(config.save_params(), vec![]);

    let dir = TempDir::new();
    let file = dir.write("redis.conf", "port 7777\n");
    let path = file.to_str().expect("utf-8");
    let err = match Config::from_args(&args(&[path, "--port", "abc"])) {
        Err(ConfigError::Directive { line, .. }) => line,
        other => panic!("{other:?}"),
    };
    assert_eq!(err, 3, "file lines, then a blank line, then the flags");
    let file = dir.write("nonl.conf", "port 7777");
    let path = file.to_str().expect("utf-8");
    match Config::from_args(&args(&[path, "--port", "abc"])) {
        Err(ConfigError::Directive { line: 2, .. }) => {}
        other => panic!("{other:?}"),
    }
    let config = Config::from_args(&args(&[path, "--maxmemory", "1mb"])).expect("valid");
    assert_eq!(config.port(), 7777);
    assert_eq!(config.maxmemory(), 1 << 20);
    assert_eq!(config.config_file(), Some(file.as_path()));

    let missing = dir.path().join("missing.conf");
    let err = Config::from_args(&args(&[missing.to_str().expect("utf-8")])).expect_err("missing");
    assert_eq!(
        err.to_string(),
        format!(
            "Fatal error, can't open config file '{}': No such file or directory",
            missing.display()
        )
    );

    let err = Config::from_args(&args(&["--logfile", "/nonexistent-ferrodis/x.log"]))
        .expect_err("log file");
    assert_eq!(
        err.to_string(),
        format!(
            "\n*** FATAL CONFIG FILE ERROR (ferrodis {VERSION}) ***\n\
             Can't open the log file: No such file or directory"
        )
    );
}

#[test]
fn include_files_and_globs() {
    let dir = TempDir::new();
    dir.write("conf.d/b.conf", "maxmemory 2mb\n");
    dir.write("conf.d/a.conf", "maxmemory 1mb\ntimeout 5\n");
    dir.write("conf.d/.hidden.conf", "timeout 9\n");
    dir.write("rel.conf", "tcp-keepalive 7\n");
    dir.write("bad.conf", "\n\nport nope\n");
    let config = loaded(&format!(
        "dir {}\ninclude {}/conf.d/*.conf\ninclude rel.conf\ninclude /nonexistent-ferrodis/*.conf\n",
        dir.str(),
        dir.str()
    ));
    assert_eq!(config.maxmemory(), 2 << 20, "sorted: b.conf last");
    assert_eq!(config.timeout(), 5, "dot files are not matched");
    assert_eq!(config.tcp_keepalive(), 7, "relative to dir");
    match load(&format!("dir {}\ninclude bad.conf\n", dir.str())) {
        Err(ConfigError::Directive { origin, line, .. }) => {
            assert_eq!(line, 3);
            assert!(origin.ends_with("bad.conf"), "{origin}");
        }
        other => panic!("{other:?}"),
    }
    match load("include /nonexistent-ferrodis/x.conf") {
        Err(ConfigError::Open { path, reason }) => {
            assert_eq!(path, "/nonexistent-ferrodis/x.conf");
            assert_eq!(reason, "No such file or directory");
        }
        other => panic!("{other:?}"),
    }
    dir.write("loop.conf", "include loop.conf\n");
    assert_eq!(
        rejected(&format!("dir {}\ninclude loop.conf", dir.str())).2,
        "include nesting is too deep"
    );
}

#[test]
fn config_get_globs_and_aliases() {
    let config = Config::default();
    let names = |patterns: &[&str]| -> Vec<String> {
        let patterns: Vec<&[u8]> = patterns.iter().map(|p| p.as_bytes()).collect();
        let mut names: Vec<String> = config.get(&patterns).into_iter().map(|(n, _)| n).collect();
        names.sort();
        names
    };
    assert_eq!(
        names(&["slave*"]),
        vec![
            "slave-announce-ip",
            "slave-announce-port",
            "slave-ignore-maxmemory",
            "slave-lazy-flush",
            "slave-priority",
            "slave-read-only",
            "slave-serve-stale-data",
            "slaveof"
        ]
    );
    assert_eq!(names(&["*of"]), vec!["replicaof", "slaveof"]);
    assert_eq!(
        names(&["replicaof", "slaveof"]),
        vec!["replicaof", "slaveof"]
    );
    assert_eq!(
        names(&["SLAVEOF"]),
        vec!["SLAVEOF"],
        "exact names are echoed"
    );
    assert_eq!(names(&["Port"]), vec!["Port"]);
    assert_eq!(names(&["port", "PORT", "po?t"]), vec!["port"]);
    assert_eq!(names(&["maxmemory", "maxmemory"]), vec!["maxmemory"]);
    assert_eq!(names(&["nonexistent"]), Vec::<String>::new());
    assert_eq!(
        names(&["include", "rename-command", "list-max-ziplist-entries"]),
        Vec::<String>::new()
    );
    assert_eq!(
        names(&["*ziplist-entries", "*listpack-entries"]),
        vec![
            "hash-max-listpack-entries",
            "hash-max-ziplist-entries",
            "zset-max-listpack-entries",
            "zset-max-ziplist-entries"
        ]
    );
    assert_eq!(names(&["MAXMEMORY-P*"]), vec!["maxmemory-policy"]);
    assert_eq!(names(&["[a-b]ind"]), vec!["bind"]);
    assert_eq!(names(&["*"]).len(), 192);
    assert_eq!(
        config.get(&[b"hash-max-ziplist-entries"]),
        vec![("hash-max-ziplist-entries".to_string(), "512".to_string())]
    );
}

#[test]
fn config_set_errors_match_stock() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("foo", "1")], "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"),
        (&[("foo", "1"), ("daemonize", "yes")], "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"),
        (&[("daemonize", "yes"), ("foo", "1")], "ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config"),
        (&[("DAEMONIZE", "yes")], "ERR CONFIG SET failed (possibly related to argument 'DAEMONIZE') - can't set immutable config"),
        (&[("include", "x")], "ERR Unknown option or number of arguments for CONFIG SET - 'include'"),
        (&[("maxmemory", "abc")], "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"),
        (&[("MAXMEMORY", "abc")], "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"),
        (&[("maxmemory", "abc"), ("foo", "1")], "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"),
        (&[("maxmemory", "abc"), ("daemonize", "yes")], "ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config"),
        (&[("maxmemory", "1"), ("MAXMEMORY", "2")], "ERR CONFIG SET failed (possibly related to argument 'MAXMEMORY') - duplicate parameter"),
        (&[("HASH-MAX-ZIPLIST-ENTRIES", "abc")], "ERR CONFIG SET failed (possibly related to argument 'hash-max-ziplist-entries') - argument couldn't be parsed into an integer"),
        (&[("activerehashing", "maybe")], "ERR CONFIG SET failed (possibly related to argument 'activerehashing') - argument must be 'yes' or 'no'"),
        (&[("timeout", "1.5")], "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument couldn't be parsed into an integer"),
        (&[("port", "-1")], "ERR CONFIG SET failed (possibly related to argument 'port') - argument must be between 0 and 65535 inclusive"),
        (&[("maxclients", "-1")], "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and 4294967295 inclusive"),
        (&[("proto-max-bulk-len", "18446744073709551615")], "ERR CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - argument must be between 1048576 and 9223372036854775807 inclusive"),
        (&[("client-query-buffer-limit", "5k")], "ERR CONFIG SET failed (possibly related to argument 'client-query-buffer-limit') - argument must be between 1048576 and 9223372036854775807 inclusive"),
        (&[("maxmemory-policy", "lru")], "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"),
        (&[("dir", "/tmp")], "ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config"),
        (&[("dbfilename", "x.rdb")], "ERR CONFIG SET failed (possibly related to argument 'dbfilename') - can't set protected config"),
        (&[("shutdown-on-sigint", "now  save")], "ERR CONFIG SET failed (possibly related to argument 'shutdown-on-sigint') - argument(s) must be one of the following: default, save, nosave, now, force"),
        (&[("client-output-buffer-limit", "normal 1 2 3 ")], "ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - Wrong number of arguments in buffer limit configuration."),
        (&[("oom-score-adj-values", " 1 2 3")], "ERR CONFIG SET failed (possibly related to argument 'oom-score-adj-values') - wrong number of arguments"),
        (&[("latency-tracking-info-percentiles", "101")], "ERR CONFIG SET failed (possibly related to argument 'latency-tracking-info-percentiles') - latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"),
        (&[("save", "0 10")], "ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters"),
        (&[("cluster-announce-hostname", "a_b")], "ERR CONFIG SET failed (possibly related to argument 'cluster-announce-hostname') - Hostnames may only contain alphanumeric characters, hyphens or dots"),
        (&[("slaveof", "1.2.3.4 6379")], "ERR CONFIG SET failed (possibly related to argument 'slaveof') - can't set immutable config"),
    ];
    for (pairs, expected) in cases {
        let mut config = Config::default();
        assert_eq!(
            set(&mut config, pairs),
            Err(expected.to_string()),
            "{pairs:?}"
        );
    }
}

#[test]
fn config_set_is_atomic() {
    let mut config = Config::default();
    let before = config.get(&[b"*"]);
    let err = set(&mut config, &[("maxmemory", "5"), ("timeout", "abc")]).expect_err("bad timeout");
    assert_eq!(
        err,
        "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument couldn't be parsed into an integer"
    );
    assert_eq!(config.get(&[b"*"]), before);
    assert_eq!(config.maxmemory(), 0);

    let changed = set(
        &mut config,
        &[
            ("maxmemory", "5mb"),
            ("timeout", "0"),
            ("MAXMEMORY-POLICY", "allkeys-lfu"),
        ],
    );
    assert_eq!(changed, Ok(vec!["maxmemory", "maxmemory-policy"]));
    assert_eq!(config.maxmemory(), 5 << 20);
    assert_eq!(config.maxmemory_policy(), "allkeys-lfu");

    // A name and its alias are different parameters: the last one wins.
    let changed = set(
        &mut config,
        &[
            ("hash-max-ziplist-entries", "1"),
            ("hash-max-listpack-entries", "2"),
        ],
    );
    assert_eq!(changed, Ok(vec!["hash-max-listpack-entries"]));
    assert_eq!(get1(&config, "hash-max-ziplist-entries"), "2");
    assert_eq!(
        set(&mut config, &[("appendonly", "no"), ("save", "")]),
        Ok(vec!["save"])
    );
}

#[test]
fn config_set_values_format_like_stock() {
    let mut config = Config::default();
    let cases: &[(&str, &str, &str)] = &[
        ("maxmemory", "", "0"),
        ("maxmemory", "k", "0"),
        ("maxmemory", "5KB", "5120"),
        ("maxmemory", "1g", "1000000000"),
        ("maxmemory", "18446744073709551616", "18446744073709551615"),
        ("maxmemory", "18446744073709551615k", "18446744073709550616"),
        ("maxmemory", "007", "7"),
        ("maxmemory-clients", "0%", "0"),
        ("maxmemory-clients", "1%", "1%"),
        ("notify-keyspace-events", "Ag$lshzxeKEtmdn", "AKEm"),
        ("notify-keyspace-events", "g$lshzxetd", "A"),
        ("notify-keyspace-events", "ExK", "xKE"),
        ("notify-keyspace-events", "gn", "gn"),
        (
            "client-output-buffer-limit",
            "replica 1kb 2mb +3",
            "normal 0 0 0 slave 1024 2097152 3 pubsub 33554432 8388608 60",
        ),
        (
            "client-output-buffer-limit",
            "pubsub 1 2 3 normal 4 5 6",
            "normal 4 5 6 slave 1024 2097152 3 pubsub 1 2 3",
        ),
        ("oom-score-adj-values", "+1 -2000 2000", "1 -2000 2000"),
        (
            "latency-tracking-info-percentiles",
            "1.5 99.99999 1e2 0x10",
            "1.5 99.99999 100 16",
        ),
        (
            "latency-tracking-info-percentiles",
            "99.123456789",
            "99.123457",
        ),
        ("latency-tracking-info-percentiles", "", ""),
        ("shutdown-on-sigint", "now save", "save now"),
        ("shutdown-on-sigint", "NOW force", "now force"),
        ("shutdown-on-sigint", "default now", "now"),
        ("oom-score-adj", "relative", "yes"),
        ("slowlog-log-slower-than", "-1", "-1"),
        ("list-max-ziplist-size", "-1", "-1"),
        ("bind", "", ""),
        ("bind", "127.0.0.1 -::1", "127.0.0.1 -::1"),
        ("proc-title-template", "x{{y", "x{{y"),
        ("requirepass", "", ""),
        ("save", "", ""),
    ];
    for (name, value, shown) in cases {
        assert!(set(&mut config, &[(name, value)]).is_ok(), "{name} {value}");
        assert_eq!(get1(&config, name), *shown, "{name} {value}");
    }
}

#[test]
fn protected_configs() {
    let dir = TempDir::new();
    let mut config = loaded("enable-protected-configs local");
    let pairs: [(&[u8], &[u8]); 1] = [(b"dir", dir.str().as_bytes())];
    assert!(config.set_as(&pairs, false).is_err());
    assert_eq!(config.set_as(&pairs, true), Ok(vec!["dir"]));
    assert_eq!(config.dir(), dir.str());
    let mut config = loaded("enable-protected-configs yes");
    assert_eq!(
        set(&mut config, &[("dir", "/nonexistent-ferrodis")]),
        Err("ERR CONFIG SET failed (possibly related to argument 'dir') - No such file or directory".to_string())
    );
    assert_eq!(
        set(&mut config, &[("dbfilename", "a/b")]),
        Err("ERR CONFIG SET failed (possibly related to argument 'dbfilename') - dbfilename can't be a path, just a filename".to_string())
    );
    assert_eq!(
        set(&mut config, &[("dbfilename", "x.rdb")]),
        Ok(vec!["dbfilename"])
    );
}

/// The config file of the stock rewrite run.
const REWRITE_BEFORE: &str = "# Top comment
port 16400
save \"\"
appendonly no

   maxmemory 100mb
# middle comment


slave-read-only no
hash-max-ziplist-entries 100
list-max-ziplist-entries 5
timeout 10
timeout 20
bind 127.0.0.1
loglevel notice
requirepass \"old pass\"
notify-keyspace-events \"\"
client-output-buffer-limit normal 0 0 0
client-output-buffer-limit replica 256mb 64mb 60
rename-command FLUSHALL \"\"
";

/// Stock's CONFIG REWRITE after the CONFIG SETs of `rewrite_matches_stock`,
/// with the appended lines in registry order (stock: hash order) and without
/// stock's `user default ...` line (no ACL users in ferrodis).
const REWRITE_AFTER: &str = "# Top comment
port 16400
save \"\"
appendonly no

maxmemory 2gb
# middle comment

replica-read-only yes
hash-max-listpack-entries 512
# ??? list-max-ziplist-entries 5
timeout 0

bind 127.0.0.1 ::1
loglevel notice
requirepass \"new \\\"pw\\\"\"
notify-keyspace-events \"AKE\"
client-output-buffer-limit normal 0 0 0
client-output-buffer-limit replica 256mb 64mb 60
rename-command FLUSHALL \"\"

# Generated by CONFIG REWRITE
proc-title-template \"{title} x\"
maxmemory-policy allkeys-lru
hz 20
dir \"DIR\"
client-output-buffer-limit pubsub 1mb 2kb 3
latency-tracking-info-percentiles 50 99 99.9
";

fn apply_rewrite_sets(config: &mut Config) {
    let sets = [
        ("maxmemory", "2gb"),
        ("timeout", "0"),
        ("replica-read-only", "yes"),
        ("maxmemory-policy", "allkeys-lru"),
        ("notify-keyspace-events", "KEA"),
        ("client-output-buffer-limit", "pubsub 1mb 2kb 3"),
        ("hz", "20"),
        ("bind", "127.0.0.1 ::1"),
        ("proc-title-template", "{title} x"),
        ("hash-max-listpack-entries", "512"),
        ("requirepass", "new \"pw\""),
    ];
    for (name, value) in sets {
        assert!(set(config, &[(name, value)]).is_ok(), "{name}");
    }
}

#[test]
fn rewrite_matches_stock() {
    // rename-command is not loadable yet: load the rest, rewrite the whole file.
    let mut config = loaded(&REWRITE_BEFORE.replace("rename-command FLUSHALL \"\"\n", ""));
    apply_rewrite_sets(&mut config);
    let out = config.rewrite_content(REWRITE_BEFORE.as_bytes());
    assert_eq!(
        String::from_utf8_lossy(&out),
        REWRITE_AFTER.replace("DIR", config.dir())
    );
    // Like stock, a second rewrite keeps the file's final empty line, then
    // nothing changes.
    let again = config.rewrite_content(&out);
    assert_eq!(again, [out.as_slice(), b"\n"].concat());
    assert_eq!(config.rewrite_content(&again), again);
}

#[test]
fn rewrite_round_trip() {
    let dir = TempDir::new();
    let text = REWRITE_BEFORE.replace("rename-command FLUSHALL \"\"\n", "");
    let path = dir.write("redis.conf", &text);
    let path_arg = path.to_str().expect("utf-8").to_string();
    let mut config = Config::from_args(std::slice::from_ref(&path_arg)).expect("load");
    assert_eq!(config.config_file(), Some(path.as_path()));
    apply_rewrite_sets(&mut config);
    assert!(set(
        &mut config,
        &[
            ("save", ""),
            ("slowlog-max-len", "7"),
            ("requirepass", "\x01\"")
        ]
    )
    .is_ok());
    config.rewrite().expect("rewrite");
    let reloaded = Config::from_args(&[path_arg]).expect("reload");
    assert_eq!(reloaded.get(&[b"*"]), config.get(&[b"*"]));
    assert_eq!(reloaded.requirepass(), Some(b"\x01\"".to_vec()));

    // Back to defaults: lines of NULL strings and of a default bind go away.
    assert!(set(&mut config, &[("requirepass", ""), ("bind", "* -::*")]).is_ok());
    config.rewrite().expect("rewrite");
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(!text.contains("requirepass"), "{text}");
    assert!(!text.contains("\nbind"), "{text}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");

    // A missing file is created.
    std::fs::remove_file(&path).expect("remove");
    config.rewrite().expect("rewrite missing file");
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(
        text.starts_with("# Generated by CONFIG REWRITE\n"),
        "{text}"
    );

    assert_eq!(
        Config::default().rewrite(),
        Err("ERR The server is running without a config file".to_string())
    );
}

#[test]
fn io_threads_sets_the_worker_count_only_when_given() {
    assert_eq!(Config::default().worker_threads(), None);
    assert_eq!(loaded("port 7000\n").worker_threads(), None);
    assert_eq!(loaded("io-threads 1\n").worker_threads(), Some(1));
    assert_eq!(
        loaded("io-threads 3\nport 7000\n").worker_threads(),
        Some(3)
    );
    let c = Config::from_args(&["--io-threads".into(), "2".into()]).unwrap();
    assert_eq!(c.worker_threads(), Some(2));
}
