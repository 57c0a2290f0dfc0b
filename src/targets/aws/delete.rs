//! Deleting one expired resource of each [`Kind`], whatever state it is
//! in; waits bounded by `Aws::wait_limit`, with a line on stderr at every
//! change and every minute.

use super::sweep::{arr, s, Kind, Leftover};
use super::{error_code, Aws};
use crate::supervise;
use anyhow::{bail, Result};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Revoke what ties `group` to other groups so it can be deleted: its own
/// rules that admit other groups, and rules of *other* groups (a team's
/// warehouse group under `--warehouse existing`, untagged and not ours)
/// that admit it, only those pairs, leaving the rest of those groups alone.
pub(super) fn revoke_group_refs(aws: &Aws, group: &str) -> Result<()> {
    let referencing = aws.call_s(
        "ec2",
        "describe-security-groups",
        &[
            "--filters",
            &format!("Name=ip-permission.group-id,Values={group}"),
        ],
    )?;
    for g in arr(&referencing, "SecurityGroups") {
        let other = s(g, "GroupId");
        if other == group {
            continue;
        }
        let perms: Vec<Value> = arr(g, "IpPermissions")
            .iter()
            .filter_map(|p| {
                let pairs: Vec<Value> = arr(p, "UserIdGroupPairs")
                    .iter()
                    .filter(|pair| s(pair, "GroupId") == group)
                    .map(|pair| serde_json::json!({"GroupId": group, "UserId": pair.get("UserId")}))
                    .map(|mut pair| {
                        if pair["UserId"].is_null() {
                            pair.as_object_mut().unwrap().remove("UserId");
                        }
                        pair
                    })
                    .collect();
                if pairs.is_empty() {
                    return None;
                }
                let mut only = serde_json::Map::new();
                for k in ["IpProtocol", "FromPort", "ToPort"] {
                    if let Some(v) = p.get(k) {
                        only.insert(k.into(), v.clone());
                    }
                }
                only.insert("UserIdGroupPairs".into(), Value::Array(pairs));
                Some(Value::Object(only))
            })
            .collect();
        if !perms.is_empty() {
            crate::ui::info(&format!(
                "aws sweep: revoking {other}'s rule(s) admitting {group}"
            ));
            aws.call(
                "ec2",
                "revoke-security-group-ingress",
                &[
                    "--group-id".into(),
                    other,
                    "--ip-permissions".into(),
                    Value::Array(perms).to_string(),
                ],
            )?;
        }
    }
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

pub(super) fn delete(aws: &Aws, l: &Leftover) -> Result<()> {
    let id = l.id.as_str();
    match l.kind {
        Kind::Instance => delete_instance(aws, id),
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
        Kind::KeyPair => delete_key_pair(aws, id),
        Kind::SecurityGroup => ignore_missing(
            aws.call_s("ec2", "delete-security-group", &["--group-id", id]),
            &["InvalidGroup.NotFound"],
        ),
        Kind::Subnet => ignore_missing(
            aws.call_s("ec2", "delete-subnet", &["--subnet-id", id]),
            &["InvalidSubnetID.NotFound"],
        ),
        Kind::RouteTable => delete_route_table(aws, id),
        Kind::InternetGateway => delete_internet_gateway(aws, l),
        Kind::Vpc => ignore_missing(
            aws.call_s("ec2", "delete-vpc", &["--vpc-id", id]),
            &["InvalidVpcID.NotFound"],
        ),
        Kind::IamRole => delete_role(aws, id),
    }
}

/// Terminate an instance and wait until it is terminated.
fn delete_instance(aws: &Aws, id: &str) -> Result<()> {
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
            Err(e) if error_code(&e) == Some("InvalidInstanceID.NotFound") => "terminated".into(),
            Err(e) => return Err(e),
        };
        Ok(((state == "terminated").then_some(()), state))
    })
}

/// By ID (`key-...`, as the Tagging API names it) or by name.
fn delete_key_pair(aws: &Aws, id: &str) -> Result<()> {
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

/// Its (non-main) associations first, then the table.
fn delete_route_table(aws: &Aws, id: &str) -> Result<()> {
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

/// Detached from its VPCs (known from the find, else looked up), then deleted.
fn delete_internet_gateway(aws: &Aws, l: &Leftover) -> Result<()> {
    let id = l.id.as_str();
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
