"""Property-based harness over the readers and validation (issue 18; docs/broken-inputs.md, "Generated inputs").

Exports drawn by :mod:`fuzz_exports` (codebook-conformant interviews, a layout, mutations) must
end in exit 0, 1 or 2 with a clear message, every row counted, and no open text anywhere out of
ingest and validation. `make test` runs a few examples of each property (the ``baro`` profile,
derandomized); `make fuzz` thousands (``HYPOTHESIS_PROFILE=fuzz``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import re
import shutil
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from baro_pipeline.cli import main
from baro_pipeline.edition import load_edition
from baro_pipeline.errors import BaroError
from baro_pipeline.ingest import read_export
from baro_pipeline.outputs import write_table
from baro_pipeline.validation import Validated, validate_export
from broken import replace_once
from fuzz_exports import EDITION, ID_PATTERN, MARKER, POPULATIONS, REPO, Drawn, Layout, Table, clean_cells, csv_bytes, exports, known_export

# Every problem quarantined, none refused for its share: the row-by-row path is exercised on small exports.
LENIENT = dataclasses.replace(EDITION.thresholds, max_invalid_share=1.0)
COUNTS = re.compile(r"^(\w+) \(.*\n(?:  ignored: .*\n)?  read (\d+) = kept (\d+) \+ excluded (\d+) \+ quarantined (\d+)$", re.MULTILINE)
OTHER_ROWS = 5  # interviews of the population not drawn, written clean


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Path]:
    """Project folders holding the 2025 edition: as committed (False) and with max_invalid_share 1 (True)."""
    folders = {}
    for lenient in (False, True):
        root = tmp_path_factory.mktemp("lenient" if lenient else "committed")
        shutil.copytree(REPO / "editions" / "2025", root / "editions" / "2025")
        (root / "raw" / "2025").mkdir(parents=True)
        if lenient:
            replace_once(root / "editions" / "2025" / "edition.yaml", "max_invalid_share: 0.10", "max_invalid_share: 1.0")
        folders[lenient] = root
    return folders


@functools.cache
def clean_export(population: str) -> bytes:
    header, rows = clean_cells(population, OTHER_ROWS, 0)
    return csv_bytes(Table(population, header, rows), Layout("csv"))


def files_in(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


# The edition's YAML is the same in every example: loaded once, as the command would load it.
cached_edition = functools.cache(load_edition)


def baro(*argv: str) -> tuple[int, str, str]:
    """``baro ARGV`` in-process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), mock.patch("baro_pipeline.edition.load_edition", cached_edition):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


# Failures the harness found once, tried first on every run (docs/broken-inputs.md).
CR_ONLY = known_export(Layout("csv", line_ends=("\r",)))
UTF16_CRLF_NO_BOM = known_export(Layout("csv", encoding="utf-16-le", line_ends=("\r\n",)))
UTF32 = known_export(Layout("csv", encoding="utf-32"))
OPEN_TEXT_UNQUOTED_LINE_END = known_export(Layout("csv", quoting="none"), {"Q3_98_other": "OTXMARK001a\nOTXMARK001b"}, rows=None)


@example(drawn=CR_ONLY, lenient=False)
@example(drawn=UTF16_CRLF_NO_BOM, lenient=False)
@given(drawn=exports(), lenient=st.booleans())
def test_validate_ends_in_a_clear_exit_with_every_row_counted(projects: dict[bool, Path], drawn: Drawn, lenient: bool) -> None:
    root = projects[lenient]
    raw = root / "raw" / "2025"
    for old in raw.iterdir():
        old.unlink()
    (raw / drawn.file_name).write_bytes(drawn.data)
    for population in POPULATIONS:
        if population != drawn.population:
            (raw / f"{population}.csv").write_bytes(clean_export(population))
    before = files_in(root)

    code, out, err = baro("--root", str(root), "validate", "2025")

    assert code in (0, 1, 2), f"exit {code}: {err}"
    assert "Traceback" not in err and "internal error" not in err, err
    assert MARKER not in out + err, "an open text was printed"
    assert files_in(root) == before, "validate wrote or removed a file"
    if code:
        assert re.match(r"error: \S.*\n  fix: \S", err), f"not a clear message (what, where, fix): {err!r}"
        return
    counts = {m[0]: tuple(map(int, m[1:])) for m in COUNTS.findall(out)}
    assert set(counts) == set(POPULATIONS), out
    for population, (read, kept, excluded, quarantined) in counts.items():
        assert read == kept + excluded + quarantined, out
        expected = drawn.rows if population == drawn.population else OTHER_ROWS
        assert expected is None or read == expected, f"{population}: read {read}, but the file holds {expected} data rows\n{out}"


