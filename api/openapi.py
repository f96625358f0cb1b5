"""The flask-smorest Api: problem+json error documentation and the bearer security scheme."""

import http
from copy import deepcopy
from functools import wraps

import marshmallow as ma
from flask import current_app
from flask_smorest import Api as SmorestApi
from flask_smorest.spec import prepare_response

PROBLEM_CONTENT_TYPE = "application/problem+json"


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details."""

    type = ma.fields.String(required=True, metadata={"description": "Problem type URI"})
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True)
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        metadata={"description": "Field name -> messages, for validation errors"},
    )


class Api(SmorestApi):
    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self):
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            content_type = self.DEFAULT_RESPONSE_CONTENT_TYPE
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
                content_type = PROBLEM_CONTENT_TYPE
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
