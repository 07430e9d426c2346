"""Secrets at rest: encrypted under the newest key, readable under any configured one."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from bookme import create_app
from bookme.core import crypto
from tests.conftest import test_settings as settings_for_tests


def test_the_cipher_is_built_once_per_app_and_round_trips(app):
    with app.app_context():
        assert crypto._fernet() is crypto._fernet()
        sealed = crypto.encrypt("whsec_123")
        assert sealed != "whsec_123"
        assert crypto.decrypt(sealed) == "whsec_123"


def test_a_secret_sealed_under_an_older_key_is_read_and_rotated_to_the_newest():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = create_app(settings_for_tests(encryption_keys=(old,)))
    after = create_app(settings_for_tests(encryption_keys=(new, old)))
    with before.app_context():
        sealed = crypto.encrypt("sk_test_abc")
    with after.app_context():
        assert crypto.decrypt(sealed) == "sk_test_abc"
        rotated = crypto.rotate(sealed)
    with before.app_context(), pytest.raises(ValueError):
        crypto.decrypt(rotated)
