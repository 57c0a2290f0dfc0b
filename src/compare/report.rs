//! A `CompareReport` as the people and tools that read it want it: one
//! terminal line per table, `compare.json` (the report itself),
//! `compare.html` (self-contained: inline CSS, no scripts, no external
//! assets, every value escaped), `compare.md` (a pull-request comment) and
//! `compare-junit.xml` (one case per table).

use super::{CompareReport, TableReport, Verdict};
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Where `write_all` put each file.
#[derive(Debug, Clone, PartialEq)]
pub struct Paths {
    pub json: PathBuf,
    pub html: PathBuf,
    pub markdown: PathBuf,
    pub junit: PathBuf,
}

/// Write every report file into `dir` (created if needed).
pub fn write_all(report: &CompareReport, dir: &Path) -> Result<Paths> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let paths = Paths {
        json: dir.join("compare.json"),
        html: dir.join("compare.html"),
        markdown: dir.join("compare.md"),
        junit: dir.join("compare-junit.xml"),
    };
    let json = serde_json::to_string_pretty(report)? + "\n";
    for (path, text) in [
        (&paths.json, json),
        (&paths.html, html(report)),
        (&paths.markdown, markdown(report)),
        (&paths.junit, junit(report)?),
    ] {
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(paths)
}

fn pct(score: Option<f64>) -> String {
    match score {
        Some(s) => format!("{:.1}%", s * 100.0),
        None => "-".into(),
    }
}

/// Columns with value differences that count (not noise).
fn changed_columns(t: &TableReport) -> Vec<&str> {
    t.columns
        .iter()
        .filter(|c| !c.noise && c.matched < c.compared)
        .map(|c| c.column.as_str())
        .collect()
}

/// What changed, in one cell: columns with differing values, then schema
/// changes as +added -removed ~retyped.
fn changes(t: &TableReport) -> String {
    let mut v: Vec<String> = changed_columns(t).iter().map(|c| c.to_string()).collect();
    v.extend(t.schema.added.iter().map(|c| format!("+{}", c.name)));
    v.extend(t.schema.removed.iter().map(|c| format!("-{}", c.name)));
    v.extend(t.schema.retyped.iter().map(|r| format!("~{}", r.column)));
    v.join(", ")
}

/// Rows base, change, base only, change only; "-" where not counted (a
/// grain error still knows each side's rows).
fn row_cells(t: &TableReport) -> [String; 4] {
    if let Some(r) = &t.rows {
        return [r.base, r.change, r.base_only, r.change_only].map(|n| n.to_string());
    }
    let side = |name: &str| {
        t.grain
            .iter()
            .find(|g| g.side == name)
            .map_or("-".to_string(), |g| g.rows.to_string())
    };
    [side("base"), side("change"), "-".into(), "-".into()]
}

fn noise_columns(t: &TableReport) -> Vec<&str> {
    t.columns
        .iter()
        .filter(|c| c.noise)
        .map(|c| c.column.as_str())
        .collect()
}

/// One line per table and a closing overall line, for the terminal.
pub fn terminal(report: &CompareReport) -> Vec<String> {
    let width = report
        .tables
        .iter()
        .map(|t| t.table.len())
        .max()
        .unwrap_or(5);
    let mut lines = Vec::new();
    for t in &report.tables {
        let mut line = format!(
            "{:<11} {:>6}  {:<width$}",
            t.verdict.label(),
            pct(t.score),
            t.table
        );
        if let Some(r) = &t.rows {
            let _ = write!(
                line,
                "  rows {}/{} (base only {}, change only {})",
                r.base, r.change, r.base_only, r.change_only
            );
        }
        let changed = changed_columns(t);
        if !changed.is_empty() {
            let _ = write!(line, "  changed: {}", changed.join(", "));
        }
        if !t.schema.is_empty() {
            let _ = write!(
                line,
                "  schema: +{} -{} ~{}",
                t.schema.added.len(),
                t.schema.removed.len(),
                t.schema.retyped.len()
            );
        }
        let noise = noise_columns(t);
        if !noise.is_empty() {
            let _ = write!(line, "  noise: {}", noise.join(", "));
        }
        if !t.missing_on.is_empty() {
            let _ = write!(line, "  missing in {}", t.missing_on.join(" and "));
        }
        for g in t.grain.iter().filter(|g| !g.ok()) {
            let _ = write!(
                line,
                "  {}: {} NULL keys, {} duplicated keys",
                g.side, g.null_keys, g.duplicate_keys
            );
        }
        if let Some(e) = &t.error {
            let _ = write!(line, "  {}", e.lines().next().unwrap_or(""));
        }
        lines.push(line);
    }
    lines.push(format!(
        "compare: {} ({} tables, {} vs {})",
        report.verdict.label(),
        report.tables.len(),
        report.base_schema,
        report.change_schema
    ));
    lines
}

