# Runs a pipeline's testthat tests on the shadow host, against the shadow
# warehouse (SHADOW_WAREHOUSE_SETTINGS), after its migrations and before its
# DAG: `Rscript run-tests.R TESTS_DIR RESULTS_TSV`. Progress goes to stdout;
# RESULTS_TSV gets one line per test (file, test, outcome, seconds, message:
# the driver turns them into JUnit cases); one line per failed test
# ("FAILED <file>: <test>: <why>") closes the output. Exits 1 if a test
# failed or errored, 0 otherwise. Installed by the pipeline role
# (shadowops-pipeline test).
args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) {
  message("usage: Rscript run-tests.R TESTS_DIR RESULTS_TSV")
  quit(status = 2)
}
tests_dir <- args[[1]]
results_file <- args[[2]]
suppressPackageStartupMessages(library(testthat))

results <- test_dir(tests_dir,
                    reporter = ProgressReporter$new(show_praise = FALSE),
                    stop_on_failure = FALSE, stop_on_warning = FALSE)

one_line <- function(x) gsub("[\t\r\n]+", " ", x)
outcome_of <- function(r) {
  kinds <- vapply(r$results, function(x) class(x)[[1]], character(1))
  if (any(kinds == "expectation_error")) return("error")
  if (any(kinds == "expectation_failure")) return("failed")
  if (length(kinds) > 0 && all(kinds == "expectation_skip")) return("skipped")
  "passed"
}
message_of <- function(r) {
  msgs <- vapply(r$results, function(x) {
    if (inherits(x, "expectation_success")) "" else conditionMessage(x)
  }, character(1))
  msgs <- msgs[nzchar(msgs)]
  if (length(msgs)) one_line(msgs[[1]]) else ""
}
rows <- do.call(rbind, lapply(results, function(r) {
  data.frame(file = r$file, test = one_line(r$test), outcome = outcome_of(r),
             seconds = round(r$real, 3), message = substr(message_of(r), 1, 2000),
             stringsAsFactors = FALSE)
}))
if (is.null(rows)) {
  rows <- data.frame(file = character(), test = character(), outcome = character(),
                     seconds = numeric(), message = character())
}
write.table(rows, results_file, sep = "\t", quote = FALSE, row.names = FALSE,
            fileEncoding = "UTF-8")
bad <- rows[rows$outcome %in% c("failed", "error"), , drop = FALSE]
for (i in seq_len(nrow(bad))) {
  cat(sprintf("FAILED %s: %s: %s\n", bad$file[[i]], bad$test[[i]], bad$message[[i]]))
}
cat(sprintf("tests: %d passed, %d failed, %d skipped\n",
            sum(rows$outcome == "passed"), nrow(bad), sum(rows$outcome == "skipped")))
quit(status = if (nrow(bad) > 0) 1 else 0)
