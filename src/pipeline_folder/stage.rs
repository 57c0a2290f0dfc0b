//! The pipeline folder as it is deployed: every file, minus the patterns of
//! its `.shadowopsignore` (gitignore syntax) and VCS/tool caches, copied
//! into the env directory. Configure deploys this copy (an exact mirror on
//! the host: deleted files go) and every digest is taken over it, so what is
//! hashed, deployed and tested is the same set of files.

use anyhow::{anyhow, Context, Result};
use ignore::{overrides::OverrideBuilder, WalkBuilder};
use std::path::{Path, PathBuf};

pub const IGNORE_FILE: &str = ".shadowopsignore";

/// Never deployed: version control, editor and tool caches, local state.
const ALWAYS_IGNORED: &[&str] = &[
    ".git/",
    ".hg/",
    ".svn/",
    ".shadowops/",
    ".Rproj.user/",
    ".Rhistory",
    ".RData",
    "renv/library/",
    "renv/staging/",
    "renv/local/",
    ".venv/",
    "venv/",
    "__pycache__/",
    "*.pyc",
    ".pytest_cache/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".ipynb_checkpoints/",
    "node_modules/",
    ".DS_Store",
    IGNORE_FILE,
];

/// The deployable files of `src`, relative, sorted.
pub fn files(src: &Path) -> Result<Vec<PathBuf>> {
    let mut ov = OverrideBuilder::new(src);
    for p in ALWAYS_IGNORED {
        ov.add(&format!("!{p}"))?;
    }
    let walker = WalkBuilder::new(src)
        .standard_filters(false)
        .hidden(false)
        .follow_links(true)
        .add_custom_ignore_filename(IGNORE_FILE)
        .overrides(ov.build()?)
        .sort_by_file_name(|a, b| a.cmp(b))
        .build();
    let mut out = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| anyhow!("{e}"))?;
        let ft = entry
            .file_type()
            .ok_or_else(|| anyhow!("{}: unknown file type", entry.path().display()))?;
        if ft.is_file() {
            out.push(entry.path().strip_prefix(src)?.to_path_buf());
        }
    }
    Ok(out)
}

/// Copy the deployable files of `src` into `dest`, replacing what was there.
/// Symlinks are copied as what they point to; a dangling one is an error.
pub fn stage(src: &Path, dest: &Path) -> Result<usize> {
    let list =
        files(src).with_context(|| format!("reading the pipeline folder {}", src.display()))?;
    let parent = dest.parent().context("staging folder has no parent")?;
    let tmp = tempfile::Builder::new()
        .prefix(".pipeline.new.")
        .tempdir_in(parent)?;
    for rel in &list {
        let to = tmp.path().join(rel);
        if let Some(d) = to.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::copy(src.join(rel), &to)
            .with_context(|| format!("copying {}", src.join(rel).display()))?;
    }
    if dest.exists() {
        std::fs::remove_dir_all(dest).with_context(|| format!("removing {}", dest.display()))?;
    }
    std::fs::rename(tmp.keep(), dest)?;
    Ok(list.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, rel).unwrap();
    }

    #[test]
    fn caches_and_ignored_patterns_stay_behind() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("p");
        for f in [
            "dags/d.py",
            "dags/__pycache__/d.cpython-311.pyc",
            "R/run.R",
            ".git/HEAD",
            ".Rhistory",
            "renv/library/x/DESCRIPTION",
            "renv.lock",
            "data/big.parquet",
            "data/keep.csv",
            "notes/todo.md",
            ".lintr",
        ] {
            touch(&src, f);
        }
        std::fs::write(src.join(IGNORE_FILE), "data/*.parquet\nnotes/\n").unwrap();
        let got: Vec<String> = files(&src)
            .unwrap()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            got,
            vec![
                ".lintr",
                "R/run.R",
                "dags/d.py",
                "data/keep.csv",
                "renv.lock"
            ]
        );
        let dest = t.path().join("staged");
        touch(&dest, "stale/old.R");
        assert_eq!(stage(&src, &dest).unwrap(), 5);
        assert!(dest.join("dags/d.py").is_file());
        assert!(
            !dest.join("stale").exists(),
            "a second stage is an exact mirror"
        );
    }

    #[test]
    fn a_dangling_symlink_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("p");
        touch(&src, "dags/d.py");
        std::os::unix::fs::symlink(src.join("nowhere"), src.join("dags/link.py")).unwrap();
        assert!(stage(&src, &t.path().join("s")).is_err());
    }
}
