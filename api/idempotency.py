"""Idempotency-Key on POST: a retry with the same key and body replays the first response."""

import hashlib
import hmac
import json
import re
import uuid
from datetime import timedelta
from functools import wraps

from flask import Response, current_app, g, request
from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.db import get_session, read_first, transactional
from api.errors import Conflict, Invalid, NotFound
from api.openapi import document
from api.services import access, audit
from models import IdempotencyRecord, utcnow

HEADER = "Idempotency-Key"
# What a header value can carry on every server and database alike (PostgreSQL text holds
# no NUL; gunicorn refuses control characters, a test client or another server may not).
KEY = re.compile(r"[\x20-\x7e]{1,255}")
REPLAYED_HEADER = "Idempotent-Replayed"
KEPT_HEADERS = ("Content-Type", "Location", "ETag")
# The audit's resource type of a replayed response, by the path's first segment under /v1.
RESOURCE_TYPES = {
    "sessions": "session",
    "checkins": "checkin",
    "alerts": "alert",
    "care-links": "care_link",
}
# A pending record older than this belongs to a request that died; a retry may take over.
ABANDONED_AFTER = timedelta(seconds=60)


def _request_hash(body: bytes | None = None) -> str:
    # Keyed: a body can hold a password (registration), so a plain hash would be crackable.
    digest = hmac.new(current_app.config["SECRET_KEY"].encode(), digestmod=hashlib.sha256)
    digest.update(f"{request.method} {request.path}\n".encode())
    digest.update(_canonical_body() if body is None else body)
    return digest.hexdigest()


def _canonical_body() -> bytes:
    """The body as JSON means it (a client library that encodes a retry again may space or
    order it otherwise: the same request), or its bytes when it is not JSON."""
    raw = request.get_data(cache=True)
    try:
        parsed = json.loads(raw)
    except ValueError:
        return raw
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _owner() -> str:
    """Whose keys: a signed-in user's; for a request with no one signed in (a sign-up), the
    key and its body (people who cannot be told apart must not meet on one key; another
    body with the same key is then another request, not a 422)."""
    user_id = g.get("user_id")
    if user_id is not None:
        return f"user:{user_id}"
    return f"anonymous:{_request_hash()[:40]}"


def _replay(record: IdempotencyRecord) -> Response:
    response = Response(record.response_body or "", status=record.response_status)
    for name, value in (record.response_headers or {}).items():
        response.headers[name] = value
    response.headers[REPLAYED_HEADER] = "true"
    return response


_BY_KEY = select(IdempotencyRecord).where(
    IdempotencyRecord.owner == bindparam("owner"), IdempotencyRecord.key == bindparam("key")
)


# A plain insert of the table, built once: nothing reads the record back in this request.
_INSERT = insert(IdempotencyRecord.__table__)
_DELETE = delete(IdempotencyRecord.__table__).where(IdempotencyRecord.id == bindparam("record_id"))


def _find(key: str) -> IdempotencyRecord | None:
    return get_session().scalar(_BY_KEY, {"owner": _owner(), "key": key})


def _previous(key: str, request_hash: str) -> tuple[Response | None, IdempotencyRecord | None]:
    """The stored response to replay, or None when this request is to run, with the record
    it then replaces (expired, or abandoned: see below) if any.

    Raises 422 when the key came with another body, 409 when its record has no response
    yet (left by an earlier version that committed a claim on its own; one older than
    ABANDONED_AFTER belonged to a request that died and is taken over).
    """
    record = _find(key)
    if record is None:
        return None, None
    now = utcnow()
    abandoned = record.response_status is None and record.created_at < now - ABANDONED_AFTER
    if record.expires_at > now and not abandoned:
        return _answer(record, request_hash), None
    return None, record


def _store(
    key: str, request_hash: str, response: Response, *, replacing: IdempotencyRecord | None
) -> Response:
    """Store ``response`` under the key, in the write's own transaction, in place of the
    expired or abandoned record `replacing` (removed only now: before the view, on SQLite,
    it would take the writer's lock for the whole view, a sign-up's hashing included).

    When a concurrent request with the same key committed first (PostgreSQL's unique
    index made this insert wait for it), this request's write is rolled back and the
    first one's response is replayed: the write happens once.
    """
    db_session = get_session()
    if replacing is not None:
        # By id, whatever it matches: a concurrent request that replaced it first then meets
        # this one at the insert below, and its response is replayed.
        db_session.execute(_DELETE, {"record_id": replacing.id})
    now = utcnow()
    record = {
        "owner": _owner(),
        "key": key,
        "request_hash": request_hash,
        "created_at": now,
        "expires_at": now + current_app.config["IDEMPOTENCY_TTL"],
        "response_status": response.status_code,
        "response_body": response.get_data(as_text=True),
        "response_headers": {
            name: response.headers[name] for name in KEPT_HEADERS if name in response.headers
        },
    }
    try:
        db_session.execute(_INSERT, record)
    except IntegrityError as exc:
        db_session.rollback()
        winner = _find(key)
        if winner is None:
            raise Conflict("A request with this Idempotency-Key is still in progress.") from exc
        return _answer(winner, request_hash)
    return response


