//! The deployment description: one small TOML file, or one of the two presets the
//! deployment guides describe, with the file's keys laid over the preset's.
//!
//! ```toml
//! preset = "ha"              # "ha": 3 primaries + 3 replicas over zones a and b (default)
//!                            # "secure": 3 primaries over zones a, b, c with TLS and ACLs
//! name = "ferrodis"          # names the nodes, the state file and (netns) the namespaces
//! primaries = 3
//! replicas_per_primary = 1   # each replica in a zone other than its primary's
//! zones = ["a", "b"]
//! port = 6379                # client port on each host (netns, ec2); bus port = port + 10000
//! node_timeout_ms = 5000
//! appendonly = true
//! tls = false                # CA + per-node certificates, TLS-only client port and bus
//! acl = false                # ACL file with generated passwords, `default` user off
//!
//! [local]                    # all nodes on one machine, 127.0.0.1, ports base_port..
//! base_port = 7000
//!
//! [netns]                    # one network namespace per host, joined by a bridge
//! prefix = "fdp"             # namespace, bridge and veth names start with it
//! network = "10.250.0.0/16"  # bridge gets .0.1, a host of zone z gets .(z+1).(10+i)
//!
//! [ec2]                      # VPC 10.0.0.0/16, a subnet 10.0.(z+1).0/24 per zone
//! region = "us-east-1"       # zone "a" is availability zone us-east-1a
//! instance_type = "t3.small"
//! admin_cidr = "203.0.113.7/32"  # who may ssh in (required by plan/up); the node ports
//!                            # are open to the VPC only
//! key_name = ""              # an existing key pair (key_file = its private key), or
//! key_file = ""              # empty: one is created and saved in the data directory
//! ssh_user = "ubuntu"
//! volume_gb = 8              # encrypted gp3 root volume
//! ami_owner = "099720109477" # Canonical; the newest image matching ami_name is used
//! ami_name = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"
//! ```

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// Errors in a description.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot parse the deployment description: {0}")]
    Parse(String),
    #[error("unknown preset `{0}` (expected `ha` or `secure`)")]
    UnknownPreset(String),
    #[error("invalid deployment description: {0}")]
    Invalid(String),
}

/// The two topologies of the deployment guides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// 3 primaries + 3 replicas over two zones (the Pulumi guide).
    Ha,
    /// 3 primaries over three zones with TLS and ACLs (the production guide).
    Secure,
}

impl Preset {
    pub fn name(self) -> &'static str {
        match self {
            Preset::Ha => "ha",
            Preset::Secure => "secure",
        }
    }

    fn from_name(s: &str) -> Result<Preset, SpecError> {
        match s {
            "ha" => Ok(Preset::Ha),
            "secure" => Ok(Preset::Secure),
            other => Err(SpecError::UnknownPreset(other.to_string())),
        }
    }

    pub fn deployment(self) -> Deployment {
        let mut d = Deployment {
            name: "ferrodis".into(),
            primaries: 3,
            replicas_per_primary: 1,
            zones: vec!["a".into(), "b".into()],
            port: 6379,
            node_timeout_ms: 5000,
            appendonly: true,
            tls: false,
            acl: false,
            local: LocalTarget::default(),
            netns: NetnsTarget::default(),
            ec2: Ec2Target::default(),
        };
        if self == Preset::Secure {
            d.replicas_per_primary = 0;
            d.zones = vec!["a".into(), "b".into(), "c".into()];
            d.tls = true;
            d.acl = true;
        }
        d
    }
}

/// What to deploy. Every field has the preset's value unless the file sets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// Names the nodes (`<name>-1` ...) and, on EC2, the tags.
    pub name: String,
    /// Number of primaries; the 16384 slots are split between them as redis-cli does.
    pub primaries: usize,
    /// Replicas of each primary, each in a zone other than its primary's.
    pub replicas_per_primary: usize,
    /// Zone labels (availability zones on EC2); nodes are spread over them.
    pub zones: Vec<String>,
    /// Client port of each node on its own host (netns); the bus port is port + 10000.
    pub port: u16,
    /// `cluster-node-timeout` in milliseconds.
    pub node_timeout_ms: u64,
    /// `appendonly yes`.
    pub appendonly: bool,
    /// TLS on the client port (the plain port is off), the bus and replication.
    pub tls: bool,
    /// An ACL file with generated passwords; the `default` user is off.
    pub acl: bool,
    #[serde(default)]
    pub local: LocalTarget,
    #[serde(default)]
    pub netns: NetnsTarget,
    #[serde(default)]
    pub ec2: Ec2Target,
}

