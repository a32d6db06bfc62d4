"""The corpus of broken inputs (docs/broken-inputs.md), generated from the committed 2025 exports.

No case is a hand-edited file: each copies the project (``editions/2025`` and ``raw/2025``) and
breaks one thing by code. A :class:`Case` says how (``make``) and what must happen (``outcome``):
:class:`Refused` (a clear error and an exit code, previous outputs untouched), :class:`Quarantined`
(the run goes on, the bad interviews quarantined with their rule) or :class:`Accepted` (a
harmless variation, read as it is). Row-level problems are :class:`Planted` in distinct ordinary
interviews, so that one export can carry all of them at once (:func:`row_level_project`).

``python tests/broken.py OUT`` writes every case to ``OUT/<case>/`` to look at.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Mapping, Sequence

import filelock
import numpy as np
import openpyxl
import pandas as pd

from baro_pipeline.edition import Codebook, load_edition
from baro_pipeline.ingest import coded_columns
from exports import write_sav

REPO = Path(__file__).resolve().parents[1]
EDITION = "2025"
ID, STATUS, LOI = "respondent_id", "status", "loi_seconds"
# Planted "autre, précisez" answers carry this ASCII marker, found even where a log escapes accents.
OPEN_TEXT_MARKER = "PLANTED-OPEN-TEXT"
GARBAGE_ROWS = 1_000_000
EXCEL_ROWS = 60  # Excel and SPSS cases use the first interviews only: openpyxl is slow
EXTRA_COLUMNS = 5_000  # more than ingest.DEFAULT_MAX_COLUMNS once added to the export's own
HUGE_FIELD = 50 * 2**20  # characters of one open answer: more than ingest.MAX_FIELD_MB and a parse block
SHIFTING_TEXT = "cabinet; clinique"  # an open answer holding the delimiter
# Run scenarios that are tests rather than inputs (listed in the docs with the cases).
RUN_SCENARIOS = ("row_level_run", "killed_mid_run", "rerun_is_identical")


# --------------------------------------------------------------------------------------------
# Projects and exports
# --------------------------------------------------------------------------------------------


def copy_project(dest: Path) -> Path:
    """``dest`` holding a copy of the committed edition and its exports."""
    for part in ("editions", "raw"):
        shutil.copytree(REPO / part / EDITION, dest / part / EDITION)
    return dest


@functools.cache
def codebook(population: str = "ps") -> Codebook:
    return load_edition(EDITION, REPO).populations[population].codebook


def export_file(root: Path, population: str = "ps", suffix: str = "csv") -> Path:
    return root / "raw" / EDITION / f"{population}.{suffix}"


def read_frame(root: Path, population: str = "ps") -> pd.DataFrame:
    """The export as text cells, blanks as ""."""
    return pd.read_csv(export_file(root, population), sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig")


def write_frame(frame: pd.DataFrame, root: Path, population: str = "ps", delimiter: str = ";", encoding: str = "utf-8-sig") -> None:
    frame.to_csv(export_file(root, population), sep=delimiter, index=False, encoding=encoding)


def replace_once(file: Path, old: str, new: str) -> None:
    """Edit a text file, failing if ``old`` is not found exactly once (the committed file changed)."""
    text = file.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} found {text.count(old)} times in {file}"
    file.write_text(text.replace(old, new, 1), encoding="utf-8")


def with_open_text(frame: pd.DataFrame, text: str, rows: Sequence[int] = ()) -> pd.DataFrame:
    """Every open answer already given, and those of ``rows``, replaced by ``text`` (``{n}`` numbered)."""
    out = frame.copy()
    for column in (c for c in frame.columns if c.endswith("_other")):
        given = np.flatnonzero(frame[column].ne("").to_numpy())
        for n, i in enumerate(sorted(set(given) | set(rows))):
            out.loc[i, column] = text.format(n=f"{column}-{n:04d}")
    return out


# --------------------------------------------------------------------------------------------
# Row-level problems, planted in distinct ordinary interviews
# --------------------------------------------------------------------------------------------


class Rows:
    """Picks ordinary interviews (complete, far from a speeder), never the same one twice."""

    def __init__(self, frame: pd.DataFrame) -> None:
        loi = pd.to_numeric(frame[LOI], errors="coerce")
        complete = frame[STATUS].eq("complete")
        self.ordinary = (complete & (loi >= loi[complete].median() / 2)).to_numpy()
        self.used: list[int] = []

    def take(self, where: np.ndarray | None = None, k: int = 1) -> list[int]:
        mask = self.ordinary if where is None else self.ordinary & where
        free = [int(i) for i in np.flatnonzero(mask) if i not in self.used][:k]
        assert len(free) == k, "not enough ordinary interviews for this problem in the committed export"
        self.used += free
        return free


Plant = Callable[[pd.DataFrame, Rows], list[int]]


@dataclass(frozen=True)
class Planted:
    """A problem planted in the ps export: ``problems`` are the quarantine rules (count of rows) it must give."""

    id: str
    plant: Plant
    problems: Mapping[str, int] = field(default_factory=dict)  # empty: accepted as it is
    interviews: int = 1  # how many interviews the problems are in
    says: tuple[str, ...] = ()  # what `baro validate` prints about it, when accepted
    edit_text: Callable[[str], str] | None = None  # a change to the written CSV text


def set_cells(values: Mapping[str, object], where: Callable[[pd.DataFrame], pd.Series] | None = None) -> Plant:
    """Set cells of one interview (meeting ``where``); a value may be a function of the cell."""

    def plant(frame: pd.DataFrame, rows: Rows) -> list[int]:
        (i,) = rows.take(None if where is None else where(frame).to_numpy())
        for column, value in values.items():
            frame.loc[i, column] = value(frame.loc[i, column]) if callable(value) else value
        return [i]

    return plant


def last_interview(frame: pd.DataFrame, rows: Rows) -> list[int]:
    return rows.take(np.arange(len(frame)) == len(frame) - 1)


def cut_last_line(text: str) -> str:
    """A download cut short: the last line keeps its first 5 fields, with no line end."""
    lines = text.rstrip("\n").split("\n")
    lines[-1] = ";".join(lines[-1].split(";")[:5])
    return "\n".join(lines)


def duplicate_id(frame: pd.DataFrame, rows: Rows) -> list[int]:
    first, second = rows.take(k=2)
    frame.loc[second, ID] = frame.loc[first, ID]
    return [first, second]


def extra_column(frame: pd.DataFrame, rows: Rows) -> list[int]:
    frame["panel_source"] = "toluna-panel-7"
    return []


def asked_q5(frame: pd.DataFrame) -> pd.Series:
    return frame["Q1"].isin(["1", "2", "3"])


PLANTED = (
    Planted("truncated_last_line", last_interview, {"field_count": 1}, edit_text=cut_last_line),
    Planted("duplicate_id", duplicate_id, {"field_uniqueness": 2}, interviews=2),
    Planted("code_outside_scale", set_cells({"Q2": "7"}), {"allowed_codes": 1}),
    Planted("text_in_numeric_column", set_cells({"Q2": "Oui, plutôt"}), {"number": 1, "required": 1}),
    Planted("multi_over_cap", set_cells({"Q8_1": "1", "Q8_2": "1", "Q8_3": "1", "Q8_4": "1", "Q8_99": "0"}), {"max_answers": 1}),
    Planted("exclusive_with_others", set_cells({"Q5_99": "1", "Q5_1": "1"}, where=asked_q5), {"exclusive": 1}),
    Planted("routing_not_asked", set_cells({"Q3_1": "1"}, where=lambda f: f["Q1"].eq("4")), {"routing": 1}),
    Planted("required_blank", set_cells({"Q2": ""}), {"required": 1}),
    Planted("codes_as_1.0_and_space", set_cells({"Q1": lambda v: f"{v}.0", "PROFESSION": lambda v: f" {v} "})),
    Planted("decimal_comma", set_cells({LOI: lambda v: f"{v},5"})),
    Planted("extra_column", extra_column, says=(r"ignored: 1 column\(s\) the codebook does not name: panel_source",)),
    Planted("full_width_digit", set_cells({"Q2": "\uff12"}), {"number": 1, "required": 1}),
    Planted("arabic_indic_tick", set_cells({"Q8_1": "\u0661"}, where=lambda f: f["Q8_1"].eq("0") & f["Q8_2"].eq("1")), {"number": 1}),
    Planted("loi_beyond_float", set_cells({LOI: "1e400"}), {"number": 1, "not_nullable": 1}),
    Planted("control_character_in_id", set_cells({ID: lambda v: v[:3] + "\x00" + v[3:]}), {"respondent_id": 1}),
)


def plant(root: Path, planted: Sequence[Planted], open_text: str | None = None) -> dict[str, list[int]]:
    """Plant problems in the ps export (and open texts, if given); the rows (0-based) of each."""
    frame = read_frame(root)
    rows = Rows(frame)
    where = {p.id: p.plant(frame, rows) for p in planted}
    if open_text is not None:
        frame = with_open_text(frame, open_text, rows.used)
    write_frame(frame, root)
    for edit in (p.edit_text for p in planted if p.edit_text):
        path = export_file(root)
        path.write_text(edit(path.read_text(encoding="utf-8-sig")), encoding="utf-8-sig")
    return where


def open_text(population: str) -> str:
    return f"autre, précisez : {OPEN_TEXT_MARKER}-{population}-{{n}} l’outil maison de mon cabinet"


def row_level_project(root: Path) -> dict[str, list[int]]:
    """Every planted problem in ps, open texts planted in both populations, gp in Windows-1252 with ','.

    Bases are made small enough to be flagged and suppressed (thresholds 700 and 500), so that the
    outputs show both.
    """
    where = plant(root, PLANTED, open_text=open_text("ps"))
    write_frame(with_open_text(read_frame(root, "gp"), open_text("gp")), root, "gp", delimiter=",", encoding="cp1252")
    replace_once(
        root / "editions" / EDITION / "edition.yaml",
        "thresholds: {flag_base: 30, suppress_base: 10,",
        "thresholds: {flag_base: 700, suppress_base: 500,",
    )
    return where


# --------------------------------------------------------------------------------------------
# Outcomes
# --------------------------------------------------------------------------------------------

COUNTS = re.compile(r"^  read (\d+) = kept (\d+) \+ excluded (\d+) \+ quarantined (\d+)$")
RULE = re.compile(r"^    quarantine (\S+)\s+(\d+)$")
POPULATION = re.compile(r"^(\w+) \(")


def validate_report(out: str) -> dict[str, dict]:
    """What `baro validate` printed, per population: read, kept, excluded, quarantined and problems by rule."""
    report: dict[str, dict] = {}
    for line in out.splitlines():
        if match := POPULATION.match(line):
            current = report.setdefault(match[1], {"rules": {}})
        elif match := COUNTS.match(line):
            current.update(zip(("read", "kept", "excluded", "quarantined"), map(int, match.groups())))
        elif match := RULE.match(line):
            current["rules"][match[1]] = int(match[2])
    return report


@dataclass(frozen=True)
class Refused:
    """A clear error: exit code, and the message's parts (what, where, fix) as regular expressions."""

    exit_code: int
    says: tuple[str, ...]

    def check(self, code: int, out: str, err: str, baseline: Mapping[str, dict]) -> None:
        assert code == self.exit_code, (code, out, err)
        assert err.startswith("error: ") and "\n  fix: " in err, err
        for pattern in self.says:
            assert re.search(pattern, err), (pattern, err)
        assert "Traceback" not in out + err and "internal error" not in err


