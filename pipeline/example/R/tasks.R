# The pipeline's tasks. Each connects to the warehouse, reads what the previous
# task wrote there for this run, and writes its own output keyed by run_id, so
# a rerun of the same run replaces its rows instead of adding to them.
#
#   seed     sql/seed.sql: source tables regions, customers, orders (configure time)
#   extract  orders (completed) + customers + regions  -> stg_orders
#   analyse  stg_orders -> wrk_region_month, wrk_region_trend   (aggregate + lm)
#   load     wrk_* -> rpt_region_month, rpt_region_trend, rpt_run_summary;
#            prints the one-line summary last on stdout
#
# Pipeline tables avoid SERIAL, ON CONFLICT and other PostgreSQL-only SQL so the
# same statements run on Redshift.

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
  for (t in tables) wh_execute(con, pipeline_ddl[[t]])
}

#' The run's identity: Airflow's run_id, passed in SHADOW_RUN_ID.
run_id_from_env <- function() {
  id <- Sys.getenv("SHADOW_RUN_ID")
  if (!nzchar(id)) stop("SHADOW_RUN_ID is not set (the DAG sets it to {{ run_id }})", call. = FALSE)
  if (nchar(id) > 250L) stop("SHADOW_RUN_ID is longer than 250 characters", call. = FALSE)
  id
}

log_info <- function(...) message(format(Sys.time(), "%H:%M:%S"), " ", ...)

#' Load sql/seed.sql (schema + sample data), in one transaction.
task_seed <- function(con, seed_file) {
  sql <- paste(readLines(seed_file, warn = FALSE), collapse = "\n")
  wh_transaction(con, wh_execute_script(con, sql))
  counts <- wh_query(con, "SELECT (SELECT COUNT(*) FROM regions) AS regions,
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
  orders <- wh_query(con, "
    SELECT o.order_id, o.order_date, r.name AS region, o.customer_id, o.amount
      FROM orders o
      JOIN customers c ON c.customer_id = o.customer_id
      JOIN regions r   ON r.region_id = c.region_id
     WHERE o.status = ?
     ORDER BY o.order_id", list("completed"))
  if (nrow(orders) == 0L) {
    stop("no completed orders in the source tables: was the warehouse seeded (R/run.R seed)?", call. = FALSE)
  }
  staged <- data.frame(run_id = run_id, orders, stringsAsFactors = FALSE)
  wh_replace_run(con, "stg_orders", staged, run_id)
  line <- sprintf("extract: staged %d orders for run %s", nrow(staged), run_id)
  log_info(line)
  line
}

#' analyse: revenue per region and month, plus a linear trend per region.
task_analyse <- function(con, run_id) {
  orders <- wh_query(con, "SELECT order_date, region, amount FROM stg_orders WHERE run_id = ?",
                     list(run_id))
  if (nrow(orders) == 0L) {
    stop("no staged orders for run ", run_id, ": did extract run?", call. = FALSE)
  }
  monthly <- revenue_by_region_month(orders)
  trends <- fit_region_trends(monthly)
  ensure_tables(con, c("wrk_region_month", "wrk_region_trend"))
  wh_replace_run(con, "wrk_region_month", data.frame(run_id = run_id, monthly), run_id)
  wh_replace_run(con, "wrk_region_trend", data.frame(run_id = run_id, trends), run_id)
  line <- sprintf("analyse: %d region-months, %d trends for run %s", nrow(monthly), nrow(trends), run_id)
  log_info(line)
  line
}

#' load: publish the analysis as report tables and return the summary line.
task_load <- function(con, run_id) {
  monthly <- wh_query(con, "SELECT region, month, orders, revenue FROM wrk_region_month
                             WHERE run_id = ? ORDER BY region, month", list(run_id))
  trends <- wh_query(con, "SELECT region, months, slope, r_squared, pct_per_month
                            FROM wrk_region_trend WHERE run_id = ? ORDER BY region", list(run_id))
  if (nrow(monthly) == 0L || nrow(trends) == 0L) {
    stop("no analysis results for run ", run_id, ": did analyse run?", call. = FALSE)
  }
  staged <- wh_query(con, "SELECT COUNT(*) AS orders, SUM(amount) AS revenue
                             FROM stg_orders WHERE run_id = ?", list(run_id))
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
  # One transaction for all report tables: readers never see half a run.
  wh_transaction(con, {
    for (t in c("rpt_region_month", "rpt_region_trend", "rpt_run_summary")) {
      wh_execute(con, sprintf("DELETE FROM %s WHERE run_id = ?", t), list(run_id))
    }
    wh_write(con, "rpt_region_month", data.frame(run_id = run_id, monthly, loaded_at = loaded_at))
    wh_write(con, "rpt_region_trend", data.frame(run_id = run_id, trends, loaded_at = loaded_at))
    wh_write(con, "rpt_run_summary", data.frame(summary, summary = line, loaded_at = loaded_at))
  })
  log_info(sprintf("load: published %d region-months, %d trends, 1 summary for run %s",
                   nrow(monthly), nrow(trends), run_id))
  line
}

#' Run one task by name with its own connection, closed on exit.
run_task <- function(task, pipeline_dir, settings = wh_settings()) {
  tasks <- c("seed", "extract", "analyse", "load")
  if (!task %in% tasks) {
    stop("unknown task '", task, "' (expected one of: ", paste(tasks, collapse = ", "), ")", call. = FALSE)
  }
  run_id <- if (task == "seed") NA_character_ else run_id_from_env()
  con <- wh_connect(settings)
  on.exit(wh_disconnect(con), add = TRUE)
  switch(task,
    seed = task_seed(con, file.path(pipeline_dir, "sql", "seed.sql")),
    extract = task_extract(con, run_id),
    analyse = task_analyse(con, run_id),
    load = task_load(con, run_id))
}
