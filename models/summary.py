"""Each patient's summary (latest session values, trend), kept by every write's analysis."""

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow


class PatientSummary(Base):
    """One row per patient with reports, written in the transaction of each write.

    Lists of patients read these rows instead of every patient's reports. ``basis`` names
    the ruleset and thresholds the trend was computed under; a row under another basis is
    stale and readers compute that patient's summary from the reports instead.
    """

    __tablename__ = "patient_summaries"

    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    latest_pain_before: Mapped[int | None] = mapped_column(SmallInteger)
    latest_pain_after: Mapped[int | None] = mapped_column(SmallInteger)
    last_session_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    trend: Mapped[str] = mapped_column(String(16))
    basis: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
