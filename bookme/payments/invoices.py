"""Invoices and credit notes: issued inside the transaction of the payment or refund they record.

Numbers run without gaps per tenant, kind and local year: the counter row is incremented by
an upsert in the issuing transaction, so its row lock serialises concurrent issuers and a
rolled-back transaction gives its number back. Each document's tax is taken out of its own
tax-inclusive total and rounded half up to the cent (`money.split_tax`), as API.md states: a
credit note is split on its own amount, so partial refunds' taxes may differ by a cent from
their invoice's.
"""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_smorest.pagination import PaginationParameters

from bookme.bookings.models import Booking
from bookme.bookings.schemas import resolve_bound
from bookme.core import errors, tenancy
from bookme.core.api import paginate
from bookme.core.db import session
from bookme.payments import money
from bookme.payments.models import Invoice, Payment, PaymentSettings, Refund

_NEXT = sa.text(
    """
    INSERT INTO invoice_counters AS c (kind, year, last) VALUES (:kind, :year, 1)
    ON CONFLICT (kind, year) DO UPDATE SET last = c.last + 1
    RETURNING last
    """
)


def next_number(*, kind: str, year: int, prefix: str) -> tuple[int, str]:
    sequence = int(session().execute(_NEXT, {"kind": kind, "year": year}).scalar_one())
    middle = "AV-" if kind == "credit_note" else ""
    return sequence, f"{prefix}{middle}{year}-{sequence:06d}"


def _customer(booking: Booking) -> dict[str, Any]:
    from bookme.customers.models import Customer

    customer = (
        session().scalars(sa.select(Customer).where(Customer.id == booking.customer_id)).first()
    )
    if customer is None:
        return {
            "id": str(booking.customer_id),
            "full_name": None,
            "phone": None,
            "email": None,
            "locale": None,
        }
    return {
        "id": str(customer.id),
        "full_name": customer.full_name,
        "phone": customer.phone,
        "email": customer.email,
        "locale": customer.locale,
    }


def _issuer(tenant: tenancy.TenantRef, settings: PaymentSettings | None) -> dict[str, Any]:
    from bookme.tenants.models import Tenant

    name = session().scalar(sa.select(Tenant.name).where(Tenant.id == tenant.id))
    if settings is None:
        return {
            "legal_name": name,
            "address": None,
            "ice": None,
            "tax_id": None,
            "trade_register": None,
        }
    return {
        "legal_name": settings.legal_name or name,
        "address": settings.address,
        "ice": settings.ice,
        "tax_id": settings.tax_id,
        "trade_register": settings.trade_register,
    }


def _service_name(booking: Booking) -> str:
    from bookme.services.models import Service

    return session().scalar(sa.select(Service.name).where(Service.id == booking.service_id)) or ""


def _issue(
    *,
    tenant: tenancy.TenantRef,
    settings: PaymentSettings | None,
    kind: str,
    booking: Booking,
    payment: Payment,
    refund: Refund | None,
    amount: int,
    excl: int,
    tax: int,
    rate: Any,
    now: datetime,
    credited: str | None = None,
) -> Invoice:
    money.check_currency(payment.currency, tenant.currency)
    year = now.astimezone(zoneinfo.ZoneInfo(tenant.timezone)).year
    sequence, number = next_number(
        kind=kind, year=year, prefix=(settings.invoice_prefix if settings else "") or ""
    )
    customer = _customer(booking)
    line = {
        "description": _service_name(booking),
        "kind": payment.kind,
        "appointment_at": booking.starts_at.isoformat(),
        "quantity": 1,
        "unit_price": amount,
        "total_excl_tax": excl,
        "tax_rate": str(rate),
        "tax": tax,
        "total": amount,
    }
    invoice = Invoice(
        id=uuid.uuid4(),
        number=number,
        kind=kind,
        year=year,
        sequence=sequence,
        issued_at=now,
        booking_id=booking.id,
        payment_id=payment.id,
        refund_id=refund.id if refund else None,
        customer_id=booking.customer_id,
        customer=customer,
        issuer=_issuer(tenant, settings),
        lines=[line],
        total_excl_tax=excl,
        tax=tax,
        total=amount,
        tax_rate=rate,
        currency=payment.currency,
        locale=customer.get("locale") or tenant.locale,
        provider=payment.provider,
        credited_invoice_number=credited,
    )
    session().add(invoice)
    session().flush()
    return invoice


def issue_invoice(
    *,
    tenant: tenancy.TenantRef,
    settings: PaymentSettings | None,
    booking: Booking,
    payment: Payment,
    now: datetime,
) -> Invoice:
    """The invoice of a succeeded payment (one per payment)."""
    from decimal import Decimal

    rate = settings.tax_rate if settings else Decimal("20.00")
    excl, tax = money.split_tax(payment.amount, rate)
    return _issue(
        tenant=tenant,
        settings=settings,
        kind="invoice",
        booking=booking,
        payment=payment,
        refund=None,
        amount=payment.amount,
        excl=excl,
        tax=tax,
        rate=rate,
        now=now,
    )


def issue_credit_note(
    *,
    tenant: tenancy.TenantRef,
    settings: PaymentSettings | None,
    booking: Booking,
    payment: Payment,
    refund: Refund,
    now: datetime,
) -> Invoice:
    """The credit note of a succeeded refund, at its payment's invoice's tax rate."""
    original = (
        session()
        .scalars(
            sa.select(Invoice).where(Invoice.payment_id == payment.id, Invoice.kind == "invoice")
        )
        .first()
    )
    from decimal import Decimal

    rate = original.tax_rate if original else (settings.tax_rate if settings else Decimal("20.00"))
    excl, tax = money.split_tax(refund.amount, rate)
    return _issue(
        tenant=tenant,
        settings=settings,
        kind="credit_note",
        booking=booking,
        payment=payment,
        refund=refund,
        amount=refund.amount,
        excl=excl,
        tax=tax,
        rate=rate,
        now=now,
        credited=original.number if original else None,
    )


# --- reads --------------------------------------------------------------------------------------


def list_invoices(
    *, tenant: tenancy.TenantRef, args: dict[str, Any], pagination: PaginationParameters
) -> list[Invoice]:
    stmt = sa.select(Invoice)
    start = resolve_bound(args.get("from_"), tenant.timezone, end=False)
    end = resolve_bound(args.get("to"), tenant.timezone, end=True)
    if start is not None:
        stmt = stmt.where(Invoice.issued_at >= start)
    if end is not None:
        stmt = stmt.where(Invoice.issued_at < end)
    if args.get("customer_id") is not None:
        stmt = stmt.where(Invoice.customer_id == args["customer_id"])
    if args.get("kind"):
        stmt = stmt.where(Invoice.kind == args["kind"])
    return paginate(stmt.order_by(Invoice.issued_at, Invoice.number), pagination)


def get_invoice(*, invoice_id: uuid.UUID) -> Invoice:
    invoice = session().scalars(sa.select(Invoice).where(Invoice.id == invoice_id)).first()
    if invoice is None:
        raise errors.NotFound("No such invoice.")
    return invoice
