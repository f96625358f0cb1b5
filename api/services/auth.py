"""Login and refresh-token rotation: tokens stored as hashes, reuse revokes the family."""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api.errors import Unauthorized
from api.services import audit, users
from api.services.passwords import hash_password, needs_rehash, verify_password
from models import RefreshToken, User, utcnow

BAD_CREDENTIALS = "The email or password is incorrect."
BAD_REFRESH = "The refresh token is invalid, expired or revoked."


@dataclass(frozen=True)
class Grant:
    user: User
    refresh_token: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_refresh(*, db_session: Session, user: User, family_id: uuid.UUID, ttl: timedelta) -> str:
    token = secrets.token_urlsafe(32)
    db_session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id,
            token_hash=_digest(token),
            expires_at=utcnow() + ttl,
        )
    )
    return token


def login(*, db_session: Session, email: str, password: str, refresh_ttl: timedelta) -> Grant:
    user = users.get_by_email(db_session=db_session, email=email)
    if not verify_password(user.password_hash if user else None, password):
        audit.record(
            db_session,
            action="auth.login",
            resource_type="user",
            resource_id=user.id if user else None,
            outcome="failure",
            status=401,
            actor=user,
        )
        db_session.commit()
        raise Unauthorized(BAD_CREDENTIALS)
    audit.record(
        db_session, action="auth.login", resource_type="user", resource_id=user.id, actor=user
    )
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    token = _new_refresh(db_session=db_session, user=user, family_id=uuid.uuid4(), ttl=refresh_ttl)
    db_session.commit()
    return Grant(user=user, refresh_token=token)


def _revoke_family(db_session: Session, family_id: uuid.UUID) -> None:
    db_session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def refresh(*, db_session: Session, token: str, refresh_ttl: timedelta) -> Grant:
    """Rotate: the presented token is spent and a successor issued in the same family."""
    stored = db_session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == _digest(token)).with_for_update()
    )
    now = utcnow()
    if stored is None or stored.revoked_at is not None or stored.expires_at <= now:
        raise Unauthorized(BAD_REFRESH)
    if stored.used_at is not None:
        # A spent token presented again: someone holds a copy. End the whole family.
        _revoke_family(db_session, stored.family_id)
        db_session.commit()
        raise Unauthorized(BAD_REFRESH)
    stored.used_at = now
    user = db_session.get(User, stored.user_id)
    successor = _new_refresh(
        db_session=db_session, user=user, family_id=stored.family_id, ttl=refresh_ttl
    )
    db_session.commit()
    return Grant(user=user, refresh_token=successor)


def logout(*, db_session: Session, token: str) -> None:
    """Revoke the token's family; an unknown token is silently accepted (nothing to end)."""
    stored = db_session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == _digest(token))
    )
    if stored is not None:
        _revoke_family(db_session, stored.family_id)
        db_session.commit()
