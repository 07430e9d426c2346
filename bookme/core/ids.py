"""Identifiers for rows written on every booking: time-ordered UUIDs (RFC 9562, version 7)."""

from __future__ import annotations

import os
import time
import uuid


def uuid7() -> uuid.UUID:
    """A version 7 UUID: 48 bits of Unix milliseconds, then 74 random bits.

    Rows keyed by these land at the right edge of their B-tree indexes, instead of on a
    random leaf as with version 4, so a booking's inserts touch a few hot pages rather than
    a dozen cold ones (each a full-page image in the WAL after a checkpoint). They are as
    unguessable as callers need (nothing secret is an id) and reveal only the creation time.
    """
    millis = time.time_ns() // 1_000_000
    value = (millis & 0xFFFF_FFFF_FFFF) << 80 | int.from_bytes(os.urandom(10)) & ((1 << 80) - 1)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # the RFC 4122/9562 variant
    return uuid.UUID(int=value)
