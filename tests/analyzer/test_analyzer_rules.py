"""Both sides of every rule's thresholds, through analyze()."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from analyzer import AnalyzerConfig, PatientContext, Symptoms, analyze

CLEARED = PatientContext(medically_cleared_at=date(2020, 1, 1))


def fired(reports, rule, context=CLEARED, **kwargs):
    return [f for f in analyze(reports, context, **kwargs) if f.rule == rule]


# --- post_session_worsening -------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "fires"),
    [
        (5, 7, True),  # 2 points, 40 %
        (7, 9, False),  # 2 points, 28.6 %
        (7, 10, True),  # 3 points, 42.9 %
        (6, 8, True),  # 2 points, 33.3 %
        (0, 2, True),  # from zero only the points apply
        (0, 1, False),
        (4, 5, False),  # a one-point rise raises nothing
        (4, 6, True),
        (5, 4, False),
        (9, 10, False),
    ],
)
def test_post_session_worsening_needs_two_points_and_thirty_percent(build, before, after, fires):
    findings = fired([build.session(before, after)], "post_session_worsening")
    assert bool(findings) is fires


def test_post_session_worsening_reports_its_evidence_and_key(build):
    session = build.session(5, 7, id="abc", technique="deep_tissue", pressure="deep")
    (finding,) = fired([session], "post_session_worsening")
    assert finding.key == "post_session_worsening:abc"
    assert finding.severity == "caution"
    assert finding.report_ids == ("abc",)
    assert finding.felt_at == session.felt_at
    assert finding.evidence == {
        "report_ids": ["abc"],
        "pain_before": 5,
        "pain_after": 7,
        "change": 2,
        "percent_of_before": 40.0,
        "technique": "deep_tissue",
        "pressure": "deep",
    }
    assert "5" in finding.message and "7" in finding.message


@pytest.mark.parametrize(("before", "after", "fires"), [(4, 6, True), (5, 7, False), (6, 9, True)])
def test_post_session_fraction_boundary_is_inclusive_under_an_override(build, before, after, fires):
    config = AnalyzerConfig(post_session_min_fraction=0.5)
    findings = fired([build.session(before, after)], "post_session_worsening", config=config)
    assert bool(findings) is fires


def test_post_session_worsening_waits_for_pain_after(build):
    assert fired([build.session(5, None)], "post_session_worsening") == []


def test_post_session_worsening_ignores_checkins(build):
    assert fired([build.checkin(9)], "post_session_worsening") == []


# --- repeated_worsening -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("pairs", "fires_on"),
    [
        ([(5, 7), (5, 6), (5, 8)], [2]),  # 2 worsened, mean change 2
        ([(5, 7), (5, 5), (5, 7)], []),  # 2 worsened, mean change 1.33
        ([(5, 7), (5, 7)], []),  # a window of 3 sessions is needed
        ([(5, 7), (5, 6), (5, 7)], []),  # a one-point rise is not a worsening; mean 1.67
        ([(5, 7), (5, 5), (5, 5), (5, 8)], []),  # only 1 of the last 3
        ([(5, 7), (5, 7), (5, 7)], [2]),
        ([(5, 7), (5, 7), (5, 7), (5, 7)], [2]),  # +2 has become this patient's usual
        ([(7, 9), (7, 9), (7, 9)], []),  # 2 points but under 30 %: no worsening to repeat
    ],
)
def test_repeated_worsening_needs_two_of_three_and_a_mean_change_of_two(build, pairs, fires_on):
    sessions = [build.session(b, a) for b, a in pairs]
    findings = fired(sessions, "repeated_worsening")
    assert [f.key for f in findings] == [f"repeated_worsening:{sessions[i].id}" for i in fires_on]


@pytest.mark.parametrize(
    ("usual", "fires"),
    [
        ([(5, 5)] * 4, True),  # usual change 0: the three +2 sessions stand 2 above it
        ([(5, 6)] * 4, False),  # usual change +1: +2 is only one above this patient's own
        ([(5, 3)] * 4, True),  # usual relief does not lower the bar below no change
    ],
)
def test_repeated_worsening_is_judged_against_the_patients_usual_change(build, usual, fires):
    sessions = [build.session(b, a) for b, a in [*usual, (5, 7), (5, 7), (5, 7)]]
    findings = fired(sessions, "repeated_worsening")
    assert bool(findings) is fires
    if fires:
        assert findings[0].evidence["usual_sessions"] == 4


def test_repeated_worsening_names_the_worsened_sessions_as_evidence(build):
    first, _, last = sessions = [build.session(5, 7), build.session(5, 7), build.session(4, 6)]
    (finding,) = fired(sessions, "repeated_worsening")
    assert finding.severity == "warning"
    assert finding.report_ids == tuple(s.id for s in sessions)
    assert finding.evidence["changes"] == [2, 2, 2]
    assert finding.evidence["worsened_count"] == 3
    assert finding.evidence["mean_change"] == 2.0
    assert (finding.evidence["usual_change"], finding.evidence["usual_sessions"]) == (0, 0)
    assert first.id in finding.key or last.id in finding.key


def test_repeated_worsening_skips_sessions_without_pain_after(build):
    sessions = [
        build.session(5, 7),
        build.session(5, None),
        build.session(5, 7),
        build.session(5, 7),
    ]
    (finding,) = fired(sessions, "repeated_worsening")
    assert finding.evidence["sessions_considered"] == [
        sessions[0].id,
        sessions[2].id,
        sessions[3].id,
    ]


def test_repeated_worsening_is_not_interrupted_by_checkins(build):
    reports = [
        build.session(5, 7),
        build.checkin(5),
        build.session(5, 7),
        build.checkin(4),
        build.session(5, 7),
    ]
    assert len(fired(reports, "repeated_worsening")) == 1


# --- persistent_worsening ---------------------------------------------------------------


def settled(build, pains=(4, 4, 5, 4, 4, 5), every_days=4):
    """Sessions with a known baseline (winsorised mean 4.33, spread floor 1.0)."""
    return [build.session(p, p, at=build.at(days=i * every_days)) for i, p in enumerate(pains)]


def after_last(build, history, *pains_at_hours):
    last = history[-1].felt_at
    return [build.checkin(p, at=last + timedelta(hours=h)) for p, h in pains_at_hours]


@pytest.mark.parametrize(
    ("first", "second", "fires"),
    [
        ((7, 40), (7, 60), True),  # both reach 4.33 + 2.5 = 6.83
        ((7, 40), (6, 60), False),  # the second does not confirm
        ((6, 40), (7, 60), False),  # the trigger must reach the threshold too
        ((7, 20), (7, 60), False),  # the first is inside the soreness window
    ],
)
def test_persistent_worsening_needs_a_confirming_report_after_36_hours(build, first, second, fires):
    history = settled(build)
    checkins = after_last(build, history, first, second)
    findings = fired(history + checkins, "persistent_worsening")
    assert [f.key for f in findings] == (
        [f"persistent_worsening:{history[-1].id}:{checkins[1].id}"] if fires else []
    )


@pytest.mark.parametrize(("pain", "fires"), [(9, True), (8, False)])
def test_persistent_worsening_stands_alone_when_far_above_the_baseline(build, pain, fires):
    # Baseline 3: confirmed from 3 + 2.5 = 5.5, alone from 3 + max(6, 3.5 x 1.0) = 9.
    history = settled(build, pains=(3, 3, 3, 3, 3, 3))
    checkins = after_last(build, history, (pain, 48))
    findings = fired(history + checkins, "persistent_worsening")
    assert bool(findings) is fires
    if fires:
        assert findings[0].evidence["stands_alone_at"] == 9


@pytest.mark.parametrize(
    ("delay", "fires"),
    [
        (timedelta(hours=35), False),
        (timedelta(hours=36), True),
        (timedelta(days=7), True),
        (timedelta(days=7, hours=1), False),
    ],
)
def test_persistent_worsening_window_is_36_hours_to_7_days(build, delay, fires):
    history = settled(build, pains=(3, 3, 3, 3, 3, 3))
    last = history[-1].felt_at
    checkin = build.checkin(9, at=last + delay)
    assert bool(fired([*history, checkin], "persistent_worsening")) is fires


def test_persistent_worsening_is_confirmed_by_the_next_sessions_pain_before(build):
    history = settled(build)
    last = history[-1].felt_at
    checkin = build.checkin(7, at=last + timedelta(hours=50))
    session = build.session(7, 7, at=last + timedelta(days=4))
    (finding,) = fired([*history, checkin, session], "persistent_worsening")
    assert finding.key == f"persistent_worsening:{history[-1].id}:{session.id}"
    assert finding.report_ids == (history[-1].id, checkin.id, session.id)
    evidence = finding.evidence
    assert (evidence["baseline"], evidence["spread"], evidence["threshold"]) == (4.33, 1.0, 6.83)
    assert evidence["confirmed_by"] == [checkin.id]
    assert evidence["baseline_reports"] == 6


def test_a_noisy_patients_own_spread_raises_the_bar(build):
    noisy = (2, 6, 3, 7, 2, 6, 4, 7)
    history = settled(build, pains=noisy)
    checkins = after_last(build, history, (8, 40), (8, 60))
    assert fired(history + checkins, "persistent_worsening") == []
    calm = settled(build, pains=(4, 5, 4, 5, 4, 5, 4, 5))
    checkins = after_last(build, calm, (8, 40), (8, 60))
    assert len(fired(calm + checkins, "persistent_worsening")) == 1


def test_new_patients_get_the_wider_new_patient_spread(build):
    # One session: baseline 3, spread 1.25, threshold 3 + max(2, 3.125) = 6.125.
    session = build.session(3, 3, at=build.at())
    low = after_last(build, [session], (6, 40), (6, 60))
    assert fired([session, *low], "persistent_worsening") == []
    session = build.session(3, 3, at=build.at(days=30))
    high = after_last(build, [session], (7, 40), (7, 60))
    assert len(fired([session, *high], "persistent_worsening")) == 1


def test_persistent_worsening_without_an_earlier_session_raises_nothing(build):
    assert fired([build.checkin(9), build.checkin(9)], "persistent_worsening") == []


# --- worsening_trend --------------------------------------------------------------------


def trend_keys(build, values):
    reports = build.sessions(values)
    return [f.key for f in fired(reports, "worsening_trend")], reports


@pytest.mark.parametrize(
    ("values", "fires"),
    [
        ([4, 4, 4, 4, 4, 4, 7, 7, 7], True),  # +3 over a calm baseline
        ([4, 4, 4, 4, 4, 4, 6, 6, 6], False),  # +2 but under 5 standard errors, no climb
        ([4, 4, 4, 4, 4, 4, 6, 7, 6, 7, 6, 7], True),  # +2.5 sustained over 6 reports
        ([4, 4, 4, 4, 4, 4, 4, 5, 6, 6, 6, 6], False),  # +1.8: under the 2-point MCID
        ([2, 2, 2, 5, 5, 5], False),  # 6 reports of a new patient: wide new-patient spread
        ([8, 8, 8, 8, 8, 8, 8, 10, 10, 10], False),  # +2 but under 30 % of 8
        ([4, 4, 4, 4, 4, 4, 5, 6, 7, 8], True),  # a steady climb of 1 point per report
        ([4, 4, 4, 4, 4, 4, 4, 5, 6, 10], False),  # a climb of 2 carried by one bad day
        ([5, 6, 5, 4, 6, 5, 4, 5], False),  # SPEC: flat noisy series
        ([8, 7, 7, 6, 5, 5, 4, 3], False),  # improving
        ([4, 4, 4, 4, 4, 4, 9, 4, 4], False),  # one bad day
        ([4, 4, 4, 4, 4, 4, 4, 4, 10, 7], False),  # one bad day carries no trend
        ([4, 4, 4, 4, 4, 4, 4, 4, 10, 7, 7], True),  # a second raised report confirms
    ],
)
def test_worsening_trend_needs_a_shift_beyond_mcid_and_own_noise(build, values, fires):
    keys, reports = trend_keys(build, values)
    assert (f"worsening_trend:{reports[-1].id}" in keys) is fires


def test_worsening_trend_slope_catches_a_steady_climb(build):
    values = [3, 3, 4, 4, 4, 5, 5, 6, 6, 7]
    reports = build.sessions(values)
    findings = [f for f in fired(reports, "worsening_trend") if f.felt_at == reports[-1].felt_at]
    (finding,) = findings
    evidence = finding.evidence
    assert evidence["method"] == "slope"
    assert evidence["rise"] >= evidence["needed"] >= 2
    assert evidence["z_score"] >= AnalyzerConfig().trend_slope_z
    assert evidence["threshold"] == pytest.approx(
        evidence["baseline"] + evidence["needed"], abs=0.01
    )
    assert finding.report_ids == tuple(r.id for r in reports)
    # Half the slope is a rise under the MCID over the same reports: no trend.
    assert fired(build.sessions([3, 3, 3, 3, 3, 3, 3, 4, 4, 5]), "worsening_trend") == []


def test_worsening_trend_slope_is_not_carried_by_one_bad_day(build):
    reports = build.sessions([4, 4, 4, 4, 4, 4, 5, 6, 7, 8])
    assert f"worsening_trend:{reports[-1].id}" in [f.key for f in fired(reports, "worsening_trend")]
    # The same first steps, then one bad day instead of the last step.
    spiked = build.sessions([4, 4, 4, 4, 4, 4, 5, 6, 6, 10])
    assert fired(spiked, "worsening_trend") == []


def test_worsening_trend_evidence_records_the_baseline_it_used(build):
    reports = build.sessions([4, 4, 4, 4, 4, 4, 8, 8, 8])
    (finding,) = [f for f in fired(reports, "worsening_trend") if f.felt_at == reports[-1].felt_at]
    evidence = finding.evidence
    assert evidence["method"] == "mean_shift"
    assert (evidence["baseline"], evidence["spread"], evidence["baseline_reports"]) == (4, 1, 6)
    assert evidence["recent_values"] == [8, 8, 8]
    assert evidence["threshold"] == pytest.approx(4 + evidence["needed"], abs=0.01)
    assert "8, 8, 8" in finding.message


def test_worsening_trend_confirmation_is_configurable(build):
    reports = build.sessions([4, 4, 4, 4, 4, 4, 4, 7, 7, 7, 7])
    keys = [f.key for f in fired(reports, "worsening_trend")]
    assert keys == [f"worsening_trend:{reports[i].id}" for i in (9, 10)]
    config = AnalyzerConfig(trend_confirm_reports=1)
    confirmed = fired(reports, "worsening_trend", config=config)
    assert [f.key for f in confirmed] == [f"worsening_trend:{reports[10].id}"]
    assert confirmed[0].evidence["confirmed_by_previous"] == 1


def test_worsening_trend_looks_at_the_last_ten_reports_only(build):
    keys, reports = trend_keys(build, [1, 1, 1, 1, 1, 1] + [4] * 12)
    assert f"worsening_trend:{reports[-1].id}" not in keys


def test_worsening_trend_uses_checkin_pain_and_session_pain_before(build):
    # Check-ins two days after each session: past the soreness window, so baseline.
    reports = []
    for day, (before, checkin) in enumerate([(3, 3), (3, 3), (3, 3), (7, 7), (7, 7)]):
        reports.append(build.session(before, 2, at=build.at(days=4 * day)))
        reports.append(build.checkin(checkin, at=build.at(days=4 * day + 2)))
    keys = [f.key for f in fired(reports, "worsening_trend")]
    assert f"worsening_trend:{reports[-1].id}" in keys


@pytest.mark.parametrize(("hours", "counts"), [(35, False), (36, True)])
def test_check_ins_inside_the_soreness_window_are_not_baseline(build, hours, counts):
    reports = build.sessions([3] * 8, every_days=4)
    last = reports[-1].felt_at
    reports += [build.checkin(8, at=last + timedelta(hours=hours, minutes=m)) for m in (0, 1, 2)]
    keys = [f.key for f in fired(reports, "worsening_trend")]
    assert (f"worsening_trend:{reports[-1].id}" in keys) is counts


def test_worsening_trend_is_not_keyed_on_a_report_no_worse_than_the_baseline(build):
    keys, reports = trend_keys(build, [4, 4, 4, 4, 4, 4, 7, 7, 7, 4])
    assert f"worsening_trend:{reports[-1].id}" not in keys
    assert f"worsening_trend:{reports[-2].id}" in keys


# --- nerve symptoms: progressive_weakness, significant_numbness, neuro_recheck ------------


# A check-in that gives pain only: no nerve grade at all.
PAIN_ONLY = Symptoms(numbness=None, tingling=None, weakness=None)


def nerve(build, name, grades, hours=24):
    """Check-ins `hours` apart grading `name` (a grade of None: a pain-only check-in)."""
    return [
        build.checkin(
            3,
            at=build.at(hours=i * hours),
            symptoms=PAIN_ONLY if g is None else Symptoms(**{name: g}),
        )
        for i, g in enumerate(grades)
    ]


URGENT_BY_SYMPTOM = {"weakness": "progressive_weakness", "numbness": "significant_numbness"}


@pytest.mark.parametrize("name", ["weakness", "numbness"])
@pytest.mark.parametrize(
    ("grades", "fires_on"),
    [
        ([3], [0]),  # severe at the first report
        ([0, 0, 0, 0, 0, 3], [5]),
        ([0, 0, 0, 0, 0, 2], [5]),  # two grades above the usual 0
        ([1, 1, 1, 1, 1, 2], []),  # one grade: a re-check, not urgent
        ([0, 0, 0, 0, 0, 1, 2], [6]),  # rising one grade per report: urgent at baseline + 2
        ([2], []),  # a new patient counts as usual grade 1
        ([0, 2], [1]),  # the one earlier report is the usual grade: two above it
        ([1, 0, 2], []),  # a 1 and a 0 disagree: the 0 may be a mild grade read low
        ([0, 0, 0, 2], [3]),  # still new, but the earlier reports agree on 0
        ([0, 0, 1, 1, 2], []),  # a plateau at 1 after the 0s: the 1 may be the usual grade
        ([0, 1, 1, 2], []),  # so may it here: the first 0 may be a mild grade read low
        ([0, 1, 0, 0, 2], []),  # still new, and the reports disagree
        # A new patient's own reports rising a grade at a time: urgent two above the start,
        # though a mild grade counts as usual while the reports are few.
        ([0, 1, 2], [2]),
        ([0, 0, 1, 2], [3]),
        ([1, 0, 1, 2], [3]),  # from the lowest report on
        ([0, 1, 1, 1, 2], []),  # a plateau at 1 since the 0: a re-check, as before
        ([0, 1, 0, 2], []),  # fell back on the way
        ([1, 1, 1, 1, 1, 1, 0, 2], []),  # one low reading does not lower the usual grade
        ([2, 2, 2, 2, 2, 2], []),  # a steady moderate grade is the patient's own
    ],
)
def test_urgent_nerve_rules_on_severe_grade_or_two_above_the_usual(build, name, grades, fires_on):
    reports = nerve(build, name, grades)
    rule = URGENT_BY_SYMPTOM[name]
    findings = fired(reports, rule)
    assert [f.key for f in findings] == [f"{rule}:{reports[i].id}" for i in fires_on]
    assert all(f.severity == "urgent" for f in findings)


@pytest.mark.parametrize("name", ["weakness", "numbness"])
@pytest.mark.parametrize(
    ("grades", "fires_on"),
    [
        # A usual grade 1, then eight check-ins giving pain only: read as grade 0 they would
        # make the usual grade 0 and the next ordinary wobble to 2 look two grades up.
        ([1, 1, 1, 1, 1, *[None] * 8, 2], []),
        ([0, 0, 0, 0, 0, 1, None, 2], [7]),  # a rise shows through a pain-only check-in
        ([0, 0, 0, 0, 0, None, None, None], []),  # pain only says nothing of the nerves
        ([None, None, 3], [2]),  # severe is urgent whatever came before
    ],
)
def test_pain_only_check_ins_neither_lower_the_usual_grade_nor_hide_a_rise(
    build, name, grades, fires_on
):
    reports = nerve(build, name, grades)
    rule = URGENT_BY_SYMPTOM[name]
    assert [f.key for f in fired(reports, rule)] == [f"{rule}:{reports[i].id}" for i in fires_on]


def test_a_rise_over_pain_only_check_ins_is_a_recheck_naming_the_grades_reported(build):
    reports = nerve(build, "weakness", [1, 1, 1, 1, 1, *[None] * 8, 2])
    (finding,) = fired(reports, "neuro_recheck")
    assert finding.report_ids == (reports[-1].id,)
    assert (finding.evidence["usual_grade"], finding.evidence["grade"]) == (1, 2)
    assert finding.evidence["previous_grades"] == [1, 1, 1]


def test_pain_only_check_ins_between_raised_grades_do_not_break_the_confirmation(build):
    reports = nerve(build, "weakness", [0, 0, 0, 0, 0, 1, None, 1, None, 1], hours=12)
    findings = fired(reports, "neuro_recheck")
    assert [f.severity for f in findings] == ["caution", "caution", "warning"]
    assert findings[-1].report_ids == (reports[5].id, reports[7].id, reports[9].id)


def test_a_new_patients_rise_names_where_their_reports_started(build):
    reports = nerve(build, "weakness", [0, 1, 2])
    (finding,) = fired(reports, "progressive_weakness")
    assert finding.evidence["pattern"] == "rising since the first reports"
    assert (finding.evidence["usual_grade"], finding.evidence["rise"]) == (0, 2)
    assert finding.evidence["previous_grades"] == [0, 1]


def test_a_new_patients_rise_from_a_lower_report_is_named_from_there(build):
    reports = nerve(build, "weakness", [1, 0, 1, 2])
    (finding,) = fired(reports, "progressive_weakness")
    assert finding.evidence["usual_grade"] == 0
    assert "usual grade 0 (their lowest report, rising on each since)" in finding.clinician_message


def test_a_new_patients_agreed_grade_is_named_as_such(build):
    reports = nerve(build, "numbness", [0, 0, 0, 0, 2])
    (finding,) = fired(reports, "significant_numbness")
    assert (finding.evidence["usual_grade"], finding.evidence["rise"]) == (0, 2)
    basis = "few reports yet: 4 reports, all at this grade"
    assert finding.evidence["usual_basis"] == basis
    assert f"usual grade 0 ({basis})" in finding.clinician_message


def test_urgent_nerve_evidence_names_the_usual_grade(build):
    reports = nerve(build, "numbness", [0, 0, 0, 0, 0, 2])
    (finding,) = fired(reports, "significant_numbness")
    assert finding.evidence["usual_grade"] == 0
    assert finding.evidence["rise"] == 2
    assert finding.evidence["previous_grades"] == [0, 0, 0]


@pytest.mark.parametrize(
    ("grades", "severities"),
    [
        ([0, 0, 0, 0, 0, 1], ["caution"]),
        ([0, 0, 0, 0, 0, 1, 0, 1], ["caution", "caution"]),  # wobbles, not sustained
        ([0, 0, 0, 0, 0, 1, 1], ["caution", "caution"]),  # one confirming report: not enough
        ([0, 0, 0, 0, 0, 1, 1, 1], ["caution", "caution", "warning"]),  # two more confirm
        # Two early low readings of a usual grade 1: the baseline is not settled yet, so the
        # run of 1s asks for a re-check but is not confirmed into a warning.
        ([1, 0, 0, 1, 1, 1], ["caution"]),
        ([0, 0, 0, 0, 0, 0], []),
        ([1], []),  # a new patient's mild grade is usual
        ([2], ["caution"]),  # a new patient's moderate grade: re-check
        ([0, 0, 0, 0, 0, 2], []),  # two grades up is for the urgent rules
        # One above the first report is a re-check; the 2, rising since it, is urgent.
        ([0, 1, 2], ["caution"]),
        ([2, 2, 2, 2, 2, 3], ["caution"]),  # the first 2 only: severe is urgent, not a re-check
    ],
)
def test_neuro_recheck_on_a_one_grade_rise_escalating_when_sustained(build, grades, severities):
    reports = nerve(build, "weakness", grades)
    findings = fired(reports, "neuro_recheck")
    assert [f.severity for f in findings] == severities


def test_neuro_recheck_escalation_path_caution_warning_urgent(build):
    grades = [0, 0, 0, 0, 0, 1, 1, 1, 2]
    reports = nerve(build, "numbness", grades, hours=12)
    findings = analyze(reports, CLEARED)
    path = [(f.rule, f.severity) for f in findings if f.severity != "info"]
    assert path == [
        ("neuro_recheck", "caution"),
        ("neuro_recheck", "caution"),
        ("neuro_recheck", "warning"),
        ("significant_numbness", "urgent"),
    ]
    warning = next(f for f in findings if f.severity == "warning")
    assert warning.key == f"neuro_recheck:{reports[7].id}:sustained"
    assert warning.report_ids == (reports[5].id, reports[6].id, reports[7].id)
    assert warning.evidence["confirming_reports"] == 2
    assert "earlier reports as well" in warning.message


def test_neuro_recheck_confirmation_must_span_twelve_hours(build):
    reports = nerve(build, "weakness", [0, 0, 0, 0, 0, 1, 1, 1], hours=5)
    assert [f.severity for f in fired(reports, "neuro_recheck")] == ["caution"] * 3


def test_neuro_recheck_asks_for_a_check_in_within_24_hours(build):
    reports = nerve(build, "numbness", [0, 0, 0, 0, 0, 1])
    (finding,) = fired(reports, "neuro_recheck")
    assert "24 hours" in finding.message and "24 hours" in finding.recommendation
    assert "before the next massage" in finding.clinician_message
    assert finding.evidence["symptom"] == "numbness"


# --- bilateral_symptoms -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("sides", "fires"),
    [
        (["left", "both"], True),
        (["right", "left", "both"], True),
        (["left", None, "both"], True),
        (["both"], False),  # nothing one-sided before
        ([None, "both"], False),
        (["both", "left", "both"], False),
        (["left", "right"], False),
    ],
)
def test_bilateral_symptoms_after_one_sided_reports(build, sides, fires):
    reports = [build.checkin(4, symptoms=Symptoms(side=s)) for s in sides]
    keys = [f.key for f in fired(reports, "bilateral_symptoms")]
    assert keys == ([f"bilateral_symptoms:{reports[-1].id}"] if fires else [])


# --- severe_pain ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "pains", "fires"),
    [
        ("session", (8, None), True),
        ("session", (7, None), False),
        ("session", (5, 8), True),
        ("session", (7, 7), False),
        ("checkin", (8,), True),
        ("checkin", (7,), False),
        ("checkin", (10,), True),
    ],
)
def test_severe_pain_at_eight_in_any_pain_field(build, kind, pains, fires):
    report = build.session(*pains) if kind == "session" else build.checkin(*pains)
    assert bool(fired([report], "severe_pain")) is fires


def test_severe_pain_threshold_is_configurable(build):
    config = AnalyzerConfig.from_mapping({"severe_pain_min": 7})
    assert len(fired([build.checkin(7)], "severe_pain", config=config)) == 1
    assert fired([build.checkin(7)], "severe_pain") == []


# --- deep_pressure_in_flare -------------------------------------------------------------


@pytest.mark.parametrize(
    ("flare", "pressure", "areas", "fires"),
    [
        (True, "firm", ("lower_back",), True),
        (True, "deep", (), True),
        (True, "moderate", ("buttock",), False),
        (True, "light", ("sciatic_nerve_path",), True),
        (True, None, ("sciatic_nerve_path",), True),
        (False, "deep", ("sciatic_nerve_path",), False),
        (False, "firm", (), False),
    ],
)
def test_deep_pressure_in_flare(build, flare, pressure, areas, fires):
    session = build.session(4, 4, acute_flare=flare, pressure=pressure, areas=areas)
    assert bool(fired([session], "deep_pressure_in_flare")) is fires


# --- red_flag_bladder_bowel -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "symptoms", "fires"),
    [
        ("session", Symptoms(bladder_bowel_change=True), True),
        ("checkin", Symptoms(bladder_bowel_change=True), True),
        ("checkin", Symptoms(saddle_numbness=True), True),
        ("session", Symptoms(saddle_numbness=True, bladder_bowel_change=True), True),
        ("checkin", Symptoms(numbness=2, weakness=1, tingling=3), False),
    ],
)
def test_red_flag_bladder_bowel_on_any_report(build, kind, symptoms, fires):
    report = (
        build.session(3, symptoms=symptoms)
        if kind == "session"
        else build.checkin(3, symptoms=symptoms)
    )
    findings = fired([report], "red_flag_bladder_bowel")
    assert [f.key for f in findings] == ([f"red_flag_bladder_bowel:{report.id}"] if fires else [])
    assert all(f.severity == "urgent" for f in findings)


def test_red_flag_fires_once_per_report(build):
    reports = [build.checkin(3, symptoms=Symptoms(saddle_numbness=True)) for _ in range(3)]
    assert len(fired(reports, "red_flag_bladder_bowel")) == 3


# --- not_medically_cleared --------------------------------------------------------------


@pytest.mark.parametrize(
    ("cleared_at", "fires"),
    [
        (None, True),
        (date(2026, 3, 10), True),  # consultation after the session
        (date(2026, 3, 3), False),  # the session's own day counts as cleared
        (date(2025, 12, 1), False),
    ],
)
def test_not_medically_cleared_for_sessions_before_a_consultation(build, cleared_at, fires):
    session = build.session(4, 4, at=build.at(days=1))  # 2026-03-03
    context = PatientContext(medically_cleared_at=cleared_at)
    findings = fired([session], "not_medically_cleared", context=context)
    assert [f.severity for f in findings] == (["info"] if fires else [])


def test_not_medically_cleared_ignores_checkins(build):
    assert fired([build.checkin(4)], "not_medically_cleared", context=PatientContext()) == []


def test_a_sore_check_in_after_a_session_never_carries_the_trend(build):
    reports = build.sessions([3, 3, 3, 3, 3, 3, 7, 7, 7], every_days=4)
    reports.append(build.checkin(0, at=reports[-1].felt_at + timedelta(hours=12)))
    keys = [f.key for f in fired(reports, "worsening_trend")]
    assert keys[-1] == f"worsening_trend:{reports[-2].id}"
    assert f"worsening_trend:{reports[-1].id}" not in keys
