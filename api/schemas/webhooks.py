"""Shapes of webhook subscriptions, their deliveries and the events they carry."""

import marshmallow as ma

from api.pagination import PageArgs
from api.schemas.common import AwareDateTime, InSchema, OutSchema, one_of
from models.webhook import DELIVERY_STATUSES, EVENT_TYPES, SUBSCRIPTION_STATUSES


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
    created_at = AwareDateTime(required=True)


class WebhookCreatedOut(WebhookOut):
    secret = ma.fields.String(
        required=True,
        metadata={
            "description": "The signing secret (Standard Webhooks, whsec_...): shown only here"
        },
    )


class DeliveryOut(OutSchema):
    id = ma.fields.UUID(required=True)
    event_id = ma.fields.UUID(required=True, metadata={"description": "The webhook-id header"})
    event_type = ma.fields.String(
        attribute="event.type", required=True, validate=one_of(EVENT_TYPES)
    )
    alert_id = ma.fields.UUID(attribute="event.alert_id", required=True)
    status = ma.fields.String(required=True, validate=one_of(DELIVERY_STATUSES))
    attempts = ma.fields.Integer(required=True)
    last_status_code = ma.fields.Integer(required=True, allow_none=True)
    last_error = ma.fields.String(required=True, allow_none=True)
    last_latency_ms = ma.fields.Integer(required=True, allow_none=True)
    next_attempt_at = AwareDateTime(required=True, metadata={"description": "While pending"})
    delivered_at = AwareDateTime(required=True, allow_none=True)
    created_at = AwareDateTime(required=True)


class DeliveryQuery(PageArgs):
    pass
