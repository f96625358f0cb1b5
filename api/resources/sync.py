"""Delta sync for mobile clients."""

from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_required, current_user
from api.db import get_session
from api.openapi import document
from api.schemas.sync import SyncOut, SyncQuery
from api.services import sync

blp = Blueprint("sync", __name__, url_prefix="/v1/sync", description="Delta sync")


@blp.route("")
class Sync(MethodView):
    @auth_required("patient", "therapist", "admin")
    @blp.arguments(SyncQuery, location="query")
    @blp.response(200, SyncOut)
    @document(responses={410: "GONE"})
    def get(self, args):
        """Everything you may see that changed since the cursor, tombstones included"""
        return sync.page(
            db_session=get_session(),
            user=current_user(),
            cursor=args["cursor"],
            limit=args["limit"],
        )
