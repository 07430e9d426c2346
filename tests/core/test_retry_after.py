"""A 429 never tells a client to retry after zero seconds."""

from flask import Response


def test_a_zero_retry_after_is_raised_to_one_second(app, db):
    with app.test_request_context("/api/v1/auth/login", method="POST"):
        response = app.process_response(Response(status=429, headers={"Retry-After": "0"}))
    assert response.headers["Retry-After"] == "1"


def test_a_positive_retry_after_is_kept(app, db):
    with app.test_request_context("/api/v1/auth/login", method="POST"):
        response = app.process_response(Response(status=429, headers={"Retry-After": "42"}))
    assert response.headers["Retry-After"] == "42"
