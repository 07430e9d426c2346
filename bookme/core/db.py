"""Declarative base, shared column types, the per-transaction search_path and `transactional`."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Session, mapped_column, registry

from bookme.core import tenancy

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

uuid_pk = Annotated[
    uuid.UUID,
    mapped_column(UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
]
created_at = Annotated[
    datetime, mapped_column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
]
updated_at = Annotated[
    datetime,
    mapped_column(
        sa.DateTime(timezone=True),
        nullable=False,
        server_default=sa.func.now(),
        onupdate=sa.func.now(),
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


@event.listens_for(Session, "after_begin")
def _set_search_path(session: Session, transaction: Any, connection: sa.Connection) -> None:
    connection.exec_driver_sql(f"SET LOCAL search_path TO {tenancy.search_path()}")


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
    """End every successful request's open transaction with COMMIT rather than ROLLBACK.

    What is left open after a successful response is reads (writes committed in
    `transactional`). psycopg forgets every prepared statement on a connection at ROLLBACK,
    which is how the pool would otherwise end them, and the availability query costs
    several times more to plan than to run.
    """

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
