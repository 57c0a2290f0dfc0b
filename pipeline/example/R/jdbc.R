# JDBC access to the warehouse over rJava.
#
# RJDBC is neither in Debian nor reachable on CRAN from the build machines, so
# this file talks to java.sql directly. Only standard JDBC calls are used, so
# the same code drives PostgreSQL (org.postgresql.Driver) and Redshift
# (com.amazon.redshift.Driver): the driver class, jar and URL come from the
# settings file, never from the code.
#
# Public functions: wh_settings(), wh_connect(), wh_disconnect(), wh_query(),
# wh_execute(), wh_execute_script(), wh_write(), wh_transaction(),
# wh_replace_run().

# java.sql.Types constants used to map result columns to R types.
.jdbc_types <- list(
  integer = c(-6L, 5L, 4L),                 # TINYINT, SMALLINT, INTEGER
  double = c(-5L, 2L, 3L, 6L, 7L, 8L),      # BIGINT (may exceed R's int), NUMERIC, DECIMAL, FLOAT, REAL, DOUBLE
  logical = c(-7L, 16L),                    # BIT (PostgreSQL reports boolean as BIT), BOOLEAN
  date = 91L,                               # DATE
  timestamp = c(93L, 2014L)                 # TIMESTAMP, TIMESTAMP_WITH_TIMEZONE
)

.settings_fields <- c("jdbc_url", "driver_class", "driver_jar", "user", "password")

#' Read the warehouse settings (a DCF file written at configure time, 0600).
#'
#' @param path settings file; defaults to $SHADOW_WAREHOUSE_SETTINGS.
#' @return a list of class "wh_settings" whose print method hides the password.
wh_settings <- function(path = Sys.getenv("SHADOW_WAREHOUSE_SETTINGS",
                                          "/etc/shadowops/warehouse.dcf")) {
  if (!file.exists(path)) {
    stop("warehouse settings file not found: ", path,
         " (set SHADOW_WAREHOUSE_SETTINGS)", call. = FALSE)
  }
  if (file.access(path, 4L) != 0L) {
    stop("warehouse settings file is not readable: ", path, call. = FALSE)
  }
  dcf <- read.dcf(path, all = TRUE)
  if (nrow(dcf) != 1L) {
    stop("warehouse settings file must hold exactly one record: ", path, call. = FALSE)
  }
  missing <- setdiff(.settings_fields, names(dcf))
  empty <- names(dcf)[vapply(dcf[1L, ], function(v) is.na(v) || !nzchar(trimws(v)), logical(1))]
  bad <- union(missing, intersect(empty, .settings_fields))
  if (length(bad) > 0L) {
    # Name the fields only: a value may be the password.
    stop("warehouse settings file ", path, " lacks field(s): ",
         paste(bad, collapse = ", "), call. = FALSE)
  }
  settings <- lapply(dcf[1L, .settings_fields], function(v) trimws(as.character(v)))
  names(settings) <- .settings_fields
  settings$path <- path
  structure(settings, class = "wh_settings")
}

#' @export
print.wh_settings <- function(x, ...) {
  cat("<warehouse settings ", x$path, ">\n",
      "  jdbc_url:     ", x$jdbc_url, "\n",
      "  driver_class: ", x$driver_class, "\n",
      "  driver_jar:   ", x$driver_jar, "\n",
      "  user:         ", x$user, "\n",
      "  password:     <hidden>\n", sep = "")
  invisible(x)
}

#' Open a connection. Starts the JVM with the driver jar on the class path.
#'
#' The driver object is instantiated and asked to connect directly: the
#' DriverManager cannot see classes loaded through rJava's class loader.
wh_connect <- function(settings = wh_settings()) {
  if (!file.exists(settings$driver_jar)) {
    stop("JDBC driver jar not found: ", settings$driver_jar, call. = FALSE)
  }
  # UTC in the JVM: the driver then reads and writes TIMESTAMP (without time
  # zone) as UTC wall-clock time, matching how wh_write formats POSIXct.
  rJava::.jinit(classpath = settings$driver_jar, parameters = "-Duser.timezone=UTC")
  # .jinit ignores classpath when the JVM is already up (tests, reconnects).
  rJava::.jaddClassPath(settings$driver_jar)
  driver <- tryCatch(
    rJava::.jnew(gsub(".", "/", settings$driver_class, fixed = TRUE)),
    error = function(e) {
      stop("cannot load JDBC driver class ", settings$driver_class, " from ",
           settings$driver_jar, ": ", conditionMessage(e), call. = FALSE)
    })
  props <- rJava::.jnew("java/util/Properties")
  rJava::.jcall(props, "Ljava/lang/Object;", "setProperty", "user", settings$user)
  rJava::.jcall(props, "Ljava/lang/Object;", "setProperty", "password", settings$password)
  conn <- tryCatch(
    rJava::.jcall(driver, "Ljava/sql/Connection;", "connect", settings$jdbc_url, props),
    error = function(e) {
      # The driver's message names host and user, never the password.
      stop("cannot connect to ", settings$jdbc_url, " as ", settings$user, ": ",
           .java_message(e), call. = FALSE)
    })
  if (rJava::is.jnull(conn)) {
    # Driver.connect returns null when the URL is not for this driver.
    stop("driver ", settings$driver_class, " does not accept URL ",
         settings$jdbc_url, call. = FALSE)
  }
  structure(list(jconn = conn, url = settings$jdbc_url), class = "wh_connection")
}

