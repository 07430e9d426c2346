"""Phone, email and tag normalisation (pure functions, no database)."""

import pytest

from bookme.core import errors
from bookme.customers.service import normalise_email, normalise_phone, normalise_tags


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0612345678", "+212612345678"),
        ("0712345678", "+212712345678"),
        ("06 12 34 56 78", "+212612345678"),
        ("06-12-34-56-78", "+212612345678"),
        ("06.12.34.56.78", "+212612345678"),
        ("  0612345678  ", "+212612345678"),
        ("+212612345678", "+212612345678"),
        ("+212 6 12 34 56 78", "+212612345678"),
        ("+212 (0)6 12 34 56 78", "+212612345678"),
        ("00212612345678", "+212612345678"),
        ("00 212 612 345 678", "+212612345678"),
        ("612345678", "+212612345678"),
        ("0522123456", "+212522123456"),  # a Casablanca landline
        ("+33 6 12 34 56 78", "+33612345678"),
        ("0033612345678", "+33612345678"),
        ("+1 (202) 555-0123", "+12025550123"),
        ("+44 7911 123456", "+447911123456"),
    ],
)
def test_phone_numbers_are_normalised_to_e164(raw, expected):
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "12",
        "123456",
        "061234567",  # one digit short
        "06123456789",  # one digit long
        "+2126123456789",
        "0612ABC678",  # letters are not dialled here
        "phone",
        "+",
        "++212612345678",
        "0612345678 ext 12",
        "+999 612345678",
        "0" * 40,
        "06\u200b12345678",
    ],
)
def test_junk_phone_numbers_are_a_validation_error(raw):
    with pytest.raises(errors.ValidationFailed) as caught:
        normalise_phone(raw)
    assert "phone" in caught.value.errors


def test_the_field_name_of_a_phone_error_can_be_chosen():
    with pytest.raises(errors.ValidationFailed) as caught:
        normalise_phone("junk", field="customer.phone")
    assert list(caught.value.errors) == ["customer.phone"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("salma@example.com", "salma@example.com"),
        (" Salma.B@Example.COM ", "Salma.B@example.com"),
    ],
)
def test_emails_are_normalised(raw, expected):
    assert normalise_email(raw) == expected


@pytest.mark.parametrize("raw", ["", "salma", "salma@", "@example.com", "a@b", "a b@example.com"])
def test_invalid_emails_are_a_validation_error(raw):
    with pytest.raises(errors.ValidationFailed):
        normalise_email(raw)


def test_tags_are_trimmed_and_deduplicated_ignoring_case():
    assert normalise_tags([" VIP ", "vip", "new  client", "Kids"]) == ["VIP", "new client", "Kids"]
