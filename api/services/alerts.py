"""Alerts: de-duplicated from findings, listed, acknowledged and resolved."""

import json
import uuid
from collections.abc import Container
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from sqlalchemy import Select, and_, bindparam, false, func, null, or_, select, update
from sqlalchemy.orm import Session

import analyzer
from analyzer.texts import render
from api.errors import Conflict, NotFound
from api.services import access, audit, events, versions
from models import Alert, AlertAcknowledgement, AlertTrigger, User, utcnow
from models.alert import ACTIVE_STATUSES
from models.base import column_rows
from models.changes import stamp

EVIDENCE_ITEMS = 20
KEY_CHUNK = 500
CORRECTED_NOTE = "The reports behind this alert were corrected or deleted."


@dataclass
class Changes:
    """What one analysis did to the patient's alerts."""

    raised: list[Alert] = field(default_factory=list)
    updated: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    reopened: list[Alert] = field(default_factory=list)  # among `updated`, see _reopen

    def touched(self) -> list[Alert]:
        seen: dict[uuid.UUID, Alert] = {}
        for alert in (*self.raised, *self.updated, *self.resolved):
            seen.setdefault(alert.id, alert)
        return list(seen.values())

    def _mark_updated(self, alert: Alert) -> None:
        if alert not in self.raised and alert not in self.updated:
            self.updated.append(alert)


def _item(finding: analyzer.Finding) -> dict:
    return {
        "key": finding.key,
        "felt_at": finding.felt_at.isoformat(),
        "severity": finding.severity,
        **finding.evidence,
    }


def _speak(alert: Alert, finding: analyzer.Finding | None = None) -> None:
    """The alert says what its latest-felt firing at its severity says (a firing synced late,
    felt before the others, adds evidence but does not speak for it; a warning does not
    read as the caution before it). The texts are the `finding`'s when it is that firing
    (the analyzer wrote them); else the rule's, filled from that firing's evidence item as
    the analyzer fills them; an item an older ruleset wrote that no longer fills them
    leaves the texts as they are."""
    items = [i for i in alert.evidence.get("items", []) if i.get("severity") == alert.severity]
    if not items:
        return
    latest = max(items, key=lambda i: i["felt_at"])
    if finding is not None and latest["key"] == finding.key:
        texts = finding
    else:
        escalated = latest["severity"] != analyzer.RULES.get(alert.rule)
        try:
            texts = render(alert.rule, latest, escalated=escalated)
        except (KeyError, IndexError, ValueError, TypeError):
            return
    alert.title, alert.message = texts.title, texts.message
    alert.clinician_message, alert.recommendation = texts.clinician_message, texts.recommendation


@dataclass(frozen=True)
class Correction:
    """An edit or deletion of one report: its id, and what the rules found just before it
    from the earlier of its old and new felt times on (each finding's evidence item by key;
    api.services.analysis.correction_of): the firings it can have corrected away or changed."""

    report_id: uuid.UUID
    found_before: dict[str, dict]
    was: analyzer.Report  # the report as the analyzer read it before
    changed: bool = True  # what the analyzer reads of it changed (analysis.after_change)

    def changed_numbers(self, finding: analyzer.Finding) -> bool:
        """Found before and after it, with other numbers: the correction changed them (a
        report it cites corrected), not a late report or another ruleset."""
        before = self.found_before.get(finding.key)
        return before is not None and before != stored_item(finding)

    def withdraws(self, trigger: "_TriggerRow", current: set[str]) -> bool:
        """Not found after the correction, and either found just before it (the correction
        took it away) or resting on the report whose readings it changed (deleted, or a
        symptom corrected). One that no longer held before, say since a report synced late,
        stays when the correction is elsewhere or changed only the notes."""
        if trigger.key in current:
            return False
        return trigger.key in self.found_before or (self.changed and self.rests_on_it(trigger))

    def rests_on_it(self, trigger: "_TriggerRow") -> bool:
        """The trigger's key or evidence names the corrected report."""
        named = str(self.report_id)
        return named in trigger.key or named in trigger.item.get("report_ids", ())


