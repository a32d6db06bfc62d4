"""Drawing interviews: the answers of one group of interviews, question by question in routing
order, and one population's interviews (profile, roles, times, open texts) as an export frame.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ..edition import Codebook, Edition, Population, QualityPolicy, Question, WeightingSettings
from ..errors import EditionError, UsageError
from ..ingest import expected_columns, slot_columns
from ..routing import answer_columns, condition_mask
from ..weighting import weight_population
from .kernels import covering_ticks, partitioned, top
from .load import load_model
from .model import CODES, SHARE_TOLERANCE, PopulationModel, QuestionModel, Rates, Share, Timing, Union, alone_codes

REST = np.iinfo(np.int32).min  # the label of "ticks other codes" beside those ticked alone: never a code
DAY_START, DAY_END = 7 * 3600, 22 * 3600  # interviews start between 7:00 and 22:00
LOI_BOUNDS = (0.55, 3.0)  # complete interviews, × the median length: never taken for speeders
SPEEDER_LOI = (0.12, 0.3)  # speeders, × the median length
UNFINISHED_LOI = (0.1, 0.8)  # incomplete interviews: share of their full length before they stop
SCREENED_LOI = (0.05, 0.15)  # screened out after the profile questions, × the median length


Cells = dict[str, np.ndarray]  # export column -> codes (open texts: indices of the texts)


@dataclass(frozen=True, eq=False)
class Group:
    """Interviews answered together: the kept ones (raked weights) or the extra ones (unit weights)."""

    name: str  # keys the random streams, with the population and the question
    cells: Cells  # codes (blank: the dtype's minimum); answers are added in routing order
    weights: np.ndarray
    straight: np.ndarray  # planted straight-liners
    seed: int
    population: str
    min_grid_rows: int  # grids this long reveal a straight-liner
    avoid_lines: bool  # kept interviews under a policy that quarantines straight-liners: none may straight-line

    @property
    def size(self) -> int:
        return len(self.weights)

    def rng(self, *keys: str) -> np.random.Generator:
        return generator(self.seed, self.population, self.name, *keys)


def generator(seed: int, *keys: str) -> np.random.Generator:
    """A random stream of its own per (population, group, question): editing one question leaves the others' answers alone."""
    return np.random.default_rng([seed, *(zlib.crc32(k.encode("utf-8")) for k in keys)])


def blank_cells(n: int, dtype: type = np.int16) -> np.ndarray:
    return np.full(n, np.iinfo(dtype).min, dtype=dtype)


def is_blank(cells: np.ndarray) -> np.ndarray:
    blank: np.ndarray = cells == np.iinfo(cells.dtype).min
    return blank


def float_cells(cells: np.ndarray) -> np.ndarray:
    """Codes as the validated frame holds them: floats, NaN when blank."""
    return np.where(is_blank(cells), np.nan, cells.astype(float))


def asked_mask(group: Group, book: Codebook, q: Question) -> np.ndarray:
    """Who is asked ``q``: its routing evaluated as validation does, on the answers given so far."""
    if q.asked_if is None:
        return np.ones(group.size, bool)
    columns = [c for qid in q.asked_if.questions() for c in answer_columns(book.question(qid))]
    frame = pd.DataFrame({c: float_cells(group.cells[c]) for c in columns})
    return condition_mask(frame, book, q.asked_if)


def propensity_effect(qm: QuestionModel, group: Group, book: Codebook) -> np.ndarray:
    """Each respondent's shift of propensity from the profile (how breakdowns come to differ)."""
    effect = np.zeros(group.size)
    for var, shifts in qm.propensity.items():
        codes = group.cells[book.question(var).single_column]
        for code, shift in shifts.items():
            effect[codes == code] += shift
    return effect


def single_answers(q: Question, qm: QuestionModel, group: Group, book: Codebook, where: str) -> tuple[Cells, Cells]:
    asked = np.flatnonzero(asked_mask(group, book, q))
    score = propensity_effect(qm, group, book) + group.rng(q.id).standard_normal(group.size)
    total = group.weights[asked].sum()
    codes = blank_cells(group.size)
    codes[asked] = partitioned(asked, group.weights, dict.fromkeys(qm.codes, score), {c: s.value * total for c, s in qm.codes.items()})
    return {q.single_column: codes}, other_answers(q, qm, lambda code: codes == code, group)


