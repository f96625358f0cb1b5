"""Check-ins between sessions."""

from api.resources.reports import make_blueprint
from api.schemas import examples
from api.schemas.reports import CheckInIn, CheckInOut, CheckInUpdateIn, CheckInWriteOut
from models import CheckIn

blp = make_blueprint(
    name="checkins",
    noun="check-in",
    model=CheckIn,
    schemas={
        "in": CheckInIn,
        "update": CheckInUpdateIn,
        "out": CheckInOut,
        "write": CheckInWriteOut,
    },
    examples={"in": examples.CHECKIN_IN, "write": examples.CHECKIN_WRITTEN},
)
