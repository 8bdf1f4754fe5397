//! Unit tests of the ec2 target without AWS: the plan as a pure function, the layout, and
//! (with `aws-smithy-mocks`) errors, throttling and pagination. The whole life cycle
//! against the moto emulator is in `tests/ec2.rs`.

use std::time::Duration;

use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::error::ErrorMetadata;
use aws_sdk_ec2::operation::delete_security_group::{
    DeleteSecurityGroupError, DeleteSecurityGroupOutput,
};
use aws_sdk_ec2::operation::describe_images::{DescribeImagesError, DescribeImagesOutput};
use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
use aws_sdk_ec2::types::{
    Image as AwsImage, Instance, InstanceState, InstanceStateName, Placement, Reservation, Tag,
};
use aws_sdk_ec2::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};

use super::infra::{self, Ec2Error, Found, FoundGroup, Infra, TAG_NODE};
use super::*;
use crate::deploy::{State, TargetKind};
use crate::spec::Preset;

fn ctx() -> Ctx {
    let mut d = Preset::Ha.deployment();
    d.name = "t1".into();
    d.ec2.admin_cidr = "198.51.100.7/32".into();
    let state = State {
        target: TargetKind::Ec2,
        server_bin: "/bin/true".into(),
        deployment: d,
    };
    Ctx::new(
        "/tmp/ferrodis-ec2-unit".into(),
        state,
        Duration::from_secs(1),
    )
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn infra_with(client: Client) -> Infra {
    let mut i = Infra::new(client, "t1");
    i.poll = Duration::from_millis(1);
    i.timeout = Duration::from_secs(5);
    i
}

fn fast_retries(b: aws_sdk_ec2::config::Builder) -> aws_sdk_ec2::config::Builder {
    b.retry_config(
        RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(1)),
    )
}

#[test]
fn plan_of_nothing_creates_everything_once() {
    let c = ctx();
    let want = Ec2::desired(&c);
    let steps = infra::plan(&Found::default(), &want);
    assert_eq!(
        steps[0],
        "create VPC 10.0.0.0/16 with DNS support and hostnames"
    );
    assert_eq!(steps[1], "create subnet 10.0.1.0/24 in us-east-1a");
    assert_eq!(steps[2], "create subnet 10.0.2.0/24 in us-east-1b");
    assert_eq!(steps[3], "create and attach an internet gateway");
    assert!(steps[4].starts_with("create a route table with 0.0.0.0/0"));
    assert_eq!(
        steps[5],
        "create security group t1-nodes allowing tcp 22 from 198.51.100.7/32, tcp 6379 from \
         10.0.0.0/16, tcp 16379 from 10.0.0.0/16"
    );
    assert!(
        steps[6].starts_with("create key pair t1-key"),
        "{}",
        steps[6]
    );
    let launches: Vec<&String> = steps.iter().filter(|s| s.starts_with("launch")).collect();
    assert_eq!(launches.len(), 6);
    assert!(
        launches[3].starts_with("launch t1-4 (t3.small,")
            && launches[3].contains("in us-east-1b at 10.0.2.13"),
        "{}",
        launches[3]
    );
    assert_eq!(steps.len(), 13);
}

#[test]
fn plan_revokes_rules_that_are_not_stated() {
    let c = ctx();
    let want = Ec2::desired(&c);
    let mut ingress = want.ingress();
    ingress.insert((22, "0.0.0.0/0".into()));
    ingress.remove(&(16379, "10.0.0.0/16".to_string()));
    let found = Found {
        group: Some(FoundGroup {
            id: "sg-1".into(),
            ingress,
            other: Vec::new(),
        }),
        ..Found::default()
    };
    let steps = infra::plan(&found, &want);
    assert!(steps.contains(&"allow tcp 16379 from 10.0.0.0/16 in sg-1".to_string()));
    assert!(steps.contains(&"revoke tcp 22 from 0.0.0.0/0 in sg-1".to_string()));
    assert!(!steps.iter().any(|s| s.starts_with("create security group")));
}

#[test]
fn tls_deployments_open_the_tls_port() {
    let mut c = ctx();
    c.state.deployment.tls = true;
    c.state.deployment.port = 6380;
    let want = Ec2::desired(&c);
    let ports: Vec<i32> = want.ingress().iter().map(|r| r.0).collect();
    assert_eq!(ports, vec![22, 6380, 16380]);
}

