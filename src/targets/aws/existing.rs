//! `up --warehouse existing`: a database per env, owned by a login per env,
//! inside a team's running Redshift cluster or Serverless workgroup, made
//! after `terraform apply` and dropped before `terraform destroy` through
//! the Redshift Data API (`aws redshift-data execute-statement`, polled with
//! `describe-statement`). No cluster is created per env.
//!
//! Why a database (not a schema) per env: the pipeline's seed, migrations
//! and `compare`'s per-run schemas all assume they own a database (they
//! create schemas, `refinery_schema_history` and `shadowops_seed_history`
//! in `public`); one `DROP DATABASE` removes everything an env made, with no
//! list of objects to keep; and the env's login owns only that database, so
//! a pipeline cannot read or change the team's own data by mistake.
//!
//! What goes into SQL: identifiers only as [`Ident`] (checked against
//! `^[a-z_][a-z0-9_]{0,126}$` and double-quoted), the password only as its
//! md5 hash (`'md5' || md5(password || user)`, which Redshift accepts in
//! CREATE/ALTER USER, so the clear password is never in a statement, in the
//! Data API's statement history or in a log), and values of queries as Data
//! API parameters. Statements travel in a 0600 `--cli-input-json` file,
//! never on a command line.

use super::{error_code, Aws};
use crate::ui;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

// ------------------------------------------------------------ identifiers

/// A Redshift identifier the driver may put into SQL: lowercase letters,
/// digits and `_`, starting with a letter or `_`, 1-127 bytes. Always
/// written double-quoted, so a reserved word is still only a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ident(String);

