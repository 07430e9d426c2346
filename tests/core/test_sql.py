"""Named SQL files: read from the repository's sql/ folder once, never from a path."""

import pytest

from bookme.core import sql


def test_a_named_query_is_read_from_the_sql_folder_and_cached():
    text = sql.load("availability")
    assert text == (sql.SQL_DIR / "availability.sql").read_text(encoding="utf-8")
    assert sql.load("availability") is text
    assert sql.query("availability") is sql.query("availability")
    assert "service_id" in sql.query("availability")._bindparams


@pytest.mark.parametrize("name", ["../bookme/config", "availability.sql", "", "Availability"])
def test_a_name_that_is_not_a_plain_identifier_is_refused(name):
    with pytest.raises(ValueError):
        sql.load(name)


def test_a_missing_file_fails_loudly():
    with pytest.raises(FileNotFoundError):
        sql.load("no_such_query")
