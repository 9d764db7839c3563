"""CSV cells that a spreadsheet would run as formulas are written as text."""

import io

import pytest

from core.spreadsheets import SpreadsheetWriter, as_text


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_that_would_start_a_formula_gets_an_apostrophe(start):
    assert as_text(f"{start}1+1") == f"'{start}1+1"


@pytest.mark.parametrize("value", ["DE", "alice", "", "a=b", "2026-12-05T14:00:00+00:00", 3, None])
def test_other_cells_are_written_as_they_are(value):
    assert as_text(value) == value


def test_the_writer_writes_every_cell_through_it():
    out = io.StringIO()
    SpreadsheetWriter(out).writerow(["=cmd|' /C calc'!A0", "ok", 7])
    assert out.getvalue() == "'=cmd|' /C calc'!A0,ok,7\r\n"
