"""Alembic environment: migrate `public`, then every tenant schema (resumable)."""

from __future__ import annotations

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
log = logging.getLogger("alembic.env")


def _include_name(name: str | None, type_: str, parent_names: dict[str, str | None]) -> bool:
    if type_ == "schema":
        return name in (None, "public")
    if type_ == "table":
        return parent_names.get("schema_name") == "public"
    return True


def _include_object(obj, name, type_, reflected, compare_to) -> bool:  # type: ignore[no-untyped-def]
    if type_ == "table":
        return obj.schema == "public"
    return True


def run_migrations_offline() -> None:
    context.configure(
        url=str(current_app.extensions["migrate"].db.engine.url),
        target_metadata=current_app.extensions["migrate"].db.metadata,
        literal_binds=True,
        version_table_schema="public",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = current_app.extensions["migrate"].db.engine
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=current_app.extensions["migrate"].db.metadata,
            version_table_schema="public",
            include_schemas=True,
            include_name=_include_name,
            include_object=_include_object,
            compare_type=True,
        )
        with context.begin_transaction():
            connection.exec_driver_sql("SET LOCAL search_path TO public")
            context.run_migrations()
        connection.commit()

    if context.get_x_argument(as_dictionary=True).get("tenants", "yes") == "no":
        return
    # Alembic hands back the resolved revision ("head" arrives as its id): compare with heads.
    target = context.get_revision_argument()
    targets = set(target) if isinstance(target, tuple) else {target}
    if targets != set(context.script.get_heads()):
        return  # a partial public upgrade/downgrade leaves tenant schemas alone
    from bookme.tenants.schema import upgrade_all

    upgrade_all(engine, echo=lambda line: log.info("%s", line))


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
