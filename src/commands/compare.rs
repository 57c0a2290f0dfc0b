//! `compare`: the pipeline at a base (a git ref of its repository, or a
//! folder) and at the change (`--pipeline`), each run in the same env from
//! the same starting warehouse: a schema per run (`shadow_base`,
//! `shadow_noise1`.., `shadow_change`) into which that version's seed and
//! migrations go and where its tasks read and write (shadowopsdb's
//! search_path). Then every declared output table is compared in the
//! warehouse (src/compare) and the reports are written.
//!
//! The runs are `up`'s phases with the run's pipeline and schema in the
//! context: configure deploys that version (dependencies included), migrate
//! fills its schema, pipeline runs its tests, DAG and e-mail. The change runs
//! last, so the env is left with the change deployed, both schemas kept for
//! inspection by hand.

use super::up;
use crate::cli::CompareArgs;
use crate::compare::{self, report};
use crate::contract::Shadow;
use crate::error::Failure;
use crate::paths;
use crate::phases::{configure, migrate, pipeline, Ctx};
use crate::pipeline_folder::PipelineFolder;
use crate::report::{FailureReport, Phase};
use crate::supervise::{self, Cmd};
use crate::ui;
use crate::warehouse::{quote_ident, Warehouse};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One run of the comparison: its label, pipeline and schema.
pub struct RunPlan {
    pub label: String,
    pub folder: PipelineFolder,
    pub staged: PathBuf,
    pub schema: String,
}

pub fn run(args: CompareArgs) -> Result<i32> {
    // 1. Every input checked before anything is made: the change folder
    // (up::begin checks it again), the base, the options.
    let assets = paths::assets()?;
    let change_src = args
        .up
        .pipeline
        .clone()
        .unwrap_or_else(|| assets.join("pipeline/example"));
    let change = PipelineFolder::open(&change_src)
        .map_err(|e| Failure::usage(format!("--pipeline {}: {e}", change_src.display())))?;
    if change.spec.outputs.is_empty() {
        return Err(Failure::usage(format!(
            "{}: shadowops.toml declares no [[outputs]]: nothing to compare (docs/compare.md)",
            change.src.display()
        )));
    }
    check_options(&args)?;
    let scratch = tempfile::tempdir()?;
    let base = resolve_base(&args.base, &change.src, scratch.path())?;

    // 2. The env, its lock and run record; the change is staged by begin.
    let noise_runs = args.noise_runs;
    let mut ctx = up::begin(args_for_runs(&args))?;
    let outcome = runs(&mut ctx, &args, base, change, noise_runs);
    let code = match &outcome {
        Ok(code) => *code,
        Err(_) => 0,
    };
    let finished = up::finish(ctx, outcome.map(|_| ()))?;
    Ok(if finished == 0 { code } else { finished })
}

/// `up`'s arguments for the runs: `--junit` is per run (`<stem>-<label>.xml`),
/// the comparison's own JUnit goes to the file named.
fn args_for_runs(args: &CompareArgs) -> crate::cli::UpArgs {
    let a = &args.up;
    crate::cli::UpArgs {
        env: crate::cli::EnvArg {
            name: a.env.name.clone(),
        },
        target: a.target,
        ttl: a.ttl,
        max_ttl: a.max_ttl,
        until: None,
        from: a.from,
        pipeline: a.pipeline.clone(),
        dag_id: a.dag_id.clone(),
        junit: a.junit.clone(),
        on_failure: a.on_failure,
        wait: false,
        image: a.image,
        allow_cidr: a.allow_cidr.clone(),
        var_file: a.var_file.clone(),
        warehouse: a.warehouse.clone(),
        warehouse_config: a.warehouse_config.clone(),
        backstop_grace: a.backstop_grace.clone(),
        json: a.json,
        compare_to: None,
    }
}

fn check_options(args: &CompareArgs) -> Result<()> {
    let bad = |m: String| Err(Failure::usage(m));
    if !(args.abs_tolerance >= 0.0 && args.abs_tolerance.is_finite()) {
        return bad(format!(
            "--abs-tolerance {}: must be a number >= 0",
            args.abs_tolerance
        ));
    }
    if !(args.rel_tolerance >= 0.0 && args.rel_tolerance < 1.0) {
        return bad(format!(
            "--rel-tolerance {}: must be >= 0 and < 1",
            args.rel_tolerance
        ));
    }
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.split('.').count() <= 3
            && s.split('.').all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            })
    };
    for a in args.allow.iter().chain(&args.skip_columns) {
        if !name_ok(a) {
            return bad(format!(
                "{a:?}: expected lower-case table, table.column or column names"
            ));
        }
    }
    if args.up.until.is_some() || args.up.wait || args.up.compare_to.is_some() {
        return bad(
            "compare runs every phase once; --until, --wait and --compare-to are for `up`".into(),
        );
    }
    Ok(())
}

