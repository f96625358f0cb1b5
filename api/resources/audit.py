"""The audit trail, for admins."""

from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_required
from api.db import get_session
from api.pagination import page_schema, paginate
from api.schemas.audit import AuditEventOut, AuditQuery
from api.services import audit

blp = Blueprint("audit", __name__, url_prefix="/v1/audit-events", description="Audit trail")
AuditEventPage = page_schema(AuditEventOut, "AuditEventPage")


@blp.route("")
class AuditEvents(MethodView):
    @auth_required("admin")
    @blp.arguments(AuditQuery, location="query")
    @blp.response(200, AuditEventPage)
    def get(self, args):
        """List audit events, newest first (admins)"""
        limit, cursor = args.pop("limit"), args.pop("cursor")
        period = {"occurred_from": args.pop("from_", None), "occurred_to": args.pop("to", None)}
        return paginate(
            db_session=get_session(),
            query=audit.get_all(**args, **period),
            keys=audit.SORT_KEYS,
            limit=limit,
            cursor=cursor,
        )
