"""The house rules that code review asked for, checked on the source: services import no
Flask and never commit (the request's edge does), models and the analyzer stay pure."""

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

# Streaming a SQLite export reads chunk by chunk, each in a short transaction of its own,
# so that a long download never holds the database (api/services/exports.py says why).
# The webhook worker leases deliveries in one transaction, sends outside any, and records
# the outcome in another (api/services/webhooks.py): a send must never hold the database.
COMMITS_ALLOWED = {
    ("api/services/exports.py", "_patients"),
    ("api/services/exports.py", "_chunks"),
    ("api/services/webhooks.py", "claim"),
    ("api/services/webhooks.py", "record"),
    ("api/services/webhooks.py", "_next_to_send"),
    ("api/services/webhooks.py", "_set_aside"),
    ("api/services/webhooks.py", "_release"),
    ("api/services/webhooks.py", "_put_off"),
}


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).glob("*.py"))


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("api/services", {"flask", "flask_smorest", "werkzeug"}),
        ("models", {"flask", "flask_smorest", "marshmallow", "api"}),
        ("analyzer", {"flask", "sqlalchemy", "marshmallow", "api", "models"}),
    ],
)
def test_inner_layers_import_nothing_from_outer_ones(folder, forbidden):
    offending = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & forbidden)
        for path in _modules(folder)
        if _imports(path) & forbidden
    }
    assert offending == {}


def test_services_never_commit():
    commits = set()
    for path in _modules("api/services"):
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef):
                continue
            for node in ast.walk(function):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "commit"
                ):
                    commits.add((str(path.relative_to(ROOT)), function.name))
    assert commits <= COMMITS_ALLOWED
    assert commits, "the exports' chunked reads commit; this test no longer sees them"
