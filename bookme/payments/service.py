"""Payment use cases: settings, checkout of public bookings, online and cash payments, refunds,
provider outcomes (webhooks, captures, reconciliation), holds and the refund policy.

Three rules hold everywhere:
- A provider is never called inside a transaction that holds row locks. Opening a payment
  calls the provider first (keyed by a payment id chosen beforehand) and writes after; a
  refund is reserved (`pending`) in one short transaction, sent, then settled in another.
- Every change of a payment locks its booking first, then the payment (`_lock`), so the
  booking's own transactions (cancel, confirm) and ours never deadlock, and concurrent
  outcomes for one payment serialise: each applies once, and a late or repeated one is a no-op.
- A payment's success, its booking's confirmation, the invoice and the receipt are one
  transaction; so are a refund's success, its credit note and its notification.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, overload

import sqlalchemy as sa
from flask import Response, current_app
from flask_smorest.pagination import PaginationParameters

from bookme.bookings import idempotency
from bookme.bookings.models import ACTIVE_STATUSES, Booking
from bookme.bookings.schemas import resolve_bound
from bookme.core import crypto, errors, events, tenancy
from bookme.core.api import paginate
from bookme.core.db import session, transactional
from bookme.core.tasks import enqueue_after_commit
from bookme.payments import invoices, money
from bookme.payments.models import (
    ONLINE_PROVIDERS,
    OPEN_STATUSES,
    PAID_STATUSES,
    Payment,
    PaymentSettings,
    PaymentWebhookEvent,
    Refund,
)
from bookme.payments.providers import (
    Charge,
    Opened,
    Provider,
    ProviderError,
    RefundOutcome,
    Rejected,
    Remote,
    Unreachable,
)
from bookme.services.models import Service

if TYPE_CHECKING:
    from bookme.users.access import Actor

log = logging.getLogger("bookme.payments")

# Domain events this module emits (communications sends the receipt and refund notices).
SUCCEEDED = "payment.succeeded"
REFUNDED = "payment.refunded"

PAYPAL_TAKES = frozenset({
    "AUD", "BRL", "CAD", "CNY", "CZK", "DKK", "EUR", "HKD", "HUF", "ILS", "JPY", "MYR", "MXN",
    "TWD", "NZD", "NOK", "PHP", "PLN", "GBP", "SGD", "SEK", "CHF", "THB", "USD",
})  # fmt: skip
RECONCILE_AFTER = timedelta(minutes=10)


def _provider_actor() -> Actor:
    from bookme.users.access import Actor

    return Actor(kind="provider")


def _system() -> Actor:
    from bookme.users.access import SYSTEM

    return SYSTEM


# --- settings -----------------------------------------------------------------------------------


def load_settings() -> PaymentSettings | None:
    return session().scalars(sa.select(PaymentSettings).where(PaymentSettings.id == 1)).first()


def _settings_for_update() -> PaymentSettings:
    session().execute(
        sa.text("INSERT INTO payment_settings (id) VALUES (1) ON CONFLICT DO NOTHING")
    )
    return (
        session()
        .scalars(
            sa.select(PaymentSettings)
            .where(PaymentSettings.id == 1)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        .one()
    )


def hold_minutes(settings: PaymentSettings | None) -> int:
    return settings.hold_minutes if settings else 15


def settings_view(tenant: tenancy.TenantRef, row: PaymentSettings | None) -> dict[str, Any]:
    base = current_app.config["BOOKME"].public_base_url
    row = row or PaymentSettings(
        hold_minutes=15, full_refund_hours_before=24, tax_rate=Decimal("20.00"), invoice_prefix=""
    )
    return {
        "stripe": {
            "configured": bool(row.stripe_secret_key),
            "publishable_key": row.stripe_publishable_key,
            "secret_key_last4": row.stripe_secret_key_last4,
            "webhook_secret_configured": bool(row.stripe_webhook_secret),
        },
        "paypal": {
            "configured": bool(row.paypal_client_id and row.paypal_client_secret),
            "client_id": row.paypal_client_id,
            "client_secret_last4": row.paypal_client_secret_last4,
            "webhook_id": row.paypal_webhook_id,
            "currency": row.paypal_currency,
            "rate": row.paypal_rate,
        },
        "hold_minutes": row.hold_minutes,
        "refund_policy": {"full_refund_hours_before": row.full_refund_hours_before},
        "tax_rate": row.tax_rate,
        "legal_name": row.legal_name,
        "address": row.address,
        "ice": row.ice,
        "tax_id": row.tax_id,
        "trade_register": row.trade_register,
        "invoice_prefix": row.invoice_prefix or "",
        "webhook_urls": {
            "stripe": f"{base}/webhooks/stripe/{tenant.slug}",
            "paypal": f"{base}/webhooks/paypal/{tenant.slug}",
        },
        "updated_at": row.updated_at,
    }


def get_payment_settings(*, tenant: tenancy.TenantRef, actor: Actor) -> dict[str, Any]:
    return settings_view(tenant, load_settings())


def _clear_stripe(row: PaymentSettings) -> None:
    row.stripe_secret_key = row.stripe_secret_key_last4 = None
    row.stripe_publishable_key = row.stripe_webhook_secret = None


def _clear_paypal(row: PaymentSettings) -> None:
    row.paypal_client_id = row.paypal_client_secret = row.paypal_client_secret_last4 = None
    row.paypal_webhook_id = row.paypal_currency = None
    row.paypal_rate = None


def _merge_stripe(row: PaymentSettings, given: dict[str, Any]) -> None:
    if "secret_key" in given:
        row.stripe_secret_key = crypto.encrypt(given["secret_key"])
        row.stripe_secret_key_last4 = given["secret_key"][-4:]
    if "publishable_key" in given:
        row.stripe_publishable_key = given["publishable_key"]
    if "webhook_secret" in given:
        row.stripe_webhook_secret = crypto.encrypt(given["webhook_secret"])
    if not row.stripe_secret_key:
        raise errors.validation_error({"stripe": {"secret_key": ["Required to set up Stripe."]}})


def _merge_paypal(tenant: tenancy.TenantRef, row: PaymentSettings, given: dict[str, Any]) -> None:
    if "client_id" in given:
        row.paypal_client_id = given["client_id"]
    if "client_secret" in given:
        row.paypal_client_secret = crypto.encrypt(given["client_secret"])
        row.paypal_client_secret_last4 = given["client_secret"][-4:]
    if "webhook_id" in given:
        row.paypal_webhook_id = given["webhook_id"]
    if "currency" in given:
        row.paypal_currency = given["currency"]
    if "rate" in given:
        row.paypal_rate = given["rate"]
    problems: dict[str, list[str]] = {}
    if not row.paypal_client_id:
        problems["client_id"] = ["Required to set up PayPal."]
    if not row.paypal_client_secret:
        problems["client_secret"] = ["Required to set up PayPal."]
    charged_in = row.paypal_currency or tenant.currency
    if charged_in == tenant.currency:
        if tenant.currency not in PAYPAL_TAKES:
            problems["currency"] = [
                f"PayPal does not take {tenant.currency}: set currency (EUR or USD) and rate."
            ]
        row.paypal_currency = None
        row.paypal_rate = None
    elif row.paypal_rate is None:
        problems["rate"] = [
            f"Set the fixed rate: units of {charged_in} per unit of {tenant.currency}."
        ]
    if problems:
        raise errors.validation_error({"paypal": problems})


@transactional
def update_payment_settings(
    *, tenant: tenancy.TenantRef, actor: Actor, now: datetime, data: dict[str, Any]
) -> dict[str, Any]:
    """Sets the fields given and keeps the others; `stripe: null` / `paypal: null` remove one."""
    row = _settings_for_update()
    if "stripe" in data:
        if data["stripe"] is None:
            _clear_stripe(row)
        else:
            _merge_stripe(row, data["stripe"])
    if "paypal" in data:
        if data["paypal"] is None:
            _clear_paypal(row)
        else:
            _merge_paypal(tenant, row, data["paypal"])
    if "refund_policy" in data:
        row.full_refund_hours_before = data["refund_policy"]["full_refund_hours_before"]
    for name in (
        "hold_minutes",
        "tax_rate",
        "legal_name",
        "address",
        "ice",
        "tax_id",
        "trade_register",
        "invoice_prefix",
    ):
        if name in data:
            setattr(row, name, data[name])
    row.updated_at = now
    session().flush()
    return settings_view(tenant, row)


def provider(name: str, settings: PaymentSettings | None) -> Provider:
    """The tenant's provider `name`; not set up → 422 provider_not_configured."""
    config = current_app.config["BOOKME"]
    if name == "cash":
        from bookme.payments.providers.cash import Cash

        return Cash()
    if name == "stripe":
        if settings is None or not settings.stripe_secret_key:
            raise errors.ProviderNotConfigured("This business does not take Stripe payments.")
        from bookme.payments.providers.stripe import Stripe

        return Stripe(crypto.decrypt(settings.stripe_secret_key), api_base=config.stripe_api_base)
    if name == "paypal":
        if settings is None or not (settings.paypal_client_id and settings.paypal_client_secret):
            raise errors.ProviderNotConfigured("This business does not take PayPal payments.")
        from bookme.payments.providers.paypal import PayPal

        return PayPal(
            settings.paypal_client_id,
            crypto.decrypt(settings.paypal_client_secret),
            api_base=config.paypal_api_base,
        )
    raise errors.ProviderNotConfigured(f"Unknown payment provider {name!r}.")


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """A provider call from a request: a refusal or an outage → 502 provider_error."""
    try:
        return fn(*args, **kwargs)
    except Rejected as exc:
        raise ProviderError(f"The payment provider refused: {exc}") from exc
    except Unreachable as exc:
        raise ProviderError(
            f"The payment provider could not be reached ({exc}); nothing was recorded, retry."
        ) from exc


