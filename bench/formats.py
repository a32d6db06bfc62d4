"""xlsx and sav ingest against reading the file alone (issue 20 item 3: ours ≤ 1.3 × the anchor).

    .venv/bin/python bench/formats.py [--rows 100000] [--data DIR] [--repeats 3] [--out FILE.json]

For each format and population, in one process, alternating, the median of ``--repeats``:
the anchor (openpyxl ``load_workbook(read_only=True, data_only=True)`` and every row's values
into a list; ``pyreadstat.read_sav``), the format's reader as ``ingest.read_export`` calls it
(file bytes to the text cells; an SPSS file's codes as numbers) and the whole ``ingest.read_export`` (the cells normalised as well,
the part every format shares with CSV). Wall seconds are compared; CPU seconds (this process and
its forked children) are printed beside them, and their ratio: on a busy machine, the steadier one. sav is
also read in fresh processes, the anchor and ``read_export`` alternated, each timed once its
libraries are imported (:data:`FRESH_FORMATS`): the way ``baro run`` reads it, its allocator set as
the run sets it first (``memory.fit_to_export``: no huge pages while the exports are read; at
1e5 without it, ps's read took 2.04–2.55 s with 0.78–1.11 s of system time, with it 1.68–1.94 s
and 0.38–0.45 s). The exports are made with
``baro synth 2025 --respondents ROWS --seed 1`` in ``--data`` (default bench/data/formats_<ROWS>)
when absent.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pyreadstat

from baro_pipeline import ingest, memory
from baro_pipeline.edition import Codebook, load_edition
from baro_pipeline.ingest.export import READERS
from baro_pipeline.synth import write_exports

ROOT = Path(__file__).resolve().parent.parent
FORMATS = ("xlsx", "sav")
SEED = 1


def anchor_xlsx(path: Path) -> list[tuple[object, ...]]:
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        return [row for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()


def anchor_sav(path: Path) -> object:
    return pyreadstat.read_sav(str(path))


ANCHORS: dict[str, Callable[[Path], object]] = {"xlsx": anchor_xlsx, "sav": anchor_sav}


def reader(path: Path, codebook: Codebook) -> int:
    """The format's reader as read_export calls it: the text table's rows."""
    limits = ingest.export_limits()
    return len(READERS[path.suffix.lstrip(".")](path, ingest.file_bytes(path, limits), codebook, limits).frame)


def exports(data: Path, fmt: str, rows: int) -> Path:
    """The folder of ``fmt`` exports of ``rows`` interviews per population, written if absent."""
    folder = data / fmt
    edition = load_edition("2025", ROOT)
    if not all((folder / f"{pid}.{fmt}").exists() for pid in edition.populations):
        print(f"writing {fmt} exports of {rows:,} interviews per population in {folder} …", flush=True)
        write_exports(edition, out=folder, respondents=rows, seed=SEED, fmt=fmt)
    return folder


def cpu_seconds() -> float:
    """CPU seconds of this process and of its ended children (the SPSS reader's forked child)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), cpu_seconds()
    fn()
    return time.perf_counter() - wall, cpu_seconds() - cpu


# Read in a fresh process as well (a `baro run` reads each export once, in a process of its own):
# alternated in one process, the allocator's state left by the previous reads moves pyreadstat's
# own time by a quarter (1.35–2.03 s for ps at 1e5). xlsx is left out: a read takes ~50 s.
FRESH_FORMATS = ("sav",)


def one_read(kind: str, path: Path) -> tuple[float, float]:
    """Wall and CPU seconds (its children's included) of one read, ``anchor`` or ``read_export``,
    in this process once its libraries are imported."""
    if kind == "read_export":
        codebook = load_edition("2025", ROOT).populations[path.stem].codebook
        memory.fit_to_export(path.stat().st_size)  # the allocator as `baro run` sets it before its reads (no huge pages while reading)
        return timed(lambda: ingest.read_export(path, codebook))
    return timed(lambda: ANCHORS[path.suffix.lstrip(".")](path))


def fresh_read(kind: str, path: Path) -> tuple[float, float]:
    """:func:`one_read` in a fresh Python process."""
    out = subprocess.run([sys.executable, __file__, "--one", kind, str(path)], capture_output=True, text=True, check=True)
    wall, cpu = out.stdout.split()
    return float(wall), float(cpu)


def fresh_measured(path: Path, repeats: int) -> dict[str, object]:
    """Median wall and CPU seconds of the anchor and of read_export, each in a fresh process, alternated ``repeats`` times."""
    runs: dict[str, list[tuple[float, float]]] = {"anchor": [], "read_export": []}
    for _ in range(repeats):
        for kind, times in runs.items():
            times.append(fresh_read(kind, path))
    found: dict[str, object] = {f"fresh_{kind}_{unit}": statistics.median(t[i] for t in times) for kind, times in runs.items() for i, unit in enumerate(("s", "cpu_s"))}
    found["fresh_ratio_read_export"] = found["fresh_read_export_s"] / found["fresh_anchor_s"]  # type: ignore[operator]
    return found


def measured(path: Path, codebook: Codebook, repeats: int, whole: bool) -> dict[str, object]:
    """Median wall and CPU seconds of the anchor, the reader and (``whole``) read_export, run in turn ``repeats`` times."""
    calls = {
        "anchor": lambda: ANCHORS[path.suffix.lstrip(".")](path),
        "reader": lambda: reader(path, codebook),
        "read_export": lambda: ingest.read_export(path, codebook),
    }
    if not whole:
        del calls["read_export"]
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            runs[name].append(timed(call))
    result: dict[str, object] = {"file": str(path), "rows": len(ingest.read_export(path, codebook).frame) if whole else None}
    for name in ("anchor", "reader", "read_export"):
        times = runs.get(name, [(float("nan"), float("nan"))])
        result[f"{name}_s"] = statistics.median(w for w, _ in times)
        result[f"{name}_cpu_s"] = statistics.median(c for _, c in times)
    result["ratio_reader"] = result["reader_s"] / result["anchor_s"]  # type: ignore[operator]
    result["ratio_read_export"] = result["read_export_s"] / result["anchor_s"]  # type: ignore[operator]
    result["cpu_ratio_reader"] = result["reader_cpu_s"] / result["anchor_cpu_s"]  # type: ignore[operator]
    if whole and path.suffix.lstrip(".") in FRESH_FORMATS:
        result.update(fresh_measured(path, repeats))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="interviews per population (default 100000)")
    parser.add_argument("--data", type=Path, help="folder of the exports (default bench/data/formats_<rows>)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements of each, alternating; the median is kept (default 3)")
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS), help="the formats measured (default both)")
    parser.add_argument("--populations", nargs="+", help="the populations measured (default every one of the edition)")
    parser.add_argument("--reader-only", action="store_true", help="leave out the whole read_export (a third of the time)")
    parser.add_argument("--out", type=Path, help="write the results as JSON there")
    parser.add_argument("--one", nargs=2, metavar=("KIND", "FILE"), help=argparse.SUPPRESS)  # one read in this process (fresh_read)
    args = parser.parse_args()
    if args.one:
        print(*one_read(args.one[0], Path(args.one[1])))
        return
    data = args.data or ROOT / "bench" / "data" / f"formats_{args.rows}"
    edition = load_edition("2025", ROOT)
    results = []
    print(
        f"{'format':6} {'pop':4} {'rows':>8} {'anchor s':>9} {'reader s':>9} {'ratio':>6} {'read_export s':>14} {'ratio':>6}   cpu s (anchor/reader/read_export, reader ratio)",
        flush=True,
    )
    for fmt in args.formats:
        folder = exports(data, fmt, args.rows)
        for pid, population in edition.populations.items():
            if args.populations and pid not in args.populations:
                continue
            r = {"format": fmt, "population": pid, **measured(folder / f"{pid}.{fmt}", population.codebook, args.repeats, not args.reader_only)}
            results.append(r)
            print(
                f"{fmt:6} {pid:4} {r['rows'] or 0:>8,} {r['anchor_s']:>9.2f} {r['reader_s']:>9.2f} {r['ratio_reader']:>6.2f} "
                f"{r['read_export_s']:>14.2f} {r['ratio_read_export']:>6.2f}   "
                f"{r['anchor_cpu_s']:.2f}/{r['reader_cpu_s']:.2f}/{r['read_export_cpu_s']:.2f}, {r['cpu_ratio_reader']:.2f}"
                + (f"; fresh processes: anchor {r['fresh_anchor_s']:.2f}, read_export {r['fresh_read_export_s']:.2f}, ratio {r['fresh_ratio_read_export']:.2f}" if "fresh_anchor_s" in r else ""),
                flush=True,
            )
    if args.out:
        args.out.write_text(json.dumps({"rows": args.rows, "repeats": args.repeats, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
