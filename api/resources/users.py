"""The caller's own account and profile; account creation by an admin."""

from flask.views import MethodView
from flask_smorest import Blueprint

from api import limits
from api.auth import auth_required, current_user
from api.db import get_session
from api.idempotency import idempotent
from api.openapi import document
from api.schemas.users import MeOut, MeUpdateIn, PasswordChangeIn, UserCreateIn, UserOut
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
    @idempotent
    @blp.arguments(UserCreateIn)
    @blp.response(201, UserOut)
    @document(responses={409: "CONFLICT"})
    def post(self, data):
        """Create an account of any role (admins)"""
        return users.create(db_session=get_session(), **data)
