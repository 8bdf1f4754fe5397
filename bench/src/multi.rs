//! Transactions: `MULTI; INCR key:<n>; EXEC` from many connections, driven by the harness itself
//! (redis-benchmark sends one command per request, so it cannot express a transaction).
//!
//! Each round runs the workload on redis, then on ferrodis (a fresh server each, unpinned, same
//! arguments). Every client thread keeps `--pipeline` transactions in flight: it writes that
//! many MULTI/INCR/EXEC triples, reads all the replies and checks each EXEC answered a one-
//! element array. The figure is completed transactions per second (three commands each).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::deploy::{Deployment, Mode, Role};
use crate::process::check_interrupted;
use crate::report::{self, Spread, Table};
use crate::resp::{self, Reply};
use crate::server::server_args;
use crate::Common;

/// Transaction mode options.
#[derive(Clone, Debug, clap::Args)]
pub struct MultiArgs {
    /// Rounds; each runs every pipeline depth on redis, then on ferrodis.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub rounds: u32,
    /// Client connections.
    #[arg(short = 'c', long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub clients: u32,
    /// Seconds each run lasts.
    #[arg(long, default_value_t = 2.0)]
    pub secs: f64,
    /// Transactions in flight per connection, one run per value.
    #[arg(long, value_delimiter = ',', default_values_t = [1u32, 16])]
    pub pipelines: Vec<u32>,
    /// Keys the INCRs spread over (`key:0` ...).
    #[arg(short = 'r', long, default_value_t = 100_000)]
    pub keyspace: u64,
}

/// Runs the transaction comparison.
pub fn run(args: &MultiArgs, common: &Common) -> Result<()> {
    if !(args.secs > 0.0 && args.secs <= 600.0) {
        bail!("--secs must be in (0, 600]");
    }
    let started = Instant::now();
    let binaries = common.binaries()?;
    let placement = Mode::Unpinned.placement("0", "1");
    // samples[pipeline index][role index] = transactions per second, one per round.
    let mut samples = vec![[Vec::new(), Vec::new()]; args.pipelines.len()];
    for round in 1..=args.rounds {
        for (pi, &pipeline) in args.pipelines.iter().enumerate() {
            for (ri, (role, bin)) in [
                (Role::Redis, &binaries.redis),
                (Role::Ferrodis, &binaries.ferrodis),
            ]
            .into_iter()
            .enumerate()
            {
                check_interrupted()?;
                let mut d = Deployment::launch(role, bin, &placement, &common.server_args)?;
                let tps = drive(d.entry(), args, pipeline)
                    .with_context(|| format!("{} transactions", role.label()))?;
                d.ensure_running()?;
                eprintln!(
                    "round {round}: {} P={pipeline}: {} tx/s",
                    role.label(),
                    report::rps(tps)
                );
                samples[pi][ri].push(tps);
            }
        }
    }
    let mut md = String::new();
    md.push_str(&format!("## Transactions, {}\n\n", report::utc_now()));
    md.push_str(&binaries.banner());
    md.push_str(&format!(
        "- Command: `{}`\n- Host: {}\n- Servers (fresh per run, unpinned, same arguments): `{}`\n- Workload: {} connections from the harness, each with P transactions `MULTI; INCR key:<rand < {}>; EXEC` in flight, {:.1} s per run, {} rounds; figures are transactions/s (median, range). Total time {:.0} s.\n\n",
        report::own_command_line(),
        report::host_summary(),
        report::command_line(
            &std::iter::once("BIN".to_owned())
                .chain(server_args("PORT", "DIR", &common.server_args))
                .collect::<Vec<_>>()
        ),
        args.clients,
        args.keyspace,
        args.secs,
        args.rounds,
        started.elapsed().as_secs_f64()
    ));
    let mut t = Table::new(["workload", "redis tx/s", "ferrodis tx/s", "ratio f/r"]);
    for (pi, &pipeline) in args.pipelines.iter().enumerate() {
        let (r, f) = (Spread::of(&samples[pi][0]), Spread::of(&samples[pi][1]));
        let ratio = match (&r, &f) {
            (Some(r), Some(f)) if r.median > 0.0 => report::ratio(f.median / r.median),
            _ => "n/a".to_owned(),
        };
        let show =
            |s: &Option<Spread>| s.as_ref().map_or("n/a".to_owned(), |s| s.show(report::rps));
        t.row(vec![
            format!("MULTI/INCR/EXEC P={pipeline}"),
            show(&r),
            show(&f),
            ratio,
        ]);
    }
    md.push_str(&t.render());
    md.push('\n');
    println!("{md}");
    if let Some(out) = &common.out {
        report::write_out(out, &md, common.overwrite)?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}

/// Runs the workload against `addr` for `args.secs`; returns transactions per second.
fn drive(addr: SocketAddr, args: &MultiArgs, pipeline: u32) -> Result<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let secs = Duration::from_secs_f64(args.secs);
    let threads: Vec<_> = (0..args.clients)
        .map(|i| {
            let stop = stop.clone();
            let keyspace = args.keyspace.max(1);
            std::thread::spawn(move || client_loop(addr, i, pipeline, keyspace, &stop))
        })
        .collect();
    let t0 = Instant::now();
    std::thread::sleep(secs);
    stop.store(true, Relaxed);
    let mut total = 0u64;
    let mut first_err = None;
    for t in threads {
        match t.join() {
            Ok(Ok(n)) => total += n,
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(_) => bail!("a client thread panicked"),
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    if let Some(e) = first_err {
        return Err(e);
    }
    Ok(total as f64 / elapsed)
}

/// One connection's loop: batches of `pipeline` transactions until `stop`.
fn client_loop(
    addr: SocketAddr,
    seed: u32,
    pipeline: u32,
    keyspace: u64,
    stop: &AtomicBool,
) -> Result<u64> {
    let mut c = resp::Client::connect(addr, Duration::from_secs(10))?;
    let mut rng =
        0x9e37_79b9_7f4a_7c15u64 ^ (u64::from(seed) + 1).wrapping_mul(0xff51_afd7_ed55_8ccd);
    let mut buf = Vec::new();
    let mut done = 0u64;
    while !stop.load(Relaxed) {
        buf.clear();
        for _ in 0..pipeline {
            // xorshift64: a key per transaction.
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let key = format!("key:{}", rng % keyspace);
            resp::encode_command(&mut buf, &[b"MULTI"]);
            resp::encode_command(&mut buf, &[b"INCR", key.as_bytes()]);
            resp::encode_command(&mut buf, &[b"EXEC"]);
        }
        c.send_raw(&buf)?;
        for _ in 0..pipeline {
            let multi = c.read_reply()?;
            let queued = c.read_reply()?;
            let exec = c.read_reply()?;
            match (&multi, &queued, &exec) {
                (Reply::Simple(m), Reply::Simple(q), Reply::Array(Some(v)))
                    if m == "OK" && q == "QUEUED" && matches!(v.as_slice(), [Reply::Int(_)]) => {}
                _ => bail!("unexpected transaction replies: {multi:?} {queued:?} {exec:?}"),
            }
            done += 1;
        }
    }
    Ok(done)
}
