# Errors. Every failure of a JDBC call becomes one R error of class
# "shadowopsdb_error" whose message is "<the warehouse's message> [SQLSTATE
# xxxxx] (<what we were doing>)" -- the reason first, as the server gave it,
# because a task's log shows the first line -- and whose $sqlstate field
# holds the code, so callers can match on either. Connecting is the
# exception: "cannot connect to <url> as <user>: <reason>" reads better. Messages pass through .redact():
# the password may reach a message only through the URL or a driver that
# echoes it, and it must never be printed.

# rJava puts the Java class name in front of the exception's message.
.java_message <- function(e) {
  sub("^[A-Za-z0-9_.$]+(Exception|Error): ", "", conditionMessage(e))
}

# The SQLException behind an rJava error, or NULL.
.sql_exception <- function(e) {
  j <- e$jobj
  if (!is.null(j) && rJava::.jinstanceof(j, "java/sql/SQLException")) j else NULL
}

.sql_state <- function(e) {
  j <- .sql_exception(e)
  if (is.null(j)) return(NA_character_)
  state <- rJava::.jcall(j, "S", "getSQLState")
  if (length(state) == 1L && !is.na(state) && nzchar(state)) state else NA_character_
}

# A failed batch reports "Batch entry 3 ... was aborted"; the server's reason
# is in the next exception of the chain.
.next_message <- function(e) {
  j <- .sql_exception(e)
  if (is.null(j)) return(NULL)
  nxt <- rJava::.jcall(j, "Ljava/sql/SQLException;", "getNextException")
  if (rJava::is.jnull(nxt)) NULL else rJava::.jcall(nxt, "S", "getMessage")
}

# Password query parameters of a JDBC URL (jdbc:...?password=...).
.redact_url <- function(url) {
  gsub("((password|pwd)=)[^&;]*", "\\1<hidden>", url, ignore.case = TRUE)
}

.redact <- function(msg, secret = NULL) {
  msg <- .redact_url(msg)
  if (!is.null(secret) && nzchar(secret)) msg <- gsub(secret, "<hidden>", msg, fixed = TRUE)
  msg
}

.stop_db <- function(message, sqlstate = NA_character_) {
  stop(structure(class = c("shadowopsdb_error", "error", "condition"),
                 list(message = message, call = NULL, sqlstate = sqlstate)))
}

# Turn an rJava error into a shadowopsdb_error with context.
.rethrow <- function(e, context, secret = NULL, context_first = FALSE) {
  if (inherits(e, "shadowopsdb_error")) stop(e)
  msg <- .java_message(e)
  nxt <- .next_message(e)
  if (!is.null(nxt) && !grepl(nxt, msg, fixed = TRUE)) msg <- paste0(msg, " (", nxt, ")")
  state <- .sql_state(e)
  if (!is.na(state)) msg <- paste0(msg, " [SQLSTATE ", state, "]")
  full <- if (context_first) paste0(context, ": ", msg) else paste0(msg, " (", context, ")")
  .stop_db(.redact(full, secret), state)
}

# Evaluate `expr` (JDBC calls), rethrowing any error with `context`.
.jdbc <- function(expr, context, secret = NULL, context_first = FALSE) {
  tryCatch(expr, error = function(e) .rethrow(e, context, secret, context_first))
}

# A short form of a statement for error messages: its first line, cut.
.sql_head <- function(sql) {
  s <- trimws(gsub("[[:space:]]+", " ", sql))
  if (nchar(s) > 60L) paste0(substr(s, 1L, 57L), "...") else s
}
