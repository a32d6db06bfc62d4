"""Reading ``editions/<id>/synth.yaml``: the answer model, checked against the codebooks and (:mod:`.figures`) the published figures."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import fields
from types import MappingProxyType
from typing import Any, TypeVar


from ..edition import Codebook, Derived, Edition, Population, Question, _Node, read_yaml
from .figures import check_figures
from .model import CODES, SHARE_TOLERANCE, SYNTHETIC, OtherText, PopulationModel, QuestionModel, Rates, Share, SynthModel, Timing, Union, alone_codes

MODEL_FILE = "synth.yaml"
CSV_FORBIDDEN = (";", '"', "\n", "\r")  # the CSV is written without quotes


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
