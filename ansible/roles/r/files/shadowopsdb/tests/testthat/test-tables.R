frame <- function(n) {
  df <- data.frame(run_id = "r1", k = seq_len(n), v = round(seq_len(n) * 1.01, 2),
                   s = sprintf("row %d, it's \"quoted\"", seq_len(n)),
                   d = as.Date("2024-01-01") + seq_len(n) %% 366,
                   ok = seq_len(n) %% 2 == 0,
                   at = as.POSIXct("2024-01-01", tz = "UTC") + seq_len(n) + 0.5,
                   stringsAsFactors = FALSE)
  df$v[3] <- NA
  df$s[4] <- NA
  df$d[5] <- NA
  df$ok[6] <- NA
  df$at[7] <- NA
  df$k[8] <- NA
  df
}

test_that("dbWriteTable creates a table with Redshift-compatible types", {
  con <- test_con()
  df <- frame(10)
  dbWriteTable(con, "t_types", df, temporary = TRUE)
  cols <- dbGetQuery(con, "SELECT column_name, data_type, character_maximum_length AS len
                             FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
                     params = list("t_types"))
  expect_equal(cols$column_name, names(df))
  expect_equal(cols$data_type, c("character varying", "integer", "double precision", "character varying",
                                 "date", "boolean", "timestamp without time zone"))
  expect_equal(cols$len[c(1, 4)], c(256L, 256L))
})

test_that("dbWriteTable round-trips a data frame, NAs included", {
  con <- test_con()
  df <- frame(300)
  dbWriteTable(con, "t_round", df, temporary = TRUE)
  back <- dbGetQuery(con, "SELECT * FROM t_round ORDER BY k NULLS LAST")
  back <- back[order(match(back$k, df$k)), ]
  expect_equal(nrow(back), nrow(df))
  for (col in setdiff(names(df), "at")) expect_equal(back[[col]], df[[col]], info = col, ignore_attr = TRUE)
  expect_equal(as.numeric(back$at), as.numeric(df$at))
})

test_that("dbWriteTable refuses an existing table unless told to overwrite or append", {
  con <- test_con()
  dbWriteTable(con, "t_modes", data.frame(k = 1:3), temporary = TRUE)
  expect_error(dbWriteTable(con, "t_modes", data.frame(k = 4L)), "exists")
  dbWriteTable(con, "t_modes", data.frame(k = 4:5), append = TRUE)
  expect_equal(dbGetQuery(con, "SELECT k FROM t_modes ORDER BY k")$k, 1:5)
  dbWriteTable(con, "t_modes", data.frame(k = 9L, extra = "x"), overwrite = TRUE, temporary = TRUE)
  expect_equal(dbGetQuery(con, "SELECT * FROM t_modes"), data.frame(k = 9L, extra = "x"))
  expect_error(dbWriteTable(con, "t_modes", data.frame(k = 1L), overwrite = TRUE, append = TRUE), "both")
  expect_error(dbWriteTable(con, "t_modes", data.frame(k = 1L), row.names = TRUE), "row.names")
})

test_that("a 10,000-row append is one JDBC batch in one transaction", {
  con <- test_con()
  dbExecute(con, "CREATE TEMPORARY TABLE t_batch (run_id VARCHAR(250), k INTEGER, v NUMERIC(12,2),
                                                  s VARCHAR(64), d DATE, ok BOOLEAN, at TIMESTAMP)")
  df <- frame(10000)
  before <- jdbc_stats(con)
  expect_equal(dbAppendTable(con, "t_batch", df), 10000)
  after <- jdbc_stats(con)
  # Exactly one executeBatch carrying every row; the only other statement
  # sent was none (prepare and the transaction calls are not statements).
  expect_equal(after$batches - before$batches, 1)
  expect_equal(after$batch_rows - before$batch_rows, 10000)
  expect_equal(after$statements - before$statements, 0)
  back <- dbGetQuery(con, "SELECT COUNT(*) AS n, COUNT(k) AS k, SUM(v) AS v FROM t_batch")
  expect_equal(back$n, 10000)
  expect_equal(back$k, 9999)
  expect_equal(back$v, sum(df$v, na.rm = TRUE))
})

test_that("dbExistsTable, dbListTables and dbRemoveTable see the same tables", {
  con <- test_con()
  name <- sprintf("t_list_%d", Sys.getpid())
  expect_false(dbExistsTable(con, name))
  dbWriteTable(con, name, data.frame(k = 1L))
  expect_true(dbExistsTable(con, name))
  expect_true(dbExistsTable(con, Id(schema = "public", table = name)))
  expect_false(dbExistsTable(con, Id(schema = "pg_catalog", table = name)))
  expect_true(name %in% dbListTables(con))
  expect_false("pg_class" %in% dbListTables(con))
  dbRemoveTable(con, name)
  expect_false(dbExistsTable(con, name))
  expect_error(dbRemoveTable(con, name), "does not exist")
  expect_silent(dbRemoveTable(con, name, fail_if_missing = FALSE))
})

test_that("table and column names are quoted, not interpolated", {
  con <- test_con()
  odd <- "t_odd; DROP TABLE x"
  dbWriteTable(con, odd, data.frame(`a b` = 1L, check.names = FALSE), temporary = TRUE)
  expect_true(dbExistsTable(con, odd))
  expect_named(dbGetQuery(con, paste("SELECT * FROM", dbQuoteIdentifier(con, odd))), "a b")
  expect_equal(as.character(dbQuoteString(con, "it's")), "'it''s'")
})
