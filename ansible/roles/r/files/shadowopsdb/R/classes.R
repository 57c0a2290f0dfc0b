# The three DBI classes. Java objects and mutable state (open transaction,
# counters, the current result set) live in environments: S4 objects are
# values, and DBI's generics take the connection by value.

#' The shadowops warehouse DBI driver; create it with Warehouse().
setClass("WarehouseDriver", contains = "DBIDriver")

#' A connection; `state` holds jconn (java.sql.Connection), in_tx and stats.
setClass("WarehouseConnection", contains = "DBIConnection",
         slots = c(url = "character", user = "character",
                   driver_class = "character", state = "environment"))

#' A result of dbSendQuery/dbSendStatement; `state` holds the JDBC statement,
#' result set and progress.
setClass("WarehouseResult", contains = "DBIResult",
         slots = c(conn = "WarehouseConnection", sql = "character",
                   is_query = "logical", state = "environment"))

#' The driver: DBI::dbConnect(shadowopsdb::Warehouse(), ...).
Warehouse <- function() new("WarehouseDriver")

setMethod("show", "WarehouseDriver", function(object) {
  cat("<WarehouseDriver> shadowopsdb ", format(utils::packageVersion("shadowopsdb")), "\n", sep = "")
})

setMethod("show", "WarehouseConnection", function(object) {
  status <- if (dbIsValid(object)) "" else " (disconnected)"
  cat("<WarehouseConnection> ", .redact_url(object@url), " as ", object@user, status, "\n", sep = "")
})

setMethod("show", "WarehouseResult", function(object) {
  cat("<WarehouseResult> ", .sql_head(object@sql), "\n", sep = "")
})

setMethod("dbGetInfo", "WarehouseDriver", function(dbObj, ...) {
  list(driver.version = utils::packageVersion("shadowopsdb"),
       client.version = utils::packageVersion("rJava"))
})

setMethod("dbDataType", "WarehouseDriver", function(dbObj, obj, ...) .sql_types(obj))
setMethod("dbDataType", "WarehouseConnection", function(dbObj, obj, ...) .sql_types(obj))

# Column type of an R vector, in SQL that PostgreSQL and Redshift share.
# Text is VARCHAR(n) because Redshift stores TEXT as VARCHAR(256) anyway;
# n counts bytes (Redshift's unit), at least 256 so that later appends of
# slightly longer values still fit, at most Redshift's 65535.
.sql_type <- function(x) {
  if (inherits(x, "POSIXct")) return("TIMESTAMP")
  if (inherits(x, "Date")) return("DATE")
  if (is.logical(x)) return("BOOLEAN")
  if (is.integer(x) && !is.factor(x)) return("INTEGER")
  if (is.numeric(x)) return("DOUBLE PRECISION")
  if (is.character(x) || is.factor(x)) {
    bytes <- suppressWarnings(max(c(0L, nchar(as.character(x), type = "bytes")), na.rm = TRUE))
    if (bytes > 65535L) stop("text longer than 65535 bytes does not fit a VARCHAR on Redshift", call. = FALSE)
    return(sprintf("VARCHAR(%d)", max(256L, bytes)))
  }
  stop("no SQL type for R class ", paste(class(x), collapse = "/"), call. = FALSE)
}

.sql_types <- function(obj) {
  if (is.data.frame(obj)) vapply(obj, .sql_type, "") else .sql_type(obj)
}
