"""Alert events (the transactional outbox), webhook subscriptions and their deliveries."""

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, UTCDateTime, utcnow

EVENT_TYPES = ("alert.raised", "alert.updated", "alert.acknowledged", "alert.resolved")
PING = "ping"  # sent on request to one subscription, whatever events it chose
SUBSCRIPTION_STATUSES = ("active", "paused", "disabled")
DELIVERY_STATUSES = ("pending", "delivered", "failed")
# What an attempt led to: the delivery delivered, tried again later, or given up; or,
# superseded, nothing (the delivery had been re-sent or sent by then, and that stands).
ATTEMPT_OUTCOMES = ("delivered", "retry", "failed", "superseded")


class OutboxEvent(Base):
    """One alert change, written in the transaction of the change; its id is the
    `webhook-id` receivers de-duplicate by. A ping names no alert and no patient."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_alert_created", "alert_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    alert_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    patient_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The request whose change made the event: its X-Request-ID, carried into delivery logs.
    request_id: Mapped[str | None] = mapped_column(String(64))


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscriptions"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'paused', 'disabled')", name="status"),
        Index("ix_webhook_subscriptions_owner", "owner_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(100))
    # After a rotation the old secret also signs deliveries until it expires (24 h).
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="active")
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One event for one subscription: attempted until a 2xx, a 410 or three days."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
        UniqueConstraint("subscription_id", "event_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("outbox_events.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A worker's claim: another worker leaves the delivery alone until then.
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_latency_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Three days of failures are counted from here: the event's time, or a re-send or resume.
    retry_from: Mapped[datetime | None] = mapped_column(UTCDateTime)

    event: Mapped[OutboxEvent] = relationship(lazy="joined", innerjoin=True)
    subscription: Mapped[WebhookSubscription] = relationship(lazy="joined", innerjoin=True)


class WebhookAttempt(Base):
    """One attempt to send a delivery, as it went: when, the answer or the error, how long."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        CheckConstraint(
            "outcome IN ('delivered', 'retry', 'failed', 'superseded')", name="outcome"
        ),
        Index("ix_webhook_attempts_delivery", "delivery_id", "attempted_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
