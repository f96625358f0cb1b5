"""The committed openapi.yaml is exactly what the code generates, and valid OpenAPI."""

import re

import pytest
import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

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
    assert generated_spec["servers"][0]["url"] == "http://127.0.0.1:8000"
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
