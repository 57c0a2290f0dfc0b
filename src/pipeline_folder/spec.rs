//! `shadowops.toml`, the contract a pipeline folder declares (docs/pipeline.md):
//! which DAG is under test, what its success e-mail must carry, where its
//! seed data, migrations and tests are, where R packages come from, and
//! which tables it writes. Parsed strictly: an unknown key is an error with
//! its line, so a typo never silently falls back to a default.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The contract versions this shadowops understands.
pub const CONTRACT: u32 = 1;
pub const FILE: &str = "shadowops.toml";

/// A pipeline folder's contract, every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub contract: u32,
    pub dag_id: String,
    /// Strings the success e-mail must contain; `{run_id}` and `{env}` are
    /// replaced before the check.
    pub mail_must_contain: Vec<String>,
    /// Folders relative to the pipeline folder.
    pub seed_dir: String,
    pub migrations_dir: String,
    /// `None`: the pipeline's own tests are off.
    pub tests_dir: Option<String>,
    pub r_repos: Vec<String>,
    /// Debian packages that provide R packages under other names.
    pub r_apt: Vec<String>,
    pub python_requirements: String,
    pub outputs: Vec<Output>,
    /// Whether the values came from a file or are all defaults.
    pub from_file: bool,
}

/// A table the DAG writes, for `shadowops compare`.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    pub table: String,
    pub key: Vec<String>,
    /// Columns left out of the comparison (run ids, load times).
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Numeric tolerance for this table, over the global one of `compare`:
    /// values match when |a-b| <= abs_tolerance ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abs_tolerance: Option<f64>,
    /// ... or |a-b| <= rel_tolerance * max(|a|,|b|).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rel_tolerance: Option<f64>,
    /// Per column, over the table's: `[outputs.tolerances] revenue = { abs = 0.01 }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tolerances: BTreeMap<String, Tolerance>,
}

/// A column's own numeric tolerance; an absent part falls back to the table's.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rel: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    contract: u32,
    #[serde(default)]
    dag: RawDag,
    #[serde(default)]
    mail: RawMail,
    #[serde(default)]
    warehouse: RawWarehouse,
    #[serde(default)]
    tests: RawTests,
    #[serde(default)]
    r: RawR,
    #[serde(default)]
    python: RawPython,
    #[serde(default)]
    outputs: Vec<Output>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDag {
    id: Option<String>,
}
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMail {
    must_contain: Option<Vec<String>>,
}
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWarehouse {
    seed: Option<String>,
    migrations: Option<String>,
}
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTests {
    dir: Option<String>,
}
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawR {
    repos: Option<Vec<String>>,
    apt: Option<Vec<String>>,
}
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPython {
    requirements: Option<String>,
}

pub const DEFAULT_DAG: &str = "shadow_pipeline";
pub const DEFAULT_R_REPOS: [&str; 2] = [
    "https://packagemanager.posit.co/cran/__linux__/bookworm/latest",
    "https://cloud.r-project.org",
];

impl Default for Spec {
    fn default() -> Self {
        Spec {
            contract: CONTRACT,
            dag_id: DEFAULT_DAG.into(),
            mail_must_contain: vec!["{run_id}".into()],
            seed_dir: "seed".into(),
            migrations_dir: "migrations".into(),
            tests_dir: Some("tests/testthat".into()),
            r_repos: DEFAULT_R_REPOS.iter().map(|s| s.to_string()).collect(),
            r_apt: Vec::new(),
            python_requirements: "requirements.txt".into(),
            outputs: Vec::new(),
            from_file: false,
        }
    }
}

