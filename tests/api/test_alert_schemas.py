"""Alert evidence is dumped as the contract says, however its items are visited."""

import json
import random

import marshmallow as ma

from api.schemas.alerts import EvidenceItemOut
from api.services.alerts import _item
from bench.cohort import REALISTIC, Simulator, cohort


def test_evidence_items_dump_as_when_every_field_is_visited():
    """EvidenceItemOut visits only the fields an item holds (the write path's hot spot):
    the output must be what marshmallow's own loop over every field gives, for the items
    of every rule a realistic cohort raises, as stored (JSON) and as built."""
    patients = cohort(Simulator(random.Random(7), REALISTIC), 8)
    findings = [f for group in patients.values() for p in group for f in p.findings]
    rules = {f.rule for f in findings}
    assert len(rules) >= 8, rules
    schema = EvidenceItemOut()
    for finding in findings:
        built = _item(finding)
        variants = (
            built,
            json.loads(json.dumps(built)),
            {**built, "not_a_field": 1},
            {**built, "technique": None, "percent_of_before": None},  # nullable, present
        )
        for item in variants:
            dumped = schema.dump(item)
            assert dumped == ma.Schema._serialize(schema, item)
            assert dumped["key"] == finding.key and "not_a_field" not in dumped
    # Many items at once (a Nested list) take the same path.
    items = [_item(f) for f in findings[:40]]
    assert schema.dump(items, many=True) == [ma.Schema._serialize(schema, i) for i in items]
