//! The tag sweep against moto: two expired envs found by a dry run that
//! deletes nothing, then deleted in an order that succeeds; unexpired,
//! undated and untagged resources left alone.

use super::super::sweep::{s, Kind};
use super::super::*;
use super::emulator::{emulator_env, kv, lock, moto, spec, tag_list};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

/// One env's worth of resources, shaped like terraform/aws makes them.
struct Made {
    vpc: String,
    igw: String,
    subnets: Vec<String>,
    rt: String,
    host_sg: String,
    wh_sg: String,
    instance: String,
    cluster: String,
    role: String,
    key: String,
}

type Tags = [(String, String)];

/// `aws CALL` that must succeed (the fixture is built on the emulator).
fn c(aws: &Aws, svc: &str, op: &str, args: Vec<String>) -> Value {
    aws.call(svc, op, &args).unwrap()
}

fn make_env(aws: &Aws, env: &str, owner: &str, expires_at: Option<&str>, cidr2: u8) -> Made {
    let tags = tag_list(env, owner, expires_at);
    let prefix = resource_prefix(owner, env);
    let (vpc, igw, subnets, rt) = make_network(aws, &tags, cidr2);
    let (host_sg, wh_sg) = make_groups(aws, &tags, &prefix, &vpc);
    let (key, instance) = make_host(aws, &tags, &prefix, &subnets[0], &host_sg);
    make_warehouse(aws, &tags, &prefix, &subnets, &wh_sg);
    let role = make_role(aws, &tags, &prefix);
    Made {
        vpc,
        igw,
        subnets,
        rt,
        host_sg,
        wh_sg,
        instance,
        cluster: prefix,
        role,
        key,
    }
}

/// VPC, internet gateway (attached), two subnets, a route table (associated).
fn make_network(aws: &Aws, tags: &Tags, cidr2: u8) -> (String, String, Vec<String>, String) {
    let c = |svc: &str, op: &str, args: Vec<String>| c(aws, svc, op, args);
    let vpc = c(
        "ec2",
        "create-vpc",
        vec![
            "--cidr-block".into(),
            format!("10.{cidr2}.0.0/16"),
            "--tag-specifications".into(),
            spec("vpc", tags),
        ],
    );
    let vpc = s(&vpc["Vpc"], "VpcId");
    let igw = c(
        "ec2",
        "create-internet-gateway",
        vec![
            "--tag-specifications".into(),
            spec("internet-gateway", tags),
        ],
    );
    let igw = s(&igw["InternetGateway"], "InternetGatewayId");
    c(
        "ec2",
        "attach-internet-gateway",
        vec![
            "--internet-gateway-id".into(),
            igw.clone(),
            "--vpc-id".into(),
            vpc.clone(),
        ],
    );
    let mut subnets = Vec::new();
    for (i, az) in ["eu-west-1a", "eu-west-1b"].iter().enumerate() {
        let sn = c(
            "ec2",
            "create-subnet",
            vec![
                "--vpc-id".into(),
                vpc.clone(),
                "--cidr-block".into(),
                format!("10.{cidr2}.{}.0/20", i * 16),
                "--availability-zone".into(),
                az.to_string(),
                "--tag-specifications".into(),
                spec("subnet", tags),
            ],
        );
        subnets.push(s(&sn["Subnet"], "SubnetId"));
    }
    let rt = c(
        "ec2",
        "create-route-table",
        vec![
            "--vpc-id".into(),
            vpc.clone(),
            "--tag-specifications".into(),
            spec("route-table", tags),
        ],
    );
    let rt = s(&rt["RouteTable"], "RouteTableId");
    c(
        "ec2",
        "associate-route-table",
        vec![
            "--route-table-id".into(),
            rt.clone(),
            "--subnet-id".into(),
            subnets[0].clone(),
        ],
    );
    (vpc, igw, subnets, rt)
}

