"""Sessions and check-ins: create, read, list, update, soft-delete; every write re-analyzes.

Writes flush and never commit: the view's transaction owner (api.db.transactional) commits
the report, its analysis, its audit entry and (with an Idempotency-Key) the stored
response at once.
"""

import uuid
from collections.abc import Container, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Row, Select, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.elements import ColumnElement

from api.errors import Conflict, Invalid, NotFound, StalePrecondition
from api.services import access, alerts, analysis, audit, versions
from models import CareLink, CheckIn, MassageSession, User, utcnow
from models.base import column_rows, get_by_id, is_unique_violation
from models.changes import stamp
from models.report import GRADES, felt_column

Report = MassageSession | CheckIn
ReportModel = type[MassageSession] | type[CheckIn]


@dataclass
class WriteResult:
    """A written report and the alerts the write raised or updated."""

    report: Report
    alerts: list[Any] = field(default_factory=list)
    created: bool = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.report, name)


# (resource type in the audit trail, noun in messages)
_NAMES = {MassageSession: ("session", "session"), CheckIn: ("checkin", "check-in")}


def _kind(model: ReportModel) -> str:
    return _NAMES[model][0]


def _noun(model: ReportModel) -> str:
    return _NAMES[model][1]


def _therapist_for(
    *, db_session: Session, user: User, patient: User, therapist_id: uuid.UUID | None
) -> uuid.UUID | None:
    if user.role == "therapist":
        if therapist_id not in (None, user.id):
            raise Invalid(
                "A therapist records their own sessions.",
                errors={"therapist_id": ["Must be you or empty."]},
            )
        return user.id
    if therapist_id is None:
        return None
    linked = db_session.scalar(
        select(CareLink.id).where(
            CareLink.patient_id == patient.id,
            CareLink.therapist_id == therapist_id,
            CareLink.status == "active",
        )
    )
    if linked is None:
        raise Invalid(
            "The therapist is not linked to this patient.",
            errors={"therapist_id": ["Not a therapist linked to this patient."]},
        )
    return therapist_id


def _assign(report: Report, data: dict) -> None:
    for key, value in data.items():
        if key == "symptoms":
            report.symptoms = {**report.symptoms, **value}
        else:
            setattr(report, key, value)


def _same_content(report: Report, data: dict) -> bool:
    for key, value in data.items():
        if key == "symptoms":
            if not _same_symptoms(report.symptoms, value):
                return False
        elif getattr(report, key) != value:
            return False
    return True


def _same_symptoms(stored: dict, sent: dict) -> bool:
    """Before a grade could be left out (migration 0012), one left out was stored as 0: a
    phone resending such a report with its id gets it back, not a 409."""
    return all(
        stored[key] == value or (value is None and key in GRADES and stored[key] == 0)
        for key, value in sent.items()
    )


def _patient_and_data(db_session: Session, user: User, data: dict) -> tuple[User, dict]:
    data = dict(data)
    patient = access.patient_named_in_body(
        db_session=db_session, user=user, patient_id=data.pop("patient_id", None)
    )
    return patient, data


def _new_data(
    db_session: Session, user: User, model: ReportModel, patient: User, data: dict
) -> dict:
    """The data of a new report, its therapist checked: asked only of a report not yet
    stored, so that a retry of one stored while a link held gets it back once it ended."""
    if model is MassageSession:
        therapist_id = _therapist_for(
            db_session=db_session, user=user, patient=patient, therapist_id=data.get("therapist_id")
        )
        data = {**data, "therapist_id": therapist_id}
    return data


def _new_report(model: ReportModel, patient: User, report_id: uuid.UUID, data: dict) -> Report:
    report = model(id=report_id, patient_id=patient.id)
    data = dict(data)
    report.symptoms = data.pop("symptoms")
    _assign(report, data)
    return report


def prepare(
    *, db_session: Session, user: User, model: ReportModel, data: dict
) -> analysis.Prepared | None:
    """The analysis of a report `create` is about to write, made from what is stored now:
    the reads a write can make before it takes the writer's lock (see create). None for a
    retry of a report already there."""
    patient, data = _patient_and_data(db_session, user, data)
    report_id = data.pop("id", None)
    if report_id is not None and get_by_id(db_session, model, report_id) is not None:
        return None
    data = _new_data(db_session, user, model, patient, data)
    report = _new_report(model, patient, report_id or uuid.uuid4(), data)
    return analysis.prepare(db_session=db_session, patient=patient, report=report)


