# Reference numbers for endline's pre-trend power (Roth 2022), from the pretrends
# package's README example: the He & Wang (2017) event study that ships with the package
# as HeAndWangResults (copied to tests/data/pretrends/heandwang.json).
#
# pretrends::slope_for_power(sigma, targetPower = 0.5, tVec, referencePeriod = -1) prints
# 0.05205871 in the README. It computes the pre-test's power with mvtnorm::pmvnorm at its
# default precision (Genz-Bretz, abseps 1e-3) and finds the slope with uniroot at its
# default tolerance (1.2e-4), so that value is good to about 1e-4. This script repeats the
# computation with mvtnorm at abseps 1e-9 and uniroot at tol 1e-12, for a tight reference.
#
# Run: Rscript tests/reference/pretrends_refs.R   (needs r-cran-mvtnorm, r-cran-jsonlite)
library(mvtnorm)
library(jsonlite)
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("--file=", "", args[grep("--file=", args)])))
h <- fromJSON(file.path(here, "..", "data", "pretrends", "heandwang.json"))
sigma <- h$sigma
pre <- which(h$tVec < h$referencePeriod)
sigmaPre <- sigma[pre, pre]
rel <- h$tVec[pre] - h$referencePeriod
power <- function(slope) {
  ub <- sqrt(diag(sigmaPre)) * 1.96
  set.seed(1)
  1 - pmvnorm(mean = rel * slope, sigma = sigmaPre, lower = -ub, upper = ub,
              algorithm = GenzBretz(maxpts = 1e7, abseps = 1e-9, releps = 0))[1]
}
slope <- function(target) uniroot(function(s) power(s) - target, lower = 0,
                                  upper = 8 * max(sqrt(diag(sigmaPre))), tol = 1e-12)$root
out <- list(
  tool = paste("R", getRversion(), "mvtnorm", packageVersion("mvtnorm")),
  threshold = 1.96,
  slope_50 = slope(0.5),
  slope_80 = slope(0.8),
  power_at_0.05 = power(0.05),
  published_slope_50 = 0.05205871
)
cat(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "\n")
