"""Run by test_sentry.py in its own process (Sentry's SDK is process-global): with SENTRY_DSN
set, make one web request fail and one RQ job fail, ask for an unknown tenant (which must
still be a 404), then flush what the SDK sends."""

from __future__ import annotations

import json
import os

import sentry_sdk
from rq import Queue

from bookme.worker import create_worker_app, run_worker
from tests.ops import jobs


def main() -> None:
    app = create_worker_app()
    client = sentry_sdk.get_client()
    integrations = sorted(getattr(client, "integrations", {}))

    @app.route("/probe/boom")
    def boom() -> str:
        raise RuntimeError("boom from a web request")

    response = app.test_client().get("/probe/boom")
    # A request that resolves a tenant runs statements straight through the driver
    # (`core.db.driver_rows`), under Sentry's SQLAlchemy integration's listeners.
    unknown = app.test_client().get(
        "/api/v1/public/availability", headers={"X-Tenant": "no-such-salon"}
    )

    queue = Queue(os.environ["BOOKME_RQ_QUEUE"], connection=app.extensions["bookme.redis"])
    queue.enqueue(jobs.explode, "boom from an RQ job")
    run_worker(app, burst=True)

    sentry_sdk.flush(timeout=10)
    print(
        json.dumps(
            {
                "integrations": integrations,
                "status": response.status_code,
                "tenant_status": unknown.status_code,
            }
        )
    )


if __name__ == "__main__":
    main()
