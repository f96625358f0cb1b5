"""The therapist's patients, caseload, technique and alert-quality reports; one patient's
report and chart."""

import uuid
from zoneinfo import ZoneInfo

from flask import Response, current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from api import limits
from api.auth import auth_required, current_user
from api.db import get_session
from api.openapi import document
from api.pagination import page_schema, paginate
from api.resources import rendering
from api.schemas.alert_quality import AlertQualityOut, AlertQualityQuery
from api.schemas.patients import (
    CaseloadOut,
    ChartQuery,
    PatientReportOut,
    PatientRowOut,
    PatientsQuery,
    ReportPageQuery,
    ReportWindowQuery,
    TechniquesOut,
)
from api.services import alert_quality, audit, caseload, patient_report
from models import User, utcnow

blp = Blueprint("patients", __name__, description="Patients and reports")
PatientRowPage = page_schema(PatientRowOut, "PatientRowPage")
CLINICIANS = ("therapist", "admin")
ANYONE = ("patient", "therapist", "admin")
SVG_DOC = {"content": {"image/svg+xml": {"schema": {"type": "string"}}}}
HTML_DOC = {"content": {"text/html": {"schema": {"type": "string"}}}}


def _course(patient_id: uuid.UUID, args: dict) -> patient_report.Course:
    window = patient_report.Window(args.get("from_"), args.get("to"))
    return patient_report.load(
        db_session=get_session(), user=current_user(), patient_id=patient_id, window=window
    )


@blp.route("/v1/patients")
class Patients(MethodView):
    @auth_required(*CLINICIANS)
    @blp.arguments(PatientsQuery, location="query")
    @blp.response(200, PatientRowPage)
    def get(self, args):
        """Your linked patients with latest pain, trend and open alerts, by name"""
        db_session = get_session()
        page = paginate(
            db_session=db_session,
            query=caseload.patients_query(current_user()),
            keys=[User.display_name, User.id],
            limit=args["limit"],
            cursor=args["cursor"],
            ascending=True,
        )
        rows = caseload.rows_for(db_session=db_session, patients=page.items)
        audit.record_list(
            db_session,
            user=current_user(),
            resource_type="patient",
            patient_ids=[r.patient_id for r in rows],
            row_count=len(rows),
        )
        return {"items": rows, "next_cursor": page.next_cursor}


@blp.route("/v1/reports/caseload")
class Caseload(MethodView):
    @auth_required(*CLINICIANS)
    @limits.limited(limits.EXPENSIVE_READS_PER_USER)
    @blp.response(200, CaseloadOut)
    def get(self):
        """One row per linked patient, most urgent first"""
        rows = caseload.caseload(db_session=get_session(), user=current_user())
        audit.record_list(
            get_session(),
            user=current_user(),
            resource_type="caseload",
            patient_ids=[r.patient_id for r in rows],
            row_count=len(rows),
        )
        return {"items": rows}


@blp.route("/v1/reports/techniques")
class Techniques(MethodView):
    @auth_required(*CLINICIANS)
    @limits.limited(limits.EXPENSIVE_READS_PER_USER)
    @blp.response(200, TechniquesOut)
    def get(self):
        """Effect of technique x pressure across your caseload"""
        return {"items": caseload.techniques(db_session=get_session(), user=current_user())}


@blp.route("/v1/reports/alert-quality")
class AlertQuality(MethodView):
    @auth_required(*CLINICIANS)
    @limits.limited(limits.EXPENSIVE_READS_PER_USER)
    @blp.arguments(AlertQualityQuery, location="query")
    @blp.response(200, AlertQualityOut)
    def get(self, args):
        """Per rule and severity over a period: alerts raised, accepted, overridden, corrected

        An alert counts when it was first seen in [from, to); its acknowledgement and
        resolution are counted as they stand now. A therapist's figures span the actively
        linked patients, an admin's everyone.
        """
        quality = alert_quality.summary(
            db_session=get_session(), user=current_user(), start=args["from_"], end=args["to"]
        )
        audit.record_list(
            get_session(),
            user=current_user(),
            resource_type="alert_quality",
            patient_ids=quality.patient_ids,
            row_count=len(quality.rows),
        )
        return quality


def _zone(args: dict) -> ZoneInfo:
    return ZoneInfo(args.get("tz") or current_app.config["CLINIC_TIMEZONE"])


@blp.route("/v1/patients/<uuid:patient_id>/report")
class PatientReport(MethodView):
    @auth_required(*ANYONE)
    @limits.limited(limits.EXPENSIVE_READS_PER_USER)
    @blp.arguments(ReportWindowQuery, location="query")
    @blp.response(200, PatientReportOut)
    @document(responses={404: "NOT_FOUND"})
    def get(self, args, patient_id: uuid.UUID):
        """A patient's course over a period: numbers, breakdowns, alerts"""
        return patient_report.summary(_course(patient_id, args))


@blp.route("/v1/patients/<uuid:patient_id>/report/chart.svg")
class PatientChart(MethodView):
    @auth_required(*ANYONE)
    @limits.limited(limits.EXPENSIVE_READS_PER_USER)
    @blp.arguments(ChartQuery, location="query")
    @blp.response(200, description="SVG chart", content_type="image/svg+xml")
    @document(responses={404: "NOT_FOUND"})
    def get(self, args, patient_id: uuid.UUID):
        """Pain before and after over time, with alerts marked

        Each alert is a numbered marker (by severity) at the reports that raised it, numbered
        as in the report's alert list; info alerts only with `include=info`.
        """
        svg = rendering.chart_svg(
            _course(patient_id, args), zone=_zone(args), include_info="info" in args["include"]
        )
        response = Response(svg, mimetype="image/svg+xml")
        # Opened on its own, an SVG is a document: it may run nothing and load nothing.
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
        )
        return response


@blp.route("/v1/patients/<uuid:patient_id>/report.html")
class PatientReportPage(MethodView):
    @auth_required(*ANYONE)
    @limits.limited(limits.EXPENSIVE_READS_PER_USER)
    @blp.arguments(ReportPageQuery, location="query")
    @blp.response(200, description="Printable report", content_type="text/html")
    @document(responses={404: "NOT_FOUND"})
    def get(self, args, patient_id: uuid.UUID):
        """A printable report for a doctor's visit"""
        page = rendering.html(_course(patient_id, args), generated=utcnow(), zone=_zone(args))
        response = Response(page, mimetype="text/html")
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
        )
        return response