def _set_severity(alert: Alert, severity: str) -> None:
    alert.severity = severity
    alert.severity_rank = analyzer.SEVERITIES.index(severity)


def _summary(items: list[dict]) -> dict:
    items = sorted(items, key=lambda i: i["felt_at"])[-EVIDENCE_ITEMS:]
    report_ids = sorted({rid for item in items for rid in item.get("report_ids", [])})
    return {"report_ids": report_ids, "items": items}


# populate_existing: alerts loaded earlier in the session (with a prepared analysis, in a read
# transaction before the write's) are refreshed from the row, not planned from as they were.
_ACTIVE_ALERTS = (
    select(Alert)
    .where(Alert.patient_id == bindparam("patient_id"), Alert.status.in_(ACTIVE_STATUSES))
    .execution_options(populate_existing=True)
)


@dataclass(frozen=True)
class _TriggerRow:
    """A stored trigger as the planning weighs it, read without loading it as an object."""

    id: uuid.UUID
    key: str
    withdrawn: bool
    felt_at: datetime
    item: dict  # its evidence item as stored (read after a correction only, else empty)


@dataclass(frozen=True)
class StoredAlerts:
    """What planning reads of the patient's alerts before it changes any: the triggers of
    the keys found (by key), the live triggers in the span judged, and the active alerts
    by rule. Read by ``read_stored``, in the write's transaction or, on SQLite, before the
    writer's lock with the prepared analysis (api.services.analysis.prepare)."""

    known: dict[str, _TriggerRow]
    live: list[_TriggerRow]
    active: dict[str, Alert]


def read_stored(
    db_session: Session,
    patient_id: uuid.UUID,
    findings: list[analyzer.Finding],
    judged_from: datetime | None,
    judged_to: datetime | None,
    *,
    corrected: Correction | None,
) -> StoredAlerts:
    """What planning weighs; the live triggers of the span, and the evidence of each, only
    after a correction (the only analysis that withdraws, see plan_changes)."""
    keys = [f.key for f in findings]
    span = (judged_from, judged_to) if corrected is not None else None
    known, live = _stored_triggers(db_session, patient_id, keys, span)
    with db_session.no_autoflush:
        active = _active_alerts(db_session, patient_id)
    return StoredAlerts(known, live, active)


_TRIGGER_COLUMNS = (
    AlertTrigger.id,
    AlertTrigger.key,
    AlertTrigger.withdrawn_at,
    AlertTrigger.felt_at,
)


@lru_cache
def _weighed_triggers(span: bool, bounded_from: bool, bounded_to: bool) -> Select:
    """In one read: the patient's triggers of the keys found (bound as ``keys``) and, with
    `span`, the live triggers of their active alerts felt in the span judged (bounds bound
    by the caller), each with whether it is one of the latter."""
    if not span:
        nothing = null().label("evidence")
        return select(*_TRIGGER_COLUMNS, nothing, false().label("live")).where(
            AlertTrigger.patient_id == bindparam("patient_id"),
            AlertTrigger.key.in_(bindparam("keys", expanding=True)),
        )
    live = and_(AlertTrigger.withdrawn_at.is_(None), Alert.status.in_(ACTIVE_STATUSES))
    if bounded_from:
        live = and_(live, AlertTrigger.felt_at >= bindparam("judged_from"))
    if bounded_to:
        live = and_(live, AlertTrigger.felt_at <= bindparam("judged_to"))
    return (
        select(*_TRIGGER_COLUMNS, AlertTrigger.evidence, live.label("live"))
        .join(Alert, Alert.id == AlertTrigger.alert_id)
        .where(
            AlertTrigger.patient_id == bindparam("patient_id"),
            or_(AlertTrigger.key.in_(bindparam("keys", expanding=True)), live),
        )
    )


