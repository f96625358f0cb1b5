"""Massage sessions."""

from api.resources.reports import make_blueprint
from api.schemas import examples
from api.schemas.reports import SessionIn, SessionOut, SessionUpdateIn, SessionWriteOut
from models import MassageSession

blp = make_blueprint(
    name="sessions",
    noun="session",
    model=MassageSession,
    schemas={
        "in": SessionIn,
        "update": SessionUpdateIn,
        "out": SessionOut,
        "write": SessionWriteOut,
    },
    examples={"in": examples.SESSION_IN, "write": examples.SESSION_WRITTEN},
)