def create(
    *,
    db_session: Session,
    user: User,
    model: ReportModel,
    data: dict,
    prepared: analysis.Prepared | None = None,
) -> WriteResult:
    """Save a new report, or return the same one when a retry sends an existing id.

    `prepared` (from ``prepare``, made before this transaction) spares the write its own
    analysis when the patient's reports are still as they were then.
    """
    # Asked again if prepare asked already: the answer stands only under the write's lock.
    patient, data = _patient_and_data(db_session, user, data)
    # The patient's lock comes first: a retry with the same client id then waits for the
    # first write and finds it, and PostgreSQL never sees the lock after the insert's own.
    alerts.lock_patient(db_session=db_session, patient_id=patient.id)
    report_id = data.pop("id", None)
    if report_id is not None:
        existing = get_by_id(db_session, model, report_id)
        if existing is not None:
            return _existing(db_session, existing, patient, data, model)
        _refuse_id_of_other_kind(db_session, model, report_id)
    elif prepared is not None:
        report_id = uuid.UUID(prepared.report.id)
    data = _new_data(db_session, user, model, patient, data)
    report = _new_report(model, patient, report_id or uuid.uuid4(), data)
    db_session.add(report)
    with _refused_if_taken(db_session, model):
        # Judged before it is written: the report, its alerts and its change numbers are
        # then written by one flush (stamp), and the alert events after it.
        changes = analysis.analyze_new(
            db_session=db_session, patient=patient, report=report, prepared=prepared
        )
        _audit_write(db_session, user, report, "create", 201)
        stamp(db_session)
    alerts.announce(db_session, changes)
    return WriteResult(report=report, alerts=changes.touched(), created=True)


@contextmanager
def _refused_if_taken(db_session: Session, model: ReportModel) -> Iterator[None]:
    """A concurrent write that took the same id first (another patient's) gets 409."""
    try:
        yield
    except IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        db_session.rollback()
        raise Conflict(f"A {_noun(model)} with this id already exists.") from exc


def _refuse_id_of_other_kind(db_session: Session, model: ReportModel, report_id: uuid.UUID) -> None:
    """A session and a check-in never share an id: the analyzer tells a patient's reports
    apart by it (and a client that sent one kind's id for the other has mixed them up)."""
    other = CheckIn if model is MassageSession else MassageSession
    if get_by_id(db_session, other, report_id) is not None:
        raise Conflict(
            f"A {_noun(other)} with this id already exists.", errors={"id": ["Already used."]}
        )


def _existing(
    db_session: Session, existing: Report, patient: User, data: dict, model: ReportModel
) -> WriteResult:
    """The report as stored, when it is this one sent again, with the alerts it raised that
    are still active; else 409."""
    comparable = {k: v for k, v in data.items() if not (k == "therapist_id" and v is None)}
    if (
        existing.patient_id == patient.id
        and existing.deleted_at is None
        and _same_content(existing, comparable)
    ):
        raised = alerts.still_raised_by(db_session, patient_id=patient.id, report_id=existing.id)
        return WriteResult(report=existing, alerts=raised, created=False)
    if existing.patient_id == patient.id and existing.deleted_at is not None:
        raise Conflict(
            f"The {_noun(model)} with this id was deleted; a new record needs a new id.",
            errors={"id": ["Deleted."]},
        )
    raise Conflict(
        f"A {_noun(model)} with this id already exists with other content.",
        errors={"id": ["Already used."]},
    )


def get_or_raise(
    *, db_session: Session, user: User, model: ReportModel, report_id: uuid.UUID
) -> Report:
    report = get_by_id(db_session, model, report_id)
    if (
        report is None
        or report.deleted_at is not None
        or not access.can_access_patient(
            db_session=db_session, user=user, patient_id=report.patient_id
        )
    ):
        raise NotFound(f"No such {_noun(model)}.")
    return report


def _to_change(db_session: Session, user: User, model: ReportModel, report_id: uuid.UUID) -> Report:
    """The report to edit or delete, as it is once its patient's lock is held: without
    If-Match the last write wins, and with it the precondition is checked on the current
    version; a deletion made meanwhile is a 404."""
    report = get_or_raise(db_session=db_session, user=user, model=model, report_id=report_id)
    alerts.hold_patient_of(db_session, report)
    if report.deleted_at is not None:
        raise NotFound(f"No such {_noun(model)}.")
    return report


@cache
def _one_row(model: ReportModel, item: ColumnElement) -> Select:
    return select(item, model.id, model.patient_id, model.version).where(
        model.id == bindparam("report_id"), model.deleted_at.is_(None)
    )


def read(
    *,
    db_session: Session,
    user: User,
    model: ReportModel,
    report_id: uuid.UUID,
    item: ColumnElement,
) -> Row:
    """A report for display, as a row of `item` (its JSON, as the database renders it: see
    api/schemas/rendered.py) with its ``id``, ``patient_id`` and ``version``; no object is
    loaded. Reading someone else's is audited."""
    row = column_rows(db_session, _one_row(model, item), {"report_id": report_id}).first()
    if row is None or not access.can_access_patient(
        db_session=db_session, user=user, patient_id=row.patient_id
    ):
        raise NotFound(f"No such {_noun(model)}.")
    audit.record_read(
        db_session,
        user=user,
        resource_type=_kind(model),
        resource_id=row.id,
        patient_id=row.patient_id,
    )
    return row