def _stored_triggers(
    db_session: Session,
    patient_id: uuid.UUID,
    keys: list[str],
    span: tuple[datetime | None, datetime | None] | None,
) -> tuple[dict[str, _TriggerRow], list[_TriggerRow]]:
    """The stored triggers of `keys` by key, and the live ones in the judged `span` (from,
    to) when one is given (what is pending in the session is not asked: new triggers are
    current)."""
    judged_from, judged_to = span or (None, None)
    query = _weighed_triggers(span is not None, judged_from is not None, judged_to is not None)
    params = {"patient_id": patient_id, "judged_from": judged_from, "judged_to": judged_to}
    wanted, known, live = set(keys), {}, {}
    for start in range(0, max(len(keys), 1), KEY_CHUNK):
        chunk = keys[start : start + KEY_CHUNK]
        for row in column_rows(db_session, query, params | {"keys": chunk}):
            item = row.evidence or {}
            stored = _TriggerRow(row.id, row.key, row.withdrawn_at is not None, row.felt_at, item)
            if row.key in wanted:
                known[row.key] = stored
            if row.live:
                live[row.id] = stored
    return known, list(live.values())


def _triggers(db_session: Session, ids: list[uuid.UUID]) -> list[AlertTrigger]:
    """The triggers with these ids, as objects to change (a firing found again after its
    withdrawal, or withdrawn now)."""
    if not ids:
        return []
    with db_session.no_autoflush:
        return list(db_session.scalars(select(AlertTrigger).where(AlertTrigger.id.in_(ids))))


def _active_alerts(db_session: Session, patient_id: uuid.UUID) -> dict[str, Alert]:
    return {
        alert.rule: alert
        for alert in db_session.scalars(_ACTIVE_ALERTS, {"patient_id": patient_id})
    }


def still_raised_by(
    db_session: Session, *, patient_id: uuid.UUID, report_id: uuid.UUID
) -> list[Alert]:
    """The patient's active alerts that a live firing of this report raised or updated (a
    client that sends a report again, having lost the answer, is told them again)."""
    fired_by_it = select(AlertTrigger.alert_id).where(
        AlertTrigger.patient_id == patient_id,
        AlertTrigger.withdrawn_at.is_(None),
        AlertTrigger.key.contains(str(report_id), autoescape=True),
    )
    return list(
        db_session.scalars(
            select(Alert)
            .where(
                Alert.patient_id == patient_id,
                Alert.status.in_(ACTIVE_STATUSES),
                Alert.id.in_(fired_by_it),
            )
            .order_by(Alert.severity_rank.desc(), Alert.first_seen_at)
        )
    )


def _new_alert(patient_id: uuid.UUID, finding: analyzer.Finding, now: datetime) -> Alert:
    return Alert(
        id=uuid.uuid4(),
        patient_id=patient_id,
        rule=finding.rule,
        severity=finding.severity,
        severity_rank=analyzer.SEVERITIES.index(finding.severity),
        status="open",
        occurrences=0,
        evidence={"report_ids": [], "items": []},
        first_seen_at=now,
        last_seen_at=now,
        ruleset_version=analyzer.RULESET_VERSION,
    )


def _record(alert: Alert, finding: analyzer.Finding, now: datetime) -> bool:
    """Add a firing to the alert; a confirmed firing escalates it (never the other way).
    True when it escalated."""
    escalates = analyzer.SEVERITIES.index(finding.severity) > alert.severity_rank
    if escalates:
        _set_severity(alert, finding.severity)
    alert.occurrences += 1
    alert.last_seen_at = now
    alert.ruleset_version = analyzer.RULESET_VERSION
    _put_item(alert, finding)
    return escalates


def stored_item(finding: analyzer.Finding) -> dict:
    """The finding's evidence item as the database gives it back (JSON: lists, not tuples)."""
    return json.loads(json.dumps(_item(finding)))


