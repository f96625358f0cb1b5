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
        ([(5, 7), (5, 7)], [1]),
        ([(5, 7), (5, 5), (5, 7)], [2]),
        ([(5, 7), (5, 6), (5, 7)], [2]),  # a one-point rise is not a worsening
        ([(5, 7), (5, 5), (5, 5), (5, 7)], []),  # only 1 of the last 3
        ([(5, 7)], []),
        ([(5, 5), (5, 7), (5, 4), (5, 4), (5, 7)], []),
        ([(5, 7), (5, 7), (5, 7)], [1, 2]),
        ([(7, 9), (7, 9)], []),  # 2 points but under 30 %: no worsening to repeat
    ],
)
def test_repeated_worsening_needs_two_of_the_last_three_sessions(build, pairs, fires_on):
    sessions = [build.session(b, a) for b, a in pairs]
    findings = fired(sessions, "repeated_worsening")
    assert [f.key for f in findings] == [f"repeated_worsening:{sessions[i].id}" for i in fires_on]


def test_repeated_worsening_names_the_worsened_sessions_as_evidence(build):
    first, _, last = sessions = [build.session(5, 7), build.session(5, 5), build.session(4, 6)]
    (finding,) = fired(sessions, "repeated_worsening")
    assert finding.severity == "warning"
    assert finding.report_ids == (first.id, last.id)
    assert finding.evidence["changes"] == [2, 0, 2]
    assert finding.evidence["worsened_count"] == 2


def test_repeated_worsening_skips_sessions_without_pain_after(build):
    sessions = [
        build.session(5, 7),
        build.session(5, None),
        build.session(5, 5),
        build.session(5, 7),
    ]
    (finding,) = fired(sessions, "repeated_worsening")
    assert finding.evidence["sessions_considered"] == [
        sessions[0].id,
        sessions[2].id,
        sessions[3].id,
    ]


def test_repeated_worsening_is_not_interrupted_by_checkins(build):
    reports = [build.session(5, 7), build.checkin(5), build.checkin(4), build.session(5, 7)]
    assert len(fired(reports, "repeated_worsening")) == 1


# --- persistent_worsening ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("delay", "fires"),
    [
        (timedelta(hours=12), False),
        (timedelta(hours=35), False),
        (timedelta(hours=36), True),
        (timedelta(hours=37), True),
        (timedelta(days=7), True),
        (timedelta(days=7, hours=1), False),
    ],
)
def test_persistent_worsening_only_after_the_36_hour_soreness_window(build, delay, fires):
    session = build.session(4, 3, at=build.t0)
    checkin = build.checkin(6, at=build.t0 + delay)
    assert bool(fired([session, checkin], "persistent_worsening")) is fires


@pytest.mark.parametrize(("pain", "fires"), [(5, False), (6, True), (9, True), (4, False)])
def test_persistent_worsening_needs_two_points_above_the_session_baseline(build, pain, fires):
    reports = [build.session(4, 4, at=build.at()), build.checkin(pain, at=build.at(hours=48))]
    assert bool(fired(reports, "persistent_worsening")) is fires


def test_persistent_worsening_keys_on_session_and_checkin(build):
    session = build.session(4, 4, at=build.at(), id="s")
    checkin = build.checkin(7, at=build.at(hours=50), id="c")
    (finding,) = fired([session, checkin], "persistent_worsening")
    assert finding.key == "persistent_worsening:s:c"
    assert finding.report_ids == ("s", "c")
    assert finding.felt_at == checkin.felt_at
    assert finding.evidence == {
        "report_ids": ["s", "c"],
        "pain": 7,
        "pain_before": 4,
        "change": 3,
        "hours_after": 50,
    }


def test_persistent_worsening_compares_with_the_most_recent_session_only(build):
    reports = [
        build.session(4, 4, at=build.at()),
        build.session(6, 6, at=build.at(hours=48)),
        build.checkin(6, at=build.at(hours=72)),  # 24 h after the latest session
    ]
    assert fired(reports, "persistent_worsening") == []


def test_persistent_worsening_without_an_earlier_session_raises_nothing(build):
    assert fired([build.checkin(9)], "persistent_worsening") == []


# --- worsening_trend --------------------------------------------------------------------


def trend_keys(build, values):
    reports = build.sessions(values)
    return [f.key for f in fired(reports, "worsening_trend")], reports


@pytest.mark.parametrize(
    ("values", "fires"),
    [
        ([2, 2, 5, 5, 5], False),  # 5 reports: too few
        ([2, 2, 2, 5, 5, 5], True),  # 6 reports
        ([4, 4, 4, 5, 6, 6, 6], True),  # +1.75 exactly, 41 %
        ([4, 4, 4, 5, 6, 6, 5], False),  # +1.42
        ([7, 7, 7, 9, 9, 9], False),  # +2 points but 28.6 %
        ([6, 7, 7, 9, 9, 8], True),  # +2 points, 30 % exactly
        ([0, 0, 0, 2, 2, 2], True),  # from zero only the points apply
        ([0, 0, 0, 1, 2, 2], False),
        ([5, 6, 5, 4, 6, 5, 4, 5], False),  # SPEC: flat noisy series
        ([8, 7, 7, 6, 5, 5, 4, 3], False),  # improving
    ],
)
def test_worsening_trend_mean_of_last_three_against_the_earlier_mean(build, values, fires):
    keys, reports = trend_keys(build, values)
    assert (f"worsening_trend:{reports[-1].id}" in keys) is fires


