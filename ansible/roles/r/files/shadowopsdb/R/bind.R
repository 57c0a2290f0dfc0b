# Binding R values to `?` placeholders, typed by the R class of each column:
#
#   numeric -> setDouble     integer -> setInt      logical -> setBoolean
#   character/factor -> setString                   Date -> setDate
#   POSIXct -> setTimestamp (UTC)                   NA -> setNull(<type>)
#
# A binder is prepared once per column (values converted up front), then
# applied row by row: per cell only one rJava call (two for dates and times,
# which need a Java object), with the exception check done once per row.

# java.sql.Types codes for setNull.
.types <- c(BIT = -7L, TINYINT = -6L, BIGINT = -5L, NUMERIC = 2L, DECIMAL = 3L, INTEGER = 4L,
            SMALLINT = 5L, FLOAT = 6L, REAL = 7L, DOUBLE = 8L, VARCHAR = 12L, BOOLEAN = 16L,
            DATE = 91L, TIMESTAMP = 93L, TIMESTAMP_WITH_TIMEZONE = 2014L)

.binder <- function(v, what) {
  jcall <- rJava::.jcall
  if (inherits(v, "POSIXct")) {
    millis <- round(as.numeric(v) * 1000)
    set <- function(stmt, j, r) {
      ts <- rJava::.jnew("java/sql/Timestamp", rJava::.jlong(millis[r]), check = FALSE)
      jcall(stmt, "V", "setTimestamp", j, ts, check = FALSE)
    }
    null_type <- .types[["TIMESTAMP"]]
  } else if (inherits(v, "Date")) {
    millis <- round(as.numeric(v) * 86400000)
    set <- function(stmt, j, r) {
      d <- rJava::.jnew("java/sql/Date", rJava::.jlong(millis[r]), check = FALSE)
      jcall(stmt, "V", "setDate", j, d, check = FALSE)
    }
    null_type <- .types[["DATE"]]
  } else if (is.logical(v)) {
    set <- function(stmt, j, r) jcall(stmt, "V", "setBoolean", j, v[[r]], check = FALSE)
    null_type <- .types[["BOOLEAN"]]
  } else if (is.integer(v) && !is.factor(v)) {
    set <- function(stmt, j, r) jcall(stmt, "V", "setInt", j, v[[r]], check = FALSE)
    null_type <- .types[["INTEGER"]]
  } else if (is.numeric(v)) {
    v <- as.double(v)
    set <- function(stmt, j, r) jcall(stmt, "V", "setDouble", j, v[[r]], check = FALSE)
    null_type <- .types[["DOUBLE"]]
  } else if (is.character(v) || is.factor(v)) {
    v <- as.character(v)
    set <- function(stmt, j, r) jcall(stmt, "V", "setString", j, v[[r]], check = FALSE)
    null_type <- .types[["VARCHAR"]]
  } else {
    stop("cannot bind ", what, " of class ", paste(class(v), collapse = "/"),
         " (numeric, integer, character, factor, logical, Date or POSIXct)", call. = FALSE)
  }
  list(set = set, null_type = null_type, na = is.na(v))
}

# params: a list (or vector) with one element per placeholder, each of the
# same length (the number of rows to bind).
.binders <- function(params) {
  if (is.null(params)) params <- list()
  if (!is.list(params)) params <- as.list(params)
  rows <- unique(lengths(params))
  if (length(rows) > 1L) {
    stop("all query parameters must have the same length (got ",
         paste(lengths(params), collapse = ", "), ")", call. = FALSE)
  }
  binders <- lapply(seq_along(params), function(i) .binder(params[[i]], paste("parameter", i)))
  list(binders = binders, rows = if (length(rows) == 0L) 1L else rows)
}

.bind_row <- function(stmt, binders, r) {
  for (j in seq_along(binders)) {
    b <- binders[[j]]
    if (b$na[[r]]) {
      rJava::.jcall(stmt, "V", "setNull", j, b$null_type, check = FALSE)
    } else {
      b$set(stmt, j, r)
    }
  }
  rJava::.jcheck()
}

# The number of `?` placeholders outside string literals, quoted identifiers
# and comments: a statement with none runs at once; with some, it waits for
# params (or dbBind).
.count_placeholders <- function(sql) {
  skip <- "'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\\n]*|/\\*[\\s\\S]*?\\*/"
  bare <- gsub(skip, " ", sql, perl = TRUE)
  nchar(gsub("[^?]", "", bare))
}