impl Ident {
    pub fn new(raw: &str) -> Result<Ident, String> {
        let ok_first = raw
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
        let ok_rest = raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok_first || !ok_rest || raw.len() > 127 {
            return Err(format!(
                "{raw:?} is not a Redshift identifier shadowops will use (1-127 of a-z, 0-9, _; not starting with a digit)"
            ));
        }
        Ok(Ident(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `"name"`: quoted, so it is an identifier whatever the word.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl TryFrom<String> for Ident {
    type Error = String;
    fn try_from(s: String) -> Result<Ident, String> {
        Ident::new(&s)
    }
}

impl From<Ident> for String {
    fn from(i: Ident) -> String {
        i.0
    }
}

/// The env's database and login in the team's warehouse:
/// `shadowops_<owner id>_<env>` with `-` as `_` (owner ids and env names
/// hold no `_`, so two envs never map to one name). At most 54 characters:
/// within Redshift's 127 and the module's 64 for `warehouse_database`.
pub fn env_database(owner: &str, env: &str) -> Ident {
    let raw = format!("shadowops_{}_{env}", super::owner_id(owner)).replace('-', "_");
    Ident::new(&raw).expect("owner ids and env names make valid identifiers")
}

// ------------------------------------------------------------- the config

/// The team's warehouse: the file SHADOWOPS_WAREHOUSE_CONFIG (or
/// `--warehouse-config`) names, with the keys of terraform/aws's
/// `existing_warehouse` variable. The driver checks what it needs for its
/// own calls; the module's validations check the rest again at plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExistingWarehouse {
    pub endpoint: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default)]
    pub cluster_identifier: Option<String>,
    #[serde(default)]
    pub workgroup_name: Option<String>,
    #[serde(default = "default_admin_database")]
    pub admin_database: String,
    #[serde(default)]
    pub db_user: Option<String>,
    #[serde(default)]
    pub secret_arn: Option<String>,
    pub vpc_id: String,
    pub host_subnet_id: String,
    #[serde(default)]
    pub security_group_id: Option<String>,
}

fn default_port() -> u16 {
    5439
}

fn default_admin_database() -> String {
    "dev".into()
}

fn aws_id(what: &str, prefix: &str, v: &str) -> Result<(), String> {
    let rest = v.strip_prefix(prefix).unwrap_or("");
    if rest.is_empty()
        || !rest
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    {
        return Err(format!("{what} {v:?} must look like {prefix}0123abcd"));
    }
    Ok(())
}

impl ExistingWarehouse {
    /// Read and check the team's file: a usage error naming the file and
    /// what is wrong, before anything is created.
    pub fn load(path: &Path) -> Result<ExistingWarehouse> {
        let bad = |e: String| crate::error::Failure::usage(format!("{}: {e}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let w: ExistingWarehouse = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        w.check().map_err(bad)?;
        Ok(w)
    }

    pub fn check(&self) -> Result<(), String> {
        let host_ok = !self.endpoint.is_empty()
            && self.endpoint.len() <= 253
            && self
                .endpoint
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
            && !self.endpoint.starts_with(['.', '-'])
            && !self.endpoint.ends_with(['.', '-']);
        if !host_ok {
            return Err(format!(
                "endpoint {:?} must be the warehouse's host name (lowercase, no port)",
                self.endpoint
            ));
        }
        if self.port < 1150 {
            return Err(format!(
                "port {} is outside Redshift's 1150-65535",
                self.port
            ));
        }
        aws_id("vpc_id", "vpc-", &self.vpc_id)?;
        aws_id("host_subnet_id", "subnet-", &self.host_subnet_id)?;
        if let Some(sg) = &self.security_group_id {
            aws_id("security_group_id", "sg-", sg)?;
        }
        self.target().map(|_| ())
    }

    /// Where the Data API's statements go and how they log in.
    pub fn target(&self) -> Result<DataApiTarget, String> {
        let t = DataApiTarget {
            cluster_identifier: self.cluster_identifier.clone(),
            workgroup_name: self.workgroup_name.clone(),
            admin_database: self.admin_database.clone(),
            db_user: self.db_user.clone(),
            secret_arn: self.secret_arn.clone(),
        };
        t.check()?;
        Ok(t)
    }
}

/// The Data API's target: a cluster (with `db_user`, temporary credentials
/// through redshift:GetClusterCredentials, or `secret_arn`) or a Serverless
/// workgroup (with `secret_arn`, or the caller's IAM identity), and the
/// database the statements run in (never the env's own: a database cannot
/// be dropped from a session connected to it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataApiTarget {
    pub cluster_identifier: Option<String>,
    pub workgroup_name: Option<String>,
    pub admin_database: String,
    pub db_user: Option<String>,
    pub secret_arn: Option<String>,
}

impl DataApiTarget {
    pub fn check(&self) -> Result<(), String> {
        match (&self.cluster_identifier, &self.workgroup_name) {
            (Some(c), None) => {
                let ok = c.len() <= 63
                    && c.starts_with(|ch: char| ch.is_ascii_lowercase())
                    && c.chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-');
                if !ok {
                    return Err(format!(
                        "cluster_identifier {c:?} is not a Redshift cluster identifier"
                    ));
                }
                if self.db_user.is_some() == self.secret_arn.is_some() {
                    return Err(
                        "a cluster needs exactly one of db_user (temporary credentials) or secret_arn".into(),
                    );
                }
            }
            (None, Some(w)) => {
                let ok = (3..=64).contains(&w.len())
                    && w.chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-');
                if !ok {
                    return Err(format!(
                        "workgroup_name {w:?} is not a Serverless workgroup name"
                    ));
                }
                if self.db_user.is_some() {
                    return Err("a Serverless workgroup takes secret_arn or the caller's IAM identity, not db_user".into());
                }
            }
            _ => return Err("give exactly one of cluster_identifier or workgroup_name".into()),
        }
        Ident::new(&self.admin_database).map_err(|e| format!("admin_database: {e}"))?;
        if let Some(u) = &self.db_user {
            Ident::new(u).map_err(|e| format!("db_user: {e}"))?;
        }
        if let Some(a) = &self.secret_arn {
            let parts: Vec<&str> = a.splitn(7, ':').collect();
            let ok = parts.len() == 7
                && parts[0] == "arn"
                && parts[1].starts_with("aws")
                && parts[2] == "secretsmanager"
                && parts[4].len() == 12
                && parts[4].chars().all(|c| c.is_ascii_digit())
                && parts[5] == "secret"
                && !parts[6].is_empty();
            if !ok {
                return Err(format!(
                    "secret_arn {a:?} is not a Secrets Manager secret ARN"
                ));
            }
        }
        Ok(())
    }

