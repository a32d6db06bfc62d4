"""The edition as data: load ``editions/<id>/*.yaml`` into frozen values, checked on load.

Everything that changes from one edition to the next lives in YAML; nothing in the code knows a
question or a column. The format is documented in ``docs/edition-format.md``. Every mistake is an
:class:`~baro_pipeline.errors.EditionError` naming the file, the line, the key path, what was expected and
the fix. One job per module: ``models`` (the frozen values), ``reading`` (safe YAML, the line of
a key path), ``schema`` (pydantic models of the files' keys and types), ``codebook``, ``figures``,
``settings`` (one file's or block's entries), ``checks`` (references across entries), ``marks``
(TODO / review), ``loading`` (``load_edition``).
"""

from .loading import load_edition, load_targets
from .codebook import load_codebook
from .figures import load_figures
from .marks import check_runnable, is_todo, marks_warning, todo_marks
from .models import (
    QUESTION_TYPES,
    INTERVAL_METHODS,
    LETTER_ADJUSTMENTS,
    SIGNIFICANCE_KEYS,
    QUALITY_ACTIONS,
    PROBLEM_KINDS,
    MULTI_ENCODINGS,
    WEIGHTING_METHODS,
    SHARE_TOLERANCE,
    EDITION_FILE,
    TODO,
    Condition,
    NotAnswer,
    Net,
    Row,
    Question,
    Derived,
    Columns,
    DEFAULT_STATUSES,
    Codebook,
    TargetVariable,
    Targets,
    Population,
    Thresholds,
    QualityPolicy,
    EstimationSettings,
    Trimming,
    WeightingSettings,
    Mirror,
    Indicator,
    Problem,
    Article,
    PublishedFigure,
    Mark,
    Edition,
)
from .models import _ID as _ID  # draft.py checks drafted ids against the same pattern
from .reading import MAX_YAML_VALUES, read_yaml
from .reading import _Node as _Node  # synth.py reads its own YAML with the same located errors

__all__ = [
    "Article",
    "Codebook",
    "Columns",
    "Condition",
    "DEFAULT_STATUSES",
    "Derived",
    "EDITION_FILE",
    "Edition",
    "EstimationSettings",
    "INTERVAL_METHODS",
    "Indicator",
    "LETTER_ADJUSTMENTS",
    "MAX_YAML_VALUES",
    "MULTI_ENCODINGS",
    "Mark",
    "Mirror",
    "Net",
    "NotAnswer",
    "PROBLEM_KINDS",
    "Population",
    "Problem",
    "PublishedFigure",
    "QUALITY_ACTIONS",
    "QUESTION_TYPES",
    "QualityPolicy",
    "Question",
    "Row",
    "SHARE_TOLERANCE",
    "SIGNIFICANCE_KEYS",
    "TODO",
    "TargetVariable",
    "Targets",
    "Thresholds",
    "Trimming",
    "WEIGHTING_METHODS",
    "WeightingSettings",
    "check_runnable",
    "is_todo",
    "load_codebook",
    "load_edition",
    "load_figures",
    "load_targets",
    "marks_warning",
    "read_yaml",
    "todo_marks",
]
