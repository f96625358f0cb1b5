"""Idempotency-Key on POST: a retry with the same key and body replays the first response."""

import hashlib
import hmac
from datetime import timedelta
from functools import wraps

from flask import Response, current_app, g, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.db import get_session, transactional
from api.errors import Conflict, Invalid
from api.openapi import document
from models import IdempotencyRecord, utcnow

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEPT_HEADERS = ("Content-Type", "Location", "ETag")
# A pending record older than this belongs to a request that died; a retry may take over.
ABANDONED_AFTER = timedelta(seconds=60)


def _request_hash() -> str:
    # Keyed: a body can hold a password (registration), so a plain hash would be crackable.
    digest = hmac.new(current_app.config["SECRET_KEY"].encode(), digestmod=hashlib.sha256)
    digest.update(f"{request.method} {request.path}\n".encode())
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _owner() -> str:
    user = g.get("current_user")
    return f"user:{user.id}" if user is not None else "anonymous"


def _replay(record: IdempotencyRecord) -> Response:
    response = Response(record.response_body or "", status=record.response_status)
    for name, value in (record.response_headers or {}).items():
        response.headers[name] = value
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _find(key: str) -> IdempotencyRecord | None:
    return get_session().scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.owner == _owner(), IdempotencyRecord.key == key
        )
    )


def _claim(key: str, request_hash: str) -> IdempotencyRecord | Response:
    """The record this request now owns (uncommitted), or the stored response to replay.

    The claim is part of the request's one transaction (api.db.transactional): it is
    committed together with the write and its response, or not at all. A concurrent
    request with the same key waits for that transaction (SQLite's writer lock, or
    PostgreSQL's unique index) and then replays its response, or gets 409.
    """
    db_session = get_session()
    now = utcnow()
    record = _find(key)
    if record is not None:
        # A record without a response was left by an earlier version that committed the
        # claim on its own; one older than ABANDONED_AFTER belongs to a request that died.
        pending_abandoned = (
            record.response_status is None and record.created_at < now - ABANDONED_AFTER
        )
        if record.expires_at > now and not pending_abandoned:
            return _answer(record, request_hash)
        db_session.delete(record)
        db_session.flush()
    record = IdempotencyRecord(
        owner=_owner(),
        key=key,
        request_hash=request_hash,
        created_at=now,
        expires_at=now + current_app.config["IDEMPOTENCY_TTL"],
    )
    db_session.add(record)
    try:
        db_session.flush()
    except IntegrityError as exc:
        # Another request with this key committed first (PostgreSQL waited for it).
        db_session.rollback()
        winner = _find(key)
        if winner is None:
            raise Conflict("A request with this Idempotency-Key is still in progress.") from exc
        return _answer(winner, request_hash)
    return record


def _answer(record: IdempotencyRecord, request_hash: str) -> Response:
    if record.request_hash != request_hash:
        raise Invalid(
            "This Idempotency-Key was used with another request body.",
            errors={HEADER: ["Already used with another request body."]},
        )
    if record.response_status is None:
        raise Conflict("A request with this Idempotency-Key is still in progress.")
    return _replay(record)


def idempotent(func):
    """Honour Idempotency-Key on a POST view (place it below the auth decorator).

    The view runs inside the request's one transaction (api.db.transactional): the key,
    the write and the stored response are committed together, so a crash at any point
    leaves either all of them or none, and a retry either replays or runs the write once.
    """

    @wraps(func)
    def wrapper(*args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return func(*args, **kwargs)
        if not 1 <= len(key) <= 255:
            raise Invalid(
                "Idempotency-Key must be 1 to 255 characters.",
                errors={HEADER: ["Must be 1 to 255 characters."]},
            )
        claimed = _claim(key, _request_hash())
        if isinstance(claimed, Response):
            return claimed
        response = current_app.make_response(func(*args, **kwargs))
        if response.status_code >= 400:
            return response  # rolled back with the claim: the client may retry
        claimed.response_status = response.status_code
        claimed.response_body = response.get_data(as_text=True)
        claimed.response_headers = {
            name: response.headers[name] for name in KEPT_HEADERS if name in response.headers
        }
        get_session().flush()
        return response

    return document(
        headers=[
            {
                "name": HEADER,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                "description": "Makes a retry safe: the same key and body replay the first "
                "response; the same key with another body gets 422.",
            }
        ],
        responses={409: "CONFLICT"},
    )(transactional(wrapper))
