# R's survey on the standard data set: rake() from weights 1 to 1e-10, then svymean of the 10 items.
# Rscript bench/r_standard.R DIR REPEATS -> DIR/r_weights.csv, DIR/r_se.csv; prints JSON-ish timing lines.
suppressMessages(library(survey))
args <- commandArgs(TRUE); dir <- args[1]; reps <- as.integer(args[2]); rake_only <- length(args) > 2 && args[3] == "rake_only"
d <- read.csv(file.path(dir, "data.csv"))
m <- read.csv(file.path(dir, "margins.csv"))
vars <- paste0("c", 1:4)
for (v in vars) d[[v]] <- factor(d[[v]], levels = sort(unique(m$category[m$variable == v])))
pop <- lapply(vars, function(v) { mm <- m[m$variable == v, ]; data.frame(setNames(list(factor(mm$category, levels = levels(d[[v]]))), v), Freq = mm$total) })
d$w <- 1
items <- as.formula(paste("~", paste0("y", 1:10, collapse = "+")))
rake_t <- c(); se_t <- c()
for (r in seq_len(reps)) {
  gc()
  des <- svydesign(ids = ~1, weights = ~w, data = d)
  t0 <- proc.time()[["elapsed"]]
  rk <- rake(des, lapply(vars, function(v) as.formula(paste0("~", v))), pop, control = list(maxit = 1000, epsilon = 1e-10, verbose = FALSE))
  t1 <- proc.time()[["elapsed"]]
  if (!rake_only) s <- svymean(items, rk)
  t2 <- proc.time()[["elapsed"]]
  rake_t <- c(rake_t, t1 - t0); se_t <- c(se_t, t2 - t1)
}
# the reference: raking converged to 1e-13 (the fixed point), untimed
rk <- rake(svydesign(ids = ~1, weights = ~w, data = d), lapply(vars, function(v) as.formula(paste0("~", v))), pop, control = list(maxit = 1000, epsilon = 1e-13, verbose = FALSE))
if (!rake_only) s <- svymean(items, rk)
writeLines(c("w", sprintf("%.17g", weights(rk))), file.path(dir, "r_weights.csv"))
if (!rake_only) {
out <- data.frame(item = paste0("y", 1:10), mean = as.numeric(coef(s)), se = as.numeric(SE(s)))
write.table(format(out, digits = 17), file.path(dir, "r_se.csv"), sep = ",", row.names = FALSE, quote = FALSE)
}
cat(sprintf("RAKE %s\n", paste(rake_t, collapse = " ")))
cat(sprintf("SE %s\n", if (rake_only) "" else paste(se_t, collapse = " ")))
cat(sprintf("MAXRSS_NOTE gc %s\n", paste(gc()[, 6], collapse = " ")))
