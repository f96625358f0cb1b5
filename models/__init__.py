"""SQLAlchemy models of the product: one module per aggregate, no Flask import."""

from models.alert import Alert, AlertAcknowledgement, AlertTrigger
from models.audit import AuditEvent
from models.base import Base, UTCDateTime, utcnow
from models.care_link import CareLink
from models.changes import ChangeCounter
from models.idempotency import IdempotencyRecord
from models.report import CheckIn, MassageSession
from models.summary import PatientSummary
from models.token import RefreshToken
from models.user import PatientProfile, User
from models.webhook import OutboxEvent, WebhookAttempt, WebhookDelivery, WebhookSubscription

__all__ = [
    "Alert",
    "AlertAcknowledgement",
    "AlertTrigger",
    "AuditEvent",
    "Base",
    "CareLink",
    "ChangeCounter",
    "CheckIn",
    "IdempotencyRecord",
    "MassageSession",
    "OutboxEvent",
    "PatientProfile",
    "PatientSummary",
    "RefreshToken",
    "User",
    "UTCDateTime",
    "utcnow",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSubscription",
]
