"""What an operator sees: one JSON log line per request, and GET /metrics for Prometheus.

The log line carries the request id (also sent as X-Request-ID), the route template (never
the path, which can hold a report link's token, nor the query), status, duration and the
signed-in user's id: never health values or tokens.
"""

import hmac
import logging
import sys
import time

from flask import Flask, Response, abort, current_app, g, request
from pythonjsonlogger.json import JsonFormatter

from api import errors, metrics
from api.db import get_session
from api.services import webhooks
from models import utcnow

LOGGER = "sciatica_care"
# Label values come from a fixed set: a client inventing methods must not invent series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
request_log = logging.getLogger(f"{LOGGER}.requests")


def init_app(app: Flask) -> None:
    _configure_logging(app.config["LOG_FORMAT"])
    app.before_request(_start_clock)
    # After-request hooks run last-registered first: put this one where it runs last, after
    # the request's commit (api.db.finish_request), so the duration includes it.
    app.after_request_funcs.setdefault(None, []).insert(0, _record)
    app.add_url_rule("/metrics", "metrics", _metrics, methods=["GET"])


def _configure_logging(log_format: str) -> None:
    """The project's loggers write to stderr, one line per record (once per process)."""
    logger = logging.getLogger(LOGGER)
    if any(getattr(h, "_sciatica_care", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler._sciatica_care = True  # type: ignore[attr-defined]
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "{levelname}{name}{process}{message}",
                style="{",
                timestamp=True,
                rename_fields={"levelname": "level", "name": "logger", "process": "pid"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(process)d %(name)s %(message)s")
        )
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _start_clock() -> None:
    g.started = time.perf_counter()


def _record(response: Response) -> Response:
    started = g.get("started")
    if started is None:
        return response
    took = time.perf_counter() - started
    route = errors.route()
    method = request.method if request.method in METHODS else "OTHER"
    metrics.REQUESTS.labels(method, route, response.status_code).inc()
    metrics.LATENCY.labels(method, route).observe(took)
    user_id = g.get("user_id")
    request_log.info(
        "%s %s %s",
        method,
        route,
        response.status_code,
        extra={
            "request_id": g.get("request_id"),
            "method": method,
            "route": route,
            "status": response.status_code,
            "duration_ms": round(took * 1000, 1),
            "user_id": str(user_id) if user_id is not None else None,
        },
    )
    return response


def _metrics() -> Response:
    """Prometheus text format, for the bearer of METRICS_TOKEN only (unset: not served)."""
    token = current_app.config["METRICS_TOKEN"]
    if not token:
        abort(404)
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return Response("metrics need the configured bearer token\n", 401, mimetype="text/plain")
    db_session = get_session()
    body = metrics.exposition(
        webhooks.backlog(db_session), webhooks.deliveries_by_status(db_session), utcnow()
    )
    return Response(body, mimetype="text/plain", content_type="text/plain; version=0.0.4")
