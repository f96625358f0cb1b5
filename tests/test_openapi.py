"""The committed openapi.yaml is exactly what the code generates."""

import yaml

from tests.conftest import ROOT


def test_committed_openapi_matches_the_code(app, tmp_path):
    target = tmp_path / "openapi.yaml"
    result = app.test_cli_runner().invoke(args=["openapi", "write", "--format=yaml", str(target)])
    assert result.exit_code == 0, result.output
    committed = (ROOT / "openapi.yaml").read_text()
    assert target.read_text() == committed, (
        "openapi.yaml is stale: run `flask --app api openapi write --format=yaml openapi.yaml`"
    )


def test_errors_are_documented_as_problem_json(app):
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    not_found = spec["components"]["responses"]["NOT_FOUND"]
    assert list(not_found["content"]) == ["application/problem+json"]
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])


def test_every_operation_has_a_summary_and_protected_ones_declare_bearer(app):
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    public = {
        "/healthz",
        "/readyz",
        "/v1/auth/register",
        "/v1/auth/token",
        "/v1/auth/refresh",
        "/v1/auth/logout",
    }
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            assert operation.get("summary"), f"{method} {path} lacks a summary"
            has_bearer = operation.get("security") == [{"bearerAuth": []}]
            assert has_bearer == (path not in public), f"{method} {path}"
