"""Placeholder: routes land here."""

from flask_smorest import Blueprint

blp = Blueprint("sync", __name__, description="sync")
