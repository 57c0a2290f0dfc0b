//! `--warehouse existing`: the identifier and SQL rules (everywhere), and
//! the Data API calls the driver makes, their order and their idempotence
//! against moto (ignored unless asked for).
//!
//! moto's redshift-data backend stores every statement (SQL, database,
//! cluster, user, secret, parameters) and returns it from describe-statement,
//! but runs no SQL: its statements stay STARTED for ever. The moto tests
//! therefore call the real AWS CLI through a thin wrapper that plays only
//! the server's part of a statement's end (STARTED -> FINISHED, or FAILED
//! with a scripted error for a statement that starts with a given text) and
//! logs every call; what the driver sent is read back from moto itself.

use super::super::existing::*;
use super::super::*;
use super::emulator::{emulator_env, lock, moto};
use super::state::{fixture_module_with, machine_a_applies, team_backend};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

// ------------------------------------------------------------------- unit

#[test]
fn identifiers_are_checked_before_they_reach_sql() {
    for good in ["shadowops_alice_1a2b_demo", "_x", "a", "dev", "select"] {
        assert!(Ident::new(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        "1abc",
        "Upper",
        "a-b",
        "a b",
        "a\"b",
        "a;drop database dev",
        "a'--",
        "é",
        &"a".repeat(128),
    ] {
        assert!(Ident::new(bad).is_err(), "{bad:?}");
    }
    // Serde goes through the same check (the state's output is input too).
    assert!(serde_json::from_str::<Ident>("\"x; drop user admin\"").is_err());
    assert_eq!(Ident::new("select").unwrap().quoted(), "\"select\"");
}

#[test]
fn env_databases_are_per_owner_and_env_and_valid() {
    let a = env_database("alice", "demo");
    assert!(a.as_str().starts_with("shadowops_alice_"), "{a:?}");
    assert!(a.as_str().ends_with("_demo"));
    assert_ne!(a, env_database("bob", "demo"));
    assert_ne!(a, env_database("alice", "demo2"));
    // '-' becomes '_'; names stay within the module's 64 for the longest
    // owner and env.
    let long = env_database(
        "Zoë Ødegård the 3rd <zoe@example.com>",
        &"x-".repeat(14).to_owned(),
    );
    assert!(long.as_str().len() <= 64, "{}", long.as_str().len());
    assert!(!long.as_str().contains('-'));
    // Matches the module's rule for warehouse_database.
    assert!(long.as_str().chars().next().unwrap().is_ascii_lowercase());
}

#[test]
fn statements_quote_names_and_never_carry_the_password() {
    let u = Ident::new("shadowops_alice_1a2b_demo").unwrap();
    let d = u.clone();
    let hash = md5_password("S3cret-Pass", &u);
    // Redshift's rule: 'md5' + md5(password || user), 32 hex digits.
    assert_eq!(hash.len(), 35);
    assert!(hash.starts_with("md5"));
    // A known vector: md5("S3cret-Pass" || "shadowops_alice_1a2b_demo").
    {
        use md5::{Digest, Md5};
        let want = hex::encode(Md5::digest(b"S3cret-Passshadowops_alice_1a2b_demo"));
        assert_eq!(&hash[3..], want);
    }
    let c = create_user(&u, &hash);
    assert_eq!(
        c.text,
        format!("CREATE USER \"shadowops_alice_1a2b_demo\" PASSWORD '{hash}'")
    );
    assert!(!c.text.contains("S3cret-Pass"));
    assert!(!c.shown.contains(&hash), "logs show no hash either");
    assert!(c.shown.ends_with("PASSWORD '***'"));
    let a = alter_user_password(&u, &hash);
    assert!(a
        .text
        .starts_with("ALTER USER \"shadowops_alice_1a2b_demo\" PASSWORD 'md5"));
    assert_eq!(
        create_database(&d, &u).text,
        "CREATE DATABASE \"shadowops_alice_1a2b_demo\" WITH OWNER \"shadowops_alice_1a2b_demo\""
    );
    let e = end_sessions(&d);
    assert!(
        !e.text.contains("shadowops_alice"),
        "the name goes as a parameter"
    );
    assert_eq!(e.params, vec![("db".to_string(), d.as_str().to_string())]);
    assert_eq!(
        drop_database(&d).text,
        "DROP DATABASE \"shadowops_alice_1a2b_demo\""
    );
    assert_eq!(
        drop_user(&u).text,
        "DROP USER IF EXISTS \"shadowops_alice_1a2b_demo\""
    );
}

fn team_file(extra: &str) -> String {
    format!(
        r#"{{"endpoint": "team-wh.abc123.eu-west-1.redshift.amazonaws.com", "vpc_id": "vpc-0123abcd",
            "host_subnet_id": "subnet-0123abcd" {extra}}}"#
    )
}

