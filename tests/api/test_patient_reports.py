"""Therapist reports: patient list, caseload, per-patient report, chart, printable page,
techniques; every number recomputed here from the raw rows."""

import re
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from statistics import fmean

import pytest
from sqlalchemy import event, select

from models import AuditEvent
from tests.conftest import checkin_body, session_body

SESSIONS = [
    # started_at, technique, pressure, before, after
    ("2026-10-01T10:00:00Z", "swedish", "light", 6, 4),
    ("2026-10-05T10:00:00Z", "swedish", "moderate", 6, 5),
    ("2026-10-09T10:00:00Z", "deep_tissue", "deep", 5, 8),
    ("2026-10-13T10:00:00Z", "trigger_point", "moderate", 5, 3),
    ("2026-10-17T10:00:00Z", "swedish", "light", 4, None),
    ("2026-10-21T10:00:00Z", "deep_tissue", "firm", 4, 6),
]


def _record(client, headers, rows=SESSIONS):
    for started, technique, pressure, before, after in rows:
        body = session_body(
            started_at=started,
            technique=technique,
            pressure=pressure,
            pain_before=before,
            pain_after=after,
        )
        assert client.post("/v1/sessions", json=body, headers=headers).status_code == 201


def _expected_effect(rows):
    changes = [after - before for *_, before, after in rows if after is not None]
    return {
        "sessions": len(rows),
        "with_pain_after": len(changes),
        "mean_change": round(fmean(changes), 3) if changes else None,
        "improved_share": round(sum(c <= -2 for c in changes) / len(changes), 3)
        if changes
        else None,
        "worsened_share": round(sum(c >= 2 for c in changes) / len(changes), 3)
        if changes
        else None,
    }


@pytest.fixture
def linked(client, make):
    patient, therapist = make.user("patient"), make.user("therapist")
    make.link(patient, therapist)
    return patient, therapist


def test_patient_report_numbers_match_the_raw_rows(client, make, linked):
    patient, therapist = linked
    _record(client, make.headers(patient))
    client.post(
        "/v1/checkins",
        json=checkin_body(recorded_at="2026-10-03T08:00:00Z", pain=5),
        headers=make.headers(patient),
    )
    report = client.get(
        f"/v1/patients/{patient.id}/report", headers=make.headers(therapist)
    ).get_json()
    effect = _expected_effect(SESSIONS)
    assert report["session_count"] == 6 and report["checkin_count"] == 1
    assert report["mean_pain_before"] == round(fmean(r[3] for r in SESSIONS), 3)
    assert report["mean_pain_after"] == round(fmean(r[4] for r in SESSIONS if r[4] is not None), 3)
    assert report["mean_checkin_pain"] == 5
    for key in ("with_pain_after", "mean_change", "improved_share", "worsened_share"):
        assert report[key] == effect[key], key
    for row in report["by_technique"]:
        rows = [r for r in SESSIONS if r[1] == row["technique"]]
        assert row == {"technique": row["technique"], **_expected_effect(rows)}
    assert {r["technique"] for r in report["by_technique"]} == {r[1] for r in SESSIONS}
    for row in report["by_pressure"]:
        rows = [r for r in SESSIONS if r[2] == row["pressure"]]
        assert row == {"pressure": row["pressure"], **_expected_effect(rows)}
    assert {a["rule"] for a in report["alerts"]} >= {"post_session_worsening", "severe_pain"}


def test_report_window_filters_sessions_and_alerts(client, make, linked):
    patient, therapist = linked
    _record(client, make.headers(patient))
    url = f"/v1/patients/{patient.id}/report?from=2026-10-04T00:00:00Z&to=2026-10-13T00:00:00Z"
    report = client.get(url, headers=make.headers(therapist)).get_json()
    window = SESSIONS[1:3]
    assert report["session_count"] == 2
    assert report["mean_change"] == _expected_effect(window)["mean_change"]
    assert report["from"] == "2026-10-04T00:00:00Z"
    # The 5 -> 8 session on 10-09 is in the window, so are its alerts.
    assert {a["rule"] for a in report["alerts"]} == {"post_session_worsening", "severe_pain"}
    later = client.get(
        f"/v1/patients/{patient.id}/report?from=2026-10-12T00:00:00Z",
        headers=make.headers(therapist),
    ).get_json()
    assert "severe_pain" not in {a["rule"] for a in later["alerts"]}


