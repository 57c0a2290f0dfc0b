//! A team's pipeline folder (docs/pipeline.md): its contract
//! (`shadowops.toml`, spec.rs) and the deployable copy of it (stage.rs).

pub mod spec;
pub mod stage;

pub use spec::Spec;

use anyhow::Result;
use std::path::{Path, PathBuf};

/// A checked pipeline folder: where it is and what it declares.
#[derive(Debug, Clone)]
pub struct PipelineFolder {
    pub src: PathBuf,
    pub spec: Spec,
}

impl PipelineFolder {
    /// Check a folder: it exists, has dags/, and its shadowops.toml (if any)
    /// is valid. Nothing is written.
    pub fn open(src: &Path) -> Result<PipelineFolder, String> {
        let src = std::fs::canonicalize(src).map_err(|e| format!("{}: {e}", src.display()))?;
        if !src.join("dags").is_dir() {
            return Err(format!(
                "pipeline folder {} has no dags/ directory (see docs/pipeline.md; `shadowops init DIR` writes a working one)",
                src.display()
            ));
        }
        let spec = spec::load(&src)?;
        Ok(PipelineFolder { src, spec })
    }

    /// Copy the deployable files into `dest` (the env's staged pipeline).
    pub fn stage(&self, dest: &Path) -> Result<usize> {
        stage::stage(&self.src, dest)
    }
}
