"""Login, refresh-token rotation and password change: tokens are stored only as hashes; a
spent token presented again revokes its family, unless it comes back within a short grace
window, when it gets the same successor again (a client that lost the response)."""

import base64
import hashlib
import hmac
import ipaddress
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from api.errors import Invalid, Unauthorized
from api.services import audit, users
from api.services.passwords import hash_password, needs_rehash, verify_password
from api.services.users import normalize_email
from models import AuditEvent, RefreshToken, User, utcnow

BAD_CREDENTIALS = "The email or password is incorrect."
BAD_REFRESH = "The refresh token is invalid, expired or revoked."
# Separates successor derivation from every other use of SECRET_KEY (it also signs JWTs).
SUCCESSOR_CONTEXT = b"sciatica-care refresh-token successor\x00"


@dataclass(frozen=True)
class Grant:
    user: User
    refresh_token: str
    # Access tokens carry it (claim `fam`): ending the family ends them too.
    family_id: uuid.UUID


def now() -> datetime:
    """The clock of token rotation (tests move it)."""
    return utcnow()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def successor_of(token: str, *, secret: str) -> str:
    """The refresh token that replaces `token`: derived, not stored, so that a retry within the
    grace window can be given the same one again while the database holds only its hash."""
    mac = hmac.new(secret.encode(), SUCCESSOR_CONTEXT + token.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def _store_refresh(
    *, db_session: Session, token: str, user_id: uuid.UUID, family_id: uuid.UUID, ttl: timedelta
) -> str:
    db_session.add(
        RefreshToken(
            user_id=user_id,
            family_id=family_id,
            token_hash=_digest(token),
            expires_at=now() + ttl,
        )
    )
    return token


@dataclass(frozen=True)
class Attempt:
    """A sign-in whose password was checked before its write (see check_password)."""

    email: str
    # The account as checked: when its password last changed (None: no account), whether
    # the password matched, and the stronger hash to store when the hashing parameters
    # have changed since the password was set.
    password_changed_at: datetime | None
    matched: bool
    rehashed: str | None = None


def check_password(*, account: User | None, email: str, password: str) -> Attempt:
    """Check a sign-in's password against `account`, found by `email` (None: unknown, checked
    all the same so that the answer takes as long).

    argon2 takes a tenth of a second or more on purpose: call this before the request
    writes anything (the account read apart, api.db.read_first). On SQLite the one
    writer's lock held meanwhile would hold back every other write; on PostgreSQL the
    request's transaction is open but has written and locked nothing yet.
    """
    stored = account.password_hash if account is not None else None
    if not verify_password(stored, password):
        return Attempt(email=email, password_changed_at=None, matched=False)
    # A deactivated account is refused like a wrong password, after no more work either.
    rehashed = hash_password(password) if _active(account) and needs_rehash(stored) else None
    return Attempt(
        email=email,
        password_changed_at=account.password_changed_at,
        matched=True,
        rehashed=rehashed,
    )


def login(*, db_session: Session, attempt: Attempt, refresh_ttl: timedelta) -> Grant:
    """Issue a refresh token for a checked sign-in, or refuse it (audited either way).

    The account is read again in the write, as it is now (the same statement whether or not
    the email has an account): a password changed or an account deactivated since the check
    refuses the sign-in, as a wrong password would.
    """
    # Locked (PostgreSQL): a password change, a deactivation or another sign-in of the
    # account waits for this commit; two sign-ins that both store a rehash would deadlock
    # with shared locks.
    user = users.get_by_email(db_session=db_session, email=attempt.email, lock=True)
    if (
        not attempt.matched
        or not _active(user)
        or user.password_changed_at != attempt.password_changed_at
    ):
        _refused(db_session, "auth.login", account=user, status=401)
        raise Unauthorized(BAD_CREDENTIALS)
    audit.record(
        db_session, action="auth.login", resource_type="user", resource_id=user.id, actor=user
    )
    if attempt.rehashed is not None and needs_rehash(user.password_hash):
        user.password_hash = attempt.rehashed  # unless another sign-in stored one meanwhile
    family_id = uuid.uuid4()
    token = _store_refresh(
        db_session=db_session,
        token=secrets.token_urlsafe(32),
        user_id=user.id,
        family_id=family_id,
        ttl=refresh_ttl,
    )
    return Grant(user=user, refresh_token=token, family_id=family_id)


def _active(user: User | None) -> bool:
    return user is not None and user.deactivated_at is None


def family_revoked(family_id: object) -> ColumnElement[bool]:
    """True when the refresh family (an id or a bind parameter) has ended: logout, reuse of a
    spent token, password change, deactivation. Revocation marks every live token of it."""
    return (
        select(RefreshToken.id)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_not(None))
        .exists()
    )


def revoke_all(*, db_session: Session, user: User) -> None:
    """End every refresh family of the user, and with them their access tokens."""
    _revoke(db_session, RefreshToken.user_id == user.id)


def _revoke(db_session: Session, which: ColumnElement[bool]) -> None:
    db_session.execute(
        update(RefreshToken)
        .where(which, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now())
    )


