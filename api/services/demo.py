"""A demo clinic: one therapist and patients whose histories show what the product watches."""

from datetime import date, timedelta

from sqlalchemy.orm import Session

from api.services import care_links, reports, users
from models import CheckIn, MassageSession, User, utcnow

THERAPIST = ("therapist", "therapist@demo.clinic", "demo-therapist-pass", "Demo therapist")
PATIENTS = (
    ("improving", "improving@demo.clinic", "Demo patient A (improving)"),
    ("worsening", "worsening@demo.clinic", "Demo patient B (worsening)"),
    ("red_flag", "red-flag@demo.clinic", "Demo patient C (red flag)"),
    ("new", "new@demo.clinic", "Demo patient D (new, not cleared)"),
)
PATIENT_PASSWORD = "demo-patient-pass"  # noqa: S105 - printed for the demo on purpose


def _symptoms(**values) -> dict:
    base = {
        "numbness": 0,
        "tingling": 0,
        "weakness": 0,
        "side": "left",
        "bladder_bowel_change": False,
        "saddle_numbness": False,
    }
    return base | values


def _session(days_ago: float, before: int, after: int | None, **extra) -> dict:
    return {
        "started_at": utcnow() - timedelta(days=days_ago),
        "duration_minutes": extra.pop("duration", 50),
        "technique": extra.pop("technique", "swedish"),
        "pressure": extra.pop("pressure", "moderate"),
        "areas": extra.pop("areas", ["lower_back", "piriformis"]),
        "acute_flare": extra.pop("acute_flare", False),
        "pain_before": before,
        "pain_after": after,
        "symptoms": _symptoms(**extra.pop("symptoms", {})),
        "notes": extra.pop("notes", None),
    }


def _checkin(days_ago: float, pain: int, **symptoms) -> dict:
    return {
        "recorded_at": utcnow() - timedelta(days=days_ago),
        "pain": pain,
        "symptoms": _symptoms(**symptoms),
        "notes": None,
    }


HISTORIES = {
    "improving": [
        (MassageSession, _session(42, 7, 5, technique="myofascial_release", pressure="light")),
        (CheckIn, _checkin(41.5, 6)),
        (MassageSession, _session(35, 6, 4, technique="myofascial_release")),
        (MassageSession, _session(28, 6, 4, technique="trigger_point")),
        (CheckIn, _checkin(26, 5)),
        (MassageSession, _session(21, 5, 3)),
        (MassageSession, _session(14, 4, 3)),
        (CheckIn, _checkin(12, 3)),
        (MassageSession, _session(7, 3, 2, notes="Sitting at work is easier this week.")),
    ],
    "worsening": [
        (MassageSession, _session(40, 4, 4, technique="deep_tissue", pressure="firm")),
        (CheckIn, _checkin(38, 4)),
        (MassageSession, _session(33, 4, 7, technique="deep_tissue", pressure="deep")),
        (CheckIn, _checkin(31, 5, tingling=1)),
        (MassageSession, _session(26, 4, 7, technique="deep_tissue", pressure="deep")),
        (CheckIn, _checkin(24, 5, tingling=1)),
        (MassageSession, _session(19, 5, 6, technique="sports", pressure="firm")),
        # Still sore two and three days later: the pain has not settled.
        (CheckIn, _checkin(17, 7, tingling=2)),
        (CheckIn, _checkin(16, 7, tingling=2)),
        (MassageSession, _session(12, 7, 8, technique="deep_tissue", pressure="deep")),
        (
            MassageSession,
            _session(
                5,
                8,
                8,
                technique="deep_tissue",
                pressure="firm",
                symptoms={"tingling": 2, "numbness": 1},
            ),
        ),
    ],
    "red_flag": [
        (MassageSession, _session(20, 5, 4)),
        (CheckIn, _checkin(18, 5)),
        (CheckIn, _checkin(16, 5)),
        (CheckIn, _checkin(15, 5)),
        (
            MassageSession,
            _session(
                13, 6, 5, acute_flare=True, pressure="deep", areas=["buttock", "sciatic_nerve_path"]
            ),
        ),
        (CheckIn, _checkin(12, 6, numbness=1, weakness=1)),
        (
            CheckIn,
            _checkin(
                2,
                7,
                numbness=3,
                weakness=2,
                saddle_numbness=True,
                side="both",
                bladder_bowel_change=True,
            ),
        ),
    ],
    "new": [
        (MassageSession, _session(6, 5, 4, technique="swedish", pressure="light")),
        (CheckIn, _checkin(4, 5, weakness=1)),
        (MassageSession, _session(1, 6, 5, symptoms={"weakness": 2})),
    ],
}


def _account(db_session: Session, email: str, password: str, name: str, role: str) -> User:
    existing = users.get_by_email(db_session=db_session, email=email)
    if existing is not None:
        return existing
    return users.create(
        db_session=db_session, email=email, password=password, display_name=name, role=role
    )


def seed(*, db_session: Session) -> list[tuple[str, str, str]]:
    """Create the demo clinic once (a second run changes nothing); return the logins."""
    role, email, password, name = THERAPIST
    therapist = _account(db_session, email, password, name, role)
    logins = [(role, email, password)]
    for story, patient_email, patient_name in PATIENTS:
        patient = _account(db_session, patient_email, PATIENT_PASSWORD, patient_name, "patient")
        logins.append(("patient", patient_email, PATIENT_PASSWORD))
        if _has_history(db_session, patient):
            continue
        if story != "new":
            patient.profile.medically_cleared_at = date.today() - timedelta(days=60)
        patient.profile.affected_side = "left"
        care_links.create(db_session=db_session, patient=patient, therapist_email=email)
        for model, data in HISTORIES[story]:
            writer = therapist if model is MassageSession else patient
            payload = dict(data)
            if writer is therapist:
                payload["patient_id"] = patient.id
            reports.create(db_session=db_session, user=writer, model=model, data=payload)
    return logins


def _has_history(db_session: Session, patient: User) -> bool:
    query, values = reports.get_all(user=patient, model=MassageSession)
    return db_session.scalar(query.limit(1), values) is not None
