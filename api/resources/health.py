"""Liveness and readiness probes."""

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api import limits
from api.db import get_session
from api.errors import DomainError
from api.services import webhooks
from models import utcnow

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


class OutboxOut(ma.Schema):
    pending = ma.fields.Integer(
        required=True, metadata={"description": "Webhook deliveries waiting to be sent or retried"}
    )
    oldest_pending_age_seconds = ma.fields.Float(
        required=True,
        allow_none=True,
        metadata={"description": "Age of the oldest event still waiting (null: none waits)"},
    )


class ReadyOut(HealthOut):
    rate_limit_storage = ma.fields.Nested(RateLimitStorageOut, required=True)
    outbox = ma.fields.Nested(
        OutboxOut,
        required=True,
        metadata={"description": "The webhook backlog: shown, never a reason to be unready"},
    )


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
        """The database answers; which rate-limit storage counts, and the webhook backlog

        An unreachable rate-limit storage does not make the service unready (each process then
        counts on its own), nor does a webhook backlog (a receiver may be down), but both show
        here.
        """
        db_session = get_session()
        try:
            db_session.execute(text("SELECT 1"))
            pending, oldest = webhooks.backlog(db_session)
        except SQLAlchemyError as exc:
            raise NotReady("The database does not answer.") from exc
        age = round((utcnow() - oldest).total_seconds(), 3) if oldest else None
        return {
            "status": "ready",
            "rate_limit_storage": limits.storage_state(),
            "outbox": {"pending": pending, "oldest_pending_age_seconds": age},
        }
