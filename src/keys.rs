//! Per-env keys and secrets, generated here (ssh-key crate, OS randomness).

use crate::env::{write_private, EnvDir};
use anyhow::{Context, Result};
use rand_core::{OsRng, RngCore};
use ssh_key::{Algorithm, LineEnding, PrivateKey};
use std::path::PathBuf;

pub struct EnvKeys {
    pub client_private: PathBuf,
    pub client_public: String,
    pub host_private: PathBuf,
    pub host_public: String,
}

/// Create the env's client key and host key once; reuse them on resume.
pub fn ensure(dir: &EnvDir) -> Result<EnvKeys> {
    let keys = dir.keys_dir();
    std::fs::create_dir_all(&keys)?;
    let client = keys.join("id_ed25519");
    let host = keys.join("ssh_host_ed25519_key");
    let client_public = ensure_pair(&client, &format!("shadowops@{}", dir.name))?;
    let host_public = ensure_pair(&host, &format!("root@shadowops-{}-host", dir.name))?;
    Ok(EnvKeys {
        client_private: client,
        client_public,
        host_private: host,
        host_public,
    })
}

fn ensure_pair(path: &std::path::Path, comment: &str) -> Result<String> {
    let pub_path = path.with_extension("pub");
    if path.exists() && pub_path.exists() {
        return Ok(std::fs::read_to_string(&pub_path)?.trim().to_string());
    }
    let mut key =
        PrivateKey::random(&mut OsRng, Algorithm::Ed25519).context("generating an ed25519 key")?;
    key.set_comment(comment);
    let pem = key.to_openssh(LineEnding::LF)?;
    write_private(path, pem.as_bytes())?;
    let public = key.public_key().to_openssh()?;
    std::fs::write(&pub_path, format!("{public}\n"))?;
    Ok(public)
}

/// A random password: 32 chars of [A-Za-z0-9], safe in URLs, DCF and YAML,
/// with at least one upper-case letter, lower-case letter and digit (Redshift
/// refuses passwords without all three).
pub fn password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    loop {
        let mut out = String::with_capacity(32);
        while out.len() < 32 {
            let mut b = [0u8; 1];
            OsRng.fill_bytes(&mut b);
            // Rejection sampling keeps the distribution uniform.
            if (b[0] as usize) < ALPHABET.len() * 4 {
                out.push(ALPHABET[(b[0] as usize) % ALPHABET.len()] as char);
            }
        }
        let has = |f: fn(&char) -> bool| out.chars().any(|c| f(&c));
        if has(char::is_ascii_uppercase)
            && has(char::is_ascii_lowercase)
            && has(char::is_ascii_digit)
        {
            return out;
        }
    }
}

/// Read a secret file written earlier, or create it with a fresh password.
pub fn ensure_secret(path: &PathBuf) -> Result<String> {
    if let Ok(s) = std::fs::read_to_string(path) {
        if !s.trim().is_empty() {
            return Ok(s.trim().to_string());
        }
    }
    let pw = password();
    write_private(path, pw.as_bytes())?;
    Ok(pw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::EnvName;

    #[test]
    fn keys_are_created_once_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = EnvDir::new(tmp.path(), EnvName::parse("k").unwrap());
        let a = ensure(&dir).unwrap();
        let b = ensure(&dir).unwrap();
        assert_eq!(a.host_public, b.host_public);
        assert!(a.client_public.starts_with("ssh-ed25519 "));
        let mode = std::fs::metadata(&a.client_private)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        ssh_key::PublicKey::from_openssh(&a.host_public).unwrap();
    }

    #[test]
    fn passwords_are_long_and_distinct() {
        let (a, b) = (password(), password());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        for _ in 0..2000 {
            let p = password();
            assert!(
                p.chars().any(|c| c.is_ascii_digit())
                    && p.chars().any(|c| c.is_ascii_uppercase())
                    && p.chars().any(|c| c.is_ascii_lowercase())
            );
        }
    }
}
