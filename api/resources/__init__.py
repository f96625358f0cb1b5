"""Blueprints: one per resource, thin views."""
