//! End to end with a team's own pipeline that is not the example
//! (tests/fixtures/pipeline-own): R packages from Debian beyond the base
//! set, a Python package for its DAG, SQL + CSV seed data, migrations, its
//! own testthat tests; then each way it can break, with the exit code and
//! message docs/pipeline.md promises, and nothing left half-applied.

mod common;
use common::*;
use std::path::Path;

fn output(r: &Run) -> String {
    format!("{}\n{}", r.stdout, r.stderr)
}

#[track_caller]
fn has(r: &Run, wants: &[&str]) {
    let all = output(r);
    for w in wants {
        assert!(
            all.contains(w),
            "missing {w:?} in `shadowops {}`:\n{all}",
            r.args
        );
    }
}

fn up(sb: &Sandbox, env: &str, pipeline: &Path, junit: &Path) -> Run {
    sb.run(&[
        "up",
        "--env",
        env,
        "--ttl",
        "45m",
        "--pipeline",
        pipeline.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ])
}

#[test]
#[ignore = "end to end on podman (minutes); run by `make test`"]
fn e2e_own_pipeline_dependencies_seed_migrations_tests_and_each_failure() {
    let sb = Sandbox::real();
    let env = "e2e-own";
    let _cleanup = sb.cleanup(vec![env]);
    let p = sb.dir.path().join("own");
    copy_tree(&repo().join("tests/fixtures/pipeline-own"), &p);
    std::fs::create_dir_all(p.join("scratch")).unwrap();
    std::fs::write(p.join("scratch/notes.txt"), "ignored by .shadowopsignore\n").unwrap();
    let junit = sb.dir.path().join("junit.xml");
    let mig = p.join("migrations");

    // 1. The whole pipeline, to its e-mail.
    let r = up(&sb, env, &p, &junit);
    r.expect(0);
    has(
        &r,
        &[
            "seed 01_customers.sql loaded",
            "seed 02_customers.csv loaded (6 rows)",
            "migration V1__create_customer_scores.sql applied",
            "migration V2__add_segment.sql applied",
            "tests: 3 passed, 0 skipped",
            "success e-mail",
            "scored_customers=6",
        ],
    );
    assert_eq!(
        psql(
            &sb,
            env,
            "SELECT count(*) FROM customer_scores WHERE segment = 'gold'"
        )
        .unwrap(),
        "3"
    );
    assert_eq!(
        psql(&sb, env, "SELECT name FROM customers WHERE customer_id = 3").unwrap(),
        "O'Neil, Cara"
    );
    assert_eq!(
        psql(
            &sb,
            env,
            "SELECT version FROM refinery_schema_history ORDER BY version"
        )
        .unwrap(),
        "1\n2"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    for w in [
        "the migrations gave customer_scores a segment column",
        "own_pipeline.test-scoring",
        "score",
        "summarise",
    ] {
        assert!(xml.contains(w), "JUnit lacks {w:?}:\n{xml}");
    }
    assert!(sb.env_dir(env).join("pipeline/R/tasks.R").is_file());
    assert!(
        !sb.env_dir(env).join("pipeline/scratch").exists(),
        "an ignored folder was staged"
    );
    sb.run(&[
        "ssh",
        "--env",
        env,
        "--",
        "test",
        "!",
        "-e",
        "/opt/shadowops/pipeline/scratch",
    ])
    .expect(0);

    // 2. A third migration: only it is applied.
    std::fs::write(
        mig.join("V3__add_note.sql"),
        "ALTER TABLE customer_scores ADD COLUMN note VARCHAR(64);\n",
    )
    .unwrap();
    let r = up(&sb, env, &p, &junit);
    r.expect(0);
    has(
        &r,
        &[
            "migrations: 2 already applied",
            "migration V3__add_note.sql applied",
        ],
    );
    assert!(!output(&r).contains("V1__create_customer_scores.sql applied"));

    // 3. A failing migration: file, statement and the warehouse's error;
    // rolled back as a whole (its first statement too), not recorded.
    std::fs::write(
        mig.join("V4__broken.sql"),
        "ALTER TABLE customer_scores ADD COLUMN half_done INT;\nALTER TABLE no_such_table ADD COLUMN x INT;\n",
    )
    .unwrap();
    let r = up(&sb, env, &p, &junit);
    r.expect(14);
    has(
        &r,
        &[
            "migrate failed: migration migrations/V4__broken.sql failed",
            "no_such_table",
            "does not exist",
            "ALTER TABLE no_such_table ADD COLUMN x INT;",
            "not recorded in refinery_schema_history",
        ],
    );
    assert_eq!(
        psql(&sb, env, "SELECT max(version) FROM refinery_schema_history").unwrap(),
        "3"
    );
    assert_eq!(
        psql(
            &sb,
            env,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'customer_scores' AND column_name = 'half_done'"
        )
        .unwrap(),
        "0"
    );
    std::fs::remove_file(mig.join("V4__broken.sql")).unwrap();

    // 4. An applied migration edited afterwards is refused.
    let v1 = mig.join("V1__create_customer_scores.sql");
    let original = std::fs::read_to_string(&v1).unwrap();
    std::fs::write(&v1, format!("{original}-- edited later\n")).unwrap();
    let r = up(&sb, env, &p, &junit);
    r.expect(14);
    has(
        &r,
        &["V1__create_customer_scores.sql was edited after it was applied"],
    );
    std::fs::write(&v1, &original).unwrap();

    // 5. A failing test of the pipeline's own: named, in JUnit, DAG not run.
    let broken_test = p.join("tests/testthat/test-broken.R");
    std::fs::write(
        &broken_test,
        "test_that(\"a thousand is not gold\", {\n  expect_equal(segment_of(1000), \"standard\")\n})\n",
    )
    .unwrap();
    let r = up(&sb, env, &p, &junit);
    r.expect(13);
    has(
        &r,
        &[
            "test-broken.R \"a thousand is not gold\"",
            "the DAG was not run",
        ],
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("a thousand is not gold") && xml.contains("<failure"),
        "{xml}"
    );
    std::fs::remove_file(&broken_test).unwrap();

    // 6. An R package nobody can provide: configure fails naming it.
    let desc = p.join("DESCRIPTION");
    let description = std::fs::read_to_string(&desc).unwrap();
    std::fs::write(
        &desc,
        description.replace("Imports: DBI,", "Imports: DBI, notarealpkgxyz,"),
    )
    .unwrap();
    let r = up(&sb, env, &p, &junit);
    r.expect(12);
    has(&r, &["configure failed", "notarealpkgxyz"]);
    std::fs::write(&desc, &description).unwrap();

    // 7. A requirement that conflicts with Airflow's constraints.
    let req = p.join("requirements.txt");
    let requirements = std::fs::read_to_string(&req).unwrap();
    std::fs::write(&req, format!("{requirements}requests==2.0.0\n")).unwrap();
    let r = up(&sb, env, &p, &junit);
    r.expect(12);
    has(&r, &["configure failed", "requests==2.0.0"]);
    std::fs::write(&req, &requirements).unwrap();

    // 8. Back to the good pipeline: green again.
    let r = up(&sb, env, &p, &junit);
    r.expect(0);
    // The migrations are those of step 2, applied then: nothing to redo.
    has(
        &r,
        &[
            "seed and migrations unchanged since they were applied",
            "success e-mail",
        ],
    );

    sb.run(&["destroy", "--env", env]).expect(0);
    sb.run(&["destroy", "--env", env]).expect(0);
}

#[test]
#[ignore = "end to end on podman (minutes); run by `make test`"]
fn e2e_init_writes_a_pipeline_that_up_runs_unchanged() {
    let sb = Sandbox::real();
    let env = "e2e-init";
    let _cleanup = sb.cleanup(vec![env]);
    let p = sb.dir.path().join("mine");
    sb.run(&["init", p.to_str().unwrap()]).expect(0);
    let junit = sb.dir.path().join("junit.xml");
    let r = up(&sb, env, &p, &junit);
    r.expect(0);
    has(
        &r,
        &[
            "seed 02_events.csv loaded (5 rows)",
            "migration V1__create_daily_totals.sql applied",
            "tests: 2 passed, 0 skipped",
            "success e-mail",
            "days=3 total=45.00",
        ],
    );
    // A second init into the same folder changes nothing.
    let again = sb.run(&["init", p.to_str().unwrap()]);
    again.expect(2);
    has(&again, &["is not empty"]);
    sb.run(&["destroy", "--env", env]).expect(0);
}
