"""Properties of analyze() over generated histories (hypothesis)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer import (
    DEFAULT_CONFIG,
    RULES,
    SEVERITIES,
    PatientContext,
    Report,
    Symptoms,
    analyze,
    trend_label,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WORSENING = {
    "worsening_trend",
    "post_session_worsening",
    "repeated_worsening",
    "persistent_worsening",
}
AREAS = ("lower_back", "buttock", "piriformis", "hip", "sciatic_nerve_path")

fast = settings(max_examples=150, deadline=None, database=None)

grades = st.integers(0, 3)
given_or_not = st.none() | grades  # a grade left out: a check-in that gives pain only
pains = st.integers(0, 10)
symptoms = st.builds(
    Symptoms,
    numbness=given_or_not,
    tingling=given_or_not,
    weakness=given_or_not,
    side=st.sampled_from([None, "left", "right", "both"]),
    bladder_bowel_change=st.booleans(),
    saddle_numbness=st.booleans(),
)
contexts = st.builds(
    PatientContext, medically_cleared_at=st.none() | st.dates(date(2026, 1, 1), date(2026, 6, 1))
)


@st.composite
def report(draw, id: str, max_hours: int = 24 * 90) -> Report:
    # A coarse time grid makes reports felt at the same instant common.
    felt_at = T0 + timedelta(hours=draw(st.integers(0, max_hours // 6)) * 6)
    common = {"id": id, "felt_at": felt_at, "symptoms": draw(symptoms)}
    if draw(st.booleans()):
        return Report(kind="checkin", pain=draw(st.none() | pains), **common)
    return Report(
        kind="session",
        pain_before=draw(pains),
        pain_after=draw(st.none() | pains),
        pressure=draw(st.sampled_from([None, "light", "moderate", "firm", "deep"])),
        areas=tuple(draw(st.lists(st.sampled_from(AREAS), max_size=2, unique=True))),
        acute_flare=draw(st.booleans()),
        **common,
    )


@st.composite
def histories(draw, max_size: int = 25, max_hours: int = 24 * 90) -> list[Report]:
    ids = draw(st.lists(st.uuids(), max_size=max_size, unique=True))
    return [draw(report(str(i), max_hours)) for i in ids]


@fast
@given(reports=histories(), context=contexts, data=st.data())
def test_arrival_order_never_changes_the_findings(reports, context, data):
    shuffled = data.draw(st.permutations(reports))
    assert analyze(shuffled, context) == analyze(reports, context)


@fast
@given(reports=histories(), context=contexts)
def test_findings_are_well_formed(reports, context):
    findings = analyze(reports, context)
    ids = {r.id for r in reports}
    assert len({f.key for f in findings}) == len(findings)
    for f in findings:
        # A rule fires at its own severity, or above it once later reports confirm it.
        assert SEVERITIES.index(f.severity) >= SEVERITIES.index(RULES[f.rule])
        assert f.severity == RULES[f.rule] or f.key.endswith(":sustained")
        assert f.key.startswith(f.rule + ":")
        assert set(f.report_ids) <= ids and f.evidence["report_ids"] == list(f.report_ids)
        json.dumps(f.evidence)


@st.composite
def improving_report(draw, history: list[Report]) -> Report:
    """A report after all others, no worse than any earlier baseline, with nothing else amiss."""
    latest = max((r.felt_at for r in history), default=T0)
    felt_at = latest + timedelta(hours=draw(st.integers(1, 24 * 10)))
    ceiling = min((r.baseline_pain for r in history if r.baseline_pain is not None), default=10)
    baseline = draw(st.integers(0, ceiling))
    if draw(st.booleans()):
        return Report(id="improving", kind="checkin", felt_at=felt_at, pain=baseline)
    return Report(
        id="improving",
        kind="session",
        felt_at=felt_at,
        pain_before=baseline,
        pain_after=draw(st.none() | st.integers(0, baseline)),
        pressure=draw(st.sampled_from([None, "light", "moderate"])),
    )


@fast
@given(history=histories(), context=contexts, data=st.data())
def test_an_improving_report_never_carries_a_worsening_finding(history, context, data):
    new = data.draw(improving_report(history))
    findings = analyze([*history, new], context)
    assert not [f for f in findings if f.rule in WORSENING and f.key.endswith(":" + new.id)]


@st.composite
def flat_noisy_series(draw) -> list[Report]:
    """Pain around a constant with +/-1 noise that repeats with a period of up to 5 reports.

    Noise free to drift is not flat: +/-1 noise can spell 4,4,4,4,4,4,5,5,6,6, a real
    2-point rise that the rule is meant to catch.
    """
    level = draw(st.integers(1, 9))
    pattern = draw(st.lists(st.sampled_from([-1, 0, 1]), min_size=1, max_size=5))
    phase = draw(st.integers(0, len(pattern) - 1))
    reports, clock = [], T0
    for index in range(draw(st.integers(1, 20))):
        pain = level + pattern[(index + phase) % len(pattern)]
        clock += timedelta(hours=draw(st.integers(6, 24 * 5)))
        if draw(st.booleans()):
            reports.append(Report(id=f"r{index:02d}", kind="checkin", felt_at=clock, pain=pain))
        else:
            after = draw(st.none() | pains)
            reports.append(
                Report(
                    id=f"r{index:02d}",
                    kind="session",
                    felt_at=clock,
                    pain_before=pain,
                    pain_after=after,
                )
            )
    return reports


@fast
@given(reports=flat_noisy_series())
def test_a_flat_series_with_one_point_noise_never_raises_a_worsening_trend(reports):
    assert not [f for f in analyze(reports, PatientContext()) if f.rule == "worsening_trend"]
    assert trend_label(reports) != "worsening"


@fast
@given(reports=histories(max_size=40, max_hours=24 * 40), data=st.data())
def test_the_documented_bounded_history_gives_the_full_history_findings(reports, data):
    ordered = sorted(reports, key=lambda r: (r.felt_at, r.id))
    if not ordered:
        return
    focus = data.draw(st.sampled_from(ordered)).felt_at
    before = [r for r in ordered if r.felt_at < focus]
    graded = {
        r
        for name in ("weakness", "numbness")
        for r in [r for r in before if getattr(r.symptoms, name) is not None][
            -DEFAULT_CONFIG.nerve_reports :
        ]
    }
    bounded = {
        *before[-DEFAULT_CONFIG.history_reports :],
        *(r for r in before if r.felt_at >= focus - DEFAULT_CONFIG.lookback),
        *graded,
        *(r for r in ordered if r.felt_at >= focus),
    }
    context = PatientContext()
    full = [f for f in analyze(ordered, context) if f.felt_at >= focus]
    assert analyze(bounded, context, focus_from=focus) == full
