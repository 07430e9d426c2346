"""Money in minor units: parsing, formatting, half-up rounding, tax split, conversions."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bookme.payments import money

amounts = st.integers(min_value=1, max_value=10**10)
rates = st.decimals(min_value=0, max_value=Decimal("99.99"), places=2)


def test_parse_and_format_round_trip():
    assert money.parse("150.00") == 15000
    assert money.parse("0.5") == 50
    assert money.parse(Decimal("12.3")) == 1230
    assert money.format(15000) == "150.00"
    assert money.format(5) == "0.05"


@pytest.mark.parametrize("bad", ["1.234", "-1", "abc", "NaN", "Infinity", True])
def test_parse_refuses_what_is_not_an_amount(bad):
    with pytest.raises(ValueError):
        money.parse(bad)


def test_rounding_is_half_up():
    assert money.round_half_up(Decimal("2.5")) == 3
    assert money.round_half_up(Decimal("3.5")) == 4
    assert money.round_half_up(Decimal("2.4999")) == 2


def test_tax_is_taken_out_of_a_tax_inclusive_total():
    # 120.00 at 20 % holds 20.00 of tax.
    assert money.split_tax(12000, Decimal("20.00")) == (10000, 2000)
    # 0.03 at 20 %: 0.005 of tax rounds half up to 0.01.
    assert money.split_tax(3, Decimal("20")) == (2, 1)
    assert money.split_tax(5000, Decimal("0")) == (5000, 0)


def test_a_deposit_percentage_rounds_half_up():
    assert money.percent_of(20000, 30) == 6000
    assert money.percent_of(5, 50) == 3  # 2.5 cents → 3


def test_conversion_at_a_fixed_rate_rounds_half_up():
    assert money.convert(60000, Decimal("0.0920")) == 5520
    assert money.convert(5, Decimal("0.5")) == 3


@given(total=amounts, rate=rates)
def test_tax_split_always_sums_back_to_the_total(total, rate):
    excl, tax = money.split_tax(total, rate)
    assert excl + tax == total
    assert excl >= 0 and tax >= 0
    exact = Decimal(total) * rate / (100 + rate)
    assert abs(Decimal(tax) - exact) <= Decimal("0.5")


@given(
    total=amounts,
    rate=st.decimals(min_value=Decimal("0.0001"), max_value=10, places=4),
    data=st.data(),
)
def test_converted_partial_refunds_sum_back_to_the_charged_amount(total, rate, data):
    cut = data.draw(st.integers(min_value=0, max_value=total))
    first = money.convert(cut, rate) - money.convert(0, rate)
    second = money.convert(total, rate) - money.convert(cut, rate)
    assert first + second == money.convert(total, rate)


def test_payments_stay_in_the_business_currency():
    money.check_currency("MAD", "MAD")
    with pytest.raises(ValueError):
        money.check_currency("EUR", "MAD")


def test_stripe_counts_zero_decimal_currencies_in_whole_units():
    assert money.stripe_amount(15000, "MAD") == 15000
    assert money.stripe_amount(15000, "JPY") == 150
