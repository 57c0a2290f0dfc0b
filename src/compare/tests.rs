//! Unit tests: SQL generation (and that it stays within what Redshift
//! runs), score, verdict, allow-list, and the report renderings. The tests
//! against a real PostgreSQL are in pg_tests.rs.

use super::report;
use super::sql::{self, Column, Compared, Pair};
use super::*;

fn col(name: &str, t: &str) -> Column {
    Column {
        name: name.into(),
        sql_type: t.into(),
    }
}

fn colres(name: &str, compared: i64, matched: i64, noise: bool) -> ColumnResult {
    ColumnResult {
        column: name.into(),
        base_type: "integer".into(),
        change_type: "integer".into(),
        abs_tolerance: 0.0,
        rel_tolerance: 0.0,
        compared,
        matched,
        noise,
        expected: false,
    }
}

fn table(name: &str) -> TableReport {
    TableReport {
        table: name.into(),
        key: vec!["k".into()],
        ignored: vec![],
        abs_tolerance: 0.0,
        rel_tolerance: 0.0,
        verdict: Verdict::Same,
        score: Some(1.0),
        error: None,
        missing_on: vec![],
        grain: vec![],
        schema: SchemaDiff::default(),
        rows: Some(RowCounts {
            base: 10,
            change: 10,
            both: 10,
            base_only: 0,
            change_only: 0,
        }),
        columns: vec![colres("a", 10, 10, false)],
        samples: Samples::default(),
        noise: vec![],
        differences: vec![],
    }
}

// --- SQL ----------------------------------------------------------------------

#[test]
fn identifiers_and_literals_are_quoted() {
    assert_eq!(sql::ident("a\"b"), "\"a\"\"b\"");
    assert_eq!(sql::lit("o'k"), "'o''k'");
    assert_eq!(sql::qualified("s", "t"), "\"s\".\"t\"");
    assert!(sql::check_name("table", "fine_name").is_ok());
    assert!(sql::check_name("table", "").is_err());
    assert!(sql::check_name("table", "a\\b").is_err());
    assert!(sql::check_name("table", "a\nb").is_err());
    assert!(sql::check_name("table", &"x".repeat(128)).is_err());
}

#[test]
fn type_labels_carry_length_and_precision() {
    assert_eq!(
        sql::type_label("numeric", None, Some("12"), Some("2")),
        "numeric(12,2)"
    );
    assert_eq!(
        sql::type_label("integer", None, Some("32"), Some("0")),
        "integer"
    );
    assert_eq!(
        sql::type_label("character varying", Some("64"), None, None),
        "character varying(64)"
    );
    assert_eq!(sql::type_label("numeric", None, None, None), "numeric");
    assert!(sql::is_numeric("numeric(12,2)") && sql::is_numeric("double precision"));
    assert!(!sql::is_numeric("character varying(10)") && !sql::is_numeric("boolean"));
}

#[test]
fn match_condition_is_null_safe_and_applies_tolerance_to_numbers_only() {
    let m = sql::matches(
        &col("v", "numeric(12,2)"),
        &col("v", "numeric(12,2)"),
        0.01,
        0.0,
        "b",
        "c",
    );
    assert_eq!(
        m,
        "((b.\"v\" IS NULL AND c.\"v\" IS NULL) OR b.\"v\" = c.\"v\" OR \
         ABS(CAST(b.\"v\" AS DOUBLE PRECISION) - CAST(c.\"v\" AS DOUBLE PRECISION)) <= 0.01)"
    );
    let m = sql::matches(&col("v", "real"), &col("v", "real"), 0.0, 1e-9, "b", "c");
    assert!(m.contains("<= 0.000000001 * GREATEST(ABS("), "{m}");
    // No tolerance: plain NULL-safe equality.
    let m = sql::matches(
        &col("v", "integer"),
        &col("v", "integer"),
        0.0,
        0.0,
        "b",
        "c",
    );
    assert_eq!(
        m,
        "((b.\"v\" IS NULL AND c.\"v\" IS NULL) OR b.\"v\" = c.\"v\")"
    );
    // Text never gets a tolerance.
    let m = sql::matches(&col("v", "text"), &col("v", "text"), 1.0, 1.0, "b", "c");
    assert!(!m.contains("ABS"), "{m}");
    // Types that differ and are not both numeric compare as text.
    let m = sql::matches(&col("v", "integer"), &col("v", "text"), 0.0, 0.0, "b", "c");
    assert!(
        m.contains("CAST(b.\"v\" AS VARCHAR(65535)) = CAST(c.\"v\" AS VARCHAR(65535))"),
        "{m}"
    );
    // Whole numbers get a decimal point: a float literal on both warehouses.
    let m = sql::matches(&col("v", "bigint"), &col("v", "bigint"), 2.0, 0.0, "b", "c");
    assert!(m.ends_with("<= 2.0)"), "{m}");
}

