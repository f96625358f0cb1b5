"""Webhook subscriptions, and the delivery of alert events signed per Standard Webhooks.

Deliveries are at least once: a worker claims due deliveries with a lease (on PostgreSQL
with FOR UPDATE SKIP LOCKED, so several workers never take the same one), sends outside any
transaction, then records the outcome. A crash between sending and recording re-sends after
the lease: receivers de-duplicate by `webhook-id`.
"""

import base64
import ipaddress
import json
import logging
import random
import secrets
import socket
import threading
import time
import uuid
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import and_, exists, func, or_, select, tuple_, update
from sqlalchemy import delete as delete_rows
from sqlalchemy.orm import Session, aliased
from standardwebhooks.webhooks import Webhook

from api.errors import Conflict, Invalid, NotFound
from api.services import access, audit, events
from models import (
    OutboxEvent,
    User,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
    utcnow,
)
from models.webhook import PING

# Back-off after each failed attempt (seconds), then daily, for up to three days.
RETRY_DELAYS = (10, 60, 300, 1800, 7200, 21600)
DAILY = 86400
GIVE_UP_AFTER = timedelta(days=3)
LEASE = timedelta(seconds=60)
TIMEOUT = httpx.Timeout(10.0, connect=3.0)  # per connect and per read
# The whole attempt, answer included: a receiver trickling its answer a byte at a time stays
# within every per-read timeout, and must not hold a worker (and every alert behind it).
ATTEMPT_DEADLINE = 10.0
# How long creating or changing a subscription waits for its host's name to resolve.
LOOKUP_DEADLINE = 5.0
# Subscriptions a worker sends to at once (each its own deliveries in turn).
SENDERS = 4
USER_AGENT = "sciatica-care-webhooks/1"
# After a rotation the old secret keeps signing (a second signature) for this long.
ROTATION_GRACE = timedelta(hours=24)

log = logging.getLogger("sciatica_care.webhooks")


@dataclass(frozen=True)
class Settings:
    allow_private: bool
    require_https: bool
    # How long a claimed delivery is this worker's: a worker that died gives its claims back
    # after this. Longer than an attempt can take (10 s), or a slow send is sent twice.
    lease: timedelta = LEASE

    @classmethod
    def from_config(cls, config) -> "Settings":
        return cls(
            config["WEBHOOKS_ALLOW_PRIVATE"],
            config["WEBHOOKS_REQUIRE_HTTPS"],
            timedelta(seconds=config["WEBHOOKS_LEASE_SECONDS"]),
        )


# ---- subscriptions ------------------------------------------------------------------------


def _refuse(detail: str) -> Invalid:
    return Invalid(detail, errors={"url": [detail]})


# IPv4 addresses written in IPv6, in the last 32 bits: NAT64's well-known prefix (RFC 6052)
# and SIIT's IPv4-translated form (::ffff:0:a.b.c.d): a gateway on the path turns them into
# that IPv4 address.
_IPV4_IN_LAST_BITS = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::ffff:0:0:0/96"))
# NAT64 for a network's own use: where its IPv4 address sits depends on the operator's
# prefix length, and it never leads to a public receiver.
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")

