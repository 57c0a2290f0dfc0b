//! Seed data: the `.sql` and `.csv` files of the pipeline's seed folder,
//! loaded once per env, in name order, in one transaction, before the
//! migrations (so a migration meets data shaped like production's).
//!
//! A CSV file fills the table its name says (`02_customers.csv` ->
//! `customers`: a leading `<digits>_` orders files and is dropped;
//! `sales.orders.csv` -> `sales.orders`), with the columns of its header
//! line, through the warehouse's bulk path (see [`Bulk`]). What was loaded
//! is recorded in `shadowops_seed_history` (file, SHA-256, time), so a
//! second `up` loads only new files and says which loaded ones changed.

use super::{describe, statement_timeout, Bulk, Warehouse};
use crate::supervise;
use anyhow::{anyhow, bail, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const HISTORY_TABLE: &str = "shadowops_seed_history";

/// Redshift-compatible: no SERIAL, no BYTEA, no defaults that need functions.
const CREATE_HISTORY: &str = "CREATE TABLE IF NOT EXISTS shadowops_seed_history (
    file      VARCHAR(255) NOT NULL,
    sha256    VARCHAR(64)  NOT NULL,
    loaded_at VARCHAR(40)  NOT NULL)";

/// Rows per INSERT statement on the [`Bulk::Inserts`] path.
const INSERT_BATCH: usize = 500;

#[derive(Debug, Clone, PartialEq)]
pub struct SeedFile {
    pub name: String,
    pub path: PathBuf,
    pub kind: SeedKind,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SeedKind {
    Sql,
    Csv { table: String },
}

/// What a load did.
#[derive(Debug, Default)]
pub struct Loaded {
    pub loaded: Vec<(String, u64)>,
    pub unchanged: usize,
    /// Loaded before with other content: not reloaded (once per env).
    pub changed: Vec<String>,
}

/// A seed step that failed: which file, the warehouse's error, the statement.
#[derive(Debug, thiserror::Error)]
#[error("seed file {file}: {message}")]
pub struct SeedError {
    pub file: String,
    pub message: String,
    pub statement: Vec<String>,
}

/// The seed files of `dir` in load order; a missing folder is no seed.
pub fn list(dir: &Path) -> Result<Vec<SeedFile>> {
    let names = super::file_names(dir)?;
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for name in names {
        let path = dir.join(&name);
        let kind = if name.ends_with(".sql") {
            SeedKind::Sql
        } else if let Some(stem) = name.strip_suffix(".csv") {
            match csv_table(stem) {
                Some(table) => SeedKind::Csv { table },
                None => {
                    bad.push(format!("{name}: the name must be a table name (optionally 01_ first, schema. allowed)"));
                    continue;
                }
            }
        } else if name.ends_with(".md") || name.ends_with(".txt") {
            continue;
        } else {
            bad.push(format!("{name}: only .sql and .csv files are loaded"));
            continue;
        };
        let data = std::fs::read(&path)?;
        out.push(SeedFile {
            name,
            path,
            kind,
            sha256: hex::encode(Sha256::digest(&data)),
        });
    }
    if !bad.is_empty() {
        bail!("{}: {}", dir.display(), bad.join("; "));
    }
    Ok(out)
}

/// `02_customers` -> `customers`; `sales.orders` stays; bad names -> None.
fn csv_table(stem: &str) -> Option<String> {
    let t = match stem.split_once('_') {
        Some((digits, rest))
            if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) =>
        {
            rest
        }
        _ => stem,
    };
    let ok = |p: &str| {
        let mut c = p.chars();
        matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
            && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
    };
    let parts: Vec<&str> = t.split('.').collect();
    (parts.len() <= 2 && parts.iter().all(|p| ok(p))).then(|| t.to_ascii_lowercase())
}

/// Load every file not loaded yet, all in one transaction: a failure
/// leaves the warehouse and the history as they were.
pub fn load(wh: &mut Warehouse, files: &[SeedFile]) -> Result<Loaded> {
    let bulk = wh.bulk;
    let client = &mut wh.client;
    let files = files.to_vec();
    supervise::bounded("loading the seed data", statement_timeout(), async move {
        let tx = client.transaction().await?;
        tx.batch_execute(CREATE_HISTORY).await?;
        let rows = tx
            .query(&format!("SELECT file, sha256 FROM {HISTORY_TABLE}"), &[])
            .await?;
        let done: BTreeMap<String, String> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let mut out = Loaded::default();
        for f in &files {
            match done.get(&f.name) {
                Some(sha) if *sha == f.sha256 => {
                    out.unchanged += 1;
                    continue;
                }
                Some(_) => {
                    out.changed.push(f.name.clone());
                    continue;
                }
                None => {}
            }
            let text = std::fs::read_to_string(&f.path)?;
            let rows = match &f.kind {
                SeedKind::Sql => tx.batch_execute(&text).await.map(|_| 0).map_err(|e| {
                    let (message, statement) = describe(&e, Some(&text));
                    anyhow!(SeedError {
                        file: f.name.clone(),
                        message,
                        statement
                    })
                })?,
                SeedKind::Csv { table } => load_csv(&tx, bulk, &f.name, table, &text).await?,
            };
            tx.execute(
                &format!(
                    "INSERT INTO {HISTORY_TABLE} (file, sha256, loaded_at) VALUES ($1, $2, $3)"
                ),
                &[
                    &f.name,
                    &f.sha256,
                    &crate::lease::rfc3339(std::time::SystemTime::now()),
                ],
            )
            .await?;
            out.loaded.push((f.name.clone(), rows));
        }
        tx.commit().await?;
        Ok(out)
    })
}

