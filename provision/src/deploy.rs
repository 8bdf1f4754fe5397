//! What every target shares: the state file, the files each node gets (config, TLS
//! material, ACL file), how the tool reaches the nodes, and `plan`/`up`/`status`/`down`
//! driven through the [`Target`] trait.
//!
//! Layout of the data directory:
//!
//! ```text
//! <dir>/ferrodis-provision.toml   state: target, server binary, the description used
//! <dir>/pki/                      ca.key (never copied to a node), ca.crt, <node>.crt/.key,
//!                                 operator.crt/.key (the tool's and redis-cli's)
//! <dir>/secrets/passwords.toml    generated ACL passwords (0600)
//! <dir>/redis-cli                 redis-cli with the right address, TLS files and user
//! <dir>/nodes/<node>/ ...         local target: each node's config, data, pid and log
//! <dir>/hosts/<node>/ ...         netns target: each host's filesystem root; ec2 target:
//!                                 the files last delivered (hosts/<node>/staging)
//! <dir>/ec2-hosts.toml            ec2 target: each node's instance and addresses
//! <dir>/ssh/                      ec2 target: the created key pair's private key (0400),
//!                                 the deployment's known_hosts
//! ```

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::acl::{Secrets, ADMIN_USER, REPLICATION_USER};
use crate::cluster::{self, Endpoint};
use crate::files::{write_if_changed, write_private, write_public};
use crate::pki::Ca;
use crate::placement::{place, NodeSpec};
use crate::render::{render, NodeEnv, ReplicationAuth};
use crate::resp::Connector;
use crate::spec::Deployment;

pub const STATE_FILE: &str = "ferrodis-provision.toml";

/// Which target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// Processes on 127.0.0.1 (ports base_port..).
    Local,
    /// One network namespace per host on a bridge (needs root).
    Netns,
    /// One EC2 instance per host (built with the `ec2` feature).
    Ec2,
}

impl TargetKind {
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Local => "local",
            TargetKind::Netns => "netns",
            TargetKind::Ec2 => "ec2",
        }
    }
}

/// The state file: enough for `status` and `down` without the description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub target: TargetKind,
    pub server_bin: PathBuf,
    pub deployment: Deployment,
}

impl State {
    pub fn load(dir: &Path) -> Result<Option<State>> {
        let p = dir.join(STATE_FILE);
        match fs::read_to_string(&p) {
            Ok(text) => Ok(Some(
                toml::from_str(&text).with_context(|| format!("reading {}", p.display()))?,
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
        }
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        let p = dir.join(STATE_FILE);
        let text = toml::to_string(self).context("state file")?;
        write_if_changed(&p, text.as_bytes(), false)
            .with_context(|| format!("writing {}", p.display()))?;
        Ok(())
    }
}

/// A deployment in a data directory.
pub struct Ctx {
    pub dir: PathBuf,
    pub state: State,
    pub nodes: Vec<NodeSpec>,
    /// How long to wait for nodes and agreement.
    pub timeout: Duration,
}

/// Where a node runs, as its target lays it out.
pub struct HostLayout {
    /// Host filesystem root on this machine (`<dir>/nodes/<n>` or `<dir>/hosts/<n>`).
    pub root: PathBuf,
    /// Config path on the host.
    pub conf: PathBuf,
    pub env: NodeEnv,
    /// Where the tool reaches the node.
    pub addr: SocketAddr,
    /// Where the other nodes reach it, when not at `addr` (EC2: the private address, while
    /// the tool goes through an ssh tunnel).
    pub peer: Option<SocketAddr>,
    /// Extra SAN entries for the node's certificate (its addresses).
    pub sans: Vec<String>,
}

/// What a target does; the shared code in [`Ctx`] does the rest.
pub trait Target {
    /// Layout of node `i`.
    fn layout(&self, ctx: &Ctx, node: &NodeSpec) -> Result<HostLayout>;
    /// What `up` would create or start (infrastructure and processes), for `plan`.
    fn plan(&self, ctx: &Ctx) -> Result<Vec<String>>;
    /// Creates the infrastructure, delivers each node's files (`files` per node: path
    /// relative to the host's config directory, content, private?) and starts the nodes;
    /// idempotent. Returns the actions taken.
    fn up(&self, ctx: &Ctx, files: &[Vec<NodeFile>]) -> Result<Vec<String>>;
    /// Whether the node's process runs (`Some(pid)`).
    fn running(&self, ctx: &Ctx, node: &NodeSpec) -> Option<i32>;
    /// Stops everything and deletes what `up` created; idempotent. Returns actions taken.
    fn down(&self, ctx: &Ctx) -> Result<Vec<String>>;
    /// The script of `<dir>/redis-cli` when the shared one (the local redis-cli against
    /// the first node's address) does not fit the target.
    fn cli_script(&self, _ctx: &Ctx) -> Result<Option<String>> {
        Ok(None)
    }
}

/// A file delivered to a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFile {
    /// Relative to the node's config directory (`redis.conf`, `tls/node.key`, ...).
    pub rel: String,
    pub data: Vec<u8>,
    pub private: bool,
}

impl Ctx {
    pub fn new(dir: PathBuf, state: State, timeout: Duration) -> Ctx {
        let nodes = place(&state.deployment);
        Ctx {
            dir,
            state,
            nodes,
            timeout,
        }
    }