    /// The request fields that say where a statement runs and as whom.
    fn request(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        };
        put("ClusterIdentifier", &self.cluster_identifier);
        put("WorkgroupName", &self.workgroup_name);
        put("DbUser", &self.db_user);
        put("SecretArn", &self.secret_arn);
        m.insert("Database".into(), json!(self.admin_database));
        m
    }
}

/// The env's database and login in the team's warehouse, and where the
/// Data API reaches it: what `up` creates and `destroy` drops. terraform/aws
/// keeps it as the output `existing_warehouse` (this struct's JSON), so a
/// destroy from shared state on another machine finds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvDatabase {
    #[serde(flatten)]
    pub target: DataApiTarget,
    pub database: Ident,
    pub user: Ident,
}

impl EnvDatabase {
    /// From `terraform output -json existing_warehouse` (null: the env has no
    /// database in a team's warehouse).
    pub fn from_output(json_text: &str) -> Result<Option<EnvDatabase>> {
        let v: Value = serde_json::from_str(json_text.trim())
            .context("terraform output existing_warehouse is not JSON")?;
        if v.is_null() {
            return Ok(None);
        }
        let db: EnvDatabase = serde_json::from_value(v)
            .context("terraform output existing_warehouse does not have the expected shape")?;
        db.target
            .check()
            .map_err(|e| anyhow::anyhow!("terraform output existing_warehouse: {e}"))?;
        Ok(Some(db))
    }
}

// -------------------------------------------------------------------- SQL

/// One statement: its text, the text as logs may show it, and its Data API
/// parameters (`:name` placeholders).
#[derive(Debug, Clone, PartialEq)]
pub struct Sql {
    /// Short, stable name for logs and the Data API's StatementName.
    pub step: &'static str,
    pub text: String,
    pub shown: String,
    pub params: Vec<(String, String)>,
}

impl Sql {
    fn plain(step: &'static str, text: String) -> Sql {
        Sql {
            step,
            shown: text.clone(),
            text,
            params: Vec::new(),
        }
    }
}

/// `md5` + md5(password || user): the form of a password Redshift accepts in
/// CREATE/ALTER USER without ever seeing the password itself.
pub fn md5_password(password: &str, user: &Ident) -> String {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    h.update(password.as_bytes());
    h.update(user.as_str().as_bytes());
    format!("md5{}", hex::encode(h.finalize()))
}

fn with_password(step: &'static str, head: String, hash: &str) -> Sql {
    // The hash is md5 + 32 hex digits by construction: nothing to escape.
    debug_assert!(hash.len() == 35 && hash[3..].chars().all(|c| c.is_ascii_hexdigit()));
    Sql {
        step,
        text: format!("{head} PASSWORD '{hash}'"),
        shown: format!("{head} PASSWORD '***'"),
        params: Vec::new(),
    }
}

pub fn create_user(user: &Ident, hash: &str) -> Sql {
    with_password(
        "create-user",
        format!("CREATE USER {}", user.quoted()),
        hash,
    )
}

pub fn alter_user_password(user: &Ident, hash: &str) -> Sql {
    with_password(
        "set-password",
        format!("ALTER USER {}", user.quoted()),
        hash,
    )
}

pub fn create_database(db: &Ident, owner: &Ident) -> Sql {
    Sql::plain(
        "create-database",
        format!(
            "CREATE DATABASE {} WITH OWNER {}",
            db.quoted(),
            owner.quoted()
        ),
    )
}

/// Ends the sessions still connected to the env's database (DROP DATABASE
/// refuses while any is); the name goes as a parameter, not into the text.
pub fn end_sessions(db: &Ident) -> Sql {
    Sql {
        step: "end-sessions",
        text: "SELECT pg_terminate_backend(process) FROM stv_sessions WHERE trim(db_name) = :db"
            .into(),
        shown: "SELECT pg_terminate_backend(process) FROM stv_sessions WHERE trim(db_name) = :db"
            .into(),
        params: vec![("db".into(), db.as_str().into())],
    }
}

pub fn drop_database(db: &Ident) -> Sql {
    Sql::plain("drop-database", format!("DROP DATABASE {}", db.quoted()))
}

pub fn drop_user(user: &Ident) -> Sql {
    Sql::plain(
        "drop-user",
        format!("DROP USER IF EXISTS {}", user.quoted()),
    )
}

