//! The `local` target: every node a process on 127.0.0.1, node i on base_port + i, its
//! files under `<dir>/nodes/<node>/`, started with `daemonize yes` and a pid file.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::deploy::{deliver, Ctx, HostLayout, NodeFile, Target};
use crate::placement::NodeSpec;
use crate::proc;
use crate::render::NodeEnv;

pub struct Local;

fn s(p: &Path) -> String {
    p.display().to_string()
}

impl Local {
    fn pidfile(ctx: &Ctx, n: &NodeSpec) -> std::path::PathBuf {
        ctx.dir.join("nodes").join(&n.name).join("ferrodis.pid")
    }

    fn start(ctx: &Ctx, n: &NodeSpec, l: &HostLayout) -> Result<()> {
        let bin = &ctx.state.server_bin;
        for port in [l.addr.port(), l.addr.port() + 10000] {
            if std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err() {
                bail!(
                    "cannot start {}: port {port} on 127.0.0.1 is taken by another process \
                     (choose another --base-port)",
                    n.name
                );
            }
        }
        let out = Command::new(bin)
            .arg(&l.conf)
            .current_dir(&l.root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("starting {}", bin.display()))?;
        let log = l.root.join("ferrodis.log");
        if !out.status.success() {
            bail!(
                "{} did not start ({}): {}{}",
                n.name,
                out.status,
                String::from_utf8_lossy(&out.stderr),
                proc::log_tail(&log, 5)
            );
        }
        let pf = Self::pidfile(ctx, n);
        let deadline = std::time::Instant::now() + ctx.timeout;
        while proc::running(&pf, bin).is_none() {
            if std::time::Instant::now() > deadline {
                bail!(
                    "{} did not write its pid file {}; log:\n{}",
                    n.name,
                    pf.display(),
                    proc::log_tail(&log, 10)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Target for Local {
    fn layout(&self, ctx: &Ctx, n: &NodeSpec) -> Result<HostLayout> {
        let root = ctx.dir.join("nodes").join(&n.name);
        let port = ctx.d().local.base_port + n.index as u16;
        let d = ctx.d();
        Ok(HostLayout {
            conf: root.join("redis.conf"),
            env: NodeEnv {
                bind: vec!["127.0.0.1".into()],
                port,
                dir: s(&root),
                pidfile: Some(s(&root.join("ferrodis.pid"))),
                logfile: s(&root.join("ferrodis.log")),
                tls_dir: d.tls.then(|| s(&root.join("tls"))),
                aclfile: d.acl.then(|| s(&root.join("users.acl"))),
                io_threads: Some(crate::render::local_io_threads(ctx.nodes.len())),
            },
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            peer: None,
            sans: vec!["127.0.0.1".into(), "localhost".into()],
            root,
        })
    }

    fn plan(&self, ctx: &Ctx) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for n in &ctx.nodes {
            let l = self.layout(ctx, n)?;
            if !l.conf.exists() {
                out.push(format!("create {} and write its config", l.root.display()));
            }
            if self.running(ctx, n).is_none() {
                out.push(format!(
                    "start {} (zone {}) on {} with {}",
                    n.name,
                    n.zone,
                    l.addr,
                    ctx.state.server_bin.display()
                ));
            }
        }
        Ok(out)
    }

    fn up(&self, ctx: &Ctx, files: &[Vec<NodeFile>]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for (n, f) in ctx.nodes.iter().zip(files) {
            let l = self.layout(ctx, n)?;
            let changed = deliver(&l.root, f)?;
            match self.running(ctx, n) {
                Some(pid) if changed => {
                    proc::stop(pid, ctx.timeout).map_err(anyhow::Error::msg)?;
                    Self::start(ctx, n, &l)?;
                    out.push(format!("restarted {} (config changed)", n.name));
                }
                Some(_) => {}
                None => {
                    Self::start(ctx, n, &l)?;
                    out.push(format!(
                        "started {} (zone {}) on {}",
                        n.name, n.zone, l.addr
                    ));
                }
            }
        }
        Ok(out)
    }

    fn running(&self, ctx: &Ctx, n: &NodeSpec) -> Option<i32> {
        proc::running(&Self::pidfile(ctx, n), &ctx.state.server_bin)
    }

    fn down(&self, ctx: &Ctx) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for n in &ctx.nodes {
            if let Some(pid) = self.running(ctx, n) {
                proc::stop(pid, ctx.timeout).map_err(anyhow::Error::msg)?;
                out.push(format!("stopped {} (pid {pid})", n.name));
            }
        }
        Ok(out)
    }
}