def _reopen(db_session: Session, alert: Alert, now: datetime) -> None:
    """An acknowledged alert that escalates is open again: the clinician acknowledged a lower
    severity (an override of a caution is not one of a warning), so it goes back to the
    open inbox and its acknowledgement is cleared; its row of acknowledgements keeps that
    one, marked reopened (the alert-quality report), as the audit trail does."""
    db_session.execute(
        update(AlertAcknowledgement)
        .where(
            AlertAcknowledgement.alert_id == alert.id, AlertAcknowledgement.reopened_at.is_(None)
        )
        .values(reopened_at=now),
        execution_options={"synchronize_session": False},
    )
    alert.status = "open"
    alert.acknowledged_by = alert.acknowledged_at = None
    alert.acknowledgement_outcome = alert.acknowledgement_reason = None


def _put_item(alert: Alert, finding: analyzer.Finding) -> None:
    """The finding's item in the alert's evidence, in place of an earlier one of its key;
    then the alert says what its latest firing says (see _speak)."""
    items = [i for i in alert.evidence.get("items", []) if i["key"] != finding.key]
    alert.evidence = _summary([*items, _item(finding)])
    _speak(alert, finding)


def _move(
    db_session: Session,
    findings: list[analyzer.Finding],
    known: dict[str, _TriggerRow],
    active: dict[str, Alert],
    changes: Changes,
    corrected: Correction | None,
) -> None:
    """Triggers found again at another felt time (their report's time was corrected) move
    with it, in their alert's evidence too (the alert is updated): withdrawal weighs a
    trigger by its felt time (see plan_changes), and one left at the old time would be
    withdrawn, its alert resolved as corrected, when that span is judged again without its
    report. A trigger whose numbers a correction changed (pain 8 corrected to 10, a usual
    grade it cites corrected) takes the new ones, and so do its alert's evidence and texts."""
    found = {f.key: f for f in findings}
    moved = [
        s.id
        for s in known.values()
        if not s.withdrawn
        and (
            s.felt_at != found[s.key].felt_at
            or (corrected is not None and corrected.changed_numbers(found[s.key]))
        )
    ]
    for trigger in _triggers(db_session, moved):
        finding = found[trigger.key]
        trigger.felt_at, trigger.evidence = finding.felt_at, _item(finding)
        alert = active.get(finding.rule)
        if alert is not None and alert.id == trigger.alert_id:
            _put_item(alert, finding)
            changes._mark_updated(alert)