    pub fn d(&self) -> &Deployment {
        &self.state.deployment
    }

    pub fn pki_dir(&self) -> PathBuf {
        self.dir.join("pki")
    }

    pub fn passwords_path(&self) -> PathBuf {
        self.dir.join("secrets").join("passwords.toml")
    }

    /// The ACL passwords, if the deployment uses ACLs (made on first use).
    pub fn secrets(&self, create: bool) -> Result<Option<Secrets>> {
        if !self.d().acl {
            return Ok(None);
        }
        let p = self.passwords_path();
        if !create && !p.exists() {
            return Ok(None);
        }
        Secrets::load_or_create(&p)
            .map(Some)
            .map_err(anyhow::Error::msg)
    }

    /// Every node's endpoint.
    pub fn endpoints(&self, t: &dyn Target) -> Result<Vec<Endpoint>> {
        self.nodes
            .iter()
            .map(|n| {
                let l = t.layout(self, n)?;
                Ok(Endpoint {
                    spec: n.clone(),
                    addr: l.addr,
                    meet: l.peer.unwrap_or(l.addr),
                })
            })
            .collect()
    }

    /// How the tool talks to the nodes: TLS with the operator's certificate, the admin user.
    pub fn connector(&self) -> Result<Connector> {
        let mut c = Connector {
            timeout: Some(Duration::from_secs(3)),
            ..Connector::default()
        };
        if self.d().tls {
            let pki = self.pki_dir();
            let read = |f: &str| {
                fs::read_to_string(pki.join(f))
                    .with_context(|| format!("reading {}", pki.join(f).display()))
            };
            c.tls = Some(
                Connector::tls_config(
                    &read("ca.crt")?,
                    &read("operator.crt")?,
                    &read("operator.key")?,
                )
                .map_err(anyhow::Error::msg)?,
            );
        }
        if let Some(s) = self.secrets(false)? {
            c.auth = Some((ADMIN_USER.to_string(), s.admin));
        }
        Ok(c)
    }

    /// The files of every node: config, TLS material, ACL file. Makes the CA, the
    /// certificates and the passwords on first use.
    pub fn node_files(&self, t: &dyn Target) -> Result<Vec<Vec<NodeFile>>> {
        let secrets = self.secrets(true)?;
        let ca = if self.d().tls {
            let ca = Ca::load_or_create(&self.pki_dir(), &self.d().name)?;
            ca.issue(
                "operator",
                "ferrodis-provision operator",
                &["operator".to_string(), "127.0.0.1".to_string()],
            )?;
            Some(ca)
        } else {
            None
        };
        let auth = secrets.as_ref().map(|s| ReplicationAuth {
            user: REPLICATION_USER.to_string(),
            password: s.replication.clone(),
        });
        let mut all = Vec::with_capacity(self.nodes.len());
        for n in &self.nodes {
            let l = t.layout(self, n)?;
            let mut files = vec![NodeFile {
                rel: "redis.conf".into(),
                data: render(self.d(), n, &l.env, auth.as_ref()).into_bytes(),
                // masterauth is in it
                private: auth.is_some(),
            }];
            if let Some(ca) = &ca {
                let mut sans = vec![n.name.clone()];
                sans.extend(l.sans.iter().cloned());
                let issued = ca.issue(&n.name, &n.name, &sans)?;
                files.push(NodeFile {
                    rel: "tls/ca.crt".into(),
                    data: ca.cert_pem()?.into_bytes(),
                    private: false,
                });
                files.push(NodeFile {
                    rel: "tls/node.crt".into(),
                    data: issued.cert_pem.into_bytes(),
                    private: false,
                });
                files.push(NodeFile {
                    rel: "tls/node.key".into(),
                    data: issued.key_pem.into_bytes(),
                    private: true,
                });
            }
            if let Some(s) = &secrets {
                files.push(NodeFile {
                    rel: "users.acl".into(),
                    data: s.acl_file().into_bytes(),
                    private: true,
                });
            }
            all.push(files);
        }
        Ok(all)
    }

