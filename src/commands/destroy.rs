//! `destroy`: wait for a running command on the env, then tear it down
//! (teardown.rs). With `--target aws --owner OWNER` and no local env
//! directory: destroy the env from the team's shared state
//! (targets/aws/shared_state.rs).

use crate::cli::Target;
use crate::env::{self, EnvDir};
use crate::error::Failure;
use crate::targets::aws;
use crate::teardown;
use crate::ui;
use anyhow::Result;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

pub fn run(raw: &str, json: bool, target: Option<Target>, owner: Option<&str>) -> Result<i32> {
    let name = env::parse_name(raw)?;
    let dir = EnvDir::new(&env::home()?, name);
    if !dir.root.exists() {
        if target == Some(Target::Aws) {
            let req =
                shared_state_request(raw, owner, std::env::var_os("SHADOWOPS_TF_BACKEND_CONFIG"))?;
            return from_shared_state(raw, json, &req);
        }
        teardown::report_json(json, raw, "absent");
        ui::info(&format!("env {raw}: nothing to destroy"));
        return Ok(0);
    }
    // Wait for a running `up` (it may be mid-apply) rather than race it.
    let lock = dir.lock(Duration::from_secs(900))?;
    teardown::destroy_locked(&dir, lock, json, false)
}

/// What a destroy from shared state needs, checked before anything runs.
#[derive(Debug)]
pub struct SharedStateRequest {
    pub owner: String,
    pub backend_config: PathBuf,
}

/// An env with no local directory can only be destroyed from a shared
/// backend: the owner (part of its state key) and the team's backend
/// settings file must both be given, or it is a usage error (exit 2).
pub fn shared_state_request(
    env: &str,
    owner: Option<&str>,
    backend_config: Option<OsString>,
) -> Result<SharedStateRequest> {
    let Some(backend_config) = backend_config.filter(|f| !f.is_empty()) else {
        return Err(Failure::usage(format!(
            "env {env} has no directory here: destroy --target aws needs SHADOWOPS_TF_BACKEND_CONFIG \
             (the team's .s3.tfbackend file, docs/aws.md) to destroy it from shared state"
        )));
    };
    // The same owner `up` would record here, unless someone else's env is meant.
    let owner = owner.map(str::to_string).unwrap_or_else(env::default_owner);
    Ok(SharedStateRequest {
        owner,
        backend_config: PathBuf::from(backend_config),
    })
}

/// `terraform init` with the team's settings and the env's key, then
/// `apply -destroy` with placeholder inputs; logs (and Terraform's data
/// directory) in `$SHADOWOPS_HOME/shared-state/<owner id>-<env>/`.
fn from_shared_state(env: &str, json: bool, req: &SharedStateRequest) -> Result<i32> {
    let assets = crate::paths::assets()?;
    let module = assets.join("terraform").join(Target::Aws.as_str());
    // The override and the settings file must agree (and the file exist).
    let backend = aws::check_backend_choice(&module)?.unwrap_or_else(|| req.backend_config.clone());
    let tools = crate::tools::require(Target::Aws, false)?;
    let region = aws::resolve_region(aws::find_cli().as_deref())?;
    let mut tf_env = crate::terraform::env_vars(Target::Aws, &assets);
    tf_env.push((
        "TF_CLI_CONFIG_FILE".into(),
        assets.join("terraform/cli.tfrc").display().to_string(),
    ));
    let work = env::home()?
        .join("shared-state")
        .join(format!("{}-{env}", aws::owner_id(&req.owner)));
    let deadline =
        crate::supervise::deadline_from_env("SHADOWOPS_TF_TIMEOUT", Duration::from_secs(3600))?;
    ui::phase(
        "destroy",
        &format!(
            "env {env} of {} from shared state (key {}, resources {}-*, region {region})",
            req.owner,
            aws::state_key(&req.owner, env),
            aws::resource_prefix(&req.owner, env)
        ),
    );
    let count = aws::destroy_from_shared_state(
        &tools.terraform,
        &module,
        &backend,
        &req.owner,
        env,
        &crate::lease::rfc3339(SystemTime::now()),
        &region,
        &work,
        &tf_env,
        deadline,
        // Needed only for an env with a database in a team's warehouse.
        aws::Aws::from_env().ok().as_ref(),
        aws::existing::Waits::default(),
    )?;
    if count == 0 {
        teardown::report_json(json, env, "absent");
        ui::info(&format!(
            "env {env} of {}: the shared state holds nothing; nothing to destroy",
            req.owner
        ));
    } else {
        teardown::report_json(json, env, "destroyed");
        ui::ok(&format!(
            "env {env} of {} destroyed from shared state ({count} resources); logs in {}",
            req.owner,
            work.display()
        ));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_state_destroy_needs_the_backend_config_and_defaults_the_owner() {
        let e = shared_state_request("demo", Some("alice"), None).unwrap_err();
        let f = e.downcast_ref::<Failure>().expect("a typed failure");
        assert_eq!(f.exit_code(), crate::error::EXIT_USAGE);
        assert!(f.to_string().contains("SHADOWOPS_TF_BACKEND_CONFIG"), "{f}");
        // An empty value is no value.
        assert!(shared_state_request("demo", Some("alice"), Some("".into())).is_err());
        // Without --owner: the owner `up` records on this machine.
        let mine = shared_state_request("demo", None, Some("/t/team.s3.tfbackend".into())).unwrap();
        assert_eq!(mine.owner, env::default_owner());
        let ok = shared_state_request("demo", Some("alice"), Some("/t/team.s3.tfbackend".into()))
            .unwrap();
        assert_eq!(ok.owner, "alice");
        assert_eq!(ok.backend_config, PathBuf::from("/t/team.s3.tfbackend"));
    }
}
