"""Bearer access tokens (JWT) and the decorator that guards views by role."""

import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache, wraps
from types import MappingProxyType
from typing import Any

import jwt
from flask import current_app, g, request
from sqlalchemy import bindparam, select

from api import limits
from api.db import get_session, read_first, request_session
from api.errors import AccessDenied, Unauthorized
from api.openapi import document
from api.services import audit
from api.services.auth import family_revoked
from models import User, utcnow
from models.user import ROLES

ALGORITHM = "HS256"
ISSUER = "sciatica-care"
# App servers behind one load balancer may disagree on the time by a few seconds: a token
# issued by one whose clock runs ahead is not "issued in the future" to the others.
CLOCK_SKEW = 30
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# MethodView methods are named after their HTTP verb; these are the writes.
WRITE_VIEWS = frozenset({"post", "put", "patch", "delete"})


# Built once (each request only binds its values): the user, if still active, and for a
# token from sign-in, only while its refresh family has not ended. One statement either way.
ACTIVE_USER = select(User).where(User.id == bindparam("user_id"), User.deactivated_at.is_(None))
ACTIVE_USER_OF_LIVE_FAMILY = ACTIVE_USER.where(~family_revoked(bindparam("family_id")))


def password_epoch(user: User) -> int:
    """The user's last password change in microseconds: an access token carries the one it was
    issued under (claim `pwv`), so a change voids every earlier token, even within the second
    (`iat` has whole seconds only)."""
    return (user.password_changed_at - EPOCH) // timedelta(microseconds=1)


def issue_access_token(
    user: User, *, family_id: uuid.UUID | None, now: datetime | None = None
) -> tuple[str, int]:
    """A signed access token for the user and its lifetime in seconds. Tokens from sign-in and
    refresh name their refresh family (claim `fam`) and die with it; only tools such as the
    tests and benchmarks issue tokens outside a family."""
    now = now or utcnow()
    ttl: timedelta = current_app.config["ACCESS_TOKEN_TTL"]
    claims = {
        "sub": str(user.id),
        "role": user.role,
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "jti": uuid.uuid4().hex,
        "typ": "access",
        "pwv": password_epoch(user),
    }
    if family_id is not None:
        claims["fam"] = family_id.hex
    token = jwt.encode(claims, current_app.config["SECRET_KEY"], algorithm=ALGORITHM)
    return token, int(ttl.total_seconds())


def _invalid(detail: str) -> Unauthorized:
    challenge = 'Bearer realm="sciatica-care"'
    if request.headers.get("Authorization"):
        challenge += ', error="invalid_token"'
    return Unauthorized(detail, headers={"WWW-Authenticate": challenge})


def _user_from_request() -> User:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _invalid("A bearer access token is required.")
    try:
        claims = _verified_claims(token.strip(), current_app.config["SECRET_KEY"])
        if int(claims["exp"]) <= time.time():
            raise jwt.ExpiredSignatureError("Signature has expired")
        user_id = uuid.UUID(claims["sub"])
        family_id = uuid.UUID(claims["fam"]) if "fam" in claims else None
    except (jwt.PyJWTError, ValueError, TypeError, AttributeError) as exc:
        raise _invalid("The access token is invalid or expired.") from exc
    if claims.get("typ") != "access":
        raise _invalid("The access token is invalid or expired.")
    user = _active_user(user_id, family_id)
    if user is None or claims.get("pwv") != password_epoch(user):
        raise _invalid("The access token is invalid or expired.")
    g.token_family = family_id
    return user


@lru_cache(maxsize=1024)
def _verified_claims(token: str, secret: str) -> Mapping[str, Any]:
    """The claims of an access token whose signature, issuer and claims PyJWT checked, kept
    (read only) for the next request with the same token: its checks cost a twentieth of a
    signed-in read. A token PyJWT refuses is never kept. Of its checks that depend on the
    time, expiry is made again on every use (_user_from_request); issued-at and not-before
    only say "not in the future", which stays true once true."""
    return MappingProxyType(
        jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub"]},
            leeway=CLOCK_SKEW,  # for "issued in the future"; expiry is checked without it
        )
    )


