//! The `ec2` target against the moto EC2 emulator: every resource with the stated
//! properties, a second `up` creating nothing, an `up` cut short after the security group
//! resumed, `down` leaving nothing tagged, and the command line's `plan` and `down`.
//!
//! The emulator: `$FERRODIS_MOTO_ENDPOINT` (provision/scripts/test-ec2.sh starts one with
//! the validations on), else a `moto_server` this test starts from the virtualenv
//! provision/scripts/moto.sh installs. Without either the tests say so and pass, unless
//! `FERRODIS_REQUIRE_MOTO` is set (CI). The server is reset before each test and the tests
//! take turns.
#![cfg(feature = "ec2")]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::types::{Filter, HttpTokensState, VolumeType, VpcAttributeName};
use aws_sdk_ec2::Client;

use ferrodis_provision::deploy::{Ctx, State, Target, TargetKind};
use ferrodis_provision::placement::{place, Role};
use ferrodis_provision::spec::{Deployment, Preset};
use ferrodis_provision::targets::ec2::infra::{Desired, Ec2Error, Infra, Stage, TAG_DEPLOYMENT};
use ferrodis_provision::targets::ec2::ssh::{Host, Remote};
use ferrodis_provision::targets::ec2::{Ec2, HostsFile, HOSTS_FILE};

const ADMIN: &str = "198.51.100.7/32";

/// A moto server: the shared one, or one of this test's own (killed on drop).
struct Moto {
    endpoint: String,
    own: Option<Child>,
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(c) = self.own.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// One HTTP request to moto; the status line and body.
fn http(endpoint: &str, method: &str, path: &str) -> std::io::Result<String> {
    let addr = endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn moto_server_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FERRODIS_MOTO_SERVER") {
        return Some(PathBuf::from(p));
    }
    let venv = std::env::var_os("FERRODIS_MOTO_VENV")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/ferrodis/moto-venv"))
        })?;
    Some(venv.join("bin/moto_server")).filter(|p| p.is_file())
}

