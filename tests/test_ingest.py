"""Ingest: every format, dialect and multi encoding gives the same normalised frame; broken files fail clearly."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pytest

from baro_pipeline import ingest
from baro_pipeline.errors import ExportError
from baro_pipeline.ingest import (
    ASSUMED_MEMORY,
    BYTES_PER_CELL,
    BYTES_PER_FILE_BYTE,
    LIMIT_VARIABLES,
    ROW,
    digit_numbers,
    export_limits,
    find_export,
    parsed_numbers,
    read_export,
    text_numbers,
)
from exports import OPEN_TEXT, clean_frame, codebook_with_encoding, with_multi_encoding, write_csv, write_sav, write_xlsx


@pytest.fixture(scope="module")
def frame(mini_codebook) -> pd.DataFrame:
    return clean_frame(mini_codebook, n=30)


@pytest.fixture(scope="module")
def reference(frame, mini_codebook, tmp_path_factory) -> pd.DataFrame:
    """The normalised frame of the default delivery: ';', UTF-8 with BOM, 1/0 multi columns."""
    return read_export(write_csv(frame, tmp_path_factory.mktemp("ref") / "ps.csv"), mini_codebook).frame


def csv_text(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "ps.csv"
    path.write_bytes(text.encode(encoding))
    return path


def lines(frame: pd.DataFrame, delimiter: str = ";") -> list[str]:
    return frame.to_csv(sep=delimiter, index=False).splitlines()


# --------------------------------------------------------------------------------------------
# Same data, any shape
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["binary", "blank", "codes"])
@pytest.mark.parametrize("fmt", ["csv", "xlsx", "sav"])
def test_formats_and_multi_encodings_give_the_same_frame(fmt, encoding, frame, reference, mini_codebook, tmp_path):
    export = with_multi_encoding(frame, mini_codebook, encoding)
    book = codebook_with_encoding(mini_codebook, encoding)
    path = {"csv": lambda: write_csv(export, tmp_path / "ps.csv"), "xlsx": lambda: write_xlsx(export, tmp_path / "ps.xlsx"), "sav": lambda: write_sav(export, tmp_path / "ps.sav", book)}[fmt]()
    result = read_export(path, book)
    pd.testing.assert_frame_equal(result.frame, reference)
    assert result.source.format == fmt and result.source.rows_read == len(frame) and result.issues.empty


def test_normalised_frame_types(reference, mini_codebook):
    assert reference[ROW].tolist() == list(range(1, len(reference) + 1))
    assert reference[mini_codebook.columns.id].dtype == "str"
    assert reference["Q2_98_other"].dtype == "str"  # open text is read (validation drops it)
    assert all(reference[c].dtype == "float32" for c in ("loi_seconds", "SEXE", "Q1", "Q2_1", "Q3_r1", "Q4_99"))  # exact: half the memory
    q1_not_yes = ~reference["Q1"].isin([1.0, 2.0])
    assert reference.loc[q1_not_yes, ["Q2_1", "Q2_2", "Q2_3", "Q2_98"]].isna().all().all()  # not asked: NaN
    assert set(reference.loc[~q1_not_yes, "Q2_1"].unique()) <= {0.0, 1.0}


@pytest.mark.parametrize("delimiter", [";", ",", "\t"])
@pytest.mark.parametrize("encoding, bom", [("utf-8-sig", True), ("utf-8", False)])
def test_csv_delimiter_and_bom_are_detected_and_recorded(delimiter, encoding, bom, frame, reference, mini_codebook, tmp_path):
    result = read_export(write_csv(frame, tmp_path / "ps.csv", delimiter=delimiter, encoding=encoding), mini_codebook)
    assert (result.source.delimiter, result.source.encoding, result.source.bom) == (delimiter, "utf-8", bom)
    pd.testing.assert_frame_equal(result.frame, reference)


@pytest.mark.parametrize("line_end, name", [("\r\n", "CRLF"), ("\r", "CR")])
def test_windows_and_old_mac_line_ends_are_read_and_recorded(line_end, name, frame, reference, mini_codebook, tmp_path):
    path = tmp_path / "ps.csv"
    frame.to_csv(path, sep=";", index=False, encoding="utf-8-sig", lineterminator=line_end)
    result = read_export(path, mini_codebook)
    pd.testing.assert_frame_equal(result.frame, reference)
    assert result.source.line_end == name and result.source.rows_read == len(frame)


@pytest.mark.parametrize(
    "encoding, detected, text",
    [
        ("latin-1", "latin-1", "Médecin à l'hôpital"),
        ("cp1252", "windows-1252", "L’IA m’aide : cœur, œil, été"),
    ],
)
def test_single_byte_encodings_are_detected(encoding, detected, text, frame, mini_codebook, tmp_path):
    export = frame.assign(Q2_98_other=frame["Q2_98_other"].where(frame["Q2_98_other"].isna(), text))
    result = read_export(write_csv(export, tmp_path / "ps.csv", encoding=encoding), mini_codebook)
    assert (result.source.encoding, result.source.bom) == (detected, False)
    assert set(result.frame["Q2_98_other"].dropna()) == {text}


@pytest.mark.parametrize(
    "encoding, name",
    [("utf-16", "UTF-16"), ("utf-32", "UTF-32"), ("utf-16-le", r"UTF-16 \(no byte order mark\)"), ("utf-32-be", r"UTF-32 \(no byte order mark\)")],
)
def test_wide_encodings_are_named(encoding, name, frame, mini_codebook, tmp_path):
    with pytest.raises(ExportError, match=rf"the file is {name} text\n  fix: save it as 'CSV UTF-8'"):
        read_export(write_csv(frame, tmp_path / "ps.csv", encoding=encoding), mini_codebook)


@pytest.mark.parametrize(
    "data, message",
    [
        ("é".encode() + "é".encode("cp1252"), r"mixes encodings: line 2 is not UTF-8, but line 2 holds UTF-8"),
        ("Ã©".encode(), r"text looks encoded twice \('Ã©' where a French character is expected, line 2\)"),
        (b"\x81", r"cannot tell the encoding: not UTF-8, and byte 0x81 on line 2"),
    ],
    ids=["mixed", "double-encoded", "undecidable"],
)
def test_an_undecidable_encoding_is_an_error(data, message, frame, mini_codebook, tmp_path):
    head = "\n".join(lines(frame.head(2))[:2]).encode("ascii", errors="replace")
    path = tmp_path / "ps.csv"
    path.write_bytes(head.replace(b"R0001", b"R0001" + data, 1))
    with pytest.raises(ExportError, match=message):
        read_export(path, mini_codebook)


def test_numbers_are_read_deliberately(frame, mini_codebook, tmp_path):
    export = frame.astype({"Q1": object, "SEXE": object, "loi_seconds": object})
    export.loc[0, "Q1"], export.loc[1, "Q1"], export.loc[2, "SEXE"] = "1.0", " 2 ", "1,0"
    export.loc[3, "loi_seconds"], export.loc[4, "SEXE"] = "612,5", "homme"
    result = read_export(write_csv(export, tmp_path / "ps.csv"), mini_codebook)
    got = result.frame
    assert (got.loc[0, "Q1"], got.loc[1, "Q1"], got.loc[2, "SEXE"], got.loc[3, "loi_seconds"]) == (1.0, 2.0, 1.0, 612.5)
    assert np.isnan(got.loc[4, "SEXE"])
    issue = result.issues.iloc[0]
    assert (issue["row"], issue["respondent_id"], issue["column"], issue["value"], issue["rule"]) == (5, "R0005", "SEXE", "homme", "number")
    assert "not a number" in issue["reason"]


# --------------------------------------------------------------------------------------------
# Columns
# --------------------------------------------------------------------------------------------


def test_missing_columns_are_listed_with_hints(frame, mini_codebook, tmp_path):
    export = frame.rename(columns={"Q2_3": "Q2_three", "Q3_r2": "Q3_row2"}).drop(columns=["SEXE"])
    with pytest.raises(ExportError, match=r"3 column\(s\) of the codebook missing") as error:
        read_export(write_csv(export, tmp_path / "ps.csv"), mini_codebook)
    text = str(error.value)
    assert "column 'SEXE' missing;" in text
    assert "column 'Q2_3' missing; 'Q2_three' looks like it: map it in the codebook with columns: {3: Q2_three} under Q2" in text
    assert "column 'Q3_r2' missing; 'Q3_row2' looks like it: map it in the codebook with rows: [{id: r2, column: Q3_row2}] under Q3" in text


def test_a_renamed_column_mapped_in_the_codebook_is_read(frame, reference, mini_codebook, tmp_path):
    q2 = mini_codebook.question("Q2")
    book = dataclasses.replace(
        mini_codebook,
        questions=tuple(dataclasses.replace(q, columns={**q.columns, 3: "Q2_three"}) if q is q2 else q for q in mini_codebook.questions),
    )
    result = read_export(write_csv(frame.rename(columns={"Q2_3": "Q2_three"}), tmp_path / "ps.csv"), book)
    assert result.frame["Q2_three"].equals(reference["Q2_3"])


def test_extra_columns_are_ignored_and_listed(frame, reference, mini_codebook, tmp_path):
    result = read_export(write_csv(frame.assign(panel_source="A", weight_toluna=1.0), tmp_path / "ps.csv"), mini_codebook)
    assert result.source.extra_columns == ("panel_source", "weight_toluna")
    pd.testing.assert_frame_equal(result.frame, reference)


def test_duplicate_column_names_are_an_error(frame, mini_codebook, tmp_path):
    header, *rows = lines(frame)
    with pytest.raises(ExportError, match=r"column name\(s\) 'Q1' appear more than once in the header"):
        read_export(csv_text(tmp_path, "\n".join([header.replace("SEXE", "Q1"), *rows])), mini_codebook)


# --------------------------------------------------------------------------------------------
# Broken CSV files
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, message",
    [
        ("", r"the file is empty"),
        (None, r"the export has a header but no data row"),
        ("respondent_id status loi_seconds\nR1 complete 600\n", r"no delimiter in the header line \(looked for ';', ',' and tab\)"),
        ("respondent_id;status,loi\nR1;complete,600\n", r"cannot tell the delimiter: the header line has as many ';' as ','"),
        ("respondent_id;status;lo", r"the export has a header but no data row \(the file ends within its first line\)"),
        ('respondent_id;"status;loi\nR1;complete;600\n', r"line 1: the header line has a quote \(\"\) that is never closed"),
    ],
    ids=["empty", "header-only", "no-delimiter", "ambiguous-delimiter", "header-cut-short", "unclosed-quote-in-header"],
)
def test_unreadable_csv_is_an_error(text, message, frame, mini_codebook, tmp_path):
    content = lines(frame)[0] + "\n" if text is None else text
    with pytest.raises(ExportError, match=message):
        read_export(csv_text(tmp_path, content), mini_codebook)


def test_a_truncated_last_line_is_an_issue_not_an_error(frame, mini_codebook, tmp_path):
    content = lines(frame)
    content[-1] = content[-1][: content[-1].index(";complete") + len(";complete")]  # id and status only
    result = read_export(csv_text(tmp_path, "\n".join(content)), mini_codebook)
    assert result.source.rows_read == len(frame) and len(result.frame) == len(frame) - 1
    issue = result.issues.iloc[-1]
    assert (issue["row"], issue["respondent_id"], issue["column"], issue["value"], issue["rule"]) == (30, "R0030", "", "", "field_count")
    assert issue["reason"].startswith("the row has 2 fields where the header has 19: a truncated or shifted line")


def test_rows_after_a_bad_line_keep_their_row_numbers(frame, mini_codebook, tmp_path):
    content = lines(frame)
    content[3] = content[3] + ";extra"  # data row 3 has a field too many
    result = read_export(csv_text(tmp_path, "\n".join(content)), mini_codebook)
    assert result.issues[["row", "respondent_id", "rule"]].values.tolist() == [[3, "R0003", "field_count"]]
    assert result.frame[ROW].tolist() == [r for r in range(1, 31) if r != 3]
    assert (result.frame[mini_codebook.columns.id] == result.frame[ROW].map("R{:04d}".format)).all()


def shifted_export(frame: pd.DataFrame, path: Path, columns: list[str], row: int, text: str) -> Path:
    """The export with these columns in this order, and ``text`` written unquoted in the open answer of ``row`` (0-based)."""
    export = frame[columns].astype({"Q2_98_other": object})
    export.loc[row, "Q2_98_other"] = "MARK"
    return csv_text(path.parent, export.to_csv(sep=";", index=False).replace("MARK", text))


def test_a_shifted_row_never_takes_open_text_as_its_id(frame, mini_codebook, tmp_path):
    id_last = [c for c in frame.columns if c != "respondent_id"] + ["respondent_id"]
    result = read_export(shifted_export(frame, tmp_path / "ps.csv", id_last, 4, "au cabinet; R0099"), mini_codebook)
    assert result.issues[["row", "rule"]].values.tolist() == [[5, "field_count"]]
    assert result.issues["respondent_id"].isna().all()


def test_a_line_broken_in_an_open_text_gives_an_id_only_to_its_first_part(frame, mini_codebook, tmp_path):
    result = read_export(shifted_export(frame, tmp_path / "ps.csv", list(frame.columns), 4, "au cabinet\nmaison"), mini_codebook)
    issues = result.issues
    assert issues["rule"].eq("field_count").all() and issues["row"].tolist() == [5, 6]
    assert issues["respondent_id"].iloc[0] == "R0005" and pd.isna(issues["respondent_id"].iloc[1])  # "maison;…" is not id-shaped


@pytest.mark.parametrize(
    "cell, reason",
    [("\uff11", "a digit other than 0–9"), ("\u0663", "a digit other than 0–9"), ("1e400", "a number too large"), ("-1e999", "a number too large")],
    ids=["full-width", "arabic-indic", "overflow", "negative-overflow"],
)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_digits_other_than_ascii_and_overflows_are_issues_not_blanks(cell, reason, fmt, frame, mini_codebook, tmp_path):
    export = frame.astype({"SEXE": object, "Q2_1": object})
    export.loc[2, "SEXE"] = cell
    tick = int(np.flatnonzero(export["Q2_1"].eq(0))[0])  # a 0/1 multi column: never read as "not ticked"
    export.loc[tick, "Q2_1"] = cell
    path = write_csv(export, tmp_path / "ps.csv") if fmt == "csv" else write_xlsx(export, tmp_path / "ps.xlsx")
    issues = read_export(path, mini_codebook).issues.set_index("column")
    assert issues.loc["SEXE", "row"] == 3 and issues.loc["Q2_1", "row"] == tick + 1
    assert issues["rule"].eq("number").all() and issues["value"].eq(cell).all()
    assert issues["reason"].str.contains(reason).all(), issues["reason"].tolist()


def test_infinite_numbers_in_a_sav_file_are_issues(frame, mini_codebook, tmp_path):
    export = frame.assign(loi_seconds=frame["loi_seconds"].where(frame.index != 1, np.inf).where(frame.index != 4, -np.inf))
    issues = read_export(write_sav(export, tmp_path / "ps.sav", mini_codebook), mini_codebook).issues
    assert issues[["row", "column", "value", "rule"]].values.tolist() == [[2, "loi_seconds", "inf", "number"], [5, "loi_seconds", "-inf", "number"]]


def test_a_field_over_the_size_limit_quarantines_its_row_only(frame, reference, mini_codebook, tmp_path, monkeypatch):
    monkeypatch.setattr(ingest.csv, "CSV_BLOCK", 2**16)  # a field longer than a parse block, on a small file
    export = frame.astype({"Q2_98_other": object})
    export.loc[6, "Q2_98_other"] = "x" * (ingest.MAX_FIELD_MB * 2**20 + 1)
    result = read_export(write_csv(export, tmp_path / "ps.csv"), mini_codebook)
    issue = result.issues.iloc[0]
    assert len(result.issues) == 1 and (issue["row"], issue["respondent_id"], issue["column"], issue["value"], issue["rule"]) == (7, "R0007", "Q2_98_other", "", "field_size")
    assert issue["reason"].startswith("the field of column 'Q2_98_other' is 1.0 MB, more than the limit of 1 MB per field")
    assert result.frame.loc[6, "Q2_98_other"] is pd.NA or pd.isna(result.frame.loc[6, "Q2_98_other"])
    pd.testing.assert_frame_equal(result.frame.drop(index=6), reference.drop(index=6))


@pytest.mark.parametrize("kind, says", [("fifo", "a FIFO"), ("zero", "a character device"), ("folder", "a folder")])
@pytest.mark.parametrize("suffix", ["csv", "xlsx", "sav"])
def test_an_export_that_is_not_a_regular_file_is_refused_unread(kind, says, suffix, mini_codebook, tmp_path):
    path = tmp_path / f"ps.{suffix}"
    {"fifo": lambda: os.mkfifo(path), "zero": lambda: path.symlink_to("/dev/zero"), "folder": path.mkdir}[kind]()
    with pytest.raises(ExportError, match=f"not a regular file but {says}"):
        read_export(path, mini_codebook)


def test_the_size_limit_holds_while_reading(frame, mini_codebook, tmp_path, monkeypatch):
    path = write_csv(frame, tmp_path / "ps.csv")
    monkeypatch.setenv("BARO_MAX_EXPORT_MB", str(100 / 2**20))
    with pytest.raises(ExportError, match=r"the file is [\d.]+ MB, more than the limit"):
        ingest.file_bytes(path, export_limits())


# --------------------------------------------------------------------------------------------
# Excel
# --------------------------------------------------------------------------------------------


def test_excel_data_on_another_sheet_is_read_and_recorded(frame, reference, mini_codebook, tmp_path):
    path = tmp_path / "ps.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame({"Notice": ["Export Toluna", "Baromètre"]}).to_excel(writer, sheet_name="Lisez-moi", index=False)
        frame.to_excel(writer, sheet_name="Données", index=False)
    result = read_export(path, mini_codebook)
    assert result.source.sheet == "Données"
    pd.testing.assert_frame_equal(result.frame, reference)


def test_excel_header_below_a_title_is_an_error(frame, mini_codebook, tmp_path):
    path = tmp_path / "ps.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        frame.to_excel(writer, sheet_name="export", index=False, startrow=2)
    with pytest.raises(ExportError, match=r"sheet 'export': the column names are on row 3, not on row 1 .*\n  fix: delete row\(s\) 1–2"):
        read_export(path, mini_codebook)


def test_excel_two_line_merged_header_is_an_error(frame, mini_codebook, tmp_path):
    path = write_xlsx(frame, tmp_path / "ps.xlsx")
    book = openpyxl.load_workbook(path)
    sheet = book.active
    sheet.insert_rows(2)
    sheet["I2"], sheet["J2"] = "Diagnostic", "Administratif"
    sheet.merge_cells("I1:L1")
    book.save(path)
    with pytest.raises(ExportError, match=r"two-line header: row 1 holds column names and row 2 continues them.*\n  fix: keep a single header row"):
        read_export(path, mini_codebook)


def test_excel_without_the_id_column_is_an_error(frame, mini_codebook, tmp_path):
    path = write_xlsx(frame.rename(columns={"respondent_id": "ID"}), tmp_path / "ps.xlsx")
    with pytest.raises(ExportError, match=r"no sheet has the respondent id column 'respondent_id' \(sheets: export\)"):
        read_export(path, mini_codebook)


# --------------------------------------------------------------------------------------------
# SPSS
# --------------------------------------------------------------------------------------------


def test_sav_labels_equal_but_for_accents_case_and_spaces_are_accepted(frame, reference, mini_codebook, tmp_path):
    labels = {"Q1": {1.0: "OUI,  regulierement", 2.0: "oui, occasionnellement", 3.0: "Non"}}
    result = read_export(write_sav(frame, tmp_path / "ps.sav", mini_codebook, labels=labels), mini_codebook)
    pd.testing.assert_frame_equal(result.frame, reference)


def test_sav_label_disagreeing_with_the_codebook_is_an_error(frame, mini_codebook, tmp_path):
    labels = {"Q1": {1.0: "Non", 3.0: "Oui, régulièrement"}}
    with pytest.raises(ExportError, match=r"column 'Q1': code 1 is labelled 'Non' in the file but 'Oui, régulièrement' in the codebook"):
        read_export(write_sav(frame, tmp_path / "ps.sav", mini_codebook, labels=labels), mini_codebook)


# --------------------------------------------------------------------------------------------
# Finding the export
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "files, outcome",
    [
        (["ps.csv", "gp.csv", "notes.txt"], "ps.csv"),
        ([], r"no export for population 'ps'.*\n  fix: put the export there as ps.csv, ps.xlsx or ps.sav"),
        (["ps.csv", "ps.xlsx"], r"several exports for population 'ps': ps.csv, ps.xlsx"),
    ],
    ids=["one", "none", "several"],
)
def test_find_export(files, outcome, mini_edition, tmp_path):
    folder = tmp_path / mini_edition.exports
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).write_text("x")
    if outcome.endswith(".csv"):
        assert find_export(mini_edition, "ps", tmp_path) == folder / outcome
    else:
        with pytest.raises(ExportError, match=outcome):
            find_export(mini_edition, "ps", tmp_path)


def test_open_text_is_kept_only_as_text(reference):
    assert set(reference["Q2_98_other"].dropna()) == {OPEN_TEXT}


# --------------------------------------------------------------------------------------------
# Numbers and limits
# --------------------------------------------------------------------------------------------


def test_numbers_of_digits_read_by_arrow_equal_numbers_parsed_as_texts():
    """Digits alone are converted by Arrow's kernels (several pieces of a CSV column here); the same as parsed as texts."""
    rng = np.random.default_rng(7)
    cells = [str(v).zfill(w) if v >= 0 else "" for v, w in zip(rng.integers(-1, 10**15, 3000), rng.integers(1, 16, 3000))]
    pieces = pa.chunked_array([cells[:1000], cells[1000:1001], cells[1001:]], pa.string())
    column = pd.Series(pd.arrays.ArrowExtensionArray(pieces))
    values, other = digit_numbers(column)
    parsed, bad = text_numbers(pd.DataFrame({"c": column}))
    assert not other.any() and bad.empty
    np.testing.assert_array_equal(values, parsed["c"])
    np.testing.assert_array_equal(values, [float(c) if c else np.nan for c in cells])


