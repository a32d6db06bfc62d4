"""Excel and SPSS cells: written by Arrow as table.cell_text and pandas wrote them; the SPSS child's answers."""

from __future__ import annotations

import datetime
import io
import os
import re
import signal
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyreadstat
import pytest

from baro_pipeline.errors import ExportError
from baro_pipeline.ingest import ROW, cell_text, read_export
from baro_pipeline.ingest import sav
from baro_pipeline.ingest.cells import number_cells, value_cells
from baro_pipeline.ingest.columns import code_columns
from exports import clean_frame, write_sav, write_xlsx


@pytest.fixture(scope="module")
def frame(mini_codebook) -> pd.DataFrame:
    return clean_frame(mini_codebook, n=20)


# --------------------------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        [1.0, 2.0, np.nan, 0.0, 999.0, 3.0],  # codes: looked up
        [1.0, 1000.0, np.nan, -1.0, 812.5, np.inf, -np.inf, 1e20, 2.0**53, -0.0, 1e-7, 12345678.0],
        [np.nan, np.nan],
        [],
    ],
    ids=["codes", "any-number", "blank", "empty"],
)
def test_number_cells_are_the_cells_cell_text_writes(values):
    column = np.array(values, dtype=np.float64)
    assert number_cells(column).to_pylist() == cell_text(pd.Series(column)).tolist()


@pytest.mark.parametrize(
    "values, cells",
    [
        ((1, None, 3), ["1", "", "3"]),
        ((1, 2.5, None, 4.0), ["1", "2.5", "", "4"]),
        (("a", None, "#N/A", " b "), ["a", "", "", " b "]),
        ((1, "x", None, 2.0, True, "#DIV/0!"), ["1", "x", "", "2", "True", ""]),
        ((datetime.datetime(2025, 3, 1, 9, 30), None), ["2025-03-01 09:30:00", ""]),
        ((None, None), ["", ""]),
        ((2**60, 1), [str(2**60), "1"]),
        ((-(2**63), None), [str(-(2**63)), ""]),
        ((10**20, 1), [str(10**20), "1"]),
    ],
    ids=["ints", "numbers", "texts", "mixed", "dates", "blank", "int-beyond-float", "int64-min", "beyond-int64"],
)
def test_excel_values_are_the_cells_pandas_wrote(values, cells):
    # pandas' read_excel(dtype=str): whole numbers without ".0", errors (#N/A, #DIV/0!) blank, the rest as str()
    assert value_cells(values, frozenset(openpyxl.cell.cell.ERROR_CODES)).to_pylist() == cells


# --------------------------------------------------------------------------------------------
# Excel
# --------------------------------------------------------------------------------------------


def with_sheet_xml(path: Path, change) -> Path:
    """The workbook with its first sheet's XML changed by ``change`` (text -> text)."""
    data = path.read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = change(content.decode()).encode()
            target.writestr(item, content)
    path.write_bytes(out.getvalue())
    return path


def test_excel_rows_past_a_wrong_stated_dimension_are_read(frame, mini_codebook, tmp_path):
    def wrong_dimension(xml: str) -> str:
        changed, count = re.subn(r'<dimension ref="[^"]*"\s*/>', '<dimension ref="A1:B3"/>', xml)
        assert count == 1
        return changed

    path = with_sheet_xml(write_xlsx(frame, tmp_path / "ps.xlsx"), wrong_dimension)
    result = read_export(path, mini_codebook)
    assert len(result.frame) == len(frame) and result.frame[ROW].tolist() == list(range(1, len(frame) + 1))
    assert result.frame[mini_codebook.columns.id].tolist() == frame[mini_codebook.columns.id].tolist()


def test_excel_error_cells_are_blank_and_empty_rows_dropped(frame, mini_codebook, tmp_path):
    path = write_xlsx(frame, tmp_path / "ps.xlsx")
    book = openpyxl.load_workbook(path)
    sheet = book.active
    loi = 1 + list(frame.columns).index(mini_codebook.columns.loi)
    sheet.cell(row=3, column=loi).value = "=1/0"  # no cached value: read as blank, as pandas read it
    sheet.cell(row=4, column=loi).value = "#N/A"
    sheet.cell(row=4, column=loi).data_type = "e"
    sheet.insert_rows(6)  # an empty row: left out, the rows after it keep their sheet row numbers
    sheet.cell(row=len(frame) + 5, column=sheet.max_column + 2).value = " "  # a space far right, below the data
    book.save(path)
    result = read_export(path, mini_codebook)
    assert result.frame[ROW].tolist() == [*range(1, 5), *range(6, len(frame) + 2)]
    assert result.frame[mini_codebook.columns.loi].iloc[1:3].isna().all()
    width = frame.shape[1]  # the far-right cell makes two columns more, without a name
    assert result.issues.empty and result.source.extra_columns == (f"(column {width + 1})", f"(column {width + 2})")


