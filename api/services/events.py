"""Alert events: one per alert change, written to the outbox in the change's transaction and
fanned out to the webhook subscriptions that may see the patient."""

import hashlib
import uuid

from sqlalchemy import Select, bindparam, exists, or_, select
from sqlalchemy.orm import Session

from models import Alert, CareLink, OutboxEvent, User, WebhookDelivery, WebhookSubscription, utcnow
from models.base import column_rows, conflict_insert
from models.webhook import PING

EVENTS_NAMESPACE = uuid.UUID("5b0f3c1e-8d2a-4f6b-9c7e-1a2b3c4d5e6f")


def _event_id(event_type: str, alert: Alert) -> uuid.UUID:
    """Stable for the same change: a replayed or re-run change finds its event already there.
    An alert reopened by an escalation is acknowledged again: a change of its own."""
    if event_type == "alert.updated":
        ids = ",".join(alert.evidence.get("report_ids", []))
        state = f"{alert.occurrences}:{alert.severity}:{hashlib.sha256(ids.encode()).hexdigest()}"
    elif event_type == "alert.acknowledged" and alert.acknowledged_at is not None:
        state = alert.acknowledged_at.isoformat()
    else:
        state = ""
    return uuid.uuid5(EVENTS_NAMESPACE, f"{alert.id}:{event_type}:{state}")


def _envelope(event: OutboxEvent, data: dict) -> dict:
    return {
        "type": event.type,
        "timestamp": event.created_at.isoformat().replace("+00:00", "Z"),
        "data": {"event_id": str(event.id), **data},
    }


def payload(event: OutboxEvent, alert: Alert) -> dict:
    """Thin: ids, rule, severity, status and time; no pain values, symptoms or notes."""
    return _envelope(
        event,
        {
            "alert_id": str(alert.id),
            "patient_id": str(alert.patient_id),
            "rule": alert.rule,
            "severity": alert.severity,
            "status": alert.status,
        },
    )


def _subscriptions_for() -> Select:
    """Ids and events of the subscriptions whose owner may see the patient (bound as
    ``patient_id``) now (admins see everyone); a paused or disabled one queues its
    deliveries until resumed."""
    linked = exists().where(
        CareLink.patient_id == bindparam("patient_id"),
        CareLink.therapist_id == WebhookSubscription.owner_id,
        CareLink.status == "active",
    )
    return (
        select(WebhookSubscription.id, WebhookSubscription.events)
        .join(User, User.id == WebhookSubscription.owner_id)
        .where(User.deactivated_at.is_(None), or_(User.role == "admin", linked))
        .order_by(WebhookSubscription.id)
    )


SUBSCRIPTIONS_FOR = _subscriptions_for()  # built once; each event binds its patient


def publish(
    db_session: Session, event_type: str, alert: Alert, found: dict | None = None
) -> OutboxEvent | None:
    """Write the event of an alert change and one delivery per subscriber (nothing when the
    same change was published before). `found` keeps the subscribers found by patient for
    the events of one change set (alerts.announce): they are looked up once."""
    event = OutboxEvent(
        id=_event_id(event_type, alert),
        type=event_type,
        alert_id=alert.id,
        patient_id=alert.patient_id,
        created_at=utcnow(),
        request_id=db_session.info.get("request_id"),
    )
    event.payload = payload(event, alert)
    # One statement: written unless the same change was published before (its stable id).
    columns = ("id", "type", "alert_id", "patient_id", "created_at", "request_id", "payload")
    statement = conflict_insert(OutboxEvent, columns, key="id", update=False, returning="id")
    written = db_session.execute(
        statement, {name: getattr(event, name) for name in columns}
    ).first()
    if written is None:
        return None
    if event_type == "alert.raised":
        # Counted by /metrics once the transaction commits (api.metrics).
        db_session.info.setdefault("alerts_raised", []).append((alert.rule, alert.severity))
    found = {} if found is None else found
    if alert.patient_id not in found:
        rows = column_rows(db_session, SUBSCRIPTIONS_FOR, {"patient_id": alert.patient_id})
        found[alert.patient_id] = rows.all()
    for subscription_id, subscribed in found[alert.patient_id]:
        if event_type in subscribed:
            db_session.add(
                WebhookDelivery(
                    subscription_id=subscription_id,
                    event_id=event.id,
                    next_attempt_at=event.created_at,
                )
            )
    return event


def publish_ping(db_session: Session, subscription: WebhookSubscription) -> OutboxEvent:
    """A `ping` for one subscription: no alert, no patient."""
    event = OutboxEvent(
        id=uuid.uuid4(),
        type=PING,
        created_at=utcnow(),
        request_id=db_session.info.get("request_id"),
    )
    event.payload = _envelope(event, {"subscription_id": str(subscription.id)})
    db_session.add(event)
    return event