def plan_changes(
    *,
    db_session: Session,
    patient_id: uuid.UUID,
    findings: list[analyzer.Finding],
    judged_from: datetime | None,
    judged_to: datetime | None,
    corrected: Correction | None,
    stored: StoredAlerts | None = None,
) -> Changes:
    """Turn findings into alert changes in the session. What is pending stays so (a new
    report with it) unless a withdrawal must be written to refresh its alert; the caller
    flushes, then calls ``announce``.

    After a correction (an edit or deletion of a report, `corrected`), the triggers judged
    again that the rules found just before it and no longer find are withdrawn: the data
    behind them was corrected away. Nothing else is: a report placed before a firing's
    (synced late) can change what the rules find of it (a usual grade, "earlier reports
    were one-sided"), and a re-run with other thresholds can find less, but what the
    patient reported still stands, and the alert stays until a clinician resolves it; a
    later correction that did not take such a firing away does not withdraw it either.

    `stored` is what ``read_stored`` returned for the same findings, span and
    `corrected`, when the caller knows nothing changed since (else it is read here)."""
    now = utcnow()
    changes = Changes()
    keys = [f.key for f in findings]
    if stored is None:
        stored = read_stored(
            db_session, patient_id, findings, judged_from, judged_to, corrected=corrected
        )
    known, live, active = stored.known, stored.live, dict(stored.active)
    # Found again after a correction had withdrawn it: the same trigger counts again.
    again = {t.key: t for t in _triggers(db_session, [s.id for s in known.values() if s.withdrawn])}
    _move(db_session, findings, known, active, changes, corrected)
    for finding in findings:
        if finding.key in known and finding.key not in again:
            continue  # seen before: re-analysis is idempotent, a resolved alert stays resolved
        trigger = again.get(finding.key)
        alert = active.get(finding.rule)
        if alert is None:
            alert = _new_alert(patient_id, finding, now)
            db_session.add(alert)
            active[finding.rule] = alert
            changes.raised.append(alert)
        else:
            changes._mark_updated(alert)
        if _record(alert, finding, now) and alert.status == "acknowledged":
            _reopen(db_session, alert, now)
            changes.reopened.append(alert)
        if trigger is None:
            trigger = AlertTrigger(patient_id=patient_id, key=finding.key)
            db_session.add(trigger)
        trigger.alert_id, trigger.felt_at, trigger.withdrawn_at = alert.id, finding.felt_at, None
        trigger.evidence, trigger.seen_at = _item(finding), now
    current = set(keys)
    gone = [t.id for t in live if corrected and corrected.withdraws(t, current)]
    vanished = _triggers(db_session, gone)
    _withdraw(db_session, vanished, changes, now)
    return changes


def announce(db_session: Session, changes: Changes) -> None:
    """Tell the changes of an analysis, once they are written (their events refer to them).
    The subscribers of the patient are found once for all of them."""
    found: dict = {}
    for kind, touched in (("raised", changes.raised), ("updated", changes.updated)):
        for alert in touched:
            reopened = alert in changes.reopened
            action = "alert.reopen_escalated" if reopened else None
            _announce(db_session, alert, f"alert.{kind}", audit_action=action, found=found)
    for alert in changes.resolved:
        _announce(
            db_session,
            alert,
            "alert.resolved",
            audit_action="alert.resolve_data_corrected",
            found=found,
        )


def _announce(
    db_session: Session,
    alert: Alert,
    event_type: str,
    *,
    audit_action: str | None = None,
    actor: User | None = None,
    found: dict | None = None,
) -> None:
    """The one place an alert change is told: its event (outbox, then webhooks) and, for a
    change someone or a correction made, its audit entry. Sync numbers the same rows when
    they are written (models.changes)."""
    if audit_action is not None:
        audit.record_change(
            db_session, action=audit_action, resource_type="alert", record_=alert, actor=actor
        )
    events.publish(db_session, event_type, alert, found)


def _withdraw(
    db_session: Session, vanished: list[AlertTrigger], changes: Changes, now: datetime
) -> None:
    """Live triggers in the judged span that the analysis no longer finds were corrected
    away: withdrawn, and their alerts' evidence refreshed (or the alert resolved)."""
    if not vanished:
        return
    for trigger in vanished:
        trigger.withdrawn_at = now
    db_session.flush()  # the alerts' live triggers are read back below
    for alert in {t.alert_id: t.alert for t in vanished}.values():
        _refresh_after_withdrawal(db_session, alert, changes, now)


def _refresh_after_withdrawal(
    db_session: Session, alert: Alert, changes: Changes, now: datetime
) -> None:
    live = list(
        db_session.scalars(
            select(AlertTrigger)
            .where(AlertTrigger.alert_id == alert.id, AlertTrigger.withdrawn_at.is_(None))
            .order_by(AlertTrigger.felt_at.desc())
            .limit(EVIDENCE_ITEMS)
        )
    )
    alert.evidence = _summary([t.evidence for t in live])
    if live:
        # The firings that escalated it may be the ones corrected away.
        severities = [t.evidence.get("severity", analyzer.RULES[alert.rule]) for t in live]
        _set_severity(alert, max(severities, key=analyzer.SEVERITIES.index))
        if alert.status == "open":
            _restore_acknowledgement(db_session, alert)
        _speak(alert)
        changes._mark_updated(alert)
        return
    alert.status = "resolved"
    alert.resolution = "data_corrected"
    alert.resolution_note = CORRECTED_NOTE
    alert.resolved_at = now
    alert.resolved_by = None
    if alert in changes.updated:
        changes.updated.remove(alert)
    changes.resolved.append(alert)


