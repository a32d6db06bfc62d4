#!/usr/bin/env python
"""Conformance of baro_pipeline.stats with R's survey package.

Reads a folder made by ``make_reference.R`` (dataset.csv, margins.csv, settings.csv and the
reference tables), recomputes every number of every table present with the project's functions
only, prints one JSON line per table and exits non-zero when a table is above its tolerance or
cannot be computed::

    python tests/conformance/check_reference.py --reference /work/shared/reference

``run(folder)`` does the same as a function (tests/test_conformance.py); ``load_reference`` and
``reference_designs`` are shared with the unit tests.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
try:
    import baro_pipeline  # noqa: F401
except ImportError:  # run from a checkout without the package installed
    sys.path.insert(0, str(REPO / "src"))

from scipy import special  # noqa: E402

from baro_pipeline.stats import (  # noqa: E402
    Design,
    calibrate_linear,
    calibrate_raking_bounded,
    design_from_calibration,
    domain_difference,
    jk1_rake,
    pairwise_differences,
    proportion_ci,
    rake,
    svychisq,
    svyciprop_terms,
    svymean,
    trim_weights,
    versus_rest,
)

# Relative tolerances of the reference README.
WEIGHTS_TOLERANCE = 1e-10
ESTIMATE_TOLERANCE = 1e-8
PROFILE_TOLERANCE = 1e-7  # logit, likelihood and xlogit intervals (R goes through a glm's IRLS)
OTHER_TOLERANCE = 1e-8
PROFILE_METHODS = ("logit", "likelihood", "xlogit")
INPUTS = ("dataset.csv", "margins.csv", "settings.csv")


@dataclass(frozen=True)
class Reference:
    """A reference folder's inputs, as the project's kernels take them."""

    folder: Path
    data: pd.DataFrame
    codes: tuple  # one int array per calibration variable, categories in margins.csv order
    totals: tuple  # population totals per category: share x n
    settings: dict

    @property
    def base_weights(self) -> np.ndarray:
        return self.data["w0"].to_numpy(dtype=float)

    def table(self, name: str) -> pd.DataFrame:
        return pd.read_csv(self.folder / name)

    def items(self, names) -> np.ndarray:
        """Item columns of the dataset (n, k); ``trust3`` is the indicator of trust == 3, as R names it."""
        return np.column_stack([item_values(self.data, name) for name in names])

    def domain(self, variable: str, level: str) -> np.ndarray:
        return self.data[variable].astype(str).to_numpy() == str(level)

    @cached_property
    def calibrations(self) -> dict:
        return calibrations(self)

    @cached_property
    def designs(self) -> dict:
        return reference_designs(self)


@dataclass(frozen=True)
class TableCheck:
    table: str
    rows: int
    max_rel_diff: float
    tolerance: float
    part: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and self.max_rel_diff <= self.tolerance

    def json(self) -> str:
        line = {"table": self.table, "rows": self.rows, "max_rel_diff": self.max_rel_diff, "tolerance": self.tolerance, "ok": self.ok}
        if self.part:
            line["part"] = self.part
        if self.error:
            line["error"] = self.error
        return json.dumps(line)


def load_reference(folder) -> Reference:
    folder = Path(folder)
    data = pd.read_csv(folder / "dataset.csv")
    margins = pd.read_csv(folder / "margins.csv")
    settings = pd.read_csv(folder / "settings.csv").set_index("name")["value"].to_dict()
    codes, totals = [], []
    for variable, rows in margins.groupby("variable", sort=False):
        codes.append(pd.Categorical(data[variable], categories=rows["category"]).codes.astype(np.intp))
        totals.append(rows["share"].to_numpy(dtype=float) * len(data))
    return Reference(folder, data, tuple(codes), tuple(totals), settings)


def item_values(data: pd.DataFrame, name: str) -> np.ndarray:
    """A numeric column, or the indicator of a level where R appends it to the name (trust3)."""
    column = max((c for c in data.columns if name.startswith(c)), key=len)
    level = name[len(column) :]
    if not level:
        return data[column].to_numpy(dtype=float)
    return np.where(data[column].isna(), np.nan, (data[column].astype(str) == level).astype(float))


def calibrations(ref: Reference) -> dict:
    """The calibrations of the reference, by the name of their weights.csv column."""
    tol, bounds = ref.settings["rake_epsilon"], (ref.settings["bounds_low"], ref.settings["bounds_high"])
    return {
        "rake": rake(ref.codes, ref.totals, ref.base_weights, tol=tol, max_iter=int(ref.settings["rake_maxit"])),
        "linear": calibrate_linear(ref.codes, ref.totals, ref.base_weights),
        "raking_bounded": calibrate_raking_bounded(ref.codes, ref.totals, ref.base_weights, bounds=bounds, tol=tol),
    }


def reference_designs(ref: Reference) -> dict[str, Design]:
    """The designs of svymean.csv: w0 (uncalibrated), rake, linear, raking_bounded."""
    designs = {"w0": Design(ref.base_weights)}
    designs.update({name: design_from_calibration(result, ref.codes, ref.base_weights) for name, result in ref.calibrations.items()})
    return designs


def max_relative_difference(computed, expected) -> float:
    """Largest |computed - expected| / |expected| (absolute where expected is 0; NaN only matches NaN)."""
    computed, expected = np.asarray(computed, dtype=float).ravel(), np.asarray(expected, dtype=float).ravel()
    both_nan = np.isnan(computed) & np.isnan(expected)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.abs(computed - expected) / np.where(expected == 0, 1.0, np.abs(expected))
    diff = np.where(both_nan, 0.0, np.where(np.isnan(diff), np.inf, diff))
    return float(diff.max(initial=0.0))


def compare(table: str, expected: pd.DataFrame, computed: dict, tolerance: float, part: str = "") -> TableCheck:
    """Check the computed columns against the same columns of the reference rows."""
    diff = max(max_relative_difference(values, expected[column]) for column, values in computed.items())
    return TableCheck(table, len(expected), diff, tolerance, part)


# --------------------------------------------------------------------------------------------
# One function per reference table
# --------------------------------------------------------------------------------------------


def trimmed_designs(ref: Reference) -> dict[str, Design]:
    """``trimWeights(rake design, upper, lower, strict = FALSE / TRUE)`` of settings.csv, as designs
    that keep the raked weights for the variance (R's trimmed design keeps the raking's margins)."""
    raked = ref.calibrations["rake"].weights
    bounds = {"lower": ref.settings["trim_lower"], "upper": ref.settings["trim_upper"]}
    return {
        name: design_from_calibration(trim_weights(raked, **bounds, strict=strict), ref.codes, ref.base_weights, calibrated_weights=raked)
        for name, strict in (("trim", False), ("trim_strict", True))
    }


def check_weights(ref: Reference) -> list[TableCheck]:
    expected = ref.table("weights.csv").set_index("id").loc[ref.data["id"]]
    weights = {name: result.weights for name, result in ref.calibrations.items()}
    weights.update({name: design.weights for name, design in trimmed_designs(ref).items()})
    weights["w0"] = ref.base_weights
    return [compare("weights.csv", expected, {c: weights[c] for c in expected.columns}, WEIGHTS_TOLERANCE)]


def check_svymean(ref: Reference) -> list[TableCheck]:
    expected = ref.table("svymean.csv")
    designs = ref.designs
    computed = {"mean": [], "se": [], "deff": []}
    rows = []
    for name, group in expected.groupby("design", sort=False):
        result = svymean(designs[name], ref.items(group["item"]))
        rows.append(group)
        for column, field in (("mean", "estimate"), ("se", "se"), ("deff", "deff")):
            computed[column].append(getattr(result, field))
    computed = {c: np.concatenate(v) for c, v in computed.items()}
    return [compare("svymean.csv", pd.concat(rows), computed, ESTIMATE_TOLERANCE)]


def check_svyciprop(ref: Reference) -> list[TableCheck]:
    expected = ref.table("svyciprop.csv")
    design = ref.designs["rake"]
    items = list(dict.fromkeys(expected["item"]))
    y = ref.items(items)
    estimates = svymean(design, y)
    terms = svyciprop_terms(design, estimates, y)
    computed = {"estimate": [], "ci_low": [], "ci_high": [], "df": []}
    for _, row in expected.iterrows():
        j = items.index(row["item"])
        low, high = proportion_ci(
            estimates.estimate[j], estimates.se[j], n=estimates.n[j], df=estimates.df[j], method=row["method"], level=row["level"],
            terms=terms_of(terms, j),
        )
        # R's logit and likelihood report the glm's estimate, expit(IRLS coefficient)
        estimate = special.expit(terms.coefficient[j]) if row["method"] in ("logit", "likelihood") else estimates.estimate[j]
        for column, value in (("estimate", estimate), ("ci_low", low), ("ci_high", high), ("df", estimates.df[j])):
            computed[column].append(float(value))
    profile = expected["method"].isin(PROFILE_METHODS).to_numpy()
    return [
        compare("svyciprop.csv", expected[mask], {c: np.array(v)[mask] for c, v in computed.items()}, tolerance, part)
        for mask, tolerance, part in ((profile, PROFILE_TOLERANCE, "logit/likelihood/xlogit"), (~profile, OTHER_TOLERANCE, "asin/beta/mean"))
    ]


def terms_of(terms, j):
    return type(terms)(*(np.asarray(getattr(terms, f))[j] for f in terms.__dataclass_fields__))


def means_by_domain(ref: Reference, table: str, designs: dict[str, Design]) -> list[TableCheck]:
    """A table of svymean / svyby rows (design, by, level, item, mean, se, deff); an empty ``by``
    is the whole sample."""
    expected = ref.table(table)
    computed = {"mean": [], "se": [], "deff": []}
    rows = []
    for (design, by, item), group in expected.groupby(["design", "by", "item"], sort=False, dropna=False):
        whole = pd.isna(by) or by == ""
        domains = None if whole else np.column_stack([ref.domain(by, level) for level in group["level"]])
        result = svymean(designs[design], ref.items([item]), domains)
        rows.append(group)
        for column, field in (("mean", "estimate"), ("se", "se"), ("deff", "deff")):
            computed[column].append(getattr(result, field).reshape(-1))
    return [compare(table, pd.concat(rows), {c: np.concatenate(v) for c, v in computed.items()}, ESTIMATE_TOLERANCE)]


def check_svyby(ref: Reference) -> list[TableCheck]:
    return means_by_domain(ref, "svyby.csv", ref.designs)


def check_trimmed(ref: Reference) -> list[TableCheck]:
    """trimmed.csv (tests/conformance/make_trimmed.R): svymean and svyby on the trimmed designs."""
    return means_by_domain(ref, "trimmed.csv", trimmed_designs(ref))


def check_domain(ref: Reference) -> list[TableCheck]:
    expected = ref.table("domain.csv")
    design = ref.designs["rake"]
    computed = {c: [] for c in ("n", "routed_answered", "mean", "se", "deff", "ci_low_logit", "ci_high_logit")}
    for _, row in expected.iterrows():
        variable, level = (part.strip() for part in row["domain"].split("=="))
        domain = ref.domain(variable, level)[:, None]
        y = ref.items([row["item"]])
        result = svymean(design, y, domain)
        terms = svyciprop_terms(design, result, y, domain)
        low, high = proportion_ci(result.estimate, result.se, n=result.n, df=result.df, method="logit", level=0.95, terms=terms)  # svyciprop's default, as make_reference.R ran it
        values = (domain.sum(), (~np.isnan(y)).sum(), result.estimate, result.se, result.deff, low, high)
        for column, value in zip(computed, values):
            computed[column].append(float(np.ravel(value)[0]))
    return [compare("domain.csv", expected, computed, ESTIMATE_TOLERANCE)]


def check_contrast(ref: Reference) -> list[TableCheck]:
    expected = ref.table("contrast.csv")
    design = ref.designs["rake"]
    computed = {c: [] for c in ("diff", "se", "t", "df", "p_value")}
    for _, row in expected.iterrows():
        first, second = (level.strip() for level in row["contrast"].split(" - "))
        variable = grouping_column(ref.data, first, second)
        result = domain_difference(design, ref.items([row["item"]]), ref.domain(variable, first), ref.domain(variable, second))
        for column, field in zip(computed, ("diff", "se", "t", "df", "p")):
            computed[column].append(float(getattr(result, field)[0]))
    return [compare("contrast.csv", expected, computed, OTHER_TOLERANCE)]


def check_pairwise(ref: Reference) -> list[TableCheck]:
    """pairwise.csv (tests/conformance/make_pairwise.R): every pair of levels of a breakdown, a - b,
    in one :func:`pairwise_differences` call per breakdown and item; each level against the rest
    of the sample, "a - rest", in one :func:`versus_rest` call."""
    expected = ref.table("pairwise.csv")
    design = ref.designs["rake"]
    computed = {c: [] for c in ("diff", "se", "t", "df", "p_value")}
    rows = []
    for (by, item, rest), group in expected.groupby(["by", "item", expected["contrast"].str.endswith(" - rest")], sort=False):
        sides = [c.split(" - ") for c in group["contrast"]]
        levels = list(dict.fromkeys(level for pair in sides for level in pair if level != "rest"))
        domains = np.column_stack([ref.domain(by, level) for level in levels])
        if rest:
            result = versus_rest(design, ref.items([item]), domains)
        else:
            result = pairwise_differences(design, ref.items([item]), domains, [[levels.index(a), levels.index(b)] for a, b in sides])
        rows.append(group)
        for column, field in zip(computed, ("diff", "se", "t", "df", "p")):
            computed[column].append(getattr(result, field)[:, 0])
    return [compare("pairwise.csv", pd.concat(rows), {c: np.concatenate(v) for c, v in computed.items()}, OTHER_TOLERANCE)]


def grouping_column(data: pd.DataFrame, *levels: str) -> str:
    """The dataset's column whose values include every level (sex for F - M)."""
    return next(c for c in data.columns if not pd.api.types.is_numeric_dtype(data[c]) and set(levels) <= set(data[c].astype(str)))


