//! Phase 1, vars: per-env keys and secrets, the lease deadline, and the
//! typed Terraform inputs (`terraform.tfvars.json` + a 0600 secrets file).
//! Returns the env's Terraform and the digest of everything provision reads.

use super::Ctx;
use crate::cli::{ImageChoice, Target, WarehouseChoice};
use crate::digest::Hasher;
use crate::env::{self};
use crate::keys;
use crate::lease;
use crate::paths;
use crate::report::Phase;
use crate::targets::aws::{self, existing};
use crate::targets::host_cache::{self, HostImage};
use crate::targets::local;
use crate::terraform::{vars, Terraform};
use crate::ui;
use anyhow::Result;
use std::time::{Instant, SystemTime};

pub fn run(ctx: &mut Ctx) -> Result<(Terraform, String)> {
    let start = Instant::now();
    ui::phase("vars", "keys, secrets and Terraform variables");
    let keys = keys::ensure(&ctx.dir)?;
    let warehouse_password =
        keys::ensure_secret(&ctx.dir.secrets_dir().join("warehouse-password"))?;
    keys::ensure_secret(&ctx.dir.airflow_password_file())?;
    let expires_at = SystemTime::now() + ctx.lease;
    ctx.state.expires_at = Some(expires_at);
    lease::write_lease_file(&ctx.dir, expires_at)?;
    let common = vars::Common {
        env_name: ctx.dir.name.to_string(),
        owner: ctx.state.owner.clone(),
        expires_at: lease::rfc3339(expires_at),
        ssh_public_key: keys.client_public.clone(),
        ssh_private_key_file: keys.client_private.display().to_string(),
        // local: the path; aws: none, the key goes as text in the secrets file.
        ssh_host_key_private_file: (ctx.args.target == Target::Local)
            .then(|| keys.host_private.display().to_string()),
        ssh_host_key_public: keys.host_public.clone(),
        // existing: the env's own database and login in the team's
        // warehouse, which the driver creates after the apply.
        warehouse_database: match ctx.args.warehouse {
            WarehouseChoice::Existing if ctx.args.target == Target::Aws => {
                existing::env_database(&ctx.state.owner, ctx.dir.name.as_str()).into()
            }
            _ => "analytics".into(),
        },
        warehouse_user: match ctx.args.warehouse {
            WarehouseChoice::Existing if ctx.args.target == Target::Aws => {
                existing::env_database(&ctx.state.owner, ctx.dir.name.as_str()).into()
            }
            _ => "shadow".into(),
        },
        mail_from: std::env::var("SHADOWOPS_MAIL_FROM")
            .unwrap_or_else(|_| "shadowops@localhost".into()),
        mail_to: std::env::var("SHADOWOPS_MAIL_TO").unwrap_or_else(|_| "team@localhost".into()),
    };
    let mut secrets = vars::Secrets {
        warehouse_password,
        smtp_password: None,
        ssh_host_key_private: None,
    };
    let extra_env = crate::terraform::env_vars(ctx.args.target, &ctx.assets);
    let inputs = match ctx.args.target {
        Target::Local => vars::Inputs::Local(local_inputs(ctx, common)?),
        Target::Aws => {
            secrets.smtp_password = std::env::var("SHADOWOPS_SMTP_PASSWORD").ok();
            // As text in the 0600 secrets file: no plan reads a local key
            // file, and a destroy from shared state needs none.
            secrets.ssh_host_key_private = Some(std::fs::read_to_string(&keys.host_private)?);
            vars::Inputs::Aws(aws_inputs(ctx, common)?)
        }
    };
    let tfvars = serde_json::to_vec_pretty(&inputs)?;
    std::fs::write(ctx.dir.tfvars(), &tfvars)?;
    env::write_private(
        &ctx.dir.secret_tfvars(),
        &serde_json::to_vec_pretty(&secrets)?,
    )?;
    // The run record keeps the (non-secret) inputs as they were.
    std::fs::write(ctx.run.file("terraform.tfvars.json"), &tfvars)?;

    let module = ctx.assets.join("terraform").join(ctx.args.target.as_str());
    // expires_at is left out: extending a lease must not re-provision.
    let mut for_digest: serde_json::Value = serde_json::from_slice(&tfvars)?;
    for_digest["expires_at"] = serde_json::Value::Null;
    let mut var_files = vec![ctx.dir.tfvars(), ctx.dir.secret_tfvars()];
    let mut h = Hasher::new();
    h.str("tfvars", &for_digest.to_string())
        .file(&ctx.dir.secret_tfvars())
        .tree(&module);
    if let Some(extra) = &ctx.var_file {
        // Copied into the env so destroy sees the same inputs later.
        let copy = ctx.dir.root.join("extra.tfvars.json");
        std::fs::copy(extra, &copy)?;
        std::fs::copy(extra, ctx.run.file("extra.tfvars.json"))?;
        h.file(&copy);
        var_files.push(copy);
    } else {
        let _ = std::fs::remove_file(ctx.dir.root.join("extra.tfvars.json"));
    }
    let digest = h.finish();
    let tf = Terraform {
        bin: ctx.tools.terraform.clone(),
        module,
        tf_dir: ctx.dir.tf_dir(),
        var_files,
        extra_env,
        target: ctx.args.target,
        state_key: crate::terraform::state_key(
            ctx.args.target,
            &ctx.state.owner,
            ctx.dir.name.as_str(),
        ),
    };
    let secs = start.elapsed().as_secs_f64();
    ctx.mark(Phase::Vars, "-".into(), secs)?;
    Ok((tf, digest))
}

