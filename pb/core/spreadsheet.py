"""Safe cells for every CSV/XLSX export (OWASP "CSV injection").

A spreadsheet program treats a cell that starts with = + - @ (or a tab or carriage return before one) as a
formula: a resident's title "=HYPERLINK(...)" would become a live link, or worse, on the official's machine.
Every export path passes its cells through `safe_cell`, which prefixes such text with a single quote so it is
shown as text. Only strings are touched: numbers stay numbers (a real int -5 is written as a number), and a
string that is just a number ("-33.5", a coordinate) cannot be a formula and is left as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import tablib

# The ASCII triggers, the control characters OWASP lists, and the full-width forms some spreadsheet
# programs (with East Asian input methods) also accept as the start of a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def safe_cell(value):
    """The value to write into a spreadsheet cell: text that a spreadsheet would run as a formula gets a
    leading single quote; everything else (numbers, dates, None, plain text) is returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def safe_row(row: Iterable) -> list:
    return [safe_cell(v) for v in row]


def safe_dataset(dataset: tablib.Dataset) -> tablib.Dataset:
    """A copy of `dataset` with every cell (and header) passed through `safe_cell`."""
    safe = tablib.Dataset(headers=safe_row(dataset.headers) if dataset.headers else None)
    for row in dataset:
        safe.append(safe_row(row))
    return safe
