//! The `netns` target: each host a network namespace `<prefix>-<i>` with its own address,
//! all on one bridge `<prefix>br0` in the host namespace (which gets x.y.0.1, so the tool
//! and `redis-cli` reach every node from the host). Each host's files live under
//! `<dir>/hosts/<node>/` as its filesystem root; the tool stages the binary, config and
//! secrets there and runs the same bootstrap script as on EC2 with `ip netns exec`.
//! Needs root (CAP_NET_ADMIN).

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::deploy::{deliver, write_file, Ctx, HostLayout, NodeFile, Target};
use crate::placement::NodeSpec;
use crate::proc;
use crate::render::NodeEnv;

/// The host bootstrap script (shared with the EC2 target).
pub const BOOTSTRAP: &str = include_str!("../../scripts/bootstrap.sh");

pub struct Netns;

/// Runs `ip` with `args`; `Err` with its stderr on failure.
fn ip(args: &[&str]) -> Result<String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running `ip` (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn link_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", "dev", name])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Namespaces whose name is `<prefix>-<number>`.
pub fn namespaces(prefix: &str) -> Vec<String> {
    let list = ip(&["netns", "list"]).unwrap_or_default();
    list.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| {
            n.strip_prefix(prefix)
                .and_then(|r| r.strip_prefix('-'))
                .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_string)
        .collect()
}

impl Netns {
    pub fn ns_name(ctx: &Ctx, n: &NodeSpec) -> String {
        format!("{}-{}", ctx.d().netns.prefix, n.index + 1)
    }
    pub fn bridge(ctx: &Ctx) -> String {
        format!("{}br0", ctx.d().netns.prefix)
    }
    fn veth(ctx: &Ctx, n: &NodeSpec) -> String {
        format!("{}h{}", ctx.d().netns.prefix, n.index + 1)
    }
    pub fn host_ip(ctx: &Ctx, n: &NodeSpec) -> Result<Ipv4Addr> {
        let (a, b) = ctx.d().netns.octets()?;
        Ok(Ipv4Addr::new(
            a,
            b,
            n.zone_index as u8 + 1,
            10 + n.index as u8,
        ))
    }
    fn root(ctx: &Ctx, n: &NodeSpec) -> PathBuf {
        ctx.dir.join("hosts").join(&n.name)
    }
    fn bin(ctx: &Ctx, n: &NodeSpec) -> PathBuf {
        Self::root(ctx, n).join("usr/local/bin/ferrodis-server")
    }
    fn pidfile(ctx: &Ctx, n: &NodeSpec) -> PathBuf {
        Self::root(ctx, n).join("run/ferrodis/ferrodis.pid")
    }

    fn ensure_network(&self, ctx: &Ctx, out: &mut Vec<String>) -> Result<()> {
        let (a, b) = ctx.d().netns.octets()?;
        let br = Self::bridge(ctx);
        if !link_exists(&br) {
            ip(&["link", "add", &br, "type", "bridge"])?;
            out.push(format!("created bridge {br}"));
        }
        ip(&["addr", "replace", &format!("{a}.{b}.0.1/16"), "dev", &br])?;
        ip(&["link", "set", &br, "up"])?;
        let existing = namespaces(&ctx.d().netns.prefix);
        for n in &ctx.nodes {
            let ns = Self::ns_name(ctx, n);
            let veth = Self::veth(ctx, n);
            if !existing.contains(&ns) {
                ip(&["netns", "add", &ns])?;
                out.push(format!("created namespace {ns} (zone {})", n.zone));
            }
            if !link_exists(&veth) {
                // A stale eth0 in the namespace (veth half gone) would block the new pair.
                let _ = ip(&["-n", &ns, "link", "del", "eth0"]);
                ip(&[
                    "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
                ])?;
            }
            ip(&["link", "set", &veth, "master", &br, "up"])?;
            let addr = format!("{}/16", Self::host_ip(ctx, n)?);
            ip(&["-n", &ns, "addr", "replace", &addr, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    /// Stages the files and the binary in `<root>/staging` and runs the bootstrap there.
    fn bootstrap(&self, ctx: &Ctx, n: &NodeSpec, files: &[NodeFile]) -> Result<String> {
        let root = Self::root(ctx, n);
        let staging = root.join("staging");
        fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
        deliver(&staging, files)?;
        stage_binary(&ctx.state.server_bin, &staging.join("ferrodis-server"))?;
        let script = staging.join("bootstrap.sh");
        write_file(&script, BOOTSTRAP.as_bytes())?;
        let root = fs::canonicalize(&root)?;
        let staging = fs::canonicalize(&staging)?;
        let ns = Self::ns_name(ctx, n);
        let out = Command::new("ip")
            .args(["netns", "exec", &ns, "sh"])
            .arg(root.join("staging/bootstrap.sh"))
            .arg(&staging)
            .arg(&root)
            .env("FERRODIS_SUPERVISOR", "daemon")
            .output()
            .context("running the bootstrap script")?;
        if !out.status.success() {
            bail!(
                "bootstrap of {} failed ({}): {}{}\n{}",
                n.name,
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                proc::log_tail(&root.join("var/log/ferrodis/ferrodis.log"), 10)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

/// Hard-links (or copies) the server binary into the staging directory when it differs.
fn stage_binary(src: &Path, dst: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    // The file itself, not a symlink to it (/usr/bin/redis-server is one).
    let src = &fs::canonicalize(src).with_context(|| format!("{}", src.display()))?;
    let (Ok(a), Ok(b)) = (fs::metadata(src), fs::metadata(dst)) else {
        return link_or_copy(src, dst);
    };
    if (a.dev(), a.ino()) == (b.dev(), b.ino()) {
        return Ok(());
    }
    if a.len() == b.len() && fs::read(src).ok() == fs::read(dst).ok() {
        return Ok(());
    }
    link_or_copy(src, dst)
}

fn link_or_copy(src: &Path, dst: &Path) -> Result<()> {
    let _ = fs::remove_file(dst);
    if fs::hard_link(src, dst).is_err() {
        fs::copy(src, dst)
            .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
    }
    Ok(())
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

impl Target for Netns {
    fn layout(&self, ctx: &Ctx, n: &NodeSpec) -> Result<HostLayout> {
        let root = Self::root(ctx, n);
        let ip = Self::host_ip(ctx, n)?;
        let d = ctx.d();
        let etc = root.join("etc/ferrodis");
        Ok(HostLayout {
            conf: etc.join("redis.conf"),
            env: NodeEnv {
                bind: vec![ip.to_string(), "127.0.0.1".into()],
                port: d.port,
                dir: s(&root.join("var/lib/ferrodis")),
                pidfile: Some(s(&Self::pidfile(ctx, n))),
                logfile: s(&root.join("var/log/ferrodis/ferrodis.log")),
                tls_dir: d.tls.then(|| s(&etc.join("tls"))),
                aclfile: d.acl.then(|| s(&etc.join("users.acl"))),
                io_threads: Some(crate::render::local_io_threads(ctx.nodes.len())),
            },
            addr: SocketAddr::from((ip, d.port)),
            peer: None,
            sans: vec![ip.to_string(), "127.0.0.1".into()],
            root,
        })
    }

    fn plan(&self, ctx: &Ctx) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let br = Self::bridge(ctx);
        if !link_exists(&br) {
            let (a, b) = ctx.d().netns.octets()?;
            out.push(format!("create bridge {br} with {a}.{b}.0.1/16"));
        }
        let existing = namespaces(&ctx.d().netns.prefix);
        for n in &ctx.nodes {
            let ns = Self::ns_name(ctx, n);
            if !existing.contains(&ns) {
                out.push(format!(
                    "create namespace {ns} (zone {}) with address {}",
                    n.zone,
                    Self::host_ip(ctx, n)?
                ));
            }
            if self.running(ctx, n).is_none() {
                out.push(format!(
                    "bootstrap {} in {ns}: install {}, config{}, start on {}:{}",
                    n.name,
                    ctx.state.server_bin.display(),
                    if ctx.d().tls { ", certificates" } else { "" },
                    Self::host_ip(ctx, n)?,
                    ctx.d().port
                ));
            }
        }
        Ok(out)
    }

    fn up(&self, ctx: &Ctx, files: &[Vec<NodeFile>]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        self.ensure_network(ctx, &mut out)?;
        for (n, f) in ctx.nodes.iter().zip(files) {
            let said = self.bootstrap(ctx, n, f)?;
            if said.lines().any(|l| l.starts_with("started")) {
                out.push(format!(
                    "{}: bootstrapped and started in {} ({})",
                    n.name,
                    Self::ns_name(ctx, n),
                    Self::host_ip(ctx, n)?
                ));
            }
        }
        Ok(out)
    }

    fn running(&self, ctx: &Ctx, n: &NodeSpec) -> Option<i32> {
        proc::running(&Self::pidfile(ctx, n), &Self::bin(ctx, n))
    }

    fn down(&self, ctx: &Ctx) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for n in &ctx.nodes {
            if let Some(pid) = self.running(ctx, n) {
                proc::stop(pid, ctx.timeout).map_err(anyhow::Error::msg)?;
                out.push(format!("stopped {} (pid {pid})", n.name));
            }
        }
        // Every namespace of the prefix, also ones of an earlier, larger deployment.
        for ns in namespaces(&ctx.d().netns.prefix) {
            // Anything still running inside (not started by this tool's pid files) is
            // left alone: deleting the name does not kill it.
            ip(&["netns", "del", &ns])?;
            out.push(format!("deleted namespace {ns}"));
        }
        let br = Self::bridge(ctx);
        if link_exists(&br) {
            ip(&["link", "del", &br])?;
            out.push(format!("deleted bridge {br}"));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::{State, TargetKind};
    use crate::spec::Preset;

    #[test]
    fn addresses_follow_zones() {
        let state = State {
            target: TargetKind::Netns,
            server_bin: "/bin/true".into(),
            deployment: Preset::Ha.deployment(),
        };
        let ctx = Ctx::new("/tmp/x".into(), state, std::time::Duration::from_secs(1));
        let ips: Vec<String> = ctx
            .nodes
            .iter()
            .map(|n| {
                Netns::host_ip(&ctx, n)
                    .map(|i| i.to_string())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(
            ips,
            vec![
                "10.250.1.10",
                "10.250.2.11",
                "10.250.1.12",
                "10.250.2.13",
                "10.250.1.14",
                "10.250.2.15"
            ]
        );
        assert_eq!(Netns::ns_name(&ctx, &ctx.nodes[5]), "fdp-6");
        let l = Netns.layout(&ctx, &ctx.nodes[0]).expect("layout");
        assert_eq!(l.env.bind, vec!["10.250.1.10", "127.0.0.1"]);
        assert_eq!(l.addr.to_string(), "10.250.1.10:6379");
    }
}