def multi_answers(q: Question, qm: QuestionModel, group: Group, book: Codebook, where: str) -> tuple[Cells, Cells]:
    """Codes ticked alone first, then the unions and the other codes (:func:`covering_ticks`)."""
    codes = list(q.all_codes())
    asked = asked_mask(group, book, q)
    pool = np.flatnonzero(asked)
    total = group.weights[pool].sum()
    rng = group.rng(q.id)
    effect = propensity_effect(qm, group, book)
    scores = effect[:, None] + rng.standard_normal((group.size, len(codes)))
    # A higher propensity means ticking more: "Non, jamais" and other codes ticked alone go to the least inclined.
    reluctance = rng.standard_normal(group.size) - effect
    alone = alone_codes(q)
    rest = total * (1 - sum(qm.codes[c].value for c in alone))
    labels = partitioned(pool, group.weights, dict.fromkeys([*alone, REST], reluctance), {c: qm.codes[c].value * total for c in alone} | {REST: rest})
    ticks = np.zeros((group.size, len(codes)), bool)
    for c in alone:
        ticks[pool[labels == c], codes.index(c)] = True
    others = pool[labels == REST]
    domains = np.zeros_like(ticks)
    covers = []
    union_score = scores.mean(axis=1) + rng.standard_normal(group.size)
    for u in qm.unions.values():
        members = top(others, group.weights, union_score, u.share.value * total)
        items = [codes.index(c) for c in u.items]
        covers.append((members, items))
        domains[np.ix_(members, np.array(items, np.intp))] = True
    free = [codes.index(c) for c in codes if c not in alone and all(c not in u.items for u in qm.unions.values())]
    in_union = np.zeros(group.size, bool)
    for members, _ in covers:
        in_union[members] = True
    covers.append((others[~in_union[others]], free))
    domains[np.ix_(others, np.array(free, np.intp))] = True
    targets = np.array([0.0 if c in alone else qm.codes[c].value * total for c in codes])
    ticks |= covering_ticks(covers, domains, group.weights, scores, targets, q.max_answers or len(codes), [f"code {c}" for c in codes], where)
    return multi_columns(q, ticks, asked), other_answers(q, qm, lambda code: ticks[:, codes.index(code)], group)


def multi_columns(q: Question, ticks: np.ndarray, asked: np.ndarray) -> dict[str, np.ndarray]:
    """0/1 per code for the respondents asked, blank for the others (as validation reads them)."""
    return {q.columns[c]: np.where(asked, ticks[:, i], CODES.min).astype(np.int16) for i, c in enumerate(q.all_codes())}


def slot_cells(cells: dict[str, np.ndarray], q: Question) -> dict[str, np.ndarray]:
    """``encoding: codes``: a multi question's 0/1 columns as slot columns, each holding one ticked
    code (in code order), the rest blank. Pops the 0/1 columns."""
    codes = np.array(q.all_codes())
    ticked = np.column_stack([cells.pop(q.columns[c]) == 1 for c in codes])
    slots = np.sort(np.where(ticked, codes, CODES.max), axis=1)
    return {c: np.where(slots[:, i] < CODES.max, slots[:, i], CODES.min).astype(np.int16) for i, c in enumerate(slot_columns(q))}


