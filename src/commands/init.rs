//! `init DIR`: write a working pipeline folder (pipeline/template, embedded
//! in the binary so it needs no checkout), every file commented, that `up
//! --pipeline DIR` runs as it is. Refuses a folder that has files in it.

use crate::error::Failure;
use crate::ui;
use anyhow::{Context, Result};
use std::path::Path;

/// The template's files, relative path -> content. A unit test keeps this
/// list equal to pipeline/template/ on disk.
pub const TEMPLATE: &[(&str, &str)] = &[
    (
        ".shadowopsignore",
        include_str!("../../pipeline/template/.shadowopsignore"),
    ),
    (
        "DESCRIPTION",
        include_str!("../../pipeline/template/DESCRIPTION"),
    ),
    ("R/run.R", include_str!("../../pipeline/template/R/run.R")),
    (
        "R/totals.R",
        include_str!("../../pipeline/template/R/totals.R"),
    ),
    (
        "README.md",
        include_str!("../../pipeline/template/README.md"),
    ),
    (
        "dags/my_pipeline.py",
        include_str!("../../pipeline/template/dags/my_pipeline.py"),
    ),
    (
        "migrations/V1__create_daily_totals.sql",
        include_str!("../../pipeline/template/migrations/V1__create_daily_totals.sql"),
    ),
    (
        "requirements.txt",
        include_str!("../../pipeline/template/requirements.txt"),
    ),
    (
        "seed/01_events.sql",
        include_str!("../../pipeline/template/seed/01_events.sql"),
    ),
    (
        "seed/02_events.csv",
        include_str!("../../pipeline/template/seed/02_events.csv"),
    ),
    (
        "shadowops.toml",
        include_str!("../../pipeline/template/shadowops.toml"),
    ),
    (
        "tests/testthat/helper-pipeline.R",
        include_str!("../../pipeline/template/tests/testthat/helper-pipeline.R"),
    ),
    (
        "tests/testthat/test-totals.R",
        include_str!("../../pipeline/template/tests/testthat/test-totals.R"),
    ),
];

pub fn run(dir: &Path) -> Result<i32> {
    if dir.exists() {
        let busy = std::fs::read_dir(dir)
            .map_err(|e| Failure::usage(format!("{}: {e}", dir.display())))?
            .next()
            .is_some();
        if busy {
            return Err(Failure::usage(format!(
                "{} is not empty; `shadowops init` writes into a new or empty folder only",
                dir.display()
            )));
        }
    }
    for (rel, text) in TEMPLATE {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
    }
    ui::ok(&format!(
        "wrote a pipeline folder ({} files) to {}",
        TEMPLATE.len(),
        dir.display()
    ));
    ui::info(&format!(
        "  try it: shadowops up --pipeline {}    (docs/pipeline.md describes every file)",
        dir.display()
    ));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_template_is_the_folder_on_disk() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipeline/template");
        let on_disk = crate::pipeline_folder::stage::files(&root).unwrap();
        let mut on_disk: Vec<String> = on_disk.iter().map(|p| p.display().to_string()).collect();
        on_disk.push(".shadowopsignore".into());
        on_disk.sort();
        let mut embedded: Vec<String> = TEMPLATE.iter().map(|(r, _)| r.to_string()).collect();
        embedded.sort();
        assert_eq!(
            embedded, on_disk,
            "pipeline/template and commands/init.rs differ"
        );
    }

    #[test]
    fn init_writes_a_valid_folder_and_refuses_a_busy_one() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("mine");
        assert_eq!(run(&d).unwrap(), 0);
        let f = crate::pipeline_folder::PipelineFolder::open(&d).unwrap();
        assert_eq!(f.spec.dag_id, "my_pipeline");
        assert!(d.join("dags/my_pipeline.py").is_file());
        let e = run(&d).unwrap_err();
        assert!(e.to_string().contains("is not empty"), "{e}");
    }
}
