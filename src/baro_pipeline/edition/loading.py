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
from .reading import Place, read_document
from .schema import EditionFile, PopulationBlock, TargetBlock, TargetsFile, validated
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
    document = read_document(file)
    todo_fieldwork = isinstance(document.data, dict) and is_todo(document.data.get("fieldwork"))
    written = validated(document, EditionFile, {**document.data, "fieldwork": None} if todo_fieldwork else None)
    at = document.place()
    if written.language not in LANGUAGES:
        raise at.error(f"no report texts in language '{written.language}'", f"use one of {', '.join(LANGUAGES)}", key="language")
    if written.id != str(edition_id):
        raise at.error(f"id '{written.id}' does not match the folder name '{edition_id}'", f"set id: \"{edition_id}\"", key="id")
    fieldwork = ("", "") if written.fieldwork is None else (written.fieldwork.start, written.fieldwork.end)
    populations = _populations(written.populations, at.at("populations"), folder)
    figures_file = written.figures or "published.yaml"
    named = written.figures is not None
    figures, figure_marks = load_figures(folder / figures_file, populations) if named or (folder / figures_file).exists() else ((), ())
    marks = (
        todo_marks({k: v for k, v in document.data.items() if k != "review"}, file)
        + tuple(m for p in populations.values() for m in p.codebook.marks + p.targets.marks)
        + figure_marks
        + _review_marks(written.review, at.at("review"), folder)
    )
    return Edition(
        id=str(edition_id),
        title=written.title,
        folder=folder,
        fieldwork=fieldwork,
        exports=written.exports or f"raw/{edition_id}",
        populations=MappingProxyType(populations),
        thresholds=_thresholds(written.thresholds, at.at("thresholds")),
        quality=_quality(written.quality, at.at("quality")),
        weighting=_weighting(written.weighting, at.at("weighting")),
        estimation=_estimation(written.estimation, at.at("estimation")),
        significance=_significance(written.estimation, at.at("estimation"), written.language),
        mirrors=_mirrors(written.mirrors, at.at("mirrors"), populations),
        figures=figures,
        previous=written.previous,
        dropped=tuple(written.dropped),
        marks=marks,
        language=written.language,
    )


def _populations(blocks: dict[str, PopulationBlock], at: Place, folder: Path) -> dict[str, Population]:
    """edition.yaml's ``populations:``, each with its codebook and targets loaded and its breakdowns checked."""
    if not blocks:
        raise at.error("'populations' must map population ids to their settings", "write e.g. ps: {label: .., codebook: codebook_ps.yaml, targets: targets_ps.yaml}")
    populations: dict[str, Population] = {}
    for pid, p in blocks.items():
        book = load_codebook(folder / p.codebook, pid)
        targets = load_targets(folder / p.targets, pid, book)
        profile = [q.id for q in book.profile]
        for b in p.breakdowns:
            if b not in profile:
                raise at.error(f"breakdown '{b}' is not a profile variable of the {pid} codebook", f"use one of {profile}", key=(pid, "breakdowns"))
        if p.sample_size < 1:
            raise at.error(f"sample_size {p.sample_size} is not a number of respondents", "write the planned number of interviews, e.g. 1000", key=(pid, "sample_size"))
        populations[pid] = Population(pid, p.label, book, targets, tuple(p.breakdowns), p.sample_size)
    return populations


def load_targets(file: Path, population: str, codebook: Codebook) -> Targets:
    """Read weighting targets; each variable's shares must cover its codes and sum to 1."""
    document = read_document(file)
    todo = isinstance(document.data, dict) and is_todo(document.data.get("variables"))
    root = validated(document, TargetsFile, {**document.data, "variables": []} if todo else None)
    at = document.place()
    if root.population != population:
        raise at.error(f"targets are for population '{root.population}', expected '{population}'", f"set population: {population}", key="population")
    marks = todo_marks(document.data, file, blocking=("variables",))
    if todo:
        return Targets(population, (), root.assumptions, marks)
    variables = tuple(_target(block, at.at("variables", i), population, codebook) for i, block in enumerate(root.variables))
    _unique([v.variable for v in variables], at.at("variables"), "target variable")
    if not variables:
        raise at.error("no target variable", "list at least one variable with its shares", key="variables")
    return Targets(population, variables, root.assumptions, marks)


def _target(block: TargetBlock, at: Place, population: str, codebook: Codebook) -> TargetVariable:
    """One target variable: a profile variable, a share of the population for each of its codes, summing to 1."""
    var = block.variable
    q = next((p for p in codebook.profile if p.id == var), None)
    if q is None:
        raise at.error(
            f"target variable '{var}' is not a profile variable of the {population} codebook",
            f"name a variable listed under 'profile:' ({', '.join(p.id for p in codebook.profile)})",
            key="variable",
        )
    shares = {}
    for k, v in block.shares.items():
        if isinstance(k, bool) or not isinstance(k, int):
            raise at.error(f"share key {k!r} is not a code", f"key each share by a code of '{var}': {list(q.codes)}", key=("shares", k))
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise at.error(f"share of code {k} is {v!r}, not a number", "write a proportion, e.g. 0.52", key=("shares", k))
        shares[k] = float(v)
    missing = [c for c in q.codes if c not in shares]
    extra = [c for c in shares if c not in q.codes]
    if extra:
        raise at.error(f"shares name code(s) {extra} that '{var}' does not have", f"use its codes {list(q.codes)}", key="shares")
    if missing:
        raise at.error(f"shares miss code(s) {missing} of '{var}'", "give every category a share (0 if empty in the population)", key="shares")
    if any(s < 0 or not math.isfinite(s) for s in shares.values()):
        raise at.error("shares must be finite and >= 0", "fix the negative or missing share", key="shares")
    total = sum(shares.values())
    if abs(total - 1.0) > SHARE_TOLERANCE:
        raise at.error(f"shares of '{var}' sum to {total:.6g}, not 1", "correct the shares so that they sum to 1 (they are proportions of the population)", key="shares")
    return TargetVariable(var, MappingProxyType(shares), block.source, block.year)