/// The host's and the warehouse's groups, the latter admitting the former.
fn make_groups(aws: &Aws, tags: &Tags, prefix: &str, vpc: &str) -> (String, String) {
    let c = |svc: &str, op: &str, args: Vec<String>| c(aws, svc, op, args);
    let host_sg = c(
        "ec2",
        "create-security-group",
        vec![
            "--group-name".into(),
            format!("{prefix}-host"),
            "--description".into(),
            "host".into(),
            "--vpc-id".into(),
            vpc.to_string(),
            "--tag-specifications".into(),
            spec("security-group", tags),
        ],
    );
    let host_sg = s(&host_sg, "GroupId");
    let wh_sg = c(
        "ec2",
        "create-security-group",
        vec![
            "--group-name".into(),
            format!("{prefix}-warehouse"),
            "--description".into(),
            "warehouse".into(),
            "--vpc-id".into(),
            vpc.to_string(),
            "--tag-specifications".into(),
            spec("security-group", tags),
        ],
    );
    let wh_sg = s(&wh_sg, "GroupId");
    // The warehouse admits 5439 from the host's group: a cross-group rule.
    c("ec2", "authorize-security-group-ingress", vec!["--group-id".into(), wh_sg.to_string(), "--ip-permissions".into(), json!([{"IpProtocol": "tcp", "FromPort": 5439, "ToPort": 5439, "UserIdGroupPairs": [{"GroupId": host_sg}]}]).to_string()]);
    (host_sg, wh_sg)
}

/// Key pair and instance.
fn make_host(
    aws: &Aws,
    tags: &Tags,
    prefix: &str,
    subnet: &str,
    host_sg: &str,
) -> (String, String) {
    let c = |svc: &str, op: &str, args: Vec<String>| c(aws, svc, op, args);
    let key = c(
        "ec2",
        "create-key-pair",
        vec![
            "--key-name".into(),
            prefix.to_string(),
            "--tag-specifications".into(),
            spec("key-pair", tags),
        ],
    );
    let key = s(&key, "KeyName");
    let inst = c(
        "ec2",
        "run-instances",
        vec![
            "--image-id".into(),
            "ami-12c6146b".into(),
            "--instance-type".into(),
            "t3.large".into(),
            "--count".into(),
            "1".into(),
            "--subnet-id".into(),
            subnet.to_string(),
            "--security-group-ids".into(),
            host_sg.to_string(),
            "--key-name".into(),
            key.clone(),
            "--tag-specifications".into(),
            spec("instance", tags),
        ],
    );
    let instance = s(&inst["Instances"][0], "InstanceId");
    (key, instance)
}

/// Redshift subnet group and cluster (named like the env's prefix).
fn make_warehouse(aws: &Aws, tags: &Tags, prefix: &str, subnets: &[String], wh_sg: &str) {
    let c = |svc: &str, op: &str, args: Vec<String>| c(aws, svc, op, args);
    let mut args = vec![
        "--cluster-subnet-group-name".into(),
        prefix.to_string(),
        "--description".into(),
        "private".into(),
        "--subnet-ids".into(),
    ];
    args.extend(subnets.to_vec());
    args.push("--tags".into());
    args.extend(kv(tags));
    c("redshift", "create-cluster-subnet-group", args);
    let mut args: Vec<String> = vec![
        "--cluster-identifier".into(),
        prefix.to_string(),
        "--node-type".into(),
        "ra3.large".into(),
        "--cluster-type".into(),
        "single-node".into(),
        "--master-username".into(),
        "shadow".into(),
        "--master-user-password".into(),
        "Emulat0r-only".into(),
        "--cluster-subnet-group-name".into(),
        prefix.to_string(),
        "--vpc-security-group-ids".into(),
        wh_sg.to_string(),
        "--tags".into(),
    ];
    args.extend(kv(tags));
    c("redshift", "create-cluster", args);
}

