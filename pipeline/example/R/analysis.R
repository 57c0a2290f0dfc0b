# Pure analysis functions: data frames in, data frames out, no warehouse.
# Unit-tested in tests/testthat/test-analysis.R.

#' First day of the month of each date.
month_start <- function(dates) {
  as.Date(format(dates, "%Y-%m-01"))
}

#' Whole months between two first-of-month dates (b - a).
months_between <- function(a, b) {
  lt_a <- as.POSIXlt(a)
  lt_b <- as.POSIXlt(b)
  (lt_b$year - lt_a$year) * 12L + (lt_b$mon - lt_a$mon)
}

#' Revenue and order count per region and calendar month.
#'
#' @param orders data.frame with order_date (Date), region (character), amount (numeric)
#' @return data.frame region, month (Date), orders (integer), revenue (numeric, cents),
#'   ordered by region then month
revenue_by_region_month <- function(orders) {
  need <- c("order_date", "region", "amount")
  missing <- setdiff(need, names(orders))
  if (length(missing) > 0L) stop("orders lack column(s): ", paste(missing, collapse = ", "), call. = FALSE)
  if (nrow(orders) == 0L) {
    return(data.frame(region = character(), month = as.Date(character()),
                      orders = integer(), revenue = numeric(), stringsAsFactors = FALSE))
  }
  if (anyNA(orders$amount) || anyNA(orders$order_date) || anyNA(orders$region)) {
    stop("orders contain missing dates, regions or amounts", call. = FALSE)
  }
  keyed <- data.frame(region = orders$region, month = month_start(orders$order_date),
                      amount = orders$amount, stringsAsFactors = FALSE)
  revenue <- aggregate(amount ~ region + month, data = keyed, FUN = sum)
  counts <- aggregate(amount ~ region + month, data = keyed, FUN = length)
  names(revenue)[3] <- "revenue"
  names(counts)[3] <- "orders"
  out <- merge(counts, revenue, by = c("region", "month"))
  out$orders <- as.integer(out$orders)
  out$revenue <- round(out$revenue, 2)
  out <- out[order(out$region, out$month), c("region", "month", "orders", "revenue")]
  rownames(out) <- NULL
  out
}

#' Linear revenue trend per region (and over all regions) with lm().
#'
#' Fits revenue ~ month_index, where month_index counts months from the first
#' month in the data, so the slope is revenue gained (or lost) per month.
#' pct_per_month expresses the slope relative to the region's mean monthly
#' revenue, which makes regions of different size comparable.
#'
#' @param monthly output of revenue_by_region_month()
#' @return data.frame region, months, slope, intercept, r_squared, pct_per_month;
#'   the row with region "ALL" is the trend of total revenue
fit_region_trends <- function(monthly) {
  if (nrow(monthly) == 0L) {
    return(data.frame(region = character(), months = integer(), slope = numeric(),
                      intercept = numeric(), r_squared = numeric(),
                      pct_per_month = numeric(), stringsAsFactors = FALSE))
  }
  first <- min(monthly$month)
  total <- aggregate(revenue ~ month, data = monthly, FUN = sum)
  total$region <- "ALL"
  series <- rbind(monthly[, c("region", "month", "revenue")], total[, c("region", "month", "revenue")])
  series$month_index <- months_between(first, series$month)
  regions <- c(sort(unique(monthly$region)), "ALL")
  rows <- lapply(regions, function(r) {
    s <- series[series$region == r, ]
    fit_one_trend(r, s$month_index, s$revenue)
  })
  out <- do.call(rbind, rows)
  rownames(out) <- NULL
  out
}

fit_one_trend <- function(region, month_index, revenue) {
  n <- length(revenue)
  slope <- intercept <- r_squared <- NA_real_
  if (n >= 2L && length(unique(month_index)) >= 2L) {
    model <- lm(revenue ~ month_index)
    intercept <- unname(coef(model)[1])
    slope <- unname(coef(model)[2])
    # R-squared needs residual degrees of freedom; a two-point fit has none.
    # Computed directly: summary.lm() warns on the exact fits of tests.
    total_ss <- sum((revenue - mean(revenue))^2)
    if (n >= 3L && total_ss > 0) r_squared <- 1 - sum(residuals(model)^2) / total_ss
  }
  level <- mean(revenue)
  pct <- if (is.na(slope) || level == 0) NA_real_ else 100 * slope / level
  data.frame(region = region, months = as.integer(n), slope = slope,
             intercept = intercept, r_squared = r_squared, pct_per_month = pct,
             stringsAsFactors = FALSE)
}

#' Headline figures of one run, as a one-row data.frame.
#'
#' @param run_id the run's identity (Airflow run_id)
#' @param staged_orders number of orders extract staged for the run
#' @param monthly output of revenue_by_region_month()
#' @param trends output of fit_region_trends()
run_summary <- function(run_id, staged_orders, monthly, trends) {
  by_region <- aggregate(revenue ~ region, data = monthly, FUN = sum)
  by_region <- by_region[order(-by_region$revenue, by_region$region), ]
  overall <- trends[trends$region == "ALL", ]
  data.frame(
    run_id = run_id,
    orders = as.integer(staged_orders),
    region_months = nrow(monthly),
    regions = length(unique(monthly$region)),
    revenue_total = round(sum(monthly$revenue), 2),
    top_region = by_region$region[1],
    top_region_revenue = round(by_region$revenue[1], 2),
    trend_pct_per_month = round(overall$pct_per_month, 2),
    stringsAsFactors = FALSE
  )
}

#' The one-line summary load prints last (Airflow pushes it to XCom; the
#' success e-mail shows it). key=value pairs so a test can parse it and
#' compare with rpt_run_summary in the warehouse.
format_summary <- function(summary) {
  stopifnot(nrow(summary) == 1L)
  sprintf(paste("run_id=%s orders=%d region_months=%d regions=%d revenue_total=%.2f",
                "top_region=%s top_region_revenue=%.2f trend_pct_per_month=%+.2f"),
          summary$run_id, summary$orders, summary$region_months, summary$regions,
          summary$revenue_total, gsub("[[:space:]]+", "_", summary$top_region),
          summary$top_region_revenue, summary$trend_pct_per_month)
}
