"""Cheap argon2id parameters for the test suite (production keeps argon2-cffi's defaults).

A user costs about half a second to hash with the production parameters on the CI machines;
the tests create hundreds.
"""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> None:
    from bookme.users import passwords

    passwords.configure(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID))