#[test]
fn the_team_file_is_checked_like_the_module_does() {
    let parse = |extra: &str| -> Result<ExistingWarehouse, String> {
        let w: ExistingWarehouse =
            serde_json::from_str(&team_file(extra)).map_err(|e| e.to_string())?;
        w.check().map(|_| w)
    };
    let w = parse(r#", "cluster_identifier": "team-wh", "db_user": "shadowops_admin""#).unwrap();
    assert_eq!((w.port, w.admin_database.as_str()), (5439, "dev"));
    assert!(parse(r#", "cluster_identifier": "team-wh", "secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:team/admin-AbCdEf""#).is_ok());
    assert!(parse(r#", "workgroup_name": "team-wg""#).is_ok());
    let bad = [
        ("", "exactly one of cluster_identifier or workgroup_name"),
        (
            r#", "cluster_identifier": "team-wh", "workgroup_name": "team-wg""#,
            "exactly one",
        ),
        (
            r#", "cluster_identifier": "team-wh""#,
            "exactly one of db_user",
        ),
        (
            r#", "cluster_identifier": "team-wh", "db_user": "a", "secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x""#,
            "exactly one of db_user",
        ),
        (
            r#", "workgroup_name": "team-wg", "db_user": "admin""#,
            "not db_user",
        ),
        (
            r#", "cluster_identifier": "Team_WH", "db_user": "a""#,
            "cluster_identifier",
        ),
        (
            r#", "cluster_identifier": "team-wh", "db_user": "admin; drop""#,
            "db_user",
        ),
        (
            r#", "workgroup_name": "team-wg", "admin_database": "dev\"x""#,
            "admin_database",
        ),
        (
            r#", "workgroup_name": "team-wg", "secret_arn": "arn:aws:iam::123456789012:role/x""#,
            "secret_arn",
        ),
        (
            r#", "workgroup_name": "team-wg", "security_group_id": "default""#,
            "security_group_id",
        ),
        (r#", "workgroup_name": "team-wg", "port": 80"#, "port"),
        (
            r#", "workgroup_name": "team-wg", "password": "x""#,
            "unknown field",
        ),
    ];
    for (extra, want) in bad {
        let e = parse(extra).unwrap_err();
        assert!(e.contains(want), "{extra}: {e}");
    }
    let mut w = parse(r#", "workgroup_name": "team-wg""#).unwrap();
    w.endpoint = "Team WH:5439".into();
    assert!(w.check().unwrap_err().contains("endpoint"));
    // A file that does not parse is a usage error naming the file.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("team.json");
    std::fs::write(&f, "{").unwrap();
    let e = ExistingWarehouse::load(&f).unwrap_err();
    let failure = e.downcast_ref::<crate::error::Failure>().unwrap();
    assert_eq!(failure.exit_code(), crate::error::EXIT_USAGE);
    assert!(e.to_string().contains("team.json"));
}

#[test]
fn the_state_output_is_read_back_and_checked() {
    assert_eq!(EnvDatabase::from_output("null").unwrap(), None);
    let out = r#"{"cluster_identifier": null, "workgroup_name": "team-wg", "admin_database": "dev",
                 "db_user": null, "secret_arn": null, "database": "shadowops_a_1234_demo", "user": "shadowops_a_1234_demo"}"#;
    let db = EnvDatabase::from_output(out).unwrap().unwrap();
    assert_eq!(db.target.workgroup_name.as_deref(), Some("team-wg"));
    assert_eq!(db.database.as_str(), "shadowops_a_1234_demo");
    // A name edited in the state is refused before any SQL is made of it.
    let evil = out.replace(
        "\"database\": \"shadowops_a_1234_demo\"",
        "\"database\": \"x\\\"; drop database dev; --\"",
    );
    assert!(EnvDatabase::from_output(&evil).is_err());
    let neither = out.replace("\"team-wg\"", "null");
    assert!(EnvDatabase::from_output(&neither).is_err());
}

#[test]
fn the_record_is_found_among_all_outputs() {
    assert_eq!(from_outputs("{}").unwrap(), None, "a state without outputs");
    let new_env = r#"{"existing_warehouse": {"sensitive": false, "type": "dynamic", "value": null},
                      "shadow": {"sensitive": true, "value": {"warehouse": {"password": "x"}}}}"#;
    assert_eq!(
        from_outputs(new_env).unwrap(),
        None,
        "an env with its own cluster"
    );
    let existing = r#"{"existing_warehouse": {"sensitive": false, "value": {
        "cluster_identifier": "team-wh", "workgroup_name": null, "admin_database": "dev",
        "db_user": "shadowops_admin", "secret_arn": null,
        "database": "shadowops_a_1234_demo", "user": "shadowops_a_1234_demo"}}}"#;
    let db = from_outputs(existing).unwrap().unwrap();
    assert_eq!(db.target.cluster_identifier.as_deref(), Some("team-wh"));
    assert!(from_outputs("not json").is_err());
    // The failure teardown reports names the database and says what to do.
    let f = DropFailed {
        database: "shadowops_a_1234_demo".into(),
        cause: "permission denied".into(),
    };
    let text = f.to_string();
    assert!(
        text.contains("shadowops_a_1234_demo") && text.contains("run destroy again"),
        "{text}"
    );
}

// ----------------------------------------------------------- against moto

/// The real AWS CLI behind a wrapper that ends moto's statements (see the
/// module comment) and logs each call (argv, the --cli-input-json request,
/// whether `marker` exists yet) to DIR/calls.jsonl. Scripted errors:
/// DIR/fail.json, {"SQL prefix": "error text"}; DIR/hang: statements never
/// end.
fn wrapped(aws: &Aws, dir: &Path, marker: Option<&Path>) -> Aws {
    let script = dir.join("aws");
    let marker = marker.map(|m| m.display().to_string()).unwrap_or_default();
    std::fs::write(
        &script,
        format!(
            r#"#!/usr/bin/env python3
import json, os, subprocess, sys
D, REAL, MARKER = {dir:?}, {real:?}, {marker:?}
args = sys.argv[1:]
entry = {{"argv": args, "marker": bool(MARKER) and os.path.exists(MARKER)}}
for a in args:
    if a.startswith("file://"):
        with open(a[7:]) as f:
            entry["input"] = json.load(f)
        entry["input_mode"] = oct(os.stat(a[7:]).st_mode & 0o777)
with open(os.path.join(D, "calls.jsonl"), "a") as f:
    f.write(json.dumps(entry) + "\n")
p = subprocess.run([REAL] + args, capture_output=True, text=True)
sys.stderr.write(p.stderr)
out = p.stdout
if p.returncode == 0 and "describe-statement" in args:
    d = json.loads(out)
    if d["Status"] == "STARTED" and not os.path.exists(os.path.join(D, "hang")):
        d["Status"] = "FINISHED"
        try:
            with open(os.path.join(D, "fail.json")) as f:
                fails = json.load(f)
        except FileNotFoundError:
            fails = {{}}
        for prefix, err in fails.items():
            if d["QueryString"].startswith(prefix):
                d["Status"], d["Error"] = "FAILED", err
    out = json.dumps(d)
sys.stdout.write(out)
sys.exit(p.returncode)
"#,
            dir = dir.display().to_string(),
            real = aws.bin.display().to_string(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    Aws {
        bin: script,
        ..aws.clone()
    }
}

fn calls(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("calls.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn reset(dir: &Path) {
    for f in ["calls.jsonl", "fail.json", "hang"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
}

/// What moto stored for each statement the driver ran, in order.
fn stored(aws: &Aws, ran: &[Ran]) -> Vec<Value> {
    ran.iter()
        .map(|r| {
            aws.call_s("redshift-data", "describe-statement", &["--id", &r.id])
                .unwrap()
        })
        .collect()
}

fn quick() -> Waits {
    Waits {
        poll: Duration::from_millis(50),
        limit: Duration::from_secs(20),
    }
}

fn cluster_db() -> EnvDatabase {
    EnvDatabase {
        target: DataApiTarget {
            cluster_identifier: Some("team-wh".into()),
            workgroup_name: None,
            admin_database: "dev".into(),
            db_user: Some("shadowops_admin".into()),
            secret_arn: None,
        },
        database: env_database("alice", "demo"),
        user: env_database("alice", "demo"),
    }
}

const PASSWORD: &str = "Emulat0r-Only-Pass";

/// up: CREATE USER then CREATE DATABASE, in the admin database, as the
/// configured user, the password only as its hash, the request in a 0600
/// file; a second up over an existing login sets its password again and
/// keeps the database; destroy ends the sessions (name as a parameter),
/// drops the database, then the login; a destroy after a partial up (no
/// database made) and a second destroy both succeed; a refused drop stops
/// before the login; a statement that never ends is cancelled.
#[test]
#[ignore = "needs moto; run by make test"]
fn create_and_drop_an_env_database_against_moto() {
    let _l = lock();
    let server = moto();
    emulator_env(&server.url);
    let real = Aws::from_env().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let aws = wrapped(&real, tmp.path(), None);
    let db = cluster_db();
    let name = db.database.as_str().to_string();

    // up
    let ran = create(&aws, &db, "demo", PASSWORD, quick()).unwrap();
    let steps: Vec<&str> = ran.iter().map(|r| r.step).collect();
    assert_eq!(steps, ["create-user", "create-database"]);
    let st = stored(&real, &ran);
    assert_eq!(
        st[0]["QueryString"],
        format!(
            "CREATE USER \"{name}\" PASSWORD '{}'",
            md5_password(PASSWORD, &db.user)
        )
    );
    assert_eq!(
        st[1]["QueryString"],
        format!("CREATE DATABASE \"{name}\" WITH OWNER \"{name}\"")
    );
    for s in &st {
        assert_eq!(s["Database"], "dev", "statements run in the admin database");
        assert_eq!(s["ClusterIdentifier"], "team-wh");
        assert_eq!(s["DbUser"], "shadowops_admin");
    }
    let log = calls(tmp.path());
    let everything = serde_json::to_string(&log).unwrap();
    assert!(
        !everything.contains(PASSWORD),
        "the password was sent or logged"
    );
    for c in log.iter().filter(|c| c.get("input").is_some()) {
        assert_eq!(c["input_mode"], "0o600");
        assert!(c["input"]["StatementName"]
            .as_str()
            .unwrap()
            .starts_with("shadowops-demo-"));
        let argv = serde_json::to_string(&c["argv"]).unwrap();
        assert!(
            !argv.contains("PASSWORD") && !argv.contains("md5"),
            "{argv}"
        );
    }

    // A second up: the login exists (a new password is set), so does the
    // database (kept).
    reset(tmp.path());
    std::fs::write(
        tmp.path().join("fail.json"),
        format!(
            r#"{{"CREATE USER": "ERROR: user \"{name}\" already exists", "CREATE DATABASE": "ERROR: database \"{name}\" already exists"}}"#
        ),
    )
    .unwrap();
    let ran = create(&aws, &db, "demo", PASSWORD, quick()).unwrap();
    let steps: Vec<&str> = ran.iter().map(|r| r.step).collect();
    assert_eq!(steps, ["create-user", "set-password", "create-database"]);
    assert!(stored(&real, &ran)[1]["QueryString"]
        .as_str()
        .unwrap()
        .starts_with(&format!("ALTER USER \"{name}\" PASSWORD 'md5")));

    // A failure that is not "already exists" stops up, naming the step.
    reset(tmp.path());
    std::fs::write(
        tmp.path().join("fail.json"),
        r#"{"CREATE DATABASE": "ERROR: permission denied to create database"}"#,
    )
    .unwrap();
    let e = create(&aws, &db, "demo", PASSWORD, quick()).unwrap_err();
    let f = e
        .downcast_ref::<StatementFailed>()
        .expect("a typed failure");
    assert_eq!(f.step, "create-database");
    assert!(f.error.contains("permission denied"));

    // destroy after that partial up: the database was never made.
    reset(tmp.path());
    std::fs::write(
        tmp.path().join("fail.json"),
        format!(r#"{{"DROP DATABASE": "ERROR: database \"{name}\" does not exist"}}"#),
    )
    .unwrap();
    let ran = remove(&aws, &db, "demo", quick()).unwrap();
    let steps: Vec<&str> = ran.iter().map(|r| r.step).collect();
    assert_eq!(steps, ["end-sessions", "drop-database", "drop-user"]);
    let st = stored(&real, &ran);
    assert_eq!(
        st[0]["QueryParameters"],
        serde_json::json!([{"name": "db", "value": name}])
    );
    assert!(!st[0]["QueryString"].as_str().unwrap().contains(&name));
    assert_eq!(st[1]["QueryString"], format!("DROP DATABASE \"{name}\""));
    assert_eq!(
        st[2]["QueryString"],
        format!("DROP USER IF EXISTS \"{name}\"")
    );

    // A second destroy: nothing left, still fine.
    reset(tmp.path());
    std::fs::write(
        tmp.path().join("fail.json"),
        format!(r#"{{"DROP DATABASE": "ERROR: database \"{name}\" does not exist"}}"#),
    )
    .unwrap();
    assert_eq!(remove(&aws, &db, "demo", quick()).unwrap().len(), 3);

    // A drop the warehouse refuses stops before the login goes.
    reset(tmp.path());
    std::fs::write(
        tmp.path().join("fail.json"),
        format!(
            r#"{{"DROP DATABASE": "ERROR: database \"{name}\" is being accessed by other users"}}"#
        ),
    )
    .unwrap();
    let e = remove(&aws, &db, "demo", quick()).unwrap_err();
    assert_eq!(
        e.downcast_ref::<StatementFailed>().unwrap().step,
        "drop-database"
    );
    let sent: Vec<String> = calls(tmp.path())
        .iter()
        .filter_map(|c| c["input"]["Sql"].as_str().map(str::to_string))
        .collect();
    assert!(sent.iter().all(|s| !s.starts_with("DROP USER")), "{sent:?}");

    // A statement that never ends is cancelled at the bound.
    reset(tmp.path());
    std::fs::write(tmp.path().join("hang"), "").unwrap();
    let e = remove(
        &aws,
        &db,
        "demo",
        Waits {
            poll: Duration::from_millis(50),
            limit: Duration::from_millis(300),
        },
    )
    .unwrap_err();
    let f = e.downcast_ref::<StatementFailed>().unwrap();
    assert!(f.error.contains("cancelled"), "{f}");
    let d = real
        .call_s("redshift-data", "describe-statement", &["--id", &f.id])
        .unwrap();
    assert_eq!(d["Status"], "ABORTED", "moto recorded the cancel");
}

/// A Serverless workgroup with a secret: the request names the workgroup
/// and the secret, and no cluster or user.
#[test]
#[ignore = "needs moto; run by make test"]
fn a_serverless_workgroup_is_addressed_by_name_and_secret() {
    let _l = lock();
    let server = moto();
    emulator_env(&server.url);
    let real = Aws::from_env().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let aws = wrapped(&real, tmp.path(), None);
    let secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:team/admin-AbCdEf";
    let db = EnvDatabase {
        target: DataApiTarget {
            cluster_identifier: None,
            workgroup_name: Some("team-wg".into()),
            admin_database: "dev".into(),
            db_user: None,
            secret_arn: Some(secret.into()),
        },
        ..cluster_db()
    };
    let ran = create(&aws, &db, "demo", PASSWORD, quick()).unwrap();
    assert_eq!(ran.len(), 2);
    for c in calls(tmp.path())
        .iter()
        .filter(|c| c.get("input").is_some())
    {
        let i = &c["input"];
        assert_eq!(i["WorkgroupName"], "team-wg");
        assert_eq!(i["SecretArn"], secret);
        assert!(i.get("ClusterIdentifier").is_none() && i.get("DbUser").is_none());
    }
    assert_eq!(stored(&real, &ran)[0]["SecretArn"], secret);
}

/// The state-only destroy of an env with a database in a team's warehouse:
/// machine B (nothing of the env but the team's backend settings) reads the
/// state's `existing_warehouse` output, drops the database and login before
/// Terraform destroys anything, then destroys. A refused drop destroys
/// nothing and a second attempt completes.
#[test]
#[ignore = "needs moto and terraform; run by make test"]
fn state_only_destroy_drops_the_env_database_first() {
    let _l = lock();
    let server = moto();
    emulator_env(&server.url);
    let real = Aws::from_env().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let db = cluster_db();
    let output = format!(
        r#"
output "existing_warehouse" {{
  value = {{
    cluster_identifier = "team-wh"
    workgroup_name     = null
    admin_database     = "dev"
    db_user            = "shadowops_admin"
    secret_arn         = null
    database           = "{0}"
    user               = "{0}"
  }}
}}
"#,
        db.database.as_str()
    );
    let module = fixture_module_with(repo, tmp.path(), &output);
    let backend = team_backend(&real, tmp.path(), &server.url);
    let (owner, env, expires) = ("alice", "demo", "2026-01-01T00:00:00Z");
    let cli_cfg = repo.join("terraform/cli.tfrc");
    let tf_env = vec![(
        "TF_CLI_CONFIG_FILE".to_string(),
        cli_cfg.display().to_string(),
    )];
    let (_a, _vars, marker) = machine_a_applies(
        &real,
        &module,
        &backend,
        &cli_cfg,
        tmp.path(),
        (owner, env, expires),
    );
    let fake: PathBuf = tmp.path().join("fake");
    std::fs::create_dir_all(&fake).unwrap();
    let aws = wrapped(&real, &fake, Some(&marker));
    let destroy = |work: &str| {
        destroy_from_shared_state(
            Path::new("terraform"),
            &module,
            &backend,
            owner,
            env,
            expires,
            "eu-west-1",
            &tmp.path().join(work),
            &tf_env,
            Duration::from_secs(300),
            Some(&aws),
            quick(),
        )
    };

    // The warehouse refuses the drop: nothing is destroyed.
    std::fs::write(
        fake.join("fail.json"),
        r#"{"DROP DATABASE": "ERROR: permission denied"}"#,
    )
    .unwrap();
    let e = destroy("machine-b").unwrap_err();
    assert!(format!("{e:#}").contains("nothing was destroyed"), "{e:#}");
    assert!(!marker.exists(), "Terraform destroyed nothing");

    // Again, with the warehouse willing: drop first, then destroy.
    reset(&fake);
    let n = destroy("machine-b2").unwrap();
    assert_eq!(n, 2);
    assert!(marker.exists());
    let sqls: Vec<(String, bool)> = calls(&fake)
        .iter()
        .filter_map(|c| {
            c["input"]["Sql"]
                .as_str()
                .map(|s| (s.to_string(), c["marker"].as_bool().unwrap()))
        })
        .collect();
    let steps: Vec<&str> = sqls
        .iter()
        .map(|(s, _)| s.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .map(|s| match s.as_str() {
            "SELECT pg_terminate_backend(process)" => "end-sessions",
            "DROP DATABASE" => "drop-database",
            "DROP USER" => "drop-user",
            _ => "other",
        })
        .collect();
    assert_eq!(steps, ["end-sessions", "drop-database", "drop-user"]);
    assert!(
        sqls.iter().all(|(_, destroyed)| !destroyed),
        "every drop ran before Terraform destroyed anything"
    );
    // The state is empty now: a third destroy does nothing, drops nothing.
    reset(&fake);
    assert_eq!(destroy("machine-c").unwrap(), 0);
    assert!(calls(&fake).is_empty());
}
