//! The side-by-side throughput run: size each workload, warm both servers up, then run
//! redis A, ferrodis B, A, B ... for every row, and report medians, ranges and target checks.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::benchmark::{self, Sample, Settings, Test, Workload};
use crate::deploy::{Deployment, Mode, Role};
use crate::process::check_interrupted;
use crate::report::{self, Spread, Table};
use crate::server::server_args;
use crate::Common;

/// Throughput run options (parsed by `main`).
#[derive(Clone, Debug, clap::Args)]
pub struct ThroughputArgs {
    /// Layout: `pinned` (servers on one CPU, client on another) or `unpinned`.
    #[arg(long, value_enum, default_value_t = Mode::Pinned)]
    pub mode: Mode,
    /// Rounds; each round runs every row on redis, then on ferrodis.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub rounds: u32,
    /// Requests per run (`-n`) for every row. Default: sized per row so one redis run takes
    /// about `--target-secs`.
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,
    /// Wall time one redis run should take when `-n` is not given.
    #[arg(long, default_value_t = 2.5)]
    pub target_secs: f64,
    /// Parallel connections (`-c`).
    #[arg(short = 'c', long, default_value_t = 50)]
    pub clients: u32,
    /// Random keyspace size (`-r`).
    #[arg(short = 'r', long, default_value_t = 100_000)]
    pub keyspace: u64,
    /// Pipeline depths (`-P`), comma separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16])]
    pub pipelines: Vec<u32>,
    /// Value sizes in bytes (`-d`), comma separated.
    #[arg(long, value_delimiter = ',', default_values_t = [16, 1024])]
    pub sizes: Vec<u32>,
    /// Tests to run, comma separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Test::CORE)]
    pub tests: Vec<Test>,
    /// Also run LPUSH, HSET, SADD and ZADD.
    #[arg(long)]
    pub all_types: bool,
    /// Also run PUBLISH to 1 and to 100 subscribers (connected by the harness, reading).
    #[arg(long)]
    pub pubsub: bool,
    /// redis-benchmark binary.
    #[arg(long, default_value = "redis-benchmark")]
    pub redis_benchmark: String,
    /// CPU for the servers in pinned mode.
    #[arg(long, default_value = "0")]
    pub server_cpu: String,
    /// CPU for redis-benchmark in pinned mode.
    #[arg(long, default_value = "1")]
    pub bench_cpu: String,
    /// Override `redis-benchmark --threads` (0 = single-threaded client). Default: 2 in
    /// unpinned mode, none when pinned.
    #[arg(long)]
    pub bench_threads: Option<u32>,
    /// Deadline for one redis-benchmark run, in seconds.
    #[arg(long, default_value_t = 120)]
    pub run_timeout: u64,
    /// Exit with status 2 if any row fails its targets.
    #[arg(long)]
    pub strict: bool,
}

impl ThroughputArgs {
    fn validate(&self) -> Result<()> {
        if !(0.1..=60.0).contains(&self.target_secs) {
            bail!("--target-secs must be within 0.1..=60");
        }
        if self.requests == Some(0) || self.requests.is_some_and(|n| n > 1_000_000_000) {
            bail!("-n must be within 1..=1000000000");
        }
        if self.clients == 0 || self.clients > 10_000 {
            bail!("-c must be within 1..=10000");
        }
        if self.keyspace == 0 {
            bail!("-r must be at least 1");
        }
        if self.pipelines.is_empty() || self.pipelines.iter().any(|p| *p == 0 || *p > 10_000) {
            bail!("--pipelines must be within 1..=10000");
        }
        if self.sizes.is_empty() || self.sizes.iter().any(|d| *d == 0 || *d > 1 << 20) {
            bail!("--sizes must be within 1..=1048576");
        }
        if self.bench_threads.is_some_and(|t| t > 64) {
            bail!("--bench-threads must be within 0..=64");
        }
        if self.run_timeout == 0 {
            bail!("--run-timeout must be at least 1");
        }
        Ok(())
    }

