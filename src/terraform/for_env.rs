//! Terraform as an env uses it: the target's module, the env's state and
//! recorded var files, and the environment its children get.

use crate::env::EnvDir;
use crate::targets::local;

/// Environment every Terraform child gets besides the runner's defaults.
/// The AWS region envs are made in: `AWS_REGION`, else eu-west-1.
pub fn aws_region() -> String {
    std::env::var("AWS_REGION").unwrap_or_else(|_| "eu-west-1".into())
}

pub fn env_vars(target: crate::cli::Target, assets: &std::path::Path) -> Vec<(String, String)> {
    let mut v = vec![
        (
            "CONTAINERS_CONF".to_string(),
            local::containers_conf(assets).display().to_string(),
        ),
        (
            "SHADOWOPS_CACHE".to_string(),
            crate::paths::cache().display().to_string(),
        ),
    ];
    if target == crate::cli::Target::Aws {
        for k in [
            "AWS_PROFILE",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
        ] {
            if let Ok(val) = std::env::var(k) {
                v.push((k.to_string(), val));
            }
        }
    }
    v
}

/// Terraform for an existing env: its target's module, its state and the
/// var files it recorded (destroy, plan, status and extend use the same).
pub fn for_env(
    dir: &EnvDir,
    target: crate::cli::Target,
    bin: std::path::PathBuf,
    assets: &std::path::Path,
) -> super::Terraform {
    super::Terraform {
        bin,
        module: assets.join("terraform").join(target.as_str()),
        tf_dir: dir.tf_dir(),
        var_files: [
            dir.tfvars(),
            dir.secret_tfvars(),
            dir.root.join("extra.tfvars.json"),
        ]
        .into_iter()
        .filter(|f| f.exists())
        .collect(),
        extra_env: env_vars(target, assets),
    }
}