def grid_answers(q: Question, qm: QuestionModel, group: Group, book: Codebook, where: str) -> tuple[Cells, Cells]:
    """Rows answered with correlated propensities; a union ("at least one row in X") covered first.

    Codes given in advance (planted straight-liners; the last row of those who would straight-line
    where the policy quarantines them) come out of each code's target before the partition.
    """
    pool = np.flatnonzero(asked_mask(group, book, q))
    total = group.weights[pool].sum()
    rng = group.rng(q.id)
    latent = np.sqrt(qm.row_correlation) * rng.standard_normal(group.size)
    scores = (propensity_effect(qm, group, book) + latent)[:, None] + np.sqrt(1 - qm.row_correlation) * rng.standard_normal((group.size, len(q.rows)))
    union = next(iter(qm.unions.values()), None)
    counted = union_rows(union, q, qm, group, pool, scores, where) if union else np.zeros((group.size, len(q.rows)), bool)
    in_union = {c: union is not None and c in union.codes for c in q.all_codes()}
    planted, line_code = planted_lines(q, qm, group, pool, where)
    avoid = group.avoid_lines and len(q.rows) >= group.min_grid_rows
    columns: dict[str, np.ndarray] = {}
    for i, r in enumerate(q.rows):
        given = blank_cells(group.size)
        given[planted] = line_code
        if avoid and union is None and i == len(q.rows) - 1:
            given = broken_lines(given, [columns[x.column] for x in q.rows[:-1]], qm.rows[r.id], pool, group.rng(q.id, "lines"))
        targets = {c: s.value * total - group.weights[given == c].sum() for c, s in qm.rows[r.id].items()}
        if min(targets.values()) < -SHARE_TOLERANCE * total:
            raise EditionError(f"row {r.id}: the codes given in advance (straight-liners) outweigh a code's share", where=where, fix="lower rates.straightliners")
        cells = given.copy()
        for side in (True, False):  # within the union's codes, then the others
            members = pool[(counted[pool, i] == side) & is_blank(given[pool])]
            part = {c: v for c, v in targets.items() if in_union[c] == side}
            if len(members):
                cells[members] = partitioned(members, group.weights, dict.fromkeys(part, scores[:, i]), part)
        columns[r.column] = cells
    if avoid and straight_lines(list(columns.values()), pool).any():
        raise EditionError(
            f"kept respondents straight-line {q.id}, which has a union: the quality policy would quarantine them and move the figures",
            where=where,
            fix="set quality.straightliner_action to flag, or lower the grid's row_correlation",
        )
    return columns, {}


def straight_lines(rows: list[np.ndarray], pool: np.ndarray) -> np.ndarray:
    """Which respondents (a mask) gave every one of these rows the same code."""
    cells = np.column_stack(rows)
    same = (cells == cells[:, :1]).all(axis=1) & ~is_blank(cells[:, 0])
    lines: np.ndarray = np.isin(np.arange(len(cells)), pool) & same
    return lines


