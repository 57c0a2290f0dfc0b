//! The engine against a real throwaway PostgreSQL (test_pg.rs), and its
//! HTML report opened in headless Chromium. Both need binaries that
//! scripts/setup-compare-test.sh installs (`make test-rust` runs it through
//! tools-test), so they are #[ignore]d for a plain `cargo test`, like the
//! end-to-end tests, and run by `make test-rust` (--include-ignored).

use super::test_pg::TestPg;
use super::*;
use std::path::PathBuf;
use std::time::Duration;

/// Base, change and one noise run of the same pipeline, table by table:
///   t_same     identical except loaded_at (a load time: differs everywhere)
///   t_round    composite key; the change rounds revenue for 4 of 24 rows
///   t_tol      one value off by 1e-9 in the change
///   t_added    the change adds a column `discount`
///   t_dups     the change writes one key twice
///   t_nullkey  the base has a NULL key
///   t_rows     2 rows only in base, 3 only in change
///   t_missing  only in base
///   t_retyped  every compared column and one key retyped; one code differs
const FIXTURE: &str = r#"
CREATE SCHEMA shadow_base; CREATE SCHEMA shadow_change; CREATE SCHEMA shadow_noise1;

CREATE TABLE shadow_base.t_same (k integer, name varchar(20), amount numeric(12,2), flag boolean, loaded_at timestamp);
INSERT INTO shadow_base.t_same
  SELECT i, 'n' || i, i * 1.25, i % 2 = 0, TIMESTAMP '2026-01-01 10:00:00' FROM generate_series(1, 10) i;
INSERT INTO shadow_base.t_same VALUES (11, NULL, NULL, NULL, TIMESTAMP '2026-01-01 10:00:00');
CREATE TABLE shadow_change.t_same AS SELECT * FROM shadow_base.t_same;
UPDATE shadow_change.t_same SET loaded_at = TIMESTAMP '2026-01-02 11:00:00';
CREATE TABLE shadow_noise1.t_same AS SELECT * FROM shadow_base.t_same;
UPDATE shadow_noise1.t_same SET loaded_at = TIMESTAMP '2026-01-03 12:00:00';

CREATE TABLE shadow_base.t_round (region varchar(10), month date, revenue numeric(12,2), orders integer);
INSERT INTO shadow_base.t_round
  SELECT r, DATE '2026-01-01' + (m * 31), 100.25 + m * 10.37 + length(r), m + 1
  FROM unnest(ARRAY['north', 'south']) r, generate_series(0, 11) m;
CREATE TABLE shadow_change.t_round AS SELECT * FROM shadow_base.t_round;
UPDATE shadow_change.t_round SET revenue = round(revenue, 0)
  WHERE region = 'north' AND month < DATE '2026-05-01';
CREATE TABLE shadow_noise1.t_round AS SELECT * FROM shadow_base.t_round;

CREATE TABLE shadow_base.t_tol (k integer, x double precision);
INSERT INTO shadow_base.t_tol SELECT i, i / 3.0 FROM generate_series(1, 5) i;
CREATE TABLE shadow_change.t_tol AS SELECT * FROM shadow_base.t_tol;
UPDATE shadow_change.t_tol SET x = x + 0.000000001 WHERE k = 2;

CREATE TABLE shadow_base.t_added (k integer, v integer);
INSERT INTO shadow_base.t_added SELECT i, i FROM generate_series(1, 5) i;
CREATE TABLE shadow_change.t_added (k integer, v integer, discount numeric(12,2));
INSERT INTO shadow_change.t_added SELECT i, i, 0.5 FROM generate_series(1, 5) i;

CREATE TABLE shadow_base.t_dups (k integer, v integer);
INSERT INTO shadow_base.t_dups SELECT i, i FROM generate_series(1, 5) i;
CREATE TABLE shadow_change.t_dups AS SELECT * FROM shadow_base.t_dups;
INSERT INTO shadow_change.t_dups VALUES (3, 33);

CREATE TABLE shadow_base.t_nullkey (k integer, v integer);
INSERT INTO shadow_base.t_nullkey VALUES (1, 1), (NULL, 2);
CREATE TABLE shadow_change.t_nullkey (k integer, v integer);
INSERT INTO shadow_change.t_nullkey VALUES (1, 1), (2, 2);

CREATE TABLE shadow_base.t_rows (k integer, v integer);
INSERT INTO shadow_base.t_rows SELECT i, i FROM generate_series(1, 10) i;
CREATE TABLE shadow_change.t_rows (k integer, v integer);
INSERT INTO shadow_change.t_rows SELECT i, i FROM generate_series(3, 13) i;

