test_that("the task refuses to run without SHADOW_RUN_ID", {
  withr_env <- Sys.getenv("SHADOW_RUN_ID", unset = NA)
  on.exit(if (is.na(withr_env)) Sys.unsetenv("SHADOW_RUN_ID") else Sys.setenv(SHADOW_RUN_ID = withr_env))
  Sys.unsetenv("SHADOW_RUN_ID")
  expect_error(run_id_from_env(), "SHADOW_RUN_ID is not set")
  Sys.setenv(SHADOW_RUN_ID = "manual__2026-01-01T00:00:00+00:00")
  expect_equal(run_id_from_env(), "manual__2026-01-01T00:00:00+00:00")
})
