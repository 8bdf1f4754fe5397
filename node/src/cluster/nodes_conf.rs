//! The CLUSTER NODES line format, which is also nodes.conf's (plus its `vars` line): render,
//! parse, and the atomic write (temp file, fsync, rename, fsync of the directory).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use ferrodis_gossip::{nflags, NodeId, NodeView, Saved, SavedNode, View};

/// One node's line, without the newline (Redis `clusterGenNodeDescription`).
pub fn node_line(view: &View, n: &NodeView, for_file: bool, now_ms: u64) -> String {
    let mut s = String::with_capacity(128);
    let _ = write!(s, "{} {}:{}@{}", n.id, n.ip, n.port, n.cport);
    if !n.hostname.is_empty() {
        let _ = write!(s, ",{}", n.hostname);
    }
    s.push(' ');
    s.push_str(&nflags::render(n.flags));
    match n.primary {
        Some(p) => {
            let _ = write!(s, " {p}");
        }
        None => s.push_str(" -"),
    }
    let pong = if n.is_myself() {
        if for_file {
            0
        } else {
            now_ms / 1000 * 1000
        }
    } else {
        n.pong_received
    };
    let ping = if n.is_myself() { 0 } else { n.ping_sent };
    let epoch = match n.primary.and_then(|p| view.node(&p)) {
        Some(p) if !n.is_primary() => p.config_epoch,
        _ => n.config_epoch,
    };
    let link = if n.connected {
        "connected"
    } else {
        "disconnected"
    };
    let _ = write!(s, " {ping} {pong} {epoch} {link}");
    if n.is_primary() {
        for &(a, b) in &n.slots {
            if a == b {
                let _ = write!(s, " {a}");
            } else {
                let _ = write!(s, " {a}-{b}");
            }
        }
    }
    if n.is_myself() {
        for (slot, id) in &view.migrating {
            let _ = write!(s, " [{slot}->-{id}]");
        }
        for (slot, id) in &view.importing {
            let _ = write!(s, " [{slot}-<-{id}]");
        }
    }
    s
}

/// CLUSTER NODES: every node, handshakes included, each line ending in `\n`.
pub fn cluster_nodes(view: &View, now_ms: u64) -> String {
    let mut out = String::new();
    for n in &view.nodes {
        out.push_str(&node_line(view, n, false, now_ms));
        out.push('\n');
    }
    out
}

/// The content of nodes.conf (handshake nodes left out, as Redis does).
pub fn render_file(view: &View) -> String {
    let mut out = String::new();
    for n in view
        .nodes
        .iter()
        .filter(|n| n.flags & nflags::HANDSHAKE == 0)
    {
        out.push_str(&node_line(view, n, true, 0));
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "vars currentEpoch {} lastVoteEpoch {}",
        view.current_epoch, view.last_vote_epoch
    );
    out
}

/// Parses nodes.conf (ours or one written by redis-server).
pub fn parse(text: &str) -> Result<Saved, String> {
    let mut saved = Saved {
        nodes: Vec::new(),
        current_epoch: 0,
        last_vote_epoch: 0,
        migrating: Vec::new(),
        importing: Vec::new(),
    };
    for (lineno, line) in text.lines().enumerate() {
        let bad = |what: &str| {
            format!(
                "Unrecoverable error: corrupted cluster config file \"{line}\" (line {}: {what}).",
                lineno + 1
            )
        };
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        if f[0] == "vars" {
            let mut i = 1;
            while i + 1 < f.len() {
                let v: u64 = f[i + 1].parse().map_err(|_| bad("bad vars value"))?;
                match f[i] {
                    "currentEpoch" => saved.current_epoch = v,
                    "lastVoteEpoch" => saved.last_vote_epoch = v,
                    _ => {}
                }
                i += 2;
            }
            continue;
        }
        if f.len() < 8 {
            return Err(bad("too few fields"));
        }
        let id = NodeId::parse(f[0].as_bytes()).ok_or_else(|| bad("bad node id"))?;
        let (addr, hostname) = match f[1].split_once(',') {
            Some((a, h)) => (a, h.to_string()),
            None => (f[1], String::new()),
        };
        let (hostport, cport) = addr.split_once('@').ok_or_else(|| bad("bad address"))?;
        let (ip, port) = hostport
            .rsplit_once(':')
            .ok_or_else(|| bad("bad address"))?;
        let port: u16 = port.parse().map_err(|_| bad("bad port"))?;
        let cport: u16 = cport.parse().map_err(|_| bad("bad bus port"))?;
        let flags = nflags::parse(f[2]).ok_or_else(|| bad("bad flags"))?;
        let primary = match f[3] {
            "-" => None,
            p => Some(NodeId::parse(p.as_bytes()).ok_or_else(|| bad("bad primary id"))?),
        };
        let config_epoch: u64 = f[6].parse().map_err(|_| bad("bad config epoch"))?;
        let mut slots = Vec::new();
        for item in &f[8..] {
            if let Some(inner) = item.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                if let Some((slot, node)) = inner.split_once("->-") {
                    let slot: u16 = slot.parse().map_err(|_| bad("bad slot"))?;
                    let node = NodeId::parse(node.as_bytes()).ok_or_else(|| bad("bad node id"))?;
                    saved.migrating.push((slot, node));
                } else if let Some((slot, node)) = inner.split_once("-<-") {
                    let slot: u16 = slot.parse().map_err(|_| bad("bad slot"))?;
                    let node = NodeId::parse(node.as_bytes()).ok_or_else(|| bad("bad node id"))?;
                    saved.importing.push((slot, node));
                } else {
                    return Err(bad("bad slot entry"));
                }
                continue;
            }
            let (a, b) = match item.split_once('-') {
                Some((a, b)) => (a, b),
                None => (*item, *item),
            };
            let a: u16 = a.parse().map_err(|_| bad("bad slot"))?;
            let b: u16 = b.parse().map_err(|_| bad("bad slot"))?;
            if a > b || b as usize >= ferrodis_gossip::SLOTS {
                return Err(bad("bad slot range"));
            }
            slots.push((a, b));
        }
        saved.nodes.push(SavedNode {
            id,
            ip: ip.to_string(),
            port,
            cport,
            hostname,
            flags: flags & !nflags::HANDSHAKE,
            primary,
            config_epoch,
            slots,
        });
    }
    if !saved.nodes.iter().any(|n| n.flags & nflags::MYSELF != 0) {
        return Err("Unrecoverable error: corrupted cluster config file (no myself node).".into());
    }
    Ok(saved)
}

