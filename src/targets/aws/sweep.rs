//! The tag sweep's vocabulary (what it deletes, in which order; what it
//! found and did; what a resource's tags say) and [`sweep`] itself: find
//! (find.rs), then delete in order (delete.rs).

use super::delete::{delete, revoke_group_refs};
use super::{find_expired, Aws, BAKED_TAG, MANAGED_BY_KEY, MANAGED_BY_VALUE};
use crate::error::Failure;
use crate::supervise;
use anyhow::Result;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

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

    /// Human-readable lines: what `reap --target aws` prints.
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

pub(super) fn tags_of(v: &Value) -> BTreeMap<String, String> {
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

pub(super) fn ours(tags: &BTreeMap<String, String>) -> bool {
    tags.get(MANAGED_BY_KEY).map(String::as_str) == Some(MANAGED_BY_VALUE)
}

/// What a leftover's tags say: expired, not yet, or no usable deadline.
pub(super) enum Verdict {
    Expired,
    Unexpired,
    NoDeadline,
}

pub(super) fn verdict(
    tags: &BTreeMap<String, String>,
    now: SystemTime,
    margin: Duration,
) -> Verdict {
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

pub(super) fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub(super) fn s(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

/// The kind and ID an ARN from the Tagging API names, if the sweep handles it.
pub(super) fn kind_of_arn(arn: &str) -> Option<(Kind, String)> {
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
