//! The aws target's own AWS calls, made through the AWS CLI (`--output json`):
//!
//! - the tag sweep behind `reap --target aws`: finds what shadowops created
//!   (tag `managed-by=shadowops`) whose `expires_at` tag has passed, even when
//!   no Terraform state is left, and deletes it in dependency order, with a
//!   dry run ([`sweep`]);
//! - the state-only destroy helpers: an env destroyed from the shared S3
//!   state on a machine that never ran its `up`, reading no local key file
//!   ([`destroy_from_shared_state`], [`destroy_placeholders`], [`state_key`]);
//! - region resolution ([`resolve_region`]) and the names Terraform derives
//!   ([`owner_id`], [`resource_prefix`]; terraform/aws/modules/names).
//!
//! Every child runs through `crate::supervise` (deadline, Ctrl-C). Nothing
//! secret goes on a command line: credentials come from the standard chain
//! in the environment (AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO, ...), the region
//! from AWS_REGION / AWS_DEFAULT_REGION / the profile, and AWS_ENDPOINT_URL
//! points every call at an emulator in the tests (moto on 127.0.0.1).
//!
//! Not wired into the CLI yet (another change restructures src/commands):
//! the hooks are listed in docs/aws.md, "Driver hooks". Until they are,
//! nothing outside the tests calls this module, hence the allow below;
//! remove it when `reap --target aws`, `destroy` and the vars phase call in.
#![allow(dead_code)]

use crate::error::Failure;
use crate::supervise::{self, Cmd, Finished};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// The tag every shadowops resource carries (provider `default_tags`).
pub const MANAGED_BY_KEY: &str = "managed-by";
pub const MANAGED_BY_VALUE: &str = "shadowops";
/// A baked AMI outlives the bake env on purpose: never swept.
pub const BAKED_TAG: &str = "shadowops:baked";

// ------------------------------------------------------------------- names

/// The owner part of every AWS name, exactly as terraform/aws/modules/names
/// computes it: a slug of at most 8 characters (lowercase, runs of anything
/// but `a-z0-9` become one `-`, trimmed of `-`; `o` if nothing is left), a
/// hyphen and the first 4 hex digits of sha256(owner).
pub fn owner_id(owner: &str) -> String {
    let lower = owner.to_lowercase();
    let mut slug = String::new();
    let mut in_run = false;
    for c in lower.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
            in_run = false;
        } else if !in_run {
            slug.push('-');
            in_run = true;
        }
    }
    let slug: String = slug.chars().take(8).collect();
    let slug = slug.trim_matches('-');
    let slug = if slug.is_empty() { "o" } else { slug };
    let hash = hex::encode(Sha256::digest(owner.as_bytes()));
    format!("{slug}-{}", &hash[..4])
}

/// `shadowops-<owner id>-<env>`: the prefix of the env's AWS names (also the
/// Redshift cluster identifier).
pub fn resource_prefix(owner: &str, env: &str) -> String {
    format!("shadowops-{}-{env}", owner_id(owner))
}

/// The env's state key in a shared backend: per owner *and* env, so two
/// people's `demo` envs never share a state.
pub fn state_key(owner: &str, env: &str) -> String {
    format!("shadowops/{}/{env}/terraform.tfstate", owner_id(owner))
}

// ------------------------------------------------------------------ region

fn valid_region(r: &str) -> bool {
    // like terraform/aws's validation: eu-west-1, us-gov-west-1
    let parts: Vec<&str> = r.split('-').collect();
    let (cc, rest) = match parts.as_slice() {
        [cc, "gov", area, n] => (cc, vec![*area, *n]),
        [cc, area, n] => (cc, vec![*area, *n]),
        _ => return false,
    };
    cc.len() == 2
        && cc.chars().all(|c| c.is_ascii_lowercase())
        && !rest[0].is_empty()
        && rest[0].chars().all(|c| c.is_ascii_lowercase())
        && rest[1].len() == 1
        && rest[1].chars().all(|c| c.is_ascii_digit())
}

/// The region, as the AWS SDKs resolve it: AWS_REGION, then
/// AWS_DEFAULT_REGION, then the `region` of the profile (AWS_PROFILE, via
/// `aws configure get region`). The AWS CLI v1 reads only
/// AWS_DEFAULT_REGION, so [`Aws`] always passes `--region` explicitly.
pub fn resolve_region(cli: Option<&Path>) -> Result<String> {
    for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Ok(v) = std::env::var(var) {
            let v = v.trim();
            if !v.is_empty() {
                if !valid_region(v) {
                    return Err(Failure::usage(format!(
                        "{var}={v:?} is not an AWS region (e.g. eu-west-1)"
                    )));
                }
                return Ok(v.to_string());
            }
        }
    }
    if let Some(bin) = cli {
        let c = Cmd::new(bin)
            .args(["configure", "get", "region"])
            .capture()
            .deadline(Duration::from_secs(30));
        if let Ok(done) = supervise::run(&c, |_, _| {}) {
            let v = done.stdout.trim();
            if done.success() && valid_region(v) {
                return Ok(v.to_string());
            }
        }
    }
    Err(Failure::usage(
        "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or `region` in the profile AWS_PROFILE names)",
    ))
}

/// SES's SMTP endpoint in `region`: the relay default, so mail leaves from
/// the env's own region (terraform/aws computes the same when smtp_host is
/// null).
pub fn default_smtp_host(region: &str) -> String {
    format!("email-smtp.{region}.amazonaws.com")
}

// --------------------------------------------------------------------- CLI

/// An AWS CLI call that AWS (or the emulator) refused.
#[derive(Debug, thiserror::Error)]
#[error("aws {op}: {code}: {message}")]
pub struct AwsError {
    pub op: String,
    /// The service's error code (`ClusterNotFound`, `DependencyViolation`),
    /// or `exit status N` when the CLI printed none.
    pub code: String,
    pub message: String,
}

/// The AWS CLI, pointed at one region (and, in tests, an endpoint).
#[derive(Debug, Clone)]
pub struct Aws {
    pub bin: PathBuf,
    pub region: String,
    /// AWS_ENDPOINT_URL, passed as `--endpoint-url` (emulators).
    pub endpoint: Option<String>,
    /// Deadline of one CLI call.
    pub call_deadline: Duration,
    /// How often the sweep's waits look again.
    pub poll: Duration,
    /// Bound of one wait (instance termination, cluster resume or delete).
    pub wait_limit: Duration,
}

/// Where the AWS CLI is: SHADOWOPS_AWS_CLI, the project venv's (which
/// scripts/setup-aws.sh installs), or `aws` on PATH.
pub fn find_cli() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SHADOWOPS_AWS_CLI") {
        return Some(PathBuf::from(p));
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/aws");
    if venv.is_file() {
        return Some(venv);
    }
    which::which("aws").ok()
}

impl Aws {
    pub fn from_env() -> Result<Aws> {
        let bin = find_cli().ok_or_else(|| {
            Failure::usage(
                "the AWS CLI (`aws`) is not installed: scripts/setup-aws.sh installs it into .venv",
            )
        })?;
        let region = resolve_region(Some(&bin))?;
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        Ok(Aws {
            bin,
            region,
            endpoint,
            call_deadline: Duration::from_secs(120),
            poll: Duration::from_secs(15),
            wait_limit: Duration::from_secs(45 * 60),
        })
    }

    fn cmd(&self, service: &str, op: &str, args: &[String]) -> Cmd {
        let mut c = Cmd::new(&self.bin)
            .args(["--output", "json", "--region", &self.region])
            // AWS CLI v2 would page its output through `less`.
            .env("AWS_PAGER", "");
        if let Some(e) = &self.endpoint {
            c = c.arg("--endpoint-url").arg(e);
        }
        c.arg(service)
            .arg(op)
            .args(args)
            .capture()
            .deadline(self.call_deadline)
    }