#[test]
fn booleans_become_text_without_a_cast() {
    assert_eq!(
        sql::text("b", &col("flag", "boolean")),
        "CASE WHEN b.\"flag\" THEN 'true' WHEN NOT b.\"flag\" THEN 'false' END"
    );
}

/// Every statement the engine can build, for a table exercising every
/// branch: composite key with differing types, numbers with both
/// tolerances, booleans, text, a retyped column.
fn every_statement() -> Vec<String> {
    let bk = vec![col("region", "character varying(32)"), col("month", "date")];
    let ck = vec![col("region", "character varying(32)"), col("month", "text")];
    let cmp = |b: Column, c: Column, abs: f64, rel: f64| Compared {
        base: b,
        change: c,
        abs,
        rel,
    };
    let cols = vec![
        cmp(
            col("revenue", "numeric(12,2)"),
            col("revenue", "numeric(14,4)"),
            0.005,
            1e-6,
        ),
        cmp(col("orders", "integer"), col("orders", "bigint"), 0.0, 0.0),
        cmp(
            col("share", "double precision"),
            col("share", "double precision"),
            0.0,
            1e-12,
        ),
        cmp(col("flag", "boolean"), col("flag", "boolean"), 0.5, 0.5),
        cmp(col("label", "text"), col("label", "text"), 0.5, 0.5),
        cmp(
            col("code", "integer"),
            col("code", "character varying(8)"),
            0.5,
            0.5,
        ),
    ];
    let pair = Pair {
        base_schema: "shadow_base",
        change_schema: "shadow_change",
        table: "rpt_region_month",
        base_keys: &bk,
        change_keys: &ck,
        columns: &cols,
    };
    let mut v = vec![
        sql::columns("shadow_base", "rpt_region_month"),
        sql::grain_counts("shadow_base", "rpt_region_month", &bk),
        sql::grain_duplicates("shadow_base", "rpt_region_month", &bk),
        sql::grain_duplicate_sample("shadow_base", "rpt_region_month", &bk, 5),
        pair.counts(),
        pair.only_sample("b", 5),
        pair.only_sample("c", 5),
    ];
    for i in 0..cols.len() {
        v.push(pair.changed_sample(i, 5));
    }
    v
}

/// (pattern, why it breaks on Redshift). Checked case-insensitively on the
/// statement text with string literals blanked out.
const NOT_ON_REDSHIFT: &[(&str, &str)] = &[
    ("IS DISTINCT FROM", "not supported on Redshift"),
    ("IS NOT DISTINCT FROM", "not supported on Redshift"),
    ("FILTER (", "aggregate FILTER clauses are PostgreSQL-only"),
    ("FILTER(", "aggregate FILTER clauses are PostgreSQL-only"),
    (
        "::",
        "use CAST(x AS T); a bare ::numeric is NUMERIC(18,0) on Redshift",
    ),
    ("STRING_AGG", "not on Redshift (LISTAGG there)"),
    ("ARRAY_AGG", "no arrays on Redshift"),
    ("EVERY(", "not on Redshift"),
    ("LATERAL", "no LATERAL joins on Redshift"),
    ("GENERATE_SERIES", "leader node only on Redshift"),
    ("ON CONFLICT", "no upsert syntax on Redshift"),
    ("RETURNING", "no RETURNING on Redshift"),
    ("DISTINCT ON", "PostgreSQL-only"),
    (
        "VALUES",
        "VALUES lists as tables are not supported on Redshift",
    ),
    (
        " AS TEXT",
        "TEXT is VARCHAR(256) on Redshift: values would be cut",
    ),
    ("E'", "escape-string syntax is PostgreSQL-only"),
    (
        "$1",
        "keep statements self-contained (simple query protocol)",
    ),
];

