//! `bake`: an image of a configured host, so that `up --image baked` only
//! converges (issue 9). Locally a podman commit of the host container; on
//! AWS an AMI made by the aws module from a configured instance.
//!
//! Both run the real `up --until configure` on a throwaway env named
//! `bake` / `bake-aws`, stop and disable Airflow on its host (a host made
//! from the image must not boot the bake env's Airflow, only for the play
//! to restart it with its own settings), make the image, and destroy the
//! env whatever happened.

use crate::cli::Target;
use crate::env::{self, EnvDir};
use crate::error::Failure;
use crate::paths;
use crate::supervise::{self, Cmd};
use crate::targets::baked::{baked_ami_file, recipe_stamp};
use crate::targets::{host_cache, local};
use crate::ui;
use anyhow::{bail, Context, Result};

/// Stops and disables every Airflow unit the play installed, then removes
/// the env's own files (keys, passwords, warehouse and SMTP credentials,
/// settings), which the play lists in /var/lib/shadowops/env-files, and the
/// converge stamp: an image carries no secret of the env it was baked in,
/// and `up` writes them again for its own env. No manifest means a host the
/// play did not finish: refused. (No single quotes: the AWS path wraps this
/// in `sudo sh -c '...'`.)
const DISABLE_AIRFLOW: &str = "set -e; cd /etc/systemd/system; units=$(ls airflow-*.service); systemctl disable --now --quiet $units; \
     m=/var/lib/shadowops/env-files; test -s $m || { echo no $m: the play did not finish >&2; exit 1; }; \
     xargs rm -f -- < $m; rm -f $m /var/lib/shadowops/converged";

pub fn run(target: Target, allow_cidr: Option<&str>, auto: bool) -> Result<i32> {
    match target {
        Target::Local => bake_local(auto),
        Target::Aws if auto => Err(Failure::usage("bake --auto is for the local target")),
        Target::Aws => bake_aws(allow_cidr),
    }
}

/// One bake at a time on this machine (they share the env name `bake` and
/// the image store): wait for the one that runs. A background bake then
/// finds the image made if that bake was of the same stamp.
fn bake_lock() -> Result<std::fs::File> {
    std::fs::create_dir_all(paths::cache())?;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(host_cache::lock_file())?;
    match f.try_lock() {
        Ok(()) => return Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => {}
        Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
    }
    ui::info(&format!(
        "waiting for another bake to finish ({} is held; its log: {})",
        host_cache::lock_file().display(),
        host_cache::log_file().display()
    ));
    f.lock()?;
    Ok(f)
}

/// `up --until configure` of the bake env; on failure it is destroyed by
/// `--on-failure destroy`.
fn configure_bake_env(env_name: &str, extra: &[&str]) -> Result<()> {
    let exe = std::env::current_exe()?;
    let up = Cmd::new(&exe)
        .args([
            "up",
            "--env",
            env_name,
            "--until",
            "configure",
            "--ttl",
            "2h",
            "--on-failure",
            "destroy",
            // From the bare base, whatever SHADOWOPS_IMAGE says: the
            // image must hold exactly what the playbook installs.
            "--image",
            "base",
        ])
        .args(extra);
    let done = shadowops_child(&up)?;
    if !done.success() {
        bail!(
            "bake: `up --until configure` failed ({}); see shadowops logs --env {env_name}",
            done.describe()
        );
    }
    Ok(())
}

/// Another shadowops command run by this one (its output passed through).
fn shadowops_child(cmd: &Cmd) -> Result<supervise::Finished> {
    supervise::run(cmd, |is_err, l| {
        if is_err {
            eprintln!("{l}")
        } else {
            println!("{l}")
        }
    })
}

fn destroy_bake_env(env_name: &str) -> Result<()> {
    let exe = std::env::current_exe()?;
    let destroyed = shadowops_child(&Cmd::new(&exe).args(["destroy", "--env", env_name]))?;
    if !destroyed.success() {
        bail!("bake: destroying the bake env failed; run shadowops destroy --env {env_name}");
    }
    Ok(())
}

/// Software stamps whose host image a bake keeps (`prune-images --keep N`
/// chooses otherwise).
const KEEP_STAMPS: usize = 2;

