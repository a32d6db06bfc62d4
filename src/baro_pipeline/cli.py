"""``baro``: the command line (docs/design.md §6).

Commands work on the project folder they are run in (``editions/``, ``raw/``, ``outputs/``) or on
the one ``--root`` names (before or after the command). Errors become a message and an exit code,
never a traceback: the codes are ``EXIT_CODES``, listed by ``baro --help``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import os
import re
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any, NoReturn, TextIO

from .errors import BaroError, OutputWriteError, ProcessEndedError, UsageError

EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
EXIT_CODES = (
    (0, "success"),
    (1, "bad data: exports, too many invalid rows, raking failed, a damaged output"),
    (2, "bad usage or configuration"),
    (3, "--strict: a published figure is a mismatch"),
    (EXIT_INTERNAL, "internal error: a bug; rerun with --verbose and report it"),
    (ProcessEndedError.exit_code, "a process of the run was killed (most often by the system, for lack of memory) or crashed"),
    (OutputWriteError.exit_code, "the outputs cannot be written: no permission, a read-only or full disk, or something in outputs/ no run wrote"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C); previous outputs are untouched"),
)
EDITION_HELP = "the edition: a folder of editions/, e.g. 2025"
ROOT_HELP = "project folder holding editions/, raw/ and outputs/ (default: here)"
EXAMPLES = {
    "synth": ("baro synth 2025", "baro synth 2025 --respondents 300 --seed 7 --out /tmp/exports --format sav"),
    "validate": ("baro validate 2025", "baro validate 2025 --root ~/surveys"),
    "run": ("baro run 2025", "baro run 2025 --strict --root ~/surveys", "baro run 2025 --no-prefect"),
    "server": ("baro server start", "baro server start --port 4300", "baro server stop"),
    "audit": ("baro audit 2025 --problems", "baro audit 2025 --format markdown > audit.md"),
    "new-edition": ("baro new-edition 2026 --from 2025", "baro new-edition 2026 --from-export ps.sav --from-export gp.sav"),
}


def examples_text(lines: Sequence[str]) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def exit_codes_text() -> str:
    return "exit codes:\n" + "\n".join(f"  {code:>3}  {what}" for code, what in EXIT_CODES)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="baro",
        description="Survey exports to audited, design-based published figures.",
        epilog=f"{examples_text(('baro run 2025', 'baro audit 2025 --problems', 'baro COMMAND --help'))}\n\n{exit_codes_text()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--root", type=Path, default=Path("."), metavar="DIR", help=ROOT_HELP)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('baro-pipeline')}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("synth", help="write synthetic exports for an edition")
    p.add_argument("edition", help=EDITION_HELP)
    p.add_argument("--respondents", type=int, default=None, help="complete interviews per population (default: the edition's sample size)")
    p.add_argument("--seed", type=int, default=None, help="random seed: the same seed writes the same exports (default: the edition's own, its id when a number)")
    p.add_argument("--out", type=Path, default=None, help="folder of the exports (default: the edition's exports folder)")
    p.add_argument("--format", choices=("csv", "xlsx", "sav"), default="csv", help="file format of the exports (default: csv)")

    p = sub.add_parser("validate", help="read and validate the exports; print what would be kept, excluded and quarantined")
    p.add_argument("edition", help=EDITION_HELP)

    p = sub.add_parser("run", help="run the whole pipeline as a Prefect flow (on the project's Prefect server, or an embedded one)")
    p.add_argument("edition", help=EDITION_HELP)
    p.add_argument("--strict", action="store_true", help="exit 3 when a published figure is a mismatch")
    p.add_argument("--verbose", action="store_true", help="show Prefect's own log, and the traceback of an internal error")
    p.add_argument("--no-prefect", action="store_true", help="call the library's run_edition directly: the same outputs, without Prefect's task states, retries, artifacts and alerts")

    p = sub.add_parser("server", help="start or stop the project's Prefect server in the background (baro run then uses it)")
    p.add_argument("action", choices=("start", "stop"), help="start: prefect server start --background, waited for; stop: prefect server stop")
    p.add_argument("--host", default="127.0.0.1", help="address the server listens on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=4200, help="port of the server (default: 4200)")

    p = sub.add_parser("audit", help="print the audit of the last run: computed vs published figures, problems first")
    p.add_argument("edition", help=EDITION_HELP)
    p.add_argument("--format", choices=("table", "csv", "markdown", "json"), default="table", help="table for a terminal (default), markdown for a person, csv or json for programs")
    p.add_argument("--problems", action="store_true", help="only the figures that need a look (every verdict but match)")

    p = sub.add_parser("new-edition", help="create editions/NEW from editions/OLD (linked to it for trends), or draft it from exports")
    p.add_argument("edition", metavar="NEW", help="id of the new edition (its folder under editions/)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="previous", metavar="OLD", help="the edition to copy and link to")
    source.add_argument("--from-export", dest="exports", metavar="FILE", type=Path, action="append", help="an export (.sav or .xlsx) named after its population, e.g. ps.sav; once per population")

    for name, command in sub.choices.items():
        # Also after the command (`baro run 2025 --root DIR`); SUPPRESS keeps the one given before it.
        command.add_argument("--root", type=Path, default=argparse.SUPPRESS, metavar="DIR", help=ROOT_HELP)
        command.epilog = examples_text(EXAMPLES[name])
        command.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def baro_command(root: Path) -> str:
    """How to call baro on this project again: with ``--root`` unless it is the current folder."""
    return "baro" if root == Path.cwd().resolve() else f"baro --root {shlex.quote(str(root))}"


def rooted(text: str, root: Path) -> str:
    """A message's hints (`baro run 2025`, written by stages that do not know the command line) with --root."""
    return re.sub(r"\bbaro (?=(?:synth|validate|run|server|audit|new-edition)\b)", f"{baro_command(root)} ", text)