    /// The table rows, in run order. Sizes outermost so GET reads values SET just wrote at
    /// the same size; tests in redis-benchmark's own order (SET before GET).
    fn workloads(&self) -> Vec<Workload> {
        let mut tests: Vec<Test> = Vec::new();
        let wanted = self
            .tests
            .iter()
            .copied()
            .chain(
                self.all_types
                    .then_some(Test::OTHER_TYPES)
                    .into_iter()
                    .flatten(),
            )
            .chain(self.pubsub.then_some(Test::PUBSUB).into_iter().flatten());
        for t in wanted {
            if !tests.contains(&t) {
                tests.push(t);
            }
        }
        let mut out = Vec::new();
        for &size in &self.sizes {
            for &pipeline in &self.pipelines {
                for &test in &tests {
                    out.push(Workload {
                        test,
                        pipeline,
                        size,
                    });
                }
            }
        }
        out
    }
}

/// Results of one row.
struct Row {
    w: Workload,
    n: u64,
    /// Per round; `None` where the run failed or was skipped.
    redis: Vec<Option<Sample>>,
    ferrodis: Vec<Option<Sample>>,
    redis_err: Option<String>,
    ferrodis_err: Option<String>,
}

impl Row {
    fn side(&mut self, role: Role) -> (&mut Vec<Option<Sample>>, &mut Option<String>) {
        match role {
            Role::Redis => (&mut self.redis, &mut self.redis_err),
            Role::Ferrodis => (&mut self.ferrodis, &mut self.ferrodis_err),
        }
    }
}