# Cloud instance metadata services (credentials of the server itself): never a receiver,
# whatever WEBHOOKS_ALLOW_PRIVATE allows. Link-local ranges hold most (169.254.169.254);
# AWS's IPv6 one and Alibaba's sit elsewhere.
_METADATA = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("fd00:ec2::254/128"),
    ipaddress.ip_network("100.100.100.200/32"),
)
METADATA_REFUSED = "The URL's host is a link-local or cloud metadata address: never a receiver."


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(address.split("%", 1)[0])


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for on the way: mapped, 6to4, Teredo,
    NAT64, SIIT, or IPv4-compatible (::a.b.c.d, deprecated but still routed by some)."""
    embedded = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    if any(ip in network for network in _IPV4_IN_LAST_BITS) or int(ip) >> 32 == 0:
        embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [e for e in embedded if e is not None]


def _metadata_service(address: str) -> bool:
    ip = _ip(address)
    forms = [ip, *(_embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else ())]
    return any(f.version == net.version and f in net for f in forms for net in _METADATA)


def _public(address: str) -> bool:
    ip = _ip(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local or ip in _LOCAL_NAT64:
            return False
        if any(not _public(str(e)) for e in _embedded_ipv4(ip)):
            return False
        if ip.ipv4_mapped is not None:
            return True  # as public as the IPv4 address it is
    # Loopback, private, link-local (cloud metadata at 169.254.169.254), shared, reserved.
    return ip.is_global and not ip.is_multicast


# One answer for a name that does not resolve and one that resolves to a private address:
# a subscriber must not learn which of the clinic's internal names exist.
NOT_PUBLIC = (
    "The URL's host does not resolve to a public address (a receiver on the clinic's own "
    "network needs WEBHOOKS_ALLOW_PRIVATE=true on the server and its webhook worker)."
)


def _check_form(url: str, settings: Settings) -> httpx.URL:
    """The URL, refused when a server-side request must not follow it (SSRF): plain http in
    production, credentials in it, no host."""
    parts = urlsplit(url)
    allowed = ("https",) if settings.require_https else ("https", "http")
    if parts.scheme not in allowed:
        raise _refuse(f"The URL must use {' or '.join(allowed)}.")
    if not parts.hostname or parts.username or parts.password:
        raise _refuse("The URL needs a host and no user name or password.")
    return httpx.URL(url)


def _addresses(url: httpx.URL, settings: Settings) -> list[str]:
    """The addresses the URL's host resolves to now, refused unless every one is public
    (or WEBHOOKS_ALLOW_PRIVATE)."""
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(url.raw_host.decode("ascii"), port, type=socket.SOCK_STREAM)
    except (OSError, ValueError, UnicodeError) as exc:
        if settings.allow_private:
            raise _refuse("The URL's host does not resolve.") from exc
        raise _refuse(NOT_PUBLIC) from exc
    addresses = [info[4][0] for info in found]
    if not addresses or not (settings.allow_private or all(_public(a) for a in addresses)):
        raise _refuse(NOT_PUBLIC)  # metadata addresses are not public: one answer for all
    if settings.allow_private and any(_metadata_service(a) for a in addresses):
        raise _refuse(METADATA_REFUSED)
    return addresses


def check_url(url: str, settings: Settings) -> None:
    """Refuse URLs a server-side request must not reach (SSRF): plain http in production,
    credentials in the URL, and hosts that resolve to a non-public address."""
    parsed = _check_form(url, settings)
    if not settings.allow_private:
        _within(LOOKUP_DEADLINE, _addresses, parsed, settings)
        return
    try:
        metadata = _metadata_service(parsed.host)
    except ValueError:  # a name (it may not resolve here yet): checked at every attempt
        return
    if metadata:
        raise _refuse(METADATA_REFUSED)


def _within(seconds: float, look_up, *args) -> None:
    """`look_up(*args)` on a thread of its own, refused past `seconds`: a request worker does
    not wait on name servers that never answer (the lookup, left running, is ignored)."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-url-check")
    try:
        pool.submit(look_up, *args).result(timeout=seconds)
    except FuturesTimeout:
        raise _refuse(NOT_PUBLIC) from None  # one answer for a slow, missing or private name
    finally:
        pool.shutdown(wait=False)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def create(
    *,
    db_session: Session,
    user: User,
    url: str,
    events: list[str],
    description: str | None,
    settings: Settings,
) -> WebhookSubscription:
    """A subscription of the user (a therapist: their linked patients; an admin: everyone)."""
    check_url(url, settings)
    subscription = WebhookSubscription(
        owner_id=user.id,
        url=url,
        events=sorted(set(events)),
        description=description,
        secret=new_secret(),
    )
    db_session.add(subscription)
    db_session.flush()
    audit.record(
        db_session,
        action="webhook.create",
        resource_type="webhook",
        resource_id=subscription.id,
        status=201,
        actor=user,
    )
    return subscription


def get_all(*, user: User):
    return select(WebhookSubscription).where(WebhookSubscription.owner_id == user.id)


