"""Delta sync: every session, check-in and alert the caller may see that changed after a
cursor, with tombstones for deletions and for records whose access ended, in change order."""

import base64
import binascii
import json
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, literal, or_, select, union_all, update
from sqlalchemy.orm import Session, aliased

from api.errors import DomainError, Invalid
from api.services import access, audit
from models import Alert, CareLink, ChangeCounter, CheckIn, MassageSession, User, utcnow

KINDS = {"session": (0, MassageSession), "checkin": (1, CheckIn), "alert": (2, Alert)}
BY_ORDER = {order: (kind, model) for kind, (order, model) in KINDS.items()}
AFTER_ALL_KINDS = 9


class CursorExpired(DomainError):
    status, slug, title = 410, "sync-cursor-expired", "Gone"


@dataclass(frozen=True)
class Position:
    seq: int
    kind: int
    id: str
    # The purge watermark the replica is whole with: tombstones purged through it were of
    # records it never held (or it had passed them). A cursor without it (older ones) counts
    # as whole with none.
    kept: int = 0


START = Position(-1, -1, "")


@dataclass(frozen=True)
class Change:
    kind: str
    record: object
    deleted_at: datetime | None  # set: a tombstone (deleted, or no longer yours to see)

    @property
    def live_record(self) -> object | None:
        """The record, or None on a tombstone (a client must not keep what it may not see)."""
        return None if self.deleted_at else self.record


@dataclass(frozen=True)
class SyncPage:
    changes: list[Change]
    next_cursor: str
    has_more: bool


def encode(position: Position) -> str:
    raw = json.dumps([position.seq, position.kind, position.id, position.kept]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str | None) -> Position:
    if not cursor:
        return START
    try:
        seq, kind, ident, *kept = json.loads(
            base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        )
        kept = kept or [0]
        numbers = (seq, kind, *kept)
        # JSON's true and false are ints to isinstance.
        if not (all(type(n) is int for n in numbers) and isinstance(ident, str) and len(kept) == 1):
            raise ValueError("wrong shape")
        if not (-1 <= seq < 2**63 and -1 <= kind <= AFTER_ALL_KINDS and 0 <= kept[0] < 2**63):
            raise ValueError("out of range")
        if ident:
            uuid.UUID(ident)
        return Position(seq, kind, ident, kept[0])
    except (ValueError, TypeError, binascii.Error) as exc:
        raise Invalid(
            "The cursor is not valid.", errors={"cursor": ["Not a valid cursor."]}
        ) from exc


def _after(position: Position, seq, kind, ident):
    id_after = ident > uuid.UUID(position.id) if position.id else literal(True)
    return or_(
        seq > position.seq,
        and_(seq == position.seq, kind > position.kind),
        and_(seq == position.seq, kind == position.kind, id_after),
    )


def _own_changes(user: User, since: int):
    """Records of patients the user sees now, changed after `since`; for a therapist, only
    those changed after the link that shows them (the link brings the earlier ones:
    _link_changes)."""
    for order, model in KINDS.values():
        query = select(
            model.change_seq.label("seq"),
            literal(order).label("kind"),
            model.id.label("id"),
            literal(0).label("gone"),
        ).where(model.change_seq > since)
        if user.role == "therapist":
            query = query.join(
                CareLink, and_(_active_link_of(user), CareLink.patient_id == model.patient_id)
            ).where(model.change_seq > CareLink.change_seq)
        elif (visible := access.visible_patient_ids(user)) is not None:
            query = query.where(model.patient_id.in_(visible))
        yield query


def _active_link_of(therapist: User):
    return and_(CareLink.therapist_id == therapist.id, CareLink.status == "active")


def _link_changes(therapist: User, since: int):
    """Links changed after `since`: a new one brings the patient's records as they were at
    its number (what changed after comes by _own_changes), an ended one takes away those
    made while it held (unless another active link still grants access)."""
    visible = access.visible_patient_ids(therapist)
    later = aliased(CareLink)
    for kind, (order, model) in KINDS.items():
        live = model.deleted_at.is_(None) if kind != "alert" else literal(True)
        base = select(
            CareLink.change_seq.label("seq"),
            literal(order).label("kind"),
            model.id.label("id"),
        ).join(model, model.patient_id == CareLink.patient_id)
        mine = and_(CareLink.therapist_id == therapist.id, CareLink.change_seq > since)
        # Deleted ones too, when deleted after the cursor: the replica may hold them from an
        # earlier link of the pair (their tombstones come by no other way).
        yield base.add_columns(literal(0).label("gone")).where(
            mine,
            CareLink.status == "active",
            model.change_seq <= CareLink.change_seq,
            or_(live, model.change_seq > since),
        )
        # The pair's latest link only (each record once), and only what existed while it
        # held: a record made after the end is none of the therapist's business, not even
        # its id.
        relinked = (
            select(later.id)
            .where(
                later.patient_id == CareLink.patient_id,
                later.therapist_id == CareLink.therapist_id,
                later.change_seq > CareLink.change_seq,
            )
            .exists()
        )
        # Made while it held: created before its end by the clock, or numbered before it (a
        # record another request created just after the end was read from the clock may
        # have committed, and been synced, before the end did).
        held = or_(model.created_at <= CareLink.ended_at, model.change_seq <= CareLink.change_seq)
        yield base.add_columns(literal(1).label("gone")).where(
            mine, CareLink.status == "ended", CareLink.patient_id.not_in(visible), ~relinked, held
        )


