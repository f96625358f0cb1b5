"""Registration, tokens, refresh and logout."""

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from api import limits
from api.auth import issue_access_token
from api.db import get_session, read_first
from api.idempotency import idempotent
from api.openapi import document
from api.schemas import examples
from api.schemas.users import RefreshIn, RegisterIn, TokenIn, TokenOut, UserOut
from api.services import auth, users

blp = Blueprint("auth", __name__, url_prefix="/v1/auth", description="Accounts and tokens")


def _token_body(grant: auth.Grant) -> dict:
    access_token, expires_in = issue_access_token(grant.user, family_id=grant.family_id)
    return {
        "access_token": access_token,
        "refresh_token": grant.refresh_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
    }


@blp.route("/register")
class Register(MethodView):
    @limits.limited(limits.REGISTER_PER_IP)
    @blp.arguments(RegisterIn, example=examples.REGISTER_IN)
    @idempotent
    @blp.response(201, UserOut, example=examples.USER_OUT)
    def post(self, data):
        """Sign up as a patient

        An email that already has an account gets the same 201 answer, under an id that no
        account holds, and that account is left untouched (its password does not change): the
        answer never tells whether an email is registered. Sign in to find out whether the
        password is yours.
        """
        return users.register(db_session=get_session(), **data)


@blp.route("/token")
class Token(MethodView):
    @limits.limited(limits.LOGIN_PER_IP, limits.LOGIN_PER_ACCOUNT)
    @blp.arguments(TokenIn, example=examples.TOKEN_IN)
    @blp.response(200, TokenOut, example=examples.TOKEN_OUT)
    @document(responses={401: "UNAUTHORIZED"})
    def post(self, data):
        """Exchange email and password for tokens"""
        with read_first() as db_session:  # SQLite: the password is checked with no write lock
            account = users.get_by_email(db_session=db_session, email=data["email"])
        db_session = get_session()  # and with no transaction open (the reads end here)
        attempt = auth.check_password(account=account, **data)
        grant = auth.login(
            db_session=db_session,
            attempt=attempt,
            refresh_ttl=current_app.config["REFRESH_TOKEN_TTL"],
        )
        return _token_body(grant)


@blp.route("/refresh")
class Refresh(MethodView):
    @limits.limited(limits.REFRESH_PER_IP)
    @blp.arguments(RefreshIn)
    @blp.response(200, TokenOut)
    @document(responses={401: "UNAUTHORIZED"})
    def post(self, data):
        """Rotate a refresh token

        The token is spent and a new one returned. Presenting a spent token again ends its
        whole family (401), except within a few seconds of its use (a client that lost the
        response), when the same new token is returned again.
        """
        grant = auth.refresh(
            db_session=get_session(),
            token=data["refresh_token"],
            refresh_ttl=current_app.config["REFRESH_TOKEN_TTL"],
            reuse_grace=current_app.config["REFRESH_REUSE_GRACE"],
            secret=current_app.config["SECRET_KEY"],
        )
        return _token_body(grant)


@blp.route("/logout")
class Logout(MethodView):
    @limits.limited(limits.LOGOUT_PER_IP)
    @blp.arguments(RefreshIn)
    @blp.response(204)
    def post(self, data):
        """End the refresh token's family"""
        auth.logout(db_session=get_session(), token=data["refresh_token"])
