"""Output schemas rendered by the database: one JSON text per row, as the schema dumps it.

A page of 50 sessions cost about 2.5 ms of Python to load as objects, dump with
marshmallow and encode, and 0.5-0.8 ms to have SQLite (``json_object``) or PostgreSQL
(``json_build_object``) write each item's JSON. `item_json` builds that expression from
the schema's own fields and the table's own columns, so the field list is written once.
A field of a kind it cannot render, or one that names no column, stops it from building;
the views build theirs when the app starts (api/resources/reports.py), and a test renders
every list and compares it with marshmallow's dump of the same rows.
"""

import json
import re
from functools import cache

import marshmallow as ma
from sqlalchemy import Column, Table, Text, case, cast, func, literal_column, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from api.schemas.common import AwareDateTime
from models.base import utc_text

_DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}
DIALECTS = tuple(_DIALECTS)
_NAME = re.compile(r"[a-z_]+")


def _uuid(column: Column, dialect: str) -> ColumnElement:
    if dialect == "postgresql":
        return column  # json_build_object writes a uuid as its text, with hyphens
    # SQLite holds a uuid as its 32 hex digits.
    hexed = type_coerce(column, Text)
    spans = ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
    parts = [func.substr(hexed, start, length) for start, length in spans]
    rendered = parts[0]
    for part in parts[1:]:
        rendered = rendered.concat("-").concat(part)
    return rendered


def _boolean(column: Column, dialect: str) -> ColumnElement:
    if dialect == "postgresql":
        return column
    # SQLite holds 0 and 1; json() marks the text as JSON, so that it is not quoted.
    words = case(
        (column.is_(None), "null"),
        (column.is_(True), "true"),
        else_="false",
    )
    return func.json(words)


def _json(column: Column, dialect: str) -> ColumnElement:
    return column if dialect == "postgresql" else func.json(type_coerce(column, Text))


def _plain(column: Column, dialect: str) -> ColumnElement:
    return column


def _render(field: ma.fields.Field):
    """How a field's value is written, or None when this module does not know the field."""
    kind = type(field)
    if kind is ma.fields.UUID:
        return _uuid
    if kind is AwareDateTime:
        return utc_text
    if kind is ma.fields.Boolean:
        return _boolean
    if kind is ma.fields.Integer and not field.as_string:
        return _plain
    if kind is ma.fields.String:
        return _plain
    if kind is ma.fields.List and type(field.inner) is ma.fields.String:
        return _json  # a JSON column holding a list of strings
    return None


def _object(pairs: list[tuple[str, ColumnElement]], dialect: str) -> ColumnElement:
    build = func.json_build_object if dialect == "postgresql" else func.json_object
    return build(*[part for key, value in pairs for part in (key, value)])


def _pairs(
    schema: ma.Schema,
    table: Table,
    dialect: str,
    composite: dict[str, dict[str, str]],
    columns: dict[str, str] | None = None,
) -> list[tuple[str, ColumnElement]]:
    """(key, SQL of its value) per field of `schema`. An attribute named in `composite` is
    an object of columns ({key: column}), rendered with its Nested field's schema; any
    other attribute is the table's column of that name (`columns` renames them)."""
    pairs = []
    for name, field in schema.dump_fields.items():
        key = field.data_key or name
        source = field.attribute or name
        if not _NAME.fullmatch(key):
            raise ValueError(f"{type(schema).__name__}.{name}: not a plain key {key!r}")
        if type(field) is ma.fields.Nested and source in composite:
            inner = _pairs(field.schema, table, dialect, {}, composite[source])
            pairs.append((key, _object(inner, dialect)))
            continue
        render = _render(field)
        if render is None:
            raise ValueError(f"{type(schema).__name__}.{name}: no rendering for {type(field)}")
        column = (columns or {}).get(source, source)
        if column not in table.c:
            raise ValueError(f"{type(schema).__name__}.{name}: {table.name} has no {column}")
        pairs.append((key, render(table.c[column], dialect)))
    return pairs


@cache
def item_json(schema: type[ma.Schema], model, dialect: str) -> ColumnElement[str]:
    """A column of `model`'s rows rendered as `schema` dumps them, as JSON text (labelled
    ``item``). Attributes made of several columns are named by the model's
    ``COMPOSITE_ATTRIBUTES`` ({attribute: {key: column}})."""
    if dialect not in DIALECTS:
        raise ValueError(f"no rendering for {dialect}")
    composite = getattr(model, "COMPOSITE_ATTRIBUTES", {})
    rendered = _object(_pairs(schema(), model.__table__, dialect, composite), dialect)
    # Compiled once into one SQL text, constants written in: as an expression of a hundred
    # parts, it made every page's statement work out its cache key anew, which cost as much
    # as the rendering saved. Keys are plain names (checked above), and no '%' (psycopg's
    # parameter marker) may be written in.
    compiled = cast(rendered, Text).compile(
        dialect=_DIALECTS[dialect], compile_kwargs={"literal_binds": True}
    )
    if "%" in str(compiled):
        raise ValueError("a rendering must not hold '%'")
    return literal_column(str(compiled), Text).label("item")


def sort_values(item: str, keys) -> list[str]:
    """The values of a page's sort keys (columns named as the schema's fields) in the JSON
    of its last item, for the next page's cursor: the page then need not select the keys
    of every row, which cost about a tenth of a page of 50 on SQLite (their text turned
    into times and uuids, row by row)."""
    rendered = json.loads(item)
    return [rendered[key.key] for key in keys]
