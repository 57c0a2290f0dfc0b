//! End to end: `shadowops compare` on the local target with the example
//! pipeline. The base and the change run in one env, each from the same
//! seed in a schema of its own; every declared output table is compared in
//! the warehouse and the reports are written.

mod common;
use common::*;
use std::path::Path;

fn report(dir: &Path) -> serde_json::Value {
    json(&std::fs::read_to_string(dir.join("compare.json")).unwrap())
}

fn table<'a>(r: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    r["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == name)
        .unwrap_or_else(|| panic!("no table {name} in {r}"))
}

fn column<'a>(t: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    t["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == name)
        .unwrap_or_else(|| panic!("no column {name} in {t}"))
}

/// `shadowops compare` of `change` against the example, in `env`.
fn compare(sb: &Sandbox, env: &str, change: &Path, extra: &[&str]) -> Run {
    let example = repo().join("pipeline/example");
    let mut args = vec![
        "compare",
        "--env",
        env,
        "--ttl",
        "45m",
        "--base",
        example.to_str().unwrap(),
        "--pipeline",
        change.to_str().unwrap(),
        "--fail-on-diff",
    ];
    args.extend_from_slice(extra);
    sb.run(&args)
}

fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from:?} in {}",
        file.display()
    );
    std::fs::write(file, text.replace(from, to)).unwrap();
}

#[test]
#[ignore = "end to end on podman (minutes); run by `make test`"]
fn e2e_compare_same_noise_changed_rows_schema_and_grain() {
    let sb = Sandbox::real();
    let env = "e2e-cmp";
    let _cleanup = sb.cleanup(vec![env]);
    let example = repo().join("pipeline/example");

    // 1. The change is the base, but it compares the run id and load time
    // too: with a noise run those columns are noise, and the verdict is clean.
    let same = sb.dir.path().join("same");
    copy_tree(&example, &same);
    let toml = same.join("shadowops.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        text.replace("ignore = [\"run_id\", \"loaded_at\"]\n", ""),
    )
    .unwrap();
    let out1 = sb.dir.path().join("out-same");
    let junit = sb.dir.path().join("junit.xml");
    let r = compare(
        &sb,
        env,
        &same,
        &[
            "--noise-runs",
            "1",
            "--junit",
            junit.to_str().unwrap(),
            "--out",
            out1.to_str().unwrap(),
        ],
    );
    r.expect(0);
    let rep = report(&out1);
    assert_eq!(rep["verdict"], "same", "{rep}");
    let month = table(&rep, "rpt_region_month");
    assert_eq!(month["verdict"], "same");
    assert_eq!(month["score"], 1.0);
    assert_eq!(column(month, "loaded_at")["noise"], true);
    assert_eq!(column(month, "run_id")["noise"], true);
    assert_eq!(column(month, "revenue")["noise"], false);
    assert_eq!(month["rows"]["both"], 120);
    for f in ["compare.html", "compare.md", "compare-junit.xml"] {
        assert!(out1.join(f).is_file(), "{f} missing");
    }
    // Each run kept its JUnit (tests and tasks); the comparison wrote its own.
    for f in [
        "junit-base.xml",
        "junit-noise1.xml",
        "junit-change.xml",
        "junit.xml",
    ] {
        assert!(sb.dir.path().join(f).is_file(), "{f} missing");
    }

    // 2. A change that rounds North's monthly revenue to whole units, a
    // migration that gives rpt_region_month a new column, and a declared
    // grain that is not one (stg_orders per region).
    let change = sb.dir.path().join("change");
    copy_tree(&example, &change);
    edit(
        &change.join("R/analysis.R"),
        "  out$revenue <- round(out$revenue, 2)\n",
        "  out$revenue <- ifelse(out$region == \"North\", round(out$revenue, 0), round(out$revenue, 2))\n",
    );
    std::fs::create_dir_all(change.join("migrations")).unwrap();
    std::fs::write(
        change.join("migrations/V1__region_month_currency.sql"),
        "CREATE TABLE rpt_region_month (\n    run_id VARCHAR(250) NOT NULL,\n    region VARCHAR(64) NOT NULL,\n    month DATE NOT NULL,\n    orders INTEGER NOT NULL,\n    revenue NUMERIC(14,2) NOT NULL,\n    loaded_at TIMESTAMP NOT NULL,\n    currency VARCHAR(3));\n",
    )
    .unwrap();
    let toml = change.join("shadowops.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        format!("{text}\n[[outputs]]\ntable = \"stg_orders\"\nkey = [\"region\"]\nignore = [\"run_id\"]\n"),
    )
    .unwrap();
    let out2 = sb.dir.path().join("out-change");
    let r = compare(&sb, env, &change, &["--out", out2.to_str().unwrap()]);
    r.expect(15);
    let rep = report(&out2);
    let month = table(&rep, "rpt_region_month");
    assert_eq!(month["verdict"], "differs", "{month}");
    // Exactly the North rows whose revenue had cents changed, in revenue only.
    let north_with_cents: i64 = psql(
        &sb,
        env,
        "SELECT count(*) FROM shadow_base.rpt_region_month WHERE region = 'North' AND revenue <> round(revenue)",
    )
    .unwrap()
    .parse()
    .unwrap();
    assert!(north_with_cents > 0);
    let revenue = column(month, "revenue");
    assert_eq!(revenue["compared"], 120);
    assert_eq!(revenue["matched"].as_i64().unwrap(), 120 - north_with_cents);
    assert_eq!(column(month, "orders")["matched"], 120);
    assert!(month["score"].as_f64().unwrap() < 1.0);
    let added: Vec<&str> = month["schema"]["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(added, ["currency"]);
    let stg = table(&rep, "stg_orders");
    assert_eq!(stg["verdict"], "grain_error", "{stg}");
    assert!(stg["grain"][0]["duplicate_keys"].as_i64().unwrap() > 0);
    let summary = format!("{}{}", r.stdout, r.stderr);
    assert!(
        summary.contains("rpt_region_month") && summary.contains("differs"),
        "{summary}"
    );
    // The verdict was mailed to the pipeline's recipients.
    let inbox = sb.env_dir(env).join("inbox");
    let mails: Vec<String> = std::fs::read_dir(&inbox)
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
        .filter(|m| m.contains("compare: "))
        .collect();
    assert!(
        mails.iter().any(|m| m.contains("compare: grain error")),
        "{mails:?}"
    );
    assert!(
        mails.iter().any(|m| m.contains("compare: same")),
        "{mails:?}"
    );
    let html = std::fs::read_to_string(out2.join("compare.html")).unwrap();
    assert!(html.contains("rpt_region_month") && !html.contains("src=\"http"));

    sb.run(&["destroy", "--env", env]).expect(0);
}