/// The base as a pipeline folder: a folder as it is, or the change's
/// folder at a git ref of its repository, extracted with `git archive`.
pub fn resolve_base(base: &str, change_src: &Path, scratch: &Path) -> Result<PipelineFolder> {
    let as_dir = Path::new(base);
    if as_dir.is_dir() {
        return PipelineFolder::open(as_dir)
            .map_err(|e| Failure::usage(format!("--base {base}: {e}")));
    }
    let git = |args: &[&str]| -> Result<String> {
        let cmd = Cmd::new("git")
            .arg("-C")
            .arg(change_src)
            .args(args)
            .capture()
            .deadline(Duration::from_secs(120));
        let done = supervise::run(&cmd, |_, _| {})?;
        if !done.success() {
            anyhow::bail!("{}", done.stderr_tail.join(" "));
        }
        Ok(done.stdout.trim().to_string())
    };
    let not_found = |why: String| {
        Failure::usage(format!(
            "--base {base}: not a folder, and not a git ref of the repository of {} ({why})",
            change_src.display()
        ))
    };
    let prefix = git(&["rev-parse", "--show-prefix"]).map_err(|e| not_found(format!("{e:#}")))?;
    let commit = git(&[
        "rev-parse",
        "--verify",
        "--quiet",
        &format!("{base}^{{commit}}"),
    ])
    .map_err(|_| not_found("git rev-parse found no such commit".into()))?;
    let tar = scratch.join("base.tar");
    let pathspec = if prefix.is_empty() {
        ".".to_string()
    } else {
        prefix.clone()
    };
    git(&[
        "archive",
        "--format=tar",
        "-o",
        &tar.display().to_string(),
        &commit,
        "--",
        &pathspec,
    ])
    .map_err(|e| not_found(format!("git archive: {e:#}")))?;
    let into = scratch.join("base");
    std::fs::create_dir_all(&into)?;
    let untar = Cmd::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(&into)
        .deadline(Duration::from_secs(120));
    supervise::run_ok(&untar, |_, _| {}).context("unpacking the base")?;
    let folder = into.join(prefix.trim_end_matches('/'));
    ui::info(&format!(
        "  base: {base} = commit {} of {}",
        &commit[..12.min(commit.len())],
        change_src.display()
    ));
    PipelineFolder::open(&folder).map_err(|e| Failure::usage(format!("--base {base}: {e}")))
}

fn runs(
    ctx: &mut Ctx,
    args: &CompareArgs,
    base: PipelineFolder,
    change: PipelineFolder,
    noise_runs: u8,
) -> Result<i32> {
    ui::phase(
        "compare",
        &format!(
            "env {}: base {} vs change {} ({} noise run(s))",
            ctx.dir.name,
            args.base,
            change.src.display(),
            noise_runs
        ),
    );
    let shadow = up::infrastructure(ctx)?;
    let base_staged = ctx.dir.root.join("compare-base");
    base.stage(&base_staged)
        .with_context(|| format!("staging the base {}", base.src.display()))?;
    let mut plans = vec![RunPlan {
        label: "base".into(),
        folder: base.clone(),
        staged: base_staged.clone(),
        schema: "shadow_base".into(),
    }];
    for i in 1..=noise_runs {
        plans.push(RunPlan {
            label: format!("noise{i}"),
            folder: base.clone(),
            staged: base_staged.clone(),
            schema: format!("shadow_noise{i}"),
        });
    }
    let mut change_spec = change.spec.clone();
    if let Some(d) = &ctx.args.dag_id {
        change_spec.dag_id = d.clone();
    }
    plans.push(RunPlan {
        label: "change".into(),
        folder: PipelineFolder {
            src: change.src.clone(),
            spec: change_spec,
        },
        staged: ctx.dir.pipeline_dir(),
        schema: "shadow_change".into(),
    });
    let junit = ctx.args.junit.clone();
    for plan in &plans {
        one_run(ctx, &shadow, plan, junit.as_deref())?;
    }
    ctx.args.junit = junit;
    compare_outputs(ctx, &shadow, args, &plans)
}

/// One version of the pipeline in its own fresh schema, to its e-mail.
fn one_run(ctx: &mut Ctx, shadow: &Shadow, plan: &RunPlan, junit: Option<&Path>) -> Result<()> {
    ui::phase(
        "compare",
        &format!(
            "run {}: {} in schema {}",
            plan.label,
            plan.folder.src.display(),
            plan.schema
        ),
    );
    ctx.pipeline_src = plan.staged.clone();
    ctx.spec = plan.folder.spec.clone();
    ctx.schema = Some(plan.schema.clone());
    ctx.run_label = Some(plan.label.clone());
    ctx.args.junit = junit.map(|j| per_run_junit(j, &plan.label));
    if let Err(e) = fresh_schema(ctx, shadow, &plan.schema) {
        let report = FailureReport::new(
            Phase::Migrate,
            format!(
                "could not create the schema {} for the {} run",
                plan.schema, plan.label
            ),
        )
        .with_detail(crate::phases::message_detail(&e));
        return Err(ctx.fail(report, None));
    }
    ctx.timed(Phase::Configure, |c| configure::run(c, shadow))?;
    ctx.timed(Phase::Migrate, |c| migrate::run(c, shadow))?;
    ctx.timed(Phase::Pipeline, |c| pipeline::run(c, shadow))
}

