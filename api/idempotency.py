"""Idempotency-Key on POST: a retry with the same key and body replays the first response."""

import hashlib
import hmac
from datetime import timedelta
from functools import wraps

from flask import Response, current_app, g, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from api.db import get_session
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


def _claim(key: str, request_hash: str) -> IdempotencyRecord | Response:
    """The pending record this request now owns, or the stored response to replay."""
    db_session = get_session()
    now = utcnow()
    record = db_session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.owner == _owner(), IdempotencyRecord.key == key
        )
    )
    if record is not None:
        pending_abandoned = (
            record.response_status is None and record.created_at < now - ABANDONED_AFTER
        )
        if record.expires_at > now and not pending_abandoned:
            if record.request_hash != request_hash:
                raise Invalid(
                    "This Idempotency-Key was used with another request body.",
                    errors={HEADER: ["Already used with another request body."]},
                )
            if record.response_status is None:
                raise Conflict("A request with this Idempotency-Key is still in progress.")
            return _replay(record)
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
        db_session.commit()
    except IntegrityError as exc:
        db_session.rollback()
        raise Conflict("A request with this Idempotency-Key is still in progress.") from exc
    return record


def idempotent(func):
    """Honour Idempotency-Key on a POST view (place it below the auth decorator)."""

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
        record_id = claimed.id
        db_session = get_session()
        try:
            response = current_app.make_response(func(*args, **kwargs))
        except BaseException:
            # Nothing was saved, so the client may retry (even with a corrected body).
            db_session.rollback()
            db_session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
            db_session.commit()
            raise
        record = db_session.get(IdempotencyRecord, record_id)
        record.response_status = response.status_code
        record.response_body = response.get_data(as_text=True)
        record.response_headers = {
            name: response.headers[name] for name in KEPT_HEADERS if name in response.headers
        }
        db_session.commit()
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
    )(wrapper)
