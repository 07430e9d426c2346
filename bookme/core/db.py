"""Declarative base, shared column types, the per-transaction search_path and `transactional`."""

from __future__ import annotations

import functools
import uuid
from collections import namedtuple
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ParamSpec, TypeVar

import psycopg
import sqlalchemy as sa
from psycopg.pq import ExecStatus
from psycopg.rows import namedtuple_row, tuple_row
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.orm import DeclarativeBase, Session, mapped_column, registry

from bookme.core import clock, tenancy

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

uuid_pk = Annotated[
    uuid.UUID,
    mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")
    ),
]
created_at = Annotated[
    datetime,
    mapped_column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
]
updated_at = Annotated[
    datetime,
    mapped_column(
        sa.DateTime(timezone=True),
        nullable=False,
        server_default=sa.func.now(),
        # The app's clock, as the values the services write: the database's now() is the
        # transaction's start, before the request's `now`, so a row changed later in the
        # transaction that created it would seem updated before it was created.
        onupdate=clock.now,
    ),
]
instant = Annotated[datetime, mapped_column(sa.DateTime(timezone=True))]
jsonb = Annotated[dict[str, Any], mapped_column(JSONB, nullable=False, server_default="{}")]


class Base(DeclarativeBase):
    """Models in `public` say `schema="public"`; tenant models carry no schema."""

    registry = registry(
        metadata=sa.MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={uuid.UUID: UUID(as_uuid=True), datetime: sa.DateTime(timezone=True)},
    )


def tenant_tables() -> list[sa.Table]:
    """Tables that live in every tenant schema (those declared without a schema)."""
    return [t for t in Base.metadata.sorted_tables if t.schema is None]


# --- the search_path ------------------------------------------------------------------------
#
# Every connection opens with `search_path=public` (engine options) and only `SET LOCAL`
# ever changes it, so whenever no transaction is open it is `public` again. The path in force
# is remembered with the DBAPI connection, and a transaction starts with `SET LOCAL` only
# when it needs another one: a request that begins on `public` (authentication, tenant
# lookup) skips a round trip. What could make the memory wrong forgets it: a rolled-back
# savepoint (which restores an earlier path) or a `SET LOCAL` sent outside `use_search_path`.

DEFAULT_SEARCH_PATH = "public"
ENGINE_CONNECT_ARGS = {"options": f"-csearch_path={DEFAULT_SEARCH_PATH}"}
_PATH = "bookme.search_path"
_TRACKED = "bookme.search_path_tracked"


def use_search_path(connection: sa.Connection, path: str) -> None:
    """Make `path` the search_path of the connection's open transaction."""
    info = connection.info
    if info.get(_TRACKED) and info.get(_PATH) == path:
        return
    connection.exec_driver_sql(f"SET LOCAL search_path TO {path}")
    info[_PATH] = path


def search_path_set(connection: sa.Connection, path: str) -> None:
    """A statement of this transaction set the path to `path` with `set_config(…, true)`."""
    connection.info[_PATH] = path


def forget_search_path(connection: sa.Connection) -> None:
    """The path was changed behind `use_search_path`'s back: set it again next time."""
    connection.info.pop(_PATH, None)


@event.listens_for(Session, "after_begin")
def _set_search_path(session: Session, transaction: Any, connection: sa.Connection) -> None:
    use_search_path(connection, tenancy.search_path())