/// Runs the throughput comparison; returns whether every row met its targets.
pub fn run(args: &ThroughputArgs, common: &Common) -> Result<bool> {
    args.validate()?;
    let started = Instant::now();
    let mut placement = args.mode.placement(&args.server_cpu, &args.bench_cpu);
    if let Some(t) = args.bench_threads {
        placement.bench_threads = (t > 0).then_some(t);
    }
    if placement.server_cpus.is_some() && crate::which("taskset").is_none() {
        bail!("pinned mode needs `taskset` (util-linux) on PATH");
    }
    if crate::which(&args.redis_benchmark).is_none() {
        bail!("{} not found", args.redis_benchmark);
    }
    let binaries = common.binaries()?;
    let settings = Settings {
        bench_bin: args.redis_benchmark.clone(),
        placement: placement.clone(),
        clients: args.clients,
        keyspace: args.keyspace,
        timeout: Duration::from_secs(args.run_timeout),
    };
    let workloads = args.workloads();
    eprintln!(
        "ferrodis-bench: {} rows x {} rounds x 2 servers, {} mode",
        workloads.len(),
        args.rounds,
        args.mode
    );

    let mut redis = Deployment::launch(
        Role::Redis,
        &binaries.redis,
        &placement,
        &common.server_args,
    )?;
    let mut ferrodis = Deployment::launch(
        Role::Ferrodis,
        &binaries.ferrodis,
        &placement,
        &common.server_args,
    )?;
    eprintln!(
        "redis pid {:?} on {}, ferrodis pid {:?} on {}",
        redis.pids(),
        redis.entry(),
        ferrodis.pids(),
        ferrodis.entry()
    );

    let rounds = args.rounds as usize;
    let mut rows: Vec<Row> = workloads
        .iter()
        .map(|&w| Row {
            w,
            n: args.requests.unwrap_or(0),
            redis: vec![None; rounds],
            ferrodis: vec![None; rounds],
            redis_err: None,
            ferrodis_err: None,
        })
        .collect();

    // Sizing: probe runs with growing -n on redis (the reference), each mirrored on ferrodis so
    // both hold the same data. With a fixed -n, a warm-up of n/10 on both instead.
    for row in &mut rows {
        check_interrupted()?;
        if args.requests.is_none() {
            size_requests(
                &settings,
                [&mut redis, &mut ferrodis],
                row,
                args.target_secs,
            )?;
        } else {
            let warm = (row.n / 10).max(1000);
            for d in [&mut redis, &mut ferrodis] {
                if row.side(d.role).1.is_none() {
                    if let Err(e) = benchmark::run(&settings, d, row.w, warm)? {
                        *row.side(d.role).1 = Some(e);
                    }
                }
            }
        }
        eprintln!("{}: -n {}", describe(row.w), row.n);
    }

    // The measured rounds: per row, A then B.
    for round in 0..rounds {
        for row in &mut rows {
            for d in [&mut redis, &mut ferrodis] {
                check_interrupted()?;
                let role = d.role;
                if row.side(role).1.is_some() {
                    continue;
                }
                match benchmark::run(&settings, d, row.w, row.n)? {
                    Ok(s) => {
                        eprintln!(
                            "[{}/{rounds}] {} {:<8} {:>8} rps  p50 {} p99 {} ms  server CPU {:.0}%  client CPU {:.0}%",
                            round + 1,
                            describe(row.w),
                            role.label(),
                            report::rps(s.rps),
                            report::ms(s.p50_ms),
                            report::ms(s.p99_ms),
                            s.server_cpu * 100.0,
                            s.client_cpu * 100.0
                        );
                        row.side(role).0[round] = Some(s);
                    }
                    Err(e) => {
                        eprintln!(
                            "[{}/{rounds}] {} {}: {e}",
                            round + 1,
                            describe(row.w),
                            role.label()
                        );
                        *row.side(role).1 = Some(e);
                    }
                }
            }
        }
    }

    let redis_pid = redis.pids();
    let ferrodis_pid = ferrodis.pids();
    drop(ferrodis);
    drop(redis);
    let elapsed = started.elapsed();

    // Report.
    let mut md = String::new();
    md.push_str(&format!(
        "## Throughput, {} mode, {}\n\n",
        args.mode,
        report::utc_now()
    ));
    md.push_str(&binaries.banner());
    let server_argv: Vec<String> = placement
        .server_cpus
        .iter()
        .flat_map(|c| ["taskset".to_owned(), "-c".to_owned(), c.clone()])
        .chain(["BIN".to_owned()])
        .chain(server_args("PORT", "DIR", &common.server_args))
        .collect();
    let bench_argv = benchmark::argv(
        &settings,
        "127.0.0.1",
        "PORT",
        &[],
        Workload {
            test: Test::Set,
            pipeline: 0,
            size: 0,
        },
        0,
    );
    let bench_line = report::command_line(&bench_argv)
        .replace("-n 0", "-n N")
        .replace("-d 0", "-d SIZE")
        .replace("-P 0", "-P PIPELINE")
        .replace("-t set", "-t TEST");
    md.push_str(&format!(
        "- Command: `{}`\n- Host: {}\n- Servers (same arguments for both, pids redis {:?} / ferrodis {:?}): `{}`\n- Client: `{}`\n",
        report::own_command_line(),
        report::host_summary(),
        redis_pid,
        ferrodis_pid,
        report::command_line(&server_argv),
        bench_line,
    ));
    md.push_str(&format!(
        "- {} rounds; in every round each row runs on redis, then on ferrodis. {}. Total time {:.0} s.\n",
        args.rounds,
        match args.requests {
            Some(n) => format!(
                "`-n {n}` for every row, after a warm-up of n/10 requests on both servers"
            ),
            None => format!(
                "`-n` per row sized to take ~{} s on redis, from probe runs made on both servers \
                 (they double as warm-up)",
                args.target_secs
            ),
        },
        elapsed.as_secs_f64()
    ));
    md.push_str(
        "- Cells: median (min-max) over rounds. Ratio = ferrodis rps / redis rps of the same round. \
         Latencies (ms) are medians over rounds of redis-benchmark's per-run percentiles. \
         CPU = server (resp. redis-benchmark) CPU time / wall time, 100% = one core, redis/ferrodis; \
         a client CPU near 100% means redis-benchmark, not the server, limits that row.\n",
    );
    if placement.bench_threads.is_some() {
        md.push_str(
            "- Caveat: with `--threads`, redis-benchmark 7.0 notices the end of a run only on its \
             250 ms timer, so its rps is n / (a multiple of ~250 ms): quantized, biased low, and \
             often identical for both servers. Compare latencies, or use longer runs \
             (`--target-secs`) or `--bench-threads 0`.\n",
        );
    }
    md.push_str(
        "- Targets: ratio >= 1.00 on every row, >= 1.20 for GET and SET at -P 16, ferrodis p99 <= redis p99.\n\n",
    );

    let mut table = Table::new([
        "test",
        "-P",
        "-d",
        "-n",
        "redis rps",
        "ferrodis rps",
        "ratio f/r",
        "p50 redis",
        "p50 ferrodis",
        "p99 redis",
        "p99 ferrodis",
        "server CPU",
        "client CPU",
        "check",
    ]);
    let mut verdicts = Vec::new();
    let mut passed = 0;
    for row in &rows {
        let v = verdict(row);
        if v.pass {
            passed += 1;
        }
        let r: Vec<Sample> = row.redis.iter().flatten().copied().collect();
        let f: Vec<Sample> = row.ferrodis.iter().flatten().copied().collect();
        let spread = |xs: &[Sample], g: fn(&Sample) -> f64| {
            Spread::of(&xs.iter().map(g).collect::<Vec<_>>())
        };
        let show_rps =
            |xs: &[Sample]| spread(xs, |s| s.rps).map_or("n/a".to_owned(), |s| s.show(report::rps));
        let med = |xs: &[Sample], g: fn(&Sample) -> f64, fmt: fn(f64) -> String| {
            spread(xs, g).map_or("n/a".to_owned(), |s| fmt(s.median))
        };
        let pct = |x: f64| format!("{:.0}%", x * 100.0);
        table.row(vec![
            row.w.test.title(),
            row.w.pipeline.to_string(),
            row.w.size.to_string(),
            row.n.to_string(),
            show_rps(&r),
            show_rps(&f),
            Spread::of(&paired_ratios(row)).map_or("n/a".to_owned(), |s| s.show(report::ratio)),
            med(&r, |s| s.p50_ms, report::ms),
            med(&f, |s| s.p50_ms, report::ms),
            med(&r, |s| s.p99_ms, report::ms),
            med(&f, |s| s.p99_ms, report::ms),
            format!(
                "{}/{}",
                med(&r, |s| s.server_cpu, pct),
                med(&f, |s| s.server_cpu, pct)
            ),
            format!(
                "{}/{}",
                med(&r, |s| s.client_cpu, pct),
                med(&f, |s| s.client_cpu, pct)
            ),
            if v.pass {
                "PASS".to_owned()
            } else {
                format!("FAIL: {}", v.reasons.join("; "))
            },
        ]);
        verdicts.push((row, v));
    }
    md.push_str(&table.render());
    md.push_str(&format!("\nTargets: {passed}/{} rows PASS.\n", rows.len()));
    let errors: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            [
                (Role::Redis, &r.redis_err),
                (Role::Ferrodis, &r.ferrodis_err),
            ]
            .into_iter()
            .filter_map(move |(role, e)| {
                e.as_ref()
                    .map(|e| format!("- {} on {}: {e}", describe(r.w), role.label()))
            })
        })
        .collect();
    if !errors.is_empty() {
        md.push_str("\nErrors:\n\n");
        for e in &errors {
            md.push_str(e);
            md.push('\n');
        }
    }
    md.push('\n');

    println!("{md}");
    for (row, v) in &verdicts {
        println!(
            "{} {}: {}",
            if v.pass { "PASS" } else { "FAIL" },
            describe(row.w),
            v.summary
        );
    }
    if let Some(out) = &common.out {
        report::write_out(out, &md, common.overwrite)?;
        eprintln!("wrote {}", out.display());
    }
    Ok(passed == rows.len())
}

