"""``report.html``: the synthesis' pages rebuilt from the computed estimates, in one file.

The report is one self-contained HTML file (inline CSS, charts as inline SVG, no script, nothing
fetched): it opens offline and can be mailed. Charts are Vega-Lite specifications rendered to
SVG by ``vl-convert-python`` (Vega's own renderer, no browser needed). Its sections:

- **the synthesis' pages**: each published figure as a card (computed value, margin of error,
  n, base, the printed value and the audit's verdict), grouped by the page that printed it; and,
  on the page where the questionnaire's order puts them, the "Top 3 / Top 5" rankings of the
  multiple-choice questions (from ``rank`` in ``estimates.parquet``);
- **mirror comparisons** between populations: figures with the same published meaning, paired by
  their wording (see :func:`mirror_pairs`), with the difference and its significance;
- **trends** against the previous edition, when there is one (``trends.parquet``);
- **the audit**: verdicts per population, and each figure that does not match with its reason.

Labels are the codebook's French labels and the published wordings; under every chart, its base
and n, with small bases flagged and suppressed values withheld (edition thresholds). No
respondent-level value enters the report: only estimates and the audit table. See docs/report.md.
"""

# The stage's names, from the module of each part (``from baro_pipeline.report import report_html``).
from .cells import sheet_titles
from .charts import start_renderer
from .crosstabs import FIRST_LEVEL_COLUMN, ITEM_COLUMNS, Item, column_letter_names, rank_interval_cell
from .html import audit_table, mirror_pairs, report_html, start_section_charts, trend_charts, trends_table_rows
from .labels import population_labels
from .pages import figure_card, question_pages, rank_uncertainty_notes, ranked_questions, start_ranking_charts, top_size
from .xlsx import tables_xlsx

__all__ = [
    "FIRST_LEVEL_COLUMN",
    "ITEM_COLUMNS",
    "Item",
    "audit_table",
    "column_letter_names",
    "figure_card",
    "mirror_pairs",
    "population_labels",
    "question_pages",
    "rank_interval_cell",
    "rank_uncertainty_notes",
    "ranked_questions",
    "report_html",
    "sheet_titles",
    "tables_xlsx",
    "top_size",
    "start_ranking_charts",
    "start_section_charts",
    "start_renderer",
    "trend_charts",
    "trends_table_rows",
]
