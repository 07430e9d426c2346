"""Successful requests end their read transaction with COMMIT (psycopg keeps prepared plans)."""

import sqlalchemy as sa
from flask import Response

from bookme.core.db import session


def test_a_successful_response_commits_the_open_read_transaction(app, db):
    with app.test_request_context("/api/v1/services"):
        session().execute(sa.text("SELECT 1"))
        assert session().in_transaction()
        app.process_response(Response(status=200))
        assert not session().in_transaction()


def test_an_error_response_leaves_the_transaction_to_be_rolled_back(app, db):
    with app.test_request_context("/api/v1/services"):
        session().execute(sa.text("SELECT 1"))
        app.process_response(Response(status=404))
        assert session().in_transaction()
