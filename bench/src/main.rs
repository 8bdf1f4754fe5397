//! ferrodis-bench: side-by-side benchmarks of `ferrodis-server` against stock `redis-server`.
//!
//! # Layout
//!
//! - `main.rs`: the CLI, the options both modes share, binary lookup.
//! - [`throughput`]: the A/B rounds over redis-benchmark workloads, table and target checks.
//! - [`memory`]: bytes per key after loading the same keys into each server.
//! - [`multi`]: MULTI/INCR/EXEC transactions per second, driven by the harness.
//! - [`deploy`]: modes (pinned, unpinned; the extension point for cluster) and the running
//!   processes of one side.
//! - [`benchmark`]: one redis-benchmark run: argv, CSV parsing, CPU accounting.
//! - [`server`]: one server process, started on a free port and stopped by its drop guard.
//! - [`process`]: deadlines for child processes, Ctrl-C handling, `/proc` readings.
//! - [`resp`]: a tiny blocking RESP client.
//! - [`report`]: medians, number formatting, markdown, the output file.
#![forbid(unsafe_code)]

mod benchmark;
mod deploy;
mod memory;
mod multi;
mod process;
mod report;
mod resp;
mod server;
mod throughput;

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};

/// Side-by-side benchmarks of ferrodis-server against stock redis-server.
///
/// Without a subcommand, runs the throughput comparison (see `--mode`).
#[derive(Parser, Debug)]
#[command(
    name = "ferrodis-bench",
    version,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    throughput: throughput::ThroughputArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Throughput and latency under redis-benchmark (the default).
    Throughput {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: throughput::ThroughputArgs,
    },
    /// Bytes per key after loading the same keys into each server.
    Memory {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: memory::MemoryArgs,
    },
    /// Transactions (MULTI; INCR; EXEC) per second from many connections.
    Multi {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: multi::MultiArgs,
    },
}

/// Options every mode shares.
#[derive(clap::Args, Debug, Clone)]
pub struct Common {
    /// Stock redis-server binary (the reference, "A").
    #[arg(long, default_value = "redis-server")]
    pub redis: PathBuf,
    /// ferrodis-server binary (the candidate, "B").
    /// [default: <workspace>/target/release/ferrodis-server]
    #[arg(long)]
    pub ferrodis: Option<PathBuf>,
    /// Extra argument for both servers, after the common ones; repeat for each word, e.g.
    /// `--server-arg=--io-threads --server-arg=2`.
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    pub server_args: Vec<String>,
    /// Append the markdown report to FILE (e.g. bench/RESULTS.md).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// With --out: replace FILE instead of appending.
    #[arg(long, requires = "out")]
    pub overwrite: bool,
    /// A line of text put under the report heading.
    #[arg(long)]
    pub note: Option<String>,
}

/// The two server binaries, resolved.
pub struct Binaries {
    pub redis: PathBuf,
    pub ferrodis: PathBuf,
    redis_version: String,
    ferrodis_version: String,
    note: Option<String>,
}

impl Common {
    /// Resolves and checks both binaries, and asks each for its version.
    pub fn binaries(&self) -> Result<Binaries> {
        let ferrodis = self.ferrodis.clone().unwrap_or_else(default_ferrodis);
        let Some(redis_path) = which(&self.redis.to_string_lossy()) else {
            bail!("redis-server binary {} not found", self.redis.display());
        };
        if which(&ferrodis.to_string_lossy()).is_none() {
            bail!(
                "ferrodis-server binary {} not found: build it with \
                 `cargo build -p ferrodis-node --release`, or pass `--ferrodis /usr/bin/redis-server` \
                 for a harness self-check",
                ferrodis.display()
            );
        }
        Ok(Binaries {
            redis_version: process::version_of(&self.redis),
            ferrodis_version: process::version_of(&ferrodis),
            redis: redis_path,
            ferrodis,
            note: self.note.clone(),
        })
    }
}

