# Sourced before the tests: the pipeline's functions, and a connection to
# the shadow warehouse for tests that need one (skipped off the host).
source(testthat::test_path("..", "..", "R", "totals.R"))

warehouse <- function() {
  testthat::skip_if_not(nzchar(Sys.getenv("SHADOWOPS_TESTS")), "not on a shadow host")
  shadowopsdb::connect()
}
