//! The state-only destroy from shared S3 state, and the warehouse's
//! resume-before-delete script, against moto.

use super::super::shared_state::destroy_placeholders;
use super::super::sweep::{arr, s};
use super::super::*;
use super::emulator::{emulator_env, lock, moto};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A provider-free module around terraform/aws's real variables.tf,
/// backend.tf and S3 override: two terraform_data resources, one with a
/// destroy-time provisioner that touches `var.marker`.
fn fixture_module(repo: &Path, tmp: &Path) -> PathBuf {
    fixture_module_with(repo, tmp, "")
}

/// [`fixture_module`] plus `extra` HCL (outputs, more resources).
pub(super) fn fixture_module_with(repo: &Path, tmp: &Path, extra: &str) -> PathBuf {
    let module = tmp.join("module");
    std::fs::create_dir_all(&module).unwrap();
    for f in ["variables.tf", "backend.tf"] {
        std::fs::copy(repo.join("terraform/aws").join(f), module.join(f)).unwrap();
    }
    std::fs::copy(
        repo.join("terraform/aws/backends/s3/backend_override.tf"),
        module.join("backend_override.tf"),
    )
    .unwrap();
    std::fs::write(
        module.join("main.tf"),
        r#"
variable "marker" {
  type    = string
  default = ""
}
resource "terraform_data" "a" {
  input = var.env_name
}
resource "terraform_data" "b" {
  input = { marker = var.marker }
  provisioner "local-exec" {
when        = destroy
command     = "touch \"$M\""
environment = { M = self.input.marker }
  }
}
"#
        .to_string()
            + extra,
    )
    .unwrap();
    assert!(
        check_backend_choice(&module).is_err(),
        "override present, no settings file"
    );
    module
}

/// A bucket in moto and the team's partial backend settings pointing at it.
pub(super) fn team_backend(aws: &Aws, tmp: &Path, url: &str) -> PathBuf {
    aws.call_s(
        "s3api",
        "create-bucket",
        &[
            "--bucket",
            "team-state",
            "--create-bucket-configuration",
            "LocationConstraint=eu-west-1",
        ],
    )
    .unwrap();
    let backend = tmp.join("team.s3.tfbackend");
    std::fs::write(
        &backend,
        format!(
            "bucket       = \"team-state\"\nregion       = \"eu-west-1\"\nencrypt      = true\nuse_lockfile = true\n\
             # emulator only:\nendpoints = {{ s3 = \"{}\" }}\nuse_path_style = true\nskip_credentials_validation = true\n\
             skip_requesting_account_id = true\nskip_metadata_api_check = true\n",
            url
        ),
    )
    .unwrap();
    backend
}

