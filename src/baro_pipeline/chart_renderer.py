"""The charts' renderer: vl-convert in a process of its own (``report/svg_renderer.py``), fed Vega-Lite specifications, answering SVGs.

Apart from the report's modules, with the standard library alone: ``baro run`` starts it before it
imports the run's libraries (about half a second), so the renderer's JavaScript runtime is ready
before the first chart (report/charts.py builds the specifications).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections import OrderedDict
from concurrent.futures import Future
from pathlib import Path

RENDERER_SCRIPT = Path(__file__).parent / "report" / "svg_renderer.py"
# The renderer's fontconfig file: no system font, vl-convert's own (the SVGs do not depend on the
# machine's fonts; measuring a text with a system font read its file for every glyph, half the
# renderer's time).
RENDERER_FONTS = Path(__file__).parent / "report" / "vl_fonts.conf"
RENDERER_LOCK = threading.Lock()
KEPT_CHARTS = 64  # SVGs of a few reports (tens of kB each)


class Renderer:
    """vl-convert in a process of its own (``svg_renderer.py``), fed one chart at a time by a thread.

    vl-convert holds the GIL while it converts: in this process a chart would stop every other
    thread, so charts drawn early would only delay the stages. In its own process they are drawn
    on the machine's other core while this one computes. A specification asked for again is not
    drawn again (the last KEPT_CHARTS are kept: a process that reports twice draws once).
    """

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(RENDERER_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            env={**os.environ, "FONTCONFIG_FILE": str(RENDERER_FONTS)},
        )
        self.waiting: queue.SimpleQueue[tuple[str, Future[str]]] = queue.SimpleQueue()
        self.drawn: OrderedDict[str, Future[str]] = OrderedDict()
        self.lock = threading.Lock()
        threading.Thread(target=self.serve, name="baro-chart-renderer", daemon=True).start()

    def alive(self) -> bool:
        return self.process.poll() is None

    def exit_code(self) -> int | None:
        """The renderer's exit code once its output ended: it is ending then, maybe not yet reaped (None if it still runs after a second)."""
        try:
            return self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            return None

    def submit(self, spec: str) -> Future[str]:
        """The SVG to come of a specification (its JSON text)."""
        with self.lock:
            if spec in self.drawn:
                self.drawn.move_to_end(spec)
                return self.drawn[spec]
            future = self.drawn[spec] = Future()
            self.waiting.put((spec, future))
            if len(self.drawn) > KEPT_CHARTS:
                self.drawn.popitem(last=False)
            return future

    def serve(self) -> None:
        """Send each waiting specification, and resolve its future with the answer."""
        assert self.process.stdin is not None and self.process.stdout is not None
        while True:
            spec, future = self.waiting.get()
            try:
                self.process.stdin.write(spec + "\n")
                self.process.stdin.flush()
                answer = self.process.stdout.readline()
            except OSError:
                answer = ""
            if not answer:
                future.set_exception(RuntimeError(f"the charts' renderer ({RENDERER_SCRIPT.name}) ended with code {self.exit_code()}; '{sys.executable} {RENDERER_SCRIPT}' says why"))
            elif "svg" in (found := json.loads(answer)):
                future.set_result(found["svg"])
            else:
                future.set_exception(RuntimeError(f"vl-convert could not draw a chart: {found['error']}"))


RENDERERS: list[Renderer] = []  # the process's renderer, started once (and again if it ended)


def start_renderer() -> Renderer:
    """The process's chart renderer, started now if it is not running: its JavaScript runtime
    costs about 0.4 s of CPU to start, spent on the other core while this process imports and the data stages run."""
    with RENDERER_LOCK:
        if not RENDERERS or not RENDERERS[-1].alive():
            RENDERERS[:] = [Renderer()]
        return RENDERERS[-1]
