//! The AWS target's hand-off, without AWS: a recorded AWS-shaped contract
//! (tests/fixtures/contract-aws.json, Redshift values) goes through the real
//! driver's rendering (`shadowops inventory`), the rendered inventory and vars
//! pass `ansible-playbook --syntax-check` of the real playbook, and the jdbc
//! role's variables resolve to the Redshift driver, its download URL and its
//! checksum. Ansible runs with `connection: local` and only controller-side
//! actions (include_vars, assert): nothing contacts the fixture's addresses.
//!
//! (Cargo builds `tests/<dir>/main.rs` as an integration test; the Python
//! files beside it are the static checks run by scripts/static-checks.sh.)

#[path = "../common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

const ENV: &str = "ci-1234";

fn fixture() -> serde_json::Value {
    let raw =
        std::fs::read_to_string(common::repo().join("tests/fixtures/contract-aws.json")).unwrap();
    serde_json::from_str(&raw).unwrap()
}

fn ansible_playbook() -> PathBuf {
    let venv = common::repo().join(".venv/bin/ansible-playbook");
    if venv.is_file() {
        return venv;
    }
    which::which("ansible-playbook").expect(
        "ansible-playbook not found: run `make tools` (it installs ansible-core into .venv)",
    )
}

/// `shadowops inventory` prints each file after a `# <path>` header line.
fn split_sections(out: &str, env_dir: &Path) -> (String, String, String) {
    let ansible = env_dir.join("ansible");
    let headers = [
        format!("# {}\n", ansible.join("inventory.yml").display()),
        format!("# {}\n", ansible.join("vars.yml").display()),
        format!(
            "# {} (mode 0600; values masked)\n",
            ansible.join("secrets.yml").display()
        ),
        format!("# {}\n", env_dir.join("known_hosts").display()),
    ];
    let at: Vec<usize> = headers
        .iter()
        .map(|h| {
            out.find(h.as_str())
                .unwrap_or_else(|| panic!("no section {h:?} in:\n{out}"))
        })
        .collect();
    let body = |i: usize| out[at[i] + headers[i].len()..at[i + 1]].to_string();
    (body(0), body(1), body(2))
}

fn ansible(cmd: &mut Command) -> std::process::Output {
    cmd.env("ANSIBLE_CONFIG", common::repo().join("ansible/ansible.cfg"))
        .env("ANSIBLE_STDOUT_CALLBACK", "default")
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn aws_contract_renders_and_the_playbook_accepts_it_with_the_redshift_jdbc_driver() {
    let sandbox = common::Sandbox::real();
    let env_dir = sandbox.env_dir(ENV);
    std::fs::create_dir_all(&env_dir).unwrap();
    // What the handoff phase leaves behind: env.json at "provisioned" and the
    // contract (as `up` writes it from `terraform output -json shadow`).
    let state = serde_json::json!({
        "env": ENV, "target": "aws", "owner": "ci", "status": "provisioned",
        "phases": {}, "interrupted": false, "durations": {}
    });
    std::fs::write(
        env_dir.join("env.json"),
        serde_json::to_vec_pretty(&state).unwrap(),
    )
    .unwrap();
    let contract = fixture();
    std::fs::write(
        env_dir.join("contract.json"),
        serde_json::to_vec_pretty(&contract).unwrap(),
    )
    .unwrap();

    // 1. The driver's own templates and renderer.
    let out = sandbox.cmd(&["inventory", "--env", ENV]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "shadowops inventory failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (inventory, vars, secrets) = split_sections(&stdout, &env_dir);
    let warehouse = &contract["warehouse"];
    let driver = &warehouse["jdbc_driver"];
    for (key, want) in [
        ("warehouse_kind", &warehouse["kind"]),
        (
            "warehouse_jdbc_driver_class",
            &warehouse["jdbc_driver_class"],
        ),
        ("warehouse_jdbc_url", &warehouse["jdbc_url"]),
        ("jdbc_driver_source", &driver["source"]),
        ("jdbc_driver_url", &driver["url"]),
        ("jdbc_driver_sha256", &driver["sha256"]),
        ("jdbc_driver_path", &driver["path"]),
    ] {
        let line = format!("{key}: {want}\n");
        assert!(vars.contains(&line), "vars.yml lacks {line:?}:\n{vars}");
    }
    assert!(
        !stdout.contains(warehouse["password"].as_str().unwrap()),
        "the warehouse password was printed"
    );
    assert!(
        !stdout.contains(contract["mail"]["password"].as_str().unwrap()),
        "the SMTP password was printed"
    );

    let work = sandbox.dir.path().join("ansible");
    std::fs::create_dir_all(&work).unwrap();
    let (inv, vars_file, secrets_file) = (
        work.join("inventory.yml"),
        work.join("vars.yml"),
        work.join("secrets.yml"),
    );
    std::fs::write(&inv, &inventory).unwrap();
    std::fs::write(&vars_file, &vars).unwrap();
    std::fs::write(&secrets_file, &secrets).unwrap();
    let extra = |c: &mut Command| {
        c.arg("-i")
            .arg(&inv)
            .arg("-e")
            .arg(format!("@{}", vars_file.display()))
            .arg("-e")
            .arg(format!("@{}", secrets_file.display()));
    };

    // 2. The real playbook parses with these inputs.
    let mut syntax = Command::new(ansible_playbook());
    extra(&mut syntax);
    syntax
        .arg("--syntax-check")
        .arg(common::repo().join("ansible/site.yml"));
    let out = ansible(&mut syntax);
    assert!(
        out.status.success(),
        "ansible-playbook --syntax-check failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // 3. The jdbc role's effective values (its defaults, overridden by
    //    vars.yml as in a real run) are the Redshift jar and its checksum.
    //    The expressions are those of roles/jdbc/tasks/driver.yml.
    let defaults = common::repo().join("ansible/roles/jdbc/defaults/main.yml");
    let play = work.join("resolve-jdbc.yml");
    std::fs::write(
        &play,
        format!(
            r#"---
- name: Resolve the jdbc role's variables for an AWS-shaped contract
  hosts: shadow
  connection: local
  gather_facts: false
  tasks:
    - name: Load the jdbc role's defaults (extra vars still take precedence)
      ansible.builtin.include_vars:
        file: {defaults}
    - name: The effective driver is the pinned Redshift jar
      ansible.builtin.assert:
        that:
          - jdbc_driver_source == 'url'
          - (jdbc_driver_url | default(jdbc_redshift_url, true)) == {url}
          - (jdbc_driver_sha256 | default(jdbc_redshift_sha256, true)) == {sha}
          - (jdbc_driver_sha256 | default(jdbc_redshift_sha256, true)) is match('^[0-9a-f]{{64}}$')
          - (jdbc_driver_path | default(jdbc_redshift_path, true)) == {path}
          - warehouse_jdbc_driver_class == 'com.amazon.redshift.Driver'
          - warehouse_jdbc_url is match('^jdbc:redshift://[^/]+:5439/')
          - warehouse_port == 5439
          - mail_starttls
"#,
            defaults = defaults.display(),
            url = driver["url"],
            sha = driver["sha256"],
            path = driver["path"],
        ),
    )
    .unwrap();
    let mut resolve = Command::new(ansible_playbook());
    extra(&mut resolve);
    resolve.arg(&play);
    let out = ansible(&mut resolve);
    assert!(
        out.status.success(),
        "the jdbc role's variables do not resolve to the Redshift driver:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
