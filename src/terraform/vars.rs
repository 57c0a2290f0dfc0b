//! Typed Terraform input variables, one struct per target. Non-secret values
//! go to `terraform.tfvars.json`; secrets to a 0600 var file passed by path.

use serde::Serialize;

/// Variables every target declares (docs/interfaces.md).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Common {
    pub env_name: String,
    pub owner: String,
    pub expires_at: String,
    pub ssh_public_key: String,
    pub ssh_private_key_file: String,
    /// local: the host key's path. aws: None (left out): the key goes as
    /// text in the secrets file ([`Secrets::ssh_host_key_private`]), so no
    /// plan reads a local key file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_host_key_private_file: Option<String>,
    pub ssh_host_key_public: String,
    pub warehouse_database: String,
    pub warehouse_user: String,
    pub mail_from: String,
    pub mail_to: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Local {
    #[serde(flatten)]
    pub common: Common,
    pub env_dir: String,
    pub subnet_cidr: String,
    pub host_image: String,
    pub warehouse_image: String,
    pub mail_image: String,
    pub lease_file: String,
    pub max_lifetime_seconds: u64,
    pub wheelhouse_dir: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Aws {
    #[serde(flatten)]
    pub common: Common,
    /// As resolved by targets::aws::resolve_region (AWS_REGION,
    /// AWS_DEFAULT_REGION, the profile's region).
    pub region: String,
    pub operator_cidr: String,
    /// A baked AMI (`up --image baked`), or empty for Debian's newest.
    pub host_ami_id: String,
    /// SHADOWOPS_SMTP_HOST; null (not left out) without it: the module then
    /// uses SES in the env's region.
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    pub smtp_user: String,
    /// `up --warehouse`: new, existing or snapshot.
    pub warehouse_mode: String,
    /// existing: the team's warehouse (SHADOWOPS_WAREHOUSE_CONFIG); null otherwise.
    pub existing_warehouse: Option<Box<crate::targets::aws::existing::ExistingWarehouse>>,
    /// snapshot: the snapshot the cluster is restored from; null otherwise.
    pub redshift_snapshot_identifier: Option<String>,
    /// `up --backstop-grace`; left out without it (the module's 30m).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backstop_grace: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Inputs {
    Local(Local),
    Aws(Aws),
}

/// Secret inputs: only ever written to the 0600 secrets var file.
#[derive(Serialize)]
pub struct Secrets {
    pub warehouse_password: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_password: Option<String>,
    /// aws: the host key's private half as text (terraform/aws
    /// `ssh_host_key_private`); local reads its file instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_host_key_private: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common() -> Common {
        Common {
            env_name: "e".into(),
            owner: "o".into(),
            expires_at: "2030-01-01T00:00:00Z".into(),
            ssh_public_key: "ssh-ed25519 AAAA".into(),
            ssh_private_key_file: "/k".into(),
            ssh_host_key_private_file: Some("/hk".into()),
            ssh_host_key_public: "ssh-ed25519 BBBB".into(),
            warehouse_database: "analytics".into(),
            warehouse_user: "shadow".into(),
            mail_from: "a@b".into(),
            mail_to: "c@d".into(),
        }
    }

    #[test]
    fn local_vars_are_flat_and_carry_no_secret() {
        let v = Inputs::Local(Local {
            common: common(),
            env_dir: "/h/envs/e".into(),
            subnet_cidr: "10.213.1.0/24".into(),
            host_image: "h".into(),
            warehouse_image: "w".into(),
            mail_image: "m".into(),
            lease_file: "/h/envs/e/lease".into(),
            max_lifetime_seconds: 3600,
            wheelhouse_dir: "/c/wheelhouse".into(),
        });
        let j = serde_json::to_value(&v).unwrap();
        assert_eq!(j["env_name"], "e");
        assert_eq!(j["subnet_cidr"], "10.213.1.0/24");
        assert!(j.get("warehouse_password").is_none());
        assert!(j.get("common").is_none());
    }

    /// Every variable the driver sends to terraform/aws is declared there;
    /// the host key travels as text in the secrets file, never as a path,
    /// and a missing SMTP host is null (SES in the env's region).
    #[test]
    fn aws_vars_match_the_module_and_keep_the_key_secret() {
        let declared = |path: &str| -> Vec<String> {
            let text = std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path),
            )
            .unwrap();
            text.lines()
                .filter_map(|l| l.strip_prefix("variable \""))
                .filter_map(|l| l.split('"').next())
                .map(str::to_string)
                .collect()
        };
        let module = declared("terraform/aws/variables.tf");
        let mut c = common();
        c.ssh_host_key_private_file = None;
        let v = serde_json::to_value(Inputs::Aws(Aws {
            common: c,
            region: "eu-west-1".into(),
            operator_cidr: "203.0.113.7/32".into(),
            host_ami_id: String::new(),
            smtp_host: None,
            smtp_port: 587,
            smtp_user: String::new(),
            warehouse_mode: "existing".into(),
            existing_warehouse: Some(Box::new(
                serde_json::from_str(
                    r#"{"endpoint": "wh.example", "cluster_identifier": "team-wh", "db_user": "admin",
                        "vpc_id": "vpc-0123abcd", "host_subnet_id": "subnet-0123abcd"}"#,
                )
                .unwrap(),
            )),
            redshift_snapshot_identifier: None,
            backstop_grace: Some("1h".into()),
        }))
        .unwrap();
        let s = serde_json::to_value(Secrets {
            warehouse_password: "pw".into(),
            smtp_password: Some("x".into()),
            ssh_host_key_private: Some("-----BEGIN OPENSSH PRIVATE KEY-----\n".into()),
        })
        .unwrap();
        for key in v
            .as_object()
            .unwrap()
            .keys()
            .chain(s.as_object().unwrap().keys())
        {
            assert!(
                module.contains(key),
                "{key} is not a variable of terraform/aws"
            );
        }
        assert!(v.get("ssh_host_key_private_file").is_none());
        assert!(v.get("ssh_host_key_private").is_none());
        assert!(v["smtp_host"].is_null());
        assert!(v["redshift_snapshot_identifier"].is_null());
        assert_eq!(v["backstop_grace"], "1h");
        // Every key of the team's file is a field of the module's object.
        let vars_tf = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("terraform/aws/variables.tf"),
        )
        .unwrap();
        let object = vars_tf
            .split("variable \"existing_warehouse\"")
            .nth(1)
            .unwrap()
            .split("})")
            .next()
            .unwrap();
        for key in v["existing_warehouse"].as_object().unwrap().keys() {
            assert!(
                object.contains(&format!("\n    {key} ")),
                "{key} is not a field of existing_warehouse"
            );
        }
        assert!(s["ssh_host_key_private"]
            .as_str()
            .unwrap()
            .contains("PRIVATE KEY"));
        // local still passes the key's path (terraform/local reads the file).
        let local = declared("terraform/local/variables.tf");
        assert!(local.contains(&"ssh_host_key_private_file".to_string()));
        let c = serde_json::to_value(common()).unwrap();
        assert_eq!(c["ssh_host_key_private_file"], "/hk");
    }

    #[test]
    fn secrets_never_debug_print() {
        let s = Secrets {
            warehouse_password: "pw-123".into(),
            smtp_password: None,
            ssh_host_key_private: Some("-----BEGIN OPENSSH PRIVATE KEY-----".into()),
        };
        assert!(!format!("{s:?}").contains("pw-123"));
        assert!(!format!("{s:?}").contains("PRIVATE"));
        assert_eq!(
            serde_json::to_value(&s).unwrap()["warehouse_password"],
            "pw-123"
        );
    }
}