def get_all(
    *,
    user: User,
    model: ReportModel,
    patient_id: uuid.UUID | None = None,
    felt_from: datetime | None = None,
    felt_to: datetime | None = None,
    columns: tuple = (),
) -> tuple[Select, dict]:
    """The live reports `user` may see, narrowed to a patient and a span of felt times, as
    `columns` (default: the report objects): a statement built once for each shape of the
    question, its values bound by name, and the values to run it with. Building it and
    its cache key anew cost a sixth of a page's request."""
    values = {
        "viewer_id": None if user.role == "admin" else user.id,
        "patient_id": patient_id,
        "felt_from": felt_from,
        "felt_to": felt_to,
    }
    shape = (patient_id is not None, felt_from is not None, felt_to is not None)
    query = _listing(model, user.role, columns, *shape)
    return query, {name: value for name, value in values.items() if value is not None}


@cache
def _listing(
    model: ReportModel, role: str, columns: tuple, narrowed: bool, since: bool, until: bool
) -> Select:
    felt = felt_column(model)
    query = (select(*columns) if columns else select(model)).where(model.deleted_at.is_(None))
    visible = access.visible_to(role, bindparam("viewer_id"))
    if visible is not None:
        query = query.where(model.patient_id.in_(visible))
    if narrowed:
        query = query.where(model.patient_id == bindparam("patient_id"))
    if since:
        query = query.where(felt >= bindparam("felt_from"))
    if until:
        query = query.where(felt < bindparam("felt_to"))
    return query


def sort_keys(model: ReportModel) -> list:
    return [felt_column(model), model.id]


def update(
    *,
    db_session: Session,
    user: User,
    model: ReportModel,
    report_id: uuid.UUID,
    changes: dict,
    if_match: Container[str] | None = None,
) -> WriteResult:
    report = _to_change(db_session, user, model, report_id)
    versions.check_precondition(report, if_match, _noun(type(report)))
    changes = dict(changes)
    if model is MassageSession and "therapist_id" in changes:
        patient = db_session.get(User, report.patient_id)
        changes["therapist_id"] = _therapist_for(
            db_session=db_session, user=user, patient=patient, therapist_id=changes["therapist_id"]
        )
    felt_before = report.felt_at
    moved_to = changes.get(felt_column(model).key)
    correction = analysis.correction_of(db_session=db_session, report=report, moved_to=moved_to)
    _assign(report, changes)
    correction = analysis.after_change(correction, report)
    # Moved, it is judged at its new place, then from its old one: each window may end
    # before the other place (analysis.AFTER_LIMIT). The firings found again at the new
    # place move with it first, and those that no longer hold are withdrawn from the old.
    foci = [report.felt_at] if report.felt_at == felt_before else [report.felt_at, felt_before]
    return _finish_write(
        db_session, report, foci=foci, correction=correction, user=user, verb="update"
    )


def delete(
    *,
    db_session: Session,
    user: User,
    model: ReportModel,
    report_id: uuid.UUID,
    if_match: Container[str] | None = None,
) -> WriteResult:
    report = _to_change(db_session, user, model, report_id)
    versions.check_precondition(report, if_match, _noun(type(report)))
    correction = analysis.correction_of(db_session=db_session, report=report)
    report.deleted_at = utcnow()
    return _finish_write(
        db_session, report, foci=[report.felt_at], correction=correction, user=user, verb="delete"
    )


def _audit_write(db_session: Session, user: User, report: Report, verb: str, status: int) -> None:
    if user.id != report.patient_id:
        kind = _kind(type(report))
        audit.record_change(
            db_session,
            action=f"{kind}.{verb}",
            resource_type=kind,
            record_=report,
            status=status,
            actor=user,
        )


def _finish_write(
    db_session: Session,
    report: Report,
    *,
    foci: list[datetime],
    correction: alerts.Correction,
    user: User,
    verb: str,
) -> WriteResult:
    """Flush the write with its analysis (re-judged from each of `foci` in turn, withdrawing
    what `correction` took away) and audit; the request's owner commits."""
    try:
        db_session.flush()
    except StaleDataError as exc:
        db_session.rollback()
        raise StalePrecondition(
            "Another write changed this record at the same time; retry."
        ) from exc
    patient = db_session.get(User, report.patient_id)
    touched: dict = {}
    for focus in foci:
        changes = analysis.reanalyze(
            db_session=db_session, patient=patient, focus=focus, corrected=correction
        )
        touched.update((alert.id, alert) for alert in changes.touched())
    _audit_write(db_session, user, report, verb, 204 if verb == "delete" else 200)
    stamp(db_session)
    return WriteResult(report=report, alerts=list(touched.values()), created=False)