/// `SET -P 16 -d 1024`
fn describe(w: Workload) -> String {
    format!("{} -P {} -d {}", w.test.title(), w.pipeline, w.size)
}

/// Sets `row.n` so that one redis run takes about `target_secs`: probe with growing `-n` until
/// a redis run lasts at least 0.3 s (at most 5 probes), then scale its rate. Every probe is
/// repeated on ferrodis, so the probes warm both servers up and leave them the same data.
fn size_requests(
    s: &Settings,
    sides: [&mut Deployment; 2],
    row: &mut Row,
    target_secs: f64,
) -> Result<()> {
    let [redis, ferrodis] = sides;
    let mut n = 10_000 * u64::from(row.w.pipeline);
    row.n = n;
    for probe in 0..5 {
        check_interrupted()?;
        let reference = benchmark::run(s, redis, row.w, n)?;
        if row.ferrodis_err.is_none() {
            if let Err(e) = benchmark::run(s, ferrodis, row.w, n)? {
                row.ferrodis_err = Some(e);
            }
        }
        match reference {
            Err(e) => {
                row.redis_err = Some(e);
                return Ok(());
            }
            Ok(sample) if sample.elapsed >= Duration::from_millis(300) || probe == 4 => {
                row.n = round_requests(sample.rps * target_secs);
                return Ok(());
            }
            Ok(_) => n *= 4,
        }
    }
    Ok(())
}