def test_empty_report_has_no_means(client, make, linked):
    patient, therapist = linked
    report = client.get(
        f"/v1/patients/{patient.id}/report", headers=make.headers(therapist)
    ).get_json()
    assert report["session_count"] == 0 and report["mean_pain_before"] is None
    assert report["mean_change"] is None and report["trend"] == "stable"


@pytest.mark.parametrize("suffix", ["report", "report/chart.svg", "report.html"])
def test_report_routes_answer_404_to_outsiders_and_serve_the_patient(client, make, linked, suffix):
    patient, therapist = linked
    url = f"/v1/patients/{patient.id}/{suffix}"
    assert client.get(url, headers=make.headers(patient)).status_code == 200
    assert client.get(url, headers=make.headers(therapist)).status_code == 200
    for outsider in (make.user("patient"), make.user("therapist")):
        assert client.get(url, headers=make.headers(outsider)).status_code == 404


def test_chart_is_valid_svg_with_labels_legend_and_alert_marks(client, make, linked):
    patient, therapist = linked
    _record(client, make.headers(patient))
    resp = client.get(
        f"/v1/patients/{patient.id}/report/chart.svg", headers=make.headers(therapist)
    )
    assert resp.mimetype == "image/svg+xml" and resp.headers["Cache-Control"] == "no-store"
    root = ET.fromstring(resp.data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("viewBox")
    text = resp.get_data(as_text=True)
    for label in (
        "Pain (0-10)",
        "Date (UTC)",
        "Pain before session",
        "Pain after session",
        "Alert (caution)",
    ):
        assert label in text, label


def test_printable_report_is_self_contained_and_escaped(client, make, linked, db):
    patient, therapist = linked
    patient.display_name = "<script>alert(1)</script>"
    db.flush()
    _record(client, make.headers(patient), SESSIONS[:3])
    client.post(
        "/v1/sessions",
        json=session_body(notes="<img src=x onerror=alert(2)>"),
        headers=make.headers(patient),
    )
    resp = client.get(f"/v1/patients/{patient.id}/report.html", headers=make.headers(therapist))
    page = resp.get_data(as_text=True)
    assert resp.mimetype == "text/html"
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    assert "<script>" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "@media print" in page and "<svg" in page
    assert not re.search(r"""(src|href)=["']https?://""", page)  # nothing fetched from outside
    assert "Severe pain" in page or "severe" in page.lower()
    assert page.count("<tr>") >= 1 + 4  # header + the four sessions


def test_printable_report_opens_with_a_banner_for_pressing_alerts_and_reads_as_words(
    client, make, linked
):
    patient, therapist = linked
    headers = make.headers(therapist)
    _record(client, make.headers(patient), SESSIONS)
    calm = client.get(f"/v1/patients/{patient.id}/report.html", headers=headers)
    assert 'role="alert"' not in calm.get_data(as_text=True)  # cautions only so far
    red_flag = checkin_body(
        recorded_at="2026-10-22T08:00:00Z", pain=6, symptoms={"bladder_bowel_change": True}
    )
    client.post("/v1/checkins", json=red_flag, headers=make.headers(patient))
    # A period before the red flag: the banner still shows it, before anything else.
    page = client.get(
        f"/v1/patients/{patient.id}/report.html?to=2026-10-10T00:00:00Z", headers=headers
    ).get_data(as_text=True)
    banner = page.index('role="alert"')
    assert banner < page.index("<h2>Summary</h2>")
    assert "Urgent: " in page[banner : banner + 400]
    assert "seek medical" in page[banner:].split("</div>")[0].lower()
    whole = client.get(f"/v1/patients/{patient.id}/report.html", headers=headers)
    text = whole.get_data(as_text=True)
    for words in ("Deep tissue", "Trigger point", "Lower back", "Piriformis", "By pressure"):
        assert words in text, words
    tables = text[text.index("<h2>By technique</h2>") :]
    assert "deep_tissue" not in tables and "lower_back" not in tables
    checkins = text[text.index("<h2>Check-ins</h2>") :]
    assert "22 Oct 2026 08:00" in checkins
    assert '<td class="flag">bladder or bowel change</td>' in checkins


def test_a_check_in_giving_pain_only_shows_its_grades_as_not_reported(client, make, linked):
    patient, therapist = linked
    body = {"recorded_at": "2026-10-21T08:00:00Z", "pain": 3}
    assert client.post("/v1/checkins", json=body, headers=make.headers(patient)).status_code == 201
    text = client.get(
        f"/v1/patients/{patient.id}/report.html", headers=make.headers(therapist)
    ).get_data(as_text=True)
    checkins = text[text.index("<h2>Check-ins</h2>") :]
    assert "<td>– / – / –</td>" in checkins and "None" not in checkins
    assert "(0-3; – not reported)" in checkins


def test_a_red_flag_on_a_session_shows_in_its_row_and_in_its_alerts_evidence(client, make, linked):
    patient, therapist = linked
    flagged = session_body(
        started_at="2026-10-20T17:00:00Z",
        symptoms={"saddle_numbness": True, "side": "left", "tingling": 1},
    )
    assert (
        client.post("/v1/sessions", json=flagged, headers=make.headers(patient)).status_code == 201
    )
    text = client.get(
        f"/v1/patients/{patient.id}/report.html", headers=make.headers(therapist)
    ).get_data(as_text=True)
    sessions = text[text.index("<h2>Sessions</h2>") : text.index("<h2>Check-ins</h2>")]
    assert "<td>Left</td>" in sessions and '<td class="flag">saddle numbness</td>' in sessions
    assert "<td>– / 1 / –</td>" in sessions  # numbness and weakness not reported
    alerts = text[text.index("<h2>Alerts in this period</h2>") : text.index("<h2>Sessions</h2>")]
    told = " after; tingling 1 (numbness, weakness not reported), left side; saddle numbness</li>"
    assert told in alerts


def test_an_alert_whose_reports_were_deleted_as_a_typo_is_not_in_the_report(client, make, linked):
    patient, therapist = linked
    headers = make.headers(patient)
    client.post(
        "/v1/sessions", json=session_body(started_at="2026-11-01T09:00:00Z"), headers=headers
    )
    typo = session_body(started_at="2026-11-03T09:00:00Z", symptoms={"bladder_bowel_change": True})
    typo_id = client.post("/v1/sessions", json=typo, headers=headers).get_json()["id"]
    assert client.delete(f"/v1/sessions/{typo_id}", headers=headers).status_code == 204
    window = "from=2026-11-01T00:00:00Z&to=2026-11-10T00:00:00Z"
    base = f"/v1/patients/{patient.id}"
    page = client.get(f"{base}/report.html?{window}", headers=make.headers(therapist))
    assert "No alerts were raised for reports felt in this period." in page.get_data(as_text=True)
    report = client.get(f"{base}/report?{window}", headers=make.headers(therapist)).get_json()
    assert report["alerts"] == []
    chart = client.get(f"{base}/report/chart.svg?{window}", headers=make.headers(therapist))
    assert "Alert 1" not in chart.get_data(as_text=True)


def test_patients_list_and_caseload_rows(client, make):
    therapist = make.user("therapist")
    calm, urgent, worse, stranger = (make.user("patient") for _ in range(4))
    for patient, name in ((calm, "Calm"), (urgent, "Urgent"), (worse, "Worse")):
        patient.display_name = name
        make.link(patient, therapist)
    _record(client, make.headers(calm), [("2026-10-01T10:00:00Z", "swedish", "light", 4, 3)])
    client.post(
        "/v1/checkins",
        json=checkin_body(symptoms={"saddle_numbness": True}),
        headers=make.headers(urgent),
    )
    rising = [
        (f"2026-10-{d:02d}T10:00:00Z", "swedish", "light", p, p)
        for d, p in zip(range(1, 27, 3), (3, 3, 4, 3, 3, 3, 6, 6, 7), strict=True)
    ]
    _record(client, make.headers(worse), rising)
    _record(client, make.headers(stranger), [("2026-10-01T10:00:00Z", "swedish", "light", 9, 9)])
    headers = make.headers(therapist)
    listed = client.get("/v1/patients", headers=headers).get_json()
    assert [r["display_name"] for r in listed["items"]] == ["Calm", "Urgent", "Worse"]
    calm_row = listed["items"][0]
    assert (calm_row["latest_pain_before"], calm_row["latest_pain_after"]) == (4, 3)
    assert calm_row["last_session_at"] == "2026-10-01T10:00:00Z"
    worse_row = listed["items"][2]
    assert worse_row["trend"] == "worsening" and worse_row["open_alerts"]["warning"] >= 1
    assert listed["items"][1]["open_alerts"]["urgent"] == 1
    caseload = client.get("/v1/reports/caseload", headers=headers).get_json()["items"]
    assert [r["display_name"] for r in caseload] == ["Urgent", "Worse", "Calm"]
    page = client.get("/v1/patients?limit=2", headers=headers).get_json()
    rest = client.get(f"/v1/patients?cursor={page['next_cursor']}", headers=headers).get_json()
    assert [r["display_name"] for r in page["items"] + rest["items"]] == ["Calm", "Urgent", "Worse"]


@pytest.mark.parametrize("path", ["/v1/patients", "/v1/reports/caseload", "/v1/reports/techniques"])
def test_patients_cannot_use_clinician_reports(client, make, path):
    assert client.get(path, headers=make.headers(make.user("patient"))).status_code == 403


# Statements that only begin or end a transaction or savepoint: not counted.
_FRAMING = ("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN")


@contextmanager
def _statements(connection, take):
    """Call take(first word, statement) for each statement sent on the connection."""

    def before(conn, cursor, statement, *args):
        take(statement.lstrip().upper(), statement)

    event.listen(connection, "before_cursor_execute", before)
    try:
        yield
    finally:
        event.remove(connection, "before_cursor_execute", before)


@contextmanager
def count_statements(connection):
    """The statements a request sends, as they are sent."""
    statements: list[str] = []

    def take(word: str, statement: str) -> None:
        if not word.startswith(_FRAMING):
            statements.append(statement)

    with _statements(connection, take):
        yield statements


@contextmanager
def transactions(connection):
    """The statements a request sends, one list per transaction (savepoints, in tests)."""
    blocks: list[list[str]] = [[]]

    def take(word: str, statement: str) -> None:
        if word.startswith("SAVEPOINT"):
            blocks.append([])
        elif not word.startswith(_FRAMING):
            blocks[-1].append(statement)

    with _statements(connection, take):
        yield blocks


@pytest.mark.parametrize("path", ["/v1/patients", "/v1/reports/caseload"])
def test_caseload_statement_count_does_not_grow_with_patients(client, make, connection, path):
    therapist = make.user("therapist")
    headers = make.headers(therapist)
    counts = []
    for size in (2, 12):
        while len(client.get("/v1/reports/caseload", headers=headers).get_json()["items"]) < size:
            patient = make.user("patient")
            make.link(patient, therapist)
            _record(client, make.headers(patient), SESSIONS[:2])
        with count_statements(connection) as statements:
            assert client.get(path, headers=headers).status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1] and counts[0] <= 10


