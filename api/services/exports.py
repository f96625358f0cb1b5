"""CSV exports of sessions, check-ins and alerts: scoped like the lists, audited, streamed.

On PostgreSQL one ``COPY (SELECT ...) TO STDOUT`` writes the file in one snapshot, its
cells computed in SQL (``_copy_body``). On SQLite rows are read patient by patient in
keyset-ordered chunks, each chunk in its own short transaction, so memory stays flat
whatever the row count and a long export never holds the database's lock (SQLite begins
every transaction IMMEDIATE) for minutes. The price there is that an export is not one
snapshot: a row edited while the export runs may be missed or written twice; rows
untouched during the export are each written exactly once.

The row queries are Core selects of the stored values, formatted column by column: on a
million rows, ORM rows and datetime/UUID/JSON round trips were most of the time."""

import csv
import functools
import io
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    String,
    Table,
    Text,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from api.services import access, audit
from models import Alert, CheckIn, MassageSession, User
from models.base import utc_text

# Cells starting with these are formulas (or become one) in spreadsheet programs.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PATIENT_CHUNK = 500
ROW_CHUNK = 2000
FLUSH_AT = 64 * 1024
LIST_SEPARATOR = ";"


def neutralise(text: str | None) -> str | None:
    """A text cell a spreadsheet shows as text: a leading apostrophe before a formula start."""
    if text and text.startswith(FORMULA_START):
        return "'" + text
    return text


def iso_utc(value: datetime | None) -> str | None:
    """The API's time format: ISO 8601 in UTC with a Z, e.g. 2026-11-20T08:00:00Z."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _time_cell(value: str | datetime | None) -> str | None:
    """A stored UTC time as iso_utc writes it; SQLite's text form is rearranged, not parsed."""
    if value is None:
        return None
    if isinstance(value, str) and len(value) == 26 and value[10] == " ":
        # "2026-11-20 08:00:00.000000", UTC; isoformat leaves out a zero fraction.
        if value.endswith("000000"):
            return value[:19].replace(" ", "T") + "Z"
        return value.replace(" ", "T") + "Z"
    return iso_utc(_as_datetime(value))


def _id_cell(value: str | uuid.UUID | None) -> str | None:
    """A stored UUID as its canonical text; SQLite holds 32 hex digits."""
    if isinstance(value, str) and len(value) == 32:
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return None if value is None else str(value)


@functools.lru_cache(maxsize=1024)
def _list_cell(raw: str | None) -> str | None:
    """A JSON list of codes as one "a;b" cell; the few distinct lists are decoded once each."""
    if raw is None:
        return None
    return neutralise(LIST_SEPARATOR.join(str(v) for v in json.loads(raw)))


def _report_ids(evidence: dict | None) -> str | None:
    return LIST_SEPARATOR.join(str(rid) for rid in (evidence or {}).get("report_ids", []))


_flag = {True: "true", False: "false"}.get  # 1 and 0 hash as True and False


@dataclass(frozen=True)
class Column:
    """A CSV column: the selected SQL expression and how its value is written (None: as is).

    ``cell`` is the same cell computed by PostgreSQL as text (None: the expression as is),
    for the COPY path; a test holds both paths to byte-identical output.
    """

    header: str
    expression: Any
    render: Callable[[Any], Any] | None = None
    cell: Any = None


def _neutralised_sql(text):
    """``neutralise`` in SQL; an empty text becomes NULL, which COPY writes as csv does ''."""
    guarded = case((func.left(text, 1).in_(FORMULA_START), literal("'") + text), else_=text)
    return func.nullif(guarded, "")


def _text(column) -> Column:
    return Column(column.name, column, neutralise, _neutralised_sql(column))


# Codes (technique, rule, status...) repeat: their few distinct cells are computed once.
_code_cell = functools.lru_cache(maxsize=1024)(neutralise)


def _code(column) -> Column:
    # Codes are the API's own words (letters, digits, '_', '.', '-' inside): neutralising
    # them is a no-op that PostgreSQL need not repeat on every row.
    return Column(column.name, column, _code_cell, column)


def _joined_sql(json_list: str) -> Any:
    """A JSON list's elements joined with the list separator, in order (NULL when empty)."""
    return literal_column(
        f"(SELECT string_agg(e.value, '{LIST_SEPARATOR}' ORDER BY e.n) "  # noqa: S608
        f"FROM json_array_elements_text({json_list}) WITH ORDINALITY AS e(value, n))",
        Text,
    )  # json_list is one of this module's column expressions, never input


