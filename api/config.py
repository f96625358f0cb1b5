"""Configuration, read only from environment variables (documented in .env.example)."""

import json
import os
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from limits import parse_many

import analyzer

DEV_SECRET = "development-only-secret-never-use-in-production"  # noqa: S105 - the known value production refuses
ENVIRONMENTS = ("development", "production", "testing")
RATELIMIT_STRATEGIES = ("fixed-window", "moving-window", "sliding-window-counter")
RATELIMIT_DEFAULTS = {
    # Sign-in attempts per account (per known address apart): a stepped delay.
    "RATELIMIT_LOGIN": "5/minute,20/hour,100/day",
    # Every sign-in attempt per address: high, so one clinic behind one NAT address is not
    # locked out by one person's typos.
    "RATELIMIT_LOGIN_IP": "60/minute,600/hour",
    "RATELIMIT_EXPENSIVE_READS": "30/minute,300/hour",
    "RATELIMIT_REFRESH": "30/minute,300/hour",
    "RATELIMIT_REGISTER": "5/minute,20/hour",
    "RATELIMIT_WRITES": "120/minute",
}


class ConfigError(click.ClickException, RuntimeError):
    """The environment does not describe a safe configuration. (A click exception: the
    command line says so in one line, without a traceback.)"""


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"not a boolean: {value!r}")


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _rate_limits() -> dict:
    settings = {}
    for name, default in RATELIMIT_DEFAULTS.items():
        value = os.environ.get(name, "").strip() or default
        try:
            parse_many(value)
        except ValueError as exc:
            raise ConfigError(f"{name} is not a rate limit such as '10/minute,50/hour'") from exc
        settings[name] = value
    strategy = os.environ.get("RATELIMIT_STRATEGY", "").strip() or "fixed-window"
    if strategy not in RATELIMIT_STRATEGIES:
        raise ConfigError(f"RATELIMIT_STRATEGY must be one of {', '.join(RATELIMIT_STRATEGIES)}")
    return settings | {
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "").strip() or "memory://",
        "RATELIMIT_KEY_PREFIX": os.environ.get("RATELIMIT_KEY_PREFIX", "").strip()
        or "sciatica-care",
        "RATELIMIT_STRATEGY": strategy,
    }


def _analyzer_overrides() -> dict:
    raw = os.environ.get("ANALYZER_OVERRIDES", "").strip()
    if not raw:
        return {}
    try:
        overrides = json.loads(raw)
        if not isinstance(overrides, dict):
            raise ValueError("not a JSON object")
        analyzer.AnalyzerConfig.from_mapping(overrides)
    except ValueError as exc:
        raise ConfigError(f"ANALYZER_OVERRIDES is not a valid analyzer setting: {exc}") from exc
    return overrides


def _timezone() -> str:
    name = os.environ.get("CLINIC_TIMEZONE", "").strip() or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"CLINIC_TIMEZONE must be an IANA time zone such as Europe/Paris, got {name!r}"
        ) from exc
    return name


def default_database_url(instance_path: str) -> str:
    return f"sqlite:///{Path(instance_path) / 'sciatica-care.sqlite3'}"


def _choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = os.environ.get(name, "").strip() or default
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def from_environment(instance_path: str) -> dict:
    """Build the Flask config mapping from the process environment."""
    # Unset means production: only an explicit development or testing mode may sign tokens
    # with the published development key.
    env = os.environ.get("APP_ENV", "").strip() or "production"
    if env not in ENVIRONMENTS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, got {env!r}")
    secret = os.environ.get("SECRET_KEY", "")
    if env == "production" and (not secret or secret == DEV_SECRET or len(secret) < 32):
        raise ConfigError(
            "SECRET_KEY must be set to a random value of at least 32 characters "
            "(APP_ENV is production unless set; APP_ENV=development allows a development "
            "key on a trial machine)"
        )
    lease = _int("WEBHOOKS_LEASE_SECONDS", 60)
    if lease <= 10:
        raise ConfigError(
            "WEBHOOKS_LEASE_SECONDS must be more than 10 (an attempt may take 10 s: a shorter "
            "lease lets another worker send the same delivery meanwhile)"
        )
    idempotency_ttl = _int("IDEMPOTENCY_TTL_SECONDS", 86400)
    if idempotency_ttl < 86400:
        raise ConfigError("IDEMPOTENCY_TTL_SECONDS must be at least 86400 (24 h)")
    return {
        "APP_ENV": env,
        "TESTING": env == "testing",
        "SECRET_KEY": secret or DEV_SECRET,
        "DATABASE_URL": os.environ.get("DATABASE_URL") or default_database_url(instance_path),
        "ACCESS_TOKEN_TTL": timedelta(seconds=_int("ACCESS_TOKEN_TTL_SECONDS", 900)),
        "REFRESH_TOKEN_TTL": timedelta(seconds=_int("REFRESH_TOKEN_TTL_SECONDS", 30 * 86400)),
        "REFRESH_REUSE_GRACE": timedelta(seconds=_int("REFRESH_REUSE_GRACE_SECONDS", 20)),
        "IDEMPOTENCY_TTL": timedelta(seconds=idempotency_ttl),
        # Report links open a patient's report without a bearer header: kept short on purpose.
        "REPORT_LINK_TTL": timedelta(minutes=15),
        "RATELIMIT_ENABLED": _bool(os.environ.get("RATELIMIT_ENABLED", "true")),
        **_rate_limits(),
        "ANALYZER_OVERRIDES": _analyzer_overrides(),
        # Times on the printable report and the chart (the API itself speaks UTC).
        "CLINIC_TIMEZONE": _timezone(),
        "SQLITE_BUSY_TIMEOUT_MS": _int("SQLITE_BUSY_TIMEOUT_MS", 5000),
        "TRUSTED_PROXIES": _int("TRUSTED_PROXIES", 0),
        "DB_STATEMENT_TIMEOUT_MS": _int("DB_STATEMENT_TIMEOUT_MS", 30000),
        "DB_EXPORT_TIMEOUT_MS": _int("DB_EXPORT_TIMEOUT_MS", 600000),
        "SYNC_TOMBSTONE_RETENTION_DAYS": _int("SYNC_TOMBSTONE_RETENTION_DAYS", 90),
        # Webhook targets in private, loopback or link-local ranges: refused unless allowed
        # (a clinic's own receiver on its LAN, development, tests). Plain http: not in production.
        "WEBHOOKS_ALLOW_PRIVATE": _bool(os.environ.get("WEBHOOKS_ALLOW_PRIVATE", "false")),
        "WEBHOOKS_REQUIRE_HTTPS": env == "production",
        # A worker that dies gives back the deliveries it claimed after this many seconds.
        "WEBHOOKS_LEASE_SECONDS": lease,
        # GET /metrics (Prometheus) answers only a bearer of this token; unset: 404.
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN", ""),
        # One JSON object per log line (json), or plain text (text) for a terminal.
        "LOG_FORMAT": _choice("LOG_FORMAT", ("json", "text"), "json"),
        # The served contract (/openapi.json, /openapi.yaml) and Swagger UI (/docs): on by
        # default except in production, where API_DOCS=true turns them on.
        "API_DOCS": _bool(os.environ.get("API_DOCS", "false" if env == "production" else "true")),
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "JSON_SORT_KEYS": False,
    }