@pytest.mark.parametrize(
    ("values", "fires"), [([3, 3, 4, 4, 5, 5, 5], False), ([3, 3, 4, 4, 5, 5, 5, 6], True)]
)
def test_worsening_trend_mann_kendall_needs_eight_reports(build, values, fires):
    keys, reports = trend_keys(build, values)
    assert keys == ([f"worsening_trend:{reports[-1].id}"] if fires else [])


def test_worsening_trend_mann_kendall_evidence(build):
    reports = build.sessions([3, 3, 4, 4, 5, 5, 5, 6])
    (finding,) = fired(reports, "worsening_trend")
    assert finding.evidence["method"] == "mann_kendall"
    assert finding.evidence["p_value"] < 0.05
    assert finding.evidence["rise_over_span"] >= 2
    assert finding.report_ids == tuple(r.id for r in reports)


def test_worsening_trend_mann_kendall_significant_but_under_two_points_raises_nothing(build):
    from scipy.stats import kendalltau, theilslopes

    values = [4, 4, 4, 4, 4, 5, 5, 5, 5, 5]
    assert kendalltau(range(10), values, alternative="greater").pvalue < 0.05
    assert theilslopes(values).slope * 9 < 2
    assert fired(build.sessions(values), "worsening_trend") == []


def test_worsening_trend_looks_at_the_last_ten_reports_only(build):
    # The rise from 1 to 4 happened more than 10 reports ago: the recent level is flat.
    keys, reports = trend_keys(build, [1, 1, 1, 1, 1, 1] + [4] * 12)
    assert f"worsening_trend:{reports[-1].id}" not in keys


def test_worsening_trend_uses_checkin_pain_and_session_pain_before(build):
    # Check-ins two days after each session: past the soreness window, so baseline.
    reports = []
    for day, (before, after, checkin) in enumerate([(2, 9, 2), (2, 9, 5), (5, 1, 5)]):
        reports.append(build.session(before, after, at=build.at(days=4 * day)))
        reports.append(build.checkin(checkin, at=build.at(days=4 * day + 2)))
    keys = [f.key for f in fired(reports, "worsening_trend")]
    assert keys == [f"worsening_trend:{reports[-1].id}"]


@pytest.mark.parametrize(("hours", "counts"), [(35, False), (36, True)])
def test_check_ins_inside_the_soreness_window_are_not_baseline(build, hours, counts):
    # Six flat sessions, then three sore check-ins: only those at >= 36 h are baseline.
    reports = build.sessions([3] * 6, every_days=4)
    last = reports[-1].felt_at
    reports += [build.checkin(8, at=last + timedelta(hours=hours, minutes=m)) for m in (0, 1, 2)]
    keys = [f.key for f in fired(reports, "worsening_trend")]
    assert (f"worsening_trend:{reports[-1].id}" in keys) is counts


def test_worsening_trend_is_not_keyed_on_a_report_no_worse_than_the_earlier_mean(build):
    keys, reports = trend_keys(build, [1, 1, 1, 1, 1, 1, 1, 9, 9, 1])
    assert keys == [f"worsening_trend:{reports[-3].id}", f"worsening_trend:{reports[-2].id}"]


# --- progressive_weakness ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("grades", "fires_on"),
    [
        ([0, 2], [1]),  # new grade 2
        ([0, 1], []),
        ([2], [0]),  # grade 2 on the first report is new
        ([1], []),
        ([2, 2], [0]),
        ([1, 1, 2], [2]),
        ([0, 1, 2], [2]),
        ([3, 1, 2, 3], [0, 3]),  # a rise over two consecutive reports
        ([3, 2, 3], [0]),
        ([2, 1, 2], [0]),
        ([0, 0, 3], [2]),
    ],
)
def test_progressive_weakness_on_a_new_grade_or_two_consecutive_rises(build, grades, fires_on):
    reports = [build.checkin(3, symptoms=Symptoms(weakness=g)) for g in grades]
    keys = [f.key for f in fired(reports, "progressive_weakness")]
    assert keys == [f"progressive_weakness:{reports[i].id}" for i in fires_on]


def test_progressive_weakness_threshold_is_configurable(build):
    reports = [build.checkin(3, symptoms=Symptoms(weakness=g)) for g in (0, 1)]
    config = AnalyzerConfig(weakness_min_grade=1)
    assert len(fired(reports, "progressive_weakness", config=config)) == 1


# --- significant_numbness ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("grades", "fires_on"),
    [
        ([3], [0]),
        ([2], []),  # nothing to rise from
        ([1, 2], [1]),
        ([0, 2], [1]),
        ([0, 1], []),
        ([2, 2], []),
        ([2, 1, 2], [2]),
        ([3, 3], [0, 1]),
        ([2, 3], [1]),
    ],
)
def test_significant_numbness_severe_or_rising_to_two(build, grades, fires_on):
    reports = [build.session(3, 3, symptoms=Symptoms(numbness=g)) for g in grades]
    keys = [f.key for f in fired(reports, "significant_numbness")]
    assert keys == [f"significant_numbness:{reports[i].id}" for i in fires_on]


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
    reports = build.sessions([2, 2, 2, 5, 5, 5], every_days=4)
    reports.append(build.checkin(0, at=reports[-1].felt_at + timedelta(hours=12)))
    keys = [f.key for f in fired(reports, "worsening_trend")]
    assert keys == [f"worsening_trend:{reports[-2].id}"]
