"""A therapist's caseload: one row per patient, built with a fixed number of queries."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, case, distinct, func, select
from sqlalchemy.orm import Session

import analyzer
from api.services import access, analysis
from models import Alert, MassageSession, PatientSummary, User
from models.alert import ACTIVE_STATUSES


@dataclass
class PatientRow:
    patient: User
    latest_pain_before: int | None = None
    latest_pain_after: int | None = None
    last_session_at: datetime | None = None
    trend: str = "stable"
    open_alerts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(analyzer.SEVERITIES, 0)
    )

    @property
    def patient_id(self) -> uuid.UUID:
        return self.patient.id

    @property
    def display_name(self) -> str:
        return self.patient.display_name

    def urgency(self) -> tuple:
        """Sort key: open urgent alerts, then warnings, then a worsening trend, then the rest."""
        last = self.last_session_at.timestamp() if self.last_session_at else 0.0
        return (
            -self.open_alerts["urgent"],
            -self.open_alerts["warning"],
            self.trend != "worsening",
            -self.open_alerts["caution"],
            -last,
            self.display_name,
        )


def patients_query(user: User) -> Select:
    """The patients the user may see (a therapist: actively linked ones)."""
    query = select(User).where(User.role == "patient")
    visible = access.visible_patient_ids(user)
    return query if visible is None else query.where(User.id.in_(visible))


def rows_for(*, db_session: Session, patients: list[User]) -> list[PatientRow]:
    """Fill the rows of these patients: two more queries whatever their number (two more
    again when some patients' stored summaries are missing or stale)."""
    rows = {p.id: PatientRow(patient=p) for p in patients}
    if not rows:
        return []
    ids = list(rows)
    _fill_summaries(db_session, ids, rows)
    _fill_open_alerts(db_session, ids, rows)
    return list(rows.values())


def caseload(*, db_session: Session, user: User) -> list[PatientRow]:
    patients = list(db_session.scalars(patients_query(user)))
    rows = rows_for(db_session=db_session, patients=patients)
    return sorted(rows, key=PatientRow.urgency)


def _fill_summaries(db_session: Session, ids: list, rows: dict) -> None:
    """Latest session values and trend from the summaries that writes keep.

    A patient without reports has no summary; one stored under another ruleset or other
    thresholds (an upgrade, changed configuration) is computed here from the reports, the
    same way a write computes it, until their next write or ``flask analyze`` stores it.
    """
    cfg = analysis.config(db_session)
    basis = analyzer.summary_basis(cfg)
    stored = db_session.scalars(select(PatientSummary).where(PatientSummary.patient_id.in_(ids)))
    current = {s.patient_id: s for s in stored if s.basis == basis}
    stale = [pid for pid in ids if pid not in current]
    recomputed = analysis.recent_reports(db_session=db_session, patient_ids=stale, cfg=cfg)
    summaries = {
        **current,
        **{pid: analyzer.summarize(reports, cfg) for pid, reports in recomputed.items()},
    }
    for patient_id, summary in summaries.items():
        row = rows[patient_id]
        row.latest_pain_before = summary.latest_pain_before
        row.latest_pain_after = summary.latest_pain_after
        row.last_session_at = summary.last_session_at
        row.trend = summary.trend


def _fill_open_alerts(db_session: Session, ids: list, rows: dict) -> None:
    query = (
        select(Alert.patient_id, Alert.severity, func.count())
        .where(Alert.patient_id.in_(ids), Alert.status.in_(ACTIVE_STATUSES))
        .group_by(Alert.patient_id, Alert.severity)
    )
    for patient_id, severity, count in db_session.execute(query):
        rows[patient_id].open_alerts[severity] = count


@dataclass
class Techniques:
    """The technique x pressure rows and the patients whose sessions they count."""

    rows: list[dict]
    patient_ids: list[uuid.UUID]


def techniques(*, db_session: Session, user: User) -> Techniques:
    """Technique x pressure across the caseload: one grouped query, and one for its patients."""
    counted = [MassageSession.deleted_at.is_(None)]
    visible = access.visible_patient_ids(user)
    if visible is not None:
        counted.append(MassageSession.patient_id.in_(visible))
    change = MassageSession.pain_after - MassageSession.pain_before
    query = (
        select(
            MassageSession.technique,
            MassageSession.pressure,
            func.count(distinct(MassageSession.patient_id)),
            func.count(),
            func.count(MassageSession.pain_after),
            func.avg(change),
            func.sum(case((change <= -2, 1), else_=0)),
            func.sum(case((change >= 2, 1), else_=0)),
        )
        .where(*counted)
        .group_by(MassageSession.technique, MassageSession.pressure)
        .order_by(MassageSession.technique, MassageSession.pressure)
    )
    rows = []
    for (
        technique,
        pressure,
        patients,
        sessions,
        with_after,
        mean,
        improved,
        worsened,
    ) in db_session.execute(query):
        rows.append(
            {
                "technique": technique,
                "pressure": pressure,
                "patients": patients,
                "sessions": sessions,
                "with_pain_after": with_after,
                "mean_change": round(float(mean), 3) if mean is not None else None,
                "improved_share": round(improved / with_after, 3) if with_after else None,
                "worsened_share": round(worsened / with_after, 3) if with_after else None,
            }
        )
    patient_ids = select(distinct(MassageSession.patient_id)).where(*counted)
    return Techniques(rows=rows, patient_ids=list(db_session.scalars(patient_ids)))
