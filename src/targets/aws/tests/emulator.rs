//! moto's server on 127.0.0.1 for the tests, and the tags the fixtures
//! carry.

use super::super::{MANAGED_BY_KEY, MANAGED_BY_VALUE};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

// ---- against moto (a local AWS API emulator on 127.0.0.1) ----

pub(super) struct Moto {
    child: std::process::Child,
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start moto_server (PyPI moto[server], pinned in
/// requirements/aws-emulator.txt; scripts/setup-aws.sh installs it into
/// .venv/moto) on a free port of 127.0.0.1.
pub(super) fn moto() -> Moto {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = std::env::var_os("SHADOWOPS_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join(".venv/moto/bin/moto_server"));
    assert!(
        bin.is_file(),
        "{} missing: run scripts/setup-aws.sh",
        bin.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "moto did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Moto { child, url }
}

/// Credentials for the emulator only; set for the whole test process
/// (tests using moto run one at a time: see `lock`).
pub(super) fn emulator_env(url: &str) {
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    std::env::remove_var("AWS_SESSION_TOKEN");
    std::env::remove_var("AWS_PROFILE");
    std::env::set_var("AWS_CONFIG_FILE", "/dev/null");
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    std::env::set_var("AWS_REGION", "eu-west-1");
    std::env::set_var("AWS_ENDPOINT_URL", url);
}

pub(super) fn lock() -> std::sync::MutexGuard<'static, ()> {
    static L: std::sync::Mutex<()> = std::sync::Mutex::new(());
    L.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn tag_list(env: &str, owner: &str, expires_at: Option<&str>) -> Vec<(String, String)> {
    let mut t = vec![
        ("env".to_string(), env.to_string()),
        ("owner".to_string(), owner.to_string()),
    ];
    t.push((MANAGED_BY_KEY.into(), MANAGED_BY_VALUE.into()));
    if let Some(e) = expires_at {
        t.push(("expires_at".into(), e.into()));
    }
    t
}

pub(super) fn spec(rt: &str, tags: &[(String, String)]) -> String {
    let inner: Vec<String> = tags
        .iter()
        .map(|(k, v)| format!("{{Key={k},Value={v}}}"))
        .collect();
    format!("ResourceType={rt},Tags=[{}]", inner.join(","))
}

pub(super) fn kv(tags: &[(String, String)]) -> Vec<String> {
    tags.iter()
        .map(|(k, v)| format!("Key={k},Value={v}"))
        .collect()
}
