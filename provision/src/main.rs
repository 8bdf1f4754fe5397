//! ferrodis-provision: `plan`, `up`, `status`, `down` of a cluster deployment.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use ferrodis_provision::cluster::ClusterError;
use ferrodis_provision::deploy::{self, Ctx, State, TargetKind};
use ferrodis_provision::files::absolute;
use ferrodis_provision::spec::{Deployment, Preset};
use ferrodis_provision::targets;

/// Deploys a ferrodis cluster from one description: `local` (processes on 127.0.0.1),
/// `netns` (one network namespace per host, needs root) or `ec2` (one instance per host,
/// built with `--features ec2`).
#[derive(Parser)]
#[command(name = "ferrodis-provision", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Show what `up` would create or change.
    Plan {
        #[command(flatten)]
        opts: Opts,
        /// Also print each node's rendered config file.
        #[arg(long)]
        show_config: bool,
    },
    /// Create (or complete, or repair) the deployment; safe to run again.
    Up {
        #[command(flatten)]
        opts: Opts,
    },
    /// Each node's role, zone, slots and cluster_state; exit status 1 if unhealthy.
    Status {
        #[command(flatten)]
        opts: Opts,
    },
    /// Stop the nodes and delete everything `up` created; safe to run again.
    Down {
        #[command(flatten)]
        opts: Opts,
    },
}

#[derive(Args)]
struct Opts {
    /// Where to deploy (default: the data directory's, else local).
    #[arg(value_enum)]
    target: Option<TargetKind>,
    /// Data directory: state, certificates, passwords and (local) the nodes' files.
    #[arg(long, default_value = "ferrodis-cluster")]
    dir: PathBuf,
    /// Deployment description (TOML); default: the one in the data directory, else the preset.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Preset the description starts from.
    #[arg(long, value_enum)]
    preset: Option<Preset>,
    /// First client port of the local target (overrides local.base_port).
    #[arg(long)]
    base_port: Option<u16>,
    /// Replicas per primary (overrides replicas_per_primary).
    #[arg(long)]
    replicas: Option<usize>,
    /// Server binary (default: the data directory's, else ferrodis-server next to this
    /// program, else target/release/ferrodis-server, else from PATH).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Seconds to wait for nodes to start and the cluster to agree.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

fn find_server(explicit: Option<&Path>, state: Option<&State>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        let p = if p.components().count() == 1 && !p.exists() {
            which(p).with_context(|| format!("{} not found in PATH", p.display()))?
        } else {
            absolute(p)
        };
        if !p.is_file() {
            bail!("server binary {} does not exist", p.display());
        }
        return Ok(p);
    }
    if let Some(s) = state {
        return Ok(s.server_bin.clone());
    }
    let sibling = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("ferrodis-server")));
    for c in sibling
        .into_iter()
        .chain([absolute(Path::new("target/release/ferrodis-server"))])
    {
        if c.is_file() {
            return Ok(c);
        }
    }
    which(Path::new("ferrodis-server")).context(
        "no ferrodis-server found: build it (cargo build --release -p ferrodis-node) or \
         pass --server-bin",
    )
}

fn which(name: &Path) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn context(opts: &Opts) -> Result<Ctx> {
    let dir = absolute(&opts.dir);
    let state = State::load(&dir)?;
    let mut d: Deployment = match (&opts.config, &state, opts.preset) {
        (Some(f), _, p) => {
            let text =
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            Deployment::from_toml(&text, p)?
        }
        (None, Some(s), None) => s.deployment.clone(),
        (None, _, p) => p.unwrap_or(Preset::Ha).deployment(),
    };
    if let Some(p) = opts.base_port {
        d.local.base_port = p;
    }
    if let Some(r) = opts.replicas {
        d.replicas_per_primary = r;
    }
    d.validate()?;
    let kind = opts
        .target
        .or(state.as_ref().map(|s| s.target))
        .unwrap_or(TargetKind::Local);
    let server_bin = find_server(opts.server_bin.as_deref(), state.as_ref())?;
    let st = State {
        target: kind,
        server_bin,
        deployment: d,
    };
    Ok(Ctx::new(dir, st, Duration::from_secs(opts.timeout.max(1))))
}

fn run(cli: Cli) -> Result<bool> {
    let print = &mut |s: &str| println!("{s}");
    match cli.command {
        Cmd::Plan { opts, show_config } => {
            let ctx = context(&opts)?;
            let t = targets::of(ctx.state.target)?;
            println!(
                "deployment {} ({}): {} primaries x {} replica(s) over zones {}{}{}",
                ctx.d().name,
                ctx.state.target.name(),
                ctx.d().primaries,
                ctx.d().replicas_per_primary,
                ctx.d().zones.join(", "),
                if ctx.d().tls { ", TLS" } else { "" },
                if ctx.d().acl { ", ACL" } else { "" },
            );
            for n in &ctx.nodes {
                let l = t.layout(&ctx, n)?;
                println!(
                    "  {:<14} zone {:<4} {:<8} slots {}-{}  {}",
                    n.name,
                    n.zone,
                    match n.role {
                        ferrodis_provision::placement::Role::Primary => "primary",
                        ferrodis_provision::placement::Role::Replica => "replica",
                    },
                    n.slots.0,
                    n.slots.1,
                    l.peer.unwrap_or(l.addr)
                );
                if show_config {
                    let auth = ctx
                        .d()
                        .acl
                        .then(|| ferrodis_provision::render::ReplicationAuth {
                            user: ferrodis_provision::acl::REPLICATION_USER.into(),
                            password: "<generated>".into(),
                        });
                    let conf =
                        ferrodis_provision::render::render(ctx.d(), n, &l.env, auth.as_ref());
                    for line in conf.lines() {
                        println!("      {line}");
                    }
                }
            }
            let steps = deploy::plan(&ctx, t.as_ref())?;
            if steps.is_empty() {
                println!("nothing to do: the deployment is up");
            } else {
                println!("up would:");
                for s in steps {
                    println!("  - {s}");
                }
            }
            Ok(true)
        }
        Cmd::Up { opts } => {
            let ctx = context(&opts)?;
            let t = targets::of(ctx.state.target)?;
            deploy::up(&ctx, t.as_ref(), print)?;
            Ok(true)
        }
        Cmd::Status { opts } => {
            let ctx = context(&opts)?;
            if State::load(&ctx.dir)?.is_none() {
                println!("no deployment in {}", ctx.dir.display());
                return Ok(false);
            }
            let t = targets::of(ctx.state.target)?;
            deploy::status(&ctx, t.as_ref(), print)
        }
        Cmd::Down { opts } => {
            let ctx = context(&opts)?;
            let t = targets::of(ctx.state.target)?;
            deploy::down(&ctx, t.as_ref(), print)?;
            Ok(true)
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("ferrodis-provision: {e:#}");
            if e.downcast_ref::<ClusterError>()
                .is_some_and(|c| matches!(c, ClusterError::ReplicateUnsupported { .. }))
            {
                return ExitCode::from(3);
            }
            ExitCode::from(1)
        }
    }
}
