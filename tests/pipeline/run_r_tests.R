# Run a pipeline's testthat suite and close with the line CI recognises:
#   N passed, N failed
# (testthat's own "[ FAIL 0 | WARN 0 | SKIP 0 | PASS 3 ]" is not one).
# Counts are expectations, as in testthat's PASS/FAIL; a test that errors
# counts as one failure. Exit status 1 on any failure or error.
#
# Usage: Rscript tests/pipeline/run_r_tests.R [TEST_DIR]
#   TEST_DIR defaults to pipeline/example/tests/testthat

args <- commandArgs(trailingOnly = TRUE)
test_dir <- if (length(args) >= 1L) args[[1]] else "pipeline/example/tests/testthat"
if (!dir.exists(test_dir)) {
  message("run_r_tests: no such test directory: ", test_dir)
  quit(save = "no", status = 2L)
}

results <- tryCatch(
  testthat::test_dir(test_dir, reporter = testthat::ProgressReporter$new(show_praise = FALSE),
                     stop_on_failure = FALSE, stop_on_warning = FALSE),
  error = function(e) {
    # A helper file that does not even load: report it as one failure.
    message("run_r_tests: the test suite could not run: ", conditionMessage(e))
    NULL
  })

if (is.null(results)) {
  passed <- 0L
  failed <- 1L
  skipped <- 0L
} else {
  df <- as.data.frame(results)
  passed <- sum(df$passed)
  failed <- sum(df$failed) + sum(df$error)
  skipped <- sum(df$skipped)
}
if (skipped > 0L) cat(sprintf("%d skipped\n", skipped))
cat(sprintf("%d passed, %d failed\n", passed, failed))
quit(save = "no", status = if (failed > 0L) 1L else 0L)