#' @export
print.wh_connection <- function(x, ...) {
  cat("<warehouse connection ", x$url, ">\n", sep = "")
  invisible(x)
}

#' Close a connection; safe to call twice (used from on.exit handlers).
wh_disconnect <- function(con) {
  if (!rJava::is.jnull(con$jconn) &&
      !rJava::.jcall(con$jconn, "Z", "isClosed")) {
    rJava::.jcall(con$jconn, "V", "close")
  }
  invisible(TRUE)
}

# Strip the Java class-name prefix rJava puts in front of exception messages.
.java_message <- function(e) {
  msg <- conditionMessage(e)
  sub("^[A-Za-z0-9_.$]+(Exception|Error): ", "", msg)
}

# Prepare a statement and bind parameters; the caller closes it.
.prepare <- function(con, sql, params = list()) {
  stmt <- rJava::.jcall(con$jconn, "Ljava/sql/PreparedStatement;",
                        "prepareStatement", sql)
  for (i in seq_along(params)) .bind(stmt, i, params[[i]])
  stmt
}

# Bind one R value to parameter `i`, typed by its R class.
.bind <- function(stmt, i, value) {
  i <- as.integer(i)
  if (length(value) != 1L) {
    stop("query parameter ", i, " must be a single value, got length ",
         length(value), call. = FALSE)
  }
  if (inherits(value, "POSIXct")) {
    if (is.na(value)) return(.set_null(stmt, i, 93L))
    millis <- as.numeric(value) * 1000
    ts <- rJava::.jnew("java/sql/Timestamp", rJava::.jlong(round(millis)))
    rJava::.jcall(stmt, "V", "setTimestamp", i, ts)
  } else if (inherits(value, "Date")) {
    if (is.na(value)) return(.set_null(stmt, i, 91L))
    d <- rJava::.jcall("java/sql/Date", "Ljava/sql/Date;", "valueOf", format(value, "%Y-%m-%d"))
    rJava::.jcall(stmt, "V", "setDate", i, d)
  } else if (is.logical(value)) {
    if (is.na(value)) return(.set_null(stmt, i, 16L))
    rJava::.jcall(stmt, "V", "setBoolean", i, value)
  } else if (is.integer(value)) {
    if (is.na(value)) return(.set_null(stmt, i, 4L))
    rJava::.jcall(stmt, "V", "setInt", i, value)
  } else if (is.numeric(value)) {
    if (is.na(value)) return(.set_null(stmt, i, 8L))
    rJava::.jcall(stmt, "V", "setDouble", i, as.double(value))
  } else if (is.character(value) || is.factor(value)) {
    value <- as.character(value)
    if (is.na(value)) return(.set_null(stmt, i, 12L))
    rJava::.jcall(stmt, "V", "setString", i, value)
  } else {
    stop("unsupported parameter type for parameter ", i, ": ",
         paste(class(value), collapse = "/"), call. = FALSE)
  }
  invisible(NULL)
}

.set_null <- function(stmt, i, sql_type) {
  rJava::.jcall(stmt, "V", "setNull", i, as.integer(sql_type))
  invisible(NULL)
}

#' Run a query with `?` placeholders and return a data.frame.
#'
#' Columns are typed from the result set metadata: integer, double, logical,
#' Date, POSIXct (UTC) or character.
wh_query <- function(con, sql, params = list()) {
  stmt <- .prepare(con, sql, params)
  on.exit(rJava::.jcall(stmt, "V", "close"), add = TRUE)
  rs <- tryCatch(rJava::.jcall(stmt, "Ljava/sql/ResultSet;", "executeQuery"),
                 error = function(e) stop(.java_message(e), call. = FALSE))
  on.exit(rJava::.jcall(rs, "V", "close"), add = TRUE, after = FALSE)
  .read_result_set(rs)
}

