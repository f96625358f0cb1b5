"""The committed openapi.yaml is exactly what the code generates, and valid OpenAPI."""

import re

import pytest
import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from api import create_app
from tests.conftest import ROOT


def test_committed_openapi_matches_the_code(app, tmp_path):
    target = tmp_path / "openapi.yaml"
    result = app.test_cli_runner().invoke(args=["openapi", "write", "--format=yaml", str(target)])
    assert result.exit_code == 0, result.output
    committed = (ROOT / "openapi.yaml").read_text()
    assert target.read_text() == committed, (
        "openapi.yaml is stale: run `flask --app api openapi write --format=yaml openapi.yaml`"
    )


@pytest.fixture
def generated_spec(app, tmp_path) -> dict:
    target = tmp_path / "openapi.yaml"
    result = app.test_cli_runner().invoke(args=["openapi", "write", "--format=yaml", str(target)])
    assert result.exit_code == 0, result.output
    return yaml.safe_load(target.read_text())


def test_committed_and_generated_documents_are_valid_openapi(generated_spec):
    validate(yaml.safe_load((ROOT / "openapi.yaml").read_text()))
    validate(generated_spec)


def test_a_response_filed_under_a_string_status_is_caught(generated_spec):
    """The validator is not a formality: the defect that once shipped is refused."""
    broken = yaml.safe_load(yaml.safe_dump(generated_spec))
    created = broken["paths"]["/v1/sessions"]["post"]["responses"]
    created["201"] = {"links": created["201"]["links"]}  # description, schema and ETag lost
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_every_operation_has_a_unique_readable_operation_id(generated_spec):
    seen = []
    for path, operations in generated_spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            name = operation.get("operationId", "")
            assert re.fullmatch(r"[a-z][A-Za-z]+", name), f"{method} {path}: {name!r}"
            seen.append(name)
    assert len(seen) == len(set(seen))
    assert {"createSession", "listAlerts", "acknowledgeAlert", "getPatientReport"} <= set(seen)


def test_contract_names_its_server_contact_and_licence(generated_spec):
    urls = [server["url"] for server in generated_spec["servers"]]
    assert urls == ["/", "http://127.0.0.1:8000"]
    assert generated_spec["info"]["contact"]["name"]
    assert generated_spec["info"]["license"]["name"]


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


def test_docs_serve_the_contract_and_self_hosted_swagger_ui(app, client):
    assert app.config["API_DOCS"]  # on outside production
    served = client.get("/openapi.json")
    assert served.status_code == 200
    committed = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    assert served.get_json() == committed
    as_yaml = client.get("/openapi.yaml")
    assert as_yaml.mimetype == "application/yaml"
    assert yaml.safe_load(as_yaml.get_data(as_text=True)) == committed
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    # Every asset comes from this server: no CDN (clinics may run offline).
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/docs/assets/") for a in assets), assets
    for asset in assets:
        with client.get(asset) as loaded:
            assert loaded.status_code == 200 and len(loaded.data) > 1000, asset
    assert "/openapi.json" in html


@pytest.mark.parametrize(
    ("env", "docs", "served"),
    [("production", None, False), ("production", "true", True), ("development", "false", False)],
)
def test_docs_can_be_switched_off_and_are_off_in_production(monkeypatch, env, docs, served):
    monkeypatch.setenv("APP_ENV", env)
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    if docs is None:
        monkeypatch.delenv("API_DOCS", raising=False)
    else:
        monkeypatch.setenv("API_DOCS", docs)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    client = create_app().test_client()
    for path in ("/openapi.json", "/openapi.yaml", "/docs", "/docs/assets/swagger-ui.css"):
        with client.get(path) as answer:
            assert (answer.status_code == 200) is served, path


def _operation(spec: dict, name: str) -> dict:
    return next(
        operation
        for methods in spec["paths"].values()
        for operation in methods.values()
        if isinstance(operation, dict) and operation.get("operationId") == name
    )


def test_response_headers_clients_rely_on_are_documented(generated_spec):
    created = _operation(generated_spec, "createSession")["responses"]["201"]["headers"]
    assert {"ETag", "Location", "Idempotent-Replayed"} <= set(created)
    replayable = [
        op["operationId"]
        for methods in generated_spec["paths"].values()
        for op in methods.values()
        if isinstance(op, dict)
        and any(p.get("name") == "Idempotency-Key" for p in op.get("parameters", []))
    ]
    assert "acknowledgeAlert" in replayable
    for name in replayable:
        successes = {
            status: response
            for status, response in _operation(generated_spec, name)["responses"].items()
            if status.startswith("2")
        }
        assert all("Idempotent-Replayed" in r.get("headers", {}) for r in successes.values())
    limited = generated_spec["components"]["responses"]["TOO_MANY_REQUESTS"]
    assert limited["headers"]["Retry-After"]["schema"]["type"] == "integer"
    assert "429" in _operation(generated_spec, "createToken")["responses"]
