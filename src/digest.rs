//! Digests of a phase's inputs, so `up` can skip a completed phase whose
//! inputs did not change and redo one whose inputs did.

use sha2::{Digest, Sha256};
use std::path::Path;

#[derive(Default)]
pub struct Hasher(Sha256);

impl Hasher {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn bytes(&mut self, label: &str, data: &[u8]) -> &mut Self {
        self.0.update((label.len() as u64).to_le_bytes());
        self.0.update(label.as_bytes());
        self.0.update((data.len() as u64).to_le_bytes());
        self.0.update(data);
        self
    }
    pub fn str(&mut self, label: &str, data: &str) -> &mut Self {
        self.bytes(label, data.as_bytes())
    }
    /// A file's content (missing files hash as absent, not as an error).
    pub fn file(&mut self, path: &Path) -> &mut Self {
        let data = std::fs::read(path).unwrap_or_default();
        self.bytes(&path.display().to_string(), &data)
    }
    /// Every regular file under `dir`, in a stable order, by relative path.
    pub fn tree(&mut self, dir: &Path) -> &mut Self {
        let mut files = Vec::new();
        walk(dir, dir, &mut files);
        files.sort();
        for rel in files {
            let data = std::fs::read(dir.join(&rel)).unwrap_or_default();
            self.bytes(&rel, &data);
        }
        self
    }
    pub fn finish(&self) -> String {
        hex::encode(self.0.clone().finalize())
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        // Tool caches (.ansible/, .terraform/...), dotfiles and state are not inputs.
        if name.starts_with('.')
            || name == "__pycache__"
            || name.ends_with(".tfstate")
            || name == ".terraform.lock.hcl"
        {
            continue;
        }
        if p.is_dir() {
            walk(root, &p, out);
        } else if p.is_file() {
            if let Ok(rel) = p.strip_prefix(root) {
                out.push(rel.display().to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_digest_changes_with_content_only() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("a"), "1").unwrap();
        let d1 = Hasher::new().tree(tmp.path()).finish();
        assert_eq!(d1, Hasher::new().tree(tmp.path()).finish());
        std::fs::write(tmp.path().join("a"), "2").unwrap();
        assert_ne!(d1, Hasher::new().tree(tmp.path()).finish());
    }
}
