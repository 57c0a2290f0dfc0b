# Connecting. The driver object is instantiated and asked to connect
# directly: java.sql.DriverManager cannot see classes that rJava's class
# loader loaded from the jar.

#' Connect to the warehouse.
#'
#' @param drv Warehouse().
#' @param settings the settings file (path) or read_settings()'s result.
#' @param login_timeout seconds to wait for the connection and login as a
#'   whole (JDBC loginTimeout; also the TCP connectTimeout).
#' @param socket_timeout seconds a single read from the server may take
#'   before the connection is given up (JDBC socketTimeout); 0 waits forever.
#'   The default, 10 minutes, ends a hung statement well before Airflow's
#'   task timeout.
#' @param properties further JDBC connection properties, a named list.
setMethod("dbConnect", "WarehouseDriver",
  function(drv, settings = default_settings_path(), login_timeout = 10, socket_timeout = 600,
           properties = list(), ...) {
    if (!inherits(settings, "shadowopsdb_settings")) settings <- read_settings(settings)
    .check_seconds(login_timeout, "login_timeout")
    .check_seconds(socket_timeout, "socket_timeout")
    if (!file.exists(settings$driver_jar)) {
      stop("JDBC driver jar not found: ", settings$driver_jar, call. = FALSE)
    }
    .start_jvm(settings$driver_jar)
    driver <- tryCatch(
      rJava::.jnew(gsub(".", "/", settings$driver_class, fixed = TRUE)),
      error = function(e) {
        stop("cannot load JDBC driver class ", settings$driver_class, " from ",
             settings$driver_jar, ": ", .java_message(e), call. = FALSE)
      })
    # pgJDBC and the Redshift JDBC driver (a pgJDBC descendant) share these
    # names, all in seconds. reWriteBatchedInserts turns a batch of INSERTs
    # into multi-row INSERTs: one statement per 128 rows instead of one per
    # row, which matters most on Redshift.
    props <- c(list(user = settings$user, password = settings$password,
                    loginTimeout = login_timeout, connectTimeout = login_timeout,
                    socketTimeout = socket_timeout, reWriteBatchedInserts = "true"),
               properties)
    jprops <- rJava::.jnew("java/util/Properties")
    for (key in names(props)) {
      value <- props[[key]]
      if (is.numeric(value)) value <- format(as.integer(ceiling(value)))
      rJava::.jcall(jprops, "Ljava/lang/Object;", "setProperty", key, as.character(value))
    }
    context <- paste0("cannot connect to ", .redact_url(settings$jdbc_url), " as ", settings$user)
    jconn <- .jdbc(rJava::.jcall(driver, "Ljava/sql/Connection;", "connect", settings$jdbc_url, jprops),
                   context, secret = settings$password, context_first = TRUE)
    if (rJava::is.jnull(jconn)) {
      # Driver.connect returns null when the URL is not for this driver.
      stop("driver ", settings$driver_class, " does not accept URL ",
           .redact_url(settings$jdbc_url), call. = FALSE)
    }
    state <- new.env(parent = emptyenv())
    state$jconn <- jconn
    state$in_tx <- FALSE
    state$stats <- c(statements = 0, batches = 0, batch_rows = 0)
    conn <- new("WarehouseConnection", url = settings$jdbc_url, user = settings$user,
                driver_class = settings$driver_class, state = state)
    # `shadowops compare` runs each version of a pipeline in a schema of its
    # own: the schema file beside the settings names it, and unqualified
    # table names then resolve there (search_path works the same on Redshift).
    schema <- .schema_override(settings$path)
    if (nzchar(schema)) {
      DBI::dbExecute(conn, paste0("SET search_path TO ", DBI::dbQuoteIdentifier(conn, schema)))
    }
    conn
  })

# The schema named in `warehouse.schema` beside the settings file, or "".
.schema_override <- function(settings_path) {
  if (is.null(settings_path)) return("")
  f <- file.path(dirname(settings_path), "warehouse.schema")
  if (!file.exists(f)) return("")
  line <- trimws(readLines(f, n = 1L, warn = FALSE))
  if (length(line) == 0L) "" else line
}

#' Shorthand: connect(settings, ...) is dbConnect(Warehouse(), settings, ...).
connect <- function(settings = default_settings_path(), ...) {
  DBI::dbConnect(Warehouse(), settings = settings, ...)
}

.check_seconds <- function(x, name) {
  if (!is.numeric(x) || length(x) != 1L || is.na(x) || x < 0) {
    stop(name, " must be a number of seconds >= 0", call. = FALSE)
  }
}

