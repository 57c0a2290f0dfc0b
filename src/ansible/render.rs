//! Contract → inventory.yml, vars.yml, secrets.yml (0600) and known_hosts,
//! through the minijinja templates kept in `templates/`.

use crate::contract::Shadow;
use crate::env::write_private;
use anyhow::{Context, Result};
use minijinja::Environment;
use serde::Serialize;
use std::path::{Path, PathBuf};

pub const AIRFLOW_PORT: u16 = 8080;
pub const MASK: &str = "********";

#[derive(Serialize)]
struct Ctx<'a> {
    #[serde(flatten)]
    shadow: &'a Shadow,
    known_hosts: String,
    pipeline_src: String,
    /// Top-level entries of the (staged) pipeline folder besides dags/:
    /// deployed to the host as the pipeline's code.
    pipeline_code_dirs: Vec<String>,
    pipeline_r_repos: Vec<String>,
    pipeline_r_apt_packages: Vec<String>,
    pipeline_python_requirements: String,
    /// Where the playbook downloads the pipeline's wheels on this machine
    /// (the folder the host sees as its wheelhouse).
    pipeline_wheelhouse_controller_dir: String,
    airflow_port: u16,
    airflow_admin_password: &'a str,
}

pub struct Rendered {
    pub inventory: String,
    pub vars: String,
    pub secrets: String,
    pub known_hosts: String,
}

pub struct Files {
    pub inventory: PathBuf,
    pub vars: PathBuf,
    pub secrets: PathBuf,
}

/// Render everything in memory (used by `up`, `inventory` and the golden tests).
pub fn render(
    templates: &Path,
    shadow: &Shadow,
    known_hosts: &Path,
    pipeline_src: &Path,
    airflow_admin_password: &str,
) -> Result<Rendered> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let load = |name: &str| -> Result<String> {
        let p = templates.join(name);
        std::fs::read_to_string(&p).with_context(|| format!("reading template {}", p.display()))
    };
    let (inv, vars, secrets) = (
        load("inventory.yml.j2")?,
        load("vars.yml.j2")?,
        load("secrets.yml.j2")?,
    );
    env.add_template("inventory", &inv)?;
    env.add_template("vars", &vars)?;
    env.add_template("secrets", &secrets)?;
    // The folder was checked before anything ran; a folder that is gone
    // (inventory of an old env) renders with the defaults.
    let spec = crate::pipeline_folder::spec::load(pipeline_src).unwrap_or_default();
    let mut pipeline_code_dirs: Vec<String> = std::fs::read_dir(pipeline_src)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "dags")
                .collect()
        })
        .unwrap_or_default();
    pipeline_code_dirs.sort();
    let ctx = Ctx {
        shadow,
        known_hosts: known_hosts.display().to_string(),
        pipeline_src: pipeline_src.display().to_string(),
        pipeline_code_dirs,
        pipeline_r_repos: spec.r_repos,
        pipeline_r_apt_packages: spec.r_apt,
        pipeline_python_requirements: spec.python_requirements,
        pipeline_wheelhouse_controller_dir: crate::paths::cache()
            .join("wheelhouse")
            .display()
            .to_string(),
        airflow_port: AIRFLOW_PORT,
        airflow_admin_password,
    };
    let r = |name: &str| -> Result<String> {
        env.get_template(name)?
            .render(&ctx)
            .with_context(|| format!("rendering template {name}.yml.j2"))
    };
    Ok(Rendered {
        inventory: r("inventory")? + "\n",
        vars: r("vars")? + "\n",
        secrets: r("secrets")? + "\n",
        known_hosts: known_hosts_line(shadow),
    })
}

/// `[addr]:port key` when the port is not 22, as OpenSSH writes it.
pub fn known_hosts_line(s: &Shadow) -> String {
    let host = if s.host.ssh_port == 22 {
        s.host.address.clone()
    } else {
        format!("[{}]:{}", s.host.address, s.host.ssh_port)
    };
    // Keep only "type base64" of the key; the comment is not part of the pin.
    let key: Vec<&str> = s.host.ssh_host_key.split_whitespace().take(2).collect();
    format!("{host} {}\n", key.join(" "))
}

/// Write the rendered files into `<env>/ansible/` (secrets 0600).
pub fn write(dir: &Path, known_hosts: &Path, r: &Rendered) -> Result<Files> {
    std::fs::create_dir_all(dir)?;
    let files = Files {
        inventory: dir.join("inventory.yml"),
        vars: dir.join("vars.yml"),
        secrets: dir.join("secrets.yml"),
    };
    std::fs::write(&files.inventory, &r.inventory)?;
    std::fs::write(&files.vars, &r.vars)?;
    write_private(&files.secrets, r.secrets.as_bytes())?;
    std::fs::write(known_hosts, &r.known_hosts)?;
    Ok(files)
}

/// Replace every secret value of the contract with a mask (for `inventory`
/// and the run record's copy of the inputs).
pub fn masked(shadow: &Shadow) -> Shadow {
    let mut s = shadow.clone();
    s.warehouse.password = MASK.into();
    if s.mail.password.is_some() {
        s.mail.password = Some(MASK.into());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shadow() -> Shadow {
        serde_json::from_value(crate::contract::tests::valid()).unwrap()
    }

    fn templates() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("templates")
    }

    fn golden(name: &str, got: &str) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, got).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!(
                "missing golden file {} (run with UPDATE_GOLDEN=1)",
                path.display()
            )
        });
        assert_eq!(
            got, want,
            "golden {name} differs (UPDATE_GOLDEN=1 to accept)"
        );
    }

    #[test]
    fn inventory_vars_and_secrets_match_golden_files() {
        let r = render(
            &templates(),
            &shadow(),
            Path::new("/h/envs/shadow/known_hosts"),
            Path::new("/repo/pipeline/example"),
            "airflow-pw-not-for-logs",
        )
        .unwrap();
        golden("inventory.yml", &r.inventory);
        // The machine's cache folder differs per machine.
        let cache = crate::paths::cache().display().to_string();
        golden("vars.yml", &r.vars.replace(&cache, "/CACHE"));
        golden("secrets.yml", &r.secrets);
        golden("known_hosts", &r.known_hosts);
        assert!(!r.vars.contains("s3cretvalue") && !r.inventory.contains("s3cretvalue"));
        assert!(r.secrets.contains("s3cretvalue") && r.secrets.contains("airflow-pw-not-for-logs"));
    }

    #[test]
    fn masked_inventory_hides_every_secret() {
        let r = render(
            &templates(),
            &masked(&shadow()),
            Path::new("/k"),
            Path::new("/p"),
            MASK,
        )
        .unwrap();
        assert!(!format!("{}{}{}", r.inventory, r.vars, r.secrets).contains("s3cretvalue"));
    }

    #[test]
    fn non_default_ssh_port_uses_bracket_form() {
        let mut s = shadow();
        s.host.ssh_port = 2222;
        assert!(known_hosts_line(&s).starts_with("[10.213.7.10]:2222 ssh-ed25519 "));
    }
}
