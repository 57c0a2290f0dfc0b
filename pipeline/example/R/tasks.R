# The pipeline's tasks. Each connects to the warehouse, reads what the previous
# task wrote there for this run, and writes its own output keyed by run_id, so
# a rerun of the same run replaces its rows instead of adding to them.
#
#   seed     seed/seed.sql: source tables regions, customers, orders (configure time)
#   extract  orders (completed) + customers + regions  -> stg_orders
#   analyse  stg_orders -> wrk_region_month, wrk_region_trend   (aggregate + lm)
#   load     wrk_* -> rpt_region_month, rpt_region_trend, rpt_run_summary;
#            prints the one-line summary last on stdout
#
# Pipeline tables avoid SERIAL, ON CONFLICT and other PostgreSQL-only SQL so the
# same statements run on Redshift.
#
# Warehouse access is plain DBI over shadowopsdb, the JDBC backend shadowops
# installs on every host (shadowopsdb::connect() reads the env's settings).

library(DBI)

pipeline_ddl <- c(
  stg_orders = "CREATE TABLE IF NOT EXISTS stg_orders (
    run_id      VARCHAR(250)  NOT NULL,
    order_id    INTEGER       NOT NULL,
    order_date  DATE          NOT NULL,
    region      VARCHAR(64)   NOT NULL,
    customer_id INTEGER       NOT NULL,
    amount      NUMERIC(12,2) NOT NULL)",
  wrk_region_month = "CREATE TABLE IF NOT EXISTS wrk_region_month (
    run_id  VARCHAR(250)  NOT NULL,
    region  VARCHAR(64)   NOT NULL,
    month   DATE          NOT NULL,
    orders  INTEGER       NOT NULL,
    revenue NUMERIC(14,2) NOT NULL)",
  wrk_region_trend = "CREATE TABLE IF NOT EXISTS wrk_region_trend (
    run_id        VARCHAR(250)     NOT NULL,
    region        VARCHAR(64)      NOT NULL,
    months        INTEGER          NOT NULL,
    slope         DOUBLE PRECISION,
    intercept     DOUBLE PRECISION,
    r_squared     DOUBLE PRECISION,
    pct_per_month DOUBLE PRECISION)",
  rpt_region_month = "CREATE TABLE IF NOT EXISTS rpt_region_month (
    run_id    VARCHAR(250)  NOT NULL,
    region    VARCHAR(64)   NOT NULL,
    month     DATE          NOT NULL,
    orders    INTEGER       NOT NULL,
    revenue   NUMERIC(14,2) NOT NULL,
    loaded_at TIMESTAMP     NOT NULL)",
  rpt_region_trend = "CREATE TABLE IF NOT EXISTS rpt_region_trend (
    run_id        VARCHAR(250)     NOT NULL,
    region        VARCHAR(64)      NOT NULL,
    months        INTEGER          NOT NULL,
    slope         DOUBLE PRECISION,
    r_squared     DOUBLE PRECISION,
    pct_per_month DOUBLE PRECISION,
    loaded_at     TIMESTAMP        NOT NULL)",
  rpt_run_summary = "CREATE TABLE IF NOT EXISTS rpt_run_summary (
    run_id              VARCHAR(250)  NOT NULL,
    orders              INTEGER       NOT NULL,
    region_months       INTEGER       NOT NULL,
    regions             INTEGER       NOT NULL,
    revenue_total       NUMERIC(14,2) NOT NULL,
    top_region          VARCHAR(64)   NOT NULL,
    top_region_revenue  NUMERIC(14,2) NOT NULL,
    trend_pct_per_month DOUBLE PRECISION,
    summary             VARCHAR(1024) NOT NULL,
    loaded_at           TIMESTAMP     NOT NULL)"
)

ensure_tables <- function(con, tables) {
  for (t in tables) dbExecute(con, pipeline_ddl[[t]])
}

#' Replace this run's rows in `table` with `df`, atomically.
#'
#' DELETE ... WHERE run_id = ? and one batched append in one transaction: a
#' rerun of the same run replaces its rows instead of duplicating them.
#' (Redshift has no ON CONFLICT, so this is the portable upsert.)
replace_run <- function(con, table, df, run_id) {
  check_run_rows(table, df, run_id)
  dbWithTransaction(con, {
    delete_run(con, table, run_id)
    if (nrow(df) > 0L) dbAppendTable(con, table, df)
  })
  invisible(nrow(df))
}

delete_run <- function(con, table, run_id) {
  dbExecute(con, paste("DELETE FROM", dbQuoteIdentifier(con, table), "WHERE run_id = ?"),
            params = list(run_id))
}

check_run_rows <- function(table, df, run_id) {
  if (!"run_id" %in% names(df)) stop("data for ", table, " has no run_id column", call. = FALSE)
  if (nrow(df) > 0L && any(df$run_id != run_id)) {
    stop("data for ", table, " carries a run_id other than ", run_id, call. = FALSE)
  }
}

#' The run's identity: Airflow's run_id, passed in SHADOW_RUN_ID.
run_id_from_env <- function() {
  id <- Sys.getenv("SHADOW_RUN_ID")
  if (!nzchar(id)) stop("SHADOW_RUN_ID is not set (the DAG sets it to {{ run_id }})", call. = FALSE)
  if (nchar(id) > 250L) stop("SHADOW_RUN_ID is longer than 250 characters", call. = FALSE)
  id
}

log_info <- function(...) message(format(Sys.time(), "%H:%M:%S"), " ", ...)

