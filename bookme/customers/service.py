"""Customer use cases: records, consents, search, soft delete, GDPR export and erasure.

Other modules use `find_or_create_customer` and `bookable` (bookings),
`record_consent` (replies such as STOP), `register_export_section` (what they hold about a
customer, for the export) and the `customer_erased` domain event (to scrub their own copies
of personal data inside the erasing transaction).
"""

from __future__ import annotations

import contextlib
import re
import uuid
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import phonenumbers
import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask_smorest.pagination import PaginationParameters
from sqlalchemy.orm import Session, with_expression

from bookme.core import errors, events, tenancy
from bookme.core.api import page_offset, paginate
from bookme.core.db import session, transactional
from bookme.customers.models import (
    CHANNELS,
    CONSENT_SOURCES,
    LOCALES,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    UQ_EMAIL,
    UQ_PHONE,
    ConsentEvent,
    Customer,
    CustomerEvent,
)
from bookme.users.access import Actor

DEFAULT_REGION = "MA"
ERASED_NAME = "Erased customer"
PHONE_MIN_SUFFIX = 6
EXPORT_FORMAT = "bookme.customer-export/1"

_PHONE_CHARS = re.compile(r"^\+?[0-9 ().\-/]+$")
_PHONE_QUERY = re.compile(r"^[0-9 +().\-/]+$")


class PhoneTaken(errors.BookMeError):
    """Another active customer of this business has this phone number."""

    status = 409
    code = "phone_taken"
    title = "Phone number taken"


def _taken(field: str, existing_id: uuid.UUID | None) -> errors.BookMeError:
    label = "phone number" if field == "phone" else "email address"
    detail = f"Another customer already has this {label}"
    detail += f" (existing customer id {existing_id})." if existing_id else "."
    cls = PhoneTaken if field == "phone" else errors.EmailTaken
    extra = {"existing_id": str(existing_id)} if existing_id else {}
    return cls(detail, errors={field: [detail]}, **extra)


# Fallbacks for a violation outside `_unique_contacts` (no existing id known then).
errors.on_constraint(UQ_PHONE, lambda: _taken("phone", None))
errors.on_constraint(UQ_EMAIL, lambda: _taken("email", None))


# --- normalisation --------------------------------------------------------------------------


def normalise_phone(raw: str, *, field: str = "phone") -> str:
    """`raw` as E.164 (`0612345678` → `+212612345678`, Morocco by default); 422 if invalid."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not text or len(text) > 32 or not _PHONE_CHARS.fullmatch(text):
        raise errors.validation_error({field: ["Not a valid phone number."]})
    try:
        number = phonenumbers.parse(text, DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise errors.validation_error({field: ["Not a valid phone number."]}) from exc
    if not phonenumbers.is_valid_number(number):
        raise errors.validation_error({field: ["Not a valid phone number."]})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str, *, field: str = "email") -> str:
    """A syntactically valid address, domain lower-cased (no DNS lookup); 422 if invalid."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not text or len(text) > 254:
        raise errors.validation_error({field: ["Not a valid email address."]})
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise errors.validation_error({field: [str(exc)]}) from exc


def normalise_tags(tags: Iterable[str], *, field: str = "tags") -> list[str]:
    """Trimmed, non-empty, de-duplicated (first spelling kept), at most 20 of ≤ 50 characters."""
    result: list[str] = []
    seen: set[str] = set()
    for tag in tags:
        text = " ".join(str(tag).split())
        if not text:
            raise errors.validation_error({field: ["Tags cannot be blank."]})
        if len(text) > MAX_TAG_LENGTH:
            raise errors.validation_error(
                {field: [f"Tags are at most {MAX_TAG_LENGTH} characters."]}
            )
        if text.casefold() not in seen:
            seen.add(text.casefold())
            result.append(text)
    if len(result) > MAX_TAGS:
        raise errors.validation_error({field: [f"At most {MAX_TAGS} tags."]})
    return result


