"""The answer model of ``synth.yaml`` as frozen values, and the constants its reading and its drawing share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..edition import Question


SYNTHETIC = "synthetic"  # the source of a share that no published figure gives
SHARE_TOLERANCE = 1e-6
CODES = np.iinfo(np.int16)  # codes are held as int16 (numeric answers as int32); the minimum is a blank cell


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


def alone_codes(q: Question) -> tuple[int, ...]:
    """Codes ticked alone: exclusive codes and not-answers out of the base."""
    return tuple(c for c in q.all_codes() if c in q.exclusive or (c in q.not_answers and not q.not_answers[c].in_base))