    /// Run `aws SERVICE OP ARGS...` and parse its JSON answer (Null when it
    /// printed nothing). A refusal is an [`AwsError`] carrying the code.
    pub fn call(&self, service: &str, op: &str, args: &[String]) -> Result<Value> {
        let c = self.cmd(service, op, args);
        crate::ui::debug(&format!("aws {service} {op}"));
        let done: Finished = supervise::run(&c, |_, _| {})?;
        if !done.success() {
            let text = done.stderr_tail.join("\n");
            let code = text
                .split("An error occurred (")
                .nth(1)
                .and_then(|r| r.split(')').next())
                .map(str::to_string)
                .unwrap_or_else(|| done.describe());
            return Err(AwsError {
                op: format!("{service} {op}"),
                code,
                message: text.trim().chars().take(600).collect(),
            }
            .into());
        }
        let out = done.stdout.trim();
        if out.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(out).with_context(|| format!("aws {service} {op}: output is not JSON"))
    }

    fn call_s(&self, service: &str, op: &str, args: &[&str]) -> Result<Value> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        self.call(service, op, &args)
    }
}

fn error_code(e: &anyhow::Error) -> Option<&str> {
    e.downcast_ref::<AwsError>().map(|a| a.code.as_str())
}

// ---------------------------------------------------------------- the sweep

/// What the sweep deletes, in the order it deletes it: each kind only once
/// everything that depends on it is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Terminated first: it holds network interfaces in the subnets and
    /// security groups, and the warehouse group admits the host's group.
    Instance,
    /// Its scheduled pause is deleted with it; a paused cluster is resumed
    /// first (a paused cluster cannot be deleted).
    RedshiftCluster,
    RedshiftSubnetGroup,
    RedshiftParameterGroup,
    KeyPair,
    /// Cross-group rules are revoked first, then the groups deleted.
    SecurityGroup,
    Subnet,
    RouteTable,
    /// Detached from its VPC, then deleted.
    InternetGateway,
    Vpc,
    /// Removed from its instance profiles (deleted too), inline policies
    /// deleted, managed policies detached, then deleted. IAM is global: the
    /// Tagging API of a region does not list roles.
    IamRole,
}

/// A resource the sweep found, with the tags that decide its fate.
#[derive(Debug, Clone, Serialize)]
pub struct Leftover {
    pub kind: Kind,
    /// Instance, group, subnet... ID; cluster, group or role name.
    pub id: String,
    pub env: String,
    pub owner: String,
    pub expires_at: String,
    /// Extra facts the delete needs (VPC of a gateway, cluster status...).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, String>,
}

/// What one sweep found and did.
#[derive(Debug, Default, Serialize)]
pub struct SweepReport {
    pub dry_run: bool,
    pub region: String,
    /// Expired leftovers, in deletion order.
    pub expired: Vec<Leftover>,
    /// Deleted (empty on a dry run).
    pub deleted: Vec<Leftover>,
    /// (leftover, why) for each delete that failed; the sweep goes on.
    pub failed: Vec<(Leftover, String)>,
    /// Tagged shadowops resources whose deadline (plus the margin) has not
    /// passed: left alone.
    pub unexpired: usize,
    /// Tagged without a readable `expires_at`, or baked AMIs: left alone.
    pub no_deadline: Vec<String>,
    /// Tagging API resources of a type the sweep does not delete itself
    /// (volumes and network interfaces go with their instance).
    pub not_handled: Vec<String>,
    /// Problems that did not stop the sweep.
    pub warnings: Vec<String>,
}

impl SweepReport {
    /// Envs (owner/env) with expired leftovers.
    pub fn envs(&self) -> BTreeSet<(String, String)> {
        self.expired
            .iter()
            .map(|l| (l.owner.clone(), l.env.clone()))
            .collect()
    }

    /// Human-readable lines for stderr.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let verb = if self.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        s.push_str(&format!(
            "aws tag sweep in {}: {} expired resource(s) of {} env(s), {} not yet expired\n",
            self.region,
            self.expired.len(),
            self.envs().len(),
            self.unexpired
        ));
        let list = if self.dry_run {
            &self.expired
        } else {
            &self.deleted
        };
        for l in list {
            s.push_str(&format!(
                "  {verb} {:?} {} (env {}, owner {}, expired {})\n",
                l.kind, l.id, l.env, l.owner, l.expires_at
            ));
        }
        for (l, why) in &self.failed {
            s.push_str(&format!("  FAILED {:?} {}: {why}\n", l.kind, l.id));
        }
        for w in &self.warnings {
            s.push_str(&format!("  warning: {w}\n"));
        }
        s
    }
}