fn forbidden_in(stmt: &str) -> Vec<&'static str> {
    // Blank out string literals: a value like '::' is no construct.
    let mut plain = String::new();
    let mut in_lit = false;
    for ch in stmt.chars() {
        if ch == '\'' {
            in_lit = !in_lit;
            plain.push('\'');
        } else if !in_lit {
            plain.push(ch);
        }
    }
    let upper = plain.to_uppercase();
    NOT_ON_REDSHIFT
        .iter()
        .filter(|(p, _)| upper.contains(p))
        .map(|(p, _)| *p)
        .collect()
}

#[test]
fn no_postgresql_only_sql() {
    // The scanner itself catches what it is meant to catch.
    assert_eq!(
        forbidden_in("SELECT a IS DISTINCT FROM b"),
        vec!["IS DISTINCT FROM"]
    );
    assert_eq!(forbidden_in("SELECT x::numeric"), vec!["::"]);
    assert_eq!(
        forbidden_in("SELECT COUNT(*) FILTER (WHERE x)"),
        vec!["FILTER ("]
    );
    assert!(forbidden_in("SELECT '::' AS x").is_empty());
    let all = every_statement();
    assert!(all.len() >= 13);
    for stmt in &all {
        let hits = forbidden_in(stmt);
        assert!(
            hits.is_empty(),
            "{:?} in: {stmt}\n({})",
            hits,
            hits.iter()
                .map(|h| NOT_ON_REDSHIFT.iter().find(|(p, _)| p == h).unwrap().1)
                .collect::<Vec<_>>()
                .join("; ")
        );
        // Numeric literals are plain decimals, never an exponent.
        assert!(!stmt.contains("e-"), "exponent literal in: {stmt}");
    }
}

#[test]
fn counts_use_one_full_outer_join_and_sum_case() {
    let bk = vec![col("k", "integer")];
    let cols = vec![Compared {
        base: col("a", "integer"),
        change: col("a", "integer"),
        abs: 0.0,
        rel: 0.0,
    }];
    let pair = Pair {
        base_schema: "sb",
        change_schema: "sc",
        table: "t",
        base_keys: &bk,
        change_keys: &bk,
        columns: &cols,
    };
    let q = pair.counts();
    assert_eq!(q.matches("FULL OUTER JOIN").count(), 1, "{q}");
    assert!(
        q.contains("FROM \"sb\".\"t\" b FULL OUTER JOIN \"sc\".\"t\" c ON b.\"k\" = c.\"k\""),
        "{q}"
    );
    assert_eq!(q.matches("SUM(CASE WHEN").count(), 4, "{q}");
    let s = pair.only_sample("c", 3);
    assert!(
        s.contains("RIGHT JOIN") && s.contains("WHERE b.\"k\" IS NULL") && s.ends_with("LIMIT 3"),
        "{s}"
    );
    let s = pair.changed_sample(0, 2);
    assert!(
        s.contains("INNER JOIN") && s.contains("THEN 1 ELSE 0 END) = 0"),
        "{s}"
    );
}

// --- score, verdict, allow-list -----------------------------------------------

#[test]
fn score_counts_cells_and_one_sided_rows_as_mismatches() {
    let rows = RowCounts {
        base: 10,
        change: 10,
        both: 8,
        base_only: 2,
        change_only: 2,
    };
    // 12 rows x 2 columns = 24 cells; 8 + 6 matched.
    let cols = vec![colres("a", 8, 8, false), colres("b", 8, 6, false)];
    assert!((score(&rows, &cols) - 14.0 / 24.0).abs() < 1e-12);
    // A noise column is out of the score.
    let cols = vec![colres("a", 8, 8, false), colres("ts", 8, 0, true)];
    assert!((score(&rows, &cols) - 8.0 / 12.0).abs() < 1e-12);
    // Keys only: rows in both match.
    assert!((score(&rows, &[]) - 8.0 / 12.0).abs() < 1e-12);
    // Nothing on either side: identical.
    assert_eq!(score(&RowCounts::default(), &cols), 1.0);
    let same = RowCounts {
        base: 3,
        change: 3,
        both: 3,
        ..Default::default()
    };
    assert_eq!(score(&same, &[colres("a", 3, 3, false)]), 1.0);
}

#[test]
fn allow_list_names_tables_or_columns() {
    let e = vec!["rpt_a".to_string(), "rpt_b.revenue".to_string()];
    assert!(is_expected(&e, "rpt_a", None));
    assert!(is_expected(&e, "rpt_a", Some("x")));
    assert!(is_expected(&e, "rpt_b", Some("revenue")));
    assert!(!is_expected(&e, "rpt_b", Some("orders")));
    assert!(!is_expected(&e, "rpt_b", None));
    assert!(!is_expected(&e, "rpt_bb", Some("revenue")));
    // A declared schema.table is matched by either spelling.
    assert!(is_expected(&e, "analytics.rpt_a", None));
    assert!(is_expected(
        &["analytics.rpt_b.revenue".to_string()],
        "analytics.rpt_b",
        Some("revenue")
    ));
}

