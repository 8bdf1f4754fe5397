//! Placement: which node is a primary or a replica, in which zone, with which slots.
//!
//! Shard `s` (0-based) has its primary in zone `s mod Z` and its k-th replica in zone
//! `(s + 1 + k) mod Z`, so every replica is in a zone other than its primary's and its
//! siblings' (the description checks `replicas_per_primary < Z`). Nodes are numbered
//! primaries first, then replicas shard by shard: with the `ha` preset node 1..3 are the
//! primaries (zones a, b, a) and node 4..6 their replicas (zones b, a, b).

use crate::spec::Deployment;

/// Hash slots in a cluster.
pub const SLOTS: u16 = 16384;

/// The role a node is created with. After a failover a shard's replica may be its primary:
/// the cluster checks treat a shard as one unit (see [`crate::cluster`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Primary,
    /// A replica of the primary of the same shard.
    Replica,
}

/// One node of the deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// 0-based position: ports, addresses and names derive from it.
    pub index: usize,
    /// `<deployment>-<index + 1>`.
    pub name: String,
    pub zone: String,
    /// Position of the zone in the description's list.
    pub zone_index: usize,
    pub shard: usize,
    pub role: Role,
    /// The shard's slots (first, last), inclusive.
    pub slots: (u16, u16),
}

/// The slot ranges of `primaries` shards, split as `redis-cli --cluster create` does.
pub fn slot_ranges(primaries: usize) -> Vec<(u16, u16)> {
    let per = f64::from(SLOTS) / primaries as f64;
    let mut out = Vec::with_capacity(primaries);
    let mut first: i64 = 0;
    let mut cursor = 0.0f64;
    for i in 0..primaries {
        let mut last = (cursor + per - 1.0).round() as i64;
        if last > i64::from(SLOTS) || i == primaries - 1 {
            last = i64::from(SLOTS) - 1;
        }
        if last < first {
            last = first;
        }
        out.push((first as u16, last as u16));
        first = last + 1;
        cursor += per;
    }
    out
}

/// Every node of a (validated) description.
pub fn place(d: &Deployment) -> Vec<NodeSpec> {
    let zones = d.zones.len();
    let ranges = slot_ranges(d.primaries);
    let node = |index: usize, shard: usize, zone_index: usize, role| NodeSpec {
        index,
        name: format!("{}-{}", d.name, index + 1),
        zone: d.zones[zone_index].clone(),
        zone_index,
        shard,
        role,
        slots: ranges[shard],
    };
    let mut nodes: Vec<NodeSpec> = (0..d.primaries)
        .map(|s| node(s, s, s % zones, Role::Primary))
        .collect();
    for s in 0..d.primaries {
        for k in 0..d.replicas_per_primary {
            nodes.push(node(nodes.len(), s, (s + 1 + k) % zones, Role::Replica));
        }
    }
    nodes
}

/// Slot ranges as `first-last` separated by spaces (a single slot as `n`).
pub fn format_ranges(ranges: &[(u16, u16)]) -> String {
    let parts: Vec<String> = ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Preset;

    #[test]
    fn slots_split_like_redis_cli() {
        assert_eq!(
            slot_ranges(3),
            vec![(0, 5460), (5461, 10922), (10923, 16383)]
        );
        for n in 3..200 {
            let r = slot_ranges(n);
            assert_eq!(r.len(), n);
            assert_eq!(r[0].0, 0);
            assert_eq!(r[n - 1].1, SLOTS - 1);
            for w in r.windows(2) {
                assert_eq!(w[0].1 + 1, w[1].0, "{n}: contiguous");
                assert!(w[0].0 <= w[0].1);
            }
        }
    }

    #[test]
    fn ha_preset_places_replicas_in_the_other_zone() {
        let nodes = place(&Preset::Ha.deployment());
        let summary: Vec<(&str, &str, Role, usize)> = nodes
            .iter()
            .map(|n| (n.name.as_str(), n.zone.as_str(), n.role, n.shard))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("ferrodis-1", "a", Role::Primary, 0),
                ("ferrodis-2", "b", Role::Primary, 1),
                ("ferrodis-3", "a", Role::Primary, 2),
                ("ferrodis-4", "b", Role::Replica, 0),
                ("ferrodis-5", "a", Role::Replica, 1),
                ("ferrodis-6", "b", Role::Replica, 2),
            ]
        );
    }

    #[test]
    fn secure_preset_has_one_primary_per_zone() {
        let nodes = place(&Preset::Secure.deployment());
        let zones: Vec<&str> = nodes.iter().map(|n| n.zone.as_str()).collect();
        assert_eq!(zones, vec!["a", "b", "c"]);
        assert!(nodes.iter().all(|n| n.role == Role::Primary));
    }

    /// For any valid shape: replicas never share a zone with their primary or each other,
    /// every shard has one primary, and zones are used evenly (within one node).
    #[test]
    fn placement_invariants_for_many_shapes() {
        for primaries in 3..12 {
            for zones in 1..6 {
                for replicas in 0..zones.max(1) {
                    if replicas > 0 && replicas >= zones {
                        continue;
                    }
                    let mut d = Preset::Ha.deployment();
                    d.primaries = primaries;
                    d.replicas_per_primary = replicas;
                    d.zones = (0..zones).map(|z| format!("z{z}")).collect();
                    d.validate().expect("valid");
                    let nodes = place(&d);
                    assert_eq!(nodes.len(), primaries * (1 + replicas));
                    for s in 0..primaries {
                        let shard: Vec<&NodeSpec> = nodes.iter().filter(|n| n.shard == s).collect();
                        assert_eq!(shard.iter().filter(|n| n.role == Role::Primary).count(), 1);
                        let mut zs: Vec<usize> = shard.iter().map(|n| n.zone_index).collect();
                        zs.sort();
                        zs.dedup();
                        assert_eq!(zs.len(), shard.len(), "{primaries}/{zones}/{replicas}");
                    }
                    let mut per_zone = vec![0usize; zones];
                    for n in &nodes {
                        per_zone[n.zone_index] += 1;
                    }
                    let (lo, hi) = (per_zone.iter().min(), per_zone.iter().max());
                    if replicas == 0 || zones == replicas + 1 {
                        assert!(hi.zip(lo).is_some_and(|(h, l)| h - l <= 1), "{per_zone:?}");
                    }
                    for (i, n) in nodes.iter().enumerate() {
                        assert_eq!(n.index, i);
                    }
                }
            }
        }
    }

    #[test]
    fn ranges_format() {
        assert_eq!(format_ranges(&[(0, 5460), (7, 7)]), "0-5460 7");
    }
}
