//! Phase 6, lease: arm the detached reaper that destroys the env at its
//! deadline (or leave it to `up --wait`).

use super::Ctx;
use crate::lease;
use crate::ui;
use anyhow::{anyhow, Result};

pub fn run(ctx: &mut Ctx) -> Result<()> {
    let expires = ctx
        .state
        .expires_at
        .ok_or_else(|| anyhow!("no expiry recorded"))?;
    if ctx.args.wait {
        return Ok(()); // handled in finish(): foreground countdown
    }
    let pid = lease::arm(&ctx.dir, &mut ctx.state)?;
    ui::phase(
        "lease",
        &format!(
            "expires at {} (in {}); reaper pid {pid}, log {}",
            lease::rfc3339(expires),
            lease::format_left(ctx.state.time_left()),
            ctx.dir.reaper_log().display()
        ),
    );
    Ok(())
}
