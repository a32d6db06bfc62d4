# SEs of trimmed designs, beside a reference folder made by make_reference.R (tests/conformance):
#   Rscript tests/conformance/make_trimmed.R DIR   -> DIR/trimmed.csv
# The raked design of raked_reference.R (the same raking as make_reference.R), then
# trimWeights(upper, lower, strict = FALSE / TRUE) and svymean / svyby(deff = "replace") of a few
# items on each trimmed design. check_reference.py checks the file when it is there.
dir <- commandArgs(trailingOnly = TRUE)[1]
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE)))
source(file.path(here, "raked_reference.R"))  # d, setting(), des: the raked design
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
