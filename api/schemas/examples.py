"""Example requests and responses of the main writes, as the contract shows them.

tests/test_openapi.py validates each against the schema it illustrates.
"""

PATIENT_ID = "4d7e9e7e-781a-4949-a627-efa93673b866"
THERAPIST_ID = "9a3f0c1e-52b7-4d0e-8f6a-7c2b1e4d5a69"
SESSION_ID = "6f1c2b9e-3d4a-4c8e-9b7f-2a1d5e8c4b30"
CHECKIN_ID = "0b8e7c55-2f7e-4d1a-a3c9-5e6f7a8b9c0d"
ALERT_ID = "fdb9a41c-13b6-46cb-bb65-1748b23f0db4"
SYMPTOMS_IN = {"numbness": 0, "tingling": 1, "weakness": 0, "side": "left"}
SYMPTOMS_OUT = {**SYMPTOMS_IN, "bladder_bowel_change": False, "saddle_numbness": False}

REGISTER_IN = {
    "email": "ana@example.org",
    "password": "a long passphrase",
    "display_name": "Ana",
}
TOKEN_IN = {"email": "ana@example.org", "password": "a long passphrase"}
TOKEN_OUT = {
    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0ZDdlOWU3ZSJ9.c2lnbmF0dXJl",
    "refresh_token": "HeMtU3v63GEVlS2L9pD9k8OvW4cDsxheJRT-ehZVeFM",
    "token_type": "Bearer",
    "expires_in": 900,
}

SESSION_IN = {
    "id": SESSION_ID,
    "started_at": "2026-11-20T17:30:00+01:00",
    "duration_minutes": 45,
    "technique": "deep_tissue",
    "pressure": "firm",
    "areas": ["lower_back", "piriformis"],
    "acute_flare": False,
    "pain_before": 4,
    "pain_after": 7,
    "symptoms": SYMPTOMS_IN,
    "notes": "Sore on the left after piriformis work",
}
ALERT = {
    "id": ALERT_ID,
    "patient_id": PATIENT_ID,
    "rule": "post_session_worsening",
    "severity": "caution",
    "status": "open",
    "title": "Pain higher after the session",
    "message": "Your pain went from 4 before the session to 7 after it (+3 points). A rise of "
    "2 points or more, and of at least 30 %, is the smallest change people notice as a real "
    "difference (Farrar 2001; Ostelo 2008).",
    "clinician_message": "Pain 4 -> 7 (+3 points) after technique deep_tissue with firm "
    "pressure: at or above the minimal clinically important difference on the 0-10 scale "
    "(Farrar 2001; Ostelo 2008).",
    "recommendation": "Tell your therapist before the next session. The guidance favours "
    "gentle techniques with light pressure, applied away from the sciatic nerve path.",
    "evidence": {
        "report_ids": [SESSION_ID],
        "items": [
            {
                "key": f"post_session_worsening:{SESSION_ID}",
                "felt_at": "2026-11-20T16:30:00+00:00",
                "severity": "caution",
                "report_ids": [SESSION_ID],
                "pain_before": 4,
                "pain_after": 7,
                "change": 3,
                "percent_of_before": 75.0,
                "technique": "deep_tissue",
                "pressure": "firm",
            }
        ],
    },
    "occurrences": 1,
    "first_seen_at": "2026-11-20T18:16:02Z",
    "last_seen_at": "2026-11-20T18:16:02Z",
    "ruleset_version": "2026.12-2",
    "acknowledged_by": None,
    "acknowledged_at": None,
    "acknowledgement_outcome": None,
    "acknowledgement_reason": None,
    "resolved_by": None,
    "resolved_at": None,
    "resolution": None,
    "resolution_note": None,
}
SESSION_WRITTEN = {
    **{key: value for key, value in SESSION_IN.items() if key != "symptoms"},
    "started_at": "2026-11-20T16:30:00Z",
    "patient_id": PATIENT_ID,
    "therapist_id": None,
    "symptoms": SYMPTOMS_OUT,
    "created_at": "2026-11-20T18:16:02Z",
    "updated_at": "2026-11-20T18:16:02Z",
    "alerts": [ALERT],
}

CHECKIN_IN = {
    "id": CHECKIN_ID,
    "recorded_at": "2026-11-21T08:00:00+01:00",
    "pain": 5,
    "symptoms": SYMPTOMS_IN,
    "notes": "Stiff on waking",
}
CHECKIN_WRITTEN = {
    **CHECKIN_IN,
    "recorded_at": "2026-11-21T07:00:00Z",
    "patient_id": PATIENT_ID,
    "symptoms": SYMPTOMS_OUT,
    "created_at": "2026-11-21T07:02:10Z",
    "updated_at": "2026-11-21T07:02:10Z",
    "alerts": [],
}

ACKNOWLEDGE_IN = {
    "outcome": "accepted",
    "reason": "Seen with the patient; lighter pressure next time",
}
ACKNOWLEDGED = {
    **ALERT,
    "status": "acknowledged",
    "acknowledged_by": THERAPIST_ID,
    "acknowledged_at": "2026-11-21T09:12:40Z",
    "acknowledgement_outcome": "accepted",
    "acknowledgement_reason": ACKNOWLEDGE_IN["reason"],
}

CARE_LINK_IN = {"therapist_email": "therapist@clinic.example"}
CARE_LINK_OUT = {
    "id": "3c5d7e9f-1a2b-4c3d-8e4f-5a6b7c8d9e0f",
    "patient_id": PATIENT_ID,
    "therapist_id": THERAPIST_ID,
    "status": "active",
    "created_at": "2026-11-02T10:00:00Z",
    "ended_at": None,
}
USER_OUT = {
    "id": PATIENT_ID,
    "email": "ana@example.org",
    "role": "patient",
    "display_name": "Ana",
    "created_at": "2026-11-01T09:00:00Z",
    "deactivated_at": None,
}
