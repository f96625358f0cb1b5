"""The therapist's patients, caseload, technique and alert-quality reports; one patient's
report and chart."""

import uuid
from zoneinfo import ZoneInfo

from flask import Response, current_app, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from api import limits
from api.auth import auth_required, current_user, issue_report_link, report_link_required
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
    ReportLinkOut,
    ReportLinksIn,
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


def _course(patient_id: uuid.UUID, args: dict) -> patient_report.Course:
    window = patient_report.Window(args.get("from_"), args.get("to"))
    return patient_report.load(
        db_session=get_session(), user=current_user(), patient_id=patient_id, window=window
    )


@blp.route("/v1/patients")
class Patients(MethodView):
    @auth_required(*CLINICIANS)
    @limits.limited(limits.EXPENSIVE_READS_PER_USER)  # the caseload's figures, by page
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
            counts=dict.fromkeys((r.patient_id for r in rows), 1),
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
            counts=dict.fromkeys((r.patient_id for r in rows), 1),
        )
        return {"items": rows}


@blp.route("/v1/reports/techniques")
class Techniques(MethodView):
    @auth_required(*CLINICIANS)
    @limits.limited(limits.EXPENSIVE_READS_PER_USER)
    @blp.response(200, TechniquesOut)
    def get(self):
        """Effect of technique x pressure across your caseload"""
        report = caseload.techniques(db_session=get_session(), user=current_user())
        audit.record_list(
            get_session(),
            user=current_user(),
            resource_type="techniques",
            counts=dict.fromkeys(report.patient_ids),  # in an aggregate: no row count
        )
        return {"items": report.rows}


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
            counts=dict.fromkeys(quality.patient_ids),  # in an aggregate: no row count
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


# Health data in a page a browser opens: not cached, not framed, never sent on as a referrer.
PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
SVG_BODY = {"type": "string", "format": "binary", "description": "SVG 1.1 document"}
HTML_BODY = {"type": "string", "description": "A self-contained HTML page"}
PDF_BODY = {"type": "string", "format": "binary", "description": "PDF document"}


def _chart(patient_id: uuid.UUID, args: dict) -> Response:
    svg = rendering.chart_svg(
        _course(patient_id, args), zone=_zone(args), include_info="info" in args["include"]
    )
    # Opened on its own, an SVG is a document: it may run nothing and load nothing.
    headers = {**PAGE_HEADERS, "Content-Security-Policy": SVG_POLICY}
    return Response(svg, mimetype="image/svg+xml", headers=headers)


def _page(patient_id: uuid.UUID, args: dict) -> Response:
    page = rendering.html(_course(patient_id, args), generated=utcnow(), zone=_zone(args))
    headers = {**PAGE_HEADERS, "Content-Security-Policy": PAGE_POLICY}
    return Response(page, mimetype="text/html", headers=headers)


def _pdf(patient_id: uuid.UUID, args: dict) -> Response:
    document_ = rendering.pdf(_course(patient_id, args), generated=utcnow(), zone=_zone(args))
    disposition = f'inline; filename="report-{patient_id}.pdf"'
    headers = {**PAGE_HEADERS, "Content-Disposition": disposition}
    return Response(document_, mimetype="application/pdf", headers=headers)


@blp.route("/v1/patients/<uuid:patient_id>/report/chart.svg")
class PatientChart(MethodView):
    @auth_required(*ANYONE)
    @limits.limited(limits.EXPENSIVE_READS_PER_USER)
    @blp.arguments(ChartQuery, location="query")
    @blp.response(200, SVG_BODY, description="SVG chart", content_type="image/svg+xml")
    @document(responses={404: "NOT_FOUND"})
    def get(self, args, patient_id: uuid.UUID):
        """Pain before and after over time, with alerts marked

        Each alert is a numbered marker (by severity) at the reports that raised it, numbered
        as in the report's alert list; info alerts only with `include=info`.
        """
        return _chart(patient_id, args)


