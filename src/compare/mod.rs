//! The comparison engine behind `shadowops compare` (docs/compare.md): given
//! one warehouse holding the base run's output tables in one schema, the
//! change run's in another, and optionally more base runs ("noise" runs),
//! it diffs every declared output table in the warehouse itself (SQL that
//! also runs on Redshift, sql.rs) and returns a `CompareReport`, which
//! report.rs renders as terminal lines, JSON, HTML, Markdown and JUnit.
//!
//! Per table, in this order: both sides exist ("missing" otherwise), schema
//! diff, grain check (duplicate or NULL keys: "grain error", never compared),
//! noise runs (columns that differ between base runs), then one outer-join
//! pass for row and per-column match counts, then sample rows.
#![allow(dead_code)] // wired into `shadowops compare` by the orchestration

#[cfg(test)]
mod pg_tests;
pub mod report;
pub mod sql;
#[cfg(test)]
pub(crate) mod test_pg;
#[cfg(test)]
mod tests;

use crate::pipeline_folder::spec::Output;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use sql::{Column, Compared, Pair};
use std::time::Duration;
use tokio_postgres::{Client, SimpleQueryMessage};

/// Global options; a table's own tolerance (`[[outputs]]`) wins over these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// Numbers match when |a-b| <= abs_tolerance ...
    pub abs_tolerance: f64,
    /// ... or |a-b| <= rel_tolerance * max(|a|,|b|).
    pub rel_tolerance: f64,
    /// Columns left out of every table (on top of each table's `ignore`).
    pub skip_columns: Vec<String>,
    /// Sample rows per kind (base only, change only, changed per column).
    pub sample_size: usize,
    /// Differences expected from the change: `table` or `table.column`.
    pub expected: Vec<String>,
    /// JUnit: fail a table on differences outside `expected`.
    pub fail_on_diff: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            abs_tolerance: 0.0,
            rel_tolerance: 0.0,
            skip_columns: Vec::new(),
            sample_size: 5,
            expected: Vec::new(),
            fail_on_diff: false,
        }
    }
}

impl Options {
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("abs tolerance", self.abs_tolerance),
            ("rel tolerance", self.rel_tolerance),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(format!("{name} {v} must be a number >= 0"));
            }
        }
        if self.sample_size > 1000 {
            return Err(format!("sample size {} is over 1000", self.sample_size));
        }
        Ok(())
    }
}

/// What to compare: schemas of one warehouse and the declared outputs.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub base_schema: &'a str,
    pub change_schema: &'a str,
    /// Extra base runs; may be empty.
    pub noise_schemas: &'a [String],
    pub outputs: &'a [Output],
    pub options: &'a Options,
}

