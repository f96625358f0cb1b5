"""Who reaches which record: every route with an id, for every kind of caller."""

import uuid

import pytest

from tests.conftest import checkin_body, session_body

ACTORS = (
    "owner",
    "other_patient",
    "linked_therapist",
    "unlinked_therapist",
    "former_therapist",
    "admin",
    "anonymous",
)
ALLOWED_ON_REPORTS = {"owner", "linked_therapist", "admin"}
ALLOWED_ON_LINK = {"owner", "linked_therapist", "admin"}

# (method, url template, kind of resource, success status)
ROUTES = [
    ("GET", "/v1/sessions/{session}", "report", 200),
    ("PATCH", "/v1/sessions/{session}", "report", 200),
    ("DELETE", "/v1/sessions/{session}", "report", 204),
    ("GET", "/v1/checkins/{checkin}", "report", 200),
    ("PATCH", "/v1/checkins/{checkin}", "report", 200),
    ("DELETE", "/v1/checkins/{checkin}", "report", 204),
    ("DELETE", "/v1/care-links/{link}", "link", 204),
]
BODIES = {"/v1/sessions": {"notes": "edited"}, "/v1/checkins": {"notes": "edited"}}


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
    ids = {
        "session": client.post("/v1/sessions", json=session_body(), headers=headers).get_json()[
            "id"
        ],
        "checkin": client.post("/v1/checkins", json=checkin_body(), headers=headers).get_json()[
            "id"
        ],
        "link": str(link.id),
    }
    return people, ids


def _call(client, method, url, headers):
    body = next((b for prefix, b in BODIES.items() if url.startswith(prefix)), None)
    if method == "PATCH":
        return client.patch(url, json=body, headers=headers)
    return client.open(url, method=method, headers=headers)


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize(("method", "template", "kind", "success"), ROUTES)
def test_authorization_matrix(client, make, world, actor, method, template, kind, success):
    people, ids = world
    url = template.format(**ids)
    resp = _call(client, method, url, make.headers(people[actor]))
    allowed = ALLOWED_ON_REPORTS if kind == "report" else ALLOWED_ON_LINK
    if actor == "anonymous":
        assert resp.status_code == 401
    elif actor in allowed:
        assert resp.status_code == success, resp.get_json()
    else:
        assert resp.status_code == 404
        # Indistinguishable from an id that does not exist.
        random_url = template.format(**{k: str(uuid.uuid4()) for k in ids})
        random = _call(client, method, random_url, make.headers(people[actor]))
        assert random.status_code == 404 and random.get_json() == resp.get_json()


@pytest.mark.parametrize("actor", ["other_patient", "unlinked_therapist", "former_therapist"])
def test_lists_never_leak_another_patients_records(client, make, world, actor):
    people, ids = world
    headers = make.headers(people[actor])
    for path in ("/v1/sessions", "/v1/checkins"):
        assert client.get(path, headers=headers).get_json()["items"] == []
        narrowed = client.get(f"{path}?patient_id={people['owner'].id}", headers=headers)
        assert narrowed.get_json()["items"] == []


def test_matrix_covers_every_route_with_an_id(app):
    covered = {(m, t.split("{")[0]) for m, t, _, _ in ROUTES}
    for rule in app.url_map.iter_rules():
        if "<" not in rule.rule or rule.rule.startswith("/static"):
            continue
        prefix = rule.rule.split("<")[0]
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (method, prefix) in covered, f"{method} {rule.rule} missing from the matrix"