def get_or_raise(
    *, db_session: Session, user: User, subscription_id: uuid.UUID
) -> WebhookSubscription:
    subscription = db_session.get(WebhookSubscription, subscription_id)
    if subscription is None or subscription.owner_id != user.id:
        raise NotFound("No such webhook subscription.")
    return subscription


def delete(*, db_session: Session, user: User, subscription_id: uuid.UUID) -> None:
    """The subscription and its deliveries (the database cascades), and its pings' events."""
    subscription = get_or_raise(db_session=db_session, user=user, subscription_id=subscription_id)
    pings = select(WebhookDelivery.event_id).where(
        WebhookDelivery.subscription_id == subscription.id
    )
    db_session.execute(
        delete_rows(OutboxEvent).where(OutboxEvent.type == PING, OutboxEvent.id.in_(pings))
    )
    db_session.delete(subscription)
    audit.record(
        db_session,
        action="webhook.delete",
        resource_type="webhook",
        resource_id=subscription_id,
        status=204,
        actor=user,
    )


def _changed(db_session: Session, subscription: WebhookSubscription, action: str, user: User):
    db_session.flush()
    audit.record(
        db_session,
        action=f"webhook.{action}",
        resource_type="webhook",
        resource_id=subscription.id,
        status=200,
        actor=user,
    )
    return subscription


def rotate_secret(
    *, db_session: Session, user: User, subscription_id: uuid.UUID
) -> WebhookSubscription:
    """A new signing secret; the old one keeps signing too for ROTATION_GRACE, so that the
    receiver can switch without losing a delivery (Standard Webhooks: several signatures)."""
    subscription = get_or_raise(db_session=db_session, user=user, subscription_id=subscription_id)
    subscription.previous_secret = subscription.secret
    subscription.previous_secret_expires_at = utcnow() + ROTATION_GRACE
    subscription.secret = new_secret()
    return _changed(db_session, subscription, "rotate_secret", user)


def pause(*, db_session: Session, user: User, subscription_id: uuid.UUID) -> WebhookSubscription:
    """Hold deliveries: events keep being queued and go out, in order, on resume."""
    subscription = get_or_raise(db_session=db_session, user=user, subscription_id=subscription_id)
    if subscription.status == "disabled":
        raise Conflict("This subscription is disabled: resume it to deliver again.")
    subscription.status = "paused"
    return _changed(db_session, subscription, "pause", user)


def resume(*, db_session: Session, user: User, subscription_id: uuid.UUID) -> WebhookSubscription:
    """Deliver again, paused or disabled: held deliveries go out now, and their three days of
    retries count from now."""
    subscription = get_or_raise(db_session=db_session, user=user, subscription_id=subscription_id)
    if subscription.status == "active":
        return subscription  # nothing held: retries keep their schedule
    subscription.status, subscription.disabled_reason = "active", None
    now = utcnow()
    for delivery in db_session.scalars(
        deliveries(subscription=subscription).where(WebhookDelivery.status == "pending")
    ):
        delivery.next_attempt_at, delivery.retry_from = now, now
    return _changed(db_session, subscription, "resume", user)


def test(*, db_session: Session, user: User, subscription_id: uuid.UUID) -> WebhookDelivery:
    """Queue a `ping` event for this subscription alone (whatever events it chose; a paused
    one receives it too; a disabled one must be resumed first)."""
    subscription = get_or_raise(db_session=db_session, user=user, subscription_id=subscription_id)
    if subscription.status == "disabled":
        raise Conflict("This subscription is disabled: resume it to send it a ping.")
    event = events.publish_ping(db_session, subscription)
    delivery = WebhookDelivery(
        subscription=subscription, event=event, next_attempt_at=event.created_at
    )
    db_session.add(delivery)
    _changed(db_session, subscription, "test", user)
    return delivery