fn tags_of(v: &Value) -> BTreeMap<String, String> {
    // EC2/IAM/Tagging: [{"Key":..,"Value":..}]; Redshift the same.
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| {
                    Some((
                        t.get("Key")?.as_str()?.to_string(),
                        t.get("Value")?.as_str().unwrap_or("").to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn ours(tags: &BTreeMap<String, String>) -> bool {
    tags.get(MANAGED_BY_KEY).map(String::as_str) == Some(MANAGED_BY_VALUE)
}

/// What a leftover's tags say: expired, not yet, or no usable deadline.
enum Verdict {
    Expired,
    Unexpired,
    NoDeadline,
}

fn verdict(tags: &BTreeMap<String, String>, now: SystemTime, margin: Duration) -> Verdict {
    if tags.get(BAKED_TAG).map(String::as_str) == Some("true") {
        return Verdict::NoDeadline;
    }
    let Some(raw) = tags.get("expires_at") else {
        return Verdict::NoDeadline;
    };
    match humantime::parse_rfc3339(raw) {
        Ok(at) if at + margin <= now => Verdict::Expired,
        Ok(_) => Verdict::Unexpired,
        Err(_) => Verdict::NoDeadline,
    }
}

fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn s(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

/// The kind and ID an ARN from the Tagging API names, if the sweep handles it.
fn kind_of_arn(arn: &str) -> Option<(Kind, String)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() < 6 {
        return None;
    }
    let (service, resource) = (parts[2], parts[5]);
    match service {
        "ec2" => {
            let (ty, id) = resource.split_once('/')?;
            let kind = match ty {
                "instance" => Kind::Instance,
                "security-group" => Kind::SecurityGroup,
                "subnet" => Kind::Subnet,
                "route-table" => Kind::RouteTable,
                "internet-gateway" => Kind::InternetGateway,
                "vpc" => Kind::Vpc,
                "key-pair" => Kind::KeyPair,
                _ => return None,
            };
            Some((kind, id.to_string()))
        }
        "redshift" => {
            // arn:aws:redshift:REGION:ACCT:cluster:NAME (the resource part
            // holds "cluster:NAME" after splitn(6)).
            let (ty, id) = resource.split_once(':')?;
            let kind = match ty {
                "cluster" => Kind::RedshiftCluster,
                "subnetgroup" => Kind::RedshiftSubnetGroup,
                "parametergroup" => Kind::RedshiftParameterGroup,
                _ => return None,
            };
            Some((kind, id.to_string()))
        }
        _ => None,
    }
}

struct Finder<'a> {
    aws: &'a Aws,
    now: SystemTime,
    margin: Duration,
    report: SweepReport,
    found: BTreeMap<(Kind, String), Leftover>,
    /// Key pair ID -> name (the Tagging API names key pairs by ID).
    key_names: BTreeMap<String, String>,
    /// Kinds whose own describe call answered: authoritative (it knows the
    /// state: a terminated instance stays listed by the Tagging API for up
    /// to an hour), so the Tagging API's list adds nothing for them.
    described: BTreeSet<Kind>,
}

impl Finder<'_> {
    fn consider(
        &mut self,
        kind: Kind,
        id: &str,
        tags: &BTreeMap<String, String>,
        facts: BTreeMap<String, String>,
    ) {
        if !ours(tags) || id.is_empty() {
            return;
        }
        if let Some(existing) = self.found.get_mut(&(kind, id.to_string())) {
            existing.facts.extend(facts);
            return;
        }
        match verdict(tags, self.now, self.margin) {
            Verdict::Expired => {
                self.found.insert(
                    (kind, id.to_string()),
                    Leftover {
                        kind,
                        id: id.to_string(),
                        env: tags.get("env").cloned().unwrap_or_default(),
                        owner: tags.get("owner").cloned().unwrap_or_default(),
                        expires_at: tags.get("expires_at").cloned().unwrap_or_default(),
                        facts,
                    },
                );
            }
            Verdict::Unexpired => self.report.unexpired += 1,
            Verdict::NoDeadline => self.report.no_deadline.push(format!("{kind:?} {id}")),
        }
    }

    /// A describe call whose failure is a warning, not the end of the sweep
    /// (one service the account may not use, or an emulator that lacks it).
    fn describe(&mut self, kind: Option<Kind>, service: &str, op: &str, args: &[&str]) -> Value {
        match self.aws.call_s(service, op, args) {
            Ok(v) => {
                self.described.extend(kind);
                v
            }
            Err(e) => {
                self.report.warnings.push(format!("{service} {op}: {e:#}"));
                Value::Null
            }
        }
    }

    fn run(mut self) -> Result<SweepReport> {
        let filter = format!("Name=tag:{MANAGED_BY_KEY},Values={MANAGED_BY_VALUE}");

        // 1. The Resource Groups Tagging API: every regional resource tagged
        //    managed-by=shadowops, whatever the service. This call must work
        //    (it is how the sweep finds envs with no state left).
        let tagged = self.aws.call_s(
            "resourcegroupstaggingapi",
            "get-resources",
            &[
                "--tag-filters",
                &format!("Key={MANAGED_BY_KEY},Values={MANAGED_BY_VALUE}"),
            ],
        )?;
        let mut seen_arns = Vec::new();
        for r in arr(&tagged, "ResourceTagMappingList") {
            let arn = s(r, "ResourceARN");
            let tags = tags_of(r.get("Tags").unwrap_or(&Value::Null));
            match kind_of_arn(&arn) {
                Some((kind, id)) => seen_arns.push((kind, id, tags)),
                None => {
                    if ours(&tags)
                        && !matches!(verdict(&tags, self.now, self.margin), Verdict::NoDeadline)
                    {
                        self.report.not_handled.push(arn);
                    } else if tags.get(BAKED_TAG).map(String::as_str) == Some("true") {
                        self.report.no_deadline.push(arn);
                    }
                }
            }
        }

        // 2. The services' own describe calls, filtered by the same tag: the
        //    facts each delete needs, and what the Tagging API does not list
        //    (IAM is global; some emulators list only EC2).
        let v = self.describe(
            Some(Kind::Instance),
            "ec2",
            "describe-instances",
            &["--filters", &filter],
        );
        for res in arr(&v, "Reservations") {
            for i in arr(res, "Instances") {
                let state = i
                    .pointer("/State/Name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if state == "terminated" {
                    continue;
                }
                let facts = BTreeMap::from([("state".to_string(), state.to_string())]);
                self.consider(
                    Kind::Instance,
                    &s(i, "InstanceId"),
                    &tags_of(&i["Tags"]),
                    facts,
                );
            }
        }
        let v = self.describe(
            Some(Kind::SecurityGroup),
            "ec2",
            "describe-security-groups",
            &["--filters", &filter],
        );
        for g in arr(&v, "SecurityGroups") {
            if s(g, "GroupName") == "default" {
                // The VPC's own group: it goes with the VPC and cannot be deleted.
                continue;
            }
            let facts = BTreeMap::from([("vpc".to_string(), s(g, "VpcId"))]);
            self.consider(
                Kind::SecurityGroup,
                &s(g, "GroupId"),
                &tags_of(&g["Tags"]),
                facts,
            );
        }
        let v = self.describe(
            Some(Kind::Subnet),
            "ec2",
            "describe-subnets",
            &["--filters", &filter],
        );
        for x in arr(&v, "Subnets") {
            self.consider(
                Kind::Subnet,
                &s(x, "SubnetId"),
                &tags_of(&x["Tags"]),
                BTreeMap::new(),
            );
        }
        let v = self.describe(
            Some(Kind::RouteTable),
            "ec2",
            "describe-route-tables",
            &["--filters", &filter],
        );
        for x in arr(&v, "RouteTables") {
            let main = arr(x, "Associations")
                .iter()
                .any(|a| a.get("Main") == Some(&Value::Bool(true)));
            if main {
                continue; // the VPC's main table goes with the VPC
            }
            self.consider(
                Kind::RouteTable,
                &s(x, "RouteTableId"),
                &tags_of(&x["Tags"]),
                BTreeMap::new(),
            );
        }
        let v = self.describe(
            Some(Kind::InternetGateway),
            "ec2",
            "describe-internet-gateways",
            &["--filters", &filter],
        );
        for x in arr(&v, "InternetGateways") {
            let vpcs: Vec<String> = arr(x, "Attachments")
                .iter()
                .map(|a| s(a, "VpcId"))
                .collect();
            let facts = BTreeMap::from([("vpcs".to_string(), vpcs.join(","))]);
            self.consider(
                Kind::InternetGateway,
                &s(x, "InternetGatewayId"),
                &tags_of(&x["Tags"]),
                facts,
            );
        }
        let v = self.describe(
            Some(Kind::Vpc),
            "ec2",
            "describe-vpcs",
            &["--filters", &filter],
        );
        for x in arr(&v, "Vpcs") {
            self.consider(
                Kind::Vpc,
                &s(x, "VpcId"),
                &tags_of(&x["Tags"]),
                BTreeMap::new(),
            );
        }
        let v = self.describe(None, "ec2", "describe-key-pairs", &["--filters", &filter]);
        for x in arr(&v, "KeyPairs") {
            // Deleted by name (what every implementation accepts).
            self.key_names.insert(s(x, "KeyPairId"), s(x, "KeyName"));
            self.consider(
                Kind::KeyPair,
                &s(x, "KeyName"),
                &tags_of(&x["Tags"]),
                BTreeMap::new(),
            );
        }
        let rs_tags = [
            "--tag-keys",
            MANAGED_BY_KEY,
            "--tag-values",
            MANAGED_BY_VALUE,
        ];
        let v = self.describe(
            Some(Kind::RedshiftCluster),
            "redshift",
            "describe-clusters",
            &rs_tags,
        );
        for c in arr(&v, "Clusters") {
            let facts = BTreeMap::from([("status".to_string(), s(c, "ClusterStatus"))]);
            self.consider(
                Kind::RedshiftCluster,
                &s(c, "ClusterIdentifier"),
                &tags_of(&c["Tags"]),
                facts,
            );
        }
        let v = self.describe(None, "redshift", "describe-cluster-subnet-groups", &rs_tags);
        for g in arr(&v, "ClusterSubnetGroups") {
            self.consider(
                Kind::RedshiftSubnetGroup,
                &s(g, "ClusterSubnetGroupName"),
                &tags_of(&g["Tags"]),
                BTreeMap::new(),
            );
        }
        let v = self.describe(
            None,
            "redshift",
            "describe-cluster-parameter-groups",
            &rs_tags,
        );
        for g in arr(&v, "ParameterGroups") {
            self.consider(
                Kind::RedshiftParameterGroup,
                &s(g, "ParameterGroupName"),
                &tags_of(&g["Tags"]),
                BTreeMap::new(),
            );
        }
        // IAM: roles named shadowops-* (every shadowops role is), tags read
        // per role (ListRoles does not return them everywhere).
        let v = self.describe(None, "iam", "list-roles", &[]);
        for r in arr(&v, "Roles") {
            let name = s(r, "RoleName");
            if !name.starts_with("shadowops-") {
                continue;
            }
            let t = self.describe(None, "iam", "list-role-tags", &["--role-name", &name]);
            self.consider(Kind::IamRole, &name, &tags_of(&t["Tags"]), BTreeMap::new());
        }

        // 3. What only the Tagging API listed (it knew the tags; the facts a
        //    delete needs are looked up when it runs).
        for (kind, id, tags) in seen_arns {
            if self.described.contains(&kind) {
                continue;
            }
            // Key pairs: the Tagging API names them by key-pair ID, the
            // describe call above by name; an ID it did not see is deleted
            // by ID.
            let id = match (kind, self.key_names.get(&id)) {
                (Kind::KeyPair, Some(name)) => name.clone(),
                _ => id,
            };
            self.consider(kind, &id, &tags, BTreeMap::new());
        }

        let mut report = self.report;
        report.expired = self.found.into_values().collect(); // BTreeMap: Kind order
        Ok(report)
    }
}

/// Find every expired shadowops leftover in the Aws's region: tagged
/// `managed-by=shadowops` with an `expires_at` tag at least `margin` in the
/// past. Unexpired, untagged, undated and baked (`shadowops:baked=true`)
/// resources are left out.
pub fn find_expired(aws: &Aws, now: SystemTime, margin: Duration) -> Result<SweepReport> {
    let finder = Finder {
        aws,
        now,
        margin,
        report: SweepReport {
            region: aws.region.clone(),
            ..Default::default()
        },
        found: BTreeMap::new(),
        key_names: BTreeMap::new(),
        described: BTreeSet::new(),
    };
    finder.run()
}

/// The tag sweep: find expired leftovers ([`find_expired`]) and, unless
/// `dry_run`, delete them in dependency order ([`Kind`]). A delete that
/// fails is recorded and the sweep goes on with what does not depend on it;
/// the caller turns a non-empty `failed` into a non-zero exit.
///
/// `margin`: how long past `expires_at` a resource must be before the sweep
/// touches it, so it does not race the env's own reaper at the deadline
/// (`reap --target aws` default: 10 minutes; the in-cloud backstops fire at
/// `backstop_grace`, 30 minutes by default).
pub fn sweep(aws: &Aws, now: SystemTime, margin: Duration, dry_run: bool) -> Result<SweepReport> {
    let mut report = find_expired(aws, now, margin)?;
    report.dry_run = dry_run;
    if dry_run {
        return Ok(report);
    }
    // Security groups: revoke rules that reference other groups first, or a
    // group admitted by another's rule cannot be deleted.
    let groups: Vec<Leftover> = report
        .expired
        .iter()
        .filter(|l| l.kind == Kind::SecurityGroup)
        .cloned()
        .collect();
    let mut revoked = false;
    for l in report.expired.clone() {
        supervise::check_interrupted()?;
        if l.kind == Kind::SecurityGroup && !revoked {
            for g in &groups {
                if let Err(e) = revoke_group_refs(aws, &g.id) {
                    report
                        .warnings
                        .push(format!("revoking cross-group rules of {}: {e:#}", g.id));
                }
            }
            revoked = true;
        }
        crate::ui::info(&format!(
            "aws sweep: deleting {:?} {} (env {}, owner {})",
            l.kind, l.id, l.env, l.owner
        ));
        match delete(aws, &l) {
            Ok(()) => report.deleted.push(l),
            Err(e) => {
                if e.downcast_ref::<Failure>().is_some() {
                    return Err(e); // interrupted
                }
                report.failed.push((l, format!("{e:#}")));
            }
        }
    }
    Ok(report)
}

fn revoke_group_refs(aws: &Aws, group: &str) -> Result<()> {
    let v = aws.call_s("ec2", "describe-security-groups", &["--group-ids", group])?;
    for g in arr(&v, "SecurityGroups") {
        let refs: Vec<Value> = arr(g, "IpPermissions")
            .iter()
            .filter(|p| !arr(p, "UserIdGroupPairs").is_empty())
            .cloned()
            .collect();
        if !refs.is_empty() {
            aws.call(
                "ec2",
                "revoke-security-group-ingress",
                &[
                    "--group-id".into(),
                    group.into(),
                    "--ip-permissions".into(),
                    Value::Array(refs).to_string(),
                ],
            )?;
        }
    }
    Ok(())
}

/// Poll `look` until it returns Some, at most `aws.wait_limit`; a line on
/// stderr at each change and at least every minute (a CI step's no-output
/// timer sees progress). Ctrl-C ends it at once.
fn wait_for<T>(
    aws: &Aws,
    what: &str,
    mut look: impl FnMut() -> Result<(Option<T>, String)>,
) -> Result<T> {
    let start = Instant::now();
    let mut last_seen = String::new();
    let mut last_line = Instant::now();
    loop {
        let (done, seen) = look()?;
        if let Some(v) = done {
            return Ok(v);
        }
        let elapsed = start.elapsed();
        if seen != last_seen || last_line.elapsed() >= Duration::from_secs(60) {
            crate::ui::info(&format!(
                "aws sweep: {what}: {seen} ({}s)",
                elapsed.as_secs()
            ));
            last_seen = seen.clone();
            last_line = Instant::now();
        }
        if elapsed >= aws.wait_limit {
            bail!("{what}: still {seen} after {}s", elapsed.as_secs());
        }
        supervise::pause(aws.poll)?;
    }
}

fn ignore_missing(r: Result<Value>, missing: &[&str]) -> Result<()> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if error_code(&e).is_some_and(|c| missing.iter().any(|m| c.contains(m))) => Ok(()),
        Err(e) => Err(e),
    }
}

