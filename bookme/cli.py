"""`flask bookme …` commands."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup

bookme_cli = AppGroup("bookme", help="BookMe operations.")


@bookme_cli.command("tenant-revision")
@click.option("-m", "--message", required=True, help="What the migration does.")
@click.option("--autogenerate/--empty", default=True, help="Diff the models against head.")
def tenant_revision(message: str, autogenerate: bool) -> None:
    """Write a new tenant-schema migration (diffed against a scratch schema at head).

    The diff connection sees only the scratch schema: PostgreSQL reflection lists every
    table visible on the search_path, and `public` must not look like tenant tables.
    """
    from alembic.autogenerate import produce_migrations, render_python_code
    from alembic.migration import MigrationContext

    from bookme.core.db import Base
    from bookme.tenants import schema as tenant_schema

    script = tenant_schema.tenant_script()
    head = script.get_current_head()
    upgrade_code = downgrade_code = "    pass"
    if autogenerate:
        scratch = f"tenant_{uuid.uuid4().hex}"
        url = current_app.config["SQLALCHEMY_DATABASE_URI"]
        setup = sa.create_engine(url)
        with setup.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{scratch}"')
            if head is not None:
                tenant_schema.migrate_schema(conn, scratch)
        setup.dispose()
        engine = sa.create_engine(url, connect_args={"options": f"-csearch_path={scratch}"})
        try:
            with engine.connect() as conn:
                ctx = MigrationContext.configure(
                    conn,
                    opts={
                        "target_metadata": Base.metadata,
                        "include_object": lambda obj, name, type_, reflected, compare_to: (
                            type_ != "table" or obj.schema is None
                        ),
                        "compare_type": True,
                    },
                )
                ops = produce_migrations(ctx, Base.metadata)
                upgrade_code = render_python_code(ops.upgrade_ops)
                downgrade_code = render_python_code(ops.downgrade_ops)
        finally:
            with engine.begin() as conn:
                tenant_schema.drop_schema(conn, scratch)
            engine.dispose()
    number = len(list(script.walk_revisions())) + 1
    rev = f"t{number:04d}"
    slug = "_".join(message.lower().split())[:40]
    path = tenant_schema.TENANT_MIGRATIONS_DIR / "versions" / f"{rev}_{slug}.py"
    path.write_text(
        f'"""{message}\n\nRevision ID: {rev}\nRevises: {head or ""}\n'
        f'Create Date: {datetime.now(UTC):%Y-%m-%d}\n"""\n\n'
        "import sqlalchemy as sa\nfrom alembic import op\nfrom sqlalchemy import Text  # noqa: F401\n"
        "from sqlalchemy.dialects import postgresql\n\n"
        f"revision = {rev!r}\ndown_revision = {head!r}\nbranch_labels = None\ndepends_on = None\n\n\n"
        f"def upgrade() -> None:\n{_indent(upgrade_code)}\n\n\n"
        f"def downgrade() -> None:\n{_indent(downgrade_code)}\n"
    )
    click.echo(f"wrote {Path(path).relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


def _indent(code: str) -> str:
    lines = [line for line in code.strip("\n").splitlines() if not line.strip().startswith("#")]
    body = "\n".join(lines).strip("\n") or "    pass"
    return body


users_cli = AppGroup("users", help="Platform users.")
bookme_cli.add_command(users_cli)


@users_cli.command("make-operator")
@click.argument("email")
@click.option("--revoke", is_flag=True, help="Withdraw operator rights instead.")
def make_operator(email: str, revoke: bool) -> None:
    """Make the account EMAIL a platform operator (may suspend and activate tenants)."""
    from bookme.core import errors
    from bookme.users import service

    try:
        user = service.set_operator(email=email, is_operator=not revoke)
    except errors.NotFound as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{user.email} is {'no longer' if revoke else 'now'} a platform operator")


def register(app: Flask) -> None:
    app.cli.add_command(bookme_cli)
