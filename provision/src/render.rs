//! One renderer of a node's config file (redis.conf format) for every target: what differs
//! between targets (addresses, paths, who supervises the process) comes in as a [`NodeEnv`].

use std::fmt::Write as _;

use crate::placement::NodeSpec;
use crate::spec::Deployment;

/// Where and how a node runs on its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEnv {
    /// Addresses to listen on.
    pub bind: Vec<String>,
    /// Client port (the TLS port when the deployment uses TLS); the bus is port + 10000.
    pub port: u16,
    /// Working directory: nodes.conf, RDB and AOF files.
    pub dir: String,
    /// `daemonize yes` and a pid file (local and netns), or in the foreground under systemd.
    pub pidfile: Option<String>,
    pub logfile: String,
    /// Directory holding `ca.crt`, `node.crt`, `node.key` on the host (TLS only).
    pub tls_dir: Option<String>,
    /// The ACL file on the host (ACL only).
    pub aclfile: Option<String>,
    /// `io-threads`, for nodes that share one machine's CPUs (local and netns: see
    /// [`shared_io_threads`]); `None` leaves a node one worker thread per CPU (EC2, one node
    /// per instance).
    pub io_threads: Option<usize>,
}

/// Worker threads for each of `nodes` nodes on one machine with `cpus` CPUs: their share of
/// the CPUs, at least one. Without it, six nodes on an 8-CPU laptop would run 48 workers, and
/// a node's requests would wait behind the other nodes' threads.
pub fn shared_io_threads(cpus: usize, nodes: usize) -> usize {
    (cpus / nodes.max(1)).max(1)
}

/// [`shared_io_threads`] for this machine.
pub fn local_io_threads(nodes: usize) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    shared_io_threads(cpus, nodes)
}

/// The replication user's password, for `masterauth` (ACL only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationAuth {
    pub user: String,
    pub password: String,
}

