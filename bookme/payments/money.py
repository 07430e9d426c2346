"""Money kept exact: integer minor units inside, decimal strings outside.

Every currency BookMe prices in is written with two decimals on the API (`"150.00"`), so one
minor unit is a hundredth everywhere inside. Rounding is half up (away from zero on .5), the
rule Moroccan invoices and most tax authorities use; it is applied only where a fraction
really appears: a percentage deposit, tax taken out of a tax-inclusive total, a conversion.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

SCALE = 100  # minor units per major unit
CENT = Decimal("0.01")

# Stripe counts these currencies in whole units (no minor unit); see stripe_amount().
ZERO_DECIMAL = frozenset({
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
})  # fmt: skip


def parse(value: str | Decimal | int) -> int:
    """`"150.00"` → 15000. More than two places, negatives or garbage → ValueError."""
    if isinstance(value, bool):
        raise ValueError("not an amount")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"not a non-negative amount: {value!r}")
    minor = amount * SCALE
    if minor != minor.to_integral_value():
        raise ValueError(f"more than two decimal places: {value!r}")
    return int(minor)


def to_decimal(minor: int) -> Decimal:
    return (Decimal(minor) / SCALE).quantize(CENT)


def format(minor: int) -> str:
    """15000 → `"150.00"`."""
    return f"{to_decimal(minor):.2f}"


def round_half_up(value: Decimal) -> int:
    """A fractional number of minor units → the nearest whole one, .5 going up."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def percent_of(minor: int, percent: int | Decimal) -> int:
    """`percent`% of an amount, rounded half up to the minor unit."""
    return round_half_up(Decimal(minor) * Decimal(percent) / 100)


def tax_of(total: int, rate: Decimal) -> int:
    """The tax inside a tax-inclusive `total` at `rate` percent, rounded half up to the cent."""
    if total == 0 or rate == 0:
        return 0
    return round_half_up(Decimal(total) * rate / (100 + rate))


def split_tax(total: int, rate: Decimal) -> tuple[int, int]:
    """A tax-inclusive total → (total excluding tax, tax); the two always add up to `total`."""
    tax = tax_of(total, rate)
    return total - tax, tax


def convert(minor: int, rate: Decimal) -> int:
    """An amount at a fixed exchange rate (units of the target per unit), rounded half up."""
    return round_half_up(Decimal(minor) * rate)


def stripe_amount(minor: int, currency: str) -> int:
    """What Stripe's `amount` means for `currency`: cents, or whole units when zero-decimal."""
    if currency.upper() in ZERO_DECIMAL:
        return round_half_up(Decimal(minor) / SCALE)
    return minor


def check_currency(currency: str, tenant_currency: str) -> None:
    """Payments are in the tenant's currency; anything else is a programming or data error."""
    if currency.upper() != tenant_currency.upper():
        raise ValueError(f"currency {currency} is not the business's {tenant_currency}")
