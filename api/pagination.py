"""Keyset pagination with an opaque cursor: {"items": [...], "next_cursor": ...}."""

import base64
import binascii
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import marshmallow as ma
from sqlalchemy import Select, and_, bindparam, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from api.errors import Invalid
from api.schemas.common import EARLIEST, LATEST

CURSOR_PATTERN = r"^[A-Za-z0-9_-]*$"  # base64url without padding
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class PageArgs(ma.Schema):
    limit = ma.fields.Integer(
        load_default=DEFAULT_LIMIT, validate=ma.validate.Range(min=1, max=MAX_LIMIT)
    )
    cursor = ma.fields.String(
        load_default=None,
        validate=[ma.validate.Length(max=512), ma.validate.Regexp(CURSOR_PATTERN)],
        metadata={"description": "Opaque; the next_cursor of the previous page"},
    )


def page_schema(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """The list envelope around an item schema."""
    return ma.Schema.from_dict(
        {
            "items": ma.fields.List(ma.fields.Nested(item_schema), required=True),
            "next_cursor": ma.fields.String(allow_none=True, required=True),
        },
        name=name,
    )


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None


def _encode(values: list[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else str(v) for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def _decode(cursor: str, keys: list[InstrumentedAttribute]) -> list[Any]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(keys):
            raise ValueError("wrong shape")
        return [_typed(key, value) for key, value in zip(keys, raw, strict=True)]
    except (ValueError, TypeError, OverflowError, binascii.Error) as exc:
        raise Invalid(
            "The cursor is not valid.", errors={"cursor": ["Not a valid cursor."]}
        ) from exc


def _typed(key: InstrumentedAttribute, value: str) -> Any:
    python_type = key.type.python_type
    if python_type is datetime:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None or not EARLIEST <= parsed <= LATEST:
            raise ValueError("cursor time without offset or out of range")
        return parsed
    if python_type is uuid.UUID:
        return uuid.UUID(value)
    if python_type is int:
        number = int(value)
        if not 0 <= number < 2**63:
            raise ValueError("cursor number out of range")
        return number
    return python_type(value)


def _after(keys: tuple[InstrumentedAttribute, ...], ascending: bool):
    """Rows strictly after the cursor's values (bound as ``after_0``, ``after_1``, ...) in
    (k1, k2, ...) order."""
    values = [bindparam(f"after_{i}") for i in range(len(keys))]
    clauses = []
    for i, key in enumerate(keys):
        equal = [keys[j] == values[j] for j in range(i)]
        clauses.append(and_(*equal, key > values[i] if ascending else key < values[i]))
    return or_(*clauses)


def _page_statement(
    query: Select, keys: tuple[InstrumentedAttribute, ...], ascending: bool, after: bool
) -> Select:
    """`query` ordered by `keys`, after the cursor's values if `after`, limited to
    ``page_limit`` rows: values bound at execution."""
    if after:
        query = query.where(_after(keys, ascending))
    order = [key.asc() if ascending else key.desc() for key in keys]
    return query.order_by(*order).limit(bindparam("page_limit"))


# For a query built once (reports.get_all), its pages are built once too: a statement used
# again keeps its cache key.
_page_statement_once = lru_cache(maxsize=128)(_page_statement)


def paginate(
    *,
    db_session: Session,
    query: Select,
    keys: list[InstrumentedAttribute],
    limit: int,
    cursor: str | None,
    ascending: bool = False,
    rows: bool = False,
    values: dict | None = None,
    cursor_of: Callable[[Any], list] | None = None,
) -> Page:
    """Run `query` ordered by `keys`, descending unless asked (the last key must be unique).

    Its items are objects, or with `rows`, rows of the query's columns (which must name the
    keys, unless `cursor_of` reads the keys' values from the page's last item). With
    `values`, `query` is a statement built once whose bind parameters these fill, and its
    page statements are built once as well."""
    build = _page_statement if values is None else _page_statement_once
    statement = build(query, tuple(keys), ascending, bool(cursor))
    bound = (values or {}) | {"page_limit": limit + 1}
    if cursor:
        bound |= {f"after_{i}": value for i, value in enumerate(_decode(cursor, keys))}
    items = list(
        db_session.execute(statement, bound) if rows else db_session.scalars(statement, bound)
    )
    if len(items) <= limit:
        return Page(items=items, next_cursor=None)
    items = items[:limit]
    last = items[-1]
    after = cursor_of(last) if cursor_of else [getattr(last, key.key) for key in keys]
    return Page(items=items, next_cursor=_encode(after))
