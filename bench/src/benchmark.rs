//! One redis-benchmark run: its command line, its CSV output, and the CPU it cost.
//!
//! redis-benchmark 7.0 `--csv` prints a header line
//! `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"`
//! and one quoted line per test. Columns are looked up by name, not position.

use std::process::Command;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::ValueEnum;

use crate::deploy::{Deployment, Placement};
use crate::process;

/// A redis-benchmark test: a built-in one (`-t NAME`) or a command line of our own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ValueEnum)]
pub enum Test {
    Set,
    Get,
    Incr,
    Mset,
    Lpush,
    /// Built-in `lpush,lpop`: the pushes fill the list the pops drain; the LPOP row is kept.
    Lpop,
    Hset,
    Sadd,
    Zadd,
    /// Built-in `lrange_100` (redis-benchmark fills `mylist` first).
    #[value(name = "lrange_100")]
    Lrange100,
    /// `ZRANGE bench:zset 0 99` on a 100-member sorted set loaded before the run.
    #[value(name = "zrange_100")]
    Zrange100,
    /// `PUBLISH bench:ch <-d bytes>` with one subscriber connected by the harness, reading.
    Publish1,
    /// The same with 100 subscribers.
    Publish100,
    /// Custom command: `XADD mystream * f __rand_int__`.
    Xadd,
    /// Custom command: `XREAD COUNT 10 STREAMS mystream 0` (reads what XADD left).
    Xread,
}

impl Test {
    /// Tests on strings, which every ferrodis build must serve.
    pub const CORE: [Test; 4] = [Test::Set, Test::Get, Test::Incr, Test::Mset];
    /// Tests on other types, behind `--all-types`.
    pub const OTHER_TYPES: [Test; 7] = [
        Test::Lpush,
        Test::Lpop,
        Test::Hset,
        Test::Sadd,
        Test::Zadd,
        Test::Zrange100,
        Test::Lrange100,
    ];
    /// Pub/sub tests, behind `--pubsub`.
    pub const PUBSUB: [Test; 2] = [Test::Publish1, Test::Publish100];

    /// Name for `redis-benchmark -t` (built-in tests).
    pub fn arg(self) -> &'static str {
        match self {
            Test::Set => "set",
            Test::Get => "get",
            Test::Incr => "incr",
            Test::Mset => "mset",
            Test::Lpush => "lpush",
            Test::Lpop => "lpush,lpop",
            Test::Hset => "hset",
            Test::Sadd => "sadd",
            Test::Zadd => "zadd",
            Test::Lrange100 => "lrange_100",
            Test::Zrange100 => "",
            // Ignored: a custom command follows.
            Test::Publish1 | Test::Publish100 | Test::Xadd | Test::Xread => "",
        }
    }

    /// Commands run on every node before the test (same data on both servers).
    pub fn setup(self) -> Vec<Vec<Vec<u8>>> {
        match self {
            Test::Zrange100 => {
                let mut zadd: Vec<Vec<u8>> = vec![b"ZADD".to_vec(), b"bench:zset".to_vec()];
                for i in 0..100 {
                    zadd.push(i.to_string().into_bytes());
                    zadd.push(format!("member:{i:03}").into_bytes());
                }
                vec![zadd]
            }
            _ => Vec::new(),
        }
    }

    /// Name as redis-benchmark prints it (first word of the CSV `test` column).
    pub fn label(self) -> &'static str {
        match self {
            Test::Set => "SET",
            Test::Get => "GET",
            Test::Incr => "INCR",
            Test::Mset => "MSET",
            Test::Lpush => "LPUSH",
            Test::Lpop => "LPOP",
            Test::Lrange100 => "LRANGE_100",
            Test::Zrange100 => "ZRANGE",
            Test::Hset => "HSET",
            Test::Sadd => "SADD",
            Test::Zadd => "ZADD",
            Test::Publish1 | Test::Publish100 => "PUBLISH",
            Test::Xadd => "XADD",
            Test::Xread => "XREAD",
        }
    }

    /// Name in the report: the label, with the subscriber count for PUBLISH.
    pub fn title(self) -> String {
        match self.subscribers() {
            0 => self.label().to_owned(),
            1 => format!("{} (1 sub)", self.label()),
            n => format!("{} ({n} subs)", self.label()),
        }
    }

    /// Subscribers the harness connects (and keeps reading) during the run.
    pub fn subscribers(self) -> usize {
        match self {
            Test::Publish1 => 1,
            Test::Publish100 => 100,
            _ => 0,
        }
    }

    /// The custom command given to redis-benchmark after its options, if any.
    pub fn custom_command(self, size: u32) -> Option<Vec<String>> {
        let words: &[&str] = match self {
            Test::Zrange100 => &["ZRANGE", "bench:zset", "0", "99"],
            Test::Xadd => &["XADD", "mystream", "*", "f", "__rand_int__"],
            Test::Xread => &["XREAD", "COUNT", "10", "STREAMS", "mystream", "0"],
            _ => &[],
        };
        if !words.is_empty() {
            return Some(words.iter().map(|w| (*w).to_owned()).collect());
        }
        (self.subscribers() > 0).then(|| {
            vec![
                "PUBLISH".to_owned(),
                PUBSUB_CHANNEL.to_owned(),
                "x".repeat(size as usize),
            ]
        })
    }

    /// Keys this test grows without bound (LPUSH pushes every request onto one list, whatever
    /// `-r` says); deleted before each run so memory stays flat over rounds.
    pub fn unbounded_keys(self) -> &'static [&'static str] {
        match self {
            Test::Lpush | Test::Lpop | Test::Lrange100 => &["mylist"],
            Test::Xadd => &["mystream"],
            _ => &[],
        }
    }
}