#' Load seed/seed.sql (schema + sample data), in one transaction. Without
#' params, dbExecute runs a script of several statements.
task_seed <- function(con, seed_file) {
  sql <- paste(readLines(seed_file, warn = FALSE), collapse = "\n")
  dbWithTransaction(con, dbExecute(con, sql))
  counts <- dbGetQuery(con, "SELECT (SELECT COUNT(*) FROM regions) AS regions,
                                  (SELECT COUNT(*) FROM customers) AS customers,
                                  (SELECT COUNT(*) FROM orders) AS orders")
  line <- sprintf("seeded regions=%.0f customers=%.0f orders=%.0f",
                  counts$regions, counts$customers, counts$orders)
  log_info(line)
  line
}

#' extract: completed orders with their customer's region -> stg_orders.
task_extract <- function(con, run_id) {
  ensure_tables(con, "stg_orders")
  orders <- dbGetQuery(con, "
    SELECT o.order_id, o.order_date, r.name AS region, o.customer_id, o.amount
      FROM orders o
      JOIN customers c ON c.customer_id = o.customer_id
      JOIN regions r   ON r.region_id = c.region_id
     WHERE o.status = ?
     ORDER BY o.order_id", params = list("completed"))
  if (nrow(orders) == 0L) {
    stop("no completed orders in the source tables: was the warehouse seeded (R/run.R seed)?", call. = FALSE)
  }
  staged <- data.frame(run_id = run_id, orders, stringsAsFactors = FALSE)
  replace_run(con, "stg_orders", staged, run_id)
  line <- sprintf("extract: staged %d orders for run %s", nrow(staged), run_id)
  log_info(line)
  line
}

#' analyse: revenue per region and month, plus a linear trend per region.
task_analyse <- function(con, run_id) {
  orders <- dbGetQuery(con, "SELECT order_date, region, amount FROM stg_orders WHERE run_id = ?",
                       params = list(run_id))
  if (nrow(orders) == 0L) {
    stop("no staged orders for run ", run_id, ": did extract run?", call. = FALSE)
  }
  monthly <- revenue_by_region_month(orders)
  trends <- fit_region_trends(monthly)
  ensure_tables(con, c("wrk_region_month", "wrk_region_trend"))
  replace_run(con, "wrk_region_month", data.frame(run_id = run_id, monthly), run_id)
  replace_run(con, "wrk_region_trend", data.frame(run_id = run_id, trends), run_id)
  line <- sprintf("analyse: %d region-months, %d trends for run %s", nrow(monthly), nrow(trends), run_id)
  log_info(line)
  line
}

#' load: publish the analysis as report tables and return the summary line.
task_load <- function(con, run_id) {
  monthly <- dbGetQuery(con, "SELECT region, month, orders, revenue FROM wrk_region_month
                               WHERE run_id = ? ORDER BY region, month", params = list(run_id))
  trends <- dbGetQuery(con, "SELECT region, months, slope, r_squared, pct_per_month
                              FROM wrk_region_trend WHERE run_id = ? ORDER BY region", params = list(run_id))
  if (nrow(monthly) == 0L || nrow(trends) == 0L) {
    stop("no analysis results for run ", run_id, ": did analyse run?", call. = FALSE)
  }
  staged <- dbGetQuery(con, "SELECT COUNT(*) AS orders, SUM(amount) AS revenue
                               FROM stg_orders WHERE run_id = ?", params = list(run_id))
  # Reconcile before publishing: the report must account for every staged order.
  if (staged$orders != sum(monthly$orders) ||
      abs(staged$revenue - sum(monthly$revenue)) > 0.005 * nrow(monthly)) {
    stop(sprintf("analysis does not reconcile with staging for run %s: %d orders / %.2f staged, %d / %.2f analysed",
                 run_id, as.integer(staged$orders), staged$revenue,
                 sum(monthly$orders), sum(monthly$revenue)), call. = FALSE)
  }
  summary <- run_summary(run_id, staged$orders, monthly, trends)
  line <- format_summary(summary)
  loaded_at <- Sys.time()
  ensure_tables(con, c("rpt_region_month", "rpt_region_trend", "rpt_run_summary"))
  reports <- list(
    rpt_region_month = data.frame(run_id = run_id, monthly, loaded_at = loaded_at),
    rpt_region_trend = data.frame(run_id = run_id, trends, loaded_at = loaded_at),
    rpt_run_summary = data.frame(summary, summary = line, loaded_at = loaded_at))
  for (t in names(reports)) check_run_rows(t, reports[[t]], run_id)
  # One transaction for all report tables: readers never see half a run
  # (dbAppendTable joins the open transaction).
  dbWithTransaction(con, {
    for (t in names(reports)) {
      delete_run(con, t, run_id)
      dbAppendTable(con, t, reports[[t]])
    }
  })
  log_info(sprintf("load: published %d region-months, %d trends, 1 summary for run %s",
                   nrow(monthly), nrow(trends), run_id))
  line
}

#' Run one task by name with its own connection, closed on exit.
#' `settings`: the warehouse settings file (default $SHADOW_WAREHOUSE_SETTINGS).
run_task <- function(task, pipeline_dir,
                     settings = Sys.getenv("SHADOW_WAREHOUSE_SETTINGS", "/etc/shadowops/warehouse.dcf")) {
  tasks <- c("seed", "extract", "analyse", "load")
  if (!task %in% tasks) {
    stop("unknown task '", task, "' (expected one of: ", paste(tasks, collapse = ", "), ")", call. = FALSE)
  }
  run_id <- if (task == "seed") NA_character_ else run_id_from_env()
  con <- shadowopsdb::connect(settings)
  on.exit(dbDisconnect(con), add = TRUE)
  switch(task,
    seed = task_seed(con, file.path(pipeline_dir, "seed", "seed.sql")),
    extract = task_extract(con, run_id),
    analyse = task_analyse(con, run_id),
    load = task_load(con, run_id))
}
