"""Exactly once under faults, with real RQ worker processes, PostgreSQL, Redis and the fake
Twilio: a worker's process group killed mid-send, Redis flushed with messages queued, two
dispatchers at once. Committed data in a tenant of the test's own, dropped afterwards."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis import Redis

from bookme.communications import delivery
from tests.communications.live import (
    LiveSalon,
    book,
    create_salon,
    drop_salon,
    execute,
    next_slot,
    outbox,
    point_app_at_queue,
    wait_for,
    worker_env,
    workers,
)

pytestmark = pytest.mark.slow
RECOVERY_LIMIT = 120  # seconds


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    """Real time here: the workers are separate processes on the system clock."""
    yield


@pytest.fixture
def queue_name(app: Any, redis_client: Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"notify-{uuid.uuid4().hex[:10]}"
    point_app_at_queue(app, monkeypatch, name)
    yield name
    keys = list(redis_client.scan_iter(f"*{name}*"))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture
def live_salon(app: Any) -> Iterator[LiveSalon]:
    salon = create_salon(app, settings={"events": {"booking_reminder": False}})
    yield salon
    drop_salon(app, salon)


def _row(app: Any, salon: LiveSalon) -> Any:
    [row] = outbox(app, salon)
    return row


@pytest.mark.parametrize("provider_took_it", [True, False], ids=["after-create", "before-create"])
def test_a_worker_killed_mid_send_delivers_exactly_once_within_two_minutes(
    app, fake_twilio, live_salon, queue_name, provider_took_it
):
    env = worker_env(app, fake_twilio, queue_name)
    hold = fake_twilio.hold(after_create=provider_took_it)
    with workers(env, "worker") as first:
        book(app.test_client(), live_salon, next_slot(timedelta(hours=3)), "+212612340001")
        wait_for(lambda: fake_twilio.calls["create"] == 1, timeout=60, what="the send call",
                 processes=first.values())  # fmt: skip
        row = _row(app, live_salon)
        assert row.status == "sending"
        os.killpg(first["worker"].proc.pid, signal.SIGKILL)  # the whole process group
        first["worker"].proc.wait(10)
    killed_at = time.monotonic()
    hold.release(discard=True)  # a request not yet taken is lost with the connection
    assert len(fake_twilio.snapshot()) == (1 if provider_took_it else 0)
    with workers(env, "worker", "scheduler") as second:
        row = wait_for(
            lambda: (r := _row(app, live_salon)).status == "sent" and r,
            timeout=RECOVERY_LIMIT,
            what="recovery",
            processes=second.values(),
        )
    recovery = time.monotonic() - killed_at
    [message] = fake_twilio.snapshot()
    assert message["to"] == "+212612340001"
    assert row.provider_message_id == message["sid"]
    assert row.attempts == 1
    assert recovery < RECOVERY_LIMIT


def test_flushing_redis_with_reminders_queued_loses_and_repeats_nothing(
    app, fake_twilio, redis_client, queue_name
):
    salon = create_salon(app, settings={"reminder_offsets_minutes": [1440, 120]})
    try:
        client = app.test_client()
        phones = [f"+2126123{n:05d}" for n in range(6)]
        for index, phone in enumerate(phones):
            book(client, salon, next_slot(timedelta(days=2, minutes=15 * index)), phone)
        # Time passes: every reminder is due now.
        execute(app, f'UPDATE "{salon.schema}".notifications '
                     "SET scheduled_for = now() - interval '1 second' "
                     "WHERE status = 'scheduled'")  # fmt: skip
        execute(app, "UPDATE public.notification_due SET due_at = now() - interval '1 second' "
                     "WHERE tenant_id = :t", t=salon.id)  # fmt: skip
        with app.app_context():
            taken = delivery.dispatch(now=datetime.now(UTC))
        assert taken == len(phones) * 3  # the confirmations and both reminders of each booking
        assert redis_client.llen(f"rq:queue:{queue_name}") > 0
        redis_client.flushdb()  # Redis restarts empty: every enqueued job is gone
        env = worker_env(app, fake_twilio, queue_name)
        with workers(env, "worker", "scheduler") as running:
            wait_for(
                lambda: all(r.status == "sent" for r in outbox(app, salon)),
                timeout=RECOVERY_LIMIT,
                what="every message sent",
                processes=running.values(),
            )
        rows = outbox(app, salon)
        assert len(rows) == len(phones) * 3
        sent = fake_twilio.snapshot()
        assert len(sent) == len(rows)
        assert {r.provider_message_id for r in rows} == {m["sid"] for m in sent}
        per_phone = Counter(m["to"] for m in sent)
        assert per_phone == {phone: 3 for phone in phones}
    finally:
        drop_salon(app, salon)


def test_two_dispatchers_at_once_never_take_the_same_row(app, queue_name):
    salon = create_salon(app, settings={"reminder_offsets_minutes": [1440, 120, 60, 30, 15]})
    try:
        client = app.test_client()
        for index in range(40):
            book(
                client,
                salon,
                next_slot(timedelta(days=2, minutes=15 * index)),
                f"+2126124{index:05d}",
            )
        execute(app, "UPDATE public.notification_due SET due_at = now() - interval '1 second' "
                     "WHERE tenant_id = :t", t=salon.id)  # fmt: skip
        barrier = threading.Barrier(4)
        taken: list[list[uuid.UUID]] = [[] for _ in range(4)]

        def dispatcher(slot: int) -> None:
            with app.app_context():
                barrier.wait()
                while True:
                    entries = delivery.take_due(now=datetime.now(UTC), limit=7)
                    if not entries:
                        return
                    taken[slot].extend(e.notification_id for e in entries)

        threads = [threading.Thread(target=dispatcher, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        everything = [nid for part in taken for nid in part]
        assert len(everything) == 40 * 6
        assert len(set(everything)) == len(everything)
        assert sum(1 for part in taken if part) >= 2  # they really ran side by side
    finally:
        drop_salon(app, salon)
