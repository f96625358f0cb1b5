"""The flask-smorest Api: problem+json errors, bearer auth, operationIds and the served docs."""

import http
from copy import deepcopy
from functools import wraps

import marshmallow as ma
import swagger_ui_bundle
import yaml
from apispec import BasePlugin
from flask import Response, current_app, send_from_directory
from flask_smorest import Api as SmorestApi
from flask_smorest.spec import prepare_response

from api.schemas.common import OneOfNested

PROBLEM_CONTENT_TYPE = "application/problem+json"


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details; one ``type`` per kind of error, extension members allowed."""

    class Meta:
        unknown = ma.INCLUDE

    type = ma.fields.String(
        required=True,
        metadata={
            "description": "Problem type URI, one per kind of error "
            "(urn:sciatica-care:problem:validation-error, ...:not-found, ...)"
        },
    )
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True)
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        metadata={"description": "Field name -> messages, for validation errors"},
    )
    instance = ma.fields.String(
        metadata={"description": "This occurrence: the request id (also sent as X-Request-ID)"}
    )


# One stable, readable operationId per operation: generated clients name their methods
# after these (create_session, list_alerts, ...). A new route must be named here.
OPERATION_IDS = {
    ("get", "/healthz"): "getHealth",
    ("get", "/readyz"): "getReadiness",
    ("get", "/v1/alerts"): "listAlerts",
    ("get", "/v1/alerts/{alert_id}"): "getAlert",
    ("post", "/v1/alerts/{alert_id}/acknowledge"): "acknowledgeAlert",
    ("post", "/v1/alerts/{alert_id}/resolve"): "resolveAlert",
    ("get", "/v1/audit-events"): "listAuditEvents",
    ("post", "/v1/auth/logout"): "logout",
    ("post", "/v1/auth/refresh"): "refreshToken",
    ("post", "/v1/auth/register"): "register",
    ("post", "/v1/auth/token"): "createToken",
    ("get", "/v1/care-links"): "listCareLinks",
    ("post", "/v1/care-links"): "createCareLink",
    ("delete", "/v1/care-links/{link_id}"): "endCareLink",
    ("get", "/v1/checkins"): "listCheckins",
    ("post", "/v1/checkins"): "createCheckin",
    ("get", "/v1/checkins/{report_id}"): "getCheckin",
    ("patch", "/v1/checkins/{report_id}"): "updateCheckin",
    ("delete", "/v1/checkins/{report_id}"): "deleteCheckin",
    ("get", "/v1/exports/alerts.csv"): "exportAlertsCsv",
    ("get", "/v1/exports/checkins.csv"): "exportCheckinsCsv",
    ("get", "/v1/exports/sessions.csv"): "exportSessionsCsv",
    ("get", "/v1/me"): "getMe",
    ("patch", "/v1/me"): "updateMe",
    ("post", "/v1/me/password"): "changePassword",
    ("get", "/v1/patients"): "listPatients",
    ("get", "/v1/patients/{patient_id}/fhir"): "getPatientFhirBundle",
    ("get", "/v1/patients/{patient_id}/report"): "getPatientReport",
    ("get", "/v1/patients/{patient_id}/report.html"): "getPatientReportHtml",
    ("get", "/v1/patients/{patient_id}/report/chart.svg"): "getPatientReportChart",
    ("get", "/v1/patients/{patient_id}/report.pdf"): "getPatientReportPdf",
    ("post", "/v1/patients/{patient_id}/report-links"): "createReportLinks",
    ("get", "/v1/patients/{patient_id}/report-links/{token}/report.html"): "openReportLinkHtml",
    ("get", "/v1/patients/{patient_id}/report-links/{token}/chart.svg"): "openReportLinkChart",
    ("get", "/v1/patients/{patient_id}/report-links/{token}/report.pdf"): "openReportLinkPdf",
    ("get", "/v1/reports/alert-quality"): "getAlertQuality",
    ("get", "/v1/reports/caseload"): "getCaseload",
    ("get", "/v1/reports/techniques"): "getTechniqueReport",
    ("post", "/v1/screenings"): "createScreening",
    ("get", "/v1/sessions"): "listSessions",
    ("post", "/v1/sessions"): "createSession",
    ("get", "/v1/sessions/{report_id}"): "getSession",
    ("patch", "/v1/sessions/{report_id}"): "updateSession",
    ("delete", "/v1/sessions/{report_id}"): "deleteSession",
    ("get", "/v1/sync"): "sync",
    ("post", "/v1/users"): "createUser",
    ("patch", "/v1/users/{user_id}"): "updateUser",
    ("get", "/v1/webhooks"): "listWebhooks",
    ("post", "/v1/webhooks"): "createWebhook",
    ("get", "/v1/webhooks/{subscription_id}"): "getWebhook",
    ("delete", "/v1/webhooks/{subscription_id}"): "deleteWebhook",
    ("get", "/v1/webhooks/{subscription_id}/deliveries"): "listWebhookDeliveries",
    ("get", "/v1/webhooks/{subscription_id}/deliveries/{delivery_id}/attempts"): (
        "listWebhookDeliveryAttempts"
    ),
    ("post", "/v1/webhooks/{subscription_id}/rotate-secret"): "rotateWebhookSecret",
    ("post", "/v1/webhooks/{subscription_id}/pause"): "pauseWebhook",
    ("post", "/v1/webhooks/{subscription_id}/resume"): "resumeWebhook",
    ("post", "/v1/webhooks/{subscription_id}/test"): "testWebhook",
    (
        "post",
        "/v1/webhooks/{subscription_id}/deliveries/{delivery_id}/resend",
    ): "resendWebhookDelivery",
}


class OperationIds(BasePlugin):
    """Sets each operation's operationId from OPERATION_IDS; an unnamed one is an error."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        for method, operation in (operations or {}).items():
            if method == "parameters":
                continue
            name = OPERATION_IDS.get((method, path))
            if name is None:
                raise KeyError(f"{method.upper()} {path} has no operationId in OPERATION_IDS")
            operation["operationId"] = name
            _document_replays(operation)
            _document_rate_limits(operation)