def test_techniques_report_matches_raw_rows_across_caseload(client, make):
    therapist = make.user("therapist")
    one, two, outside = make.user("patient"), make.user("patient"), make.user("patient")
    make.link(one, therapist)
    make.link(two, therapist)
    _record(client, make.headers(one), SESSIONS)
    _record(client, make.headers(two), SESSIONS[:3])
    _record(client, make.headers(outside), SESSIONS)
    items = client.get("/v1/reports/techniques", headers=make.headers(therapist)).get_json()[
        "items"
    ]
    rows = SESSIONS + SESSIONS[:3]
    combos = sorted({(r[1], r[2]) for r in rows})
    assert [(i["technique"], i["pressure"]) for i in items] == combos
    for item in items:
        subset = [r for r in rows if (r[1], r[2]) == (item["technique"], item["pressure"])]
        expected = _expected_effect(subset)
        assert item["sessions"] == expected["sessions"]
        for key in ("with_pain_after", "mean_change", "improved_share", "worsened_share"):
            assert item[key] == expected[key], (item, key)
    patients = {(i["technique"], i["pressure"]): i["patients"] for i in items}
    assert patients[("swedish", "light")] == 2 and patients[("deep_tissue", "firm")] == 1


def test_techniques_report_is_audited_once_per_patient_it_counts(client, make, db):
    therapist = make.user("therapist")
    one, two, idle, outside = (make.user("patient") for _ in range(4))
    for patient in (one, two, idle):
        make.link(patient, therapist)
    _record(client, make.headers(one), SESSIONS[:2])
    _record(client, make.headers(two), SESSIONS[2:3])
    _record(client, make.headers(outside), SESSIONS)
    resp = client.get("/v1/reports/techniques", headers=make.headers(therapist))
    assert resp.status_code == 200 and len(resp.get_json()["items"]) == 3
    db.expire_all()
    events = db.scalars(select(AuditEvent).where(AuditEvent.actor_id == therapist.id)).all()
    # Their sessions went into the figures, not out as rows: no row count.
    assert {(e.action, e.resource_type, e.patient_id, e.row_count) for e in events} == {
        ("techniques.list", "techniques", one.id, None),
        ("techniques.list", "techniques", two.id, None),
    }
    assert {e.request_id for e in events} == {resp.headers["X-Request-ID"]}


