//! The driver's real code paths (vars → terraform init/apply -json → output →
//! contract) against the tf-contract fixture module, with the real terraform.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn provision_records_events_and_hands_off_a_valid_contract() {
    let sb = Sandbox::fixture();
    let r = sb.run(&[
        "up",
        "--env",
        "hand",
        "--until",
        "provision",
        "--ttl",
        "10m",
    ]);
    r.expect(0);
    let dir = sb.env_dir("hand");
    let state = json(&std::fs::read_to_string(dir.join("env.json")).unwrap());
    assert_eq!(state["status"], "provisioned");
    assert!(
        state["phases"]["provision"]["digest"]
            .as_str()
            .unwrap()
            .len()
            == 64
    );
    // Inputs: typed tfvars (no secret) + 0600 secrets file; keys 0600.
    let tfvars = json(&std::fs::read_to_string(dir.join("terraform.tfvars.json")).unwrap());
    assert_eq!(tfvars["env_name"], "hand");
    assert!(tfvars.get("warehouse_password").is_none());
    assert_eq!(mode(&dir.join("secrets/secrets.tfvars.json")), 0o600);
    assert_eq!(mode(&dir.join("keys/id_ed25519")), 0o600);
    assert_eq!(mode(&dir.join("contract.json")), 0o600);
    // Run record: the raw event stream and a summary with per-phase durations.
    let run = latest_run(&sb.env_dir("hand")).unwrap();
    let events = std::fs::read_to_string(run.join("terraform-apply.jsonl")).unwrap();
    assert!(events
        .lines()
        .any(|l| l.contains("\"apply_complete\"") && l.contains("terraform_data.warehouse")));
    let summary = json(&std::fs::read_to_string(run.join("summary.json")).unwrap());
    assert_eq!(summary["outcome"], "ok");
    let phases: Vec<&str> = summary["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["vars", "provision", "handoff", "lease"]);
    // Progress names each resource.
    assert!(r.stderr.contains("terraform_data.network"), "{}", r.stderr);

    // status explains it; the reaper is armed.
    let s = json(
        &sb.run(&["status", "--env", "hand", "--json"])
            .expect(0)
            .stdout,
    );
    assert_eq!(s["status"], "provisioned");
    assert_eq!(s["reaper"]["alive"], true);
    assert_eq!(s["resources"].as_array().unwrap().len(), 2);
    assert!(s["time_left_s"].as_u64().unwrap() > 500);

    // plan reads the recorded inputs; nothing to change.
    let plan = sb.run(&["plan", "--env", "hand"]);
    plan.expect(0);
    assert!(plan.stdout.contains("No changes"), "{}", plan.stdout);
    let list = sb.run(&["list"]);
    assert!(
        list.expect(0).stdout.contains("hand") && list.stdout.contains("provisioned"),
        "{}",
        list.stdout
    );

    // A second up changes nothing in Terraform: no apply in the new run.
    let r2 = sb.run(&[
        "up",
        "--env",
        "hand",
        "--until",
        "provision",
        "--ttl",
        "10m",
    ]);
    r2.expect(0);
    assert!(
        r2.stderr.contains("skipping terraform apply"),
        "{}",
        r2.stderr
    );
    assert!(!latest_run(&sb.env_dir("hand"))
        .unwrap()
        .join("terraform-apply.jsonl")
        .exists());

    // destroy twice: both succeed; only the records remain.
    sb.run(&["destroy", "--env", "hand"]).expect(0);
    sb.run(&["destroy", "--env", "hand"]).expect(0);
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    for name in &left {
        assert!(
            ["env.json", "runs", "lock"].contains(&name.as_str()),
            "left behind: {name} in {left:?}"
        );
    }
    let s = json(
        &sb.run(&["status", "--env", "hand", "--json"])
            .expect(0)
            .stdout,
    );
    assert_eq!(s["status"], "destroyed");
    assert_eq!(s["reaper"]["alive"], false);
}

