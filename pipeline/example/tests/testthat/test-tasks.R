# The tasks end to end on the seeded sample data (skipped without a test
# warehouse). Reseeds the database: point it at a throwaway one only.

run_ids <- sprintf("testthat__%d__%s", Sys.getpid(), c("a", "b"))

test_that("seed, extract, analyse and load produce consistent results", {
  con <- test_connection()
  seed_file <- testthat::test_path("..", "..", "seed", "seed.sql")
  expect_match(task_seed(con, seed_file), "regions=5 customers=600 orders=4800")
  # Seeding twice leaves the same rows.
  expect_match(task_seed(con, seed_file), "regions=5 customers=600 orders=4800")

  id <- run_ids[[1]]
  completed <- dbGetQuery(con, "SELECT COUNT(*) AS n, SUM(amount) AS revenue FROM orders WHERE status = ?",
                          params = list("completed"))
  expect_match(task_extract(con, id), sprintf("staged %d orders", completed$n))
  expect_match(task_analyse(con, id), "120 region-months, 6 trends")
  line <- task_load(con, id)
  expect_match(line, sprintf("^run_id=%s orders=%d region_months=120 regions=5 revenue_total=%.2f ",
                             id, completed$n, completed$revenue))

  stored <- dbGetQuery(con, "SELECT summary, revenue_total, top_region FROM rpt_run_summary WHERE run_id = ?",
                       params = list(id))
  expect_equal(stored$summary, line)
  expect_equal(stored$revenue_total, round(completed$revenue, 2))
  # The seed gives North the steepest growth: it ends up the top region.
  expect_equal(stored$top_region, "North")
  trend <- dbGetQuery(con, "SELECT region, slope FROM rpt_region_trend WHERE run_id = ? ORDER BY slope",
                      params = list(id))
  expect_equal(trend$region[1], "West")
  expect_true(trend$slope[trend$region == "North"] > 0)
})

test_that("a rerun replaces the run's rows and leaves other runs alone", {
  con <- test_connection()
  tables <- c("stg_orders", "wrk_region_month", "wrk_region_trend",
              "rpt_region_month", "rpt_region_trend", "rpt_run_summary")
  count_rows <- function(id) {
    vapply(tables, function(t) {
      dbGetQuery(con, sprintf("SELECT COUNT(*) AS n FROM %s WHERE run_id = ?", t), params = list(id))$n
    }, numeric(1))
  }
  run_all <- function(id) {
    task_extract(con, id)
    task_analyse(con, id)
    task_load(con, id)
  }
  first <- run_all(run_ids[[1]])
  before <- count_rows(run_ids[[1]])
  expect_true(all(before > 0))
  expect_equal(run_all(run_ids[[1]]), first)
  expect_equal(count_rows(run_ids[[1]]), before)

  run_all(run_ids[[2]])
  expect_equal(count_rows(run_ids[[2]]), before)
  expect_equal(count_rows(run_ids[[1]]), before)
})

test_that("a task without its input fails with a clear message", {
  con <- test_connection()
  ensure_tables(con, c("stg_orders", "wrk_region_month", "wrk_region_trend"))
  expect_error(task_analyse(con, "never-extracted"), "no staged orders for run never-extracted: did extract run\\?")
  expect_error(task_load(con, "never-extracted"), "did analyse run\\?")
})
