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


tenants_cli = AppGroup("tenants", help="Businesses (tenants): create, list, suspend, activate.")
bookme_cli.add_command(tenants_cli)


def _cli_actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "cli"


def _problem_text(exc: Exception) -> str:
    from bookme.core.errors import BookMeError

    if isinstance(exc, BookMeError):
        text = f"{exc.code}: {exc.detail or exc.title}"
        for field, messages in (exc.errors or {}).items():
            text += f"\n  {field}: {' '.join(map(str, messages))}"
        return text
    return str(exc)


@tenants_cli.command("create")
@click.argument("slug")
@click.argument("name")
@click.argument("owner_email")
@click.option("--timezone", default="Africa/Casablanca", show_default=True, help="IANA zone.")
@click.option("--currency", default="MAD", show_default=True, help="ISO 4217 code.")
@click.option("--locale", default="fr", show_default=True, type=click.Choice(["fr", "ar", "en"]))
@click.option("--cancellation-cutoff-hours", type=click.IntRange(0, 720), help="Default 24.")
@click.option("--owner-name", help="Create the owner's account, with this name, if it is new.")
@click.option(
    "--owner-password",
    envvar="BOOKME_OWNER_PASSWORD",
    help="Password of a new owner account (default: generated and printed once).",
)
def create_tenant_command(
    slug: str,
    name: str,
    owner_email: str,
    timezone: str,
    currency: str,
    locale: str,
    cancellation_cutoff_hours: int | None,
    owner_name: str | None,
    owner_password: str | None,
) -> None:
    """Create the business SLUG named NAME, owned by the account OWNER_EMAIL.

    Provisions its schema and tables and records a `created` lifecycle event, all in one
    transaction with the owner's membership (and the owner's account, with --owner-name).
    """
    import secrets
    import time

    from bookme.core.clock import now
    from bookme.core.db import session, transactional
    from bookme.core.errors import BookMeError
    from bookme.tenants import service as tenants
    from bookme.users.models import User

    generated = None
    if owner_name and not owner_password:
        owner_password = generated = secrets.token_urlsafe(15)
    if owner_password is not None and len(owner_password) < 10:
        raise click.BadParameter("at least 10 characters", param_hint="--owner-password")

    @transactional
    def provision() -> tuple[object, bool]:
        email = owner_email.strip().lower()
        user = session().scalar(sa.select(User).where(sa.func.lower(User.email) == email))
        created_user = False
        if user is None:
            if not owner_name:
                raise click.ClickException(
                    f"no account {owner_email}; pass --owner-name to create it"
                )
            from bookme.users import service as users

            user = users.register(
                email=email, password=owner_password or "", full_name=owner_name, now=now()
            )
            created_user = True
        settings = (
            {"cancellation_cutoff_hours": cancellation_cutoff_hours}
            if cancellation_cutoff_hours is not None
            else None
        )
        tenant = tenants.create_tenant(
            slug=slug, name=name, timezone=timezone, currency=currency, locale=locale,
            owner_id=user.id, actor=_cli_actor(), settings=settings, now=now(),
        )  # fmt: skip
        return tenant, created_user

    started = time.perf_counter()
    try:
        tenant, created_user = provision()
    except BookMeError as exc:
        raise click.ClickException(_problem_text(exc)) from exc
    took = (time.perf_counter() - started) * 1000
    click.echo(
        f"created tenant {tenant.slug} (schema {tenant.schema_name} at "  # type: ignore[attr-defined]
        f"{tenant.schema_revision}) in {took:.0f} ms; owner {owner_email}"  # type: ignore[attr-defined]
    )
    if created_user:
        click.echo(f"created the owner's account {owner_email}")
        if generated:
            click.echo(f"its generated password (shown once): {generated}")


