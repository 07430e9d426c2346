"""Time-ordered ids (UUID version 7) for the rows every booking writes."""

from __future__ import annotations

import time
import uuid

from bookme.core.ids import uuid7


def test_a_uuid7_carries_its_version_variant_and_creation_millisecond():
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert before <= value.int >> 80 <= after


def test_ids_of_later_milliseconds_sort_after_earlier_ones():
    first = uuid7()
    time.sleep(0.002)
    second = uuid7()
    assert str(first) < str(second) and first.bytes < second.bytes


def test_ids_made_in_the_same_millisecond_still_differ():
    many = {uuid7() for _ in range(10_000)}
    assert len(many) == 10_000
