"""Shapes of webhook subscriptions, their deliveries and the events they carry."""

import marshmallow as ma

from api.pagination import PageArgs
from api.schemas.common import AwareDateTime, InSchema, OutSchema, one_of
from models.alert import ALERT_STATUSES, SEVERITIES
from models.webhook import (
    ATTEMPT_OUTCOMES,
    DELIVERY_STATUSES,
    EVENT_TYPES,
    PING,
    SUBSCRIPTION_STATUSES,
)


class WebhookIn(InSchema):
    url = ma.fields.Url(
        required=True,
        schemes={"https", "http"},
        require_tld=False,
        validate=ma.validate.Length(max=2048),
        metadata={
            "description": "Where events are POSTed: https in production; hosts that resolve "
            "to private, loopback or link-local addresses are refused unless the server "
            "allows them (WEBHOOKS_ALLOW_PRIVATE)"
        },
    )
    events = ma.fields.List(
        ma.fields.String(validate=one_of(EVENT_TYPES)),
        required=True,
        validate=ma.validate.Length(min=1, max=len(EVENT_TYPES)),
    )
    description = ma.fields.String(validate=ma.validate.Length(max=500), load_default=None)


class WebhookActionIn(InSchema):
    """No fields: send `{}` (every POST here takes a JSON body)."""


class WebhookOut(OutSchema):
    id = ma.fields.UUID(required=True)
    url = ma.fields.String(required=True)
    events = ma.fields.List(ma.fields.String(validate=one_of(EVENT_TYPES)), required=True)
    description = ma.fields.String(required=True, allow_none=True)
    status = ma.fields.String(required=True, validate=one_of(SUBSCRIPTION_STATUSES))
    disabled_reason = ma.fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "Why deliveries stopped (410 Gone, three days of failures)"},
    )
    previous_secret_expires_at = AwareDateTime(
        required=True,
        allow_none=True,
        metadata={
            "description": "After a rotation: until then the old secret signs deliveries too "
            "(a second signature in webhook-signature)"
        },
    )
    created_at = AwareDateTime(required=True)


class WebhookCreatedOut(WebhookOut):
    secret = ma.fields.String(
        required=True,
        metadata={
            "description": "The signing secret (Standard Webhooks, whsec_...): shown only here "
            "and when rotated"
        },
    )


class DeliveryOut(OutSchema):
    id = ma.fields.UUID(required=True)
    event_id = ma.fields.UUID(required=True, metadata={"description": "The webhook-id header"})
    event_type = ma.fields.String(
        attribute="event.type", required=True, validate=one_of((*EVENT_TYPES, PING))
    )
    alert_id = ma.fields.UUID(
        attribute="event.alert_id",
        required=True,
        allow_none=True,
        metadata={"description": "null for a ping"},
    )
    request_id = ma.fields.String(
        attribute="event.request_id",
        required=True,
        allow_none=True,
        metadata={"description": "The X-Request-ID of the request whose change made the event"},
    )
    status = ma.fields.String(required=True, validate=one_of(DELIVERY_STATUSES))
    attempts = ma.fields.Integer(required=True)
    last_status_code = ma.fields.Integer(required=True, allow_none=True)
    last_error = ma.fields.String(required=True, allow_none=True)
    last_latency_ms = ma.fields.Integer(required=True, allow_none=True)
    next_attempt_at = AwareDateTime(required=True, metadata={"description": "While pending"})
    delivered_at = AwareDateTime(required=True, allow_none=True)
    created_at = AwareDateTime(required=True)


class AttemptOut(OutSchema):
    id = ma.fields.UUID(required=True)
    attempted_at = AwareDateTime(required=True, metadata={"description": "When it began"})
    status_code = ma.fields.Integer(
        required=True, allow_none=True, metadata={"description": "The receiver's answer"}
    )
    error = ma.fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "When there was no answer: refused, timeout, connection failed"},
    )
    latency_ms = ma.fields.Integer(required=True)
    outcome = ma.fields.String(
        required=True,
        validate=one_of(ATTEMPT_OUTCOMES),
        metadata={
            "description": "What it led to: delivered, retry (tried again at the delivery's "
            "next_attempt_at), failed (given up), superseded (the delivery had been re-sent "
            "meanwhile, or sent by another attempt)"
        },
    )


class DeliveryQuery(PageArgs):
    pass


class WebhookEventData(OutSchema):
    event_id = ma.fields.UUID(required=True, metadata={"description": "Also the webhook-id header"})
    alert_id = ma.fields.UUID(metadata={"description": "Alert events: read it at /v1/alerts/{id}"})
    patient_id = ma.fields.UUID(metadata={"description": "Alert events"})
    rule = ma.fields.String(metadata={"description": "Alert events: the rule that raised it"})
    severity = ma.fields.String(
        validate=one_of(SEVERITIES), metadata={"description": "Alert events"}
    )
    status = ma.fields.String(
        validate=one_of(ALERT_STATUSES),
        metadata={"description": "Alert events: the alert's status after the change"},
    )
    subscription_id = ma.fields.UUID(metadata={"description": "Ping events"})


class WebhookEvent(OutSchema):
    """The JSON body of every delivery: thin on purpose (no pain values, symptoms or notes);
    the receiver reads the details through the API, which authorizes and audits the read."""

    type = ma.fields.String(required=True, validate=one_of((*EVENT_TYPES, PING)))
    timestamp = ma.fields.String(
        required=True, metadata={"description": "When the change happened (RFC 3339, UTC)"}
    )
    data = ma.fields.Nested(WebhookEventData, required=True)