// --------------------------------------------------------------- Data API

/// How a statement ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Ran {
    pub step: &'static str,
    pub id: String,
    /// FINISHED, FAILED or ABORTED.
    pub status: String,
    pub error: Option<String>,
}

impl Ran {
    fn failed_with(&self, words: &str) -> bool {
        self.status == "FAILED" && self.error.as_deref().is_some_and(|e| e.contains(words))
    }
}

/// A statement the warehouse refused, or one that did not end in time.
#[derive(Debug, thiserror::Error)]
#[error("redshift-data {step} ({id}): {status}: {error}")]
pub struct StatementFailed {
    pub step: String,
    pub id: String,
    pub status: String,
    pub error: String,
}

/// Bounds of one statement: how often to look, how long to wait.
#[derive(Debug, Clone, Copy)]
pub struct Waits {
    pub poll: Duration,
    pub limit: Duration,
}

impl Default for Waits {
    fn default() -> Waits {
        Waits {
            poll: Duration::from_secs(1),
            limit: Duration::from_secs(300),
        }
    }
}

/// Run one statement and wait for its end: execute-statement with the
/// request in a 0600 file, then describe-statement every `poll` until it
/// is FINISHED, FAILED or ABORTED; past `limit` it is cancelled and an
/// error. A FAILED statement is returned (not an error): callers decide
/// which failures mean "already done".
pub fn run(aws: &Aws, t: &DataApiTarget, env: &str, sql: &Sql, waits: Waits) -> Result<Ran> {
    let mut req = t.request();
    req.insert("Sql".into(), json!(sql.text));
    req.insert(
        "StatementName".into(),
        json!(format!("shadowops-{env}-{}", sql.step)),
    );
    if !sql.params.is_empty() {
        let p: Vec<Value> = sql
            .params
            .iter()
            .map(|(n, v)| json!({"name": n, "value": v}))
            .collect();
        req.insert("Parameters".into(), Value::Array(p));
    }
    // tempfile creates it 0600; the statement (a password hash among it)
    // never reaches a command line.
    let mut f = tempfile::Builder::new()
        .prefix("shadowops-redshift-data-")
        .suffix(".json")
        .tempfile()?;
    std::io::Write::write_all(&mut f, Value::Object(req).to_string().as_bytes())?;
    let input = format!("file://{}", f.path().display());
    ui::info(&format!("  warehouse: {}", sql.shown));
    let out = aws
        .call(
            "redshift-data",
            "execute-statement",
            &["--cli-input-json".into(), input],
        )
        .with_context(|| format!("redshift-data execute-statement ({})", sql.step))?;
    drop(f);
    let id = out
        .get("Id")
        .and_then(Value::as_str)
        .context("execute-statement returned no Id")?
        .to_string();
    let start = Instant::now();
    let mut last_line = Instant::now();
    loop {
        let d = aws.call_s("redshift-data", "describe-statement", &["--id", &id])?;
        let status = d
            .get("Status")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if matches!(status.as_str(), "FINISHED" | "FAILED" | "ABORTED") {
            let error = d.get("Error").and_then(Value::as_str).map(str::to_string);
            return Ok(Ran {
                step: sql.step,
                id,
                status,
                error,
            });
        }
        if start.elapsed() >= waits.limit {
            // Best effort: a statement left running would hold its locks.
            if let Err(e) = aws.call_s("redshift-data", "cancel-statement", &["--id", &id]) {
                ui::warn(&format!(
                    "cancel-statement {id}: {}",
                    error_code(&e).unwrap_or("failed")
                ));
            }
            return Err(StatementFailed {
                step: sql.step.into(),
                id,
                status,
                error: format!("still not finished after {:?}; cancelled", waits.limit),
            }
            .into());
        }
        // A heartbeat for logs without a TTY (a CI step's no-output timer).
        if last_line.elapsed() >= Duration::from_secs(30) {
            ui::info(&format!(
                "  warehouse: {} still {} ({}s)",
                sql.step,
                status,
                start.elapsed().as_secs()
            ));
            last_line = Instant::now();
        }
        crate::supervise::pause(waits.poll)?;
    }
}