REPLAYED_HEADER = {
    "description": '"true" when this is the stored response of an earlier request with the '
    "same Idempotency-Key and body, replayed",
    "schema": {"type": "string", "enum": ["true"]},
}
RETRY_AFTER_HEADER = {
    "description": "Seconds to wait before trying again",
    "schema": {"type": "integer", "minimum": 1},
}


RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": "Requests allowed in the tightest window that applies",
    "X-RateLimit-Remaining": "Requests left in that window",
    "X-RateLimit-Reset": "When that window resets, in seconds since the Unix epoch",
}


def _rate_limit_headers() -> dict:
    return {
        name: {"description": text, "schema": {"type": "integer", "minimum": 0}}
        for name, text in RATE_LIMIT_HEADERS.items()
    }


def _document_rate_limits(operation: dict) -> None:
    """A rate-limited operation (it documents 429) sends the X-RateLimit-* headers."""
    responses = operation.get("responses", {})
    if "429" not in responses and 429 not in responses:
        return
    for status, response in responses.items():
        if str(status).startswith("2") and isinstance(response, dict):
            response.setdefault("headers", {}).update(_rate_limit_headers())


def _document_replays(operation: dict) -> None:
    """Every success of an operation that takes Idempotency-Key may be a replay."""
    names = {p.get("name") for p in operation.get("parameters", []) if isinstance(p, dict)}
    if "Idempotency-Key" not in names:
        return
    for status, response in operation.get("responses", {}).items():
        if str(status).startswith("2") and isinstance(response, dict):
            response.setdefault("headers", {})["Idempotent-Replayed"] = deepcopy(REPLAYED_HEADER)


DOCS_ASSETS = "/docs/assets/"


def docs_config(enabled: bool) -> dict:
    """flask-smorest settings that serve the spec and Swagger UI, or none of them."""
    if not enabled:
        return {"OPENAPI_URL_PREFIX": None}
    return {
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        # Self-hosted assets (swagger-ui-bundle): clinics may run this offline.
        "OPENAPI_SWAGGER_UI_URL": DOCS_ASSETS,
        "OPENAPI_SWAGGER_UI_CONFIG": {"persistAuthorization": False, "tryItOutEnabled": True},
    }


