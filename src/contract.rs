//! The `shadow` output contract (version 1): what every Terraform target
//! hands to the rest of the flow. Everything after the handoff reads only this.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const CONTRACT_VERSION: i64 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Shadow {
    pub contract_version: i64,
    pub env: String,
    pub target: String,
    pub expires_at: String,
    pub host: Host,
    pub warehouse: Warehouse,
    pub mail: Mail,
    pub airflow: Airflow,
    pub packages: Packages,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Host {
    pub address: String,
    pub ssh_port: u16,
    pub ssh_user: String,
    pub ssh_private_key_file: String,
    pub ssh_host_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Warehouse {
    pub kind: String,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password: String,
    pub jdbc_url: String,
    pub jdbc_driver_class: String,
    pub jdbc_driver: JdbcDriver,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JdbcDriver {
    pub source: String,
    pub package: Option<String>,
    pub url: Option<String>,
    pub sha256: Option<String>,
    pub path: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Mail {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub from: String,
    pub to: String,
    pub starttls: bool,
    pub user: Option<String>,
    pub password: Option<String>,
    pub inbox_dir: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Airflow {
    pub url: String,
    /// The API is private (AWS): reach `url` (as the host sees it) through
    /// an SSH tunnel. Absent means false.
    #[serde(default)]
    pub tunnel: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Packages {
    pub apt_proxy: Option<String>,
    pub wheelhouse: Option<String>,
}

#[derive(Clone, Copy)]
enum Ty {
    Str,
    OptStr,
    Int,
    Port,
    Bool,
    Obj,
}

/// Every field of the contract with its type, so that an error names *all*
/// missing or mistyped fields at once (serde alone stops at the first).
const SCHEMA: &[(&str, Ty)] = &[
    ("contract_version", Ty::Int),
    ("env", Ty::Str),
    ("target", Ty::Str),
    ("expires_at", Ty::Str),
    ("host", Ty::Obj),
    ("host.address", Ty::Str),
    ("host.ssh_port", Ty::Port),
    ("host.ssh_user", Ty::Str),
    ("host.ssh_private_key_file", Ty::Str),
    ("host.ssh_host_key", Ty::Str),
    ("warehouse", Ty::Obj),
    ("warehouse.kind", Ty::Str),
    ("warehouse.host", Ty::Str),
    ("warehouse.port", Ty::Port),
    ("warehouse.database", Ty::Str),
    ("warehouse.user", Ty::Str),
    ("warehouse.password", Ty::Str),
    ("warehouse.jdbc_url", Ty::Str),
    ("warehouse.jdbc_driver_class", Ty::Str),
    ("warehouse.jdbc_driver", Ty::Obj),
    ("warehouse.jdbc_driver.source", Ty::Str),
    ("warehouse.jdbc_driver.package", Ty::OptStr),
    ("warehouse.jdbc_driver.url", Ty::OptStr),
    ("warehouse.jdbc_driver.sha256", Ty::OptStr),
    ("warehouse.jdbc_driver.path", Ty::Str),
    ("mail", Ty::Obj),
    ("mail.smtp_host", Ty::Str),
    ("mail.smtp_port", Ty::Port),
    ("mail.from", Ty::Str),
    ("mail.to", Ty::Str),
    ("mail.starttls", Ty::Bool),
    ("mail.user", Ty::OptStr),
    ("mail.password", Ty::OptStr),
    ("mail.inbox_dir", Ty::OptStr),
    ("airflow", Ty::Obj),
    ("airflow.url", Ty::Str),
    ("packages", Ty::Obj),
    ("packages.apt_proxy", Ty::OptStr),
    ("packages.wheelhouse", Ty::OptStr),
];

fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(root, |v, k| v.get(k))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// Parse the stdout of `terraform output -json` into the contract, or the
/// list of every problem found, each naming the field.
pub fn from_outputs(
    json: &str,
    expect_env: &str,
    expect_target: &str,
) -> Result<Shadow, Vec<String>> {
    let outputs: Value = serde_json::from_str(json)
        .map_err(|e| vec![format!("terraform output -json is not JSON: {e}")])?;
    let Some(shadow) = outputs.get("shadow") else {
        let names: Vec<&String> = outputs
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        return Err(vec![format!(
            "output `shadow` is missing (outputs present: {names:?})"
        )]);
    };
    let value = shadow.get("value").unwrap_or(&Value::Null);
    from_value(value, expect_env, expect_target)
}

pub fn from_value(
    value: &Value,
    expect_env: &str,
    expect_target: &str,
) -> Result<Shadow, Vec<String>> {
    if !value.is_object() {
        return Err(vec![format!(
            "output `shadow` must be an object, got {}",
            type_name(value)
        )]);
    }
    let mut errors = check_shape(value);
    check_values(value, expect_env, expect_target, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    serde_json::from_value(value.clone()).map_err(|e| vec![format!("shadow: {e}")])
}

/// Every field of SCHEMA present with its type (a missing parent object is
/// reported once, at the parent).
fn check_shape(value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    for (path, ty) in SCHEMA {
        let parent_missing = path
            .rsplit_once('.')
            .is_some_and(|(parent, _)| !lookup(value, parent).is_some_and(Value::is_object));
        if parent_missing {
            continue; // reported once, at the parent
        }
        let got = lookup(value, path);
        let ok = match (ty, got) {
            (_, None) => {
                errors.push(format!("shadow.{path}: missing"));
                continue;
            }
            (Ty::Str, Some(Value::String(s))) => {
                !s.is_empty() || {
                    errors.push(format!("shadow.{path}: must not be empty"));
                    true
                }
            }
            (Ty::OptStr, Some(Value::String(_) | Value::Null)) => true,
            (Ty::Int, Some(v)) => v.as_i64().is_some(),
            (Ty::Port, Some(v)) => match v.as_u64() {
                Some(p) if (1..=65535).contains(&p) => true,
                Some(p) => {
                    errors.push(format!("shadow.{path}: port {p} out of range 1-65535"));
                    true
                }
                None => false,
            },
            (Ty::Bool, Some(Value::Bool(_))) => true,
            (Ty::Obj, Some(Value::Object(_))) => true,
            _ => false,
        };
        if !ok {
            let want = match ty {
                Ty::Str => "string",
                Ty::OptStr => "string or null",
                Ty::Int => "integer",
                Ty::Port => "port number",
                Ty::Bool => "bool",
                Ty::Obj => "object",
            };
            errors.push(format!(
                "shadow.{path}: expected {want}, got {}",
                type_name(got.unwrap())
            ));
        }
    }
    errors
}

/// What the types alone do not say: versions, names, formats, and the JDBC
/// driver fields each source needs.
fn check_values(value: &Value, expect_env: &str, expect_target: &str, errors: &mut Vec<String>) {
    if let Some(v) = value.get("contract_version").and_then(Value::as_i64) {
        if v != CONTRACT_VERSION {
            errors.push(format!(
                "shadow.contract_version: this shadowops speaks version {CONTRACT_VERSION}, the module outputs {v}"
            ));
        }
    }
    let str_at = |p: &str| lookup(value, p).and_then(Value::as_str);
    if let Some(env) = str_at("env") {
        if env != expect_env {
            errors.push(format!(
                "shadow.env: module says {env:?}, expected {expect_env:?}"
            ));
        }
    }
    if let Some(t) = str_at("target") {
        if t != expect_target {
            errors.push(format!(
                "shadow.target: module says {t:?}, expected {expect_target:?}"
            ));
        }
    }
    if let Some(t) = str_at("expires_at") {
        if humantime::parse_rfc3339_weak(t).is_err() {
            errors.push(format!(
                "shadow.expires_at: {t:?} is not an RFC 3339 timestamp"
            ));
        }
    }
    if let Some(k) = str_at("host.ssh_host_key") {
        if ssh_key::PublicKey::from_openssh(k).is_err() {
            errors.push(
                "shadow.host.ssh_host_key: not an OpenSSH public key (\"ssh-ed25519 AAAA...\")"
                    .into(),
            );
        }
    }
    if let Some(u) = str_at("airflow.url") {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            errors.push(format!("shadow.airflow.url: {u:?} is not an http(s) URL"));
        }
    }
    if let Some(t) = lookup(value, "airflow.tunnel") {
        if !t.is_boolean() && !t.is_null() {
            errors.push(format!(
                "shadow.airflow.tunnel: expected bool, got {}",
                type_name(t)
            ));
        }
    }
    if let Some(k) = str_at("warehouse.kind") {
        if k != "postgres" && k != "redshift" {
            errors.push(format!(
                "shadow.warehouse.kind: {k:?} is not one of \"postgres\", \"redshift\""
            ));
        }
    }
    if let Some(src) = str_at("warehouse.jdbc_driver.source") {
        match src {
            "apt" if str_at("warehouse.jdbc_driver.package").is_none() => errors.push(
                "shadow.warehouse.jdbc_driver.package: required when source is \"apt\"".into(),
            ),
            "url" => {
                if str_at("warehouse.jdbc_driver.url").is_none() {
                    errors.push(
                        "shadow.warehouse.jdbc_driver.url: required when source is \"url\"".into(),
                    );
                }
                match str_at("warehouse.jdbc_driver.sha256") {
                    Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {}
                    _ => errors.push("shadow.warehouse.jdbc_driver.sha256: 64 hex digits required when source is \"url\"".into()),
                }
            }
            "apt" => {}
            other => errors.push(format!(
                "shadow.warehouse.jdbc_driver.source: {other:?} is not one of \"apt\", \"url\""
            )),
        }
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use serde_json::json;

    pub fn valid() -> Value {
        json!({
            "contract_version": 1,
            "env": "shadow",
            "target": "local",
            "expires_at": "2030-01-01T00:00:00Z",
            "host": {
                "address": "10.213.7.10", "ssh_port": 22, "ssh_user": "admin",
                "ssh_private_key_file": "/h/envs/shadow/keys/id_ed25519",
                "ssh_host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEeXBYtT3kB/gLDL3A3UJjCe9spA7mrqNnU+nvKLvSpi root@h"
            },
            "warehouse": {
                "kind": "postgres", "host": "10.213.7.11", "port": 5432,
                "database": "analytics", "user": "shadow", "password": "s3cretvalue-do-not-print",
                "jdbc_url": "jdbc:postgresql://10.213.7.11:5432/analytics",
                "jdbc_driver_class": "org.postgresql.Driver",
                "jdbc_driver": {"source": "apt", "package": "libpostgresql-jdbc-java", "url": null, "sha256": null,
                                "path": "/usr/share/java/postgresql.jar"}
            },
            "mail": {"smtp_host": "10.213.7.12", "smtp_port": 25, "from": "shadowops@localhost",
                     "to": "team@localhost", "starttls": false, "user": null, "password": null,
                     "inbox_dir": "/h/envs/shadow/inbox"},
            "airflow": {"url": "http://10.213.7.10:8080"},
            "packages": {"apt_proxy": "http://10.213.7.1:3142", "wheelhouse": "/opt/shadowops/wheelhouse"}
        })
    }

    fn outputs(v: Value) -> String {
        json!({"shadow": {"sensitive": true, "type": "object", "value": v}}).to_string()
    }

    #[test]
    fn valid_contract_parses() {
        let s = from_outputs(&outputs(valid()), "shadow", "local").unwrap();
        assert_eq!(s.host.ssh_port, 22);
        assert_eq!(
            s.warehouse.jdbc_driver.path,
            "/usr/share/java/postgresql.jar"
        );
    }

    #[test]
    fn every_missing_and_mistyped_field_is_named() {
        let mut v = valid();
        v["host"].as_object_mut().unwrap().remove("ssh_host_key");
        v["warehouse"]["port"] = json!("5432");
        v.as_object_mut().unwrap().remove("airflow");
        let errs = from_outputs(&outputs(v), "shadow", "local").unwrap_err();
        let all = errs.join("\n");
        assert!(all.contains("shadow.host.ssh_host_key: missing"), "{all}");
        assert!(
            all.contains("shadow.warehouse.port: expected port number, got string"),
            "{all}"
        );
        assert!(all.contains("shadow.airflow: missing"), "{all}");
        assert!(
            !all.contains("airflow.url"),
            "child of a missing parent is not repeated: {all}"
        );
    }

    #[test]
    fn wrong_contract_version_is_refused() {
        let mut v = valid();
        v["contract_version"] = json!(2);
        let errs = from_outputs(&outputs(v), "shadow", "local").unwrap_err();
        assert!(errs[0].contains("speaks version 1"), "{errs:?}");
    }

    #[test]
    fn missing_output_and_wrong_env_are_named() {
        let errs = from_outputs(r#"{"other": {"value": 1}}"#, "shadow", "local").unwrap_err();
        assert!(errs[0].contains("output `shadow` is missing"), "{errs:?}");
        let errs = from_outputs(&outputs(valid()), "other", "aws").unwrap_err();
        assert!(errs.iter().any(|e| e.contains("shadow.env")));
        assert!(errs.iter().any(|e| e.contains("shadow.target")));
    }

    #[test]
    fn bad_host_key_and_redshift_driver_without_checksum() {
        let mut v = valid();
        v["host"]["ssh_host_key"] = json!("not a key");
        v["warehouse"]["jdbc_driver"] = json!({"source": "url", "package": null, "url": "https://x/y.jar", "sha256": "abc", "path": "/opt/x.jar"});
        let errs = from_outputs(&outputs(v), "shadow", "local")
            .unwrap_err()
            .join("\n");
        assert!(
            errs.contains("ssh_host_key: not an OpenSSH public key"),
            "{errs}"
        );
        assert!(errs.contains("sha256: 64 hex digits"), "{errs}");
    }
}