def resend(
    *, db_session: Session, user: User, subscription_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    """Send a delivery again, delivered or given up: due now, retried for three days more."""
    delivery = _delivery_or_raise(db_session, user, subscription_id, delivery_id)
    subscription = delivery.subscription
    now = utcnow()
    # One conditional statement: a worker that claims it meanwhile wins, and this is a 409.
    taken = db_session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery.id,
            or_(
                WebhookDelivery.status != "pending",
                WebhookDelivery.leased_until.is_(None),
                WebhookDelivery.leased_until <= now,
            ),
        )
        .values(
            status="pending", attempts=0, leased_until=None, next_attempt_at=now, retry_from=now
        )
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        raise Conflict("This delivery is being sent right now: look at it again in a minute.")
    db_session.refresh(delivery)
    _changed(db_session, subscription, "resend", user)
    return delivery


def _delivery_or_raise(
    db_session: Session, user: User, subscription_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    subscription = get_or_raise(db_session=db_session, user=user, subscription_id=subscription_id)
    delivery = db_session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.subscription_id != subscription.id:
        raise NotFound("No such delivery.")
    return delivery


def deliveries(*, subscription: WebhookSubscription):
    return select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription.id)


def attempts(
    *, db_session: Session, user: User, subscription_id: uuid.UUID, delivery_id: uuid.UUID
):
    """The attempts of one of the user's deliveries (404 when it is not theirs)."""
    delivery = _delivery_or_raise(db_session, user, subscription_id, delivery_id)
    return select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id)


def backlog(db_session: Session) -> tuple[int, datetime | None]:
    """Deliveries waiting to be sent (not those a paused or disabled subscription holds), and
    since when
    the oldest has waited (its event, or the re-send or resume that made it due again)."""
    waiting_since = func.coalesce(WebhookDelivery.retry_from, OutboxEvent.created_at)
    count, oldest = db_session.execute(
        select(func.count(), func.min(waiting_since))
        .select_from(WebhookDelivery)
        .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .join(User, User.id == WebhookSubscription.owner_id)
        .where(WebhookDelivery.status == "pending", _not_held())
    ).one()
    return count, oldest


def _not_held():
    """Not held by a paused or disabled subscription (until resumed): a ping to a paused one
    goes anyway, and a deactivated owner's deliveries are due (to be dropped)."""
    return or_(
        WebhookSubscription.status == "active",
        and_(WebhookSubscription.status == "paused", OutboxEvent.type == PING),
        User.deactivated_at.is_not(None),
    )


def deliveries_by_status(db_session: Session) -> dict[str, int]:
    found = dict.fromkeys(("pending", "delivered", "failed"), 0)
    query = select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
    found.update(dict(db_session.execute(query).tuples().all()))
    return found


# ---- delivery -----------------------------------------------------------------------------


def _due(now: datetime):
    """Due deliveries whose alert has no earlier event still undelivered to that subscriber:
    the events of one alert arrive in order."""
    earlier = aliased(WebhookDelivery)
    earlier_event = aliased(OutboxEvent)
    waiting = (
        exists()
        .where(
            earlier.subscription_id == WebhookDelivery.subscription_id,
            earlier.status == "pending",
            earlier.event_id == earlier_event.id,
            earlier_event.alert_id == OutboxEvent.alert_id,
            tuple_(earlier_event.created_at, earlier_event.id)
            < tuple_(OutboxEvent.created_at, OutboxEvent.id),
        )
        .correlate(WebhookDelivery, OutboxEvent)
    )
    return (
        select(WebhookDelivery)
        .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .join(User, User.id == WebhookSubscription.owner_id)
        .where(
            WebhookDelivery.status == "pending",
            _not_held(),
            WebhookDelivery.next_attempt_at <= now,
            or_(WebhookDelivery.leased_until.is_(None), WebhookDelivery.leased_until < now),
            ~waiting,
        )
        # Deliveries made due at once (a resume) go in the order of their events.
        .order_by(WebhookDelivery.next_attempt_at, OutboxEvent.created_at, WebhookDelivery.id)
    )


def claim(
    db_session: Session, *, now: datetime, limit: int, lease: timedelta = LEASE
) -> list[WebhookDelivery]:
    """Lease up to `limit` due deliveries to this worker; committed at once."""
    query = _due(now).limit(limit)
    if db_session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
    claimed = list(db_session.scalars(query).unique())
    for delivery in claimed:
        delivery.leased_until = now + lease
    db_session.commit()
    return claimed


