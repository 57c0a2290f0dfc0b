//! The real binary against bad input: a clear one-line cause, a non-zero
//! exit, and nothing created.

mod common;
use common::*;

fn assert_nothing_created(sb: &Sandbox) {
    assert!(
        !sb.home().join("envs").exists(),
        "an env directory was created"
    );
}

/// Every value parser reaches the user as one line naming the flag, exit 2,
/// nothing created. The full tables of good and bad values are the parsers'
/// unit tests (src/env.rs, src/cli.rs, src/lease.rs); one case each here.
#[test]
fn bad_values_are_one_line_usage_errors_that_create_nothing() {
    let sb = Sandbox::fixture();
    for (args, why) in [
        (vec!["--env", "../x"], "invalid env name"),
        (vec!["--env", "-lead"], "invalid env name"),
        (vec!["--env", ""], "invalid env name"),
        (vec!["--ttl", "-5m"], "negative"),
        (vec!["--ttl", "soon"], "invalid lease"),
        (vec!["--ttl", "0s"], "longer than zero"),
        (vec!["--ttl", "48h"], "cap"),
        (vec!["--dag-id", "a/b"], "DAG id"),
        (
            vec!["--target", "aws", "--allow-cidr", "203.0.113.7/24"],
            "host bits",
        ),
        (
            vec!["--target", "aws", "--backstop-grace", "5m"],
            "outside 10m-24h",
        ),
        (
            vec!["--target", "aws", "--backstop-grace", "-1h"],
            "negative",
        ),
        (
            vec!["--target", "aws", "--backstop-grace", "45s"],
            "whole minutes",
        ),
        (
            vec!["--target", "aws", "--warehouse", "shared"],
            "new, existing or snapshot:NAME",
        ),
        (
            vec!["--target", "aws", "--warehouse", "snapshot:prod;drop"],
            "not a Redshift snapshot identifier",
        ),
    ] {
        let mut full = vec!["up", "--until", "provision"];
        full.extend(args.iter());
        let r = sb.run(&full);
        r.expect(2);
        assert!(r.stderr.contains(why), "{args:?}: {}", r.stderr);
        assert_eq!(
            r.stderr.trim().lines().count(),
            1,
            "one line expected: {}",
            r.stderr
        );
    }
    sb.run(&["extend", "--env", "x", "-5m"]).expect(2);
    assert_nothing_created(&sb);
}

#[test]
fn missing_terraform_is_a_usage_error_that_creates_nothing() {
    let mut sb = Sandbox::fixture();
    sb.set("SHADOWOPS_TERRAFORM", "/nonexistent/terraform");
    let r = sb.run(&["up", "--env", "t", "--until", "provision"]);
    r.expect(2);
    assert!(
        r.stderr.contains("terraform") && r.stderr.contains("missing required tools"),
        "{}",
        r.stderr
    );
    assert_nothing_created(&sb);
}

#[test]
fn too_old_terraform_is_refused() {
    let mut sb = Sandbox::fixture();
    let fake = sb.dir.path().join("old-terraform");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho '{\"terraform_version\":\"1.4.6\"}'\n",
    )
    .unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&fake).unwrap().permissions(),
        0o755,
    );
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    sb.set("SHADOWOPS_TERRAFORM", fake.to_str().unwrap());
    let r = sb.run(&["up", "--env", "t", "--until", "provision"]);
    r.expect(2);
    assert!(
        r.stderr.contains("1.4.6") && r.stderr.contains(">= 1.5"),
        "{}",
        r.stderr
    );
    assert_nothing_created(&sb);
}

#[test]
fn aws_needs_an_operator_cidr_and_refuses_the_world() {
    let sb = Sandbox::fixture();
    sb.run(&["up", "--target", "aws", "--until", "provision"])
        .expect(2);
    let r = sb.run(&[
        "up",
        "--target",
        "aws",
        "--allow-cidr",
        "0.0.0.0/0",
        "--until",
        "provision",
    ]);
    r.expect(2);
    assert!(r.stderr.contains("internet"), "{}", r.stderr);
    assert_nothing_created(&sb);
}

