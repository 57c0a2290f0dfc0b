test_that("a connection reports itself without the password", {
  s <- test_settings()
  con <- test_con()
  expect_true(dbIsValid(con))
  info <- dbGetInfo(con)
  expect_equal(info$username, s$user)
  expect_match(info$db.version, "^[0-9]+")
  shown <- c(capture.output(show(con)), capture.output(str(info)), unlist(lapply(info, as.character)))
  expect_false(any(grepl(s$password, shown, fixed = TRUE)))
})

test_that("connect() is the shorthand of dbConnect(Warehouse(), ...)", {
  con <- connect(test_settings()$path, login_timeout = 5)
  on.exit(dbDisconnect(con))
  expect_s4_class(con, "WarehouseConnection")
  expect_equal(dbGetQuery(con, "SELECT 1 AS one")$one, 1L)
})

test_that("dbDisconnect closes and may be called twice", {
  con <- dbConnect(Warehouse(), settings = test_settings())
  expect_true(dbDisconnect(con))
  expect_false(dbIsValid(con))
  expect_silent(dbDisconnect(con))
  expect_error(dbGetQuery(con, "SELECT 1"), "closed")
})

test_that("a failed login carries the SQLSTATE and the user, never the password", {
  s <- test_settings()
  s$password <- "definitely-wrong-pw-123"
  err <- expect_error(dbConnect(Warehouse(), settings = s), class = "shadowopsdb_error")
  expect_match(conditionMessage(err), "cannot connect")
  expect_match(conditionMessage(err), s$user, fixed = TRUE)
  expect_equal(err$sqlstate, "28P01")  # invalid_password
  expect_false(grepl("definitely-wrong-pw-123", conditionMessage(err), fixed = TRUE))
})

test_that("the password is hidden even when the URL carries it", {
  s <- test_settings()
  s$jdbc_url <- paste0(s$jdbc_url, "?password=url-secret-456")
  s$password <- "definitely-wrong-pw-123"
  err <- expect_error(dbConnect(Warehouse(), settings = s), "cannot connect")
  expect_false(grepl("url-secret-456", conditionMessage(err), fixed = TRUE))
})

test_that("the login timeout ends a connect to a server that never answers", {
  s <- test_settings()
  # A listening socket that is never accepted: the kernel completes the TCP
  # handshake, then the driver waits for a reply to its startup message
  # that never comes. Only the login timeout can end that wait.
  port <- NULL
  for (candidate in sample(20000:40000, 20)) {
    srv <- tryCatch(serverSocket(candidate), error = function(e) NULL)
    if (!is.null(srv)) { port <- candidate; break }
  }
  skip_if(is.null(port), "no free port for a silent listener")
  on.exit(close(srv))
  s$jdbc_url <- sprintf("jdbc:postgresql://127.0.0.1:%d/analytics", port)
  started <- Sys.time()
  err <- expect_error(dbConnect(Warehouse(), settings = s, login_timeout = 2), "cannot connect")
  elapsed <- as.numeric(difftime(Sys.time(), started, units = "secs"))
  expect_lt(elapsed, 12)
  expect_gte(elapsed, 1.5)
  expect_match(conditionMessage(err), "time", ignore.case = TRUE)
  expect_false(grepl(s$password, conditionMessage(err), fixed = TRUE))
})

test_that("the socket timeout ends a statement that runs too long", {
  con <- test_con(socket_timeout = 1)
  started <- Sys.time()
  expect_error(dbGetQuery(con, "SELECT pg_sleep(30)"), class = "shadowopsdb_error")
  expect_lt(as.numeric(difftime(Sys.time(), started, units = "secs")), 15)
})

test_that("bad arguments are refused before connecting", {
  expect_error(dbConnect(Warehouse(), settings = test_settings(), login_timeout = -1), "login_timeout")
  s <- test_settings()
  s$driver_jar <- "/nonexistent/driver.jar"
  expect_error(dbConnect(Warehouse(), settings = s), "jar not found")
})