def ping_on_checkout(engine: sa.Engine) -> None:
    """Hand out only live connections: an empty query on each checkout (the pool then
    replaces a dead one, as after a database restart).

    SQLAlchemy's `pool_pre_ping` does the same with `SELECT 1` through a DBAPI cursor, which
    also opens the transaction early: about 0.4 ms of CPU a request here. libpq's empty
    query is one round trip that starts nothing, and costs a few microseconds.
    """
    from psycopg import pq

    def ping(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        pgconn = dbapi_connection.pgconn
        result = pgconn.exec_(b"")
        if result.status != pq.ExecStatus.EMPTY_QUERY or pgconn.status != pq.ConnStatus.OK:
            raise sa.exc.DisconnectionError("the database connection is gone")

    event.listen(engine, "checkout", ping)


LONG_QUERY_CACHE_BYTES = 32 * 1024


def cache_long_queries() -> None:
    """Let psycopg keep its conversion of long statements too.

    psycopg turns each statement's `%(name)s` placeholders into `$n` with a regular
    expression, and caches the result only for texts up to 4 KiB (`_queries`' module
    setting). The availability SQL is about 10 KiB and runs on every availability and
    booking request: converting it anew cost more than the rest of its client-side
    handling. A psycopg without that setting is left as it is.
    """
    from psycopg import _queries

    if hasattr(_queries, "MAX_CACHED_STATEMENT_LENGTH"):
        _queries.MAX_CACHED_STATEMENT_LENGTH = max(
            _queries.MAX_CACHED_STATEMENT_LENGTH, LONG_QUERY_CACHE_BYTES
        )


def track_search_path(engine: sa.Engine) -> None:
    """Remember the path in force on `engine`'s connections (opened with ENGINE_CONNECT_ARGS)."""

    def opened(dbapi_connection: Any, record: Any) -> None:
        record.info[_TRACKED] = True
        record.info[_PATH] = DEFAULT_SEARCH_PATH

    def ended(conn: Any, *_: Any) -> None:  # COMMIT or ROLLBACK: SET LOCAL is undone
        if not conn.invalidated:  # else the connection is gone; its replacement is `opened`
            conn.info[_PATH] = DEFAULT_SEARCH_PATH

    def returned(dbapi_connection: Any, record: Any) -> None:
        record.info[_PATH] = DEFAULT_SEARCH_PATH

    def unknown(conn: Any, *_: Any) -> None:  # a savepoint rolled back to an earlier path
        conn.info.pop(_PATH, None)

    event.listen(engine, "connect", opened)
    event.listen(engine, "checkin", returned)
    event.listen(engine, "commit", ended)
    event.listen(engine, "rollback", ended)
    event.listen(engine, "rollback_savepoint", unknown)


# --- statements on every booking's path, straight through the driver -----------------------


_DIALECT = PGDialect_psycopg()
_TUPLES_OK = ExecStatus.TUPLES_OK


@functools.cache
def _driver_text(statement: sa.TextClause) -> str:
    """`statement` with psycopg's placeholders (`:name` becomes `%(name)s`, `%` is doubled)."""
    return str(statement.compile(dialect=_DIALECT))


def driver_rows(
    statement: sa.TextClause, params: Mapping[str, Any], *, named: bool = True
) -> list[Any]:
    """Run `statement` in the session's transaction through psycopg itself; its rows as named
    tuples (attribute access, as SQLAlchemy's rows), or plain tuples when not `named` (for
    rows whose column names repeat, such as two tables' `columns_of`).

    For the few statements every booking runs: SQLAlchemy's execution context and result
    set-up cost about 70 µs of CPU per statement here, more than psycopg's whole share, and
    loading ORM objects more again. The parameters reach psycopg as given (no SQLAlchemy type
    processing, no expanding IN lists), after the session's pending ORM changes are flushed
    (unless autoflush is off), and a failure is raised as SQLAlchemy's own exception
    would be (`translate_db_error` and the error handlers see no difference), and a
    connection found dead is invalidated, so the pool does not hand it out again. The
    connection's `before_cursor_execute` / `after_cursor_execute` listeners and the dialect's
    `handle_error` ones are told, as for any statement (tracing — Sentry's SQLAlchemy
    integration switches itself on with SENTRY_DSN — and statement-counting tests listen
    there), but can't rewrite the statement or the error.
    """
    sess = session()
    if sess.autoflush:  # as for ORM statements: the ORM's pending changes are there to see
        sess.flush()
    connection = sess.connection()  # begins the transaction (and sets its search_path)
    driver = connection.connection.dbapi_connection
    assert isinstance(driver, psycopg.Connection)
    text = _driver_text(statement)
    told = connection.dispatch
    context = _StatementContext(connection.dialect)
    cursor = _cursor_of(connection, driver, text, named)
    try:
        if told.before_cursor_execute:
            told.before_cursor_execute(connection, cursor, text, params, context, False)
        cursor.execute(text, params)
        if told.after_cursor_execute:
            told.after_cursor_execute(connection, cursor, text, params, context, False)
        # (not `cursor.description`, which builds a column object per column)
        returned = cursor.pgresult is not None and cursor.pgresult.status == _TUPLES_OK
        return cursor.fetchall() if returned else []
    except psycopg.Error as error:
        dead = driver.closed
        raised = sa.exc.DBAPIError.instance(
            text, dict(params), error, psycopg.Error, connection_invalidated=dead
        )
        if connection.dialect.dispatch.handle_error:
            failure = _Failure(
                connection.dialect, connection, connection.engine, cursor, text, params, error,
                raised, context, dead,
            )  # fmt: skip
            connection.dialect.dispatch.handle_error(failure)
        if dead:
            connection.invalidate(error)
        raise raised from error


_CURSOR = "bookme_driver_cursor"


def _cursor_of(
    connection: sa.Connection, driver: psycopg.Connection, text: str, named: bool
) -> Any:
    """The cursor `driver_rows` keeps per database connection and statement (their number is
    that of the few statements on the booking path). A new psycopg cursor copies the
    connection's adapters and sets up its state each time (about 2 % of a booking's CPU over
    five statements), and a cursor given another statement than its last one builds its
    adapters again: the loaders of every result column, the dumpers of every parameter (with
    one cursor for all five, 35-55 µs of CPU per statement). Executing again on the same one
    replaces its results. The row factory is the statement's own, set once."""
    info = connection.info  # the pooled connection's own dict, kept across checkouts
    key = (_CURSOR, text, named)
    cursor = info.get(key)
    if cursor is None or cursor.connection is not driver or cursor.closed:
        cursor = info[key] = driver.cursor(row_factory=namedtuple_row if named else tuple_row)
    return cursor


class _StatementContext:
    """What `driver_rows` gives statement listeners where SQLAlchemy gives its execution
    context: the dialect, and room for what a listener keeps per statement (Sentry's span)."""

    def __init__(self, dialect: sa.Dialect) -> None:
        self.dialect = dialect


@dataclass
class _Failure:
    """A `driver_rows` statement's failure for `handle_error` listeners: the attributes of
    SQLAlchemy's `ExceptionContext` (which has no public constructor)."""

    dialect: sa.Dialect
    connection: sa.Connection
    engine: sa.Engine
    cursor: Any
    statement: str
    parameters: Mapping[str, Any]
    original_exception: BaseException
    sqlalchemy_exception: sa.exc.StatementError
    execution_context: _StatementContext
    is_disconnect: bool
    chained_exception: BaseException | None = None
    invalidate_pool_on_disconnect: bool = True
    is_pre_ping: bool = False


def columns_of(
    model: type[Base], alias: str | None = None, *, instead: Mapping[str, str] | None = None
) -> str:
    """The select list of `model`'s table columns (`alias.`-qualified), in `row_class` order;
    `instead` gives an expression to select in place of a column (by column name)."""
    quote = _DIALECT.identifier_preparer.quote
    prefix = f"{alias}." if alias else ""
    instead = instead or {}
    return ", ".join(
        instead.get(column.name, prefix + quote(column.name)) for column in model.__table__.columns
    )


@functools.cache
def row_class(model: type[Base]) -> type[Any]:
    """Read-only stand-ins for `model`'s objects, built from the values of `columns_of(model)`
    with `_make`, for the booking path, where loading ORM objects costs more than the
    statement that reads them.

    A named tuple of the model's column attributes, with the model's properties (read-only),
    holding the values as psycopg loads them (a range column is psycopg's `Range`, not
    SQLAlchemy's).
    It is not in the session: no identity map, no relationships, no change is ever written
    back; code that changes the object loads the ORM one.
    """
    key_of = {attr.columns[0]: attr.key for attr in sa.inspect(model).column_attrs}
    base = namedtuple(f"{model.__name__}Row", [key_of[c] for c in model.__table__.columns])  # type: ignore[misc]
    properties = {
        name: property(value.fget, doc=value.__doc__)
        for name, value in vars(model).items()
        if isinstance(value, property)
    }
    return type(base.__name__, (base,), {"__slots__": (), **properties})


# --- transactions -----------------------------------------------------------------------------

P = ParamSpec("P")
R = TypeVar("R")

_HOOKS = "bookme.after_commit"
_DEPTH = "bookme.tx_depth"


def session() -> Session:
    from bookme.extensions import db

    return db.session()


def after_commit(hook: Callable[[], Any]) -> None:
    """Run `hook` once the current unit of work has committed (dropped on rollback)."""
    session().info.setdefault(_HOOKS, []).append(hook)


@event.listens_for(Session, "after_rollback")
def _drop_hooks(sess: Session) -> None:
    if not sess.in_transaction():
        sess.info.pop(_HOOKS, None)


def transactional(fn: Callable[P, R]) -> Callable[P, R]:
    """One unit of work: body, flush, commit, then after-commit hooks. Reentrant."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        sess = session()
        depth = sess.info.get(_DEPTH, 0)
        if depth:
            return fn(*args, **kwargs)
        sess.info[_DEPTH] = 1
        try:
            try:
                result = fn(*args, **kwargs)
                sess.flush()
                sess.commit()
            except sa.exc.DBAPIError as exc:
                sess.rollback()
                from bookme.core.errors import translate_db_error

                raise translate_db_error(exc) from exc
            except BaseException:
                sess.rollback()
                raise
        finally:
            sess.info.pop(_DEPTH, None)
        hooks = sess.info.pop(_HOOKS, [])
        for hook in hooks:
            hook()
        return result

    return wrapper


def register(app: Any) -> None:
    """Track the app engine's search_path, and end every successful request's open
    transaction with COMMIT rather than ROLLBACK.

    What is left open after a successful response is reads (writes committed in
    `transactional`). psycopg forgets every prepared statement on a connection at ROLLBACK,
    which is how the pool would otherwise end them, and the availability query costs
    several times more to plan than to run.
    """

    from bookme.extensions import db

    cache_long_queries()
    with app.app_context():
        ping_on_checkout(db.engine)
        track_search_path(db.engine)

    @app.after_request
    def _commit_reads(response: Any) -> Any:
        if response.status_code < 400:
            sess = session()
            if sess.in_transaction() and not (sess.new or sess.dirty or sess.deleted):
                try:
                    sess.commit()
                except sa.exc.DBAPIError:
                    sess.rollback()
        return response