fn delete(aws: &Aws, l: &Leftover) -> Result<()> {
    let id = l.id.as_str();
    match l.kind {
        Kind::Instance => {
            ignore_missing(
                aws.call_s("ec2", "terminate-instances", &["--instance-ids", id]),
                &["InvalidInstanceID.NotFound"],
            )?;
            wait_for(aws, &format!("instance {id}"), || {
                let v = aws.call_s("ec2", "describe-instances", &["--instance-ids", id]);
                let state = match v {
                    Ok(v) => v
                        .pointer("/Reservations/0/Instances/0/State/Name")
                        .and_then(Value::as_str)
                        .unwrap_or("terminated")
                        .to_string(),
                    Err(e) if error_code(&e) == Some("InvalidInstanceID.NotFound") => {
                        "terminated".into()
                    }
                    Err(e) => return Err(e),
                };
                Ok(((state == "terminated").then_some(()), state))
            })
        }
        Kind::RedshiftCluster => delete_cluster(aws, id),
        Kind::RedshiftSubnetGroup => ignore_missing(
            aws.call_s(
                "redshift",
                "delete-cluster-subnet-group",
                &["--cluster-subnet-group-name", id],
            ),
            &["ClusterSubnetGroupNotFound"],
        ),
        Kind::RedshiftParameterGroup => ignore_missing(
            aws.call_s(
                "redshift",
                "delete-cluster-parameter-group",
                &["--parameter-group-name", id],
            ),
            &["ClusterParameterGroupNotFound"],
        ),
        Kind::KeyPair => {
            let flag = if id.starts_with("key-") {
                "--key-pair-id"
            } else {
                "--key-name"
            };
            ignore_missing(
                aws.call_s("ec2", "delete-key-pair", &[flag, id]),
                &["NotFound"],
            )
        }
        Kind::SecurityGroup => ignore_missing(
            aws.call_s("ec2", "delete-security-group", &["--group-id", id]),
            &["InvalidGroup.NotFound"],
        ),
        Kind::Subnet => ignore_missing(
            aws.call_s("ec2", "delete-subnet", &["--subnet-id", id]),
            &["InvalidSubnetID.NotFound"],
        ),
        Kind::RouteTable => {
            // Associations first (AWS drops a deleted subnet's association;
            // not every implementation does).
            match aws.call_s("ec2", "describe-route-tables", &["--route-table-ids", id]) {
                Ok(v) => {
                    for t in arr(&v, "RouteTables") {
                        for a in arr(t, "Associations") {
                            if a.get("Main") == Some(&Value::Bool(true)) {
                                continue;
                            }
                            ignore_missing(
                                aws.call_s(
                                    "ec2",
                                    "disassociate-route-table",
                                    &["--association-id", &s(a, "RouteTableAssociationId")],
                                ),
                                &["NotFound"],
                            )?;
                        }
                    }
                }
                Err(e) if error_code(&e) == Some("InvalidRouteTableID.NotFound") => return Ok(()),
                Err(e) => return Err(e),
            }
            ignore_missing(
                aws.call_s("ec2", "delete-route-table", &["--route-table-id", id]),
                &["InvalidRouteTableID.NotFound"],
            )
        }
        Kind::InternetGateway => {
            let vpcs: Vec<String> = match l.facts.get("vpcs") {
                Some(v) => v
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
                None => {
                    let v = aws.call_s(
                        "ec2",
                        "describe-internet-gateways",
                        &["--internet-gateway-ids", id],
                    )?;
                    arr(&v, "InternetGateways")
                        .iter()
                        .flat_map(|g| arr(g, "Attachments").iter().map(|a| s(a, "VpcId")))
                        .collect()
                }
            };
            for vpc in vpcs {
                ignore_missing(
                    aws.call_s(
                        "ec2",
                        "detach-internet-gateway",
                        &["--internet-gateway-id", id, "--vpc-id", &vpc],
                    ),
                    &["Gateway.NotAttached", "NotFound"],
                )?;
            }
            ignore_missing(
                aws.call_s(
                    "ec2",
                    "delete-internet-gateway",
                    &["--internet-gateway-id", id],
                ),
                &["InvalidInternetGatewayID.NotFound"],
            )
        }
        Kind::Vpc => ignore_missing(
            aws.call_s("ec2", "delete-vpc", &["--vpc-id", id]),
            &["InvalidVpcID.NotFound"],
        ),
        Kind::IamRole => delete_role(aws, id),
    }
}

