"""``load_edition``: read ``editions/<id>/*.yaml``, check it and build the frozen :class:`Edition`."""

from __future__ import annotations

import math
from pathlib import Path
from types import MappingProxyType

from ..errors import EditionError
from ..report_texts import LANGUAGES
from .checks import _mirrors, _unique
from .codebook import load_codebook
from .figures import load_figures
from .marks import _review_marks, is_todo, todo_marks
from .models import (
    SHARE_TOLERANCE,
    Codebook,
    Edition,
    Population,
    Targets,
    TargetVariable,
)
from .reading import _Node, read_yaml
from .settings import _estimation, _quality, _significance, _thresholds, _weighting


def load_edition(edition_id: str, root: Path = Path(".")) -> Edition:
    """Load ``<root>/editions/<edition_id>/edition.yaml`` and everything it names, checked."""
    folder = Path(root) / "editions" / str(edition_id)
    file = folder / "edition.yaml"
    if not folder.is_dir():
        known = sorted(p.name for p in (Path(root) / "editions").glob("*") if p.is_dir()) if (Path(root) / "editions").is_dir() else []
        raise EditionError(
            f"edition '{edition_id}' not found in {folder.parent}",
            fix=f"use one of {known}" if known else "run from the project folder, or pass --root DIR",
        )
    node = _Node(read_yaml(file), file, "").mapping(
        ("id", "title", "fieldwork", "exports", "previous", "dropped", "populations", "thresholds", "quality", "weighting", "estimation",
         "mirrors", "figures", "review", "language"),
        ("id", "title", "populations"),
    )
    language = node.get("language", str, "fr")
    if language not in LANGUAGES:
        raise node.error(f"no report texts in language '{language}'", f"use one of {', '.join(LANGUAGES)}", key="language")
    if str(node.data["id"]) != str(edition_id):
        raise node.error(f"id '{node.data['id']}' does not match the folder name '{edition_id}'", f"set id: \"{edition_id}\"", key="id")
    fw = node.child("fieldwork")
    fieldwork = ("", "")
    if fw.data is not None and not is_todo(fw.data):
        fw.mapping(("start", "end"), ("start", "end"))
        fieldwork = (str(fw.data["start"]), str(fw.data["end"]))
    populations = _populations(node, folder)
    figures_file = node.get("figures", str, "published.yaml")
    named = node.data.get("figures") is not None
    figures, figure_marks = load_figures(folder / figures_file, populations) if named or (folder / figures_file).exists() else ((), ())
    marks = (
        todo_marks({k: v for k, v in node.data.items() if k != "review"}, file)
        + tuple(m for p in populations.values() for m in p.codebook.marks + p.targets.marks)
        + figure_marks
        + _review_marks(node, folder)
    )
    return Edition(
        id=str(edition_id),
        title=node.get("title", str),
        folder=folder,
        fieldwork=fieldwork,
        exports=node.get("exports", str, f"raw/{edition_id}"),
        populations=MappingProxyType(populations),
        thresholds=_thresholds(node.child("thresholds")),
        quality=_quality(node.child("quality")),
        weighting=_weighting(node.child("weighting")),
        estimation=_estimation(node.child("estimation")),
        significance=_significance(node.child("estimation"), language),
        mirrors=_mirrors(node, populations),
        figures=figures,
        previous=str(node.data["previous"]) if node.data.get("previous") is not None else None,
        dropped=tuple(str(x) for x in (node.get("dropped", list, []) or [])),
        marks=marks,
        language=language,
    )