/// Two significant digits, within 10k..=50M.
fn round_requests(x: f64) -> u64 {
    let x = x.clamp(10_000.0, 50_000_000.0);
    let magnitude = 10f64.powf(x.log10().floor() - 1.0);
    ((x / magnitude).round() * magnitude) as u64
}

/// ferrodis/redis of each round where both ran.
fn paired_ratios(row: &Row) -> Vec<f64> {
    row.redis
        .iter()
        .zip(&row.ferrodis)
        .filter_map(|(r, f)| match (r, f) {
            (Some(r), Some(f)) if r.rps > 0.0 => Some(f.rps / r.rps),
            _ => None,
        })
        .collect()
}

struct Verdict {
    pass: bool,
    reasons: Vec<String>,
    summary: String,
}

/// Checks one row against the targets.
fn verdict(row: &Row) -> Verdict {
    let ratios = Spread::of(&paired_ratios(row));
    let p99 = |xs: &[Option<Sample>]| {
        Spread::of(&xs.iter().flatten().map(|s| s.p99_ms).collect::<Vec<_>>())
    };
    let (Some(ratio), Some(p99_r), Some(p99_f)) = (ratios, p99(&row.redis), p99(&row.ferrodis))
    else {
        let why = row
            .ferrodis_err
            .as_ref()
            .or(row.redis_err.as_ref())
            .cloned()
            .unwrap_or_else(|| "no paired rounds".to_owned());
        return Verdict {
            pass: false,
            reasons: vec!["no data".to_owned()],
            summary: format!("no data ({why})"),
        };
    };
    let min_ratio = if matches!(row.w.test, Test::Get | Test::Set) && row.w.pipeline == 16 {
        1.2
    } else {
        1.0
    };
    let mut reasons = Vec::new();
    if ratio.median < min_ratio {
        reasons.push(format!("ratio {:.2} < {min_ratio:.2}", ratio.median));
    }
    if p99_f.median > p99_r.median {
        reasons.push(format!(
            "p99 {} > {} ms",
            report::ms(p99_f.median),
            report::ms(p99_r.median)
        ));
    }
    let summary = format!(
        "ratio {:.2} (need >= {min_ratio:.2}), p99 {} vs redis {} ms",
        ratio.median,
        report::ms(p99_f.median),
        report::ms(p99_r.median)
    );
    Verdict {
        pass: reasons.is_empty(),
        reasons,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn sample(rps: f64, p99: f64) -> Sample {
        Sample {
            rps,
            avg_ms: 0.0,
            min_ms: 0.0,
            p50_ms: 0.0,
            p95_ms: 0.0,
            p99_ms: p99,
            max_ms: 0.0,
            server_cpu: 1.0,
            client_cpu: 0.5,
            elapsed: Duration::from_secs(2),
        }
    }

    fn row(test: Test, pipeline: u32, r: &[(f64, f64)], f: &[(f64, f64)]) -> Row {
        Row {
            w: Workload {
                test,
                pipeline,
                size: 16,
            },
            n: 1000,
            redis: r.iter().map(|&(a, b)| Some(sample(a, b))).collect(),
            ferrodis: f.iter().map(|&(a, b)| Some(sample(a, b))).collect(),
            redis_err: None,
            ferrodis_err: None,
        }
    }

    #[test]
    fn targets() {
        let ok = row(Test::Incr, 1, &[(100.0, 1.0); 3], &[(101.0, 1.0); 3]);
        assert!(verdict(&ok).pass);
        let slow = row(Test::Incr, 1, &[(100.0, 1.0); 3], &[(99.0, 1.0); 3]);
        assert!(!verdict(&slow).pass);
        let get16 = row(Test::Get, 16, &[(100.0, 1.0); 3], &[(115.0, 1.0); 3]);
        assert!(!verdict(&get16).pass);
        let get16 = row(Test::Get, 16, &[(100.0, 1.0); 3], &[(125.0, 1.0); 3]);
        assert!(verdict(&get16).pass);
        let laggy = row(Test::Mset, 1, &[(100.0, 1.0); 3], &[(150.0, 1.1); 3]);
        let v = verdict(&laggy);
        assert!(!v.pass);
        assert!(v.reasons[0].starts_with("p99"));
        let mut broken = row(Test::Set, 1, &[(100.0, 1.0); 3], &[]);
        broken.ferrodis_err = Some("ERR unknown command".into());
        let v = verdict(&broken);
        assert!(!v.pass);
        assert!(v.summary.contains("unknown command"));
    }

    #[test]
    fn ratios_are_paired_by_round() {
        let mut r = row(
            Test::Set,
            1,
            &[(100.0, 1.0), (200.0, 1.0)],
            &[(110.0, 1.0), (180.0, 1.0)],
        );
        assert_eq!(paired_ratios(&r), vec![1.1, 0.9]);
        r.ferrodis[0] = None;
        assert_eq!(paired_ratios(&r), vec![0.9]);
    }

    #[test]
    fn rounds_requests() {
        assert_eq!(round_requests(1234.0), 10_000);
        assert_eq!(round_requests(234_567.0), 230_000);
        assert_eq!(round_requests(2_450_000.0), 2_500_000);
        assert_eq!(round_requests(1e12), 50_000_000);
    }

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        t: ThroughputArgs,
    }

    #[test]
    fn workload_order_and_all_types() {
        let cli = Cli::parse_from(["x", "--pipelines", "1,16", "--sizes", "16"]);
        let w = cli.t.workloads();
        assert_eq!(w.len(), 8);
        assert_eq!((w[0].test, w[0].pipeline), (Test::Set, 1));
        assert_eq!((w[1].test, w[4].pipeline), (Test::Get, 16));
        let cli = Cli::parse_from(["x", "--all-types", "--tests", "get"]);
        let tests: Vec<Test> = cli.t.workloads().iter().map(|w| w.test).collect();
        assert_eq!(
            &tests[..8],
            &[
                Test::Get,
                Test::Lpush,
                Test::Lpop,
                Test::Hset,
                Test::Sadd,
                Test::Zadd,
                Test::Zrange100,
                Test::Lrange100
            ]
        );
        assert_eq!(tests.len(), 32);
        assert!(cli.t.validate().is_ok());
    }
}