fn bake_local(auto: bool) -> Result<i32> {
    let assets = paths::assets()?;
    let env_name = "bake";
    let stamp = recipe_stamp(&assets);
    let tag = host_cache::tag(&stamp);
    let _lock = bake_lock()?;
    if auto && host_cache::image_exists(&assets, &tag)? {
        ui::info(&format!("bake --auto: {tag} exists already"));
        return Ok(0);
    }
    let started = std::time::Instant::now();
    ui::phase("bake", &format!("software stamp {stamp}: {tag}"));
    if let Err(e) = configure_bake_env(env_name, &[]) {
        // `--on-failure destroy` covers a failure, not an interruption: the
        // bake env goes either way (a background bake has nobody to clean up).
        let _ = destroy_bake_env(env_name);
        return Err(e);
    }
    let host = format!("shadowops-{env_name}-host");
    let made = (|| -> Result<()> {
        let disable = local::podman(&assets).args(["exec", &host, "sh", "-c", DISABLE_AIRFLOW]);
        supervise::run_ok(&disable, |_, l| ui::debug(l))
            .context("bake: disabling Airflow in the bake host")?;
        ui::phase("bake", &format!("committing {host} as {tag}"));
        let commit = local::podman(&assets).args([
            "commit",
            "--pause",
            "--change",
            &format!("LABEL {}", host_cache::LABEL),
            &host,
            &tag,
        ]);
        supervise::run_ok(&commit, |_, l| ui::debug(l))?;
        Ok(())
    })();
    let destroyed = destroy_bake_env(env_name);
    made?;
    destroyed.with_context(|| format!("image {tag} was made"))?;
    std::fs::create_dir_all(paths::cache())?;
    std::fs::write(local::baked_tag_file(), format!("{tag}\n"))?;
    // What would only take disk space goes: the image a re-bake of the same
    // stamp left untagged, and older stamps' images beyond the newest two
    // (two, so that switching between two branches does not re-bake every
    // time). Images a container uses stay (`prune-images` retries).
    match host_cache::baked_images(&assets) {
        Ok(images) => {
            for old in host_cache::to_prune(&images, KEEP_STAMPS, &tag) {
                let rmi = local::podman(&assets).args(["rmi", &old.id]).capture();
                if supervise::run_ok(&rmi, |_, _| {}).is_ok() {
                    ui::info(&format!(
                        "removed the older host image {} ({:.12})",
                        old.tag().unwrap_or("untagged"),
                        old.id
                    ));
                }
            }
        }
        Err(e) => ui::warn(&format!("could not list older host images: {e:#}")),
    }
    ui::ok(&format!(
        "baked {tag} in {:.0}s",
        started.elapsed().as_secs_f64()
    ));
    println!("{tag}");
    Ok(0)
}

fn bake_aws(allow_cidr: Option<&str>) -> Result<i32> {
    let cidr = allow_cidr.ok_or_else(|| {
        Failure::usage("bake --target aws needs --allow-cidr (the CIDR allowed to reach the bake instance's SSH, e.g. 203.0.113.7/32)")
    })?;
    let assets = paths::assets()?;
    let tools = crate::tools::require(Target::Aws, false)?;
    let env_name = "bake-aws";
    configure_bake_env(env_name, &["--target", "aws", "--allow-cidr", cidr])?;
    let dir = EnvDir::new(&env::home()?, env::parse_name(env_name)?);
    let ami_name = format!("shadowops-host-baked-{}", recipe_stamp(&assets));
    let made = (|| -> Result<String> {
        let exe = std::env::current_exe()?;
        let ssh = shadowops_child(
            &Cmd::new(&exe)
                .args(["ssh", "--env", env_name, "--"])
                .arg(format!("sudo sh -c '{DISABLE_AIRFLOW}'")),
        )?;
        if !ssh.success() {
            bail!(
                "bake: disabling Airflow on the bake instance failed ({})",
                ssh.describe()
            );
        }
        // A second apply of the same env with bake_ami_name set: the module
        // makes the AMI from the instance (docs/aws.md).
        let bake_vars = dir.root.join("bake.tfvars.json");
        std::fs::write(
            &bake_vars,
            serde_json::to_vec_pretty(&serde_json::json!({ "bake_ami_name": ami_name }))?,
        )?;
        let mut tf = crate::terraform::for_env(&dir, Target::Aws, tools.terraform.clone(), &assets);
        tf.var_files.push(bake_vars.clone());
        let mut run = crate::runrec::Run::start(&dir.runs_dir(), env_name, "bake")?;
        ui::phase(
            "bake",
            &format!("terraform apply: AMI {ami_name} from the bake instance"),
        );
        tf.init(&run.dir)?;
        let out = tf.apply(&run.dir, false)?;
        let _ = std::fs::remove_file(&bake_vars);
        if !out.finished.success() {
            let report = crate::terraform::run::failure(
                &out,
                crate::report::Phase::Provision,
                "making the AMI failed",
            )
            .locate(env_name, run.dir.clone(), Some(out.log.clone()), true);
            run.finish("failed", report.exit_code(), 0.0)?;
            eprint!("{}", report.render());
            return Err(Failure::Phase(Box::new(report)).into());
        }
        let value: serde_json::Value = serde_json::from_str(&tf.output_value("baked_ami_id")?)
            .context("reading the baked_ami_id output")?;
        let ami = value
            .as_str()
            .filter(|a| a.starts_with("ami-"))
            .ok_or_else(|| {
                anyhow::anyhow!("the aws module's baked_ami_id output is {value}, not an AMI ID")
            })?
            .to_string();
        // The AMI must outlive the bake env: out of the state, destroy keeps it.
        tf.state_rm("module.compute.aws_ami_from_instance.baked[0]")?;
        run.finish("ok", 0, 0.0)?;
        Ok(ami)
    })();
    let destroyed = destroy_bake_env(env_name);
    let ami = made?;
    destroyed.with_context(|| format!("AMI {ami} was made"))?;
    std::fs::create_dir_all(paths::cache())?;
    std::fs::write(
        baked_ami_file(),
        format!("{ami} {}\n", crate::terraform::aws_region()),
    )?;
    println!("{ami}");
    Ok(0)
}