def broken_lines(given: np.ndarray, previous: list[np.ndarray], shares: Mapping[int, Share], pool: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The last row's code given in advance to those whose previous rows all hold one code: drawn
    from the row's other codes, in proportion to their shares."""
    repeating = straight_lines(previous, pool) & is_blank(given)
    out = given.copy()
    for code in shares:
        who = np.flatnonzero(repeating & (previous[0] == code))
        others = np.array([c for c in shares if c != code])
        weights = np.array([shares[c].value for c in others])
        out[who] = rng.choice(others, size=len(who), p=weights / weights.sum())
    return out


def union_rows(union: Union, q: Question, qm: QuestionModel, group: Group, pool: np.ndarray, scores: np.ndarray, where: str) -> np.ndarray:
    """Which rows each respondent answers within the union's codes: the union first, covered by its rows."""
    total = group.weights[pool].sum()
    members = top(pool, group.weights, scores.mean(axis=1), union.share.value * total)
    rows = [r.id for r in q.rows]
    targets = np.array([sum(qm.rows[r][c].value for c in union.codes) * total if r in union.items else 0.0 for r in rows])
    items = [rows.index(r) for r in union.items]
    domains = np.zeros((group.size, len(rows)), bool)
    domains[np.ix_(members, np.array(items, np.intp))] = True
    return covering_ticks([(members, items)], domains, group.weights, scores, targets, len(rows), [f"row {r}" for r in rows], where)


def planted_lines(q: Question, qm: QuestionModel, group: Group, pool: np.ndarray, where: str) -> tuple[np.ndarray, int]:
    """The planted straight-liners asked this grid (a mask), and the code they give every row:
    the one most common in its least common row. Only grids long enough to reveal them, without a union."""
    code = max(q.base_codes(), key=lambda c: min(qm.rows[r.id][c].value for r in q.rows))
    planted = np.zeros(group.size, bool)
    if len(q.rows) >= group.min_grid_rows and not qm.unions:
        planted[pool] = group.straight[pool]
    room = min(qm.rows[r.id][code].value for r in q.rows) * group.weights[pool].sum()
    if group.weights[planted].sum() > room:
        raise EditionError(f"the straight-liners outweigh the share of code {code} in a row of {q.id}", where=where, fix="lower rates.straightliners")
    return planted, code


def numeric_answers(q: Question, qm: QuestionModel, group: Group, book: Codebook, where: str) -> tuple[Cells, Cells]:
    asked = asked_mask(group, book, q)
    score = propensity_effect(qm, group, book) + group.rng(q.id).standard_normal(group.size)
    low = -np.inf if q.minimum is None else q.minimum
    high = np.inf if q.maximum is None else q.maximum
    values = np.clip(np.rint(qm.mean + qm.sd * score), low, high)
    cells = blank_cells(group.size, np.int32)
    cells[asked] = values[asked]
    return {q.single_column: cells}, {}


def text_answers(q: Question, qm: QuestionModel, group: Group, book: Codebook, where: str) -> tuple[Cells, Cells]:
    asked = asked_mask(group, book, q)
    return {}, {q.single_column: drawn_texts(asked, len(qm.texts), group.rng(q.id, "text"))}


def other_answers(q: Question, qm: QuestionModel, ticked: Callable[[int], np.ndarray], group: Group) -> Cells:
    """Which "autre, précisez" text each respondent who ticked the other code (``ticked(code)``: a mask) writes."""
    if qm.other is None or q.other_text is None:  # load_model gives 'other' only to questions with an open-text column
        return {}
    return {q.other_text: drawn_texts(ticked(qm.other.code), len(qm.other.texts), group.rng(q.id, "text"))}


def drawn_texts(mask: np.ndarray, choices: int, rng: np.random.Generator) -> np.ndarray:
    """Index of the text written by each respondent of ``mask`` (blank for the others)."""
    return np.where(mask, rng.integers(0, choices, len(mask)), CODES.min).astype(np.int16)


ANSWERS = {"single": single_answers, "multi": multi_answers, "grid": grid_answers, "numeric": numeric_answers, "text": text_answers}


def answered(group: Group, book: Codebook, pm: PopulationModel, file: Path) -> dict[str, np.ndarray]:
    """Every question's columns for one group, in routing (codebook) order; open texts as text indices."""
    texts: dict[str, np.ndarray] = {}
    for q in book.questions:
        where = f"{file}: key '{pm.id}.questions.{q.id}' ({group.name} interviews)"
        columns, written = ANSWERS[q.type](q, pm.questions[q.id], group, book, where)
        group.cells.update(columns)
        texts.update(written)
    return group.cells | texts


# --------------------------------------------------------------------------------------------
# Interviews of one population
# --------------------------------------------------------------------------------------------

ROLES = ("complete", "speeder", "straightliner", "incomplete", "screened_out")
STATUS_OF_ROLE = {"complete": "complete", "speeder": "complete", "straightliner": "complete", "incomplete": "incomplete", "screened_out": "screened_out"}
RATE_OF_ROLE = {"straightliner": "straightliners", "speeder": "speeders", "incomplete": "incomplete", "screened_out": "screened_out"}


def interview_roles(respondents: int, rates: Rates, quality: QualityPolicy) -> tuple[np.ndarray, np.ndarray]:
    """Role (index in ROLES) of each interview and whether validation keeps it: the N kept ones first.

    Speeders and straight-liners are among the N when the quality policy keeps them (flag, keep),
    extra rows when it quarantines them.
    """
    counts = {role: round(getattr(rates, attr) * respondents) for role, attr in RATE_OF_ROLE.items()}
    kept_roles = [role for role, action in (("straightliner", quality.straightliner_action), ("speeder", quality.speeder_action)) if action != "quarantine"]
    kept: dict[str, int] = {}
    for role in kept_roles:
        kept[role] = min(counts.pop(role), respondents - sum(kept.values()))
    kept["complete"] = respondents - sum(kept.values())
    sizes = list(kept.items()) + list(counts.items())
    roles = np.concatenate([np.full(n, ROLES.index(role), np.int8) for role, n in sizes])
    return roles, np.arange(len(roles)) < respondents


def profile_cells(book: Codebook, pm: PopulationModel, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Profile codes drawn from the (skewed) sample shares."""
    return {
        q.single_column: rng.choice(np.array(list(pm.profile[q.id]), np.int16), size=n, p=np.array(list(pm.profile[q.id].values())))
        for q in book.profile
    }


def quota_filled(codes: np.ndarray, shares: Mapping[int, float], rng: np.random.Generator) -> np.ndarray:
    """A quota sample holds every category with a target: each missing one takes a respondent of the fullest one."""
    out = codes.copy()
    for code, share in shares.items():
        if share > 0 and not (out == code).any():
            values, counts = np.unique(out, return_counts=True)
            out[rng.choice(np.flatnonzero(out == values[np.argmax(counts)]))] = code
    return out


def kept_weights(cells: dict[str, np.ndarray], population: Population, settings: WeightingSettings) -> np.ndarray:
    """The weights the pipeline will give the kept interviews: calibrated to the targets, mean 1."""
    columns = [q.single_column for q in population.codebook.profile]
    frame = pd.DataFrame({c: cells[c].astype(float) for c in columns})
    return weight_population(frame, population, settings).weights


def population_cells(edition: Edition, population: Population, pm: PopulationModel, file: Path, respondents: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Codes of every export column (texts as indices) and the role of each interview, in interview order."""
    book = population.codebook
    roles, kept = interview_roles(respondents, pm.rates, edition.quality)
    profile = profile_cells(book, pm, len(roles), generator(seed, pm.id, "profile"))
    for target in population.targets.variables:
        column = book.question(target.variable).single_column
        profile[column][kept] = quota_filled(profile[column][kept], target.shares, generator(seed, pm.id, "quota", target.variable))
    cells: Cells = {}
    for name, rows in (("kept", kept), ("extra", ~kept)):
        part = {c: v[rows] for c, v in profile.items()}
        weights = kept_weights(part, population, edition.weighting) if name == "kept" else np.ones(int(rows.sum()))
        straight = roles[rows] == ROLES.index("straightliner")
        avoid = name == "kept" and edition.quality.straightliner_action == "quarantine"
        group = Group(name, part, weights, straight, seed, pm.id, edition.quality.straightliner_min_rows, avoid)
        for column, values in answered(group, book, pm, file).items():
            cells.setdefault(column, np.empty(len(roles), values.dtype))[rows] = values
    stopped_early(cells, book, roles, generator(seed, pm.id, "stop"))
    return cells, roles


def stopped_early(cells: dict[str, np.ndarray], book: Codebook, roles: np.ndarray, rng: np.random.Generator) -> None:
    """Blank what unfinished interviews never reached: all questions (screened out), or from a random one on."""
    stop = np.full(len(roles), len(book.questions))
    incomplete = roles == ROLES.index("incomplete")
    stop[incomplete] = rng.integers(1, max(len(book.questions), 2), int(incomplete.sum()))
    stop[roles == ROLES.index("screened_out")] = 0
    for i, q in enumerate(book.questions):
        for column in q.export_columns():
            cells[column][stop <= i] = np.iinfo(cells[column].dtype).min


def interview_times(roles: np.ndarray, timing: Timing, fieldwork: tuple[str, str], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Start (datetime64[s]) and length in seconds of each interview, within the fieldwork dates."""
    first, last = fieldwork_dates(fieldwork)
    n = len(roles)
    median = timing.median_seconds
    full = median * np.clip(np.exp(timing.spread * rng.standard_normal(n)), *LOI_BOUNDS)
    share = {
        "speeder": rng.uniform(*SPEEDER_LOI, n) * median / full,
        "incomplete": rng.uniform(*UNFINISHED_LOI, n),
        "screened_out": rng.uniform(*SCREENED_LOI, n) * median / full,
    }
    factor = np.ones(n)
    for role, values in share.items():
        factor = np.where(roles == ROLES.index(role), values, factor)
    loi = np.maximum(np.rint(full * factor), 1).astype(np.int64)
    days = int((last - first).astype(int)) + 1
    seconds = rng.integers(0, days, n) * 86400 + rng.integers(DAY_START, DAY_END, n)
    return first.astype("datetime64[s]") + seconds.astype("timedelta64[s]"), loi


def fieldwork_dates(fieldwork: tuple[str, str]) -> tuple[np.datetime64, np.datetime64]:
    """First and last day of the fieldwork (edition.yaml), which the interviews' times fall in."""
    fix = 'write fieldwork: {start: "YYYY-MM-DD", end: "YYYY-MM-DD"} in edition.yaml'
    try:
        first, last = (np.datetime64(d, "D") for d in fieldwork)
    except ValueError:
        raise EditionError(f"fieldwork dates {fieldwork} are not dates", fix=fix) from None
    if np.isnat(first) or np.isnat(last) or last < first:
        raise EditionError(f"fieldwork dates {fieldwork} do not make a period", fix=fix)
    return first, last


def timestamps(values: np.ndarray) -> pd.Series:
    """``YYYY-MM-DD HH:MM:SS`` texts (Arrow's cast: fast on a million rows)."""
    return pd.Series(pa.array(values).cast(pa.string()).to_pandas(), dtype="str")


def open_texts(indices: np.ndarray, choices: tuple[str, ...], template: str, ids: np.ndarray) -> pd.Series:
    """The planted open texts: the template filled with the respondent id and the drawn text."""
    out = np.full(len(indices), None, dtype=object)
    for i, text in enumerate(choices):
        rows = indices == i
        before, _, after = template.replace("{text}", text).partition("{id}")
        out[rows] = np.char.add(np.char.add(before, ids[rows]), after) if "{id}" in template else before
    return pd.Series(out, dtype="str")


def export_frame(edition: Edition, population: Population, pm: PopulationModel, file: Path, respondents: int, seed: int) -> pd.DataFrame:
    """One population's export, every interview in start order, columns as the codebook maps them."""
    book = population.codebook
    cells, roles = population_cells(edition, population, pm, file, respondents, seed)
    start, loi = interview_times(roles, pm.loi, edition.fieldwork, generator(seed, pm.id, "times"))
    order = np.argsort(start, kind="stable")
    width = max(6, len(str(len(roles))))
    ids = np.char.add(pm.id_prefix, np.char.zfill(np.arange(1, len(roles) + 1).astype(str), width))
    statuses = np.array([book.statuses[STATUS_OF_ROLE[r]] for r in ROLES])
    tech = book.columns
    columns: dict[str, Any] = {
        tech.id: pd.Series(ids, dtype="str"),
        tech.status: pd.Series(statuses[roles[order]], dtype="str"),
        tech.start: timestamps(start[order]),
        tech.end: timestamps(start[order] + loi[order].astype("timedelta64[s]")),
        tech.loi: loi[order],
    }
    text_choices = text_sources(book, pm)
    for q in book.questions:
        if q.type == "multi" and q.encoding == "codes":
            cells.update(slot_cells(cells, q))
    for column in expected_columns(book):
        if column in columns:
            continue
        values = cells.pop(column)[order]  # pop: one copy of the column at a time
        if column in text_choices:
            columns[column] = open_texts(values, text_choices[column], pm.text_template, ids)
        else:
            columns[column] = pd.arrays.IntegerArray(values, is_blank(values))
    return pd.DataFrame(columns)


def text_sources(book: Codebook, pm: PopulationModel) -> dict[str, tuple[str, ...]]:
    """Open-text column -> the texts its respondents write."""
    out: dict[str, tuple[str, ...]] = {}
    for q in book.questions:
        qm = pm.questions[q.id]
        if q.type == "text":
            out[q.single_column] = qm.texts
        elif qm.other is not None and q.other_text is not None:  # load_model gives 'other' only to questions with an open-text column
            out[q.other_text] = qm.other.texts
    return out


def check_respondents(respondents: int, edition: Edition) -> None:
    """Enough kept interviews for a quota sample: one in each category of every weighting target."""
    needed = max(sum(share > 0 for share in t.shares.values()) for p in edition.populations.values() for t in p.targets.variables)
    if respondents < needed:
        raise UsageError(f"{respondents} respondents cannot fill every weighting category (a target has {needed})", fix=f"give at least {needed} respondents (about 500 or more for the figures to come out at their printed precision)")


def synthesize(edition: Edition, population: str, *, respondents: int, seed: int) -> pd.DataFrame:
    """One population's synthetic export: ``respondents`` kept interviews plus the extra ones."""
    if population not in edition.populations:
        raise UsageError(f"unknown population '{population}'", fix=f"use one of {list(edition.populations)}")
    check_respondents(respondents, edition)
    model = load_model(edition)
    return export_frame(edition, edition.populations[population], model.populations[population], model.file, respondents, seed)
