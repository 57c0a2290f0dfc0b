# Queries and statements.
#
# dbSendQuery/dbSendStatement prepare the SQL; it runs at once when `params`
# is given or the SQL has no placeholder, else at dbBind. DBI's own
# dbGetQuery and dbExecute are built on these (send, fetch or count, clear).
#
# A statement without placeholders and params goes through a plain
# java.sql.Statement, which accepts several statements separated by
# semicolons (a seed or migration script); everything else is a
# PreparedStatement. A statement with params of length n > 1 runs as one
# JDBC batch of n rows.

setMethod("dbSendQuery", c("WarehouseConnection", "character"),
  function(conn, statement, params = NULL, ...) .send(conn, statement, params, is_query = TRUE))

setMethod("dbSendStatement", c("WarehouseConnection", "character"),
  function(conn, statement, params = NULL, ...) .send(conn, statement, params, is_query = FALSE))

.send <- function(conn, sql, params, is_query) {
  jconn <- .jconn(conn)
  state <- new.env(parent = emptyenv())
  state$stmt <- NULL
  state$rs <- NULL
  state$executed <- FALSE
  state$done <- FALSE
  state$rows_affected <- 0
  state$rows_fetched <- 0
  state$columns <- NULL
  res <- new("WarehouseResult", conn = conn, sql = sql, is_query = is_query, state = state)
  placeholders <- .count_placeholders(sql)
  # A failure here leaves no open JDBC statement behind: the caller never
  # gets a result to clear.
  tryCatch({
    if (!is_query && placeholders == 0L && length(params) == 0L) {
      .run_script(res)
    } else {
      state$stmt <- .jdbc(rJava::.jcall(jconn, "Ljava/sql/PreparedStatement;", "prepareStatement", sql),
                          paste("preparing", .sql_head(sql)))
      if (!is.null(params) || placeholders == 0L) dbBind(res, if (is.null(params)) list() else params)
    }
  }, error = function(e) {
    dbClearResult(res)
    stop(e)
  })
  res
}

.run_script <- function(res) {
  state <- res@state
  stmt <- .jdbc(rJava::.jcall(.jconn(res@conn), "Ljava/sql/Statement;", "createStatement"),
                "creating a statement")
  state$stmt <- stmt
  .jdbc({
    is_rs <- rJava::.jcall(stmt, "Z", "execute", res@sql)
    total <- 0
    # Walk every result of a multi-statement script; DDL counts 0 rows.
    repeat {
      if (!is_rs) {
        n <- rJava::.jcall(stmt, "I", "getUpdateCount")
        if (n < 0L) break
        total <- total + n
      }
      is_rs <- rJava::.jcall(stmt, "Z", "getMoreResults")
    }
  }, paste("running", .sql_head(res@sql)))
  .count(res@conn, "statements")
  state$rows_affected <- total
  state$executed <- TRUE
  state$done <- TRUE
}

setMethod("dbBind", "WarehouseResult", function(res, params, ...) {
  state <- res@state
  if (is.null(state$stmt)) stop("the result was cleared (dbClearResult)", call. = FALSE)
  b <- .binders(params)
  what <- paste("running", .sql_head(res@sql))
  if (!is.null(state$rs)) {
    rJava::.jcall(state$rs, "V", "close")
    state$rs <- NULL
  }
  stmt <- state$stmt
  if (res@is_query) {
    if (b$rows != 1L) stop("query parameters must be single values (one row)", call. = FALSE)
    .bind_row(stmt, b$binders, 1L)
    state$rs <- .jdbc(rJava::.jcall(stmt, "Ljava/sql/ResultSet;", "executeQuery"), what)
    .count(res@conn, "statements")
    state$columns <- .columns(state$rs)
    state$done <- FALSE
    state$rows_fetched <- 0
  } else if (b$rows == 1L) {
    .bind_row(stmt, b$binders, 1L)
    state$rows_affected <- .jdbc(rJava::.jcall(stmt, "I", "executeUpdate"), what)
    .count(res@conn, "statements")
    state$done <- TRUE
  } else {
    for (r in seq_len(b$rows)) {
      .bind_row(stmt, b$binders, r)
      rJava::.jcall(stmt, "V", "addBatch")
    }
    state$rows_affected <- .batch_count(.execute_batch(res@conn, stmt, b$rows, what), b$rows)
    state$done <- TRUE
  }
  state$executed <- TRUE
  invisible(res)
})

# One executeBatch call: the one place batches are sent and counted.
.execute_batch <- function(conn, stmt, rows, context) {
  counts <- .jdbc(rJava::.jcall(stmt, "[I", "executeBatch"), context)
  .count(conn, "batches")
  .count(conn, "batch_rows", rows)
  counts
}

# Rewritten batches report SUCCESS_NO_INFO (-2) per row: count those as one.
.batch_count <- function(counts, rows) {
  if (any(counts == -2L)) rows else sum(counts)
}