#[test]
fn a_missing_contract_field_is_named_with_exit_11() {
    let mut sb = Sandbox::fixture();
    sb.set("TF_VAR_drop_output_field", "airflow")
        .set("TF_VAR_ssh_port_as_string", "true");
    let r = sb.run(&["up", "--env", "contract", "--until", "provision"]);
    r.expect(11);
    assert!(r.stderr.contains("shadow.airflow: missing"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("shadow.host.ssh_port: expected port number, got string"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("terraform/local"), "{}", r.stderr);
    assert!(r.stderr.contains("handoff failed"), "{}", r.stderr);
    let s = json(
        &sb.run(&["status", "--env", "contract", "--json"])
            .expect(0)
            .stdout,
    );
    assert_eq!(s["last_failure"]["phase"], "handoff");
    sb.run(&["destroy", "--env", "contract"]).expect(0);
}

#[test]
fn a_wrong_contract_version_is_refused_with_exit_11() {
    let mut sb = Sandbox::fixture();
    sb.set("TF_VAR_contract_version", "2");
    let r = sb.run(&["up", "--env", "version", "--until", "provision"]);
    r.expect(11);
    assert!(
        r.stderr.contains("speaks version 1, the module outputs 2"),
        "{}",
        r.stderr
    );
    sb.run(&["destroy", "--env", "version"]).expect(0);
}

#[test]
fn a_failing_resource_is_reported_kept_resumed_and_destroyed() {
    let mut sb = Sandbox::fixture();
    sb.set("TF_VAR_fail_resource", "true");
    let r = sb.run(&["up", "--env", "partial", "--until", "provision"]);
    r.expect(10);
    for want in [
        "provision failed",
        "terraform_data.warehouse",
        "local-exec provisioner error",
        "terraform-apply.jsonl",
        "shadowops up --env partial",
        "shadowops destroy --env partial",
    ] {
        assert!(r.stderr.contains(want), "missing {want:?}:\n{}", r.stderr);
    }
    // status: failed in provision, one resource in state (the partial env).
    let s = json(
        &sb.run(&["status", "--env", "partial", "--json"])
            .expect(0)
            .stdout,
    );
    assert_eq!(s["status"], "failed");
    assert_eq!(s["last_failure"]["phase"], "provision");
    let resources: Vec<&str> = s["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        resources.contains(&"terraform_data.network"),
        "{resources:?}"
    );
    // logs shows the full event stream of that phase.
    let logs = sb.run(&["logs", "--env", "partial", "--phase", "provision"]);
    logs.expect(0);
    assert!(
        logs.stdout.contains("\"diagnostic\"") && logs.stdout.contains("terraform_data.warehouse")
    );

    // Fixed: up resumes and re-applies (the failed phase is redone).
    let mut fixed = Sandbox {
        dir: sb.dir,
        assets: sb.assets.clone(),
        envs: Vec::new(),
    };
    fixed.set("TF_VAR_fail_resource", "false");
    fixed
        .run(&["up", "--env", "partial", "--until", "provision"])
        .expect(0);
    fixed.run(&["destroy", "--env", "partial"]).expect(0);
}

#[test]
fn a_transient_cloud_error_is_retried_a_permanent_one_is_not() {
    // The first apply is throttled (RequestLimitExceeded): it runs again and
    // the env comes up; each attempt keeps its own log.
    let mut sb = Sandbox::fixture();
    sb.set("TF_VAR_transient_failures", "1")
        .set("SHADOWOPS_TF_RETRY_DELAY", "1s");
    let r = sb.run(&["up", "--env", "throttled", "--until", "provision"]);
    r.expect(0);
    assert!(
        r.stderr.contains(
            "transient cloud error (RequestLimitExceeded); running it again in 1s (attempt 2 of 3)"
        ),
        "{}",
        r.stderr
    );
    let run = latest_run(&sb.env_dir("throttled")).unwrap();
    assert!(run.join("terraform-apply.jsonl").exists());
    assert!(run.join("terraform-apply.2.jsonl").exists());
    assert!(!run.join("terraform-apply.3.jsonl").exists());
    sb.run(&["destroy", "--env", "throttled"]).expect(0);

    // Throttled more often than the retries allow: exit 10, and the report
    // says so and points at the last attempt's log.
    let mut sb = Sandbox::fixture();
    sb.set("TF_VAR_transient_failures", "5")
        .set("SHADOWOPS_TF_RETRIES", "1")
        .set("SHADOWOPS_TF_RETRY_DELAY", "1s");
    let r = sb.run(&["up", "--env", "throttled", "--until", "provision"]);
    r.expect(10);
    for want in [
        "terraform_data.warehouse",
        "RequestLimitExceeded",
        "terraform ran 2 times",
        "terraform-apply.2.jsonl",
    ] {
        assert!(r.stderr.contains(want), "missing {want:?}:\n{}", r.stderr);
    }
    sb.run(&["destroy", "--env", "throttled"]).expect(0);

    // A permanent error (the injected provisioner failure) runs once.
    let mut sb = Sandbox::fixture();
    sb.set("TF_VAR_fail_resource", "true")
        .set("SHADOWOPS_TF_RETRY_DELAY", "1s");
    let r = sb.run(&["up", "--env", "broken", "--until", "provision"]);
    r.expect(10);
    assert!(!r.stderr.contains("transient"), "{}", r.stderr);
    assert!(!latest_run(&sb.env_dir("broken"))
        .unwrap()
        .join("terraform-apply.2.jsonl")
        .exists());
    sb.run(&["destroy", "--env", "broken"]).expect(0);

    // A bad retry setting is refused before anything runs.
    let mut sb = Sandbox::fixture();
    sb.set("SHADOWOPS_TF_RETRIES", "lots");
    let r = sb.run(&["up", "--env", "badretry", "--until", "provision"]);
    r.expect(2);
    assert!(
        r.stderr.contains("SHADOWOPS_TF_RETRIES=\"lots\""),
        "{}",
        r.stderr
    );
    assert!(!sb.env_dir("badretry").exists());
}

#[test]
fn fake_terraform_failure_report_has_address_summary_detail_and_log() {
    // Fault injection: a terraform that fails apply the way a cloud does.
    let mut sb = Sandbox::fixture();
    let fake = sb.dir.path().join("terraform");
    std::fs::write(
        &fake,
        r#"#!/bin/sh
case "$*" in
  *"version -json"*) echo '{"terraform_version":"1.11.4"}' ;;
  *" init "*) echo "Terraform has been successfully initialized!" ;;
  *" apply "*)
    echo '{"@level":"info","type":"apply_start","hook":{"resource":{"addr":"aws_redshift_cluster.this"},"action":"create"}}'
    echo '{"@level":"error","type":"diagnostic","diagnostic":{"severity":"error","summary":"creating Redshift Cluster: ClusterQuotaExceeded","detail":"You have reached the maximum number of clusters in this account.","address":"aws_redshift_cluster.this","range":{"filename":"modules/warehouse/main.tf","start":{"line":42}}}}'
    exit 1 ;;
  *) exit 0 ;;
