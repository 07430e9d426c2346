"""The RQ worker (SimpleWorker: jobs in-process, one app), the scheduler's lease, and the
periodic-job registry."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue, SimpleWorker

from bookme.core import periodic, tasks
from bookme.worker import LOCK_KEY, Scheduler
from tests.conftest import SERVICES
from tests.ops import jobs
from tests.ops.conftest import PYTHON, REPO, bare_env, stop_group

TICK = periodic.PeriodicJob(name="tests.tick", func=jobs.tick, every_seconds=60)


@pytest.fixture
def queue_name(redis_client: Redis) -> Iterator[str]:
    """A queue of this test's own; its keys are removed afterwards."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    keys = list(redis_client.scan_iter(f"*{name}*"))
    if keys:
        redis_client.delete(*keys)


def _queue(redis_client: Redis, name: str) -> Queue:
    return Queue(name, connection=redis_client)


@contextlib.contextmanager
def _signal_handlers_kept() -> Iterator[None]:
    """An in-process RQ worker installs its own SIGINT/SIGTERM handlers; put pytest's back."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


# --- the worker process ---------------------------------------------------------------------------


def test_worker_runs_every_job_in_its_own_process_on_one_app(redis_client, queue_name):
    key = f"{queue_name}:ran"
    queue = _queue(redis_client, queue_name)
    for _ in range(3):
        queue.enqueue(jobs.record_process, key)
    worker = subprocess.run(
        [PYTHON, "-m", "bookme.worker", "worker", "--burst"],
        check=False,
        cwd=REPO,
        env=bare_env(
            DATABASE_URL=SERVICES.database_url,
            REDIS_URL=SERVICES.redis_url,
            BOOKME_RQ_QUEUE=queue_name,
            BOOKME_LOG_JSON="0",
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker.returncode == 0, worker.stderr[-3000:]
    runs = [json.loads(raw) for raw in redis_client.lrange(key, 0, -1)]
    assert len(runs) == 3
    # SimpleWorker: no fork per job, and the app is created once for all of them.
    pids = {run["pid"] for run in runs}
    apps = {run["app"] for run in runs}
    assert len(pids) == 1 and len(apps) == 1
    assert f"started with PID {pids.pop()}" in worker.stdout + worker.stderr


def test_enqueue_sends_the_job_and_its_queue_in_one_transaction(
    app, redis_client, queue_name, monkeypatch
):
    """One MULTI/EXEC per job (RQ left to itself spends two), and a worker still finds it."""
    settings = dataclasses.replace(app.config["BOOKME"], rq_queue=queue_name)
    monkeypatch.setitem(app.config, "BOOKME", settings)
    key = f"{queue_name}:ran"

    def transactions() -> int:
        return int(redis_client.info("commandstats").get("cmdstat_exec", {}).get("calls", 0))

    with app.app_context():
        before = transactions()
        tasks.enqueue(jobs.record_process, key)
        assert transactions() - before == 1
        queue = _queue(redis_client, queue_name)
        assert [job.func_name for job in queue.jobs] == ["tests.ops.jobs.record_process"]
        assert queue.key.encode() in redis_client.smembers("rq:queues")
        with _signal_handlers_kept():
            SimpleWorker([queue], connection=redis_client).work(burst=True)
    assert redis_client.llen(key) == 1


# --- the periodic-job registry --------------------------------------------------------------------


def test_periodic_jobs_register_once_and_refuse_conflicting_definitions():
    name = f"tests.{uuid.uuid4().hex[:8]}"
    try:
        job = periodic.register(name, 30, jobs.tick)
        assert periodic.register(name, 30, jobs.tick) == job  # re-import: same definition
        assert job in periodic.jobs()
        with pytest.raises(ValueError, match="already registered"):
            periodic.register(name, 60, jobs.tick)
    finally:
        periodic.unregister(name)
    assert all(j.name != name for j in periodic.jobs())


@pytest.mark.parametrize(
    ("every_seconds", "cron", "func", "message"),
    [
        (None, None, jobs.tick, "exactly one"),
        (60, "* * * * *", jobs.tick, "exactly one"),
        (0, None, jobs.tick, "at least 1"),
        (60, None, lambda: None, "module-level"),
    ],
)
def test_periodic_registration_refuses_what_the_scheduler_cannot_run(
    every_seconds, cron, func, message
):
    with pytest.raises(ValueError, match=message):
        periodic.register("tests.bad", every_seconds, func, cron=cron)


def test_discover_imports_the_tasks_module_of_every_package():
    on_disk = {f"bookme.{path.parent.name}.tasks" for path in (REPO / "bookme").glob("*/tasks.py")}
    assert set(periodic.discover()) == on_disk


# --- the scheduler's lease ------------------------------------------------------------------------


def _scheduler(redis_client: Redis, queue_name: str, lease: float = 5.0) -> Scheduler:
    return Scheduler(redis_client, queue_name, jobs=[TICK], lease_seconds=lease)


def test_a_second_scheduler_stays_idle_while_the_first_holds_the_lease(redis_client, queue_name):
    first, second = _scheduler(redis_client, queue_name), _scheduler(redis_client, queue_name)
    try:
        assert first.tick() is True
        assert second.tick() is False
        assert second.tick() is False
        assert first.tick() is True
        # The interval job ran once, when the first scheduler took the lease.
        assert _queue(redis_client, queue_name).count == 1
        assert (first.is_leader, second.is_leader) == (True, False)
    finally:
        first.resign()
        second.resign()


def test_the_standby_takes_over_when_the_leader_resigns(redis_client, queue_name):
    first, second = _scheduler(redis_client, queue_name), _scheduler(redis_client, queue_name)
    try:
        assert first.tick() is True
        first.resign()
        assert redis_client.exists(LOCK_KEY.format(queue=queue_name)) == 0
        assert second.tick() is True
    finally:
        second.resign()


def test_a_leader_that_lost_its_lease_stands_down(redis_client, queue_name):
    first, second = (
        _scheduler(redis_client, queue_name, lease=0.5),
        _scheduler(redis_client, queue_name, lease=0.5),
    )
    try:
        assert first.tick() is True
        time.sleep(0.7)  # the first one hangs past its lease; the lock expires
        assert second.tick() is True
        assert first.tick() is False
        assert first.is_leader is False
        assert second.tick() is True
    finally:
        first.resign()
        second.resign()


def test_the_leader_enqueues_periodic_jobs_that_a_worker_then_runs(app, redis_client, queue_name):
    redis_client.delete("bookme:test:ticks")
    scheduler = _scheduler(redis_client, queue_name)
    try:
        scheduler.tick()
        scheduler.tick()
    finally:
        scheduler.resign()
    queue = _queue(redis_client, queue_name)
    assert [job.func_name for job in queue.jobs] == ["tests.ops.jobs.tick"]
    with app.app_context(), _signal_handlers_kept():
        SimpleWorker([queue], connection=redis_client).work(burst=True)
    assert int(redis_client.get("bookme:test:ticks")) == 1
    redis_client.delete("bookme:test:ticks")


def test_the_leader_moves_delayed_jobs_onto_the_queue_when_due(redis_client, queue_name):
    queue = _queue(redis_client, queue_name)
    due = queue.enqueue_at(datetime.now(UTC) - timedelta(seconds=1), jobs.record_process, "x")
    later = queue.enqueue_at(datetime.now(UTC) + timedelta(hours=1), jobs.record_process, "y")
    scheduler = Scheduler(redis_client, queue_name, jobs=[], lease_seconds=5)
    try:
        assert scheduler.tick() is True
    finally:
        scheduler.resign()
    assert queue.job_ids == [due.id]
    assert later.id in queue.scheduled_job_registry.get_job_ids()


def test_the_run_loop_stops_when_asked_and_releases_the_lease(redis_client, queue_name):
    scheduler = _scheduler(redis_client, queue_name)
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not scheduler.is_leader and time.monotonic() < deadline:
            time.sleep(0.02)
        assert scheduler.is_leader
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert redis_client.exists(LOCK_KEY.format(queue=queue_name)) == 0


def _wait_for(path: Path, texts: tuple[str, ...], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and any(text in path.read_text() for text in texts):
            return
        time.sleep(0.1)
    raise AssertionError(f"{texts} not in {path}:\n{path.read_text() if path.exists() else ''}")


def test_two_scheduler_processes_elect_one_leader_and_stop_cleanly_on_sigterm(
    redis_client, queue_name, tmp_path
):
    env = bare_env(
        DATABASE_URL=SERVICES.database_url,
        REDIS_URL=SERVICES.redis_url,
        BOOKME_RQ_QUEUE=queue_name,
        BOOKME_LOG_JSON="0",
    )
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = []
    for log in logs:
        with log.open("wb") as out:
            procs.append(
                subprocess.Popen(
                    [PYTHON, "-m", "bookme.worker", "scheduler"],
                    cwd=REPO,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    try:
        for log in logs:
            _wait_for(log, ("leading", "standing by"))
        texts = [log.read_text() for log in logs]
        leaders = [t for t in texts if "leading" in t]
        standbys = [t for t in texts if "standing by" in t]
        assert (len(leaders), len(standbys)) == (1, 1), texts
        assert redis_client.exists(LOCK_KEY.format(queue=queue_name)) == 1
    finally:
        codes = [stop_group(proc) for proc in procs]
    assert codes == [0, 0], [log.read_text()[-2000:] for log in logs]
    assert redis_client.exists(LOCK_KEY.format(queue=queue_name)) == 0
