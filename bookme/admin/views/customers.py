"""Customers: search, detail with history and consents, create and edit, JSON export, erasure."""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask import Response, flash, request, url_for
from flask_babel import gettext as _
from flask_smorest.pagination import PaginationParameters

from bookme.admin import auth, blp
from bookme.admin.forms import CONSENT_LABELS, CustomerForm, EmptyForm
from bookme.admin.views.bookings import Pager, _page_number
from bookme.admin.views.common import ctx, form_page, page, put_errors, see_other, svc
from bookme.core import errors
from bookme.customers import service as customers
from bookme.customers.models import CHANNELS
from bookme.customers.schemas import CustomerExportSchema

PAGE_SIZE = 25


def _tenant() -> Any:
    return ctx().tenant


@blp.route("/customers", endpoint="customers")
@auth.requires("customers.read")
def customers_list() -> Response:
    q = (request.args.get("q") or "").strip()[:200]
    pagination = PaginationParameters(_page_number(), PAGE_SIZE)
    found = customers.search_customers(tenant=_tenant(), q=q or None, pagination=pagination)
    return page(
        "admin/customers/list.html",
        partial="admin/customers/_rows.html",
        customers=found,
        q=q,
        pager=Pager(pagination.page, PAGE_SIZE, pagination.item_count or 0),
    )


@blp.route("/customers/<uuid:customer_id>")
@auth.requires("customers.read")
def customer(customer_id: uuid.UUID) -> Response:
    found = customers.get_customer(customer_id=customer_id)
    pagination = PaginationParameters(_page_number(), PAGE_SIZE)
    history = customers.list_customer_bookings(
        tenant=_tenant(), customer_id=customer_id, pagination=pagination
    )
    return page(
        "admin/customers/detail.html",
        customer=found,
        history=history,
        pager=Pager(pagination.page, PAGE_SIZE, pagination.item_count or 0),
        consents=customers.list_consent_events(customer_id=customer_id),
        audit=customers.list_customer_events(customer_id=customer_id),
        channels=CHANNELS,
        consent_labels=CONSENT_LABELS,
    )


def _changes(form: CustomerForm) -> dict[str, Any]:
    return {
        "full_name": form.full_name.data,
        "phone": form.phone.data or None,
        "email": form.email.data or None,
        "locale": form.locale.data,
        "tags": form.tag_list(),
        "notes": form.notes.data or None,
        "consents": form.consents(),
    }


@blp.route("/customers/new", methods=["GET", "POST"])
@auth.requires("customers.write")
def customer_new() -> Response:
    form = CustomerForm()
    if request.method == "GET":
        form.locale.data = _tenant().locale
    if form.validate_on_submit():
        try:
            created = customers.create_customer(**svc(), **_changes(form))
        except errors.BookMeError as exc:
            put_errors(form, exc)
        else:
            flash(_("Customer created."), "success")
            return see_other(url_for("admin.customer", customer_id=created.id))
    return form_page("admin/customers/form.html", form, customer=None)


def _consent_answer(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


@blp.route("/customers/<uuid:customer_id>/edit", methods=["GET", "POST"])
@auth.requires("customers.write")
def customer_edit(customer_id: uuid.UUID) -> Response:
    found = customers.get_customer(customer_id=customer_id)
    form = CustomerForm(obj=found if request.method == "GET" else None)
    if request.method == "GET":
        form.tags.data = ", ".join(found.tags or [])
        for channel in CHANNELS:
            getattr(form, f"consent_{channel}").data = _consent_answer(
                getattr(found, f"consent_{channel}")
            )
    if form.validate_on_submit():
        try:
            customers.update_customer(**svc(), customer_id=customer_id, changes=_changes(form))
        except errors.BookMeError as exc:
            put_errors(form, exc)
        else:
            flash(_("Customer saved."), "success")
            return see_other(url_for("admin.customer", customer_id=customer_id))
    return form_page("admin/customers/form.html", form, customer=found)


@blp.route("/customers/<uuid:customer_id>/export")
@auth.requires("customers.export")
def customer_export(customer_id: uuid.UUID) -> Response:
    """Everything held about the customer, as the API's export document (a download)."""
    document = customers.export_customer(**svc(), customer_id=customer_id)
    body = CustomerExportSchema().dump(document)
    return Response(
        json.dumps(body, ensure_ascii=False, indent=2),
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="customer-{customer_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@blp.route("/customers/<uuid:customer_id>/erase", methods=["GET", "POST"])
@auth.requires("customers.erase")
def customer_erase(customer_id: uuid.UUID) -> Response:
    """Erasure asks first: it cannot be undone."""
    found = customers.get_customer(customer_id=customer_id)
    form = EmptyForm()
    if form.validate_on_submit():
        customers.erase_customer(**svc(), customer_id=customer_id)
        flash(_("The customer's personal data was erased."), "success")
        return see_other(url_for("admin.customer", customer_id=customer_id))
    return form_page("admin/customers/erase.html", form, customer=found)