esac
"#,
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    sb.set("SHADOWOPS_TERRAFORM", fake.to_str().unwrap());
    let r = sb.run(&["up", "--env", "fake", "--until", "provision", "--json"]);
    r.expect(10);
    for want in [
        "aws_redshift_cluster.this",
        "ClusterQuotaExceeded",
        "maximum number of clusters",
        "modules/warehouse/main.tf:42",
        "terraform-apply.jsonl",
    ] {
        assert!(r.stderr.contains(want), "missing {want:?}:\n{}", r.stderr);
    }
    let v = json(&r.stdout);
    assert_eq!(v["failure"]["phase"], "provision");
    assert_eq!(v["failure"]["exit_code"], 10);
    assert_eq!(
        v["failure"]["details"][0]["address"],
        "aws_redshift_cluster.this"
    );
    assert!(v["failure"]["log"]
        .as_str()
        .unwrap()
        .ends_with("terraform-apply.jsonl"));
}

#[test]
fn ci_failure_destroys_the_env_and_keeps_the_records() {
    let mut sb = Sandbox::fixture();
    sb.set("TF_VAR_fail_resource", "true");
    let mut c = sb.cmd(&["up", "--env", "cifail", "--until", "provision"]);
    c.env("CI", "true");
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(10));
    let s = json(
        &sb.run(&["status", "--env", "cifail", "--json"])
            .expect(0)
            .stdout,
    );
    assert_eq!(s["status"], "destroyed");
    let logs = sb.run(&["logs", "--env", "cifail", "--list"]);
    assert!(
        logs.stdout.contains("up failed") && logs.stdout.contains("destroy ok"),
        "{}",
        logs.stdout
    );
}