@dataclass(frozen=True)
class Attempt:
    status_code: int | None
    error: str | None
    latency_ms: int
    started_at: datetime


def signed_request(
    event: OutboxEvent, subscription: WebhookSubscription, sent_at: datetime
) -> tuple[bytes, dict]:
    """The body and headers of a delivery; during a rotation's grace, signed by both secrets
    (space-separated, as Standard Webhooks verifiers expect)."""
    body = json.dumps(event.payload, separators=(",", ":"), sort_keys=True)
    secrets_now = [subscription.secret]
    expires = subscription.previous_secret_expires_at
    if subscription.previous_secret and expires is not None and sent_at < expires:
        secrets_now.append(subscription.previous_secret)
    signature = " ".join(Webhook(key).sign(str(event.id), sent_at, body) for key in secrets_now)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": str(event.id),
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature,
    }
    return body.encode(), headers


# httpcore's steps (its `trace` hook) that a late attempt refuses to begin, and those whose
# result, completed late, it closes unused.
_NOT_BEGUN_LATE = frozenset(
    {"connection.connect_tcp.started", "http11.send_request_headers.started"}
)
_MADE_LATE = frozenset({"connection.connect_tcp.complete", "connection.start_tls.complete"})


class Sender:
    """An HTTP client whose attempts end at ATTEMPT_DEADLINE, whatever the receiver or the
    name servers do: the attempt (its DNS lookup included) runs on a helper thread, and a
    late one is abandoned: it sends nothing once its deadline has passed, and its connection
    is closed under it."""

    def __init__(self) -> None:
        self._pool = self._new_pool()
        self._client = self._new_client()

    @staticmethod
    def _new_pool() -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-send")

    @staticmethod
    def _new_client() -> httpx.Client:
        # No kept-alive connections: each attempt connects to the address it checked, with
        # its own host's TLS name (a pooled connection is keyed by address alone).
        limits = httpx.Limits(max_keepalive_connections=0)
        return httpx.Client(timeout=TIMEOUT, follow_redirects=False, limits=limits)

    def post(self, url: httpx.URL, body: bytes, headers: dict, settings: Settings) -> int:
        """The receiver's status code. Raises Invalid when the host resolves to an address
        the settings refuse, httpx.TimeoutException past the deadline."""
        late = threading.Event()
        future = self._pool.submit(self._attempt, self._client, url, body, headers, settings, late)
        try:
            return future.result(timeout=ATTEMPT_DEADLINE)
        except FuturesTimeout:
            late.set()  # a lookup still running sends nothing when it returns
            self._client.close()  # a request under way fails at once
            self._client = self._new_client()
            self._pool.shutdown(wait=False)  # a lookup may hang on: the next attempt's own
            self._pool = self._new_pool()
            raise httpx.TimeoutException("the attempt outlasted its deadline") from None

    @staticmethod
    def _attempt(
        client: httpx.Client,
        parsed: httpx.URL,
        body: bytes,
        headers: dict,
        settings: Settings,
        late: threading.Event,
    ) -> int:
        """Resolve the host once, check the addresses, and post to them in turn until one
        accepts the connection (as a client connecting by name would), never resolving
        again: a name that answered a public address to the check and a private one to the
        connection would reach the clinic's network. The URL's host goes in the Host header
        and as the TLS name. The answer's body is never read."""
        *others, last = _addresses(parsed, settings)

        def not_late(step: str, info: dict) -> None:
            # Past the deadline no connection is begun and no request is sent, and a
            # connection (or its TLS) completed late is closed unused; the other steps run,
            # so that httpcore closes what it holds.
            if not late.is_set():
                return
            if step in _MADE_LATE:
                info["return_value"].close()
            elif step not in _NOT_BEGUN_LATE:
                return
            raise httpx.TimeoutException("the attempt outlasted its deadline")

        extensions = {"sni_hostname": parsed.raw_host.decode("ascii"), "trace": not_late}
        headers = headers | {"host": parsed.netloc.decode("ascii")}

        def post_to(address: str) -> int:
            pinned = parsed.copy_with(host=address)
            with client.stream(
                "POST", pinned, content=body, headers=headers, extensions=extensions
            ) as response:
                return response.status_code

        for address in others:
            try:
                return post_to(address)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                continue  # nothing was sent: the next address is tried
        return post_to(last)

    def __enter__(self) -> "Sender":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()
        self._pool.shutdown(wait=False)


