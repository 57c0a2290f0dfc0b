//! The state-only destroy path: an env destroyed from its shared (S3)
//! state on a machine that never ran its `up`, reading no local key file.

use super::existing::{self, EnvDatabase};
use super::{state_key, Aws};
use crate::error::Failure;
use crate::supervise::{self, Cmd};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

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
/// (a 0600 var file in `work`). Reads no local key file. An env with a
/// database in a team's warehouse (output `existing_warehouse`) has it
/// dropped through `aws` first; if that fails nothing is destroyed. Returns the number
/// of resources the state held before (0: nothing to do, no destroy run).
///
/// `tf_env`: extra environment for Terraform (TF_CLI_CONFIG_FILE...).
// Twelve plain inputs, each named at the one call site (commands/destroy.rs)
// and in the test; a struct for them would only repeat the names.
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
    aws: Option<&Aws>,
    waits: existing::Waits,
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
    // --warehouse existing: the env's database in the team's warehouse goes
    // first, while the state still says where it is (teardown.rs explains
    // the order). The output holds secrets: captured, never logged.
    let outputs = supervise::run_ok(
        &tf(&["output".into(), "-json".into()], short).capture(),
        |_, _| {},
    )?;
    let outputs: Value = serde_json::from_str(outputs.stdout.trim())
        .context("terraform output -json is not JSON")?;
    if let Some(v) = outputs
        .get("existing_warehouse")
        .and_then(|o| o.get("value"))
    {
        if let Some(db) = EnvDatabase::from_output(&v.to_string())? {
            let aws = aws.context(
                "the env has a database in a team's warehouse: dropping it needs the AWS CLI (scripts/setup-aws.sh)",
            )?;
            crate::ui::info(&format!(
                "  warehouse: dropping database {} and login {}",
                db.database.as_str(),
                db.user.as_str()
            ));
            existing::remove(aws, &db, env, waits).map_err(|e| {
                if matches!(e.downcast_ref::<Failure>(), Some(Failure::Interrupted)) {
                    return e; // Ctrl-C stays an interruption (exit 130)
                }
                existing::DropFailed {
                    database: db.database.as_str().to_string(),
                    cause: format!("{e:#}"),
                }
                .into()
            })?;
        }
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
