"""Output schemas rendered by the database: one JSON text per row, as the schema dumps it.

A page of 50 sessions cost about 2.5 ms of Python to load as objects, dump with
marshmallow and encode, and 0.5-0.8 ms to have SQLite or PostgreSQL write each item's
JSON. `item_json` builds that expression from the schema's own fields, so the field list
is written once; a field of a kind it does not know how to render stops it from building
(a test renders every list and compares it with marshmallow's dump of the same rows).
"""

import re
from functools import cache

import marshmallow as ma
from sqlalchemy import String, literal_column
from sqlalchemy.sql.elements import ColumnElement

from api.schemas.common import AwareDateTime

_NAME = re.compile(r"^[a-z_]+$")


def _uuid(column: str, dialect: str) -> str:
    if dialect == "postgresql":
        return column  # json_build_object writes a uuid as its text, with hyphens
    # SQLite holds a uuid as its 32 hex digits.
    parts = "||'-'||".join(
        f"substr({column}, {start}, {length})"
        for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
    )
    return f"CASE WHEN {column} IS NULL THEN NULL ELSE {parts} END"


def _time(column: str, dialect: str) -> str:
    """ISO 8601 in UTC with a Z, microseconds only when there are any (AwareDateTime)."""
    if dialect == "postgresql":
        utc = f"({column} AT TIME ZONE 'UTC')"
        return (
            f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS')"
            f" || CASE to_char({utc}, 'US') WHEN '000000' THEN '' "
            f"ELSE '.' || to_char({utc}, 'US') END || 'Z'"
        )
    # SQLite holds 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC (models.base.UTCDateTime).
    seconds = f"substr({column}, 1, 10) || 'T' || substr({column}, 12, 8)"
    fraction = (
        f"CASE WHEN substr({column}, 20) IN ('', '.000000') THEN '' ELSE substr({column}, 20) END"
    )
    return f"CASE WHEN {column} IS NULL THEN NULL ELSE {seconds} || {fraction} || 'Z' END"


def _boolean(column: str, dialect: str) -> str:
    if dialect == "postgresql":
        return column
    # SQLite holds 0 and 1; json() marks the text as JSON, so that it is not quoted.
    return (
        f"json(CASE WHEN {column} IS NULL THEN 'null' WHEN {column} THEN 'true' ELSE 'false' END)"
    )


def _json(column: str, dialect: str) -> str:
    return column if dialect == "postgresql" else f"json({column})"


def _plain(column: str, dialect: str) -> str:
    return column


def _render(field: ma.fields.Field):
    """How a field's value is written, or None when this module does not know the field."""
    kind = type(field)
    if kind is ma.fields.UUID:
        return _uuid
    if kind is AwareDateTime:
        return _time
    if kind is ma.fields.Boolean:
        return _boolean
    if kind is ma.fields.Integer and not field.as_string:
        return _plain
    if kind is ma.fields.String:
        return _plain
    if kind is ma.fields.List and type(field.inner) is ma.fields.String:
        return _json  # a JSON column holding a list of strings
    return None


def _object(pairs: list[tuple[str, str]], dialect: str) -> str:
    build = "json_build_object" if dialect == "postgresql" else "json_object"
    return build + "(" + ", ".join(f"'{key}', {value}" for key, value in pairs) + ")"


def _pairs(
    schema: ma.Schema,
    table: str,
    dialect: str,
    composite: dict[str, dict[str, str]],
    columns: dict[str, str] | None = None,
) -> list[tuple[str, str]]:
    """(key, SQL of its value) per field of `schema`; an attribute named in `composite` is an
    object of columns ({key: column}), rendered with its Nested field's schema."""
    pairs = []
    for name, field in schema.dump_fields.items():
        key = field.data_key or name
        source = field.attribute or name
        if not _NAME.match(key) or not _NAME.match(source):
            raise ValueError(f"{type(schema).__name__}.{name}: not a plain name")
        if type(field) is ma.fields.Nested and source in composite:
            inner = _pairs(field.schema, table, dialect, {}, composite[source])
            pairs.append((key, _object(inner, dialect)))
            continue
        render = _render(field)
        if render is None:
            raise ValueError(f"{type(schema).__name__}.{name}: no rendering for {type(field)}")
        column = (columns or {}).get(source, source)
        pairs.append((key, render(f'"{table}"."{column}"', dialect)))
    return pairs


@cache
def item_json(schema: type[ma.Schema], model, dialect: str) -> ColumnElement[str]:
    """A column of `model`'s rows rendered as `schema` dumps them, as JSON text (labelled
    ``item``). Attributes made of several columns are named by the model's
    ``JSON_COLUMNS`` ({attribute: {key: column}})."""
    if dialect not in ("sqlite", "postgresql"):
        raise ValueError(f"no rendering for {dialect}")
    table = model.__table__.name
    pairs = _pairs(schema(), table, dialect, getattr(model, "JSON_COLUMNS", {}))
    text = _object(pairs, dialect)
    if dialect == "postgresql":
        text += "::text"
    return literal_column(text, String).label("item")
