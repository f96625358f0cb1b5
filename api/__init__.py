"""The Flask application factory: `gunicorn "api:create_app()"`, `flask --app api ...`."""

import os
import re
import uuid

from flask import Flask, g, request
from flask.sessions import NullSession, SessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from api import bodies, cli, db, errors, limits, observability, openapi
from api.config import from_environment
from api.openapi import Api
from api.resources import (
    alerts,
    audit,
    auth,
    care_links,
    checkins,
    exports,
    fhir,
    health,
    patients,
    screenings,
    sessions,
    sync,
    users,
    webhooks,
)
from api.schemas.webhooks import WebhookEvent

BLUEPRINTS = (
    health.blp,
    auth.blp,
    users.blp,
    care_links.blp,
    sessions.blp,
    checkins.blp,
    webhooks.blp,
    alerts.blp,
    screenings.blp,
    audit.blp,
    patients.blp,
    exports.blp,
    fhir.blp,
    sync.blp,
)
JSON_BODY_METHODS = ("POST", "PUT", "PATCH")
FRAME_ANCESTORS = "frame-ancestors 'none'"
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class _NoSession(NullSession):
    """``flask.session`` here: empty, and writing to it says why."""

    def _refuse(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("This API keeps no cookie session: every request carries its own token.")

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _refuse


class _NoCookieSession(SessionInterface):
    """Flask's signed-cookie session is never opened: every request carries its own bearer
    token (or a report link), so no state rides on cookies, and ``flask.session`` is an
    empty session that refuses writes. Opening the cookie session built a signing
    serializer for every request: 4-6 % of a single read's CPU."""

    null_session_class = _NoSession

    def open_session(self, app, request):  # type: ignore[no-untyped-def]
        return None  # Flask then uses make_null_session

    def save_session(self, app, session, response) -> None:  # type: ignore[no-untyped-def]
        return None


class _App(Flask):
    def log_exception(self, exc_info) -> None:  # type: ignore[no-untyped-def]
        errors.log_exception(self, exc_info)


def create_app(test_config: dict | None = None) -> Flask:
    app = _App(__name__, instance_relative_config=True)
    app.session_interface = _NoCookieSession()
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(from_environment(app.instance_path))
    app.config.update(
        API_TITLE="Sciatica care API",
        API_VERSION="1.0.0",
        OPENAPI_VERSION="3.0.3",
        API_SPEC_OPTIONS={
            "info": {
                "description": "Records massage sessions and check-ins of people with "
                "sciatica, watches them for aggravation warning signs and shares them with "
                "the therapists the patient links. It gives no diagnosis.",
                "contact": {"name": "Sciatica care maintainers"},
                "license": {"name": "Proprietary: all rights reserved"},
            },
            "servers": [
                {"url": "/", "description": "This server (for the docs' Try it out)"},
                {"url": "http://127.0.0.1:8000", "description": "Local server (scripts/demo)"},
            ],
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                }
            },
        },
    )
    if test_config:
        app.config.update(test_config)
    app.config.update(openapi.docs_config(app.config["API_DOCS"]))
    if app.config["TRUSTED_PROXIES"]:
        # Behind N proxies, the client address (rate limits, audit) is in X-Forwarded-For.
        proxies = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    db.init_app(app)
    api = Api(app)
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    # The body of every webhook delivery (OpenAPI 3.0 has no `webhooks` section).
    api.spec.components.schema("WebhookEvent", schema=WebhookEvent)
    openapi.init_docs(app, api)
    errors.init_app(app)
    limits.init_app(app)
    cli.init_app(app)
    app.before_request(_assign_request_id)
    observability.init_app(app)
    app.before_request(_require_json_body)
    app.after_request(_common_headers)
    return app


def _require_json_body() -> None:
    # Every POST and PATCH here takes a JSON body: a missing or foreign one is refused early.
    if request.routing_exception is not None:
        return  # 404 and 405 answer first
    if request.method in JSON_BODY_METHODS:
        if not request.is_json:
            raise errors.UnsupportedMediaType("Send the body as application/json.")
        bodies.check(request.get_data(cache=True))


def _assign_request_id() -> None:
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def _common_headers(response):
    response.headers["X-Request-ID"] = g.get("request_id", "")
    if response.status_code in (204, 304):
        response.headers.pop("Content-Type", None)  # no body: no type (RFC 9110)
    if request.path.startswith("/v1/"):
        response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.is_secure:  # HTTPS, directly or through TRUSTED_PROXIES (X-Forwarded-Proto)
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if response.mimetype in ("text/html", "image/svg+xml"):
        # No page of ours is meant to be framed (clickjacking); views add their own policy.
        response.headers.setdefault("Content-Security-Policy", FRAME_ANCESTORS)
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response
