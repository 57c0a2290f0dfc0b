# replace_run, the pipeline's portable upsert, against a real PostgreSQL
# (skipped without a test warehouse).

test_that("a failing write rolls the whole replace back", {
  con <- test_connection()
  dbExecute(con, "CREATE TEMPORARY TABLE t_tx (run_id VARCHAR(250) NOT NULL, k INTEGER NOT NULL)")
  replace_run(con, "t_tx", data.frame(run_id = "r1", k = 1:3), "r1")
  bad <- data.frame(run_id = "r1", k = c(10L, NA, 12L))
  expect_error(replace_run(con, "t_tx", bad, "r1"), "t_tx")
  # The DELETE of the failed replace was rolled back with it.
  expect_equal(dbGetQuery(con, "SELECT k FROM t_tx ORDER BY k")$k, 1:3)
})

test_that("replace_run replaces only its own run's rows", {
  con <- test_connection()
  dbExecute(con, "CREATE TEMPORARY TABLE t_runs (run_id VARCHAR(250) NOT NULL, k INTEGER NOT NULL)")
  replace_run(con, "t_runs", data.frame(run_id = "a", k = 1:3), "a")
  replace_run(con, "t_runs", data.frame(run_id = "b", k = 1:2), "b")
  replace_run(con, "t_runs", data.frame(run_id = "a", k = 1:3), "a")
  counts <- dbGetQuery(con, "SELECT run_id, COUNT(*) AS n FROM t_runs GROUP BY run_id ORDER BY run_id")
  expect_equal(counts$n, c(3, 2))
  expect_error(replace_run(con, "t_runs", data.frame(run_id = "c", k = 1L), "a"), "other than")
  expect_error(replace_run(con, "t_runs", data.frame(k = 1L), "a"), "no run_id column")
})
