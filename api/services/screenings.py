"""Pre-session safety screening for a patient."""

from sqlalchemy.orm import Session

import analyzer
from api.services import access, alerts, analysis, audit
from models import User, utcnow


def screen(*, db_session: Session, user: User, data: dict) -> analyzer.Screening:
    patient = access.patient_named_in_body(
        db_session=db_session, user=user, patient_id=data.get("patient_id")
    )
    # It reads the patient's history and open alerts, and answers with what it found.
    audit.record_read(
        db_session, user=user, resource_type="screening", resource_id=None, patient_id=patient.id
    )
    cfg = analysis.config(db_session)
    now = utcnow()
    # The planned symptoms are judged as a report felt now would be: against the patient's
    # reports before it, in the analyzer's window.
    window = analysis.load_window(db_session=db_session, patient_id=patient.id, focus=now, cfg=cfg)
    return analyzer.screen(
        symptoms=analyzer.Symptoms(**data["symptoms"]),
        acute_flare=data["acute_flare"],
        planned_pressure=data["planned_pressure"],
        planned_areas=data["planned_areas"],
        open_alert_rules=alerts.open_alert_rules(db_session=db_session, patient_id=patient.id),
        config=cfg,
        history=window.reports,
        at=now,
        medically_cleared=analysis.context_of(patient).cleared_on(now),
    )
