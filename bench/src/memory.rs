//! Memory per element: load the same N elements into each server through pipelined RESP
//! batches, in one of several shapes (N string keys, N fields spread over small hashes, one
//! large hash, set or sorted set of N members), and compare VmRSS (from `/proc/<pid>/status`)
//! and `INFO memory` `used_memory` before and after.

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
    /// Value sizes in bytes, comma separated: each shape is measured once per size.
    #[arg(long, value_delimiter = ',', default_value = "16", value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub value_size: Vec<u64>,
    /// SETs per pipelined batch.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=50_000))]
    pub batch: u64,
    /// Time allowed for one server to take all keys, in seconds.
    #[arg(long, default_value_t = 300)]
    pub load_timeout: u64,
    /// What to load, comma separated (`all`: every shape).
    #[arg(long, value_delimiter = ',', default_value = "strings")]
    pub shapes: Vec<ShapeArg>,
}

/// `--shapes` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ShapeArg {
    Strings,
    SmallHashes,
    BigHash,
    BigSet,
    BigZset,
    All,
}

/// How the N elements are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `SET key:%07d <value>`: one key per element.
    Strings,
    /// `HSET hash:%06d field:%d <value>`: [`SMALL_HASH_FIELDS`] fields per hash (listpacks).
    SmallHashes,
    /// `HSET bighash key:%07d <value>`.
    BigHash,
    /// `SADD bigset key:%07d`.
    BigSet,
    /// `ZADD bigzset <i> key:%07d`.
    BigZset,
}

/// Fields per hash in [`Shape::SmallHashes`] (under the default listpack limit of 128).
pub const SMALL_HASH_FIELDS: u64 = 100;

impl Shape {
    const ALL: [Shape; 5] = [
        Shape::Strings,
        Shape::SmallHashes,
        Shape::BigHash,
        Shape::BigSet,
        Shape::BigZset,
    ];

    fn expand(args: &[ShapeArg]) -> Vec<Shape> {
        let mut out = Vec::new();
        for a in args {
            let add: &[Shape] = match a {
                ShapeArg::Strings => &[Shape::Strings],
                ShapeArg::SmallHashes => &[Shape::SmallHashes],
                ShapeArg::BigHash => &[Shape::BigHash],
                ShapeArg::BigSet => &[Shape::BigSet],
                ShapeArg::BigZset => &[Shape::BigZset],
                ShapeArg::All => &Shape::ALL,
            };
            for s in add {
                if !out.contains(s) {
                    out.push(*s);
                }
            }
        }
        out
    }