async fn load_csv(
    tx: &tokio_postgres::Transaction<'_>,
    bulk: Bulk,
    file: &str,
    table: &str,
    text: &str,
) -> Result<u64> {
    let fail = |message: String| {
        anyhow!(SeedError {
            file: file.into(),
            message,
            statement: Vec::new(),
        })
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| fail(format!("header line: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if header.is_empty()
        || header
            .iter()
            .any(|h| csv_table(h).is_none() || h.contains('.'))
    {
        return Err(fail(format!(
            "the header line must name the table's columns (plain names), got {header:?}"
        )));
    }
    let cols = header.join(", ");
    match bulk {
        Bulk::CopyFromStdin => {
            use futures_util::SinkExt;
            let sql = format!("COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv, HEADER true)");
            let sink = tx
                .copy_in(&sql)
                .await
                .map_err(|e| fail(describe(&e, None).0))?;
            futures_util::pin_mut!(sink);
            sink.send(bytes::Bytes::copy_from_slice(text.as_bytes()))
                .await
                .map_err(|e| fail(describe(&e, None).0))?;
            sink.as_mut()
                .finish()
                .await
                .map_err(|e| fail(describe(&e, None).0))
        }
        Bulk::Inserts => {
            let mut total = 0u64;
            let mut batch = Vec::new();
            for (i, rec) in rdr.records().enumerate() {
                let rec = rec.map_err(|e| fail(format!("row {}: {e}", i + 2)))?;
                if rec.len() != header.len() {
                    return Err(fail(format!(
                        "row {}: {} fields, header has {}",
                        i + 2,
                        rec.len(),
                        header.len()
                    )));
                }
                batch.push(values_row(&rec));
                if batch.len() == INSERT_BATCH {
                    total += insert(tx, table, &cols, &mut batch)
                        .await
                        .map_err(|e| fail(describe(&e, None).0))?;
                }
            }
            if !batch.is_empty() {
                total += insert(tx, table, &cols, &mut batch)
                    .await
                    .map_err(|e| fail(describe(&e, None).0))?;
            }
            Ok(total)
        }
    }
}

async fn insert(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    cols: &str,
    batch: &mut Vec<String>,
) -> Result<u64, tokio_postgres::Error> {
    let sql = insert_sql(table, cols, batch);
    batch.clear();
    tx.execute(&sql, &[]).await
}

/// One multi-row INSERT of string literals: the warehouse casts each to its
/// column's type, as COPY does. An empty field is NULL (COPY's CSV rule for
/// unquoted empty fields).
pub fn insert_sql(table: &str, cols: &str, rows: &[String]) -> String {
    format!("INSERT INTO {table} ({cols}) VALUES {}", rows.join(", "))
}

pub fn values_row(rec: &csv::StringRecord) -> String {
    let vals: Vec<String> = rec
        .iter()
        .map(|v| {
            if v.is_empty() {
                "NULL".to_string()
            } else {
                format!("'{}'", v.replace('\'', "''"))
            }
        })
        .collect();
    format!("({})", vals.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_names_map_to_tables() {
        assert_eq!(csv_table("02_customers").as_deref(), Some("customers"));
        assert_eq!(csv_table("sales.orders").as_deref(), Some("sales.orders"));
        assert_eq!(csv_table("Orders").as_deref(), Some("orders"));
        assert_eq!(csv_table("01_2024"), None);
        assert_eq!(csv_table("a.b.c"), None);
        assert_eq!(csv_table("my-table"), None);
    }

    #[test]
    fn files_load_in_name_order_and_strangers_are_named() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("02_customers.csv"), "id,name\n1,a\n").unwrap();
        std::fs::write(
            t.path().join("01_schema.sql"),
            "CREATE TABLE customers (id INT, name VARCHAR(9));",
        )
        .unwrap();
        std::fs::write(t.path().join("README.md"), "notes").unwrap();
        let l = list(t.path()).unwrap();
        assert_eq!(
            l.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            ["01_schema.sql", "02_customers.csv"]
        );
        assert_eq!(
            l[1].kind,
            SeedKind::Csv {
                table: "customers".into()
            }
        );
        std::fs::write(t.path().join("data.parquet"), "x").unwrap();
        let e = list(t.path()).unwrap_err().to_string();
        assert!(e.contains("data.parquet: only .sql and .csv"), "{e}");
        assert!(list(&t.path().join("missing")).unwrap().is_empty());
    }

    #[test]
    fn insert_rows_quote_literals_and_null_empty_fields() {
        let rec = csv::StringRecord::from(vec!["1", "O'Brien", ""]);
        assert_eq!(values_row(&rec), "('1', 'O''Brien', NULL)");
        assert_eq!(
            insert_sql("t", "a, b", &["('1', 'x')".into(), ("('2', NULL)").into()]),
            "INSERT INTO t (a, b) VALUES ('1', 'x'), ('2', NULL)"
        );
    }
}
