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
//! Called by `reap --target aws` (commands/reap.rs), `destroy --target aws
//! --owner` without a local env directory (commands/destroy.rs), Terraform's
//! init for the aws target (terraform/run.rs) and the vars phase.
//!
//! Files: this one (tags, names, region, the CLI client); `sweep.rs` (the
//! report and the sweep's order), `find.rs` (finding expired resources),
//! `delete.rs` (deleting one of each kind); `shared_state.rs` (the
//! state-only destroy); `tests/` (unit tests and the moto tests).

use crate::error::Failure;
use crate::supervise::{self, Cmd, Finished};
use anyhow::{Context, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

mod delete;
pub mod existing;
mod find;
pub mod images;
mod shared_state;
mod sweep;
#[cfg(test)]
mod tests;

pub use find::find_expired;
pub use shared_state::{check_backend_choice, destroy_from_shared_state};
pub use sweep::sweep;

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

    pub(crate) fn call_s(&self, service: &str, op: &str, args: &[&str]) -> Result<Value> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        self.call(service, op, &args)
    }
}

pub(crate) fn error_code(e: &anyhow::Error) -> Option<&str> {
    e.downcast_ref::<AwsError>().map(|a| a.code.as_str())
}
