//! The SQL the comparison runs, as plain strings. Every statement must run on
//! Amazon Redshift as well as on PostgreSQL (the local target's warehouse), so
//! this file keeps to the common subset (docs/compare.md, "SQL"):
//!
//! - no `IS DISTINCT FROM` (not on Redshift): NULL-safe equality is spelled
//!   `(a IS NULL AND b IS NULL) OR a = b`;
//! - no `FILTER (WHERE ...)`: conditional counts are `SUM(CASE WHEN ... THEN 1
//!   ELSE 0 END)`;
//! - no `::` casts, only `CAST(x AS T)`; no string aggregation; no LATERAL,
//!   generate_series, VALUES lists or row constructors;
//! - statements go through the simple query protocol with names inlined
//!   (quoted, validated first) so every value comes back as text.
//!
//! `tests::no_postgresql_only_sql` generates every statement for a sample
//! table and scans it for the constructs above.

/// A column as information_schema describes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Column {
    pub name: String,
    /// `data_type` with its length or precision, e.g. `numeric(12,2)`.
    pub sql_type: String,
}

/// Names go into SQL quoted; quoting alone is safe for `"` but not for a
/// backslash (Redshift string literals treat it as an escape) or control
/// characters, so such names are refused before any SQL is built.
pub fn check_name(what: &str, s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 127 {
        return Err(format!("{what} {s:?}: must be 1 to 127 bytes"));
    }
    if s.chars().any(|c| c.is_control() || c == '\\') {
        return Err(format!(
            "{what} {s:?}: control characters and backslashes are not allowed"
        ));
    }
    Ok(())
}

/// A double-quoted identifier (`"` doubled).
pub fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A single-quoted string literal (`'` doubled); only for checked names.
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `"schema"."table"`.
pub fn qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", ident(schema), ident(table))
}

