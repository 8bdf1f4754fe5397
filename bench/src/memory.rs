//! Memory per key: load the same N `SET key:%07d <value>` into each server through pipelined
//! RESP batches, and compare VmRSS (from `/proc/<pid>/status`) and `INFO memory` `used_memory`
//! before and after.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::deploy::{Deployment, Mode, Role};
use crate::process::{self, check_interrupted};
use crate::report::{self, Table};
use crate::resp::{self, Reply};
use crate::server::server_args;
use crate::Common;

/// Memory mode options.
#[derive(Clone, Debug, clap::Args)]
pub struct MemoryArgs {
    /// Keys to load.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub keys: u64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub value_size: u64,
    /// SETs per pipelined batch.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=50_000))]
    pub batch: u64,
    /// Time allowed for one server to take all keys, in seconds.
    #[arg(long, default_value_t = 300)]
    pub load_timeout: u64,
}

/// What one server looked like before and after loading.
#[derive(Clone, Debug)]
struct Measure {
    rss_before: u64,
    rss_after: u64,
    used_before: Option<u64>,
    used_after: Option<u64>,
    load_time: Duration,
}

impl Measure {
    fn rss_per_key(&self, keys: u64) -> f64 {
        (self.rss_after as f64 - self.rss_before as f64) / keys as f64
    }

    fn used_per_key(&self, keys: u64) -> Option<f64> {
        Some((self.used_after? as f64 - self.used_before? as f64) / keys as f64)
    }
}

/// Runs the memory comparison.
pub fn run(args: &MemoryArgs, common: &Common) -> Result<()> {
    let started = Instant::now();
    let binaries = common.binaries()?;
    let placement = Mode::Unpinned.placement("0", "1");
    let mut results = Vec::new();
    // One server at a time, so the two never compete for memory or CPU.
    for (role, bin) in [
        (Role::Redis, &binaries.redis),
        (Role::Ferrodis, &binaries.ferrodis),
    ] {
        check_interrupted()?;
        let mut d = Deployment::launch(role, bin, &placement, &common.server_args)?;
        eprintln!(
            "{}: loading {} keys into pid {:?}",
            role.label(),
            args.keys,
            d.pids()
        );
        let m = measure(&mut d, args)?;
        eprintln!(
            "{}: {:.1} B/key RSS, used_memory {} B/key, loaded in {:.2} s",
            role.label(),
            m.rss_per_key(args.keys),
            m.used_per_key(args.keys)
                .map_or("n/a".to_owned(), |v| format!("{v:.1}")),
            m.load_time.as_secs_f64()
        );
        results.push(m);
        drop(d);
    }
    let (r, f) = (&results[0], &results[1]);
    let keys = args.keys;

    let mut md = String::new();
    md.push_str(&format!("## Memory, {}\n\n", report::utc_now()));
    md.push_str(&binaries.banner());
    md.push_str(&format!(
        "- Command: `{}`\n- Host: {}\n- Servers (one at a time, unpinned, same arguments): `{}`\n- Load: {keys} x `SET key:%07d <{} bytes>` in pipelined batches of {}, `DBSIZE` checked after. Total time {:.0} s.\n- Per key = (after - before) / keys. RSS is VmRSS of the server process from /proc/<pid>/status.\n\n",
        report::own_command_line(),
        report::host_summary(),
        report::command_line(
            &std::iter::once("BIN".to_owned())
                .chain(server_args("PORT", "DIR", &common.server_args))
                .collect::<Vec<_>>()
        ),
        args.value_size,
        args.batch,
        started.elapsed().as_secs_f64()
    ));
    let opt_bytes = |v: Option<u64>| v.map_or("n/a".to_owned(), |v| report::bytes(v as f64));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if a > 0.0 => report::ratio(b / a),
        _ => "n/a".to_owned(),
    };
    let per_key = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.1} B"));
    let mut t = Table::new(["", "redis", "ferrodis", "ratio f/r"]);
    t.row(vec![
        "VmRSS empty".into(),
        report::bytes(r.rss_before as f64),
        report::bytes(f.rss_before as f64),
        ratio(Some(r.rss_before as f64), Some(f.rss_before as f64)),
    ]);
    t.row(vec![
        "VmRSS loaded".into(),
        report::bytes(r.rss_after as f64),
        report::bytes(f.rss_after as f64),
        ratio(Some(r.rss_after as f64), Some(f.rss_after as f64)),
    ]);
    t.row(vec![
        "**RSS per key**".into(),
        per_key(Some(r.rss_per_key(keys))),
        per_key(Some(f.rss_per_key(keys))),
        ratio(Some(r.rss_per_key(keys)), Some(f.rss_per_key(keys))),
    ]);
    t.row(vec![
        "used_memory empty".into(),
        opt_bytes(r.used_before),
        opt_bytes(f.used_before),
        ratio(
            r.used_before.map(|v| v as f64),
            f.used_before.map(|v| v as f64),
        ),
    ]);
    t.row(vec![
        "used_memory loaded".into(),
        opt_bytes(r.used_after),
        opt_bytes(f.used_after),
        ratio(
            r.used_after.map(|v| v as f64),
            f.used_after.map(|v| v as f64),
        ),
    ]);
    t.row(vec![
        "**used_memory per key**".into(),
        per_key(r.used_per_key(keys)),
        per_key(f.used_per_key(keys)),
        ratio(r.used_per_key(keys), f.used_per_key(keys)),
    ]);
    t.row(vec![
        "load time".into(),
        format!("{:.2} s", r.load_time.as_secs_f64()),
        format!("{:.2} s", f.load_time.as_secs_f64()),
        ratio(
            Some(r.load_time.as_secs_f64()),
            Some(f.load_time.as_secs_f64()),
        ),
    ]);
    md.push_str(&t.render());
    md.push('\n');
    println!("{md}");
    if let Some(out) = &common.out {
        report::write_out(out, &md, common.overwrite)?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}

