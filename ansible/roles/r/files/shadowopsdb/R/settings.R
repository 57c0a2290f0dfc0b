# The warehouse settings file: one DCF record written by the configure phase
# (mode 0600, readable by the Airflow user) with the fields below. Its path
# comes from $SHADOW_WAREHOUSE_SETTINGS, so code never hard-codes a host.

.settings_fields <- c("jdbc_url", "driver_class", "driver_jar", "user", "password")

default_settings_path <- function() {
  Sys.getenv("SHADOW_WAREHOUSE_SETTINGS", "/etc/shadowops/warehouse.dcf")
}

#' Read the warehouse settings file.
#'
#' @param path the DCF file; default $SHADOW_WAREHOUSE_SETTINGS, else
#'   /etc/shadowops/warehouse.dcf.
#' @return a list (jdbc_url, driver_class, driver_jar, user, password, path)
#'   of class "shadowopsdb_settings", whose print, format and str methods
#'   hide the password.
read_settings <- function(path = default_settings_path()) {
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
  structure(settings, class = "shadowopsdb_settings")
}

#' @export
format.shadowopsdb_settings <- function(x, ...) {
  c(paste0("<warehouse settings ", x$path, ">"),
    paste0("  jdbc_url:     ", .redact_url(x$jdbc_url)),
    paste0("  driver_class: ", x$driver_class),
    paste0("  driver_jar:   ", x$driver_jar),
    paste0("  user:         ", x$user),
    "  password:     <hidden>")
}

#' @export
print.shadowopsdb_settings <- function(x, ...) {
  writeLines(format(x))
  invisible(x)
}

# str() would otherwise walk the list and show the password.
#' @export
str.shadowopsdb_settings <- function(object, ...) {
  cat(format(object), sep = "\n")
  invisible(NULL)
}
