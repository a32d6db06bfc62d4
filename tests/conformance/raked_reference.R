# The raked design of a reference folder (dataset.csv, margins.csv, settings.csv), as
# make_reference.R rakes it; sourced by make_trimmed.R and make_pairwise.R, which define `dir`.
suppressMessages(library(survey))
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
