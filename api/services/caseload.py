"""A therapist's caseload: one row per patient, built with a fixed number of queries."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Select, case, distinct, func, literal, select, union_all
from sqlalchemy.orm import Session

import analyzer
from api.services import access, analysis
from models import Alert, CheckIn, MassageSession, User
from models.alert import ACTIVE_STATUSES

# Recent reports read for the trend: twice its window of 14 baseline values, so that sore
# check-ins (left out of the baseline) rarely leave it short.
TREND_REPORTS = 28


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
    """Fill the rows of these patients: three more queries whatever their number."""
    rows = {p.id: PatientRow(patient=p) for p in patients}
    if not rows:
        return []
    ids = list(rows)
    _fill_latest_sessions(db_session, ids, rows)
    _fill_open_alerts(db_session, ids, rows)
    _fill_trends(db_session, ids, rows)
    return list(rows.values())


def caseload(*, db_session: Session, user: User) -> list[PatientRow]:
    patients = list(db_session.scalars(patients_query(user)))
    rows = rows_for(db_session=db_session, patients=patients)
    return sorted(rows, key=PatientRow.urgency)


def _fill_latest_sessions(db_session: Session, ids: list, rows: dict) -> None:
    ranked = (
        select(
            MassageSession.patient_id,
            MassageSession.pain_before,
            MassageSession.pain_after,
            MassageSession.started_at,
            func.row_number()
            .over(
                partition_by=MassageSession.patient_id,
                order_by=(MassageSession.started_at.desc(), MassageSession.id.desc()),
            )
            .label("rank"),
        )
        .where(MassageSession.patient_id.in_(ids), MassageSession.deleted_at.is_(None))
        .subquery()
    )
    for patient_id, before, after, started_at, _ in db_session.execute(
        select(ranked).where(ranked.c.rank == 1)
    ):
        row = rows[patient_id]
        row.latest_pain_before, row.latest_pain_after = before, after
        row.last_session_at = _aware(started_at)


def _fill_open_alerts(db_session: Session, ids: list, rows: dict) -> None:
    query = (
        select(Alert.patient_id, Alert.severity, func.count())
        .where(Alert.patient_id.in_(ids), Alert.status.in_(ACTIVE_STATUSES))
        .group_by(Alert.patient_id, Alert.severity)
    )
    for patient_id, severity, count in db_session.execute(query):
        rows[patient_id].open_alerts[severity] = count


def _fill_trends(db_session: Session, ids: list, rows: dict) -> None:
    reports = union_all(
        select(
            MassageSession.id,
            MassageSession.patient_id,
            MassageSession.started_at.label("felt"),
            literal("session").label("kind"),
            MassageSession.pain_before.label("pain"),
        ).where(MassageSession.patient_id.in_(ids), MassageSession.deleted_at.is_(None)),
        select(
            CheckIn.id,
            CheckIn.patient_id,
            CheckIn.recorded_at.label("felt"),
            literal("checkin").label("kind"),
            CheckIn.pain.label("pain"),
        ).where(CheckIn.patient_id.in_(ids), CheckIn.deleted_at.is_(None)),
    ).subquery()
    ranked = select(
        reports,
        func.row_number()
        .over(partition_by=reports.c.patient_id, order_by=reports.c.felt.desc())
        .label("rank"),
    ).subquery()
    query = select(ranked).where(ranked.c.rank <= TREND_REPORTS)
    series: dict = {pid: [] for pid in ids}
    for row in db_session.execute(query):
        series[row.patient_id].append(_report(row, _aware(row.felt)))
    cfg = analysis.config()
    for patient_id, reports_ in series.items():
        rows[patient_id].trend = analyzer.trend_label(reports_, cfg)


def _report(row, felt: datetime) -> analyzer.Report:
    if row.kind == "session":
        return analyzer.Report(id=str(row.id), kind="session", felt_at=felt, pain_before=row.pain)
    return analyzer.Report(id=str(row.id), kind="checkin", felt_at=felt, pain=row.pain)


def _aware(value: datetime | None) -> datetime | None:
    # A UNION can hand SQLite's stored text-free naive UTC back without the column type.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def techniques(*, db_session: Session, user: User) -> list[dict]:
    """Technique x pressure across the caseload: one grouped query."""
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
        .where(MassageSession.deleted_at.is_(None))
        .group_by(MassageSession.technique, MassageSession.pressure)
        .order_by(MassageSession.technique, MassageSession.pressure)
    )
    visible = access.visible_patient_ids(user)
    if visible is not None:
        query = query.where(MassageSession.patient_id.in_(visible))
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
    return rows