# --- amounts and the booking's payment state ----------------------------------------------------


def required_amount(service: Service) -> int:
    """What a public booking of `service` pays online when made (minor units)."""
    price = money.parse(service.price)
    if service.payment_mode == "full":
        return price
    if service.payment_mode == "deposit":
        if service.deposit_amount is not None:
            return min(price, money.parse(service.deposit_amount))
        return min(price, money.percent_of(price, service.deposit_percent or 0))
    return 0


def _paid(booking_id: uuid.UUID) -> tuple[int, bool, bool]:
    """(paid minus refunded, whether anything was ever paid, whether any payment exists)."""
    row = (
        session()
        .execute(
            sa.select(
                sa.func.coalesce(
                    sa.func.sum(Payment.amount - Payment.amount_refunded).filter(
                        Payment.status.in_(PAID_STATUSES)
                    ),
                    0,
                ),
                sa.func.count().filter(Payment.status.in_(PAID_STATUSES)),
                sa.func.count(),
            ).where(Payment.booking_id == booking_id)
        )
        .one()
    )
    return int(row[0]), bool(row[1]), bool(row[2])


def refresh_booking(booking: Booking, now: datetime) -> None:
    """`amount_paid` and `payment_status` follow the booking's payments."""
    session().flush()
    paid, ever_paid, any_payment = _paid(booking.id)
    price = money.parse(booking.price)
    if paid == 0:
        status = "refunded" if ever_paid else ("unpaid" if any_payment else "none")
    elif paid >= price:
        status = "paid"
    else:
        status = "deposit_paid"
    booking.amount_paid = money.to_decimal(paid)
    booking.payment_status = status
    booking.updated_at = now
    session().flush()


def amount_due(booking: Booking) -> int:
    paid, _, _ = _paid(booking.id)
    return max(money.parse(booking.price) - paid, 0)


def _kind(booking: Booking, amount: int) -> str:
    paid, _, _ = _paid(booking.id)
    if paid > 0:
        return "balance"
    return "full" if amount >= money.parse(booking.price) else "deposit"


def _charged(
    name: str, settings: PaymentSettings | None, tenant: tenancy.TenantRef, amount: int
) -> tuple[int | None, str | None, Decimal | None]:
    """PayPal in EUR/USD for a business pricing in a currency PayPal doesn't take."""
    if name != "paypal" or settings is None or not settings.paypal_currency:
        return None, None, None
    if settings.paypal_currency == tenant.currency or settings.paypal_rate is None:
        return None, None, None
    rate = settings.paypal_rate
    return money.convert(amount, rate), settings.paypal_currency, rate


# --- locking ------------------------------------------------------------------------------------


