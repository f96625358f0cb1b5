"""Declarative base, naming convention and the UTC time type shared by all models."""

from datetime import UTC, datetime
from functools import cache

from sqlalchemy import (
    DateTime,
    MetaData,
    Select,
    Text,
    TextClause,
    bindparam,
    func,
    select,
    text,
    type_coerce,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC; SQLite gives naive values back, so UTC is re-attached."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type:
        return datetime

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; give an offset")
        value = value.astimezone(UTC)
        # SQLite compares timestamps as text: store them without an offset, uniformly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utc_text(column, dialect: str):
    """A UTCDateTime column as the API writes times, in SQL: ISO 8601 in UTC with a Z,
    microseconds only when there are any (as ``isoformat`` leaves a zero fraction out).
    SQLite holds the text SQLAlchemy wrote, "2026-11-20 08:00:00.000000", in UTC."""
    if dialect == "postgresql":
        utc = func.timezone("UTC", column)
        stamped = func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"', type_=Text)
    else:
        stamped = func.replace(type_coerce(column, Text), " ", "T", type_=Text).concat("Z")
    return func.replace(stamped, ".000000Z", "Z", type_=Text)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def is_unique_violation(error: IntegrityError) -> bool:
    """The insert met an existing key (not a check, NOT NULL or foreign-key failure)."""
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate == "23505"
    return "UNIQUE constraint failed" in str(error.orig)


@cache
def conflict_insert(
    model, columns: tuple[str, ...], *, key: str, update: bool, returning: str | None = None
) -> TextClause:
    """``INSERT INTO`` `model` (`columns`) ``ON CONFLICT (key)``: ``DO UPDATE`` the other
    columns with the new values when `update`, else ``DO NOTHING``; built once.

    The same text on SQLite and PostgreSQL, bound with the columns' own types. Written as
    text because SQLAlchemy's dialect ``insert(...).on_conflict_*`` constructs are not
    cached: they were compiled again on every write. Column defaults do not apply: give
    every column a value.
    """
    table = model.__table__
    unknown = {*columns, key, returning} - {None, *table.c.keys()}
    if unknown:  # names from code, never from a request; checked all the same
        raise ValueError(f"not columns of {table.name}: {sorted(unknown)}")
    names = ", ".join(f'"{c}"' for c in columns)
    values = ", ".join(f":{c}" for c in columns)
    action = "NOTHING"
    if update:
        action = "UPDATE SET " + ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c != key)
    sql = f'INSERT INTO {table.name} ({names}) VALUES ({values}) ON CONFLICT ("{key}") DO {action}'  # noqa: S608 - names checked above
    if returning is not None:
        sql += f' RETURNING "{returning}"'
    statement = text(sql).bindparams(*(bindparam(c, type_=table.c[c].type) for c in columns))
    return statement if returning is None else statement.columns(table.c[returning])


@cache
def _by_id(model) -> Select:
    return select(model).where(model.__mapper__.primary_key[0] == bindparam("ident"))


def get_by_id(db_session, model, ident):
    """The row of `model` with this primary key, or None: ``Session.get``'s answer by a
    statement built once per model (``Session.get`` builds its statement and its cache key
    anew on every call, a third of the time of a read of one row). It always asks the
    database, and flushes pending changes first."""
    return db_session.scalar(_by_id(model), {"ident": ident})


def column_rows(db_session, statement, params: dict | None = None):
    """Rows of a select of columns, run on the session's connection: the ORM's execution
    (for objects and autoflush, which such reads do not need) costs about as much again as
    the statement itself. Pending changes are not flushed first."""
    return db_session.connection().execute(statement, params or {})
