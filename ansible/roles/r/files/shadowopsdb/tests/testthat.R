# R CMD check entry point; scripts/test-pipeline.sh runs tests/testthat
# directly against its throwaway PostgreSQL.
library(testthat)
library(shadowopsdb)
test_check("shadowopsdb")