#[test]
fn a_baked_image_that_was_never_made_is_refused_before_anything_runs() {
    let mut sb = Sandbox::fixture();
    let cache = sb.dir.path().join("cache");
    sb.set("SHADOWOPS_CACHE", cache.to_str().unwrap())
        .set("AWS_REGION", "eu-west-1");
    let r = sb.run(&["up", "--image", "baked", "--until", "provision"]);
    r.expect(2);
    assert!(
        r.stderr.contains("run `shadowops bake` first"),
        "{}",
        r.stderr
    );
    let aws = [
        "up",
        "--target",
        "aws",
        "--allow-cidr",
        "203.0.113.7/32",
        "--image",
        "baked",
        "--until",
        "provision",
    ];
    let r = sb.run(&aws);
    r.expect(2);
    assert!(
        r.stderr.contains("run `shadowops bake --target aws"),
        "{}",
        r.stderr
    );
    // An AMI is regional: one baked elsewhere is refused by name.
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(
        cache.join("baked-host-ami"),
        "ami-0123456789abcdef0 us-east-1\n",
    )
    .unwrap();
    let r = sb.run(&aws);
    r.expect(2);
    assert!(
        r.stderr
            .contains("ami-0123456789abcdef0 is in us-east-1, not in eu-west-1"),
        "{}",
        r.stderr
    );
    let r = sb.run(&["bake", "--target", "aws"]);
    r.expect(2);
    assert!(r.stderr.contains("needs --allow-cidr"), "{}", r.stderr);
    assert_nothing_created(&sb);
}

#[test]
fn unknown_env_commands_say_so() {
    let sb = Sandbox::fixture();
    for cmd in [
        vec!["status", "--env", "nope"],
        vec!["logs", "--env", "nope"],
        vec!["ssh", "--env", "nope"],
        vec!["inventory", "--env", "nope"],
    ] {
        let r = sb.run(&cmd);
        r.expect(2);
        assert!(
            r.stderr.contains("no env named \"nope\""),
            "{cmd:?}: {}",
            r.stderr
        );
    }
    // destroy of an env that never existed is a successful no-op.
    sb.run(&["destroy", "--env", "nope"]).expect(0);
    // From shared state (aws) it needs the team's backend settings.
    let mut sb = sb;
    sb.set("SHADOWOPS_TF_BACKEND_CONFIG", "");
    let r = sb.run(&[
        "destroy", "--env", "nope", "--target", "aws", "--owner", "alice",
    ]);
    r.expect(2);
    assert!(
        r.stderr.contains("SHADOWOPS_TF_BACKEND_CONFIG"),
        "{}",
        r.stderr
    );
    assert_nothing_created(&sb);
}

#[test]
fn help_explains_commands_and_exit_codes() {
    let sb = Sandbox::fixture();
    let r = sb.run(&["--help"]);
    r.expect(0);
    for want in [
        "up",
        "destroy",
        "status",
        "list",
        "plan",
        "inventory",
        "logs",
        "ssh",
        "doctor",
        "extend",
        "reap",
        "10 provision failed",
        "13 pipeline failed",
    ] {
        assert!(r.stdout.contains(want), "help lacks {want:?}");
    }
    sb.run(&["up", "--bogus"]).expect(2);
}

