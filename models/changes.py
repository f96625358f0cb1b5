"""The server change sequence: every committed change to a synced row gets a higher number.

The counter row is incremented just before commit and its row lock is held until the
commit ends, so change numbers become visible in the order they were assigned: a client
reading "everything after N" can never miss a change that commits later with a lower N.
"""

from sqlalchemy import BigInteger, bindparam, event, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.alert import Alert
from models.base import Base
from models.care_link import CareLink
from models.report import CheckIn, MassageSession

SYNCED = (MassageSession, CheckIn, Alert, CareLink)
_PENDING = "sync_changed"
_NUMBERED = "sync_numbered"


class ChangeCounter(Base):
    """A single row: the last change number handed out, and the highest purged tombstone's."""

    __tablename__ = "change_counter"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
    purged_through: Mapped[int] = mapped_column(BigInteger, default=0)


# Built once: hands out `count` numbers and returns the last.
_TAKE_NUMBERS = (
    update(ChangeCounter)
    .where(ChangeCounter.id == 1)
    .values(value=ChangeCounter.value + bindparam("count", type_=BigInteger))
    .returning(ChangeCounter.value)
)


def _changed(session: Session) -> list:
    return [
        obj
        for obj in (*session.new, *session.dirty)
        if isinstance(obj, SYNCED) and (obj in session.new or session.is_modified(obj))
    ]


@event.listens_for(Session, "before_flush")
def _remember(session: Session, _context, _instances) -> None:
    if session.info.get(_NUMBERED):
        return  # stamp's own flush: what it writes is numbered already
    session.info.setdefault(_PENDING, {}).update({id(o): o for o in _changed(session)})


@event.listens_for(Session, "before_commit")
def _stamp(session: Session) -> None:
    pending = session.info.pop(_PENDING, {})
    pending.update({id(o): o for o in _changed(session)})
    rows = [o for o in pending.values() if o not in session.deleted]
    if not rows:
        return
    last = session.connection().execute(_TAKE_NUMBERS, {"count": len(rows)}).scalar_one()
    for number, row in enumerate(rows, start=last - len(rows) + 1):
        row.change_seq = number


def stamp(session: Session) -> None:
    """Number the changes made so far and write everything, without committing.

    A write calls this before it builds its response, so that the response (its version,
    ETag and change number) is what the commit will store; the counter's row lock is then
    held until that commit, as the ordering above needs. Rows not yet written are written
    with their numbers (an insert, no update after it). Changes made afterwards are
    numbered at commit as usual.
    """
    _stamp(session)
    session.info[_NUMBERED] = True
    try:
        session.flush()
    finally:
        del session.info[_NUMBERED]


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)
