# Reference values for `endline tabulate` (issue #21), from R's survey package.
#
#   Rscript tests/reference/survey_refs.R      # from the repository root
#
# Writes the California API samples that ship with the survey package (apistrat,
# apiclus1, apiclus2; Lumley, "Complex Surveys", 2010) as CSV into tests/data/survey/,
# with replicate weights made by as.svrepdesign(), and tests/data/survey/expected.json:
# one case per design and statistic, each with the `endline tabulate` flags that declare
# the same design and the estimates R gives. tests/cli/tabulate.rs runs every case and
# compares to 1e-6 (relative).
#
# Produced with R 4.2.2 and survey 4.1-1 (Debian bookworm: r-base-core, r-cran-survey).
suppressMessages(library(survey))
suppressMessages(library(jsonlite))
out <- "tests/data/survey"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
options(survey.lonely.psu = "fail")

data(api)
yes <- function(x) as.integer(x == "Yes")

# --- The data ------------------------------------------------------------------------
strat <- data.frame(stype = apistrat$stype, dnum = apistrat$dnum, snum = apistrat$snum,
                    pw = apistrat$pw, fpc = apistrat$fpc, api00 = apistrat$api00,
                    api99 = apistrat$api99, enroll = apistrat$enroll,
                    ell = apistrat$ell, meals = apistrat$meals,
                    sch_wide = as.character(apistrat$sch.wide),
                    sch_wide_yes = yes(apistrat$sch.wide))
# Two pseudo-PSUs per stratum (alternate schools), for BRR and Fay replicate weights.
strat$half <- ave(seq_len(nrow(strat)), strat$stype, FUN = function(i) (seq_along(i) %% 2) + 1)
strat$pair <- paste(strat$stype, strat$half, sep = "-")
dpair <- svydesign(id = ~pair, strata = ~stype, weights = ~pw, data = strat)
brr <- as.svrepdesign(dpair, type = "BRR", compress = FALSE)
fay <- as.svrepdesign(dpair, type = "Fay", fay.rho = 0.3, compress = FALSE)
jkn <- as.svrepdesign(dpair, type = "JKn", compress = FALSE)
rw <- function(d, prefix) {
  w <- as.matrix(weights(d, "analysis"))
  w <- matrix(as.numeric(w), nrow = nrow(w))
  colnames(w) <- paste0(prefix, seq_len(ncol(w)))
  as.data.frame(w)
}
strat <- cbind(strat, rw(brr, "brr"), rw(fay, "fay"), rw(jkn, "jkn"))
write.csv(strat, file.path(out, "apistrat.csv"), row.names = FALSE, na = "")

clus1 <- data.frame(dnum = apiclus1$dnum, snum = apiclus1$snum, pw = apiclus1$pw,
                    fpc = apiclus1$fpc, api00 = apiclus1$api00, api99 = apiclus1$api99,
                    enroll = apiclus1$enroll, stype = as.character(apiclus1$stype),
                    ell = apiclus1$ell, meals = apiclus1$meals,
                    sch_wide_yes = yes(apiclus1$sch.wide))
# Strata with a lonely PSU: district 716 alone in stratum "B".
clus1$lstrat <- ifelse(clus1$dnum == 716, "B", ifelse(clus1$dnum < 400, "A", "C"))
dclus1 <- svydesign(id = ~dnum, weights = ~pw, data = clus1, fpc = ~fpc)
jk1 <- as.svrepdesign(dclus1, type = "JK1", compress = FALSE)
set.seed(20261204)
boot <- as.svrepdesign(dclus1, type = "bootstrap", replicates = 50, compress = FALSE)
clus1 <- cbind(clus1, rw(jk1, "jk"), rw(boot, "boot"))
write.csv(clus1, file.path(out, "apiclus1.csv"), row.names = FALSE, na = "")

clus2 <- data.frame(dnum = apiclus2$dnum, snum = apiclus2$snum, fpc1 = apiclus2$fpc1,
                    fpc2 = apiclus2$fpc2, pw = apiclus2$pw, api00 = apiclus2$api00,
                    api99 = apiclus2$api99, enroll = apiclus2$enroll,
                    ell = apiclus2$ell, meals = apiclus2$meals,
                    stype = as.character(apiclus2$stype))
