"""The report's charts: Vega-Lite specifications (bars with intervals, dumbbells, stacked counts) rendered to inline SVG."""

from __future__ import annotations

import json
import textwrap
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd
from markupsafe import Markup

from ..chart_renderer import RENDERERS as RENDERERS, start_renderer  # RENDERERS: the bench clears their charts

COLOURS = ("#1f4e79", "#c55a11", "#548235", "#7030a0")  # one per population, in the edition's order
VERDICT_COLOURS = {
    "match": "#548235", "within_moe": "#a9d18e", "not_computed": "#bfbfbf",
    "inconsistent_publication": "#ffc000", "mismatch": "#c00000",
}
LABEL_WIDTH = 40  # characters per line of a chart's axis label
LABEL_LINES = 3
CHART_WIDTH = 360
FONT = "Helvetica, Arial, sans-serif"
# The y encoding of the bar charts: one band per label, in the data's order, lines split at '|'.
# No width limit (labelLimit 0): wrapped() already cuts a label to LABEL_WIDTH characters a line,
# and Vega measures every label once more to apply a limit (a fifth of the charts' time).
LABEL_AXIS = {"field": "label", "type": "nominal", "sort": None, "title": None, "axis": {"labelExpr": "split(datum.label, '|')", "labelLimit": 0, "ticks": False, "domain": False}}


@dataclass(frozen=True, eq=False)
class Chart:
    """One chart: its title, its Vega-Lite specification, and the lines under it (base, n, flags)."""

    title: str
    spec: Mapping[str, Any]
    notes: tuple[str, ...]


def wrapped(text: str) -> str:
    """An axis label cut into lines ('|' separates them for Vega's labelExpr)."""
    lines = textwrap.wrap(text, LABEL_WIDTH) or [""]
    if len(lines) > LABEL_LINES:
        lines = lines[: LABEL_LINES - 1] + [textwrap.shorten(" ".join(lines[LABEL_LINES - 1 :]), LABEL_WIDTH, placeholder=" …")]
    return "|".join(lines)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows (NaN -> null, numpy scalars -> Python)."""
    return json.loads(frame.to_json(orient="records", force_ascii=False))


def label_step(labels: Iterable[str], rows_per_label: int = 1) -> int:
    """Pixels per label band: enough for its lines, and for grouped bars."""
    lines = max((label.count("|") + 1 for label in labels), default=1)
    return max(15 * lines + 6, 18 * rows_per_label + 6)


def chart_config() -> dict[str, Any]:
    return {
        "font": FONT,
        "view": {"stroke": None},
        "axis": {"labelFontSize": 12, "titleFontSize": 12, "grid": False, "labelColor": "#333", "titleColor": "#333"},
        "legend": {"labelFontSize": 12, "orient": "bottom", "title": None},
        "background": "white",
    }


def spec_text(chart: Chart) -> str:
    return json.dumps(chart.spec)


def start_charts(charts: Iterable[Chart]) -> list[Future[str]]:
    """The SVGs to come of these charts: started now, found drawn by whoever asks later."""
    renderer = start_renderer()
    return [renderer.submit(spec_text(chart)) for chart in charts]


def svgs(charts: Sequence[Chart]) -> dict[Chart, Markup]:
    """Each chart's SVG element, from the renderer's process."""
    return {chart: Markup(future.result()) for chart, future in zip(charts, start_charts(charts))}


def interval_bars(rows: pd.DataFrame, colours: Mapping[str, str]) -> dict[str, Any]:
    """Horizontal bars of ``value`` (points) with their interval (``low``–``high``) and ``text``.

    Rows: ``label`` (lines joined by '|'), ``group`` (the colour; bars of several groups side by
    side in one label band), ``small`` (a small base: a paler bar).
    """
    groups = list(dict.fromkeys(rows["group"]))
    colour = {"field": "group", "type": "nominal", "scale": {"domain": groups, "range": [colours[g] for g in groups]}, "legend": None if len(groups) == 1 else {}}
    encoding: dict[str, Any] = {
        "y": LABEL_AXIS,
    }
    if len(groups) > 1:
        encoding["yOffset"] = {"field": "group", "type": "nominal", "sort": groups}
    x = {"type": "quantitative", "scale": {"domain": [0, 100]}}
    return {
        "data": {"values": records(rows)},
        "width": CHART_WIDTH,
        "height": {"step": label_step(rows["label"], len(groups))},
        "encoding": encoding,
        "layer": [
            {"mark": {"type": "bar", "height": {"band": 0.8}}, "encoding": {"x": {**x, "field": "value", "title": "%", "axis": {"values": [0, 25, 50, 75, 100]}}, "color": colour, "opacity": {"condition": {"test": "datum.small", "value": 0.4}, "value": 1}}},
            {"mark": {"type": "rule", "color": "#222", "strokeWidth": 1}, "encoding": {"x": {**x, "field": "low"}, "x2": {"field": "high"}}},
            {"mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 12, "color": "#111"}, "encoding": {"x": {**x, "field": "high"}, "text": {"field": "text"}}},
        ],
        "config": chart_config(),
    }


def dumbbells(rows: pd.DataFrame, colour: str) -> dict[str, Any]:
    """One line per row from ``previous`` to ``current`` (points), the current point coloured
    when the change is ``significant``, and the change as ``text``."""
    x = {"type": "quantitative", "scale": {"domain": [0, 100]}, "title": "%"}
    return {
        "data": {"values": records(rows)},
        "width": CHART_WIDTH,
        "height": {"step": label_step(rows["label"])},
        "encoding": {"y": LABEL_AXIS},
        "layer": [
            {"mark": {"type": "rule", "color": "#999"}, "encoding": {"x": {**x, "field": "previous"}, "x2": {"field": "current"}}},
            {"mark": {"type": "point", "filled": False, "color": "#777", "size": 50}, "encoding": {"x": {**x, "field": "previous"}}},
            {"mark": {"type": "point", "filled": True, "size": 70}, "encoding": {"x": {**x, "field": "current"}, "color": {"condition": {"test": "datum.significant", "value": colour}, "value": "#bbb"}}},
            {"mark": {"type": "text", "align": "left", "dx": 8, "fontSize": 12}, "encoding": {"x": {**x, "field": "right"}, "text": {"field": "text"}}},
        ],
        "config": chart_config(),
    }


def stacked_counts(rows: pd.DataFrame, labels: Mapping[str, str], axis: str) -> dict[str, Any]:
    """One stacked bar per ``label``: ``count`` (``axis``) per ``category``, coloured by VERDICT_COLOURS, named by ``labels``."""
    present = [v for v in VERDICT_COLOURS if v in set(rows["category"])]
    return {
        "data": {"values": records(rows)},
        "width": CHART_WIDTH,
        "height": {"step": 28},
        "encoding": {"y": {"field": "label", "type": "nominal", "sort": None, "title": None}},
        "layer": [
            {"mark": {"type": "bar"}, "encoding": {
                "x": {"field": "count", "type": "quantitative", "stack": True, "title": axis},
                "color": {"field": "category", "type": "nominal", "scale": {"domain": present, "range": [VERDICT_COLOURS[v] for v in present]},
                          "legend": {"labelExpr": json.dumps(dict(labels), ensure_ascii=False) + "[datum.label]"}},
                "order": {"field": "order", "type": "quantitative"},
            }},
        ],
        "config": chart_config(),
    }
