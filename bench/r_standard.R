# R's survey on the standard data set: rake() from weights 1 to 1e-10 (timed, REPEATS times), then the
# reference: rake() converged to 1e-13 (the fixed point, untimed) and svymean of the 10 items on it
# (timed once: its cost does not depend on the convergence, and svymean at 1e6 takes minutes).
# Rscript bench/r_standard.R DIR REPEATS [rake_only] -> DIR/r_weights.csv, DIR/r_se.csv; prints "RAKE s…" and "SE s".
suppressMessages(library(survey))
args <- commandArgs(TRUE); dir <- args[1]; reps <- as.integer(args[2]); rake_only <- length(args) > 2 && args[3] == "rake_only"
d <- read.csv(file.path(dir, "data.csv"))
m <- read.csv(file.path(dir, "margins.csv"))
vars <- paste0("c", 1:4)
for (v in vars) d[[v]] <- factor(d[[v]], levels = sort(unique(m$category[m$variable == v])))
pop <- lapply(vars, function(v) { mm <- m[m$variable == v, ]; data.frame(setNames(list(factor(mm$category, levels = levels(d[[v]]))), v), Freq = mm$total) })
d$w <- 1
items <- as.formula(paste("~", paste0("y", 1:10, collapse = "+")))
margins <- lapply(vars, function(v) as.formula(paste0("~", v)))
raked <- function(epsilon) rake(svydesign(ids = ~1, weights = ~w, data = d), margins, pop, control = list(maxit = 1000, epsilon = epsilon, verbose = FALSE))
rake_t <- c()
for (r in seq_len(reps)) {
  gc()
  t0 <- proc.time()[["elapsed"]]
  rk <- raked(1e-10)
  rake_t <- c(rake_t, proc.time()[["elapsed"]] - t0)
}
rk <- raked(1e-13)
writeLines(c("w", sprintf("%.17g", weights(rk))), file.path(dir, "r_weights.csv"))
se_t <- c()
if (!rake_only) {
  t0 <- proc.time()[["elapsed"]]
  s <- svymean(items, rk)
  se_t <- proc.time()[["elapsed"]] - t0
  out <- data.frame(item = paste0("y", 1:10), mean = as.numeric(coef(s)), se = as.numeric(SE(s)))
  write.table(format(out, digits = 17), file.path(dir, "r_se.csv"), sep = ",", row.names = FALSE, quote = FALSE)
}
cat(sprintf("RAKE %s\n", paste(rake_t, collapse = " ")))
cat(sprintf("SE %s\n", paste(se_t, collapse = " ")))
