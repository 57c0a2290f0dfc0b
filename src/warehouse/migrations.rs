//! Schema migrations: `V<version>__<name>.sql` files (Flyway naming) applied
//! in version order by refinery, each in its own transaction together with
//! its row in `refinery_schema_history` (version, name, applied_on,
//! checksum: INT4 and VARCHARs only, so the table works on Redshift too).
//! A file whose first line is `-- shadowops:no-transaction` runs outside a
//! transaction (for statements a warehouse refuses inside one).
//!
//! Refused before anything runs: a file name that is not `V<n>__<name>.sql`,
//! two files with one version, an applied migration whose file changed
//! (checksum) or is gone.

use super::{describe, statement_timeout, Warehouse};
use crate::supervise;
use anyhow::{bail, Result};
use async_trait::async_trait;
use refinery_core::traits::r#async::{AsyncQuery, AsyncTransaction};
use refinery_core::{error::Kind, AsyncMigrate, Migration, Runner};
use std::path::Path;
use tokio_postgres::Client;

pub const HISTORY_TABLE: &str = "refinery_schema_history";
pub const NO_TRANSACTION: &str = "-- shadowops:no-transaction";

/// One migration file, read and named.
#[derive(Debug, Clone)]
pub struct MigrationFile {
    pub file: String,
    pub sql: String,
    pub migration: Migration,
}

/// What `apply` did.
#[derive(Debug, Default)]
pub struct Applied {
    pub applied: Vec<String>,
    pub already: usize,
}

/// Why migrations stopped, in the user's terms.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("migration {file} failed: {message}")]
    Failed {
        file: String,
        message: String,
        statement: Vec<String>,
        /// Applied in this run before the failing one.
        applied: Vec<String>,
    },
    #[error("migration {file} was edited after it was applied to this env's warehouse (its checksum differs from the one recorded in {HISTORY_TABLE}); an applied migration is never changed: add a new V<n>__ file instead, or destroy the env to start over")]
    Edited { file: String },
    #[error("migration {name} is recorded as applied in {HISTORY_TABLE} but no file has version {version}; restore the file, or destroy the env to start over")]
    Missing { name: String, version: i64 },
    #[error("migrations: {0}")]
    Other(String),
}

/// The migration files of `dir`, in version order; a missing folder is none.
pub fn list(dir: &Path) -> Result<Vec<MigrationFile>> {
    let mut out: Vec<MigrationFile> = Vec::new();
    let mut bad = Vec::new();
    for file in super::file_names(dir)? {
        let Some(stem) = file.strip_suffix(".sql") else {
            if !(file.ends_with(".md") || file.ends_with(".txt")) {
                bad.push(format!("{file}: not a .sql file"));
            }
            continue;
        };
        if !stem.starts_with('V') {
            bad.push(format!(
                "{file}: only versioned migrations (V<version>__<name>.sql) are supported"
            ));
            continue;
        }
        let sql = std::fs::read_to_string(dir.join(&file))?;
        match Migration::unapplied(stem, &sql) {
            Ok(migration) => out.push(MigrationFile {
                file,
                sql,
                migration,
            }),
            Err(e) => bad.push(format!("{file}: {e}")),
        }
    }
    out.sort_by_key(|m| m.migration.version());
    for w in out.windows(2) {
        if w[0].migration.version() == w[1].migration.version() {
            bad.push(format!(
                "{} and {}: two migrations with version {}",
                w[0].file,
                w[1].file,
                w[0].migration.version()
            ));
        }
    }
    if !bad.is_empty() {
        bail!("{}: {}", dir.display(), bad.join("; "));
    }
    Ok(out)
}

/// Apply what is not applied yet. Stops at the first failure; the failing
/// file's transaction is rolled back, so it is not recorded as applied.
pub fn apply(wh: &mut Warehouse, files: &[MigrationFile]) -> Result<Applied> {
    let migrations: Vec<Migration> = files.iter().map(|f| f.migration.clone()).collect();
    let before = applied_versions(wh)?;
    let client = &mut wh.client;
    let mut runner = Runner::new(&migrations)
        .set_abort_divergent(true)
        .set_abort_missing(true);
    runner.set_migration_table_name(HISTORY_TABLE);
    let result = supervise::bounded("applying migrations", statement_timeout(), async move {
        Ok(runner.run_async(&mut Conn(client)).await)
    })?;
    let file_of = |v: i64| {
        files
            .iter()
            .find(|f| f.migration.version() as i64 == v)
            .map(|f| f.file.clone())
            .unwrap_or_else(|| format!("V{v}"))
    };
    match result {
        Ok(report) => Ok(Applied {
            applied: report
                .applied_migrations()
                .iter()
                .map(|m| file_of(m.version() as i64))
                .collect(),
            already: before.len(),
        }),
        Err(e) => {
            let applied: Vec<String> = e
                .report()
                .map(|r| {
                    r.applied_migrations()
                        .iter()
                        .map(|m| file_of(m.version() as i64))
                        .collect()
                })
                .unwrap_or_default();
            Err(match e.kind() {
                Kind::DivergentVersion(applied, _) => MigrationError::Edited {
                    file: file_of(applied.version() as i64),
                },
                Kind::MissingVersion(m) => MigrationError::Missing {
                    name: m.to_string(),
                    version: m.version() as i64,
                },
                Kind::Connection(_, source) => {
                    // The migration being applied is the first one after
                    // those applied before and in this run.
                    let failing = files.iter().find(|f| {
                        let v = f.migration.version() as i64;
                        !before.contains(&v) && !applied.contains(&f.file)
                    });
                    let pg = source.downcast_ref::<tokio_postgres::Error>();
                    let (mut message, mut statement) = match pg {
                        Some(pg) => describe(pg, failing.map(|f| f.sql.as_str())),
                        None => (source.to_string(), Vec::new()),
                    };
                    // Most errors (a missing relation, a constraint) carry no
                    // position: find the statement by replaying the file one
                    // statement at a time in a transaction that is rolled back.
                    if let Some(f) =
                        failing.filter(|f| statement.is_empty() && !no_transaction(&f.sql))
                    {
                        if let Some((line, stmt)) = first_failing_statement(&mut wh.client, &f.sql)
                        {
                            message.push_str(&format!(" at line {line}"));
                            statement = stmt.lines().map(str::to_string).collect();
                        }
                    }
                    MigrationError::Failed {
                        file: failing
                            .map(|f| f.file.clone())
                            .unwrap_or_else(|| "?".into()),
                        message,
                        statement,
                        applied,
                    }
                }
                other => MigrationError::Other(other.to_string()),
            }
            .into())
        }
    }
}

