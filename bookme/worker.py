"""Background processes: the RQ worker and the one periodic-job scheduler.

    python -m bookme.worker worker [--burst]   # Procfile `worker`
    python -m bookme.worker scheduler          # Procfile `scheduler`

The worker is an `rq.SimpleWorker`: jobs run in this process on one app created at start
(no fork per job). The scheduler enqueues the jobs registered in `bookme.core.periodic` with
RQ's cron scheduler, and moves due `enqueue_at`/`enqueue_in` jobs onto their queue. RQ's cron
scheduler has no lock of its own, so the scheduler holds a Redis lock with a lease: a second
scheduler started by mistake stays idle, and takes over if the first one dies.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Sequence
from types import FrameType
from typing import Any

from flask import Flask
from redis import Redis
from redis.exceptions import LockError
from rq import Queue, SimpleWorker
from rq.cron import CronScheduler
from rq.scheduler import RQScheduler

from bookme.core import periodic

log = logging.getLogger("bookme.scheduler")

LOCK_KEY = "bookme:scheduler:{queue}:lock"


def create_worker_app() -> Flask:
    """The one app every job of this process runs on (`tasks.job` pushes a context per job)."""
    from bookme import create_app
    from bookme.core import tasks

    app = create_app()
    tasks._worker_app = app
    return app


def run_worker(app: Flask, *, burst: bool = False) -> bool:
    settings = app.config["BOOKME"]
    connection: Redis = app.extensions["bookme.redis"]
    worker = SimpleWorker(
        [Queue(settings.rq_queue, connection=connection)],
        connection=connection,
        name=f"bookme-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}",
    )
    return worker.work(burst=burst, logging_level="INFO")


class Scheduler:
    """Leader-elected periodic enqueuer. Call `tick()` in a loop (`run()` does)."""

    def __init__(
        self,
        connection: Redis,
        queue_name: str,
        *,
        jobs: Sequence[periodic.PeriodicJob] | None = None,
        lease_seconds: float = 30.0,
        lock_key: str | None = None,
    ) -> None:
        self.connection = connection
        self.queue_name = queue_name
        self.jobs = list(periodic.jobs() if jobs is None else jobs)
        self.lease_seconds = lease_seconds
        self.lock = connection.lock(
            lock_key or LOCK_KEY.format(queue=queue_name), timeout=lease_seconds, thread_local=False
        )
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.cron: CronScheduler | None = None
        self._standing_by = False
        self._delayed = RQScheduler([queue_name], connection=connection, name=self.name)
        self._delayed.prepare_registries([queue_name])

    @property
    def is_leader(self) -> bool:
        return self.cron is not None

    def tick(self) -> bool:
        """Take or keep the lease; when leading, enqueue what is due. Returns leadership."""
        if self.cron is None:
            if not self.lock.acquire(blocking=False):
                if not self._standing_by:
                    log.info(
                        "scheduler %s: another scheduler holds the lease; standing by", self.name
                    )
                    self._standing_by = True
                return False
            self._standing_by = False
            self.cron = self._new_cron()
            log.info("scheduler %s: leading; %d periodic jobs", self.name, len(self.jobs))
        else:
            try:
                self.lock.reacquire()
            except LockError:
                log.warning("scheduler %s: lost the lease; standing by", self.name)
                self._step_down(release=False)
                return False
        if self.cron.enqueue_jobs():
            self.cron.save()
        self.cron.heartbeat()
        self._delayed.enqueue_scheduled_jobs()
        return True

    def pause(self) -> float:
        """Seconds until the next tick: soon enough to renew the lease and run what is due."""
        renew = self.lease_seconds / 3
        if self.cron is None:
            return renew
        return max(0.05, min(renew, self.cron.calculate_sleep_interval()))

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self.tick()
                stop.wait(self.pause())
        finally:
            self.resign()

    def resign(self) -> None:
        if self.cron is not None:
            self._step_down(release=True)

    def _new_cron(self) -> CronScheduler:
        cron = CronScheduler(connection=self.connection, name=self.name)
        for job in self.jobs:
            cron.register(
                job.func,
                self.queue_name,
                interval=job.every_seconds,
                cron=job.cron,
                name=job.name,
            )
        cron.register_birth()
        return cron

    def _step_down(self, *, release: bool) -> None:
        cron, self.cron = self.cron, None
        if cron is not None:
            cron.register_death()
        if release:
            with contextlib.suppress(LockError):
                self.lock.release()


def run_scheduler(app: Flask, stop: threading.Event) -> None:
    periodic.discover()
    settings = app.config["BOOKME"]
    Scheduler(app.extensions["bookme.redis"], settings.rq_queue).run(stop)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bookme.worker", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="run RQ jobs (SimpleWorker)")
    worker.add_argument("--burst", action="store_true", help="quit once the queue is empty")
    commands.add_parser("scheduler", help="enqueue periodic jobs (one leader at a time)")
    args = parser.parse_args(argv)

    app = create_worker_app()
    if args.command == "worker":
        run_worker(app, burst=args.burst)
        return 0
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> Any:
        log.info("scheduler: signal %s, stopping", signum)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stop)
    run_scheduler(app, stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