/// The `ec2` target: one instance per node in a VPC of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ec2Target {
    /// AWS region; a one-letter zone label `z` is the availability zone `<region>z`, a
    /// longer one is taken as the zone's full name.
    pub region: String,
    pub instance_type: String,
    /// The only source allowed to reach port 22 (CIDR, e.g. `203.0.113.7/32`).
    pub admin_cidr: String,
    /// An existing key pair to use (with `key_file`); empty: the tool creates one.
    pub key_name: String,
    /// Private key of `key_name`.
    pub key_file: String,
    /// Login user of the image.
    pub ssh_user: String,
    /// Size of the (encrypted gp3) root volume in GiB.
    pub volume_gb: i32,
    /// Owner of the image (Canonical's account by default).
    pub ami_owner: String,
    /// Name pattern of the image; the newest match is used.
    pub ami_name: String,
}

impl Default for Ec2Target {
    fn default() -> Self {
        Ec2Target {
            region: "us-east-1".into(),
            instance_type: "t3.small".into(),
            admin_cidr: String::new(),
            key_name: String::new(),
            key_file: String::new(),
            ssh_user: "ubuntu".into(),
            volume_gb: 8,
            ami_owner: "099720109477".into(),
            ami_name: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*".into(),
        }
    }
}

/// The VPC of an EC2 deployment; zone `z` (0-based) gets the subnet 10.0.(z+1).0/24.
pub const EC2_VPC_CIDR: &str = "10.0.0.0/16";

impl Ec2Target {
    /// The availability zone of a zone label.
    pub fn availability_zone(&self, label: &str) -> String {
        if label.len() == 1 {
            format!("{}{label}", self.region)
        } else {
            label.to_string()
        }
    }

    /// Subnet of zone `z` (0-based position in the description's list).
    pub fn subnet_cidr(zone_index: usize) -> String {
        format!("10.0.{}.0/24", zone_index + 1)
    }

    /// Private address of node `index` in zone `zone_index`: 10.0.(z+1).(10+i).
    pub fn private_ip(zone_index: usize, index: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, (zone_index + 1) as u8, (10 + index) as u8)
    }

    /// Checks the fields `plan` and `up` need (not needed by the other targets).
    pub fn validate_for_use(&self) -> Result<(), SpecError> {
        let invalid = |s: String| Err(SpecError::Invalid(s));
        if self.admin_cidr.is_empty() {
            return invalid(
                "ec2.admin_cidr is required: the address allowed to ssh in, such as \
                 203.0.113.7/32 (your public IP: curl https://checkip.amazonaws.com)"
                    .into(),
            );
        }
        if self.key_name.is_empty() != self.key_file.is_empty() {
            return invalid("ec2.key_name and ec2.key_file go together".into());
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), SpecError> {
        let invalid = |s: String| Err(SpecError::Invalid(s));
        let word = |v: &str| {
            !v.is_empty()
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        };
        if !word(&self.region) {
            return invalid(format!("ec2.region `{}` is not a region name", self.region));
        }
        if !word(&self.instance_type) {
            return invalid(format!(
                "ec2.instance_type `{}` is not an instance type",
                self.instance_type
            ));
        }
        if !self.admin_cidr.is_empty() {
            let ok = self.admin_cidr.split_once('/').is_some_and(|(a, l)| {
                a.parse::<Ipv4Addr>().is_ok() && l.parse::<u8>().is_ok_and(|l| l <= 32)
            });
            if !ok {
                return invalid(format!(
                    "ec2.admin_cidr `{}` must be an IPv4 CIDR such as 203.0.113.7/32",
                    self.admin_cidr
                ));
            }
        }
        if !(8..=16384).contains(&self.volume_gb) {
            return invalid(format!(
                "ec2.volume_gb {} must be 8-16384 (the image needs 8)",
                self.volume_gb
            ));
        }
        if self.ssh_user.is_empty() || !word(&self.ssh_user) {
            return invalid(format!(
                "ec2.ssh_user `{}` is not a user name",
                self.ssh_user
            ));
        }
        Ok(())
    }
}