#[test]
fn doctor_reports_missing_tools_with_non_zero_exit() {
    let mut sb = Sandbox::fixture();
    sb.set("SHADOWOPS_TERRAFORM", "/nonexistent/terraform");
    let r = sb.run(&["doctor", "--json"]);
    r.expect(1);
    let v = json(&r.stdout);
    assert_eq!(v["ok"], false);
    let tf = v["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "terraform")
        .unwrap();
    assert!(tf["problem"]
        .as_str()
        .unwrap()
        .contains("/nonexistent/terraform"));
}

#[test]
fn bad_pipeline_folders_and_compare_inputs_are_usage_errors_that_create_nothing() {
    let sb = Sandbox::fixture();
    let bad = sb.dir.path().join("bad-toml");
    copy_tree(&repo().join("pipeline/example"), &bad);
    std::fs::write(
        bad.join("shadowops.toml"),
        "contract = 1\n[dag]\nid = \"x\"\nschedul = \"@daily\"\n",
    )
    .unwrap();
    let r = sb.run(&[
        "up",
        "--until",
        "provision",
        "--pipeline",
        bad.to_str().unwrap(),
    ]);
    r.expect(2);
    assert!(
        r.stderr.contains("shadowops.toml")
            && r.stderr.contains("line 4")
            && r.stderr.contains("schedul"),
        "{}",
        r.stderr
    );
    let no_dags = sb.dir.path().join("no-dags");
    std::fs::create_dir_all(&no_dags).unwrap();
    let r = sb.run(&["up", "--pipeline", no_dags.to_str().unwrap()]);
    r.expect(2);
    assert!(r.stderr.contains("no dags/ directory"), "{}", r.stderr);

    let example = repo().join("pipeline/example");
    let r = sb.run(&[
        "compare",
        "--base",
        "no-such-ref-xyz",
        "--pipeline",
        example.to_str().unwrap(),
    ]);
    r.expect(2);
    assert!(
        r.stderr.contains("not a folder, and not a git ref"),
        "{}",
        r.stderr
    );
    let no_outputs = sb.dir.path().join("no-outputs");
    copy_tree(&example, &no_outputs);
    std::fs::write(no_outputs.join("shadowops.toml"), "contract = 1\n").unwrap();
    let r = sb.run(&[
        "compare",
        "--base",
        example.to_str().unwrap(),
        "--pipeline",
        no_outputs.to_str().unwrap(),
    ]);
    r.expect(2);
    assert!(r.stderr.contains("declares no [[outputs]]"), "{}", r.stderr);
    let r = sb.run(&[
        "compare",
        "--base",
        example.to_str().unwrap(),
        "--rel-tolerance",
        "2",
    ]);
    r.expect(2);
    assert!(r.stderr.contains("--rel-tolerance"), "{}", r.stderr);

    let r = sb.run(&["prune-images", "--owner", "alice"]);
    r.expect(2);
    assert!(
        r.stderr.contains("--owner is for --target aws"),
        "{}",
        r.stderr
    );
    let r = sb.run(&["prune-images", "--target", "aws", "--all"]);
    r.expect(2);
    assert!(
        r.stderr.contains("--all is for --target local"),
        "{}",
        r.stderr
    );
    let r = sb.run(&["init", example.to_str().unwrap()]);
    r.expect(2);
    assert!(r.stderr.contains("is not empty"), "{}", r.stderr);
    assert_nothing_created(&sb);
}

/// The warehouse flags: aws only; `existing` needs the team's file, and a
/// file with a bad field is refused naming it; all before anything exists.
#[test]
fn warehouse_flags_are_checked_before_anything_runs() {
    let sb = Sandbox::fixture();
    let aws = [
        "up",
        "--env",
        "w",
        "--target",
        "aws",
        "--allow-cidr",
        "203.0.113.7/32",
        "--until",
        "provision",
    ];
    let run = |extra: &[&str]| {
        let mut full: Vec<&str> = aws.to_vec();
        full.extend(extra);
        sb.run(&full)
    };
    let r = sb.run(&[
        "up",
        "--env",
        "w",
        "--warehouse",
        "existing",
        "--until",
        "provision",
    ]);
    r.expect(2);
    assert!(r.stderr.contains("is for --target aws"), "{}", r.stderr);
    let r = sb.run(&[
        "up",
        "--env",
        "w",
        "--backstop-grace",
        "1h",
        "--until",
        "provision",
    ]);
    r.expect(2);
    assert!(
        r.stderr.contains("--backstop-grace is for --target aws"),
        "{}",
        r.stderr
    );
    let r = run(&["--warehouse", "existing"]);
    r.expect(2);
    assert!(
        r.stderr.contains("needs --warehouse-config"),
        "{}",
        r.stderr
    );
    let team = sb.dir.path().join("team-warehouse.json");
    std::fs::write(
        &team,
        r#"{"endpoint": "team-wh.abc.eu-west-1.redshift.amazonaws.com", "cluster_identifier": "team-wh",
            "vpc_id": "vpc-0123abcd", "host_subnet_id": "subnet-0123abcd"}"#,
    )
    .unwrap();
    let r = run(&[
        "--warehouse",
        "existing",
        "--warehouse-config",
        team.to_str().unwrap(),
    ]);
    r.expect(2);
    assert!(
        r.stderr.contains("team-warehouse.json") && r.stderr.contains("exactly one of db_user"),
        "{}",
        r.stderr
    );
    assert!(
        !sb.home().join("envs").exists(),
        "an env directory was created"
    );
}
