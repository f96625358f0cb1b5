"""Strong ETags of the rows that count their changes (reports, alerts) and the If-Match
precondition of a change to one."""

from collections.abc import Container

from api.errors import StalePrecondition


def etag(row) -> str:
    """The row's id (first 12 hex digits) and version: changes with every write of it."""
    return f"{row.id.hex[:12]}-{row.version}"


def quoted(row) -> str:
    """The row's ETag as its header carries it."""
    return quote(etag(row))


def quote(tag: str) -> str:
    """An entity tag as the ETag header carries it (a strong one: in double quotes)."""
    return f'"{tag}"'


def check_precondition(row, if_match: Container[str] | None, noun: str) -> None:
    """``if_match``: the ETags an If-Match header names (``*`` holds every one); empty or
    None when the client sent none (last write wins)."""
    check_tag(etag(row), if_match, noun)


def check_tag(tag: str, if_match: Container[str] | None, noun: str) -> None:
    """As check_precondition, for a resource whose ETag is `tag` (unquoted)."""
    if not if_match or tag in if_match:
        return
    raise StalePrecondition(f"The {noun} changed since you read it; fetch it again.")