/// IAM role with an inline policy and an instance profile.
fn make_role(aws: &Aws, tags: &Tags, prefix: &str) -> String {
    let c = |svc: &str, op: &str, args: Vec<String>| c(aws, svc, op, args);
    let role = format!("{prefix}-host");
    let mut args: Vec<String> = vec!["--role-name".into(), role.clone(), "--assume-role-policy-document".into(), json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}).to_string(), "--tags".into()];
    args.extend(kv(tags));
    c("iam", "create-role", args);
    c("iam", "put-role-policy", vec!["--role-name".into(), role.clone(), "--policy-name".into(), "inline".into(), "--policy-document".into(), json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "redshift:PauseCluster", "Resource": "*"}]}).to_string()]);
    c(
        "iam",
        "create-instance-profile",
        vec!["--instance-profile-name".into(), role.clone()],
    );
    c(
        "iam",
        "add-role-to-instance-profile",
        vec![
            "--instance-profile-name".into(),
            role.clone(),
            "--role-name".into(),
            role.clone(),
        ],
    );
    role
}

fn exists(aws: &Aws, kind: Kind, id: &str) -> bool {
    let r = match kind {
        Kind::Instance => {
            let v = aws
                .call_s("ec2", "describe-instances", &["--instance-ids", id])
                .unwrap();
            return v
                .pointer("/Reservations/0/Instances/0/State/Name")
                .and_then(Value::as_str)
                != Some("terminated");
        }
        Kind::Vpc => aws.call_s("ec2", "describe-vpcs", &["--vpc-ids", id]),
        Kind::SecurityGroup => aws.call_s("ec2", "describe-security-groups", &["--group-ids", id]),
        Kind::Subnet => aws.call_s("ec2", "describe-subnets", &["--subnet-ids", id]),
        Kind::RouteTable => aws.call_s("ec2", "describe-route-tables", &["--route-table-ids", id]),
        Kind::InternetGateway => aws.call_s(
            "ec2",
            "describe-internet-gateways",
            &["--internet-gateway-ids", id],
        ),
        Kind::KeyPair => aws.call_s("ec2", "describe-key-pairs", &["--key-names", id]),
        Kind::RedshiftCluster => aws.call_s(
            "redshift",
            "describe-clusters",
            &["--cluster-identifier", id],
        ),
        Kind::RedshiftSubnetGroup => aws.call_s(
            "redshift",
            "describe-cluster-subnet-groups",
            &["--cluster-subnet-group-name", id],
        ),
        Kind::RedshiftParameterGroup => aws.call_s(
            "redshift",
            "describe-cluster-parameter-groups",
            &["--parameter-group-name", id],
        ),
        Kind::IamRole => aws.call_s("iam", "get-role", &["--role-name", id]),
    };
    r.is_ok()
}

fn all_of(m: &Made) -> Vec<(Kind, String)> {
    let mut v = vec![
        (Kind::Vpc, m.vpc.clone()),
        (Kind::InternetGateway, m.igw.clone()),
        (Kind::RouteTable, m.rt.clone()),
        (Kind::SecurityGroup, m.host_sg.clone()),
        (Kind::SecurityGroup, m.wh_sg.clone()),
        (Kind::Instance, m.instance.clone()),
        (Kind::RedshiftCluster, m.cluster.clone()),
        (Kind::RedshiftSubnetGroup, m.cluster.clone()),
        (Kind::IamRole, m.role.clone()),
        (Kind::KeyPair, m.key.clone()),
    ];
    v.extend(m.subnets.iter().map(|s| (Kind::Subnet, s.clone())));
    v
}

/// What the sweep must leave alone: a VPC tagged as ours without a
/// deadline, and untagged look-alikes (VPC, group, instance, a role named
/// shadowops-*).
struct Lookalikes {
    undated_vpc: String,
    plain_vpc: String,
    plain_sg: String,
    plain_i: String,
}