def _restore_acknowledgement(db_session: Session, alert: Alert) -> None:
    """An escalation corrected away: the alert is back at the severity a clinician had
    acknowledged before the escalation reopened it, so it is acknowledged again as they
    left it, and that acknowledgement no longer counts as escalated (the alert-quality
    report)."""
    given = db_session.scalars(
        select(AlertAcknowledgement)
        .where(
            AlertAcknowledgement.alert_id == alert.id,
            AlertAcknowledgement.reopened_at.is_not(None),
        )
        .order_by(AlertAcknowledgement.acknowledged_at.desc())
        .limit(1)
    ).first()
    if given is None or analyzer.SEVERITIES.index(given.severity) < alert.severity_rank:
        return
    given.reopened_at = None
    alert.status = "acknowledged"
    alert.acknowledged_by, alert.acknowledged_at = given.acknowledged_by, given.acknowledged_at
    alert.acknowledgement_outcome = given.outcome
    alert.acknowledgement_reason = given.reason


# ---- reading and lifecycle -------------------------------------------------------------


def get_all(
    *,
    user: User,
    patient_id: uuid.UUID | None = None,
    status: str | None = None,
    severity: str | None = None,
    rule: str | None = None,
) -> Select:
    query = select(Alert)
    visible = access.visible_patient_ids(user)
    if visible is not None:
        query = query.where(Alert.patient_id.in_(visible))
    for column, value in (
        (Alert.patient_id, patient_id),
        (Alert.status, status),
        (Alert.severity, severity),
        (Alert.rule, rule),
    ):
        if value is not None:
            query = query.where(column == value)
    return query


SORT_KEYS = [Alert.severity_rank, Alert.last_seen_at, Alert.id]


# Built once (each write only binds its patient): building it anew cost as much as sending it.
_LOCK_PATIENT = (
    select(User.id).where(User.id == bindparam("patient_id")).with_for_update(key_share=True)
)


def lock_patient(*, db_session: Session, patient_id: uuid.UUID) -> bool:
    """One write, analysis or change of an alert per patient at a time, until the
    transaction ends; True when the lock was taken now (PostgreSQL), and what the caller
    read of the patient before may since have changed (refresh it).

    Concurrent writes would otherwise race to open the same alert, or add a firing to an
    alert a therapist resolved meanwhile. The lock is the patient's row, taken ``FOR NO KEY
    UPDATE``: unlike ``FOR UPDATE`` it does not wait for the key-share locks that inserts
    referencing the patient hold, so a writer that takes it before its insert cannot
    deadlock with another (PostgreSQL; SQLite's writer lock already serialises writes, so
    nothing is sent there). It is sent without flushing what is pending, and taking it again
    in the same transaction sends nothing.
    """
    if db_session.get_bind().dialect.name == "sqlite":
        return False
    transaction, locked = db_session.info.get("patient_locks", (None, set()))
    if transaction is not db_session.get_transaction():
        transaction, locked = db_session.get_transaction(), set()
        db_session.info["patient_locks"] = (transaction, locked)
    if patient_id in locked:
        return False
    column_rows(db_session, _LOCK_PATIENT, {"patient_id": patient_id}).all()
    locked.add(patient_id)
    return True


def read(*, db_session: Session, user: User, alert_id: uuid.UUID) -> Alert:
    """An alert for display; reading someone else's is audited."""
    alert = get_or_raise(db_session=db_session, user=user, alert_id=alert_id)
    audit.record_read(
        db_session,
        user=user,
        resource_type="alert",
        resource_id=alert.id,
        patient_id=alert.patient_id,
    )
    return alert