/// Delete a cluster whatever state it is in: its scheduled actions first (a
/// pause must not start under us), a paused cluster resumed (DeleteCluster
/// refuses paused clusters), pausing/resuming/modifying ones waited out,
/// then deleted without a final snapshot and waited for until gone.
fn delete_cluster(aws: &Aws, id: &str) -> Result<()> {
    match aws.call_s(
        "redshift",
        "describe-scheduled-actions",
        &["--filters", &format!("Name=cluster-identifier,Values={id}")],
    ) {
        Ok(v) => {
            for a in arr(&v, "ScheduledActions") {
                let name = s(a, "ScheduledActionName");
                ignore_missing(
                    aws.call_s(
                        "redshift",
                        "delete-scheduled-action",
                        &["--scheduled-action-name", &name],
                    ),
                    &["ScheduledActionNotFound"],
                )?;
            }
        }
        // Not fatal: the state machine below copes with a pause anyway.
        Err(e) => crate::ui::warn(&format!(
            "aws sweep: scheduled actions of {id} not listed: {e:#}"
        )),
    }
    let mut resumed = false;
    let mut delete_sent = false;
    wait_for(aws, &format!("Redshift cluster {id}"), || {
        let status = match aws.call_s(
            "redshift",
            "describe-clusters",
            &["--cluster-identifier", id],
        ) {
            Ok(v) => v
                .pointer("/Clusters/0/ClusterStatus")
                .and_then(Value::as_str)
                .unwrap_or("gone")
                .to_string(),
            Err(e) if error_code(&e) == Some("ClusterNotFound") => "gone".into(),
            Err(e) => return Err(e),
        };
        match status.as_str() {
            "gone" => return Ok((Some(()), status)),
            "paused" if !resumed => {
                crate::ui::info(&format!(
                    "aws sweep: {id} is paused; resuming it so it can be deleted"
                ));
                aws.call_s("redshift", "resume-cluster", &["--cluster-identifier", id])?;
                resumed = true;
            }
            "available" if !delete_sent => {
                ignore_missing(
                    aws.call_s(
                        "redshift",
                        "delete-cluster",
                        &["--cluster-identifier", id, "--skip-final-cluster-snapshot"],
                    ),
                    &["ClusterNotFound"],
                )?;
                delete_sent = true;
            }
            _ => {} // pausing, resuming, modifying, deleting...: wait
        }
        Ok((None, status))
    })
}

fn delete_role(aws: &Aws, role: &str) -> Result<()> {
    let missing = &["NoSuchEntity"];
    let v = aws.call_s(
        "iam",
        "list-instance-profiles-for-role",
        &["--role-name", role],
    );
    let profiles = match v {
        Ok(v) => arr(&v, "InstanceProfiles")
            .iter()
            .map(|p| s(p, "InstanceProfileName"))
            .collect(),
        Err(e) if error_code(&e) == Some("NoSuchEntity") => return Ok(()),
        Err(e) => return Err(e),
    };
    let profiles: Vec<String> = profiles;
    for p in &profiles {
        ignore_missing(
            aws.call_s(
                "iam",
                "remove-role-from-instance-profile",
                &["--instance-profile-name", p, "--role-name", role],
            ),
            missing,
        )?;
        ignore_missing(
            aws.call_s(
                "iam",
                "delete-instance-profile",
                &["--instance-profile-name", p],
            ),
            missing,
        )?;
    }
    let v = aws.call_s("iam", "list-role-policies", &["--role-name", role])?;
    for name in arr(&v, "PolicyNames").iter().filter_map(Value::as_str) {
        ignore_missing(
            aws.call_s(
                "iam",
                "delete-role-policy",
                &["--role-name", role, "--policy-name", name],
            ),
            missing,
        )?;
    }
    let v = aws.call_s("iam", "list-attached-role-policies", &["--role-name", role])?;
    for p in arr(&v, "AttachedPolicies") {
        ignore_missing(
            aws.call_s(
                "iam",
                "detach-role-policy",
                &["--role-name", role, "--policy-arn", &s(p, "PolicyArn")],
            ),
            missing,
        )?;
    }
    ignore_missing(
        aws.call_s("iam", "delete-role", &["--role-name", role]),
        missing,
    )
}

// ------------------------------------------------- state-only destroy path

/// Inputs for `terraform apply -destroy` of terraform/aws when nothing of
/// the env is on this machine: every required variable with a value its
/// validation accepts, no key material and no key file (the module then
/// reads no local file), and the env's own names so that nothing would be
/// renamed. Values that only matter on create are placeholders.
pub fn destroy_placeholders(env: &str, owner: &str, expires_at: &str, region: &str) -> Value {
    json!({
        "env_name": env,
        "owner": owner,
        "expires_at": expires_at,
        "region": region,
        "ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlaceholderForDestroyOnly0000000000000000 destroy",
        "ssh_private_key_file": "/nonexistent/shadowops-destroy/id_ed25519",
        "ssh_host_key_public": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlaceholderForDestroyOnly0000000000000000",
        "warehouse_password": "Destroy-0nly-Placeholder",
        "operator_cidr": "192.0.2.1/32",
    })
}

