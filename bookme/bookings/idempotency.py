"""Idempotency-Key: claim a key, then store the first answer beside the change it answers.

The claim is an INSERT committed in its own short transaction, so a concurrent duplicate sees
it at once (409 `idempotency_in_progress`). The claim holds a lease: if the process dies
mid-request, the key is free again once the lease passes and a retry runs afresh (nothing
was committed, because the answer is stored in the same transaction as the booking: a
committed booking always has its answer stored). A domain error (4xx) is stored too and
replayed; an unexpected failure releases the key so the client can retry. Keys live 24 hours.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import Response, has_request_context, request

from bookme.core import errors
from bookme.core.db import session, transactional

TTL = timedelta(hours=24)
LEASE = timedelta(seconds=60)
# Marks a replayed answer (as Stripe does): same status and body as the first, plus this.
REPLAYED_HEADER = "Idempotent-Replayed"
_RETRY = "bookme.idempotent_retry"


@dataclass(frozen=True)
class Claim:
    scope: str
    key: str
    claim: uuid.UUID


def fingerprint(operation: str, data: Any) -> bytes:
    """A stable digest of what was asked: instants in UTC, keys sorted."""
    text = json.dumps({"op": operation, "data": _canonical(data)}, sort_keys=True)
    return hashlib.sha256(text.encode()).digest()


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date | uuid.UUID | Decimal):
        return str(value)
    return value


def encode(body: dict[str, Any]) -> str:
    return json.dumps(body)


def json_response(status: int, body: dict[str, Any] | str) -> Response:
    text = body if isinstance(body, str) else encode(body)
    mimetype = errors.PROBLEM_MIMETYPE if status >= 400 else "application/json"
    return Response(text, status=status, mimetype=mimetype)


_CLAIM = sa.text(
    """
    INSERT INTO idempotency_keys AS k
           (scope, key, fingerprint, state, claim, locked_until, created_at, expires_at)
    VALUES (:scope, :key, :fingerprint, 'in_progress', :claim, :locked_until, :now, :expires_at)
    ON CONFLICT (scope, key) DO UPDATE
       SET fingerprint = EXCLUDED.fingerprint, state = 'in_progress', claim = EXCLUDED.claim,
           locked_until = EXCLUDED.locked_until, response_status = NULL, response_body = NULL,
           created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
     WHERE k.expires_at <= :now
        OR (k.state = 'in_progress' AND k.locked_until <= :now
            AND k.fingerprint = EXCLUDED.fingerprint)
    RETURNING k.claim
    """
)

_READ = sa.text(
    "SELECT fingerprint, state, response_status, response_body, expires_at"
    " FROM idempotency_keys WHERE scope = :scope AND key = :key"
)


@transactional
def _claim(*, scope: str, key: str, digest: bytes, now: datetime) -> Claim | Response:
    mine = uuid.uuid4()
    sess = session()
    got = sess.execute(
        _CLAIM,
        {
            "scope": scope,
            "key": key,
            "fingerprint": digest,
            "claim": mine,
            "locked_until": now + LEASE,
            "now": now,
            "expires_at": now + TTL,
        },
    ).scalar()
    if got == mine:
        return Claim(scope, key, mine)
    row = sess.execute(_READ, {"scope": scope, "key": key}).one()
    if bytes(row.fingerprint) != digest:
        raise errors.IdempotencyKeyReused(
            "This Idempotency-Key was used for a different request; use a new key."
        )
    if has_request_context():  # (the request's own: `g` may outlive it, as in tests)
        request.environ[_RETRY] = True
    if row.state == "in_progress":
        raise errors.IdempotencyInProgress(
            "A request with this Idempotency-Key is still being processed; retry shortly.",
            headers={"Retry-After": "1"},
        )
    replay = json_response(row.response_status, row.response_body)
    replay.headers[REPLAYED_HEADER] = "true"
    return replay


def is_retry() -> bool:
    """Whether this request repeated an Idempotency-Key already answered (a replay) or still
    being answered: it did nothing, so limits on doing things need not count it."""
    return has_request_context() and bool(request.environ.get(_RETRY))


def begin(*, scope: str, key: str, digest: bytes, now: datetime) -> Claim | Response:
    """Own the key (a Claim), or the stored first answer to replay (a Response)."""
    return _claim(scope=scope, key=key, digest=digest, now=now)


def store(claim: Claim, status: int, body: dict[str, Any] | str) -> None:
    """Record the answer inside the caller's transaction; lost the lease → in progress."""
    updated = session().execute(
        sa.text(
            "UPDATE idempotency_keys SET state = 'done', response_status = :status,"
            " response_body = :body"
            " WHERE scope = :scope AND key = :key AND claim = :claim AND state = 'in_progress'"
        ),
        {
            "status": status,
            "body": body if isinstance(body, str) else encode(body),
            "scope": claim.scope,
            "key": claim.key,
            "claim": claim.claim,
        },
    )
    if updated.rowcount != 1:  # type: ignore[attr-defined]
        raise errors.IdempotencyInProgress(
            "A request with this Idempotency-Key is being processed by another attempt."
        )


@transactional
def _store_alone(claim: Claim, status: int, body: dict[str, Any] | str) -> None:
    store(claim, status, body)


@transactional
def release(claim: Claim) -> None:
    session().execute(
        sa.text(
            "DELETE FROM idempotency_keys WHERE scope = :scope AND key = :key AND claim = :claim"
        ),
        {"scope": claim.scope, "key": claim.key, "claim": claim.claim},
    )


def run(
    *,
    scope: str,
    key: str | None,
    operation: str,
    data: Any,
    now: datetime,
    execute: Callable[[Claim | None], Response],
) -> Response:
    """Run `execute` at most once per (scope, key); `execute` calls `store` in its transaction.

    `operation` and `data` (the parsed request) make the fingerprint a reused key is checked by.
    """
    if key is None:
        return execute(None)
    digest = fingerprint(operation, data)
    claimed = begin(scope=scope, key=key, digest=digest, now=now)
    if isinstance(claimed, Response):
        return claimed
    try:
        return execute(claimed)
    except errors.BookMeError as error:
        if error.status >= 500 or isinstance(error, errors.IdempotencyInProgress):
            _release_quietly(claimed)
            raise
        rendered = errors.render(error)
        _store_alone(claimed, error.status, rendered.get_data(as_text=True))
        raise
    except BaseException:
        _release_quietly(claimed)
        raise


def _release_quietly(claim: Claim) -> None:
    try:
        release(claim)
    except sa.exc.SQLAlchemyError:  # the lease frees the key anyway
        session().rollback()


@transactional
def purge_expired(*, now: datetime) -> int:
    """Delete expired keys of the current tenant (a periodic job calls this per tenant)."""
    result = session().execute(
        sa.text("DELETE FROM idempotency_keys WHERE expires_at <= :now"), {"now": now}
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
