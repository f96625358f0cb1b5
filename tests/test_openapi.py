"""The committed openapi.yaml is exactly what the code generates, and valid OpenAPI."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from openapi_schema_validator import OAS30Validator
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
            opened_by_link = "/report-links/{token}/" in path  # the token is in the path
            assert has_bearer == (path not in public and not opened_by_link), f"{method} {path}"


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


def _history() -> list:
    """Reports that fire every rule: a climbing, worsening, flaring course and a nerve course."""
    from analyzer import Report, Symptoms

    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    reports, day = [], 0.0

    def add(kind, **fields):
        reports.append(
            Report(id=str(uuid.uuid4()), kind=kind, felt_at=start + timedelta(days=day), **fields)
        )

    for before in (3, 3, 4, 3, 3, 4, 3):
        add("session", pain_before=before, pain_after=before, symptoms=Symptoms(side="left"))
        day += 3
    for before in (5, 6, 7):  # worse after each session, and climbing
        add(
            "session",
            pain_before=before,
            pain_after=before + 3,
            pressure="deep",
            technique="deep_tissue",
            acute_flare=True,
            areas=("sciatic_nerve_path",),
        )
        day += 2
        add("checkin", pain=before + 3)
        day += 0.5
        add("checkin", pain=before + 3)
        day += 0.5
    for weakness, numbness, side in (
        (1, 0, "left"),
        (1, 0, "left"),
        (1, 0, "left"),
        (3, 3, "both"),
    ):
        add("checkin", pain=6, symptoms=Symptoms(weakness=weakness, numbness=numbness, side=side))
        day += 1
    add("checkin", pain=6, symptoms=Symptoms(bladder_bowel_change=True, side="both"))
    return reports


def test_every_evidence_field_the_rules_write_is_in_the_contract(generated_spec):
    """Alert evidence is typed: each firing of every rule dumps whole (no field dropped) and
    validates against EvidenceItemOut as published."""
    import analyzer
    from api.schemas.alerts import EvidenceItemOut

    findings = analyzer.analyze(_history(), analyzer.PatientContext(medically_cleared_at=None))
    assert {f.rule for f in findings} == set(analyzer.RULES)
    schemas = generated_spec["components"]["schemas"]
    validator = OAS30Validator(
        {"$ref": "#/components/schemas/EvidenceItemOut", "components": {"schemas": schemas}}
    )
    for finding in findings:
        item = {
            "key": finding.key,
            "felt_at": finding.felt_at.isoformat(),
            "severity": finding.severity,
            **finding.evidence,
        }
        assert EvidenceItemOut().dump(item) == item, finding.rule
        validator.validate(item)


def _examples(spec: dict):
    """(where, schema, example) for every example of a request or response body."""
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            bodies = [("request", operation.get("requestBody", {}))]
            bodies += list(operation.get("responses", {}).items())
            for status, body in bodies:
                if not isinstance(body, dict):
                    continue
                for media, content in body.get("content", {}).items():
                    if "example" in content:
                        where = f"{method.upper()} {path} {status} {media}"
                        yield where, content["schema"], content["example"]


def test_every_example_in_the_contract_matches_its_schema(generated_spec):
    schemas = {"components": generated_spec["components"]}
    examples = list(_examples(generated_spec))
    documented = {where.split(" ")[0] + " " + where.split(" ")[1] for where, *_ in examples}
    for write in ("POST /v1/sessions", "POST /v1/checkins", "POST /v1/auth/token"):
        assert write in documented, write
    for where, schema, example in examples:
        errors = [e.message for e in OAS30Validator({**schema, **schemas}).iter_errors(example)]
        assert errors == [], where


def _defaults(spec: dict, schema: dict, seen: frozenset = frozenset()) -> list[str]:
    """The properties of `schema` (nested ones followed through $ref) that declare a default."""
    found = []
    for name, prop in schema.get("properties", {}).items():
        if "default" in prop:
            found.append(name)
        for ref in [prop.get("$ref"), *(p.get("$ref") for p in prop.get("anyOf", []))]:
            if ref and ref not in seen:
                nested = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
                found += [f"{name}.{inner}" for inner in _defaults(spec, nested, seen | {ref})]
    return found


def test_patch_bodies_declare_no_defaults(generated_spec):
    """A partial update keeps what it leaves out; a default in its contract makes generated
    clients send it with every PATCH, resetting that field (a red flag cleared)."""
    patched = {
        path: op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        for path, item in generated_spec["paths"].items()
        for verb, op in item.items()
        if verb == "patch" and "requestBody" in op
    }
    assert {"/v1/sessions/{report_id}", "/v1/checkins/{report_id}"} <= set(patched)
    schemas = generated_spec["components"]["schemas"]
    assert {
        path: found
        for path, ref in patched.items()
        if (found := _defaults(generated_spec, schemas[ref.rsplit("/", 1)[1]]))
    } == {}
