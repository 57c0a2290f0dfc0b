# The task entry point: Rscript R/run.R <task>. SHADOW_RUN_ID names the DAG
# run (every row written carries it; a rerun replaces its own rows).
# Progress goes to stderr; the last line on stdout is the task's result
# (Airflow keeps it in XCom; the e-mail shows it).
suppressPackageStartupMessages(library(DBI))
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(here, "totals.R"))

task <- commandArgs(trailingOnly = TRUE)[1]
run_id <- Sys.getenv("SHADOW_RUN_ID")
if (!nzchar(run_id)) stop("SHADOW_RUN_ID is not set")

# shadowopsdb (installed on the host by shadowops) reads the warehouse
# settings the host was given: JDBC to PostgreSQL locally, Redshift on AWS.
con <- shadowopsdb::connect()
on.exit(dbDisconnect(con))

if (identical(task, "totals")) {
  events <- dbGetQuery(con, "SELECT happened, amount FROM events")
  totals <- daily_totals(events)
  totals$run_id <- run_id
  totals$loaded_at <- Sys.time()
  dbWithTransaction(con, {
    dbExecute(con, "DELETE FROM daily_totals WHERE run_id = ?", params = list(run_id))
    dbAppendTable(con, "daily_totals", totals)
  })
  cat(sprintf("days=%d total=%.2f\n", nrow(totals), sum(totals$total)))
} else {
  message("usage: Rscript R/run.R totals")
  quit(status = 2)
}
