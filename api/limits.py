"""Rate limits with Flask-Limiter: sign-in attempts per account and per IP,
sign-up and token calls per IP, writes and expensive reads per user."""

import hashlib
import logging
from collections.abc import Callable
from datetime import timedelta

from flask import Flask, current_app, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from sqlalchemy.exc import SQLAlchemyError

from api.db import read_first, request_session
from api.openapi import document
from api.services import auth
from api.services.users import normalize_email
from models import utcnow

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# An address an account signed in from successfully within this time is "known" to it.
KNOWN_ADDRESS_FOR = timedelta(days=90)
log = logging.getLogger(__name__)

# One limiter; each app's init_app gives it that app's storage, strategy, prefix and switch
# (RATELIMIT_* in the config). When the storage (Redis) cannot be reached, each process counts
# the same limits on its own until it answers again.
limiter = Limiter(get_remote_address, in_memory_fallback_enabled=True, headers_enabled=True)


def init_app(app: Flask) -> None:
    # Flask-Limiter keeps the first app's prefix and strategy on the limiter; each app (tests
    # build many in one process) brings its own.
    limiter._key_prefix, limiter._strategy, limiter._storage_dead = "", None, False
    limiter.init_app(app)
    # Runs after Flask-Limiter's own header hook (hooks run last-registered first).
    app.after_request_funcs.setdefault(None, []).insert(0, _retry_after_only_when_refused)
    config = app.config
    if (
        config["RATELIMIT_ENABLED"]
        and config["RATELIMIT_STORAGE_URI"] == "memory://"
        and config["APP_ENV"] == "production"
    ):
        log.warning(
            "RATELIMIT_STORAGE_URI is memory://: every process and host counts on its own, "
            "so each limit is multiplied by their number; use redis://"
        )


def _retry_after_only_when_refused(response):
    """Flask-Limiter sends Retry-After with every limited response; it means "wait before
    trying again" (RFC 9110), so only a refusal (429, 503) carries it."""
    if response.status_code not in (429, 503):
        response.headers.pop("Retry-After", None)
    return response


def storage_state() -> dict:
    """Which storage counts the limits (never its address), and whether it answers."""
    if not current_app.config["RATELIMIT_ENABLED"]:
        return {"kind": "off", "shared": False, "reachable": True}
    kind = current_app.config["RATELIMIT_STORAGE_URI"].split("://", 1)[0].split("+")[0]
    try:
        reachable = bool(limiter.storage.check())
    except Exception:  # any storage backend's connection error
        reachable = False
    return {"kind": kind, "shared": kind != "memory", "reachable": reachable}


def by_ip() -> str:
    """The client's address; an IPv6 client by its /64, which one subscriber holds whole (so
    rotating addresses within it gains nothing)."""
    return "ip:" + auth.origin(get_remote_address())


def _email() -> str | None:
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    if not isinstance(email, str) or not email.strip() or "\x00" in email or len(email) > 254:
        return None  # the schema refuses it; the key must not fail first
    return normalize_email(email)


def by_account_and_origin() -> str:
    """Sign-in attempts count per account (its email hashed: the storage holds no addresses),
    in a bucket of their own for each address the account signed in from before: guessing
    from elsewhere cannot lock its owner out where they usually sign in."""
    email = _email()
    if email is None:
        return by_ip()
    key = "account:" + hashlib.sha256(email.encode()).hexdigest()
    ip = get_remote_address()
    try:
        # Read apart on SQLite: the sign-in checks its password next, with no writer's lock.
        with read_first() as db_session:
            known = auth.signed_in_from(
                db_session=db_session, email=email, ip=ip, since=utcnow() - KNOWN_ADDRESS_FOR
            )
    except SQLAlchemyError:
        # Flask-Limiter would take any error here for its storage failing: count as unknown.
        log.warning("known-address lookup failed; counting the attempt against the account")
        request_session().rollback()  # not get_session: it would commit the failed reads
        known = False
    return f"{key}:from:{auth.origin(ip)}" if known else key


def by_user() -> str:
    return f"user:{g.user_id}"


def _setting(name: str) -> Callable[[], str]:
    return lambda: current_app.config[name]


# Not shared, so that the X-RateLimit-* headers of a sign-in report this limit and never an
# account's (which would tell anyone how often an email was tried).
LOGIN_PER_IP = limiter.limit(_setting("RATELIMIT_LOGIN_IP"), key_func=by_ip)
# Every attempt counts when it arrives (counting only refusals afterwards would let
# concurrent guesses overshoot the limit).
LOGIN_PER_ACCOUNT = limiter.shared_limit(
    _setting("RATELIMIT_LOGIN"), "login-account", key_func=by_account_and_origin
)
PASSWORD_CHANGE_PER_USER = limiter.shared_limit(
    _setting("RATELIMIT_LOGIN"), "password-user", key_func=by_user
)
REFRESH_PER_IP = limiter.shared_limit(_setting("RATELIMIT_REFRESH"), "refresh-ip", key_func=by_ip)
LOGOUT_PER_IP = limiter.shared_limit(_setting("RATELIMIT_REFRESH"), "logout-ip", key_func=by_ip)
REGISTER_PER_IP = limiter.shared_limit(
    _setting("RATELIMIT_REGISTER"), "register-ip", key_func=by_ip
)
WRITES_PER_USER = limiter.shared_limit(
    _setting("RATELIMIT_WRITES"), "writes-user", key_func=by_user
)
EXPENSIVE_READS_PER_USER = limiter.shared_limit(
    _setting("RATELIMIT_EXPENSIVE_READS"), "expensive-reads-user", key_func=by_user
)


def limited(*limits: Callable) -> Callable:
    """Count every call of the view against `limits` (where it is placed among the decorators:
    above the argument parser, before the body is read; below auth, per signed-in user) and
    document the 429 and the rate-limit headers."""

    def decorator(func: Callable) -> Callable:
        for limit in reversed(limits):
            func = limit(func)
        return document(responses={429: "TOO_MANY_REQUESTS"})(func)

    return decorator