@tenants_cli.command("list")
@click.option("--status", type=click.Choice(["active", "suspended"]), help="Only these.")
def list_tenants_command(status: str | None) -> None:
    """List every business: slug, status, schema revision, creation date, name."""
    from bookme.tenants import service as tenants

    rows = tenants.list_all(status=status)
    for tenant in rows:
        click.echo(
            f"{tenant.slug:<32} {tenant.status:<10} {tenant.schema_revision or '-':<8} "
            f"{tenant.created_at:%Y-%m-%d} {tenant.name}"
        )
    click.echo(f"{len(rows)} tenant(s)")


def _set_status(slug: str, status: str, reason: str | None) -> None:
    from bookme.core.clock import now
    from bookme.core.errors import BookMeError
    from bookme.tenants import service as tenants

    try:
        tenant = tenants.set_status(
            slug=slug, status=status, now=now(), actor=_cli_actor(), reason=reason
        )
    except BookMeError as exc:
        raise click.ClickException(_problem_text(exc)) from exc
    click.echo(f"{tenant.slug} is {tenant.status}")


@tenants_cli.command("suspend")
@click.argument("slug")
@click.option("--reason", help="Recorded with the lifecycle event.")
def suspend_tenant_command(slug: str, reason: str | None) -> None:
    """Suspend the business SLUG: its API answers 403 tenant_suspended."""
    _set_status(slug, "suspended", reason)


@tenants_cli.command("activate")
@click.argument("slug")
@click.option("--reason", help="Recorded with the lifecycle event.")
def activate_tenant_command(slug: str, reason: str | None) -> None:
    """Reactivate the suspended business SLUG."""
    _set_status(slug, "active", reason)


@tenants_cli.command("events")
@click.argument("slug")
def tenant_events_command(slug: str) -> None:
    """Show the lifecycle history of the business SLUG, oldest first."""
    import json

    from bookme.tenants import service as tenants

    tenant = tenants.get_by_slug(slug)
    if tenant is None:
        raise click.ClickException(f"no tenant {slug}")
    for event in tenants.events(tenant_id=tenant.id):
        click.echo(
            f"{event.created_at:%Y-%m-%d %H:%M:%S%z} {event.type:<14} {event.actor or '-'} "
            f"{json.dumps(event.data, sort_keys=True)}"
        )


demo_cli = AppGroup("demo", help="The demo business.")
bookme_cli.add_command(demo_cli)


@demo_cli.command("seed")
@click.option("--slug", default="demo", show_default=True, help="The demo tenant's slug.")
@click.option("--no-accounts", is_flag=True, help="No manager and staff logins.")
def demo_seed_command(slug: str, no_accounts: bool) -> None:
    """Create the demo business SLUG (a salon, barber and hammam in Casablanca); idempotent.

    Its owner, 3 categories, 12 services, 8 staff on split shifts, a week of date overrides,
    time off and a closure. Prints the logins.
    """
    from bookme import demo
    from bookme.core.clock import now
    from bookme.core.errors import BookMeError

    try:
        result = demo.seed(slug=slug, now=now(), accounts=not no_accounts)
    except BookMeError as exc:
        raise click.ClickException(_problem_text(exc)) from exc
    state = "created" if result.created else "already there"
    click.echo(f"demo business {state}: tenant '{slug}' (header X-Tenant: {slug})")
    for email, password, role in result.logins:
        click.echo(f"demo {role} login: {email} / {password}")


@tenants_cli.command("spares")
@click.option("--count", type=click.IntRange(0, 200), help="How many to keep ready (default 5).")
def spares_command(count: int | None) -> None:
    """Build spare tenant schemas ahead of signups; drop those of older revisions.

    Provisioning claims and renames a spare (one statement) instead of building a schema.
    `flask db upgrade` and a periodic job keep the default number ready.
    """
    from bookme.tenants import schema

    wanted = schema.SPARE_SCHEMAS if count is None else count
    schema.top_up_spares(schema.engine_of_session(), count=wanted, echo=click.echo)
    click.echo(f"{wanted} or more spare schema(s) ready at {schema.tenant_head()}")


def register(app: Flask) -> None:
    app.cli.add_command(bookme_cli)