# Start the JVM (once per R process) with the driver jar on the class path.
# UTC as the JVM's zone: the drivers then read and write TIMESTAMP (without
# time zone) as UTC wall-clock time and send TimeZone=UTC to the server, so
# POSIXct values round-trip whatever the host's zone. Set both at start and
# afterwards, because .jinit ignores its arguments when a JVM already runs.
#
# Every task is a short R process that starts its own JVM: the client
# compiler only and the serial collector cut the JVM's start-up CPU by ~12 %
# (docs/bench.md, session 6), which counts when several envs share 2 cores.
# A pipeline that moves much data through the JVM in one process can set
# options(shadowopsdb.jvm_options = character()) for the JVM's defaults.
.start_jvm <- function(jar) {
  jvm <- getOption("shadowopsdb.jvm_options", c("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"))
  rJava::.jinit(classpath = jar, parameters = c("-Duser.timezone=UTC", jvm))
  rJava::.jaddClassPath(jar)
  utc <- rJava::.jcall("java/util/TimeZone", "Ljava/util/TimeZone;", "getTimeZone", "UTC")
  rJava::.jcall("java/util/TimeZone", "V", "setDefault", utc)
}

.jconn <- function(conn) {
  jconn <- conn@state$jconn
  if (is.null(jconn)) stop("the connection is closed (dbDisconnect was called)", call. = FALSE)
  jconn
}

.count <- function(conn, what, n = 1) {
  conn@state$stats[[what]] <- conn@state$stats[[what]] + n
}

#' Counters of JDBC calls on this connection: statements executed, JDBC
#' batches sent (executeBatch calls) and rows sent in batches. Lets tests
#' (and the curious) check that a write was one batch.
jdbc_stats <- function(conn) as.list(conn@state$stats)

# Safe to call twice, as from on.exit handlers. An open transaction is
# rolled back by the server when the connection closes.
setMethod("dbDisconnect", "WarehouseConnection", function(conn, ...) {
  jconn <- conn@state$jconn
  if (!is.null(jconn)) {
    try(rJava::.jcall(jconn, "V", "close"), silent = TRUE)
    conn@state$jconn <- NULL
    conn@state$in_tx <- FALSE
  }
  invisible(TRUE)
})

setMethod("dbIsValid", "WarehouseConnection", function(dbObj, ...) {
  jconn <- dbObj@state$jconn
  !is.null(jconn) && !isTRUE(tryCatch(rJava::.jcall(jconn, "Z", "isClosed"), error = function(e) TRUE))
})

setMethod("dbGetInfo", "WarehouseConnection", function(dbObj, ...) {
  meta <- .jdbc(rJava::.jcall(.jconn(dbObj), "Ljava/sql/DatabaseMetaData;", "getMetaData"),
                "reading connection metadata")
  list(dbname = rJava::.jcall(.jconn(dbObj), "S", "getCatalog"),
       db.version = rJava::.jcall(meta, "S", "getDatabaseProductVersion"),
       username = dbObj@user,
       url = .redact_url(dbObj@url),
       driver = dbObj@driver_class,
       driver.version = rJava::.jcall(meta, "S", "getDriverVersion"))
})

# Transactions: JDBC has no BEGIN; autocommit off is an open transaction.
# dbWithTransaction (DBI's default method) is built on these three.
setMethod("dbBegin", "WarehouseConnection", function(conn, ...) {
  if (conn@state$in_tx) stop("a transaction is already open on this connection", call. = FALSE)
  .jdbc(rJava::.jcall(.jconn(conn), "V", "setAutoCommit", FALSE), "dbBegin")
  conn@state$in_tx <- TRUE
  invisible(TRUE)
})

setMethod("dbCommit", "WarehouseConnection", function(conn, ...) {
  if (!conn@state$in_tx) stop("no transaction is open: call dbBegin first", call. = FALSE)
  jconn <- .jconn(conn)
  .jdbc(rJava::.jcall(jconn, "V", "commit"), "dbCommit")
  conn@state$in_tx <- FALSE
  .jdbc(rJava::.jcall(jconn, "V", "setAutoCommit", TRUE), "dbCommit")
  invisible(TRUE)
})

setMethod("dbRollback", "WarehouseConnection", function(conn, ...) {
  if (!conn@state$in_tx) stop("no transaction is open: call dbBegin first", call. = FALSE)
  jconn <- .jconn(conn)
  # Leave the transaction state whatever happens: a broken connection
  # cannot roll back, and the server discards the transaction anyway.
  conn@state$in_tx <- FALSE
  .jdbc(rJava::.jcall(jconn, "V", "rollback"), "dbRollback")
  .jdbc(rJava::.jcall(jconn, "V", "setAutoCommit", TRUE), "dbRollback")
  invisible(TRUE)
})

# Run `code` in a transaction unless the caller has one open (then it is
# part of theirs): what dbWriteTable and dbAppendTable use.
.in_transaction <- function(conn, code) {
  if (conn@state$in_tx) return(force(code))
  dbWithTransaction(conn, code)
}