def _codes_sql(column):
    """``_list_cell`` in SQL for a JSON list of codes (letters and underscores, as the API
    accepts them): the JSON text without brackets, quotes and spaces, joined with ';'."""
    bare = func.translate(cast(column, Text), '[]" ', "", type_=Text)
    return func.nullif(func.replace(bare, ",", LIST_SEPARATOR, type_=Text), "")


def _stored(column):
    """The column as the driver returns it: SQLite's stored text, PostgreSQL's datetime or UUID.

    SQLAlchemy's per-value result processing was a large share of an export's time; the cell
    functions format both forms.
    """
    return type_coerce(column, String())


def _time(column) -> Column:
    return Column(column.name, _stored(column), _time_cell, utc_text(column, "postgresql"))


def _id(column) -> Column:
    return Column(column.name, _stored(column), _id_cell)  # COPY writes uuids canonically


def _number(column) -> Column:
    return Column(column.name, column)


def _boolean(column) -> Column:
    cell = case((column.is_(True), "true"), (column.is_(False), "false"))
    return Column(column.name, type_coerce(column, Integer()), _flag, cell)  # 0/1 on SQLite


@dataclass(frozen=True)
class Export:
    """One CSV export: its rows, in which order, and what each column holds."""

    name: str
    table: Table
    resource_type: str
    felt: Any  # the time column `from`/`to` filter on, and the order within a patient
    columns: tuple[Column, ...]
    soft_deleted: bool = True

    @property
    def filename(self) -> str:
        return f"{self.name}.csv"

    @property
    def action(self) -> str:
        return f"export.{self.name}_csv"

    @property
    def header(self) -> list[str]:
        return ["patient_id", "patient_name", *(c.header for c in self.columns)]

    def position(self, header: str) -> int:
        return next(i for i, c in enumerate(self.columns) if c.header == header)


def _symptoms(c) -> tuple[Column, ...]:
    return (
        _number(c.numbness),
        _number(c.tingling),
        _number(c.weakness),
        _code(c.symptom_side),
        _boolean(c.bladder_bowel_change),
        _boolean(c.saddle_numbness),
    )


def _bookkeeping(c) -> tuple[Column, ...]:
    return (_text(c.notes), _time(c.created_at), _time(c.updated_at))


_S = MassageSession.__table__.c
SESSIONS = Export(
    name="sessions",
    table=MassageSession.__table__,
    resource_type="session",
    felt=_S.started_at,
    columns=(
        _id(_S.id),
        _time(_S.started_at),
        _number(_S.duration_minutes),
        _id(_S.therapist_id),
        _code(_S.technique),
        _code(_S.pressure),
        Column("areas", cast(_S.areas, Text), _list_cell, _codes_sql(_S.areas)),
        _boolean(_S.acute_flare),
        _number(_S.pain_before),
        _number(_S.pain_after),
        *_symptoms(_S),
        *_bookkeeping(_S),
    ),
)

_C = CheckIn.__table__.c
CHECKINS = Export(
    name="checkins",
    table=CheckIn.__table__,
    resource_type="checkin",
    felt=_C.recorded_at,
    columns=(
        _id(_C.id),
        _time(_C.recorded_at),
        _number(_C.pain),
        *_symptoms(_C),
        *_bookkeeping(_C),
    ),
)

_A = Alert.__table__.c
ALERTS = Export(
    name="alerts",
    table=Alert.__table__,
    resource_type="alert",
    felt=_A.first_seen_at,
    soft_deleted=False,
    columns=(
        _id(_A.id),
        _time(_A.first_seen_at),
        _time(_A.last_seen_at),
        _code(_A.rule),
        _code(_A.severity),
        _code(_A.status),
        _number(_A.occurrences),
        _text(_A.title),
        _text(_A.message),
        _text(_A.clinician_message),
        _text(_A.recommendation),
        Column(
            "evidence_report_ids",
            _A.evidence,
            _report_ids,
            _joined_sql("alerts.evidence -> 'report_ids'"),
        ),
        _code(_A.ruleset_version),
        _id(_A.acknowledged_by),
        _time(_A.acknowledged_at),
        _code(_A.acknowledgement_outcome),
        _text(_A.acknowledgement_reason),
        _id(_A.resolved_by),
        _time(_A.resolved_at),
        _code(_A.resolution),
        _text(_A.resolution_note),
    ),
)