/// A float as a plain decimal literal: Rust's `Display` never uses an
/// exponent, so the literal reads the same on both warehouses.
fn num(f: f64) -> String {
    let s = format!("{f}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

/// Types compared with a numeric tolerance.
pub fn is_numeric(sql_type: &str) -> bool {
    let base = sql_type.split('(').next().unwrap_or("").trim();
    matches!(
        base,
        "smallint" | "integer" | "bigint" | "numeric" | "decimal" | "real" | "double precision"
    )
}

/// `information_schema.columns` of one table, in column order. Redshift
/// answers this on the leader node, so it is a statement of its own (never
/// joined with user tables).
pub fn columns(schema: &str, table: &str) -> String {
    format!(
        "SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale \
         FROM information_schema.columns \
         WHERE table_schema = {} AND table_name = {} \
         ORDER BY ordinal_position",
        lit(schema),
        lit(table)
    )
}

/// The type as one string from a `columns()` row. Precision is shown only
/// for numeric/decimal: integer and float types always report one.
pub fn type_label(
    data_type: &str,
    char_len: Option<&str>,
    prec: Option<&str>,
    scale: Option<&str>,
) -> String {
    let t = data_type.to_lowercase();
    match (t.as_str(), char_len, prec, scale) {
        (_, Some(n), _, _) => format!("{t}({n})"),
        ("numeric" | "decimal", _, Some(p), Some(s)) => format!("{t}({p},{s})"),
        _ => t,
    }
}

/// A column's value as text, for keys and sample values. Redshift cannot
/// cast BOOLEAN to a string, hence the CASE.
pub fn text(alias: &str, col: &Column) -> String {
    let c = format!("{alias}.{}", ident(&col.name));
    if col.sql_type == "boolean" {
        format!("CASE WHEN {c} THEN 'true' WHEN NOT {c} THEN 'false' END")
    } else {
        format!("CAST({c} AS VARCHAR(65535))")
    }
}

/// Whether two columns compare as themselves, or only as text (their types
/// differ and are not both numeric: `=` may not exist between them).
fn same_family(a: &Column, b: &Column) -> bool {
    a.sql_type == b.sql_type || (is_numeric(&a.sql_type) && is_numeric(&b.sql_type))
}

/// The condition under which a base value and a change value count as
/// matched: both NULL, equal, or (numbers) within the tolerance:
/// |b-c| <= abs OR |b-c| <= rel * max(|b|,|c|). A NULL on one side only
/// makes every branch NULL, so wrap it in CASE to count it.
pub fn matches(base: &Column, change: &Column, abs: f64, rel: f64, b: &str, c: &str) -> String {
    let (bv, cv) = if same_family(base, change) {
        (
            format!("{b}.{}", ident(&base.name)),
            format!("{c}.{}", ident(&change.name)),
        )
    } else {
        (text(b, base), text(c, change))
    };
    let mut cond = format!("({bv} IS NULL AND {cv} IS NULL) OR {bv} = {cv}");
    if is_numeric(&base.sql_type) && is_numeric(&change.sql_type) {
        let bd = format!("CAST({bv} AS DOUBLE PRECISION)");
        let cd = format!("CAST({cv} AS DOUBLE PRECISION)");
        if abs > 0.0 {
            cond.push_str(&format!(" OR ABS({bd} - {cd}) <= {}", num(abs)));
        }
        if rel > 0.0 {
            cond.push_str(&format!(
                " OR ABS({bd} - {cd}) <= {} * GREATEST(ABS({bd}), ABS({cd}))",
                num(rel)
            ));
        }
    }
    format!("({cond})")
}

/// `b.k1 = c.k1 AND ...`; keys whose types differ are joined as text.
fn join_on(base_keys: &[Column], change_keys: &[Column], b: &str, c: &str) -> String {
    base_keys
        .iter()
        .zip(change_keys)
        .map(|(bk, ck)| {
            if same_family(bk, ck) {
                format!("{b}.{} = {c}.{}", ident(&bk.name), ident(&ck.name))
            } else {
                format!("{} = {}", text(b, bk), text(c, ck))
            }
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn count_if(cond: &str) -> String {
    // COALESCE: SUM over no rows is NULL; CAST: the same integer type on both.
    format!("CAST(COALESCE(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END), 0) AS BIGINT)")
}

fn keys_list(alias: &str, keys: &[Column]) -> String {
    keys.iter()
        .map(|k| format!("{alias}.{}", ident(&k.name)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Grain, part 1: rows and rows with a NULL in any key column.
pub fn grain_counts(schema: &str, table: &str, keys: &[Column]) -> String {
    let any_null = keys
        .iter()
        .map(|k| format!("t.{} IS NULL", ident(&k.name)))
        .collect::<Vec<_>>()
        .join(" OR ");
    format!(
        "SELECT COUNT(*), {} FROM {} t",
        count_if(&any_null),
        qualified(schema, table)
    )
}

fn not_null_keys(alias: &str, keys: &[Column]) -> String {
    keys.iter()
        .map(|k| format!("{alias}.{} IS NOT NULL", ident(&k.name)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Grain, part 2: how many keys occur more than once and in how many rows.
pub fn grain_duplicates(schema: &str, table: &str, keys: &[Column]) -> String {
    format!(
        "SELECT COUNT(*), CAST(COALESCE(SUM(d.n), 0) AS BIGINT) FROM (\
         SELECT COUNT(*) AS n FROM {} t WHERE {} GROUP BY {} HAVING COUNT(*) > 1) d",
        qualified(schema, table),
        not_null_keys("t", keys),
        keys_list("t", keys)
    )
}

/// Grain, part 3: a few duplicated keys (as text) with their row counts.
pub fn grain_duplicate_sample(schema: &str, table: &str, keys: &[Column], n: usize) -> String {
    let texts: Vec<String> = keys.iter().map(|k| text("t", k)).collect();
    format!(
        "SELECT {}, COUNT(*) FROM {} t WHERE {} GROUP BY {} HAVING COUNT(*) > 1 ORDER BY {} LIMIT {n}",
        texts.join(", "),
        qualified(schema, table),
        not_null_keys("t", keys),
        keys_list("t", keys),
        keys_list("t", keys)
    )
}

/// A compared column: as each side types it, and its numeric tolerance.
#[derive(Debug, Clone, PartialEq)]
pub struct Compared {
    pub base: Column,
    pub change: Column,
    pub abs: f64,
    pub rel: f64,
}

impl Compared {
    fn matches(&self) -> String {
        matches(&self.base, &self.change, self.abs, self.rel, "b", "c")
    }
}

/// What one comparison of two schemas' copies of a table needs.
#[derive(Debug, Clone)]
pub struct Pair<'a> {
    pub base_schema: &'a str,
    pub change_schema: &'a str,
    pub table: &'a str,
    /// Key columns as each side types them (same names, same order).
    pub base_keys: &'a [Column],
    pub change_keys: &'a [Column],
    /// Compared columns (same names on both sides).
    pub columns: &'a [Compared],
}

impl Pair<'_> {
    fn from(&self, join: &str) -> String {
        format!(
            "{} b {join} {} c ON {}",
            qualified(self.base_schema, self.table),
            qualified(self.change_schema, self.table),
            join_on(self.base_keys, self.change_keys, "b", "c")
        )
    }

    /// Keys are never NULL here (the grain check ran first), so a NULL first
    /// key tells which side of the outer join a row is missing from.
    fn first_key(&self, alias: &str) -> String {
        format!("{alias}.{}", ident(&self.base_keys[0].name))
    }

    /// One pass over the FULL OUTER JOIN: rows in both, base only, change
    /// only, then per column the rows in both whose values match.
    pub fn counts(&self) -> String {
        let both = format!(
            "{} IS NOT NULL AND {} IS NOT NULL",
            self.first_key("b"),
            self.first_key("c")
        );
        let mut select = vec![
            count_if(&both),
            count_if(&format!("{} IS NULL", self.first_key("c"))),
            count_if(&format!("{} IS NULL", self.first_key("b"))),
        ];
        for col in self.columns {
            select.push(count_if(&format!("{both} AND {}", col.matches())));
        }
        format!(
            "SELECT {} FROM {}",
            select.join(", "),
            self.from("FULL OUTER JOIN")
        )
    }

    fn key_texts(&self, alias: &str) -> Vec<String> {
        let keys = if alias == "b" {
            self.base_keys
        } else {
            self.change_keys
        };
        keys.iter().map(|k| text(alias, k)).collect()
    }

    /// Keys of rows only in the base (`side` = "b") or only in the change ("c").
    pub fn only_sample(&self, side: &str, n: usize) -> String {
        let (from, other) = if side == "b" {
            (self.from("LEFT JOIN"), "c")
        } else {
            // The change side drives: swap the join direction.
            (self.from("RIGHT JOIN"), "b")
        };
        let keys = if side == "b" {
            self.base_keys
        } else {
            self.change_keys
        };
        format!(
            "SELECT {} FROM {from} WHERE {} IS NULL ORDER BY {} LIMIT {n}",
            self.key_texts(side).join(", "),
            self.first_key(other),
            keys_list(side, keys)
        )
    }

    /// Up to `n` rows in both whose values of column `i` do not match: the
    /// keys, then the base and the change value as text.
    pub fn changed_sample(&self, i: usize, n: usize) -> String {
        let col = &self.columns[i];
        let m = col.matches();
        format!(
            "SELECT {}, {}, {} FROM {} WHERE (CASE WHEN {m} THEN 1 ELSE 0 END) = 0 ORDER BY {} LIMIT {n}",
            self.key_texts("b").join(", "),
            text("b", &col.base),
            text("c", &col.change),
            self.from("INNER JOIN"),
            keys_list("b", self.base_keys)
        )
    }
}