fn no_transaction(sql: &str) -> bool {
    sql.trim_start().starts_with(NO_TRANSACTION)
}

/// The first statement of `sql` the warehouse refuses, run one by one in a
/// transaction that is always rolled back (nothing of it stays).
fn first_failing_statement(client: &mut Client, sql: &str) -> Option<(usize, String)> {
    let stmts = super::split_statements(sql);
    supervise::bounded(
        "finding the failing statement",
        statement_timeout(),
        async move {
            let tx = client.transaction().await?;
            for (line, stmt) in stmts {
                if tx.batch_execute(&stmt).await.is_err() {
                    return Ok(Some((line, stmt)));
                }
            }
            // Dropping the transaction rolls it back.
            Ok(None)
        },
    )
    .ok()
    .flatten()
}

/// Versions recorded as applied (none when the history table is missing).
pub fn applied_versions(wh: &mut Warehouse) -> Result<Vec<i64>> {
    let client = &wh.client;
    supervise::bounded(
        "reading the migration history",
        statement_timeout(),
        async move {
            let exists = client
                .query_opt(
                    "SELECT 1 FROM information_schema.tables WHERE table_name = $1 AND table_schema = current_schema()",
                    &[&HISTORY_TABLE],
                )
                .await?
                .is_some();
            if !exists {
                return Ok(Vec::new());
            }
            let rows = client
                .query(
                    &format!("SELECT version FROM {HISTORY_TABLE} ORDER BY version"),
                    &[],
                )
                .await?;
            Ok(rows.iter().map(|r| r.get::<_, i32>(0) as i64).collect())
        },
    )
}

/// refinery's tokio-postgres driver, but a file that opts out runs outside
/// a transaction (its history row is written after it succeeded).
struct Conn<'a>(&'a mut Client);

#[async_trait]
impl AsyncTransaction for Conn<'_> {
    type Error = tokio_postgres::Error;

    async fn execute<'a, T: Iterator<Item = &'a str> + Send>(
        &mut self,
        queries: T,
    ) -> Result<usize, Self::Error> {
        let queries: Vec<&str> = queries.collect();
        if queries.first().is_some_and(|q| no_transaction(q)) {
            for q in &queries {
                self.0.batch_execute(q).await?;
            }
            return Ok(queries.len());
        }
        let tx = self.0.transaction().await?;
        for q in &queries {
            tx.batch_execute(q).await?;
        }
        tx.commit().await?;
        Ok(queries.len())
    }
}

#[async_trait]
impl AsyncQuery<Vec<Migration>> for Conn<'_> {
    async fn query(&mut self, query: &str) -> Result<Vec<Migration>, Self::Error> {
        <Client as AsyncQuery<Vec<Migration>>>::query(self.0, query).await
    }
}

impl AsyncMigrate for Conn<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_named_the_flyway_way_and_versions_are_unique() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(
            t.path().join("V2__add_column.sql"),
            "ALTER TABLE a ADD COLUMN b INT;",
        )
        .unwrap();
        std::fs::write(t.path().join("V1__create.sql"), "CREATE TABLE a (x INT);").unwrap();
        std::fs::write(t.path().join("README.md"), "x").unwrap();
        let l = list(t.path()).unwrap();
        assert_eq!(
            l.iter().map(|m| m.file.as_str()).collect::<Vec<_>>(),
            ["V1__create.sql", "V2__add_column.sql"]
        );
        std::fs::write(t.path().join("R__views.sql"), "x").unwrap();
        std::fs::write(t.path().join("V2__again.sql"), "x").unwrap();
        std::fs::write(t.path().join("V3-bad.sql"), "x").unwrap();
        let e = list(t.path()).unwrap_err().to_string();
        assert!(e.contains("R__views.sql: only versioned"), "{e}");
        assert!(e.contains("two migrations with version 2"), "{e}");
        assert!(e.contains("V3-bad.sql"), "{e}");
    }
}
