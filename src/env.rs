//! Env names, the env directory, `env.json` and the env lock.

use crate::cli::Target;
use crate::error::Failure;
use crate::report::Phase;
use crate::supervise::Probe;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A validated env name: a lowercase DNS label of 1-30 characters, so it can
/// name containers, networks, AWS resources and tags unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvName(String);

impl EnvName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let why = if raw.is_empty() {
            Some("it is empty")
        } else if raw.len() > 30 {
            Some("it is longer than 30 characters")
        } else if !raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            Some("only lowercase letters, digits and '-' are allowed")
        } else if !raw.as_bytes()[0].is_ascii_lowercase() {
            Some("it must start with a lowercase letter")
        } else if raw.ends_with('-') {
            Some("it must not end with '-'")
        } else {
            None
        };
        match why {
            Some(why) => Err(format!(
                "invalid env name {raw:?}: {why} (a lowercase DNS label of 1-30 characters, e.g. \"shadow\" or \"pr-42\")"
            )),
            None => Ok(EnvName(raw.to_string())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for EnvName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn parse_name(raw: &str) -> Result<EnvName> {
    EnvName::parse(raw).map_err(Failure::usage)
}

/// Who makes an env (recorded by `up`, part of AWS names and the state key):
/// `SHADOWOPS_OWNER`, else CircleCI's user, else the login name.
pub fn default_owner() -> String {
    std::env::var("SHADOWOPS_OWNER")
        .or_else(|_| std::env::var("CIRCLE_USERNAME"))
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-@".contains(*c))
        .collect()
}

/// `$SHADOWOPS_HOME` (default `.shadowops` in the working directory), absolute.
pub fn home() -> Result<PathBuf> {
    let raw = std::env::var_os("SHADOWOPS_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".shadowops"));
    let abs = if raw.is_absolute() {
        raw
    } else {
        std::env::current_dir()?.join(raw)
    };
    Ok(abs)
}

/// The paths of one env directory. Creating nothing by itself.
#[derive(Debug, Clone)]
pub struct EnvDir {
    pub name: EnvName,
    pub root: PathBuf,
}

impl EnvDir {
    pub fn new(home: &Path, name: EnvName) -> Self {
        let root = home.join("envs").join(name.as_str());
        EnvDir { name, root }
    }
    pub fn exists(&self) -> bool {
        self.state_file().exists()
    }
    pub fn state_file(&self) -> PathBuf {
        self.root.join("env.json")
    }
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("lock")
    }
    pub fn keys_dir(&self) -> PathBuf {
        self.root.join("keys")
    }
    pub fn secrets_dir(&self) -> PathBuf {
        self.root.join("secrets")
    }
    pub fn tf_dir(&self) -> PathBuf {
        self.root.join("tf")
    }
    pub fn ansible_dir(&self) -> PathBuf {
        self.root.join("ansible")
    }
    /// The deployable copy of the pipeline folder (pipeline_folder::stage).
    pub fn pipeline_dir(&self) -> PathBuf {
        self.root.join("pipeline")
    }
    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }
    pub fn inbox_dir(&self) -> PathBuf {
        self.root.join("inbox")
    }
    pub fn known_hosts(&self) -> PathBuf {
        self.root.join("known_hosts")
    }
    pub fn lease_file(&self) -> PathBuf {
        self.root.join("lease")
    }
    pub fn tfvars(&self) -> PathBuf {
        self.root.join("terraform.tfvars.json")
    }
    pub fn secret_tfvars(&self) -> PathBuf {
        self.secrets_dir().join("secrets.tfvars.json")
    }
    pub fn airflow_password_file(&self) -> PathBuf {
        self.secrets_dir().join("airflow-admin-password")
    }
    pub fn reaper_log(&self) -> PathBuf {
        self.root.join("reaper.log")
    }

    pub fn load_state(&self) -> Result<Option<EnvState>> {
        let path = self.state_file();
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(
                serde_json::from_slice(&bytes)
                    .with_context(|| format!("reading {}", path.display()))?,
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// The contract `handoff` recorded, if any.
    pub fn contract(&self) -> Option<crate::contract::Shadow> {
        serde_json::from_slice(&fs::read(self.root.join("contract.json")).ok()?).ok()
    }

    /// Write env.json atomically (temp file + rename) so a crash never leaves
    /// half a state file for `status`, `reap` or the reaper to trip on.
    pub fn save_state(&self, state: &EnvState) -> Result<()> {
        fs::create_dir_all(&self.root)?;
        write_atomic(
            &self.state_file(),
            &serde_json::to_vec_pretty(state)?,
            0o644,
        )?;
        Ok(())
    }

    /// Take the env lock, waiting up to `wait` for another shadowops command.
    pub fn lock(&self, wait: Duration) -> Result<EnvLock> {
        fs::create_dir_all(&self.root)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.lock_file())?;
        let name = self.name.to_string();
        let lock_file = self.lock_file();
        let file = std::sync::Arc::new(file);
        let holder = file.clone();
        let got = crate::supervise::wait(
            &format!("the lock of env {name}"),
            wait,
            Duration::from_millis(200),
            move || match holder.try_lock() {
                Ok(()) => Probe::Ready(()),
                Err(std::fs::TryLockError::WouldBlock) => Probe::Pending("held".into()),
                Err(std::fs::TryLockError::Error(e)) => Probe::Failed(e.into()),
            },
        );
        match got {
            Ok(()) => Ok(EnvLock { _file: file }),
            Err(e) if e.downcast_ref::<crate::supervise::WaitTimedOut>().is_some() => {
                anyhow::bail!(
                    "env {name} is busy: another shadowops command holds {} (try again when it finishes)",
                    lock_file.display()
                )
            }
            Err(e) => Err(e),
        }
    }

    /// Try the lock once; `None` when someone else holds it.
    pub fn try_lock(&self) -> Result<Option<EnvLock>> {
        if !self.root.exists() {
            return Ok(None);
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.lock_file())?;
        match file.try_lock() {
            Ok(()) => Ok(Some(EnvLock {
                _file: std::sync::Arc::new(file),
            })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
        }
    }
}

/// Held for the duration of a command that changes an env; released on drop
/// (also when the process dies: it is an OS file lock).
pub struct EnvLock {
    // Shared with the lock wait's probe; the lock goes with the last one.
    _file: std::sync::Arc<File>,
}

/// One env's `env.json`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct EnvState {
    pub env: String,
    pub target: Option<Target>,
    pub owner: String,
    /// Where the env is: the last phase that completed, or "destroyed".
    pub status: Status,
    #[serde(with = "humantime_serde_opt", default)]
    pub created_at: Option<SystemTime>,
    #[serde(with = "humantime_serde_opt", default)]
    pub updated_at: Option<SystemTime>,
    #[serde(with = "humantime_serde_opt", default)]
    pub expires_at: Option<SystemTime>,
    pub reaper_pid: Option<u32>,
    /// Local target: the /24 this env's network uses (chosen once, kept on resume).
    pub subnet_cidr: Option<String>,
    /// Host image for the local target (base or baked tag).
    pub host_image: Option<String>,
    pub pipeline_src: Option<PathBuf>,
    pub dag_id: Option<String>,
    /// Per phase: when it completed and the digest of its inputs.
    pub phases: BTreeMap<String, PhaseRecord>,
    pub last_failure: Option<LastFailure>,
    pub last_run: Option<String>,
    pub interrupted: bool,
    pub pipeline: Option<crate::dag_run::PipelineRun>,
    /// Per-phase durations (seconds) of the last `up`.
    pub durations: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    New,
    Provisioning,
    Provisioned,
    Configured,
    Ready,
    Failed,
    Interrupted,
    Destroying,
    Destroyed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseRecord {
    pub digest: String,
    #[serde(with = "humantime_serde_opt", default)]
    pub completed_at: Option<SystemTime>,
    pub duration_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastFailure {
    pub phase: Phase,
    pub message: String,
    pub run: String,
    #[serde(with = "humantime_serde_opt", default)]
    pub at: Option<SystemTime>,
}

impl EnvState {
    pub fn phase_done(&self, phase: Phase, digest: &str) -> bool {
        self.phases
            .get(phase.as_str())
            .is_some_and(|r| r.digest == digest)
    }
    /// Whole seconds left, rounded up: 0 means the lease has ended, never
    /// "less than a second to go" (a script polling `time_left_s == 0` and
    /// then running `reap` must find the env expired).
    pub fn time_left(&self) -> Option<Duration> {
        self.expires_at.map(|t| {
            let left = t
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            Duration::from_secs(left.as_secs() + u64::from(left.subsec_nanos() > 0))
        })
    }
}

/// RFC 3339 timestamps in env.json, via humantime (no hand-written date code).
mod humantime_serde_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::SystemTime;

    pub fn serialize<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&humantime::format_rfc3339_seconds(*t).to_string()),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
        let raw: Option<String> = Option::deserialize(d)?;
        raw.map(|r| humantime::parse_rfc3339_weak(&r).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Envs under a home, by directory name (invalid names are skipped).
pub fn all_envs(home: &Path) -> Result<Vec<EnvDir>> {
    let dir = home.join("envs");
    let mut out = Vec::new();
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e.into()),
    };
    for entry in entries {
        let entry = entry?;
        if let Some(name) = entry
            .file_name()
            .to_str()
            .and_then(|n| EnvName::parse(n).ok())
        {
            out.push(EnvDir::new(home, name));
        }
    }
    out.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
    Ok(out)
}

/// Replace `path` atomically (a temporary file in the same directory,
/// renamed over it): a crash leaves the old file or the new one, never half
/// of one. The temporary file is created 0600 (tempfile's default), so a
/// private file is never readable by others, not even for an instant.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut f = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    f.write_all(contents)?;
    f.as_file().sync_all()?;
    if mode != 0o600 {
        f.as_file()
            .set_permissions(fs::Permissions::from_mode(mode))?;
    }
    f.persist(path)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// A file only the owner can read (keys, secrets, the contract).
pub fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    write_atomic(path, contents, 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_labels() {
        for ok in [
            "shadow",
            "a",
            "pr-42",
            "ci-123-abc",
            "a234567890123456789012345678z0",
        ] {
            assert!(EnvName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_everything_else_with_the_reason() {
        let cases = [
            ("", "empty"),
            ("Shadow", "lowercase"),
            ("9lives", "start with a lowercase letter"),
            ("-x", "start with a lowercase letter"),
            ("x-", "end with"),
            ("a_b", "only lowercase"),
            ("a.b", "only lowercase"),
            ("../etc", "only lowercase"),
            ("a23456789012345678901234567890x", "longer than 30"),
        ];
        for (bad, why) in cases {
            let err = EnvName::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn state_round_trips_and_lock_excludes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = EnvDir::new(tmp.path(), EnvName::parse("t1").unwrap());
        let mut st = EnvState {
            env: "t1".into(),
            ..Default::default()
        };
        st.expires_at = Some(humantime::parse_rfc3339("2030-01-01T00:00:00Z").unwrap());
        dir.save_state(&st).unwrap();
        let back = dir.load_state().unwrap().unwrap();
        assert_eq!(back.expires_at, st.expires_at);
        let held = dir.lock(Duration::ZERO).unwrap();
        assert!(dir.try_lock().unwrap().is_none());
        drop(held);
        assert!(dir.try_lock().unwrap().is_some());
    }

    #[test]
    fn time_left_is_zero_only_once_the_lease_has_ended() {
        let mut st = EnvState {
            expires_at: Some(SystemTime::now() + Duration::from_millis(400)),
            ..Default::default()
        };
        assert_eq!(st.time_left(), Some(Duration::from_secs(1)));
        st.expires_at = Some(SystemTime::now() - Duration::from_millis(1));
        assert_eq!(st.time_left(), Some(Duration::ZERO));
        st.expires_at = None;
        assert_eq!(st.time_left(), None);
    }

    #[test]
    fn private_files_are_0600() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("s/secret");
        write_private(&p, b"x").unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
