# SEs of trimmed designs, beside a reference folder made by make_reference.R (tests/conformance):
#   Rscript tests/conformance/make_trimmed.R DIR   -> DIR/trimmed.csv
# The same raking as make_reference.R (dataset.csv, margins.csv, settings.csv of DIR), then
# trimWeights(upper, lower, strict = FALSE / TRUE) and svymean / svyby(deff = "replace") of a few
# items on each trimmed design. check_reference.py checks the file when it is there.
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
rows <- list()
for (strict in c(FALSE, TRUE)) {
  tr <- trimWeights(des, upper = setting("trim_upper"), lower = setting("trim_lower"), strict = strict)
  name <- if (strict) "trim_strict" else "trim"
  for (f in c(~y_rare, ~y_mid, ~y_common, ~mr_1, ~trust)) {
    m <- svymean(f, tr, deff = "replace")
    rows[[length(rows) + 1]] <- data.frame(design = name, by = "", level = "", item = all.vars(f),
      mean = unname(coef(m)), se = unname(SE(m)), deff = unname(deff(m)))
  }
  for (f in c(~y_low, ~mr_1)) {
    b <- svyby(f, ~prof, tr, svymean, deff = "replace")
    rows[[length(rows) + 1]] <- data.frame(design = name, by = "prof", level = as.character(b$prof), item = all.vars(f),
      mean = b[[all.vars(f)]], se = unname(SE(b)), deff = b[[paste0("DEff.", all.vars(f))]])
  }
}
write.csv(do.call(rbind, rows), file.path(dir, "trimmed.csv"), row.names = FALSE)