EXPORTS = {export.name: export for export in (SESSIONS, CHECKINS, ALERTS)}


@dataclass(frozen=True)
class Scope:
    """Whose rows and which span: the caller's visibility narrowed by the filters."""

    visible: Select | None
    patient_id: uuid.UUID | None
    felt_from: datetime | None
    felt_to: datetime | None


def _filtered(query: Select, export: Export, scope: Scope) -> Select:
    if export.soft_deleted:
        query = query.where(export.table.c.deleted_at.is_(None))
    if scope.felt_from is not None:
        query = query.where(export.felt >= scope.felt_from)
    if scope.felt_to is not None:
        query = query.where(export.felt < scope.felt_to)
    return query


def _scoped(query: Select, column, scope: Scope) -> Select:
    if scope.visible is not None:
        query = query.where(column.in_(scope.visible))
    if scope.patient_id is not None:
        query = query.where(column == scope.patient_id)
    return query


def _audit(db_session: Session, *, user: User, export: Export, scope: Scope) -> None:
    """One event per patient whose rows are exported (someone else's), committed before the
    first byte leaves; a patient asked for by id is named even with no rows.

    Each count comes from one grouped COUNT over the same filters, so the events say how
    many rows were handed out even if the client stops reading half-way.
    """
    owner = export.table.c.patient_id
    per_patient = _scoped(_filtered(select(owner, func.count()), export, scope), owner, scope)
    counts = dict(db_session.execute(per_patient.group_by(owner)).tuples().all())
    if scope.patient_id is not None:
        counts.setdefault(scope.patient_id, 0)
    audit.record_list(
        db_session,
        user=user,
        resource_type=export.resource_type,
        counts=counts,
        action=export.action,
    )


def start(
    *,
    db_session: Session,
    user: User,
    export: Export,
    patient_id: uuid.UUID | None = None,
    felt_from: datetime | None = None,
    felt_to: datetime | None = None,
    timeout_ms: int | None = None,
) -> Iterator[bytes]:
    """Audit the export now and return the CSV body as a lazy iterator of UTF-8 chunks.

    A patient_id the caller may not see gives a header-only file, as lists give no items.
    On PostgreSQL the rows come from one COPY bounded by ``timeout_ms`` (None: no bound).
    """
    scope = Scope(
        visible=access.visible_patient_ids(user),
        patient_id=patient_id,
        felt_from=felt_from,
        felt_to=felt_to,
    )
    _audit(db_session, user=user, export=export, scope=scope)
    if db_session.get_bind().dialect.name == "postgresql":
        return _copy_body(db_session, export, scope, timeout_ms=timeout_ms)
    return _body(db_session, export, scope)


def _copy_statement(export: Export, scope: Scope) -> Select:
    """Every row of the export as its CSV cells, computed by PostgreSQL, in file order."""
    table = export.table
    cells = [c.expression if c.cell is None else c.cell for c in export.columns]
    query = (
        select(User.id, _neutralised_sql(User.display_name), *cells)
        .join_from(table, User, User.id == table.c.patient_id)
        .where(User.role == "patient")
        .order_by(User.id, export.felt, table.c.id)
    )
    return _scoped(_filtered(query, export, scope), User.id, scope)


def _copy_body(
    db_session: Session, export: Export, scope: Scope, *, timeout_ms: int | None
) -> Iterator[bytes]:
    """PostgreSQL: one ``COPY (SELECT ...) TO STDOUT`` in one transaction, so one snapshot.

    The cells are computed in SQL (the ``cell`` of each column) and PostgreSQL writes the
    CSV; only its LF line ends become CRLF here. The statement may run longer than ordinary
    ones (a slow client reading a large file): ``timeout_ms`` bounds it instead.
    """
    buffer = io.StringIO()
    csv.writer(buffer).writerow(export.header)
    yield buffer.getvalue().encode()
    try:
        connection = db_session.connection()
        compiled = _copy_statement(export, scope).compile(
            dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
        )
        raw = connection.connection.driver_connection
        with raw.cursor() as cursor:
            cursor.execute(f"SET LOCAL statement_timeout = {int(timeout_ms or 0)}")
            copy = f"COPY ({compiled.string}) TO STDOUT WITH (FORMAT csv)"
            with cursor.copy(copy, compiled.params) as rows:
                yield from _crlf_lines(_batched(rows))
    finally:
        db_session.close()


