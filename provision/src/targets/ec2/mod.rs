//! The `ec2` target (cargo feature `ec2`): one instance per node in a VPC of the
//! deployment's own ([`infra`]), each set up over ssh with the same files and the same
//! bootstrap script as a `netns` host ([`ssh`]), the cluster then created over RESP
//! through ssh tunnels (the node ports are open to the VPC only) with `CLUSTER MEET`
//! naming the private addresses.
//!
//! Node `i` in zone `z` gets the private address 10.0.(z+1).(10+i), so its config and
//! certificate are known before its instance exists. `<dir>/ec2-hosts.toml` keeps each
//! node's instance and addresses; `<dir>/ssh/` the created key pair's private key and the
//! deployment's known_hosts; `<dir>/hosts/<node>/staging/` the files last delivered.

pub mod infra;
pub mod ssh;

use std::collections::BTreeMap;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::deploy::{deliver, write_file, Ctx, HostLayout, NodeFile, Target};
use crate::files::write_if_changed;
use crate::placement::NodeSpec;
use crate::render::NodeEnv;
use crate::spec::Ec2Target;
use crate::targets::netns::BOOTSTRAP;
use infra::{Desired, Infra, KeySource, Stage};
use ssh::{Host, Remote, Ssh, Tunnels};

pub const HOSTS_FILE: &str = "ec2-hosts.toml";

/// Paths on the hosts (those bootstrap.sh installs to).
const ETC: &str = "/etc/ferrodis";

/// One node's instance, as `up` last saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostEntry {
    pub instance: String,
    pub zone: String,
    pub public_ip: String,
    pub private_ip: String,
}

/// `<dir>/ec2-hosts.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostsFile {
    #[serde(default)]
    pub hosts: BTreeMap<String, HostEntry>,
}

