# R/run.R as Airflow calls it: a separate Rscript process, its exit status,
# stderr message and last stdout line.

run_script <- function(args, env = character()) {
  script <- normalizePath(testthat::test_path("..", "..", "R", "run.R"))
  out <- tempfile()
  err <- tempfile()
  on.exit(unlink(c(out, err)))
  status <- system2(file.path(R.home("bin"), "Rscript"), c(shQuote(script), args),
                    stdout = out, stderr = err, env = env)
  list(status = status, stdout = readLines(out, warn = FALSE), stderr = readLines(err, warn = FALSE))
}

test_that("run.R rejects a missing or unknown task", {
  r <- run_script(character())
  expect_equal(r$status, 2L)
  expect_match(paste(r$stderr, collapse = "\n"), "usage: Rscript R/run.R")
  r <- run_script("transform", env = "SHADOW_RUN_ID=x")
  expect_equal(r$status, 1L)
  expect_match(paste(r$stderr, collapse = "\n"), "task transform failed: unknown task 'transform'")
  expect_length(r$stdout, 0L)
})

test_that("run.R fails clearly without settings or run id", {
  r <- run_script("extract", env = c("SHADOW_RUN_ID=manual__1",
                                     "SHADOW_WAREHOUSE_SETTINGS=/nonexistent/warehouse.dcf"))
  expect_equal(r$status, 1L)
  expect_match(paste(r$stderr, collapse = "\n"),
               "task extract failed: warehouse settings file not found: /nonexistent/warehouse.dcf")
  r <- run_script("extract", env = "SHADOW_RUN_ID=")
  expect_equal(r$status, 1L)
  expect_match(paste(r$stderr, collapse = "\n"), "SHADOW_RUN_ID is not set")
})

test_that("run.R runs the tasks, summary last on stdout, password nowhere", {
  settings <- test_warehouse_settings()
  env <- c(paste0("SHADOW_WAREHOUSE_SETTINGS=", settings$path),
           sprintf("SHADOW_RUN_ID=testthat-run__%d", Sys.getpid()))
  for (task in c("seed", "extract", "analyse")) {
    r <- run_script(task, env = env)
    expect_equal(r$status, 0L, info = paste(task, paste(r$stderr, collapse = "\n")))
    expect_false(any(grepl(settings$password, c(r$stdout, r$stderr), fixed = TRUE)))
  }
  r <- run_script("load", env = env)
  expect_equal(r$status, 0L, info = paste(r$stderr, collapse = "\n"))
  expect_match(r$stdout[length(r$stdout)],
               sprintf("^run_id=testthat-run__%d orders=[0-9]+ region_months=120 regions=5 ", Sys.getpid()))
  expect_false(any(grepl(settings$password, c(r$stdout, r$stderr), fixed = TRUE)))
})