/// The emulator, reset, with the tests taking turns; `None` (after saying why) when there
/// is none and none is required.
fn moto() -> Option<(MutexGuard<'static, ()>, Moto)> {
    static TURN: OnceLock<Mutex<()>> = OnceLock::new();
    let guard = TURN
        .get_or_init(|| Mutex::new(()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let moto = if let Ok(ep) = std::env::var("FERRODIS_MOTO_ENDPOINT") {
        Moto {
            endpoint: ep,
            own: None,
        }
    } else if let Some(bin) = moto_server_path() {
        let port = free_port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_ENABLE_AMI_VALIDATION", "true")
            .env("MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "true")
            .env("MOTO_ENABLE_KEYPAIR_VALIDATION", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto_server");
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            own: Some(child),
        }
    } else {
        assert!(
            std::env::var_os("FERRODIS_REQUIRE_MOTO").is_none(),
            "FERRODIS_REQUIRE_MOTO is set but there is no moto: run provision/scripts/moto.sh"
        );
        eprintln!(
            "SKIPPED: no EC2 emulator (moto could not be installed: provision/scripts/moto.sh \
             needs PyPI); set FERRODIS_MOTO_ENDPOINT or install it to run this test"
        );
        return None;
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match http(&moto.endpoint, "POST", "/moto-api/reset") {
            Ok(r) if r.starts_with("HTTP/1.1 200") || r.starts_with("HTTP/1.0 200") => break,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "moto at {} does not answer: {other:?}",
                    moto.endpoint
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    Some((guard, moto))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn client(m: &Moto) -> Client {
    let conf = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&m.endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .http_client(ferrodis_provision::targets::ec2::infra::http_client())
        .build();
    Client::from_conf(conf)
}

fn test_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ferrodis-ec2-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("test dir");
    d
}

/// The `ha` topology (3 primaries, 3 replicas over zones a and b) on moto's account.
fn deployment(name: &str) -> Deployment {
    let mut d = Preset::Ha.deployment();
    d.name = name.into();
    d.ec2.admin_cidr = ADMIN.into();
    d.ec2.ami_owner = "self".into();
    d.validate().expect("valid");
    d
}

const IMAGE: &str = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250101";

/// moto has no current Ubuntu image: register one for the lookup to find.
async fn register_ubuntu(c: &Client) -> String {
    let out = c
        .register_image()
        .name(IMAGE)
        .architecture(aws_sdk_ec2::types::ArchitectureValues::X8664)
        .root_device_name("/dev/sda1")
        .virtualization_type("hvm")
        .send()
        .await
        .expect("RegisterImage");
    out.image_id().expect("image id").to_string()
}

fn infra(c: &Client, name: &str) -> Infra {
    let mut i = Infra::new(c.clone(), name);
    i.poll = Duration::from_millis(100);
    i.timeout = Duration::from_secs(60);
    i
}

fn tag_filter(name: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{TAG_DEPLOYMENT}"))
        .values(name)
        .build()
}

/// Resource type -> how many resources that exist carry the deployment's tag (asked of
/// each kind: moto keeps the tags of deleted resources in DescribeTags; terminated
/// instances, which EC2 keeps showing for a while, are not counted).
async fn tagged(c: &Client, name: &str) -> BTreeMap<String, usize> {
    let f = || tag_filter(name);
    let mut out = BTreeMap::new();
    let mut put = |k: &str, n: usize| {
        if n > 0 {
            out.insert(k.to_string(), n);
        }
    };
    let r = c.describe_vpcs().filters(f()).send().await.expect("vpcs");
    put("vpc", r.vpcs().len());
    let r = c
        .describe_subnets()
        .filters(f())
        .send()
        .await
        .expect("subnets");
    put("subnet", r.subnets().len());
    let r = c
        .describe_internet_gateways()
        .filters(f())
        .send()
        .await
        .expect("igws");
    put("internet-gateway", r.internet_gateways().len());
    let r = c
        .describe_route_tables()
        .filters(f())
        .send()
        .await
        .expect("rts");
    put("route-table", r.route_tables().len());
    let r = c
        .describe_security_groups()
        .filters(f())
        .send()
        .await
        .expect("sgs");
    put("security-group", r.security_groups().len());
    let r = c
        .describe_key_pairs()
        .filters(f())
        .send()
        .await
        .expect("keys");
    put("key-pair", r.key_pairs().len());
    let r = c
        .describe_instances()
        .filters(f())
        .send()
        .await
        .expect("instances");
    let live = r
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| i.state().and_then(|s| s.name()).map(|n| n.as_str()) != Some("terminated"))
        .count();
    put("instance", live);
    let r = c
        .describe_volumes()
        .filters(f())
        .send()
        .await
        .expect("volumes");
    put("volume", r.volumes().len());
    out
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).expect("key file").permissions().mode() & 0o777
}

#[test]
fn up_creates_every_resource_as_stated_then_nothing_and_down_removes_them() {
    let Some((_turn, m)) = moto() else { return };
    let c = client(&m);
    let rt = rt();
    let dir = test_dir("full");
    let d = deployment("fdx");
    let nodes = place(&d);
    let want = Desired::new(&d, &nodes, dir.join("ssh"));
    let image = rt.block_on(register_ubuntu(&c));
    let i = infra(&c, "fdx");

    let mut log = Vec::new();
    let found = rt
        .block_on(i.ensure(&want, &mut |l| log.push(l)))
        .expect("up");
    assert!(log.iter().any(|l| l.starts_with("created VPC")), "{log:?}");
    assert!(
        log.iter().any(|l| l.contains(&image)),
        "image by lookup: {log:?}"
    );

    rt.block_on(async {
        // VPC with DNS.
        let vpc = found.vpc.as_ref().expect("vpc");
        let v = c
            .describe_vpcs()
            .vpc_ids(&vpc.id)
            .send()
            .await
            .expect("vpcs");
        assert_eq!(v.vpcs()[0].cidr_block(), Some("10.0.0.0/16"));
        for (attr, get) in [
            (VpcAttributeName::EnableDnsSupport, 0),
            (VpcAttributeName::EnableDnsHostnames, 1),
        ] {
            let a = c
                .describe_vpc_attribute()
                .vpc_id(&vpc.id)
                .attribute(attr)
                .send()
                .await
                .expect("attr");
            let on = if get == 0 {
                a.enable_dns_support().and_then(|v| v.value())
            } else {
                a.enable_dns_hostnames().and_then(|v| v.value())
            };
            assert_eq!(on, Some(true));
        }
        // A subnet per zone, public addresses on launch.
        let subnets = c
            .describe_subnets()
            .filters(tag_filter("fdx"))
            .send()
            .await
            .expect("subnets");
        let mut s: Vec<(String, String, bool)> = subnets
            .subnets()
            .iter()
            .map(|s| {
                (
                    s.availability_zone().unwrap_or_default().to_string(),
                    s.cidr_block().unwrap_or_default().to_string(),
                    s.map_public_ip_on_launch().unwrap_or(false),
                )
            })
            .collect();
        s.sort();
        assert_eq!(
            s,
            vec![
                ("us-east-1a".into(), "10.0.1.0/24".into(), true),
                ("us-east-1b".into(), "10.0.2.0/24".into(), true)
            ]
        );
        // Gateway attached; route table with the default route and both subnets.
        let igw = found.gateway.as_ref().expect("igw");
        assert_eq!(igw.attached_to, vec![vpc.id.clone()]);
        let rts = c
            .describe_route_tables()
            .filters(tag_filter("fdx"))
            .send()
            .await
            .expect("rts");
        let rtb = &rts.route_tables()[0];
        assert!(rtb
            .routes()
            .iter()
            .any(|r| r.destination_cidr_block() == Some("0.0.0.0/0")
                && r.gateway_id() == Some(igw.id.as_str())));
        let assoc: BTreeSet<&str> = rtb
            .associations()
            .iter()
            .filter_map(|a| a.subnet_id())
            .collect();
        let subnet_ids: BTreeSet<&str> = subnets
            .subnets()
            .iter()
            .filter_map(|s| s.subnet_id())
            .collect();
        assert_eq!(assoc, subnet_ids);
        // Ingress: exactly ssh from the admin and the node ports from the VPC.
        let g = c
            .describe_security_groups()
            .filters(tag_filter("fdx"))
            .send()
            .await
            .expect("sgs");
        let g = &g.security_groups()[0];
        assert_eq!(g.vpc_id(), Some(vpc.id.as_str()));
        let mut rules = Vec::new();
        for p in g.ip_permissions() {
            for r in p.ip_ranges() {
                rules.push((
                    p.ip_protocol().unwrap_or_default().to_string(),
                    p.from_port().unwrap_or_default(),
                    p.to_port().unwrap_or_default(),
                    r.cidr_ip().unwrap_or_default().to_string(),
                ));
            }
            assert!(p.user_id_group_pairs().is_empty() && p.ipv6_ranges().is_empty());
        }
        rules.sort();
        assert_eq!(
            rules,
            vec![
                ("tcp".into(), 22, 22, ADMIN.into()),
                ("tcp".into(), 6379, 6379, "10.0.0.0/16".into()),
                ("tcp".into(), 16379, 16379, "10.0.0.0/16".into()),
            ]
        );
        // Instances: zones per the placement (a replica never in its primary's zone),
        // private addresses, IMDSv2, encrypted gp3 root volumes, tags.
        let inst = c
            .describe_instances()
            .filters(tag_filter("fdx"))
            .send()
            .await
            .expect("instances");
        let all: Vec<_> = inst
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .collect();
        assert_eq!(all.len(), 6);
        let mut zone_of = BTreeMap::new();
        for n in &nodes {
            let i = all
                .iter()
                .find(|i| {
                    i.tags()
                        .iter()
                        .any(|t| t.key() == Some("Name") && t.value() == Some(n.name.as_str()))
                })
                .unwrap_or_else(|| panic!("no instance named {}", n.name));
            let az = i
                .placement()
                .and_then(|p| p.availability_zone())
                .unwrap_or_default();
            assert_eq!(az, format!("us-east-1{}", n.zone), "{}", n.name);
            assert_eq!(i.image_id(), Some(image.as_str()));
            assert_eq!(i.key_name(), Some("fdx-key"));
            assert_eq!(
                i.private_ip_address(),
                Some(want.nodes[n.index].private_ip.as_str())
            );
            assert_eq!(
                i.metadata_options().and_then(|m| m.http_tokens()),
                Some(&HttpTokensState::Required),
                "{}: IMDSv2",
                n.name
            );
            assert!(i
                .tags()
                .iter()
                .any(|t| t.key() == Some(TAG_DEPLOYMENT) && t.value() == Some("fdx")));
            zone_of.insert((n.shard, n.role == Role::Primary), az.to_string());
            let id = i.instance_id().unwrap_or_default();
            let vols = c
                .describe_volumes()
                .filters(
                    Filter::builder()
                        .name("attachment.instance-id")
                        .values(id)
                        .build(),
                )
                .send()
                .await
                .expect("volumes");
            assert_eq!(vols.volumes().len(), 1, "{}: one root volume", n.name);
            let v = &vols.volumes()[0];
            assert_eq!(v.encrypted(), Some(true), "{}: encrypted", n.name);
            assert_eq!(v.volume_type(), Some(&VolumeType::Gp3), "{}: gp3", n.name);
            assert_eq!(v.size(), Some(8));
        }
        for s in 0..3 {
            assert_ne!(zone_of[&(s, true)], zone_of[&(s, false)], "shard {s}");
        }
        // Key pair: created, tagged, private key saved 0400.
        let key = dir.join("ssh/fdx-key.pem");
        assert_eq!(mode(&key), 0o400);
        assert!(std::fs::read_to_string(&key)
            .expect("key")
            .contains("PRIVATE KEY"));
        // Tags on everything.
        let t = tagged(&c, "fdx").await;
        for (kind, n) in [
            ("vpc", 1),
            ("subnet", 2),
            ("internet-gateway", 1),
            ("route-table", 1),
            ("security-group", 1),
            ("key-pair", 1),
            ("instance", 6),
            ("volume", 6),
        ] {
            assert_eq!(t.get(kind).copied(), Some(n), "{kind}: {t:?}");
        }
    });

    // A second `up` creates nothing and plans nothing.
    let mut again = Vec::new();
    let found2 = rt
        .block_on(i.ensure(&want, &mut |l| again.push(l)))
        .expect("second up");
    assert_eq!(again, Vec::<String>::new());
    assert_eq!(found2, found);
    assert_eq!(
        ferrodis_provision::targets::ec2::infra::plan(&found2, &want),
        Vec::<String>::new()
    );

    // `down`: nothing tagged left, the key file gone.
    let mut gone = Vec::new();
    rt.block_on(i.destroy(Some(&dir.join("ssh/fdx-key.pem")), &mut |l| gone.push(l)))
        .expect("down");
    assert!(
        gone.iter().any(|l| l.starts_with("deleted VPC")),
        "{gone:?}"
    );
    assert!(rt.block_on(i.discover()).expect("discover").is_empty());
    assert_eq!(rt.block_on(tagged(&c, "fdx")), BTreeMap::new());
    assert!(!dir.join("ssh/fdx-key.pem").exists());
    // And again: nothing to do.
    let mut none = Vec::new();
    rt.block_on(i.destroy(None, &mut |l| none.push(l)))
        .expect("second down");
    assert_eq!(none, Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_up_cut_short_after_the_security_group_completes_on_the_next_run() {
    let Some((_turn, m)) = moto() else { return };
    let c = client(&m);
    let rt = rt();
    let dir = test_dir("resume");
    let d = deployment("fdr");
    let nodes = place(&d);
    let want = Desired::new(&d, &nodes, dir.join("ssh"));
    rt.block_on(register_ubuntu(&c));
    let mut i = infra(&c, "fdr");
    i.fail_after = Some(Stage::SecurityGroup);
    let mut first = Vec::new();
    let err = rt
        .block_on(i.ensure(&want, &mut |l| first.push(l)))
        .expect_err("interrupted");
    assert!(
        matches!(err, Ec2Error::Interrupted(Stage::SecurityGroup)),
        "{err}"
    );
    let half = rt.block_on(i.discover()).expect("discover");
    assert!(half.vpc.is_some() && half.group.is_some() && half.route_table.is_some());
    assert_eq!(half.subnets.len(), 2);
    assert!(half.key_pair.is_none() && half.instances.is_empty());
    let left = ferrodis_provision::targets::ec2::infra::plan(&half, &want);
    assert_eq!(
        left.iter().filter(|s| s.starts_with("launch")).count(),
        6,
        "{left:?}"
    );
    assert!(left[0].starts_with("create key pair"), "{left:?}");

    i.fail_after = None;
    let mut second = Vec::new();
    let done = rt
        .block_on(i.ensure(&want, &mut |l| second.push(l)))
        .expect("resumed");
    // Nothing made twice: only the key pair and the instances are new.
    assert!(
        second.iter().all(|l| l.starts_with("created key pair")
            || l.starts_with("image ")
            || l.starts_with("launched")),
        "{second:?}"
    );
    assert_eq!(done.vpc, half.vpc);
    assert_eq!(done.group, half.group);
    assert_eq!(done.instances.len(), 6);
    let vpcs = rt
        .block_on(c.describe_vpcs().filters(tag_filter("fdr")).send())
        .expect("vpcs");
    assert_eq!(vpcs.vpcs().len(), 1);
    rt.block_on(i.destroy(Some(&dir.join("ssh/fdr-key.pem")), &mut |_| {}))
        .expect("down");
    assert_eq!(rt.block_on(tagged(&c, "fdr")), BTreeMap::new());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn up_repairs_a_changed_rule_and_a_stopped_instance_and_down_leaves_others_alone() {
    let Some((_turn, m)) = moto() else { return };
    let c = client(&m);
    let rt = rt();
    let dir = test_dir("other");
    let mut d = deployment("fdo");
    d.replicas_per_primary = 0;
    d.zones = vec!["a".into(), "b".into(), "c".into()];
    let nodes = place(&d);
    let mut want = Desired::new(&d, &nodes, dir.join("ssh"));
    rt.block_on(register_ubuntu(&c));
    let i = infra(&c, "fdo");
    rt.block_on(i.ensure(&want, &mut |_| {})).expect("up");
    // Someone else's VPC, untagged by us.
    let theirs = rt
        .block_on(c.create_vpc().cidr_block("10.9.0.0/16").send())
        .expect("their vpc");
    let their_id = theirs
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("id")
        .to_string();
    // The admin moved: the old ssh rule goes, the new one comes.
    want.admin_cidr = "203.0.113.0/24".into();
    let mut log = Vec::new();
    let f = rt
        .block_on(i.ensure(&want, &mut |l| log.push(l)))
        .expect("repair");
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log[0].starts_with("allowed 1 rule(s)") && log[1].starts_with("revoked 1 rule(s)"));
    assert!(f
        .group
        .as_ref()
        .expect("sg")
        .ingress
        .contains(&(22, "203.0.113.0/24".to_string())));
    // An instance stopped by hand is started again, nothing else done. (One terminated by
    // hand is launched again with a new launch token; moto keeps a terminated instance's
    // private address taken, so that path is not run here.)
    let victim = f.instance("fdo-2").expect("fdo-2").id.clone();
    rt.block_on(c.stop_instances().instance_ids(&victim).send())
        .expect("stop");
    let stopped = rt.block_on(i.discover()).expect("discover");
    assert!(
        ferrodis_provision::targets::ec2::infra::plan(&stopped, &want)
            == vec![format!("start stopped instance {victim} (fdo-2)")]
    );
    let mut log = Vec::new();
    let f = rt
        .block_on(i.ensure(&want, &mut |l| log.push(l)))
        .expect("restart");
    assert_eq!(log, vec![format!("started stopped instance(s) {victim}")]);
    let again = f.instance("fdo-2").expect("fdo-2 again");
    assert_eq!(
        (again.id.as_str(), again.state.as_str()),
        (victim.as_str(), "running")
    );
    rt.block_on(i.destroy(Some(&dir.join("ssh/fdo-key.pem")), &mut |_| {}))
        .expect("down");
    let still = rt
        .block_on(c.describe_vpcs().vpc_ids(&their_id).send())
        .expect("their vpc is still there");
    assert_eq!(still.vpcs().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The command line: `plan ec2` lists what `up` would create, `down ec2` removes what an
/// earlier `up` made (the host setup needs real hosts, so the infrastructure is made here
/// directly).
#[test]
fn command_line_plan_and_down() {
    let Some((_turn, m)) = moto() else { return };
    let c = client(&m);
    let rt = rt();
    let dir = test_dir("cli");
    let conf = dir.join("deploy.toml");
    std::fs::write(
        &conf,
        format!("name = \"fdc\"\n[ec2]\nadmin_cidr = \"{ADMIN}\"\nami_owner = \"self\"\n"),
    )
    .expect("description");
    rt.block_on(register_ubuntu(&c));
    let tool = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ferrodis-provision"))
            .args(args)
            .arg("--dir")
            .arg(dir.join("state"))
            .arg("--config")
            .arg(&conf)
            .arg("--server-bin")
            .arg("/bin/true")
            .env("AWS_ENDPOINT_URL", &m.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_CONFIG_FILE", dir.join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("none"))
            .env_remove("AWS_PROFILE")
            .output()
            .expect("running ferrodis-provision");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = tool(&["plan", "ec2"]);
    assert!(ok, "{out}");
    assert!(out.contains("create VPC 10.0.0.0/16"), "{out}");
    assert!(
        out.contains("create security group fdc-nodes allowing tcp 22 from"),
        "{out}"
    );
    assert_eq!(out.matches("  - launch fdc-").count(), 6, "{out}");
    assert_eq!(out.matches("  - set up fdc-").count(), 6, "{out}");

    let d =
        Deployment::from_toml(&std::fs::read_to_string(&conf).expect("conf"), None).expect("parse");
    let want = Desired::new(&d, &place(&d), dir.join("state/ssh"));
    rt.block_on(infra(&c, "fdc").ensure(&want, &mut |_| {}))
        .expect("infrastructure");
    let (ok, out) = tool(&["plan", "ec2"]);
    assert!(ok, "{out}");
    assert!(
        !out.contains("create VPC") && !out.contains("launch fdc-"),
        "{out}"
    );

    let (ok, out) = tool(&["down", "ec2"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("deleted VPC") && out.contains("deleted key pair fdc-key"),
        "{out}"
    );
    assert_eq!(rt.block_on(tagged(&c, "fdc")), BTreeMap::new());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Records the host setup instead of running ssh.
struct Recorder(std::sync::Arc<Mutex<Vec<String>>>);

impl Remote for Recorder {
    fn run(&self, host: &Host, command: &str) -> anyhow::Result<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("{} {} run {command}", host.name, host.public_ip));
        Ok(if command.contains("bootstrap.sh") {
            "started ferrodis.service\n".into()
        } else {
            String::new()
        })
    }

    fn upload(&self, host: &Host, files: &[PathBuf], dir: &str) -> anyhow::Result<()> {
        let names: Vec<String> = files
            .iter()
            .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("{} upload {} -> {dir}", host.name, names.join(",")));
        Ok(())
    }
}

/// The target as `up` drives it, with the host setup recorded: the instances, then each
/// host's files staged and set up over "ssh" at its public address; `plan` afterwards has
/// no infrastructure left to create; `down` removes everything, local files included.
#[test]
fn target_up_sets_up_every_host_then_down() {
    let Some((_turn, m)) = moto() else { return };
    let c = client(&m);
    let rt = rt();
    let dir = test_dir("target");
    rt.block_on(register_ubuntu(&c));
    let mut d = deployment("fdt");
    d.tls = true;
    d.acl = true;
    let state = State {
        target: TargetKind::Ec2,
        server_bin: "/bin/true".into(),
        deployment: d,
    };
    let ctx = Ctx::new(dir.clone(), state, Duration::from_secs(30));
    let log = std::sync::Arc::new(Mutex::new(Vec::new()));
    let t = Ec2::with(Box::new(Recorder(log.clone())), Some(c.clone()));
    let files = ctx.node_files(&t).expect("node files");
    let actions = t.up(&ctx, &files).expect("up");
    assert!(
        actions.iter().any(|a| a.starts_with("created VPC")),
        "{actions:?}"
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| a.contains(": set up and started on "))
            .count(),
        6,
        "{actions:?}"
    );
    let hosts = HostsFile::load(&dir).expect("hosts file");
    assert_eq!(hosts.hosts.len(), 6);
    let calls = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for n in &ctx.nodes {
        let h = &hosts.hosts[&n.name];
        assert_eq!(h.zone, format!("us-east-1{}", n.zone));
        let mine: Vec<&String> = calls
            .iter()
            .filter(|c| c.starts_with(&format!("{} ", n.name)))
            .collect();
        assert_eq!(mine.len(), 4, "{mine:?}");
        assert!(mine[0].contains(&h.public_ip) && mine[0].ends_with("mkdir -p ferrodis-staging"));
        assert_eq!(
            *mine[1],
            format!(
                "{} upload bootstrap.sh,ferrodis-server,redis.conf,tls,users.acl -> \
                 ferrodis-staging",
                n.name
            )
        );
        assert!(
            mine[2].ends_with("sudo sh ferrodis-staging/bootstrap.sh \"$HOME/ferrodis-staging\"")
        );
        // The staged config: the node's private address, TLS files where bootstrap.sh
        // installs them, in the foreground for systemd.
        let conf =
            std::fs::read_to_string(dir.join("hosts").join(&n.name).join("staging/redis.conf"))
                .expect("staged config");
        assert!(
            conf.contains(&format!("bind {} 127.0.0.1", h.private_ip)),
            "{conf}"
        );
        assert!(
            conf.contains("tls-cert-file /etc/ferrodis/tls/node.crt"),
            "{conf}"
        );
        assert!(conf.contains("aclfile /etc/ferrodis/users.acl"), "{conf}");
        assert!(conf.contains("daemonize no"), "{conf}");
    }
    // The CA key never goes to a host.
    assert!(dir.join("pki/ca.key").exists());
    assert!(!dir.join("hosts/fdt-1/staging/tls/ca.key").exists());
    let script = t.cli_script(&ctx).expect("cli").expect("a script");
    assert!(script.contains(&format!("ubuntu@{}", hosts.hosts["fdt-1"].public_ip)));

    let plan = t.plan(&ctx).expect("plan");
    assert_eq!(plan, Vec::<String>::new(), "nothing left to create");

    let gone = t.down(&ctx).expect("down");
    assert!(
        gone.iter().any(|g| g.starts_with("deleted VPC")),
        "{gone:?}"
    );
    assert!(!dir.join(HOSTS_FILE).exists() && !dir.join("ssh").exists());
    assert_eq!(rt.block_on(tagged(&c, "fdt")), BTreeMap::new());
    let _ = std::fs::remove_dir_all(&dir);
}