@dataclass(frozen=True)
class Quarantined:
    """The run goes on: these quarantine problems (rule -> rows) in that many more ps interviews."""

    problems: Mapping[str, int]
    interviews: int

    def check(self, code: int, out: str, err: str, baseline: Mapping[str, dict]) -> None:
        assert code == 0, err
        ps, before = validate_report(out)["ps"], baseline["ps"]
        assert ps["read"] == ps["kept"] + ps["excluded"] + ps["quarantined"]
        assert (ps["read"], ps["excluded"]) == (before["read"], before["excluded"])
        assert ps["quarantined"] == before["quarantined"] + self.interviews
        added = {rule: n - before["rules"].get(rule, 0) for rule, n in ps["rules"].items()}
        assert {rule: n for rule, n in added.items() if n} == dict(self.problems)


@dataclass(frozen=True)
class Accepted:
    """Read as it is: what `baro validate` says about it, and the committed export's counts (unless ``rows`` is False)."""

    says: tuple[str, ...] = ()
    rows: bool = True

    def check(self, code: int, out: str, err: str, baseline: Mapping[str, dict]) -> None:
        assert code == 0, err
        for pattern in self.says:
            assert re.search(pattern, out), (pattern, out)
        report = validate_report(out)
        assert all(r["read"] == r["kept"] + r["excluded"] + r["quarantined"] for r in report.values())
        if self.rows:
            assert report == baseline


