test_that("totals are per day", {
  events <- data.frame(happened = as.Date(c("2026-01-01", "2026-01-01", "2026-01-02")),
                       amount = c(1, 2, 5))
  t <- daily_totals(events)
  expect_equal(t$events, c(2L, 1L))
  expect_equal(t$total, c(3, 5))
})

test_that("the warehouse has the seed and the migrated table", {
  con <- warehouse()
  on.exit(DBI::dbDisconnect(con))
  expect_equal(as.integer(DBI::dbGetQuery(con, "SELECT COUNT(*) AS n FROM events")$n), 5L)
  expect_true(DBI::dbExistsTable(con, "daily_totals"))
})
