# Load the pipeline's R code (not an installed package: the tasks run it with
# Rscript R/run.R, which sources the same files).
for (f in c("jdbc.R", "analysis.R", "tasks.R")) {
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
  wh_settings(path)
}

# Write a settings file for tests of the settings reader.
write_settings <- function(fields) {
  path <- tempfile(fileext = ".dcf")
  write.dcf(as.data.frame(fields, stringsAsFactors = FALSE), path)
  path
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
