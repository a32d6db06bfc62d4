"""``baro``: the command line (DESIGN.md §6).

Commands work on the project folder they are run in (``editions/``, ``raw/``, ``outputs/``) or on
the one ``--root`` names. Errors become a message and an exit code, never a traceback:
0 success; 1 bad data (exports, invalid rows past the threshold, raking failed); 2 bad usage or
configuration; 3 ``--strict`` audit mismatch; 70 internal error; 73 outputs that cannot be written.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Sequence

# Before numpy is imported (it reads this once): numpy asks the kernel for transparent huge pages
# on every large array, and at a million respondents the page faults and compaction that causes
# cost more than the fewer TLB misses save (ingest ~30 % faster here without it).
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

from .errors import BaroError, UsageError  # noqa: E402 - after the numpy setting above

EXIT_INTERNAL = 70


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="baro", description="Survey exports to audited, design-based published figures.")
    parser.add_argument("--root", type=Path, default=Path("."), help="project folder holding editions/, raw/ and outputs/ (default: here)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("synth", help="write synthetic exports for an edition")
    p.add_argument("edition")
    p.add_argument("--respondents", type=int, default=None, help="complete interviews per population (default: the edition's sample size)")
    p.add_argument("--seed", type=int, default=None, help="default: the edition's own (its id when a number)")
    p.add_argument("--out", type=Path, default=None, help="folder of the exports (default: the edition's exports folder)")
    p.add_argument("--format", choices=("csv", "xlsx", "sav"), default="csv")

    p = sub.add_parser("validate", help="read and validate the exports; print what would be kept, excluded and quarantined")
    p.add_argument("edition")

    p = sub.add_parser("run", help="run the whole pipeline as a Prefect flow (embedded local server)")
    p.add_argument("edition")
    p.add_argument("--strict", action="store_true", help="exit 3 when a published figure is a mismatch")
    p.add_argument("--verbose", action="store_true", help="show Prefect's own log")

    p = sub.add_parser("audit", help="print the audit of the last run: computed vs published figures")
    p.add_argument("edition")
    p.add_argument("--format", choices=("table", "csv", "markdown", "json"), default="table")

    p = sub.add_parser("new-edition", help="create editions/NEW from editions/OLD (linked to it for trends), or draft it from exports")
    p.add_argument("edition", metavar="NEW")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="previous", metavar="OLD", help="the edition to copy and link to")
    source.add_argument("--from-export", dest="exports", metavar="FILE", type=Path, action="append", help="an export (.sav or .xlsx) named after its population, e.g. ps.sav; once per population")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        if not (root / "editions").is_dir():
            raise UsageError(f"no editions/ folder in {root}", fix="run baro from the project folder, or pass --root DIR")
        return COMMANDS[args.command](args, root)
    except BaroError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # The reader went away (`baro audit 2025 | head`): nothing left to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted: previous outputs are untouched", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback
        if getattr(args, "verbose", False):
            raise
        print(f"internal error: {type(exc).__name__}: {exc}\n  rerun with --verbose for details, and report it", file=sys.stderr)
        return EXIT_INTERNAL


def cmd_synth(args: argparse.Namespace, root: Path) -> int:
    if args.respondents is not None and args.respondents < 1:
        raise UsageError(f"--respondents {args.respondents} must be at least 1", fix="give a positive number of interviews")
    from .edition import load_edition
    from .synth import default_seed, write_exports

    ed = load_edition(args.edition, root)
    out = args.out if args.out is not None else root / ed.exports
    seed = default_seed(ed) if args.seed is None else args.seed
    start = time.perf_counter()
    files = write_exports(ed, out=out, respondents=args.respondents, seed=seed, fmt=args.format)
    for f in files:
        print(f"wrote {f}")
    print(f"synthetic exports of edition {ed.id} in {time.perf_counter() - start:.1f} s (seed {seed})")
    return 0


def cmd_validate(args: argparse.Namespace, root: Path) -> int:
    from .edition import load_edition, marks_warning
    from .ingest import find_export, read_export
    from .validation import validate_export

    ed = load_edition(args.edition, root)
    if ed.marks:
        print(marks_warning(ed), file=sys.stderr)
    for pop, population in ed.populations.items():
        export = read_export(find_export(ed, pop, root), population.codebook)
        result = validate_export(export, population, ed.quality, ed.thresholds)
        c = result.counts
        src = export.source
        sheet = f", sheet {src.sheet!r}" if src.sheet else ""
        print(f"{pop} ({population.label}): {Path(src.path).name}, {src.format}{sheet}, encoding {src.encoding or '-'}, delimiter {src.delimiter!r}")
        if src.extra_columns:
            print(f"  ignored: {len(src.extra_columns)} column(s) the codebook does not name: {', '.join(src.extra_columns)}")
        print(f"  read {c.read} = kept {c.kept} + excluded {sum(c.excluded.values())} + quarantined {c.quarantined}")
        for reason, count in {**c.excluded}.items():
            print(f"    excluded   {reason:<22} {count}")
        for reason, count in c.flagged.items():
            print(f"    flagged    {reason:<22} {count}")
        if len(result.quarantine):
            for rule, count in result.quarantine.groupby("rule").size().sort_values(ascending=False).items():
                print(f"    quarantine {rule:<22} {count}")
    return 0


def prefect_environment(root: Path, verbose: bool) -> None:
    """Prefect on its embedded local default: offline, state inside the project, quiet unless asked."""
    os.environ.setdefault("PREFECT_HOME", str(root / ".prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # A fresh database needs its migrations before the temporary server answers (~25 s here).
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    if not verbose:
        # Prefect logs a failed task with its traceback; the CLI says what went wrong instead.
        os.environ["PREFECT_LOGGING_LEVEL"] = "CRITICAL"


def cmd_run(args: argparse.Namespace, root: Path) -> int:
    prefect_environment(root, args.verbose)
    start = time.perf_counter()
    print(f"baro run {args.edition}: starting Prefect (embedded local server)", flush=True)
    from baro_flows.run import baro_run
    from baro_flows.server import start_embedded_server

    start_embedded_server()  # a child the kernel kills with this process
    summary = baro_run(edition_id=args.edition, root=str(root), strict=args.strict, echo=not args.verbose)
    print_summary(summary, time.perf_counter() - start)
    return 0


def print_summary(summary: dict, seconds: float) -> None:
    print(f"done in {seconds:.1f} s (pipeline {sum(summary['timings_seconds'].values()):.1f} s, the rest is Prefect)")
    for pop, r in summary["rows"].items():
        print(f"  {pop}: read {r['read']} = kept {r['kept']} + excluded {r['excluded']} + quarantined {r['quarantined']}")
    verdicts = ", ".join(f"{k} {v}" for k, v in summary["verdicts"].items())
    print(f"  audit of {summary['figures']} published figures: {verdicts}")
    print(f"  outputs: {summary['outputs']}/")
    for name, what in (("report.html", "report"), ("tables.xlsx", "tables"), ("trends.parquet", "trends"), ("audit.parquet", "audit")):
        if name in summary["files"]:
            print(f"    {what + ':':<8} {Path(summary['outputs']) / name}")
    print(f"    (the audit as text: baro audit {summary['edition']})")


def cmd_audit(args: argparse.Namespace, root: Path) -> int:
    from .outputs import read_table

    table = read_table(root, args.edition, "audit")
    from .audit import render_audit

    print(render_audit(table, fmt=args.format))
    return 0


def cmd_new_edition(args: argparse.Namespace, root: Path) -> int:
    from .newedition import create_draft, create_edition

    if args.exports:
        made = create_draft(root, args.edition, args.exports)
        print(f"drafted {made.folder}/ from {', '.join(str(p) for p in args.exports)} ({len(made.files)} files)")
    else:
        made = create_edition(root, args.edition, args.previous)
        links = ", ".join(f"{pop} {n}" for pop, n in made.linked.items())
        print(f"created {made.folder}/ from edition {made.previous} ({len(made.files)} files; questions linked by was: {links})")
    print(f"before running edition {made.id}, review:")
    for line in made.checklist:
        print("  [ ] " + line.replace("\n", "\n    "))
    return 0


COMMANDS = {"synth": cmd_synth, "validate": cmd_validate, "run": cmd_run, "audit": cmd_audit, "new-edition": cmd_new_edition}

if __name__ == "__main__":
    sys.exit(main())