impl Binaries {
    /// True when B is really stock Redis: the same file as A, or a binary reporting itself
    /// as "Redis server" without ferrodis's `build=ferrodis-...` tag (ferrodis prints Redis's
    /// version line, as a drop-in replacement must).
    pub fn self_check(&self) -> bool {
        let same = match (self.redis.canonicalize(), self.ferrodis.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        same || (self.ferrodis_version.starts_with("Redis server")
            && !self.ferrodis_version.contains("ferrodis"))
    }

    /// Markdown lines naming both binaries (and the self-check warning if it applies).
    pub fn banner(&self) -> String {
        let mut s = String::new();
        if self.self_check() {
            s.push_str(
                "> **Harness self-check, not a ferrodis result:** the \"ferrodis\" side is stock \
                 redis-server, so ratios should be ~1.00 and differences are measurement noise.\n\n",
            );
        }
        if let Some(note) = &self.note {
            s.push_str(&format!("{note}\n\n"));
        }
        s.push_str(&format!(
            "- redis (A): `{}` ({})\n- ferrodis (B): `{}` ({})\n",
            self.redis.display(),
            self.redis_version,
            self.ferrodis.display(),
            self.ferrodis_version
        ));
        s
    }
}

/// `<workspace>/target/release/ferrodis-server`, honouring `CARGO_TARGET_DIR` if set.
fn default_ferrodis() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let bench = Path::new(env!("CARGO_MANIFEST_DIR"));
            bench.parent().unwrap_or(bench).join("target")
        });
    let path = target.join("release").join("ferrodis-server");
    path.canonicalize().unwrap_or(path)
}

/// The executable `name` resolves to: itself if it contains a slash, else a PATH lookup.
pub fn which(name: &str) -> Option<PathBuf> {
    let is_exec = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_exec(&p).then_some(p);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| is_exec(p))
    })
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = process::install_signal_handler() {
        eprintln!("ferrodis-bench: {e:#}");
        std::process::exit(1);
    }
    let result = match cli.command {
        None => throughput::run(&cli.throughput, &cli.common).map(|ok| (ok, cli.throughput.strict)),
        Some(Command::Throughput { common, args }) => {
            throughput::run(&args, &common).map(|ok| (ok, args.strict))
        }
        Some(Command::Memory { common, args }) => {
            memory::run(&args, &common).map(|()| (true, false))
        }
        Some(Command::Multi { common, args }) => multi::run(&args, &common).map(|()| (true, false)),
    };
    match result {
        Ok((all_pass, strict)) => {
            if strict && !all_pass {
                std::process::exit(2);
            }
        }
        Err(e) => {
            eprintln!("ferrodis-bench: error: {e:#}");
            std::process::exit(if process::interrupted() { 130 } else { 1 });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::parse_from(["ferrodis-bench", "--mode", "unpinned", "--rounds", "5"]);
        assert!(cli.command.is_none());
        assert_eq!(cli.throughput.rounds, 5);
        let cli = Cli::parse_from([
            "ferrodis-bench",
            "memory",
            "--keys",
            "1000",
            "--server-arg=--io-threads",
            "--server-arg=2",
        ]);
        match cli.command {
            Some(Command::Memory { common, args }) => {
                assert_eq!(args.keys, 1000);
                assert_eq!(common.server_args, ["--io-threads", "2"]);
            }
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn self_check_tells_ferrodis_from_redis() {
        let b = |v: &str| Binaries {
            redis: "/nonexistent/a".into(),
            ferrodis: "/nonexistent/b".into(),
            redis_version: String::new(),
            ferrodis_version: v.into(),
            note: None,
        };
        let redis =
            "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=ae4d7c";
        let ferrodis =
            "Redis server v=7.0.15 sha=00000000:0 malloc=libc bits=64 build=ferrodis-0.1.0";
        assert!(b(redis).self_check());
        assert!(!b(ferrodis).self_check());
    }

    #[test]
    fn which_finds_sh() {
        assert!(which("sh").is_some());
        assert!(which("/nonexistent/x").is_none());
    }
}
