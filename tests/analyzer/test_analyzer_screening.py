"""screen(): the pre-session safety verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analyzer import Report, Screening, Symptoms, screen


def run(symptoms=Symptoms(), flare=False, pressure="light", areas=(), alerts=()):
    return screen(
        symptoms=symptoms,
        acute_flare=flare,
        planned_pressure=pressure,
        planned_areas=list(areas),
        open_alert_rules=alerts,
    )


@pytest.mark.parametrize(
    ("symptoms", "rule"),
    [
        (Symptoms(bladder_bowel_change=True), "red_flag_bladder_bowel"),
        (Symptoms(saddle_numbness=True), "red_flag_bladder_bowel"),
        (Symptoms(numbness=3), "significant_numbness"),
        (Symptoms(weakness=2), "progressive_weakness"),
        (Symptoms(weakness=3), "progressive_weakness"),
    ],
)
def test_red_flag_symptoms_stop_the_session(symptoms, rule):
    result = run(symptoms=symptoms)
    assert result.verdict == "do_not_proceed"
    assert [r for r, _ in result.reasons] == [rule]
    assert "seek medical attention now" in result.reasons[0][1]


@pytest.mark.parametrize(
    "symptoms", [Symptoms(numbness=2), Symptoms(weakness=1), Symptoms(tingling=3, side="both")]
)
def test_symptoms_below_the_red_flag_grades_proceed(symptoms):
    assert run(symptoms=symptoms) == Screening("proceed", ())


def test_an_open_urgent_alert_stops_the_session():
    result = run(alerts=[("bilateral_symptoms", "urgent")])
    assert result.verdict == "do_not_proceed"
    assert result.reasons[0][0] == "bilateral_symptoms"
    assert "Symptoms reported on both sides" in result.reasons[0][1]


@pytest.mark.parametrize(
    ("flare", "pressure", "areas", "verdict"),
    [
        (True, "deep", (), "caution"),
        (True, "firm", ("hip",), "caution"),
        (True, "light", ("sciatic_nerve_path",), "caution"),
        (True, None, ("sciatic_nerve_path",), "caution"),
        (True, "moderate", ("hip",), "proceed"),
        (False, "deep", ("sciatic_nerve_path",), "proceed"),
    ],
)
def test_strong_pressure_or_nerve_path_work_in_a_flare_calls_for_caution(
    flare, pressure, areas, verdict
):
    result = run(flare=flare, pressure=pressure, areas=areas)
    assert result.verdict == verdict
    assert [r for r, _ in result.reasons] == (
        ["deep_pressure_in_flare"] if verdict == "caution" else []
    )


@pytest.mark.parametrize(
    ("alerts", "verdict"),
    [
        ([("worsening_trend", "warning")], "caution"),
        ([("severe_pain", "caution")], "proceed"),
        ([("not_medically_cleared", "info")], "proceed"),
        ([("worsening_trend", "warning"), ("red_flag_bladder_bowel", "urgent")], "do_not_proceed"),
    ],
)
def test_open_alerts_by_severity(alerts, verdict):
    assert run(alerts=alerts).verdict == verdict


def test_stopping_reasons_come_first_and_every_reason_is_listed():
    result = run(
        symptoms=Symptoms(saddle_numbness=True),
        flare=True,
        pressure="deep",
        alerts=[("repeated_worsening", "warning"), ("repeated_worsening", "warning")],
    )
    assert [r for r, _ in result.reasons] == [
        "red_flag_bladder_bowel",
        "deep_pressure_in_flare",
        "repeated_worsening",
    ]


def test_unknown_alert_severity_is_rejected():
    with pytest.raises(ValueError, match="severity"):
        run(alerts=[("severe_pain", "critical")])


def test_screening_is_a_frozen_value():
    result = run()
    with pytest.raises(AttributeError):
        result.verdict = "caution"


def _usual(numbness=0, side="left", days=5):
    start = datetime(2026, 11, 1, 8, tzinfo=UTC)
    return [
        Report(
            id=f"c{day}",
            kind="checkin",
            felt_at=start + timedelta(days=day),
            pain=4,
            symptoms=Symptoms(numbness=numbness, side=side),
        )
        for day in range(days)
    ]


AT = datetime(2026, 11, 7, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("symptoms", "verdict", "rules"),
    [
        (Symptoms(numbness=2, side="left"), "do_not_proceed", ["significant_numbness"]),
        (Symptoms(tingling=1, side="both"), "do_not_proceed", ["bilateral_symptoms"]),
        (Symptoms(numbness=1, side="left"), "caution", ["neuro_recheck"]),
        (Symptoms(numbness=3, side="left"), "do_not_proceed", ["significant_numbness"]),
    ],
)
def test_symptoms_are_judged_against_the_patients_own_reports(symptoms, verdict, rules):
    result = screen(
        symptoms=symptoms,
        acute_flare=False,
        planned_pressure="light",
        planned_areas=[],
        history=_usual(),
        at=AT,
    )
    assert (result.verdict, [r for r, _ in result.reasons]) == (verdict, rules)
    # Without the patient's reports the same symptoms are judged on their grades alone.
    alone = run(symptoms=symptoms)
    assert alone.verdict == ("do_not_proceed" if symptoms.numbness == 3 else "proceed")


def test_only_reports_felt_before_the_screening_are_its_history():
    """A report felt after the screening's time (on both sides) is not its history: against
    the one-sided reports before, both sides now stop the session."""
    later = Report(
        id="later",
        kind="checkin",
        felt_at=AT + timedelta(hours=1),
        pain=4,
        symptoms=Symptoms(tingling=1, side="both"),
    )
    for history, verdict in (
        ([*_usual(), later], "do_not_proceed"),
        (_usual(side="both"), "proceed"),
    ):
        result = screen(
            symptoms=Symptoms(tingling=1, side="both"),
            acute_flare=False,
            planned_pressure="light",
            planned_areas=[],
            history=history,
            at=AT,
        )
        assert result.verdict == verdict


def _against_usual(symptoms, usual=_usual(), alerts=()):
    return screen(
        symptoms=symptoms,
        acute_flare=False,
        planned_pressure="light",
        planned_areas=[],
        open_alert_rules=alerts,
        history=usual,
        at=AT,
    )


def test_a_rise_keeps_its_own_reason_beside_an_open_alert_of_its_rule():
    result = _against_usual(
        Symptoms(numbness=2, side="left"), alerts=[("significant_numbness", "urgent")]
    )
    assert result.verdict == "do_not_proceed"
    (first, still_open), (second, rise) = result.reasons
    assert (first, second) == ("significant_numbness", "significant_numbness")
    assert "still open" in still_open
    assert "2 grades above" in rise and "seek medical attention now" in rise


def test_a_symptom_that_stops_the_session_is_not_also_sent_for_a_re_check():
    """Weakness 2 against a usual 1: stop (grade 2), and no advice of gentle techniques."""
    usual = [
        Report(id=r.id, kind=r.kind, felt_at=r.felt_at, pain=4, symptoms=Symptoms(weakness=1))
        for r in _usual()
    ]
    result = _against_usual(Symptoms(weakness=2), usual=usual)
    assert [rule for rule, _ in result.reasons] == ["progressive_weakness"]


def test_a_re_check_asked_now_names_its_symptom_once():
    result = _against_usual(
        Symptoms(numbness=1, side="left"), alerts=[("neuro_recheck", "caution")]
    )
    assert result.verdict == "caution"
    [(rule, message)] = result.reasons
    assert rule == "neuro_recheck"
    assert message.startswith(
        "One grade above the usual grade in earlier reports was reported for numbness (grade 1)"
    )


def test_a_re_check_names_each_raised_symptom_that_does_not_stop_the_session():
    """Weakness 1 to 2 stops the session (grade 2); numbness 1 to 2 alongside is still
    named for a re-check."""
    usual = [
        Report(
            id=r.id,
            kind=r.kind,
            felt_at=r.felt_at,
            pain=4,
            symptoms=Symptoms(weakness=1, numbness=1),
        )
        for r in _usual()
    ]
    result = _against_usual(Symptoms(weakness=2, numbness=2), usual=usual)
    assert result.verdict == "do_not_proceed"
    assert [rule for rule, _ in result.reasons] == ["progressive_weakness", "neuro_recheck"]
    assert "for numbness (grade 2)," in result.reasons[1][1]
    assert "weakness" not in result.reasons[1][1]


def test_no_consultation_on_file_calls_for_caution_and_stops_nothing_more():
    plain = screen(
        symptoms=Symptoms(),
        acute_flare=False,
        planned_pressure="light",
        planned_areas=[],
        medically_cleared=False,
    )
    assert plain.verdict == "caution"
    assert [rule for rule, _ in plain.reasons] == ["not_medically_cleared"]
    red_flag = screen(
        symptoms=Symptoms(bladder_bowel_change=True),
        acute_flare=False,
        planned_pressure="light",
        planned_areas=[],
        medically_cleared=False,
    )
    assert red_flag.verdict == "do_not_proceed"
    assert [rule for rule, _ in red_flag.reasons] == [
        "red_flag_bladder_bowel",
        "not_medically_cleared",
    ]
    assert run().verdict == "proceed"  # cleared, the default
