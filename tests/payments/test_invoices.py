"""Invoices and credit notes: numbering, immutability, the PDF in French and Arabic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from bookme.core import clock
from bookme.core.db import session
from tests.conftest import add_member


def _cash(api, amount="80.00", starts_at="2027-05-04 15:00"):
    booking = api.staff_book(api.salon.plain, starts_at)
    answer = api.post(f"/bookings/{booking['id']}/payments", {"provider": "cash", "amount": amount})
    assert answer.status_code == 201, answer.get_json()
    return booking, answer.get_json()


def test_an_invoice_carries_the_issuer_the_customer_and_the_tax(api):
    api.put(
        "/payment-settings",
        {
            "legal_name": "Salon SARL",
            "ice": "001234567000089",
            "tax_id": "IF1",
            "trade_register": "RC1",
            "invoice_prefix": "S-",
        },
    )
    booking, _ = _cash(api, "80.00")
    invoice = api.get("/invoices").get_json()[0]
    assert invoice["number"] == "S-2027-000001"
    assert (invoice["total"], invoice["tax"], invoice["total_excl_tax"], invoice["tax_rate"]) == (
        "80.00",
        "13.33",
        "66.67",
        "20.00",
    )
    assert invoice["issuer"] == {
        "legal_name": "Salon SARL",
        "address": None,
        "ice": "001234567000089",
        "tax_id": "IF1",
        "trade_register": "RC1",
    }
    assert invoice["customer"]["full_name"] == "Salma B."
    assert invoice["booking_id"] == booking["id"]
    line = invoice["lines"][0]
    assert (line["description"], line["quantity"], line["total"]) == ("Brushing", 1, "80.00")
    assert api.get(f"/invoices/{invoice['id']}").get_json() == invoice


def test_each_credit_note_takes_its_tax_out_of_its_own_total(api):
    # API.md: tax is taken out of each document's tax-inclusive total, rounded half up.
    _, payment = _cash(api, "10.00")
    for amount in ("2.00", "5.00", "3.00"):
        answer = api.post(f"/payments/{payment['id']}/refunds", {"amount": amount})
        assert answer.status_code == 201, answer.get_json()
    invoice = api.get("/invoices", kind="invoice").get_json()[0]
    assert (invoice["total"], invoice["tax"], invoice["total_excl_tax"]) == (
        "10.00",
        "1.67",
        "8.33",
    )
    notes = api.get("/invoices", kind="credit_note").get_json()
    # 5.00 * 20/120 = 0.8333: 0.83, not the 0.84 that would make the notes add up.
    assert [(n["total"], n["tax"], n["total_excl_tax"]) for n in notes] == [
        ("2.00", "0.33", "1.67"),
        ("5.00", "0.83", "4.17"),
        ("3.00", "0.50", "2.50"),
    ]
    for note in notes:
        (line,) = note["lines"]
        assert (line["total"], line["tax"], line["total_excl_tax"]) == (
            note["total"],
            note["tax"],
            note["total_excl_tax"],
        )


def test_numbers_restart_with_each_local_year(api):
    _cash(api, "10.00")
    # 31 December 23:30 UTC is already 1 January in Casablanca.
    with clock.frozen(datetime(2027, 12, 31, 23, 30, tzinfo=UTC)):
        _cash(api, "10.00", starts_at="2028-01-03 15:00")
    numbers = [i["number"] for i in api.get("/invoices").get_json()]
    assert numbers == ["2027-000001", "2028-000001"]


def test_invoices_are_filtered(api):
    booking, payment = _cash(api, "80.00")
    api.post(f"/payments/{payment['id']}/refunds", {"amount": "5.00"})
    assert [i["kind"] for i in api.get("/invoices", kind="credit_note").get_json()] == [
        "credit_note"
    ]
    customer = api.booking(booking["id"])["customer_id"]
    assert len(api.get("/invoices", customer_id=customer).get_json()) == 2
    assert api.get("/invoices", **{"from": "2027-05-04"}).get_json() == []
    assert len(api.get("/invoices", **{"from": "2027-05-03", "to": "2027-05-03"}).get_json()) == 2


def test_an_issued_invoice_can_be_neither_changed_nor_deleted(api):
    _cash(api)
    for statement in ("UPDATE invoices SET total = 1", "DELETE FROM invoices"):
        with pytest.raises(sa.exc.DBAPIError) as caught, session().begin_nested():
            session().execute(sa.text(statement))
        assert "invoices are immutable" in str(caught.value.orig)


def test_the_pdf_is_french_for_a_french_customer(api):
    _cash(api)
    invoice = api.get("/invoices").get_json()[0]
    answer = api.get(f"/invoices/{invoice['id']}/pdf")
    assert answer.status_code == 200
    assert answer.mimetype == "application/pdf"
    assert answer.data.startswith(b"%PDF-")
    assert b"DejaVuSans" in answer.data
    assert f'filename="{invoice["number"]}.pdf"' in answer.headers["Content-Disposition"]


def test_the_pdf_text_is_shaped_arabic_right_to_left_with_isolated_numbers():
    from bookme.payments import pdf
    from bookme.payments.models import Invoice

    invoice = Invoice(
        number="F2027-000042",
        kind="invoice",
        issued_at=datetime(2027, 5, 3, 8, tzinfo=UTC),
        issuer={"legal_name": "صالون الأطلس", "ice": "001234567000089"},
        customer={"full_name": "سلمى", "phone": "+212612345678"},
        lines=[
            {
                "description": "قص الشعر",
                "kind": "deposit",
                "appointment_at": "2027-05-04T09:00:00+00:00",
                "quantity": 1,
                "unit_price": 6000,
                "total_excl_tax": 5000,
                "tax": 1000,
                "total": 6000,
                "tax_rate": "20.00",
            }
        ],
        total_excl_tax=5000,
        tax=1000,
        total=6000,
        tax_rate=20,
        currency="MAD",
        locale="ar",
        provider="stripe",
        credited_invoice_number=None,
    )
    assert pdf.language(invoice) == "ar"
    assert pdf.isolate("2027-05-03") == "\u20662027-05-03\u2069"
    content = pdf.build(invoice, timezone="Africa/Casablanca")
    assert content.startswith(b"%PDF-")
    text = _extract(content)
    if text is not None:  # poppler's pdftotext, where installed, reads it back in logical order
        assert "فاتورة" in text and "F2027-000042" in text and "60.00 MAD" in text


def _extract(content: bytes) -> str | None:
    import shutil
    import subprocess

    tool = shutil.which("pdftotext")
    if tool is None:
        return None
    result = subprocess.run([tool, "-", "-"], input=content, capture_output=True, check=True)
    return result.stdout.decode()


def test_only_owners_and_managers_read_invoices(api):
    _cash(api)
    staff = add_member(api.salon.tenant, "staff")
    assert api.as_(staff).get("/invoices").status_code == 403


def test_an_unknown_invoice_is_404(api):
    import uuid

    assert api.get(f"/invoices/{uuid.uuid4()}").status_code == 404
    assert api.get(f"/invoices/{uuid.uuid4()}/pdf").status_code == 404


def test_an_arabic_speaking_customer_gets_the_pdf_in_arabic(api):
    answer = api.post(
        "/bookings",
        {
            "service_id": str(api.salon.plain.id),
            "staff_id": str(api.salon.nadia.id),
            "starts_at": "2027-05-04T15:00:00+01:00",
            "customer": {"full_name": "سلمى", "phone": "+212612345679", "locale": "ar"},
        },
    )
    assert answer.status_code == 201, answer.get_json()
    api.post(
        f"/bookings/{answer.get_json()['id']}/payments", {"provider": "cash", "amount": "80.00"}
    )
    invoice = api.get("/invoices").get_json()[0]
    assert invoice["locale"] == "ar"
    document = api.get(f"/invoices/{invoice['id']}/pdf")
    assert document.status_code == 200 and document.data.startswith(b"%PDF-")
    text = _extract(document.data)
    if text is not None:
        assert "فاتورة" in text and invoice["number"] in text
