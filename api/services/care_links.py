"""Care links: a patient grants a therapist access; either side can end it at once."""

import uuid

from sqlalchemy import Select, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.errors import Conflict, Invalid, NotFound
from api.services import audit, users
from models import CareLink, User, utcnow
from models.base import is_unique_violation
from models.changes import stamp


def create(
    *, db_session: Session, patient: User, therapist_email: str, by_operator: bool = False
) -> CareLink:
    """The patient grants the therapist access (or the operator's command line does for them;
    the audit then names no user). An email of no active therapist account, a deactivated
    therapist's included, gets one answer: it tells nothing about the account."""
    therapist = users.get_by_email(db_session=db_session, email=therapist_email)
    if therapist is None or therapist.role != "therapist" or therapist.deactivated_at is not None:
        raise Invalid(
            "No therapist account has this email.",
            errors={"therapist_email": ["No therapist account has this email."]},
        )
    link = CareLink(
        id=uuid.uuid4(), patient_id=patient.id, therapist_id=therapist.id, status="active"
    )
    db_session.add(link)
    audit.record_change(
        db_session,
        action="care_link.create",
        resource_type="care_link",
        record_=link,
        status=201,
        actor=None if by_operator else patient,
    )
    try:
        stamp(db_session)
    except IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        db_session.rollback()
        raise Conflict("This therapist already has access.") from exc
    return link


def get_all(*, user: User | None, status: str | None = None) -> Select:
    """The links `user` is a side of; every link for an admin or None (the operator)."""
    query = select(CareLink)
    if user is None:
        pass
    elif user.role == "patient":
        query = query.where(CareLink.patient_id == user.id)
    elif user.role == "therapist":
        query = query.where(CareLink.therapist_id == user.id)
    if status:
        query = query.where(CareLink.status == status)
    return query


def get_or_raise(*, db_session: Session, user: User | None, link_id: uuid.UUID) -> CareLink:
    """The link if `user` is one of its two sides, an admin, or None (the operator)."""
    query = select(CareLink).where(CareLink.id == link_id)
    if user is not None and user.role != "admin":
        query = query.where(or_(CareLink.patient_id == user.id, CareLink.therapist_id == user.id))
    link = db_session.scalar(query)
    if link is None:
        raise NotFound("No such care link.")
    return link


def end(*, db_session: Session, user: User | None, link_id: uuid.UUID) -> CareLink:
    link = get_or_raise(db_session=db_session, user=user, link_id=link_id)
    if link.status == "active":
        link.status = "ended"
        link.ended_at = utcnow()
        link.ended_by = user.id if user else None
        audit.record_change(
            db_session,
            action="care_link.end",
            resource_type="care_link",
            record_=link,
            status=204,
            actor=user,
        )
    return link
