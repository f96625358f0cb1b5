"""Who may see which patient: the one place that answers it."""

import uuid
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from api.errors import Invalid, NotFound
from models import CareLink, User


def visible_patient_ids(user: User) -> Select | None:
    """A select of the patient ids the user may see, or None for 'everyone' (admin)."""
    return visible_to(user.role, user.id)


def visible_to(role: str, viewer: Any) -> Select | None:
    """As visible_patient_ids, for a user of `role` whose id is `viewer`: a value, or a
    bind parameter in a statement built once for every user of that role."""
    if role == "admin":
        return None
    if role == "therapist":
        return select(CareLink.patient_id).where(
            CareLink.therapist_id == viewer, CareLink.status == "active"
        )
    return select(User.id).where(User.id == viewer)


def can_access_patient(*, db_session: Session, user: User, patient_id: uuid.UUID) -> bool:
    if user.role == "admin":
        return db_session.get(User, patient_id) is not None
    if user.role == "patient":
        return patient_id == user.id
    return bool(
        db_session.scalar(
            select(
                exists().where(
                    CareLink.therapist_id == user.id,
                    CareLink.patient_id == patient_id,
                    CareLink.status == "active",
                )
            )
        )
    )


def get_patient_or_raise(*, db_session: Session, user: User, patient_id: uuid.UUID) -> User:
    """The patient, if the user may see them; otherwise the same 404 as an unknown id."""
    if not can_access_patient(db_session=db_session, user=user, patient_id=patient_id):
        raise NotFound("No such patient.")
    patient = db_session.get(User, patient_id)
    if patient is None or patient.role != "patient":
        raise NotFound("No such patient.")
    return patient


def patient_named_in_body(*, db_session: Session, user: User, patient_id: uuid.UUID | None) -> User:
    """The patient a write or screening is for: the caller if a patient, else `patient_id`.

    One 422 answers every patient_id the caller may not use, whether it exists or not.
    """
    if user.role == "patient":
        if patient_id not in (None, user.id):
            raise unknown_patient("Patients act only for themselves.")
        return user
    if patient_id is None:
        raise Invalid(
            "A therapist or admin names the patient: patient_id is required.",
            errors={"patient_id": ["Missing data for field."]},
        )
    try:
        return get_patient_or_raise(db_session=db_session, user=user, patient_id=patient_id)
    except NotFound as exc:
        raise unknown_patient() from exc


def unknown_patient(message: str = "Unknown patient.") -> Invalid:
    """A body's patient_id the caller may not use: the same answer whether it exists or not."""
    return Invalid("Unknown patient.", errors={"patient_id": [message]})