def test_numbers_other_than_digits_are_parsed_as_texts():
    cells = {"7": 7.0, "007": 7.0, "1234567890123456": 1234567890123456.0, " 2 ": 2.0, "1.0": 1.0, "1,5": 1.5, "+1": 1.0,
             "-0": -0.0, "": np.nan, "abc": "bad", "0x1": "bad", "nan": "bad", "inf": "bad", "1 2": "bad", "１": "bad", "٣": "bad"}
    frame = pd.DataFrame({"digits": ["1", "", "23"] * 6, "mixed": list(cells)[:18] + [""] * (18 - len(cells))})
    columns = dict(frame)
    values, bad = parsed_numbers(columns)
    np.testing.assert_array_equal(values["digits"], [1.0, np.nan, 23.0] * 6)
    expected = [np.nan if v == "bad" else v for v in cells.values()]
    np.testing.assert_array_equal(values["mixed"][: len(cells)], expected)
    assert np.signbit(values["mixed"][list(cells).index("-0")])
    assert values["digits"].dtype == np.float32 and values["mixed"].dtype == np.float64  # 1234567890123456 is no float32
    assert list(bad.columns) == ["mixed"] and bad["mixed"][: len(cells)].tolist() == [v == "bad" for v in cells.values()]
    assert list(columns) == ["mixed"]  # the column of digits alone is taken out once read: its texts freed


