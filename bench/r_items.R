# R's survey on the items of the 2025 codebooks (files written by `items_bench.py prepare`).
# Rscript bench/r_items.R DIR all|sample
# Per population (DIR/<pop>/): rake() from weights 1 on the raking variables to the same totals as
# weighting.weight_population (epsilon 1e-10, as r_standard.R), then, item by item,
#   svymean(~y, raked, na.rm = TRUE)     (NaN = outside the item's base; na.rm drops those rows
#   as design[!is.na(y), ], which for a calibrated design is R's subset(): the rows stay, weight 0)
# timed over all the items of the mode ("all" = every item, "sample" = the fixed 20-item sample).
# Untimed: the first 3 items with NaN again as svymean(~y, subset(raked, !is.na(y)), na.rm = TRUE)
# (must give the same numbers; without na.rm, subset() of a calibrated design keeps the NA rows and
# svymean returns NaN). Writes DIR/r_<mode>_<pop>.csv (j, mean, se) and DIR/<pop>/r_weights.bin;
# prints "TIMES pop rake_s svymean_s items" and "SUBSET pop max_abs_diff_mean max_abs_diff_se items".
suppressMessages(library(survey))
args <- commandArgs(TRUE); dir <- args[1]; mode <- args[2]
pops <- list.dirs(dir, full.names = FALSE, recursive = FALSE)
pops <- pops[file.exists(file.path(dir, pops, "info.csv"))]
for (pop in pops) {
  pd <- file.path(dir, pop)
  info <- read.csv(file.path(pd, "info.csv")); n <- info$n; k <- info$k; size <- info$size; V <- info$V
  items <- read.csv(file.path(pd, "items.csv"), colClasses = c(item = "character"))
  margins <- read.csv(file.path(pd, "margins.csv"))
  vars <- unique(margins$variable)
  codes <- readBin(file.path(pd, "codes.bin"), "integer", n * V, size = 4)
  d <- data.frame(row.names = NULL, w = rep(1, n))
  for (i in seq_along(vars)) {
    K <- sum(margins$variable == vars[i])
    d[[vars[i]]] <- factor(codes[((i - 1) * n + 1):(i * n)], levels = 0:(K - 1))
  }
  rm(codes)
  sel <- if (mode == "all") items$j else items$j[items$sample == 1]
  con <- file(file.path(pd, "values.bin"), "rb")
  for (j in sel) {
    seek(con, where = j * n * size)
    d[[paste0("y", j)]] <- readBin(con, "numeric", n, size = size)
  }
  close(con)
  pop_margins <- lapply(vars, function(v) {
    mm <- margins[margins$variable == v, ]
    data.frame(setNames(list(factor(mm$category, levels = levels(d[[v]]))), v), Freq = mm$total)
  })
  invisible(gc())
  des <- svydesign(ids = ~1, weights = ~w, data = d)
  rm(d)
  t0 <- proc.time()[["elapsed"]]
  rk <- rake(des, lapply(vars, function(v) as.formula(paste0("~", v))), pop_margins,
             control = list(maxit = 1000, epsilon = 1e-10, verbose = FALSE))
  t1 <- proc.time()[["elapsed"]]
  est <- numeric(length(sel)); se <- numeric(length(sel))
  for (i in seq_along(sel)) {
    y <- as.name(paste0("y", sel[i]))
    s <- svymean(as.formula(paste0("~", y)), rk, na.rm = TRUE)
    est[i] <- coef(s)[[1]]; se[i] <- SE(s)[[1]]
  }
  t2 <- proc.time()[["elapsed"]]
  out <- data.frame(j = sel, mean = sprintf("%.17g", est), se = sprintf("%.17g", se))
  write.csv(out, file.path(dir, sprintf("r_%s_%s.csv", mode, pop)), row.names = FALSE, quote = FALSE)
  writeBin(as.numeric(weights(rk)), file.path(pd, "r_weights.bin"), size = 8)
  cat(sprintf("TIMES %s %.6f %.6f %d\n", pop, t1 - t0, t2 - t1, length(sel)))
  # subset() against na.rm = TRUE: the same numbers? (untimed)
  chk <- head(sel[items$has_na[match(sel, items$j)] == 1], 3)
  dm <- 0; ds <- 0
  for (j in chk) {
    y <- as.name(paste0("y", j))
    a <- eval(bquote(svymean(~.(y), subset(rk, !is.na(.(y))), na.rm = TRUE)))
    i <- match(j, sel)
    dm <- max(dm, abs(coef(a)[[1]] - est[i])); ds <- max(ds, abs(SE(a)[[1]] - se[i]))
  }
  cat(sprintf("SUBSET %s %.3g %.3g %d\n", pop, dm, ds, length(chk)))
  rm(rk, des); invisible(gc())
}