/// A value as redis.conf reads it: bare when it is a plain word, else double-quoted with
/// `\\` and `\"` escaped.
pub fn quote(v: &str) -> String {
    let plain = !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\');
    if plain {
        return v.to_string();
    }
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The config file of `node`.
pub fn render(
    d: &Deployment,
    node: &NodeSpec,
    env: &NodeEnv,
    auth: Option<&ReplicationAuth>,
) -> String {
    let mut s = String::new();
    let mut line = |k: &str, v: &str| {
        let _ = writeln!(s, "{k} {v}");
    };
    line(
        "#",
        &format!(
            "{} (zone {}, shard {}) of deployment {}: written by ferrodis-provision, \
             rewritten by its next `up`",
            node.name,
            node.zone,
            node.shard + 1,
            d.name
        ),
    );
    let bind: Vec<String> = env.bind.iter().map(|b| quote(b)).collect();
    line("bind", &bind.join(" "));
    if d.tls {
        line("port", "0");
        line("tls-port", &env.port.to_string());
    } else {
        line("port", &env.port.to_string());
    }
    line("protected-mode", if d.acl { "yes" } else { "no" });
    line(
        "daemonize",
        if env.pidfile.is_some() { "yes" } else { "no" },
    );
    if let Some(p) = &env.pidfile {
        line("pidfile", &quote(p));
    }
    line("logfile", &quote(&env.logfile));
    line("dir", &quote(&env.dir));
    line("cluster-enabled", "yes");
    line("cluster-config-file", "nodes.conf");
    line("cluster-node-timeout", &d.node_timeout_ms.to_string());
    line("appendonly", if d.appendonly { "yes" } else { "no" });
    if let Some(n) = env.io_threads {
        line("io-threads", &n.to_string());
    }
    if let Some(t) = &env.tls_dir {
        line("tls-cert-file", &quote(&format!("{t}/node.crt")));
        line("tls-key-file", &quote(&format!("{t}/node.key")));
        line("tls-ca-cert-file", &quote(&format!("{t}/ca.crt")));
        line("tls-auth-clients", "yes");
        line("tls-cluster", "yes");
        line("tls-replication", "yes");
        line("tls-protocols", &quote("TLSv1.2 TLSv1.3"));
    }
    if let Some(a) = &env.aclfile {
        line("aclfile", &quote(a));
    }
    if let Some(a) = auth {
        line("masteruser", &quote(&a.user));
        line("masterauth", &quote(&a.password));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::place;
    use crate::spec::Preset;

    fn env(tls: bool, acl: bool) -> NodeEnv {
        NodeEnv {
            bind: vec!["127.0.0.1".into()],
            port: 7000,
            dir: "/data/my cluster/n1".into(),
            pidfile: Some("/data/n1/ferrodis.pid".into()),
            logfile: "/data/n1/ferrodis.log".into(),
            tls_dir: tls.then(|| "/data/n1/tls".into()),
            aclfile: acl.then(|| "/data/users.acl".into()),
            io_threads: None,
        }
    }

    fn directives(conf: &str) -> Vec<(String, String)> {
        conf.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once(' '))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn get<'a>(ds: &'a [(String, String)], k: &str) -> Option<&'a str> {
        ds.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn plain_cluster_node() {
        let d = Preset::Ha.deployment();
        let nodes = place(&d);
        let conf = render(&d, &nodes[0], &env(false, false), None);
        let ds = directives(&conf);
        assert_eq!(get(&ds, "port"), Some("7000"));
        assert_eq!(get(&ds, "cluster-enabled"), Some("yes"));
        assert_eq!(get(&ds, "cluster-node-timeout"), Some("5000"));
        assert_eq!(get(&ds, "appendonly"), Some("yes"));
        assert_eq!(get(&ds, "protected-mode"), Some("no"));
        assert_eq!(get(&ds, "daemonize"), Some("yes"));
        assert_eq!(get(&ds, "dir"), Some("\"/data/my cluster/n1\""));
        assert_eq!(get(&ds, "tls-port"), None);
        assert_eq!(get(&ds, "aclfile"), None);
        assert_eq!(get(&ds, "masterauth"), None);
        assert_eq!(get(&ds, "io-threads"), None);
        let shared = NodeEnv {
            io_threads: Some(2),
            ..env(false, false)
        };
        let conf = render(&d, &nodes[0], &shared, None);
        assert_eq!(get(&directives(&conf), "io-threads"), Some("2"));
        let mut keys: Vec<&String> = ds.iter().map(|(k, _)| k).collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n, "no directive twice");
    }

    #[test]
    fn nodes_sharing_a_machine_share_its_cpus() {
        assert_eq!(shared_io_threads(2, 6), 1);
        assert_eq!(shared_io_threads(8, 6), 1);
        assert_eq!(shared_io_threads(16, 6), 2);
        assert_eq!(shared_io_threads(64, 6), 10);
        assert_eq!(shared_io_threads(4, 0), 4);
    }

    #[test]
    fn secure_node_is_tls_only_with_acl() {
        let d = Preset::Secure.deployment();
        let nodes = place(&d);
        let auth = ReplicationAuth {
            user: "replication".into(),
            password: "abc123".into(),
        };
        let mut e = env(true, true);
        e.pidfile = None;
        let conf = render(&d, &nodes[2], &e, Some(&auth));
        let ds = directives(&conf);
        assert_eq!(get(&ds, "port"), Some("0"));
        assert_eq!(get(&ds, "tls-port"), Some("7000"));
        assert_eq!(get(&ds, "tls-cluster"), Some("yes"));
        assert_eq!(get(&ds, "tls-replication"), Some("yes"));
        assert_eq!(get(&ds, "tls-cert-file"), Some("/data/n1/tls/node.crt"));
        assert_eq!(get(&ds, "tls-protocols"), Some("\"TLSv1.2 TLSv1.3\""));
        assert_eq!(get(&ds, "aclfile"), Some("/data/users.acl"));
        assert_eq!(get(&ds, "masteruser"), Some("replication"));
        assert_eq!(get(&ds, "masterauth"), Some("abc123"));
        assert_eq!(get(&ds, "protected-mode"), Some("yes"));
        assert_eq!(get(&ds, "daemonize"), Some("no"));
        assert_eq!(get(&ds, "pidfile"), None);
        assert!(conf.starts_with("# ferrodis-3 (zone c, shard 3)"));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
