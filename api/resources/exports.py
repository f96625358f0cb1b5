"""CSV exports of sessions, check-ins and alerts, streamed."""

from flask import Response, current_app, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint

from api import limits
from api.auth import auth_required, current_user
from api.db import get_session
from api.schemas.exports import CSV_BODY, ExportQuery
from api.services import exports

blp = Blueprint(
    "exports",
    __name__,
    url_prefix="/v1/exports",
    description="CSV exports (RFC 4180, UTF-8, ISO 8601 UTC times), scoped like the lists. "
    "Text cells that start with =, +, -, @, tab or CR get a leading apostrophe.",
)
ROLES = ("patient", "therapist", "admin")
CONTENT_TYPE = "text/csv; charset=utf-8; header=present"
NOUNS = {"sessions": "session", "checkins": "check-in", "alerts": "alert"}


def _disposition(filename: str) -> dict:
    return {
        "Content-Disposition": {
            "schema": {"type": "string"},
            "description": f'attachment; filename="{filename}"',
        }
    }


def _attachment(body, filename: str) -> Response:
    # stream_with_context: the body is read after the view returns, in the request's context.
    return Response(
        stream_with_context(body),
        content_type=CONTENT_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _register(export: exports.Export) -> None:
    noun = NOUNS[export.name]

    @blp.route(f"/{export.filename}", endpoint=export.name)
    class Export(MethodView):
        @auth_required(*ROLES)
        @limits.limited(limits.EXPENSIVE_READS_PER_USER)
        @blp.arguments(ExportQuery, location="query")
        @blp.response(
            200,
            CSV_BODY,
            content_type="text/csv",
            description=f"One row per {noun}, patient by patient in time order. "
            f"Columns: {', '.join(export.header)}",
            example=",".join(export.header) + "\r\n",
            headers=_disposition(export.filename),
        )
        @blp.doc(summary=f"Export the {noun}s you may see as CSV, streamed")
        def get(self, args):
            body = exports.start(
                db_session=get_session(),
                user=current_user(),
                export=export,
                patient_id=args.get("patient_id"),
                felt_from=args.get("from_"),
                felt_to=args.get("to"),
                timeout_ms=current_app.config["DB_EXPORT_TIMEOUT_MS"],
            )
            return _attachment(body, export.filename)


for _export in exports.EXPORTS.values():
    _register(_export)
