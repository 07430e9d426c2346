"""`driver_rows`: statements on the booking path run through psycopg itself, yet look to the
rest of the app (errors, statement listeners, the pool) like any SQLAlchemy statement."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
import sqlalchemy as sa
from flask import Flask

from bookme.core import errors
from bookme.core.db import driver_rows, session
from tests.conftest import SERVICES


def test_rows_are_named_tuples_of_the_bound_parameters(db):
    rows = driver_rows(
        sa.text("SELECT CAST(:n AS int) + 1 AS next, '100%' AS literal, :word AS word"),
        {"n": 41, "word": "café"},
    )
    assert rows == [(42, "100%", "café")]
    assert (rows[0].next, rows[0].literal, rows[0].word) == (42, "100%", "café")


def test_a_statement_without_rows_returns_an_empty_list(db):
    assert driver_rows(sa.text("SET LOCAL statement_timeout = '5s'"), {}) == []


def test_it_runs_in_the_sessions_transaction(db, tenant):
    driver_rows(sa.text("CREATE TEMP TABLE scratch (n int) ON COMMIT DROP"), {})
    driver_rows(sa.text("INSERT INTO scratch VALUES (:n)"), {"n": 7})
    assert session().execute(sa.text("SELECT n FROM scratch")).scalar_one() == 7


def test_failures_are_sqlalchemys_exceptions(db):
    with pytest.raises(sa.exc.DataError) as caught:
        driver_rows(sa.text("SELECT 1 / CAST(:zero AS int)"), {"zero": 0})
    assert isinstance(caught.value.orig, psycopg.errors.DivisionByZero)
    assert "1 / CAST(%(zero)s AS int)" in str(caught.value)
    session().rollback()

    driver_rows(sa.text("CREATE TEMP TABLE once (n int PRIMARY KEY)"), {})
    with pytest.raises(sa.exc.IntegrityError) as caught:
        driver_rows(sa.text("INSERT INTO once VALUES (1), (1)"), {})
    assert isinstance(errors.translate_db_error(caught.value), errors.Conflict)


def test_one_cursor_per_statement_serves_a_connection_and_survives_a_failure(db):
    """A statement run again on a connection finds its own cursor (its adapters set up
    already); another statement, or another row shape, gets another cursor."""
    seen = []

    @sa.event.listens_for(session().get_bind(), "before_cursor_execute")
    def remember(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("SELECT") and " AS " in statement:  # ours, not the path's
            seen.append(cursor)

    pair = sa.text("SELECT 1 AS a, 2 AS b")
    divide = sa.text("SELECT 12 / CAST(:n AS int) AS x")
    try:
        assert driver_rows(pair, {})[0].b == 2
        assert driver_rows(sa.text("SELECT 3 AS a, 4 AS a"), {}, named=False) == [(3, 4)]
        assert driver_rows(pair, {})[0].b == 2
        assert driver_rows(pair, {}, named=False) == [(1, 2)]
        session().rollback()
        with pytest.raises(sa.exc.DataError):
            driver_rows(divide, {"n": 0})
        session().rollback()
        assert driver_rows(divide, {"n": 4})[0].x == 3
    finally:
        sa.event.remove(session().get_bind(), "before_cursor_execute", remember)
    assert len(seen) == 6
    pair_named, plain, again, pair_plain, failed, recovered = seen
    assert again is pair_named and plain is not pair_named
    assert pair_plain not in (pair_named, plain)
    assert recovered is failed and failed not in (pair_named, plain, pair_plain)


def test_statement_listeners_hear_of_it_with_a_context_they_can_use(db):
    """As SQLAlchemy's own: a context with the dialect that a listener may keep state on
    between the two calls (Sentry's SQLAlchemy integration keeps its span there)."""
    heard: list[tuple[str, str]] = []
    connection = session().connection()

    def before(conn, cursor, statement, parameters, context, executemany):
        assert context.dialect is conn.dialect
        context.started = statement
        heard.append(("before", statement))

    def after(conn, cursor, statement, parameters, context, executemany):
        heard.append(("after", context.started))

    sa.event.listen(connection, "before_cursor_execute", before)
    sa.event.listen(connection, "after_cursor_execute", after)
    try:
        driver_rows(sa.text("SELECT :n AS n"), {"n": 1})
    finally:
        sa.event.remove(connection, "before_cursor_execute", before)
        sa.event.remove(connection, "after_cursor_execute", after)
    assert heard == [("before", "SELECT %(n)s AS n"), ("after", "SELECT %(n)s AS n")]


def test_error_listeners_hear_of_a_failure(db):
    from bookme.extensions import db as fsa

    failures = []

    def failed(context):
        failures.append(context)

    sa.event.listen(fsa.engine, "handle_error", failed)
    try:
        with pytest.raises(sa.exc.DataError) as caught:
            driver_rows(sa.text("SELECT 1 / CAST(:zero AS int)"), {"zero": 0})
    finally:
        sa.event.remove(fsa.engine, "handle_error", failed)
    session().rollback()
    (failure,) = failures
    assert failure.sqlalchemy_exception is caught.value
    assert isinstance(failure.original_exception, psycopg.errors.DivisionByZero)
    assert failure.statement == "SELECT 1 / CAST(%(zero)s AS int)"
    assert failure.execution_context.dialect is failure.dialect
    assert not failure.is_disconnect


def test_a_connection_found_dead_is_invalidated_and_not_handed_out_again(app: Flask):
    from bookme.extensions import db

    url = SERVICES.database_url.replace("postgresql+psycopg://", "postgresql://")
    with app.app_context():
        try:
            (pid,) = driver_rows(sa.text("SELECT pg_backend_pid() AS pid"), {})[0]
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])
            with pytest.raises(sa.exc.OperationalError) as caught:
                driver_rows(sa.text("SELECT 1 AS one"), {})
            assert caught.value.connection_invalidated
            db.session.rollback()
            (fresh,) = driver_rows(sa.text("SELECT pg_backend_pid() AS pid"), {})[0]
            assert fresh != pid
        finally:
            db.session.remove()