def _counter(db_session: Session) -> ChangeCounter:
    return db_session.execute(select(ChangeCounter).where(ChangeCounter.id == 1)).scalar_one()


def _purged_through(db_session: Session) -> int:
    """The purge watermark as stored now (the counter object read before keeps its old
    value)."""
    return db_session.scalar(select(ChangeCounter.purged_through).where(ChangeCounter.id == 1))


def page(*, db_session: Session, user: User, cursor: str | None, limit: int) -> SyncPage:
    position = decode(cursor)
    # Read before the changes: every number up to it belongs to a committed transaction.
    counter = _counter(db_session)
    settled, purged = counter.value, counter.purged_through
    # A replica that had not yet passed every tombstone purged since it was whole may still
    # hold one of their records. (A sync begun without a cursor is whole with the purges
    # before it: it never held what they removed.)
    behind = (position.seq, position.kind) < (purged, AFTER_ALL_KINDS)
    if cursor and behind and purged > position.kept:
        raise CursorExpired(
            "This cursor is older than the kept deletion history; sync again without a cursor."
        )
    if position.seq > settled:
        raise CursorExpired(
            "This cursor is ahead of the server's change history (a database restored from a "
            "backup?); sync again without a cursor."
        )
    kept = max(position.kept, purged)
    parts = list(_own_changes(user, position.seq - 1))
    if user.role == "therapist":
        parts += list(_link_changes(user, position.seq - 1))
    feed = union_all(*parts).subquery()
    rows = db_session.execute(
        select(feed.c.seq, feed.c.kind, feed.c.id, feed.c.gone)
        .where(_after(position, feed.c.seq, feed.c.kind, feed.c.id))
        .order_by(feed.c.seq, feed.c.kind, feed.c.id)
        .limit(limit + 1)
    ).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    changes = _materialise(db_session, user, rows)
    # PostgreSQL reads each statement afresh: a purge that committed after the counter was
    # read may have removed a tombstone before the page listed it, or before its record was
    # read. A replica not yet past the new watermark may hold one of those records.
    now_purged = _purged_through(db_session)
    past_it = (position.seq, position.kind) >= (now_purged, AFTER_ALL_KINDS)
    if now_purged > purged and cursor and not past_it and now_purged > position.kept:
        raise CursorExpired(
            "Deletion history was purged while this page was read; sync again without a cursor."
        )
    if not cursor:
        # A fresh replica has nothing to delete.
        changes = [change for change in changes if change.deleted_at is None]
    handed_out = [change.record for change in changes if change.live_record is not None]
    audit.record_list(
        db_session,
        user=user,
        resource_type="sync",
        counts=Counter(record.patient_id for record in handed_out),
    )
    last = Position(rows[-1].seq, rows[-1].kind, str(rows[-1].id)) if rows else position
    last = replace(last, kept=kept)
    if not has_more and (last.seq, last.kind) < (settled, AFTER_ALL_KINDS):
        last = Position(settled, AFTER_ALL_KINDS, "", kept)
    return SyncPage(changes=changes, next_cursor=encode(last), has_more=has_more)


def _materialise(db_session: Session, user: User, rows) -> list[Change]:
    """The changes of `rows`, less any record gone by now (a tombstone purged since the rows
    were listed: page() then answers 410 to a replica that may have held it)."""
    loaded: dict = {}
    for order, (_, model) in BY_ORDER.items():
        ids = {row.id for row in rows if row.kind == order}
        if ids:
            loaded.update(
                {
                    (order, r.id): r
                    for r in db_session.scalars(select(model).where(model.id.in_(ids)))
                }
            )
    present = [row for row in rows if (row.kind, row.id) in loaded]
    ended = _link_end_times(db_session, user, present)
    changes = []
    for row in present:
        record = loaded[(row.kind, row.id)]
        kind = BY_ORDER[row.kind][0]
        deleted_at = getattr(record, "deleted_at", None)
        if row.gone:
            deleted_at = ended.get(row.seq) or utcnow()
        changes.append(Change(kind=kind, record=record, deleted_at=deleted_at))
    return changes


def _link_end_times(db_session: Session, therapist: User, rows) -> dict:
    """When each ended link of `rows` ended (by its change number: the tombstones' own)."""
    numbers = {row.seq for row in rows if row.gone}
    if not numbers:
        return {}
    query = select(CareLink.change_seq, CareLink.ended_at).where(
        CareLink.therapist_id == therapist.id, CareLink.change_seq.in_(numbers)
    )
    return dict(db_session.execute(query).all())


def purge_tombstones(
    *, db_session: Session, older_than: timedelta, dry_run: bool = False
) -> tuple[int, int]:
    """Delete tombstones older than the retention (audited with the number removed); cursors
    from before them then get 410. Returns how many (would) go and the change number through
    which cursors expire."""
    cutoff = utcnow() - older_than
    watermark = 0
    removed = 0
    for model in (MassageSession, CheckIn):
        gone = model.deleted_at.is_not(None) & (model.deleted_at < cutoff)
        count, top = db_session.execute(
            select(func.count(), func.max(model.change_seq)).where(gone)
        ).one()
        watermark = max(watermark, top or 0)
        removed += count
        if count and not dry_run:
            db_session.execute(delete(model).where(gone))
    if watermark and not dry_run:
        db_session.execute(
            update(ChangeCounter)
            .where(ChangeCounter.id == 1, ChangeCounter.purged_through < watermark)
            .values(purged_through=watermark)
        )
    if not dry_run:
        audit.record(
            db_session, action="tombstones.purge", resource_type="tombstone", row_count=removed
        )
    return removed, watermark
