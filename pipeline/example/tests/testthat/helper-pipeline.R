# Load the pipeline's R code (not an installed package: the tasks run it with
# Rscript R/run.R, which sources the same files). Warehouse access is the
# shadowopsdb package, installed on every shadow host (and by
# scripts/test-pipeline.sh into the repo's .r-lib for these tests).
for (f in c("analysis.R", "tasks.R")) {
  sys.source(testthat::test_path("..", "..", "R", f), envir = environment())
}

# Database tests need a THROWAWAY PostgreSQL database (the task tests reseed
# it): point SHADOW_TEST_WAREHOUSE_SETTINGS at a DCF settings file for it.
# scripts/test-pipeline.sh starts one and sets the variable.
test_warehouse_settings <- function() {
  path <- Sys.getenv("SHADOW_TEST_WAREHOUSE_SETTINGS")
  if (!nzchar(path)) {
    testthat::skip("no test warehouse: set SHADOW_TEST_WAREHOUSE_SETTINGS to the DCF settings of a throwaway PostgreSQL database")
  }
  shadowopsdb::read_settings(path)
}

# A connection to the test warehouse, closed when the calling test ends.
test_connection <- function(env = parent.frame()) {
  con <- shadowopsdb::connect(test_warehouse_settings())
  withr::defer(dbDisconnect(con), envir = env)
  con
}

# A small, hand-checkable order set: two regions over three months.
sample_orders <- function() {
  data.frame(
    order_date = as.Date(c("2024-01-05", "2024-01-20", "2024-02-03", "2024-03-15",
                           "2024-01-10", "2024-02-11", "2024-03-12", "2024-03-30")),
    region = c("North", "North", "North", "North", "South", "South", "South", "South"),
    amount = c(10, 20, 40, 60, 100, 90, 80, 5.55),
    stringsAsFactors = FALSE
  )
}
