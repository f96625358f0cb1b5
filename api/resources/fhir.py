"""Placeholder: routes land here."""

from flask_smorest import Blueprint

blp = Blueprint("fhir", __name__, description="fhir")