/// Read `<folder>/shadowops.toml`; all defaults when the folder has none.
/// Errors name the file and, for syntax and unknown keys, the line.
pub fn load(folder: &Path) -> Result<Spec, String> {
    let path = folder.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Spec::default()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn parse(text: &str) -> Result<Spec, String> {
    let raw: Raw = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())?;
    if raw.contract != CONTRACT {
        return Err(format!(
            "contract = {} is not a version this shadowops understands (it reads contract = {CONTRACT})",
            raw.contract
        ));
    }
    let d = Spec::default();
    let mut errors = Vec::new();
    let dag_id = raw.dag.id.unwrap_or(d.dag_id);
    if let Err(e) = crate::cli::dag_id(&dag_id) {
        errors.push(format!("dag.id: {e}"));
    }
    let mut rel = |key: &str, v: Option<String>, default: String| -> String {
        let v = v.unwrap_or(default);
        if let Err(e) = relative(&v) {
            errors.push(format!("{key} = {v:?}: {e}"));
        }
        v
    };
    let seed_dir = rel("warehouse.seed", raw.warehouse.seed, d.seed_dir);
    let migrations_dir = rel(
        "warehouse.migrations",
        raw.warehouse.migrations,
        d.migrations_dir,
    );
    let python_requirements = rel(
        "python.requirements",
        raw.python.requirements,
        d.python_requirements,
    );
    let tests_dir = match raw.tests.dir {
        Some(s) if s.is_empty() => None,
        Some(s) => Some(rel("tests.dir", Some(s), String::new())),
        None => d.tests_dir,
    };
    let r_repos = raw.r.repos.unwrap_or(d.r_repos);
    for u in &r_repos {
        if !(u.starts_with("https://") || u.starts_with("http://"))
            || u.contains(char::is_whitespace)
        {
            errors.push(format!("r.repos: {u:?} is not an http(s) URL"));
        }
    }
    let r_apt = raw.r.apt.unwrap_or_default();
    for a in &r_apt {
        let ok = a.len() >= 2
            && a.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
        if !ok {
            errors.push(format!("r.apt: {a:?} is not a Debian package name"));
        }
    }
    let mail_must_contain = raw.mail.must_contain.unwrap_or(d.mail_must_contain);
    if mail_must_contain.iter().any(|s| s.is_empty()) {
        errors.push("mail.must_contain: empty strings match anything; remove them".into());
    }
    for (i, o) in raw.outputs.iter().enumerate() {
        let at = format!("outputs[{i}] ({})", o.table);
        if !identifier(&o.table, true) {
            errors.push(format!(
                "{at}: table {:?} is not a plain [schema.]table name",
                o.table
            ));
        }
        if o.key.is_empty() {
            errors.push(format!("{at}: key needs at least one column"));
        }
        for c in o.key.iter().chain(&o.ignore) {
            if !identifier(c, false) {
                errors.push(format!("{at}: column {c:?} is not a plain column name"));
            }
        }
        if let Some(c) = o.key.iter().find(|c| o.ignore.contains(c)) {
            errors.push(format!("{at}: column {c:?} is both a key and ignored"));
        }
        let mut tolerances = vec![
            ("abs_tolerance".to_string(), o.abs_tolerance),
            ("rel_tolerance".to_string(), o.rel_tolerance),
        ];
        for (c, t) in &o.tolerances {
            if !identifier(c, false) {
                errors.push(format!("{at}: tolerances.{c}: not a plain column name"));
            } else if o.key.contains(c) {
                errors.push(format!(
                    "{at}: tolerances.{c}: a key column must match exactly"
                ));
            }
            tolerances.push((format!("tolerances.{c}.abs"), t.abs));
            tolerances.push((format!("tolerances.{c}.rel"), t.rel));
        }
        for (name, v) in tolerances {
            if let Some(v) = v {
                if !v.is_finite() || v < 0.0 {
                    errors.push(format!("{at}: {name} = {v} must be a number >= 0"));
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    Ok(Spec {
        contract: raw.contract,
        dag_id,
        mail_must_contain,
        seed_dir,
        migrations_dir,
        tests_dir,
        r_repos,
        r_apt,
        python_requirements,
        outputs: raw.outputs,
        from_file: true,
    })
}

/// A path inside the pipeline folder: relative, no `..`, not empty.
fn relative(p: &str) -> Result<(), &'static str> {
    let path = Path::new(p);
    if p.is_empty() {
        return Err("must not be empty");
    }
    if path.is_absolute() {
        return Err("must be relative to the pipeline folder");
    }
    if path
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err("must stay inside the pipeline folder (no ..)");
    }
    Ok(())
}

/// Lower-case SQL identifiers as Redshift folds them; `schema.table` when allowed.
fn identifier(s: &str, dotted: bool) -> bool {
    let one = |p: &str| {
        let mut c = p.chars();
        matches!(c.next(), Some(ch) if ch.is_ascii_lowercase() || ch == '_')
            && c.all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
            && p.len() <= 127
    };
    match s.split_once('.') {
        Some((a, b)) if dotted => one(a) && one(b),
        Some(_) => false,
        None => one(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_with_its_outputs() {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipeline/example");
        let s = load(&folder).unwrap();
        assert!(s.from_file);
        assert_eq!(s.dag_id, "shadow_pipeline");
        assert_eq!(s.outputs.len(), 2);
        assert_eq!(s.outputs[0].key, vec!["region", "month"]);
        assert_eq!(s.tests_dir.as_deref(), Some("tests/testthat"));
    }

    #[test]
    fn a_folder_without_the_file_gets_every_default() {
        let t = tempfile::tempdir().unwrap();
        let s = load(t.path()).unwrap();
        assert_eq!(s, Spec::default());
        assert_eq!(parse("contract = 1").unwrap().dag_id, DEFAULT_DAG);
    }

    #[test]
    fn unknown_keys_and_syntax_errors_name_the_line() {
        let e = parse("contract = 1\n[dag]\nid = \"x\"\nschedule = \"@daily\"\n").unwrap_err();
        assert!(e.contains("line 4") && e.contains("schedule"), "{e}");
        let e = parse("contract = 1\n[tests\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        let e = parse("[dag]\nid = \"x\"\n").unwrap_err();
        assert!(e.contains("contract"), "{e}");
    }

    #[test]
    fn bad_values_are_each_named() {
        let e = parse(
            r#"contract = 1
[dag]
id = "a b"
[warehouse]
seed = "../data"
migrations = "/abs"
[r]
repos = ["ftp://x"]
apt = ["r-cran-ok", "Bad Name"]
[[outputs]]
table = "Bad-Name"
key = []
"#,
        )
        .unwrap_err();
        for part in [
            "dag.id",
            "warehouse.seed",
            "warehouse.migrations",
            "r.repos",
            "outputs[0]",
            "key needs",
        ] {
            assert!(e.contains(part), "{part} missing in {e}");
        }
        assert!(parse("contract = 2").unwrap_err().contains("contract = 2"));
    }

    #[test]
    fn tolerances_are_optional_and_checked() {
        let ok = parse(
            "contract = 1\n[[outputs]]\ntable = \"t\"\nkey = [\"k\"]\nabs_tolerance = 0.005\nrel_tolerance = 1e-9\n",
        )
        .unwrap();
        assert_eq!(ok.outputs[0].abs_tolerance, Some(0.005));
        assert_eq!(ok.outputs[0].rel_tolerance, Some(1e-9));
        let none = parse("contract = 1\n[[outputs]]\ntable = \"t\"\nkey = [\"k\"]\n").unwrap();
        assert_eq!(none.outputs[0].abs_tolerance, None);
        let e = parse(
            "contract = 1\n[[outputs]]\ntable = \"t\"\nkey = [\"k\"]\nabs_tolerance = -1.0\nrel_tolerance = nan\n",
        )
        .unwrap_err();
        assert!(
            e.contains("abs_tolerance = -1") && e.contains("rel_tolerance = NaN"),
            "{e}"
        );
        let cols = parse(
            "contract = 1\n[[outputs]]\ntable = \"t\"\nkey = [\"k\"]\n[outputs.tolerances]\nrevenue = { abs = 0.01 }\nshare = { rel = 1e-6, abs = 0.0 }\n",
        )
        .unwrap();
        let t = &cols.outputs[0].tolerances;
        assert_eq!(
            t["revenue"],
            Tolerance {
                abs: Some(0.01),
                rel: None
            }
        );
        assert_eq!(t["share"].rel, Some(1e-6));
        let e = parse(
            "contract = 1\n[[outputs]]\ntable = \"t\"\nkey = [\"k\"]\n[outputs.tolerances]\nk = { abs = 1.0 }\nBad = { abs = 1.0 }\nx = { abs = -2.0 }\n",
        )
        .unwrap_err();
        assert!(e.contains("tolerances.k: a key column"), "{e}");
        assert!(e.contains("tolerances.Bad: not a plain column name"), "{e}");
        assert!(e.contains("tolerances.x.abs = -2"), "{e}");
        let e = parse("contract = 1\n[[outputs]]\ntable = \"t\"\nkey = [\"k\"]\n[outputs.tolerances]\nx = { absolute = 1.0 }\n")
            .unwrap_err();
        assert!(e.contains("absolute"), "{e}");
        let e = parse("contract = 1\n[[outputs]]\ntable = \"t\"\nkey = [\"k\"]\ntolerance = 1.0\n")
            .unwrap_err();
        assert!(e.contains("tolerance"), "{e}");
    }

    #[test]
    fn tests_can_be_turned_off() {
        let s = parse("contract = 1\n[tests]\ndir = \"\"\n").unwrap();
        assert_eq!(s.tests_dir, None);
    }
}