def _full_name(raw: str) -> str:
    text = " ".join(str(raw).split())
    if not text:
        raise errors.validation_error({"full_name": ["A name is required."]})
    if len(text) > 200:
        raise errors.validation_error({"full_name": ["At most 200 characters."]})
    return text


def _locale(raw: str | None, tenant: tenancy.TenantRef) -> str:
    if raw is None:
        return tenant.locale if tenant.locale in LOCALES else LOCALES[0]
    if raw not in LOCALES:
        raise errors.validation_error({"locale": [f"One of {', '.join(LOCALES)}."]})
    return raw


# --- lookups --------------------------------------------------------------------------------

_ACTIVE = sa.and_(Customer.deleted_at.is_(None), Customer.erased_at.is_(None))


def _find_active(*, phone: str | None = None, email: str | None = None) -> Customer | None:
    if phone is not None:
        return session().scalar(sa.select(Customer).where(_ACTIVE, Customer.phone == phone))
    if email is not None:
        return session().scalar(
            sa.select(Customer).where(_ACTIVE, sa.func.lower(Customer.email) == email.lower())
        )
    return None


def _get(customer_id: uuid.UUID, *, lock: bool = False) -> Customer:
    stmt = sa.select(Customer).where(Customer.id == customer_id)
    if lock:
        stmt = stmt.with_for_update()
    customer = session().scalar(stmt)
    if customer is None:
        raise errors.NotFound("No such customer.")
    return customer


def _writable(customer_id: uuid.UUID) -> Customer:
    customer = _get(customer_id, lock=True)
    if customer.erased_at is not None:
        raise errors.Conflict("This customer was erased; the record can no longer change.")
    if customer.deleted_at is not None:
        raise errors.Conflict("This customer was deleted; the record can no longer change.")
    return customer


def get_customer(*, customer_id: uuid.UUID) -> Customer:
    """One customer, deleted and erased ones included (bookings still point at them)."""
    stmt = _with_stats(sa.select(Customer)).where(Customer.id == customer_id)
    customer = session().scalar(stmt.execution_options(populate_existing=True))
    if customer is None:
        raise errors.NotFound("No such customer.")
    return customer


def bookable(customer: Customer | None) -> Customer:
    """The customer a new booking may name, given its row as read by the caller (None: no
    such id): 404 when unknown, 422 when deleted or erased."""
    if customer is None:
        raise errors.NotFound("No such customer.")
    if not customer.is_active:
        state = "erased" if customer.erased_at is not None else "deleted"
        raise errors.validation_error(
            {"customer_id": [f"This customer was {state} and cannot be booked."]}
        )
    return customer


# --- history stats (visits), provided by the bookings module's tables ------------------------