#[test]
fn layout_uses_private_addresses_and_the_bootstrap_paths() {
    let c = ctx();
    let t = Ec2::new();
    let l = t.layout(&c, &c.nodes[4]).expect("layout");
    // Node 5 is shard 2's replica in zone a.
    assert_eq!(l.env.bind, vec!["10.0.1.14", "127.0.0.1"]);
    assert_eq!(l.peer, Some("10.0.1.14:6379".parse().expect("addr")));
    assert_eq!(l.env.pidfile, None, "in the foreground under systemd");
    assert_eq!(l.env.dir, "/var/lib/ferrodis");
    // The paths bootstrap.sh installs to.
    for p in ["/etc/ferrodis", "/var/lib/ferrodis", "/var/log/ferrodis"] {
        assert!(
            BOOTSTRAP.contains(&p.replace("/etc", "$ROOT/etc").replace("/var", "$ROOT/var")),
            "{p}"
        );
    }
    assert!(
        l.sans.contains(&"127.0.0.1".to_string()),
        "the tunnel's end"
    );
    let mut st = c.state.clone();
    st.deployment.tls = true;
    let s = Ctx::new(c.dir.clone(), st, c.timeout);
    let l = t.layout(&s, &s.nodes[0]).expect("layout");
    assert_eq!(l.env.tls_dir.as_deref(), Some("/etc/ferrodis/tls"));
}

fn instance(id: &str, node: &str) -> Instance {
    Instance::builder()
        .instance_id(id)
        .tags(Tag::builder().key(TAG_NODE).value(node).build())
        .placement(Placement::builder().availability_zone("us-east-1a").build())
        .state(
            InstanceState::builder()
                .name(InstanceStateName::Running)
                .build(),
        )
        .public_ip_address("198.51.100.1")
        .private_ip_address("10.0.1.10")
        .build()
}

#[test]
fn instances_are_read_from_every_page() {
    let first = mock!(Client::describe_instances)
        .match_requests(|r| r.next_token().is_none())
        .then_output(|| {
            DescribeInstancesOutput::builder()
                .reservations(
                    Reservation::builder()
                        .instances(instance("i-2", "t1-2"))
                        .build(),
                )
                .next_token("page-2")
                .build()
        });
    let second = mock!(Client::describe_instances)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_output(|| {
            DescribeInstancesOutput::builder()
                .reservations(
                    Reservation::builder()
                        .instances(instance("i-1", "t1-1"))
                        .instances(instance("i-3", "t1-3"))
                        .build(),
                )
                .build()
        });
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&first, &second]);
    let got = block_on(infra_with(client).instances()).expect("instances");
    let nodes: Vec<&str> = got.iter().map(|i| i.node.as_str()).collect();
    assert_eq!(nodes, vec!["t1-1", "t1-2", "t1-3"]);
    assert_eq!(got[0].state, "running");
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
}

fn image(id: &str, created: &str) -> AwsImage {
    AwsImage::builder()
        .image_id(id)
        .name(format!(
            "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-{created}"
        ))
        .creation_date(created)
        .root_device_name("/dev/sda1")
        .build()
}

#[test]
fn the_newest_image_wins_over_pages_and_throttling_is_retried() {
    // Throttled twice (RequestLimitExceeded, then a 503), then two pages.
    let throttled = mock!(Client::describe_images)
        .match_requests(|r| r.next_token().is_none())
        .sequence()
        .http_status(
            400,
            Some(
                "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request \
                 limit exceeded.</Message></Error></Errors><RequestID>r1</RequestID></Response>"
                    .into(),
            ),
        )
        .http_status(503, None)
        .output(|| {
            DescribeImagesOutput::builder()
                .images(image("ami-old", "2024-04-01T00:00:00.000Z"))
                .images(image("ami-new", "2025-10-01T00:00:00.000Z"))
                .next_token("p2")
                .build()
        })
        .build();
    let page2 = mock!(Client::describe_images)
        .match_requests(|r| r.next_token() == Some("p2"))
        .then_output(|| {
            DescribeImagesOutput::builder()
                .images(image("ami-mid", "2025-01-01T00:00:00.000Z"))
                .build()
        });
    let client = mock_client!(
        aws_sdk_ec2,
        RuleMode::MatchAny,
        [&throttled, &page2],
        fast_retries
    );
    let img = block_on(infra_with(client).find_image("099720109477", "ubuntu/*")).expect("image");
    assert_eq!(img.id, "ami-new");
    assert_eq!(img.root_device, "/dev/sda1");
    assert_eq!(
        throttled.num_calls(),
        3,
        "two throttled attempts, then the answer"
    );
    assert_eq!(page2.num_calls(), 1);
}