def init_docs(app, api) -> None:
    """/openapi.yaml and the Swagger UI assets, beside flask-smorest's /openapi.json and /docs."""
    if not app.config["API_DOCS"]:
        return

    @app.get("/openapi.yaml")
    def openapi_yaml():
        return Response(yaml.safe_dump(api.spec.to_dict()), mimetype="application/yaml")

    @app.get(DOCS_ASSETS + "<path:filename>")
    def docs_assets(filename):
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=86400)


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _null(type_: str) -> dict:
    return {"type": type_, "nullable": True, "enum": [None]}


def nullable_shapes(converter, field, ret: dict, **kwargs) -> dict:
    """Nullable choices and nested objects in a shape that is valid OpenAPI 3.0.3 and that
    generators read as "this type, or None".

    apispec writes a nullable choice inline as ``enum: [..., null]`` (a generated client makes
    three look-alike enum classes of it) and a nullable nested object as ``anyOf`` with any
    object. Both become ``anyOf: [$ref, null]``, the choice as a named enum component
    (``enum_name`` in the field's metadata): one enum per field in a client, or None. (Under
    3.0.3, ``nullable`` beside an ``allOf`` would not admit null: it needs a ``type``.)
    """
    if not field.allow_none:
        return {}
    if "enum" in ret:
        name = field.metadata.get("enum_name")
        if name is None:
            raise KeyError(f"the nullable choice {field.name!r} needs an enum_name in metadata")
        values = [value for value in ret.pop("enum") if value is not None]
        type_ = ret.pop("type")
        if name not in converter.spec.components.schemas:
            converter.spec.components.schema(name, {"type": type_, "enum": values})
        ret.pop("nullable", None)
        return {"anyOf": [_ref(name), _null(type_)]}
    refs = [shape for shape in ret.get("anyOf", []) if "$ref" in shape]
    if len(refs) == 1 and len(ret["anyOf"]) == 2:
        ret["anyOf"] = [refs[0], _null("object")]
    return {}


def one_of_nested(converter, field, ret: dict, **kwargs) -> dict:
    """A OneOfNested field: a `oneOf` of its shapes with a discriminator on `type`."""
    if not isinstance(field, OneOfNested):
        return {}
    refs = {name: converter.resolve_nested_schema(schema) for name, schema in field.schemas.items()}
    return {
        "oneOf": list(refs.values()),
        "discriminator": {
            "propertyName": "type",
            "mapping": {name: ref["$ref"] for name, ref in refs.items()},
        },
    }


class Api(SmorestApi):
    ERROR_SCHEMA = ProblemSchema

    def __init__(self, app=None, *, spec_kwargs=None, **kwargs):
        spec_kwargs = {"extra_plugins": [OperationIds()], **(spec_kwargs or {})}
        super().__init__(app, spec_kwargs=spec_kwargs, **kwargs)

    def _init_spec(self, *args, **kwargs):
        super()._init_spec(*args, **kwargs)
        self.ma_plugin.converter.add_attribute_function(nullable_shapes)
        self.ma_plugin.converter.add_attribute_function(one_of_nested)

    def _register_responses(self):
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            content_type = self.DEFAULT_RESPONSE_CONTENT_TYPE
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
                content_type = PROBLEM_CONTENT_TYPE
            if status == 429:
                response["headers"] = {"Retry-After": RETRY_AFTER_HEADER, **_rate_limit_headers()}
            prepare_response(response, self.spec, content_type)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


def document(
    *,
    responses: dict[int, str] | None = None,
    security: bool = False,
    headers: list[dict] | None = None,
):
    """Add error responses (by component name), request headers and bearer auth to a view's doc."""

    def decorator(func):
        @wraps(func)
        def wrapper(*args, **kwargs):
            return current_app.ensure_sync(func)(*args, **kwargs)

        wrapper._apidoc = deepcopy(getattr(wrapper, "_apidoc", {}))
        for status, name in (responses or {}).items():
            (
                wrapper._apidoc.setdefault("response", {})
                .setdefault("responses", {})
                .setdefault(status, [])
                .append(name)
            )
        for header in headers or ():
            parameters = wrapper._apidoc.setdefault("arguments", {}).setdefault("parameters", [])
            parameters.append({"in": "header", "required": False, **header})
        if security:
            manual = wrapper._apidoc.setdefault("manual_doc", {})
            manual["security"] = [{"bearerAuth": []}]
        return wrapper

    return decorator
