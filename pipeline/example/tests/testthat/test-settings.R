test_that("wh_settings reads all fields of the DCF file", {
  path <- write_settings(list(jdbc_url = "jdbc:postgresql://db:5432/analytics",
                              driver_class = "org.postgresql.Driver",
                              driver_jar = "/usr/share/java/postgresql.jar",
                              user = "shadow", password = "s3cret: with colon"))
  s <- wh_settings(path)
  expect_equal(s$jdbc_url, "jdbc:postgresql://db:5432/analytics")
  expect_equal(s$user, "shadow")
  expect_equal(s$password, "s3cret: with colon")
})

test_that("printing settings never shows the password", {
  path <- write_settings(list(jdbc_url = "jdbc:postgresql://db/x", driver_class = "x.Y",
                              driver_jar = "/x.jar", user = "u", password = "hunter2"))
  out <- capture.output(print(wh_settings(path)))
  expect_false(any(grepl("hunter2", out, fixed = TRUE)))
  expect_true(any(grepl("<hidden>", out, fixed = TRUE)))
})

test_that("wh_settings names missing fields, not their values", {
  path <- write_settings(list(jdbc_url = "jdbc:postgresql://db/x", user = "u",
                              password = "hunter2", driver_class = ""))
  err <- expect_error(wh_settings(path), "lacks field")
  expect_match(conditionMessage(err), "driver_class")
  expect_match(conditionMessage(err), "driver_jar")
  expect_false(grepl("hunter2", conditionMessage(err), fixed = TRUE))
  expect_error(wh_settings(file.path(tempdir(), "nope.dcf")), "not found")
})

test_that("the task refuses to run without SHADOW_RUN_ID", {
  withr_env <- Sys.getenv("SHADOW_RUN_ID", unset = NA)
  on.exit(if (is.na(withr_env)) Sys.unsetenv("SHADOW_RUN_ID") else Sys.setenv(SHADOW_RUN_ID = withr_env))
  Sys.unsetenv("SHADOW_RUN_ID")
  expect_error(run_id_from_env(), "SHADOW_RUN_ID is not set")
  Sys.setenv(SHADOW_RUN_ID = "manual__2026-01-01T00:00:00+00:00")
  expect_equal(run_id_from_env(), "manual__2026-01-01T00:00:00+00:00")
})
