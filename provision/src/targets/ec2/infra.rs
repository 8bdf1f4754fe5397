//! The AWS side of the `ec2` target: what a deployment needs (a VPC with DNS, a subnet
//! per zone, an internet gateway, a route table with the default route, a security group,
//! a key pair, one instance per node), found by tag, created when missing, deleted in
//! dependency order.
//!
//! Everything the tool creates carries the tag `ferrodis:deployment=<name>` and a `Name`;
//! instances also `ferrodis:node=<node>`. [`discover`](Infra::discover) reads what exists,
//! [`plan`] compares it with [`Desired`] without calling AWS, [`ensure`](Infra::ensure)
//! creates what is missing a stage at a time (so an `up` cut short resumes where it
//! stopped), [`destroy`](Infra::destroy) deletes only what carries the tag.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_ec2::types::{
    AttributeBooleanValue, BlockDeviceMapping, EbsBlockDevice, Filter, HttpTokensState, Instance,
    InstanceMetadataEndpointState, InstanceMetadataOptionsRequest, InstanceStateName, InstanceType,
    IpPermission, IpRange, KeyType, ResourceType, Tag, TagSpecification, VolumeType,
    VpcAttributeName,
};
use aws_sdk_ec2::Client;

use crate::placement::NodeSpec;
use crate::spec::{Deployment, Ec2Target, EC2_VPC_CIDR};

/// The tag every resource of a deployment carries (value: the deployment's name).
pub const TAG_DEPLOYMENT: &str = "ferrodis:deployment";
/// The node an instance runs (value: the node's name).
pub const TAG_NODE: &str = "ferrodis:node";

/// The stages of [`Infra::ensure`], in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Vpc,
    Subnets,
    Gateway,
    Routes,
    SecurityGroup,
    KeyPair,
    Instances,
}

#[derive(Debug, thiserror::Error)]
pub enum Ec2Error {
    #[error("EC2 {op}: {msg}")]
    Api {
        op: &'static str,
        code: Option<String>,
        msg: String,
    },
    #[error("stopped after the {0:?} stage (as asked)")]
    Interrupted(Stage),
    #[error("{0}")]
    Conflict(String),
    #[error("timed out after {secs}s waiting for {what}")]
    Timeout { what: String, secs: u64 },
    #[error("{0}")]
    Io(String),
}

impl Ec2Error {
    /// The AWS error code, when the error is one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Ec2Error::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

/// Maps an SDK error of operation `op`.
fn api<E>(op: &'static str) -> impl FnOnce(E) -> Ec2Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    move |e| Ec2Error::Api {
        op,
        code: e.code().map(str::to_string),
        msg: DisplayErrorContext(&e).to_string(),
    }
}

/// How to get the key pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// An existing key pair (never deleted by `down`).
    Existing { name: String },
    /// One created (and tagged) by the tool, its private key saved at `path` with mode 0400.
    Create { name: String, path: PathBuf },
}

impl KeySource {
    pub fn name(&self) -> &str {
        match self {
            KeySource::Existing { name } | KeySource::Create { name, .. } => name,
        }
    }
}

/// One instance to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredNode {
    pub name: String,
    pub zone_index: usize,
    pub az: String,
    pub private_ip: String,
}

/// What the deployment needs on AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub deployment: String,
    /// (availability zone, subnet CIDR) per zone, in the description's order.
    pub zones: Vec<(String, String)>,
    pub admin_cidr: String,
    /// Node ports open to the VPC: the client (or TLS) port and the bus port.
    pub ports: Vec<i32>,
    pub key: KeySource,
    pub instance_type: String,
    pub volume_gb: i32,
    pub ami_owner: String,
    pub ami_name: String,
    pub nodes: Vec<DesiredNode>,
}

impl Desired {
    /// From a description; `key_dir` is where a created key pair's private key goes.
    pub fn new(d: &Deployment, nodes: &[NodeSpec], key_dir: PathBuf) -> Desired {
        let e: &Ec2Target = &d.ec2;
        let key = if e.key_name.is_empty() {
            let name = format!("{}-key", d.name);
            KeySource::Create {
                path: key_dir.join(format!("{name}.pem")),
                name,
            }
        } else {
            KeySource::Existing {
                name: e.key_name.clone(),
            }
        };
        Desired {
            deployment: d.name.clone(),
            zones: d
                .zones
                .iter()
                .enumerate()
                .map(|(i, z)| (e.availability_zone(z), Ec2Target::subnet_cidr(i)))
                .collect(),
            admin_cidr: e.admin_cidr.clone(),
            ports: vec![i32::from(d.port), i32::from(d.port) + 10000],
            key,
            instance_type: e.instance_type.clone(),
            volume_gb: e.volume_gb,
            ami_owner: e.ami_owner.clone(),
            ami_name: e.ami_name.clone(),
            nodes: nodes
                .iter()
                .map(|n| DesiredNode {
                    name: n.name.clone(),
                    zone_index: n.zone_index,
                    az: e.availability_zone(&n.zone),
                    private_ip: Ec2Target::private_ip(n.zone_index, n.index).to_string(),
                })
                .collect(),
        }
    }