@pytest.fixture
def active_tenant(tenant):
    from bookme.core import tenancy
    from bookme.tenants.service import tenant_ref_by_slug

    tenancy.activate(tenant_ref_by_slug(tenant.slug))
    yield
    tenancy.activate(None)


def test_row_class_stands_in_for_the_orm_object(db, active_tenant):
    from bookme.core.db import columns_of, row_class
    from bookme.customers.models import Customer

    when = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    customer = Customer(
        full_name="Salma B.", phone="+212612345678", consent_sms=False,
        consent_sms_changed_at=when, consent_sms_source="staff",
    )  # fmt: skip
    session().add(customer)
    session().flush()
    (values,) = driver_rows(
        sa.text(f"SELECT {columns_of(Customer, 'c')} FROM customers c WHERE c.id = :id"),
        {"id": customer.id},
        named=False,
    )
    row = row_class(Customer)._make(values)
    assert row.id == customer.id and row.full_name == "Salma B."
    assert (row.is_active, row.consents) == (customer.is_active, customer.consents)
    with pytest.raises(AttributeError):
        row.full_name = "changed"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        row.is_active = False  # type: ignore[misc]


def test_pending_orm_changes_are_flushed_first(db, active_tenant):
    from bookme.customers.models import Customer

    customer = Customer(full_name="Nadia K.")
    session().add(customer)  # not flushed yet
    rows = driver_rows(
        sa.text("SELECT full_name FROM customers WHERE full_name = :n"), {"n": "Nadia K."}
    )
    assert [row.full_name for row in rows] == ["Nadia K."]
    with session().no_autoflush:
        session().add(Customer(full_name="Omar T."))
        rows = driver_rows(
            sa.text("SELECT 1 AS one FROM customers WHERE full_name = :n"), {"n": "Omar T."}
        )
        assert rows == []


def test_row_class_follows_attribute_names_where_they_differ_from_columns(db):
    from bookme.core.db import columns_of, row_class
    from bookme.services.models import Service

    assert columns_of(Service, "s").split(", ")[:2] == ["s.id", "s.category_id"]
    assert "s.metadata" in columns_of(Service, "s").split(", ")
    fields = row_class(Service)._fields
    assert "metadata_" in fields and "metadata" not in fields
    assert len(fields) == len(columns_of(Service).split(", "))
    assert row_class(Service) is row_class(Service)
