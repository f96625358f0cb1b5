"""Webhook subscriptions to alert events, and their delivery log."""

import uuid

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_required, current_user
from api.db import get_session
from api.idempotency import idempotent
from api.openapi import document
from api.pagination import PageArgs, page_schema, paginate
from api.schemas.webhooks import (
    AttemptOut,
    DeliveryOut,
    DeliveryQuery,
    WebhookActionIn,
    WebhookCreatedOut,
    WebhookIn,
    WebhookOut,
)
from api.services import webhooks
from models import WebhookAttempt, WebhookDelivery, WebhookSubscription

blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/v1/webhooks",
    description="Alert events delivered to your systems, signed per Standard Webhooks",
)
WebhookPage = page_schema(WebhookOut, "WebhookPage")
DeliveryPage = page_schema(DeliveryOut, "DeliveryPage")
AttemptPage = page_schema(AttemptOut, "AttemptPage")
OWNERS = ("therapist", "admin")


@blp.route("")
class Webhooks(MethodView):
    @auth_required(*OWNERS)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, WebhookPage)
    def get(self, args):
        """List your webhook subscriptions"""
        return paginate(
            db_session=get_session(),
            query=webhooks.get_all(user=current_user()),
            keys=[WebhookSubscription.created_at, WebhookSubscription.id],
            limit=args["limit"],
            cursor=args["cursor"],
        )

    @auth_required(*OWNERS)
    @blp.arguments(WebhookIn)
    @idempotent
    @blp.response(201, WebhookCreatedOut)
    def post(self, data):
        """Subscribe to alert events (the signing secret is shown once)

        A therapist receives the events of actively linked patients, an admin everyone's.
        Each delivery is a POST with a thin JSON body (event type, ids, rule, severity,
        status; no health values) and the headers `webhook-id`, `webhook-timestamp` and
        `webhook-signature`, as Standard Webhooks signs them (its libraries verify them).
        The signature header holds one or more space-separated `v1,<base64>` (two during a
        secret rotation's grace); each is the HMAC-SHA256 of
        `<webhook-id>.<webhook-timestamp>.<body>`, keyed with the base64-decoded part of the
        secret after `whsec_`. Accept the delivery when one matches, compared in constant
        time, and its timestamp is within 5 minutes of now. Deliveries are at least once:
        de-duplicate by `webhook-id`.
        """
        return webhooks.create(
            db_session=get_session(),
            user=current_user(),
            settings=webhooks.Settings.from_config(current_app.config),
            **data,
        )


@blp.route("/<uuid:subscription_id>")
class WebhookById(MethodView):
    @auth_required(*OWNERS)
    @blp.response(200, WebhookOut)
    @document(responses={404: "NOT_FOUND"})
    def get(self, subscription_id: uuid.UUID):
        """Read one of your subscriptions"""
        return webhooks.get_or_raise(
            db_session=get_session(), user=current_user(), subscription_id=subscription_id
        )

    @auth_required(*OWNERS)
    @blp.response(204)
    @document(responses={404: "NOT_FOUND"})
    def delete(self, subscription_id: uuid.UUID):
        """Delete a subscription (pending deliveries are dropped)"""
        webhooks.delete(
            db_session=get_session(), user=current_user(), subscription_id=subscription_id
        )


@blp.route("/<uuid:subscription_id>/deliveries")
class Deliveries(MethodView):
    @auth_required(*OWNERS)
    @blp.arguments(DeliveryQuery, location="query")
    @blp.response(200, DeliveryPage)
    @document(responses={404: "NOT_FOUND"})
    def get(self, args, subscription_id: uuid.UUID):
        """The delivery log of a subscription, newest first"""
        subscription = webhooks.get_or_raise(
            db_session=get_session(), user=current_user(), subscription_id=subscription_id
        )
        return paginate(
            db_session=get_session(),
            query=webhooks.deliveries(subscription=subscription),
            keys=[WebhookDelivery.created_at, WebhookDelivery.id],
            limit=args["limit"],
            cursor=args["cursor"],
        )


@blp.route("/<uuid:subscription_id>/deliveries/<uuid:delivery_id>/attempts")
class Attempts(MethodView):
    @auth_required(*OWNERS)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, AttemptPage)
    @document(responses={404: "NOT_FOUND"})
    def get(self, args, subscription_id: uuid.UUID, delivery_id: uuid.UUID):
        """Every attempt to send a delivery, newest first"""
        return paginate(
            db_session=get_session(),
            query=webhooks.attempts(
                db_session=get_session(),
                user=current_user(),
                subscription_id=subscription_id,
                delivery_id=delivery_id,
            ),
            keys=[WebhookAttempt.attempted_at, WebhookAttempt.id],
            limit=args["limit"],
            cursor=args["cursor"],
        )


@blp.route("/<uuid:subscription_id>/rotate-secret")
class RotateSecret(MethodView):
    @auth_required(*OWNERS)
    @blp.arguments(WebhookActionIn)
    @idempotent
    @blp.response(200, WebhookCreatedOut)
    @document(responses={404: "NOT_FOUND"})
    def post(self, _data, subscription_id: uuid.UUID):
        """Rotate the signing secret (the new one is shown once)

        For 24 hours (`previous_secret_expires_at`) deliveries carry two signatures, one by
        each secret, so a receiver verifies with either while it switches.
        """
        return webhooks.rotate_secret(
            db_session=get_session(), user=current_user(), subscription_id=subscription_id
        )


@blp.route("/<uuid:subscription_id>/pause")
class Pause(MethodView):
    @auth_required(*OWNERS)
    @blp.arguments(WebhookActionIn)
    @idempotent
    @blp.response(200, WebhookOut)
    @document(responses={404: "NOT_FOUND", 409: "CONFLICT"})
    def post(self, _data, subscription_id: uuid.UUID):
        """Pause deliveries: events are still queued, and go out in order on resume"""
        return webhooks.pause(
            db_session=get_session(), user=current_user(), subscription_id=subscription_id
        )


@blp.route("/<uuid:subscription_id>/resume")
class Resume(MethodView):
    @auth_required(*OWNERS)
    @blp.arguments(WebhookActionIn)
    @idempotent
    @blp.response(200, WebhookOut)
    @document(responses={404: "NOT_FOUND"})
    def post(self, _data, subscription_id: uuid.UUID):
        """Resume a paused or disabled subscription: what it holds is delivered now"""
        return webhooks.resume(
            db_session=get_session(), user=current_user(), subscription_id=subscription_id
        )


@blp.route("/<uuid:subscription_id>/test")
class Ping(MethodView):
    @auth_required(*OWNERS)
    @blp.arguments(WebhookActionIn)
    @idempotent
    @blp.response(202, DeliveryOut)
    @document(responses={404: "NOT_FOUND"})
    def post(self, _data, subscription_id: uuid.UUID):
        """Send a `ping` event to this subscription (queued; see its delivery log)"""
        return webhooks.test(
            db_session=get_session(), user=current_user(), subscription_id=subscription_id
        )


@blp.route("/<uuid:subscription_id>/deliveries/<uuid:delivery_id>/resend")
class Resend(MethodView):
    @auth_required(*OWNERS)
    @blp.arguments(WebhookActionIn)
    @idempotent
    @blp.response(202, DeliveryOut)
    @document(responses={404: "NOT_FOUND"})
    def post(self, _data, subscription_id: uuid.UUID, delivery_id: uuid.UUID):
        """Send a delivery again, now (delivered or given up alike)"""
        return webhooks.resend(
            db_session=get_session(),
            user=current_user(),
            subscription_id=subscription_id,
            delivery_id=delivery_id,
        )
