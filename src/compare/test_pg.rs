//! A throwaway PostgreSQL 15 server for tests: a fresh cluster in a temp
//! dir on a free 127.0.0.1 port with a random scram-sha-256 password,
//! stopped and removed on drop. The same recipe as scripts/test-pipeline.sh
//! (initdb and postgres refuse to run as root: as root they run as the
//! `postgres` user). scripts/setup-compare-test.sh installs the binaries.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tokio_postgres::{Client, NoTls};

pub struct TestPg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: String,
}

fn pg_bin() -> PathBuf {
    let mut dirs = vec![PathBuf::from("/usr/lib/postgresql/15/bin")];
    if let Ok(p) = which::which("initdb") {
        dirs.push(p.parent().unwrap().to_path_buf());
    }
    dirs.into_iter()
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
        .expect("PostgreSQL 15 server binaries (run scripts/setup-compare-test.sh)")
}

fn is_root() -> bool {
    // The owner of /proc/self is this process's effective user.
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `cmd` as the postgres user when we are root.
fn as_pg(bin: &Path, tool: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

fn run(mut c: Command, what: &str) {
    let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestPg {
    pub fn start() -> TestPg {
        use std::os::unix::fs::PermissionsExt;
        let bin = pg_bin();
        let dir = tempfile::Builder::new()
            .prefix("shadowops-pg-")
            .tempdir()
            .unwrap();
        let pg = dir.path().join("pg");
        std::fs::create_dir(&pg).unwrap();
        std::fs::set_permissions(&pg, std::fs::Permissions::from_mode(0o700)).unwrap();
        let password = hex::encode(rand_bytes());
        std::fs::write(pg.join("pwfile"), format!("{password}\n")).unwrap();
        if is_root() {
            // postgres may traverse the temp dir and owns only pg/.
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
            run(
                {
                    let mut c = Command::new("chown");
                    c.args(["-R", "postgres:"]).arg(&pg);
                    c
                },
                "chown",
            );
        }
        let data = pg.join("data");
        let mut c = as_pg(&bin, "initdb");
        c.arg("-D")
            .arg(&data)
            .args([
                "-U",
                "shadow",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--no-instructions",
            ])
            .arg(format!("--pwfile={}", pg.join("pwfile").display()));
        run(c, "initdb");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut c = as_pg(&bin, "pg_ctl");
        c.arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(pg.join("server.log"))
            .args(["-w", "-t", "30", "-o"])
            .arg(format!(
                "-c listen_addresses=127.0.0.1 -p {port} -k {}",
                pg.display()
            ))
            .arg("start");
        run(c, "pg_ctl start");
        TestPg {
            dir,
            bin,
            port,
            user: "shadow".into(),
            password,
            database: "postgres".into(),
        }
    }

    /// A connection whose I/O runs on the driver's shared runtime.
    pub fn connect(&self) -> Client {
        let mut cfg = tokio_postgres::Config::new();
        cfg.host("127.0.0.1")
            .port(self.port)
            .user(&self.user)
            .password(self.password.as_bytes())
            .dbname(&self.database);
        crate::supervise::bounded(
            "connecting to the test PostgreSQL",
            Duration::from_secs(30),
            async move {
                let (client, conn) = cfg.connect(NoTls).await?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok(client)
            },
        )
        .unwrap()
    }

    /// Run a script of statements (test fixtures), panicking on error.
    pub fn exec(&self, client: &Client, script: &str) {
        crate::supervise::bounded("test fixture SQL", Duration::from_secs(60), async {
            client.batch_execute(script).await?;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e:#}\n{script}"));
    }
}

fn rand_bytes() -> [u8; 16] {
    use rand_core::{OsRng, RngCore};
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    b
}

impl Drop for TestPg {
    fn drop(&mut self) {
        let mut c = as_pg(&self.bin, "pg_ctl");
        c.arg("-D")
            .arg(self.dir.path().join("pg/data"))
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = c.output();
    }
}