    /// The ingress rules of the security group: (port, source CIDR), nothing else.
    pub fn ingress(&self) -> BTreeSet<(i32, String)> {
        let mut r = BTreeSet::new();
        r.insert((22, self.admin_cidr.clone()));
        for &p in &self.ports {
            r.insert((p, EC2_VPC_CIDR.to_string()));
        }
        r
    }

    fn sg_name(&self) -> String {
        format!("{}-nodes", self.deployment)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundVpc {
    pub id: String,
    pub dns_support: bool,
    pub dns_hostnames: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundSubnet {
    pub id: String,
    pub az: String,
    pub cidr: String,
    pub public_ip_on_launch: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundGateway {
    pub id: String,
    pub attached_to: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundRouteTable {
    pub id: String,
    /// Target of the 0.0.0.0/0 route.
    pub default_route: Option<String>,
    /// (association id, subnet id).
    pub associations: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FoundGroup {
    pub id: String,
    /// TCP ingress rules as (port, source CIDR); a port range counts as its first port
    /// with the range marked in `other`.
    pub ingress: BTreeSet<(i32, String)>,
    /// Rules that are not a single TCP port from a CIDR (described, to be revoked).
    pub other: Vec<IpPermission>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundInstance {
    pub id: String,
    pub node: String,
    pub az: String,
    pub state: String,
    pub public_ip: Option<String>,
    pub private_ip: Option<String>,
}

/// What exists, by tag.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    pub vpc: Option<FoundVpc>,
    pub subnets: Vec<FoundSubnet>,
    pub gateway: Option<FoundGateway>,
    pub route_table: Option<FoundRouteTable>,
    pub group: Option<FoundGroup>,
    /// A tagged key pair (one the tool created).
    pub key_pair: Option<String>,
    /// Instances not terminated (nor being terminated).
    pub instances: Vec<FoundInstance>,
}

impl Found {
    pub fn subnet_for(&self, az: &str, cidr: &str) -> Option<&FoundSubnet> {
        self.subnets.iter().find(|s| s.az == az && s.cidr == cidr)
    }

    pub fn instance(&self, node: &str) -> Option<&FoundInstance> {
        self.instances.iter().find(|i| i.node == node)
    }

    /// Nothing tagged left.
    pub fn is_empty(&self) -> bool {
        *self == Found::default()
    }
}

/// What `ensure` would do, one line per action, without calling AWS.
pub fn plan(found: &Found, want: &Desired) -> Vec<String> {
    let mut out = Vec::new();
    match &found.vpc {
        None => out.push(format!(
            "create VPC {EC2_VPC_CIDR} with DNS support and hostnames"
        )),
        Some(v) if !(v.dns_support && v.dns_hostnames) => {
            out.push(format!("enable DNS support and hostnames on VPC {}", v.id))
        }
        Some(_) => {}
    }
    for (az, cidr) in &want.zones {
        match found.subnet_for(az, cidr) {
            None => out.push(format!("create subnet {cidr} in {az}")),
            Some(s) if !s.public_ip_on_launch => {
                out.push(format!("turn on public addresses in subnet {}", s.id))
            }
            Some(_) => {}
        }
    }
    match &found.gateway {
        None => out.push("create and attach an internet gateway".into()),
        Some(g) if g.attached_to.is_empty() => {
            out.push(format!("attach internet gateway {}", g.id))
        }
        Some(_) => {}
    }
    match &found.route_table {
        None => out.push(format!(
            "create a route table with 0.0.0.0/0 via the gateway, associated with {} \
             subnet(s)",
            want.zones.len()
        )),
        Some(rt) => {
            if rt.default_route.is_none() {
                out.push(format!("add 0.0.0.0/0 via the gateway to {}", rt.id));
            }
            let assoc: BTreeSet<&str> = rt.associations.iter().map(|a| a.1.as_str()).collect();
            let missing = want
                .zones
                .iter()
                .filter(|(az, cidr)| {
                    found
                        .subnet_for(az, cidr)
                        .is_none_or(|s| !assoc.contains(s.id.as_str()))
                })
                .count();
            if missing > 0 {
                out.push(format!(
                    "associate {missing} subnet(s) with route table {}",
                    rt.id
                ));
            }
        }
    }
    let want_rules = want.ingress();
    let describe = |r: &(i32, String)| format!("tcp {} from {}", r.0, r.1);
    match &found.group {
        None => out.push(format!(
            "create security group {} allowing {}",
            want.sg_name(),
            want_rules
                .iter()
                .map(describe)
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Some(g) => {
            for r in want_rules.difference(&g.ingress) {
                out.push(format!("allow {} in {}", describe(r), g.id));
            }
            for r in g.ingress.difference(&want_rules) {
                out.push(format!("revoke {} in {}", describe(r), g.id));
            }
            if !g.other.is_empty() {
                out.push(format!(
                    "revoke {} other rule(s) in {}",
                    g.other.len(),
                    g.id
                ));
            }
        }
    }
    if let KeySource::Create { name, path } = &want.key {
        if found.key_pair.is_none() {
            out.push(format!(
                "create key pair {name}, private key saved to {} (mode 0400)",
                path.display()
            ));
        }
    }
    for i in &found.instances {
        if i.state == InstanceStateName::Stopped.as_str() {
            out.push(format!("start stopped instance {} ({})", i.id, i.node));
        }
    }
    for n in &want.nodes {
        if found.instance(&n.name).is_none() {
            out.push(format!(
                "launch {} ({}, {}, encrypted gp3 {} GiB, IMDSv2) in {} at {}",
                n.name, want.instance_type, want.ami_name, want.volume_gb, n.az, n.private_ip
            ));
        }
    }
    out
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

/// The `ferrodis:node` tag of an instance ("" if missing).
fn node_tag(i: &Instance) -> String {
    i.tags()
        .iter()
        .find(|t| t.key() == Some(TAG_NODE))
        .and_then(|t| t.value())
        .unwrap_or_default()
        .to_string()
}

fn by_tag(name: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{TAG_DEPLOYMENT}"))
        .values(name)
        .build()
}

/// An image found by [`Infra::find_image`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub id: String,
    pub name: String,
    pub root_device: String,
}

/// The EC2 side of one deployment.
pub struct Infra {
    pub client: Client,
    pub deployment: String,
    /// Between polls while waiting for instances.
    pub poll: Duration,
    /// How long to wait for instances to run or terminate.
    pub timeout: Duration,
    /// Stop with [`Ec2Error::Interrupted`] after this stage (tests of resuming).
    pub fail_after: Option<Stage>,
}

/// The HTTP(S) client of the SDK: rustls over ring.
pub fn http_client() -> aws_sdk_ec2::config::SharedHttpClient {
    use aws_smithy_http_client::tls;
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// A client for `region`; credentials and endpoint as the AWS CLI finds them (the
/// environment, ~/.aws/config and ~/.aws/credentials; `AWS_ENDPOINT_URL` for an emulator).
pub async fn client(region: &str) -> Client {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .http_client(http_client())
        .load()
        .await;
    Client::new(&conf)
}

impl Infra {
    pub fn new(client: Client, deployment: &str) -> Infra {
        Infra {
            client,
            deployment: deployment.to_string(),
            poll: Duration::from_secs(3),
            timeout: Duration::from_secs(600),
            fail_after: None,
        }
    }

    fn tags(&self, kind: ResourceType, name: &str) -> TagSpecification {
        TagSpecification::builder()
            .resource_type(kind)
            .tags(tag(TAG_DEPLOYMENT, &self.deployment))
            .tags(tag("Name", name))
            .build()
    }

    fn stage_done(&self, s: Stage) -> Result<(), Ec2Error> {
        if self.fail_after == Some(s) {
            return Err(Ec2Error::Interrupted(s));
        }
        Ok(())
    }

    /// Everything tagged with the deployment.
    pub async fn discover(&self) -> Result<Found, Ec2Error> {
        let c = &self.client;
        let tagf = || by_tag(&self.deployment);
        let mut found = Found::default();

        let mut vpcs = Vec::new();
        let mut pages = c.describe_vpcs().filters(tagf()).into_paginator().send();
        while let Some(p) = pages.next().await {
            vpcs.extend(p.map_err(api("DescribeVpcs"))?.vpcs.unwrap_or_default());
        }
        if vpcs.len() > 1 {
            return Err(Ec2Error::Conflict(format!(
                "{} VPCs carry {TAG_DEPLOYMENT}={}: remove the extra ones by hand",
                vpcs.len(),
                self.deployment
            )));
        }
        if let Some(id) = vpcs.first().and_then(|v| v.vpc_id()) {
            let attr =
                |a: VpcAttributeName| c.describe_vpc_attribute().vpc_id(id).attribute(a).send();
            let support = attr(VpcAttributeName::EnableDnsSupport)
                .await
                .map_err(api("DescribeVpcAttribute"))?;
            let hostnames = attr(VpcAttributeName::EnableDnsHostnames)
                .await
                .map_err(api("DescribeVpcAttribute"))?;
            found.vpc = Some(FoundVpc {
                id: id.to_string(),
                dns_support: support
                    .enable_dns_support()
                    .and_then(|v| v.value())
                    .unwrap_or(false),
                dns_hostnames: hostnames
                    .enable_dns_hostnames()
                    .and_then(|v| v.value())
                    .unwrap_or(false),
            });
        }

        let mut pages = c.describe_subnets().filters(tagf()).into_paginator().send();
        while let Some(p) = pages.next().await {
            for s in p.map_err(api("DescribeSubnets"))?.subnets() {
                found.subnets.push(FoundSubnet {
                    id: s.subnet_id().unwrap_or_default().to_string(),
                    az: s.availability_zone().unwrap_or_default().to_string(),
                    cidr: s.cidr_block().unwrap_or_default().to_string(),
                    public_ip_on_launch: s.map_public_ip_on_launch().unwrap_or(false),
                });
            }
        }

        let mut pages = c
            .describe_internet_gateways()
            .filters(tagf())
            .into_paginator()
            .send();
        while let Some(p) = pages.next().await {
            for g in p
                .map_err(api("DescribeInternetGateways"))?
                .internet_gateways()
            {
                found.gateway = Some(FoundGateway {
                    id: g.internet_gateway_id().unwrap_or_default().to_string(),
                    attached_to: g
                        .attachments()
                        .iter()
                        .filter_map(|a| a.vpc_id().map(str::to_string))
                        .collect(),
                });
            }
        }

        let mut pages = c
            .describe_route_tables()
            .filters(tagf())
            .into_paginator()
            .send();
        while let Some(p) = pages.next().await {
            for rt in p.map_err(api("DescribeRouteTables"))?.route_tables() {
                found.route_table = Some(FoundRouteTable {
                    id: rt.route_table_id().unwrap_or_default().to_string(),
                    default_route: rt
                        .routes()
                        .iter()
                        .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
                        .and_then(|r| r.gateway_id().map(str::to_string)),
                    associations: rt
                        .associations()
                        .iter()
                        .filter(|a| !a.main().unwrap_or(false))
                        .filter_map(|a| {
                            Some((
                                a.route_table_association_id()?.to_string(),
                                a.subnet_id()?.to_string(),
                            ))
                        })
                        .collect(),
                });
            }
        }

        let mut pages = c
            .describe_security_groups()
            .filters(tagf())
            .into_paginator()
            .send();
        while let Some(p) = pages.next().await {
            for g in p.map_err(api("DescribeSecurityGroups"))?.security_groups() {
                let mut group = FoundGroup {
                    id: g.group_id().unwrap_or_default().to_string(),
                    ingress: BTreeSet::new(),
                    other: Vec::new(),
                };
                for perm in g.ip_permissions() {
                    let single = perm.ip_protocol() == Some("tcp")
                        && perm.from_port().is_some()
                        && perm.from_port() == perm.to_port()
                        && perm.user_id_group_pairs().is_empty()
                        && perm.ipv6_ranges().is_empty()
                        && perm.prefix_list_ids().is_empty();
                    if single {
                        let port = perm.from_port().unwrap_or_default();
                        for r in perm.ip_ranges() {
                            if let Some(cidr) = r.cidr_ip() {
                                group.ingress.insert((port, cidr.to_string()));
                            }
                        }
                    } else {
                        group.other.push(perm.clone());
                    }
                }
                found.group = Some(group);
            }
        }

        let keys = c
            .describe_key_pairs()
            .filters(tagf())
            .send()
            .await
            .map_err(api("DescribeKeyPairs"))?;
        found.key_pair = keys
            .key_pairs()
            .iter()
            .find_map(|k| k.key_name().map(str::to_string));

        found.instances = self.instances().await?;
        Ok(found)
    }

    /// The deployment's instances that are not terminated or terminating.
    pub async fn instances(&self) -> Result<Vec<FoundInstance>, Ec2Error> {
        let live = ["pending", "running", "stopping", "stopped"];
        let mut out: Vec<FoundInstance> = self
            .tagged_instances(&live)
            .await?
            .into_iter()
            .map(|i| FoundInstance {
                node: node_tag(&i),
                id: i.instance_id().unwrap_or_default().to_string(),
                az: i
                    .placement()
                    .and_then(|p| p.availability_zone())
                    .unwrap_or_default()
                    .to_string(),
                state: i
                    .state()
                    .and_then(|s| s.name())
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                public_ip: i.public_ip_address().map(str::to_string),
                private_ip: i.private_ip_address().map(str::to_string),
            })
            .collect();
        out.sort_by(|a, b| a.node.cmp(&b.node).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// (node, instance id) of the deployment's terminated instances (EC2 lists them for
    /// about an hour).
    async fn terminated(&self) -> Result<Vec<(String, String)>, Ec2Error> {
        Ok(self
            .tagged_instances(&["shutting-down", "terminated"])
            .await?
            .iter()
            .map(|i| (node_tag(i), i.instance_id().unwrap_or_default().to_string()))
            .collect())
    }

    /// The deployment's instances in one of `states`, every page.
    async fn tagged_instances(&self, states: &[&str]) -> Result<Vec<Instance>, Ec2Error> {
        let mut state_filter = Filter::builder().name("instance-state-name");
        for s in states {
            state_filter = state_filter.values(*s);
        }
        let mut pages = self
            .client
            .describe_instances()
            .filters(by_tag(&self.deployment))
            .filters(state_filter.build())
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(p) = pages.next().await {
            for r in p.map_err(api("DescribeInstances"))?.reservations() {
                out.extend(r.instances().iter().cloned());
            }
        }
        Ok(out)
    }

    /// The newest available image of `owner` whose name matches `pattern`. The name
    /// carries the rest (Canonical's `.../hvm-ssd-gp3/...-amd64-server-*`: EBS root, x86_64).
    pub async fn find_image(&self, owner: &str, pattern: &str) -> Result<Image, Ec2Error> {
        let f = |k: &str, v: &str| Filter::builder().name(k).values(v).build();
        let mut best: Option<(String, Image)> = None;
        let mut pages = self
            .client
            .describe_images()
            .owners(owner)
            .filters(f("name", pattern))
            .filters(f("state", "available"))
            .into_paginator()
            .send();
        while let Some(p) = pages.next().await {
            for i in p.map_err(api("DescribeImages"))?.images() {
                let (Some(id), Some(created)) = (i.image_id(), i.creation_date()) else {
                    continue;
                };
                // ISO 8601 timestamps order as strings.
                if best.as_ref().is_none_or(|(c, _)| created > c.as_str()) {
                    best = Some((
                        created.to_string(),
                        Image {
                            id: id.to_string(),
                            name: i.name().unwrap_or_default().to_string(),
                            root_device: i.root_device_name().unwrap_or("/dev/sda1").to_string(),
                        },
                    ));
                }
            }
        }
        best.map(|(_, i)| i).ok_or_else(|| {
            Ec2Error::Conflict(format!(
                "no available image of owner {owner} matches `{pattern}` in this region: set \
                 ec2.ami_owner / ec2.ami_name"
            ))
        })
    }

    /// Creates what is missing, stage by stage; `log` gets one line per action.
    pub async fn ensure(
        &self,
        want: &Desired,
        log: &mut dyn FnMut(String),
    ) -> Result<Found, Ec2Error> {
        let c = &self.client;
        let mut f = self.discover().await?;
        let name = |what: &str| format!("{}-{what}", self.deployment);

        // VPC with DNS support and hostnames.
        let vpc_id = match &f.vpc {
            Some(v) => v.id.clone(),
            None => {
                let out = c
                    .create_vpc()
                    .cidr_block(EC2_VPC_CIDR)
                    .tag_specifications(self.tags(ResourceType::Vpc, &name("vpc")))
                    .send()
                    .await
                    .map_err(api("CreateVpc"))?;
                let id = out
                    .vpc()
                    .and_then(|v| v.vpc_id())
                    .unwrap_or_default()
                    .to_string();
                log(format!("created VPC {id} ({EC2_VPC_CIDR})"));
                f.vpc = Some(FoundVpc {
                    id: id.clone(),
                    dns_support: false,
                    dns_hostnames: false,
                });
                id
            }
        };
        if let Some(v) = f.vpc.as_mut() {
            let on = || AttributeBooleanValue::builder().value(true).build();
            if !v.dns_support {
                c.modify_vpc_attribute()
                    .vpc_id(&vpc_id)
                    .enable_dns_support(on())
                    .send()
                    .await
                    .map_err(api("ModifyVpcAttribute"))?;
                v.dns_support = true;
            }
            if !v.dns_hostnames {
                c.modify_vpc_attribute()
                    .vpc_id(&vpc_id)
                    .enable_dns_hostnames(on())
                    .send()
                    .await
                    .map_err(api("ModifyVpcAttribute"))?;
                v.dns_hostnames = true;
                log(format!("enabled DNS support and hostnames on {vpc_id}"));
            }
        }
        self.stage_done(Stage::Vpc)?;

        // One subnet per zone, public addresses on launch.
        for (i, (az, cidr)) in want.zones.iter().enumerate() {
            let existing = f.subnet_for(az, cidr).cloned();
            let (id, public) = match existing {
                Some(s) => (s.id, s.public_ip_on_launch),
                None => {
                    let out = c
                        .create_subnet()
                        .vpc_id(&vpc_id)
                        .cidr_block(cidr)
                        .availability_zone(az)
                        .tag_specifications(
                            self.tags(ResourceType::Subnet, &name(&format!("subnet-{}", i + 1))),
                        )
                        .send()
                        .await
                        .map_err(api("CreateSubnet"))?;
                    let id = out
                        .subnet()
                        .and_then(|s| s.subnet_id())
                        .unwrap_or_default()
                        .to_string();
                    log(format!("created subnet {id} ({cidr}, {az})"));
                    f.subnets.push(FoundSubnet {
                        id: id.clone(),
                        az: az.clone(),
                        cidr: cidr.clone(),
                        public_ip_on_launch: false,
                    });
                    (id, false)
                }
            };
            if !public {
                c.modify_subnet_attribute()
                    .subnet_id(&id)
                    .map_public_ip_on_launch(AttributeBooleanValue::builder().value(true).build())
                    .send()
                    .await
                    .map_err(api("ModifySubnetAttribute"))?;
                if let Some(s) = f.subnets.iter_mut().find(|s| s.id == id) {
                    s.public_ip_on_launch = true;
                }
            }
        }
        self.stage_done(Stage::Subnets)?;

        // Internet gateway, attached.
        let igw = match &f.gateway {
            Some(g) => g.clone(),
            None => {
                let out = c
                    .create_internet_gateway()
                    .tag_specifications(self.tags(ResourceType::InternetGateway, &name("igw")))
                    .send()
                    .await
                    .map_err(api("CreateInternetGateway"))?;
                let id = out
                    .internet_gateway()
                    .and_then(|g| g.internet_gateway_id())
                    .unwrap_or_default()
                    .to_string();
                log(format!("created internet gateway {id}"));
                FoundGateway {
                    id,
                    attached_to: Vec::new(),
                }
            }
        };
        if !igw.attached_to.contains(&vpc_id) {
            c.attach_internet_gateway()
                .internet_gateway_id(&igw.id)
                .vpc_id(&vpc_id)
                .send()
                .await
                .map_err(api("AttachInternetGateway"))?;
            log(format!("attached {} to {vpc_id}", igw.id));
        }
        f.gateway = Some(FoundGateway {
            id: igw.id.clone(),
            attached_to: vec![vpc_id.clone()],
        });
        self.stage_done(Stage::Gateway)?;

        // Route table: default route through the gateway, every subnet associated.
        let mut rt = match &f.route_table {
            Some(rt) => rt.clone(),
            None => {
                let out = c
                    .create_route_table()
                    .vpc_id(&vpc_id)
                    .tag_specifications(self.tags(ResourceType::RouteTable, &name("rt")))
                    .send()
                    .await
                    .map_err(api("CreateRouteTable"))?;
                let id = out
                    .route_table()
                    .and_then(|r| r.route_table_id())
                    .unwrap_or_default()
                    .to_string();
                log(format!("created route table {id}"));
                FoundRouteTable {
                    id,
                    default_route: None,
                    associations: Vec::new(),
                }
            }
        };
        if rt.default_route.is_none() {
            c.create_route()
                .route_table_id(&rt.id)
                .destination_cidr_block("0.0.0.0/0")
                .gateway_id(&igw.id)
                .send()
                .await
                .map_err(api("CreateRoute"))?;
            log(format!("added 0.0.0.0/0 via {} to {}", igw.id, rt.id));
            rt.default_route = Some(igw.id.clone());
        }
        for (az, cidr) in &want.zones {
            let Some(s) = f.subnet_for(az, cidr) else {
                continue;
            };
            if rt.associations.iter().any(|a| a.1 == s.id) {
                continue;
            }
            let out = c
                .associate_route_table()
                .route_table_id(&rt.id)
                .subnet_id(&s.id)
                .send()
                .await
                .map_err(api("AssociateRouteTable"))?;
            log(format!("associated {} with {}", s.id, rt.id));
            rt.associations.push((
                out.association_id().unwrap_or_default().to_string(),
                s.id.clone(),
            ));
        }
        f.route_table = Some(rt);
        self.stage_done(Stage::Routes)?;

        // Security group: exactly the stated ingress rules.
        let mut group = match &f.group {
            Some(g) => g.clone(),
            None => {
                let out = c
                    .create_security_group()
                    .group_name(want.sg_name())
                    .description(format!(
                        "ferrodis nodes of {}: ssh from the admin, node ports from the VPC",
                        self.deployment
                    ))
                    .vpc_id(&vpc_id)
                    .tag_specifications(self.tags(ResourceType::SecurityGroup, &want.sg_name()))
                    .send()
                    .await
                    .map_err(api("CreateSecurityGroup"))?;
                let id = out.group_id().unwrap_or_default().to_string();
                log(format!("created security group {id}"));
                FoundGroup {
                    id,
                    ingress: BTreeSet::new(),
                    other: Vec::new(),
                }
            }
        };
        let wanted = want.ingress();
        let perm = |(port, cidr): &(i32, String)| {
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(*port)
                .to_port(*port)
                .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
                .build()
        };
        let add: Vec<IpPermission> = wanted.difference(&group.ingress).map(perm).collect();
        if !add.is_empty() {
            c.authorize_security_group_ingress()
                .group_id(&group.id)
                .set_ip_permissions(Some(add.clone()))
                .send()
                .await
                .map_err(api("AuthorizeSecurityGroupIngress"))?;
            log(format!("allowed {} rule(s) in {}", add.len(), group.id));
        }
        let mut revoke: Vec<IpPermission> = group.ingress.difference(&wanted).map(perm).collect();
        revoke.extend(group.other.iter().cloned());
        if !revoke.is_empty() {
            c.revoke_security_group_ingress()
                .group_id(&group.id)
                .set_ip_permissions(Some(revoke.clone()))
                .send()
                .await
                .map_err(api("RevokeSecurityGroupIngress"))?;
            log(format!("revoked {} rule(s) in {}", revoke.len(), group.id));
        }
        group.ingress = wanted;
        group.other.clear();
        let sg_id = group.id.clone();
        f.group = Some(group);
        self.stage_done(Stage::SecurityGroup)?;

        // Key pair.
        match &want.key {
            KeySource::Existing { name } => {
                c.describe_key_pairs()
                    .key_names(name)
                    .send()
                    .await
                    .map_err(api("DescribeKeyPairs"))?;
            }
            KeySource::Create { name, path } => match &f.key_pair {
                Some(k) if path.exists() => {
                    if k != name {
                        return Err(Ec2Error::Conflict(format!(
                            "the deployment's key pair is {k}, expected {name}"
                        )));
                    }
                }
                Some(k) => {
                    return Err(Ec2Error::Conflict(format!(
                        "key pair {k} exists but its private key {} is gone: restore it, or \
                         `down` the deployment",
                        path.display()
                    )))
                }
                None => {
                    let out = c
                        .create_key_pair()
                        .key_name(name)
                        .key_type(KeyType::Ed25519)
                        .tag_specifications(self.tags(ResourceType::KeyPair, name))
                        .send()
                        .await
                        .map_err(api("CreateKeyPair"))?;
                    let material = out.key_material().unwrap_or_default();
                    save_key(path, material.as_bytes())
                        .map_err(|e| Ec2Error::Io(format!("saving {}: {e}", path.display())))?;
                    log(format!(
                        "created key pair {name}, private key in {}",
                        path.display()
                    ));
                    f.key_pair = Some(name.clone());
                }
            },
        }
        self.stage_done(Stage::KeyPair)?;

        // Instances.
        let missing: Vec<&DesiredNode> = want
            .nodes
            .iter()
            .filter(|n| f.instance(&n.name).is_none())
            .collect();
        if !missing.is_empty() {
            let image = self.find_image(&want.ami_owner, &want.ami_name).await?;
            let terminated = self.terminated().await?;
            log(format!("image {} ({})", image.id, image.name));
            for n in missing {
                let (az, cidr) = &want.zones[n.zone_index];
                let subnet = f
                    .subnet_for(az, cidr)
                    .map(|s| s.id.clone())
                    .unwrap_or_default();
                let out = c
                    .run_instances()
                    .image_id(&image.id)
                    .instance_type(InstanceType::from(want.instance_type.as_str()))
                    .min_count(1)
                    .max_count(1)
                    .key_name(want.key.name())
                    .subnet_id(&subnet)
                    .private_ip_address(&n.private_ip)
                    .security_group_ids(&sg_id)
                    // A launch retried after a crash has the same token and does not start
                    // a second instance; one after this node's instance was terminated
                    // has a new one.
                    .client_token(client_token(
                        &n.name,
                        &vpc_id,
                        terminated
                            .iter()
                            .filter(|(node, _)| *node == n.name)
                            .map(|x| &x.1),
                    ))
                    .block_device_mappings(
                        BlockDeviceMapping::builder()
                            .device_name(&image.root_device)
                            .ebs(
                                EbsBlockDevice::builder()
                                    .volume_size(want.volume_gb)
                                    .volume_type(VolumeType::Gp3)
                                    .encrypted(true)
                                    .delete_on_termination(true)
                                    .build(),
                            )
                            .build(),
                    )
                    .metadata_options(
                        InstanceMetadataOptionsRequest::builder()
                            .http_tokens(HttpTokensState::Required)
                            .http_endpoint(InstanceMetadataEndpointState::Enabled)
                            .http_put_response_hop_limit(1)
                            .build(),
                    )
                    .tag_specifications(
                        TagSpecification::builder()
                            .resource_type(ResourceType::Instance)
                            .tags(tag(TAG_DEPLOYMENT, &self.deployment))
                            .tags(tag("Name", &n.name))
                            .tags(tag(TAG_NODE, &n.name))
                            .build(),
                    )
                    .tag_specifications(self.tags(ResourceType::Volume, &n.name))
                    .send()
                    .await
                    .map_err(api("RunInstances"))?;
                let id = out
                    .instances()
                    .first()
                    .and_then(|i| i.instance_id())
                    .unwrap_or_default();
                log(format!(
                    "launched {} as {id} in {az} ({})",
                    n.name, n.private_ip
                ));
            }
        }
        // Stopped by hand (or by AWS): started again, with the same volume and address.
        let stopped: Vec<String> = f
            .instances
            .iter()
            .filter(|i| i.state == InstanceStateName::Stopped.as_str())
            .map(|i| i.id.clone())
            .collect();
        if !stopped.is_empty() {
            c.start_instances()
                .set_instance_ids(Some(stopped.clone()))
                .send()
                .await
                .map_err(api("StartInstances"))?;
            log(format!("started stopped instance(s) {}", stopped.join(" ")));
        }
        f.instances = self.wait_running(want).await?;
        self.stage_done(Stage::Instances)?;
        Ok(f)
    }

    /// Waits until every node's instance runs and has a public address.
    async fn wait_running(&self, want: &Desired) -> Result<Vec<FoundInstance>, Ec2Error> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let all = self.instances().await?;
            let ready = want.nodes.iter().all(|n| {
                all.iter().any(|i| {
                    i.node == n.name
                        && i.state == InstanceStateName::Running.as_str()
                        && i.public_ip.is_some()
                })
            });
            if ready {
                return Ok(all);
            }
            if Instant::now() > deadline {
                return Err(Ec2Error::Timeout {
                    what: "the instances to run".into(),
                    secs: self.timeout.as_secs(),
                });
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Deletes everything tagged with the deployment, in dependency order. `key_path`:
    /// the private key of a created key pair, removed with it.
    pub async fn destroy(
        &self,
        key_path: Option<&std::path::Path>,
        log: &mut dyn FnMut(String),
    ) -> Result<(), Ec2Error> {
        let c = &self.client;
        let f = self.discover().await?;
        let ids: Vec<String> = f.instances.iter().map(|i| i.id.clone()).collect();
        if !ids.is_empty() {
            c.terminate_instances()
                .set_instance_ids(Some(ids.clone()))
                .send()
                .await
                .map_err(api("TerminateInstances"))?;
            log(format!("terminating {}", ids.join(" ")));
        }
        // Also wait for instances already shutting down (an interrupted `down`).
        let deadline = Instant::now() + self.timeout;
        loop {
            let left = c
                .describe_instances()
                .filters(by_tag(&self.deployment))
                .filters(
                    Filter::builder()
                        .name("instance-state-name")
                        .values("pending")
                        .values("running")
                        .values("stopping")
                        .values("stopped")
                        .values("shutting-down")
                        .build(),
                )
                .send()
                .await
                .map_err(api("DescribeInstances"))?;
            if left.reservations().iter().all(|r| r.instances().is_empty()) {
                break;
            }
            if Instant::now() > deadline {
                return Err(Ec2Error::Timeout {
                    what: "the instances to terminate".into(),
                    secs: self.timeout.as_secs(),
                });
            }
            tokio::time::sleep(self.poll).await;
        }
        if !ids.is_empty() {
            log(format!("terminated {} instance(s)", ids.len()));
        }
        if let Some(g) = &f.group {
            // The instances' network interfaces can hold the group a little longer.
            self.retry_dependency("DeleteSecurityGroup", || {
                c.delete_security_group().group_id(&g.id).send()
            })
            .await?;
            log(format!("deleted security group {}", g.id));
        }
        if let Some(rt) = &f.route_table {
            for (assoc, subnet) in &rt.associations {
                c.disassociate_route_table()
                    .association_id(assoc)
                    .send()
                    .await
                    .map_err(api("DisassociateRouteTable"))?;
                log(format!("disassociated {subnet} from {}", rt.id));
            }
            if rt.default_route.is_some() {
                c.delete_route()
                    .route_table_id(&rt.id)
                    .destination_cidr_block("0.0.0.0/0")
                    .send()
                    .await
                    .map_err(api("DeleteRoute"))?;
            }
            c.delete_route_table()
                .route_table_id(&rt.id)
                .send()
                .await
                .map_err(api("DeleteRouteTable"))?;
            log(format!("deleted route table {}", rt.id));
        }
        for s in &f.subnets {
            self.retry_dependency("DeleteSubnet", || c.delete_subnet().subnet_id(&s.id).send())
                .await?;
            log(format!("deleted subnet {}", s.id));
        }
        if let Some(g) = &f.gateway {
            for vpc in &g.attached_to {
                c.detach_internet_gateway()
                    .internet_gateway_id(&g.id)
                    .vpc_id(vpc)
                    .send()
                    .await
                    .map_err(api("DetachInternetGateway"))?;
            }
            c.delete_internet_gateway()
                .internet_gateway_id(&g.id)
                .send()
                .await
                .map_err(api("DeleteInternetGateway"))?;
            log(format!("deleted internet gateway {}", g.id));
        }
        if let Some(v) = &f.vpc {
            self.retry_dependency("DeleteVpc", || c.delete_vpc().vpc_id(&v.id).send())
                .await?;
            log(format!("deleted VPC {}", v.id));
        }
        if let Some(k) = &f.key_pair {
            c.delete_key_pair()
                .key_name(k)
                .send()
                .await
                .map_err(api("DeleteKeyPair"))?;
            log(format!("deleted key pair {k}"));
            if let Some(p) = key_path.filter(|p| p.exists()) {
                std::fs::remove_file(p)
                    .map_err(|e| Ec2Error::Io(format!("removing {}: {e}", p.display())))?;
                log(format!("removed {}", p.display()));
            }
        }
        Ok(())
    }

    /// Runs a delete until it stops failing with `DependencyViolation` (resources released
    /// by terminated instances a little after they terminate).
    pub(crate) async fn retry_dependency<T, E, F, Fut>(
        &self,
        op: &'static str,
        mut f: F,
    ) -> Result<(), Ec2Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let deadline = Instant::now() + self.timeout;
        loop {
            match f().await.map_err(api(op)) {
                Ok(_) => return Ok(()),
                Err(e) if e.code() == Some("DependencyViolation") && Instant::now() < deadline => {
                    tokio::time::sleep(self.poll).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// The RunInstances idempotency token of a node's launch: FNV-1a of the node, the VPC and
/// the node's terminated instances, in hex (at most 64 ASCII characters).
pub fn client_token<'a>(
    node: &str,
    vpc: &str,
    terminated: impl Iterator<Item = &'a String>,
) -> String {
    let mut ids: Vec<&String> = terminated.collect();
    ids.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: &[u8]| {
        for &x in b.iter().chain(b"\0") {
            h ^= u64::from(x);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(node.as_bytes());
    eat(vpc.as_bytes());
    for id in ids {
        eat(id.as_bytes());
    }
    format!("ferrodis-{h:016x}")
}

/// Saves a private key with mode 0400 (ssh refuses keys others can read).
fn save_key(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(d) = path.parent() {
        crate::files::private_dir(d)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o400)
        .open(path)?;
    f.write_all(data)?;
    if !data.ends_with(b"\n") {
        f.write_all(b"\n")?;
    }
    f.sync_all()
}