def send(sender: Sender, delivery: WebhookDelivery, settings: Settings) -> Attempt:
    """One attempt: the URL checked again (DNS can change) on the address it is sent to,
    signed, no redirects followed."""
    started, started_at = time.monotonic(), utcnow()

    def ended(status: int | None, error: str | None = None) -> Attempt:
        return Attempt(status, error, round((time.monotonic() - started) * 1000), started_at)

    try:
        url = _check_form(delivery.subscription.url, settings)
    except Invalid as exc:
        return ended(None, f"refused: {exc.detail}")
    body, headers = signed_request(delivery.event, delivery.subscription, started_at)
    try:
        status = sender.post(url, body, headers, settings)
    except Invalid as exc:
        return ended(None, f"refused: {exc.detail}")
    except httpx.TimeoutException:
        return ended(None, "timeout")
    except httpx.HTTPError as exc:
        return ended(None, f"{type(exc).__name__}: connection failed")
    return ended(status)


def _delay(attempts: int) -> timedelta:
    base = RETRY_DELAYS[attempts - 1] if attempts <= len(RETRY_DELAYS) else DAILY
    return timedelta(seconds=base * random.uniform(0.9, 1.1))  # noqa: S311 - jitter, not secrets


def _mine(db_session: Session, claimed: WebhookDelivery) -> WebhookDelivery | None:
    """The delivery as the database has it now, if this worker's lease still holds it (not
    re-sent, re-leased by another worker, or deleted meanwhile). Never a merge of the claimed
    copy: that would write back a subscription as it was when the batch was claimed."""
    fresh = db_session.get(WebhookDelivery, claimed.id, populate_existing=True)
    if fresh is None or fresh.status != "pending" or fresh.leased_until != claimed.leased_until:
        return None
    return fresh


def renew(
    db_session: Session, claimed: WebhookDelivery, lease: timedelta
) -> WebhookDelivery | None:
    """Take the lease again just before an attempt, so that it covers this attempt and not the
    whole batch: None when the delivery is no longer this worker's."""
    until = utcnow() + lease
    taken = db_session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == claimed.id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.leased_until == claimed.leased_until,
        )
        .values(leased_until=until)
    )
    if taken.rowcount != 1:
        db_session.rollback()
        return None
    return db_session.get(WebhookDelivery, claimed.id, populate_existing=True)


def record(
    db_session: Session, delivery: WebhookDelivery, attempt: Attempt, *, now: datetime
) -> str:
    """The outcome of an attempt: delivered, retried later, or given up (410, three days),
    with the attempt kept in the delivery's history.

    Returns "delivered", "retry" or "failed"; "lost" when the delivery stopped being this
    worker's during the attempt (deleted, re-sent): a failure is then left to its new holder,
    and the attempt is kept as superseded.
    """
    claimed, delivery = delivery, _mine(db_session, delivery)
    if delivery is None:
        fresh = db_session.get(WebhookDelivery, claimed.id)
        ok = attempt.status_code is not None and 200 <= attempt.status_code < 300
        if fresh is None or not ok or fresh.status != "pending":
            db_session.rollback()
            if fresh is not None:
                _keep(db_session, fresh, attempt, "superseded")
                db_session.commit()
            return "lost"
        delivery = fresh
    delivery.attempts += 1
    delivery.last_status_code = attempt.status_code
    delivery.last_error = attempt.error
    delivery.last_latency_ms = attempt.latency_ms
    delivery.leased_until = None
    subscription = delivery.subscription
    code = attempt.status_code
    if code is not None and 200 <= code < 300:
        delivery.status, delivery.delivered_at = "delivered", now
    elif code == 410:
        delivery.status = "failed"
        _disable(subscription, "The receiver answered 410 Gone.")
    elif now - (delivery.retry_from or delivery.event.created_at) >= GIVE_UP_AFTER:
        delivery.status = "failed"
        reason = attempt.error or f"HTTP {code}"
        _disable(subscription, f"Deliveries kept failing for three days (last: {reason}).")
    else:
        delivery.next_attempt_at = now + _delay(delivery.attempts)
    outcome = {"delivered": "delivered", "failed": "failed"}.get(delivery.status, "retry")
    _keep(db_session, delivery, attempt, outcome)
    db_session.commit()
    return outcome