// --- HTML ---------------------------------------------------------------------

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn value(v: &Option<String>) -> String {
    match v {
        Some(s) => escape(s),
        None => "<span class=\"null\">NULL</span>".into(),
    }
}

fn key_cells(key: &[Option<String>]) -> String {
    key.iter()
        .map(|v| format!("<td>{}</td>", value(v)))
        .collect()
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Same => "same",
        Verdict::Expected => "expected",
        Verdict::Differs => "differs",
        Verdict::Missing | Verdict::GrainError | Verdict::Error => "bad",
    }
}

const CSS: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem;color:#1f2328;background:#fff}
h1{font-size:1.5rem;margin:0 0 .3rem}h2{font-size:1.2rem;margin:0}h3{font-size:1rem;margin:1rem 0 .4rem}
.meta{color:#59636e;margin-bottom:1.2rem}
table{border-collapse:collapse;margin:.3rem 0}td,th{border:1px solid #d1d9e0;padding:.25rem .6rem;text-align:left;font-size:.9rem}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
section{border:1px solid #d1d9e0;border-radius:8px;padding:1rem 1.2rem;margin:1rem 0}
.badge{display:inline-block;padding:.1rem .6rem;border-radius:1rem;font-weight:600;font-size:.85rem;margin-right:.6rem;color:#fff}
.same{background:#1a7f37}.expected{background:#0969da}.differs{background:#bc4c00}.bad{background:#cf222e}
.bar{width:220px;height:12px;background:#ffd8b5;border-radius:3px;overflow:hidden}
.bar span{display:block;height:100%;background:#1a7f37}.bar.noisy{background:#eee}.bar.noisy span{background:#c297ff}
.noise{color:#8250df}.null{color:#8c959f;font-style:italic}.muted{color:#59636e}
ul{margin:.3rem 0}code{background:#f6f8fa;padding:0 .2rem}
";

pub fn html(report: &CompareReport) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>shadowops compare: {}</title><style>{CSS}</style></head><body>\n",
        escape(report.verdict.label())
    );
    let _ = write!(
        h,
        "<h1><span class=\"badge {}\" id=\"overall-verdict\">{}</span>shadowops compare</h1>\n\
         <div class=\"meta\">base <code>{}</code> vs change <code>{}</code>",
        verdict_class(report.verdict),
        escape(report.verdict.label()),
        escape(&report.base_schema),
        escape(&report.change_schema)
    );
    if !report.noise_schemas.is_empty() {
        let _ = write!(
            h,
            "; noise runs {}",
            report
                .noise_schemas
                .iter()
                .map(|s| format!("<code>{}</code>", escape(s)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let o = &report.options;
    let _ = writeln!(
        h,
        "; tolerance abs {} rel {}</div>",
        o.abs_tolerance, o.rel_tolerance
    );

    // Overview: one row per table, linking to its section.
    h.push_str(
        "<table id=\"overview\"><tr><th>table</th><th>verdict</th><th>score</th>\
         <th>rows base</th><th>rows change</th><th>base only</th><th>change only</th>\
         <th>changes</th></tr>\n",
    );
    for (i, t) in report.tables.iter().enumerate() {
        let [rb, rc, bo, co] = row_cells(t);
        let _ = writeln!(
            h,
            "<tr><td><a href=\"#t{i}\">{}</a></td><td><span class=\"badge {}\">{}</span></td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            escape(&t.table),
            verdict_class(t.verdict),
            escape(t.verdict.label()),
            pct(t.score),
            rb,
            rc,
            bo,
            co,
            escape(&changes(t))
        );
    }
    h.push_str("</table>\n");
    for (i, t) in report.tables.iter().enumerate() {
        table_section(&mut h, i, t);
    }
    h.push_str("</body></html>\n");
    h
}

fn table_section(h: &mut String, i: usize, t: &TableReport) {
    let _ = write!(
        h,
        "<section id=\"t{i}\" class=\"table-result\" data-table=\"{}\" data-verdict=\"{}\">\n\
         <h2><span class=\"badge {}\">{}</span>{} <span class=\"muted\">score {}</span></h2>\n\
         <div class=\"muted\">key {}",
        escape(&t.table),
        escape(t.verdict.label()),
        verdict_class(t.verdict),
        escape(t.verdict.label()),
        escape(&t.table),
        pct(t.score),
        escape(&t.key.join(", "))
    );
    if !t.ignored.is_empty() {
        let _ = write!(h, "; ignored {}", escape(&t.ignored.join(", ")));
    }
    let _ = writeln!(
        h,
        "; tolerance abs {} rel {}</div>",
        t.abs_tolerance, t.rel_tolerance
    );
    if let Some(e) = &t.error {
        let _ = writeln!(h, "<h3>Error</h3><pre>{}</pre>", escape(e));
    }
    if !t.missing_on.is_empty() {
        let _ = writeln!(
            h,
            "<p>The table does not exist in {}.</p>",
            escape(&t.missing_on.join(" and "))
        );
    }
    if !t.differences.is_empty() {
        h.push_str("<h3>Differences</h3><ul>");
        for d in &t.differences {
            let _ = write!(
                h,
                "<li>{}{}</li>",
                escape(&d.detail),
                if d.expected {
                    " <em>(expected)</em>"
                } else {
                    ""
                }
            );
        }
        h.push_str("</ul>\n");
    }
    if let Some(r) = &t.rows {
        let _ = writeln!(
            h,
            "<h3>Rows</h3><table class=\"rows\"><tr><th>base</th><th>change</th><th>in both</th>\
             <th>base only</th><th>change only</th></tr><tr><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td></tr></table>",
            r.base, r.change, r.both, r.base_only, r.change_only
        );
    }
    if !t.grain.is_empty() {
        h.push_str(
            "<h3>Grain</h3><table class=\"grain\"><tr><th>side</th><th>rows</th><th>NULL keys</th>\
             <th>duplicated keys</th><th>rows with a duplicated key</th></tr>",
        );
        for g in &t.grain {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(&g.side),
                g.rows,
                g.null_keys,
                g.duplicate_keys,
                g.duplicate_rows
            );
        }
        h.push_str("</table>\n");
        for g in t.grain.iter().filter(|g| !g.sample_duplicates.is_empty()) {
            let _ = write!(
                h,
                "<p>Duplicated keys in {}:</p><table><tr>",
                escape(&g.side)
            );
            for k in &t.key {
                let _ = write!(h, "<th>{}</th>", escape(k));
            }
            h.push_str("<th>rows</th></tr>");
            for (key, n) in &g.sample_duplicates {
                let _ = write!(h, "<tr>{}<td class=\"num\">{n}</td></tr>", key_cells(key));
            }
            h.push_str("</table>\n");
        }
    }
    let s = &t.schema;
    if !s.is_empty() {
        h.push_str(
            "<h3>Schema</h3><table class=\"schema\"><tr><th>column</th><th>change</th>\
             <th>base type</th><th>change type</th></tr>",
        );
        for c in &s.added {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>added</td><td></td><td>{}</td></tr>",
                escape(&c.name),
                escape(&c.sql_type)
            );
        }
        for c in &s.removed {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>removed</td><td>{}</td><td></td></tr>",
                escape(&c.name),
                escape(&c.sql_type)
            );
        }
        for r in &s.retyped {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>retyped</td><td>{}</td><td>{}</td></tr>",
                escape(&r.column),
                escape(&r.base),
                escape(&r.change)
            );
        }
        h.push_str("</table>\n");
    }
    if !t.columns.is_empty() {
        h.push_str(
            "<h3>Columns</h3><table class=\"columns\"><tr><th>column</th><th>type</th>\
             <th>matched</th><th>match</th><th></th><th>note</th></tr>",
        );
        for c in &t.columns {
            let p = c.match_pct();
            let mut ty = if c.base_type == c.change_type {
                escape(&c.base_type)
            } else {
                format!("{} → {}", escape(&c.base_type), escape(&c.change_type))
            };
            // A column's own tolerance, where it is not the table's.
            if (c.abs_tolerance, c.rel_tolerance) != (t.abs_tolerance, t.rel_tolerance) {
                let _ = write!(
                    ty,
                    " <span class=\"muted\">(tolerance abs {} rel {})</span>",
                    c.abs_tolerance, c.rel_tolerance
                );
            }
            let note = match (c.noise, c.expected) {
                (true, _) => "<span class=\"noise\">noise (differs between base runs)</span>",
                (false, true) if c.matched < c.compared => "expected",
                _ => "",
            };
            let _ = write!(
                h,
                "<tr data-column=\"{}\"><td>{}</td><td>{ty}</td><td class=\"num\">{} / {}</td>\
                 <td class=\"num\">{p:.1}%</td><td><div class=\"bar{}\"><span style=\"width:{p:.1}%\">\
                 </span></div></td><td>{note}</td></tr>",
                escape(&c.column),
                escape(&c.column),
                c.matched,
                c.compared,
                if c.noise { " noisy" } else { "" },
            );
        }
        h.push_str("</table>\n");
    }
    let sm = &t.samples;
    for (title, rows) in [
        ("Rows only in base", &sm.base_only),
        ("Rows only in change", &sm.change_only),
    ] {
        if rows.is_empty() {
            continue;
        }
        let _ = write!(h, "<h3>{title} (sample)</h3><table><tr>");
        for k in &t.key {
            let _ = write!(h, "<th>{}</th>", escape(k));
        }
        h.push_str("</tr>");
        for r in rows {
            let _ = write!(h, "<tr>{}</tr>", key_cells(r));
        }
        h.push_str("</table>\n");
    }
    if !sm.changed.is_empty() {
        h.push_str("<h3>Changed values (sample)</h3><table class=\"changed\"><tr>");
        for k in &t.key {
            let _ = write!(h, "<th>{}</th>", escape(k));
        }
        h.push_str("<th>column</th><th>base</th><th>change</th></tr>");
        for c in &sm.changed {
            let _ = write!(
                h,
                "<tr>{}<td>{}</td><td>{}</td><td>{}</td></tr>",
                key_cells(&c.key),
                escape(&c.column),
                value(&c.base),
                value(&c.change)
            );
        }
        h.push_str("</table>\n");
    }
    if !t.noise.is_empty() {
        h.push_str("<h3>Noise runs</h3><ul>");
        for n in &t.noise {
            let what = match &n.note {
                Some(note) => format!("told nothing: {}", escape(note)),
                None if n.columns.is_empty() => "no column differs from the base".into(),
                None => format!("differs from the base in {}", escape(&n.columns.join(", "))),
            };
            let _ = write!(h, "<li><code>{}</code>: {what}", escape(&n.schema));
            if n.base_only > 0 || n.noise_only > 0 {
                let _ = write!(
                    h,
                    " ({} rows only in base, {} only in this run)",
                    n.base_only, n.noise_only
                );
            }
            h.push_str("</li>");
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</section>\n");
}

// --- Markdown -------------------------------------------------------------------

/// A cell of a Markdown table: no pipes or newlines, HTML escaped (GitHub
/// renders inline HTML in comments).
fn md(s: &str) -> String {
    escape(s).replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn verdict_mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Same => "✅",
        Verdict::Expected => "🔵",
        Verdict::Differs => "🟠",
        Verdict::Missing | Verdict::GrainError | Verdict::Error => "❌",
    }
}

pub fn markdown(report: &CompareReport) -> String {
    let mut m = String::new();
    let _ = writeln!(
        m,
        "### shadowops compare: {} {}\n",
        verdict_mark(report.verdict),
        report.verdict.label()
    );
    let _ = writeln!(
        m,
        "Base `{}` vs change `{}`{}.\n",
        md(&report.base_schema),
        md(&report.change_schema),
        if report.noise_schemas.is_empty() {
            String::new()
        } else {
            format!(", {} noise run(s)", report.noise_schemas.len())
        }
    );
    m.push_str(
        "| table | verdict | score | rows base / change | base only | change only | changes |\n",
    );
    m.push_str("|---|---|---:|---:|---:|---:|---|\n");
    for t in &report.tables {
        let [rb, rc, bo, co] = row_cells(t);
        let _ = writeln!(
            m,
            "| {} | {} {} | {} | {} / {} | {} | {} | {} |",
            md(&t.table),
            verdict_mark(t.verdict),
            t.verdict.label(),
            pct(t.score),
            rb,
            rc,
            bo,
            co,
            md(&changes(t))
        );
    }
    for t in &report.tables {
        let mut notes: Vec<String> = Vec::new();
        for d in &t.differences {
            notes.push(format!(
                "{}{}",
                md(&d.detail),
                if d.expected { " (expected)" } else { "" }
            ));
        }
        let noise = noise_columns(t);
        if !noise.is_empty() {
            notes.push(format!("noise (left out): {}", md(&noise.join(", "))));
        }
        if !t.missing_on.is_empty() {
            notes.push(format!("missing in {}", t.missing_on.join(" and ")));
        }
        for g in t.grain.iter().filter(|g| !g.ok()) {
            notes.push(format!(
                "{}: {} NULL keys, {} duplicated keys ({} rows) — not compared",
                md(&g.side),
                g.null_keys,
                g.duplicate_keys,
                g.duplicate_rows
            ));
        }
        if let Some(e) = &t.error {
            notes.push(format!("error: {}", md(e.lines().next().unwrap_or(""))));
        }
        if !notes.is_empty() {
            let _ = writeln!(m, "\n**{}**", md(&t.table));
            for n in notes {
                let _ = writeln!(m, "- {n}");
            }
        }
    }
    m.push_str("\nThe full report with sample rows is `compare.html` in the CI artifacts.\n");
    m
}

// --- JUnit ----------------------------------------------------------------------

/// Why a table fails its JUnit case, if it does: errors and grain errors
/// always; differences outside the allow-list and missing tables only with
/// `fail_on_diff`.
pub fn failure(report: &CompareReport, t: &TableReport) -> Option<String> {
    let fail_on_diff = report.options.fail_on_diff;
    match t.verdict {
        Verdict::Error => Some(format!("error: {}", t.error.as_deref().unwrap_or(""))),
        Verdict::GrainError => Some("duplicate or NULL keys: the table was not compared".into()),
        Verdict::Missing
            if fail_on_diff && !super::is_expected(&report.options.expected, &t.table, None) =>
        {
            Some(format!(
                "the table is missing in {}",
                t.missing_on.join(" and ")
            ))
        }
        Verdict::Differs if fail_on_diff => Some(
            t.differences
                .iter()
                .filter(|d| !d.expected)
                .map(|d| d.detail.clone())
                .collect::<Vec<_>>()
                .join("; "),
        ),
        _ => None,
    }
}

/// Whether any table fails (the JUnit rule): for the command's exit code.
pub fn fails(report: &CompareReport) -> bool {
    report.tables.iter().any(|t| failure(report, t).is_some())
}

pub fn junit(report: &CompareReport) -> Result<String> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut r = Report::new("shadowops");
    let mut suite = TestSuite::new("compare");
    for t in &report.tables {
        let status = match failure(report, t) {
            None => TestCaseStatus::success(),
            Some(msg) => {
                let kind = if t.verdict == Verdict::Error {
                    NonSuccessKind::Error
                } else {
                    NonSuccessKind::Failure
                };
                let mut s = TestCaseStatus::non_success(kind);
                s.set_message(msg);
                s.set_description(
                    t.differences
                        .iter()
                        .map(|d| d.detail.clone())
                        .collect::<Vec<_>>()
                        .join("\n"),
                );
                s
            }
        };
        let mut case = TestCase::new(t.table.clone(), status);
        case.set_classname("compare");
        case.add_property(quick_junit::Property::new("verdict", t.verdict.label()));
        suite.add_test_case(case);
    }
    r.add_test_suite(suite);
    Ok(r.to_string()?)
}
