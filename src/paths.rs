//! Where shadowops finds its assets (Terraform modules, playbook, templates)
//! and its machine-wide cache.

use anyhow::{bail, Result};
use std::path::PathBuf;

/// The repository holding `terraform/`, `ansible/`, `templates/`...:
/// `$SHADOWOPS_ASSETS`, else the source tree this binary was built from.
pub fn assets() -> Result<PathBuf> {
    let dir = match std::env::var_os("SHADOWOPS_ASSETS") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    };
    if !dir.join("terraform").is_dir() || !dir.join("ansible").is_dir() {
        bail!(
            "shadowops assets not found in {} (expected terraform/ and ansible/ there); set SHADOWOPS_ASSETS to the shadowops repository",
            dir.display()
        );
    }
    Ok(dir)
}

/// Machine-wide cache shared by envs (wheelhouse, apt cache, image scratch).
pub fn cache() -> PathBuf {
    if let Some(d) = std::env::var_os("SHADOWOPS_CACHE") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("shadowops");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".cache").join("shadowops")
}
