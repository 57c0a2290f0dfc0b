//! `inventory`: the rendered Ansible inventory and variables, secrets masked;
//! `--write` also writes the real files and prints the command to run the play.

use super::existing;
use crate::ansible::render;
use crate::error::Failure;
use crate::paths;
use anyhow::Result;

pub fn run(raw: &str, write: bool) -> Result<i32> {
    let dir = existing(raw)?;
    let shadow = dir.contract().ok_or_else(|| {
        Failure::usage(format!("env {raw} has no contract yet (it is written by the handoff phase: shadowops up --env {raw} --until provision)"))
    })?;
    let state = dir.load_state()?.unwrap_or_default();
    let assets = paths::assets()?;
    // The staged copy `up` deployed; else the folder it was given.
    let pipeline = Some(dir.pipeline_dir())
        .filter(|p| p.is_dir())
        .or(state.pipeline_src)
        .unwrap_or_else(|| assets.join("pipeline/example"));
    let r = render::render(
        &assets.join("templates"),
        &render::masked(&shadow),
        &dir.known_hosts(),
        &pipeline,
        render::MASK,
    )?;
    println!(
        "# {}\n{}",
        dir.ansible_dir().join("inventory.yml").display(),
        r.inventory
    );
    println!(
        "# {}\n{}",
        dir.ansible_dir().join("vars.yml").display(),
        r.vars
    );
    println!(
        "# {} (mode 0600; values masked)\n{}",
        dir.ansible_dir().join("secrets.yml").display(),
        r.secrets
    );
    println!("# {}\n{}", dir.known_hosts().display(), r.known_hosts);
    if write {
        let pw = std::fs::read_to_string(dir.airflow_password_file())?
            .trim()
            .to_string();
        let real = render::render(
            &assets.join("templates"),
            &shadow,
            &dir.known_hosts(),
            &pipeline,
            &pw,
        )?;
        let files = render::write(&dir.ansible_dir(), &dir.known_hosts(), &real)?;
        let cmd = crate::ansible::run::Playbook::new(
            std::path::PathBuf::from("ansible-playbook"),
            &assets,
        )
        .command(&files, &[]);
        eprintln!(
            "wrote {} (secrets.yml is 0600); to run the play by hand:",
            dir.ansible_dir().display()
        );
        eprintln!(
            "  ANSIBLE_CONFIG={} {}",
            assets.join("ansible/ansible.cfg").display(),
            cmd.display()
        );
    }
    Ok(0)
}
