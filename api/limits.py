"""Rate limits with Flask-Limiter: sign-in failures per account, sign-in attempts per IP,
sign-up and token calls per IP, writes and expensive reads per user."""

import hashlib
import logging
from collections.abc import Callable
from datetime import timedelta

from flask import Flask, current_app, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from api.db import get_session
from api.openapi import document
from api.services import auth
from api.services.users import normalize_email
from models import utcnow

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# An address an account signed in from successfully within this time is "known" to it.
KNOWN_ADDRESS_FOR = timedelta(days=90)
RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
log = logging.getLogger(__name__)

# One limiter; each app's init_app gives it that app's storage, strategy, prefix and switch
# (RATELIMIT_* in the config). When the storage (Redis) cannot be reached, each process counts
# the same limits on its own until it answers again.
limiter = Limiter(get_remote_address, in_memory_fallback_enabled=True, headers_enabled=True)


def init_app(app: Flask) -> None:
    # Flask-Limiter keeps the first app's prefix and strategy on the limiter; each app (tests
    # build many in one process) brings its own.
    limiter._key_prefix, limiter._strategy = "", None
    limiter.init_app(app)
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
    return "ip:" + get_remote_address()


def _email() -> str | None:
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    return normalize_email(email) if isinstance(email, str) and email.strip() else None


def by_account_and_origin() -> str:
    """Sign-in failures count per account (its email hashed: the storage holds no addresses),
    in a bucket of their own for each address the account signed in from before: guessing
    from elsewhere cannot lock its owner out where they usually sign in."""
    email = _email()
    if email is None:
        return by_ip()
    key = "account:" + hashlib.sha256(email.encode()).hexdigest()
    ip = get_remote_address()
    known = auth.signed_in_from(
        db_session=get_session(), email=email, ip=ip, since=utcnow() - KNOWN_ADDRESS_FOR
    )
    return f"{key}:from:{ip}" if known else key


def by_user() -> str:
    return f"user:{g.current_user.id}"


def _setting(name: str) -> Callable[[], str]:
    return lambda: current_app.config[name]


def _refused_sign_in(response) -> bool:
    return response.status_code == 401


LOGIN_PER_IP = limiter.shared_limit(_setting("RATELIMIT_LOGIN_IP"), "login-ip", key_func=by_ip)
LOGIN_FAILURES_PER_ACCOUNT = limiter.shared_limit(
    _setting("RATELIMIT_LOGIN"),
    "login-account",
    key_func=by_account_and_origin,
    deduct_when=_refused_sign_in,
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
