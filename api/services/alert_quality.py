"""Alert quality over a period: how the alerts raised were acknowledged, overridden and
corrected away, per rule and severity (the measure of alert fatigue)."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from statistics import median

from sqlalchemy import ColumnElement, case, distinct, func, select
from sqlalchemy.orm import Session

from api.services import access
from models import Alert, AlertAcknowledgement, User
from models.alert import SEVERITIES


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


@dataclass(kw_only=True)
class Tally:
    """Counts over a set of alerts and their acknowledgements, and the seconds each
    acknowledgement waited."""

    raised: int = 0
    acknowledged: int = 0
    accepted: int = 0
    overridden: int = 0
    overridden_then_escalated: int = 0
    data_corrected: int = 0
    waits: list[float] = field(default_factory=list)

    @property
    def override_rate(self) -> float | None:
        return _ratio(self.overridden, self.accepted + self.overridden)

    @property
    def median_seconds_to_acknowledge(self) -> float | None:
        return round(median(self.waits), 3) if self.waits else None

    @property
    def data_corrected_share(self) -> float | None:
        return _ratio(self.data_corrected, self.raised)

    def add(self, other: "Tally") -> None:
        self.raised += other.raised
        self.acknowledged += other.acknowledged
        self.accepted += other.accepted
        self.overridden += other.overridden
        self.overridden_then_escalated += other.overridden_then_escalated
        self.data_corrected += other.data_corrected
        self.waits.extend(other.waits)


@dataclass(kw_only=True)
class RuleTally(Tally):
    rule: str
    severity: str

    def order(self) -> tuple:
        """Sort key: most severe first, then by rule."""
        return (-SEVERITIES.index(self.severity), self.rule)


@dataclass
class AlertQuality:
    start: datetime
    end: datetime
    rows: list[RuleTally]
    totals: Tally
    patient_ids: list[uuid.UUID]


def _raised_in(user: User, start: datetime, end: datetime) -> list:
    """Alerts first seen in [start, end) of the patients the user may see."""
    clauses = [Alert.first_seen_at >= start, Alert.first_seen_at < end]
    visible = access.visible_patient_ids(user)
    if visible is not None:
        clauses.append(Alert.patient_id.in_(visible))
    return clauses


def _counted(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


def _tallies(db_session: Session, raised: list) -> dict[tuple[str, str], RuleTally]:
    """Alerts raised and corrected away, by rule and the severity they have now."""
    query = (
        select(
            Alert.rule,
            Alert.severity,
            func.count(),
            _counted(Alert.resolution == "data_corrected"),
        )
        .where(*raised)
        .group_by(Alert.rule, Alert.severity)
    )
    return {
        (rule, severity): RuleTally(
            rule=rule, severity=severity, raised=n, data_corrected=corrected
        )
        for rule, severity, n, corrected in db_session.execute(query)
    }


def _add_acknowledgements(
    db_session: Session, raised: list, rows: dict[tuple[str, str], RuleTally]
) -> None:
    """Each acknowledgement of those alerts, at the severity it was given: an override of a
    caution that later escalated to a warning stays an override of a caution. The waits'
    median is taken in Python."""
    query = (
        select(
            Alert.rule,
            AlertAcknowledgement.severity,
            AlertAcknowledgement.outcome,
            AlertAcknowledgement.opened_at,
            AlertAcknowledgement.acknowledged_at,
            AlertAcknowledgement.reopened_at,
        )
        .join(Alert, Alert.id == AlertAcknowledgement.alert_id)
        .where(*raised)
    )
    for rule, severity, outcome, opened_at, acknowledged_at, reopened_at in db_session.execute(
        query
    ):
        row = rows.get((rule, severity))
        if row is None:  # acknowledged at a severity the alert has since left
            row = rows[rule, severity] = RuleTally(rule=rule, severity=severity)
        row.acknowledged += 1
        row.accepted += outcome == "accepted"
        row.overridden += outcome == "overridden"
        row.overridden_then_escalated += outcome == "overridden" and reopened_at is not None
        row.waits.append((acknowledged_at - opened_at).total_seconds())


def summary(*, db_session: Session, user: User, start: datetime, end: datetime) -> AlertQuality:
    """The report in three queries whatever the number of alerts: counts, acknowledgements,
    patients."""
    raised = _raised_in(user, start, end)
    rows = _tallies(db_session, raised)
    _add_acknowledgements(db_session, raised, rows)
    totals = Tally()
    for row in rows.values():
        totals.add(row)
    patient_ids = list(db_session.scalars(select(distinct(Alert.patient_id)).where(*raised)))
    return AlertQuality(
        start=start,
        end=end,
        rows=sorted(rows.values(), key=RuleTally.order),
        totals=totals,
        patient_ids=patient_ids,
    )