CREATE TABLE shadow_base.t_missing (k integer);

CREATE TABLE shadow_base.t_retyped (k integer, d date, code integer, amt numeric(12,2), ok boolean);
INSERT INTO shadow_base.t_retyped
  SELECT i, DATE '2026-01-01' + i, i * 7, i * 1.5, i % 2 = 0 FROM generate_series(1, 6) i;
CREATE TABLE shadow_change.t_retyped (k bigint, d varchar(10), code varchar(8), amt numeric(12,4), ok boolean);
INSERT INTO shadow_change.t_retyped
  SELECT k, CAST(d AS varchar(10)), CAST(code AS varchar(8)), amt, ok FROM shadow_base.t_retyped;
UPDATE shadow_change.t_retyped SET code = '99' WHERE k = 6;
"#;

fn out(table: &str, key: &[&str], ignore: &[&str]) -> Output {
    Output {
        table: table.into(),
        key: key.iter().map(|s| s.to_string()).collect(),
        ignore: ignore.iter().map(|s| s.to_string()).collect(),
        abs_tolerance: None,
        rel_tolerance: None,
        tolerances: Default::default(),
    }
}

fn outputs() -> Vec<Output> {
    vec![
        out("t_same", &["k"], &[]),
        out("t_round", &["region", "month"], &[]),
        out("t_tol", &["k"], &[]),
        out("t_added", &["k"], &[]),
        out("t_dups", &["k"], &[]),
        out("t_nullkey", &["k"], &[]),
        out("t_rows", &["k"], &[]),
        out("analytics.t_missing", &["k"], &[]),
        out("t_retyped", &["k", "d"], &[]),
    ]
}

fn compare_with(
    pg: &TestPg,
    outputs: &[Output],
    noise: &[String],
    options: &Options,
) -> CompareReport {
    let client = pg.connect();
    let req = Request {
        base_schema: "shadow_base",
        change_schema: "shadow_change",
        noise_schemas: noise,
        outputs,
        options,
    };
    run(&client, &req, Duration::from_secs(120)).unwrap()
}

fn get<'a>(r: &'a CompareReport, table: &str) -> &'a TableReport {
    r.tables.iter().find(|t| t.table == table).unwrap()
}

fn fixture() -> TestPg {
    let pg = TestPg::start();
    let client = pg.connect();
    pg.exec(&client, FIXTURE);
    pg
}