/// The local target's inputs: images built (or reused), a subnet allocated.
fn local_inputs(ctx: &mut Ctx, common: vars::Common) -> Result<vars::Local> {
    std::fs::create_dir_all(ctx.dir.inbox_dir())?;
    let images = local::build_images(&ctx.assets, &ctx.run.dir)?;
    // The host a live env already has (its image is an input of the host
    // resource: a different one would replace the host).
    let existing = (ctx.state.status != env::Status::Destroyed)
        .then_some(ctx.state.host_image.as_deref())
        .flatten();
    let chosen = host_cache::resolve(ctx.args.image, &ctx.assets, &images, existing)?;
    match &chosen {
        HostImage::Cached(i) if ctx.args.image == ImageChoice::Auto => {
            ui::info(&format!("  host image: {i} (software cache of this playbook)"))
        }
        HostImage::Base {
            build_cache: true, ..
        } => ui::info(
            "  host image: base (no software cache for this playbook yet: configure installs everything, once)",
        ),
        _ => ui::debug(&format!("host image: {}", chosen.image())),
    }
    ctx.build_host_cache = matches!(
        chosen,
        HostImage::Base {
            build_cache: true,
            ..
        }
    );
    let host_image = chosen.image().to_string();
    let subnet = match &ctx.state.subnet_cidr {
        Some(s) => s.clone(),
        None => local::allocate_subnet(&ctx.assets, &ctx.home, ctx.dir.name.as_str())?,
    };
    ctx.state.subnet_cidr = Some(subnet.clone());
    ctx.state.host_image = Some(host_image.clone());
    let max = ctx.args.max_ttl.max(ctx.lease);
    Ok(vars::Local {
        common,
        env_dir: ctx.dir.root.display().to_string(),
        subnet_cidr: subnet,
        host_image,
        warehouse_image: images.warehouse,
        mail_image: images.mail,
        lease_file: ctx.dir.lease_file().display().to_string(),
        // Hard cap for `podman run --timeout`: the longest an
        // extended lease may last, plus a margin for destroy.
        max_lifetime_seconds: max.as_secs() + 600,
        wheelhouse_dir: paths::cache().join("wheelhouse").display().to_string(),
    })
}