@pytest.mark.parametrize("name", [r"Ann $\foo$ Lee", "$5 and $6", "50% {braces}"])
def test_chart_and_page_draw_any_display_name_as_text(client, make, linked, db, name):
    patient, therapist = linked
    patient.display_name = name
    db.flush()
    _record(client, make.headers(patient), SESSIONS[:2])
    for suffix in ("report/chart.svg", "report.html"):
        resp = client.get(f"/v1/patients/{patient.id}/{suffix}", headers=make.headers(therapist))
        assert resp.status_code == 200
    assert name.replace("&", "&amp;") in client.get(
        f"/v1/patients/{patient.id}/report/chart.svg", headers=make.headers(therapist)
    ).get_data(as_text=True)


def test_a_name_stored_with_control_characters_still_gives_a_chart_that_opens(
    client, make, linked, db
):
    """Names are refused with them now; one stored before must not break the SVG (XML)."""
    patient, therapist = linked
    patient.display_name = "Ana\u000bMaria\x01"
    db.flush()
    _record(client, make.headers(patient), SESSIONS[:2])
    resp = client.get(
        f"/v1/patients/{patient.id}/report/chart.svg", headers=make.headers(therapist)
    )
    assert resp.status_code == 200
    root = ET.fromstring(resp.data)  # parses: well-formed XML
    assert "Pain over time: Ana\ufffdMaria\ufffd" in "".join(root.itertext())


