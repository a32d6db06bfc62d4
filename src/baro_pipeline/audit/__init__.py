"""Audit stage: every published figure of an edition against the data, with a verdict and a reason.

For each figure of ``published.yaml`` the audit takes the estimate of its indicator on its base
that the estimation stage made (:func:`~baro_pipeline.estimation.figures.figure_estimates` of
:func:`figure_specs`), rounds it as the publication does, and gives a verdict: ``match``,
``within_moe``, ``mismatch``, ``not_computed`` or ``inconsistent_publication`` (the publication
contradicts itself, found from the printed numbers alone by :func:`publication_checks`). A figure
that does not match is compared with its estimates under the usual slips (unweighted, other base,
"don't know" out of the base, top box instead of net, rounding down, the other population) and
the reason names the slip that reproduces the printed value, or says that none does (the slips'
estimates are made then, for those figures only: :func:`slip_specs`).

The audit reads estimates only: no sample, no respondent id, no kernel. See docs/audit.md.
"""

# The stage's names, from the module of each part (``from baro_pipeline.audit import audit_edition``).
from ..estimation.figures import Spec  # what the audit estimates for a figure (audit.Spec, as before the split)
from .publication import printed_interval, publication_checks
from .render import counts_text, ordered_for_reading, render_audit, strict_failure, verdict_counts
from .slips import MIN_SHARED_WORDING_WORDS, counterpart, figure_spec, shared_final_words
from .texts import number_text
from .verdicts import AUDIT_COLUMNS, VERDICTS, audit_edition, figure_specs, no_data, slip_specs, suppressed_base

__all__ = [
    "AUDIT_COLUMNS",
    "MIN_SHARED_WORDING_WORDS",
    "VERDICTS",
    "Spec",
    "audit_edition",
    "counterpart",
    "counts_text",
    "figure_spec",
    "figure_specs",
    "no_data",
    "number_text",
    "ordered_for_reading",
    "printed_interval",
    "publication_checks",
    "render_audit",
    "shared_final_words",
    "slip_specs",
    "strict_failure",
    "suppressed_base",
    "verdict_counts",
]