def _booking(booking_id: uuid.UUID, *, lock: bool = False) -> Booking:
    stmt = sa.select(Booking).where(Booking.id == booking_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    booking = session().scalars(stmt).first()
    if booking is None:
        raise errors.NotFound("No such booking.")
    return booking


def _payment(payment_id: uuid.UUID, *, lock: bool = False) -> Payment:
    stmt = sa.select(Payment).where(Payment.id == payment_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    payment = session().scalars(stmt).first()
    if payment is None:
        raise errors.NotFound("No such payment.")
    return payment


def booking_exists(*, booking_id: uuid.UUID, **_: Any) -> None:
    """404 for a booking this tenant doesn't have (checked before a request body is read)."""
    _booking(booking_id)


def payment_exists(*, payment_id: uuid.UUID, **_: Any) -> None:
    """404 for a payment this tenant doesn't have (checked before a request body is read)."""
    _payment(payment_id)


def _lock(payment_id: uuid.UUID) -> tuple[Booking, Payment]:
    """Lock a payment's booking, then the payment: the one order every writer follows."""
    booking_id = session().scalar(sa.select(Payment.booking_id).where(Payment.id == payment_id))
    if booking_id is None:
        raise errors.NotFound("No such payment.")
    booking = _booking(booking_id, lock=True)
    return booking, _payment(payment_id, lock=True)


CANCELLABLE = (*OPEN_STATUSES, "failed")


def _unsettled(booking_id: uuid.UUID) -> list[Payment]:
    """A locked booking's payments that could still succeed at their provider (locked too)."""
    return list(
        session().scalars(
            sa.select(Payment)
            .where(Payment.booking_id == booking_id, Payment.status.in_(CANCELLABLE))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


def _open_payment_of(booking_id: uuid.UUID) -> Payment | None:
    return (
        session()
        .scalars(
            sa.select(Payment).where(
                Payment.booking_id == booking_id, Payment.status.in_(OPEN_STATUSES)
            )
        )
        .first()
    )


# --- opening online payments --------------------------------------------------------------------


@dataclass
class Prepared:
    """An online payment opened at the provider, not yet written here."""

    id: uuid.UUID
    provider: str
    amount: int
    currency: str
    opened: Opened
    charged_amount: int | None = None
    charged_currency: str | None = None
    exchange_rate: Decimal | None = None
    publishable_key: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Terms:
    """Everything opening a payment needs from the database, read before the provider call."""

    remote: Provider
    name: str
    amount: int
    currency: str
    charged_amount: int | None
    charged_currency: str | None
    exchange_rate: Decimal | None
    publishable_key: str | None


def _terms(
    tenant: tenancy.TenantRef, settings: PaymentSettings | None, name: str, amount: int
) -> Terms:
    remote = provider(name, settings)  # 422 provider_not_configured
    charged, charged_currency, rate = _charged(name, settings, tenant, amount)
    return Terms(
        remote=remote,
        name=name,
        amount=amount,
        currency=tenant.currency,
        charged_amount=charged,
        charged_currency=charged_currency,
        exchange_rate=rate,
        publishable_key=settings.stripe_publishable_key if settings and name == "stripe" else None,
    )


def _prepare(
    *,
    tenant: tenancy.TenantRef,
    terms: Terms,
    booking_id: uuid.UUID | None,
    return_url: str | None,
) -> Prepared:
    """Open the payment at the provider. Call it with no transaction open: it touches no row."""
    payment_id = uuid.uuid4()
    opened = _call(
        terms.remote.open,
        Charge(
            payment_id=payment_id,
            booking_id=booking_id,
            tenant_slug=tenant.slug,
            amount=terms.charged_amount if terms.charged_amount is not None else terms.amount,
            currency=terms.charged_currency or terms.currency,
            return_url=return_url,
        ),
    )
    return Prepared(
        id=payment_id,
        provider=terms.name,
        amount=terms.amount,
        currency=terms.currency,
        opened=opened,
        charged_amount=terms.charged_amount,
        charged_currency=terms.charged_currency,
        exchange_rate=terms.exchange_rate,
        publishable_key=terms.publishable_key,
    )


def _abandon(tenant: tenancy.TenantRef, prepared: Prepared) -> None:
    """A provider payment opened for a write that did not commit: cancel it (worker)."""
    from bookme.core.tasks import enqueue
    from bookme.payments import tasks

    try:
        enqueue(
            tasks.cancel_remote,
            tenant=tenant.slug,
            provider=prepared.provider,
            reference=prepared.opened.reference,
        )
    except Exception:
        log.warning("could not enqueue the cancellation of %s", prepared.opened.reference)


def _insert_payment(
    prepared: Prepared,
    booking: Booking,
    *,
    actor: Actor,
    now: datetime,
    expires_at: datetime | None,
) -> Payment:
    payment = Payment(
        id=prepared.id,
        booking_id=booking.id,
        provider=prepared.provider,
        kind=_kind(booking, prepared.amount),
        amount=prepared.amount,
        currency=prepared.currency,
        status="requires_payment",
        amount_refunded=0,
        provider_reference=prepared.opened.reference,
        client_secret=(
            crypto.encrypt(prepared.opened.client_secret) if prepared.opened.client_secret else None
        ),
        approval_url=prepared.opened.approval_url,
        charged_amount=prepared.charged_amount,
        charged_currency=prepared.charged_currency,
        exchange_rate=prepared.exchange_rate,
        expires_at=expires_at,
        actor=actor.as_dict(),
        created_at=now,
        updated_at=now,
    )
    session().add(payment)
    session().flush()
    refresh_booking(booking, now)
    return payment


_VIEW_FIELDS = (
    "id", "booking_id", "provider", "kind", "amount", "currency", "status", "amount_refunded",
    "provider_reference", "charged_amount", "charged_currency", "exchange_rate",
    "failure_reason", "expires_at", "created_at", "succeeded_at",
)  # fmt: skip


def _fields(payment: Payment) -> dict[str, Any]:
    """The payment's own columns, as every view of it starts."""
    return {name: getattr(payment, name) for name in _VIEW_FIELDS}


def open_view(payment: Payment, settings: PaymentSettings | None = None) -> dict[str, Any]:
    """The payment as `GET /payments/{id}` shows it (null where there is no value), plus what
    its payer needs while it can be paid: client_secret (Stripe) or approval_url (PayPal)."""
    view: dict[str, Any] = _fields(payment)
    if payment.status in OPEN_STATUSES:
        if payment.client_secret:
            view["client_secret"] = crypto.decrypt(payment.client_secret)
            key = settings or load_settings()
            if key is not None and key.stripe_publishable_key:
                view["publishable_key"] = key.stripe_publishable_key
        if payment.approval_url:
            view["approval_url"] = payment.approval_url
    return view


def _return_url(booking: Booking) -> str | None:
    from bookme.bookings.service import manage_url

    try:
        return manage_url(booking)
    except ValueError:
        return None


def _default_amount(booking: Booking, due: int) -> int:
    """All that is due, except a hold awaiting its deposit: the deposit it was booked with."""
    if booking.status == "pending" and booking.payment_due_at is not None:
        first = session().scalar(
            sa.select(Payment.amount)
            .where(Payment.booking_id == booking.id, Payment.provider.in_(ONLINE_PROVIDERS))
            .order_by(Payment.created_at)
            .limit(1)
        )
        if first is not None:
            return min(int(first), due)
    return due


def _check_currency(booking: Booking, tenant: tenancy.TenantRef) -> None:
    if booking.currency != tenant.currency:
        raise errors.validation_error(
            {
                "provider": [
                    f"This booking is priced in {booking.currency}; payments are taken "
                    f"in the business's currency, {tenant.currency}."
                ]
            }
        )


def _check_payable(booking: Booking, now: datetime) -> None:
    if booking.status not in ACTIVE_STATUSES:
        raise errors.InvalidTransition(f"A {booking.status} booking takes no payment.")
    if booking.status == "pending" and booking.payment_due_at and booking.payment_due_at <= now:
        raise errors.InvalidTransition("The time to pay for this booking has passed.")


def _expiry(booking: Booking, settings: PaymentSettings | None, now: datetime) -> datetime:
    if booking.status == "pending" and booking.payment_due_at is not None:
        return booking.payment_due_at
    return now + timedelta(minutes=hold_minutes(settings))


def _open_online(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    booking_id: uuid.UUID,
    name: str,
    amount: int | None,
) -> Payment:
    """An online payment for what is due; the open one is returned when it already fits."""
    booking = _booking(booking_id)
    _check_payable(booking, now)
    _check_currency(booking, tenant)
    settings = load_settings()
    provider(name, settings)  # 422 provider_not_configured before anything else
    due = amount_due(booking)
    existing = _open_payment_of(booking.id)
    if existing is not None and existing.provider == name and amount in (None, existing.amount):
        return existing
    wanted = _default_amount(booking, due) if amount is None else amount
    if due <= 0:
        raise errors.validation_error({"amount": ["Nothing is due on this booking."]})
    if wanted > due:
        raise errors.validation_error(
            {"amount": [f"At most {money.format(due)} {booking.currency} is due."]}
        )
    booking_id, return_url = booking.id, _return_url(booking)
    terms = _terms(tenant, settings, name, wanted)
    session().rollback()  # end the read: no transaction stays open across the provider call
    prepared = _prepare(tenant=tenant, terms=terms, booking_id=booking_id, return_url=return_url)
    try:
        return _write_online(
            tenant=tenant, actor=actor, now=now, booking_id=booking_id, prepared=prepared
        )
    except BaseException:
        _abandon(tenant, prepared)
        raise


@transactional
def _write_online(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    booking_id: uuid.UUID,
    prepared: Prepared,
) -> Payment:
    booking = _booking(booking_id, lock=True)
    _check_payable(booking, now)
    due = amount_due(booking)
    if prepared.amount > due:  # paid meanwhile (at the counter, another link)
        raise errors.validation_error(
            {"amount": [f"At most {money.format(due)} {booking.currency} is due now."]}
        )
    # Replaced: the earlier open (or failed, still payable at its provider) payment is
    # cancelled here and remotely, so the customer can never pay twice.
    for earlier in _unsettled(booking.id):
        _cancel_open(tenant, earlier, now, reason="Replaced by a new payment.")
    settings = load_settings()
    return _insert_payment(
        prepared, booking, actor=actor, now=now, expires_at=_expiry(booking, settings, now)
    )


@transactional
def _record_cash(
    *, tenant: tenancy.TenantRef, actor: Actor, now: datetime, booking_id: uuid.UUID, amount: int
) -> Payment:
    booking = _booking(booking_id, lock=True)
    if booking.status == "cancelled":
        raise errors.InvalidTransition("A cancelled booking takes no payment.")
    _check_currency(booking, tenant)
    due = amount_due(booking)
    if amount > due:
        raise errors.validation_error(
            {"amount": [f"At most {money.format(due)} {booking.currency} is due."]}
        )
    payment = Payment(
        id=uuid.uuid4(),
        booking_id=booking.id,
        provider="cash",
        kind=_kind(booking, amount),
        amount=amount,
        currency=tenant.currency,
        status="succeeded",  # paid at the counter: never an open payment
        succeeded_at=now,
        amount_refunded=0,
        actor=actor.as_dict(),
        created_at=now,
        updated_at=now,
    )
    session().add(payment)
    session().flush()
    _succeed(tenant=tenant, booking=booking, payment=payment, now=now, charge=None, actor=actor)
    left = amount_due(booking)
    for open_online in _unsettled(booking.id):  # a pay link for more than is now due
        if open_online.amount > left:
            _cancel_open(tenant, open_online, now, reason="Paid at the counter instead.")
    return payment


def create_payment(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    booking_id: uuid.UUID,
    data: dict[str, Any],
) -> dict[str, Any]:
    """Cash with `amount` is recorded as paid at once; online providers open a payment."""
    amount = money.parse(data["amount"]) if data.get("amount") is not None else None
    if data["provider"] == "cash":
        assert amount is not None
        payment = _record_cash(
            tenant=tenant, actor=actor, now=now, booking_id=booking_id, amount=amount
        )
    else:
        payment = _open_online(
            tenant=tenant,
            actor=actor,
            now=now,
            booking_id=booking_id,
            name=data["provider"],
            amount=amount,
        )
    return open_view(payment)


def pay_managed_booking(
    *, tenant: tenancy.TenantRef, actor: Actor, now: datetime, token: str, provider_name: str
) -> dict[str, Any]:
    """The customer's pay link: the open payment, or a new one for what is due."""
    from bookme.bookings.service import by_manage_token

    booking = by_manage_token(token)
    payment = _open_online(
        tenant=tenant, actor=actor, now=now, booking_id=booking.id, name=provider_name, amount=None
    )
    return open_view(payment)


# --- checkout of public bookings (bookings emits these events) ----------------------------------


@events.subscribe("booking.checkout")
def _prepare_checkout(
    *,
    tenant: tenancy.TenantRef,
    now: datetime,
    data: dict[str, Any],
    checkout: dict[str, Any],
    **_: Any,
) -> None:
    """Before the booking's transaction: open the provider's payment when the service asks one."""
    service = session().scalars(sa.select(Service).where(Service.id == data["service_id"])).first()
    if service is None or not service.is_active or service.payment_mode == "none":
        return  # the booking itself answers for an unknown or inactive service
    amount = required_amount(service)
    if amount <= 0:
        return
    if service.currency != tenant.currency:
        raise errors.validation_error(
            {
                "service_id": [
                    f"This service is priced in {service.currency}; online payment is "
                    f"taken in the business's currency, {tenant.currency}."
                ]
            }
        )
    settings = load_settings()
    name = data.get("payment_provider") or "stripe"
    terms = _terms(tenant, settings, name, amount)  # 422 provider_not_configured: nothing booked
    hold = hold_minutes(settings)
    session().rollback()  # no transaction stays open across the provider call
    prepared = _prepare(tenant=tenant, terms=terms, booking_id=None, return_url=None)
    checkout.update(
        status="pending", payment_due_at=now + timedelta(minutes=hold), prepared=prepared
    )


@events.subscribe("booking.checkout_booked")
def _write_checkout(
    *,
    booking: Booking,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    checkout: dict[str, Any],
    **_: Any,
) -> None:
    prepared: Prepared | None = checkout.get("prepared")
    if prepared is None:
        return
    payment = _insert_payment(
        prepared, booking, actor=actor, now=now, expires_at=booking.payment_due_at
    )
    from bookme.payments.schemas import OpenPaymentSchema

    checkout["payment"] = OpenPaymentSchema().dump(open_view(payment))


@events.subscribe("booking.checkout_abandoned")
def _abandon_checkout(*, tenant: tenancy.TenantRef, checkout: dict[str, Any], **_: Any) -> None:
    prepared: Prepared | None = checkout.get("prepared")
    if prepared is not None:
        _abandon(tenant, prepared)


@events.subscribe("booking.managed")
def _managed_view(*, booking: Booking, view: Any, **_: Any) -> None:
    """The customer's view of their booking lists its payments."""
    rows = (
        session()
        .scalars(
            sa.select(Payment).where(Payment.booking_id == booking.id).order_by(Payment.created_at)
        )
        .all()
    )
    view.payments = [
        {
            "id": str(p.id),
            "provider": p.provider,
            "kind": p.kind,
            "amount": money.format(p.amount),
            "currency": p.currency,
            "status": p.status,
            "amount_refunded": money.format(p.amount_refunded),
        }
        for p in rows
    ]


# --- outcomes: success, failure, cancellation ---------------------------------------------------


def _succeed(
    *,
    tenant: tenancy.TenantRef,
    booking: Booking,
    payment: Payment,
    now: datetime,
    charge: str | None,
    actor: Actor,
) -> None:
    """Mark a locked payment succeeded: invoice, booking state, confirmation, receipt."""
    payment.status = "succeeded"
    payment.succeeded_at = now
    payment.updated_at = now
    payment.failure_reason = None
    if charge:
        payment.provider_charge = charge
    session().flush()
    settings = load_settings()
    invoices.issue_invoice(
        tenant=tenant, settings=settings, booking=booking, payment=payment, now=now
    )
    refresh_booking(booking, now)
    if booking.status == "pending":
        from bookme.bookings.service import change_status

        change_status(tenant=tenant, actor=actor, now=now, booking_id=booking.id, action="confirm")
    events.emit(SUCCEEDED, payment=payment, booking=booking, tenant=tenant, actor=actor, now=now)
    if booking.status == "cancelled" and payment.is_online:
        # Paid after the booking was cancelled (an expired hold, a late webhook): give it back.
        _reserve_refund(
            tenant=tenant,
            booking=booking,
            payment=payment,
            amount=payment.amount,
            origin="late_payment",
            reason="Paid after the booking was cancelled.",
            actor=_system(),
            now=now,
        )
    elif payment.is_online:
        paid, _, _ = _paid(booking.id)
        excess = min(paid - money.parse(booking.price), payment.amount)
        if excess > 0:  # two payments raced (a pay link and the counter): give back the excess
            _reserve_refund(
                tenant=tenant,
                booking=booking,
                payment=payment,
                amount=excess,
                origin="late_payment",
                reason="Paid more than the price.",
                actor=_system(),
                now=now,
            )


@transactional
def record_success(
    *,
    tenant: tenancy.TenantRef,
    now: datetime,
    payment_id: uuid.UUID,
    charge: str | None = None,
) -> Payment:
    """The provider reports success. Applies once; a repeat, or one after a refund, is a no-op."""
    booking, payment = _lock(payment_id)
    if payment.status in PAID_STATUSES:
        if charge and not payment.provider_charge:
            payment.provider_charge = charge
        return payment
    _succeed(
        tenant=tenant,
        booking=booking,
        payment=payment,
        now=now,
        charge=charge,
        actor=_provider_actor(),
    )
    return payment


@transactional
def record_failure(
    *, tenant: tenancy.TenantRef, now: datetime, payment_id: uuid.UUID, reason: str | None
) -> Payment:
    """An attempt failed: an open payment becomes `failed` (a later success still counts)."""
    _, payment = _lock(payment_id)
    if payment.status in OPEN_STATUSES:
        payment.status = "failed"
        payment.failure_reason = (reason or "The payment failed.")[:500]
        payment.updated_at = now
    return payment


@transactional
def record_processing(
    *, tenant: tenancy.TenantRef, now: datetime, payment_id: uuid.UUID
) -> Payment:
    _, payment = _lock(payment_id)
    if payment.status == "requires_payment":
        payment.status = "processing"
        payment.updated_at = now
    return payment


@transactional
def record_cancelled(
    *, tenant: tenancy.TenantRef, now: datetime, payment_id: uuid.UUID, reason: str | None = None
) -> Payment:
    _, payment = _lock(payment_id)
    if payment.status in (*OPEN_STATUSES, "failed"):
        payment.status = "cancelled"
        payment.failure_reason = reason[:500] if reason else payment.failure_reason
        payment.updated_at = now
    return payment


def _cancel_open(
    tenant: tenancy.TenantRef, payment: Payment, now: datetime, *, reason: str
) -> None:
    """Cancel a (locked) open payment here, and at the provider after commit."""
    from bookme.payments import tasks

    payment.status = "cancelled"
    payment.failure_reason = reason[:500]
    payment.updated_at = now
    session().flush()
    if payment.is_online and payment.provider_reference:
        enqueue_after_commit(
            tasks.cancel_remote,
            tenant=tenant.slug,
            provider=payment.provider,
            reference=payment.provider_reference,
            payment_id=str(payment.id),
        )


def apply_remote(
    *, tenant: tenancy.TenantRef, now: datetime, payment_id: uuid.UUID, remote: Remote
) -> Payment:
    """Bring a payment in line with what its provider says (captures, reconciliation)."""
    if remote.status == "succeeded":
        return record_success(tenant=tenant, now=now, payment_id=payment_id, charge=remote.charge)
    if remote.status == "failed":
        return record_failure(
            tenant=tenant, now=now, payment_id=payment_id, reason=remote.failure_reason
        )
    if remote.status == "cancelled":
        return record_cancelled(
            tenant=tenant, now=now, payment_id=payment_id, reason=remote.failure_reason
        )
    if remote.status == "processing":
        return record_processing(tenant=tenant, now=now, payment_id=payment_id)
    return _payment(payment_id)


def capture_paypal(
    *, tenant: tenancy.TenantRef, actor: Actor, now: datetime, payment_id: uuid.UUID
) -> dict[str, Any]:
    """After the payer approved the order: capture it (idempotent) and record the outcome."""
    payment = _payment(payment_id)
    if payment.provider != "paypal":
        raise errors.NotFound("No such PayPal payment.")
    if payment.status in PAID_STATUSES:
        return open_view(payment)
    if payment.status == "cancelled":
        raise errors.InvalidTransition("This payment was cancelled; ask for a new payment link.")
    remote = provider("paypal", load_settings())
    reference = payment.provider_reference
    session().rollback()  # no transaction stays open across the provider call
    result = _call(remote.capture, reference, payment_id=payment_id)  # type: ignore[attr-defined]
    payment = apply_remote(tenant=tenant, now=now, payment_id=payment_id, remote=result)
    return open_view(payment)


def cancel_remote(
    *,
    tenant: tenancy.TenantRef,
    now: datetime,
    provider_name: str,
    reference: str,
    payment_id: uuid.UUID | None = None,
) -> str:
    """Cancel an open payment at its provider. If it had succeeded meanwhile, record that
    (which refunds it when its booking is gone)."""
    remote = provider(provider_name, load_settings())
    try:
        remote.cancel(reference)
        return "cancelled"
    except Rejected:
        state = remote.fetch(reference)
        if payment_id is not None and state.status == "succeeded":
            apply_remote(tenant=tenant, now=now, payment_id=payment_id, remote=state)
            return "succeeded"
        return state.status


# --- refunds ------------------------------------------------------------------------------------


def _pending_refunds(payment_id: uuid.UUID) -> int:
    return int(
        session().scalar(
            sa.select(sa.func.coalesce(sa.func.sum(Refund.amount), 0)).where(
                Refund.payment_id == payment_id, Refund.status == "pending"
            )
        )
        or 0
    )


def _reserve_refund(
    *,
    tenant: tenancy.TenantRef,
    booking: Booking,
    payment: Payment,
    amount: int | None,
    origin: str,
    reason: str | None,
    actor: Actor,
    now: datetime,
    send_now: bool = False,
) -> Refund:
    """Reserve a refund of a locked payment: never more than paid minus refunded and pending."""
    remaining = payment.refundable - _pending_refunds(payment.id)
    amount = remaining if amount is None else amount
    if remaining <= 0 or amount <= 0 or amount > remaining:
        raise errors.RefundExceedsPayment(
            f"At most {money.format(max(remaining, 0))} {payment.currency} of this payment "
            "can still be refunded."
        )
    refund = Refund(
        id=uuid.uuid4(),
        payment_id=payment.id,
        amount=amount,
        currency=payment.currency,
        status="pending",
        origin=origin,
        reason=reason,
        actor=actor.as_dict(),
        created_at=now,
        updated_at=now,
    )
    session().add(refund)
    session().flush()
    if payment.provider == "cash":
        _settle(
            tenant=tenant,
            booking=booking,
            payment=payment,
            refund=refund,
            outcome=RefundOutcome(status="succeeded"),
            now=now,
        )
    elif not send_now:  # the caller sends it itself otherwise; the sweep retries what stalls
        from bookme.payments import tasks

        enqueue_after_commit(tasks.execute_refund, tenant=tenant.slug, refund_id=str(refund.id))
    return refund


def _settle(
    *,
    tenant: tenancy.TenantRef,
    booking: Booking,
    payment: Payment,
    refund: Refund,
    outcome: RefundOutcome,
    now: datetime,
) -> None:
    """Apply a provider's answer to a locked pending refund (once)."""
    if refund.status != "pending":
        return
    if outcome.reference and not refund.provider_reference:
        refund.provider_reference = outcome.reference
    refund.updated_at = now
    if outcome.status == "failed":
        refund.status = "failed"
        refund.failure_reason = (outcome.failure_reason or "The provider refused the refund.")[:500]
        return
    if outcome.status != "succeeded":
        return
    before = payment.amount_refunded
    refund.status = "succeeded"
    refund.succeeded_at = now
    payment.amount_refunded = before + refund.amount
    payment.status = (
        "refunded" if payment.amount_refunded >= payment.amount else "partially_refunded"
    )
    payment.updated_at = now
    session().flush()
    invoices.issue_credit_note(
        tenant=tenant,
        settings=load_settings(),
        booking=booking,
        payment=payment,
        refund=refund,
        now=now,
    )
    refresh_booking(booking, now)
    events.emit(REFUNDED, payment=payment, refund=refund, booking=booking, tenant=tenant, now=now)


REFUND_OPERATION = "refund_payment"


def refund_request(
    *, payment_id: uuid.UUID, amount: int | None, reason: str | None
) -> dict[str, Any]:
    """What an Idempotency-Key of a refund stands for: the payment is part of the request (the
    key's scope is the caller, as for bookings), so a key reused on another payment is 422."""
    return {"payment_id": payment_id, "amount": amount, "reason": reason}


@transactional
def _request_refund(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    payment_id: uuid.UUID,
    amount: int | None,
    reason: str | None,
    claim: idempotency.Claim | None,
) -> Refund:
    booking, payment = _lock(payment_id)
    refund = _reserve_refund(
        tenant=tenant,
        booking=booking,
        payment=payment,
        amount=amount,
        origin="manual",
        reason=reason,
        actor=actor,
        now=now,
        send_now=True,
    )
    if claim is not None:  # the key's answer is committed with the refund it names
        idempotency.store(claim, 201, {"id": str(refund.id)})
    return refund


@overload
def refund_payment(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    payment_id: uuid.UUID,
    data: dict[str, Any],
    idempotency_key: None = None,
) -> Refund: ...


@overload
def refund_payment(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    payment_id: uuid.UUID,
    data: dict[str, Any],
    idempotency_key: str | None,
) -> Refund | Response: ...


def refund_payment(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    payment_id: uuid.UUID,
    data: dict[str, Any],
    idempotency_key: str | None = None,
) -> Refund | Response:
    """Refund all that remains or `amount`; online refunds go to the provider at once.

    The refund is reserved under the payment's lock (so concurrent requests can never refund
    more than was paid), sent outside any transaction, then settled. A provider outage leaves
    it `pending` for the worker to retry with the same idempotency key. The caller's
    Idempotency-Key replays the refund it reserved (as it is now), or the refusal it got (a
    Response); without a key the answer is always the refund.
    """
    amount = money.parse(data["amount"]) if data.get("amount") is not None else None
    reason = data.get("reason")
    reserved: list[Refund] = []

    def reserve(claim: idempotency.Claim | None) -> Response:
        refund = _request_refund(
            tenant=tenant,
            actor=actor,
            now=now,
            payment_id=payment_id,
            amount=amount,
            reason=reason,
            claim=claim,
        )
        reserved.append(refund)
        return idempotency.json_response(201, {"id": str(refund.id)})

    answer = idempotency.run(
        scope=f"user:{actor.user_id}",
        key=idempotency_key,
        operation=REFUND_OPERATION,
        data=refund_request(payment_id=payment_id, amount=amount, reason=reason),
        now=now,
        execute=reserve,
    )
    if not reserved:  # replayed: the refund the key first reserved, or its refusal
        if answer.status_code != 201:
            return answer
        return get_refund(refund_id=uuid.UUID(json.loads(answer.get_data(as_text=True))["id"]))
    refund = reserved[0]
    if refund.status == "pending":
        execute_refund(tenant=tenant, now=now, refund_id=refund.id)
        refund = get_refund(refund_id=refund.id)
    return refund


def execute_refund(*, tenant: tenancy.TenantRef, now: datetime, refund_id: uuid.UUID) -> str:
    """Send a pending refund to its provider and settle it. Safe to repeat (idempotency key)."""
    refund = get_refund(refund_id=refund_id)
    if refund.status != "pending":
        return refund.status
    payment = _payment(refund.payment_id)
    remote = provider(payment.provider, load_settings())
    amount, currency = refund.amount, refund.currency
    if payment.charged_amount is not None and payment.exchange_rate is not None:
        before = (
            session().scalar(
                sa.select(sa.func.coalesce(sa.func.sum(Refund.amount), 0)).where(
                    Refund.payment_id == payment.id, Refund.status == "succeeded"
                )
            )
            or 0
        )
        amount = money.convert(int(before) + refund.amount, payment.exchange_rate) - money.convert(
            int(before), payment.exchange_rate
        )
        currency = payment.charged_currency or currency
    reference, charge = payment.provider_reference or "", payment.provider_charge
    known = refund.provider_reference
    session().rollback()  # no transaction stays open across the provider call
    try:
        if known:
            outcome = remote.fetch_refund(known)
        else:
            outcome = remote.refund(
                refund_id=refund_id,
                reference=reference,
                charge=charge,
                amount=amount,
                currency=currency,
            )
    except Rejected as exc:
        if known:  # the provider has it but won't show it: keep waiting
            log.warning("refund %s: provider refused to show it (%s)", refund_id, exc)
            return "pending"
        outcome = RefundOutcome(status="failed", failure_reason=str(exc))
    except Unreachable:
        log.warning("refund %s: provider unreachable; left pending for a retry", refund_id)
        return "pending"
    return settle_refund(tenant=tenant, now=now, refund_id=refund_id, outcome=outcome)


@transactional
def settle_refund(
    *, tenant: tenancy.TenantRef, now: datetime, refund_id: uuid.UUID, outcome: RefundOutcome
) -> str:
    payment_id = session().scalar(sa.select(Refund.payment_id).where(Refund.id == refund_id))
    if payment_id is None:
        raise errors.NotFound("No such refund.")
    booking, payment = _lock(payment_id)
    refund = (
        session()
        .scalars(
            sa.select(Refund)
            .where(Refund.id == refund_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        .one()
    )
    _settle(
        tenant=tenant, booking=booking, payment=payment, refund=refund, outcome=outcome, now=now
    )
    return refund.status


@transactional
def record_provider_refund(
    *,
    tenant: tenancy.TenantRef,
    now: datetime,
    payment_id: uuid.UUID,
    reference: str,
    amount: int,
    status: str,
    refund_id: uuid.UUID | None = None,
    failure_reason: str | None = None,
) -> str:
    """A refund the provider reports: ours (by id or reference) is settled; one made at the
    provider directly is recorded (with its credit note) once."""
    booking, payment = _lock(payment_id)
    refund = None
    if refund_id is not None:
        refund = (
            session()
            .scalars(
                sa.select(Refund)
                .where(Refund.id == refund_id, Refund.payment_id == payment_id)
                .with_for_update()
            )
            .first()
        )
    if refund is None:
        refund = (
            session()
            .scalars(
                sa.select(Refund).where(Refund.provider_reference == reference).with_for_update()
            )
            .first()
        )
    if refund is None:
        if status != "succeeded":
            return "ignored"
        amount = min(amount, payment.refundable - _pending_refunds(payment.id))
        if amount <= 0:
            return "ignored"
        refund = Refund(
            id=uuid.uuid4(),
            payment_id=payment.id,
            amount=amount,
            currency=payment.currency,
            status="pending",
            origin="provider",
            reason="Refunded at the provider.",
            provider_reference=reference,
            actor=_provider_actor().as_dict(),
            created_at=now,
            updated_at=now,
        )
        session().add(refund)
        session().flush()
    _settle(
        tenant=tenant,
        booking=booking,
        payment=payment,
        refund=refund,
        outcome=RefundOutcome(status=status, reference=reference, failure_reason=failure_reason),
        now=now,
    )
    return refund.status


# --- the refund policy, holds and cancellations -------------------------------------------------


def full_refund_hours(settings: PaymentSettings | None) -> int:
    return settings.full_refund_hours_before if settings else 24


def refund_due_on_cancel(
    *,
    booking: Booking,
    actor: Actor,
    now: datetime,
    settings: PaymentSettings | None,
    reason: str | None,
) -> bool:
    """Business (or system) cancels: refund. Customer: only far enough ahead. Expired hold: no."""
    if reason == "payment_expired":
        return False
    if actor.kind == "customer":
        return now <= booking.starts_at - timedelta(hours=full_refund_hours(settings))
    return True


@events.subscribe("booking.cancelled")
def _booking_cancelled(
    *,
    booking: Booking,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    data: dict[str, Any],
    **_: Any,
) -> None:
    """Inside the cancelling transaction: cancel open payments, refund by policy (worker)."""
    rows = (
        session()
        .scalars(
            sa.select(Payment)
            .where(Payment.booking_id == booking.id)
            .order_by(Payment.created_at)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        .all()
    )
    if not rows:
        return
    reason = (data or {}).get("reason") or booking.cancellation_reason
    for payment in rows:
        if payment.status in CANCELLABLE:
            _cancel_open(
                tenant,
                payment,
                now,
                reason="The hold expired."
                if reason == "payment_expired"
                else "The booking was cancelled.",
            )
    settings = load_settings()
    if refund_due_on_cancel(
        booking=booking, actor=actor, now=now, settings=settings, reason=reason
    ):
        for payment in rows:
            if payment.is_online and payment.refundable - _pending_refunds(payment.id) > 0:
                _reserve_refund(
                    tenant=tenant,
                    booking=booking,
                    payment=payment,
                    amount=None,
                    origin="policy",
                    reason="Refund policy on cancellation.",
                    actor=actor,
                    now=now,
                )
    refresh_booking(booking, now)


@transactional
def expire_open_payments(*, tenant: tenancy.TenantRef, now: datetime) -> int:
    """Open payments past their expiry are cancelled (their bookings' holds are expired too)."""
    from bookme.bookings.service import expire_holds

    expired = expire_holds(tenant=tenant, now=now)
    due = (
        session()
        .scalars(
            sa.select(Payment.id).where(
                Payment.status.in_(OPEN_STATUSES), Payment.expires_at <= now
            )
        )
        .all()
    )
    for payment_id in due:
        booking, payment = _lock(payment_id)  # booking first, as every writer
        if payment.status in OPEN_STATUSES and payment.expires_at and payment.expires_at <= now:
            _cancel_open(tenant, payment, now, reason="The payment link expired.")
            refresh_booking(booking, now)
            expired += 1
    return expired


EVENTS_KEPT = timedelta(days=90)


def reconcile(*, tenant: tenancy.TenantRef, now: datetime, limit: int = 500) -> dict[str, int]:
    """Ask the providers about payments still open past their hold, and pending refunds; forget
    webhook events processed more than 90 days ago (providers stop retrying within days)."""
    counts = {"payments": 0, "refunds": 0, "events_purged": _purge_events(now=now)}
    cutoff = now - RECONCILE_AFTER
    settings = load_settings()
    candidates = (
        session()
        .execute(
            sa.select(Payment.id, Payment.provider, Payment.provider_reference)
            .where(
                Payment.provider.in_(ONLINE_PROVIDERS),
                Payment.provider_reference.is_not(None),
                sa.or_(
                    sa.and_(
                        Payment.status.in_(OPEN_STATUSES),
                        sa.func.coalesce(Payment.expires_at, Payment.created_at) <= now,
                    ),
                    sa.and_(
                        Payment.status.in_(("cancelled", "failed")),
                        Payment.updated_at >= cutoff - timedelta(days=2),
                    ),
                ),
            )
            .limit(limit)
        )
        .all()
    )
    pending = (
        session()
        .scalars(
            sa.select(Refund.id)
            .where(Refund.status == "pending", Refund.created_at <= now)
            .limit(limit)
        )
        .all()
    )
    remotes: dict[str, Provider] = {}
    for name in {row.provider for row in candidates}:
        try:
            remotes[name] = provider(name, settings)
        except errors.BookMeError:  # no longer set up: nothing to ask
            log.warning("reconcile: %s is not set up any more", name)
    session().rollback()  # no transaction stays open across the provider calls
    for payment_id, name, reference in candidates:
        if name not in remotes:
            continue
        try:
            remote = remotes[name]
            state = remote.fetch(reference)
            if name == "paypal" and state.approved:
                state = remote.capture(reference, payment_id=payment_id)  # type: ignore[attr-defined]
            apply_remote(tenant=tenant, now=now, payment_id=payment_id, remote=state)
            counts["payments"] += 1
        except (Rejected, Unreachable, errors.BookMeError) as exc:
            log.warning("reconcile %s: %s", payment_id, exc)
    for refund_id in pending:
        try:
            execute_refund(tenant=tenant, now=now, refund_id=refund_id)
            counts["refunds"] += 1
        except errors.BookMeError as exc:
            log.warning("reconcile refund %s: %s", refund_id, exc)
    return counts


# --- webhooks: intake and processing ------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _decrypted(ciphertext: str) -> str:
    return crypto.decrypt(ciphertext)


def stripe_webhook_secret(tenant: tenancy.TenantRef) -> str | None:
    """The tenant's Stripe webhook secret as it is now: read on every delivery, so a secret
    replaced in the settings stops verifying at once. Only its decryption is remembered (per
    process, by ciphertext)."""
    row = (
        session()
        .execute(sa.select(PaymentSettings.stripe_webhook_secret).where(PaymentSettings.id == 1))
        .scalar()
    )
    if not row:
        return None
    return _decrypted(row)


def paypal_for_webhooks() -> tuple[Any, str] | None:
    settings = load_settings()
    if settings is None or not settings.paypal_webhook_id or not settings.paypal_client_secret:
        return None
    return provider("paypal", settings), settings.paypal_webhook_id


HANDLED = {
    "stripe": frozenset({
        "payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled",
        "charge.refunded", "refund.updated",
    }),
    "paypal": frozenset({
        "CHECKOUT.ORDER.APPROVED", "PAYMENT.CAPTURE.COMPLETED", "PAYMENT.CAPTURE.DENIED",
        "PAYMENT.CAPTURE.REFUNDED",
    }),
}  # fmt: skip

_RECEIVE = sa.text(
    """
    INSERT INTO payment_webhook_events
           (id, provider, event_id, type, payload, received_at, processed_at, outcome)
    VALUES (:id, :provider, :event_id, :type, CAST(:payload AS jsonb), :now, :processed_at,
            :outcome)
    ON CONFLICT (provider, event_id) DO NOTHING
    RETURNING id
    """
)


@transactional
def receive_event(
    *,
    tenant: tenancy.TenantRef,
    now: datetime,
    provider_name: str,
    event_id: str,
    event_type: str,
    payload: str,
) -> bool:
    """Store a verified event once; a new one we handle is processed by a worker after commit."""
    from bookme.payments import tasks

    handled = event_type in HANDLED[provider_name]
    row_id = (
        session()
        .execute(
            _RECEIVE,
            {
                "id": uuid.uuid4(),
                "provider": provider_name,
                "event_id": event_id[:255],
                "type": event_type[:100],
                "payload": payload,
                "now": now,
                "processed_at": None if handled else now,
                "outcome": None if handled else "ignored: unhandled type",
            },
        )
        .scalar()
    )
    if row_id is None:
        return False
    if handled:
        enqueue_after_commit(tasks.process_webhook_event, tenant=tenant.slug, event=str(row_id))
    return True


def _find_payment(
    *, payment_id: Any = None, provider_name: str, reference: Any = None, charge: Any = None
) -> uuid.UUID | None:
    if payment_id:
        try:
            found = session().scalar(
                sa.select(Payment.id).where(Payment.id == uuid.UUID(str(payment_id)))
            )
            if found is not None:
                return found
        except ValueError:
            pass
    if reference:
        found = session().scalar(
            sa.select(Payment.id).where(
                Payment.provider == provider_name, Payment.provider_reference == str(reference)
            )
        )
        if found is not None:
            return found
    if charge:
        return session().scalar(
            sa.select(Payment.id).where(
                Payment.provider == provider_name, Payment.provider_charge == str(charge)
            )
        )
    return None


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def process_event(*, tenant: tenancy.TenantRef, now: datetime, event_row_id: uuid.UUID) -> str:
    """Apply one stored event (worker). Provider calls (a PayPal capture) happen first, outside
    any transaction; then the event is applied and marked processed in one transaction."""
    event = (
        session()
        .scalars(sa.select(PaymentWebhookEvent).where(PaymentWebhookEvent.id == event_row_id))
        .first()
    )
    if event is None or event.processed_at is not None:
        return "done"
    prefetched: Remote | None = None
    if event.provider == "paypal" and event.type == "CHECKOUT.ORDER.APPROVED":
        order = event.payload.get("resource") or {}
        payment_id = _paypal_order_payment(order)
        if payment_id is not None:
            payment = _payment(payment_id)
            if payment.status in OPEN_STATUSES or payment.status == "failed":
                remote = provider("paypal", load_settings())
                session().rollback()
                try:
                    prefetched = remote.capture(order.get("id"), payment_id=payment_id)  # type: ignore[attr-defined]
                except Rejected as exc:
                    prefetched = Remote(status="failed", failure_reason=str(exc))
    session().rollback()
    return _apply_event(tenant=tenant, now=now, event_row_id=event_row_id, prefetched=prefetched)


@transactional
def _apply_event(
    *, tenant: tenancy.TenantRef, now: datetime, event_row_id: uuid.UUID, prefetched: Remote | None
) -> str:
    event = (
        session()
        .scalars(
            sa.select(PaymentWebhookEvent)
            .where(
                PaymentWebhookEvent.id == event_row_id, PaymentWebhookEvent.processed_at.is_(None)
            )
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        .first()
    )
    if event is None:
        return "done"
    handler = _STRIPE if event.provider == "stripe" else _PAYPAL
    outcome = handler.get(event.type, _ignore)(tenant, now, event.payload, prefetched)
    event.processed_at = now
    event.attempts += 1
    event.outcome = outcome[:500]
    return outcome


def _ignore(*_: Any) -> str:
    return "ignored"


def _stripe_object(payload: dict[str, Any]) -> dict[str, Any]:
    return dict(((payload.get("data") or {}).get("object")) or {})


def _stripe_payment(obj: dict[str, Any]) -> uuid.UUID | None:
    return _find_payment(
        payment_id=(obj.get("metadata") or {}).get("payment_id"),
        provider_name="stripe",
        reference=obj.get("id"),
    )


def _stripe_intent(
    apply: Callable[[tenancy.TenantRef, datetime, uuid.UUID, dict[str, Any]], Payment],
) -> Callable[[tenancy.TenantRef, datetime, dict[str, Any], Any], str]:
    """A PaymentIntent event's handler: `apply` runs only for a payment of ours (another's
    event is "unknown payment"), and the outcome names the status it left the payment in."""

    def handler(tenant: tenancy.TenantRef, now: datetime, payload: dict[str, Any], _: Any) -> str:
        obj = _stripe_object(payload)
        payment_id = _stripe_payment(obj)
        if payment_id is None:
            return "unknown payment"
        return f"payment {apply(tenant, now, payment_id, obj).status}"

    return handler


@_stripe_intent
def _stripe_succeeded(
    tenant: tenancy.TenantRef, now: datetime, payment_id: uuid.UUID, obj: dict[str, Any]
) -> Payment:
    charge = obj.get("latest_charge")
    charge_id = charge.get("id") if isinstance(charge, dict) else charge
    return record_success(tenant=tenant, now=now, payment_id=payment_id, charge=charge_id)


@_stripe_intent
def _stripe_failed(
    tenant: tenancy.TenantRef, now: datetime, payment_id: uuid.UUID, obj: dict[str, Any]
) -> Payment:
    error = obj.get("last_payment_error") or {}
    return record_failure(
        tenant=tenant,
        now=now,
        payment_id=payment_id,
        reason=error.get("message") if isinstance(error, dict) else None,
    )


@_stripe_intent
def _stripe_canceled(
    tenant: tenancy.TenantRef, now: datetime, payment_id: uuid.UUID, obj: dict[str, Any]
) -> Payment:
    return record_cancelled(
        tenant=tenant, now=now, payment_id=payment_id, reason="Cancelled at Stripe."
    )


def _stripe_refund(
    tenant: tenancy.TenantRef, now: datetime, refund: dict[str, Any], intent: Any
) -> str:
    from bookme.payments.providers.stripe import refund_status

    payment_id = _find_payment(provider_name="stripe", reference=intent)
    if payment_id is None or not refund.get("id"):
        return "unknown payment"
    return record_provider_refund(
        tenant=tenant,
        now=now,
        payment_id=payment_id,
        reference=str(refund["id"]),
        amount=int(refund.get("amount") or 0),
        status=refund_status(str(refund.get("status"))),
        refund_id=_uuid_or_none((refund.get("metadata") or {}).get("refund_id")),
        failure_reason=refund.get("failure_reason"),
    )


def _stripe_charge_refunded(
    tenant: tenancy.TenantRef, now: datetime, payload: dict[str, Any], _: Any
) -> str:
    charge = _stripe_object(payload)
    refunds = ((charge.get("refunds") or {}).get("data")) or []
    outcomes = [_stripe_refund(tenant, now, dict(r), charge.get("payment_intent")) for r in refunds]
    return "refunds " + ",".join(outcomes) if outcomes else "no refunds listed"


def _stripe_refund_updated(
    tenant: tenancy.TenantRef, now: datetime, payload: dict[str, Any], _: Any
) -> str:
    refund = _stripe_object(payload)
    return "refund " + _stripe_refund(tenant, now, refund, refund.get("payment_intent"))


_STRIPE = {
    "payment_intent.succeeded": _stripe_succeeded,
    "payment_intent.payment_failed": _stripe_failed,
    "payment_intent.canceled": _stripe_canceled,
    "charge.refunded": _stripe_charge_refunded,
    "refund.updated": _stripe_refund_updated,
}


def _paypal_order_payment(order: dict[str, Any]) -> uuid.UUID | None:
    """The payment an approved order is for: the id we gave it, else the order's own id."""
    units = order.get("purchase_units") or [{}]
    return _find_payment(
        payment_id=units[0].get("custom_id"), provider_name="paypal", reference=order.get("id")
    )


def _paypal_approved(
    tenant: tenancy.TenantRef, now: datetime, payload: dict[str, Any], prefetched: Remote | None
) -> str:
    payment_id = _paypal_order_payment(payload.get("resource") or {})
    if payment_id is None:
        return "unknown payment"
    if prefetched is None:
        return f"payment {_payment(payment_id).status}"
    payment = apply_remote(tenant=tenant, now=now, payment_id=payment_id, remote=prefetched)
    return f"payment {payment.status}"


def _paypal_capture(
    tenant: tenancy.TenantRef, now: datetime, payload: dict[str, Any], _: Any
) -> str:
    capture = payload.get("resource") or {}
    related = ((capture.get("supplementary_data") or {}).get("related_ids")) or {}
    payment_id = _find_payment(
        payment_id=capture.get("custom_id"),
        provider_name="paypal",
        reference=related.get("order_id"),
        charge=capture.get("id"),
    )
    if payment_id is None:
        return "unknown payment"
    if capture.get("status") == "COMPLETED":
        payment = record_success(
            tenant=tenant, now=now, payment_id=payment_id, charge=capture.get("id")
        )
    elif capture.get("status") in ("DECLINED", "FAILED"):
        details = capture.get("status_details") or {}
        payment = record_failure(
            tenant=tenant,
            now=now,
            payment_id=payment_id,
            reason=f"PayPal capture {capture.get('status')}: {details.get('reason', 'declined')}",
        )
    else:
        payment = record_processing(tenant=tenant, now=now, payment_id=payment_id)
    return f"payment {payment.status}"


def _paypal_refunded(
    tenant: tenancy.TenantRef, now: datetime, payload: dict[str, Any], _: Any
) -> str:
    from bookme.payments.providers.paypal import refund_status

    refund = payload.get("resource") or {}
    capture_id = None
    for link in refund.get("links") or []:
        if link.get("rel") == "up" and "/captures/" in str(link.get("href")):
            capture_id = str(link["href"]).rstrip("/").rsplit("/", 1)[-1]
    payment_id = _find_payment(provider_name="paypal", charge=capture_id)
    if payment_id is None or not refund.get("id"):
        return "unknown payment"
    payment = _payment(payment_id)
    value = money.parse(((refund.get("amount") or {}).get("value")) or "0")
    amount = value
    if payment.exchange_rate:  # charged in EUR/USD: back into the business's currency
        amount = money.round_half_up(Decimal(value) / payment.exchange_rate)
    return "refund " + record_provider_refund(
        tenant=tenant,
        now=now,
        payment_id=payment_id,
        reference=str(refund["id"]),
        amount=amount,
        status=refund_status(str(refund.get("status"))),
        refund_id=_uuid_or_none(refund.get("custom_id")),
    )


_PAYPAL = {
    "CHECKOUT.ORDER.APPROVED": _paypal_approved,
    "PAYMENT.CAPTURE.COMPLETED": _paypal_capture,
    "PAYMENT.CAPTURE.DENIED": _paypal_capture,
    "PAYMENT.CAPTURE.REFUNDED": _paypal_refunded,
}


@transactional
def _purge_events(*, now: datetime) -> int:
    result = session().execute(
        sa.delete(PaymentWebhookEvent).where(
            PaymentWebhookEvent.processed_at.is_not(None),
            PaymentWebhookEvent.processed_at < now - EVENTS_KEPT,
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def unprocessed_events(
    *, now: datetime, older_than: timedelta, max_attempts: int = 20, limit: int = 500
) -> list[uuid.UUID]:
    """Stored events still unprocessed a while after they came (their job was lost or failed);
    one that failed `max_attempts` times is left for a person to look at (`outcome`)."""
    return list(
        session().scalars(
            sa.select(PaymentWebhookEvent.id)
            .where(
                PaymentWebhookEvent.processed_at.is_(None),
                PaymentWebhookEvent.received_at <= now - older_than,
                PaymentWebhookEvent.attempts < max_attempts,
            )
            .order_by(PaymentWebhookEvent.received_at)
            .limit(limit)
        )
    )


@transactional
def note_event_failure(*, event_row_id: uuid.UUID, error: str) -> None:
    session().execute(
        sa.update(PaymentWebhookEvent)
        .where(PaymentWebhookEvent.id == event_row_id)
        .values(attempts=PaymentWebhookEvent.attempts + 1, outcome=error[:500])
    )


# --- reads --------------------------------------------------------------------------------------


def list_payments(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    args: dict[str, Any],
    pagination: PaginationParameters,
) -> list[Payment]:
    stmt = sa.select(Payment)
    start = resolve_bound(args.get("from_"), tenant.timezone, end=False)
    end = resolve_bound(args.get("to"), tenant.timezone, end=True)
    if start is not None:
        stmt = stmt.where(Payment.created_at >= start)
    if end is not None:
        stmt = stmt.where(Payment.created_at < end)
    for name in ("booking_id", "status", "provider"):
        if args.get(name) is not None:
            stmt = stmt.where(getattr(Payment, name) == args[name])
    return paginate(stmt.order_by(Payment.created_at, Payment.id), pagination)


def get_payment(
    *, tenant: tenancy.TenantRef, actor: Actor, payment_id: uuid.UUID
) -> dict[str, Any]:
    payment = _payment(payment_id)
    refunds = (
        session()
        .scalars(
            sa.select(Refund).where(Refund.payment_id == payment_id).order_by(Refund.created_at)
        )
        .all()
    )
    view = _fields(payment)
    view["refunds"] = list(refunds)
    return view


def get_refund(*, refund_id: uuid.UUID) -> Refund:
    refund = (
        session()
        .scalars(
            sa.select(Refund)
            .where(Refund.id == refund_id)
            .execution_options(populate_existing=True)
        )
        .first()
    )
    if refund is None:
        raise errors.NotFound("No such refund.")
    return refund
