//! Terraform as an env uses it: the target's module, the env's state and
//! recorded var files, and the environment its children get.

use crate::cli::Target;
use crate::env::EnvDir;
use crate::targets::{aws, local};

/// The AWS region envs are made in, as the vars phase resolves it
/// (AWS_REGION, AWS_DEFAULT_REGION, the profile's region), else eu-west-1.
pub fn aws_region() -> String {
    aws::resolve_region(aws::find_cli().as_deref()).unwrap_or_else(|_| "eu-west-1".into())
}

/// The env's state key in a shared backend: per owner and env on aws (two
/// people's `demo` envs never share a state), per env on local.
pub fn state_key(target: Target, owner: &str, env: &str) -> String {
    match target {
        Target::Aws => aws::state_key(owner, env),
        Target::Local => format!("shadowops/{env}/terraform.tfstate"),
    }
}

/// Environment every Terraform child gets besides the runner's defaults.
pub fn env_vars(target: Target, assets: &std::path::Path) -> Vec<(String, String)> {
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
    if target == Target::Aws {
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
        // The warehouse's destroy-time provisioner resumes a paused cluster
        // with the AWS CLI: found also outside `make` (which puts .venv/bin
        // on PATH).
        if let Some(cli) = aws::find_cli() {
            v.push(("SHADOWOPS_AWS_CLI".to_string(), cli.display().to_string()));
        }
    }
    v
}

/// Terraform for an existing env: its target's module, its state and the
/// var files it recorded (destroy, plan, status and extend use the same).
pub fn for_env(
    dir: &EnvDir,
    target: Target,
    bin: std::path::PathBuf,
    assets: &std::path::Path,
) -> super::Terraform {
    // The owner `up` recorded (part of the aws state key).
    let owner = dir
        .load_state()
        .ok()
        .flatten()
        .map(|s| s.owner)
        .unwrap_or_default();
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
        target,
        state_key: state_key(target, &owner, dir.name.as_str()),
    }
}
