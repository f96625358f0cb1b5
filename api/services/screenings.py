"""Pre-session safety screening for a patient."""

from sqlalchemy.orm import Session

import analyzer
from api.services import access, alerts, analysis
from models import User


def screen(*, db_session: Session, user: User, data: dict) -> analyzer.Screening:
    patient = access.patient_named_in_body(
        db_session=db_session, user=user, patient_id=data.get("patient_id")
    )
    return analyzer.screen(
        symptoms=analyzer.Symptoms(**data["symptoms"]),
        acute_flare=data["acute_flare"],
        planned_pressure=data["planned_pressure"],
        planned_areas=data["planned_areas"],
        open_alert_rules=alerts.open_alert_rules(db_session=db_session, patient_id=patient.id),
        config=analysis.config(db_session),
    )