write.csv(clus2, file.path(out, "apiclus2.csv"), row.names = FALSE, na = "")

# --- The cases ------------------------------------------------------------------------
cases <- list()
est <- function(statistic, variable, stat, domain = NULL, deff = TRUE) {
  se <- as.numeric(SE(stat))
  d <- if (deff) as.numeric(deff(stat)) else rep(NA, length(se))
  lapply(seq_along(se), function(i) list(
    statistic = statistic, variable = variable, domain = domain,
    estimate = as.numeric(coef(stat))[i], std_error = se[i],
    deff = if (is.na(d[i])) NULL else d[i]))
}
by_est <- function(statistic, variable, by, stat, with_deff = TRUE) {
  lv <- as.character(stat[[by]])
  se <- SE(stat)
  d <- if (with_deff) deff(stat) else NULL
  lapply(seq_along(lv), function(i) list(
    statistic = statistic, variable = variable, domain = list(var = by, level = lv[i]),
    estimate = coef(stat)[[i]], std_error = se[[i]], deff = if (with_deff) d[[i]] else NULL))
}
add <- function(name, data, args, estimates) {
  cases[[length(cases) + 1]] <<- list(name = name, data = data, args = args, estimates = estimates)
}

# Stratified, with FPC (the published example: mean api00 662.29, SE 9.4089).
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, data = strat, fpc = ~fpc)
add("stratified with fpc", "apistrat.csv",
    c("--mean", "api00,sch_wide_yes", "--total", "enroll", "--ratio", "api00/api99",
      "--weights", "pw", "--strata", "stype", "--fpc", "fpc"),
    c(est("mean", "api00", svymean(~api00, dstrat, deff = TRUE)),
      est("mean", "sch_wide_yes", svymean(~sch_wide_yes, dstrat, deff = TRUE)),
      est("total", "enroll", svytotal(~enroll, dstrat, deff = TRUE)),
      {r <- svyratio(~api00, ~api99, dstrat, deff = TRUE)
       list(list(statistic = "ratio", variable = "api00/api99", domain = NULL,
                 estimate = as.numeric(coef(r)), std_error = as.numeric(SE(r)),
                 deff = as.numeric(attr(r, "deff"))))}))
add("stratified with fpc, domains", "apistrat.csv",
    c("--mean", "api00", "--total", "enroll", "--by", "sch_wide",
      "--weights", "pw", "--strata", "stype", "--fpc", "fpc"),
    c(by_est("mean", "api00", "sch_wide", svyby(~api00, ~sch_wide, dstrat, svymean, deff = TRUE)),
      by_est("total", "enroll", "sch_wide", svyby(~enroll, ~sch_wide, dstrat, svytotal, deff = TRUE))))

# One-stage cluster, with FPC and with replacement.
add("one-stage cluster with fpc", "apiclus1.csv",
    c("--mean", "api00", "--total", "enroll", "--by", "stype", "--weights", "pw", "--psu", "dnum", "--fpc", "fpc"),
    c(by_est("mean", "api00", "stype", svyby(~api00, ~stype, dclus1, svymean, deff = TRUE)),
      by_est("total", "enroll", "stype", svyby(~enroll, ~stype, dclus1, svytotal, deff = TRUE))))
add("one-stage cluster with fpc, overall", "apiclus1.csv",
    c("--mean", "api00", "--total", "enroll", "--ratio", "api00/api99", "--weights", "pw", "--psu", "dnum", "--fpc", "fpc"),
    c(est("mean", "api00", svymean(~api00, dclus1, deff = TRUE)),
      est("total", "enroll", svytotal(~enroll, dclus1, deff = TRUE)),
      {r <- svyratio(~api00, ~api99, dclus1, deff = TRUE)
       list(list(statistic = "ratio", variable = "api00/api99", domain = NULL,
                 estimate = as.numeric(coef(r)), std_error = as.numeric(SE(r)),
                 deff = as.numeric(attr(r, "deff"))))}))
dclus1wr <- svydesign(id = ~dnum, weights = ~pw, data = clus1)
add("one-stage cluster with replacement", "apiclus1.csv",
    c("--mean", "api00", "--total", "enroll", "--weights", "pw", "--psu", "dnum"),
    c(est("mean", "api00", svymean(~api00, dclus1wr, deff = TRUE)),
      est("total", "enroll", svytotal(~enroll, dclus1wr, deff = TRUE))))

