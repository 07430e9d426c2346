"""Invoices and credit notes as PDF, in French or Arabic, with fpdf2 and HarfBuzz shaping.

Arabic is shaped (joined letter forms) and laid out right to left by fpdf2's text shaping
(`uharfbuzz`) and its Unicode bidi algorithm; numbers, dates, amounts and identifiers are
wrapped in Unicode isolates (LRI … PDI) so they keep their left-to-right order inside Arabic
sentences. The font (DejaVu Sans, with Arabic glyphs) ships in `fonts/` with its license, so
rendering needs nothing beyond PyPI packages.
"""

from __future__ import annotations

import uuid
import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.fonts import FontFace

from bookme.core import tenancy
from bookme.payments import invoices, money
from bookme.payments.models import Invoice

FONTS = Path(__file__).resolve().parent / "fonts"
LRI, FSI, PDI = "\u2066", "\u2068", "\u2069"

LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "invoice": "Facture",
        "credit_note": "Avoir",
        "number": "Numéro",
        "date": "Date",
        "customer": "Client",
        "credits": "Avoir sur la facture",
        "description": "Désignation",
        "col_excl": "HT",
        "col_tax": "TVA",
        "col_total": "TTC",
        "appointment": "Rendez-vous du",
        "excl": "Total HT",
        "tax": "TVA",
        "total": "Total TTC",
        "ice": "ICE",
        "tax_id": "IF",
        "trade_register": "RC",
        "deposit": "Acompte",
        "balance": "Solde",
        "full": "Règlement",
        "paid_by": "Réglé par",
        "refunded_by": "Remboursé par",
        "stripe": "carte bancaire",
        "paypal": "PayPal",
        "cash": "espèces",
    },
    "ar": {
        "invoice": "فاتورة",
        "credit_note": "إشعار دائن",
        "number": "الرقم",
        "date": "التاريخ",
        "customer": "الزبون",
        "credits": "يخص الفاتورة",
        "description": "البيان",
        "col_excl": "دون الضريبة",
        "col_tax": "الضريبة",
        "col_total": "المجموع",
        "appointment": "موعد",
        "excl": "المجموع دون احتساب الضريبة",
        "tax": "الضريبة على القيمة المضافة",
        "total": "المجموع مع احتساب الضريبة",
        "ice": "ت.م.م",
        "tax_id": "ت.ج",
        "trade_register": "س.ت",
        "deposit": "عربون",
        "balance": "الباقي",
        "full": "أداء",
        "paid_by": "طريقة الأداء",
        "refunded_by": "طريقة الاسترجاع",
        "stripe": "بطاقة بنكية",
        "paypal": "PayPal",
        "cash": "نقدا",
    },
}


def isolate(text: Any) -> str:
    """Keep a number, date or code left to right inside any paragraph direction."""
    return f"{LRI}{text}{PDI}"


def free(text: Any) -> str:
    """Free text (names, addresses) takes the direction of its own first strong letter."""
    return f"{FSI}{text}{PDI}" if text else ""


def language(invoice: Invoice) -> str:
    return "ar" if (invoice.locale or "").startswith("ar") else "fr"


@dataclass(frozen=True)
class Document:
    content: bytes
    filename: str


