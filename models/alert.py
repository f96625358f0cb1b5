"""Alerts raised by the analyzer, and the trigger instances that are their evidence."""

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, UTCDateTime, utcnow

SEVERITIES = ("info", "caution", "warning", "urgent")
ALERT_STATUSES = ("open", "acknowledged", "resolved")
ACTIVE_STATUSES = ("open", "acknowledged")
OUTCOMES = ("accepted", "overridden")
RESOLUTIONS = ("clinician", "data_corrected")


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'acknowledged', 'resolved')", name="status"),
        CheckConstraint("severity IN ('info', 'caution', 'warning', 'urgent')", name="severity"),
        # De-duplication: one open or acknowledged alert per patient and rule.
        Index(
            "uq_alerts_active_rule",
            "patient_id",
            "rule",
            unique=True,
            sqlite_where=text("status IN ('open', 'acknowledged')"),
            postgresql_where=text("status IN ('open', 'acknowledged')"),
        ),
        Index("ix_alerts_patient_status", "patient_id", "status"),
        Index("ix_alerts_listing", "severity_rank", "last_seen_at", "id"),
        Index("ix_alerts_patient_change", "patient_id", "change_seq"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(48))
    severity: Mapped[str] = mapped_column(String(16))
    # 0 info .. 3 urgent: lets lists sort "most severe first" with a keyset cursor.
    severity_rank: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[str] = mapped_column(String(16), default="open")
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(String(2000))
    clinician_message: Mapped[str] = mapped_column(String(2000))
    recommendation: Mapped[str] = mapped_column(String(2000))
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)
    occurrences: Mapped[int] = mapped_column(default=1)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ruleset_version: Mapped[str] = mapped_column(String(32))
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledgement_outcome: Mapped[str | None] = mapped_column(String(16))
    acknowledgement_reason: Mapped[str | None] = mapped_column(String(2000))
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution: Mapped[str | None] = mapped_column(String(16))
    resolution_note: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    change_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Counts its changes (its ETag): optimistic locking, as the reports' version.
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    triggers: Mapped[list["AlertTrigger"]] = relationship(
        back_populates="alert", order_by="AlertTrigger.felt_at"
    )

    __mapper_args__ = {"version_id_col": version}


class AlertTrigger(Base):
    """One firing of a rule (the analyzer's finding key); re-analysis finds it again, not anew."""

    __tablename__ = "alert_triggers"
    __table_args__ = (
        Index("uq_alert_triggers_patient_key", "patient_id", "key", unique=True),
        Index("ix_alert_triggers_patient_felt", "patient_id", "felt_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    alert_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    felt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when a correction or deletion of the reports made this firing disappear.
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    alert: Mapped[Alert] = relationship(back_populates="triggers")


class AlertAcknowledgement(Base):
    """Each acknowledgement an alert was given, kept when an escalation reopens the alert
    (which clears the alert's own): the alert-quality report counts an override of a
    caution that later escalated as what it was."""

    __tablename__ = "alert_acknowledgements"
    __table_args__ = (
        CheckConstraint("outcome IN ('accepted', 'overridden')", name="outcome"),
        CheckConstraint("severity IN ('info', 'caution', 'warning', 'urgent')", name="severity"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    alert_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    # The alert's severity when acknowledged.
    severity: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(2000))
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    acknowledged_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Since when the alert had waited in the open inbox: first seen, or last reopened.
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When an escalation reopened the alert after this acknowledgement.
    reopened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
