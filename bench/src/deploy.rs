//! How a system under test is laid out and how redis-benchmark reaches it.
//!
//! A [`Mode`] decides placement (which CPUs the servers and the client get) and topology (how
//! many server processes). [`Deployment::launch`] turns a mode into running processes plus the
//! extra redis-benchmark arguments needed to reach them; everything downstream (runs, CPU and
//! memory sampling, reports) only talks to a `Deployment` and sums over its `nodes`.
//!
//! Extension point for the coming `cluster` mode: add `Mode::Cluster` with its placement, make
//! `Deployment::launch` start N nodes with `--cluster-enabled yes`, join them with
//! `redis-cli --cluster create`, wait for `cluster_state:ok`, and push `--cluster` into
//! `bench_args`. Key resets ([`Deployment::del_everywhere`]) already fan out to every node.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use clap::ValueEnum;

use crate::process;
use crate::resp::Reply;
use crate::server::{Server, ServerSpec};

/// Benchmark layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Each server pinned to one CPU (`taskset -c 0`), redis-benchmark pinned to another
    /// (`taskset -c 1`): measures single-core efficiency with the client off the server's core.
    Pinned,
    /// No pinning; redis-benchmark runs with `--threads 2`: measures what the server does with
    /// the whole machine.
    Unpinned,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Pinned => "pinned",
            Mode::Unpinned => "unpinned",
        })
    }
}

/// CPU placement for one benchmark layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// `taskset -c` list for every server process, if pinned.
    pub server_cpus: Option<String>,
    /// `taskset -c` list for redis-benchmark, if pinned.
    pub bench_cpus: Option<String>,
    /// `redis-benchmark --threads N`, if any.
    pub bench_threads: Option<u32>,
}

impl Mode {
    /// Placement of this mode; `server_cpu`/`bench_cpu` are the CPUs used when pinning.
    pub fn placement(self, server_cpu: &str, bench_cpu: &str) -> Placement {
        match self {
            Mode::Pinned => Placement {
                server_cpus: Some(server_cpu.to_owned()),
                bench_cpus: Some(bench_cpu.to_owned()),
                bench_threads: None,
            },
            Mode::Unpinned => Placement {
                server_cpus: None,
                bench_cpus: None,
                bench_threads: Some(2),
            },
        }
    }
}

/// Which side of the comparison a deployment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Stock redis-server, the reference ("A").
    Redis,
    /// ferrodis-server, the candidate ("B").
    Ferrodis,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Redis => "redis",
            Role::Ferrodis => "ferrodis",
        }
    }
}

/// The running processes of one side, and how to point redis-benchmark at them.
pub struct Deployment {
    pub role: Role,
    /// Every server process of this side; one outside cluster mode.
    pub nodes: Vec<Server>,
    /// Extra redis-benchmark arguments besides `-h/-p` of [`Deployment::entry`].
    pub bench_args: Vec<String>,
}

impl Deployment {
    /// Starts `binary` as `role` laid out as `placement` says.
    pub fn launch(
        role: Role,
        binary: &Path,
        placement: &Placement,
        extra_args: &[String],
    ) -> Result<Self> {
        let server = Server::start(&ServerSpec {
            label: role.label(),
            binary,
            cpus: placement.server_cpus.as_deref(),
            extra_args,
        })?;
        Ok(Self {
            role,
            nodes: vec![server],
            bench_args: Vec::new(),
        })
    }

    /// The address redis-benchmark connects to.
    pub fn entry(&self) -> SocketAddr {
        self.nodes[0].addr()
    }

    /// Fails if any node has died.
    pub fn ensure_running(&mut self) -> Result<()> {
        self.nodes.iter_mut().try_for_each(Server::ensure_running)
    }

    /// CPU time used so far by all nodes.
    pub fn cpu_time(&self) -> Result<Duration> {
        self.nodes
            .iter()
            .map(|n| process::cpu_time(n.pid()))
            .try_fold(Duration::ZERO, |acc, t| Ok(acc + t?))
    }

    /// Deletes `keys` on every node (keys a benchmark test would otherwise grow without bound).
    pub fn del_everywhere(&self, keys: &[&str]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        for node in &self.nodes {
            let mut c = node.client()?;
            let mut args: Vec<&[u8]> = vec![b"DEL"];
            args.extend(keys.iter().map(|k| k.as_bytes()));
            c.command_ok(&args)?;
        }
        Ok(())
    }

    /// Runs `commands` on every node; any error reply fails.
    pub fn run_everywhere(&self, commands: &[Vec<Vec<u8>>]) -> Result<()> {
        if commands.is_empty() {
            return Ok(());
        }
        for node in &self.nodes {
            let mut c = node.client()?;
            for cmd in commands {
                let args: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
                c.command_ok(&args)?;
            }
        }
        Ok(())
    }

    /// PIDs of all nodes, for the report.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().map(Server::pid).collect()
    }

    /// Sends `INFO section` to the first node and returns the body.
    pub fn info(&self, section: &str) -> Result<String> {
        let mut c = self.nodes[0].client()?;
        match c.command(&[b"INFO", section.as_bytes()])? {
            Reply::Bulk(Some(b)) => Ok(String::from_utf8_lossy(&b).into_owned()),
            other => anyhow::bail!("INFO {section} answered {other:?}"),
        }
    }
}