def validated(drawn: Drawn, folder: Path, lenient: bool) -> Validated:
    path = folder / drawn.file_name
    path.write_bytes(drawn.data)
    population = EDITION.populations[drawn.population]
    return validate_export(read_export(path, population.codebook), population, EDITION.quality, LENIENT if lenient else EDITION.thresholds)


def check_refusal(exc: BaroError, drawn: Drawn) -> None:
    assert exc.exit_code in (1, 2), exc.message
    assert exc.what and exc.where and exc.fix, f"not a clear message (what, where, fix): {exc.message!r}"
    assert MARKER not in exc.message, "an open text in an error message"
    named = re.findall(r"UTF-(?:16|32)", exc.what)
    if named and not any(m.data for m in drawn.mutations):
        assert drawn.layout.encoding.upper().startswith(named[0]), f"a {drawn.layout.encoding} file called {named[0]}: {exc.what}"


def texts_of(frame: pd.DataFrame) -> list[str]:
    """Every column name and cell, as ``column: value``."""
    return [f"{column}: {v}" for column in frame.columns for v in ("(name)", *frame[column].tolist())]


def check_result(result: Validated, drawn: Drawn, folder: Path) -> None:
    """Rows counted, open texts out of the quarantine (as written) and of the kept frame, ids as written, spoiled rows out."""
    c = result.counts
    assert c.read == c.kept + sum(c.excluded.values()) + c.quarantined, c
    assert drawn.rows is None or c.read == drawn.rows, f"read {c.read}, but the file holds {drawn.rows} data rows"
    written = pq.read_table(folder / write_table(folder, "quarantine", result.quarantine, {"edition": "2025"})).to_pandas()
    leaked = [t for t in texts_of(written) + texts_of(result.frame) if MARKER in t]
    assert not leaked, f"open text in the quarantine or the kept interviews: {leaked[:3]}"
    ids = written["respondent_id"].dropna().tolist()
    strange = [i for i in ids if not ID_PATTERN.fullmatch(i) and i not in drawn.written_ids and not any(w.startswith(i) for w in drawn.written_ids)]
    assert not strange, f"respondent ids in the quarantine that no id cell holds: {strange[:3]}"
    kept = result.frame[EDITION.populations[drawn.population].codebook.columns.id]
    assert not set(kept) & {i.strip() for i in drawn.spoiled_ids}, f"invalid interviews kept: {sorted(set(kept) & {i.strip() for i in drawn.spoiled_ids})}"
    numbers = result.frame.select_dtypes("number").to_numpy(dtype=float)
    assert not np.isinf(numbers).any(), "an infinite number kept"


@example(drawn=CR_ONLY, lenient=True)
@example(drawn=UTF32, lenient=True)
@example(drawn=OPEN_TEXT_UNQUOTED_LINE_END, lenient=True)
@given(drawn=exports(), lenient=st.booleans())
def test_stages_count_rows_and_keep_open_text_out(drawn: Drawn, lenient: bool) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        try:
            result = validated(drawn, folder, lenient)
        except BaroError as exc:
            check_refusal(exc, drawn)
            return
        check_result(result, drawn, folder)


@example(drawn=known_export(Layout("csv"), {"loi_seconds": "1e400"}))
@example(drawn=known_export(Layout("csv"), {"respondent_id": "TLN-PS-0\x0000001"}))
@example(drawn=known_export(Layout("csv"), {"Q3_1": "1", "Q3_2": "٣"}))  # a tick column, beside a tick
@example(drawn=known_export(Layout("csv"), {"Q3_1": "1", "Q3_2": "1" * 4301}))  # past Python's int-from-text limit
@example(drawn=known_export(Layout("xlsx"), {"Q3_1": "1", "Q3_2": "NaN"}))  # read_excel's own blanks
@given(drawn=exports(structural=False))
def test_damaged_cells_are_quarantined_row_by_row(drawn: Drawn) -> None:
    """A well-formed file whose cells are damaged is read: its problems quarantined interview by
    interview, never the whole file refused (unless no interview is complete)."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        try:
            result = validated(drawn, folder, lenient=True)
        except BaroError as exc:
            check_refusal(exc, drawn)
            assert exc.what.startswith("no interview left"), f"a well-formed file refused as a whole: {exc.message}"
            return
        check_result(result, drawn, folder)
