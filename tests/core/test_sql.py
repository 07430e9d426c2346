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


def test_long_statements_keep_their_driver_side_conversion(app, db):
    """psycopg caches a statement's placeholder conversion only up to 4 KiB unless told
    otherwise; the availability SQL (and the booking check built on it) is longer."""
    from psycopg import _queries

    from bookme.core.db import session

    assert len(sql.load("availability").encode()) * 2 <= _queries.MAX_CACHED_STATEMENT_LENGTH
    padding = " " * 6000  # a statement longer than psycopg's default bound
    with session().connection().connection.dbapi_connection.cursor() as cursor:
        cursor.execute(f"SELECT %(n)s::int {padding}", {"n": 1})
        before = _queries._query2pg.cache_info().hits
        cursor.execute(f"SELECT %(n)s::int {padding}", {"n": 2})
        assert cursor.fetchone() == (2,)
    assert _queries._query2pg.cache_info().hits == before + 1
