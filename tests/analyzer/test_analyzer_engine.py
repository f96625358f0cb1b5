"""analyze(): felt order, triggers, focus_from, the history window and stable keys."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from analyzer import AnalyzerConfig, PatientContext, Report, Symptoms, analyze

CLEARED = PatientContext(medically_cleared_at=date(2020, 1, 1))


def mixed_history(build):
    return [
        build.session(3, 6, symptoms=Symptoms(side="left")),
        build.checkin(4),
        build.session(4, 7, pressure="deep", acute_flare=True),
        build.checkin(6, at=build.at(days=4, hours=12)),
        build.session(6, 6, symptoms=Symptoms(side="both", numbness=3)),
        build.checkin(8, symptoms=Symptoms(weakness=2)),
        build.session(7, 9),
    ]


def test_arrival_order_does_not_change_findings(build):
    reports = mixed_history(build)
    assert analyze(reports, PatientContext()) == analyze(reversed(reports), PatientContext())


def test_findings_are_sorted_by_felt_at_rule_and_key(build):
    findings = analyze(mixed_history(build), PatientContext())
    assert findings == sorted(findings, key=lambda f: (f.felt_at, f.rule, f.key))
    assert len({f.key for f in findings}) == len(findings)


def test_rerunning_over_the_same_data_gives_the_same_keys(build):
    reports = mixed_history(build)
    first = [f.key for f in analyze(reports, PatientContext())]
    assert first == [f.key for f in analyze(list(reports), PatientContext())]


def test_a_late_synced_session_is_placed_where_it_was_felt(build):
    checkins = [build.checkin(7, at=build.at(hours=h)) for h in (40, 60)]
    late_session = build.session(2, 2, at=build.at())
    findings = analyze([*checkins, late_session], CLEARED)
    assert [f.key for f in findings] == [f"persistent_worsening:{late_session.id}:{checkins[1].id}"]
    assert analyze(checkins, CLEARED) == []


def test_reports_felt_at_the_same_time_are_ordered_by_id(build):
    same = build.at()
    reports = [
        build.checkin(4, at=same, id="b", symptoms=Symptoms(side="both")),
        build.checkin(4, at=same, id="a", symptoms=Symptoms(side="left")),
    ]
    assert [f.key for f in analyze(reports, CLEARED)] == ["bilateral_symptoms:b"]


def test_focus_from_takes_earlier_reports_as_history_only(build):
    session = build.session(2, 5, at=build.at())  # worsened, before the focus
    first = build.checkin(7, at=build.at(hours=40))
    checkin = build.checkin(7, at=build.at(hours=60))
    findings = analyze([session, first, checkin], CLEARED, focus_from=checkin.felt_at)
    assert [f.key for f in findings] == [f"persistent_worsening:{session.id}:{checkin.id}"]


def test_focus_from_still_evaluates_reports_felt_after_it(build):
    early, late = build.checkin(9, at=build.at()), build.checkin(9, at=build.at(days=2))
    findings = analyze([early, late], CLEARED, focus_from=build.at(days=1))
    assert [f.report_ids for f in findings] == [(late.id,)]


def test_focus_from_includes_a_report_felt_exactly_at_it(build):
    report = build.checkin(9, at=build.at())
    assert len(analyze([report], CLEARED, focus_from=report.felt_at)) == 1


def test_a_bounded_history_gives_the_same_findings_as_the_full_history(build):
    config = AnalyzerConfig()
    values = [3, 4] * 10 + [3, 6, 6, 6, 6]
    reports = [
        build.session(v, v + 2 if i >= 22 else v - 1, at=build.at(days=i * 1.5))
        for i, v in enumerate(values)
    ]
    focus = reports[-3]
    window = [r for r in reports if r.felt_at >= focus.felt_at - config.lookback]
    before = [r for r in reports if r.felt_at < focus.felt_at]
    bounded = set(window) | set(before[-config.history_reports :]) | set(reports[-3:])
    full = [f for f in analyze(reports, CLEARED) if f.felt_at >= focus.felt_at]
    assert {f.rule for f in full} >= {"worsening_trend", "repeated_worsening", "severe_pain"}
    assert len(bounded) < len(reports)
    assert analyze(bounded, CLEARED, focus_from=focus.felt_at) == full


def test_history_older_than_the_window_is_not_consulted(build):
    config = AnalyzerConfig(history_reports=12, baseline_reports=10, trend_window=10)
    old = [build.checkin(3, at=build.at(days=i), symptoms=Symptoms(weakness=2)) for i in range(5)]
    filler = [build.checkin(3, at=build.at(days=10 + i)) for i in range(12)]
    again = build.checkin(3, at=build.at(days=30), symptoms=Symptoms(weakness=2))
    findings = analyze([*old, *filler, again], CLEARED, config=config)
    # The usual grade 2 of the first reports lies beyond the 12-report window: urgent again.
    assert [f.key for f in findings if f.rule == "progressive_weakness"] == [
        f"progressive_weakness:{again.id}"
    ]
    full = AnalyzerConfig(history_reports=20, baseline_reports=18)
    assert [
        f for f in analyze([*old, *filler, again], CLEARED, config=full) if f.severity == "urgent"
    ]


def test_check_ins_giving_pain_only_do_not_push_the_grades_out_of_the_window(build):
    not_graded = Symptoms(numbness=None, tingling=None, weakness=None)
    graded = [
        build.checkin(3, at=build.at(days=i), symptoms=Symptoms(weakness=g))
        for i, g in enumerate([0, 1, 0, 0, 0, 0])
    ]
    pain_only = [build.checkin(3, at=build.at(days=10 + i), symptoms=not_graded) for i in range(40)]
    risen = build.checkin(3, at=build.at(days=60), symptoms=Symptoms(weakness=2))
    findings = analyze([*graded, *pain_only, risen], CLEARED)
    [urgent] = [f for f in findings if f.severity == "urgent"]
    assert (urgent.rule, urgent.report_ids) == ("progressive_weakness", (risen.id,))
    assert (
        urgent.evidence["usual_grade"] == 0 and urgent.evidence["usual_basis"] == "earlier reports"
    )
    assert urgent.evidence["previous_grades"] == [0, 0, 0]
    # What a write of it reads: its window, the last graded reports, and the report itself.
    bounded = [*graded, *pain_only[-20:], risen]
    assert analyze(bounded, CLEARED, focus_from=risen.felt_at) == [
        f for f in findings if f.felt_at >= risen.felt_at
    ]


def test_check_ins_giving_pain_only_do_not_hide_one_sided_reports_from_a_both_sides_one(build):
    not_graded = Symptoms(numbness=None, tingling=None, weakness=None)
    sided = [
        build.checkin(3, at=build.at(days=i), symptoms=Symptoms(side="left")) for i in range(5)
    ]
    pain_only = [build.checkin(3, at=build.at(days=10 + i), symptoms=not_graded) for i in range(25)]
    both = build.checkin(3, at=build.at(days=40), symptoms=Symptoms(side="both"))
    findings = analyze([*sided, *pain_only, both], CLEARED)
    [bilateral] = [f for f in findings if f.rule == "bilateral_symptoms"]
    assert bilateral.report_ids == (sided[-1].id, both.id)


def test_reports_within_the_lookback_stay_history_beyond_the_report_count(build):
    config = AnalyzerConfig(history_reports=12, baseline_reports=10, trend_window=10)
    session = build.session(3, 3, at=build.at())
    checkins = [build.checkin(3, at=build.at(hours=1 + i)) for i in range(14)]
    late = build.checkin(9, at=build.at(days=3))
    findings = analyze([session, *checkins, late], CLEARED, config=config)
    assert [f.rule for f in findings] == ["persistent_worsening", "severe_pain"]


def test_a_config_override_changes_a_threshold(build):
    reports = [build.session(5, 6)]
    config = AnalyzerConfig.from_mapping(
        {"post_session_min_points": 1, "post_session_min_fraction": 0.2}
    )
    assert analyze(reports, CLEARED) == []
    assert [f.rule for f in analyze(reports, CLEARED, config=config)] == ["post_session_worsening"]


def test_naive_focus_from_is_rejected(build):
    with pytest.raises(ValueError, match="timezone"):
        analyze([build.checkin(3)], CLEARED, focus_from=datetime(2026, 1, 1))


def test_duplicate_report_ids_are_rejected(build):
    with pytest.raises(ValueError, match="unique"):
        analyze([build.checkin(3, id="x"), build.checkin(4, id="x")], CLEARED)


def test_no_reports_no_findings():
    assert analyze([], PatientContext()) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "visit"}, "kind"),
        ({"felt_at": datetime(2026, 1, 1)}, "timezone"),
        ({"pain": 11}, "pain"),
        ({"pain_before": -1}, "pain_before"),
        ({"pressure": "crushing"}, "pressure"),
    ],
)
def test_invalid_reports_are_rejected(build, fields, message):
    valid = {"id": "r", "kind": "checkin", "felt_at": build.at(), "pain": 3}
    with pytest.raises(ValueError, match=message):
        Report(**(valid | fields))


@pytest.mark.parametrize(
    ("fields", "message"), [({"numbness": 4}, "numbness"), ({"side": "up"}, "side")]
)
def test_invalid_symptoms_are_rejected(fields, message):
    with pytest.raises(ValueError, match=message):
        Symptoms(**fields)


def test_baseline_pain_is_pain_before_for_sessions_and_pain_for_checkins(build):
    assert build.session(4, 2).baseline_pain == 4
    assert build.checkin(6).baseline_pain == 6


def test_areas_given_as_a_list_become_a_tuple(build):
    assert build.session(4, areas=["hip"]).areas == ("hip",)


def test_findings_evidence_is_json_serialisable(build):
    import json

    findings = analyze(
        mixed_history(build) + build.sessions([1, 1, 1, 1, 1, 1, 1, 1, 9, 9, 9]), PatientContext()
    )
    assert {f.rule for f in findings} >= {
        "worsening_trend",
        "not_medically_cleared",
        "bilateral_symptoms",
    }
    for finding in findings:
        assert json.loads(json.dumps(finding.evidence)) == finding.evidence
        assert finding.evidence["report_ids"] == list(finding.report_ids)


def test_findings_far_apart_do_not_share_a_window(build):
    reports = [build.checkin(9, at=build.at(days=d)) for d in (0, 100)]
    assert len(analyze(reports, CLEARED)) == 2
    assert timedelta(days=100) > AnalyzerConfig().lookback