def _keep(db_session: Session, delivery: WebhookDelivery, attempt: Attempt, outcome: str) -> None:
    db_session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            attempted_at=attempt.started_at,
            status_code=attempt.status_code,
            error=attempt.error,
            latency_ms=attempt.latency_ms,
            outcome=outcome,
        )
    )


def _disable(subscription: WebhookSubscription, reason: str) -> None:
    if subscription.status != "disabled":  # the first reason stands
        subscription.status = "disabled"
        subscription.disabled_reason = reason


def verdict(db_session: Session, delivery: WebhookDelivery) -> str:
    """`send`; `hold` while the subscription is paused or disabled (a disabled one's
    receiver failed: the alerts of its other patients wait for resume, not lost); `drop`
    when its owner may no longer see the patient (an ended care link stops deliveries at
    once)."""
    subscription = db_session.get(WebhookSubscription, delivery.subscription_id)
    owner = db_session.get(User, subscription.owner_id) if subscription else None
    if owner is None or owner.deactivated_at is not None:
        return "drop"
    if subscription.status == "disabled":
        return "hold"
    if delivery.event.type == PING:
        return "send"
    if subscription.status == "paused":
        return "hold"
    allowed = access.can_access_patient(
        db_session=db_session, user=owner, patient_id=delivery.event.patient_id
    )
    return "send" if allowed else "drop"


def drain(
    session_factory,
    settings: Settings,
    *,
    batch: int = 50,
    senders: int = SENDERS,
    stop=lambda: False,
) -> dict[str, int]:
    """Deliver everything due now; returns counts by outcome.

    A claimed batch is sent by subscription, up to `senders` subscriptions at once, each
    one's deliveries in turn (its events in order): a receiver that hangs holds its own
    deliveries, not another clinic's red flag. After an attempt that got no answer (a
    timeout, a refused connection) all that subscription's due deliveries are put off by
    the first retry's delay, unsent, instead of each waiting out its own timeout in turn
    (_put_off). Only the HTTP requests run on other threads; the database is used from
    this one.
    """
    counts = dict.fromkeys(("delivered", "retry", "failed", "dropped", "held", "lost"), 0)
    idle = [Sender() for _ in range(senders)]  # one per slot, kept from batch to batch
    try:
        with ThreadPoolExecutor(senders, thread_name_prefix="webhook-send-turn") as pool:
            while not stop():
                with session_factory() as db_session:
                    claimed = claim(db_session, now=utcnow(), limit=batch, lease=settings.lease)
                if not claimed:
                    break
                _send_batch(session_factory, settings, claimed, pool, idle, counts, stop)
    finally:
        for sender in idle:
            sender.close()
    return counts


def _send_batch(session_factory, settings, claimed, pool, idle: list, counts, stop) -> None:
    """One claimed batch, as drain says. An error recording one attempt does not lose the
    others: every attempt begun is recorded, what was not begun is given back, and then the
    first error is raised."""
    queues: dict[uuid.UUID, deque] = {}
    for delivery in claimed:
        queues.setdefault(delivery.subscription_id, deque()).append(delivery)
    in_flight: dict = {}  # future -> (the delivery, its sender)
    failures: list[BaseException] = []

    def finish(future) -> None:
        delivery, sender = in_flight.pop(future)
        idle.append(sender)
        try:
            attempt = future.result()
            with session_factory() as db_session:
                outcome = record(db_session, delivery, attempt, now=utcnow())
        except Exception as exc:  # the others are recorded first
            failures.append(exc)
            return
        counts[outcome] += 1
        _log(delivery, attempt, outcome)
        subscription_id = delivery.subscription_id
        if attempt.status_code is None and outcome == "retry":
            _put_off(session_factory, subscription_id, queues.pop(subscription_id, ()))
        elif subscription_id in queues:  # round robin: its next turn after the others'
            queues[subscription_id] = queues.pop(subscription_id)

    try:
        while (queues and not failures) or in_flight:
            if stop() or failures:
                _give_back(session_factory, queues)
            busy = {delivery.subscription_id for delivery, _ in in_flight.values()}
            for subscription_id in [q for q in queues if q not in busy]:
                if not idle:
                    break
                delivery = _next_to_send(session_factory, settings, queues[subscription_id], counts)
                if not queues[subscription_id]:
                    del queues[subscription_id]
                if delivery is not None:
                    sender = idle.pop()
                    future = pool.submit(send, sender, delivery, settings)
                    in_flight[future] = (delivery, sender)
            if in_flight:
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    finish(future)
    finally:
        for future in list(in_flight):  # an error in this thread: the attempts still end
            wait([future])
            finish(future)
        _give_back(session_factory, queues)
    if failures:
        raise failures[0]


