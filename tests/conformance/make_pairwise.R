# Pairwise contrasts of breakdown levels, beside a reference folder made by make_reference.R (tests/conformance):
#   Rscript tests/conformance/make_pairwise.R DIR   -> DIR/pairwise.csv
# The raked design of raked_reference.R (the same raking as make_reference.R). For a calibration
# variable (age) and a profile variable (prof), every pair of levels a - b: diff and se from
# svycontrast of the levels' means with their covariance through the design and its calibration
# (R's svyby(covmat = TRUE) + svycontrast, see below); t, df and p_value of the same difference as
# the slope of svyglm(y ~ I(by == b)) on the two levels. Then each level against the rest of the
# sample, "a - rest": svyglm(y ~ I(by == a)). Items: two binary items and a routed one (NA when not
# asked: its base is subset(design, !is.na(routed))). check_reference.py checks the file when it is there.
dir <- commandArgs(trailingOnly = TRUE)[1]
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE)))
source(file.path(here, "raked_reference.R"))  # d, setting(), des: the raked design

slope_test <- function(item, indicator, design) {
  # "observations with zero weight not used for calculating dispersion": the rows outside a
  # subset, and a dispersion that design-based SEs do not use
  g <- suppressWarnings(svyglm(as.formula(paste(item, "~", indicator)), design))
  cf <- suppressWarnings(summary(g))$coefficients
  list(est = cf[2, "Estimate"], se = cf[2, "Std. Error"], t = cf[2, "t value"], df = g$df.residual, p = cf[2, "Pr(>|t|)"])
}

rows <- list()
for (by in c("age", "prof")) for (item in c("y_low", "y_mid", "routed")) {
  base <- subset(des, !is.na(d[[item]]))
  # svyby(covmat = TRUE) stops on a raked design in survey 4.1.1 ("number of items to replace is
  # not a multiple of replacement length"): the same domain means and covariance as the
  # coefficients of the saturated svyglm(y ~ 0 + by) on the item's base
  means <- suppressWarnings(svyglm(as.formula(paste(item, "~ 0 +", by)), base))
  levels <- sort(unique(base$variables[[by]]))
  for (i in seq_along(levels)) for (j in seq_along(levels)) {
    if (i >= j) next
    weights <- setNames(numeric(length(levels)), paste0(by, levels))
    weights[c(i, j)] <- c(1, -1)
    contrast <- svycontrast(means, weights)
    pair <- subset(base, base$variables[[by]] %in% levels[c(i, j)])
    test <- slope_test(item, sprintf("I(%s == '%s')", by, levels[j]), pair)
    # the slope is b - a: the same difference, negated, and the same SE
    stopifnot(isTRUE(all.equal(-test$est, as.numeric(coef(contrast)), tolerance = 1e-9)),
              isTRUE(all.equal(test$se, as.numeric(SE(contrast)), tolerance = 1e-9)))
    rows[[length(rows) + 1]] <- data.frame(design = "rake", by = by, item = item,
      contrast = paste(levels[i], "-", levels[j]), diff = as.numeric(coef(contrast)), se = as.numeric(SE(contrast)),
      t = -test$t, df = test$df, p_value = test$p)
  }
  for (level in levels) {
    test <- slope_test(item, sprintf("I(%s == '%s')", by, level), base)
    rows[[length(rows) + 1]] <- data.frame(design = "rake", by = by, item = item,
      contrast = paste(level, "- rest"), diff = test$est, se = test$se, t = test$t, df = test$df, p_value = test$p)
  }
}
write.csv(do.call(rbind, rows), file.path(dir, "pairwise.csv"), row.names = FALSE)