# java.sql.Types -> how a column is read into R.
.column_kind <- function(type) {
  if (type %in% .types[c("TINYINT", "SMALLINT", "INTEGER")]) return("integer")
  # BIGINT may not fit R's 32-bit integer: double, exact up to 2^53.
  if (type %in% .types[c("BIGINT", "NUMERIC", "DECIMAL", "FLOAT", "REAL", "DOUBLE")]) return("double")
  # PostgreSQL reports boolean as BIT.
  if (type %in% .types[c("BIT", "BOOLEAN")]) return("logical")
  if (type == .types[["DATE"]]) return("date")
  if (type %in% .types[c("TIMESTAMP", "TIMESTAMP_WITH_TIMEZONE")]) return("timestamp")
  "character"
}

.columns <- function(rs) {
  md <- rJava::.jcall(rs, "Ljava/sql/ResultSetMetaData;", "getMetaData")
  idx <- seq_len(rJava::.jcall(md, "I", "getColumnCount"))
  types <- vapply(idx, function(i) rJava::.jcall(md, "I", "getColumnType", i), 0L)
  data.frame(
    name = vapply(idx, function(i) rJava::.jcall(md, "S", "getColumnLabel", i), ""),
    kind = vapply(types, .column_kind, ""),
    sql_type = vapply(idx, function(i) rJava::.jcall(md, "S", "getColumnTypeName", i), ""),
    stringsAsFactors = FALSE)
}

.r_type <- c(integer = "integer", double = "double", logical = "logical",
             date = "Date", timestamp = "POSIXct", character = "character")

setMethod("dbColumnInfo", "WarehouseResult", function(res, ...) {
  cols <- res@state$columns
  if (is.null(cols)) return(data.frame(name = character(), type = character(), sql_type = character()))
  data.frame(name = cols$name, type = unname(.r_type[cols$kind]), sql_type = cols$sql_type,
             stringsAsFactors = FALSE)
})

setMethod("dbFetch", "WarehouseResult", function(res, n = -1, ...) {
  state <- res@state
  if (!res@is_query) {
    warning("dbFetch on a statement: use dbExecute or dbGetRowsAffected", call. = FALSE)
    return(data.frame())
  }
  if (!state$executed) stop("the query has placeholders: call dbBind or pass params", call. = FALSE)
  if (is.null(state$rs)) stop("the result was cleared (dbClearResult)", call. = FALSE)
  if (is.infinite(n)) n <- -1
  out <- .jdbc(.read_rows(state$rs, state$columns, n), paste("fetching", .sql_head(res@sql)))
  state$rows_fetched <- state$rows_fetched + nrow(out)
  if (n < 0 || nrow(out) < n) state$done <- TRUE
  out
})

# Read up to n rows (all when n < 0) into typed columns. Every cell but
# timestamps is read as its text, which both drivers give in a fixed format;
# timestamps as epoch milliseconds (UTC, see .start_jvm).
.read_rows <- function(rs, columns, n) {
  kinds <- columns$kind
  idx <- seq_along(kinds)
  is_ts <- kinds == "timestamp"
  # Grow column buffers geometrically: the row count is unknown up front.
  cap <- if (n >= 0) min(n, 1024) else 1024
  cols <- lapply(is_ts, function(t) if (t) rep(NA_real_, cap) else rep(NA_character_, cap))
  rows <- 0L
  jcall <- rJava::.jcall
  while ((n < 0 || rows < n) && jcall(rs, "Z", "next")) {
    rows <- rows + 1L
    if (rows > cap) {
      cap <- cap * 2
      cols <- lapply(cols, function(v) { length(v) <- cap; v })
    }
    for (i in idx) {
      if (is_ts[[i]]) {
        ts <- jcall(rs, "Ljava/sql/Timestamp;", "getTimestamp", i, check = FALSE)
        if (!rJava::is.jnull(ts)) cols[[i]][rows] <- jcall(ts, "J", "getTime", check = FALSE) / 1000
      } else {
        v <- jcall(rs, "S", "getString", i, check = FALSE)
        if (!is.null(v)) cols[[i]][rows] <- v
      }
    }
    rJava::.jcheck()
  }
  out <- lapply(idx, function(i) .convert(cols[[i]][seq_len(rows)], kinds[[i]]))
  names(out) <- columns$name
  as.data.frame(out, stringsAsFactors = FALSE, optional = TRUE)
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

setMethod("dbHasCompleted", "WarehouseResult", function(res, ...) res@state$done)
setMethod("dbGetRowsAffected", "WarehouseResult", function(res, ...) {
  if (res@is_query) 0 else res@state$rows_affected
})
setMethod("dbGetRowCount", "WarehouseResult", function(res, ...) res@state$rows_fetched)
setMethod("dbGetStatement", "WarehouseResult", function(res, ...) res@sql)
setMethod("dbIsValid", "WarehouseResult", function(dbObj, ...) !is.null(dbObj@state$stmt))

setMethod("dbClearResult", "WarehouseResult", function(res, ...) {
  state <- res@state
  if (!is.null(state$rs)) try(rJava::.jcall(state$rs, "V", "close"), silent = TRUE)
  if (!is.null(state$stmt)) try(rJava::.jcall(state$stmt, "V", "close"), silent = TRUE)
  state$rs <- NULL
  state$stmt <- NULL
  invisible(TRUE)
})