/// The `local` target: every node on 127.0.0.1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalTarget {
    /// Node i listens on base_port + i (bus: + 10000).
    pub base_port: u16,
}

impl Default for LocalTarget {
    fn default() -> Self {
        LocalTarget { base_port: 7000 }
    }
}

/// The `netns` target: one network namespace per host on one bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetnsTarget {
    /// Prefix of namespace, bridge and veth names (at most 8 characters: interface names
    /// are limited to 15).
    pub prefix: String,
    /// An IPv4 /16: the bridge gets x.y.0.1, the host of node i in zone z x.y.(z+1).(10+i).
    pub network: String,
}

impl Default for NetnsTarget {
    fn default() -> Self {
        NetnsTarget {
            prefix: "fdp".into(),
            network: "10.250.0.0/16".into(),
        }
    }
}

impl NetnsTarget {
    /// The first two octets of the /16.
    pub fn octets(&self) -> Result<(u8, u8), SpecError> {
        let bad = || {
            SpecError::Invalid(format!(
                "netns.network `{}` must be an IPv4 /16 such as 10.250.0.0/16",
                self.network
            ))
        };
        let (addr, len) = self.network.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let o = addr.octets();
        if len != "16" || o[2] != 0 || o[3] != 0 {
            return Err(bad());
        }
        Ok((o[0], o[1]))
    }
}

impl Deployment {
    /// Parses a description: the preset named by its `preset` key (default `ha`, or
    /// `default_preset`), with the file's keys laid over it.
    pub fn from_toml(text: &str, default_preset: Option<Preset>) -> Result<Deployment, SpecError> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| SpecError::Parse(e.to_string()))?;
        let preset = match table.remove("preset") {
            Some(toml::Value::String(s)) => Preset::from_name(&s)?,
            Some(other) => {
                return Err(SpecError::Parse(format!(
                    "preset must be a string, got {other}"
                )))
            }
            None => default_preset.unwrap_or(Preset::Ha),
        };
        let base = toml::Table::try_from(preset.deployment())
            .map_err(|e| SpecError::Parse(e.to_string()))?;
        let merged = merge(base, table);
        let d: Deployment = merged
            .try_into()
            .map_err(|e: toml::de::Error| SpecError::Parse(e.to_string()))?;
        d.validate()?;
        Ok(d)
    }

    /// The description as TOML (what the state file keeps).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Checks what the placement and the targets rely on.
    pub fn validate(&self) -> Result<(), SpecError> {
        let invalid = |s: String| Err(SpecError::Invalid(s));
        if self.name.is_empty()
            || self.name.len() > 32
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return invalid(format!(
                "name `{}` must be 1-32 letters, digits or '-'",
                self.name
            ));
        }
        if self.primaries < 3 {
            return invalid(format!(
                "a cluster needs at least 3 primaries, got {}",
                self.primaries
            ));
        }
        if self.primaries > 1000 {
            return invalid(format!("too many primaries: {}", self.primaries));
        }
        if self.zones.is_empty() {
            return invalid("at least one zone is needed".into());
        }
        let mut zones = self.zones.clone();
        zones.sort();
        zones.dedup();
        if zones.len() != self.zones.len() {
            return invalid("zone names must be distinct".into());
        }
        if self.replicas_per_primary > 0 && self.replicas_per_primary >= self.zones.len() {
            return invalid(format!(
                "{} replica(s) per primary need at least {} zones (each replica in a zone \
                 other than its primary's and its sibling replicas'), got {}",
                self.replicas_per_primary,
                self.replicas_per_primary + 1,
                self.zones.len()
            ));
        }
        if self.port == 0 || self.port > 55535 {
            return invalid(format!(
                "port {} must be 1-55535 (the bus port is port + 10000)",
                self.port
            ));
        }
        let n = self.node_count();
        if self.local.base_port == 0 || usize::from(self.local.base_port) + n > 55536 {
            return invalid(format!(
                "local.base_port {} leaves no room for {n} nodes and their bus ports",
                self.local.base_port
            ));
        }
        if self.node_timeout_ms < 100 {
            return invalid("node_timeout_ms must be at least 100".into());
        }
        let p = &self.netns.prefix;
        if p.is_empty() || p.len() > 8 || !p.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return invalid(format!("netns.prefix `{p}` must be 1-8 letters or digits"));
        }
        self.netns.octets()?;
        self.ec2.validate()?;
        if self.zones.len() > 200 {
            return invalid("too many zones".into());
        }
        if n + 10 > 255 {
            return invalid(format!("{n} nodes do not fit the netns addressing"));
        }
        Ok(())
    }

    /// Primaries plus replicas.
    pub fn node_count(&self) -> usize {
        self.primaries * (1 + self.replicas_per_primary)
    }
}