Outcome = Refused | Quarantined | Accepted


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[Path], object]  # breaks the project copy at this root
    outcome: Outcome
    command: str = "validate"  # "run" when only weighting finds it
    env: Mapping[str, str] = field(default_factory=dict)
    memory: int | None = None  # bytes of memory available, as ingest is told (None: the machine's)
    lock_held: bool = False  # another run holds the edition's output lock


# --------------------------------------------------------------------------------------------
# File-level breakages
# --------------------------------------------------------------------------------------------


def nothing(root: Path) -> None:
    """The committed project, as it is (the case is in the environment)."""


def write_bytes(data: bytes, population: str = "ps") -> Callable[[Path], None]:
    return lambda root: export_file(root, population).write_bytes(data)


def special_file(kind: str, suffix: str = "csv") -> Callable[[Path], None]:
    """The ps export replaced by a FIFO, a link to /dev/zero (endless zeros), a link to nothing or a
    link to itself, under its usual name."""

    def make(root: Path) -> None:
        export_file(root).unlink()
        path = export_file(root, suffix=suffix)
        if kind == "fifo":
            os.mkfifo(path)
        else:
            path.symlink_to({"zero": Path("/dev/zero"), "dangling": root / "nowhere" / path.name, "loop": path}[kind])

    return make


