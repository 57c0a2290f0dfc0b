test_that("month_start and months_between work on calendar months", {
  expect_equal(month_start(as.Date(c("2024-02-29", "2025-12-31"))),
               as.Date(c("2024-02-01", "2025-12-01")))
  expect_equal(months_between(as.Date("2024-11-01"), as.Date(c("2024-11-01", "2025-02-01"))),
               c(0L, 3L))
})

test_that("revenue_by_region_month sums orders per region and month", {
  monthly <- revenue_by_region_month(sample_orders())
  expect_named(monthly, c("region", "month", "orders", "revenue"))
  expect_equal(nrow(monthly), 6L)
  north <- monthly[monthly$region == "North", ]
  expect_equal(north$month, as.Date(c("2024-01-01", "2024-02-01", "2024-03-01")))
  expect_equal(north$orders, c(2L, 1L, 1L))
  expect_equal(north$revenue, c(30, 40, 60))
  south <- monthly[monthly$region == "South", ]
  expect_equal(south$revenue, c(100, 90, 85.55))
  expect_type(monthly$orders, "integer")
  # Every order is accounted for exactly once.
  expect_equal(sum(monthly$orders), nrow(sample_orders()))
  expect_equal(sum(monthly$revenue), sum(sample_orders()$amount))
})

test_that("revenue_by_region_month handles empty input and rejects bad input", {
  empty <- revenue_by_region_month(sample_orders()[0, ])
  expect_equal(nrow(empty), 0L)
  expect_named(empty, c("region", "month", "orders", "revenue"))
  expect_error(revenue_by_region_month(data.frame(region = "x")), "lack column")
  bad <- sample_orders()
  bad$amount[2] <- NA
  expect_error(revenue_by_region_month(bad), "missing")
})

test_that("fit_region_trends recovers an exact linear trend", {
  monthly <- data.frame(
    region = rep(c("Up", "Down"), each = 4),
    month = rep(as.Date(c("2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01")), 2),
    orders = 1L,
    revenue = c(100, 110, 120, 130, 50, 45, 40, 35),
    stringsAsFactors = FALSE
  )
  trends <- fit_region_trends(monthly)
  expect_equal(trends$region, c("Down", "Up", "ALL"))
  up <- trends[trends$region == "Up", ]
  expect_equal(up$slope, 10)
  expect_equal(up$intercept, 100)
  expect_equal(up$r_squared, 1)
  expect_equal(up$pct_per_month, 100 * 10 / 115)
  expect_equal(trends$slope[trends$region == "Down"], -5)
  # Total revenue 150, 155, 160, 165: +5 per month.
  expect_equal(trends$slope[trends$region == "ALL"], 5)
  expect_equal(trends$months, c(4L, 4L, 4L))
})

test_that("fit_region_trends leaves a one-month region without a slope", {
  monthly <- data.frame(region = c("A", "A", "B"),
                        month = as.Date(c("2024-01-01", "2024-02-01", "2024-02-01")),
                        orders = 1L, revenue = c(1, 3, 7), stringsAsFactors = FALSE)
  trends <- fit_region_trends(monthly)
  expect_true(is.na(trends$slope[trends$region == "B"]))
  expect_equal(trends$slope[trends$region == "A"], 2)
  # Two points fit exactly but leave no residual degrees of freedom.
  expect_true(is.na(trends$r_squared[trends$region == "A"]))
})

test_that("run_summary and format_summary give the headline figures", {
  monthly <- revenue_by_region_month(sample_orders())
  trends <- fit_region_trends(monthly)
  s <- run_summary("manual__7", nrow(sample_orders()), monthly, trends)
  expect_equal(s$orders, 8L)
  expect_equal(s$region_months, 6L)
  expect_equal(s$regions, 2L)
  expect_equal(s$revenue_total, 405.55)
  expect_equal(s$top_region, "South")
  expect_equal(s$top_region_revenue, 275.55)
  line <- format_summary(s)
  expect_match(line, "^run_id=manual__7 orders=8 region_months=6 regions=2 revenue_total=405.55 top_region=South top_region_revenue=275.55 trend_pct_per_month=[+-][0-9]+\\.[0-9]{2}$")
  expect_false(grepl("\n", line, fixed = TRUE))
})
