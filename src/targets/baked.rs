//! Which baked host image exists for `up --image baked`: the recipe stamp a
//! local image is tagged with, and the AMI of the last AWS bake.

use crate::error::Failure;
use crate::paths;
use anyhow::Result;
use std::path::PathBuf;

/// The software stamp: what the image is made of. A new playbook, base
/// image recipe or Airflow constraints file means a new tag (`up --image
/// auto` never uses an image of another stamp; `up --image baked` warns that
/// the image it has is older).
pub fn recipe_stamp(assets: &std::path::Path) -> String {
    let stamp = crate::digest::Hasher::new()
        .tree(&assets.join("ansible"))
        .tree(&assets.join("images"))
        .tree(&assets.join("constraints"))
        .finish();
    stamp[..12].to_string()
}

/// Where `bake --target aws` records its AMI: `<ami-id> <region>`.
pub fn baked_ami_file() -> PathBuf {
    paths::cache().join("baked-host-ami")
}

/// The AMI of the last `bake --target aws`, if it was made in `region`
/// (an AMI is regional).
pub fn baked_ami(region: &str) -> Result<String> {
    baked_ami_in(&baked_ami_file(), region)
}

fn baked_ami_in(f: &std::path::Path, region: &str) -> Result<String> {
    let text = std::fs::read_to_string(f).map_err(|_| {
        Failure::usage(format!(
            "no baked AMI yet ({} missing): run `shadowops bake --target aws --allow-cidr CIDR` first",
            f.display()
        ))
    })?;
    let mut parts = text.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(ami), Some(r)) if r == region => Ok(ami.to_string()),
        (Some(ami), Some(r)) => Err(Failure::usage(format!(
            "the baked AMI {ami} is in {r}, not in {region} (AWS_REGION); bake again in {region}"
        ))),
        _ => Err(Failure::usage(format!(
            "{} is not `<ami-id> <region>`; run `shadowops bake --target aws` again",
            f.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_baked_ami_must_be_in_the_region_in_use() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("baked-host-ami");
        let missing = baked_ami_in(&f, "eu-west-1").unwrap_err().to_string();
        assert!(
            missing.contains("run `shadowops bake --target aws"),
            "{missing}"
        );
        std::fs::write(&f, "ami-0123456789abcdef0 eu-west-1\n").unwrap();
        assert_eq!(
            baked_ami_in(&f, "eu-west-1").unwrap(),
            "ami-0123456789abcdef0"
        );
        let other = baked_ami_in(&f, "us-east-1").unwrap_err().to_string();
        assert!(
            other.contains("is in eu-west-1, not in us-east-1"),
            "{other}"
        );
        std::fs::write(&f, "garbage").unwrap();
        assert!(baked_ami_in(&f, "eu-west-1").is_err());
    }
}