@blp.route("/v1/patients/<uuid:patient_id>/report.html")
class PatientReportPage(MethodView):
    @auth_required(*ANYONE)
    @limits.limited(limits.EXPENSIVE_READS_PER_USER)
    @blp.arguments(ReportPageQuery, location="query")
    @blp.response(200, HTML_BODY, description="Printable report", content_type="text/html")
    @document(responses={404: "NOT_FOUND"})
    def get(self, args, patient_id: uuid.UUID):
        """A printable report for a doctor's visit"""
        return _page(patient_id, args)


@blp.route("/v1/patients/<uuid:patient_id>/report.pdf")
class PatientReportPdf(MethodView):
    @auth_required(*ANYONE)
    @limits.limited(limits.EXPENSIVE_READS_PER_USER)
    @blp.arguments(ReportPageQuery, location="query")
    @blp.response(200, PDF_BODY, description="The report as PDF", content_type="application/pdf")
    @document(responses={404: "NOT_FOUND"})
    def get(self, args, patient_id: uuid.UUID):
        """The printable report as PDF, rendered on the server (A4 or Letter alike)"""
        return _pdf(patient_id, args)


@blp.route("/v1/patients/<uuid:patient_id>/report-links")
class PatientReportLinks(MethodView):
    @auth_required(*ANYONE)
    @blp.arguments(ReportLinksIn)
    @blp.response(201, ReportLinkOut)
    @document(responses={404: "NOT_FOUND"})
    def post(self, _data, patient_id: uuid.UUID):
        """Links that open this report in a browser, without a bearer header, for 15 minutes

        One patient, read-only: the page, the chart and the PDF. Each use is audited and checks
        access again (an ended care link closes them); signing out closes them at once. The
        links carry their token in the path: share them like a password. An
        `Idempotency-Key` is accepted but nothing is stored under it (the answer holds the
        token): a retry makes new links, after checking access again.
        """
        user = current_user()
        patient_report.grant_link(db_session=get_session(), user=user, patient_id=patient_id)
        token, expires_at = issue_report_link(user, patient_id=patient_id)

        def url(endpoint: str) -> str:
            return url_for(endpoint, patient_id=patient_id, token=token, _external=True)

        return {
            "html_url": url("patients.SharedReportPage"),
            "chart_url": url("patients.SharedChart"),
            "pdf_url": url("patients.SharedReportPdf"),
            "expires_at": expires_at,
        }


SHARED = "/v1/patients/<uuid:patient_id>/report-links/<string:token>"


@blp.route(f"{SHARED}/report.html", endpoint="SharedReportPage")
class SharedReportPage(MethodView):
    @report_link_required
    @limits.limited(limits.EXPENSIVE_READS_PER_USER)
    @blp.arguments(ReportPageQuery, location="query")
    @blp.response(200, HTML_BODY, description="Printable report", content_type="text/html")
    @document(responses={404: "NOT_FOUND"})
    def get(self, args, patient_id: uuid.UUID):
        """The printable report, opened with a report link"""
        return _page(patient_id, args)


@blp.route(f"{SHARED}/chart.svg", endpoint="SharedChart")
class SharedChart(MethodView):
    @report_link_required
    @limits.limited(limits.EXPENSIVE_READS_PER_USER)
    @blp.arguments(ChartQuery, location="query")
    @blp.response(200, SVG_BODY, description="SVG chart", content_type="image/svg+xml")
    @document(responses={404: "NOT_FOUND"})
    def get(self, args, patient_id: uuid.UUID):
        """The chart, opened with a report link"""
        return _chart(patient_id, args)


@blp.route(f"{SHARED}/report.pdf", endpoint="SharedReportPdf")
class SharedReportPdf(MethodView):
    @report_link_required
    @limits.limited(limits.EXPENSIVE_READS_PER_USER)
    @blp.arguments(ReportPageQuery, location="query")
    @blp.response(200, PDF_BODY, description="The report as PDF", content_type="application/pdf")
    @document(responses={404: "NOT_FOUND"})
    def get(self, args, patient_id: uuid.UUID):
        """The report as PDF, opened with a report link"""
        return _pdf(patient_id, args)