/// `over` laid on `base`, tables merged key by key.
fn merge(mut base: toml::Table, over: toml::Table) -> toml::Table {
    for (k, v) in over {
        match (base.remove(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => {
                base.insert(k, toml::Value::Table(merge(b, o)));
            }
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_the_guides_topologies() {
        let ha = Preset::Ha.deployment();
        assert_eq!(
            (ha.primaries, ha.replicas_per_primary, ha.zones.len()),
            (3, 1, 2)
        );
        assert!(!ha.tls && !ha.acl);
        assert_eq!(ha.node_count(), 6);
        let s = Preset::Secure.deployment();
        assert_eq!(
            (s.primaries, s.replicas_per_primary, s.zones.len()),
            (3, 0, 3)
        );
        assert!(s.tls && s.acl);
        ha.validate().expect("ha");
        s.validate().expect("secure");
    }

    #[test]
    fn file_keys_override_the_preset() {
        let d = Deployment::from_toml(
            "preset = \"secure\"\nname = \"x1\"\n[local]\nbase_port = 9000\n",
            None,
        )
        .expect("parse");
        assert_eq!(d.name, "x1");
        assert_eq!(d.local.base_port, 9000);
        assert!(d.tls && d.acl);
        assert_eq!(d.zones, vec!["a", "b", "c"]);
        assert_eq!(d.netns, NetnsTarget::default());
        let e = Deployment::from_toml("", Some(Preset::Secure)).expect("empty");
        assert_eq!(e, Preset::Secure.deployment());
    }

    #[test]
    fn ec2_zones_subnets_and_addresses() {
        let d = Deployment::from_toml(
            "[ec2]\nregion = \"ap-southeast-1\"\nadmin_cidr = \"198.51.100.0/24\"\n",
            None,
        )
        .expect("parse");
        assert_eq!(d.ec2.availability_zone("a"), "ap-southeast-1a");
        assert_eq!(d.ec2.availability_zone("use1-az4"), "use1-az4");
        assert_eq!(Ec2Target::subnet_cidr(1), "10.0.2.0/24");
        assert_eq!(Ec2Target::private_ip(2, 5).to_string(), "10.0.3.15");
        d.ec2.validate_for_use().expect("usable");
        let e = Preset::Ha.deployment();
        let err = e.ec2.validate_for_use().expect_err("no admin cidr");
        assert!(err.to_string().contains("admin_cidr is required"), "{err}");
    }

    #[test]
    fn round_trips_through_toml() {
        let d = Preset::Ha.deployment();
        let again = Deployment::from_toml(&d.to_toml(), None).expect("round trip");
        assert_eq!(d, again);
    }

    #[test]
    fn rejects_bad_descriptions() {
        for (text, needle) in [
            ("primaries = 2", "at least 3 primaries"),
            ("zones = [\"a\"]", "need at least 2 zones"),
            ("zones = [\"a\", \"a\"]", "distinct"),
            ("replicas_per_primary = 2", "need at least 3 zones"),
            ("name = \"a b\"", "letters"),
            ("port = 60000", "bus port"),
            ("bogus = 1", "unknown field"),
            ("preset = \"big\"", "unknown preset"),
            ("[netns]\nnetwork = \"10.1.2.0/24\"", "/16"),
            ("[netns]\nprefix = \"muchtoolong\"", "1-8"),
            ("port = \"x\"", "invalid type"),
            ("[ec2]\nadmin_cidr = \"1.2.3.4\"", "IPv4 CIDR"),
            ("[ec2]\nvolume_gb = 2", "8-16384"),
            ("[ec2]\nregion = \"us east\"", "region name"),
        ] {
            let err = Deployment::from_toml(text, None)
                .expect_err(text)
                .to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
