//! Names, regions, ARNs, verdicts, the backend choice and the destroy
//! placeholders: no emulator needed (one test needs Terraform).

use super::super::shared_state::destroy_placeholders;
use super::super::sweep::{kind_of_arn, verdict, Kind, Verdict};
use super::super::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

#[test]
fn owner_id_matches_terraform() {
    // Values computed by terraform/aws/modules/names (check_aws_names.py
    // asserts the first from the Terraform side).
    assert_eq!(owner_id("circleci/shadowops"), "circleci-7a62");
    assert_eq!(owner_id("alice"), "alice-2bd8");
    assert_eq!(owner_id("Zoë Ødegård"), "zo-deg-r-e2dd");
    assert_eq!(owner_id("@@@"), "o-2ec8");
    assert_eq!(
        resource_prefix("alice", "demo"),
        "shadowops-alice-2bd8-demo"
    );
    assert_eq!(
        state_key("alice", "demo"),
        "shadowops/alice-2bd8/demo/terraform.tfstate"
    );
    let longest = resource_prefix(&"x".repeat(128), &"y".repeat(30));
    assert!(longest.len() <= 54, "{longest}");
}

#[test]
fn regions_and_smtp() {
    assert!(valid_region("eu-west-1"));
    assert!(valid_region("us-gov-west-1"));
    assert!(!valid_region("Europe"));
    assert!(!valid_region("eu-west"));
    assert_eq!(
        default_smtp_host("us-east-2"),
        "email-smtp.us-east-2.amazonaws.com"
    );
}

#[test]
fn arns_map_to_kinds() {
    let k = |a: &str| kind_of_arn(a);
    assert_eq!(
        k("arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc"),
        Some((Kind::Instance, "i-0abc".into()))
    );
    assert_eq!(
        k("arn:aws:redshift:eu-west-1:123456789012:cluster:shadowops-a-1234-x"),
        Some((Kind::RedshiftCluster, "shadowops-a-1234-x".into()))
    );
    assert_eq!(k("arn:aws:ec2:eu-west-1:123456789012:volume/vol-1"), None);
    assert!(
        Kind::Instance < Kind::RedshiftCluster
            && Kind::SecurityGroup < Kind::Vpc
            && Kind::Vpc < Kind::IamRole
    );
}

#[test]
fn verdicts() {
    let now = humantime::parse_rfc3339("2026-12-01T12:00:00Z").unwrap();
    let t = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let m = Duration::from_secs(600);
    assert!(matches!(
        verdict(&t(&[("expires_at", "2026-12-01T11:00:00Z")]), now, m),
        Verdict::Expired
    ));
    // inside the margin: the env's own reaper may still be at work
    assert!(matches!(
        verdict(&t(&[("expires_at", "2026-12-01T11:55:00Z")]), now, m),
        Verdict::Unexpired
    ));
    assert!(matches!(
        verdict(&t(&[("expires_at", "soon")]), now, m),
        Verdict::NoDeadline
    ));
    assert!(matches!(
        verdict(
            &t(&[("expires_at", "2000-01-01T00:00:00Z"), (BAKED_TAG, "true")]),
            now,
            m
        ),
        Verdict::NoDeadline
    ));
}

#[test]
fn backend_choice_must_agree() {
    let dir = tempfile::tempdir().unwrap();
    std::env::remove_var("SHADOWOPS_TF_BACKEND_CONFIG");
    assert!(check_backend_choice(dir.path()).unwrap().is_none());
    std::fs::write(dir.path().join("backend_override.tf"), "").unwrap();
    assert!(check_backend_choice(dir.path()).is_err());
}

/// The placeholders pass every variable validation of terraform/aws
/// (checked by the real Terraform on a scratch copy of variables.tf).
#[test]
#[ignore = "needs terraform; run by make test"]
fn destroy_placeholders_pass_the_modules_validations() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo.join("terraform/aws/variables.tf"),
        dir.path().join("variables.tf"),
    )
    .unwrap();
    let vars = dir.path().join("v.tfvars.json");
    std::fs::write(
        &vars,
        destroy_placeholders(
            "ci-1234",
            "circleci/shadowops",
            "2026-11-28T01:00:00Z",
            "eu-west-1",
        )
        .to_string(),
    )
    .unwrap();
    let tf = |args: &[&str]| {
        std::process::Command::new("terraform")
            .arg(format!("-chdir={}", dir.path().display()))
            .args(args)
            .env("TF_CLI_CONFIG_FILE", repo.join("terraform/cli.tfrc"))
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_DATA_DIR", dir.path().join(".tf"))
            .output()
            .unwrap()
    };
    assert!(tf(&["init", "-backend=false", "-no-color"])
        .status
        .success());
    let plan = tf(&[
        "plan",
        "-no-color",
        &format!("-var-file={}", vars.display()),
    ]);
    assert!(
        plan.status.success(),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
}