/// The channel of the PUBLISH tests.
pub const PUBSUB_CHANNEL: &str = "bench:ch";

/// Connections subscribed to [`PUBSUB_CHANNEL`], each drained by its own thread until drop.
struct Subscribers {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Subscribers {
    /// Connects `n` subscribers and waits (with a deadline) until the server counts them all.
    fn start(addr: std::net::SocketAddr, n: usize) -> Result<Subscribers> {
        use std::io::{Read, Write};
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let mut subs = Subscribers {
            stop: stop.clone(),
            threads: Vec::new(),
        };
        let mut subscribe = Vec::new();
        crate::resp::encode_command(&mut subscribe, &[b"SUBSCRIBE", PUBSUB_CHANNEL.as_bytes()]);
        for _ in 0..n {
            let mut sock = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .with_context(|| format!("subscriber connecting to {addr}"))?;
            sock.set_read_timeout(Some(Duration::from_millis(100)))?;
            sock.write_all(&subscribe)?;
            let stop = stop.clone();
            subs.threads.push(std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                while !stop.load(Ordering::Relaxed) {
                    match sock.read(&mut buf) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) => {}
                        Err(_) => break,
                    }
                }
            }));
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let have = Subscribers::connected(addr)?;
            if have == n {
                return Ok(subs);
            }
            if std::time::Instant::now() > deadline {
                bail!("only {have} of {n} subscribers registered");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// How many subscribers the server counts on the channel (`PUBSUB NUMSUB`).
    fn connected(addr: std::net::SocketAddr) -> Result<usize> {
        let mut ctl = crate::resp::Client::connect(addr, Duration::from_secs(5))?;
        let r = ctl.command(&[b"PUBSUB", b"NUMSUB", PUBSUB_CHANNEL.as_bytes()])?;
        match &r {
            crate::resp::Reply::Array(Some(v)) => match v.get(1) {
                Some(crate::resp::Reply::Int(k)) => Ok(*k as usize),
                _ => bail!("unexpected PUBSUB NUMSUB reply: {r:?}"),
            },
            _ => bail!("unexpected PUBSUB NUMSUB reply: {r:?}"),
        }
    }
}