#[test]
#[ignore = "needs PostgreSQL 15 server binaries (scripts/setup-compare-test.sh)"]
fn engine_against_postgres() {
    let pg = fixture();
    let noise = vec!["shadow_noise1".to_string()];
    let r = compare_with(&pg, &outputs(), &noise, &Options::default());
    let lines = report::terminal(&r).join("\n");

    // Identical apart from a load time that also differs between base runs.
    let t = get(&r, "t_same");
    assert_eq!(t.verdict, Verdict::Same, "{lines}\n{t:#?}");
    assert_eq!(t.score, Some(1.0));
    let ts = t.columns.iter().find(|c| c.column == "loaded_at").unwrap();
    assert!(ts.noise && ts.matched == 0 && ts.compared == 11, "{ts:?}");
    assert_eq!(t.noise[0].columns, vec!["loaded_at"]);
    // NULL = NULL matches (row 11), booleans and numerics compare.
    for c in t.columns.iter().filter(|c| c.column != "loaded_at") {
        assert_eq!((c.matched, c.compared), (11, 11), "{c:?}");
    }
    assert!(t.samples.changed.is_empty(), "noise has no samples");

    // The rounding change: exactly the 4 rows, only revenue.
    let t = get(&r, "t_round");
    assert_eq!(t.verdict, Verdict::Differs, "{lines}");
    let rows = t.rows.unwrap();
    assert_eq!(
        (
            rows.base,
            rows.change,
            rows.both,
            rows.base_only,
            rows.change_only
        ),
        (24, 24, 24, 0, 0)
    );
    let rev = t.columns.iter().find(|c| c.column == "revenue").unwrap();
    assert_eq!((rev.matched, rev.compared), (20, 24));
    let orders = t.columns.iter().find(|c| c.column == "orders").unwrap();
    assert_eq!(orders.matched, 24);
    assert!(
        (t.score.unwrap() - 44.0 / 48.0).abs() < 1e-12,
        "{:?}",
        t.score
    );
    assert_eq!(t.samples.changed.len(), 4);
    let first = &t.samples.changed[0];
    assert_eq!(
        first.key,
        vec![Some("north".into()), Some("2026-01-01".into())]
    );
    assert_eq!(first.column, "revenue");
    assert_eq!(first.base.as_deref(), Some("105.25"));
    assert_eq!(first.change.as_deref(), Some("105.00"));
    let months: Vec<_> = t
        .samples
        .changed
        .iter()
        .map(|c| c.key[1].clone().unwrap())
        .collect();
    assert_eq!(
        months,
        ["2026-01-01", "2026-02-01", "2026-03-04", "2026-04-04"]
    );
    assert!(t.samples.changed.iter().all(|c| c.base != c.change));

    // A difference of 1e-9 without tolerance.
    let t = get(&r, "t_tol");
    assert_eq!(t.verdict, Verdict::Differs);
    assert_eq!(t.columns[0].matched, 4);

    let t = get(&r, "t_added");
    assert_eq!(t.verdict, Verdict::Differs);
    assert_eq!(t.schema.added.len(), 1);
    assert_eq!(t.schema.added[0].name, "discount");
    assert_eq!(t.schema.added[0].sql_type, "numeric(12,2)");
    assert_eq!(t.score, Some(1.0), "a schema change is not in the score");

    let t = get(&r, "t_dups");
    assert_eq!(t.verdict, Verdict::GrainError);
    let g = &t.grain[1];
    assert_eq!(
        (
            g.side.as_str(),
            g.duplicate_keys,
            g.duplicate_rows,
            g.null_keys
        ),
        ("change", 1, 2, 0)
    );
    assert_eq!(g.sample_duplicates, vec![(vec![Some("3".to_string())], 2)]);
    assert!(
        t.rows.is_none() && t.columns.is_empty() && t.score.is_none(),
        "not compared"
    );

    let t = get(&r, "t_nullkey");
    assert_eq!(t.verdict, Verdict::GrainError);
    assert_eq!(t.grain[0].null_keys, 1);

    let t = get(&r, "t_rows");
    assert_eq!(t.verdict, Verdict::Differs);
    let rows = t.rows.unwrap();
    assert_eq!(
        (
            rows.base,
            rows.change,
            rows.both,
            rows.base_only,
            rows.change_only
        ),
        (10, 11, 8, 2, 3)
    );
    assert!((t.score.unwrap() - 8.0 / 13.0).abs() < 1e-12);
    let keys =
        |v: &Vec<Vec<Option<String>>>| v.iter().map(|k| k[0].clone().unwrap()).collect::<Vec<_>>();
    assert_eq!(keys(&t.samples.base_only), ["1", "2"]);
    assert_eq!(keys(&t.samples.change_only), ["11", "12", "13"]);

    let t = get(&r, "analytics.t_missing");
    assert_eq!(t.verdict, Verdict::Missing);
    assert_eq!(t.missing_on, vec!["change"]);

    // Retyped columns are in the schema diff and still compared: numbers
    // as numbers, other type changes as text, the date/varchar key joined
    // as text.
    let t = get(&r, "t_retyped");
    assert_eq!(t.verdict, Verdict::Differs, "{t:#?}");
    let retyped: Vec<_> = t.schema.retyped.iter().map(|x| x.column.as_str()).collect();
    assert_eq!(retyped, ["k", "d", "code", "amt"]);
    assert_eq!(t.rows.unwrap().both, 6);
    let m: Vec<_> = t
        .columns
        .iter()
        .map(|c| (c.column.as_str(), c.matched))
        .collect();
    assert_eq!(m, [("code", 5), ("amt", 6), ("ok", 6)]);
    assert_eq!(t.samples.changed.len(), 1);
    let c = &t.samples.changed[0];
    assert_eq!(
        (c.key.clone(), c.base.as_deref(), c.change.as_deref()),
        (
            vec![Some("6".into()), Some("2026-01-07".into())],
            Some("42"),
            Some("99")
        )
    );

    assert_eq!(r.verdict, Verdict::GrainError);
}