def get_or_raise(*, db_session: Session, user: User, alert_id: uuid.UUID) -> Alert:
    alert = db_session.get(Alert, alert_id)
    if alert is None or not access.can_access_patient(
        db_session=db_session, user=user, patient_id=alert.patient_id
    ):
        raise NotFound("No such alert.")
    return alert


def hold_patient_of(db_session: Session, row) -> None:
    """Take the lock of the patient `row` (a report or an alert) belongs to, and read the
    row again when the lock was taken only now: what a write committed while this one
    waited for it is then seen (the status, the version, a deletion)."""
    if lock_patient(db_session=db_session, patient_id=row.patient_id):
        db_session.refresh(row)


def _to_change(
    *, db_session: Session, user: User, alert_id: uuid.UUID, if_match: Container[str] | None
) -> Alert:
    """The alert to acknowledge or resolve, as it is once its patient's lock is held (a
    firing added or a resolution made meanwhile is seen: its status is checked on that,
    and an If-Match on its version: a therapist's outcome is given to the alert they read)."""
    alert = get_or_raise(db_session=db_session, user=user, alert_id=alert_id)
    hold_patient_of(db_session, alert)
    versions.check_precondition(alert, if_match, "alert")
    return alert


def acknowledge(
    *,
    db_session: Session,
    user: User,
    alert_id: uuid.UUID,
    outcome: str,
    reason: str,
    if_match: Container[str] | None = None,
) -> Alert:
    alert = _to_change(db_session=db_session, user=user, alert_id=alert_id, if_match=if_match)
    if alert.status != "open":
        raise Conflict(f"The alert is {alert.status}; only an open alert can be acknowledged.")
    alert.status = "acknowledged"
    alert.acknowledged_by = user.id
    alert.acknowledged_at = utcnow()
    alert.acknowledgement_outcome = outcome
    alert.acknowledgement_reason = reason
    db_session.add(
        AlertAcknowledgement(
            alert_id=alert.id,
            severity=alert.severity,
            outcome=outcome,
            reason=reason,
            acknowledged_by=user.id,
            acknowledged_at=alert.acknowledged_at,
            opened_at=_open_since(db_session, alert),
        )
    )
    _announce(db_session, alert, "alert.acknowledged", audit_action="alert.acknowledge", actor=user)
    stamp(db_session)
    return alert


def _open_since(db_session: Session, alert: Alert) -> datetime:
    """Since when the alert has waited in the open inbox: its last reopening, else its first
    sighting."""
    reopened = db_session.scalar(
        select(func.max(AlertAcknowledgement.reopened_at)).where(
            AlertAcknowledgement.alert_id == alert.id
        )
    )
    return reopened or alert.first_seen_at


def resolve(
    *,
    db_session: Session,
    user: User,
    alert_id: uuid.UUID,
    note: str,
    if_match: Container[str] | None = None,
) -> Alert:
    alert = _to_change(db_session=db_session, user=user, alert_id=alert_id, if_match=if_match)
    if alert.status == "resolved":
        raise Conflict("The alert is already resolved.")
    alert.status = "resolved"
    alert.resolution = "clinician"
    alert.resolution_note = note
    alert.resolved_by = user.id
    alert.resolved_at = utcnow()
    _announce(db_session, alert, "alert.resolved", audit_action="alert.resolve", actor=user)
    stamp(db_session)
    return alert


def open_alert_rules(*, db_session: Session, patient_id: uuid.UUID) -> list[tuple[str, str]]:
    query = select(Alert.rule, Alert.severity).where(
        Alert.patient_id == patient_id, Alert.status.in_(ACTIVE_STATUSES)
    )
    return [(rule, severity) for rule, severity in db_session.execute(query)]