impl Drop for Subscribers {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// What one table row measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workload {
    pub test: Test,
    /// `-P`
    pub pipeline: u32,
    /// `-d`
    pub size: u32,
}

/// Settings shared by every run.
#[derive(Clone, Debug)]
pub struct Settings {
    pub bench_bin: String,
    pub placement: Placement,
    /// `-c`
    pub clients: u32,
    /// `-r`
    pub keyspace: u64,
    /// Deadline for one redis-benchmark process.
    pub timeout: Duration,
}

/// The measurements of one run against one server.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub rps: f64,
    pub avg_ms: f64,
    pub min_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Server CPU time / wall time (1.0 = one core busy).
    pub server_cpu: f64,
    /// redis-benchmark CPU time / wall time.
    pub client_cpu: f64,
    pub elapsed: Duration,
}

/// The full redis-benchmark argv (program first), `taskset` included when pinned.
pub fn argv(
    s: &Settings,
    host: &str,
    port: &str,
    extra: &[String],
    w: Workload,
    n: u64,
) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(cpus) = &s.placement.bench_cpus {
        v.extend(["taskset".to_owned(), "-c".to_owned(), cpus.clone()]);
    }
    v.push(s.bench_bin.clone());
    v.extend(extra.iter().cloned());
    let kv = [
        ("-h", host.to_owned()),
        ("-p", port.to_owned()),
        ("-c", s.clients.to_string()),
        ("-n", n.to_string()),
        ("-d", w.size.to_string()),
        ("-r", s.keyspace.to_string()),
        ("-P", w.pipeline.to_string()),
    ];
    for (k, val) in kv {
        v.push(k.to_owned());
        v.push(val);
    }
    if w.test.custom_command(w.size).is_none() {
        v.extend(["-t".to_owned(), w.test.arg().to_owned()]);
    }
    if let Some(t) = s.placement.bench_threads {
        v.push("--threads".to_owned());
        v.push(t.to_string());
    }
    v.push("--csv".to_owned());
    v.extend(w.test.custom_command(w.size).into_iter().flatten());
    v
}

/// Runs `w` with `n` requests against `d`.
///
/// The outer `Err` aborts the whole benchmark (server died, interrupted, harness trouble); the
/// inner `Err` is this server failing this workload (error replies, missing CSV row), which the
/// report shows and the rest of the run survives.
pub fn run(
    s: &Settings,
    d: &mut Deployment,
    w: Workload,
    n: u64,
) -> Result<Result<Sample, String>> {
    d.del_everywhere(w.test.unbounded_keys())?;
    d.run_everywhere(&w.test.setup())?;
    let entry = d.entry();
    let _subscribers = match w.test.subscribers() {
        0 => None,
        n => Some(Subscribers::start(entry, n)?),
    };
    let argv = argv(
        s,
        &entry.ip().to_string(),
        &entry.port().to_string(),
        &d.bench_args,
        w,
        n,
    );
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    let server_before = d.cpu_time()?;
    let client_before = process::children_cpu_time();
    let finished = process::run_captured(&mut cmd, s.timeout)?;
    let client_after = process::children_cpu_time();
    d.ensure_running()?;
    let server_after = d.cpu_time()?;
    // A server that disconnected subscribers (client-output-buffer-limit pubsub) went on
    // publishing to fewer readers: its rate is not comparable, so the row fails for it.
    let want = w.test.subscribers();
    if want > 0 {
        let have = Subscribers::connected(entry)?;
        if have < want {
            return Ok(Err(format!(
                "the server dropped {} of {want} subscribers during the run (output buffer limit)",
                want - have
            )));
        }
    }
    if !finished.status.success() {
        let why = finished
            .stderr
            .lines()
            .chain(finished.stdout.lines())
            .find(|l| !l.trim().is_empty() && !l.starts_with("\"test\""))
            .unwrap_or("no output")
            .trim()
            .to_owned();
        return Ok(Err(format!(
            "redis-benchmark exited with {}: {why}",
            finished.status
        )));
    }
    let rows = match parse_csv(&finished.stdout) {
        Ok(rows) => rows,
        Err(e) => return Ok(Err(format!("{e:#}"))),
    };
    let Some(row) = find_row(&rows, w.test) else {
        return Ok(Err(format!(
            "no {} row in redis-benchmark output: {:?}",
            w.test.label(),
            finished.stdout
        )));
    };
    let wall = finished.elapsed.as_secs_f64().max(1e-9);
    let sample = (|| -> Result<Sample> {
        Ok(Sample {
            rps: row.get("rps")?,
            avg_ms: row.get("avg_latency_ms")?,
            min_ms: row.get("min_latency_ms")?,
            p50_ms: row.get("p50_latency_ms")?,
            p95_ms: row.get("p95_latency_ms")?,
            p99_ms: row.get("p99_latency_ms")?,
            max_ms: row.get("max_latency_ms")?,
            server_cpu: server_after.saturating_sub(server_before).as_secs_f64() / wall,
            client_cpu: client_after.saturating_sub(client_before).as_secs_f64() / wall,
            elapsed: finished.elapsed,
        })
    })();
    Ok(sample.map_err(|e| format!("{e:#}")))
}

