"""Bearer access tokens (JWT) and the decorator that guards views by role."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps

import jwt
from flask import current_app, g, request
from sqlalchemy import select

from api import limits
from api.db import get_session
from api.errors import AccessDenied, Unauthorized
from api.openapi import document
from api.services.auth import family_revoked
from models import User, utcnow
from models.user import ROLES

ALGORITHM = "HS256"
ISSUER = "sciatica-care"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# MethodView methods are named after their HTTP verb; these are the writes.
WRITE_VIEWS = frozenset({"post", "put", "patch", "delete"})


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
        claims = jwt.decode(
            token.strip(),
            current_app.config["SECRET_KEY"],
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub"]},
        )
        user_id = uuid.UUID(claims["sub"])
        family_id = uuid.UUID(claims["fam"]) if "fam" in claims else None
    except (jwt.PyJWTError, ValueError, TypeError, AttributeError) as exc:
        raise _invalid("The access token is invalid or expired.") from exc
    if claims.get("typ") != "access":
        raise _invalid("The access token is invalid or expired.")
    # One statement: the user, if still active and the token's refresh family not ended.
    query = select(User).where(User.id == user_id, User.deactivated_at.is_(None))
    if family_id is not None:
        query = query.where(~family_revoked(family_id))
    user = get_session().scalar(query)
    if user is None or claims.get("pwv") != password_epoch(user):
        raise _invalid("The access token is invalid or expired.")
    return user


def current_user() -> User:
    return g.current_user


def auth_required(*roles: str) -> Callable:
    """Require a valid access token, and one of `roles` when given; count writes per user."""

    def decorator(func: Callable) -> Callable:
        @wraps(func)
        def wrapper(*args, **kwargs):
            user = _user_from_request()
            if roles and user.role not in roles:
                raise AccessDenied("Your role cannot use this endpoint.")
            g.current_user = user
            get_session().info["actor"] = user
            if request.method in limits.WRITE_METHODS:
                limits.check(limits.WRITES_PER_USER)
            return func(*args, **kwargs)

        responses = {401: "UNAUTHORIZED"}
        if roles and set(roles) != set(ROLES):
            responses[403] = "FORBIDDEN"
        if func.__name__ in WRITE_VIEWS:
            responses[429] = "TOO_MANY_REQUESTS"
        return document(responses=responses, security=True)(wrapper)

    return decorator
