"""Care links: grant, list and end a therapist's access."""

import uuid

from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_required, current_user
from api.db import get_session
from api.idempotency import idempotent
from api.openapi import document
from api.pagination import page_schema, paginate
from api.schemas import examples
from api.schemas.care_links import CareLinkIn, CareLinkOut, CareLinkQuery
from api.services import care_links
from models import CareLink

blp = Blueprint("care_links", __name__, url_prefix="/v1/care-links", description="Care links")
CareLinkPage = page_schema(CareLinkOut, "CareLinkPage")


@blp.route("")
class CareLinks(MethodView):
    @auth_required("patient", "therapist", "admin")
    @blp.arguments(CareLinkQuery, location="query")
    @blp.response(200, CareLinkPage)
    def get(self, args):
        """List your care links"""
        query = care_links.get_all(user=current_user(), status=args.get("status"))
        return paginate(
            db_session=get_session(),
            query=query,
            keys=[CareLink.created_at, CareLink.id],
            limit=args["limit"],
            cursor=args["cursor"],
        )

    @auth_required("patient")
    @blp.arguments(CareLinkIn, example=examples.CARE_LINK_IN)
    @idempotent
    @blp.response(201, CareLinkOut, example=examples.CARE_LINK_OUT)
    @document(responses={409: "CONFLICT"})
    def post(self, data):
        """Give a therapist access to your records"""
        return care_links.create(
            db_session=get_session(),
            patient=current_user(),
            therapist_email=data["therapist_email"],
        )


@blp.route("/<uuid:link_id>")
class CareLinkById(MethodView):
    @auth_required("patient", "therapist", "admin")
    @blp.response(204)
    @document(responses={404: "NOT_FOUND"})
    def delete(self, link_id: uuid.UUID):
        """End a care link (access ends at once)"""
        care_links.end(db_session=get_session(), user=current_user(), link_id=link_id)