# Two-stage cluster with both FPCs (published: mean api00 670.81, SE 30.099).
dclus2 <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = clus2)
add("two-stage cluster with fpc", "apiclus2.csv",
    c("--mean", "api00", "--total", "enroll", "--psu", "dnum", "--ssu", "snum", "--fpc", "fpc1,fpc2"),
    c(est("mean", "api00", svymean(~api00, dclus2, deff = TRUE, na.rm = TRUE)),
      est("total", "enroll", svytotal(~enroll, dclus2, deff = TRUE, na.rm = TRUE))))
add("two-stage cluster with fpc, domains", "apiclus2.csv",
    c("--mean", "api00", "--by", "stype", "--psu", "dnum", "--ssu", "snum", "--fpc", "fpc1,fpc2"),
    by_est("mean", "api00", "stype", svyby(~api00, ~stype, dclus2, svymean, deff = TRUE)))
dclus2w <- svydesign(id = ~dnum + snum, weights = ~pw, data = clus2)
add("two-stage cluster with weights, with replacement", "apiclus2.csv",
    c("--mean", "api00", "--weights", "pw", "--psu", "dnum", "--ssu", "snum"),
    est("mean", "api00", svymean(~api00, dclus2w, deff = TRUE)))

# Lonely PSUs: stratum B holds one district.
for (opt in c("remove", "certainty", "average", "adjust")) {
  options(survey.lonely.psu = opt)
  dl <- svydesign(id = ~dnum, strata = ~lstrat, weights = ~pw, data = clus1)
  add(paste("lonely psu", opt), "apiclus1.csv",
      c("--mean", "api00", "--ratio", "api00/api99", "--weights", "pw", "--strata", "lstrat", "--psu", "dnum",
        "--lonely-psu", opt),
      c(est("mean", "api00", svymean(~api00, dl, deff = TRUE)),
        {r <- svyratio(~api00, ~api99, dl)
         list(list(statistic = "ratio", variable = "api00/api99", domain = NULL,
                   estimate = as.numeric(coef(r)), std_error = as.numeric(SE(r))))}))
  if (opt != "adjust") {
    # survey < 4.4 centred a lonely PSU's total at zero for "adjust", not at the grand
    # mean its documentation (and Stata's singleunit(centered)) describes: totals with
    # "adjust" are checked against that definition in the unit tests instead.
    add(paste("lonely psu", opt, "total"), "apiclus1.csv",
        c("--total", "enroll", "--weights", "pw", "--strata", "lstrat", "--psu", "dnum", "--lonely-psu", opt),
        est("total", "enroll", svytotal(~enroll, dl, deff = TRUE)))
  }
}
options(survey.lonely.psu = "fail")

# Replicate weights.
repcase <- function(name, data, d, args) {
  add(name, data, args,
      c(est("mean", "api00", svymean(~api00, d), deff = FALSE),
        est("total", "enroll", svytotal(~enroll, d), deff = FALSE),
        {r <- svyratio(~api00, ~api99, d)
         list(list(statistic = "ratio", variable = "api00/api99", domain = NULL,
                   estimate = as.numeric(coef(r)), std_error = as.numeric(SE(r))))},
        by_est("mean", "api00", "stype", svyby(~api00, ~stype, d, svymean), with_deff = FALSE)))
}
rd <- function(data, prefix, ...) svrepdesign(data = data, repweights = paste0(prefix, "[0-9]+"),
                                             weights = ~pw, combined.weights = TRUE, ...)
repcase("replicate JK1", "apiclus1.csv", rd(clus1, "jk", type = "JK1", scale = (15 - 1) / 15),
        c("--mean", "api00", "--total", "enroll", "--ratio", "api00/api99", "--by", "stype", "--weights", "pw",
          "--repweights", "jk", "--rep-type", "jk1"))
repcase("replicate bootstrap", "apiclus1.csv", rd(clus1, "boot", type = "bootstrap"),
        c("--mean", "api00", "--total", "enroll", "--ratio", "api00/api99", "--by", "stype", "--weights", "pw",
          "--repweights", "boot", "--rep-type", "bootstrap"))
