"""The caller's own account and profile; account creation and deactivation by an admin."""

import uuid

from flask.views import MethodView
from flask_smorest import Blueprint

from api import limits
from api.auth import auth_required, current_user
from api.db import get_session
from api.idempotency import idempotent
from api.openapi import document
from api.schemas.users import (
    MeOut,
    MeUpdateIn,
    PasswordChangeIn,
    UserCreateIn,
    UserOut,
    UserStateIn,
)
from api.services import auth, users

blp = Blueprint("users", __name__, url_prefix="/v1", description="Accounts and profiles")


@blp.route("/me")
class Me(MethodView):
    @auth_required()
    @blp.response(200, MeOut)
    def get(self):
        """Your account and patient profile"""
        return current_user()

    @auth_required()
    @blp.arguments(MeUpdateIn)
    @blp.response(200, MeOut)
    def patch(self, data):
        """Change your display name or patient profile"""
        return users.update_me(db_session=get_session(), user=current_user(), changes=data)


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
