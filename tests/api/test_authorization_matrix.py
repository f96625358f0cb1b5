"""Who reaches which record: every route with an id, for every kind of caller."""

import re
import uuid

import pytest

from tests.conftest import checkin_body, same_problem, session_body

ACTORS = (
    "owner",
    "other_patient",
    "linked_therapist",
    "unlinked_therapist",
    "former_therapist",
    "admin",
    "anonymous",
)
PARTIES = {"owner", "linked_therapist", "admin"}
CLINICIANS = {"linked_therapist", "admin"}
PATIENTS = {"owner", "other_patient"}

# (method, url template, who succeeds, success status, roles refused outright with 403)
ROUTES = [
    ("GET", "/v1/sessions/{session}", PARTIES, 200, set()),
    ("PATCH", "/v1/sessions/{session}", PARTIES, 200, set()),
    ("DELETE", "/v1/sessions/{session}", PARTIES, 204, set()),
    ("GET", "/v1/checkins/{checkin}", PARTIES, 200, set()),
    ("PATCH", "/v1/checkins/{checkin}", PARTIES, 200, set()),
    ("DELETE", "/v1/checkins/{checkin}", PARTIES, 204, set()),
    ("DELETE", "/v1/care-links/{link}", PARTIES, 204, set()),
    ("GET", "/v1/alerts/{alert}", PARTIES, 200, set()),
    ("POST", "/v1/alerts/{alert}/acknowledge", CLINICIANS, 200, PATIENTS),
    ("POST", "/v1/alerts/{alert}/resolve", CLINICIANS, 200, PATIENTS),
    ("GET", "/v1/patients/{patient}/report", PARTIES, 200, set()),
    ("GET", "/v1/patients/{patient}/report/chart.svg", PARTIES, 200, set()),
    ("GET", "/v1/patients/{patient}/report.html", PARTIES, 200, set()),
    ("GET", "/v1/patients/{patient}/report.pdf", PARTIES, 200, set()),
    ("POST", "/v1/patients/{patient}/report-links", PARTIES, 201, set()),
    ("GET", "/v1/patients/{patient}/fhir", PARTIES, 200, set()),
    ("PATCH", "/v1/users/{patient}", {"admin"}, 200, set(ACTORS) - {"admin", "anonymous"}),
]
BODIES = {
    "/v1/sessions": {"notes": "edited"},
    "/v1/checkins": {"notes": "edited"},
    "/v1/users": {"active": True},
    "/v1/patients": {},
    "/v1/alerts": {"outcome": "accepted", "reason": "Seen with the patient.", "note": "Done."},
}


@pytest.fixture
def world(client, make):
    owner = make.user("patient")
    people = {
        "owner": owner,
        "other_patient": make.user("patient"),
        "linked_therapist": make.user("therapist"),
        "unlinked_therapist": make.user("therapist"),
        "former_therapist": make.user("therapist"),
        "admin": make.user("admin"),
        "anonymous": None,
    }
    link = make.link(owner, people["linked_therapist"])
    make.link(owner, people["former_therapist"], status="ended")
    headers = make.headers(owner)
    red_flag = session_body(symptoms={"bladder_bowel_change": True})
    written = client.post("/v1/sessions", json=red_flag, headers=headers).get_json()
    checkin = client.post("/v1/checkins", json=checkin_body(), headers=headers).get_json()
    ids = {
        "session": written["id"],
        "alert": written["alerts"][0]["id"],
        "checkin": checkin["id"],
        "link": str(link.id),
        "patient": str(owner.id),
    }
    return people, ids


def _call(client, method, url, headers):
    body = next((b for prefix, b in BODIES.items() if url.startswith(prefix)), None)
    if url.endswith("/acknowledge"):
        body = {k: body[k] for k in ("outcome", "reason")}
    elif url.endswith("/resolve"):
        body = {"note": body["note"]}
    if method in ("PATCH", "POST"):
        return client.open(url, method=method, json=body, headers=headers)
    return client.open(url, method=method, headers=headers)


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize(("method", "template", "allowed", "success", "refused"), ROUTES)
def test_authorization_matrix(
    client, make, world, actor, method, template, allowed, success, refused
):
    people, ids = world
    url = template.format(**ids)
    resp = _call(client, method, url, make.headers(people[actor]))
    if actor == "anonymous":
        assert resp.status_code == 401
    elif actor in refused:
        assert resp.status_code == 403
    elif actor in allowed:
        assert resp.status_code == success, resp.get_json()
    else:
        assert resp.status_code == 404
        # Indistinguishable from an id that does not exist.
        random_url = template.format(**{k: str(uuid.uuid4()) for k in ids})
        random = _call(client, method, random_url, make.headers(people[actor]))
        assert random.status_code == 404 and same_problem(random) == same_problem(resp)


@pytest.mark.parametrize("actor", ["other_patient", "unlinked_therapist", "former_therapist"])
def test_lists_never_leak_another_patients_records(client, make, world, actor):
    people, ids = world
    headers = make.headers(people[actor])
    for path in ("/v1/sessions", "/v1/checkins"):
        assert client.get(path, headers=headers).get_json()["items"] == []
        narrowed = client.get(f"{path}?patient_id={people['owner'].id}", headers=headers)
        assert narrowed.get_json()["items"] == []


def test_matrix_covers_every_route_with_an_id(app):
    covered = {(m, re.sub(r"\{\w+\}", "<>", t)) for m, t, *_ in ROUTES}
    for rule in app.url_map.iter_rules():
        if "<" not in rule.rule or rule.rule.startswith(("/static", "/docs")):  # docs: public
            continue
        if "/report-links/<" in rule.rule:  # a report link, not a bearer: test_report_links.py
            continue
        if rule.rule.startswith("/v1/webhooks/"):  # the owner's alone: test_webhooks.py
            continue
        shape = re.sub(r"<[^>]+>", "<>", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (method, shape) in covered, f"{method} {rule.rule} missing from the matrix"