def test_a_late_synced_red_flag_is_dated_by_when_it_was_felt(client, make, linked):
    """Reports synced days later raise their alert on arrival: the page and the chart date
    it by the report's felt time, and say when it was raised."""
    patient, therapist = linked
    flag = checkin_body(recorded_at="2026-11-20T08:00:00Z", symptoms={"bladder_bowel_change": True})
    assert client.post("/v1/checkins", json=flag, headers=make.headers(patient)).status_code == 201
    page = client.get(
        f"/v1/patients/{patient.id}/report.html", headers=make.headers(therapist)
    ).get_data(as_text=True)
    banner = page[page.index('role="alert"') :].split("</div>")[0]
    assert "Reports felt since 20 Nov 2026 08:00" in banner and "raised " in banner
    chart = client.get(
        f"/v1/patients/{patient.id}/report/chart.svg", headers=make.headers(therapist)
    ).get_data(as_text=True)
    assert "since 2026-11-20." in chart


def _svg_text(root) -> list[str]:
    return ["".join(node.itertext()) for node in root.iter("{http://www.w3.org/2000/svg}text")]


def test_chart_numbers_each_alert_as_in_the_report_and_describes_itself(client, make):
    patient = make.user("patient", medically_cleared_at=None)  # raises an info alert
    therapist = make.user("therapist")
    make.link(patient, therapist)
    headers = make.headers(therapist)
    _record(client, make.headers(patient))
    # Two alerts on one day (a red flag and severe pain): two markers, not one line.
    red_flag = checkin_body(
        recorded_at="2026-10-21T18:00:00Z", pain=9, symptoms={"bladder_bowel_change": True}
    )
    assert (
        client.post("/v1/checkins", json=red_flag, headers=make.headers(patient)).status_code == 201
    )
    report = client.get(f"/v1/patients/{patient.id}/report", headers=headers).get_json()
    numbered = {n: a for n, a in enumerate(report["alerts"], start=1)}
    resp = client.get(f"/v1/patients/{patient.id}/report/chart.svg", headers=headers)
    root = ET.fromstring(resp.data)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.get("role") == "img"
    title, desc = root.find(f"{ns}title"), root.find(f"{ns}desc")
    assert title.text == f"Pain over time: {patient.display_name}"
    labels = _svg_text(root)
    shown = {n for n, a in numbered.items() if a["severity"] != "info"}
    hidden = {n for n, a in numbered.items() if a["severity"] == "info"}
    assert hidden, "the fixture should raise an info alert (not medically cleared)"
    for number in shown:
        alert = numbered[number]
        assert str(number) in labels
        assert f"Alert {number} ({alert['severity']}): {alert['title']}" in desc.text
    for number in hidden:
        assert f"Alert {number} (" not in desc.text
    urgent = [n for n, a in numbered.items() if a["severity"] == "urgent"]
    caution = [n for n, a in numbered.items() if a["rule"] == "severe_pain"]
    assert urgent and caution and set(urgent + caution) <= shown
    with_info = client.get(
        f"/v1/patients/{patient.id}/report/chart.svg?include=info", headers=headers
    )
    described = ET.fromstring(with_info.data).find(f"{ns}desc").text
    assert all(f"Alert {n} (info)" in described for n in hidden)
    wrong = client.get(f"/v1/patients/{patient.id}/report/chart.svg?include=all", headers=headers)
    assert wrong.status_code == 422


