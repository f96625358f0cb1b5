"""Domain errors and their one mapping to RFC 9457 problem+json responses."""

import logging

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException, InternalServerError

PROBLEM_TYPE_BASE = "urn:sciatica-care:problem:"
log = logging.getLogger(__name__)


class DomainError(Exception):
    """An outcome a service reports to its caller; mapped to HTTP in one place."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, *, errors: dict | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


class UnsupportedMediaType(DomainError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class NotFound(DomainError):
    status, slug, title = 404, "not-found", "Not found"


class AccessDenied(DomainError):
    status, slug, title = 403, "forbidden", "Forbidden"


class Unauthorized(DomainError):
    status, slug, title = 401, "unauthorized", "Unauthorized"


class Conflict(DomainError):
    status, slug, title = 409, "conflict", "Conflict"


class StalePrecondition(DomainError):
    status, slug, title = 412, "precondition-failed", "Precondition failed"


class Invalid(DomainError):
    status, slug, title = 422, "validation-error", "Validation error"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str | None = None,
    errors: dict | None = None,
    headers: dict | None = None,
) -> Response:
    body = {
        "type": PROBLEM_TYPE_BASE + (slug or title.lower().replace(" ", "-")),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    resp = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    resp.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def _flatten_webargs(messages: dict) -> dict:
    """webargs nests errors by location ({"json": {...}}); clients want field -> messages."""
    flat: dict = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            flat.update(fields)
        else:
            flat[location] = fields
    return flat


def handle_http_exception(error: HTTPException) -> Response:
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or data.get("messages")
    if errors and isinstance(errors, dict):
        errors = _flatten_webargs(errors)
    status = error.code or 500
    detail = data.get("message") or error.description or error.name
    if status == 422 and errors:
        detail = "The request has invalid fields; see errors."
    headers = dict(data.get("headers") or {})
    if status == 405 and error.get_response().headers.get("Allow"):
        headers["Allow"] = error.get_response().headers["Allow"]
    return problem(
        status,
        error.name,
        str(detail),
        errors=errors if isinstance(errors, dict) else None,
        headers=headers,
    )


def handle_domain_error(error: DomainError) -> Response:
    return problem(
        error.status,
        error.title,
        error.detail,
        slug=error.slug,
        errors=error.errors,
        headers=error.headers,
    )


def handle_unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    log.exception("unhandled error on %s %s", request.method, request.path)
    return handle_http_exception(InternalServerError())


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(Exception, handle_unexpected)