#[test]
fn secrets_never_reach_output_records_or_argv() {
    let mut sb = Sandbox::fixture();
    // A terraform wrapper that records every argv and environment it gets.
    let argv_log = sb.dir.path().join("argv.log");
    let real = which_terraform();
    let wrapper = sb.dir.path().join("terraform-wrapper");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$0 $*\" >> {log}\nenv >> {log}\nexec {real} \"$@\"\n",
            log = argv_log.display(),
            real = real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    sb.set("SHADOWOPS_TERRAFORM", wrapper.to_str().unwrap());
    let mut all_out = String::new();
    for args in [
        vec!["up", "--env", "sec", "--until", "provision", "--json"],
        vec!["status", "--env", "sec", "--json"],
        vec!["inventory", "--env", "sec"],
        vec!["logs", "--env", "sec"],
        vec!["list", "--json"],
    ] {
        let r = sb.run(&args);
        r.expect(0);
        all_out.push_str(&r.stdout);
        all_out.push_str(&r.stderr);
    }
    let dir = sb.env_dir("sec");
    let password = std::fs::read_to_string(dir.join("secrets/warehouse-password"))
        .unwrap()
        .trim()
        .to_string();
    let airflow = std::fs::read_to_string(dir.join("secrets/airflow-admin-password"))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(password.len(), 32);
    for secret in [&password, &airflow] {
        assert!(
            !all_out.contains(secret.as_str()),
            "a secret reached stdout/stderr"
        );
        assert!(
            !std::fs::read_to_string(&argv_log)
                .unwrap()
                .contains(secret.as_str()),
            "a secret reached a child's argv/env"
        );
        for f in files_under(&dir.join("runs")) {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            assert!(
                !text.contains(secret.as_str()),
                "a secret is in the run record {}",
                f.display()
            );
        }
    }
    // Where secrets do live, only the owner can read them.
    for f in [
        "secrets/warehouse-password",
        "secrets/airflow-admin-password",
        "secrets/secrets.tfvars.json",
        "contract.json",
    ] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    assert!(
        all_out.contains("********"),
        "inventory shows masked secrets"
    );
    sb.run(&["destroy", "--env", "sec"]).expect(0);
}

#[test]
fn ctrl_c_during_apply_stops_terraform_records_interrupted_and_destroy_works() {
    let mut sb = Sandbox::fixture();
    sb.set("TF_VAR_slow_seconds", "30");
    let child = sb
        .cmd(&["up", "--env", "intr", "--until", "provision"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until terraform is inside the slow resource.
    let state = sb.env_dir("intr").join("env.json");
    let start = std::time::Instant::now();
    loop {
        let s = std::fs::read_to_string(&state).unwrap_or_default();
        if s.contains("\"provisioning\"") {
            break;
        }
        assert!(start.elapsed().as_secs() < 60, "never reached provisioning");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // Inside the slow resource: its apply_start event is in the run's log.
    let env_dir = sb.env_dir("intr");
    assert!(wait_for(std::time::Duration::from_secs(60), || {
        latest_run(&env_dir)
            .and_then(|r| std::fs::read_to_string(r.join("terraform-apply.jsonl")).ok())
            .is_some_and(|log| {
                log.lines()
                    .any(|l| l.contains("apply_start") && l.contains("terraform_data.network"))
            })
    }));
    nix_kill(child.id(), 2);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        start.elapsed().as_secs() < 30,
        "interrupt did not stop the apply"
    );
    let s = json(&std::fs::read_to_string(&state).unwrap());
    assert_eq!(s["interrupted"], true);
    assert_eq!(s["status"], "interrupted");
    // Terraform released its lock: destroy runs at once.
    sb.envs.clear();
    sb.run(&["destroy", "--env", "intr"]).expect(0);
}

fn nix_kill(pid: u32, sig: i32) {
    std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
}

fn which_terraform() -> std::path::PathBuf {
    for dir in path_with_venv().split(':') {
        let p = std::path::Path::new(dir).join("terraform");
        if p.is_file() {
            return p;
        }
    }
    panic!("terraform not found on PATH (make tools)");
}
