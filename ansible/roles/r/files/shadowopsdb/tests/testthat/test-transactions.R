test_that("dbWithTransaction commits what succeeds", {
  con <- test_con()
  dbExecute(con, "CREATE TEMPORARY TABLE t_commit (k INTEGER NOT NULL)")
  out <- dbWithTransaction(con, {
    dbExecute(con, "INSERT INTO t_commit VALUES (?)", params = list(1L))
    dbAppendTable(con, "t_commit", data.frame(k = 2:3))
    "done"
  })
  expect_equal(out, "done")
  expect_equal(dbGetQuery(con, "SELECT k FROM t_commit ORDER BY k")$k, 1:3)
})

test_that("dbWithTransaction rolls everything back on an error", {
  con <- test_con()
  dbExecute(con, "CREATE TEMPORARY TABLE t_rollback (k INTEGER NOT NULL)")
  dbAppendTable(con, "t_rollback", data.frame(k = 1:3))
  expect_error(dbWithTransaction(con, {
    dbExecute(con, "DELETE FROM t_rollback")
    dbAppendTable(con, "t_rollback", data.frame(k = 10:12))
    stop("R-side failure after the writes")
  }), "R-side failure")
  expect_equal(dbGetQuery(con, "SELECT k FROM t_rollback ORDER BY k")$k, 1:3)
  # A failing statement (NULL into NOT NULL) inside the batch: same outcome.
  err <- expect_error(dbWithTransaction(con, {
    dbExecute(con, "DELETE FROM t_rollback")
    dbAppendTable(con, "t_rollback", data.frame(k = c(10L, NA, 12L)))
  }), class = "shadowopsdb_error")
  expect_match(conditionMessage(err), "appending to \"t_rollback\"", fixed = TRUE)
  expect_match(conditionMessage(err), "null value")
  expect_equal(err$sqlstate, "23502")
  expect_equal(dbGetQuery(con, "SELECT k FROM t_rollback ORDER BY k")$k, 1:3)
  # The connection is back in autocommit and usable.
  expect_equal(dbExecute(con, "INSERT INTO t_rollback VALUES (4)"), 1)
})

test_that("dbBegin, dbCommit and dbRollback keep their order", {
  con <- test_con()
  expect_error(dbCommit(con), "no transaction")
  expect_error(dbRollback(con), "no transaction")
  dbBegin(con)
  expect_error(dbBegin(con), "already open")
  dbExecute(con, "CREATE TEMPORARY TABLE t_order (k INTEGER)")
  dbRollback(con)
  expect_false(dbExistsTable(con, "t_order"))
})

test_that("a failed append outside a transaction writes nothing", {
  con <- test_con()
  dbExecute(con, "CREATE TEMPORARY TABLE t_atomic (k INTEGER NOT NULL)")
  df <- data.frame(k = c(seq_len(500), NA, 502L))
  expect_error(dbAppendTable(con, "t_atomic", df), "null value")
  expect_equal(dbGetQuery(con, "SELECT COUNT(*) AS n FROM t_atomic")$n, 0)
})
