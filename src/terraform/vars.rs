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
    pub ssh_host_key_private_file: String,
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
    pub region: String,
    pub operator_cidr: String,
    /// A baked AMI (`up --image baked`), or empty for Debian's newest.
    pub host_ami_id: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_user: String,
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
            ssh_host_key_private_file: "/hk".into(),
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

    #[test]
    fn secrets_never_debug_print() {
        let s = Secrets {
            warehouse_password: "pw-123".into(),
            smtp_password: None,
        };
        assert!(!format!("{s:?}").contains("pw-123"));
        assert_eq!(
            serde_json::to_value(&s).unwrap()["warehouse_password"],
            "pw-123"
        );
    }
}
