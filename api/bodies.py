"""JSON bodies that parse but would break something later are refused at the door: nesting
deeper than any shape here, lone surrogates (not Unicode text), numbers no field could hold,
NaN and Infinity."""

import json
import math

from api.errors import DomainError

MAX_DEPTH = 16  # the deepest shape here is 3 (a session's symptoms); room for clients' mistakes
MAX_NUMBER_CHARS = 32  # far beyond any field's range; Python refuses over 4,300 digits itself


class MalformedBody(DomainError):
    status = 400


class _Refused(ValueError):
    pass


def _number(kind):
    def parse(text: str):
        if len(text) > MAX_NUMBER_CHARS:
            raise _Refused(f"A number in the body has more than {MAX_NUMBER_CHARS} characters.")
        number = kind(text)
        if not math.isfinite(number):
            raise _Refused(f"The number {text} is too large.")
        return number

    return parse


def _no_constant(name: str):
    raise _Refused(f"{name} is not a JSON number.")


def check(raw: bytes) -> None:
    """Raise MalformedBody for a body no schema should see: not JSON (saying where it
    stopped being JSON), or JSON that would break something later. An empty body is left
    to the argument parser."""
    try:
        value = json.loads(
            raw,
            parse_int=_number(int),
            parse_float=_number(float),
            parse_constant=_no_constant,
        )
    except _Refused as exc:
        raise MalformedBody(str(exc)) from exc
    except RecursionError as exc:
        raise MalformedBody(_too_deep()) from exc
    except json.JSONDecodeError as exc:
        if not raw.strip():
            return
        where = f"line {exc.lineno}, column {exc.colno}"
        raise MalformedBody(f"The body is not valid JSON: {exc.msg} ({where}).") from exc
    except ValueError as exc:  # not UTF-8, UTF-16 or UTF-32 text
        raise MalformedBody("The body is not valid JSON text (UTF-8).") from exc
    _walk(value)


def _too_deep() -> str:
    return f"The body is nested more than {MAX_DEPTH} levels deep."


def _walk(value) -> None:
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            _text(item)
        elif isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise MalformedBody(_too_deep())
            children = item.items() if isinstance(item, dict) else ((None, v) for v in item)
            for key, child in children:
                if key is not None:
                    _text(key)
                pending.append((child, depth + 1))


def _text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedBody(
            "The body holds a lone surrogate (such as \\ud800): it is not Unicode text."
        ) from exc
