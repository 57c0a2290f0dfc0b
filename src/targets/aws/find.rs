//! Finding expired shadowops resources: the Tagging API, then each
//! service's own tag-filtered describe calls ([`find_expired`]).

use super::sweep::{
    arr, kind_of_arn, ours, s, tags_of, verdict, Kind, Leftover, SweepReport, Verdict,
};
use super::{Aws, BAKED_TAG, MANAGED_BY_KEY, MANAGED_BY_VALUE};
use anyhow::Result;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

/// What the Tagging API listed: kind, ID and tags.
type Tagged = (Kind, String, BTreeMap<String, String>);

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
        let seen_arns = self.tagging_api()?;
        // 2. The services' own describe calls, filtered by the same tag: the
        //    facts each delete needs, and what the Tagging API does not list
        //    (IAM is global; some emulators list only EC2).
        self.instances_and_groups(&filter);
        self.network(&filter);
        self.key_pairs(&filter);
        self.redshift();
        self.iam_roles();
        self.tagging_api_only(seen_arns);

        let mut report = self.report;
        report.expired = self.found.into_values().collect(); // BTreeMap: Kind order
        Ok(report)
    }

    /// Step 1: the Resource Groups Tagging API: (kind, id, tags) of what
    /// the sweep handles; the rest is noted in the report.
    fn tagging_api(&mut self) -> Result<Vec<Tagged>> {
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
        Ok(seen_arns)
    }

    /// Instances (not terminated ones) and security groups (not the VPC's default).
    fn instances_and_groups(&mut self, filter: &str) {
        let v = self.describe(
            Some(Kind::Instance),
            "ec2",
            "describe-instances",
            &["--filters", filter],
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
            &["--filters", filter],
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
    }

    /// Subnets, route tables (not a VPC's main table), internet gateways, VPCs.
    fn network(&mut self, filter: &str) {
        let v = self.describe(
            Some(Kind::Subnet),
            "ec2",
            "describe-subnets",
            &["--filters", filter],
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
            &["--filters", filter],
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
            &["--filters", filter],
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
            &["--filters", filter],
        );
        for x in arr(&v, "Vpcs") {
            self.consider(
                Kind::Vpc,
                &s(x, "VpcId"),
                &tags_of(&x["Tags"]),
                BTreeMap::new(),
            );
        }
    }

    fn key_pairs(&mut self, filter: &str) {
        let v = self.describe(None, "ec2", "describe-key-pairs", &["--filters", filter]);
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
    }

    /// Clusters (with their status), subnet groups and parameter groups.
    fn redshift(&mut self) {
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
    }

    fn iam_roles(&mut self) {
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
    }

    fn tagging_api_only(&mut self, seen_arns: Vec<Tagged>) {
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
