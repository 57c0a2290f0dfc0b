//! Phase 3, handoff: `terraform output -json` into the typed `shadow`
//! contract; every missing or mistyped field is named. Pins the host key.

use super::{message_detail, Ctx};
use crate::ansible::render;
use crate::contract::{self, Shadow};
use crate::env::{self};
use crate::report::{Detail, FailureReport, Phase};
use crate::terraform::Terraform;
use crate::ui;
use anyhow::Result;

pub fn run(ctx: &mut Ctx, tf: &Terraform) -> Result<Shadow> {
    ui::phase("handoff", "terraform output -> shadow contract");
    let json = match tf.output_json() {
        Ok(j) => j,
        Err(e) => {
            return Err(ctx.fail(
                FailureReport::new(Phase::Handoff, "terraform output failed")
                    .with_detail(message_detail(&e)),
                None,
            ))
        }
    };
    let module = format!("terraform/{}", ctx.args.target.as_str());
    let shadow = match contract::from_outputs(
        &json,
        ctx.dir.name.as_str(),
        ctx.args.target.as_str(),
    ) {
        Ok(s) => s,
        Err(errors) => {
            let n = errors.len();
            // The raw outputs hold secrets: record only which fields failed.
            let report = FailureReport::new(
                Phase::Handoff,
                format!("the outputs of {module} do not satisfy the shadow contract v{} ({n} problem{})", contract::CONTRACT_VERSION, if n == 1 { "" } else { "s" }),
            )
            .with_detail(Detail::Contract { module, errors });
            return Err(ctx.fail(report, None));
        }
    };
    env::write_private(
        &ctx.dir.root.join("contract.json"),
        &serde_json::to_vec_pretty(&shadow)?,
    )?;
    // The host key is pinned as soon as it is known, so `ssh` works
    // after `--until provision` too.
    std::fs::write(ctx.dir.known_hosts(), render::known_hosts_line(&shadow))?;
    std::fs::write(
        ctx.run.file("contract.masked.json"),
        serde_json::to_vec_pretty(&render::masked(&shadow))?,
    )?;
    ui::ok(&format!(
        "host {}:{}, warehouse {} ({}), airflow {}",
        shadow.host.address,
        shadow.host.ssh_port,
        shadow.warehouse.host,
        shadow.warehouse.kind,
        shadow.airflow.url
    ));
    Ok(shadow)
}
