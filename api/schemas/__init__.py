"""Marshmallow input and output shapes, one module per resource."""