# Customers sit below bookings in the module graph (bookings imports customers), so the
# bookings table is named here as a lightweight table clause rather than imported.
_bookings = sa.table(
    "bookings",
    sa.column("id", sa.Uuid),
    sa.column("customer_id", sa.Uuid),
    sa.column("service_id", sa.Uuid),
    sa.column("staff_id", sa.Uuid),
    sa.column("status", sa.String),
    sa.column("starts_at", sa.DateTime(timezone=True)),
    sa.column("ends_at", sa.DateTime(timezone=True)),
    sa.column("price", sa.Numeric(12, 2)),
    sa.column("currency", sa.String),
    sa.column("notes", sa.String),
    sa.column("cancellation_reason", sa.String),
    sa.column("cancelled_at", sa.DateTime(timezone=True)),
    sa.column("source", sa.String),
    sa.column("payment_status", sa.String),
    sa.column("amount_paid", sa.Numeric(12, 2)),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
_services = sa.table("services", sa.column("id", sa.Uuid), sa.column("name", sa.String))
_staff = sa.table("staff", sa.column("id", sa.Uuid), sa.column("display_name", sa.String))


def _booking_stat(column: Any, status: str) -> Any:
    return (
        sa.select(column)
        .where(_bookings.c.customer_id == Customer.id, _bookings.c.status == status)
        .scalar_subquery()
    )


def _with_stats(stmt: sa.Select[Any]) -> sa.Select[Any]:
    """Add visit count (completed bookings), no-show count and last visit to `stmt`.

    Correlated subqueries on (customer_id, starts_at): PostgreSQL evaluates them only for
    the rows of the page, and drops them from the pagination count.
    """
    return stmt.options(
        with_expression(Customer.visit_count, _booking_stat(sa.func.count(), "completed")),
        with_expression(Customer.no_show_count, _booking_stat(sa.func.count(), "no_show")),
        with_expression(
            Customer.last_visit_at, _booking_stat(sa.func.max(_bookings.c.starts_at), "completed")
        ),
    )


# --- audit and consents ---------------------------------------------------------------------


def _audit(
    customer: Customer,
    type_: str,
    *,
    actor: Actor,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> None:
    session().add(
        CustomerEvent(
            customer_id=customer.id,
            type=type_,
            actor=actor.label,
            actor_user_id=actor.user_id,
            data=data or {},
            created_at=now,
        )
    )


def _apply_consents(
    customer: Customer,
    consents: Mapping[str, bool | None],
    *,
    source: str,
    actor: Actor,
    now: datetime,
    evidence: str | None = None,
    grant_only_unasked: bool = False,
) -> list[str]:
    """Set each given consent that differs from the current one, appending to the history.

    With `grant_only_unasked`, a `true` only fills a consent never asked before: a request
    whose author is not verified (a public booking naming an existing customer) may
    withdraw consent but may not override a customer's recorded refusal.
    """
    if source not in CONSENT_SOURCES:
        raise ValueError(f"unknown consent source {source!r}")
    unknown = set(consents) - set(CHANNELS)
    if unknown:
        raise errors.validation_error({f"consents.{c}": ["Unknown channel."] for c in unknown})
    changed = []
    for channel in CHANNELS:
        granted = consents.get(channel)
        if granted is None:
            continue
        current = getattr(customer, f"consent_{channel}")
        if current is granted:
            continue
        if grant_only_unasked and granted and current is not None:
            continue
        setattr(customer, f"consent_{channel}", granted)
        setattr(customer, f"consent_{channel}_changed_at", now)
        setattr(customer, f"consent_{channel}_source", source)
        session().add(
            ConsentEvent(
                customer_id=customer.id,
                channel=channel,
                granted=granted,
                source=source,
                changed_at=now,
                actor=actor.label,
                actor_user_id=actor.user_id,
                evidence=evidence,
            )
        )
        changed.append(channel)
    return changed


@contextlib.contextmanager
def _unique_contacts(*, phone: str | None, email: str | None) -> Iterator[None]:
    """Run the block's writes in a savepoint and flush them; a phone or email held by another
    active customer → 409 naming that customer (the unique index, found by its name).

    The savepoint opens before the block changes anything: `begin_nested` flushes what is
    pending first, and a violation there would doom the whole transaction.
    """
    sess: Session = session()
    try:
        with sess.begin_nested():
            yield
            sess.flush()
    except sa.exc.IntegrityError as exc:
        name = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
        with sess.no_autoflush:
            if name == UQ_PHONE:
                existing = _find_active(phone=phone)
                raise _taken("phone", existing.id if existing else None) from exc
            if name == UQ_EMAIL:
                existing = _find_active(email=email)
                raise _taken("email", existing.id if existing else None) from exc
        raise


# --- writes ---------------------------------------------------------------------------------


@transactional
def create_customer(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    full_name: str,
    phone: str | None = None,
    email: str | None = None,
    locale: str | None = None,
    tags: Iterable[str] = (),
    notes: str | None = None,
    consents: Mapping[str, bool | None] | None = None,
    source: str = "staff",
) -> Customer:
    customer = Customer(
        id=uuid.uuid4(),
        full_name=_full_name(full_name),
        phone=normalise_phone(phone) if phone else None,
        email=normalise_email(email) if email else None,
        locale=_locale(locale, tenant),
        tags=normalise_tags(tags),
        notes=notes or None,
        created_at=now,
        updated_at=now,
    )
    with _unique_contacts(phone=customer.phone, email=customer.email):
        session().add(customer)
    _apply_consents(customer, consents or {}, source=source, actor=actor, now=now)
    _audit(customer, "created", actor=actor, now=now, data={"source": source})
    session().flush()
    return get_customer(customer_id=customer.id)


@transactional
def check_details(
    *,
    tenant: tenancy.TenantRef,
    full_name: str,
    phone: str | None = None,
    email: str | None = None,
    locale: str | None = None,
    **_: Any,
) -> None:
    """The 422 `find_or_create_customer` would give these details, found before anything is
    read or written (a request's own errors come before what the data then says of it)."""
    _full_name(full_name)
    if phone:
        normalise_phone(phone)
    if email:
        normalise_email(email)
    _locale(locale, tenant)


def find_or_create_customer(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    full_name: str,
    phone: str | None = None,
    email: str | None = None,
    locale: str | None = None,
    consents: Mapping[str, bool | None] | None = None,
    source: str = "public_booking",
) -> Customer:
    """The active customer with this phone (else this email), or a new one.

    An existing record's name and contact details are left as they are (a booking form is
    not proof of identity); its consents take withdrawals, and grants only where never asked
    unless the source is staff. A new customer's consents start null unless given.
    """
    phone = normalise_phone(phone) if phone else None
    email = normalise_email(email) if email else None
    for attempt in range(2):
        existing = _find_active(phone=phone) if phone else None
        if existing is None and email:
            existing = _find_active(email=email)
        if existing is not None:
            _apply_consents(
                existing,
                consents or {},
                source=source,
                actor=actor,
                now=now,
                grant_only_unasked=source != "staff",
            )
            return existing
        try:
            with session().begin_nested():
                return create_customer(
                    tenant=tenant,
                    actor=actor,
                    now=now,
                    full_name=full_name,
                    phone=phone,
                    email=email,
                    locale=locale,
                    consents=consents,
                    source=source,
                )
        except (PhoneTaken, errors.EmailTaken):
            # A concurrent request created them first; the second pass finds that record.
            if attempt:
                raise
    raise AssertionError("unreachable")


_UPDATABLE = ("full_name", "phone", "email", "locale", "tags", "notes", "consents")


@transactional
def update_customer(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    customer_id: uuid.UUID,
    changes: Mapping[str, Any],
) -> Customer:
    """Apply a partial update; `null` clears phone, email or notes."""
    unknown = set(changes) - set(_UPDATABLE)
    if unknown:
        raise errors.validation_error({name: ["Unknown field."] for name in sorted(unknown)})
    customer = _writable(customer_id)
    phone = normalise_phone(changes["phone"]) if changes.get("phone") else None
    email = normalise_email(changes["email"]) if changes.get("email") else None
    changed: list[str] = []

    def put(field: str, value: Any) -> None:
        if getattr(customer, field) != value:
            setattr(customer, field, value)
            changed.append(field)

    with _unique_contacts(phone=phone, email=email):
        if "full_name" in changes:
            put("full_name", _full_name(changes["full_name"] or ""))
        if "phone" in changes:
            put("phone", phone)
        if "email" in changes:
            put("email", email)
        if "locale" in changes:
            put("locale", _locale(changes["locale"] or "", tenant))
        if "tags" in changes:
            put("tags", normalise_tags(changes["tags"] or []))
        if "notes" in changes:
            put("notes", changes["notes"] or None)
        consent_changes = _apply_consents(
            customer, changes.get("consents") or {}, source="staff", actor=actor, now=now
        )
        changed += [f"consents.{channel}" for channel in consent_changes]
        if changed:
            customer.updated_at = now
            _audit(customer, "updated", actor=actor, now=now, data={"fields": changed})
    return get_customer(customer_id=customer.id)


@transactional
def record_consent(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    customer_id: uuid.UUID,
    channel: str,
    granted: bool,
    source: str,
    evidence: str | None = None,
) -> Customer:
    """Record one consent decision from anywhere (e.g. a STOP reply); no-op if unchanged.

    A deleted customer's decision is still recorded; an erased one has nothing to consent to.
    """
    customer = _get(customer_id, lock=True)
    if customer.erased_at is None and _apply_consents(
        customer, {channel: granted}, source=source, actor=actor, now=now, evidence=evidence
    ):
        customer.updated_at = now
    return customer


@transactional
def delete_customer(
    *, tenant: tenancy.TenantRef, actor: Actor, now: datetime, customer_id: uuid.UUID
) -> None:
    """Soft delete: hidden from lists and searches, history and bookings kept. Idempotent."""
    customer = _get(customer_id, lock=True)
    if customer.deleted_at is None:
        customer.deleted_at = now
        customer.updated_at = now
        _audit(customer, "deleted", actor=actor, now=now)


@transactional
def erase_customer(
    *, tenant: tenancy.TenantRef, actor: Actor, now: datetime, customer_id: uuid.UUID
) -> None:
    """GDPR erasure: personal data replaced by a placeholder; bookings stay linked. Idempotent.

    Emits `customer_erased(tenant, actor, now, customer_id)` inside the transaction so other
    modules scrub what they copied (notification recipients, booking notes, …).
    """
    customer = _get(customer_id, lock=True)
    if customer.erased_at is not None:
        return
    customer.full_name = ERASED_NAME
    customer.phone = None
    customer.email = None
    customer.notes = None
    customer.tags = []
    customer.erased_at = now
    customer.updated_at = now
    session().execute(
        sa.update(ConsentEvent).where(ConsentEvent.customer_id == customer.id).values(evidence=None)
    )
    _audit(customer, "erased", actor=actor, now=now)
    events.emit("customer_erased", tenant=tenant, actor=actor, now=now, customer_id=customer.id)


# --- reads ----------------------------------------------------------------------------------


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _fold(value: Any) -> Any:
    return sa.func.public.bookme_fold(value)


def _search_condition(q: str) -> tuple[sa.ColumnElement[bool], bool]:
    """Phone (a suffix of at least 6 digits, or the whole number in any spelling) when `q`
    looks like a number; else name (folded, partial) or email (partial).

    Each branch matches an index exactly so PostgreSQL can use it: a btree on the reversed
    number for suffixes, trigram GIN indexes for the partial matches, the sort index for
    one- or two-character name prefixes. A number-like query searches phones only: an OR
    with the text branches would make the planner misjudge how many rows match. The flag
    says whether the sort index yields the matches in order (only the prefix range does).
    """
    digits = re.sub(r"\D", "", q)
    if _PHONE_QUERY.fullmatch(q) and len(digits) >= PHONE_MIN_SUFFIX:
        low = digits[::-1]
        high = low[:-1] + chr(ord(low[-1]) + 1)
        reversed_phone = sa.func.reverse(Customer.phone).collate("C")
        branches: list[sa.ColumnElement[bool]] = [
            sa.and_(reversed_phone >= low, reversed_phone < high)
        ]
        with contextlib.suppress(errors.BookMeError):
            branches.append(Customer.phone == normalise_phone(q))
        return sa.or_(*branches), False
    if len(q) < 3:
        # Too short for trigrams: a prefix of the folded name, a range on the sort index.
        prefix = _fold(sa.literal(q, sa.Text)).collate("C")
        in_range = sa.and_(
            Customer.search_name >= prefix, Customer.search_name < prefix.concat("\U0010ffff")
        )
        return in_range, True
    pattern = "%" + _escape_like(q) + "%"
    text_match = sa.or_(
        Customer.search_name.like(_fold(sa.literal(pattern, sa.Text)), escape="\\"),
        sa.func.lower(Customer.email).like(pattern.lower(), escape="\\"),
    )
    return text_match, False


def _search_filters(
    q: str | None, tags: Iterable[str]
) -> tuple[list[sa.ColumnElement[bool]], bool]:
    conditions: list[sa.ColumnElement[bool]] = [_ACTIVE]
    in_order = True
    q = " ".join((q or "").split())
    if q:
        condition, in_order = _search_condition(q)
        conditions.append(condition)
    tag_list = [t for t in (" ".join(tag.split()) for tag in tags) if t]
    if tag_list:
        conditions.append(Customer.tags.contains(tag_list))
        in_order = False
    return conditions, in_order


def search_statement(*, q: str | None = None, tags: Iterable[str] = ()) -> sa.Select[Any]:
    """Active customers matching `q` (name, phone, email) and holding every tag, by name."""
    conditions, _ = _search_filters(q, tags)
    return sa.select(Customer).where(*conditions).order_by(Customer.search_name, Customer.id)


def search_count_statement(*, q: str | None = None, tags: Iterable[str] = ()) -> sa.Select[Any]:
    conditions, _ = _search_filters(q, tags)
    return sa.select(sa.func.count()).select_from(Customer).where(*conditions)


def search_page_statement(
    *, q: str | None = None, tags: Iterable[str] = (), page: int = 1, page_size: int = 20
) -> tuple[sa.Select[Any], bool]:
    """One page of the search with visit stats; the flag says whether each row carries the
    total (`total` column) or it must be counted separately.

    With no filter or a name prefix, the sort index yields the matches in order: walk it.
    Any other filter goes through a materialised set of matches (ids and sort keys, from
    the filter's own index), sorted for the page and counted once: left to itself, the
    planner would walk the sort index hoping to meet 20 matches early, which reads the
    whole table when they are rare or sort late ("yasmine", a phone suffix).
    """
    conditions, in_order = _search_filters(q, tags)
    offset = page_offset(page, page_size)
    if in_order:
        stmt = (
            sa.select(Customer)
            .where(*conditions)
            .order_by(Customer.search_name, Customer.id)
            .limit(page_size)
            .offset(offset)
        )
        return _with_stats(stmt), False
    matches = (
        sa.select(Customer.id, Customer.search_name)
        .where(*conditions)
        .cte("matches")
        .prefix_with("MATERIALIZED")
    )
    window = (
        sa.select(matches.c.id, matches.c.search_name)
        .order_by(matches.c.search_name, matches.c.id)
        .limit(page_size)
        .offset(offset)
        .subquery("page")
    )
    total = sa.select(sa.func.count()).select_from(matches).scalar_subquery()
    stmt = (
        sa.select(Customer, total.label("total"))
        .join(window, window.c.id == Customer.id)
        .order_by(window.c.search_name, window.c.id)
    )
    return _with_stats(stmt), True


# For this transaction only. Plans are made for the actual values: a plan cached for "any
# pattern" (psycopg prepares a statement it has run a few times) cannot know whether a
# pattern is rare or common. And index pages cost about what heap pages do (a tenant's
# customers are read often, so cached): the unfiltered total then counts the compact phone
# index, about half the time of reading the whole table.
_SEARCH_SETTINGS = sa.text(
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),"
    " set_config('random_page_cost', '1.1', true)"
)


def search_customers(
    *,
    tenant: tenancy.TenantRef,
    q: str | None = None,
    tags: Iterable[str] = (),
    pagination: PaginationParameters,
) -> list[Customer]:
    """One page of active customers matching `q` and `tags`, by name, with visit stats."""
    sess = session()
    sess.execute(_SEARCH_SETTINGS)
    stmt, carries_total = search_page_statement(
        q=q, tags=tags, page=pagination.page, page_size=pagination.page_size
    )
    stmt = stmt.execution_options(populate_existing=True)
    if not carries_total:
        pagination.item_count = sess.scalar(search_count_statement(q=q, tags=tags))
        return list(sess.scalars(stmt))
    rows = sess.execute(stmt).all()
    if rows:
        pagination.item_count = rows[0].total
    elif pagination.page == 1:
        pagination.item_count = 0
    else:  # past the last page: the total is still owed to the client
        pagination.item_count = sess.scalar(search_count_statement(q=q, tags=tags))
    return [row[0] for row in rows]


def list_consent_events(
    *, customer_id: uuid.UUID, pagination: PaginationParameters | None = None
) -> list[ConsentEvent]:
    """The consent history, oldest first: one page of it when `pagination` is given."""
    _get(customer_id)
    stmt = (
        sa.select(ConsentEvent)
        .where(ConsentEvent.customer_id == customer_id)
        .order_by(ConsentEvent.changed_at, ConsentEvent.id)
    )
    if pagination is not None:
        return paginate(stmt, pagination)
    return list(session().scalars(stmt))


def list_customer_events(*, customer_id: uuid.UUID) -> list[CustomerEvent]:
    return list(
        session().scalars(
            sa.select(CustomerEvent)
            .where(CustomerEvent.customer_id == customer_id)
            .order_by(CustomerEvent.created_at, CustomerEvent.id)
        )
    )


# --- export ---------------------------------------------------------------------------------

ExportSection = Callable[..., Any]
_export_sections: dict[str, ExportSection] = {}
_RESERVED_SECTIONS = frozenset({"format", "exported_at", "customer", "consent_history", "audit"})


def register_export_section(name: str, fn: ExportSection) -> ExportSection:
    """Add what a module holds about a customer to the export.

    `fn(*, tenant, customer_id)` runs in the exporting transaction (tenant search_path set)
    and returns JSON-like data (dicts, lists, str, numbers, bool, None, datetimes, dates,
    decimals, UUIDs); it appears under `sections[name]`.
    """
    if name in _RESERVED_SECTIONS or not re.match(r"^[a-z][a-z0-9_]{0,39}$", name):
        raise ValueError(f"invalid export section name {name!r}")
    _export_sections[name] = fn
    return fn


def export_sections() -> dict[str, ExportSection]:
    return dict(_export_sections)


def _jsonable(value: Any, tz: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(tz).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, tz) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v, tz) for v in value]
    return value