fn make_lookalikes(aws: &Aws) -> Lookalikes {
    // Tagged as ours but without a deadline: left alone.
    let undated_tags = tag_list("undated", "alice", None);
    let undated_vpc = aws
        .call(
            "ec2",
            "create-vpc",
            &[
                "--cidr-block".into(),
                "10.4.0.0/16".into(),
                "--tag-specifications".into(),
                spec("vpc", &undated_tags),
            ],
        )
        .unwrap();
    let undated_vpc = s(&undated_vpc["Vpc"], "VpcId");
    // Untagged look-alikes: never touched.
    let plain_vpc = aws
        .call_s("ec2", "create-vpc", &["--cidr-block", "10.9.0.0/16"])
        .unwrap();
    let plain_vpc = s(&plain_vpc["Vpc"], "VpcId");
    let plain_sg = aws
        .call_s(
            "ec2",
            "create-security-group",
            &[
                "--group-name",
                "shadowops-untagged",
                "--description",
                "x",
                "--vpc-id",
                &plain_vpc,
            ],
        )
        .unwrap();
    let plain_sg = s(&plain_sg, "GroupId");
    let plain_i = aws
        .call_s(
            "ec2",
            "run-instances",
            &[
                "--image-id",
                "ami-12c6146b",
                "--instance-type",
                "t3.micro",
                "--count",
                "1",
            ],
        )
        .unwrap();
    let plain_i = s(&plain_i["Instances"][0], "InstanceId");
    aws.call_s(
        "iam",
        "create-role",
        &[
            "--role-name",
            "shadowops-untagged-role",
            "--assume-role-policy-document",
            r#"{"Version":"2012-10-17","Statement":[]}"#,
        ],
    )
    .unwrap();
    Lookalikes {
        undated_vpc,
        plain_vpc,
        plain_sg,
        plain_i,
    }
}

#[test]
#[ignore = "needs moto; run by make test"]
fn tag_sweep_against_moto() {
    let _l = lock();
    let server = moto();
    emulator_env(&server.url);
    let mut aws = Aws::from_env().unwrap();
    assert_eq!(aws.region, "eu-west-1");
    assert_eq!(aws.endpoint.as_deref(), Some(server.url.as_str()));
    aws.poll = Duration::from_millis(200);
    aws.wait_limit = Duration::from_secs(60);

    let expired = make_env(&aws, "demo", "alice", Some("2026-01-01T00:00:00Z"), 1);
    // Another owner's env of the same name, also expired: both go.
    let expired2 = make_env(
        &aws,
        "demo",
        "bob@example.com",
        Some("2026-01-01T00:00:00Z"),
        2,
    );
    let live = make_env(&aws, "live", "alice", Some("2999-01-01T00:00:00Z"), 3);
    let Lookalikes {
        undated_vpc,
        plain_vpc,
        plain_sg,
        plain_i,
    } = make_lookalikes(&aws);
    // The backstop already paused one cluster: the sweep must resume it.
    aws.call_s(
        "redshift",
        "pause-cluster",
        &["--cluster-identifier", &expired.cluster],
    )
    .unwrap();

    let now = SystemTime::now();
    let margin = Duration::from_secs(600);

    // Dry run: finds exactly the expired envs' resources, deletes nothing.
    let dry = sweep(&aws, now, margin, true).unwrap();
    assert!(dry.deleted.is_empty() && dry.failed.is_empty());
    let found: BTreeSet<(Kind, String)> =
        dry.expired.iter().map(|l| (l.kind, l.id.clone())).collect();
    let mut want: BTreeSet<(Kind, String)> = all_of(&expired).into_iter().collect();
    want.extend(all_of(&expired2));
    assert_eq!(found, want, "dry run found {:#?}", dry.expired);
    assert_eq!(
        dry.envs(),
        BTreeSet::from([
            ("alice".into(), "demo".into()),
            ("bob@example.com".into(), "demo".into())
        ])
    );
    assert!(dry.unexpired > 0);
    let order: Vec<Kind> = dry.expired.iter().map(|l| l.kind).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "deletion order is the dependency order");
    for (k, id) in all_of(&expired).iter().chain(all_of(&expired2).iter()) {
        assert!(exists(&aws, *k, id), "dry run deleted {k:?} {id}");
    }
    assert!(dry.render().contains("would delete"));

    // The sweep: every expired resource goes, in an order that succeeds.
    let done = sweep(&aws, now, margin, false).unwrap();
    assert!(done.failed.is_empty(), "failed: {:#?}", done.failed);
    assert_eq!(done.deleted.len(), want.len());
    for (k, id) in all_of(&expired).iter().chain(all_of(&expired2).iter()) {
        assert!(!exists(&aws, *k, id), "{k:?} {id} is still there");
    }
    // Unexpired, undated and untagged resources are all still there.
    for (k, id) in all_of(&live) {
        assert!(exists(&aws, k, &id), "{k:?} {id} was deleted");
    }
    assert!(exists(&aws, Kind::Vpc, &undated_vpc));
    assert!(exists(&aws, Kind::Vpc, &plain_vpc));
    assert!(exists(&aws, Kind::SecurityGroup, &plain_sg));
    assert!(exists(&aws, Kind::Instance, &plain_i));
    assert!(exists(&aws, Kind::IamRole, "shadowops-untagged-role"));

    // A second sweep finds nothing left to do.
    let again = sweep(&aws, now, margin, false).unwrap();
    assert!(again.expired.is_empty(), "{:#?}", again.expired);
}