def test_report_times_follow_the_clinic_zone_or_tz_and_the_period_reads_naturally(
    app, client, make, linked
):
    patient, therapist = linked
    headers = make.headers(therapist)
    _record(client, make.headers(patient))
    base = f"/v1/patients/{patient.id}/report.html"
    utc = client.get(base, headers=headers).get_data(as_text=True)
    assert "01 Oct 2026 10:00" in utc and "times in UTC" in utc
    assert "period: everything recorded" in utc
    tokyo = client.get(
        base + "?tz=Asia/Tokyo&from=2026-10-01T00:00:00Z&to=2026-10-20T00:00:00Z",
        headers=headers,
    ).get_data(as_text=True)
    assert "01 Oct 2026 19:00" in tokyo and "times in Asia/Tokyo" in tokyo
    assert "from 1 Oct 2026, before 20 Oct 2026" in tokyo
    app.config["CLINIC_TIMEZONE"] = "America/New_York"
    clinic = client.get(base, headers=headers).get_data(as_text=True)
    assert "01 Oct 2026 06:00" in clinic and "times in America/New_York" in clinic
    chart = client.get(f"/v1/patients/{patient.id}/report/chart.svg", headers=headers)
    assert "Date (America/New_York)" in chart.get_data(as_text=True)
    bad = client.get(base + "?tz=Mars/Olympus", headers=headers)
    assert bad.status_code == 422 and "tz" in bad.get_json()["errors"]


def test_alert_evidence_is_shown_as_the_reports_it_points_to(client, make, linked):
    patient, therapist = linked
    _record(client, make.headers(patient))
    page = client.get(
        f"/v1/patients/{patient.id}/report.html", headers=make.headers(therapist)
    ).get_data(as_text=True)
    alerts = page[page.index("<h2>Alerts in this period</h2>") : page.index("<h2>By technique")]
    # The deep-tissue session of 9 Oct went from 5 to 8: the worsening alert points to it.
    assert "Session 09 Oct 2026 10:00: Deep tissue, Deep pressure; pain 5 before, 8 after" in alerts
    assert "felt_at" not in alerts and "2026-10-09T10:00:00+00:00" not in alerts


def test_clinic_timezone_is_validated_at_start(monkeypatch, tmp_path):
    from api.config import ConfigError, from_environment

    monkeypatch.setenv("APP_ENV", "testing")
    monkeypatch.setenv("CLINIC_TIMEZONE", "Europe/Nowhere")
    with pytest.raises(ConfigError, match="CLINIC_TIMEZONE"):
        from_environment(str(tmp_path))
    monkeypatch.setenv("CLINIC_TIMEZONE", "Europe/Paris")
    assert from_environment(str(tmp_path))["CLINIC_TIMEZONE"] == "Europe/Paris"


@pytest.mark.parametrize(
    ("rows", "label"),
    [
        (SESSIONS, "Date (UTC), 1 Oct \N{EN DASH} 21 Oct 2026"),
        (
            [("2025-12-20T10:00:00Z", "swedish", "light", 5, 4)]
            + [("2026-01-03T10:00:00Z", "swedish", "light", 4, 3)],
            "Date (UTC), 20 Dec 2025 \N{EN DASH} 3 Jan 2026",
        ),
        (SESSIONS[:1], "Date (UTC), 1 Oct 2026"),
    ],
)
def test_chart_axis_names_its_days_once_in_words(client, make, linked, rows, label):
    patient, therapist = linked
    _record(client, make.headers(patient), rows)
    resp = client.get(
        f"/v1/patients/{patient.id}/report/chart.svg", headers=make.headers(therapist)
    )
    labels = _svg_text(ET.fromstring(resp.data))
    assert label in labels
    # No offset such as "2026-Oct" beside the ticks: the year is said once, in the label.
    assert not [text for text in labels if re.fullmatch(r"\d{4}-\w{3}.*", text)], labels