@transactional
def export_customer(
    *, tenant: tenancy.TenantRef, actor: Actor, now: datetime, customer_id: uuid.UUID
) -> dict[str, Any]:
    """Everything held about the customer as one document; the export itself is audited."""
    customer = get_customer(customer_id=customer_id)
    _audit(customer, "exported", actor=actor, now=now)
    session().flush()
    tz = zoneinfo.ZoneInfo(tenant.timezone)
    sections = {
        name: _jsonable(fn(tenant=tenant, customer_id=customer.id), tz)
        for name, fn in sorted(_export_sections.items())
    }
    return {
        "format": EXPORT_FORMAT,
        "exported_at": now,
        "customer": customer,
        "consent_history": list_consent_events(customer_id=customer.id),
        "audit": list_customer_events(customer_id=customer.id),
        "sections": sections,
    }


def _bookings_of(customer_id: uuid.UUID) -> sa.Select[Any]:
    return (
        sa.select(
            _bookings,
            _services.c.name.label("service_name"),
            _staff.c.display_name.label("staff_name"),
        )
        .join(_services, _services.c.id == _bookings.c.service_id)
        .join(_staff, _staff.c.id == _bookings.c.staff_id)
        .where(_bookings.c.customer_id == customer_id)
        .order_by(_bookings.c.starts_at.desc(), _bookings.c.id.desc())
    )


def list_customer_bookings(
    *, tenant: tenancy.TenantRef, customer_id: uuid.UUID, pagination: PaginationParameters
) -> list[Any]:
    """The customer's bookings, newest first (deleted and erased customers included)."""
    _get(customer_id)
    stmt = _bookings_of(customer_id)
    sess = session()
    pagination.item_count = sess.scalar(
        sa.select(sa.func.count()).where(_bookings.c.customer_id == customer_id)
    )
    page = stmt.limit(pagination.page_size).offset(
        page_offset(pagination.page, pagination.page_size)
    )
    return list(sess.execute(page).mappings())


def _export_bookings(*, tenant: tenancy.TenantRef, customer_id: uuid.UUID) -> list[Any]:
    """Default `bookings` export section; the bookings module may register a richer one."""
    return [dict(row) for row in session().execute(_bookings_of(customer_id)).mappings()]


register_export_section("bookings", _export_bookings)