.read_result_set <- function(rs) {
  md <- rJava::.jcall(rs, "Ljava/sql/ResultSetMetaData;", "getMetaData")
  n <- rJava::.jcall(md, "I", "getColumnCount")
  idx <- seq_len(n)
  labels <- vapply(idx, function(i) rJava::.jcall(md, "S", "getColumnLabel", i), "")
  types <- vapply(idx, function(i) rJava::.jcall(md, "I", "getColumnType", i), 0L)
  kinds <- vapply(types, .column_kind, "")

  # Grow column buffers geometrically: the row count is unknown up front.
  cap <- 1024L
  cols <- lapply(kinds, function(k) if (k == "timestamp") rep(NA_real_, cap) else rep(NA_character_, cap))
  rows <- 0L
  jcall <- rJava::.jcall
  while (jcall(rs, "Z", "next")) {
    rows <- rows + 1L
    if (rows > cap) {
      cap <- cap * 2L
      cols <- lapply(cols, function(v) { length(v) <- cap; v })
    }
    for (i in idx) {
      if (kinds[[i]] == "timestamp") {
        ts <- jcall(rs, "Ljava/sql/Timestamp;", "getTimestamp", i)
        if (!rJava::is.jnull(ts)) cols[[i]][rows] <- jcall(ts, "J", "getTime") / 1000
      } else {
        # check = FALSE in the per-cell loop; checked once per row below.
        v <- jcall(rs, "S", "getString", i, check = FALSE)
        if (!is.null(v)) cols[[i]][rows] <- v
      }
    }
    rJava::.jcheck()
  }
  out <- lapply(idx, function(i) .convert(cols[[i]][seq_len(rows)], kinds[[i]]))
  names(out) <- labels
  as.data.frame(out, stringsAsFactors = FALSE, optional = TRUE)
}

.column_kind <- function(type) {
  for (kind in names(.jdbc_types)) if (type %in% .jdbc_types[[kind]]) return(kind)
  "character"
}

.convert <- function(v, kind) {
  switch(kind,
    integer = as.integer(v),
    double = as.double(v),
    logical = ifelse(is.na(v), NA, v %in% c("t", "true", "TRUE", "1")),
    date = as.Date(v),
    timestamp = as.POSIXct(v, origin = "1970-01-01", tz = "UTC"),
    v)
}

#' Execute a statement (DDL or DML) with `?` placeholders.
#' @return the update count (0 for DDL), invisibly.
wh_execute <- function(con, sql, params = list()) {
  stmt <- .prepare(con, sql, params)
  on.exit(rJava::.jcall(stmt, "V", "close"), add = TRUE)
  n <- tryCatch(rJava::.jcall(stmt, "I", "executeUpdate"),
                error = function(e) stop(.java_message(e), call. = FALSE))
  invisible(n)
}

#' Execute a script of several statements separated by semicolons (no
#' parameters), e.g. sql/seed.sql. The driver splits and runs them in order;
#' wrap the call in wh_transaction() to make the script atomic.
wh_execute_script <- function(con, sql) {
  stmt <- rJava::.jcall(con$jconn, "Ljava/sql/Statement;", "createStatement")
  on.exit(rJava::.jcall(stmt, "V", "close"), add = TRUE)
  tryCatch(rJava::.jcall(stmt, "Z", "execute", sql),
           error = function(e) stop(.java_message(e), call. = FALSE))
  invisible(TRUE)
}

#' Run `code` in one transaction: commit if it returns, roll back if it fails.
wh_transaction <- function(con, code) {
  jconn <- con$jconn
  rJava::.jcall(jconn, "V", "setAutoCommit", FALSE)
  on.exit(rJava::.jcall(jconn, "V", "setAutoCommit", TRUE), add = TRUE)
  result <- tryCatch(force(code), error = function(e) {
    rJava::.jcall(jconn, "V", "rollback")
    stop(conditionMessage(e), call. = FALSE)
  })
  rJava::.jcall(jconn, "V", "commit")
  result
}

