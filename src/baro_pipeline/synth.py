"""Synthetic exports: Toluna-style interviews that reproduce an edition's published figures.

The barometer's respondent-level data is not public. ``baro synth`` writes exports in its shape
(docs/design.md §3) from the answer model of ``editions/<id>/synth.yaml`` (docs/synth.md), so that the
pipeline, once it has raked the kept interviews to the targets, finds every published figure at
its printed value. For each population:

1. the profile (quota) variables are drawn with a quota-sample skew against the targets, and the
   N interviews that validation will keep are raked (``weighting.weight_population``);
2. questions are answered in routing order. Among the respondents asked, an answer goes to those
   with the highest propensity (profile effects plus seeded noise) up to the cut whose total
   weight is closest to the target share of the asked respondents' weight; one swap across the
   cut then brings the error far below one respondent's weight (:func:`picked`);
3. multiple choice and grid "at least one of": exclusive codes first, then the declared unions
   (nets, derived indicators), each respondent of a union given one of its items (a partition),
   then the extra ticks up to each item's share, within the answer cap (:func:`covering_ticks`);
4. the interviews that validation does not keep (incomplete, screened out, and speeders or
   straight-liners when the quality policy quarantines them) are extra rows, answered by the same
   model with unit weights: they do not touch the figures.

No Python loop runs over respondents: loops run over questions, rows and codes.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pv
import pyreadstat

from .audit import printed_interval
from .edition import Codebook, Condition, Derived, Edition, Population, PublishedFigure, QualityPolicy, Question, WeightingSettings, _Node, read_yaml
from .errors import EditionError, UsageError
from .ingest import coded_columns, expected_columns, slot_columns
from .routing import answer_columns, condition_mask
from .weighting import weight_population

SYNTHETIC = "synthetic"  # the source of a share that no published figure gives
MODEL_FILE = "synth.yaml"
FORMATS = ("csv", "xlsx", "sav")
XLSX_MAX_ROWS = 1_048_575  # Excel's sheet, less the header row
SWAP_WINDOW = 64  # members on each side of a cut among which the fine-tuning swap is sought
# An implied value must sit this many points inside its printed interval, so that the generation's
# error (far below 0.01 point) cannot move it across a rounding boundary.
FIGURE_MARGIN = 0.05
SHARE_TOLERANCE = 1e-6
CODES = np.iinfo(np.int16)  # codes are held as int16 (numeric answers as int32); the minimum is a blank cell
REST = np.iinfo(np.int32).min  # the label of "ticks other codes" beside those ticked alone: never a code
DAY_START, DAY_END = 7 * 3600, 22 * 3600  # interviews start between 7:00 and 22:00
LOI_BOUNDS = (0.55, 3.0)  # complete interviews, × the median length: never taken for speeders
SPEEDER_LOI = (0.12, 0.3)  # speeders, × the median length
UNFINISHED_LOI = (0.1, 0.8)  # incomplete interviews: share of their full length before they stop
SCREENED_LOI = (0.05, 0.15)  # screened out after the profile questions, × the median length
CSV_FORBIDDEN = (";", '"', "\n", "\r")  # the CSV is written without quotes
CSV_SLICE_ROWS = 100_000


# --------------------------------------------------------------------------------------------
# The answer model (frozen values)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Share:
    """A target share of the respondents asked, and its sources: the published figures it feeds, or ("synthetic",)."""

    value: float
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Union:
    """A net or derived indicator "at least one of": its items (multi codes or grid rows) and share."""

    id: str
    items: tuple[Any, ...]  # multi: codes; grid: row ids
    codes: tuple[int, ...]  # grid: the codes that count ("in" of the derived terms); multi: the items
    share: Share


@dataclass(frozen=True)
class OtherText:
    """The "autre, précisez" code of a question and the texts drawn for its open-text column."""

    code: int
    texts: tuple[str, ...]


@dataclass(frozen=True)
class QuestionModel:
    id: str
    propensity: Mapping[str, Mapping[int, float]]  # profile variable -> code -> shift of the propensity
    codes: Mapping[int, Share]  # single, multi: share of each code
    rows: Mapping[str, Mapping[int, Share]]  # grid: per row, share of each code
    unions: Mapping[str, Union]  # multi, grid
    row_correlation: float = 0.5  # grid: correlation of the propensities of its rows
    other: OtherText | None = None
    mean: float = 0.0  # numeric
    sd: float = 1.0
    texts: tuple[str, ...] = ()  # text


@dataclass(frozen=True)
class Rates:
    """Extra interviews, per complete kept one, and planted quality problems."""

    incomplete: float = 0.06
    screened_out: float = 0.04
    speeders: float = 0.01
    straightliners: float = 0.01


@dataclass(frozen=True)
class Timing:
    median_seconds: float = 900.0  # median length of a complete interview
    spread: float = 0.3  # standard deviation of its logarithm


@dataclass(frozen=True)
class PopulationModel:
    id: str
    rates: Rates
    loi: Timing
    text_template: str  # open texts: "{text}" and optionally "{id}" (the respondent id)
    id_prefix: str  # respondent ids: prefix + zero-padded number
    profile: Mapping[str, Mapping[int, float]]  # sample share of each profile code (skewed quota sample)
    questions: Mapping[str, QuestionModel]


@dataclass(frozen=True)
class SynthModel:
    edition: str
    file: Path
    populations: Mapping[str, PopulationModel]


# --------------------------------------------------------------------------------------------
# Reading synth.yaml
# --------------------------------------------------------------------------------------------


def load_model(edition: Edition) -> SynthModel:
    """Read and check ``editions/<id>/synth.yaml`` against the codebooks and the published figures."""
    file = edition.folder / MODEL_FILE
    root = _Node(read_yaml(file), file, "").mapping(("populations",), ("populations",))
    pops = root.child("populations")
    given = entries(pops, "population ids")
    for pid in given:
        if pid not in edition.populations:
            raise pops.error(f"unknown population '{pid}'", f"use one of {list(edition.populations)}", key=str(pid))
    for pid in edition.populations:
        if pid not in given:
            raise pops.error(f"population '{pid}' has no answer model", f"add '{pid}:' with its profile and questions", key=pid)
    model = SynthModel(
        edition.id,
        file,
        MappingProxyType({pid: population_model(given[pid], edition.populations[pid]) for pid in edition.populations}),
    )
    check_figures(model, edition, pops)
    return model


def entries(node: _Node, what: str) -> dict[Any, _Node]:
    """The sub-nodes of a mapping, keyed as written (codes stay integers)."""
    if not isinstance(node.data, dict):
        raise node.error(f"expected a mapping of {what}", "write 'key: value' lines here")
    return {key: _Node(value, node.file, f"{node.path}.{key}" if node.path else str(key)) for key, value in node.data.items()}


def population_model(node: _Node, population: Population) -> PopulationModel:
    node.mapping(("rates", "loi", "text_template", "id_prefix", "profile", "questions"), ("profile", "questions"))
    book = population.codebook
    template = node.get("text_template", str, "précision libre {id} : {text}")
    check_template(template, node)
    questions = entries(node.child("questions"), "question ids")
    for qid in questions:
        if qid not in {q.id for q in book.questions}:
            close = difflib.get_close_matches(str(qid), [q.id for q in book.questions], n=1)
            raise node.error(f"unknown question '{qid}'", f"did you mean '{close[0]}'?" if close else "name a question of the codebook", key=f"questions.{qid}")
    for q in book.questions:
        if q.id not in questions:
            raise node.error(f"question {q.id} has no answer model", f"add '{q.id}:' under questions", key="questions")
    check_routing_order(book, node)
    check_code_range(book, node)
    loi = settings(node.child("loi"), Timing, upper=math.inf)
    if loi.median_seconds <= 0:
        raise node.error("loi.median_seconds must be > 0", "give the median length of an interview in seconds, e.g. 840", key="loi.median_seconds")
    return PopulationModel(
        id=population.id,
        rates=settings(node.child("rates"), Rates, upper=0.5),
        loi=loi,
        text_template=template,
        id_prefix=node.get("id_prefix", str, f"TLN-{population.id.upper()}-"),
        profile=MappingProxyType({q.id: profile_shares(node.child("profile"), q, population) for q in book.profile}),
        questions=MappingProxyType({q.id: question_model(questions[q.id], q, book) for q in book.questions}),
    )


Block = TypeVar("Block", Rates, Timing)


def settings(node: _Node, cls: type[Block], upper: float) -> Block:
    """A flat block of positive numbers (the dataclass' fields); ``upper`` bounds them."""
    if node.data is None:
        return cls()
    names = tuple(f.name for f in fields(cls))
    node.mapping(names)
    values = {key: float(node.get(key, (int, float), getattr(cls(), key))) for key in names}
    for key, value in values.items():
        if not 0 <= value <= upper:
            raise node.error(f"{key} = {value:g} is out of range", f"give a number between 0 and {upper:g}", key=key)
    return cls(**values)


def check_template(template: str, node: _Node) -> None:
    placeholders = re.findall(r"\{([^}]*)\}", template)
    if "text" not in placeholders or any(f not in ("id", "text") for f in placeholders) or placeholders.count("id") > 1:
        raise node.error(f"text_template '{template}' must hold {{text}} once, and may hold {{id}} once", "write e.g. 'précision libre {id} : {text}'", key="text_template")
    check_csv_text(template, node, "text_template")


def check_csv_text(text: str, node: _Node, key: str) -> None:
    """Open texts are written unquoted: no delimiter, quote or line break in them."""
    if any(c in text for c in CSV_FORBIDDEN):
        raise node.error(f"'{text}' holds a ';', a quote or a line break", "remove it (the CSV is written without quotes)", key=key)


def check_routing_order(book: Codebook, node: _Node) -> None:
    """Questions are answered in codebook order: routing may only read earlier questions."""
    seen = {q.id for q in book.profile}
    for q in book.questions:
        later = [qid for qid in (q.asked_if.questions() if q.asked_if else ()) if qid not in seen]
        if later:
            raise node.error(
                f"{q.id} is routed on {later[0]}, which comes after it in the codebook",
                "order the codebook's questions so that routing reads earlier questions",
                key=f"questions.{q.id}",
            )
        seen.add(q.id)


def check_code_range(book: Codebook, node: _Node) -> None:
    """Codes are held as int16 (the memory of a million interviews)."""
    for q in book.profile + book.questions:
        wide = [c for c in q.all_codes() if not CODES.min < c <= CODES.max]
        if wide:
            raise node.error(f"{q.id} has code(s) {wide} outside {CODES.min + 1}..{CODES.max}", "renumber the codes in the codebook (synthetic exports hold codes as 16-bit integers)")


def profile_shares(node: _Node, q: Question, population: Population) -> Mapping[int, float]:
    """Sample shares of a profile variable: its target shares × ``skew`` (renormalised), or ``shares``."""
    target = next((t for t in population.targets.variables if t.variable == q.id), None)
    spec = entries(node, "profile variables").get(q.id)
    if spec is None:
        if target is None:
            raise node.error(f"profile variable '{q.id}' has no target: give its sample shares", f"add '{q.id}: {{shares: {{code: share}}}}'", key=q.id)
        return MappingProxyType(dict(target.shares))
    spec.mapping(("skew", "shares"))
    if ("skew" in spec.data) == ("shares" in spec.data) or (target is None and "skew" in spec.data):
        fix = "give 'skew' (× the target share)" if target is not None else "give 'shares' (it has no target to skew)"
        raise spec.error("give exactly one of 'skew' or 'shares'", fix)
    key = "skew" if "skew" in spec.data else "shares"
    values = code_numbers(spec.child(key), q)
    if key == "shares":
        missing = [c for c in q.all_codes() if c not in values]
        if missing:
            raise spec.error(f"code(s) {missing} of {q.id} have no share", "give every code its sample share (0 if none)", key=key)
        check_sum(values.values(), spec, key)
        return MappingProxyType(values)
    assert target is not None  # refused above: a skew needs a target
    raw = {c: share * values.get(c, 1.0) for c, share in target.shares.items()}
    total = sum(raw.values())
    return MappingProxyType({c: v / total for c, v in raw.items()})


def code_numbers(node: _Node, q: Question, signed: bool = False) -> dict[int, float]:
    """``{code: number}`` over codes of ``q``: numbers >= 0, or of any sign when ``signed``."""
    out: dict[int, float] = {}
    for code, sub in entries(node, f"codes of {q.id}").items():
        if code not in q.all_codes():
            raise node.error(f"{code!r} is not a code of {q.id}", f"use codes of {q.id}: {list(q.all_codes())}", key=str(code))
        if isinstance(sub.data, bool) or not isinstance(sub.data, (int, float)) or not (signed or sub.data >= 0):
            raise sub.error(f"expected a number{'' if signed else ' >= 0'}, found {sub.data!r}", "write a number, e.g. 0.5" + (" or -0.3" if signed else ""))
        out[code] = float(sub.data)
    return out


def check_sum(values: Any, node: _Node, key: str) -> None:
    total = sum(values)
    if abs(total - 1) > SHARE_TOLERANCE:
        raise node.error(f"shares sum to {total:.6g}, not 1", "correct them so that they sum to 1", key=key)


QUESTION_KEYS = {  # type -> (allowed keys, required keys)
    "single": (("propensity", "codes", "other"), ("codes",)),
    "multi": (("propensity", "codes", "unions", "other"), ("codes",)),
    "grid": (("propensity", "rows", "unions", "row_correlation"), ("rows",)),
    "numeric": (("propensity", "mean", "sd"), ("mean", "sd")),
    "text": (("texts",), ("texts",)),
}


def question_model(node: _Node, q: Question, book: Codebook) -> QuestionModel:
    node.mapping(*QUESTION_KEYS[q.type])
    codes = code_shares(node.child("codes"), q, summed=q.type == "single") if q.type in ("single", "multi") else MappingProxyType({})
    rows: Mapping[str, Mapping[int, Share]] = MappingProxyType({})
    if q.type == "grid":
        given = entries(node.child("rows"), f"rows of {q.id}")
        for r in q.rows:
            if r.id not in given:
                raise node.error(f"row '{r.id}' of {q.id} has no shares", f"add '{r.id}: {{code: [share, source]}}'", key="rows")
        for rid in given:
            if rid not in {r.id for r in q.rows}:
                raise node.error(f"unknown row '{rid}' of {q.id}", f"use one of {[r.id for r in q.rows]}", key=f"rows.{rid}")
        rows = MappingProxyType({r.id: code_shares(given[r.id], q, summed=True) for r in q.rows})
    model = QuestionModel(
        id=q.id,
        propensity=propensity(node.child("propensity"), book),
        codes=codes,
        rows=rows,
        unions=unions(node.child("unions"), q, book),
        row_correlation=float(node.get("row_correlation", (int, float), 0.5)),
        other=other_text(node.child("other"), q),
        mean=float(node.get("mean", (int, float), 0.0)),
        sd=float(node.get("sd", (int, float), 1.0)),
        texts=texts(node, "texts") if q.type == "text" else (),
    )
    if not 0 <= model.row_correlation <= 1:
        raise node.error(f"row_correlation {model.row_correlation:g} is not in [0, 1]", "write e.g. 0.5", key="row_correlation")
    if q.other_text and model.other is None and q.type != "text":
        raise node.error(f"{q.id} has an open-text column ({q.other_text}) but no 'other'", "add other: {code: <the 'autre' code>, texts: [...]}")
    if q.type == "multi":
        check_multi(model, q, node)
    for u in model.unions.values() if q.type == "grid" else ():
        check_union_items(u, [sum(model.rows[r][c].value for c in u.codes) for r in u.items], len(q.rows), node)
    return model


def code_shares(node: _Node, q: Question, summed: bool) -> Mapping[int, Share]:
    """``{code: [share, source]}`` for every code of ``q``; a distribution sums to 1."""
    given = entries(node, f"codes of {q.id}")
    for code in given:
        if code not in q.all_codes():
            raise node.error(f"{code!r} is not a code of {q.id}", f"use codes of {q.id}: {list(q.all_codes())}", key=str(code))
    missing = [c for c in q.all_codes() if c not in given]
    if missing:
        raise node.error(f"code(s) {missing} of {q.id} have no share", "give every code [share, source] (share 0 if never given)")
    shares = {code: share(sub) for code, sub in given.items()}
    if summed:
        check_sum((s.value for s in shares.values()), node, "")
    return MappingProxyType({c: shares[c] for c in q.all_codes()})


def share(node: _Node) -> Share:
    """``[share, source, ...]``: a proportion, then ``synthetic`` or the published figures it feeds."""
    data = node.data
    if not (
        isinstance(data, list)
        and len(data) >= 2
        and isinstance(data[0], (int, float))
        and not isinstance(data[0], bool)
        and all(isinstance(x, str) for x in data[1:])
        and (SYNTHETIC not in data[1:] or len(data) == 2)
    ):
        raise node.error(f"expected [share, source, ...], found {data!r}", f"write [0.42, <published figure id>, ...] or [0.42, {SYNTHETIC}]")
    if not 0 <= data[0] <= 1:
        raise node.error(f"share {data[0]} is not between 0 and 1", "write a proportion, e.g. 0.42 for 42 %")
    return Share(float(data[0]), tuple(data[1:]))


def propensity(node: _Node, book: Codebook) -> Mapping[str, Mapping[int, float]]:
    if node.data is None:
        return MappingProxyType({})
    out = {}
    for var, sub in entries(node, "profile variables").items():
        if var not in {q.id for q in book.profile}:
            raise node.error(f"'{var}' is not a profile variable", f"use one of {[q.id for q in book.profile]}", key=str(var))
        out[var] = MappingProxyType(code_numbers(sub, book.question(var), signed=True))
    return MappingProxyType(out)


def unions(node: _Node, q: Question, book: Codebook) -> Mapping[str, Union]:
    """``{net or derived id: [share, source]}``: share of the respondents asked with at least one item."""
    if node.data is None:
        return MappingProxyType({})
    derived = {d.id: d for d in book.derived}
    nets = {n.id: n for n in q.nets}
    out: dict[str, Union] = {}
    for uid, sub in entries(node, "nets or derived indicators").items():
        if q.type == "multi" and uid in nets:
            items = nets[uid].codes
            out[uid] = Union(uid, items, items, share(sub))
        elif uid in derived:
            out[uid] = derived_union(derived[uid], q, share(sub), sub)
        else:
            raise node.error(f"'{uid}' is neither a net of {q.id} nor a derived indicator", f"use one of {list(nets) + list(derived)}", key=str(uid))
    taken = [item for u in out.values() for item in u.items]
    if len(set(taken)) < len(taken):
        raise node.error(f"the unions of {q.id} share items", "declare unions over disjoint sets of codes / rows")
    if q.type == "grid" and len(out) > 1:
        raise node.error(f"a grid holds one union at most ({q.id} has {len(out)})", "keep one")
    return MappingProxyType(out)


def derived_union(d: Derived, q: Question, value: Share, node: _Node) -> Union:
    """A derived "at least one of" over codes of this multi question or rows of this grid."""
    fix = f"a union of {q.id} is an any_of over {'its codes' if q.type == 'multi' else 'its rows, with the same in: codes'}"
    if d.rule != "any_of" or any(t.question != q.id or t.all or t.any for t in d.terms):
        raise node.error(f"derived indicator '{d.id}' is not an any_of over {q.id} alone", fix)
    if q.type == "multi":
        items = tuple(dict.fromkeys(c for t in d.terms for c in t.codes))
        return Union(d.id, items, items, value)
    if len({t.codes for t in d.terms}) != 1:
        raise node.error(f"the terms of '{d.id}' count different codes", fix)
    return Union(d.id, tuple(t.row for t in d.terms), d.terms[0].codes, value)


def other_text(node: _Node, q: Question) -> OtherText | None:
    if node.data is None:
        return None
    node.mapping(("code", "texts"), ("code", "texts"))
    if q.other_text is None:
        raise node.error(f"{q.id} has no open-text column in the codebook", f"add other_text: {q.id}_other to {q.id} in the codebook, or remove 'other'")
    code = node.get("code", int)
    if code not in q.all_codes():
        raise node.error(f"{code} is not a code of {q.id}", f"use one of {list(q.all_codes())}", key="code")
    return OtherText(code, texts(node, "texts"))


def texts(node: _Node, key: str) -> tuple[str, ...]:
    values = node.get(key, list, [])
    if not values or not all(isinstance(v, str) and v.strip() for v in values):
        raise node.error("expected a list of texts", "write e.g. [\"outil maison\", \"logiciel du cabinet\"]", key=key)
    for v in values:
        check_csv_text(v, node, key)
    return tuple(values)


def check_multi(model: QuestionModel, q: Question, node: _Node) -> None:
    """Shares a multiple-choice question can have: alone codes fit, caps hold."""
    alone = alone_codes(q)
    rest = 1 - sum(model.codes[c].value for c in alone)
    if rest < -SHARE_TOLERANCE:
        raise node.error(f"exclusive and out-of-base codes of {q.id} sum to more than 1", "lower them", key="codes")
    ticks = sum(s.value for c, s in model.codes.items() if c not in alone)
    cap = q.max_answers or len(q.all_codes()) - len(alone)
    if ticks > cap * rest + SHARE_TOLERANCE:
        raise node.error(f"codes of {q.id} sum to {ticks:.3g}, more than {cap} answer(s) × {rest:.3g} of respondents who may tick them", "lower the shares", key="codes")
    for u in model.unions.values():
        if set(u.items) & set(alone):
            raise node.error(f"union '{u.id}' holds a code ticked alone ({sorted(set(u.items) & set(alone))})", "a union is over codes ticked together", key=f"unions.{u.id}")
        check_union_items(u, [model.codes[c].value for c in u.items], cap, node)


def check_union_items(u: Union, shares: list[float], cap: int, node: _Node) -> None:
    """Each item of a union within it, and all of them within its members' answer cap."""
    if max(shares) > u.share.value + SHARE_TOLERANCE or sum(shares) > cap * u.share.value + SHARE_TOLERANCE:
        raise node.error(
            f"union '{u.id}' ({u.share.value:g}) cannot hold its items' shares {shares}",
            f"each item's share must be at most the union's, and their sum at most {cap} × the union's",
            key=f"unions.{u.id}",
        )
    if sum(shares) < u.share.value - SHARE_TOLERANCE:
        raise node.error(f"the items of union '{u.id}' sum to {sum(shares):.3g}, less than the union's {u.share.value:g}", "raise their shares or lower the union's", key=f"unions.{u.id}")


def alone_codes(q: Question) -> tuple[int, ...]:
    """Codes ticked alone: exclusive codes and not-answers out of the base."""
    return tuple(c for c in q.all_codes() if c in q.exclusive or (c in q.not_answers and not q.not_answers[c].in_base))


# --------------------------------------------------------------------------------------------
# The model against the published figures
# --------------------------------------------------------------------------------------------


def check_figures(model: SynthModel, edition: Edition, node: _Node) -> None:
    """Each published figure (but a self-contradiction) at its printed value; each source a figure it feeds."""
    cited: set[str] = set()
    for pid, pm in model.populations.items():
        book = edition.populations[pid].codebook
        for qm in pm.questions.values():
            for key, s in model_shares(qm):
                for source in s.sources:
                    check_source(source, qm.id, pid, f"{pid}.questions.{qm.id}.{key}", edition, book, node)
                cited.update(s.sources)
    for figure in edition.figures:
        if any(p.kind == "self_contradiction" for p in figure.problems):
            continue
        where = f"{figure.population} (figure {figure.id})"
        if figure.id not in cited:
            raise node.error(f"no share cites published figure '{figure.id}'", f"add {figure.id} to the sources of the shares it comes from: [share, {figure.id}]", key=where)
        value = 100 * implied_value(figure, edition, model.populations[figure.population], node)
        low, high = printed_interval(figure.value, figure.operator, edition.estimation.rounding)
        if not low + FIGURE_MARGIN <= value <= high - FIGURE_MARGIN:
            printed = ("≥" if figure.operator == ">=" else "") + f"{figure.value:g}"
            raise node.error(
                f"the shares give {value:.2f} % for figure '{figure.id}', printed {printed} %",
                f"correct the shares so that the figure lies within [{low + FIGURE_MARGIN:g}, {high - FIGURE_MARGIN:g}] %",
                key=where,
            )


def check_source(source: str, qid: str, pid: str, where: str, edition: Edition, book: Codebook, node: _Node) -> None:
    """A source is "synthetic" or a figure of the population whose value depends on the question."""
    if source == SYNTHETIC:
        return
    figure = next((f for f in edition.figures if f.id == source and f.population == pid), None)
    if figure is None:
        close = difflib.get_close_matches(source, [f.id for f in edition.figures if f.population == pid], n=1)
        raise node.error(f"source '{source}' is not a published figure of population {pid}", f"did you mean '{close[0]}'?" if close else f"name a figure id or '{SYNTHETIC}'", key=where)
    if qid not in figure_questions(figure, book):
        raise node.error(f"the share of {qid} cites figure '{source}', which does not depend on {qid}", f"cite a figure on {qid}, or '{SYNTHETIC}'", key=where)


def model_shares(qm: QuestionModel) -> list[tuple[str, Share]]:
    """Every share of a question model, with its key path."""
    return (
        [(f"codes.{c}", s) for c, s in qm.codes.items()]
        + [(f"rows.{r}.{c}", s) for r, codes in qm.rows.items() for c, s in codes.items()]
        + [(f"unions.{u.id}", u.share) for u in qm.unions.values()]
    )


def figure_questions(figure: PublishedFigure, book: Codebook) -> set[str]:
    """Questions whose shares a figure's value depends on: its item's, and those of its routing and base."""
    derived = {d.id: d for d in book.derived}
    d = derived.get(figure.indicator.question)
    own = {qid for t in d.terms for qid in t.questions()} if d else {figure.indicator.question}
    conditions = [c for c in (figure.base, d.base if d else None) if isinstance(c, Condition)]
    questions = set(own)
    for qid in list(own) + [x for c in conditions for x in c.questions()]:
        questions |= routing_questions(qid, book)
    return questions


def routing_questions(qid: str, book: Codebook) -> set[str]:
    q = book.question(qid)
    if q.asked_if is None:
        return {qid}
    return {qid}.union(*(routing_questions(x, book) for x in q.asked_if.questions()))


def implied_value(figure: PublishedFigure, edition: Edition, pm: PopulationModel, node: _Node) -> float:
    """The figure's value that the shares imply, as estimation computes it.

    An item is 1/0 on its own base (a question's: those asked with an answer in the base; a
    derived indicator's: its ``base``), NaN elsewhere; base ``all`` counts everyone outside as 0,
    a condition keeps those who meet it. The shares tell the value when each of these bases is
    everyone or the item's question's routing.
    """
    book = edition.populations[figure.population].codebook
    derived = {d.id: d for d in book.derived}
    ind = figure.indicator
    where = f"{figure.population}.questions"
    if ind.question in derived:
        d = derived[ind.question]
        q = book.question(d.terms[0].questions()[0])
        union = pm.questions[q.id].unions.get(d.id)
        if union is None:
            raise node.error(f"figure '{figure.id}' publishes derived '{d.id}', which no union of {q.id} models", f"add unions: {{{d.id}: [share, {figure.id}]}} under {q.id}", key=f"{where}.{q.id}")
        item, in_base, bases = union.share.value, 1.0, [d.base]
    else:
        q = book.question(ind.question)
        codes = (ind.code,) if ind.code is not None else next(n.codes for n in q.nets if n.id == ind.net)
        item, in_base, bases = answer_share(q, pm.questions[q.id], codes, ind.row, node, where), in_base_share(q, pm.questions[q.id], ind.row), [q.asked_if]
    if figure.base == "all":
        return reach(q.asked_if, book, pm, node, where) * item
    bases += [figure.base] if isinstance(figure.base, Condition) else []
    if any(b is not None and b != q.asked_if for b in bases):
        raise node.error(
            f"figure '{figure.id}' has a base other than everyone or the routing of {q.id}: the shares cannot tell its value",
            f"route {q.id} with the figure's base as asked_if, or publish it on base 'asked' or 'all'",
            key=f"{where}.{q.id}",
        )
    routed = any(b is not None for b in bases)  # the base is the question's routing, else everyone
    return (item if routed else reach(q.asked_if, book, pm, node, where) * item) / in_base


def answer_share(q: Question, qm: QuestionModel, codes: tuple[int, ...], row: str | None, node: _Node, where: str) -> float:
    """Share of the respondents asked who gave one of ``codes`` (one row of a grid)."""
    if q.profile:
        raise node.error(f"a figure depends on profile variable {q.id} (routing or base): the shares cannot tell its weighted share", "route on a question, not on a profile variable", key=where)
    if row is not None:  # a grid (the edition gives a row to grid items and conditions only)
        return sum(qm.rows[row][c].value for c in codes)
    if q.type == "single" or len(codes) == 1:
        return sum(qm.codes[c].value for c in codes)
    union = next((u for u in qm.unions.values() if set(u.items) == set(codes)), None)
    if union is not None:
        return union.share.value
    alone = alone_codes(q)
    if set(q.all_codes()) - set(alone) <= set(codes):  # every other respondent ticks one of them
        return 1 - sum(qm.codes[c].value for c in alone if c not in codes)
    raise node.error(
        f"{q.id}: the share ticking at least one of {list(codes)} is not fixed by the code shares",
        f"declare it under {q.id}: unions: {{<net id>: [share, source]}}",
        key=f"{where}.{q.id}",
    )


def in_base_share(q: Question, qm: QuestionModel, row: str | None) -> float:
    """Share of the respondents asked who are in the item's base (not-answers out of the base excluded)."""
    out = [c for c, na in q.not_answers.items() if not na.in_base]
    shares = qm.rows[row] if row is not None else qm.codes  # a grid's row, or the question's codes
    return 1 - sum(shares[c].value for c in out)


def reach(condition: Condition | None, book: Codebook, pm: PopulationModel, node: _Node, where: str) -> float:
    """Share of the whole population meeting a routing condition (a chain of simple conditions)."""
    if condition is None:
        return 1.0
    if condition.question is None:  # all / any
        raise node.error(
            f"routing {condition.describe()} combines conditions: the synthesis cannot tell its share",
            "publish figures of such questions on base 'asked'",
            key=where,
        )
    q = book.question(condition.question)
    share = answer_share(q, pm.questions[q.id], condition.codes, condition.row, node, where)
    return reach(q.asked_if, book, pm, node, where) * share


# --------------------------------------------------------------------------------------------
# Who answers what: the kernels
# --------------------------------------------------------------------------------------------


def ranked(pool: np.ndarray, score: np.ndarray) -> np.ndarray:
    """``pool`` from the highest score to the lowest.

    Scores hold continuous noise, so they have no ties and any sort gives the same order: the
    default (fastest) one is used.
    """
    return pool[np.argsort(-score[pool])]


def picked(ranked_pool: np.ndarray, weights: np.ndarray, target: float) -> npt.NDArray[np.bool_]:
    """Which of ``ranked_pool`` (a mask) get an answer whose total weight should be ``target``.

    The first ones, up to the cut whose cumulative weight is closest to the target; then the one
    swap of a respondent just inside the cut with one just outside that best cancels the rest of
    the error (the granularity of one respondent's weight), keeping the ranking almost intact.
    """
    w = weights[ranked_pool]
    cum = np.concatenate(([0.0], np.cumsum(w)))
    cut = min(int(np.searchsorted(cum, target)), len(w))
    if cut > 0 and abs(cum[cut - 1] - target) <= abs(cum[cut] - target):
        cut -= 1
    mask = np.zeros(len(w), bool)
    mask[:cut] = True
    error = cum[cut] - target
    inside, outside = np.arange(max(cut - SWAP_WINDOW, 0), cut), np.arange(cut, min(cut + SWAP_WINDOW, len(w)))
    if len(inside) and len(outside):
        residual = np.abs(error - (w[inside][:, None] - w[outside][None, :]))
        i, j = np.unravel_index(np.argmin(residual), residual.shape)
        if residual[i, j] < abs(error):
            mask[inside[i]], mask[outside[j]] = False, True
    return mask


def top(pool: np.ndarray, weights: np.ndarray, score: np.ndarray, target: float) -> np.ndarray:
    """The highest-scored members of ``pool`` whose total weight is closest to ``target``."""
    order = ranked(pool, score)
    return order[picked(order, weights, target)]


def partitioned(pool: np.ndarray, weights: np.ndarray, scores: Mapping[int, np.ndarray], targets: Mapping[int, float]) -> np.ndarray:
    """One label per member of ``pool``: label by label (in ``targets`` order), the highest-scored
    members left whose weight is closest to its target; the last label takes the rest."""
    labels = list(targets)
    out = np.full(len(pool), labels[-1], dtype=np.int64)
    free = np.ones(len(pool), bool)
    rankings: dict[int, np.ndarray] = {}  # labels sharing a score array share one sort
    for label in labels[:-1]:
        score = scores[label]
        if id(score) not in rankings:
            rankings[id(score)] = np.argsort(-score[pool])
        order = rankings[id(score)]
        positions = order[free[order]]
        chosen = positions[picked(pool[positions], weights, targets[label])]
        out[chosen] = label
        free[chosen] = False
    return out


def covering_ticks(
    covers: list[tuple[np.ndarray, list[int]]],
    domains: np.ndarray,
    weights: np.ndarray,
    scores: np.ndarray,
    targets: np.ndarray,
    capacity: int,
    names: list[str],
    where: str,
) -> np.ndarray:
    """Ticks (respondents × items, ``names`` for messages) with each item's total weight at its target.

    Each member of a cover ``(members, items)`` ticks at least one of its items: first one each (a
    partition, items sharing the cover in proportion to their targets), then extra ticks, item by
    item, among the respondents of its domain (``domains[:, j]``) who have not ticked it and are
    under ``capacity``.
    """
    ticks = np.zeros_like(domains, dtype=bool)
    for members, items in covers:
        weight = weights[members].sum()
        wanted = targets[items]
        if len(members) and wanted.sum() < weight * (1 - SHARE_TOLERANCE):
            raise EditionError(
                f"{', '.join(names[j] for j in items)} must cover {weight:.1f} of weight but their shares only add up to {wanted.sum():.1f}",
                where=where,
                fix="raise the shares of the codes (or rows) of that union, or lower the union's share",
            )
        if len(members) == 0:
            continue
        first = dict(sorted(zip(items, wanted * weight / wanted.sum()), key=lambda kv: -kv[1]))
        labels = partitioned(members, weights, {j: scores[:, j] for j in first}, first)
        ticks[members, labels] = True
    if (ticks.sum(axis=1) > capacity).any():
        raise EditionError(f"respondents in several unions tick more than {capacity} answer(s)", where=where, fix="raise max_answers, or declare fewer unions")
    needs = targets - np.array([weights[ticks[:, j]].sum() for j in range(ticks.shape[1])])  # no BLAS: same sums on every machine
    for j in np.argsort(-needs, kind="stable"):
        if needs[j] <= 0:
            continue
        eligible = np.flatnonzero(domains[:, j] & ~ticks[:, j] & (ticks.sum(axis=1) < capacity))
        if needs[j] > weights[eligible].sum() + 1e-9:
            raise EditionError(
                f"{names[j]}: {needs[j]:.1f} of weight still to tick but only {weights[eligible].sum():.1f} can (answer cap or union reached)",
                where=where,
                fix="lower the shares (their sum must fit within the answer cap), or raise max_answers",
            )
        ticks[top(eligible, weights, scores[:, j], needs[j]), j] = True
    return ticks


# --------------------------------------------------------------------------------------------
# Answering the questions of one group of interviews
# --------------------------------------------------------------------------------------------


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


def synthesize(edition: Edition, population: str, *, respondents: int, seed: int) -> pd.DataFrame:
    """One population's synthetic export: ``respondents`` kept interviews plus the extra ones."""
    if population not in edition.populations:
        raise UsageError(f"unknown population '{population}'", fix=f"use one of {list(edition.populations)}")
    check_respondents(respondents, edition)
    model = load_model(edition)
    return export_frame(edition, edition.populations[population], model.populations[population], model.file, respondents, seed)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def default_seed(edition: Edition) -> int:
    """The edition's own seed: its id when it is a number (2025 -> 2025), else the id's CRC-32.

    Each edition draws other interviews, so that a copied edition's trend is sampling noise, not
    zeros; the same edition always writes the same bytes.
    """
    return int(edition.id) if edition.id.isdigit() else zlib.crc32(edition.id.encode("utf-8"))


def write_exports(edition: Edition, *, out: Path, respondents: int | None = None, seed: int | None = None, fmt: str = "csv") -> tuple[Path, ...]:
    """Write ``<out>/<population>.<fmt>`` for each population; returns the files written.

    ``respondents`` is the number of complete interviews validation keeps (default: each
    population's sample size); incomplete, screened-out and quarantined interviews come on top.
    ``seed`` defaults to the edition's own (:func:`default_seed`).
    """
    seed = default_seed(edition) if seed is None else seed
    if fmt not in FORMATS:
        raise UsageError(f"unknown format '{fmt}'", fix=f"use one of {', '.join(FORMATS)}")
    if respondents is not None:
        check_respondents(respondents, edition)
    model = load_model(edition)
    out = Path(out)
    for pid, population in edition.populations.items():
        check_no_other_export(out, pid, fmt)
        rows = len(interview_roles(respondents or population.sample_size, model.populations[pid].rates, edition.quality)[0])
        if fmt == "xlsx" and rows > XLSX_MAX_ROWS:
            raise UsageError(f"{rows} interviews of population '{pid}' do not fit in an Excel sheet ({XLSX_MAX_ROWS} rows at most)", fix="use --format csv or sav")
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for pid, population in edition.populations.items():
        frame = export_frame(edition, population, model.populations[pid], model.file, respondents or population.sample_size, seed)
        paths.append(written(frame, out / f"{pid}.{fmt}", population.codebook))
        del frame  # one population in memory at a time
    return tuple(paths)


def check_respondents(respondents: int, edition: Edition) -> None:
    """Enough kept interviews for a quota sample: one in each category of every weighting target."""
    needed = max(sum(share > 0 for share in t.shares.values()) for p in edition.populations.values() for t in p.targets.variables)
    if respondents < needed:
        raise UsageError(f"{respondents} respondents cannot fill every weighting category (a target has {needed})", fix=f"give at least {needed} respondents (about 500 or more for the figures to come out at their printed precision)")


def check_no_other_export(out: Path, population: str, fmt: str) -> None:
    """A population has one export: another format beside the new one would make ingest refuse both."""
    others = sorted(p.name for p in out.glob(f"{population}.*") if p.suffix.lower().lstrip(".") in FORMATS and p.suffix.lower() != f".{fmt}")
    if others:
        raise UsageError(
            f"{out} already holds {', '.join(others)}: a {fmt} export beside it would give population '{population}' two exports",
            fix=f"remove {', '.join(others)} first, or write to another folder with --out",
        )


def written(frame: pd.DataFrame, path: Path, book: Codebook) -> Path:
    """Write to a temporary file, then move it into place: a failed write leaves no half export."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        WRITERS[path.suffix.lstrip(".")](frame, tmp, book)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_csv(frame: pd.DataFrame, path: Path, book: Codebook) -> None:
    """``;``-separated UTF-8 with a BOM, unquoted (open texts hold no ``;``, quote or line break).

    Written by Arrow in slices of rows, so that only one slice is ever converted at a time.
    """
    options = pv.WriteOptions(include_header=False, delimiter=";", quoting_style="none")
    with open(path, "wb") as sink:
        sink.write(("\ufeff" + ";".join(frame.columns) + "\n").encode("utf-8"))
        for start in range(0, len(frame), CSV_SLICE_ROWS):
            pv.write_csv(pa.Table.from_pandas(frame.iloc[start : start + CSV_SLICE_ROWS], preserve_index=False), sink, options)


def write_xlsx(frame: pd.DataFrame, path: Path, book: Codebook) -> None:
    """One sheet named after the population, column names on row 1."""
    frame.to_excel(path, sheet_name=book.population, index=False, engine="openpyxl")


def write_sav(frame: pd.DataFrame, path: Path, book: Codebook) -> None:
    """SPSS with the codebook's value labels on coded columns and question labels on every column."""
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    data = frame.astype({c: "float64" for c in frame.columns if c not in text}).astype({c: object for c in text}).fillna({c: "" for c in text})
    # arg-type: pyreadstat annotates column_labels list[str | None], which a list[str] is not (list is invariant); it only reads them.
    labels = column_labels(book, list(frame.columns))
    pyreadstat.write_sav(data, str(path), column_labels=labels, variable_value_labels=coded_columns(book))  # type: ignore[arg-type]


def column_labels(book: Codebook, columns: list[str]) -> list[str]:
    """Each column's variable label: the question's label, with the code or row it holds."""
    labels = {book.columns.id: "Identifiant répondant", book.columns.status: "Statut de l'interview", book.columns.start: "Début", book.columns.end: "Fin", book.columns.loi: "Durée (secondes)"}
    for q in book.profile + book.questions:
        if q.type == "multi":
            labels.update({q.columns[c]: f"{q.label} : {q.code_label(c)}" for c in q.all_codes()})
        elif q.type == "grid":
            labels.update({r.column: f"{q.label} : {r.label}" for r in q.rows})
        elif q.column:
            labels[q.column] = q.label
        if q.other_text:
            labels[q.other_text] = f"{q.label} : autre, précisez"
    return [labels.get(c, c)[:255] for c in columns]


WRITERS = {"csv": write_csv, "xlsx": write_xlsx, "sav": write_sav}