/// One data line of redis-benchmark's CSV.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvRow {
    /// The `test` column, e.g. `SET` or `MSET (10 keys)`.
    pub test: String,
    pub fields: Vec<(String, f64)>,
}

impl CsvRow {
    pub fn get(&self, column: &str) -> Result<f64> {
        self.fields
            .iter()
            .find(|(k, _)| k == column)
            .map(|(_, v)| *v)
            .ok_or_else(|| anyhow!("column {column:?} missing from redis-benchmark CSV"))
    }
}

/// Parses redis-benchmark `--csv` output (header line first; blank lines ignored).
pub fn parse_csv(text: &str) -> Result<Vec<CsvRow>> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let header = lines
        .next()
        .ok_or_else(|| anyhow!("redis-benchmark printed no CSV"))?;
    let columns = split_csv_line(header)?;
    if columns.first().map(String::as_str) != Some("test") {
        bail!("unexpected CSV header {header:?}");
    }
    let mut rows = Vec::new();
    for line in lines {
        let cells = split_csv_line(line)?;
        if cells.len() != columns.len() {
            bail!(
                "CSV line {line:?} has {} cells, header has {}",
                cells.len(),
                columns.len()
            );
        }
        let mut fields = Vec::with_capacity(cells.len() - 1);
        for (col, cell) in columns.iter().zip(&cells).skip(1) {
            let v: f64 = cell
                .parse()
                .with_context(|| format!("column {col} value {cell:?} is not a number"))?;
            fields.push((col.clone(), v));
        }
        rows.push(CsvRow {
            test: cells[0].clone(),
            fields,
        });
    }
    Ok(rows)
}

/// The row of `test`: its label's first word equals the test name (`MSET (10 keys)` is MSET).
pub fn find_row(rows: &[CsvRow], test: Test) -> Option<&CsvRow> {
    rows.iter()
        .find(|r| r.test.split_whitespace().next() == Some(test.label()))
}