    /// `<dir>/redis-cli`: the stock redis-cli pointed at the first node, in cluster mode,
    /// with the TLS files and the admin user when the deployment has them.
    pub fn write_cli_wrapper(&self, eps: &[Endpoint]) -> Result<PathBuf> {
        let first = eps.first().context("no nodes")?;
        let mut s = String::from(
            "#!/bin/sh\n# redis-cli for this deployment (written by ferrodis-provision).\n",
        );
        let mut args = format!("-c -h {} -p {}", first.addr.ip(), first.addr.port());
        if self.d().tls {
            let pki = self.pki_dir();
            args.push_str(&format!(
                " --tls --cacert '{}' --cert '{}' --key '{}'",
                pki.join("ca.crt").display(),
                pki.join("operator.crt").display(),
                pki.join("operator.key").display()
            ));
        }
        if self.d().acl {
            s.push_str(&format!(
                "REDISCLI_AUTH=$(sed -n 's/^admin = \"\\(.*\\)\"$/\\1/p' '{}')\nexport REDISCLI_AUTH\n",
                self.passwords_path().display()
            ));
            args.push_str(&format!(" --user {ADMIN_USER}"));
        }
        s.push_str(&format!("exec redis-cli {args} \"$@\"\n"));
        self.write_script("redis-cli", &s)
    }

    /// Writes an executable script (0700) in the data directory.
    pub fn write_script(&self, name: &str, text: &str) -> Result<PathBuf> {
        let p = self.dir.join(name);
        write_private(&p, text.as_bytes())?;
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o700))?;
        Ok(p)
    }
}

/// `plan`: what `up` would do.
pub fn plan(ctx: &Ctx, t: &dyn Target) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if ctx.d().tls && !ctx.pki_dir().join("ca.key").exists() {
        out.push(format!(
            "create a CA in {} and a certificate for each node and the operator",
            ctx.pki_dir().display()
        ));
    }
    let secrets = ctx.secrets(false)?;
    if ctx.d().acl && secrets.is_none() {
        out.push(format!(
            "generate ACL passwords (users admin, replication, app) in {}",
            ctx.passwords_path().display()
        ));
    }
    // Configs on disk that the description would render differently.
    if !ctx.d().acl || secrets.is_some() {
        let auth = secrets.as_ref().map(|s| ReplicationAuth {
            user: REPLICATION_USER.to_string(),
            password: s.replication.clone(),
        });
        for n in &ctx.nodes {
            let l = t.layout(ctx, n)?;
            if let Ok(old) = fs::read_to_string(&l.conf) {
                if old != render(ctx.d(), n, &l.env, auth.as_ref()) {
                    out.push(format!("rewrite the config of {} and restart it", n.name));
                }
            }
        }
    }
    out.extend(t.plan(ctx)?);
    let eps = ctx.endpoints(t)?;
    let obs = if ctx.dir.join(STATE_FILE).exists() {
        match ctx.connector() {
            Ok(c) => cluster::observe(&c, &eps),
            Err(_) => vec![None; eps.len()],
        }
    } else {
        vec![None; eps.len()]
    };
    match cluster::plan(&ctx.nodes, &obs) {
        Ok(steps) => out.extend(steps.iter().map(|s| s.describe(&eps))),
        Err(cluster::ClusterError::Settling(m)) => {
            out.push(format!("wait until the cluster settles ({m})"))
        }
        Err(e) => return Err(e.into()),
    }
    Ok(out)
}