#[test]
#[ignore = "needs PostgreSQL 15 server binaries (scripts/setup-compare-test.sh)"]
fn tolerance_allow_list_and_no_noise_runs() {
    let pg = fixture();
    let mut outs = outputs();
    // Per-table tolerance hides the 1e-9; a global one would too.
    outs[2].abs_tolerance = Some(1e-6);
    let opts = Options {
        expected: vec!["t_added.discount".into(), "t_round.revenue".into()],
        ..Default::default()
    };
    let r = compare_with(&pg, &outs, &[], &opts);
    assert_eq!(get(&r, "t_tol").verdict, Verdict::Same);
    assert_eq!(get(&r, "t_added").verdict, Verdict::Expected);
    assert_eq!(get(&r, "t_round").verdict, Verdict::Expected);
    // Without noise runs the load time is a real difference.
    let t = get(&r, "t_same");
    assert_eq!(t.verdict, Verdict::Differs);
    assert_eq!(t.differences.len(), 1);
    assert_eq!(t.differences[0].column.as_deref(), Some("loaded_at"));
    // Ignoring it (the table's `ignore`, or the global skip list) makes it same.
    let opts = Options {
        skip_columns: vec!["loaded_at".into()],
        rel_tolerance: 0.001,
        ..Default::default()
    };
    let r = compare_with(&pg, &outs, &[], &opts);
    let t = get(&r, "t_same");
    assert_eq!(t.verdict, Verdict::Same, "{t:#?}");
    assert!(t.columns.iter().all(|c| c.column != "loaded_at"));
    // 0.1% relative: 105.25 vs 105 is 0.24% off: still differs; 1% hides all four.
    assert_eq!(get(&r, "t_round").verdict, Verdict::Differs);
    let mut outs2 = outputs();
    outs2[1].rel_tolerance = Some(0.01);
    let r = compare_with(&pg, &outs2, &[], &Options::default());
    assert_eq!(get(&r, "t_round").verdict, Verdict::Same);
    // A column's own tolerance wins over the table's and the global one:
    // 0.3 hides two of the four roundings (105.25, 125.99), not 115.62/136.36.
    let mut outs3 = outputs();
    outs3[1].abs_tolerance = Some(10.0);
    outs3[1].tolerances.insert(
        "revenue".into(),
        crate::pipeline_folder::spec::Tolerance {
            abs: Some(0.3),
            rel: None,
        },
    );
    let r = compare_with(&pg, &outs3, &[], &Options::default());
    let t = get(&r, "t_round");
    let rev = t.columns.iter().find(|c| c.column == "revenue").unwrap();
    assert_eq!((rev.matched, rev.abs_tolerance), (22, 0.3), "{rev:?}");
    let orders = t.columns.iter().find(|c| c.column == "orders").unwrap();
    assert_eq!(orders.abs_tolerance, 10.0);
}

/// Where the tests keep files worth looking at after a run.
fn output_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("compare-test")
}

fn chromium(args: &[String]) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    let mut c = std::process::Command::new("timeout");
    c.args(["120", "chromium"])
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1200,1600",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args);
    let out = c
        .output()
        .expect("chromium (run scripts/setup-compare-test.sh)");
    assert!(
        out.status.success(),
        "chromium failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
#[ignore = "needs PostgreSQL 15 and Chromium (scripts/setup-compare-test.sh)"]
fn html_report_renders_in_headless_chromium() {
    let pg = fixture();
    let opts = Options {
        expected: vec!["t_added.discount".into()],
        ..Default::default()
    };
    let r = compare_with(&pg, &outputs(), &["shadow_noise1".to_string()], &opts);
    let dir = output_dir();
    let _ = std::fs::remove_dir_all(&dir);
    let paths = report::write_all(&r, &dir).unwrap();
    let url = format!("file://{}", paths.html.display());

    let shot = dir.join("compare-screenshot.png");
    chromium(&[format!("--screenshot={}", shot.display()), url.clone()]);
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // A blank 1200x1600 page compresses to a few KB; this one has tables.
    assert!(png.len() > 30_000, "screenshot only {} bytes", png.len());

    let dom = String::from_utf8(chromium(&["--dump-dom".to_string(), url]).stdout).unwrap();
    std::fs::write(dir.join("compare-dom.html"), &dom).unwrap();
    assert_eq!(
        dom.matches("class=\"table-result\"").count(),
        r.tables.len(),
        "one section per table"
    );
    for (table, verdict) in [
        ("t_same", "same"),
        ("t_round", "differs"),
        ("t_added", "expected"),
        ("t_dups", "grain error"),
        ("t_rows", "differs"),
        ("analytics.t_missing", "missing"),
    ] {
        let needle = format!("data-table=\"{table}\" data-verdict=\"{verdict}\"");
        assert!(dom.contains(&needle), "{needle} not in the rendered DOM");
    }
    assert!(
        dom.contains("id=\"overall-verdict\">grain error<"),
        "overall verdict"
    );
    assert!(dom.contains("noise (differs between base runs)"));
    assert!(
        dom.contains(
            "<td>north</td><td>2026-01-01</td><td>revenue</td><td>105.25</td><td>105.00</td>"
        ),
        "a changed-value sample row"
    );
}