#[test]
fn verdicts_follow_the_differences() {
    let t = table("t");
    assert_eq!(
        decide(&TableReport {
            differences: differences(&t, &[]),
            ..t.clone()
        }),
        Verdict::Same
    );

    let mut d = table("t");
    d.columns = vec![colres("a", 10, 7, false), colres("ts", 10, 0, true)];
    let diffs = differences(&d, &[]);
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    assert_eq!(diffs[0].detail, "column a: 3 of 10 values differ");
    d.differences = diffs;
    assert_eq!(decide(&d), Verdict::Differs);
    d.differences = differences(&d, &["t.a".into()]);
    assert_eq!(decide(&d), Verdict::Expected);
    d.verdict = decide(&d);

    // One-sided rows need the whole table allow-listed.
    let mut r = table("t");
    r.rows.as_mut().unwrap().base_only = 1;
    r.differences = differences(&r, &["t.a".into()]);
    assert_eq!(decide(&r), Verdict::Differs);
    r.differences = differences(&r, &["t".into()]);
    assert_eq!(decide(&r), Verdict::Expected);

    let mut s = table("t");
    s.schema.added.push(col("extra", "integer"));
    s.differences = differences(&s, &[]);
    assert_eq!(s.differences[0].kind, "column_added");
    assert_eq!(decide(&s), Verdict::Differs);

    let mut g = table("t");
    g.grain.push(Grain {
        side: "change".into(),
        rows: 5,
        null_keys: 0,
        duplicate_keys: 1,
        duplicate_rows: 2,
        sample_duplicates: vec![],
    });
    assert_eq!(decide(&g), Verdict::GrainError);
    g.verdict = decide(&g);
    let mut m = table("t");
    m.missing_on.push("base".into());
    assert_eq!(decide(&m), Verdict::Missing);

    let mut all = vec![table("a"), d.clone()];
    assert_eq!(overall(&all), Verdict::Expected);
    all.push(g.clone());
    assert_eq!(overall(&all), Verdict::GrainError);
    assert_eq!(overall(&[]), Verdict::Same);
}

#[test]
fn schema_diff_finds_added_removed_retyped_and_skips_ignored() {
    let base = vec![
        col("k", "integer"),
        col("a", "numeric(12,2)"),
        col("gone", "text"),
        col("run_id", "text"),
    ];
    let change = vec![
        col("k", "integer"),
        col("a", "numeric(12,0)"),
        col("new", "date"),
        col("run_id", "integer"),
    ];
    let d = schema_diff(&base, &change, &["run_id".into()]);
    assert_eq!(d.added, vec![col("new", "date")]);
    assert_eq!(d.removed, vec![col("gone", "text")]);
    assert_eq!(
        d.retyped,
        vec![Retyped {
            column: "a".into(),
            base: "numeric(12,2)".into(),
            change: "numeric(12,0)".into()
        }]
    );
    assert!(schema_diff(&base, &base, &[]).is_empty());
}

#[test]
fn options_are_validated() {
    assert!(Options::default().validate().is_ok());
    assert_eq!(Options::default().sample_size, 5);
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        let o = Options {
            abs_tolerance: bad,
            ..Default::default()
        };
        assert!(o.validate().is_err(), "{bad}");
    }
}

// --- reports --------------------------------------------------------------------

fn sample_report() -> CompareReport {
    let mut d = table("rpt_<b>|x");
    d.columns = vec![
        colres("revenue", 10, 7, false),
        colres("loaded_at", 10, 0, true),
    ];
    d.samples.changed.push(ChangedCell {
        key: vec![Some("<script>alert(1)</script>".into())],
        column: "revenue".into(),
        base: Some("1.25".into()),
        change: None,
    });
    d.differences = differences(&d, &[]);
    d.verdict = decide(&d);
    d.score = Some(0.7);
    let mut e = table("broken");
    e.verdict = Verdict::Error;
    e.error = Some("ERROR 42P01: relation does not exist".into());
    e.rows = None;
    e.score = None;
    let tables = vec![table("rpt_same"), d, e];
    CompareReport {
        base_schema: "shadow_base".into(),
        change_schema: "shadow_change".into(),
        noise_schemas: vec!["shadow_noise1".into()],
        options: Options::default(),
        verdict: overall(&tables),
        tables,
    }
}

