"""CSV export: streamed row by row, UTF-8 with a BOM, cells safe from formula injection."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

BOM = "\ufeff"  # Excel reads the file as UTF-8 (Arabic names intact) only with it
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """A cell's text; one that a spreadsheet would run as a formula gets a leading `'`.

    `=`, `+`, `-` and `@` start formulas in Excel, LibreOffice and Google Sheets (OWASP
    "CSV injection"); tab and carriage return can smuggle one past the first character.
    Numbers we write ourselves (`-5.00` is never produced: amounts are non-negative) stay
    plain because they are passed as numbers, not text.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def stream(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The document, a line at a time: BOM and header first, then each row as it comes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(cells: Sequence[Any]) -> str:
        writer.writerow([safe_cell(cell) for cell in cells])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield BOM + line(header)
    for row in rows:
        yield line(row)
