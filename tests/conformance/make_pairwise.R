# Pairwise contrasts of breakdown levels, beside a reference folder of ../shared/reference/make_reference.R:
#   Rscript tests/conformance/make_pairwise.R DIR   -> DIR/pairwise.csv
# The same raking as make_reference.R (dataset.csv, margins.csv, settings.csv of DIR). For a
# calibration variable (age) and a profile variable (prof), every pair of levels a - b of
# svycontrast of the levels' means with their covariance through the design and its calibration
# (diff, se; R's svyby(covmat = TRUE) + svycontrast, see below), with the t test of the same difference as the slope of
# svyglm(y ~ I(by == b)) on the two levels (t, df, p_value); and each level against the rest of
# the sample, "a - rest": svyglm(y ~ I(by == a)) on the whole sample. Items: two binary items and
# a routed one (NA when not asked: its base is subset(design, !is.na(routed))).
# check_reference.py checks the file when it is there.
suppressMessages(library(survey))
dir <- commandArgs(trailingOnly = TRUE)[1]
d <- read.csv(file.path(dir, "dataset.csv"))
mrg <- read.csv(file.path(dir, "margins.csv"))
set <- read.csv(file.path(dir, "settings.csv"))
setting <- function(name) set$value[set$name == name]
n <- nrow(d)
vars <- unique(mrg$variable)
pop <- lapply(vars, function(v) {
  t <- data.frame(mrg$category[mrg$variable == v], mrg$share[mrg$variable == v] * n)
  names(t) <- c(v, "Freq")
  t
})
des <- rake(svydesign(ids = ~1, weights = ~w0, data = d), lapply(vars, function(v) as.formula(paste0("~", v))), pop,
            control = list(maxit = setting("rake_maxit"), epsilon = setting("rake_epsilon"), verbose = FALSE))

slope_test <- function(item, indicator, design) {
  g <- svyglm(as.formula(paste(item, "~", indicator)), design)
  cf <- suppressWarnings(summary(g))$coefficients  # "zero weight" of the rows outside a subset
  list(est = cf[2, "Estimate"], se = cf[2, "Std. Error"], t = cf[2, "t value"], df = g$df.residual, p = cf[2, "Pr(>|t|)"])
}

rows <- list()
for (by in c("age", "prof")) for (item in c("y_low", "y_mid", "routed")) {
  base <- subset(des, !is.na(d[[item]]))
  # svyby(covmat = TRUE) stops on a raked design in survey 4.1.1 ("number of items to replace is
  # not a multiple of replacement length"): the same domain means and covariance as the
  # coefficients of the saturated svyglm(y ~ 0 + by) on the item's base
  means <- svyglm(as.formula(paste(item, "~ 0 +", by)), base)
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
