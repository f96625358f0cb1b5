"""One patient's course over a window: summary numbers and breakdowns (api/resources/rendering.py
draws its chart and printable page)."""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from statistics import fmean

from sqlalchemy import select
from sqlalchemy.orm import Session

import analyzer
from api.services import access, analysis, audit
from models import Alert, AlertTrigger, CheckIn, MassageSession, User
from models.alert import ACTIVE_STATUSES

IMPROVED = -2  # change <= -2 points: improved; >= +2: worsened (the MCID on the 0-10 scale)
WORSENED = 2
PRESSING = ("urgent", "warning")


@dataclass(frozen=True)
class Window:
    start: datetime | None
    end: datetime | None

    def where(self, column):
        clauses = []
        if self.start is not None:
            clauses.append(column >= self.start)
        if self.end is not None:
            clauses.append(column < self.end)
        return clauses


@dataclass
class Course:
    """The raw rows a report is computed from."""

    patient: User
    window: Window
    sessions: list[MassageSession]
    checkins: list[CheckIn]
    alerts: list[Alert]
    trend: str
    # Open or acknowledged urgent and warning alerts, whatever the period: what a reader
    # must see first.
    pressing: list[Alert] = field(default_factory=list)


def _mean(values: list[float]) -> float | None:
    return round(fmean(values), 3) if values else None


def _share(values: list[int], test) -> float | None:
    return round(sum(1 for v in values if test(v)) / len(values), 3) if values else None


def _changes(sessions: list[MassageSession]) -> list[int]:
    return [s.pain_after - s.pain_before for s in sessions if s.pain_after is not None]


def effect(sessions: list[MassageSession]) -> dict:
    """n, mean change and the shares improved and worsened, over sessions with both pains."""
    changes = _changes(sessions)
    return {
        "sessions": len(sessions),
        "with_pain_after": len(changes),
        "mean_change": _mean(changes),
        "improved_share": _share(changes, lambda c: c <= IMPROVED),
        "worsened_share": _share(changes, lambda c: c >= WORSENED),
    }


def grant_link(*, db_session: Session, user: User, patient_id: uuid.UUID) -> None:
    """A report link for a patient the user may see (404 if not), audited."""
    patient = access.get_patient_or_raise(db_session=db_session, user=user, patient_id=patient_id)
    audit.record(
        db_session,
        action="report_link.create",
        resource_type="patient_report",
        resource_id=patient.id,
        patient_id=patient.id,
        status=201,
        actor=user,
    )


def load(*, db_session: Session, user: User, patient_id: uuid.UUID, window: Window) -> Course:
    """The patient's sessions, check-ins and alerts felt in the window (404 if not visible)."""
    patient = access.get_patient_or_raise(db_session=db_session, user=user, patient_id=patient_id)
    sessions = list(
        db_session.scalars(
            select(MassageSession)
            .where(
                MassageSession.patient_id == patient.id,
                MassageSession.deleted_at.is_(None),
                *window.where(MassageSession.started_at),
            )
            .order_by(MassageSession.started_at, MassageSession.id)
        )
    )
    checkins = list(
        db_session.scalars(
            select(CheckIn)
            .where(
                CheckIn.patient_id == patient.id,
                CheckIn.deleted_at.is_(None),
                *window.where(CheckIn.recorded_at),
            )
            .order_by(CheckIn.recorded_at, CheckIn.id)
        )
    )
    # A firing withdrawn (its report corrected or deleted) is no evidence: an alert left
    # with none, such as one resolved as data_corrected, is not in the report.
    felt_in_window = select(AlertTrigger.alert_id).where(
        AlertTrigger.patient_id == patient.id,
        AlertTrigger.withdrawn_at.is_(None),
        *window.where(AlertTrigger.felt_at),
    )
    alerts = list(
        db_session.scalars(
            select(Alert)
            .where(Alert.patient_id == patient.id, Alert.id.in_(felt_in_window))
            .order_by(Alert.severity_rank.desc(), Alert.last_seen_at.desc())
        )
    )
    pressing = list(
        db_session.scalars(
            select(Alert)
            .where(
                Alert.patient_id == patient.id,
                Alert.status.in_(ACTIVE_STATUSES),
                Alert.severity.in_(PRESSING),
            )
            .order_by(Alert.severity_rank.desc(), Alert.first_seen_at)
        )
    )
    reports = [analysis.to_report(r) for r in (*sessions, *checkins)]
    trend = analyzer.trend_label(reports, analysis.config(db_session))
    audit.record_read(
        db_session,
        user=user,
        resource_type="patient_report",
        resource_id=patient.id,
        patient_id=patient.id,
    )
    return Course(patient, window, sessions, checkins, alerts, trend, pressing)


def summary(course: Course) -> dict:
    sessions = course.sessions
    by_technique: dict[str, list] = defaultdict(list)
    by_pressure: dict[str, list] = defaultdict(list)
    for s in sessions:
        by_technique[s.technique].append(s)
        by_pressure[s.pressure].append(s)
    return {
        "patient_id": course.patient.id,
        "from": course.window.start,
        "to": course.window.end,
        "session_count": len(sessions),
        "checkin_count": len(course.checkins),
        "mean_pain_before": _mean([s.pain_before for s in sessions]),
        "mean_pain_after": _mean([s.pain_after for s in sessions if s.pain_after is not None]),
        "mean_checkin_pain": _mean([c.pain for c in course.checkins]),
        **{k: v for k, v in effect(sessions).items() if k not in ("sessions",)},
        "trend": course.trend,
        "by_technique": [{"technique": k, **effect(v)} for k, v in sorted(by_technique.items())],
        "by_pressure": [{"pressure": k, **effect(v)} for k, v in sorted(by_pressure.items())],
        "alerts": course.alerts,
    }
