"""The CSV writer: a BOM first, one line at a time, and no cell a spreadsheet would run."""

from __future__ import annotations

import csv as stdlib_csv
import io
from decimal import Decimal

import pytest

from bookme.admin.csv import BOM, safe_cell, stream


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=SUM(A1:A9)", "'=SUM(A1:A9)"),
        ("+212612345678", "'+212612345678"),
        ("-2+3", "'-2+3"),
        ("@cmd", "'@cmd"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("Salma =1", "Salma =1"),
        ("سلمى", "سلمى"),
        ("", ""),
        (None, ""),
        (12, "12"),
        (True, "yes"),
        (Decimal("80.00"), "80.00"),
    ],
)
def test_a_cell_is_escaped_only_when_it_would_start_a_formula(value, expected):
    assert safe_cell(value) == expected


def test_the_stream_starts_with_a_bom_and_yields_a_line_per_row():
    rows = iter([["=1", "سلمى"], ["a,b", 'say "hi"']])
    chunks = list(stream(["Name", "Nom"], rows))
    assert len(chunks) == 3
    assert chunks[0] == BOM + "Name,Nom\r\n"
    text = "".join(chunks)
    assert list(stdlib_csv.reader(io.StringIO(text[1:]))) == [
        ["Name", "Nom"], ["'=1", "سلمى"], ["a,b", 'say "hi"'],
    ]  # fmt: skip


def test_rows_are_read_lazily_as_the_response_is_sent():
    seen = []

    def rows():
        for i in range(3):
            seen.append(i)
            yield [i]

    chunks = stream(["n"], rows())
    next(chunks)
    assert seen == []
    next(chunks)
    assert seen == [0]