#' Insert a data.frame into an existing table with batched prepared inserts.
#'
#' Column names of `df` must match the table's. Call it inside
#' wh_transaction() to make the whole write atomic.
#' @return the number of rows written, invisibly.
wh_write <- function(con, table, df, batch_size = 1000L) {
  stopifnot(is.data.frame(df), ncol(df) > 0L)
  .check_identifier(c(table, names(df)))
  binders <- lapply(df, .column_binder)
  sql <- sprintf("INSERT INTO %s (%s) VALUES (%s)", table,
                 paste(names(df), collapse = ", "),
                 paste(vapply(binders, `[[`, "", "placeholder"), collapse = ", "))
  jcall <- rJava::.jcall
  stmt <- jcall(con$jconn, "Ljava/sql/PreparedStatement;", "prepareStatement", sql)
  on.exit(jcall(stmt, "V", "close"), add = TRUE)
  flush <- function() {
    tryCatch(jcall(stmt, "[I", "executeBatch"),
             error = function(e) stop("writing ", table, ": ", .batch_message(e), call. = FALSE))
  }
  cols <- seq_along(binders)
  pending <- 0L
  for (r in seq_len(nrow(df))) {
    for (c in cols) {
      b <- binders[[c]]
      # check = FALSE: skip the per-call exception check in this hot loop;
      # a failed setter surfaces at the .jcheck() below, once per row.
      if (b$na[r]) {
        jcall(stmt, "V", "setNull", c, b$null_type, check = FALSE)
      } else {
        jcall(stmt, "V", b$setter, c, b$values[r], check = FALSE)
      }
    }
    rJava::.jcheck()
    jcall(stmt, "V", "addBatch")
    pending <- pending + 1L
    if (pending >= batch_size) {
      flush()
      pending <- 0L
    }
  }
  if (pending > 0L) flush()
  invisible(nrow(df))
}

# How to bind one column: setter, values converted once up front, NA mask.
# Dates and timestamps travel as ISO strings cast in SQL, which standard JDBC
# drivers accept without creating a Java object per cell.
.column_binder <- function(v) {
  b <- if (inherits(v, "POSIXct")) {
    list(setter = "setString", null_type = 93L, placeholder = "CAST(? AS TIMESTAMP)",
         values = format(v, "%Y-%m-%d %H:%M:%OS3", tz = "UTC"))
  } else if (inherits(v, "Date")) {
    list(setter = "setString", null_type = 91L, placeholder = "CAST(? AS DATE)",
         values = format(v, "%Y-%m-%d"))
  } else if (is.logical(v)) {
    list(setter = "setBoolean", null_type = 16L, placeholder = "?", values = v)
  } else if (is.integer(v) && !is.factor(v)) {
    list(setter = "setInt", null_type = 4L, placeholder = "?", values = v)
  } else if (is.numeric(v)) {
    list(setter = "setDouble", null_type = 8L, placeholder = "?", values = as.double(v))
  } else if (is.character(v) || is.factor(v)) {
    list(setter = "setString", null_type = 12L, placeholder = "?", values = as.character(v))
  } else {
    stop("unsupported column type: ", paste(class(v), collapse = "/"), call. = FALSE)
  }
  b$na <- is.na(v)
  b
}

# A BatchUpdateException hides the server's reason in getNextException().
.batch_message <- function(e) {
  msg <- .java_message(e)
  jex <- e$jobj
  if (!is.null(jex) && rJava::.jinstanceof(jex, "java/sql/SQLException")) {
    nxt <- rJava::.jcall(jex, "Ljava/sql/SQLException;", "getNextException")
    if (!rJava::is.jnull(nxt)) msg <- paste0(msg, " (", rJava::.jcall(nxt, "S", "getMessage"), ")")
  }
  msg
}

# Table and column names are interpolated into SQL, so allow plain identifiers only.
.check_identifier <- function(x) {
  bad <- x[!grepl("^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)?$", x)]
  if (length(bad) > 0L) {
    stop("not a plain SQL identifier: ", paste(bad, collapse = ", "), call. = FALSE)
  }
}

#' Replace this run's rows in `table` with `df`, atomically.
#'
#' DELETE ... WHERE run_id = ? followed by batched INSERTs in one transaction:
#' a rerun of the same run replaces its rows instead of duplicating them.
#' (Redshift has no ON CONFLICT, so this is the portable upsert.)
wh_replace_run <- function(con, table, df, run_id) {
  .check_identifier(table)
  if (!"run_id" %in% names(df)) stop("data for ", table, " has no run_id column", call. = FALSE)
  if (nrow(df) > 0L && any(df$run_id != run_id)) {
    stop("data for ", table, " carries a run_id other than ", run_id, call. = FALSE)
  }
  wh_transaction(con, {
    wh_execute(con, sprintf("DELETE FROM %s WHERE run_id = ?", table), list(run_id))
    if (nrow(df) > 0L) wh_write(con, table, df)
  })
  invisible(nrow(df))
}