def _active_user(user_id: uuid.UUID, family_id: uuid.UUID | None) -> User | None:
    with read_first() as db_session:
        if family_id is None:
            return db_session.scalar(ACTIVE_USER, {"user_id": user_id})
        return db_session.scalar(
            ACTIVE_USER_OF_LIVE_FAMILY, {"user_id": user_id, "family_id": family_id}
        )


def issue_report_link(user: User, *, patient_id: uuid.UUID, now: datetime | None = None):
    """A token that opens one patient's report (page, chart, PDF) for REPORT_LINK_TTL, for
    the signed-in user, and dies with their sign-in (logout, password change, deactivation).
    It is refused everywhere a bearer token is asked for: it only reads that report."""
    now = now or utcnow()
    expires = now + current_app.config["REPORT_LINK_TTL"]
    claims = {
        "sub": str(user.id),
        "pid": str(patient_id),
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": uuid.uuid4().hex,
        "typ": "report_link",
        "pwv": password_epoch(user),
    }
    family_id = g.get("token_family")
    if family_id is not None:
        claims["fam"] = family_id.hex
    token = jwt.encode(claims, current_app.config["SECRET_KEY"], algorithm=ALGORITHM)
    return token, datetime.fromtimestamp(claims["exp"], UTC)


def _report_link_user(token: str, patient_id: uuid.UUID) -> User:
    refused = Unauthorized(
        "This report link is invalid, expired or revoked: ask for a new one.",
        # RFC 9110: a 401 names how to authenticate; the link's token is a bearer of sorts.
        headers={"WWW-Authenticate": 'Bearer realm="sciatica-care", error="invalid_token"'},
    )
    try:
        claims = jwt.decode(
            token,
            current_app.config["SECRET_KEY"],
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "pid"]},
            leeway=CLOCK_SKEW,
        )
        if int(claims["exp"]) <= time.time():  # without the leeway: 15 minutes are 15
            raise jwt.ExpiredSignatureError("Signature has expired")
        user_id, linked = uuid.UUID(claims["sub"]), uuid.UUID(claims["pid"])
        family_id = uuid.UUID(claims["fam"]) if "fam" in claims else None
    except (jwt.PyJWTError, ValueError, TypeError, AttributeError) as exc:
        raise refused from exc
    if claims.get("typ") != "report_link" or linked != patient_id:
        raise refused
    user = _active_user(user_id, family_id)
    if user is None or claims.get("pwv") != password_epoch(user):
        raise refused
    return user


def report_link_required(func: Callable) -> Callable:
    """The view reads one patient's report for the holder of a report link (`token` in the
    path) instead of a bearer token; access to the patient is checked again by the view."""

    @wraps(func)
    def wrapper(*args, token: str, patient_id: uuid.UUID, **kwargs):
        user = _report_link_user(token, patient_id)
        _sign_in(user)
        resource = request.path.rsplit("/", 1)[-1]
        audit.record_link_use(get_session(), user=user, patient_id=patient_id, resource=resource)
        return func(*args, patient_id=patient_id, **kwargs)

    return document(responses={401: "UNAUTHORIZED"})(wrapper)


def current_user() -> User:
    return g.current_user


def _sign_in(user: User) -> None:
    """The request acts as `user`. Its id is kept apart: a rollback expires the user, and
    what reads the id after one (the log line, a stored response's owner) must not load it
    again."""
    g.current_user = user
    g.user_id = user.id
    request_session().info["actor"] = user


def auth_required(*roles: str) -> Callable:
    """Require a valid access token, and one of `roles` when given; count writes per user."""

    def decorator(func: Callable) -> Callable:
        # Writes count against the user's one budget, checked once the user is known.
        view = limits.WRITES_PER_USER(func) if func.__name__ in WRITE_VIEWS else func

        @wraps(func)
        def wrapper(*args, **kwargs):
            user = _user_from_request()
            if roles and user.role not in roles:
                raise AccessDenied("Your role cannot use this endpoint.")
            _sign_in(user)
            return view(*args, **kwargs)

        responses = {401: "UNAUTHORIZED"}
        if roles and set(roles) != set(ROLES):
            responses[403] = "FORBIDDEN"
        if func.__name__ in WRITE_VIEWS:
            responses[429] = "TOO_MANY_REQUESTS"
        return document(responses=responses, security=True)(wrapper)

    return decorator