/// Per table, ordered from best to worst: the overall verdict is the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Same,
    Expected,
    Differs,
    Missing,
    GrainError,
    Error,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Same => "same",
            Verdict::Expected => "expected",
            Verdict::Differs => "differs",
            Verdict::Missing => "missing",
            Verdict::GrainError => "grain error",
            Verdict::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareReport {
    pub base_schema: String,
    pub change_schema: String,
    pub noise_schemas: Vec<String>,
    pub options: Options,
    pub verdict: Verdict,
    pub tables: Vec<TableReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableReport {
    /// As declared in `[[outputs]]`; looked up by its last part in each schema.
    pub table: String,
    pub key: Vec<String>,
    /// Left out: the table's `ignore` and the global skip list.
    pub ignored: Vec<String>,
    /// The table's tolerance (its own, else the global one); a column's own
    /// (`[outputs.tolerances]`) is in its ColumnResult.
    pub abs_tolerance: f64,
    pub rel_tolerance: f64,
    pub verdict: Verdict,
    /// matched cells / compared cells (see `score`); None when not compared.
    pub score: Option<f64>,
    pub error: Option<String>,
    /// "base" and/or "change" when the table does not exist there.
    pub missing_on: Vec<String>,
    pub grain: Vec<Grain>,
    pub schema: SchemaDiff,
    pub rows: Option<RowCounts>,
    pub columns: Vec<ColumnResult>,
    pub samples: Samples,
    pub noise: Vec<NoiseRun>,
    /// Every difference found, each marked expected (allow-listed) or not.
    pub differences: Vec<Difference>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grain {
    /// "base", "change" or a noise schema.
    pub side: String,
    pub rows: i64,
    pub null_keys: i64,
    /// Distinct keys that occur more than once, and the rows they cover.
    pub duplicate_keys: i64,
    pub duplicate_rows: i64,
    /// Key values (as text) and how many rows each has.
    pub sample_duplicates: Vec<(Vec<Option<String>>, i64)>,
}

impl Grain {
    pub fn ok(&self) -> bool {
        self.null_keys == 0 && self.duplicate_keys == 0
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchemaDiff {
    pub added: Vec<Column>,
    pub removed: Vec<Column>,
    pub retyped: Vec<Retyped>,
}

impl SchemaDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.retyped.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retyped {
    pub column: String,
    pub base: String,
    pub change: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RowCounts {
    pub base: i64,
    pub change: i64,
    pub both: i64,
    pub base_only: i64,
    pub change_only: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnResult {
    pub column: String,
    pub base_type: String,
    pub change_type: String,
    /// The tolerance this column was compared with (0 for non-numbers' sake
    /// is still shown: it applies only to numeric columns).
    pub abs_tolerance: f64,
    pub rel_tolerance: f64,
    /// Rows in both sides (the column's compared cells) and how many match.
    pub compared: i64,
    pub matched: i64,
    /// It differs between base runs: out of the score and the verdict.
    pub noise: bool,
    /// Allow-listed (`table` or `table.column` in `expected`).
    pub expected: bool,
}

impl ColumnResult {
    pub fn match_pct(&self) -> f64 {
        if self.compared == 0 {
            100.0
        } else {
            100.0 * self.matched as f64 / self.compared as f64
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Samples {
    /// Key values (as text) of rows only in the base / only in the change.
    pub base_only: Vec<Vec<Option<String>>>,
    pub change_only: Vec<Vec<Option<String>>>,
    pub changed: Vec<ChangedCell>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangedCell {
    pub key: Vec<Option<String>>,
    pub column: String,
    pub base: Option<String>,
    pub change: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseRun {
    pub schema: String,
    /// Columns whose values differ between the base and this run.
    pub columns: Vec<String>,
    pub base_only: i64,
    pub noise_only: i64,
    /// Why this run told nothing (table missing, bad grain, error).
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// rows, column_added, column_removed, column_retyped, values
    pub kind: String,
    pub column: Option<String>,
    pub detail: String,
    pub expected: bool,
}

/// Compare every output, bounded by `limit` and Ctrl-C (the driver's way of
/// awaiting database I/O). Per-table failures become verdict "error".
pub fn run(client: &Client, req: &Request<'_>, limit: Duration) -> Result<CompareReport> {
    req.options.validate().map_err(anyhow::Error::msg)?;
    crate::supervise::bounded("comparing the output tables", limit, async {
        Ok(compare(client, req).await)
    })
}

/// Compare every output table of `req`, one after the other.
pub async fn compare(client: &Client, req: &Request<'_>) -> CompareReport {
    let mut tables = Vec::new();
    for out in req.outputs {
        tables.push(compare_table(client, req, out).await);
    }
    CompareReport {
        base_schema: req.base_schema.to_string(),
        change_schema: req.change_schema.to_string(),
        noise_schemas: req.noise_schemas.to_vec(),
        options: req.options.clone(),
        verdict: overall(&tables),
        tables,
    }
}

/// The worst table verdict; "same" for no tables.
pub fn overall(tables: &[TableReport]) -> Verdict {
    tables
        .iter()
        .map(|t| t.verdict)
        .max()
        .unwrap_or(Verdict::Same)
}

async fn compare_table(client: &Client, req: &Request<'_>, out: &Output) -> TableReport {
    let o = req.options;
    let mut ignored: Vec<String> = out.ignore.clone();
    for c in &o.skip_columns {
        if !ignored.contains(c) && !out.key.contains(c) {
            ignored.push(c.clone());
        }
    }
    let mut t = TableReport {
        table: out.table.clone(),
        key: out.key.clone(),
        ignored,
        abs_tolerance: out.abs_tolerance.unwrap_or(o.abs_tolerance),
        rel_tolerance: out.rel_tolerance.unwrap_or(o.rel_tolerance),
        verdict: Verdict::Error,
        score: None,
        error: None,
        missing_on: Vec::new(),
        grain: Vec::new(),
        schema: SchemaDiff::default(),
        rows: None,
        columns: Vec::new(),
        samples: Samples::default(),
        noise: Vec::new(),
        differences: Vec::new(),
    };
    match fill(client, req, out, &mut t).await {
        Ok(()) => {
            t.differences = differences(&t, &o.expected);
            t.verdict = decide(&t);
        }
        Err(e) => {
            t.error = Some(e);
            t.verdict = Verdict::Error;
        }
    }
    t
}

/// The table's name inside each run's schema: a declared `schema.table`
/// is looked up by its table part (each run writes into its own schema).
pub fn short_name(table: &str) -> &str {
    table.rsplit('.').next().unwrap_or(table)
}

async fn fill(
    client: &Client,
    req: &Request<'_>,
    out: &Output,
    t: &mut TableReport,
) -> Result<(), String> {
    let name = short_name(&t.table).to_string();
    sql::check_name("schema", req.base_schema)?;
    sql::check_name("schema", req.change_schema)?;
    for s in req.noise_schemas {
        sql::check_name("schema", s)?;
    }
    sql::check_name("table", &name)?;
    for c in t.key.iter().chain(&t.ignored) {
        sql::check_name("column", c)?;
    }
    if t.key.is_empty() {
        return Err("no key columns declared".into());
    }
    let n = req.options.sample_size;

    let base_cols = columns(client, req.base_schema, &name).await?;
    let change_cols = columns(client, req.change_schema, &name).await?;
    if base_cols.is_empty() {
        t.missing_on.push("base".into());
    }
    if change_cols.is_empty() {
        t.missing_on.push("change".into());
    }
    if !t.missing_on.is_empty() {
        return Ok(());
    }
    let base_keys = key_columns(&base_cols, &t.key, "base")?;
    let change_keys = key_columns(&change_cols, &t.key, "change")?;
    t.schema = schema_diff(&base_cols, &change_cols, &t.ignored);

    // Grain first: with duplicate or NULL keys the join would multiply or
    // drop rows and every count after it would be wrong.
    for (side, schema, keys) in [
        ("base", req.base_schema, &base_keys),
        ("change", req.change_schema, &change_keys),
    ] {
        t.grain
            .push(grain(client, side, schema, &name, keys, n).await?);
    }
    if t.grain.iter().any(|g| !g.ok()) {
        return Ok(());
    }

    // Compared: in both, not a key, not ignored or skipped; each with its
    // tolerance (the column's, else the table's, else the global one).
    let pairs: Vec<Compared> = base_cols
        .iter()
        .filter(|c| !t.key.contains(&c.name) && !t.ignored.contains(&c.name))
        .filter_map(|b| {
            let own = out.tolerances.get(&b.name);
            change_cols
                .iter()
                .find(|c| c.name == b.name)
                .map(|c| Compared {
                    base: b.clone(),
                    change: c.clone(),
                    abs: own.and_then(|o| o.abs).unwrap_or(t.abs_tolerance),
                    rel: own.and_then(|o| o.rel).unwrap_or(t.rel_tolerance),
                })
        })
        .collect();
    let pair = Pair {
        base_schema: req.base_schema,
        change_schema: req.change_schema,
        table: &name,
        base_keys: &base_keys,
        change_keys: &change_keys,
        columns: &pairs,
    };

    let mut noisy: Vec<String> = Vec::new();
    for ns in req.noise_schemas {
        let run = noise_run(client, req, ns, &name, t, &base_keys, &pairs).await;
        for c in &run.columns {
            if !noisy.contains(c) {
                noisy.push(c.clone());
            }
        }
        t.noise.push(run);
    }

    let counts = query_ints(client, &pair.counts()).await?;
    let rows = RowCounts {
        base: t.grain[0].rows,
        change: t.grain[1].rows,
        both: counts[0],
        base_only: counts[1],
        change_only: counts[2],
    };
    t.rows = Some(rows);
    for (i, p) in pairs.iter().enumerate() {
        let b = &p.base;
        t.columns.push(ColumnResult {
            column: b.name.clone(),
            base_type: b.sql_type.clone(),
            change_type: p.change.sql_type.clone(),
            abs_tolerance: p.abs,
            rel_tolerance: p.rel,
            compared: rows.both,
            matched: counts[3 + i],
            noise: noisy.contains(&b.name),
            expected: is_expected(&req.options.expected, &t.table, Some(&b.name)),
        });
    }
    t.score = Some(score(&rows, &t.columns));

    if n > 0 {
        let nk = t.key.len();
        if rows.base_only > 0 {
            t.samples.base_only = query_text(client, &pair.only_sample("b", n))
                .await?
                .into_iter()
                .map(|r| r[..nk].to_vec())
                .collect();
        }
        if rows.change_only > 0 {
            t.samples.change_only = query_text(client, &pair.only_sample("c", n))
                .await?
                .into_iter()
                .map(|r| r[..nk].to_vec())
                .collect();
        }
        for (i, col) in t.columns.iter().enumerate() {
            // Noise columns differ anyway; their samples would only distract.
            if col.matched == col.compared || col.noise {
                continue;
            }
            for r in query_text(client, &pair.changed_sample(i, n)).await? {
                t.samples.changed.push(ChangedCell {
                    key: r[..nk].to_vec(),
                    column: col.column.clone(),
                    base: r[nk].clone(),
                    change: r[nk + 1].clone(),
                });
            }
        }
    }
    Ok(())
}

/// One noise run: the base against another base run, same SQL as the real
/// comparison. Any column with a mismatch there is noise. A run that cannot
/// tell (table missing, bad grain, an error) is noted and marks nothing.
async fn noise_run(
    client: &Client,
    req: &Request<'_>,
    schema: &str,
    name: &str,
    t: &TableReport,
    base_keys: &[Column],
    pairs: &[Compared],
) -> NoiseRun {
    let mut run = NoiseRun {
        schema: schema.to_string(),
        columns: Vec::new(),
        base_only: 0,
        noise_only: 0,
        note: None,
    };
    let result: Result<(), String> = async {
        let cols = columns(client, schema, name).await?;
        if cols.is_empty() {
            return Err("the table does not exist in this run".into());
        }
        let keys = key_columns(&cols, &t.key, schema)?;
        let g = grain(client, schema, schema, name, &keys, 0).await?;
        if !g.ok() {
            return Err(format!(
                "duplicate or NULL keys in this run ({} NULL, {} duplicated)",
                g.null_keys, g.duplicate_keys
            ));
        }
        // The base's compared columns that this run also has.
        let noise_pairs: Vec<Compared> = pairs
            .iter()
            .filter_map(|p| {
                cols.iter()
                    .find(|c| c.name == p.base.name)
                    .map(|c| Compared {
                        change: c.clone(),
                        ..p.clone()
                    })
            })
            .collect();
        let pair = Pair {
            base_schema: req.base_schema,
            change_schema: schema,
            table: name,
            base_keys,
            change_keys: &keys,
            columns: &noise_pairs,
        };
        let counts = query_ints(client, &pair.counts()).await?;
        run.base_only = counts[1];
        run.noise_only = counts[2];
        for (i, p) in noise_pairs.iter().enumerate() {
            if counts[3 + i] < counts[0] {
                run.columns.push(p.base.name.clone());
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        run.note = Some(e);
    }
    run
}

async fn grain(
    client: &Client,
    side: &str,
    schema: &str,
    name: &str,
    keys: &[Column],
    n: usize,
) -> Result<Grain, String> {
    let c = query_ints(client, &sql::grain_counts(schema, name, keys)).await?;
    let d = query_ints(client, &sql::grain_duplicates(schema, name, keys)).await?;
    let mut g = Grain {
        side: side.to_string(),
        rows: c[0],
        null_keys: c[1],
        duplicate_keys: d[0],
        duplicate_rows: d[1],
        sample_duplicates: Vec::new(),
    };
    if g.duplicate_keys > 0 && n > 0 {
        let nk = keys.len();
        for r in query_text(client, &sql::grain_duplicate_sample(schema, name, keys, n)).await? {
            let count = r[nk].as_deref().and_then(|s| s.parse().ok()).unwrap_or(0);
            g.sample_duplicates.push((r[..nk].to_vec(), count));
        }
    }
    Ok(g)
}

/// The key columns as one side types them; a key absent there is an error.
fn key_columns(cols: &[Column], key: &[String], side: &str) -> Result<Vec<Column>, String> {
    key.iter()
        .map(|k| {
            cols.iter()
                .find(|c| &c.name == k)
                .cloned()
                .ok_or_else(|| format!("key column {k:?} does not exist in {side}"))
        })
        .collect()
}

/// Added, removed and retyped columns, leaving out ignored ones.
pub fn schema_diff(base: &[Column], change: &[Column], ignored: &[String]) -> SchemaDiff {
    let mut d = SchemaDiff::default();
    for b in base.iter().filter(|c| !ignored.contains(&c.name)) {
        match change.iter().find(|c| c.name == b.name) {
            None => d.removed.push(b.clone()),
            Some(c) if c.sql_type != b.sql_type => d.retyped.push(Retyped {
                column: b.name.clone(),
                base: b.sql_type.clone(),
                change: c.sql_type.clone(),
            }),
            Some(_) => {}
        }
    }
    for c in change.iter().filter(|c| !ignored.contains(&c.name)) {
        if !base.iter().any(|b| b.name == c.name) {
            d.added.push(c.clone());
        }
    }
    d
}

/// The match score of a table, in [0, 1]:
///
///   score = matched cells / compared cells
///
/// over the scored columns (compared columns that are not noise), where a
/// row in both sides contributes one cell per scored column, and a row on
/// one side only contributes as many cells, all mismatched. A table with no
/// scored columns counts one cell per row (its key): rows in both match.
/// Two empty tables score 1. Schema changes show in the verdict, not here.
pub fn score(rows: &RowCounts, columns: &[ColumnResult]) -> f64 {
    let scored: Vec<&ColumnResult> = columns.iter().filter(|c| !c.noise).collect();
    let width = scored.len().max(1) as f64;
    let total = (rows.both + rows.base_only + rows.change_only) as f64 * width;
    if total == 0.0 {
        return 1.0;
    }
    let matched = if scored.is_empty() {
        rows.both as f64
    } else {
        scored.iter().map(|c| c.matched as f64).sum()
    };
    matched / total
}

/// Whether the allow-list names this table, or this column of it.
pub fn is_expected(expected: &[String], table: &str, column: Option<&str>) -> bool {
    let names = [table, short_name(table)];
    expected.iter().any(|e| {
        names.iter().any(|t| {
            e == t
                || column.is_some_and(|c| {
                    e.strip_prefix(t)
                        .and_then(|r| r.strip_prefix('.'))
                        .is_some_and(|r| r == c)
                })
        })
    })
}

/// Every difference of a compared table, each marked expected or not.
pub fn differences(t: &TableReport, expected: &[String]) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut add = |kind: &str, column: Option<&str>, detail: String| {
        out.push(Difference {
            kind: kind.into(),
            column: column.map(str::to_string),
            detail,
            expected: is_expected(expected, &t.table, column),
        });
    };
    for c in &t.schema.added {
        add(
            "column_added",
            Some(&c.name),
            format!("column {} added ({})", c.name, c.sql_type),
        );
    }
    for c in &t.schema.removed {
        add(
            "column_removed",
            Some(&c.name),
            format!("column {} removed ({})", c.name, c.sql_type),
        );
    }
    for r in &t.schema.retyped {
        add(
            "column_retyped",
            Some(&r.column),
            format!("column {} retyped {} -> {}", r.column, r.base, r.change),
        );
    }
    if let Some(r) = &t.rows {
        if r.base_only > 0 || r.change_only > 0 {
            add(
                "rows",
                None,
                format!(
                    "{} rows only in base, {} only in change",
                    r.base_only, r.change_only
                ),
            );
        }
    }
    for c in t
        .columns
        .iter()
        .filter(|c| !c.noise && c.matched < c.compared)
    {
        add(
            "values",
            Some(&c.column),
            format!(
                "column {}: {} of {} values differ",
                c.column,
                c.compared - c.matched,
                c.compared
            ),
        );
    }
    out
}

/// A table's verdict from what was found (not for tables that errored).
pub fn decide(t: &TableReport) -> Verdict {
    if !t.missing_on.is_empty() {
        Verdict::Missing
    } else if t.grain.iter().any(|g| !g.ok()) {
        Verdict::GrainError
    } else if t.differences.is_empty() {
        Verdict::Same
    } else if t.differences.iter().all(|d| d.expected) {
        Verdict::Expected
    } else {
        Verdict::Differs
    }
}

// --- talking to the warehouse ---------------------------------------------------

fn describe(e: &tokio_postgres::Error, sql: &str) -> String {
    let (msg, _) = crate::warehouse::describe(e, Some(sql));
    // The statement itself helps whoever debugs a failing comparison.
    format!("{msg}; statement: {sql}")
}

/// Rows of a statement, every value as text (NULL as None).
async fn query_text(client: &Client, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    let msgs = client
        .simple_query(sql)
        .await
        .map_err(|e| describe(&e, sql))?;
    Ok(msgs
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect())
}

/// The single row of a statement that selects only integers.
async fn query_ints(client: &Client, sql: &str) -> Result<Vec<i64>, String> {
    let rows = query_text(client, sql).await?;
    let row = rows
        .into_iter()
        .next()
        .ok_or_else(|| format!("no row from: {sql}"))?;
    row.into_iter()
        .map(|v| {
            v.as_deref()
                .unwrap_or("0")
                .parse::<i64>()
                .map_err(|e| format!("not an integer ({e}) from: {sql}"))
        })
        .collect()
}

async fn columns(client: &Client, schema: &str, table: &str) -> Result<Vec<Column>, String> {
    Ok(query_text(client, &sql::columns(schema, table))
        .await?
        .into_iter()
        .map(|r| Column {
            name: r[0].clone().unwrap_or_default(),
            sql_type: sql::type_label(
                r[1].as_deref().unwrap_or(""),
                r[2].as_deref(),
                r[3].as_deref(),
                r[4].as_deref(),
            ),
        })
        .collect())
}