def _batched(blocks) -> Iterator[bytes]:
    """COPY hands over one row per block: gather them into FLUSH_AT-sized chunks."""
    pending = bytearray()
    for block in blocks:
        pending += block
        if len(pending) >= FLUSH_AT:
            yield bytes(pending)
            pending.clear()
    if pending:
        yield bytes(pending)


def _crlf_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """CSV with LF row ends as csv.writer writes it: CRLF row ends, line breaks inside quoted
    cells left as they are.

    Split on quotes, the parts alternate outside and inside quoted cells (a doubled quote
    leaves an empty outside part); only the outside parts hold row ends.
    """
    inside = False
    for chunk in chunks:
        parts = chunk.split(b'"')
        start = 1 if inside else 0
        parts[start::2] = [part.replace(b"\n", b"\r\n") for part in parts[start::2]]
        inside ^= len(parts) % 2 == 0  # an odd number of quotes
        yield b'"'.join(parts)


def _body(db_session: Session, export: Export, scope: Scope) -> Iterator[bytes]:
    # The request's session is closed at app-context teardown, which Flask runs before a
    # streamed body is read; a closed Session opens a new transaction on next use, so each
    # chunk below runs in its own and the session is closed again when the body ends.
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # RFC 4180: CRLF line ends, quotes only where needed
    writer.writerow(export.header)
    renders = [column.render for column in export.columns]
    try:
        for patient_id, name in _patients(db_session, scope):
            for rows in _chunks(db_session, export, scope, patient_id):
                # Column by column: one map() per column instead of a call per cell and row.
                cells = [
                    map(render, values) if render else values
                    for render, values in zip(renders, zip(*rows, strict=True), strict=True)
                ]
                writer.writerows(zip(repeat(str(patient_id)), repeat(neutralise(name)), *cells))
                if buffer.tell() >= FLUSH_AT:
                    yield buffer.getvalue().encode()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue().encode()
    finally:
        db_session.close()


def _patients(db_session: Session, scope: Scope) -> Iterator[tuple[uuid.UUID, str]]:
    """The patients in scope, by id, read in chunks."""
    query = _scoped(
        select(User.id, User.display_name).where(User.role == "patient"), User.id, scope
    ).order_by(User.id)
    after: uuid.UUID | None = None
    while True:
        chunk = query if after is None else query.where(User.id > after)
        rows = db_session.execute(chunk.limit(PATIENT_CHUNK)).all()
        db_session.commit()
        yield from rows
        if len(rows) < PATIENT_CHUNK:
            return
        after = rows[-1][0]


def _chunks(
    db_session: Session, export: Export, scope: Scope, patient_id: uuid.UUID
) -> Iterator[list]:
    """One patient's rows in time order, ROW_CHUNK at a time, each chunk its own transaction
    that checks access again: a care link ended during the export ends its rows at once."""
    table, felt = export.table, export.felt
    rows_of_patient = select(*(c.expression for c in export.columns)).where(
        table.c.patient_id == patient_id
    )
    query = _scoped(_filtered(rows_of_patient, export, scope), table.c.patient_id, scope)
    query = query.order_by(felt, table.c.id)
    felt_at, id_at = export.position(felt.name), export.position("id")
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        chunk = query
        if after is not None:
            # felt >= ... lets the (patient_id, felt) index bound the scan on both databases.
            at, last = after
            chunk = query.where(felt >= at, or_(felt > at, and_(felt == at, table.c.id > last)))
        rows = db_session.execute(chunk.limit(ROW_CHUNK)).all()
        db_session.commit()
        if rows:
            yield rows
        if len(rows) < ROW_CHUNK:
            return
        last_row = rows[-1]
        after = (_as_datetime(last_row[felt_at]), uuid.UUID(str(last_row[id_at])))


def _as_datetime(stored: str | datetime) -> datetime:
    if isinstance(stored, datetime):
        return stored
    parsed = datetime.fromisoformat(stored)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