READ_AS_CODES = ["2", " 2", "2\t", "02", "00000000000000000002"]  # by pyarrow as the text path reads them
READ_AS_TEXT = ["+2", "2.0", "2,0", "2e0", "-0", "-2", "0x2", "0X1F", " ", "nan", "NA", "null", "\uff12", "\u0662", "300", "99999999999"]


def whole_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as a survey tool writes it: whole numbers without ".0" (the codes pyarrow reads as numbers)."""
    return frame.astype(dict.fromkeys(frame.select_dtypes("number").columns, "Int64"))


@pytest.mark.parametrize("cell", READ_AS_CODES + READ_AS_TEXT)
def test_codes_read_by_pyarrow_as_numbers_equal_the_text_path(cell, frame, mini_codebook, tmp_path, monkeypatch):
    """A clean CSV's codes are read as whole numbers by pyarrow (ingest.csv.code_types); a cell it would read
    otherwise than the text path sends the whole file to the text path: the same frame and issues either way."""
    export = whole_numbers(frame).astype({"SEXE": object, "Q2_1": object, "loi_seconds": object})
    export.loc[2, "SEXE"] = export.loc[3, "Q2_1"] = export.loc[4, "loi_seconds"] = cell
    path = write_csv(export, tmp_path / "ps.csv")
    table = ingest.csv.read_csv_text(path, path.read_bytes(), mini_codebook, export_limits())
    assert bool(table.numbers) == (cell in READ_AS_CODES)
    fast = read_export(path, mini_codebook)
    monkeypatch.setattr(ingest.csv, "code_types", lambda *args: {})
    text = read_export(path, mini_codebook)
    pd.testing.assert_frame_equal(fast.frame, text.frame, check_exact=True)
    pd.testing.assert_frame_equal(fast.issues, text.issues)
    numbers = fast.frame.select_dtypes("number")
    assert (np.signbit(numbers) == np.signbit(text.frame[numbers.columns])).all().all()  # -0 stays -0


def test_a_clean_csv_has_its_codes_read_as_numbers_and_a_hex_prefix_anywhere_reads_it_as_text(frame, mini_codebook, tmp_path):
    clean = write_csv(whole_numbers(frame), tmp_path / "ps.csv")
    table = ingest.csv.read_csv_text(clean, clean.read_bytes(), mini_codebook, export_limits())
    assert {"SEXE", "Q2_1", "loi_seconds"} <= set(table.numbers) and "SEXE" not in table.frame
    assert table.numbers["SEXE"].type == pa.uint8() and table.numbers["loi_seconds"].type == pa.uint32()
    hexed = write_csv(whole_numbers(frame).assign(Q2_98_other="ref 0x2A"), tmp_path / "hex.csv")
    table = ingest.csv.read_csv_text(hexed, hexed.read_bytes(), mini_codebook, export_limits())
    assert not table.numbers and "SEXE" in table.frame


def test_default_limits_follow_the_memory_available(monkeypatch):
    for variable in LIMIT_VARIABLES.values():
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(ingest.files, "available_memory", lambda: 8 * 2**30)
    limits = export_limits()
    assert (limits.max_mb, limits.max_cells) == (8 * 2**30 // (BYTES_PER_FILE_BYTE * 2**20), 8 * 2**30 // BYTES_PER_CELL)
    assert limits.max_cells > 1_000_000 * 110 and limits.max_mb > 302  # a million interviews of the 2025 ps export
    monkeypatch.setattr(ingest.files, "available_memory", lambda: None)
    assert export_limits().max_cells == ASSUMED_MEMORY // BYTES_PER_CELL
    monkeypatch.setenv("BARO_MAX_EXPORT_CELLS", "1e9")
    assert export_limits().max_cells == 10**9


@pytest.mark.parametrize("seed", range(20))
def test_line_ends_count_what_pyarrow_reads_as_line_ends(seed):
    """LF alone (told without counting CR), CR LF, CR alone and mixed: as many as the regular expression finds."""
    from baro_pipeline.ingest.csv import LINE_END, line_ends

    rng = np.random.default_rng(seed)
    pieces = [b"\n", b"a;1"] + [b"\r\n", b"\r"] * (seed % 2)  # every other file without CR
    data = b"".join(rng.choice(pieces, size=200))
    start, end = sorted(rng.integers(0, len(data) + 1, size=2))
    assert line_ends(data, start, end) == len(LINE_END.findall(data, start, end))


@pytest.mark.parametrize("seed", range(20))
def test_first_held_finds_what_pythons_regular_expression_finds(seed):
    """Arrow's RE2 reading the file's bytes as Latin-1: every mojibake or UTF-8 French sequence, whole or cut, among other bytes."""
    import re

    from baro_pipeline.ingest.csv import MOJIBAKE, UTF8_FRENCH, first_held

    rng = np.random.default_rng(seed)
    sequences = MOJIBAKE if seed % 2 else UTF8_FRENCH
    pieces = [*(sequences[i] for i in rng.choice(len(sequences), 3)), *(sequences[i][:-1] for i in rng.choice(len(sequences), 3)), b"\xc3", b"a;\n", b"\x80"]
    data = b"".join(pieces[i] for i in rng.choice(len(pieces), rng.integers(1, 6)))
    expected = next((s for s in sequences if s in data), None) if re.search(b"|".join(map(re.escape, sequences)), data) else None
    assert first_held(data, sequences) == expected


@pytest.mark.parametrize("seed", range(10))
def test_stripped_is_pandas_strip_with_blanks_as_nan(seed):
    """Arrow's trim and if_else: the values, index, name and dtype of pandas' str.strip then where, on texts as any reader gives them."""
    from baro_pipeline.ingest.table import stripped

    rng = np.random.default_rng(seed)
    pieces = np.array(["", " ", "\t", "\u00a0", "\u3000", "a", "é", "1"])
    texts = ["".join(rng.choice(pieces, size=rng.integers(0, 4))) for _ in range(40)]
    index = rng.permutation(40) + 7
    written = [f" {t}x" for t in texts]  # no blank among them
    for column in (pd.Series(texts, dtype=pd.ArrowDtype(pa.string()), index=index, name="c"), pd.Series(written, dtype=pd.ArrowDtype(pa.string())), pd.Series([*texts[:-2], None, 2.5], dtype=object, index=index)):
        text = column.astype("str").str.strip()
        pd.testing.assert_series_equal(stripped(column), text.where(text != ""))


@pytest.mark.parametrize("kind", [pa.uint8(), pa.uint16(), pa.uint32()], ids=str)
def test_whole_numbers_read_by_pyarrow_are_floats_nan_where_blank(kind):
    """A clean CSV's codes (several pieces, blanks among them): float32 up to 16 bits, float64 above, each writable."""
    rng = np.random.default_rng(3)
    values = rng.integers(0, 200, 3000)
    blank = rng.random(3000) < 0.3
    pieces = pa.chunked_array([pa.array(values[a:b], kind, mask=blank[a:b]) for a, b in ((0, 1000), (1000, 1001), (1001, 3000), (3000, 3000))])
    numbers, other = digit_numbers(pieces)
    assert numbers.dtype == (np.float32 if kind.bit_width <= 16 else np.float64) and numbers.flags.writeable and not other.any()
    np.testing.assert_array_equal(numbers, np.where(blank, np.nan, values))


def test_an_export_read_without_its_hash_is_the_same_export(frame, mini_codebook, tmp_path):
    """baro validate's read (hashed=False): no sha256, every other fact, the frame and the issues as the run reads them."""
    import hashlib

    path = write_csv(frame, tmp_path / "ps.csv")
    hashed, unhashed = read_export(path, mini_codebook), read_export(path, mini_codebook, hashed=False)
    assert hashed.source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() and unhashed.source.sha256 is None
    assert dataclasses.replace(unhashed.source, sha256=hashed.source.sha256) == hashed.source
    pd.testing.assert_frame_equal(unhashed.frame, hashed.frame)
    pd.testing.assert_frame_equal(unhashed.issues, hashed.issues)
