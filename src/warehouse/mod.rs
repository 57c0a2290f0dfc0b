//! The env's warehouse as the driver reaches it: through an SSH tunnel over
//! the host's pinned-host-key connection (the warehouse is private on both
//! targets: on the env network locally, in the VPC on AWS), with the
//! contract's credentials held in memory only. Seed data (seed.rs) and
//! schema migrations (migrations.rs) go through it.

pub mod migrations;
pub mod seed;

use crate::contract::Shadow;
use crate::env::EnvDir;
use crate::supervise;
use crate::tunnel::Tunnel;
use anyhow::{Context, Result};
use std::path::Path;
use std::time::Duration;
use tokio_postgres::{Client, NoTls};

/// How the warehouse loads CSV: PostgreSQL's `COPY FROM STDIN`, or batched
/// multi-row INSERTs (Redshift: COPY reads only from S3 and the like).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bulk {
    CopyFromStdin,
    Inserts,
}

/// An open connection; the tunnel lives as long as it does.
pub struct Warehouse {
    pub client: Client,
    pub bulk: Bulk,
    /// "user@database on host:port", for messages (never the password).
    pub label: String,
    _tunnel: Tunnel,
}

/// Bound of one statement or file (a seed file, a migration) and of connecting.
pub fn statement_timeout() -> Duration {
    supervise::deadline_from_env("SHADOWOPS_SQL_TIMEOUT", Duration::from_secs(1800))
        .unwrap_or(Duration::from_secs(1800))
}

impl Warehouse {
    /// Connect through a new tunnel; with `schema`, unqualified names resolve
    /// in that schema (`SET search_path`, as shadowopsdb does on the host).
    pub fn connect(
        dir: &EnvDir,
        shadow: &Shadow,
        log_dir: &Path,
        schema: Option<&str>,
    ) -> Result<Warehouse> {
        let w = &shadow.warehouse;
        let remote = format!("{}:{}", w.host, w.port);
        let tunnel = Tunnel::open(dir, shadow, &remote, 0, log_dir)
            .with_context(|| format!("opening an SSH tunnel to the warehouse at {remote}"))?;
        let label = format!("{}@{} on {remote}", w.user, w.database);
        let mut cfg = tokio_postgres::Config::new();
        // The tunnel's end is 127.0.0.1, but TLS (Redshift's parameter group
        // requires it) verifies the certificate against the warehouse's own
        // name: `host` names it, `hostaddr` is where the bytes go.
        cfg.hostaddr(std::net::Ipv4Addr::LOCALHOST.into())
            .host(&w.host)
            .port(tunnel.local_port)
            .user(&w.user)
            .password(w.password.as_bytes())
            .dbname(&w.database)
            .application_name("shadowops")
            .connect_timeout(Duration::from_secs(15));
        let tls = tls_for(&w.kind);
        if tls.is_some() {
            cfg.ssl_mode(tokio_postgres::config::SslMode::Require);
        }
        let search_path = schema.map(|s| format!("SET search_path TO {}", quote_ident(s)));
        let client = supervise::bounded(
            &format!("connecting to the warehouse {label}"),
            Duration::from_secs(30),
            async move {
                // The connection's I/O runs beside us; it ends with the client.
                let client = match tls {
                    Some(tls) => {
                        let (client, conn) = cfg.connect(tls).await?;
                        tokio::spawn(async move {
                            let _ = conn.await;
                        });
                        client
                    }
                    None => {
                        let (client, conn) = cfg.connect(NoTls).await?;
                        tokio::spawn(async move {
                            let _ = conn.await;
                        });
                        client
                    }
                };
                if let Some(sql) = search_path {
                    client.batch_execute(&sql).await?;
                }
                Ok(client)
            },
        )
        .with_context(|| format!("connecting to the warehouse {label}"))?;
        let bulk = if w.kind == "redshift"
            || std::env::var("SHADOWOPS_SEED_CSV").is_ok_and(|v| v == "inserts")
        {
            Bulk::Inserts
        } else {
            Bulk::CopyFromStdin
        };
        Ok(Warehouse {
            client,
            bulk,
            label,
            _tunnel: tunnel,
        })
    }
}

