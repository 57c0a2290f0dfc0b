test_that("params bind each R type and results come back typed", {
  con <- test_con()
  df <- dbGetQuery(con, "
    SELECT CAST(? AS INTEGER) AS i, CAST(? AS DOUBLE PRECISION) AS d, CAST(? AS NUMERIC(10,2)) AS n,
           CAST(? AS VARCHAR(64)) AS s, CAST(? AS DATE) AS dt, CAST(? AS BOOLEAN) AS b,
           CAST(? AS TIMESTAMP) AS ts, CAST(? AS VARCHAR(8)) AS f, CAST(? AS BIGINT) AS big",
    params = list(42L, 1.25, 12.34, "o'brien; DROP TABLE x", as.Date("2024-02-29"), TRUE,
                  as.POSIXct("2024-03-01 12:30:00.250", tz = "UTC"), factor("lvl"), 2^40))
  expect_equal(nrow(df), 1L)
  expect_identical(df$i, 42L)
  expect_identical(df$d, 1.25)
  expect_identical(df$n, 12.34)
  expect_identical(df$s, "o'brien; DROP TABLE x")
  expect_identical(df$dt, as.Date("2024-02-29"))
  expect_identical(df$b, TRUE)
  expect_s3_class(df$ts, "POSIXct")
  expect_equal(attr(df$ts, "tzone"), "UTC")
  expect_equal(as.numeric(df$ts), as.numeric(as.POSIXct("2024-03-01 12:30:00.250", tz = "UTC")))
  expect_identical(df$f, "lvl")
  expect_identical(df$big, 2^40)
})

test_that("NA binds as NULL for every type and NULL reads back as NA", {
  con <- test_con()
  df <- dbGetQuery(con, "
    SELECT CAST(? AS INTEGER) AS i, CAST(? AS DOUBLE PRECISION) AS d, CAST(? AS VARCHAR(8)) AS s,
           CAST(? AS DATE) AS dt, CAST(? AS BOOLEAN) AS b, CAST(? AS TIMESTAMP) AS ts,
           CAST(NULL AS NUMERIC(10,2)) AS n, ? IS NULL AS was_null",
    params = list(NA_integer_, NA_real_, NA_character_, as.Date(NA), NA,
                  as.POSIXct(NA, tz = "UTC"), NA_integer_))
  expect_true(all(is.na(df[, c("i", "d", "s", "dt", "b", "ts", "n")])))
  expect_type(df$i, "integer")
  expect_type(df$d, "double")
  expect_type(df$s, "character")
  expect_s3_class(df$dt, "Date")
  expect_type(df$b, "logical")
  expect_s3_class(df$ts, "POSIXct")
  expect_type(df$n, "double")
  expect_true(df$was_null)
})

test_that("an empty result keeps its columns and their types", {
  con <- test_con()
  df <- dbGetQuery(con, "SELECT CAST(1 AS INTEGER) AS a, CAST('x' AS VARCHAR(4)) AS b, CURRENT_DATE AS c WHERE 1 = ?",
                   params = list(0L))
  expect_equal(nrow(df), 0L)
  expect_named(df, c("a", "b", "c"))
  expect_type(df$a, "integer")
  expect_s3_class(df$c, "Date")
})

test_that("dbSendQuery, dbBind, dbFetch in chunks, dbColumnInfo, dbHasCompleted", {
  con <- test_con()
  res <- dbSendQuery(con, "SELECT CAST(x AS INTEGER) AS k FROM (SELECT 1 AS x UNION ALL SELECT 2 UNION ALL SELECT 3) t WHERE x >= ? ORDER BY x")
  on.exit(dbClearResult(res), add = TRUE)
  expect_error(dbFetch(res), "dbBind")
  dbBind(res, list(2L))
  expect_equal(dbColumnInfo(res)$name, "k")
  expect_equal(dbColumnInfo(res)$type, "integer")
  expect_equal(dbFetch(res, n = 1)$k, 2L)
  expect_false(dbHasCompleted(res))
  expect_equal(dbFetch(res, n = 5)$k, 3L)
  expect_true(dbHasCompleted(res))
  expect_equal(dbGetRowCount(res), 2)
  dbBind(res, list(1L))
  expect_equal(dbFetch(res)$k, 1:3)
})

test_that("dbExecute returns rows affected, and vector params run as one batch", {
  con <- test_con()
  dbExecute(con, "CREATE TEMPORARY TABLE t_exec (k INTEGER, v VARCHAR(16))")
  before <- jdbc_stats(con)
  expect_equal(dbExecute(con, "INSERT INTO t_exec (k, v) VALUES (?, ?)",
                         params = list(1:5, c("a", "b", NA, "d", "e"))), 5)
  after <- jdbc_stats(con)
  expect_equal(after$batches - before$batches, 1)
  expect_equal(dbExecute(con, "UPDATE t_exec SET v = ? WHERE k > ?", params = list("z", 3L)), 2)
  expect_equal(dbExecute(con, "DELETE FROM t_exec WHERE v IS NULL"), 1)
  expect_equal(dbGetQuery(con, "SELECT v FROM t_exec ORDER BY k")$v, c("a", "b", "z", "z"))
})

test_that("a script of several statements runs through dbExecute", {
  con <- test_con()
  n <- dbExecute(con, "CREATE TEMPORARY TABLE t_script (k INTEGER);
                       INSERT INTO t_script VALUES (1), (2);  -- two rows; a ? here is no placeholder
                       INSERT INTO t_script VALUES (3);")
  expect_equal(n, 3)
  expect_equal(dbGetQuery(con, "SELECT COUNT(*) AS n FROM t_script")$n, 3)
})

test_that("SQL errors carry the warehouse's message and SQLSTATE", {
  con <- test_con()
  err <- expect_error(dbGetQuery(con, "SELECT * FROM no_such_table_here"), class = "shadowopsdb_error")
  expect_match(conditionMessage(err), "does not exist")
  expect_match(conditionMessage(err), "[SQLSTATE 42P01]", fixed = TRUE)
  expect_equal(err$sqlstate, "42P01")
  expect_error(dbExecute(con, "INSERT INTO no_such_table_here VALUES (?)", params = list(1L)), "does not exist")
  expect_error(dbGetQuery(con, "SELECT ?", params = list(list(1))), "cannot bind")
  expect_error(dbGetQuery(con, "SELECT ?", params = list(1:2)), "single values")
  # The connection is still usable after errors outside a transaction.
  expect_equal(dbGetQuery(con, "SELECT 1 AS one")$one, 1L)
})