def _answer(record: IdempotencyRecord, request_hash: str) -> Response:
    # Records stored before bodies were compared as JSON hold the hash of the bytes (worked
    # out only when the first comparison fails).
    if record.request_hash != request_hash and record.request_hash != _request_hash(
        request.get_data(cache=True)
    ):
        raise Invalid(
            "This Idempotency-Key was used with another request body.",
            errors={HEADER: ["Already used with another request body."]},
        )
    if record.response_status is None:
        raise Conflict("A request with this Idempotency-Key is still in progress.")
    _authorize_replay(record)
    return _replay(record)


def _authorize_replay(record: IdempotencyRecord) -> None:
    """A replay hands out a patient's data again: the caller must still be allowed to see it
    (a therapist whose care link ended gets the 404 of an unknown record), and a replay of
    someone else's data is audited like a read of it."""
    user = g.get("current_user")
    patient_id = _patient_of(record)
    if user is None or patient_id is None or patient_id == user.id:
        return
    db_session = get_session()
    if not access.can_access_patient(db_session=db_session, user=user, patient_id=patient_id):
        raise NotFound("No such record.")
    body = _json(record.response_body)
    audit.record_read(
        db_session,
        user=user,
        resource_type=RESOURCE_TYPES.get(request.path.split("/")[2], "record"),
        resource_id=body.get("id"),
        patient_id=patient_id,
    )


def _patient_of(record: IdempotencyRecord) -> uuid.UUID | None:
    """The patient a stored response is about: named in it, or in the (identical) request."""
    for source in (_json(record.response_body), _json(request.get_data(as_text=True))):
        try:
            return uuid.UUID(str(source["patient_id"]))
        except (KeyError, ValueError):
            continue
    return None


def _json(text: str | None) -> dict:
    try:
        value = json.loads(text or "")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def idempotent(func):
    """Honour Idempotency-Key on a POST view (place it below the auth and arguments
    decorators: the body is checked before the transaction begins, and on SQLite before the
    writer's lock is taken).

    The view runs inside the request's one transaction (api.db.transactional): the write
    and its stored response are committed together, so a crash at any point leaves either
    both or neither, and a retry either replays or runs the write once. The stored
    response is looked up before that transaction (on SQLite in a read of its own, so a
    replay takes no writer's lock); a concurrent retry that found none yet meets the first
    request's key when it stores its own (SQLite's writer lock, PostgreSQL's unique index
    make it wait for that commit), is rolled back and replays the first.
    """

    @wraps(func)
    def wrapper(*args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return func(*args, **kwargs)
        if not KEY.fullmatch(key):
            raise Invalid(
                "Idempotency-Key must be 1 to 255 printable ASCII characters.",
                errors={HEADER: ["Must be 1 to 255 printable ASCII characters."]},
            )
        request_hash = _request_hash()
        # Looked up before the write: on SQLite a replay takes no writer's lock at all. A
        # concurrent first request committing meanwhile is met by _store's unique key.
        with read_first():
            previous, replaced = _previous(key, request_hash)
        if previous is not None:
            return previous
        try:
            response = current_app.make_response(func(*args, **kwargs))
        except Conflict:
            # A concurrent request with this key may have committed while this one waited for
            # its lock (its client id then conflicts): answer as to a retry of it. An expired
            # or abandoned record (the one this request replaces) is no such request.
            replaced_id = replaced.id if replaced is not None else None
            get_session().rollback()
            winner = _find(key)
            if winner is None or winner.id == replaced_id:
                raise
            return _answer(winner, request_hash)
        if response.status_code >= 400:
            return response  # rolled back: the client may retry
        return _store(key, request_hash, response, replacing=replaced)

    return document(
        headers=[
            {
                "name": HEADER,
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 255,
                    "pattern": "^[\\x20-\\x7e]*$",
                },
                "description": "Makes a retry safe: the same key and body replay the first "
                "response; the same key with another body gets 422.",
            }
        ],
        responses={409: "CONFLICT"},
    )(transactional(wrapper))


def purge_expired(*, db_session: Session, dry_run: bool = False) -> int:
    """Delete the stored responses past their expiry (audited with the number removed): each
    holds what it answered, a session's notes and symptoms say, which must not outlive the
    retries it is kept for (a report deleted since included). Returns how many (would) go."""
    expired = IdempotencyRecord.expires_at < utcnow()
    count = db_session.scalar(select(func.count()).select_from(IdempotencyRecord).where(expired))
    if not dry_run:
        if count:
            db_session.execute(delete(IdempotencyRecord).where(expired))
        audit.record(
            db_session,
            action="idempotency.purge",
            resource_type="idempotency_record",
            row_count=count,
        )
    return count
