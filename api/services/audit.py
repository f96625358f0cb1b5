"""Audit trail entries; the request's actor, id and address come from the session's info."""

import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from api.pagination import Page
from models import AuditEvent, User


def record(
    db_session: Session,
    *,
    action: str,
    resource_type: str,
    resource_id: object = None,
    patient_id: uuid.UUID | None = None,
    outcome: str = "success",
    status: int = 200,
    row_count: int | None = None,
    actor: User | None = None,
) -> AuditEvent:
    """Add an event to the session; it is committed with the caller's transaction.

    Without ``actor``, the signed-in user of the request (None: the system); the request
    id and address come from the session's ``info`` as the request's edge set them.
    """
    who = actor or db_session.info.get("actor")
    event = AuditEvent(
        actor_id=who.id if who else None,
        actor_role=who.role if who else None,
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id) if resource_id is not None else None,
        patient_id=patient_id,
        outcome=outcome,
        status=status,
        row_count=row_count,
        request_id=db_session.info.get("request_id"),
        ip=db_session.info.get("ip"),
    )
    db_session.add(event)
    return event


def record_change(
    db_session: Session,
    *,
    action: str,
    resource_type: str,
    record_: object,
    status: int = 200,
    actor: User | None = None,
) -> AuditEvent:
    """A change to a patient's record (anything with `id` and `patient_id`)."""
    return record(
        db_session,
        action=action,
        resource_type=resource_type,
        resource_id=record_.id,
        patient_id=record_.patient_id,
        status=status,
        actor=actor,
    )


def _after_read(db_session: Session, event: AuditEvent) -> None:
    # Written by the request's edge once the read's transaction has ended (api.db).
    db_session.expunge(event)
    db_session.info.setdefault("after_read", []).append(event)


def record_read(
    db_session: Session,
    *,
    user: User,
    resource_type: str,
    resource_id: object,
    patient_id: uuid.UUID,
) -> None:
    """A read of one record: audited when it is someone else's health data."""
    if patient_id == user.id:
        return
    event = record(
        db_session,
        action=f"{resource_type}.read",
        resource_type=resource_type,
        resource_id=resource_id,
        patient_id=patient_id,
        actor=user,
    )
    _after_read(db_session, event)


def record_link_use(
    db_session: Session, *, user: User, patient_id: uuid.UUID, resource: str
) -> None:
    """An opening of a report link (page, chart or PDF), whoever's data it is."""
    event = record(
        db_session,
        action="report_link.open",
        resource_type="patient_report",
        resource_id=resource,
        patient_id=patient_id,
        actor=user,
    )
    _after_read(db_session, event)


def record_list(
    db_session: Session,
    *,
    user: User,
    resource_type: str,
    counts: Mapping[uuid.UUID, int | None],
    action: str | None = None,
) -> None:
    """A list, export or report of patients' data: one event per patient whose data was
    handed out, the caller's own aside, with that patient's number of rows (None: the
    patient's rows went into an aggregate), so that a search by patient finds each read.
    """
    for patient_id, row_count in counts.items():
        if patient_id == user.id:
            continue
        event = record(
            db_session,
            action=action or f"{resource_type}.list",
            resource_type=resource_type,
            patient_id=patient_id,
            row_count=row_count,
            actor=user,
        )
        _after_read(db_session, event)


def audited_page(db_session: Session, *, user: User, kind: str, page: Page) -> Page:
    """Audit a page of health records (each patient's but the caller's) and hand it back."""
    record_list(
        db_session,
        user=user,
        resource_type=kind.replace("-", ""),
        counts=Counter(item.patient_id for item in page.items),
    )
    return page


def get_all(
    *,
    actor_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    action: str | None = None,
    occurred_from: datetime | None = None,
    occurred_to: datetime | None = None,
) -> Select:
    query = select(AuditEvent)
    if actor_id is not None:
        query = query.where(AuditEvent.actor_id == actor_id)
    if patient_id is not None:
        query = query.where(AuditEvent.patient_id == patient_id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if occurred_from is not None:
        query = query.where(AuditEvent.occurred_at >= occurred_from)
    if occurred_to is not None:
        query = query.where(AuditEvent.occurred_at < occurred_to)
    return query


SORT_KEYS = [AuditEvent.occurred_at, AuditEvent.id]