def _populations(node: _Node, folder: Path) -> dict[str, Population]:
    """edition.yaml's ``populations:``, each with its codebook and targets loaded and its breakdowns checked."""
    pops_node = node.child("populations")
    if not isinstance(pops_node.data, dict) or not pops_node.data:
        raise node.error("'populations' must map population ids to their settings", "write e.g. ps: {label: .., codebook: codebook_ps.yaml, targets: targets_ps.yaml}", key="populations")
    populations: dict[str, Population] = {}
    for pid in pops_node.data:
        p = pops_node.child(str(pid)).mapping(("label", "codebook", "targets", "breakdowns", "sample_size"), ("label", "codebook", "targets"))
        book = load_codebook(folder / p.get("codebook", str), str(pid))
        targets = load_targets(folder / p.get("targets", str), str(pid), book)
        breakdowns = tuple(str(b) for b in (p.get("breakdowns", list, []) or []))
        for b in breakdowns:
            if b not in {q.id for q in book.profile}:
                raise p.error(f"breakdown '{b}' is not a profile variable of the {pid} codebook", f"use one of {[q.id for q in book.profile]}", key="breakdowns")
        sample_size = p.get("sample_size", int, 1000)
        if sample_size < 1:
            raise p.error(f"sample_size {sample_size} is not a number of respondents", "write the planned number of interviews, e.g. 1000", key="sample_size")
        populations[str(pid)] = Population(str(pid), p.get("label", str), book, targets, breakdowns, sample_size)
    return populations


def load_targets(file: Path, population: str, codebook: Codebook) -> Targets:
    """Read weighting targets; each variable's shares must cover its codes and sum to 1."""
    root = _Node(read_yaml(file), file, "").mapping(("population", "assumptions", "variables"), ("population", "variables"))
    if root.data["population"] != population:
        raise root.error(f"targets are for population '{root.data['population']}', expected '{population}'", f"set population: {population}", key="population")
    marks = todo_marks(root.data, file, blocking=("variables",))
    if is_todo(root.data["variables"]):
        return Targets(population, (), root.get("assumptions", str, ""), marks)
    variables = []
    for node in root.items("variables"):
        node.mapping(("variable", "source", "year", "shares"), ("variable", "source", "year", "shares"))
        var = node.ident("variable")
        q = next((p for p in codebook.profile if p.id == var), None)
        if q is None:
            raise node.error(
                f"target variable '{var}' is not a profile variable of the {population} codebook",
                f"name a variable listed under 'profile:' ({', '.join(p.id for p in codebook.profile)})",
                key="variable",
            )
        shares = {}
        for k, v in node.get("shares", dict).items():
            if isinstance(k, bool) or not isinstance(k, int):
                raise node.error(f"share key {k!r} is not a code", f"key each share by a code of '{var}': {list(q.codes)}", key=f"shares.{k}")
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise node.error(f"share of code {k} is {v!r}, not a number", "write a proportion, e.g. 0.52", key=f"shares.{k}")
            shares[k] = float(v)
        missing = [c for c in q.codes if c not in shares]
        extra = [c for c in shares if c not in q.codes]
        if extra:
            raise node.error(f"shares name code(s) {extra} that '{var}' does not have", f"use its codes {list(q.codes)}", key="shares")
        if missing:
            raise node.error(f"shares miss code(s) {missing} of '{var}'", "give every category a share (0 if empty in the population)", key="shares")
        if any(s < 0 or not math.isfinite(s) for s in shares.values()):
            raise node.error("shares must be finite and >= 0", "fix the negative or missing share", key="shares")
        total = sum(shares.values())
        if abs(total - 1.0) > SHARE_TOLERANCE:
            raise node.error(f"shares of '{var}' sum to {total:.6g}, not 1", "correct the shares so that they sum to 1 (they are proportions of the population)", key="shares")
        variables.append(TargetVariable(var, MappingProxyType(shares), node.get("source", str), node.get("year", int)))
    _unique([v.variable for v in variables], root, "variables", "target variable")
    if not variables:
        raise root.error("no target variable", "list at least one variable with its shares", key="variables")
    return Targets(population, tuple(variables), root.get("assumptions", str, ""), marks)


# --------------------------------------------------------------------------------------------
# Published figures
# --------------------------------------------------------------------------------------------