/// `out/junit.xml` -> `out/junit-base.xml`.
fn per_run_junit(j: &Path, label: &str) -> PathBuf {
    let stem = j.file_stem().and_then(|s| s.to_str()).unwrap_or("junit");
    j.with_file_name(format!("{stem}-{label}.xml"))
}

/// Drop and create the run's schema: every run starts from nothing but its
/// own seed and migrations.
fn fresh_schema(ctx: &Ctx, shadow: &Shadow, schema: &str) -> Result<()> {
    let wh = Warehouse::connect(&ctx.dir, shadow, &ctx.run.dir, None)?;
    let q = quote_ident(schema);
    let sql = format!("DROP SCHEMA IF EXISTS {q} CASCADE; CREATE SCHEMA {q}");
    let client = &wh.client;
    supervise::bounded(
        &format!("recreating schema {schema}"),
        Duration::from_secs(300),
        async move { Ok(client.batch_execute(&sql).await?) },
    )
}

/// Compare every declared output table of the base and change schemas in
/// the warehouse; write the reports into the run record (and `--out`).
fn compare_outputs(
    ctx: &mut Ctx,
    shadow: &Shadow,
    args: &CompareArgs,
    plans: &[RunPlan],
) -> Result<i32> {
    ui::phase(
        "compare",
        "every output table, base vs change, in the warehouse",
    );
    let change = plans.last().expect("the change runs last");
    let noise: Vec<String> = plans
        .iter()
        .filter(|p| p.label.starts_with("noise"))
        .map(|p| p.schema.clone())
        .collect();
    let options = compare::Options {
        abs_tolerance: args.abs_tolerance,
        rel_tolerance: args.rel_tolerance,
        skip_columns: args.skip_columns.clone(),
        expected: args.allow.clone(),
        fail_on_diff: args.fail_on_diff,
        ..Default::default()
    };
    let request = compare::Request {
        base_schema: "shadow_base",
        change_schema: &change.schema,
        noise_schemas: &noise,
        outputs: &change.folder.spec.outputs,
        options: &options,
    };
    let result = Warehouse::connect(&ctx.dir, shadow, &ctx.run.dir, None)
        .and_then(|wh| compare::run(&wh.client, &request, crate::warehouse::statement_timeout()));
    let cmp = match result {
        Ok(r) => r,
        Err(e) => {
            let report = FailureReport::new(Phase::Pipeline, "the comparison could not run")
                .with_detail(crate::phases::message_detail(&e));
            return Err(ctx.fail(report, None));
        }
    };
    let dir = ctx.run.file("compare");
    let paths = report::write_all(&cmp, &dir)?;
    if let Some(out) = &args.out {
        let copied = report::write_all(&cmp, out)
            .with_context(|| format!("writing the reports into --out {}", out.display()))?;
        ui::info(&format!(
            "  reports also in {}",
            copied.html.parent().unwrap_or(out).display()
        ));
    }
    if let Some(j) = &ctx.args.junit {
        std::fs::copy(&paths.junit, j).with_context(|| format!("writing {}", j.display()))?;
    }
    for line in report::terminal(&cmp) {
        println!("{line}");
    }
    ui::info(&format!("  report: {}", paths.html.display()));
    ui::info(&format!(
        "  both runs' tables stay in schemas shadow_base and {} for inspection (`shadowops ssh --env {}`, psql)",
        change.schema, ctx.dir.name
    ));
    // The verdict goes where the pipeline's own success e-mail went.
    let subject = format!(
        "[shadowops {}] compare: {} ({} vs {})",
        ctx.dir.name,
        cmp.verdict.label(),
        args.base,
        change.folder.src.display()
    );
    let body = std::fs::read_to_string(&paths.markdown).unwrap_or_default();
    match crate::on_host::send_mail(&ctx.dir, shadow, &subject, &body, &ctx.run.dir) {
        Ok(()) => ui::ok(&format!("verdict e-mail sent: {subject}")),
        Err(e) => ui::warn(&format!("could not mail the verdict: {e:#}")),
    }
    if args.fail_on_diff && report::fails(&cmp) {
        ui::fail(&format!(
            "the change differs from the base outside the allow-list (verdict {}): exit {}",
            cmp.verdict.label(),
            crate::phase::EXIT_DIFFERS
        ));
        return Ok(crate::phase::EXIT_DIFFERS);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_run_junit_files_sit_beside_the_named_one() {
        assert_eq!(
            per_run_junit(Path::new("out/junit.xml"), "base"),
            PathBuf::from("out/junit-base.xml")
        );
    }

    #[test]
    fn a_base_that_is_neither_folder_nor_ref_is_a_usage_error() {
        let t = tempfile::tempdir().unwrap();
        let change = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipeline/example");
        let e = resolve_base("no-such-ref-xyz", &change, t.path()).unwrap_err();
        assert!(
            e.to_string().contains("not a folder, and not a git ref"),
            "{e}"
        );
    }
}