/// Which backend terraform/aws is set up for, and whether the driver's
/// settings agree: SHADOWOPS_TF_BACKEND_CONFIG set needs the S3 override
/// installed (`scripts/aws-state-backend.sh s3`), and the override needs
/// the settings file, or init fails with an error that names neither.
pub fn check_backend_choice(module: &Path) -> Result<Option<PathBuf>> {
    let override_present = module.join("backend_override.tf").is_file();
    match (std::env::var_os("SHADOWOPS_TF_BACKEND_CONFIG"), override_present) {
        (Some(f), true) => {
            let f = PathBuf::from(f);
            if !f.is_file() {
                return Err(Failure::usage(format!(
                    "SHADOWOPS_TF_BACKEND_CONFIG={} does not exist",
                    f.display()
                )));
            }
            Ok(Some(f))
        }
        (None, false) => Ok(None),
        (Some(_), false) => Err(Failure::usage(format!(
            "SHADOWOPS_TF_BACKEND_CONFIG is set but {} declares local state: run scripts/aws-state-backend.sh s3 first",
            module.display()
        ))),
        (None, true) => Err(Failure::usage(format!(
            "{} uses the S3 backend (backend_override.tf) but SHADOWOPS_TF_BACKEND_CONFIG is not set: name the .s3.tfbackend file, or run scripts/aws-state-backend.sh local",
            module.display()
        ))),
    }
}

/// Destroy an env from its shared (S3) state on a machine that never ran
/// its `up`: `terraform init` with the team's partial backend configuration
/// and the env's key, then `apply -destroy` with [`destroy_placeholders`]
/// (a 0600 var file in `work`). Reads no local key file. Returns the number
/// of resources the state held before (0: nothing to do, no destroy run).
///
/// `tf_env`: extra environment for Terraform (TF_CLI_CONFIG_FILE...).
#[allow(clippy::too_many_arguments)]
pub fn destroy_from_shared_state(
    terraform: &Path,
    module: &Path,
    backend_config: &Path,
    owner: &str,
    env: &str,
    expires_at: &str,
    region: &str,
    work: &Path,
    tf_env: &[(String, String)],
    deadline: Duration,
) -> Result<usize> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(work)?;
    let tf = |args: &[String], deadline: Duration| -> Cmd {
        let mut c = Cmd::new(terraform)
            .arg(format!("-chdir={}", module.display()))
            .args(args)
            .env("TF_DATA_DIR", work.join(".terraform"))
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .env("AWS_REGION", region)
            .logs(
                work.join("terraform.log"),
                work.join("terraform.stderr.log"),
            )
            .deadline(deadline)
            // Terraform must get the time to release the state lock.
            .grace(Duration::from_secs(120));
        for (k, v) in tf_env {
            c = c.env(k, v);
        }
        c
    };
    let short = Duration::from_secs(300);
    supervise::run_ok(
        &tf(
            &[
                "init".into(),
                "-input=false".into(),
                "-no-color".into(),
                "-reconfigure".into(),
                format!("-backend-config={}", backend_config.display()),
                format!("-backend-config=key={}", state_key(owner, env)),
            ],
            short,
        ),
        |_, l| crate::ui::debug(l),
    )?;
    let listed = supervise::run_ok(
        &tf(&["state".into(), "list".into()], short).capture(),
        |_, _| {},
    )?;
    let count = listed
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    if count == 0 {
        return Ok(0);
    }
    let vars = work.join("destroy.tfvars.json");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&vars)?;
    std::io::Write::write_all(
        &mut f,
        serde_json::to_string_pretty(&destroy_placeholders(env, owner, expires_at, region))?
            .as_bytes(),
    )?;
    drop(f);
    supervise::run_ok(
        &tf(
            &[
                "apply".into(),
                "-destroy".into(),
                "-auto-approve".into(),
                "-input=false".into(),
                "-no-color".into(),
                "-lock-timeout=60s".into(),
                format!("-var-file={}", vars.display()),
            ],
            deadline,
        ),
        // Every line of Terraform's output is a heartbeat on stderr.
        |_, l| crate::ui::info(l),
    )?;
    Ok(count)
}

