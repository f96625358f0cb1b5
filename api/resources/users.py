"""The caller's own account and profile; account creation and deactivation by an admin."""

import hashlib
import json
import uuid

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint

from api import limits
from api.auth import auth_required, current_user
from api.db import get_session
from api.idempotency import idempotent
from api.openapi import document
from api.resources.reports import ETAG_HEADER, IF_MATCH, IF_NONE_MATCH
from api.schemas.users import (
    MeOut,
    MeUpdateIn,
    PasswordChangeIn,
    UserCreateIn,
    UserOut,
    UserStateIn,
)
from api.services import auth, users, versions

blp = Blueprint("users", __name__, url_prefix="/v1", description="Accounts and profiles")


def _me_tag(user) -> str:
    """A strong ETag of what GET /v1/me shows (no version is kept: a digest of it)."""
    shown = json.dumps(MeOut().dump(user), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(shown.encode()).hexdigest()[:24]


@blp.route("/me")
class Me(MethodView):
    @auth_required()
    @blp.response(200, MeOut, headers=ETAG_HEADER)
    @blp.alt_response(304, description="Not modified", success=True)
    @document(headers=[IF_NONE_MATCH])
    def get(self):
        """Your account and patient profile"""
        tag = _me_tag(current_user())
        if request.if_none_match.contains_weak(tag):
            return Response(status=304, headers={"ETag": versions.quote(tag)})
        return current_user(), 200, {"ETag": versions.quote(tag)}

    @auth_required()
    @blp.arguments(MeUpdateIn)
    @blp.response(200, MeOut, headers=ETAG_HEADER)
    @document(responses={412: "PRECONDITION_FAILED"}, headers=[IF_MATCH])
    def patch(self, data):
        """Change your display name or patient profile

        Send the ETag you read as `If-Match` (optional): when another device changed the
        profile since, the answer is 412 and nothing changes.
        """
        db_session = get_session()
        user = users.hold(db_session=db_session, user=current_user())
        versions.check_tag(_me_tag(user), request.if_match or None, "profile")
        user = users.update_me(db_session=db_session, user=user, changes=data)
        return user, 200, {"ETag": versions.quote(_me_tag(user))}


@blp.route("/me/password")
class MyPassword(MethodView):
    @auth_required()
    @limits.limited(limits.PASSWORD_CHANGE_PER_USER)
    @blp.arguments(PasswordChangeIn)
    @idempotent
    @blp.response(204)
    def post(self, data):
        """Change your password (signs you out everywhere)

        A wrong `current_password` is a 422 with errors on that field. Every refresh token and
        access token you hold stops working: sign in again with the new password.
        """
        auth.change_password(db_session=get_session(), user=current_user(), **data)


@blp.route("/users")
class Users(MethodView):
    @auth_required("admin")
    @blp.arguments(UserCreateIn)
    @idempotent
    @blp.response(201, UserOut)
    @document(responses={409: "CONFLICT"})
    def post(self, data):
        """Create an account of any role (admins)"""
        return users.create(db_session=get_session(), actor=current_user(), **data)


@blp.route("/users/<uuid:user_id>")
class UserById(MethodView):
    @auth_required("admin")
    @blp.arguments(UserStateIn)
    @blp.response(200, UserOut)
    @document(responses={404: "NOT_FOUND"})
    def patch(self, data, user_id: uuid.UUID):
        """Deactivate or reactivate an account (admins)

        `{"active": false}`: the account can no longer sign in (its sign-in answers like a wrong
        password) and every access and refresh token it holds stops working at once. Its
        records stay, visible to linked therapists and exportable. `{"active": true}` lets it
        sign in again. Setting the state it already has changes nothing.
        """
        db_session = get_session()
        user = users.get_or_raise(db_session=db_session, user_id=user_id)
        return auth.set_active(
            db_session=db_session, user=user, active=data["active"], actor=current_user()
        )
