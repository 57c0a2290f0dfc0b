library(DBI)
library(shadowopsdb)

# Database tests need a THROWAWAY PostgreSQL database: point
# SHADOW_TEST_WAREHOUSE_SETTINGS at a DCF settings file for it
# (scripts/test-pipeline.sh starts one and sets the variable).
test_settings <- function() {
  path <- Sys.getenv("SHADOW_TEST_WAREHOUSE_SETTINGS")
  if (!nzchar(path)) {
    testthat::skip("no test warehouse: set SHADOW_TEST_WAREHOUSE_SETTINGS")
  }
  read_settings(path)
}

# A connection closed when the calling test ends.
test_con <- function(..., env = parent.frame()) {
  con <- dbConnect(Warehouse(), settings = test_settings(), ...)
  withr::defer(dbDisconnect(con), envir = env)
  con
}

write_settings <- function(fields) {
  path <- tempfile(fileext = ".dcf")
  write.dcf(as.data.frame(fields, stringsAsFactors = FALSE), path)
  path
}
