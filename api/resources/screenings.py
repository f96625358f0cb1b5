"""Pre-session safety screening."""

from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_required, current_user
from api.db import get_session
from api.schemas.screenings import ScreeningIn, ScreeningOut
from api.services import screenings

blp = Blueprint("screenings", __name__, url_prefix="/v1/screenings", description="Screenings")


@blp.route("")
class Screenings(MethodView):
    @auth_required("patient", "therapist")
    @blp.arguments(ScreeningIn)
    @blp.response(200, ScreeningOut)
    def post(self, data):
        """Check symptoms and the planned session before massage

        The verdict is the patient's state now: an `Idempotency-Key` is accepted but nothing
        is stored under it, so a retry is judged again (a red flag reported since is not
        answered with an earlier "proceed").
        """
        result = screenings.screen(db_session=get_session(), user=current_user(), data=data)
        return {
            "verdict": result.verdict,
            "reasons": [{"rule": rule, "message": message} for rule, message in result.reasons],
        }