/// `--warehouse existing`: the env's host group sits in the team's VPC and
/// the team's (untagged) warehouse group admits it. The sweep deletes the
/// host group after revoking only that rule: the team's VPC, group and its
/// other rules stay.
#[test]
#[ignore = "needs moto; run by make test"]
fn sweep_revokes_a_team_groups_rule_for_an_expired_host_only() {
    let _l = lock();
    let server = moto();
    emulator_env(&server.url);
    let aws = Aws::from_env().unwrap();
    let c = |svc: &str, op: &str, args: Vec<String>| c(&aws, svc, op, args);
    let team_vpc = c(
        "ec2",
        "create-vpc",
        vec!["--cidr-block".into(), "10.77.0.0/16".into()],
    );
    let team_vpc = s(&team_vpc["Vpc"], "VpcId");
    let team_sg = c(
        "ec2",
        "create-security-group",
        vec![
            "--group-name".into(),
            "team-warehouse".into(),
            "--description".into(),
            "the team's Redshift".into(),
            "--vpc-id".into(),
            team_vpc.clone(),
        ],
    );
    let team_sg = s(&team_sg, "GroupId");
    let tags = tag_list("wh", "alice", Some("2026-01-01T00:00:00Z"));
    let (host_sg, _own_wh_sg) =
        make_groups(&aws, &tags, &resource_prefix("alice", "wh"), &team_vpc);
    let office = json!([{"IpProtocol": "tcp", "FromPort": 5439, "ToPort": 5439, "IpRanges": [{"CidrIp": "198.51.100.0/24"}]}]);
    let from_host = json!([{"IpProtocol": "tcp", "FromPort": 5439, "ToPort": 5439, "UserIdGroupPairs": [{"GroupId": host_sg}]}]);
    for perms in [&office, &from_host] {
        c(
            "ec2",
            "authorize-security-group-ingress",
            vec![
                "--group-id".into(),
                team_sg.clone(),
                "--ip-permissions".into(),
                perms.to_string(),
            ],
        );
    }

    let done = sweep(&aws, SystemTime::now(), Duration::from_secs(600), false).unwrap();
    assert!(done.failed.is_empty(), "failed: {:#?}", done.failed);
    assert!(!exists(&aws, Kind::SecurityGroup, &host_sg));
    assert!(exists(&aws, Kind::SecurityGroup, &team_sg));
    assert!(
        exists(&aws, Kind::Vpc, &team_vpc),
        "the team's VPC is not ours"
    );
    let g = aws
        .call_s(
            "ec2",
            "describe-security-groups",
            &["--group-ids", &team_sg],
        )
        .unwrap();
    let perms = &g["SecurityGroups"][0]["IpPermissions"];
    let text = perms.to_string();
    assert!(
        !text.contains(&host_sg),
        "the rule admitting the host is gone: {text}"
    );
    assert!(
        text.contains("198.51.100.0/24"),
        "the team's own rule stays: {text}"
    );
}