impl HostsFile {
    pub fn load(dir: &Path) -> Result<HostsFile> {
        let p = dir.join(HOSTS_FILE);
        match fs::read_to_string(&p) {
            Ok(t) => toml::from_str(&t).with_context(|| format!("reading {}", p.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HostsFile::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
        }
    }

    fn save(&self, dir: &Path) -> Result<()> {
        let p = dir.join(HOSTS_FILE);
        let t = toml::to_string(self).context("hosts file")?;
        write_if_changed(&p, t.as_bytes(), false)
            .with_context(|| format!("writing {}", p.display()))?;
        Ok(())
    }
}

/// The `ec2` target.
pub struct Ec2 {
    tunnels: Tunnels,
    /// In place of ssh (tests).
    remote: Option<Box<dyn Remote>>,
    /// In place of a client from the environment (tests: an emulator's).
    client: Option<aws_sdk_ec2::Client>,
    /// Stop `up` after this stage (tests of resuming).
    pub fail_after: Option<Stage>,
}

impl Default for Ec2 {
    fn default() -> Self {
        Self::new()
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

impl Ec2 {
    pub fn new() -> Ec2 {
        Ec2 {
            tunnels: Tunnels::default(),
            remote: None,
            client: None,
            fail_after: None,
        }
    }

    /// With `remote` in place of ssh and, if given, `client` in place of one made from
    /// the environment.
    pub fn with(remote: Box<dyn Remote>, client: Option<aws_sdk_ec2::Client>) -> Ec2 {
        Ec2 {
            remote: Some(remote),
            client,
            ..Ec2::new()
        }
    }

    fn ssh_dir(ctx: &Ctx) -> PathBuf {
        ctx.dir.join("ssh")
    }

    pub fn desired(ctx: &Ctx) -> Desired {
        Desired::new(ctx.d(), &ctx.nodes, Self::ssh_dir(ctx))
    }

    fn ssh(ctx: &Ctx) -> Ssh {
        let e = &ctx.d().ec2;
        let key = match Self::desired(ctx).key {
            KeySource::Create { path, .. } => path,
            KeySource::Existing { .. } => expand_home(&e.key_file),
        };
        Ssh {
            user: e.ssh_user.clone(),
            key,
            known_hosts: Self::ssh_dir(ctx).join("known_hosts"),
        }
    }

    fn run_remote<T>(&self, ctx: &Ctx, f: impl FnOnce(&dyn Remote) -> T) -> T {
        match &self.remote {
            Some(r) => f(r.as_ref()),
            None => f(&Self::ssh(ctx)),
        }
    }

    async fn infra(&self, ctx: &Ctx) -> Infra {
        let client = match &self.client {
            Some(c) => c.clone(),
            None => infra::client(&ctx.d().ec2.region).await,
        };
        let mut i = Infra::new(client, &ctx.d().name);
        i.fail_after = self.fail_after;
        i
    }

    fn staging(ctx: &Ctx, n: &NodeSpec) -> PathBuf {
        ctx.dir.join("hosts").join(&n.name).join("staging")
    }

    fn host(hosts: &HostsFile, n: &NodeSpec) -> Option<Host> {
        hosts.hosts.get(&n.name).map(|h| Host {
            name: n.name.clone(),
            public_ip: h.public_ip.clone(),
        })
    }

    /// Puts a node's files, the server binary and the bootstrap in its staging directory.
    fn stage(ctx: &Ctx, n: &NodeSpec, files: &[NodeFile]) -> Result<PathBuf> {
        let staging = Self::staging(ctx, n);
        crate::files::private_dir(&staging)
            .with_context(|| format!("creating {}", staging.display()))?;
        deliver(&staging, files)?;
        let bin = staging.join("ferrodis-server");
        let src = &ctx.state.server_bin;
        if fs::read(src).ok() != fs::read(&bin).ok() {
            let _ = fs::remove_file(&bin);
            fs::copy(src, &bin)
                .with_context(|| format!("copying {} to {}", src.display(), bin.display()))?;
        }
        write_file(&staging.join("bootstrap.sh"), BOOTSTRAP.as_bytes())?;
        Ok(staging)
    }
}

impl Target for Ec2 {
    fn layout(&self, ctx: &Ctx, n: &NodeSpec) -> Result<HostLayout> {
        let d = ctx.d();
        let private = Ec2Target::private_ip(n.zone_index, n.index);
        let peer = SocketAddr::from((private, d.port));
        // The tool reaches a node through an ssh tunnel once its instance is known.
        let hosts = HostsFile::load(&ctx.dir)?;
        let addr = match Self::host(&hosts, n) {
            Some(h) if self.remote.is_none() => self
                .tunnels
                .get(&Self::ssh(ctx), &h, d.port)
                .unwrap_or(peer),
            _ => peer,
        };
        let root = ctx.dir.join("hosts").join(&n.name);
        Ok(HostLayout {
            // The copy last delivered (what `plan` compares the rendered config with).
            conf: root.join("staging").join("redis.conf"),
            env: NodeEnv {
                bind: vec![private.to_string(), "127.0.0.1".into()],
                port: d.port,
                dir: "/var/lib/ferrodis".into(),
                // In the foreground under systemd.
                pidfile: None,
                logfile: "/var/log/ferrodis/ferrodis.log".into(),
                tls_dir: d.tls.then(|| format!("{ETC}/tls")),
                aclfile: d.acl.then(|| format!("{ETC}/users.acl")),
                io_threads: None,
            },
            addr,
            peer: Some(peer),
            sans: vec![private.to_string(), "127.0.0.1".into()],
            root,
        })
    }

    fn plan(&self, ctx: &Ctx) -> Result<Vec<String>> {
        ctx.d().ec2.validate_for_use()?;
        let want = Self::desired(ctx);
        let rt = runtime()?;
        let found = rt.block_on(async { self.infra(ctx).await.discover().await })?;
        let mut out = infra::plan(&found, &want);
        let hosts = HostsFile::load(&ctx.dir)?;
        for n in &ctx.nodes {
            if found.instance(&n.name).is_none()
                || Self::host(&hosts, n).is_none()
                || !Self::staging(ctx, n).join("redis.conf").exists()
            {
                out.push(format!(
                    "set up {} over ssh: install {}, config{}{}, kernel settings, \
                     ferrodis.service; start it",
                    n.name,
                    ctx.state.server_bin.display(),
                    if ctx.d().tls { ", certificates" } else { "" },
                    if ctx.d().acl { ", ACL file" } else { "" },
                ));
            }
        }
        Ok(out)
    }

    fn up(&self, ctx: &Ctx, files: &[Vec<NodeFile>]) -> Result<Vec<String>> {
        ctx.d().ec2.validate_for_use()?;
        let want = Self::desired(ctx);
        if let KeySource::Existing { name } = &want.key {
            let key = Self::ssh(ctx).key;
            if !key.is_file() {
                anyhow::bail!(
                    "ec2.key_file {} (the private key of key pair {name}) does not exist",
                    key.display()
                );
            }
        }
        let mut out = Vec::new();
        let rt = runtime()?;
        let found = rt.block_on(async {
            let infra = self.infra(ctx).await;
            infra.ensure(&want, &mut |l| out.push(l)).await
        })?;
        let mut hosts = HostsFile::default();
        for i in &found.instances {
            hosts.hosts.insert(
                i.node.clone(),
                HostEntry {
                    instance: i.id.clone(),
                    zone: i.az.clone(),
                    public_ip: i.public_ip.clone().unwrap_or_default(),
                    private_ip: i.private_ip.clone().unwrap_or_default(),
                },
            );
        }
        hosts.save(&ctx.dir)?;
        for (n, f) in ctx.nodes.iter().zip(files) {
            let host = Self::host(&hosts, n)
                .with_context(|| format!("no instance of {} after launching", n.name))?;
            let staging = Self::stage(ctx, n, f)?;
            let said = self.run_remote(ctx, |r| {
                ssh::setup_host(
                    r,
                    &host,
                    &staging,
                    ctx.timeout.max(std::time::Duration::from_secs(300)),
                )
            })?;
            if said
                .lines()
                .any(|l| l.starts_with("started") || l.starts_with("restarted"))
            {
                out.push(format!(
                    "{}: set up and started on {} ({})",
                    n.name, host.public_ip, want.nodes[n.index].private_ip
                ));
            }
        }
        Ok(out)
    }

    fn running(&self, ctx: &Ctx, n: &NodeSpec) -> Option<i32> {
        let hosts = HostsFile::load(&ctx.dir).ok()?;
        let host = Self::host(&hosts, n)?;
        let said = self
            .run_remote(ctx, |r| {
                r.run(&host, "systemctl show --property MainPID --value ferrodis")
            })
            .ok()?;
        said.trim().parse::<i32>().ok().filter(|&p| p > 0)
    }

    /// redis-cli run on the first node's host over ssh (the node ports are closed to the
    /// outside), with the node's TLS files and the admin user when the deployment has them.
    fn cli_script(&self, ctx: &Ctx) -> Result<Option<String>> {
        let hosts = HostsFile::load(&ctx.dir)?;
        let Some(n) = ctx.nodes.first() else {
            return Ok(None);
        };
        let Some(h) = hosts.hosts.get(&n.name) else {
            return Ok(None);
        };
        Ok(Some(cli_script(ctx, &Self::ssh(ctx), &n.name, h)))
    }

    fn down(&self, ctx: &Ctx) -> Result<Vec<String>> {
        let want = Self::desired(ctx);
        let key_path = match &want.key {
            KeySource::Create { path, .. } => Some(path.clone()),
            KeySource::Existing { .. } => None,
        };
        let mut out = Vec::new();
        let rt = runtime()?;
        rt.block_on(async {
            let infra = self.infra(ctx).await;
            infra
                .destroy(key_path.as_deref(), &mut |l| out.push(l))
                .await
        })?;
        for p in [
            ctx.dir.join(HOSTS_FILE),
            Self::ssh_dir(ctx).join("known_hosts"),
        ] {
            if p.exists() {
                fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
            }
        }
        let _ = fs::remove_dir(Self::ssh_dir(ctx));
        Ok(out)
    }
}

/// `~/x` as `$HOME/x`; other relative paths from the current directory.
fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => crate::files::absolute(Path::new(p)),
    }
}

/// Single-quoted for sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The script of `<dir>/redis-cli` (see [`Ec2::cli_script`]).
fn cli_script(ctx: &Ctx, ssh: &Ssh, node: &str, h: &HostEntry) -> String {
    let d = ctx.d();
    let opts: Vec<String> = ssh.options().iter().map(|o| sh_quote(o)).collect();
    let mut remote = String::new();
    if d.tls {
        // The node's key is readable by the service user only.
        remote.push_str("sudo -u ferrodis ");
    }
    if d.acl {
        remote.push_str("env REDISCLI_AUTH=$pw ");
    }
    remote.push_str(&format!("redis-cli -c -h {} -p {}", h.private_ip, d.port));
    if d.tls {
        remote.push_str(&format!(
            " --tls --cacert {ETC}/tls/ca.crt --cert {ETC}/tls/node.crt --key {ETC}/tls/node.key"
        ));
    }
    if d.acl {
        remote.push_str(&format!(" --user {}", crate::acl::ADMIN_USER));
    }
    let mut s = format!(
        "#!/bin/sh\n# redis-cli for this deployment, run on {node} ({}) over ssh: the node \
         ports are open\n# to the VPC only. Written by ferrodis-provision.\nset -eu\n",
        h.public_ip
    );
    if d.acl {
        s.push_str(&format!(
            "pw=$(sed -n 's/^admin = \"\\(.*\\)\"$/\\1/p' {})\n",
            sh_quote(&ctx.passwords_path().display().to_string())
        ));
    }
    s.push_str(
        "args=\nfor a in \"$@\"; do\n    args=\"$args '$(printf '%s' \"$a\" | sed \"s/'/'\\\\\\\\''/g\")'\"\ndone\n\
         tty=\n[ ! -t 0 ] || tty=-t\n",
    );
    s.push_str(&format!(
        "exec ssh $tty {} {} \"{remote}$args\"\n",
        opts.join(" "),
        sh_quote(&ssh.login(&Host {
            name: node.to_string(),
            public_ip: h.public_ip.clone(),
        }))
    ));
    s
}

#[cfg(test)]
mod tests;
