"""Liveness and readiness probes."""

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.db import get_session
from api.errors import DomainError

blp = Blueprint("health", __name__, description="Probes")


class HealthOut(ma.Schema):
    status = ma.fields.String(required=True)


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
    @blp.response(200, HealthOut)
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def get(self):
        """The database answers"""
        try:
            get_session().execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise NotReady("The database does not answer.") from exc
        return {"status": "ready"}