def test_an_excel_workbook_over_the_size_limit_says_so(frame, mini_codebook, tmp_path, monkeypatch):
    path = write_xlsx(frame, tmp_path / "ps.xlsx")
    monkeypatch.setenv("BARO_MAX_EXPORT_MB", str(path.stat().st_size * 1.5 / 2**20))
    with pytest.raises(
        ExportError, match=r"ps\.xlsx: the workbook unpacks to [\d.]+ MB, more than the limit of [\d.]+ MB\n  fix: check that this is the interviews' export"
    ):
        read_export(path, mini_codebook)


# --------------------------------------------------------------------------------------------
# SPSS: the forked child's answers
# --------------------------------------------------------------------------------------------


def test_sav_read_without_a_child_gives_the_same_frame(frame, mini_codebook, tmp_path, monkeypatch):
    path = write_sav(frame, tmp_path / "ps.sav", mini_codebook)
    forked = read_export(path, mini_codebook)
    monkeypatch.delattr(os, "fork")  # as where processes cannot be forked
    direct = read_export(path, mini_codebook)
    pd.testing.assert_frame_equal(direct.frame, forked.frame)


@pytest.mark.parametrize(
    "values, kind",
    [([1.0, np.nan, 0.0, -0.0, 255.0], "uint8"), ([3.0, 70000.0], "uint32"), ([np.nan], "uint8")],
    ids=["codes", "wide", "blank"],
)
def test_whole_sav_values_are_unsigned_integers_null_where_blank(values, kind):
    cells = sav.whole_numbers(np.array(values))
    assert str(cells.type) == kind and cells.to_pylist() == [None if np.isnan(v) else int(v) for v in values]


@pytest.mark.parametrize("values", [[1.0, 1.5], [2.0, -1.0], [1.0, np.inf], [2.0**32]], ids=["fraction", "negative", "inf", "beyond-32-bits"])
def test_sav_values_that_are_not_all_whole_stay_text(values):
    assert sav.whole_numbers(np.array(values)) is None


def test_sav_codes_read_as_numbers_give_the_frame_and_issues_of_their_text(frame, mini_codebook, tmp_path, monkeypatch):
    codes = list(code_columns(mini_codebook))
    odd = frame.astype({codes[0]: float, codes[1]: float, mini_codebook.columns.loi: float})
    odd.loc[odd.index[:3], codes[0]] = [1.5, -0.0, np.nan]  # a code that is not whole: a number issue, its column text
    odd.loc[odd.index[3], codes[1]] = -1.0
    odd.loc[odd.index[4], mini_codebook.columns.loi] = 812.5
    path = write_sav(odd, tmp_path / "ps.sav", mini_codebook)
    numbers = read_export(path, mini_codebook)
    assert codes[2] in numbers.frame and numbers.frame[codes[2]].notna().any()
    monkeypatch.setattr(sav, "whole_numbers", lambda values: None)  # every column as text, as before codes were read as numbers
    text = read_export(path, mini_codebook)
    pd.testing.assert_frame_equal(numbers.frame, text.frame, check_exact=True)
    pd.testing.assert_frame_equal(numbers.issues, text.issues, check_exact=True)


def test_sav_over_the_cells_limit_is_refused_by_the_child(frame, mini_codebook, tmp_path, monkeypatch):
    path = write_sav(frame, tmp_path / "ps.sav", mini_codebook)
    monkeypatch.setenv("BARO_MAX_EXPORT_CELLS", "100")
    with pytest.raises(
        ExportError, match=rf"ps\.sav: the file has about 20 rows × {frame.shape[1]} columns = {20 * frame.shape[1]} cells, more than the limit of 100\n  fix:"
    ):
        read_export(path, mini_codebook)


def test_a_sav_reader_killed_in_the_child_is_an_export_error(frame, mini_codebook, tmp_path, monkeypatch):
    path = write_sav(frame, tmp_path / "ps.sav", mini_codebook)
    monkeypatch.setattr(pyreadstat, "read_sav", lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL))  # only the child calls it
    with pytest.raises(ExportError, match=r"ps\.sav: not a readable SPSS \.sav file: the SPSS reader crashed on it \(SIGKILL\)\n  fix: the file is damaged"):
        read_export(path, mini_codebook)


def test_a_bug_in_the_child_is_raised_as_one(frame, mini_codebook, tmp_path, monkeypatch):
    path = write_sav(frame, tmp_path / "ps.sav", mini_codebook)

    def broken(*args, **kwargs):
        raise TypeError("a bug")

    monkeypatch.setattr(pyreadstat, "read_sav", broken)
    with pytest.raises(RuntimeError, match=r"reading the SPSS file in a child process: TypeError: a bug"):
        read_export(path, mini_codebook)


def test_a_sav_file_that_is_not_spss_is_refused_with_readstat_s_reason(mini_codebook, tmp_path):
    path = tmp_path / "ps.sav"
    path.write_bytes(b"$FL2 this is not an SPSS file" * 10)
    with pytest.raises(ExportError, match=r"ps\.sav: not a readable SPSS \.sav file \(.+\)\n  fix: save it again from SPSS as \.sav"):
        read_export(path, mini_codebook)
