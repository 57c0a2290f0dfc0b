test_that("read_settings reads every field of the DCF file", {
  path <- write_settings(list(jdbc_url = "jdbc:postgresql://db:5432/analytics",
                              driver_class = "org.postgresql.Driver",
                              driver_jar = "/usr/share/java/postgresql.jar",
                              user = "shadow", password = "s3cret: with colon"))
  s <- read_settings(path)
  expect_equal(s$jdbc_url, "jdbc:postgresql://db:5432/analytics")
  expect_equal(s$user, "shadow")
  expect_equal(s$password, "s3cret: with colon")
  expect_equal(s$path, path)
})

test_that("print, format and str never show the password", {
  path <- write_settings(list(jdbc_url = "jdbc:postgresql://db/x?password=hunter2", driver_class = "x.Y",
                              driver_jar = "/x.jar", user = "u", password = "hunter2"))
  s <- read_settings(path)
  out <- c(capture.output(print(s)), capture.output(str(s)), format(s))
  expect_false(any(grepl("hunter2", out, fixed = TRUE)))
  expect_true(any(grepl("<hidden>", out, fixed = TRUE)))
})

test_that("read_settings names missing fields, not their values", {
  path <- write_settings(list(jdbc_url = "jdbc:postgresql://db/x", user = "u",
                              password = "hunter2", driver_class = ""))
  err <- expect_error(read_settings(path), "lacks field")
  expect_match(conditionMessage(err), "driver_class")
  expect_match(conditionMessage(err), "driver_jar")
  expect_false(grepl("hunter2", conditionMessage(err), fixed = TRUE))
  expect_error(read_settings(file.path(tempdir(), "nope.dcf")), "not found")
})

test_that("SQL types are the ones Redshift and PostgreSQL share", {
  df <- data.frame(d = 1.5, i = 1L, b = TRUE, dt = as.Date("2024-01-01"),
                   ts = as.POSIXct("2024-01-01", tz = "UTC"), s = "x", f = factor("a"),
                   long = strrep("\u00e9", 200), stringsAsFactors = FALSE)
  expect_equal(unname(dbDataType(Warehouse(), df)),
               c("DOUBLE PRECISION", "INTEGER", "BOOLEAN", "DATE", "TIMESTAMP",
                 "VARCHAR(256)", "VARCHAR(256)", "VARCHAR(400)"))
  expect_error(dbDataType(Warehouse(), list(1)), "no SQL type")
})

test_that("placeholders in literals, identifiers and comments do not count", {
  count <- shadowopsdb:::.count_placeholders
  expect_equal(count("SELECT ?, ? FROM t WHERE a = ?"), 3L)
  expect_equal(count("SELECT 'what?', \"odd?name\" FROM t -- really?\nWHERE a = ? /* or ? */"), 1L)
  expect_equal(count("SELECT 'it''s ?' AS x"), 0L)
})
