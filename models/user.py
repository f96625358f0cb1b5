"""Accounts (patients, therapists, admins) and the patient profile."""

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, UTCDateTime, utcnow

ROLES = ("patient", "therapist", "admin")
SIDES = ("left", "right", "both", "unknown")
CAUSES = ("herniated_disc", "spinal_stenosis", "piriformis", "other", "unknown")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # Stored lower-cased, so the unique index is case-insensitive on every database.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set by an admin: the account can no longer sign in and its tokens stop working at once;
    # its records stay (a clinic must keep and export them).
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Loaded when used (the analyzer's patient context), not with every signed-in request.
    profile: Mapped["PatientProfile | None"] = relationship(
        back_populates="user", uselist=False, lazy="select"
    )


class PatientProfile(Base):
    __tablename__ = "patient_profiles"
    __table_args__ = (
        CheckConstraint(_in("affected_side", SIDES), name="affected_side"),
        CheckConstraint(_in("suspected_cause", CAUSES), name="suspected_cause"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    affected_side: Mapped[str] = mapped_column(String(16), default="unknown")
    suspected_cause: Mapped[str] = mapped_column(String(32), default="unknown")
    medically_cleared_at: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship(back_populates="profile")