def cr_line_ends(root: Path) -> None:
    """Lines ended by CR alone, as an old Mac export."""
    path = export_file(root)
    path.write_bytes(path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r"))


def huge_open_text(root: Path) -> None:
    """A 50 MB "autre, précisez" answer in one interview (a paste gone wrong), longer than a parse block."""
    frame = read_frame(root)
    (i,) = Rows(frame).take()
    frame.loc[i, "Q3_98_other"] = "x" * HUGE_FIELD
    write_frame(frame, root)


def id_after_open_text(root: Path) -> None:
    """respondent_id moved to the last column, and an unquoted ';' in one open answer (line shifted by one field)."""
    frame = read_frame(root)
    (i,) = Rows(frame).take(frame["Q3_98_other"].eq("").to_numpy())
    frame.loc[i, "Q3_98_other"] = SHIFTING_TEXT
    write_frame(frame[[c for c in frame.columns if c != ID] + [ID]], root)
    path = export_file(root)
    path.write_text(path.read_text(encoding="utf-8-sig").replace(f'"{SHIFTING_TEXT}"', SHIFTING_TEXT), encoding="utf-8-sig")


def header_only(root: Path) -> None:
    path = export_file(root)
    path.write_bytes(path.read_bytes().split(b"\n", 1)[0] + b"\n")


def rewritten(change: Callable[[pd.DataFrame], pd.DataFrame] = lambda f: f, **dialect: str) -> Callable[[Path], None]:
    """The ps export changed by ``change`` and written in another dialect (delimiter, encoding)."""
    return lambda root: write_frame(change(read_frame(root)), root, **dialect)


def rows_in_another_delimiter(root: Path) -> None:
    """Header with ';', rows with ',': an export re-saved by hand, line 1 left as it was."""
    path = export_file(root)
    header = path.read_text(encoding="utf-8-sig").split("\n", 1)[0]
    body = read_frame(root).to_csv(sep=",", index=False).split("\n", 1)[1]
    path.write_text(header + "\n" + body, encoding="utf-8-sig")


def bom_then_latin1(root: Path) -> None:
    path = export_file(root)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_text(encoding="utf-8-sig").encode("latin-1"))


def labels_for_codes(frame: pd.DataFrame) -> pd.DataFrame:
    """Every single-choice answer exported as its label (a "texts" export instead of "values")."""
    book = codebook()
    singles = [q for q in book.profile + book.questions if q.type == "single"]
    return frame.assign(**{q.column: frame[q.column].map(lambda v, q=q: q.code_label(int(v)) if v else "") for q in singles})


def shifted_codes(frame: pd.DataFrame) -> pd.DataFrame:
    """Q2's codes moved by 4 (1-4 became 5-8): codes changed in the export, not in the codebook."""
    return frame.assign(Q2=frame["Q2"].map(lambda v: str(int(v) + 4) if v else ""))


def garbage(root: Path) -> None:
    """The real header, then a million lines of garbage, made by repeating bytes."""
    path = export_file(root)
    header = path.read_bytes().split(b"\n", 1)[0]
    path.write_bytes(header + b"\n" + "\x01garbage ~~ 0xDEADBEEF ;; ??? été\n".encode() * GARBAGE_ROWS)


def too_many_columns(root: Path) -> None:
    """Thousands of label columns appended (an export of every label as its own column)."""
    path = export_file(root)
    header, *lines = path.read_text(encoding="utf-8-sig").rstrip("\n").split("\n")
    extra = ";".join(f"LABEL_{i}" for i in range(EXTRA_COLUMNS))
    path.write_text("\n".join([f"{header};{extra}", *(line + ";" * EXTRA_COLUMNS for line in lines)]) + "\n", encoding="utf-8-sig")


def remove(population: str) -> Callable[[Path], None]:
    return lambda root: export_file(root, population).unlink()


def first_interviews(root: Path) -> pd.DataFrame:
    return read_frame(root).head(EXCEL_ROWS)