fn used_memory(d: &Deployment) -> Option<u64> {
    let info = d.info("memory").ok()?;
    resp::info_field(&info, "used_memory")?.parse().ok()
}

fn measure(d: &mut Deployment, args: &MemoryArgs) -> Result<Measure> {
    let pid = d.pids()[0];
    let mut c = d.nodes[0].client()?;
    c.command_ok(&[b"FLUSHALL"])?;
    process::nap(Duration::from_millis(200));
    let rss_before = process::vm_rss_bytes(pid)?;
    let used_before = used_memory(d);

    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.load_timeout);
    let mut buf = Vec::new();
    let mut next = 0u64;
    while next < args.keys {
        check_interrupted()?;
        if Instant::now() > deadline {
            bail!(
                "{} took over {} s to load {next} keys",
                d.role.label(),
                args.load_timeout
            );
        }
        let end = (next + args.batch).min(args.keys);
        buf.clear();
        for i in next..end {
            let key = key_name(i);
            let value = value_for(i, args.value_size as usize);
            resp::encode_command(&mut buf, &[b"SET", key.as_bytes(), &value]);
        }
        c.send_raw(&buf)?;
        for i in next..end {
            match c.read_reply()? {
                Reply::Simple(s) if s == "OK" => {}
                other => bail!("{}: SET {} answered {other:?}", d.role.label(), key_name(i)),
            }
        }
        next = end;
    }
    let load_time = start.elapsed();
    d.ensure_running()?;
    match c.command_ok(&[b"DBSIZE"])? {
        Reply::Int(n) if u64::try_from(n) == Ok(args.keys) => {}
        other => bail!(
            "{}: DBSIZE answered {other:?}, expected {}",
            d.role.label(),
            args.keys
        ),
    }
    // Spot-check a value round trip.
    let probe = args.keys / 2;
    let got = c.command_ok(&[b"GET", key_name(probe).as_bytes()])?;
    if got != Reply::Bulk(Some(value_for(probe, args.value_size as usize))) {
        bail!(
            "{}: GET {} answered {got:?}",
            d.role.label(),
            key_name(probe)
        );
    }
    process::nap(Duration::from_millis(200));
    let rss_after = process::vm_rss_bytes(pid).context("reading VmRSS after load")?;
    let used_after = used_memory(d);
    Ok(Measure {
        rss_before,
        rss_after,
        used_before,
        used_after,
        load_time,
    })
}

/// `key:0000042`
fn key_name(i: u64) -> String {
    format!("key:{i:07}")
}

/// A deterministic, incompressible-looking value of `len` alphanumeric bytes for key `i`.
fn value_for(i: u64, len: usize) -> Vec<u8> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[(x % ALPHABET.len() as u64) as usize]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values() {
        assert_eq!(key_name(42), "key:0000042");
        assert_eq!(key_name(999_999), "key:0999999");
        let v = value_for(7, 16);
        assert_eq!(v.len(), 16);
        assert_eq!(v, value_for(7, 16));
        assert_ne!(v, value_for(8, 16));
        assert!(v.iter().all(u8::is_ascii_alphanumeric));
    }

    #[test]
    fn per_key_math() {
        let m = Measure {
            rss_before: 1000,
            rss_after: 3000,
            used_before: Some(100),
            used_after: None,
            load_time: Duration::ZERO,
        };
        assert_eq!(m.rss_per_key(10), 200.0);
        assert_eq!(m.used_per_key(10), None);
    }
}
