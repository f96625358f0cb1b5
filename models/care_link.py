"""Care links: a patient's grant of access to a therapist."""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow

LINK_STATUSES = ("active", "ended")


class CareLink(Base):
    __tablename__ = "care_links"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'ended')", name="status"),
        # At most one active link per pair; ended links stay as history.
        Index(
            "uq_care_links_active_pair",
            "patient_id",
            "therapist_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_care_links_therapist_status", "therapist_id", "status"),
        Index("ix_care_links_therapist_change", "therapist_id", "change_seq"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    therapist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    change_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
