"""Named SQL kept in the repository's `sql/` folder, read once and cached."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import sqlalchemy as sa

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@functools.cache
def load(name: str) -> str:
    """The text of `sql/<name>.sql`; names are plain identifiers, never paths."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"invalid SQL file name {name!r}")
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


@functools.cache
def query(name: str) -> sa.TextClause:
    """`load(name)` as a SQLAlchemy text clause with its `:named` bound parameters."""
    return sa.text(load(name))
