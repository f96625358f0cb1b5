"""FHIR R4 export of one patient's pain scores and alerts."""

import uuid

from flask import Response, json
from flask.views import MethodView
from flask_smorest import Blueprint

from api import limits
from api.auth import auth_required, current_user
from api.db import get_session
from api.openapi import document
from api.schemas.exports import FHIR_BUNDLE
from api.services import fhir

blp = Blueprint("fhir", __name__, description="FHIR R4 interoperability")
FHIR_JSON = "application/fhir+json"


@blp.route("/v1/patients/<uuid:patient_id>/fhir")
class PatientBundle(MethodView):
    @auth_required("patient", "therapist", "admin")
    @limits.limited(limits.EXPENSIVE_READS_PER_USER)
    @blp.response(200, FHIR_BUNDLE, content_type=FHIR_JSON, description="A FHIR R4 Bundle")
    @document(responses={404: "NOT_FOUND"})
    def get(self, patient_id: uuid.UUID):
        """Export a patient's pain scores and alerts as a FHIR R4 Bundle"""
        bundle = fhir.bundle_for(
            db_session=get_session(), user=current_user(), patient_id=patient_id
        )
        return Response(json.dumps(bundle), content_type=f"{FHIR_JSON}; charset=utf-8")
