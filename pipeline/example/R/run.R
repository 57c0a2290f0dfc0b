# Entry point of every task: Rscript R/run.R <seed|extract|analyse|load>
#
# Environment: SHADOW_WAREHOUSE_SETTINGS (DCF settings file, default
# /etc/shadowops/warehouse.dcf) and SHADOW_RUN_ID (the Airflow run_id).
# Progress goes to stderr; the task's one-line result is the LAST line on
# stdout (Airflow's BashOperator pushes it to XCom; load's is the e-mail's
# summary). Exit status 0 on success, 1 with a message on stderr otherwise.

script_dir <- function() {
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(file_arg) != 1L) stop("run this file with Rscript", call. = FALSE)
  dirname(normalizePath(sub("^--file=", "", file_arg)))
}

main <- function(args) {
  if (length(args) != 1L) {
    message("usage: Rscript R/run.R <seed|extract|analyse|load>")
    quit(save = "no", status = 2L)
  }
  task <- args[[1]]
  status <- tryCatch({
    r_dir <- script_dir()
    for (f in c("analysis.R", "tasks.R")) source(file.path(r_dir, f), local = globalenv())
    started <- Sys.time()
    line <- run_task(task, pipeline_dir = dirname(r_dir))
    message(sprintf("shadow-pipeline: task %s finished in %.1f s", task,
                    as.numeric(difftime(Sys.time(), started, units = "secs"))))
    cat(line, "\n", sep = "")
    0L
  }, error = function(e) {
    # One line: the driver shows the log tail, and drivers' messages often
    # continue on a second line ("  Position: 40").
    reason <- gsub("[[:space:]]*\n[[:space:]]*", " ", conditionMessage(e))
    message("shadow-pipeline: task ", task, " failed: ", reason)
    1L
  })
  quit(save = "no", status = status)
}

main(commandArgs(trailingOnly = TRUE))