/// `up`: everything, in order, idempotent. `log` gets a line per action.
pub fn up(ctx: &Ctx, t: &dyn Target, log: &mut dyn FnMut(&str)) -> Result<()> {
    fs::create_dir_all(&ctx.dir).with_context(|| format!("creating {}", ctx.dir.display()))?;
    if let Some(old) = State::load(&ctx.dir)? {
        if old.target != ctx.state.target {
            bail!(
                "{} holds a {} deployment: `down` it first",
                ctx.dir.display(),
                old.target.name()
            );
        }
        let (a, b) = (place(&old.deployment), &ctx.nodes);
        let shape = |v: &[NodeSpec]| {
            v.iter()
                .map(|n| (n.name.clone(), n.shard))
                .collect::<Vec<_>>()
        };
        if shape(&a) != shape(b) {
            bail!(
                "{} holds a deployment of another shape ({} nodes): `down` it first \
                 (adding or removing shards is resharding, not provisioning)",
                ctx.dir.display(),
                a.len()
            );
        }
    }
    // The state first, so an interrupted `up` can be resumed or taken down.
    ctx.state.save(&ctx.dir)?;
    let files = ctx.node_files(t)?;
    for a in t.up(ctx, &files)? {
        log(&a);
    }
    let eps = ctx.endpoints(t)?;
    let conn = ctx.connector()?;
    for e in &eps {
        cluster::wait_for(&format!("{} to answer", e.spec.name), ctx.timeout, || {
            let mut c = conn.connect(e.addr).map_err(|e| e.to_string())?;
            c.cmd(&["PING"]).map(|_| ()).map_err(|e| e.to_string())
        })?;
    }
    let ran = cluster::converge(&conn, &eps, ctx.timeout, log)?;
    if ran == 0 {
        log("cluster: nothing to change");
    }
    let cli = match t.cli_script(ctx)? {
        Some(script) => ctx.write_script("redis-cli", &script)?,
        None => ctx.write_cli_wrapper(&eps)?,
    };
    log(&format!(
        "cluster ready: {} (e.g. `{} set greeting hello`)",
        eps[0].meet,
        cli.display()
    ));
    if ctx.d().acl {
        log(&format!(
            "ACL passwords (users admin, replication, app): {}",
            ctx.passwords_path().display()
        ));
    }
    if ctx.d().tls {
        log(&format!(
            "TLS: CA {0}/ca.crt, client certificate {0}/operator.crt and .key (the CA key \
             {0}/ca.key stays here)",
            ctx.pki_dir().display()
        ));
    }
    Ok(())
}

/// `status`: one line per node and the problems found. `Ok(false)` when unhealthy.
pub fn status(ctx: &Ctx, t: &dyn Target, out: &mut dyn FnMut(&str)) -> Result<bool> {
    let eps = ctx.endpoints(t)?;
    let conn = ctx.connector()?;
    let obs = cluster::observe(&conn, &eps);
    let (rows, mut problems) = cluster::status(&eps, &obs);
    out(&format!(
        "{:<14} {:<21} {:<6} {:<28} {:<14} {}",
        "NODE", "ADDRESS", "ZONE", "ROLE", "CLUSTER_STATE", "SLOTS"
    ));
    for (r, n) in rows.iter().zip(&ctx.nodes) {
        let mut line = r.to_string();
        if r.role.starts_with("unreachable") {
            line.push_str(match t.running(ctx, n) {
                Some(_) => " (process running)",
                None => " (process not running)",
            });
        }
        out(&line);
    }
    if let Err(e) = cluster::check_replicas(&ctx.nodes, &obs) {
        if obs.iter().all(|o| o.as_ref().is_some_and(|s| s.reachable)) {
            problems.push(e);
        }
    }
    for p in &problems {
        out(&format!("problem: {p}"));
    }
    Ok(problems.is_empty())
}

/// `down`: the target's teardown, then the deployment's own files.
pub fn down(ctx: &Ctx, t: &dyn Target, log: &mut dyn FnMut(&str)) -> Result<()> {
    let actions = t.down(ctx)?;
    for a in &actions {
        log(a);
    }
    let mut removed = false;
    for sub in ["pki", "secrets", "nodes", "hosts"] {
        let p = ctx.dir.join(sub);
        if p.exists() {
            fs::remove_dir_all(&p).with_context(|| format!("removing {}", p.display()))?;
            log(&format!("removed {}", p.display()));
            removed = true;
        }
    }
    for f in ["redis-cli", STATE_FILE] {
        let p = ctx.dir.join(f);
        if p.exists() {
            fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
            removed = true;
        }
    }
    // The directory itself only if nothing else is in it.
    let _ = fs::remove_dir(&ctx.dir);
    if actions.is_empty() && !removed {
        log("nothing to remove");
    }
    Ok(())
}

/// Writes a node's files under `conf_dir`; returns whether anything changed.
pub fn deliver(conf_dir: &Path, files: &[NodeFile]) -> Result<bool> {
    let mut changed = false;
    for f in files {
        let p = conf_dir.join(&f.rel);
        changed |= write_if_changed(&p, &f.data, f.private)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(changed)
}

/// Writes a public file (helper for targets).
pub fn write_file(p: &Path, data: &[u8]) -> Result<()> {
    write_public(p, data).with_context(|| format!("writing {}", p.display()))
}