def check_svychisq(ref: Reference) -> list[TableCheck]:
    expected = ref.table("svychisq.csv")
    design = ref.designs["rake"]
    computed = {c: [] for c in ("value", "ndf", "ddf", "df", "p_value")}
    for _, row in expected.iterrows():
        a, b = (pd.factorize(ref.data[v], sort=True)[0] for v in row["formula"].split(" x "))
        result = svychisq(design, a, b, statistic=row["statistic"])
        for column in computed:
            computed[column].append(getattr(result, column))
    return [compare("svychisq.csv", expected, computed, OTHER_TOLERANCE)]


def check_jk1(ref: Reference) -> list[TableCheck]:
    expected = ref.table("jk1.csv")
    result = jk1_rake(ref.codes, ref.totals, ref.base_weights, ref.items(expected["item"]), tol=ref.settings["rake_epsilon"])
    return [compare("jk1.csv", expected, {"mean": result.estimate, "se": result.se}, ESTIMATE_TOLERANCE)]


def api_design(ref, name: str) -> tuple[Design, pd.DataFrame]:
    """R's api data sets as designs: apistrat (strata stype), apiclus1 (clusters dnum), with fpc."""
    data = pd.read_csv(ref.folder / f"{name}.csv")
    design = Design(
        data["pw"].to_numpy(dtype=float),
        strata=data["stype"].to_numpy() if name == "apistrat" else None,
        clusters=data["dnum"].to_numpy() if name == "apiclus1" else None,
        fpc=data["fpc"].to_numpy(dtype=float),
    )
    return design, data


