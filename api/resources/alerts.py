"""Alerts: list, read, acknowledge, resolve."""

import uuid

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_required, current_user
from api.db import get_session
from api.idempotency import idempotent
from api.openapi import document
from api.pagination import page_schema, paginate
from api.resources.reports import ETAG_HEADER, IF_MATCH, IF_NONE_MATCH
from api.schemas import examples
from api.schemas.alerts import AcknowledgeIn, AlertOut, AlertQuery, ResolveIn
from api.services import alerts, audit, versions

blp = Blueprint("alerts", __name__, url_prefix="/v1/alerts", description="Alerts")
AlertPage = page_schema(AlertOut, "AlertPage")
READERS = ("patient", "therapist", "admin")
CLINICIANS = ("therapist", "admin")


@blp.route("")
class Alerts(MethodView):
    @auth_required(*READERS)
    @blp.arguments(AlertQuery, location="query")
    @blp.response(200, AlertPage)
    def get(self, args):
        """List alerts you may see, most severe and newest first"""
        limit, cursor = args.pop("limit"), args.pop("cursor")
        page = paginate(
            db_session=get_session(),
            query=alerts.get_all(user=current_user(), **args),
            keys=alerts.SORT_KEYS,
            limit=limit,
            cursor=cursor,
        )
        return audit.audited_page(get_session(), user=current_user(), kind="alert", page=page)


def _tagged(alert) -> tuple:
    return alert, 200, {"ETag": versions.quoted(alert)}


@blp.route("/<uuid:alert_id>")
class AlertById(MethodView):
    @auth_required(*READERS)
    @blp.response(200, AlertOut, headers=ETAG_HEADER)
    @blp.alt_response(304, description="Not modified", success=True)
    @document(responses={404: "NOT_FOUND"}, headers=[IF_NONE_MATCH])
    def get(self, alert_id: uuid.UUID):
        """Read an alert with its evidence"""
        alert = alerts.read(db_session=get_session(), user=current_user(), alert_id=alert_id)
        if request.if_none_match.contains_weak(versions.etag(alert)):
            return Response(status=304, headers={"ETag": versions.quoted(alert)})
        return _tagged(alert)


CHANGES = {404: "NOT_FOUND", 409: "CONFLICT", 412: "PRECONDITION_FAILED"}


@blp.route("/<uuid:alert_id>/acknowledge")
class Acknowledge(MethodView):
    @auth_required(*CLINICIANS)
    @blp.arguments(AcknowledgeIn, example=examples.ACKNOWLEDGE_IN)
    @idempotent
    @blp.response(200, AlertOut, example=examples.ACKNOWLEDGED, headers=ETAG_HEADER)
    @document(responses=CHANGES, headers=[IF_MATCH])
    def post(self, data, alert_id: uuid.UUID):
        """Acknowledge an open alert, accepting or overriding it, with a reason"""
        alert = alerts.acknowledge(
            db_session=get_session(),
            user=current_user(),
            alert_id=alert_id,
            if_match=request.if_match or None,
            **data,
        )
        return _tagged(alert)


@blp.route("/<uuid:alert_id>/resolve")
class Resolve(MethodView):
    @auth_required(*CLINICIANS)
    @blp.arguments(ResolveIn)
    @idempotent
    @blp.response(200, AlertOut, headers=ETAG_HEADER)
    @document(responses=CHANGES, headers=[IF_MATCH])
    def post(self, data, alert_id: uuid.UUID):
        """Resolve an alert with a note"""
        alert = alerts.resolve(
            db_session=get_session(),
            user=current_user(),
            alert_id=alert_id,
            note=data["note"],
            if_match=request.if_match or None,
        )
        return _tagged(alert)