    fn label(self) -> &'static str {
        match self {
            Shape::Strings => "string keys",
            Shape::SmallHashes => "small hashes (100 fields)",
            Shape::BigHash => "one large hash",
            Shape::BigSet => "one large set",
            Shape::BigZset => "one large sorted set",
        }
    }

    fn describe(self, value_size: u64) -> String {
        match self {
            Shape::Strings => format!("`SET key:%07d <{value_size} B>`"),
            Shape::SmallHashes => format!("`HSET hash:%06d field:%d <{value_size} B>`"),
            Shape::BigHash => format!("`HSET bighash key:%07d <{value_size} B>`"),
            Shape::BigSet => "`SADD bigset key:%07d`".to_owned(),
            Shape::BigZset => "`ZADD bigzset <i> key:%07d`".to_owned(),
        }
    }

    /// Appends the command storing element `i`.
    fn encode(self, buf: &mut Vec<u8>, i: u64, value_size: usize) {
        let key = key_name(i);
        match self {
            Shape::Strings => {
                resp::encode_command(buf, &[b"SET", key.as_bytes(), &value_for(i, value_size)])
            }
            Shape::SmallHashes => {
                let hash = format!("hash:{:06}", i / SMALL_HASH_FIELDS);
                let field = format!("field:{}", i % SMALL_HASH_FIELDS);
                resp::encode_command(
                    buf,
                    &[
                        b"HSET",
                        hash.as_bytes(),
                        field.as_bytes(),
                        &value_for(i, value_size),
                    ],
                )
            }
            Shape::BigHash => resp::encode_command(
                buf,
                &[
                    b"HSET",
                    b"bighash",
                    key.as_bytes(),
                    &value_for(i, value_size),
                ],
            ),
            Shape::BigSet => resp::encode_command(buf, &[b"SADD", b"bigset", key.as_bytes()]),
            Shape::BigZset => {
                let score = i.to_string();
                resp::encode_command(
                    buf,
                    &[b"ZADD", b"bigzset", score.as_bytes(), key.as_bytes()],
                )
            }
        }
    }

    /// Whether `reply` is what storing a new element answers.
    fn stored(self, reply: &Reply) -> bool {
        match self {
            Shape::Strings => matches!(reply, Reply::Simple(s) if s == "OK"),
            _ => *reply == Reply::Int(1),
        }
    }

    /// The command counting what was loaded, and the count expected for `n` elements.
    fn count(self, n: u64) -> (Vec<&'static [u8]>, u64) {
        match self {
            Shape::Strings => (vec![b"DBSIZE"], n),
            Shape::SmallHashes => (vec![b"DBSIZE"], n.div_ceil(SMALL_HASH_FIELDS)),
            Shape::BigHash => (vec![b"HLEN", b"bighash"], n),
            Shape::BigSet => (vec![b"SCARD", b"bigset"], n),
            Shape::BigZset => (vec![b"ZCARD", b"bigzset"], n),
        }
    }
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
    let shapes = Shape::expand(&args.shapes);
    let n = args.keys;
    let mut results: Vec<(Shape, u64, Measure, Measure)> = Vec::new();
    let cases = shapes
        .iter()
        .flat_map(|&s| args.value_size.iter().map(move |&v| (s, v)));
    for (shape, value_size) in cases {
        let mut pair = Vec::new();
        // One server at a time, so the two never compete for memory or CPU.
        for (role, bin) in [
            (Role::Redis, &binaries.redis),
            (Role::Ferrodis, &binaries.ferrodis),
        ] {
            check_interrupted()?;
            let mut d = Deployment::launch(role, bin, &placement, &common.server_args)?;
            eprintln!(
                "{}: loading {n} elements as {} ({value_size} B) into pid {:?}",
                role.label(),
                shape.label(),
                d.pids()
            );
            let m = measure(&mut d, args, shape, value_size as usize)?;
            eprintln!(
                "{}: {:.1} B/element RSS, used_memory {} B/element, loaded in {:.2} s",
                role.label(),
                m.rss_per_key(n),
                m.used_per_key(n)
                    .map_or("n/a".to_owned(), |v| format!("{v:.1}")),
                m.load_time.as_secs_f64()
            );
            pair.push(m);
            drop(d);
        }
        let f = pair.pop().context("ferrodis measure")?;
        let r = pair.pop().context("redis measure")?;
        results.push((shape, value_size, r, f));
    }

    let mut md = String::new();
    md.push_str(&format!("## Memory, {}\n\n", report::utc_now()));
    md.push_str(&binaries.banner());
    md.push_str(&format!(
        "- Command: `{}`\n- Host: {}\n- Servers (one at a time, unpinned, same arguments): `{}`\n- Load: {n} elements per shape in pipelined batches of {}; counted after (DBSIZE/HLEN/SCARD/ZCARD). Total time {:.0} s.\n- Per element = (after - before) / elements. RSS is VmRSS of the server process from /proc/<pid>/status.\n",
        report::own_command_line(),
        report::host_summary(),
        report::command_line(
            &std::iter::once("BIN".to_owned())
                .chain(server_args("PORT", "DIR", &common.server_args))
                .collect::<Vec<_>>()
        ),
        args.batch,
        started.elapsed().as_secs_f64()
    ));
    // A shape's label carries the value size when several are measured.
    let label = |shape: Shape, size: u64| {
        if args.value_size.len() > 1 {
            format!("{} ({size} B)", shape.label())
        } else {
            shape.label().to_owned()
        }
    };
    for (shape, size, r, f) in &results {
        md.push_str(&format!(
            "- {}: {} (VmRSS empty: redis {}, ferrodis {})\n",
            label(*shape, *size),
            shape.describe(*size),
            report::bytes(r.rss_before as f64),
            report::bytes(f.rss_before as f64)
        ));
    }
    md.push('\n');
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if a > 0.0 => report::ratio(b / a),
        _ => "n/a".to_owned(),
    };
    let per = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.1} B"));
    let mut t = Table::new([
        "shape",
        "RSS/elem redis",
        "RSS/elem ferrodis",
        "**ratio f/r**",
        "used_memory/elem redis",
        "used_memory/elem ferrodis",
        "ratio f/r",
        "load s redis / ferrodis",
    ]);
    for (shape, size, r, f) in &results {
        let (rr, fr) = (Some(r.rss_per_key(n)), Some(f.rss_per_key(n)));
        let (ru, fu) = (r.used_per_key(n), f.used_per_key(n));
        t.row(vec![
            label(*shape, *size),
            per(rr),
            per(fr),
            ratio(rr, fr),
            per(ru),
            per(fu),
            ratio(ru, fu),
            format!(
                "{:.2} / {:.2}",
                r.load_time.as_secs_f64(),
                f.load_time.as_secs_f64()
            ),
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

fn used_memory(d: &Deployment) -> Option<u64> {
    let info = d.info("memory").ok()?;
    resp::info_field(&info, "used_memory")?.parse().ok()
}

fn measure(
    d: &mut Deployment,
    args: &MemoryArgs,
    shape: Shape,
    value_size: usize,
) -> Result<Measure> {
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
            shape.encode(&mut buf, i, value_size);
        }
        c.send_raw(&buf)?;
        for i in next..end {
            let reply = c.read_reply()?;
            if !shape.stored(&reply) {
                bail!(
                    "{}: storing element {i} as {} answered {reply:?}",
                    d.role.label(),
                    shape.label()
                );
            }
        }
        next = end;
    }
    let load_time = start.elapsed();
    d.ensure_running()?;
    let (count_cmd, expected) = shape.count(args.keys);
    match c.command_ok(&count_cmd)? {
        Reply::Int(n) if u64::try_from(n) == Ok(expected) => {}
        other => bail!(
            "{}: {} answered {other:?}, expected {expected}",
            d.role.label(),
            String::from_utf8_lossy(count_cmd[0])
        ),
    }
    if shape == Shape::Strings {
        // Spot-check a value round trip.
        let probe = args.keys / 2;
        let got = c.command_ok(&[b"GET", key_name(probe).as_bytes()])?;
        if got != Reply::Bulk(Some(value_for(probe, value_size))) {
            bail!(
                "{}: GET {} answered {got:?}",
                d.role.label(),
                key_name(probe)
            );
        }
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
    fn shapes() {
        assert_eq!(Shape::expand(&[ShapeArg::All]).len(), 5);
        assert_eq!(
            Shape::expand(&[ShapeArg::BigSet, ShapeArg::All, ShapeArg::BigSet])[0],
            Shape::BigSet
        );
        let mut buf = Vec::new();
        Shape::SmallHashes.encode(&mut buf, 250, 4);
        assert!(buf.starts_with(b"*4\r\n$4\r\nHSET\r\n$11\r\nhash:000002\r\n$8\r\nfield:50\r\n"));
        assert_eq!(Shape::SmallHashes.count(1001).1, 11);
        assert!(Shape::BigZset.stored(&Reply::Int(1)));
        assert!(!Shape::BigZset.stored(&Reply::Int(0)));
        assert!(Shape::Strings.stored(&Reply::Simple("OK".into())));
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