class _Pdf(FPDF):
    def __init__(self, rtl: bool) -> None:
        super().__init__(format="A4")
        self.rtl = rtl
        self.set_auto_page_break(auto=True, margin=18)
        self.add_font("dejavu", "", str(FONTS / "DejaVuSans.ttf"))
        self.add_font("dejavu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
        self.set_text_shaping(
            use_shaping_engine=True,
            direction="rtl" if rtl else "ltr",
            script="arab" if rtl else "latn",
            language="ara" if rtl else "fra",
        )
        self.set_font("dejavu", size=10)

    @property
    def start(self) -> str:
        return "R" if self.rtl else "L"

    @property
    def start_align(self) -> str:
        return "RIGHT" if self.rtl else "LEFT"

    @property
    def end(self) -> str:
        return "L" if self.rtl else "R"

    def line_text(
        self,
        text: str,
        *,
        size: float = 10,
        bold: bool = False,
        height: float = 6,
        align: str | None = None,
    ) -> None:
        self.set_font("dejavu", "B" if bold else "", size)
        self.multi_cell(0, height, text, align=align or self.start, new_x="LMARGIN", new_y="NEXT")


def build(invoice: Invoice, *, timezone: str) -> bytes:
    """The PDF bytes of one invoice or credit note."""
    lang = language(invoice)
    t = LABELS[lang]
    rtl = lang == "ar"
    pdf = _Pdf(rtl)
    pdf.add_page()
    zone = zoneinfo.ZoneInfo(timezone)
    issued = invoice.issued_at.astimezone(zone)
    issuer = invoice.issuer or {}
    customer = invoice.customer or {}
    currency = invoice.currency

    def amount(minor: int) -> str:
        return isolate(f"{money.format(minor)} {currency}")

    pdf.line_text(free(issuer.get("legal_name")), size=14, bold=True, height=8)
    if issuer.get("address"):
        pdf.line_text(free(issuer["address"]))
    ids = [
        f"{t[key]}: {isolate(issuer[key])}"
        for key in ("ice", "tax_id", "trade_register")
        if issuer.get(key)
    ]
    if ids:
        pdf.line_text("   ".join(ids), size=9)
    pdf.ln(6)
    pdf.line_text(t[invoice.kind], size=18, bold=True, height=10)
    pdf.line_text(f"{t['number']}: {isolate(invoice.number)}")
    pdf.line_text(f"{t['date']}: {isolate(issued.strftime('%Y-%m-%d'))}")
    if invoice.credited_invoice_number:
        pdf.line_text(f"{t['credits']} {isolate(invoice.credited_invoice_number)}")
    pdf.ln(3)
    who = [free(customer.get("full_name"))]
    who += [isolate(customer[key]) for key in ("phone", "email") if customer.get(key)]
    pdf.line_text(f"{t['customer']}: " + " — ".join(x for x in who if x))
    pdf.ln(5)

    rows = [[t["description"], t["col_excl"], t["col_tax"], t["col_total"]]]
    for line in invoice.lines:
        label = free(line.get("description", ""))
        if t.get(line.get("kind", "")):
            label = f"{t[line['kind']]} — {label}"
        when = line.get("appointment_at")
        if when:
            local = datetime.fromisoformat(when).astimezone(zone)
            label += f"\n{t['appointment']} {isolate(local.strftime('%Y-%m-%d %H:%M'))}"
        rows.append(
            [label, amount(line["total_excl_tax"]), amount(line["tax"]), amount(line["total"])]
        )

    def ordered(cells: list[Any]) -> list[Any]:  # Arabic tables read from the right
        return list(reversed(cells)) if rtl else list(cells)

    pdf.set_font("dejavu", size=9)
    with pdf.table(
        col_widths=ordered([52, 16, 16, 16]),
        text_align=ordered([pdf.start_align, "RIGHT", "RIGHT", "RIGHT"]),
        headings_style=FontFace(emphasis="BOLD", fill_color=(235, 235, 235)),
        line_height=6,
    ) as table:
        for cells in rows:
            row = table.row()
            for cell in ordered(cells):
                row.cell(cell)
    pdf.ln(4)
    rate = isolate(f"{invoice.tax_rate:.2f} %")
    for label, value, bold in (
        (t["excl"], amount(invoice.total_excl_tax), False),
        (f"{t['tax']} {rate}", amount(invoice.tax), False),
        (t["total"], amount(invoice.total), True),
    ):
        pdf.line_text(f"{label}: {value}", bold=bold, align=pdf.end)
    pdf.ln(4)
    how = t["refunded_by"] if invoice.kind == "credit_note" else t["paid_by"]
    pdf.line_text(f"{how}: {t.get(invoice.provider, invoice.provider)}", size=9)
    return bytes(pdf.output())


def render_invoice(*, tenant: tenancy.TenantRef, invoice_id: uuid.UUID) -> Document:
    invoice = invoices.get_invoice(invoice_id=invoice_id)
    return Document(
        content=build(invoice, timezone=tenant.timezone),
        filename=f"{invoice.number.replace('/', '-')}.pdf",
    )