/// The names of the regular files in `dir`, sorted (the seed's load order,
/// the migrations before their version sort); none when `dir` is missing.
pub fn file_names(dir: &Path) -> Result<Vec<String>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// TLS for the warehouse kinds that require it: Redshift (its parameter
/// group sets `require_ssl`), certificates checked against the Mozilla roots
/// (Amazon's CAs are among them). The local PostgreSQL container speaks
/// plain TCP on the env's private network, reached through SSH.
fn tls_for(kind: &str) -> Option<tokio_postgres_rustls::MakeRustlsConnect> {
    if kind != "redshift" {
        return None;
    }
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    // ring rather than aws-lc-rs: no cmake/NASM on a fresh machine. Its
    // provider lacks only the post-quantum key exchange, which Redshift's
    // endpoints do not need.
    #[allow(deprecated)]
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Some(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// A SQL identifier in double quotes (PostgreSQL and Redshift).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A warehouse error in one line, with SQLSTATE and the statement it came
/// from when the server says where ("ERROR 42703: column "x" does not exist").
pub fn describe(e: &tokio_postgres::Error, sql: Option<&str>) -> (String, Vec<String>) {
    let Some(db) = e.as_db_error() else {
        return (format!("{e}"), Vec::new());
    };
    let mut msg = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    if let Some(d) = db.detail() {
        msg.push_str(&format!(" ({d})"));
    }
    let mut tail = Vec::new();
    if let (Some(sql), Some(tokio_postgres::error::ErrorPosition::Original(pos))) =
        (sql, db.position())
    {
        if let Some((line, stmt)) = statement_at(sql, *pos as usize) {
            msg.push_str(&format!(" at line {line}"));
            tail = stmt.lines().map(|l| l.to_string()).collect();
        }
    }
    if let Some(h) = db.hint() {
        tail.push(format!("hint: {h}"));
    }
    (msg, tail)
}

/// The statement around a 1-based character position in `sql`, and the
/// line the position is on.
pub fn statement_at(sql: &str, pos: usize) -> Option<(usize, String)> {
    let chars: Vec<char> = sql.chars().collect();
    if pos == 0 || pos > chars.len() {
        return None;
    }
    let at = pos - 1;
    let line = chars[..at].iter().filter(|c| **c == '\n').count() + 1;
    let (start, end) = bounds(&chars)
        .into_iter()
        .find(|(s, e)| *s <= at && at < *e)?;
    let stmt: String = chars[start..end].iter().collect();
    Some((line, stmt.trim().to_string()))
}

/// The statements of a script with the line each starts on (comment-only
/// pieces left out).
pub fn split_statements(sql: &str) -> Vec<(usize, String)> {
    let chars: Vec<char> = sql.chars().collect();
    bounds(&chars)
        .into_iter()
        .filter_map(|(s, e)| {
            let text: String = chars[s..e].iter().collect();
            // Leading blank and comment lines belong to no statement.
            let mut line = chars[..s].iter().filter(|c| **c == '\n').count() + 1;
            let mut rest = text.as_str();
            loop {
                let first = rest.split_inclusive('\n').next().unwrap_or("");
                let t = first.trim();
                if first.ends_with('\n') && (t.is_empty() || t.starts_with("--")) {
                    rest = &rest[first.len()..];
                    line += 1;
                } else {
                    break;
                }
            }
            let stmt = rest.trim();
            let code = stmt.trim_end_matches(';').trim();
            (!code.is_empty() && !code.starts_with("--")).then(|| (line, stmt.to_string()))
        })
        .collect()
}

/// [start, end) of each statement: split on `;` outside quotes ('', ""),
/// dollar quotes ($$, $tag$) and comments (--, /* */).
fn bounds(chars: &[char]) -> Vec<(usize, usize)> {
    let mut cuts = vec![0usize];
    let (mut i, mut quote, mut dash, mut block) = (0usize, None::<char>, false, false);
    let mut dollar: Option<Vec<char>> = None;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if let Some(tag) = &dollar {
            if chars[i..].starts_with(tag) {
                i += tag.len();
                dollar = None;
                continue;
            }
        } else if dash {
            dash = c != '\n';
        } else if block {
            if c == '*' && next == Some('/') {
                block = false;
                i += 1;
            }
        } else if let Some(q) = quote {
            if c == q {
                quote = None;
            }
        } else if c == '\'' || c == '"' {
            quote = Some(c);
        } else if c == '-' && next == Some('-') {
            dash = true;
        } else if c == '/' && next == Some('*') {
            block = true;
        } else if c == '$' {
            // $$ or $tag$ opens a dollar-quoted string (function bodies).
            let mut j = i + 1;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            if j < chars.len()
                && chars[j] == '$'
                && !chars.get(i + 1).is_some_and(|c| c.is_ascii_digit())
            {
                dollar = Some(chars[i..=j].to_vec());
                i = j + 1;
                continue;
            }
        } else if c == ';' {
            cuts.push(i + 1);
        }
        i += 1;
    }
    cuts.push(chars.len());
    cuts.windows(2)
        .map(|w| (w[0], w[1]))
        .filter(|(s, e)| s < e)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failing_statement_is_found_by_position() {
        let sql = "CREATE TABLE a (x INT);\n-- a comment; with a semicolon\nALTER TABLE a ADD COLUMN y NUMBR(10,2);\nINSERT INTO a VALUES (';');";
        let pos = sql.find("NUMBR").unwrap() + 1;
        let (line, stmt) = statement_at(sql, pos).unwrap();
        assert_eq!(line, 3);
        assert!(
            stmt.ends_with("ALTER TABLE a ADD COLUMN y NUMBR(10,2);"),
            "{stmt}"
        );
        let pos = sql.rfind("';'").unwrap() + 1;
        assert!(statement_at(sql, pos)
            .unwrap()
            .1
            .starts_with("INSERT INTO a"));
        assert!(statement_at(sql, 0).is_none() && statement_at(sql, 10_000).is_none());
    }

    #[test]
    fn redshift_gets_verified_tls_and_local_postgres_plain_tcp() {
        assert!(tls_for("redshift").is_some());
        assert!(tls_for("postgres").is_none());
    }

    /// The Redshift path never falls back to plain TCP: against a server
    /// without TLS it fails at the handshake (a real PostgreSQL).
    #[test]
    #[ignore = "needs PostgreSQL 15 server binaries; run by `make test`"]
    fn the_redshift_path_refuses_a_server_without_tls() {
        let pg = crate::compare::test_pg::TestPg::start();
        let mut cfg = tokio_postgres::Config::new();
        cfg.hostaddr(std::net::Ipv4Addr::LOCALHOST.into())
            .host("warehouse.example.invalid")
            .port(pg.port)
            .user(&pg.user)
            .password(pg.password.as_bytes())
            .dbname(&pg.database)
            .ssl_mode(tokio_postgres::config::SslMode::Require);
        let tls = tls_for("redshift").unwrap();
        let r = supervise::bounded("connecting with TLS", Duration::from_secs(30), async move {
            cfg.connect(tls).await.map(|_| ()).map_err(Into::into)
        });
        let e = format!("{:#}", r.unwrap_err());
        assert!(e.contains("TLS"), "{e}");
        // The plain path (the local target) reaches the same server.
        let client = pg.connect();
        let one: i32 = supervise::bounded("a query", Duration::from_secs(30), async move {
            Ok(client.query_one("SELECT 1", &[]).await?.get(0))
        })
        .unwrap();
        assert_eq!(one, 1);
    }

    #[test]
    fn scripts_split_into_statements_with_their_lines() {
        let sql = "-- header\nCREATE TABLE a (x INT);\n\nCREATE FUNCTION f() RETURNS INT AS $body$ SELECT 1; $body$ LANGUAGE sql;\nINSERT INTO a VALUES (1); -- trailing\n";
        let got = split_statements(sql);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0].0, 2);
        assert!(got[0].1.ends_with("CREATE TABLE a (x INT);"));
        assert_eq!(got[1].0, 4);
        assert!(got[1].1.contains("$body$ SELECT 1; $body$"));
        assert_eq!(got[2], (5, "INSERT INTO a VALUES (1);".into()));
    }
}
