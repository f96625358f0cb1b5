"""A Python client generated from the committed openapi.yaml drives the real server.

The contract is what mobile and clinic teams generate their clients from: if the generator
warns, or a generated method answers None (or a Problem) for a documented success, the
contract is wrong. Nothing here uses plain HTTP: only the generated client.
"""

import importlib
import os
import subprocess
import sys
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import BIN

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("client") / "sciatica_client"
    result = subprocess.run(
        [
            BIN / "openapi-python-client",
            "generate",
            "--path",
            ROOT / "openapi.yaml",
            "--meta",
            "none",
            "--output-path",
            out,
            "--config",
            ROOT / "tests" / "e2e" / "openapi-python-client.yaml",
        ],
        env=os.environ | {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(out.parent))
    try:
        yield importlib.import_module("sciatica_client")
    finally:
        sys.path.remove(str(out.parent))
        for name in [m for m in sys.modules if m.split(".")[0] == "sciatica_client"]:
            del sys.modules[name]


def _api(generated, dotted: str):
    return importlib.import_module(f"sciatica_client.api.{dotted}")


def _models(generated):
    return importlib.import_module("sciatica_client.models")


def _ok(value, kind):
    """A documented success parsed into its documented type (not None, not a Problem)."""
    assert value is not None, f"expected {kind.__name__}, got None"
    assert isinstance(value, kind), f"expected {kind.__name__}, got {value!r}"
    return value


def _patch_keeps_what_it_leaves_out(generated, patient, felt: datetime) -> None:
    """A generated client's PATCH of one grade sends only that grade: the red flag and the
    other grades stay (a contract with defaults had it send, and reset, all of them)."""
    m = _models(generated)
    flagged = _ok(
        _api(generated, "checkins.create_checkin").sync(
            client=patient,
            body=m.CheckInIn(
                recorded_at=felt,
                pain=5,
                notes="numb in the saddle area",
                symptoms=m.SymptomsIn(numbness=1, tingling=1, weakness=1, saddle_numbness=True),
            ),
        ),
        m.CheckInWriteOut,
    )
    patched = _ok(
        _api(generated, "checkins.update_checkin").sync(
            flagged.id,
            client=patient,
            body=m.CheckInUpdateIn(symptoms=m.SymptomsUpdateIn(tingling=None)),
        ),
        m.CheckInWriteOut,
    )
    s = patched.symptoms
    assert (s.numbness, s.tingling, s.weakness, s.saddle_numbness) == (1, None, 1, True)
    assert patched.notes == "numb in the saddle area"


def _demo_therapist(server) -> tuple[str, str]:
    line = next(row for row in server.seed_output.splitlines() if "therapist@demo.clinic" in row)
    _, email, password = line.split()
    return email, password


def test_generated_client_covers_a_clinic_day(server, generated):
    with ExitStack() as clients:
        _clinic_day(server, generated, clients)


def _clinic_day(server, generated, clients: ExitStack) -> None:
    m = _models(generated)
    anonymous = clients.enter_context(
        generated.Client(base_url=server.base, raise_on_unexpected_status=True)
    )

    def signed_in(email, password):
        token = _ok(
            _api(generated, "auth.create_token").sync(
                client=anonymous, body=m.TokenIn(email=email, password=password)
            ),
            m.TokenOut,
        )
        return clients.enter_context(
            generated.AuthenticatedClient(
                base_url=server.base, token=token.access_token, raise_on_unexpected_status=True
            )
        )

    stamp = f"{datetime.now(UTC).timestamp():.0f}"
    email, name = f"client-{stamp}@example.org", f"Generated client {stamp}"
    _ok(
        _api(generated, "auth.register").sync(
            client=anonymous,
            body=m.RegisterIn(email=email, password="long enough pass", display_name=name),
        ),
        m.UserOut,
    )
    patient = signed_in(email, "long enough pass")
    start = datetime(2026, 11, 1, 9, tzinfo=UTC)
    created = []
    for day, after in ((0, 4), (3, 8)):  # the second session worsens pain: an alert
        created.append(
            _ok(
                _api(generated, "sessions.create_session").sync(
                    client=patient,
                    body=m.SessionIn(
                        started_at=start + timedelta(days=day),
                        duration_minutes=45,
                        technique=m.SessionInTechnique.SWEDISH,
                        pressure=m.SessionInPressure.LIGHT,
                        pain_before=5,
                        pain_after=after,
                    ),
                    idempotency_key=f"gen-{day}",
                ),
                m.SessionWriteOut,
            )
        )
    pain_only = _ok(
        _api(generated, "checkins.create_checkin").sync(
            client=patient, body=m.CheckInIn(recorded_at=start + timedelta(days=4), pain=6)
        ),
        m.CheckInWriteOut,
    )
    grades = (pain_only.symptoms.numbness, pain_only.symptoms.weakness)
    assert grades == (None, None), "grades left out are not reported, not 0"
    _patch_keeps_what_it_leaves_out(generated, patient, start + timedelta(days=5))
    alerts = _ok(_api(generated, "alerts.list_alerts").sync(client=patient), m.AlertPage)
    assert alerts.items, "the worsened session raised an alert"

    therapist_email, therapist_password = _demo_therapist(server)
    _ok(
        _api(generated, "care_links.create_care_link").sync(
            client=patient, body=m.CareLinkIn(therapist_email=therapist_email)
        ),
        m.CareLinkOut,
    )
    therapist = signed_in(therapist_email, therapist_password)
    acknowledged = _ok(
        _api(generated, "alerts.acknowledge_alert").sync(
            alerts.items[0].id,
            client=therapist,
            body=m.AcknowledgeIn(
                outcome=m.AcknowledgeInOutcome.ACCEPTED, reason="Seen; lighter pressure next time"
            ),
        ),
        m.AlertOut,
    )
    assert acknowledged.status.value == "acknowledged"
    patients = _ok(
        _api(generated, "patients.list_patients").sync(client=therapist), m.PatientRowPage
    )
    me = next(row for row in patients.items if row.display_name == name)
    _ok(_api(generated, "patients.get_caseload").sync(client=therapist), m.CaseloadOut)
    report = _ok(
        _api(generated, "patients.get_patient_report").sync(me.patient_id, client=therapist),
        m.PatientReportOut,
    )
    assert report.session_count == 2 and report.checkin_count == 2
    changes = _ok(_api(generated, "sync.sync").sync(client=patient), m.SyncOut)
    typed = {type(c): c for c in changes.changes}
    assert set(typed) == {m.SessionChangeOut, m.CheckInChangeOut, m.AlertChangeOut}
    assert isinstance(typed[m.SessionChangeOut].data, m.SessionOut)
    assert isinstance(typed[m.CheckInChangeOut].data, m.CheckInOut)
    assert isinstance(typed[m.AlertChangeOut].data, m.AlertOut)
    assert typed[m.AlertChangeOut].data.evidence.items[0].report_ids
    page = _ok(
        _api(generated, "patients.get_patient_report_html").sync(me.patient_id, client=therapist),
        str,
    )
    assert page.startswith("<!doctype html>") or "<html" in page[:200]
    chart = _api(generated, "patients.get_patient_report_chart").sync(
        me.patient_id, client=therapist
    )
    assert b"<svg" in chart.payload.read()
    pdf = _api(generated, "patients.get_patient_report_pdf").sync(me.patient_id, client=therapist)
    assert pdf.payload.read().startswith(b"%PDF-")
    links = _ok(
        _api(generated, "patients.create_report_links").sync(
            me.patient_id, client=therapist, body=m.ReportLinksIn()
        ),
        m.ReportLinkOut,
    )
    for url in (links.html_url, links.chart_url, links.pdf_url):
        assert url.startswith(server.base), url
    token = links.pdf_url.split("/")[-2]  # a browser opens these without a bearer header
    shared = _api(generated, "patients.open_report_link_pdf").sync(
        me.patient_id, token, client=anonymous
    )
    assert shared.payload.read().startswith(b"%PDF-")
    csv = _ok(_api(generated, "exports.export_sessions_csv").sync(client=therapist), str)
    assert str(created[0].id) in csv
