# Tables: create, write, append, list, drop. Table names are quoted with
# dbQuoteIdentifier (a character name is one identifier, case kept; use
# DBI::Id(schema = , table = ) for another schema). The catalog queries use
# pg_catalog, which PostgreSQL and Redshift both have.

# name -> list(schema = NA or character, table = character, sql = quoted)
.table_name <- function(conn, name) {
  if (is(name, "Id")) {
    parts <- name@name
    schema <- if ("schema" %in% names(parts)) parts[["schema"]] else NA_character_
    table <- parts[["table"]]
  } else if (is.character(name) && length(name) == 1L && !is(name, "SQL")) {
    schema <- NA_character_
    table <- name
  } else {
    stop("a table name must be a single string or DBI::Id(schema = , table = )", call. = FALSE)
  }
  list(schema = schema, table = table, sql = as.character(dbQuoteIdentifier(conn, name)))
}

# Methods for character and Id names (DBI's own Id methods would turn an Id
# into quoted SQL, which the catalog lookup cannot take apart).
.name_classes <- c("character", "Id")

.exists_table <- function(conn, name, ...) {
  t <- .table_name(conn, name)
  # Without a schema: whatever an unqualified name would resolve to
  # (search_path, temporary tables first).
  sql <- "SELECT COUNT(*) AS n FROM pg_catalog.pg_class c
            JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND c.relname = ?"
  if (is.na(t$schema)) {
    n <- dbGetQuery(conn, paste(sql, "AND pg_catalog.pg_table_is_visible(c.oid)"), params = list(t$table))$n
  } else {
    n <- dbGetQuery(conn, paste(sql, "AND s.nspname = ?"), params = list(t$table, t$schema))$n
  }
  n > 0
}
for (cls in .name_classes) {
  setMethod("dbExistsTable", c("WarehouseConnection", cls), .exists_table)
}

setMethod("dbListTables", "WarehouseConnection", function(conn, ...) {
  dbGetQuery(conn, "SELECT c.relname AS name FROM pg_catalog.pg_class c
                      JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace
                     WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f')
                       AND s.nspname NOT IN ('pg_catalog', 'information_schema')
                       AND pg_catalog.pg_table_is_visible(c.oid)
                     ORDER BY 1")$name
})

.remove_table <- function(conn, name, ..., fail_if_missing = TRUE) {
  t <- .table_name(conn, name)
  dbExecute(conn, paste0("DROP TABLE ", if (!fail_if_missing) "IF EXISTS ", t$sql))
  invisible(TRUE)
}
for (cls in .name_classes) {
  setMethod("dbRemoveTable", c("WarehouseConnection", cls), .remove_table)
}

#' Write a data frame to a table, in one transaction (or the caller's).
#'
#' A missing table is created with columns typed by dbDataType (VARCHAR(n),
#' DOUBLE PRECISION, INTEGER, BOOLEAN, DATE, TIMESTAMP; `field.types`
#' overrides by name). overwrite = TRUE drops and recreates it,
#' append = TRUE adds to it; an existing table is an error otherwise. The
#' rows go in one JDBC batch, as with dbAppendTable.
.write_table <- function(conn, name, value, ..., overwrite = FALSE, append = FALSE, temporary = FALSE,
                         field.types = NULL, row.names = FALSE) {
  .check_row_names(row.names)
  if (overwrite && append) stop("overwrite and append cannot both be TRUE", call. = FALSE)
  t <- .table_name(conn, name)
  exists <- dbExistsTable(conn, name)
  if (exists && !overwrite && !append) {
    stop("table ", t$sql, " exists: pass overwrite = TRUE or append = TRUE", call. = FALSE)
  }
  .in_transaction(conn, {
    if (exists && overwrite) dbExecute(conn, paste("DROP TABLE", t$sql))
    if (!exists || overwrite) dbExecute(conn, .create_table_sql(conn, t, value, field.types, temporary))
    .append(conn, t, value)
  })
  invisible(TRUE)
}
for (cls in .name_classes) {
  setMethod("dbWriteTable", c("WarehouseConnection", cls, "data.frame"), .write_table)
}

.create_table_sql <- function(conn, t, value, field.types, temporary) {
  types <- .sql_types(value)
  if (!is.null(field.types)) {
    unknown <- setdiff(names(field.types), names(value))
    if (length(unknown) > 0L) stop("field.types names unknown column(s): ", paste(unknown, collapse = ", "), call. = FALSE)
    types[names(field.types)] <- field.types
  }
  cols <- paste0("  ", dbQuoteIdentifier(conn, names(value)), " ", types, collapse = ",\n")
  paste0("CREATE ", if (temporary) "TEMPORARY ", "TABLE ", t$sql, " (\n", cols, "\n)")
}

#' Append a data frame's rows to an existing table: one INSERT prepared
#' once, every row added to one JDBC batch, sent with one executeBatch, in
#' one transaction (or the caller's). Columns are matched by name.
#' @return the number of rows written.
.append_table <- function(conn, name, value, ..., row.names = NULL) {
  .check_row_names(row.names)
  if (!is.data.frame(value)) stop("value must be a data frame", call. = FALSE)
  .append(conn, .table_name(conn, name), value)
}
for (cls in .name_classes) {
  setMethod("dbAppendTable", c("WarehouseConnection", cls), .append_table)
}

.check_row_names <- function(row.names) {
  if (!is.null(row.names) && !isFALSE(row.names)) {
    stop("row.names are not supported: make them a column first", call. = FALSE)
  }
}

.append <- function(conn, t, value) {
  if (ncol(value) == 0L) stop("the data frame has no columns", call. = FALSE)
  rows <- nrow(value)
  if (rows == 0L) return(0)
  binders <- lapply(names(value), function(col) .binder(value[[col]], paste("column", col)))
  sql <- sprintf("INSERT INTO %s (%s) VALUES (%s)", t$sql,
                 paste(dbQuoteIdentifier(conn, names(value)), collapse = ", "),
                 paste(rep("?", ncol(value)), collapse = ", "))
  context <- paste("appending to", t$sql)
  .in_transaction(conn, {
    stmt <- .jdbc(rJava::.jcall(.jconn(conn), "Ljava/sql/PreparedStatement;", "prepareStatement", sql), context)
    on.exit(rJava::.jcall(stmt, "V", "close"), add = TRUE)
    for (r in seq_len(rows)) {
      .bind_row(stmt, binders, r)
      rJava::.jcall(stmt, "V", "addBatch", check = FALSE)
    }
    rJava::.jcheck()
    .execute_batch(conn, stmt, rows, context)
  })
  rows
}

rm(cls)  # the loop variable of the method registrations above