def older_workbook_beside(root: Path) -> None:
    first_interviews(root).to_excel(export_file(root, suffix="xlsx"), index=False)


def workbook(sheets: Callable[[pd.DataFrame], Mapping[str, pd.DataFrame]], startrow: int = 0) -> Callable[[Path], Path]:
    """ps as an .xlsx of these sheets (from the first interviews), in place of ps.csv."""

    def make(root: Path) -> Path:
        frames = sheets(first_interviews(root))
        export_file(root).unlink()
        path = export_file(root, suffix="xlsx")
        with pd.ExcelWriter(path, engine="openpyxl") as writer:
            for name, frame in frames.items():
                frame.to_excel(writer, sheet_name=name, index=False, startrow=startrow)
        return path

    return make


NOTICE = pd.DataFrame({"Notice": ["Export Toluna – Baromètre IA & Data en santé", "Une ligne par interview"]})


def merged_header(root: Path) -> None:
    """Group titles merged across row 1 and a second header row under it: a two-line header."""
    path = workbook(lambda f: {"Données": f})(root)
    book = openpyxl.load_workbook(path)
    sheet = book.active
    sheet.insert_rows(2)
    sheet["J2"], sheet["K2"] = "Usage", "Pratiques"
    sheet.merge_cells("J1:M1")
    book.save(path)


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns that hold only numbers (or blanks) as floats, as SPSS stores them."""
    numbers = frame.replace("", np.nan).apply(pd.to_numeric, errors="coerce")
    whole = numbers.notna().eq(frame.ne("")).all()
    return frame.assign(**{c: numbers[c] for c in frame.columns[whole.to_numpy()]})


def sav_with_moved_labels(root: Path) -> None:
    """An SPSS file whose Q1 labels are those of another scale order (codes 1 and 4 swapped)."""
    labels = coded_columns(codebook())
    q1 = dict(labels["Q1"])
    q1[1.0], q1[4.0] = q1[4.0], q1[1.0]
    frame = typed(first_interviews(root))
    export_file(root).unlink()
    write_sav(frame, export_file(root, suffix="sav"), codebook(), labels={**labels, "Q1": q1})


def damaged_sav(root: Path) -> None:
    """An SPSS file whose first value-label record names variable 1,543,503,907: ReadStat reads past its
    arrays and the process dies of a segmentation fault."""
    frame = typed(first_interviews(root))
    export_file(root).unlink()
    path = export_file(root, suffix="sav")
    write_sav(frame, path, codebook())
    data = bytearray(path.read_bytes())
    record = data.index(b"\x04\x00\x00\x00\x01\x00\x00\x00")  # record type 4, one variable, then its index
    data[record + 11] = 0x5C  # the index's high byte
    path.write_bytes(bytes(data))


def damaged_workbook(root: Path) -> None:
    """A workbook whose sheet XML is cut short (a download interrupted inside the zip's member)."""
    path = workbook(lambda f: {"Données": f})(root)
    with zipfile.ZipFile(path) as source:
        members = {info.filename: source.read(info) for info in source.infolist()}
    sheet = next(name for name in members if name.startswith("xl/worksheets/sheet"))
    members[sheet] = members[sheet][: len(members[sheet]) // 2]
    with zipfile.ZipFile(path, "w") as target:
        for name, content in members.items():
            target.writestr(name, content)


def edited(file: str, old: str, new: str) -> Callable[[Path], None]:
    return lambda root: replace_once(root / "editions" / EDITION / file, old, new)


def recoded(column: str, mapping: Callable[[pd.Series, pd.DataFrame], pd.Series]) -> Callable[[Path], None]:
    def make(root: Path) -> None:
        frame = read_frame(root)
        write_frame(frame.assign(**{column: mapping(frame[column], frame)}), root)

    return make


def planted_case(p: Planted) -> Case:
    outcome = Quarantined(p.problems, p.interviews) if p.problems else Accepted(p.says)
    return Case(p.id, lambda root: plant(root, [p]), outcome)


# "Billion laughs" under an allowed key: 9 lists of 9 aliases of the list before, 9**9 values once expanded.
ALIAS_BOMB = "dropped:\n  - &l0 [" + ", ".join(["lol"] * 9) + "]\n" + "".join(f"  - &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 9))
PS = r"raw/2025/ps\.csv"
FIX = r"\n  fix: "

CASES: tuple[Case, ...] = (
    # ---- the file as a whole
    Case("empty_file", write_bytes(b""), Refused(1, (PS + r": the file is empty", FIX + "export the interviews again"))),
    Case("header_only", header_only, Refused(1, (PS + r": the export has a header but no data row", FIX + r"export the interviews again \(every status\)"))),
    Case("delimiter_comma", rewritten(delimiter=","), Accepted((r"ps\.csv, csv, encoding utf-8, delimiter ','",))),
    Case("delimiter_tab", rewritten(delimiter="\t"), Accepted((r"ps\.csv, csv, encoding utf-8, delimiter '\\t'",))),
    Case("delimiter_unknown", rewritten(delimiter="|"), Refused(1, (PS + r", line 1: no delimiter in the header line \(looked for ';', ',' and tab\)", FIX + "export as CSV separated by ';'"))),
    Case("delimiter_changed_after_header", rows_in_another_delimiter, Refused(1, (
        PS + r": 101 of the first 101 data rows do not have the header's 110 fields \(row 1 has 1\)", r"not separated by ';' like the header line",
        FIX + r"export the interviews again as one table"))),
    Case("latin1_accents", rewritten(encoding="latin-1"), Accepted((r"ps\.csv, csv, encoding latin-1, delimiter ';'",))),
    Case("windows1252_accents", rewritten(lambda f: with_open_text(f, "l’outil « maison » du cabinet"), encoding="cp1252"), Accepted((r"ps\.csv, csv, encoding windows-1252",))),
    Case("utf8_without_bom", rewritten(encoding="utf-8"), Accepted((r"ps\.csv, csv, encoding utf-8, delimiter ';'",))),
    Case("bom_then_latin1", bom_then_latin1, Refused(1, (PS + r": the file starts with a UTF-8 byte order mark but line \d+ is not UTF-8", FIX + "the file mixes encodings"))),
    Case("utf16", rewritten(encoding="utf-16"), Refused(1, (PS + r": the file is UTF-16 text", FIX + r"save it as 'CSV UTF-8'"))),
    Case("utf32", rewritten(encoding="utf-32"), Refused(1, (PS + r": the file is UTF-32 text", FIX + r"save it as 'CSV UTF-8'"))),
    Case("cr_line_ends", cr_line_ends, Accepted((r"ps\.csv, csv, encoding utf-8, delimiter ';'",))),
    Case("export_is_fifo", special_file("fifo"), Refused(1, (PS + r": not a regular file but a FIFO \(named pipe\)", FIX + "put the export itself there"))),
    Case("export_links_to_dev_zero", special_file("zero"), Refused(1, (PS + r": not a regular file but a character device \(a link to /dev/zero\)", FIX + "put the export itself there"))),
    Case("export_links_to_nothing", special_file("dangling"), Refused(1, (PS + r": cannot read the file \(No such file or directory\)", FIX + "check the path and its permissions"))),
    Case("export_links_to_itself", special_file("loop"), Refused(1, (PS + r": cannot read the file \(Too many levels of symbolic links\)", FIX + "check the path and its permissions"))),
    Case("xlsx_is_fifo", special_file("fifo", "xlsx"), Refused(1, (r"raw/2025/ps\.xlsx: not a regular file but a FIFO", FIX))),
    Case("sav_links_to_dev_zero", special_file("zero", "sav"), Refused(1, (r"raw/2025/ps\.sav: not a regular file but a character device", FIX))),
    Case("open_text_of_50_mb", huge_open_text, Quarantined({"field_size": 1}, 1)),
    Case("id_after_open_text_shifted", id_after_open_text, Quarantined({"field_count": 1}, 1)),
    Case("garbage_million_rows", garbage, Refused(1, (
        PS + r": the file has about 1,000,000 rows × 110 columns = 110,000,000 cells, more than the limit of 21,474,836", FIX + r".*BARO_MAX_EXPORT_CELLS")),
        memory=2**30),
    Case("garbage_million_rows_limit_raised", garbage, Refused(1, (
        PS + r": 101 of the first 101 data rows do not have the header's 110 fields \(row 1 has 3\)", r"or the file is not a table")),
        env={"BARO_MAX_EXPORT_CELLS": "1e12"}),
    Case("file_too_large", nothing, Refused(1, (PS + r": the file is 0\.3 MB, more than the limit of 0\.1 MB", FIX + r".*BARO_MAX_EXPORT_MB")), env={"BARO_MAX_EXPORT_MB": "0.1"}),
    Case("too_many_columns", too_many_columns, Refused(1, (PS + r", line 1: the header has 5,110 columns, more than the limit of 5,000", FIX + r".*BARO_MAX_EXPORT_COLUMNS"))),
    Case("limit_not_a_number", nothing, Refused(2, (r"environment variable BARO_MAX_EXPORT_MB='lots' is not a positive number", FIX + "set BARO_MAX_EXPORT_MB to a positive number")), env={"BARO_MAX_EXPORT_MB": "lots"}),
    Case("population_file_missing", remove("gp"), Refused(1, (r"raw/2025: no export for population 'gp'", FIX + r"put the export there as gp\.csv, gp\.xlsx or gp\.sav"))),
    Case("two_files_for_one_population", older_workbook_beside, Refused(1, (r"raw/2025: several exports for population 'ps': ps\.csv, ps\.xlsx", FIX + "keep one of them"))),
    # ---- columns
    Case("missing_column", rewritten(lambda f: f.drop(columns=["Q2"])), Refused(1, (PS + r": 1 column\(s\) of the codebook missing from the export: column 'Q2' missing\n  fix: ", FIX + "rename the export's columns"))),
    Case("renamed_column", rewritten(lambda f: f.rename(columns={"Q2": "q2"})), Refused(1, (
        PS + r": .*column 'Q2' missing; 'q2' looks like it: map it in the codebook with column: q2 under Q2", FIX))),
    Case("labels_instead_of_codes", rewritten(labels_for_codes), Refused(1, (
        PS + r": [\d,]+ cells of 1,110 rows are not numbers where the codebook expects codes or numbers \(most in column '\w+': [\d,]+, the first at row \d+\)",
        FIX + r"export the answers as codes, not as labels"))),
    Case("codes_shifted", rewritten(shifted_codes), Refused(1, (
        PS + r" \(population ps\): 1010 of 1010 interviews quarantined \(100\.0%\), above the edition's maximum share of invalid rows \(10\.0%\); "
        r"most frequent problems: allowed_codes \d+", FIX + r"run `baro (--root \S+ )?validate EDITION`.*thresholds\.max_invalid_share"))),
    # ---- Excel and SPSS
    Case("xlsx_notice_sheet_first", workbook(lambda f: {"Lisez-moi": NOTICE, "Données": f}), Accepted((r"ps\.xlsx, xlsx, sheet 'Données'", r"read 60 = kept"), rows=False)),
    Case("xlsx_interviews_on_two_sheets", workbook(lambda f: {"Données": f, "Données (envoi 1)": f}), Refused(1, (
        r"raw/2025/ps\.xlsx: several sheets hold interviews \(a header with 'respondent_id' and 'status'\): 'Données', 'Données \(envoi 1\)'", FIX + "keep the interviews on one sheet"))),
    Case("xlsx_merged_header", merged_header, Refused(1, (r"ps\.xlsx, sheet 'Données': two-line header: row 1 holds column names and row 2 continues them", FIX + "keep a single header row"))),
    Case("xlsx_title_above_header", workbook(lambda f: {"Données": f}, startrow=2), Refused(1, (r"ps\.xlsx, sheet 'Données': the column names are on row 3, not on row 1", FIX + r"delete row\(s\) 1–2"))),
    Case("sav_labels_disagree", sav_with_moved_labels, Refused(1, (
        r"raw/2025/ps\.sav: column 'Q1': code 1 is labelled 'Non, jamais' in the file but 'Oui, tous les jours ou presque' in the codebook", FIX + "check that the column is mapped"))),
    Case("xlsx_damaged", damaged_workbook, Refused(1, (r"raw/2025/ps\.xlsx: not a readable Excel workbook \(xml\.ParseError\)", FIX + "open it in Excel and save it again"))),
    Case("sav_crashes_the_reader", damaged_sav, Refused(1, (
        r"raw/2025/ps\.sav: not a readable SPSS \.sav file: the SPSS reader crashed on it \(SIGSEGV\)", FIX + "the file is damaged"))),
    # ---- the edition's YAML
    Case("yaml_syntax_error", edited("codebook_ps.yaml", 'codes: {1: "Un homme", 2: "Une femme"}', 'codes: {1: "Un homme", 2: "Une femme"'), Refused(2, (
        r"editions/2025/codebook_ps\.yaml, line \d+, column \d+: invalid YAML", FIX + "correct the YAML syntax at that place"))),
    Case("yaml_key_typo", edited("codebook_ps.yaml", "est utilisée\"\n    asked_if:", "est utilisée\"\n    asked_iff:"), Refused(2, (
        r"editions/2025/codebook_ps\.yaml, line \d+: key 'questions\.Q3\.asked_iff': unknown key 'asked_iff'", FIX + r"did you mean 'asked_if'\?"))),
    Case("yaml_alias_bomb", edited("edition.yaml", "dropped: []", ALIAS_BOMB), Refused(2, (
        r"editions/2025/edition\.yaml, line \d+, column \d+: invalid YAML: the aliases expand to more than 200,000 values", FIX + "write the values out instead of nesting aliases"))),
    Case("targets_sum_to_0.98", edited("targets_ps.yaml", "4: 0.74}", "4: 0.72}"), Refused(2, (
        r"editions/2025/targets_ps\.yaml, line \d+: key 'variables\.profession\.shares': shares of 'profession' sum to 0\.98, not 1", FIX + "correct the shares so that they sum to 1"))),
    # ---- found by the run only (weighting)
    Case("target_category_absent", recoded("REGION", lambda v, f: v.replace("1", "2")), Refused(1, (
        r"population ps, targets of 'region': target category 1 'Île-de-France' of 'region' \(share 0\.17\) has no respondent in the sample", FIX + "merge this category")), command="run"),
    Case("weights_do_not_converge", recoded("SEXE", lambda v, f: f["PROFESSION"].map({"1": "1", "2": "1", "3": "1", "4": "2"}).fillna("")), Refused(1, (
        r"raking did not converge in \d+ iterations", FIX + "check the targets against the sample")), command="run"),
    Case("outputs_locked", nothing, Refused(1, (r"outputs/\.2025\.lock: another run of edition 2025 is writing its outputs", FIX + "wait for that run to end")), command="run", lock_held=True),
    # ---- one row each (all of them at once in row_level_project)
    *(planted_case(p) for p in PLANTED),
)


# --------------------------------------------------------------------------------------------
# Running baro on a project copy
# --------------------------------------------------------------------------------------------


def start_baro(root: Path, *args: str, merged: bool = False) -> subprocess.Popen:
    """`baro --root ROOT ARGS` with Prefect's state in the project copy and the default limits.

    In its own process group, so that a kill also reaches Prefect's temporary server. ``merged``:
    stderr into stdout, for a caller that reads stdout as it comes (a full stderr pipe would block).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("BARO_MAX_EXPORT_")}
    return subprocess.Popen(
        [sys.executable, "-m", "baro_pipeline.cli", "--root", str(root), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merged else subprocess.PIPE,
        text=True,
        env={**env, "PREFECT_HOME": str(root / ".prefect")},
        start_new_session=True,
    )


@dataclass(frozen=True)
class RowLevelRun:
    """`baro run --verbose` on :func:`row_level_project`, finished: its project, the rows (0-based) of each planted problem in ps, what it printed."""

    root: Path
    planted: Mapping[str, list[int]]
    result: subprocess.CompletedProcess


def row_level_run(base: Path) -> RowLevelRun:
    """The row-level run of a test session, in ``base``: a folder its pytest-xdist workers share.

    The first to ask runs it, holding a lock; the others wait for the lock and read its record.
    """
    root, record = base / "row_level_run", base / "row_level_run.json"
    with filelock.FileLock(base / "row_level_run.lock"):
        if not record.exists():
            planted = row_level_project(copy_project(root))
            process = start_baro(root, "run", EDITION, "--verbose")
            try:
                out, err = process.communicate(timeout=900)
            finally:  # interrupted or timed out: never leave it (and Prefect's server) running
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.communicate()
            done = {"planted": {k: [int(i) for i in v] for k, v in planted.items()}, "args": process.args, "code": process.returncode, "out": out, "err": err}
            record.write_text(json.dumps(done), encoding="utf-8")
    done = json.loads(record.read_text(encoding="utf-8"))
    return RowLevelRun(root, done["planted"], subprocess.CompletedProcess(done["args"], done["code"], done["out"], done["err"]))


def start_row_level_run(base: Path) -> subprocess.Popen | None:
    """Start :func:`row_level_run` in ``base`` in the background (``python tests/broken.py --row-level-run BASE``),
    unless another pytest-xdist worker did: the tests that read it find it done instead of waiting a whole run."""
    try:
        os.close(os.open(base / "row_level_run.started", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return None
    return subprocess.Popen([sys.executable, __file__, "--row-level-run", str(base)], stdout=subprocess.DEVNULL)


def main(argv: Sequence[str]) -> int:
    """Write every case to ``OUT/<case>/`` (a project folder: editions/2025 and raw/2025)."""
    if len(argv) == 2 and argv[0] == "--row-level-run":
        row_level_run(Path(argv[1]))
        return 0
    if len(argv) != 1:
        print("usage: python tests/broken.py OUT", file=sys.stderr)
        return 2
    out = Path(argv[0])
    for case in CASES:
        case.make(copy_project(out / case.id))
    row_level_project(copy_project(out / "row_level_run"))
    print(f"wrote {len(CASES) + 1} projects in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
