"""The server change sequence: every committed change to a synced row gets a higher number.

The counter row is incremented just before commit and its row lock is held until the
commit ends, so change numbers become visible in the order they were assigned: a client
reading "everything after N" can never miss a change that commits later with a lower N.

That lock makes every writer wait for the one holding it, so it is taken as late as the
database allows. On PostgreSQL, where writers otherwise run side by side, a write's rows
are written first and numbered at commit: the lock then covers the counter's update, the
numbers and the commit, not the rest of the write (its alerts' events, its response and
stored Idempotency-Key record). On SQLite the writer's lock serialises whole write
transactions anyway, so a write takes its numbers before its rows are written and they
ride on the inserts (stamp), with no statement of their own.
"""

from collections import defaultdict
from functools import cache

from sqlalchemy import BigInteger, Table, Update, bindparam, event, inspect, update
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.orm.attributes import set_committed_value

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


@cache
def _number_written(table: Table) -> Update:
    """Sets the change number of one row already written in this transaction, and nothing
    else: its version and its update time (``onupdate``) stay as written."""
    kept = {column.name: column for column in table.c if column.onupdate is not None}
    return (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values(change_seq=bindparam("number"), **kept)
    )


def _numbers_ride_on_inserts(session: Session) -> bool:
    """SQLite: its writer's lock serialises whole write transactions (see above)."""
    return session.get_bind().dialect.name == "sqlite"


@event.listens_for(Session, "before_commit")
def _stamp(session: Session) -> None:
    if not _numbers_ride_on_inserts(session):
        # All that is pending (a delivery added after stamp, a write that never called
        # it) is written before the counter's lock is taken: the numbers alone follow.
        session.flush()
    pending = session.info.pop(_PENDING, {})
    pending.update({id(o): o for o in _changed(session)})
    # Not rows deleted, whether still pending or by a flush of this transaction.
    rows = [o for o in pending.values() if o not in session.deleted and not inspect(o).was_deleted]
    if not rows:
        return
    last = session.connection().execute(_TAKE_NUMBERS, {"count": len(rows)}).scalar_one()
    written = defaultdict(list)
    for number, row in enumerate(rows, start=last - len(rows) + 1):
        if row in session.new or session.is_modified(row):
            row.change_seq = number  # written with its changes by the commit's flush
        else:  # written earlier in this transaction, unchanged since
            written[type(row).__table__].append((row, number))
    for table, numbered in written.items():
        numbers = [{"row_id": row.id, "number": number} for row, number in numbered]
        session.connection().execute(_number_written(table), numbers)
        for row, number in numbered:
            set_committed_value(row, "change_seq", number)


def stamp(session: Session) -> None:
    """Write everything changed so far, without committing, numbered as the database
    wants (see above): on SQLite numbered now, on PostgreSQL at commit.

    A write calls this before it builds its response, so that the response (its version
    and ETag) is what the commit will store. Changes made afterwards are numbered at commit
    as usual.
    """
    if not _numbers_ride_on_inserts(session):
        session.flush()  # remembered by _remember, numbered by _stamp at commit
        return
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