class ReaderProofStdout:
    """stdout whose reader may leave (`baro run 2025 | head -2`): the rest goes to /dev/null and the
    command goes on; a run publishes whatever happens to its progress lines."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.guarded(self.stream.write, text)
        return len(text)

    def flush(self) -> None:
        self.guarded(self.stream.flush)

    def guarded(self, call: Callable[..., Any], *args: Any) -> None:
        try:
            call(*args)
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())  # what is still buffered goes there too
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        with contextlib.redirect_stdout(ReaderProofStdout(sys.stdout)):
            if not (root / "editions").is_dir():
                raise UsageError(f"no editions/ folder in {root}", fix="run baro from the project folder, or pass --root DIR")
            return COMMANDS[args.command](args, root)
    except BaroError as exc:
        print(f"error: {rooted(exc.message, root)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: previous outputs are untouched", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the CLI never shows a traceback
        if getattr(args, "verbose", False):
            raise
        print(f"internal error: {type(exc).__name__}: {exc}\n  rerun with --verbose for details, and report it", file=sys.stderr)
        return EXIT_INTERNAL


def console() -> NoReturn:
    """The ``baro`` command: :func:`main`, then an exit without the interpreter's last collections.

    At exit Python's collector walks every object still alive (the modules of pandas, scipy and
    Prefect: ~0.8 s of a core after ``baro run``) only to free what the OS frees anyway.
    """
    code = main()
    gc.freeze()
    sys.exit(code)


@contextlib.contextmanager
def imports_out_of_collections() -> Iterator[None]:
    """The objects alive now (the imported modules', ~10^6) skipped by the collector within the block.

    They are never garbage, yet each full collection of a run walked them all (~0.4 s a run).
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


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
    from .ingest import find_exports, largest_export_bytes, read_export
    from .validation import kept_id_warnings, kept_ids, screened_export
    from . import memory

    ed = load_edition(args.edition, root)
    if ed.marks:
        print(marks_warning(ed), file=sys.stderr)
    ids = {}
    paths = find_exports(ed, root)
    memory.fit_to_export(largest_export_bytes(paths))  # as baro run reads them
    for pop, population in ed.populations.items():
        export = read_export(paths[pop], population.codebook, hashed=False)  # the command prints no hash
        result = screened_export(export, population, ed.quality, ed.thresholds)  # the kept answers are not taken: only their ids are needed
        ids[pop] = kept_ids(export, result, population.codebook)
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
        del export  # its frame freed before the next export is read
    for warning in kept_id_warnings(ids):
        print(warning, file=sys.stderr)
    return 0


def prefect_home(root: Path) -> Path:
    """Prefect's state: the project's own (``.prefect/``) unless PREFECT_HOME names another."""
    return Path(os.environ.setdefault("PREFECT_HOME", str(root / ".prefect")))


def prefect_environment(root: Path, verbose: bool) -> None:
    """Prefect offline, its state inside the project, quiet unless asked."""
    prefect_home(root)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # A fresh database needs its migrations before the temporary server answers (~25 s here).
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    if not verbose:
        # Prefect logs a failed task with its traceback; the CLI says what went wrong instead.
        os.environ["PREFECT_LOGGING_LEVEL"] = "CRITICAL"


def cmd_run(args: argparse.Namespace, root: Path) -> int:
    from .chart_renderer import start_renderer
    from .edition import load_edition

    load_edition(args.edition, root)  # an unknown or broken edition is refused before Prefect starts (seconds)
    start_renderer()  # its runtime starts on the other core while this process imports the run's libraries
    start = time.perf_counter()
    if args.no_prefect:
        from .pipeline import run_edition

        print(f"baro run {args.edition}: without Prefect (the library's run_edition)", flush=True)
        with imports_out_of_collections():
            result = run_edition(args.edition, root, strict=args.strict, progress=lambda text: print(f"  {text}", flush=True), warn=lambda text: print(text, file=sys.stderr, flush=True))
        summary = result.summary()
    else:
        from baro_flows.server import prefect_for_run, start_embedded_server

        prefect_environment(root, args.verbose)
        print(f"baro run {args.edition}: {prefect_for_run(prefect_home(root))}", flush=True)
        # A child the kernel kills with this process; the flow's imports run while it starts.
        start_embedded_server(meanwhile=lambda: importlib.import_module("baro_flows.run"))
        from baro_flows.run import baro_run

        with imports_out_of_collections():
            summary = baro_run(edition_id=args.edition, root=str(root), strict=args.strict, echo=not args.verbose)
    print_summary(summary, time.perf_counter() - start, baro_command(root), "" if args.no_prefect else ", the rest is Prefect")
    return 0


def print_summary(summary: dict[str, Any], seconds: float, baro: str, rest: str = ", the rest is Prefect") -> None:
    print(f"done in {seconds:.1f} s (pipeline {sum(summary['timings_seconds'].values()):.2f} s{rest})")
    for pop, r in summary["rows"].items():
        print(f"  {pop}: read {r['read']} = kept {r['kept']} + excluded {r['excluded']} + quarantined {r['quarantined']}")
    verdicts = ", ".join(f"{k} {v}" for k, v in summary["verdicts"].items())
    print(f"  audit of {summary['figures']} published figures: {verdicts}")
    print(f"  outputs: {summary['outputs']}/")
    for name, what in (("report.html", "report"), ("tables.xlsx", "tables"), ("trends.parquet", "trends"), ("audit.parquet", "audit")):
        if name in summary["files"]:
            print(f"    {what + ':':<8} {Path(summary['outputs']) / name}")
    print(f"    (the audit as text: {baro} audit {summary['edition']})")


def cmd_server(args: argparse.Namespace, root: Path) -> int:
    from baro_flows.server import server_command

    print(server_command(args.action, prefect_home(root), args.host, args.port))
    return 0


def cmd_audit(args: argparse.Namespace, root: Path) -> int:
    from .audit import render_audit
    from .edition import load_edition
    from .outputs import read_table

    load_edition(args.edition, root)  # "not found, use one of …" rather than "run it first" for an unknown edition
    table = read_table(root, args.edition, "audit")
    print(render_audit(table, fmt=args.format, problems_only=args.problems))
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


COMMANDS = {"synth": cmd_synth, "validate": cmd_validate, "run": cmd_run, "server": cmd_server, "audit": cmd_audit, "new-edition": cmd_new_edition}

if __name__ == "__main__":
    console()
