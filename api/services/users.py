"""Accounts: registration, creation by an admin or the CLI, the caller's own profile."""

import uuid
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.errors import Conflict, Invalid, NotFound
from api.services import audit
from api.services.passwords import hash_password
from models import PatientProfile, User, utcnow
from models.base import is_unique_violation

PROFILE_FIELDS = ("affected_side", "suspected_cause", "medically_cleared_at")


def normalize_email(email: str) -> str:
    return email.strip().lower()


def get_by_email(*, db_session: Session, email: str, lock: bool = False) -> User | None:
    """The account of `email`; with `lock`, read again as it is now and, on PostgreSQL,
    locked FOR NO KEY UPDATE until the transaction ends."""
    query = select(User).where(User.email == normalize_email(email))
    return db_session.scalar(_held(query) if lock else query)


def _held(query):
    """`query` of accounts read again as they are now, locked FOR NO KEY UPDATE (PostgreSQL)."""
    return query.with_for_update(key_share=True).execution_options(populate_existing=True)


def hold(*, db_session: Session, user: User) -> User:
    """The signed-in `user` read again as it is now, with their profile, and on PostgreSQL
    locked FOR NO KEY UPDATE until the transaction ends: a change checked against what a
    client read (If-Match) is checked on what it will change."""
    held = db_session.scalar(_held(select(User).where(User.id == user.id)))
    if held.profile is not None:
        db_session.refresh(held.profile)
    return held


def get_or_raise(*, db_session: Session, user_id: uuid.UUID) -> User:
    user = db_session.get(User, user_id)
    if user is None:
        raise NotFound("No such account.")
    return user


def get_all(*, role: str | None = None) -> Select:
    """Every account (by email), optionally of one role."""
    query = select(User).order_by(User.email)
    return query.where(User.role == role) if role else query


def create(
    *,
    db_session: Session,
    email: str,
    password: str,
    display_name: str,
    role: str = "patient",
    actor: User | None = None,
) -> User:
    """Create an account (and the patient profile for a patient), audited as done by `actor`
    (an admin; None: the operator's command line); the caller commits. The password is
    hashed first: call it before the request writes anything (see register)."""
    return _create(
        db_session=db_session,
        email=email,
        password_hash=hash_password(password),
        display_name=display_name,
        role=role,
        actor=actor,
    )


def _create(
    *,
    db_session: Session,
    email: str,
    password_hash: str,
    display_name: str,
    role: str,
    actor: User | None = None,
) -> User:
    """The account, audited as user.create by `actor` (None: no one signed in)."""
    user = User(
        email=normalize_email(email),
        password_hash=password_hash,
        role=role,
        display_name=display_name.strip(),
    )
    if role == "patient":
        user.profile = PatientProfile()
    try:
        # Added inside the savepoint: a taken email rolls back this insert alone.
        with db_session.begin_nested():
            db_session.add(user)
            db_session.flush()
    except IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        raise _taken() from exc
    audit.record(
        db_session,
        action="user.create",
        resource_type="user",
        resource_id=user.id,
        status=201,
        actor=actor,
    )
    return user


def _taken() -> Conflict:
    return Conflict(
        "An account with this email already exists.", errors={"email": ["Already registered."]}
    )


def refuse_taken(*, db_session: Session, email: str) -> None:
    """Conflict when `email` has an account already: for an operator, told before they type
    a password (create still refuses it, should one be made meanwhile)."""
    if get_by_email(db_session=db_session, email=email) is not None:
        raise _taken()


def register(*, db_session: Session, email: str, password: str, display_name: str) -> User:
    """Sign a patient up. An email that already has an account gets the same answer as a new
    one (a user of the same shape, under an id no account holds) and that account is left
    untouched: the answer never tells who has an account. The attempt is audited.

    The password is hashed first, whether or not the email is taken (the same work either
    way: timing tells nothing either), and before the sign-up writes anything: on SQLite a
    sign-up hashing under the writer's lock would hold back every other write.
    """
    password_hash = hash_password(password)
    existing = get_by_email(db_session=db_session, email=email)
    if existing is None:
        try:
            user = _create(
                db_session=db_session,
                email=email,
                password_hash=password_hash,
                display_name=display_name,
                role="patient",
            )
        except Conflict:  # a concurrent sign-up with the same email won
            existing = get_by_email(db_session=db_session, email=email)
        else:
            return user
    audit.record(
        db_session,
        action="auth.register_existing",
        resource_type="user",
        resource_id=existing.id if existing else None,
        status=201,
    )
    return User(
        id=uuid.uuid4(),
        email=normalize_email(email),
        role="patient",
        display_name=display_name.strip(),
        created_at=utcnow(),
    )


def update_me(*, db_session: Session, user: User, changes: dict) -> User:
    profile_changes = {k: changes.pop(k) for k in PROFILE_FIELDS if k in changes}
    if profile_changes and user.role != "patient":
        raise Invalid(
            "Only patients have a patient profile.",
            errors={k: ["Only patients have this field."] for k in profile_changes},
        )
    if "display_name" in changes:
        user.display_name = changes["display_name"].strip()
    for key, value in profile_changes.items():
        setattr(user.profile, key, value)
    db_session.flush()
    return user


def set_password(*, user: User, new_password: str, changed_at: datetime) -> None:
    """Hash and set a new password; the caller revokes tokens and commits (services.auth)."""
    user.password_hash = hash_password(new_password)
    user.password_changed_at = changed_at
