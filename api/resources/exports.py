"""Placeholder: routes land here."""

from flask_smorest import Blueprint

blp = Blueprint("exports", __name__, description="exports")
