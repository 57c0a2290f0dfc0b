//! Phase 5, migrate: the pipeline's seed data (loaded once per env) and its
//! schema migrations (applied in order, each recorded), through an SSH
//! tunnel to the env's warehouse, before its tests and its DAG run.
//! Skipped when the seed and migration files and the warehouse are the
//! ones of the last success. Fails with exit 14, naming the file, the
//! statement and the warehouse's error; nothing of a failed file stays.

use super::{message_detail, Ctx};
use crate::contract::Shadow;
use crate::digest::Hasher;
use crate::report::{Detail, FailureReport, Phase};
use crate::ui;
use crate::warehouse::migrations::{self, MigrationError};
use crate::warehouse::seed::{self, SeedError};
use crate::warehouse::Warehouse;
use anyhow::Result;
use serde_json::json;
use std::time::Instant;

pub fn run(ctx: &mut Ctx, shadow: &Shadow) -> Result<()> {
    let start = Instant::now();
    let seed_dir = ctx.pipeline_src.join(&ctx.spec.seed_dir);
    let mig_dir = ctx.pipeline_src.join(&ctx.spec.migrations_dir);
    let listed = seed::list(&seed_dir).and_then(|s| Ok((s, migrations::list(&mig_dir)?)));
    let (seeds, files) = match listed {
        Ok(x) => x,
        Err(e) => {
            let report = FailureReport::new(
                Phase::Migrate,
                "the pipeline's seed or migration files are not usable",
            )
            .with_detail(message_detail(&e));
            return Err(ctx.fail(report, None));
        }
    };
    let w = &shadow.warehouse;
    let digest = Hasher::new()
        .str(
            "warehouse",
            &format!("{}:{}/{}", w.host, w.port, w.database),
        )
        // Each comparison run fills a schema of its own.
        .str("schema", ctx.schema.as_deref().unwrap_or(""))
        .tree(&seed_dir)
        .tree(&mig_dir)
        .finish();
    if ctx.state.phase_done(Phase::Migrate, &digest) && !ctx.forced(Phase::Migrate) {
        ui::phase(
            "migrate",
            "seed and migrations unchanged since they were applied; skipping",
        );
        return Ok(());
    }
    if seeds.is_empty() && files.is_empty() {
        ui::phase("migrate", "the pipeline has no seed data and no migrations");
        return ctx.mark(Phase::Migrate, digest, start.elapsed().as_secs_f64());
    }
    ui::phase(
        "migrate",
        &format!(
            "{} seed file(s), {} migration(s) -> warehouse {}@{}{} (SSH tunnel)",
            seeds.len(),
            files.len(),
            w.database,
            w.host,
            ctx.schema
                .as_deref()
                .map(|s| format!(", schema {s}"))
                .unwrap_or_default()
        ),
    );
    let mut wh = match Warehouse::connect(&ctx.dir, shadow, &ctx.run.dir, ctx.schema.as_deref()) {
        Ok(wh) => wh,
        Err(e) => {
            let report = FailureReport::new(Phase::Migrate, "cannot reach the warehouse")
                .with_detail(message_detail(&e));
            return Err(ctx.fail(report, None));
        }
    };

    ui::debug(&format!("  connected to the warehouse {}", wh.label));
    let loaded = match seed::load(&mut wh, &seeds) {
        Ok(l) => l,
        Err(e) => {
            let report = match e.downcast_ref::<SeedError>() {
                Some(s) => FailureReport::new(
                    Phase::Migrate,
                    format!(
                        "seed file {}/{} failed; nothing of the seed was loaded",
                        ctx.spec.seed_dir, s.file
                    ),
                )
                .with_detail(Detail::Message {
                    message: s.message.clone(),
                    tail: s.statement.clone(),
                }),
                None => FailureReport::new(Phase::Migrate, "loading the seed data failed")
                    .with_detail(message_detail(&e)),
            };
            return Err(ctx.fail(report, None));
        }
    };
    for (file, rows) in &loaded.loaded {
        let rows = if *rows > 0 {
            format!(" ({rows} rows)")
        } else {
            String::new()
        };
        ui::info(&format!("  seed {file} loaded{rows}"));
    }
    if loaded.unchanged > 0 {
        ui::info(&format!(
            "  seed: {} file(s) already loaded",
            loaded.unchanged
        ));
    }
    for file in &loaded.changed {
        ui::warn(&format!(
            "seed {file} changed since it was loaded into this env's warehouse; not reloaded (seed data is loaded once per env: `shadowops destroy` and `up` again to reload it)"
        ));
    }

    let applied = match migrations::apply(&mut wh, &files) {
        Ok(a) => a,
        Err(e) => return Err(migration_failure(ctx, e)),
    };
    if applied.already > 0 {
        ui::info(&format!(
            "  migrations: {} already applied",
            applied.already
        ));
    }
    for f in &applied.applied {
        ui::ok(&format!("migration {f} applied"));
    }
    std::fs::write(
        ctx.run.file("migrate.json"),
        serde_json::to_vec_pretty(&json!({
            "seed_loaded": loaded.loaded,
            "seed_unchanged": loaded.unchanged,
            "seed_changed_not_reloaded": loaded.changed,
            "migrations_applied": applied.applied,
            "migrations_already_applied": applied.already,
            "history_table": migrations::HISTORY_TABLE,
        }))?,
    )?;
    ctx.mark(Phase::Migrate, digest, start.elapsed().as_secs_f64())
}

fn migration_failure(ctx: &mut Ctx, e: anyhow::Error) -> anyhow::Error {
    let dir = ctx.spec.migrations_dir.clone();
    let report = match e.downcast_ref::<MigrationError>() {
        Some(MigrationError::Failed {
            file,
            message,
            statement,
            applied,
        }) => {
            let mut tail = statement.clone();
            if !applied.is_empty() {
                tail.push(format!(
                    "applied before it in this run: {}",
                    applied.join(", ")
                ));
            }
            tail.push(format!(
                "{file} was rolled back and is not recorded in {}; fix it and run `shadowops up` again",
                migrations::HISTORY_TABLE
            ));
            FailureReport::new(Phase::Migrate, format!("migration {dir}/{file} failed"))
                .with_detail(Detail::Message {
                    message: message.clone(),
                    tail,
                })
        }
        Some(other) => FailureReport::new(Phase::Migrate, other.to_string()),
        None => FailureReport::new(Phase::Migrate, "applying migrations failed")
            .with_detail(message_detail(&e)),
    };
    ctx.fail(report, None)
}