fn refused(ran: Ran) -> anyhow::Error {
    StatementFailed {
        step: ran.step.into(),
        id: ran.id,
        status: ran.status,
        error: ran.error.unwrap_or_else(|| "no error message".into()),
    }
    .into()
}

/// `up`: the env's login (with the env's warehouse password) and its
/// database, owned by it. Idempotent: a login that exists gets the password
/// again (a re-made env has a new one), a database that exists is kept (a
/// second `up` keeps the data). Returns every statement run, in order.
pub fn create(
    aws: &Aws,
    db: &EnvDatabase,
    env: &str,
    password: &str,
    waits: Waits,
) -> Result<Vec<Ran>> {
    let hash = md5_password(password, &db.user);
    let mut ran = Vec::new();
    let r = run(aws, &db.target, env, &create_user(&db.user, &hash), waits)?;
    let exists = r.failed_with("already exists");
    match r.status.as_str() {
        "FINISHED" => ran.push(r),
        _ if exists => {
            ran.push(r);
            let r = run(
                aws,
                &db.target,
                env,
                &alter_user_password(&db.user, &hash),
                waits,
            )?;
            if r.status != "FINISHED" {
                return Err(refused(r));
            }
            ran.push(r);
        }
        _ => return Err(refused(r)),
    }
    let r = run(
        aws,
        &db.target,
        env,
        &create_database(&db.database, &db.user),
        waits,
    )?;
    if r.status != "FINISHED" && !r.failed_with("already exists") {
        return Err(refused(r));
    }
    ran.push(r);
    Ok(ran)
}

/// `destroy`: end the sessions on the env's database, drop it, drop the
/// login. Idempotent: what does not exist any more counts as dropped, so a
/// destroy after a partial `up` or a second destroy succeeds. Returns every
/// statement run, in order.
pub fn remove(aws: &Aws, db: &EnvDatabase, env: &str, waits: Waits) -> Result<Vec<Ran>> {
    let mut ran = Vec::new();
    let r = run(aws, &db.target, env, &end_sessions(&db.database), waits)?;
    if r.status != "FINISHED" {
        // Not fatal by itself: with no session left the drop works anyway,
        // and if one is left the drop says so.
        ui::warn(&format!(
            "ending the sessions on {}: {}",
            db.database.as_str(),
            r.error.clone().unwrap_or_else(|| r.status.clone())
        ));
    }
    ran.push(r);
    let r = run(aws, &db.target, env, &drop_database(&db.database), waits)?;
    if r.status != "FINISHED" && !r.failed_with("does not exist") {
        return Err(refused(r));
    }
    ran.push(r);
    let r = run(aws, &db.target, env, &drop_user(&db.user), waits)?;
    if r.status != "FINISHED" && !r.failed_with("does not exist") {
        return Err(refused(r));
    }
    ran.push(r);
    Ok(ran)
}

/// The env's database in a team's warehouse, as the env's Terraform state
/// records it (output `existing_warehouse`); None for an env with a cluster
/// of its own, or a state without outputs. Reads `output -json` (which holds
/// secrets: captured, never logged) rather than `output NAME`, which fails on
/// a state that has no such output.
pub fn from_state(tf: &crate::terraform::Terraform) -> Result<Option<EnvDatabase>> {
    from_outputs(&tf.output_json()?)
}

/// [`from_state`]'s reading of `terraform output -json` (every output, as
/// `{"name": {"value": ..., "type": ..., "sensitive": ...}}`); `{}` for a
/// state without outputs.
pub fn from_outputs(json_text: &str) -> Result<Option<EnvDatabase>> {
    let all: Value =
        serde_json::from_str(json_text.trim()).context("terraform output -json is not JSON")?;
    match all.get("existing_warehouse").and_then(|o| o.get("value")) {
        None => Ok(None),
        Some(v) => EnvDatabase::from_output(&v.to_string()),
    }
}

/// Dropping the env's database failed: the destroy stops before Terraform
/// runs (teardown.rs reports it as such).
#[derive(Debug, thiserror::Error)]
#[error("dropping database {database} from the team's warehouse failed (nothing was destroyed; the state keeps the record: run destroy again): {cause}")]
pub struct DropFailed {
    pub database: String,
    pub cause: String,
}