/// Splits one CSV line; cells may be quoted, with `""` for a literal quote.
fn split_csv_line(line: &str) -> Result<Vec<String>> {
    let mut cells = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cur.push(c),
            (false, '"') if cur.is_empty() && !was_quoted => {
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                cells.push(std::mem::take(&mut cur));
                was_quoted = false;
            }
            (false, c) => cur.push(c),
        }
    }
    if quoted {
        bail!("unterminated quote in CSV line {line:?}");
    }
    cells.push(cur);
    Ok(cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#""test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"SET","909090.94","0.761","0.192","0.719","1.287","1.671","3.727"
"GET","1025641.06","0.674","0.224","0.663","0.927","1.111","1.335"
"MSET (10 keys)","176211.45","4.400","0.584","4.455","5.815","6.511","7.399"
"#;

    #[test]
    fn parses_redis_benchmark_csv() {
        let rows = parse_csv(SAMPLE).unwrap();
        assert_eq!(rows.len(), 3);
        let set = find_row(&rows, Test::Set).unwrap();
        assert_eq!(set.get("rps").unwrap(), 909090.94);
        assert_eq!(set.get("p99_latency_ms").unwrap(), 1.671);
        let mset = find_row(&rows, Test::Mset).unwrap();
        assert_eq!(mset.test, "MSET (10 keys)");
        assert_eq!(mset.get("p50_latency_ms").unwrap(), 4.455);
        assert!(find_row(&rows, Test::Incr).is_none());
        assert!(set.get("nope").is_err());
    }

    #[test]
    fn header_only_output_has_no_rows() {
        let header = SAMPLE.lines().next().unwrap();
        assert!(parse_csv(header).unwrap().is_empty());
        assert!(parse_csv("").is_err());
        assert!(parse_csv("Error from server: ERR x").is_err());
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(
            split_csv_line(r#""a,b","c""d",3"#).unwrap(),
            vec!["a,b", "c\"d", "3"]
        );
        assert!(split_csv_line(r#""open"#).is_err());
    }

    #[test]
    fn argv_pinned_and_unpinned() {
        let mut s = Settings {
            bench_bin: "redis-benchmark".into(),
            placement: crate::deploy::Mode::Pinned.placement("0", "1"),
            clients: 50,
            keyspace: 100_000,
            timeout: Duration::from_secs(1),
        };
        let w = Workload {
            test: Test::Get,
            pipeline: 16,
            size: 1024,
        };
        let v = argv(&s, "127.0.0.1", "7000", &[], w, 1000).join(" ");
        assert_eq!(
            v,
            "taskset -c 1 redis-benchmark -h 127.0.0.1 -p 7000 -c 50 -n 1000 -d 1024 -r 100000 -P 16 -t get --csv"
        );
        let p = Workload {
            test: Test::Publish100,
            pipeline: 1,
            size: 3,
        };
        let v = argv(&s, "127.0.0.1", "7000", &[], p, 10).join(" ");
        assert!(v.ends_with("-P 1 --csv PUBLISH bench:ch xxx"), "{v}");
        assert_eq!(Test::Publish100.subscribers(), 100);
        assert_eq!(Test::Set.custom_command(3), None);
        s.placement = crate::deploy::Mode::Unpinned.placement("0", "1");
        let v = argv(&s, "127.0.0.1", "7000", &[], w, 1000).join(" ");
        assert!(v.starts_with("redis-benchmark -h"));
        assert!(v.ends_with("-t get --threads 2 --csv"));
        let z = Workload {
            test: Test::Zrange100,
            ..w
        };
        let v = argv(&s, "127.0.0.1", "7000", &[], z, 1000).join(" ");
        assert!(!v.contains(" -t "));
        assert!(v.ends_with("--threads 2 --csv ZRANGE bench:zset 0 99"));
        assert_eq!(Test::Zrange100.setup()[0].len(), 202);
    }

    #[test]
    fn custom_commands_replace_dash_t() {
        let s = Settings {
            bench_bin: "redis-benchmark".into(),
            placement: crate::deploy::Mode::Unpinned.placement("0", "1"),
            clients: 50,
            keyspace: 100_000,
            timeout: Duration::from_secs(1),
        };
        let w = Workload {
            test: Test::Xread,
            pipeline: 1,
            size: 16,
        };
        let v = argv(&s, "127.0.0.1", "7000", &[], w, 10).join(" ");
        assert!(!v.contains(" -t "), "{v}");
        assert!(
            v.ends_with("--csv XREAD COUNT 10 STREAMS mystream 0"),
            "{v}"
        );
        assert_eq!(Test::Xadd.unbounded_keys(), &["mystream"]);
    }
}
