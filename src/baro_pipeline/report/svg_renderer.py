"""The charts' renderer process: a Vega-Lite specification per line of stdin, its SVG per line of stdout (JSON).

Run as a file (``python svg_renderer.py``), not as a module of the package: it imports vl-convert
alone. It warms vl-convert's JavaScript runtime first, then converts until its stdin ends (its
parent ended), and leaves Ctrl-C to its parent.
"""

import json
import signal
import sys

import vl_convert

WARM_UP = {"data": {"values": [{"x": 0}]}, "mark": "bar", "encoding": {"x": {"field": "x", "type": "quantitative"}}}


def rendered(line: str) -> str:
    """One answer line: ``{"svg": ...}``, or ``{"error": ...}`` when vl-convert refuses the specification."""
    try:
        return json.dumps({"svg": vl_convert.vegalite_to_svg(json.loads(line))})
    except ValueError as error:  # what vl-convert raises for a specification it cannot draw
        return json.dumps({"error": " ".join(line for line in str(error).splitlines() if not line.lstrip().startswith("at "))})  # no JavaScript stack


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    vl_convert.vegalite_to_svg(WARM_UP)
    try:
        for line in sys.stdin:
            sys.stdout.write(rendered(line) + "\n")
            sys.stdout.flush()
    except BrokenPipeError:  # the parent ended while a chart was drawn
        pass


if __name__ == "__main__":
    main()
