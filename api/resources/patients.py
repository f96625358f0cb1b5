"""Placeholder: routes land here."""

from flask_smorest import Blueprint

blp = Blueprint("patients", __name__, description="patients")
