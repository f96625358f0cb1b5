"""Liveness and readiness probes."""

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api import limits
from api.db import get_session
from api.errors import DomainError

blp = Blueprint("health", __name__, description="Probes")


class HealthOut(ma.Schema):
    status = ma.fields.String(required=True)


class RateLimitStorageOut(ma.Schema):
    kind = ma.fields.String(required=True, metadata={"description": "memory or redis"})
    shared = ma.fields.Boolean(
        required=True,
        metadata={
            "description": "Counts shared by every process and host (false: each "
            "process counts alone, so limits multiply by their number)"
        },
    )
    reachable = ma.fields.Boolean(required=True)


class ReadyOut(HealthOut):
    rate_limit_storage = ma.fields.Nested(RateLimitStorageOut, required=True)


class NotReady(DomainError):
    status, slug, title = 503, "not-ready", "Service unavailable"


@blp.route("/healthz")
class Health(MethodView):
    @blp.response(200, HealthOut)
    def get(self):
        """The process is up"""
        return {"status": "ok"}


@blp.route("/readyz")
class Ready(MethodView):
    @blp.response(200, ReadyOut)
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def get(self):
        """The database answers; which rate-limit storage counts, and whether it answers

        An unreachable rate-limit storage does not make the service unready (each process then
        counts on its own), but it shows here.
        """
        try:
            get_session().execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise NotReady("The database does not answer.") from exc
        return {"status": "ready", "rate_limit_storage": limits.storage_state()}
