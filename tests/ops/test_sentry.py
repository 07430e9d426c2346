"""With SENTRY_DSN set, unhandled errors in web requests and RQ jobs reach Sentry: here a local
HTTP server stands in for Sentry and receives the SDK's real envelopes."""

from __future__ import annotations

import gzip
import json
import subprocess
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import SERVICES
from tests.ops.conftest import PYTHON, REPO, bare_env


class _Collector(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.received.append({"path": self.path, "body": body})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def fake_sentry() -> Iterator[tuple[str, list[dict]]]:
    received: list[dict] = []
    handler = type("Collector", (_Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://publickey@127.0.0.1:{server.server_port}/42", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _events(received: list[dict]) -> list[dict]:
    """The event items of every envelope (header line, then item header/payload pairs)."""
    events = []
    for envelope in received:
        lines = envelope["body"].split(b"\n")
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                events.append(json.loads(payload))
    return events


def _exception_messages(event: dict) -> list[str]:
    return [value.get("value", "") for value in event.get("exception", {}).get("values", [])]


def test_unhandled_web_and_job_errors_are_reported_to_sentry(fake_sentry, redis_client):
    dsn, received = fake_sentry
    queue = f"test-sentry-{uuid.uuid4().hex[:8]}"
    probe = subprocess.run(
        [PYTHON, "-m", "tests.ops.sentry_probe"],
        check=False,
        cwd=REPO,
        env=bare_env(
            SENTRY_DSN=dsn,
            DATABASE_URL=SERVICES.database_url,
            REDIS_URL=SERVICES.redis_url,
            BOOKME_RQ_QUEUE=queue,
            BOOKME_LOG_JSON="0",
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    for key in redis_client.scan_iter(f"*{queue}*"):
        redis_client.delete(key)
    assert probe.returncode == 0, probe.stderr[-3000:]
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    assert {"flask", "rq", "sqlalchemy"} <= set(result["integrations"])
    assert result["status"] == 500
    assert result["tenant_status"] == 404  # not a 500 from a statement listener

    assert {envelope["path"] for envelope in received} == {"/api/42/envelope/"}
    events = _events(received)
    web = [e for e in events if "boom from a web request" in _exception_messages(e)]
    job = [e for e in events if "boom from an RQ job" in _exception_messages(e)]
    assert len(web) == 1 and len(job) == 1, [_exception_messages(e) for e in events]
    # The Flask integration attached the request; the RQ integration, the job.
    assert web[0]["request"]["url"].endswith("/probe/boom")
    assert web[0]["environment"] == "development"
    assert job[0]["extra"]["rq-job"]["func"] == "tests.ops.jobs.explode"
