//! `prune-images --target aws`: the AMIs `bake --target aws` made (tag
//! `shadowops:baked=true`, owned by this account, of this owner), newest
//! first; all but the newest `keep` are deregistered and their EBS snapshots
//! deleted (a deregistered AMI's snapshots go on costing money otherwise).
//! The AMI recorded for `up --image baked` in this region is always kept.

use super::Aws;
use anyhow::Result;
use serde_json::Value;

/// One baked AMI.
#[derive(Debug, Clone, PartialEq)]
pub struct BakedAmi {
    pub id: String,
    pub name: String,
    pub created: String,
    pub snapshots: Vec<String>,
}

/// This owner's baked AMIs in the region, newest first.
pub fn baked_amis(aws: &Aws, owner: &str) -> Result<Vec<BakedAmi>> {
    let out = aws.call_s(
        "ec2",
        "describe-images",
        &[
            "--owners",
            "self",
            "--filters",
            "Name=tag:shadowops:baked,Values=true",
            &format!("Name=tag:owner,Values={owner}"),
        ],
    )?;
    let mut amis: Vec<BakedAmi> = out["Images"]
        .as_array()
        .map(|a| a.iter().map(parse).collect())
        .unwrap_or_default();
    // Newest first; the name (it carries the bake's time) breaks ties.
    amis.sort_by(|a, b| (&b.created, &b.name).cmp(&(&a.created, &a.name)));
    Ok(amis)
}

fn parse(img: &Value) -> BakedAmi {
    let s = |k: &str| img[k].as_str().unwrap_or("").to_string();
    BakedAmi {
        id: s("ImageId"),
        name: s("Name"),
        created: s("CreationDate"),
        snapshots: img["BlockDeviceMappings"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(|d| d["Ebs"]["SnapshotId"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Which AMIs go: all but the newest `keep`, never `in_use`.
pub fn to_prune<'a>(amis: &'a [BakedAmi], keep: usize, in_use: Option<&str>) -> Vec<&'a BakedAmi> {
    amis.iter()
        .skip(keep)
        .filter(|a| Some(a.id.as_str()) != in_use)
        .collect()
}

/// Deregister each AMI, then delete its snapshots. Returns what went.
pub fn prune(aws: &Aws, amis: &[&BakedAmi]) -> Result<Vec<String>> {
    let mut gone = Vec::new();
    for a in amis {
        aws.call_s("ec2", "deregister-image", &["--image-id", &a.id])?;
        for snap in &a.snapshots {
            aws.call_s("ec2", "delete-snapshot", &["--snapshot-id", snap])?;
        }
        gone.push(a.id.clone());
    }
    Ok(gone)
}
