//! Reaching the EC2 hosts: `ssh` and `scp` (the system's OpenSSH client) with the
//! deployment's key, behind the [`Remote`] trait so tests can put a recorder in its place,
//! and ssh tunnels to the nodes' client ports (the security group keeps those ports
//! closed to everything outside the VPC).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A host as the tool reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub public_ip: String,
}

/// What the host setup needs from a remote shell.
pub trait Remote {
    /// Runs `command` (a shell command line) on `host`; its standard output.
    fn run(&self, host: &Host, command: &str) -> Result<String>;
    /// Copies `files` (files or directories, recursively, modes kept) into `remote_dir`
    /// (relative to the login user's home) on `host`.
    fn upload(&self, host: &Host, files: &[PathBuf], remote_dir: &str) -> Result<()>;
}

/// The OpenSSH client with the deployment's key.
#[derive(Debug, Clone)]
pub struct Ssh {
    pub user: String,
    pub key: PathBuf,
    /// The deployment's own known_hosts (new hosts accepted on first contact).
    pub known_hosts: PathBuf,
}

impl Ssh {
    /// The options every ssh and scp invocation gets.
    pub fn options(&self) -> Vec<String> {
        let mut o = vec!["-i".to_string(), self.key.display().to_string()];
        for opt in [
            "IdentitiesOnly=yes".to_string(),
            "StrictHostKeyChecking=accept-new".to_string(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "BatchMode=yes".to_string(),
            "ConnectTimeout=10".to_string(),
            "ServerAliveInterval=15".to_string(),
        ] {
            o.push("-o".into());
            o.push(opt);
        }
        o
    }

    fn common(&self, cmd: &mut Command) {
        cmd.args(self.options());
    }

    pub fn login(&self, host: &Host) -> String {
        format!("{}@{}", self.user, host.public_ip)
    }

    /// `ssh ... user@ip -- command`.
    pub fn ssh_command(&self, host: &Host, command: &str) -> Command {
        let mut c = Command::new("ssh");
        self.common(&mut c);
        c.arg(self.login(host)).arg("--").arg(command);
        c
    }

    /// `scp -p -r ... files user@ip:remote_dir/`.
    pub fn scp_command(&self, host: &Host, files: &[PathBuf], remote_dir: &str) -> Command {
        let mut c = Command::new("scp");
        c.args(["-q", "-p", "-r"]);
        self.common(&mut c);
        c.args(files);
        c.arg(format!("{}:{remote_dir}/", self.login(host)));
        c
    }

    /// `ssh -N -L 127.0.0.1:local:127.0.0.1:remote ...`: a tunnel to the node's port.
    pub fn tunnel_command(&self, host: &Host, local: u16, remote: u16) -> Command {
        let mut c = Command::new("ssh");
        c.arg("-N")
            .args(["-o", "ExitOnForwardFailure=yes"])
            .arg("-L")
            .arg(format!("127.0.0.1:{local}:127.0.0.1:{remote}"));
        self.common(&mut c);
        c.arg(self.login(host));
        c
    }
}

fn output(mut c: Command, what: &str) -> Result<String> {
    let out = c
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {what} (is OpenSSH installed?)"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Remote for Ssh {
    fn run(&self, host: &Host, command: &str) -> Result<String> {
        output(
            self.ssh_command(host, command),
            &format!("ssh {} `{command}`", host.name),
        )
    }

    fn upload(&self, host: &Host, files: &[PathBuf], remote_dir: &str) -> Result<()> {
        output(
            self.scp_command(host, files, remote_dir),
            &format!("scp to {}", host.name),
        )
        .map(|_| ())
    }
}

/// The directory files are uploaded to, under the login user's home.
pub const STAGING: &str = "ferrodis-staging";

/// The commands of one host's setup, in order (what [`setup_host`] runs).
pub fn setup_commands() -> [String; 3] {
    [
        format!("umask 077 && rm -rf {STAGING} && mkdir -p {STAGING}"),
        format!("sudo sh {STAGING}/bootstrap.sh \"$HOME/{STAGING}\""),
        format!("rm -rf {STAGING}"),
    ]
}

/// Waits for ssh, uploads `staging`'s entries (binary, config, certificates, ACL file,
/// bootstrap.sh) and runs the bootstrap with sudo; the staging copy (it holds keys) is
/// removed afterwards. Returns what the bootstrap printed.
pub fn setup_host(
    remote: &dyn Remote,
    host: &Host,
    staging: &Path,
    timeout: Duration,
) -> Result<String> {
    let [prepare, bootstrap, cleanup] = setup_commands();
    // A fresh instance takes a while to accept logins.
    let deadline = Instant::now() + timeout;
    loop {
        match remote.run(host, &prepare) {
            Ok(_) => break,
            Err(e) if Instant::now() > deadline => {
                return Err(e.context(format!("{} never accepted ssh", host.name)))
            }
            Err(_) => std::thread::sleep(Duration::from_secs(3)),
        }
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(staging)
        .with_context(|| format!("reading {}", staging.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    remote.upload(host, &files, STAGING)?;
    let said = remote.run(host, &bootstrap)?;
    remote.run(host, &cleanup)?;
    Ok(said)
}

/// Open ssh tunnels, one per node, closed when dropped.
#[derive(Default)]
pub struct Tunnels {
    open: Mutex<HashMap<String, (SocketAddr, Child)>>,
}

impl Tunnels {
    /// The local end of a tunnel to `remote_port` on `host`, opened if needed.
    pub fn get(&self, ssh: &Ssh, host: &Host, remote_port: u16) -> Result<SocketAddr> {
        let mut open = self
            .open
            .lock()
            .map_err(|_| anyhow::anyhow!("tunnel table poisoned"))?;
        if let Some((addr, child)) = open.get_mut(&host.name) {
            if child.try_wait().ok().flatten().is_none() {
                return Ok(*addr);
            }
            open.remove(&host.name);
        }
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let mut child = ssh
            .tunnel_command(host, port, remote_port)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting ssh for a tunnel")?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait()? {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                bail!(
                    "ssh tunnel to {} exited ({status}): {}",
                    host.name,
                    err.trim()
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("ssh tunnel to {} did not open in 30s", host.name);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        open.insert(host.name.clone(), (addr, child));
        Ok(addr)
    }
}

impl Drop for Tunnels {
    fn drop(&mut self) {
        if let Ok(open) = self.open.get_mut() {
            for (_, (_, mut child)) in open.drain() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn args(c: &Command) -> Vec<String> {
        std::iter::once(c.get_program())
            .chain(c.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn ssh() -> Ssh {
        Ssh {
            user: "ubuntu".into(),
            key: "/d/ssh/x-key.pem".into(),
            known_hosts: "/d/ssh/known_hosts".into(),
        }
    }

    fn host() -> Host {
        Host {
            name: "x-1".into(),
            public_ip: "198.51.100.7".into(),
        }
    }

    const COMMON: [&str; 14] = [
        "-i",
        "/d/ssh/x-key.pem",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        "UserKnownHostsFile=/d/ssh/known_hosts",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
        "-o",
        "ServerAliveInterval=15",
    ];

    #[test]
    fn ssh_command_line() {
        let a = args(&ssh().ssh_command(&host(), "sudo true"));
        let mut want = vec!["ssh"];
        want.extend(COMMON);
        want.extend(["ubuntu@198.51.100.7", "--", "sudo true"]);
        assert_eq!(a, want);
    }

    #[test]
    fn scp_command_line() {
        let files = vec![PathBuf::from("/s/ferrodis-server"), PathBuf::from("/s/tls")];
        let a = args(&ssh().scp_command(&host(), &files, STAGING));
        let mut want = vec!["scp", "-q", "-p", "-r"];
        want.extend(COMMON);
        want.extend([
            "/s/ferrodis-server",
            "/s/tls",
            "ubuntu@198.51.100.7:ferrodis-staging/",
        ]);
        assert_eq!(a, want);
    }

    #[test]
    fn tunnel_command_line() {
        let a = args(&ssh().tunnel_command(&host(), 40001, 6379));
        let mut want = vec![
            "ssh",
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-L",
            "127.0.0.1:40001:127.0.0.1:6379",
        ];
        want.extend(COMMON);
        want.push("ubuntu@198.51.100.7");
        assert_eq!(a, want);
    }

    /// Records what it is asked; fails the first `fail_first` runs like a host still
    /// booting.
    #[derive(Default)]
    struct Recorder {
        log: RefCell<Vec<String>>,
        fail_first: RefCell<usize>,
    }

    impl Remote for Recorder {
        fn run(&self, host: &Host, command: &str) -> Result<String> {
            if *self.fail_first.borrow() > 0 {
                *self.fail_first.borrow_mut() -= 1;
                bail!("connection refused");
            }
            self.log
                .borrow_mut()
                .push(format!("run {} {command}", host.name));
            Ok(if command.contains("bootstrap.sh") {
                "started ferrodis.service\n".into()
            } else {
                String::new()
            })
        }

        fn upload(&self, host: &Host, files: &[PathBuf], remote_dir: &str) -> Result<()> {
            let names: Vec<String> = files
                .iter()
                .map(|f| {
                    f.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                })
                .collect();
            self.log.borrow_mut().push(format!(
                "upload {} {} -> {remote_dir}",
                host.name,
                names.join(",")
            ));
            Ok(())
        }
    }

    #[test]
    fn host_setup_uploads_then_bootstraps_then_cleans_up() {
        let dir = crate::files::test_dir("ec2-setup");
        for f in ["ferrodis-server", "redis.conf", "bootstrap.sh", "users.acl"] {
            std::fs::write(dir.join(f), f).expect("write");
        }
        std::fs::create_dir_all(dir.join("tls")).expect("tls");
        let r = Recorder::default();
        *r.fail_first.borrow_mut() = 1;
        let said = setup_host(&r, &host(), &dir, Duration::from_secs(30)).expect("setup");
        assert_eq!(said, "started ferrodis.service\n");
        assert_eq!(
            *r.log.borrow(),
            vec![
                "run x-1 umask 077 && rm -rf ferrodis-staging && mkdir -p ferrodis-staging"
                    .to_string(),
                "upload x-1 bootstrap.sh,ferrodis-server,redis.conf,tls,users.acl -> \
                 ferrodis-staging"
                    .to_string(),
                "run x-1 sudo sh ferrodis-staging/bootstrap.sh \"$HOME/ferrodis-staging\""
                    .to_string(),
                "run x-1 rm -rf ferrodis-staging".to_string(),
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn host_setup_gives_up_at_the_deadline() {
        let r = Recorder::default();
        *r.fail_first.borrow_mut() = usize::MAX;
        let err = setup_host(&r, &host(), Path::new("/nonexistent"), Duration::ZERO)
            .expect_err("never reachable");
        assert!(format!("{err:#}").contains("never accepted ssh"), "{err:#}");
    }
}