/// The aws target's inputs: region from the standard chain, SMTP relay
/// from SHADOWOPS_SMTP_* (null host: SES in the env's region).
fn aws_inputs(ctx: &Ctx, common: vars::Common) -> Result<vars::Aws> {
    let region = aws::resolve_region(aws::find_cli().as_deref())?;
    let smtp_host = std::env::var("SHADOWOPS_SMTP_HOST")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty());
    if smtp_host.is_none() {
        ui::info(&format!(
            "SMTP relay: SES in {region} ({}; SHADOWOPS_SMTP_HOST overrides)",
            aws::default_smtp_host(&region)
        ));
    }
    Ok(vars::Aws {
        common,
        operator_cidr: ctx.args.allow_cidr.clone().unwrap_or_default(),
        host_ami_id: match ctx.args.image {
            ImageChoice::Baked => crate::targets::baked::baked_ami(&region)?,
            // AMIs are baked on purpose (`bake --target aws`): auto is base.
            ImageChoice::Base | ImageChoice::Auto => String::new(),
        },
        region,
        smtp_host,
        smtp_port: std::env::var("SHADOWOPS_SMTP_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(587),
        smtp_user: std::env::var("SHADOWOPS_SMTP_USER").unwrap_or_default(),
        warehouse_mode: ctx.args.warehouse.mode().into(),
        // Checked by `up` before anything was made (commands/up.rs).
        existing_warehouse: match ctx.args.warehouse {
            WarehouseChoice::Existing => Some(Box::new(existing_config(ctx)?)),
            _ => None,
        },
        redshift_snapshot_identifier: snapshot_of(&ctx.args.warehouse),
        backstop_grace: ctx
            .args
            .backstop_grace
            .as_ref()
            .map(|g| g.terraform.clone()),
    })
}

/// `--warehouse snapshot:NAME` as terraform/aws's redshift_snapshot_identifier.
fn snapshot_of(choice: &WarehouseChoice) -> Option<String> {
    match choice {
        WarehouseChoice::Snapshot(name) => Some(name.clone()),
        _ => None,
    }
}

/// The team's warehouse file (`--warehouse-config`, SHADOWOPS_WAREHOUSE_CONFIG).
pub fn existing_config(ctx: &Ctx) -> Result<existing::ExistingWarehouse> {
    let path = ctx.args.warehouse_config.as_deref().ok_or_else(|| {
        crate::error::Failure::usage(
            "--warehouse existing needs --warehouse-config FILE (or SHADOWOPS_WAREHOUSE_CONFIG): the team's warehouse, docs/aws.md",
        )
    })?;
    existing::ExistingWarehouse::load(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{warehouse_choice, Cli, Command};
    use clap::Parser;

    /// `--warehouse snapshot:NAME` on the command line ends as the
    /// module's warehouse_mode and redshift_snapshot_identifier in the
    /// tfvars; `new` and `existing` send no snapshot.
    #[test]
    fn a_snapshot_reaches_the_tfvars() {
        let up = |w: &str| match Cli::try_parse_from([
            "shadowops",
            "up",
            "--target",
            "aws",
            "--warehouse",
            w,
        ])
        .unwrap()
        .command
        {
            Command::Up(a) => a,
            other => panic!("{other:?}"),
        };
        let a = up("snapshot:prod-nightly-2026-12-06");
        assert_eq!(a.warehouse.mode(), "snapshot");
        assert_eq!(
            snapshot_of(&a.warehouse).as_deref(),
            Some("prod-nightly-2026-12-06")
        );
        let json = serde_json::json!({
            "warehouse_mode": a.warehouse.mode(),
            "redshift_snapshot_identifier": snapshot_of(&a.warehouse),
        });
        assert_eq!(
            json["redshift_snapshot_identifier"],
            "prod-nightly-2026-12-06"
        );
        for w in ["new", "existing"] {
            assert_eq!(snapshot_of(&warehouse_choice(w).unwrap()), None);
            assert_eq!(up(w).warehouse.mode(), w);
        }
    }
}