#[test]
fn terminal_has_one_line_per_table_and_an_overall_line() {
    let r = sample_report();
    let lines = report::terminal(&r);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(
        lines[0].starts_with("same") && lines[0].contains("100.0%"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("differs") && lines[1].contains("changed: revenue"),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].contains("noise: loaded_at") && lines[1].contains("70.0%"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("error") && lines[2].contains("42P01"),
        "{}",
        lines[2]
    );
    assert!(lines[3].starts_with("compare: error"), "{}", lines[3]);
}

#[test]
fn html_escapes_every_value_and_needs_nothing_external() {
    let h = report::html(&sample_report());
    assert!(!h.contains("<script>"), "unescaped value");
    assert!(h.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(h.contains("rpt_&lt;b&gt;|x"));
    assert!(!h.contains("http://") && !h.contains("https://") && !h.contains("<link"));
    assert_eq!(h.matches("class=\"table-result\"").count(), 3);
    assert!(h.contains("width:70.0%"), "match bar for revenue");
    assert!(
        h.contains("<td class=\"num\">7 / 10</td>"),
        "matched of compared"
    );
    assert!(
        h.contains("<div class=\"bar noisy\"><span style=\"width:0.0%\">"),
        "noise bar"
    );
    assert!(h.contains("noise (differs between base runs)"));
}

#[test]
fn markdown_is_one_table_with_escaped_cells() {
    let m = report::markdown(&sample_report());
    assert!(m.starts_with("### shadowops compare: ❌ error"), "{m}");
    assert!(
        m.contains("| rpt_&lt;b&gt;\\|x | 🟠 differs | 70.0% |"),
        "{m}"
    );
    assert!(m.contains("- column revenue: 3 of 10 values differ"), "{m}");
    assert!(m.contains("noise (left out): loaded_at"), "{m}");
    // Not compared: no made-up zeros.
    assert!(
        m.contains("| broken | ❌ error | - | - / - | - | - |  |"),
        "{m}"
    );
}

#[test]
fn junit_fails_diffs_only_with_fail_on_diff_and_errors_always() {
    let mut r = sample_report();
    let x = report::junit(&r).unwrap();
    assert_eq!(x.matches("<testcase").count(), 3, "{x}");
    assert_eq!(x.matches("<failure").count(), 0, "{x}");
    assert_eq!(x.matches("<error").count(), 1, "{x}");
    r.options.fail_on_diff = true;
    let x = report::junit(&r).unwrap();
    assert_eq!(x.matches("<failure").count(), 1, "{x}");
    assert!(x.contains("column revenue: 3 of 10 values differ"), "{x}");
    // Allow-listed differences pass even with fail_on_diff.
    r.options.expected = vec!["rpt_<b>|x.revenue".into()];
    let t = &mut r.tables[1];
    t.differences = differences(t, &r.options.expected);
    t.verdict = decide(t);
    assert_eq!(t.verdict, Verdict::Expected);
    let x = report::junit(&r).unwrap();
    assert_eq!(x.matches("<failure").count(), 0, "{x}");
    assert!(report::fails(&r), "the error table still fails");
    r.tables.remove(2);
    assert!(!report::fails(&r));
    // A grain error fails without fail_on_diff.
    r.options.fail_on_diff = false;
    r.tables[0].verdict = Verdict::GrainError;
    assert!(report::failure(&r, &r.tables[0]).is_some());
    assert!(report::fails(&r));
}

#[test]
fn write_all_writes_every_file_and_json_round_trips() {
    let r = sample_report();
    let dir = tempfile::tempdir().unwrap();
    let p = report::write_all(&r, &dir.path().join("out")).unwrap();
    for f in [&p.json, &p.html, &p.markdown, &p.junit] {
        assert!(std::fs::metadata(f).unwrap().len() > 100, "{}", f.display());
    }
    let back: CompareReport =
        serde_json::from_str(&std::fs::read_to_string(&p.json).unwrap()).unwrap();
    assert_eq!(back, r);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p.json).unwrap()).unwrap();
    assert_eq!(v["tables"][1]["verdict"], "differs");
    assert_eq!(v["verdict"], "error");
}
