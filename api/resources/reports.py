"""Views shared by the two report resources, sessions and check-ins."""

import json
import uuid

from flask import Response, current_app, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy.sql.elements import ColumnElement

from api.auth import auth_required, current_user
from api.db import get_session, read_apart, transactional
from api.idempotency import idempotent
from api.openapi import document
from api.pagination import Page, page_schema, paginate
from api.schemas.rendered import DIALECTS, item_json, sort_values
from api.schemas.reports import ReportQuery
from api.services import audit, reports, versions

ROLES = ("patient", "therapist", "admin")
IF_MATCH = {
    "name": "If-Match",
    "schema": {"type": "string"},
    "description": "The ETag you read; a stale one gets 412. Optional (last write wins).",
}
IF_NONE_MATCH = {
    "name": "If-None-Match",
    "schema": {"type": "string"},
    "description": "The ETag you hold; unchanged gives 304.",
}
ETAG_HEADER = {"ETag": {"schema": {"type": "string"}, "description": "Strong entity tag"}}
LOCATION_HEADER = {
    "Location": {"schema": {"type": "string"}, "description": "The URL of the created record"}
}


def _rendered(page: Page) -> Response:
    """A page whose items the database rendered as JSON (api/schemas/rendered.py)."""
    items = ",".join(row.item for row in page.items)
    body = f'{{"items":[{items}],"next_cursor":{json.dumps(page.next_cursor)}}}\n'
    return current_app.response_class(body, mimetype="application/json")


def _item_links(name: str) -> dict:
    """OpenAPI links from a created report to its own item operations (clients, test tools)."""
    by_id = {"report_id": "$response.body#/id"}
    kind = name.removesuffix("s").capitalize()  # sessions -> Session (api/openapi.py names)
    return {
        f"{verb.capitalize()}{kind}ById": {"operationId": f"{verb}{kind}", "parameters": by_id}
        for verb in ("get", "update", "delete")
    }


def make_blueprint(
    *, name: str, noun: str, model: reports.ReportModel, schemas: dict, examples: dict
) -> Blueprint:
    """One blueprint for a report resource: list, create, read, update, delete."""
    blp = Blueprint(name, __name__, url_prefix=f"/v1/{name}", description=f"{noun.capitalize()}s")
    page = page_schema(schemas["out"], f"{schemas['out'].__name__.removesuffix('Out')}Page")
    # A page's items and a single read are rendered by the database, as the schema dumps
    # them; built here, so that a field the database cannot render stops the app starting.
    rendered = {dialect: item_json(schemas["out"], model, dialect) for dialect in DIALECTS}

    def rendered_for(db_session) -> ColumnElement[str]:
        return rendered[db_session.get_bind().dialect.name]

    # Input schemas as instances: given a class, webargs makes an instance per request,
    # which cost about as much as loading the body with it.
    query_schema, in_schema = ReportQuery(), schemas["in"]()

    @blp.route("")
    class Collection(MethodView):
        @auth_required(*ROLES)
        @blp.arguments(query_schema, location="query")
        @blp.response(200, page)
        @blp.doc(summary=f"List {noun}s you may see, most recent first")
        def get(self, args):
            db_session = get_session()
            keys = reports.sort_keys(model)
            query, values = reports.get_all(
                user=current_user(),
                model=model,
                patient_id=args.get("patient_id"),
                felt_from=args.get("from_"),
                felt_to=args.get("to"),
                columns=(rendered_for(db_session), model.patient_id),
            )
            page = paginate(
                db_session=db_session,
                query=query,
                values=values,
                keys=keys,
                limit=args["limit"],
                cursor=args["cursor"],
                rows=True,
                cursor_of=lambda last: sort_values(last.item, keys),
            )
            audit.audited_page(db_session, user=current_user(), kind=noun, page=page)
            return _rendered(page)

        @auth_required(*ROLES)
        @blp.arguments(in_schema, example=examples.get("in"))
        @idempotent
        @blp.response(
            201,
            schemas["write"],
            headers=ETAG_HEADER | LOCATION_HEADER,
            example=examples.get("write"),
        )
        @blp.alt_response(
            200,
            schema=schemas["write"],
            success=True,
            description=f"A {noun} with this id and the same content already exists",
        )
        @document(responses={409: "CONFLICT"})
        @blp.doc(
            summary=f"Record a {noun} (analyzed at once)",
            responses={201: {"links": _item_links(name)}},
        )
        def post(self, data):
            prepared = None
            with read_apart() as db_session:  # SQLite: analysed before the writer's lock
                if db_session is not None:
                    prepared = reports.prepare(
                        db_session=db_session, user=current_user(), model=model, data=data
                    )
            result = reports.create(
                db_session=get_session(),
                user=current_user(),
                model=model,
                data=data,
                prepared=prepared,
            )
            headers = {
                "ETag": versions.quoted(result.report),
                "Location": url_for(f"{name}.Item", report_id=result.report.id),
            }
            return result, 201 if result.created else 200, headers

    @blp.route("/<uuid:report_id>")
    class Item(MethodView):
        @auth_required(*ROLES)
        @blp.response(200, schemas["out"], headers=ETAG_HEADER)
        @blp.alt_response(304, description="Not modified", success=True)
        @document(responses={404: "NOT_FOUND"}, headers=[IF_NONE_MATCH])
        @blp.doc(summary=f"Read a {noun}")
        def get(self, report_id: uuid.UUID):
            db_session = get_session()
            report = reports.read(
                db_session=db_session,
                user=current_user(),
                model=model,
                report_id=report_id,
                item=rendered_for(db_session),
            )
            headers = {"ETag": versions.quoted(report)}
            if request.if_none_match.contains_weak(versions.etag(report)):
                return Response(status=304, headers=headers)
            return current_app.response_class(
                f"{report.item}\n", mimetype="application/json", headers=headers
            )

        @auth_required(*ROLES)
        @transactional
        @blp.arguments(schemas["update"](partial=True))
        @blp.response(200, schemas["write"], headers=ETAG_HEADER)
        @document(responses={404: "NOT_FOUND", 412: "PRECONDITION_FAILED"}, headers=[IF_MATCH])
        @blp.doc(summary=f"Change a {noun} (re-analyzed)")
        def patch(self, changes, report_id: uuid.UUID):
            result = reports.update(
                db_session=get_session(),
                user=current_user(),
                model=model,
                report_id=report_id,
                changes=changes,
                if_match=request.if_match or None,
            )
            return result, 200, {"ETag": versions.quoted(result.report)}

        @auth_required(*ROLES)
        @transactional
        @blp.response(204)
        @document(responses={404: "NOT_FOUND", 412: "PRECONDITION_FAILED"}, headers=[IF_MATCH])
        @blp.doc(summary=f"Delete a {noun} (kept as a tombstone for sync; re-analyzed)")
        def delete(self, report_id: uuid.UUID):
            reports.delete(
                db_session=get_session(),
                user=current_user(),
                model=model,
                report_id=report_id,
                if_match=request.if_match or None,
            )

    return blp