/// `terraform -chdir=MODULE ARGS` with DIR's data directory: (ok, output).
pub(super) fn tf(module: &Path, cli_cfg: &Path, dir: &Path, args: &[String]) -> (bool, String) {
    let out = std::process::Command::new("terraform")
        .arg(format!("-chdir={}", module.display()))
        .args(args)
        .env("TF_DATA_DIR", dir.join(".terraform"))
        .env("TF_CLI_CONFIG_FILE", cli_cfg)
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Machine A: init with the team's settings and the env's key, apply; the
/// state lands under the per-owner, per-env key. Returns (machine A's
/// directory, its var file, the marker the destroy-time provisioner makes).
pub(super) fn machine_a_applies(
    aws: &Aws,
    module: &Path,
    backend: &Path,
    cli_cfg: &Path,
    tmp: &Path,
    (owner, env, expires): (&str, &str, &str),
) -> (PathBuf, PathBuf, PathBuf) {
    let key = state_key(owner, env);
    // Machine A: init with the team's settings and the env's key, apply.
    let a = tmp.join("machine-a");
    std::fs::create_dir_all(&a).unwrap();
    let marker = tmp.join("destroy-ran");
    let vars = a.join("in.tfvars.json");
    std::fs::write(
        &vars,
        destroy_placeholders(env, owner, expires, "eu-west-1").to_string(),
    )
    .unwrap();
    let init: Vec<String> = vec![
        "init".into(),
        "-no-color".into(),
        format!("-backend-config={}", backend.display()),
        format!("-backend-config=key={key}"),
    ];
    let (ok, out) = tf(module, cli_cfg, &a, &init);
    assert!(ok, "{out}");
    let (ok, out) = tf(
        module,
        cli_cfg,
        &a,
        &[
            "apply".into(),
            "-auto-approve".into(),
            "-no-color".into(),
            format!("-var-file={}", vars.display()),
            format!("-var=marker={}", marker.display()),
        ],
    );
    assert!(ok, "{out}");
    let listed = aws
        .call_s("s3api", "list-objects-v2", &["--bucket", "team-state"])
        .unwrap();
    let keys: Vec<String> = arr(&listed, "Contents")
        .iter()
        .map(|o| s(o, "Key"))
        .collect();
    assert_eq!(
        keys,
        vec![key.clone()],
        "state under the per-owner, per-env key; no lock left behind"
    );
    (a, vars, marker)
}

/// S3-native locking: with the lock object present, Terraform refuses.
fn lock_is_honoured(
    aws: &Aws,
    module: &Path,
    cli_cfg: &Path,
    tmp: &Path,
    a: &Path,
    vars: &Path,
    key: &str,
) {
    // S3-native locking: with the lock object present, Terraform refuses.
    let body = tmp.join("lock.json");
    std::fs::write(
        &body,
        r#"{"ID":"held-by-test","Operation":"OperationTypeApply","Who":"test"}"#,
    )
    .unwrap();
    let lock_key = format!("{key}.tflock");
    aws.call(
        "s3api",
        "put-object",
        &[
            "--bucket".into(),
            "team-state".into(),
            "--key".into(),
            lock_key.clone(),
            "--body".into(),
            body.display().to_string(),
        ],
    )
    .unwrap();
    let (ok, out) = tf(
        module,
        cli_cfg,
        a,
        &[
            "plan".into(),
            "-no-color".into(),
            "-lock-timeout=0s".into(),
            format!("-var-file={}", vars.display()),
        ],
    );
    assert!(
        !ok && out.contains("Error acquiring the state lock"),
        "{out}"
    );
    aws.call_s(
        "s3api",
        "delete-object",
        &["--bucket", "team-state", "--key", &lock_key],
    )
    .unwrap();
}

/// The state-only destroy path: an env applied on "machine A" with its
/// state in S3 (moto), destroyed from "machine B" that has nothing of
/// it but the team's backend settings. Uses terraform/aws's real
/// variables, backend.tf and S3 override around a provider-free fixture
/// (terraform_data), so the partial backend configuration, the per-env
/// key, S3-native locking and the placeholder inputs are the real ones.
#[test]
#[ignore = "needs moto and terraform; run by make test"]
fn state_only_destroy_from_shared_s3_state() {
    let _l = lock();
    let server = moto();
    emulator_env(&server.url);
    let aws = Aws::from_env().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let module = fixture_module(repo, tmp.path());
    let backend = team_backend(&aws, tmp.path(), &server.url);
    let (owner, env, expires) = ("alice", "demo", "2026-01-01T00:00:00Z");
    let key = state_key(owner, env);
    let cli_cfg = repo.join("terraform/cli.tfrc");
    let tf_env = vec![(
        "TF_CLI_CONFIG_FILE".to_string(),
        cli_cfg.display().to_string(),
    )];
    let (a, vars, marker) = machine_a_applies(
        &aws,
        &module,
        &backend,
        &cli_cfg,
        tmp.path(),
        (owner, env, expires),
    );
    lock_is_honoured(&aws, &module, &cli_cfg, tmp.path(), &a, &vars, &key);

    // Machine B: nothing of the env, only the team's backend settings.
    std::env::set_var("SHADOWOPS_TF_BACKEND_CONFIG", &backend);
    assert_eq!(
        check_backend_choice(&module).unwrap().as_deref(),
        Some(backend.as_path())
    );
    std::env::remove_var("SHADOWOPS_TF_BACKEND_CONFIG");
    let b = tmp.path().join("machine-b");
    let n = destroy_from_shared_state(
        Path::new("terraform"),
        &module,
        &backend,
        owner,
        env,
        expires,
        "eu-west-1",
        &b,
        &tf_env,
        Duration::from_secs(300),
        None,
        existing::Waits::default(),
    )
    .unwrap();
    assert_eq!(n, 2, "the state held both resources");
    assert!(
        marker.exists(),
        "the destroy-time provisioner ran from the state's values"
    );
    let perms = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(b.join("destroy.tfvars.json"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(perms & 0o777, 0o600);
    // Another machine now finds an empty state: nothing to do.
    let c = tmp.path().join("machine-c");
    let n = destroy_from_shared_state(
        Path::new("terraform"),
        &module,
        &backend,
        owner,
        env,
        expires,
        "eu-west-1",
        &c,
        &tf_env,
        Duration::from_secs(300),
        None,
        existing::Waits::default(),
    )
    .unwrap();
    assert_eq!(n, 0);
    // Bob's `demo` is another state: untouched keys of other owners.
    assert_ne!(state_key("bob", env), key);
}

/// The warehouse module's destroy-time script, with the real AWS CLI
/// against moto: a paused cluster is resumed, an available one left as is.
#[test]
#[ignore = "needs moto; run by make test"]
fn resume_script_against_moto() {
    let _l = lock();
    let server = moto();
    emulator_env(&server.url);
    let aws = Aws::from_env().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    aws.call_s(
        "redshift",
        "create-cluster",
        &[
            "--cluster-identifier",
            "shadowops-a-1234-x",
            "--node-type",
            "ra3.large",
            "--cluster-type",
            "single-node",
            "--master-username",
            "shadow",
            "--master-user-password",
            "Emulat0r-only",
        ],
    )
    .unwrap();
    aws.call_s(
        "redshift",
        "pause-cluster",
        &["--cluster-identifier", "shadowops-a-1234-x"],
    )
    .unwrap();
    let script = repo.join("terraform/aws/modules/warehouse/files/redshift-ready-for-delete.sh");
    let run = |id: &str| {
        std::process::Command::new(&script)
            .arg(id)
            .env("SHADOWOPS_AWS_CLI", &aws.bin)
            .env("AWS_DEFAULT_REGION", "eu-west-1")
            .env("SHADOWOPS_REDSHIFT_POLL", "1")
            .env("SHADOWOPS_REDSHIFT_WAIT", "60")
            .output()
            .unwrap()
    };
    let out = run("shadowops-a-1234-x");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("resuming"), "{text}");
    let v = aws
        .call_s(
            "redshift",
            "describe-clusters",
            &["--cluster-identifier", "shadowops-a-1234-x"],
        )
        .unwrap();
    assert_eq!(
        v.pointer("/Clusters/0/ClusterStatus")
            .and_then(Value::as_str),
        Some("available")
    );
    let out = run("shadowops-gone-0000-x");
    assert!(
        out.status.success(),
        "a missing cluster is fine: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
