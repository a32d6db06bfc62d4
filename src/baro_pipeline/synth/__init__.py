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

from .draw import synthesize
from .figures import model_shares
from .kernels import covering_ticks
from .load import MODEL_FILE, load_model
from .model import SYNTHETIC, Share
from .write import column_labels, default_seed, write_exports

__all__ = [
    "MODEL_FILE",
    "SYNTHETIC",
    "Share",
    "column_labels",
    "covering_ticks",
    "default_seed",
    "load_model",
    "model_shares",
    "synthesize",
    "write_exports",
]
