# The JDBC helper against a real PostgreSQL (skipped without a test warehouse).

test_that("queries bind parameters and return typed columns", {
  con <- wh_connect(test_warehouse_settings())
  on.exit(wh_disconnect(con))
  df <- wh_query(con, "
    SELECT ?::int AS i, ?::double precision AS d, ?::numeric(10,2) AS n, ?::text AS s,
           ?::date AS dt, ?::boolean AS b, CAST(? AS timestamp) AS ts, NULL::int AS missing",
    list(42L, 1.25, 12.34, "o'brien; DROP TABLE x", as.Date("2024-02-29"), TRUE,
         as.POSIXct("2024-03-01 12:30:00", tz = "UTC")))
  expect_equal(nrow(df), 1L)
  expect_identical(df$i, 42L)
  expect_identical(df$d, 1.25)
  expect_identical(df$n, 12.34)
  expect_identical(df$s, "o'brien; DROP TABLE x")
  expect_equal(df$dt, as.Date("2024-02-29"))
  expect_identical(df$b, TRUE)
  expect_s3_class(df$ts, "POSIXct")
  expect_true(is.na(df$missing))
  expect_type(df$missing, "integer")
})

test_that("an empty result keeps its columns", {
  con <- wh_connect(test_warehouse_settings())
  on.exit(wh_disconnect(con))
  df <- wh_query(con, "SELECT 1::int AS a, 'x'::text AS b WHERE 1 = ?", list(0L))
  expect_equal(nrow(df), 0L)
  expect_named(df, c("a", "b"))
})

test_that("wh_write round-trips a data frame in batches, NAs included", {
  con <- wh_connect(test_warehouse_settings())
  on.exit(wh_disconnect(con))
  wh_execute(con, "CREATE TEMP TABLE t_write (run_id VARCHAR(250), k INTEGER, v NUMERIC(12,2),
                                               s VARCHAR(32), d DATE, ok BOOLEAN, at TIMESTAMP)")
  n <- 2500L
  df <- data.frame(run_id = "r1", k = seq_len(n), v = round(seq_len(n) * 1.01, 2),
                   s = sprintf("row %d", seq_len(n)),
                   d = as.Date("2024-01-01") + seq_len(n) %% 366,
                   ok = seq_len(n) %% 2 == 0,
                   at = as.POSIXct("2024-01-01", tz = "UTC") + seq_len(n),
                   stringsAsFactors = FALSE)
  df$v[3] <- NA
  df$s[4] <- NA
  df$d[5] <- NA
  df$ok[6] <- NA
  wh_transaction(con, wh_write(con, "t_write", df, batch_size = 1000L))
  back <- wh_query(con, "SELECT run_id, k, v, s, d, ok, at FROM t_write ORDER BY k")
  expect_equal(nrow(back), n)
  expect_equal(back$k, df$k)
  expect_equal(back$v, df$v)
  expect_equal(back$s, df$s)
  expect_equal(back$d, df$d)
  expect_equal(back$ok, df$ok)
  expect_equal(as.numeric(back$at), as.numeric(df$at))
})

test_that("a failing write rolls the whole transaction back", {
  con <- wh_connect(test_warehouse_settings())
  on.exit(wh_disconnect(con))
  wh_execute(con, "CREATE TEMP TABLE t_tx (run_id VARCHAR(250) NOT NULL, k INTEGER NOT NULL)")
  wh_replace_run(con, "t_tx", data.frame(run_id = "r1", k = 1:3), "r1")
  bad <- data.frame(run_id = "r1", k = c(10L, NA, 12L))
  expect_error(wh_replace_run(con, "t_tx", bad, "r1"), "t_tx")
  # The DELETE of the failed replace was rolled back with it.
  expect_equal(wh_query(con, "SELECT k FROM t_tx ORDER BY k")$k, 1:3)
})

test_that("wh_replace_run replaces only its own run's rows", {
  con <- wh_connect(test_warehouse_settings())
  on.exit(wh_disconnect(con))
  wh_execute(con, "CREATE TEMP TABLE t_runs (run_id VARCHAR(250) NOT NULL, k INTEGER NOT NULL)")
  wh_replace_run(con, "t_runs", data.frame(run_id = "a", k = 1:3), "a")
  wh_replace_run(con, "t_runs", data.frame(run_id = "b", k = 1:2), "b")
  wh_replace_run(con, "t_runs", data.frame(run_id = "a", k = 1:3), "a")
  counts <- wh_query(con, "SELECT run_id, COUNT(*) AS n FROM t_runs GROUP BY run_id ORDER BY run_id")
  expect_equal(counts$n, c(3, 2))
  expect_error(wh_replace_run(con, "t_runs", data.frame(run_id = "c", k = 1L), "a"), "other than")
  expect_error(wh_write(con, "t_runs; DROP TABLE x", data.frame(run_id = "a", k = 1L)), "identifier")
})

test_that("SQL errors carry the server's message", {
  con <- wh_connect(test_warehouse_settings())
  on.exit(wh_disconnect(con))
  expect_error(wh_query(con, "SELECT * FROM no_such_table_here"), "does not exist")
  expect_error(wh_execute(con, "INSERT INTO no_such_table_here VALUES (?)", list(1L)), "does not exist")
})

test_that("a failed login names the user but never the password", {
  s <- test_warehouse_settings()
  s$password <- "definitely-wrong-pw-123"
  err <- expect_error(wh_connect(s), "cannot connect")
  expect_match(conditionMessage(err), s$user, fixed = TRUE)
  expect_false(grepl("definitely-wrong-pw-123", conditionMessage(err), fixed = TRUE))
})

test_that("wh_disconnect closes and may be called twice", {
  con <- wh_connect(test_warehouse_settings())
  wh_disconnect(con)
  expect_true(rJava::.jcall(con$jconn, "Z", "isClosed"))
  expect_silent(wh_disconnect(con))
})
