"""Massage sessions and check-ins: the patient's reports, soft-deleted as tombstones."""

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    text,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from models.base import Base, UTCDateTime, utcnow

TECHNIQUES = (
    "swedish",
    "myofascial_release",
    "trigger_point",
    "deep_tissue",
    "sports",
    "shiatsu",
    "other",
)
PRESSURES = ("light", "moderate", "firm", "deep")
AREAS = (
    "lower_back",
    "buttock",
    "piriformis",
    "hip",
    "hamstring",
    "calf",
    "foot",
    "sciatic_nerve_path",
)
SYMPTOM_SIDES = ("left", "right", "both")
# The nerve grades (0-3) of the symptoms; NULL when the report did not grade one.
GRADES = ("numbness", "tingling", "weakness")
# A report's `symptoms` object: its keys and the columns that hold them.
SYMPTOM_COLUMNS = {
    "numbness": "numbness",
    "tingling": "tingling",
    "weakness": "weakness",
    "side": "symptom_side",
    "bladder_bowel_change": "bladder_bowel_change",
    "saddle_numbness": "saddle_numbness",
}


class ReportMixin:
    """Columns shared by sessions and check-ins: owner, symptoms, bookkeeping."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)

    @declared_attr
    def patient_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(ForeignKey("users.id", ondelete="CASCADE"))

    # Nerve grades 0-3; NULL when the report did not grade the symptom (pain only).
    numbness: Mapped[int | None] = mapped_column(SmallInteger)
    tingling: Mapped[int | None] = mapped_column(SmallInteger)
    weakness: Mapped[int | None] = mapped_column(SmallInteger)
    symptom_side: Mapped[str | None] = mapped_column(String(8))
    bladder_bowel_change: Mapped[bool] = mapped_column(Boolean, default=False)
    saddle_numbness: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(default=1)
    # Server change sequence (models.changes); what /v1/sync pages by.
    change_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    # Attributes made of several columns ({attribute: {key: column}}), for what renders
    # rows without loading them (api/schemas/rendered.py).
    COMPOSITE_ATTRIBUTES = {"symptoms": SYMPTOM_COLUMNS}

    @declared_attr.directive
    def __mapper_args__(cls) -> dict:
        # Optimistic locking: a concurrent write of the same row fails instead of winning.
        return {"version_id_col": cls.__table__.c.version}

    @property
    def symptoms(self) -> dict:
        return {key: getattr(self, column) for key, column in SYMPTOM_COLUMNS.items()}

    @symptoms.setter
    def symptoms(self, value: dict) -> None:
        self.numbness = value.get("numbness")
        self.tingling = value.get("tingling")
        self.weakness = value.get("weakness")
        self.symptom_side = value.get("side")
        self.bladder_bowel_change = value.get("bladder_bowel_change", False)
        self.saddle_numbness = value.get("saddle_numbness", False)


def _symptom_checks() -> tuple[CheckConstraint, ...]:
    return (
        CheckConstraint("numbness BETWEEN 0 AND 3", name="numbness"),
        CheckConstraint("tingling BETWEEN 0 AND 3", name="tingling"),
        CheckConstraint("weakness BETWEEN 0 AND 3", name="weakness"),
    )


def _graded_indexes(table: str, felt: str) -> tuple[Index, ...]:
    """A patient's reports that graded weakness, and those that graded numbness, in felt
    order: the analyzer reads the last few of each (its nerve window) without walking past
    every pain-only check-in of a patient who seldom grades."""
    return tuple(
        Index(
            f"ix_{table}_patient_{grade}",
            "patient_id",
            felt,
            sqlite_where=text(f"{grade} IS NOT NULL"),
            postgresql_where=text(f"{grade} IS NOT NULL"),
        )
        for grade in ("weakness", "numbness")
    )


class MassageSession(ReportMixin, Base):
    __tablename__ = "sessions"
    __table_args__ = (
        *_symptom_checks(),
        CheckConstraint("pain_before BETWEEN 0 AND 10", name="pain_before"),
        CheckConstraint("pain_after BETWEEN 0 AND 10", name="pain_after"),
        CheckConstraint("duration_minutes BETWEEN 1 AND 240", name="duration_minutes"),
        Index("ix_sessions_patient_started", "patient_id", "started_at"),
        Index("ix_sessions_patient_change", "patient_id", "change_seq"),
        *_graded_indexes("sessions", "started_at"),
    )

    therapist_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_minutes: Mapped[int] = mapped_column(SmallInteger)
    technique: Mapped[str] = mapped_column(String(32))
    pressure: Mapped[str] = mapped_column(String(16))
    areas: Mapped[list[str]] = mapped_column(JSON, default=list)
    acute_flare: Mapped[bool] = mapped_column(Boolean, default=False)
    pain_before: Mapped[int] = mapped_column(SmallInteger)
    pain_after: Mapped[int | None] = mapped_column(SmallInteger)

    @property
    def felt_at(self) -> datetime:
        return self.started_at


class CheckIn(ReportMixin, Base):
    __tablename__ = "checkins"
    __table_args__ = (
        *_symptom_checks(),
        CheckConstraint("pain BETWEEN 0 AND 10", name="pain"),
        Index("ix_checkins_patient_recorded", "patient_id", "recorded_at"),
        Index("ix_checkins_patient_change", "patient_id", "change_seq"),
        *_graded_indexes("checkins", "recorded_at"),
    )

    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    pain: Mapped[int] = mapped_column(SmallInteger)

    @property
    def felt_at(self) -> datetime:
        return self.recorded_at


def felt_column(model: type[MassageSession] | type[CheckIn]):
    """The column of the time a report was felt: what filters and orders reports."""
    return model.started_at if model is MassageSession else model.recorded_at
