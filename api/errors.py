"""Domain errors and their one mapping to RFC 9457 problem+json responses."""

import http
import logging
import traceback

from flask import Flask, Response, g, has_request_context, json, request
from sqlalchemy.exc import DBAPIError, PendingRollbackError
from werkzeug.exceptions import HTTPException, InternalServerError

PROBLEM_TYPE_BASE = "urn:sciatica-care:problem:"
log = logging.getLogger(__name__)

# One problem type and title per kind of error, whoever raises it (a service, the
# framework, a validator): clients switch on ``type``. Kinds more specific than their
# status (an expired sync cursor, a database not ready) carry their own.
KINDS: dict[int, tuple[str, str]] = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    410: ("gone", "Gone"),
    412: ("precondition-failed", "Precondition failed"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation-error", "Validation error"),
    428: ("precondition-required", "Precondition required"),
    429: ("too-many-requests", "Too many requests"),
    500: ("internal-error", "Internal server error"),
    503: ("service-unavailable", "Service unavailable"),
}


def kind(status: int) -> tuple[str, str]:
    """The problem type slug and title of a status (its phrase, for one not listed)."""
    if status in KINDS:
        return KINDS[status]
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return phrase.lower().replace(" ", "-"), phrase.capitalize()


class DomainError(Exception):
    """An outcome a service reports to its caller; mapped to HTTP in one place."""

    status = 400
    slug, title = KINDS[400]

    def __init_subclass__(cls, **kwargs):
        # A subclass names its status; its type and title are that status's kind unless
        # it is more specific and names its own.
        super().__init_subclass__(**kwargs)
        if "slug" not in cls.__dict__:
            cls.slug, cls.title = kind(cls.status)

    def __init__(self, detail: str, *, errors: dict | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


class UnsupportedMediaType(DomainError):
    status = 415


class NotFound(DomainError):
    status = 404


class AccessDenied(DomainError):
    status = 403


class Unauthorized(DomainError):
    status = 401


class Conflict(DomainError):
    status = 409


class StalePrecondition(DomainError):
    status = 412


class Invalid(DomainError):
    status = 422


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
    if has_request_context() and g.get("request_id"):
        # The occurrence: the request id, also sent as X-Request-ID and kept in the logs.
        body["instance"] = f"urn:sciatica-care:request:{g.request_id}"
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
    if status == 429:  # Flask-Limiter's description is the limit itself ("5 per 1 minute")
        detail = (
            f"Too many requests: the limit is {error.description}; try again after the "
            "seconds the Retry-After header gives."
        )
    headers = dict(data.get("headers") or {})
    if status == 405 and error.get_response().headers.get("Allow"):
        headers["Allow"] = error.get_response().headers["Allow"]
    slug, title = kind(status)
    return problem(
        status,
        title,
        str(detail),
        slug=slug,
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


def route() -> str:
    """The request's route as logs name it: its template, never the path, which can hold a
    report link's token."""
    return request.url_rule.rule if request.url_rule is not None else "(unmatched)"


def log_exception(app: Flask, exc_info) -> None:  # type: ignore[no-untyped-def]
    """Flask's "Exception on <path>" line (an error at commit, after the view), by route."""
    app.logger.error("Exception on %s [%s]", route(), request.method, exc_info=exc_info)


def handle_unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    log.exception("unhandled error on %s %s", request.method, route())
    return handle_http_exception(InternalServerError())


class RedactDatabaseErrors(logging.Filter):
    """A database error's message can quote the row ("Failing row contains (...)"), and so
    health values: its log line keeps what failed and where (driver error, SQLSTATE, request,
    stack), never the message. Bound parameters are hidden by the engine already."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        database = _database_error_in(error)
        if database is not None:
            orig = getattr(database, "orig", None)
            sqlstate = getattr(orig, "sqlstate", None) or "-"
            request_id = g.get("request_id", "-") if has_request_context() else "-"
            record.msg = (
                f"{record.getMessage()}: {type(error).__name__} from database error "
                f"{type(orig or database).__name__} (SQLSTATE {sqlstate}), request {request_id}\n"
                + "".join(traceback.format_tb(error.__traceback__)).rstrip()
            )
            record.args, record.exc_info, record.exc_text = (), None, None
        return True


def _database_error_in(error: BaseException | None) -> BaseException | None:
    """The database error anywhere in the chain (a PendingRollbackError quotes the original
    error's message too), or None."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, DBAPIError | PendingRollbackError):
            return error
        error = error.__cause__ or error.__context__
    return None


REDACT = RedactDatabaseErrors()


def init_app(app: Flask) -> None:
    app.logger.addFilter(REDACT)  # Flask's own "Exception on ..." line (errors at commit)
    log.addFilter(REDACT)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(Exception, handle_unexpected)