#[test]
fn throttling_beyond_the_retries_is_an_error_with_its_code() {
    let throttled = mock!(Client::describe_images)
        .sequence()
        .http_status(
            400,
            Some(
                "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>slow \
                 down</Message></Error></Errors><RequestID>r1</RequestID></Response>"
                    .into(),
            ),
        )
        .times(3)
        .build();
    let client = mock_client!(
        aws_sdk_ec2,
        RuleMode::Sequential,
        [&throttled],
        fast_retries
    );
    let err =
        block_on(infra_with(client).find_image("099720109477", "ubuntu/*")).expect_err("throttled");
    assert_eq!(err.code(), Some("RequestLimitExceeded"), "{err}");
    assert!(err.to_string().starts_with("EC2 DescribeImages:"), "{err}");
    assert_eq!(throttled.num_calls(), 3);
}

#[test]
fn api_errors_and_a_missing_image_are_reported() {
    let denied = mock!(Client::describe_images).then_error(|| {
        DescribeImagesError::generic(
            ErrorMetadata::builder()
                .code("UnauthorizedOperation")
                .message("You are not authorized to perform this operation.")
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_ec2, [&denied]);
    let err =
        block_on(infra_with(client).find_image("099720109477", "ubuntu/*")).expect_err("denied");
    assert_eq!(err.code(), Some("UnauthorizedOperation"));
    assert!(err.to_string().contains("not authorized"), "{err}");

    let none =
        mock!(Client::describe_images).then_output(|| DescribeImagesOutput::builder().build());
    let client = mock_client!(aws_sdk_ec2, [&none]);
    let err =
        block_on(infra_with(client).find_image("099720109477", "ubuntu/*")).expect_err("no image");
    assert!(matches!(err, Ec2Error::Conflict(_)));
    assert!(err.to_string().contains("set ec2.ami_owner"), "{err}");
}

#[test]
fn deletes_wait_out_dependency_violations() {
    let busy = || {
        DeleteSecurityGroupError::generic(
            ErrorMetadata::builder()
                .code("DependencyViolation")
                .message("resource sg-1 has a dependent object")
                .build(),
        )
    };
    let rule = mock!(Client::delete_security_group)
        .sequence()
        .error(busy)
        .times(2)
        .output(|| DeleteSecurityGroupOutput::builder().build())
        .build();
    let client = mock_client!(aws_sdk_ec2, [&rule]);
    let i = infra_with(client);
    block_on(i.retry_dependency("DeleteSecurityGroup", || {
        i.client.delete_security_group().group_id("sg-1").send()
    }))
    .expect("deleted after two refusals");
    assert_eq!(rule.num_calls(), 3);

    // Another error is not retried.
    let gone = mock!(Client::delete_security_group).then_error(|| {
        DeleteSecurityGroupError::generic(
            ErrorMetadata::builder()
                .code("InvalidGroup.NotFound")
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_ec2, [&gone]);
    let i = infra_with(client);
    let err = block_on(i.retry_dependency("DeleteSecurityGroup", || {
        i.client.delete_security_group().group_id("sg-1").send()
    }))
    .expect_err("not found");
    assert_eq!(err.code(), Some("InvalidGroup.NotFound"));
    assert_eq!(gone.num_calls(), 1);
}

/// What the EC2 hosts get from the shared bootstrap when systemd runs the node.
#[test]
fn bootstrap_installs_a_systemd_unit_and_the_kernel_settings() {
    let unit_start = BOOTSTRAP.find("[Service]").expect("a unit");
    let unit = &BOOTSTRAP[unit_start..];
    for line in [
        "Type=simple",
        "User=ferrodis",
        "ExecStart=$BIN $ETC/redis.conf",
        "Restart=on-failure",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line}");
    }
    assert!(unit.contains("echo never >/sys/kernel/mm/transparent_hugepage/enabled"));
    for setting in [
        "vm.overcommit_memory = 1",
        "sysctl -q -w vm.overcommit_memory=1",
        "net.core.somaxconn=1024",
        "echo never >/sys/kernel/mm/transparent_hugepage/enabled",
        "systemctl enable --quiet ferrodis",
    ] {
        assert!(BOOTSTRAP.contains(setting), "{setting}");
    }
    // The ssh setup runs it as root with the staging directory, no ROOT prefix.
    assert!(ssh::setup_commands()[1].starts_with("sudo sh ferrodis-staging/bootstrap.sh"));
}

/// `<dir>/redis-cli` runs redis-cli on the first host over ssh: run it with an `ssh` that
/// prints its arguments.
#[test]
fn cli_script_runs_redis_cli_on_the_first_host() {
    let dir = crate::files::test_dir("ec2-cli");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let fake = bin.join("ssh");
    std::fs::write(
        &fake,
        "#!/bin/sh\nfor a in \"$@\"; do printf '<%s>\\n' \"$a\"; done\n",
    )
    .expect("fake ssh");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut st = ctx().state.clone();
    st.deployment.tls = true;
    st.deployment.acl = true;
    let c = Ctx::new(dir.join("d"), st, Duration::from_secs(1));
    std::fs::create_dir_all(c.passwords_path().parent().expect("parent")).expect("secrets");
    std::fs::write(
        c.passwords_path(),
        "admin = \"ab12\"\nreplication = \"cd\"\napp = \"ef\"\n",
    )
    .expect("passwords");
    let h = HostEntry {
        instance: "i-1".into(),
        zone: "us-east-1a".into(),
        public_ip: "198.51.100.1".into(),
        private_ip: "10.0.1.10".into(),
    };
    let script = cli_script(&c, &Ec2::ssh(&c), "t1-1", &h);
    let path = dir.join("redis-cli");
    std::fs::write(&path, &script).expect("script");
    let out = std::process::Command::new("sh")
        .arg(&path)
        .args(["set", "it's", "a b"])
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let args: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_start_matches('<').trim_end_matches('>').to_string())
        .collect();
    assert_eq!(args[0], "-i");
    assert!(args.contains(&"StrictHostKeyChecking=accept-new".to_string()));
    assert_eq!(args[args.len() - 2], "ubuntu@198.51.100.1");
    assert_eq!(
        args[args.len() - 1],
        "sudo -u ferrodis env REDISCLI_AUTH=ab12 redis-cli -c -h 10.0.1.10 -p 6379 --tls \
         --cacert /etc/ferrodis/tls/ca.crt --cert /etc/ferrodis/tls/node.crt --key \
         /etc/ferrodis/tls/node.key --user admin 'set' 'it'\\''s' 'a b'"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn launch_tokens_change_only_when_an_instance_was_terminated() {
    let none: Vec<String> = Vec::new();
    let one = vec!["i-1".to_string()];
    let two = vec!["i-2".to_string(), "i-1".to_string()];
    let t = |node, vpc, ids: &Vec<String>| infra::client_token(node, vpc, ids.iter());
    assert_eq!(t("a-1", "vpc-1", &none), t("a-1", "vpc-1", &none));
    assert_ne!(t("a-1", "vpc-1", &none), t("a-2", "vpc-1", &none));
    assert_ne!(t("a-1", "vpc-1", &none), t("a-1", "vpc-2", &none));
    assert_ne!(t("a-1", "vpc-1", &none), t("a-1", "vpc-1", &one));
    let mut rev = two.clone();
    rev.reverse();
    assert_eq!(t("a-1", "vpc-1", &two), t("a-1", "vpc-1", &rev));
    // "ab"+"c" and "a"+"bc" differ.
    assert_ne!(t("ab", "c", &none), t("a", "bc", &none));
    assert!(t("a-1", "vpc-1", &none).len() <= 64);
}

#[test]
fn an_existing_key_pair_is_used_from_its_file() {
    let mut c = ctx();
    c.state.deployment.ec2.key_name = "mine".into();
    c.state.deployment.ec2.key_file = "~/.ssh/mine.pem".into();
    let want = Ec2::desired(&c);
    assert_eq!(
        want.key,
        infra::KeySource::Existing {
            name: "mine".into()
        }
    );
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    if let Some(h) = home {
        assert_eq!(Ec2::ssh(&c).key, h.join(".ssh/mine.pem"));
    }
    // No key pair of its own in the plan.
    assert!(!infra::plan(&Found::default(), &want)
        .iter()
        .any(|s| s.contains("key pair")));
    let err = Ec2::new().up(&c, &[]).expect_err("no key file");
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn hosts_file_round_trips() {
    let dir = crate::files::test_dir("ec2-hosts");
    assert_eq!(HostsFile::load(&dir).expect("none"), HostsFile::default());
    let mut h = HostsFile::default();
    h.hosts.insert(
        "t1-1".into(),
        HostEntry {
            instance: "i-1".into(),
            zone: "us-east-1a".into(),
            public_ip: "198.51.100.1".into(),
            private_ip: "10.0.1.10".into(),
        },
    );
    h.save(&dir).expect("save");
    assert_eq!(HostsFile::load(&dir).expect("load"), h);
    let _ = std::fs::remove_dir_all(&dir);
}