def refresh(
    *,
    db_session: Session,
    token: str,
    refresh_ttl: timedelta,
    reuse_grace: timedelta,
    secret: str,
) -> Grant:
    """Rotate: the presented token is spent and its successor issued in the same family."""
    stored = db_session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == _digest(token)).with_for_update()
    )
    moment = now()
    if stored is None or stored.revoked_at is not None or stored.expires_at <= moment:
        raise Unauthorized(BAD_REFRESH)
    owner = db_session.get(User, stored.user_id)
    if not _active(owner):
        raise Unauthorized(BAD_REFRESH)
    successor = successor_of(token, secret=secret)
    if stored.used_at is not None:
        return _reissue_or_revoke(
            db_session=db_session, spent=stored, successor=successor, grace=reuse_grace, at=moment
        )
    stored.used_at = moment
    _store_refresh(
        db_session=db_session,
        token=successor,
        user_id=stored.user_id,
        family_id=stored.family_id,
        ttl=refresh_ttl,
    )
    return Grant(user=owner, refresh_token=successor, family_id=stored.family_id)


def _reissue_or_revoke(
    *, db_session: Session, spent: RefreshToken, successor: str, grace: timedelta, at: datetime
) -> Grant:
    """A spent token again. Within the grace window, while its successor is still unused, it is
    the same client retrying a lost response: it gets that successor again. Otherwise someone
    holds a copy: the whole family ends."""
    if at - spent.used_at <= grace:
        issued = db_session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == _digest(successor))
        )
        if (
            issued is not None
            and issued.family_id == spent.family_id
            and issued.used_at is None
            and issued.revoked_at is None
            and issued.expires_at > at
        ):
            return Grant(
                user=db_session.get(User, spent.user_id),
                refresh_token=successor,
                family_id=spent.family_id,
            )
    _revoke(db_session, RefreshToken.family_id == spent.family_id)
    owner = db_session.get(User, spent.user_id)
    _refused(db_session, "auth.refresh_reuse", account=owner, status=401)
    raise Unauthorized(BAD_REFRESH)


def _refused(
    db_session: Session,
    action: str,
    *,
    account: User | None,
    status: int,
    actor: User | None = None,
) -> None:
    """Audit a refused attempt on `account`; it stands although the request answers an error.

    The actor is who was signed in (None: no one): whoever presents a password or a refresh
    token may not be the account's owner.
    """
    audit.record(
        db_session,
        action=action,
        resource_type="user",
        resource_id=account.id if account else None,
        outcome="failure",
        status=status,
        actor=actor,
    )
    db_session.info["keep_on_error"] = True


def logout(*, db_session: Session, token: str) -> None:
    """Revoke the token's family; an unknown token is silently accepted (nothing to end)."""
    stored = db_session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == _digest(token))
    )
    if stored is not None:
        _revoke(db_session, RefreshToken.family_id == stored.family_id)


def change_password(
    *, db_session: Session, user: User, current_password: str, new_password: str
) -> None:
    """Set a new password after checking the current one; every refresh family of the user ends
    and access tokens issued before are refused (api.auth compares the password epoch)."""
    if not verify_password(user.password_hash, current_password):
        _refused(db_session, "auth.password_change", account=user, status=422, actor=user)
        raise Invalid(
            "The current password is incorrect.",
            errors={"current_password": ["Incorrect password."]},
        )
    users.set_password(user=user, new_password=new_password, changed_at=now())
    revoke_all(db_session=db_session, user=user)
    audit.record(
        db_session,
        action="auth.password_change",
        resource_type="user",
        resource_id=user.id,
        status=204,
        actor=user,
    )


def set_active(*, db_session: Session, user: User, active: bool, actor: User | None) -> User:
    """Deactivate an account (it cannot sign in, every token it holds stops working at once,
    its records stay) or reactivate it; audited either way."""
    if active == (user.deactivated_at is None):
        return user
    if active:
        user.deactivated_at = None
    else:
        user.deactivated_at = now()
        revoke_all(db_session=db_session, user=user)
    audit.record(
        db_session,
        action="user.reactivate" if active else "user.deactivate",
        resource_type="user",
        resource_id=user.id,
        actor=actor,
    )
    db_session.flush()
    return user


def reset_password(*, db_session: Session, user: User, new_password: str) -> None:
    """Set a password without the current one (the operator's command line): every token the
    account holds stops working, as with a change by the user."""
    users.set_password(user=user, new_password=new_password, changed_at=now())
    revoke_all(db_session=db_session, user=user)
    audit.record(
        db_session, action="auth.password_reset", resource_type="user", resource_id=user.id
    )


def origin(address: str) -> str:
    """An address as sign-in limits tell clients apart: IPv4 as it is, IPv6 by its /64, which
    one subscriber holds whole (a phone rotates its address within it)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


# The addresses of an account's recent sign-ins compared with an IPv6 client's /64: a few
# dozen at most for a real account; an account signed in from more counts the rest unknown.
KNOWN_ADDRESSES_READ = 500


def signed_in_from(*, db_session: Session, email: str, ip: str, since: datetime) -> bool:
    """Whether the account signed in successfully from this origin (the address, or an IPv6
    address's /64) since then (audit)."""
    account = select(User.id).where(User.email == normalize_email(email)).scalar_subquery()
    logins = select(AuditEvent.ip).where(
        AuditEvent.action == "auth.login",
        AuditEvent.outcome == "success",
        AuditEvent.actor_id == account,
        AuditEvent.occurred_at >= since,
    )
    wanted = origin(ip)
    if wanted == ip:  # IPv4 (or a name): the stored address itself
        return bool(db_session.scalar(select(logins.where(AuditEvent.ip == ip).exists())))
    addresses = db_session.scalars(
        logins.where(AuditEvent.ip.is_not(None)).distinct().limit(KNOWN_ADDRESSES_READ)
    )
    return any(origin(address) == wanted for address in addresses)
