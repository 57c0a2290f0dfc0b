# The pipeline's logic as plain functions (tests/testthat tests them
# without a warehouse).
daily_totals <- function(events) {
  day <- format(events$happened, "%Y-%m-%d")
  days <- sort(unique(day))
  data.frame(
    day = as.Date(days),
    events = as.integer(table(day)[days]),
    total = as.numeric(tapply(events$amount, day, sum)[days])
  )
}