// ------------------------------------------------------------------- tests

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_id_matches_terraform() {
        // Values computed by terraform/aws/modules/names (check_aws_names.py
        // asserts the first from the Terraform side).
        assert_eq!(owner_id("circleci/shadowops"), "circleci-7a62");
        assert_eq!(owner_id("alice"), "alice-2bd8");
        assert_eq!(owner_id("Zoë Ødegård"), "zo-deg-r-e2dd");
        assert_eq!(owner_id("@@@"), "o-2ec8");
        assert_eq!(
            resource_prefix("alice", "demo"),
            "shadowops-alice-2bd8-demo"
        );
        assert_eq!(
            state_key("alice", "demo"),
            "shadowops/alice-2bd8/demo/terraform.tfstate"
        );
        let longest = resource_prefix(&"x".repeat(128), &"y".repeat(30));
        assert!(longest.len() <= 54, "{longest}");
    }

    #[test]
    fn regions_and_smtp() {
        assert!(valid_region("eu-west-1"));
        assert!(valid_region("us-gov-west-1"));
        assert!(!valid_region("Europe"));
        assert!(!valid_region("eu-west"));
        assert_eq!(
            default_smtp_host("us-east-2"),
            "email-smtp.us-east-2.amazonaws.com"
        );
    }

    #[test]
    fn arns_map_to_kinds() {
        let k = |a: &str| kind_of_arn(a);
        assert_eq!(
            k("arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc"),
            Some((Kind::Instance, "i-0abc".into()))
        );
        assert_eq!(
            k("arn:aws:redshift:eu-west-1:123456789012:cluster:shadowops-a-1234-x"),
            Some((Kind::RedshiftCluster, "shadowops-a-1234-x".into()))
        );
        assert_eq!(k("arn:aws:ec2:eu-west-1:123456789012:volume/vol-1"), None);
        assert!(
            Kind::Instance < Kind::RedshiftCluster
                && Kind::SecurityGroup < Kind::Vpc
                && Kind::Vpc < Kind::IamRole
        );
    }

    #[test]
    fn verdicts() {
        let now = humantime::parse_rfc3339("2026-12-01T12:00:00Z").unwrap();
        let t = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let m = Duration::from_secs(600);
        assert!(matches!(
            verdict(&t(&[("expires_at", "2026-12-01T11:00:00Z")]), now, m),
            Verdict::Expired
        ));
        // inside the margin: the env's own reaper may still be at work
        assert!(matches!(
            verdict(&t(&[("expires_at", "2026-12-01T11:55:00Z")]), now, m),
            Verdict::Unexpired
        ));
        assert!(matches!(
            verdict(&t(&[("expires_at", "soon")]), now, m),
            Verdict::NoDeadline
        ));
        assert!(matches!(
            verdict(
                &t(&[("expires_at", "2000-01-01T00:00:00Z"), (BAKED_TAG, "true")]),
                now,
                m
            ),
            Verdict::NoDeadline
        ));
    }

    #[test]
    fn backend_choice_must_agree() {
        let dir = tempfile::tempdir().unwrap();
        std::env::remove_var("SHADOWOPS_TF_BACKEND_CONFIG");
        assert!(check_backend_choice(dir.path()).unwrap().is_none());
        std::fs::write(dir.path().join("backend_override.tf"), "").unwrap();
        assert!(check_backend_choice(dir.path()).is_err());
    }

    /// The placeholders pass every variable validation of terraform/aws
    /// (checked by the real Terraform on a scratch copy of variables.tf).
    #[test]
    #[ignore = "needs terraform; run by make test"]
    fn destroy_placeholders_pass_the_modules_validations() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            repo.join("terraform/aws/variables.tf"),
            dir.path().join("variables.tf"),
        )
        .unwrap();
        let vars = dir.path().join("v.tfvars.json");
        std::fs::write(
            &vars,
            destroy_placeholders(
                "ci-1234",
                "circleci/shadowops",
                "2026-11-28T01:00:00Z",
                "eu-west-1",
            )
            .to_string(),
        )
        .unwrap();
        let tf = |args: &[&str]| {
            std::process::Command::new("terraform")
                .arg(format!("-chdir={}", dir.path().display()))
                .args(args)
                .env("TF_CLI_CONFIG_FILE", repo.join("terraform/cli.tfrc"))
                .env("CHECKPOINT_DISABLE", "1")
                .env("TF_DATA_DIR", dir.path().join(".tf"))
                .output()
                .unwrap()
        };
        assert!(tf(&["init", "-backend=false", "-no-color"])
            .status
            .success());
        let plan = tf(&[
            "plan",
            "-no-color",
            &format!("-var-file={}", vars.display()),
        ]);
        assert!(
            plan.status.success(),
            "{}",
            String::from_utf8_lossy(&plan.stderr)
        );
    }

    // ---- against moto (a local AWS API emulator on 127.0.0.1) ----

    pub(super) struct Moto {
        child: std::process::Child,
        pub url: String,
    }

    impl Drop for Moto {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Start moto_server (PyPI moto[server], pinned in
    /// requirements/aws-emulator.txt; scripts/setup-aws.sh installs it into
    /// .venv/moto) on a free port of 127.0.0.1.
    pub(super) fn moto() -> Moto {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let bin = std::env::var_os("SHADOWOPS_MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo.join(".venv/moto/bin/moto_server"));
        assert!(
            bin.is_file(),
            "{} missing: run scripts/setup-aws.sh",
            bin.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "moto did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { child, url }
    }

    /// Credentials for the emulator only; set for the whole test process
    /// (tests using moto run one at a time: see `lock`).
    pub(super) fn emulator_env(url: &str) {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::remove_var("AWS_SESSION_TOKEN");
        std::env::remove_var("AWS_PROFILE");
        std::env::set_var("AWS_CONFIG_FILE", "/dev/null");
        std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
        std::env::set_var("AWS_REGION", "eu-west-1");
        std::env::set_var("AWS_ENDPOINT_URL", url);
    }

    pub(super) fn lock() -> std::sync::MutexGuard<'static, ()> {
        static L: std::sync::Mutex<()> = std::sync::Mutex::new(());
        L.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn tag_list(env: &str, owner: &str, expires_at: Option<&str>) -> Vec<(String, String)> {
        let mut t = vec![
            ("env".to_string(), env.to_string()),
            ("owner".to_string(), owner.to_string()),
        ];
        t.push((MANAGED_BY_KEY.into(), MANAGED_BY_VALUE.into()));
        if let Some(e) = expires_at {
            t.push(("expires_at".into(), e.into()));
        }
        t
    }

    fn spec(rt: &str, tags: &[(String, String)]) -> String {
        let inner: Vec<String> = tags
            .iter()
            .map(|(k, v)| format!("{{Key={k},Value={v}}}"))
            .collect();
        format!("ResourceType={rt},Tags=[{}]", inner.join(","))
    }

    fn kv(tags: &[(String, String)]) -> Vec<String> {
        tags.iter()
            .map(|(k, v)| format!("Key={k},Value={v}"))
            .collect()
    }

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

    fn make_env(aws: &Aws, env: &str, owner: &str, expires_at: Option<&str>, cidr2: u8) -> Made {
        let tags = tag_list(env, owner, expires_at);
        let prefix = resource_prefix(owner, env);
        let c = |svc: &str, op: &str, args: Vec<String>| aws.call(svc, op, &args).unwrap();
        let vpc = c(
            "ec2",
            "create-vpc",
            vec![
                "--cidr-block".into(),
                format!("10.{cidr2}.0.0/16"),
                "--tag-specifications".into(),
                spec("vpc", &tags),
            ],
        );
        let vpc = s(&vpc["Vpc"], "VpcId");
        let igw = c(
            "ec2",
            "create-internet-gateway",
            vec![
                "--tag-specifications".into(),
                spec("internet-gateway", &tags),
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
                    spec("subnet", &tags),
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
                spec("route-table", &tags),
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
        let host_sg = c(
            "ec2",
            "create-security-group",
            vec![
                "--group-name".into(),
                format!("{prefix}-host"),
                "--description".into(),
                "host".into(),
                "--vpc-id".into(),
                vpc.clone(),
                "--tag-specifications".into(),
                spec("security-group", &tags),
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
                vpc.clone(),
                "--tag-specifications".into(),
                spec("security-group", &tags),
            ],
        );
        let wh_sg = s(&wh_sg, "GroupId");
        // The warehouse admits 5439 from the host's group: a cross-group rule.
        c("ec2", "authorize-security-group-ingress", vec!["--group-id".into(), wh_sg.clone(), "--ip-permissions".into(), json!([{"IpProtocol": "tcp", "FromPort": 5439, "ToPort": 5439, "UserIdGroupPairs": [{"GroupId": host_sg}]}]).to_string()]);
        let key = c(
            "ec2",
            "create-key-pair",
            vec![
                "--key-name".into(),
                prefix.clone(),
                "--tag-specifications".into(),
                spec("key-pair", &tags),
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
                subnets[0].clone(),
                "--security-group-ids".into(),
                host_sg.clone(),
                "--key-name".into(),
                key.clone(),
                "--tag-specifications".into(),
                spec("instance", &tags),
            ],
        );
        let instance = s(&inst["Instances"][0], "InstanceId");
        let mut args = vec![
            "--cluster-subnet-group-name".into(),
            prefix.clone(),
            "--description".into(),
            "private".into(),
            "--subnet-ids".into(),
        ];
        args.extend(subnets.clone());
        args.push("--tags".into());
        args.extend(kv(&tags));
        c("redshift", "create-cluster-subnet-group", args);
        let mut args: Vec<String> = vec![
            "--cluster-identifier".into(),
            prefix.clone(),
            "--node-type".into(),
            "ra3.large".into(),
            "--cluster-type".into(),
            "single-node".into(),
            "--master-username".into(),
            "shadow".into(),
            "--master-user-password".into(),
            "Emulat0r-only".into(),
            "--cluster-subnet-group-name".into(),
            prefix.clone(),
            "--vpc-security-group-ids".into(),
            wh_sg.clone(),
            "--tags".into(),
        ];
        args.extend(kv(&tags));
        c("redshift", "create-cluster", args);
        let role = format!("{prefix}-host");
        let mut args: Vec<String> = vec!["--role-name".into(), role.clone(), "--assume-role-policy-document".into(), json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}).to_string(), "--tags".into()];
        args.extend(kv(&tags));
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
            Kind::SecurityGroup => {
                aws.call_s("ec2", "describe-security-groups", &["--group-ids", id])
            }
            Kind::Subnet => aws.call_s("ec2", "describe-subnets", &["--subnet-ids", id]),
            Kind::RouteTable => {
                aws.call_s("ec2", "describe-route-tables", &["--route-table-ids", id])
            }
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
    /// The state-only destroy path: an env applied on "machine A" with its
    /// state in S3 (moto), destroyed from "machine B" that has nothing of
    /// it but the team's backend settings. Uses terraform/aws's real
    /// variables, backend.tf and S3 override around a provider-free fixture
    /// (terraform_data), so the partial backend configuration, the per-env
    /// key, S3-native locking and the placeholder inputs are the real ones.
    #[test]
    #[ignore = "needs moto and terraform; run by make test"]
    fn state_only_destroy_from_shared_s3_state() {
        let _l = lock();
        let server = moto();
        emulator_env(&server.url);
        let aws = Aws::from_env().unwrap();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let tmp = tempfile::tempdir().unwrap();
        let module = tmp.path().join("module");
        std::fs::create_dir_all(&module).unwrap();
        for f in ["variables.tf", "backend.tf"] {
            std::fs::copy(repo.join("terraform/aws").join(f), module.join(f)).unwrap();
        }
        std::fs::copy(
            repo.join("terraform/aws/backends/s3/backend_override.tf"),
            module.join("backend_override.tf"),
        )
        .unwrap();
        std::fs::write(
            module.join("main.tf"),
            r#"
variable "marker" {
  type    = string
  default = ""
}
resource "terraform_data" "a" {
  input = var.env_name
}
resource "terraform_data" "b" {
  input = { marker = var.marker }
  provisioner "local-exec" {
    when        = destroy
    command     = "touch \"$M\""
    environment = { M = self.input.marker }
  }
}
"#,
        )
        .unwrap();
        assert!(
            check_backend_choice(&module).is_err(),
            "override present, no settings file"
        );

        aws.call_s(
            "s3api",
            "create-bucket",
            &[
                "--bucket",
                "team-state",
                "--create-bucket-configuration",
                "LocationConstraint=eu-west-1",
            ],
        )
        .unwrap();
        let backend = tmp.path().join("team.s3.tfbackend");
        std::fs::write(
            &backend,
            format!(
                "bucket       = \"team-state\"\nregion       = \"eu-west-1\"\nencrypt      = true\nuse_lockfile = true\n\
                 # emulator only:\nendpoints = {{ s3 = \"{}\" }}\nuse_path_style = true\nskip_credentials_validation = true\n\
                 skip_requesting_account_id = true\nskip_metadata_api_check = true\n",
                server.url
            ),
        )
        .unwrap();
        let (owner, env, expires) = ("alice", "demo", "2026-01-01T00:00:00Z");
        let key = state_key(owner, env);
        let cli_cfg = repo.join("terraform/cli.tfrc");
        let tf_env = vec![(
            "TF_CLI_CONFIG_FILE".to_string(),
            cli_cfg.display().to_string(),
        )];

        // Machine A: init with the team's settings and the env's key, apply.
        let a = tmp.path().join("machine-a");
        std::fs::create_dir_all(&a).unwrap();
        let marker = tmp.path().join("destroy-ran");
        let vars = a.join("in.tfvars.json");
        std::fs::write(
            &vars,
            destroy_placeholders(env, owner, expires, "eu-west-1").to_string(),
        )
        .unwrap();
        let tf = |dir: &Path, args: &[String]| {
            let out = std::process::Command::new("terraform")
                .arg(format!("-chdir={}", module.display()))
                .args(args)
                .env("TF_DATA_DIR", dir.join(".terraform"))
                .env("TF_CLI_CONFIG_FILE", &cli_cfg)
                .env("CHECKPOINT_DISABLE", "1")
                .env("TF_IN_AUTOMATION", "1")
                .output()
                .unwrap();
            (
                out.status.success(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            )
        };
        let init: Vec<String> = vec![
            "init".into(),
            "-no-color".into(),
            format!("-backend-config={}", backend.display()),
            format!("-backend-config=key={key}"),
        ];
        let (ok, out) = tf(&a, &init);
        assert!(ok, "{out}");
        let (ok, out) = tf(
            &a,
            &[
                "apply".into(),
                "-auto-approve".into(),
                "-no-color".into(),
                format!("-var-file={}", vars.display()),
                format!("-var=marker={}", marker.display()),
            ],
        );
        assert!(ok, "{out}");
        let listed = aws
            .call_s("s3api", "list-objects-v2", &["--bucket", "team-state"])
            .unwrap();
        let keys: Vec<String> = arr(&listed, "Contents")
            .iter()
            .map(|o| s(o, "Key"))
            .collect();
        assert_eq!(
            keys,
            vec![key.clone()],
            "state under the per-owner, per-env key; no lock left behind"
        );

        // S3-native locking: with the lock object present, Terraform refuses.
        let body = tmp.path().join("lock.json");
        std::fs::write(
            &body,
            r#"{"ID":"held-by-test","Operation":"OperationTypeApply","Who":"test"}"#,
        )
        .unwrap();
        let lock_key = format!("{key}.tflock");
        aws.call(
            "s3api",
            "put-object",
            &[
                "--bucket".into(),
                "team-state".into(),
                "--key".into(),
                lock_key.clone(),
                "--body".into(),
                body.display().to_string(),
            ],
        )
        .unwrap();
        let (ok, out) = tf(
            &a,
            &[
                "plan".into(),
                "-no-color".into(),
                "-lock-timeout=0s".into(),
                format!("-var-file={}", vars.display()),
            ],
        );
        assert!(
            !ok && out.contains("Error acquiring the state lock"),
            "{out}"
        );
        aws.call_s(
            "s3api",
            "delete-object",
            &["--bucket", "team-state", "--key", &lock_key],
        )
        .unwrap();

        // Machine B: nothing of the env, only the team's backend settings.
        std::env::set_var("SHADOWOPS_TF_BACKEND_CONFIG", &backend);
        assert_eq!(
            check_backend_choice(&module).unwrap().as_deref(),
            Some(backend.as_path())
        );
        std::env::remove_var("SHADOWOPS_TF_BACKEND_CONFIG");
        let b = tmp.path().join("machine-b");
        let n = destroy_from_shared_state(
            Path::new("terraform"),
            &module,
            &backend,
            owner,
            env,
            expires,
            "eu-west-1",
            &b,
            &tf_env,
            Duration::from_secs(300),
        )
        .unwrap();
        assert_eq!(n, 2, "the state held both resources");
        assert!(
            marker.exists(),
            "the destroy-time provisioner ran from the state's values"
        );
        let perms = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(b.join("destroy.tfvars.json"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(perms & 0o777, 0o600);
        // Another machine now finds an empty state: nothing to do.
        let c = tmp.path().join("machine-c");
        let n = destroy_from_shared_state(
            Path::new("terraform"),
            &module,
            &backend,
            owner,
            env,
            expires,
            "eu-west-1",
            &c,
            &tf_env,
            Duration::from_secs(300),
        )
        .unwrap();
        assert_eq!(n, 0);
        // Bob's `demo` is another state: untouched keys of other owners.
        assert_ne!(state_key("bob", env), key);
    }

    /// The warehouse module's destroy-time script, with the real AWS CLI
    /// against moto: a paused cluster is resumed, an available one left as is.
    #[test]
    #[ignore = "needs moto; run by make test"]
    fn resume_script_against_moto() {
        let _l = lock();
        let server = moto();
        emulator_env(&server.url);
        let aws = Aws::from_env().unwrap();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        aws.call_s(
            "redshift",
            "create-cluster",
            &[
                "--cluster-identifier",
                "shadowops-a-1234-x",
                "--node-type",
                "ra3.large",
                "--cluster-type",
                "single-node",
                "--master-username",
                "shadow",
                "--master-user-password",
                "Emulat0r-only",
            ],
        )
        .unwrap();
        aws.call_s(
            "redshift",
            "pause-cluster",
            &["--cluster-identifier", "shadowops-a-1234-x"],
        )
        .unwrap();
        let script =
            repo.join("terraform/aws/modules/warehouse/files/redshift-ready-for-delete.sh");
        let run = |id: &str| {
            std::process::Command::new(&script)
                .arg(id)
                .env("SHADOWOPS_AWS_CLI", &aws.bin)
                .env("AWS_DEFAULT_REGION", "eu-west-1")
                .env("SHADOWOPS_REDSHIFT_POLL", "1")
                .env("SHADOWOPS_REDSHIFT_WAIT", "60")
                .output()
                .unwrap()
        };
        let out = run("shadowops-a-1234-x");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("resuming"), "{text}");
        let v = aws
            .call_s(
                "redshift",
                "describe-clusters",
                &["--cluster-identifier", "shadowops-a-1234-x"],
            )
            .unwrap();
        assert_eq!(
            v.pointer("/Clusters/0/ClusterStatus")
                .and_then(Value::as_str),
            Some("available")
        );
        let out = run("shadowops-gone-0000-x");
        assert!(
            out.status.success(),
            "a missing cluster is fine: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