repcase("replicate BRR", "apistrat.csv", rd(strat, "brr", type = "BRR"),
        c("--mean", "api00", "--total", "enroll", "--ratio", "api00/api99", "--by", "stype", "--weights", "pw",
          "--repweights", "brr", "--rep-type", "brr"))
repcase("replicate Fay", "apistrat.csv", rd(strat, "fay", type = "Fay", rho = 0.3),
        c("--mean", "api00", "--total", "enroll", "--ratio", "api00/api99", "--by", "stype", "--weights", "pw",
          "--repweights", "fay", "--rep-type", "fay", "--fay-rho", "0.3"))
jkn_rscales <- jkn$rscales
repcase("replicate JKn", "apistrat.csv", rd(strat, "jkn", type = "JKn", scale = 1, rscales = jkn_rscales),
        c("--mean", "api00", "--total", "enroll", "--ratio", "api00/api99", "--by", "stype", "--weights", "pw",
          "--repweights", "jkn", "--rep-type", "jkn", "--rep-rscales", paste(format(jkn_rscales, digits = 17), collapse = ",")))

# A proportion's logit interval (svyciprop, design degrees of freedom).
ci <- svyciprop(~sch_wide_yes, dclus1, method = "logit")
logit <- list(name = "logit interval", data = "apiclus1.csv",
              args = c("--mean", "sch_wide_yes", "--weights", "pw", "--psu", "dnum", "--fpc", "fpc"),
              estimate = as.numeric(ci), conf_low = as.numeric(attr(ci, "ci"))[1],
              conf_high = as.numeric(attr(ci, "ci"))[2], df = degf(dclus1))

# Regressions: svyglm with the fixed effects as dummies against `endline estimate` with
# them absorbed (the coefficients of interest and their design-based standard errors).
regressions <- list()
reg <- function(name, data, formula, args, fit, terms) {
  co <- summary(fit)$coefficients
  rownames(co)[rownames(co) == "(Intercept)"] <- "Intercept"
  regressions[[length(regressions) + 1]] <<- list(
    name = name, data = data, formula = formula, args = args,
    coefficients = lapply(terms, function(t) list(term = t, estimate = co[t, 1], std_error = co[t, 2])))
}
reg("stratified with fpc, stype absorbed", "apistrat.csv", "api00 ~ ell + meals | stype",
    c("--weights", "pw", "--strata", "stype", "--fpc", "fpc"),
    svyglm(api00 ~ ell + meals + stype, dstrat), c("ell", "meals"))
reg("one-stage cluster with fpc", "apiclus1.csv", "api00 ~ ell + meals",
    c("--weights", "pw", "--psu", "dnum", "--fpc", "fpc"),
    svyglm(api00 ~ ell + meals, dclus1), c("Intercept", "ell", "meals"))
reg("two-stage cluster with fpc, stype absorbed", "apiclus2.csv", "api00 ~ ell + meals | stype",
    c("--psu", "dnum", "--ssu", "snum", "--fpc", "fpc1,fpc2"),
    svyglm(api00 ~ ell + meals + stype, dclus2), c("ell", "meals"))
options(survey.lonely.psu = "average")
reg("lonely psu average, stype absorbed", "apiclus1.csv", "api00 ~ ell + meals | stype",
    c("--weights", "pw", "--strata", "lstrat", "--psu", "dnum", "--lonely-psu", "average"),
    svyglm(api00 ~ ell + meals + stype, svydesign(id = ~dnum, strata = ~lstrat, weights = ~pw, data = clus1)),
    c("ell", "meals"))
options(survey.lonely.psu = "fail")
reg("replicate JK1, stype absorbed", "apiclus1.csv", "api00 ~ ell + meals | stype",
    c("--weights", "pw", "--repweights", "jk", "--rep-type", "jk1"),
    svyglm(api00 ~ ell + meals + stype, rd(clus1, "jk", type = "JK1", scale = (15 - 1) / 15)), c("ell", "meals"))

versions <- list(R = paste(R.version$major, R.version$minor, sep = "."),
                 survey = as.character(packageVersion("survey")))
writeLines(toJSON(list(produced_by = versions, cases = cases, logit = logit, regressions = regressions),
                  auto_unbox = TRUE, digits = NA, null = "null", pretty = TRUE),
           file.path(out, "expected.json"))
cat("wrote", length(cases), "cases to", file.path(out, "expected.json"), "\n")
