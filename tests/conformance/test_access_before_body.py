"""API.md: "Access is checked before the body is validated: a caller who may not touch a
resource gets 401, 403 or 404 whatever the body holds" — for the objects named in paths of
the bookings, payments and notifications endpoints."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import assert_problem

MISSING = "00000000-0000-0000-0000-000000000000"
BODIES = [
    pytest.param({"json": {"bogus": "\x00"}}, id="invalid-fields"),
    pytest.param({"data": "{oops", "content_type": "application/json"}, id="not-json"),
]


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"/bookings/{MISSING}/cancel"),
        ("POST", f"/bookings/{MISSING}/reschedule"),
        ("POST", f"/bookings/{MISSING}/payments"),
        ("POST", "/public/bookings/unknown-token/cancel"),
        ("POST", "/public/bookings/unknown-token/reschedule"),
        ("POST", "/public/bookings/unknown-token/pay"),
        ("POST", f"/payments/{MISSING}/refunds"),
        ("PUT", "/notification-templates/no_such_event/sms/fr"),
        ("POST", "/notification-templates/booking_confirmed/fax/fr/preview"),
        ("POST", f"/bookings/{MISSING}/confirm"),
        ("POST", f"/bookings/{MISSING}/complete"),
        ("POST", f"/bookings/{MISSING}/no-show"),
        ("POST", f"/customers/{MISSING}/erase"),
        ("POST", f"/notifications/{MISSING}/retry"),
        ("POST", f"/public/payments/{MISSING}/paypal/capture"),
    ],
)
def test_an_unknown_object_in_the_path_is_404_whatever_the_body(http, method, path, body):
    assert_problem(http._call(method, path, **body), 404, "not_found")
