"""Rate limits: sign-in per account and per IP, sign-up and token calls per IP, writes per user."""

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from flask import Flask, current_app, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import STRATEGIES, RateLimiter

from api.errors import DomainError
from api.openapi import document
from api.services.users import normalize_email

EXTENSION = "rate_limits"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
log = logging.getLogger(__name__)


class RateLimited(DomainError):
    status = 429


def by_ip() -> str:
    return "ip:" + get_remote_address()


def by_account() -> str:
    """The sign-in's normalised email, hashed so that the limit storage holds no addresses."""
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    if not isinstance(email, str) or not email.strip():
        return by_ip()
    return "account:" + hashlib.sha256(normalize_email(email).encode()).hexdigest()


def by_user() -> str:
    return f"user:{g.current_user.id}"


@dataclass(frozen=True)
class Rule:
    """The limits in config[`setting`] ("10/minute;50/hour"), counted per `key()` in `scope`."""

    setting: str
    scope: str
    key: Callable[[], str]


LOGIN_PER_IP = Rule("RATELIMIT_LOGIN", "login-ip", by_ip)
LOGIN_PER_ACCOUNT = Rule("RATELIMIT_LOGIN", "login-account", by_account)
PASSWORD_CHANGE_PER_USER = Rule("RATELIMIT_LOGIN", "password-user", by_user)
REFRESH_PER_IP = Rule("RATELIMIT_REFRESH", "refresh-ip", by_ip)
LOGOUT_PER_IP = Rule("RATELIMIT_REFRESH", "logout-ip", by_ip)
REGISTER_PER_IP = Rule("RATELIMIT_REGISTER", "register-ip", by_ip)
WRITES_PER_USER = Rule("RATELIMIT_WRITES", "writes-user", by_user)


@dataclass(frozen=True)
class _Counters:
    limiter: Limiter
    # Counts in this process alone while the shared storage (Redis) is unreachable.
    fallback: RateLimiter


def init_app(app: Flask) -> None:
    """One limiter per app, so that apps with different storages can live in one process."""
    # Reads RATELIMIT_ENABLED, _STORAGE_URI, _STRATEGY and _KEY_PREFIX from app.config.
    limiter = Limiter(get_remote_address, app=app)
    fallback = STRATEGIES[app.config["RATELIMIT_STRATEGY"]](MemoryStorage())
    app.extensions[EXTENSION] = _Counters(limiter=limiter, fallback=fallback)


def _retry_after(strategy: RateLimiter, item: RateLimitItem, identifiers: tuple) -> int | None:
    """Count one hit; None when it was within the limit, else seconds until one is free."""
    if strategy.hit(item, *identifiers):
        return None
    reset_at = strategy.get_window_stats(item, *identifiers).reset_time
    return max(1, math.ceil(reset_at - time.time()))


def _count(counters: _Counters, item: RateLimitItem, identifiers: tuple) -> int | None:
    try:
        return _retry_after(counters.limiter.limiter, item, identifiers)
    except Exception as exc:  # any storage backend's connection error
        log.warning("rate limit storage unavailable, counting in this process: %s", exc)
        return _retry_after(counters.fallback, item, identifiers)


def check(*rules: Rule) -> None:
    """Count this request against each rule; RateLimited (429, Retry-After) once one is spent."""
    config = current_app.config
    if not config["RATELIMIT_ENABLED"]:
        return
    counters: _Counters = current_app.extensions[EXTENSION]
    for rule in rules:
        identifiers = (config["RATELIMIT_KEY_PREFIX"], rule.scope, rule.key())
        for item in sorted(parse_many(config[rule.setting])):
            retry_after = _count(counters, item, identifiers)
            if retry_after is not None:
                raise RateLimited(
                    f"Too many requests ({item}); try again in {retry_after} s.",
                    headers={"Retry-After": str(retry_after)},
                )


def limited(*rules: Rule) -> Callable:
    """Count every call of the view against `rules` before it parses or touches anything."""

    def decorator(func: Callable) -> Callable:
        @wraps(func)
        def wrapper(*args, **kwargs):
            check(*rules)
            return func(*args, **kwargs)

        return document(responses={429: "TOO_MANY_REQUESTS"})(wrapper)

    return decorator