/// Writes `content` to `path` atomically: temp file in the same directory, rename. With
/// `fsync`, the file is on disk when this returns (fsync before the rename, then of the
/// directory); without, the kernel writes it back when it will (Redis's `clusterSaveConfig`
/// without `do_fsync`).
pub fn write_atomic(path: &Path, content: &str, fsync: bool) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "nodes.conf".into());
    let tmp = dir.join(format!("{name}.tmp-{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(content.as_bytes())?;
        if fsync {
            f.sync_all()?;
        }
    }
    std::fs::rename(&tmp, path)?;
    if fsync {
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REDIS_FILE: &str = "1dbda6d657fcff6ed9395fd54bbcfc26af6549b8 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460 [5->-7df5af3e5304041fd5eb2c6d604afb25844d5878]\n\
7df5af3e5304041fd5eb2c6d604afb25844d5878 127.0.0.1:30002@40002,host-b master - 1795457889143 1795457888340 2 connected 5461-10922\n\
7d3456381a9841f2bb7cdb2ec5731e3fcb185b21 127.0.0.1:30003@40003 master - 0 1795457888340 3 connected 10923-16383\n\
vars currentEpoch 3 lastVoteEpoch 0\n";

    #[test]
    fn parses_a_redis_nodes_conf() {
        let s = parse(REDIS_FILE).unwrap();
        assert_eq!(s.nodes.len(), 3);
        assert_eq!(s.current_epoch, 3);
        assert_eq!(s.nodes[0].flags, nflags::MYSELF | nflags::MASTER);
        assert_eq!(s.nodes[0].slots, vec![(0, 5460)]);
        assert_eq!(s.nodes[1].hostname, "host-b");
        assert_eq!(s.nodes[1].cport, 40002);
        assert_eq!(s.migrating.len(), 1);
    }

    #[test]
    fn round_trips_through_the_state_machine() {
        let saved = parse(REDIS_FILE).unwrap();
        let opts = ferrodis_gossip::Options::new(15000, 30001, 40001);
        let mut st = ferrodis_gossip::ClusterState::restore(opts, saved, 1, 1000).unwrap();
        let view = st.view(1000);
        let text = render_file(&view);
        let again = parse(&text).unwrap();
        assert_eq!(again.nodes.len(), 3);
        assert_eq!(again.current_epoch, 3);
        let me = again
            .nodes
            .iter()
            .find(|n| n.flags & nflags::MYSELF != 0)
            .unwrap();
        assert_eq!(me.slots, vec![(0, 5460)]);
        assert_eq!(again.migrating, parse(REDIS_FILE).unwrap().migrating);
        assert!(text.starts_with("1dbda6d657fcff6ed9395fd54bbcfc26af6549b8 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460 [5->-7df5af3e"));
    }

    #[test]
    fn corrupted_files_are_errors() {
        assert!(parse("garbage\n").is_err());
        assert!(parse("vars currentEpoch x\n").is_err());
        assert!(parse("").is_err());
        assert!(parse("1dbda6d657fcff6ed9395fd54bbcfc26af6549b8 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 9-2\n").is_err());
    }

    #[test]
    fn atomic_write_replaces_the_file() {
        let dir = std::env::temp_dir().join(format!("ferrodis-nodesconf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("nodes.conf");
        write_atomic(&p, "one\n", true).unwrap();
        write_atomic(&p, "two\n", false).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