def _give_back(session_factory, queues: dict) -> None:
    """The deliveries not begun go back at once."""
    if queues:
        with session_factory() as db_session:
            _release(db_session, [d for queue in queues.values() for d in queue])
        queues.clear()


def _put_off(session_factory, subscription_id: uuid.UUID, rest) -> None:
    """The subscription's receiver did not answer: what is left of its batch, and whatever
    else of it is due soon, waits the first retry's delay (a backlog longer than a batch
    would otherwise fill each next batch and wait out a deadline per batch)."""
    now = utcnow()
    later = now + timedelta(seconds=RETRY_DELAYS[0])
    with session_factory() as db_session:
        _release(db_session, list(rest))
        db_session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.subscription_id == subscription_id,
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at < later,
                or_(WebhookDelivery.leased_until.is_(None), WebhookDelivery.leased_until < now),
            )
            .values(next_attempt_at=later)
        )
        db_session.commit()


def _next_to_send(
    session_factory, settings: Settings, queue: deque, counts
) -> WebhookDelivery | None:
    """The next delivery of one subscription's `queue` to send, its lease taken again; those
    no longer this worker's, held or dropped are set aside on the way (and counted)."""
    while queue:
        mine = queue.popleft()
        with session_factory() as db_session:
            delivery = renew(db_session, mine, settings.lease)
            if delivery is None:
                counts["lost"] += 1
                continue
            decided = verdict(db_session, delivery)
            if decided != "send":
                _set_aside(db_session, delivery, decided)
                counts["dropped" if decided == "drop" else "held"] += 1
                continue
            db_session.commit()  # the renewed lease
        return delivery
    return None


def _log(delivery: WebhookDelivery, attempt: Attempt, outcome: str) -> None:
    """One line per attempt, with the id of the request whose change made the event."""
    log.info(
        "webhook delivery %s of %s %s: %s%s",
        delivery.id,
        delivery.event.type,
        delivery.event_id,
        outcome,
        f" (HTTP {attempt.status_code})" if attempt.status_code else f" ({attempt.error})",
        extra={
            "delivery_id": str(delivery.id),
            "event_id": str(delivery.event_id),
            "event_type": delivery.event.type,
            "subscription_id": str(delivery.subscription_id),
            "request_id": delivery.event.request_id,
            "status_code": attempt.status_code,
            "error": attempt.error,
            "latency_ms": attempt.latency_ms,
            "outcome": outcome,
        },
    )


def _set_aside(db_session: Session, delivery: WebhookDelivery, decided: str) -> None:
    """A held delivery waits for resume; a dropped one is failed with the reason. (The
    delivery is this session's, fresh from renew.)"""
    delivery.leased_until = None
    if decided == "drop":
        delivery.status = "failed"
        delivery.last_error = "not sent: the subscriber no longer sees this patient, or is disabled"
    db_session.commit()


def _release(db_session: Session, claimed: list[WebhookDelivery]) -> None:
    """Give back claims not yet started: only those still under this worker's lease."""
    for delivery in claimed:
        db_session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery.id,
                WebhookDelivery.leased_until == delivery.leased_until,
            )
            .values(leased_until=None)
        )
    db_session.commit()