def check_api(ref: Reference) -> list[TableCheck]:
    """R's textbook designs: apistrat (strata, fpc) and apiclus1 (one-stage clusters, fpc), deff = TRUE."""
    expected = ref.table("api.csv")
    computed = {"mean": [], "se": [], "deff": []}
    rows = []
    for name, group in expected.groupby("design", sort=False):
        design, data = api_design(ref, name)
        result = svymean(design, np.column_stack([item_values(data, item) for item in group["item"]]), deff="without_replacement")
        rows.append(group)
        for column, field in (("mean", "estimate"), ("se", "se"), ("deff", "deff")):
            computed[column].append(getattr(result, field))
    return [compare("api.csv", pd.concat(rows), {c: np.concatenate(v) for c, v in computed.items()}, ESTIMATE_TOLERANCE)]


CHECKS: dict[str, tuple[Callable, float]] = {
    "weights.csv": (check_weights, WEIGHTS_TOLERANCE),
    "svymean.csv": (check_svymean, ESTIMATE_TOLERANCE),
    "svyciprop.csv": (check_svyciprop, PROFILE_TOLERANCE),
    "svyby.csv": (check_svyby, ESTIMATE_TOLERANCE),
    "domain.csv": (check_domain, ESTIMATE_TOLERANCE),
    "contrast.csv": (check_contrast, OTHER_TOLERANCE),
    "svychisq.csv": (check_svychisq, OTHER_TOLERANCE),
    "jk1.csv": (check_jk1, ESTIMATE_TOLERANCE),
    "api.csv": (check_api, ESTIMATE_TOLERANCE),
    "trimmed.csv": (check_trimmed, ESTIMATE_TOLERANCE),
    "pairwise.csv": (check_pairwise, OTHER_TOLERANCE),
}


def run(folder) -> list[TableCheck]:
    """Every check of the tables present in the folder; a table that fails to compute is not ok."""
    ref = load_reference(folder)
    results = []
    for table, (check, tolerance) in CHECKS.items():
        if not (ref.folder / table).exists():
            continue
        try:
            results.extend(check(ref))
        except Exception as exc:  # noqa: BLE001 - reported as a failed table, the other tables still run
            results.append(TableCheck(table, 0, float("inf"), tolerance, error=f"{type(exc).__name__}: {exc}"))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, type=Path, help="folder written by make_reference.R")
    args = parser.parse_args(argv)
    missing = [name for name in INPUTS if not (args.reference / name).exists()]
    if missing:
        print(json.dumps({"error": f"no {', '.join(missing)} in {args.reference}", "ok": False}))
        return 2
    results = run(args.reference)
    for result in results:
        print(result.json())
    return 0 if results and all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
