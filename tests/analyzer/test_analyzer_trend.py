"""trend_label(): the patient's pain trend as the service shows it."""

from __future__ import annotations

import pytest

from analyzer import AnalyzerConfig, trend_label


@pytest.mark.parametrize(
    ("values", "label"),
    [
        ([2, 2, 5, 5, 5], "stable"),  # fewer than 6 reports
        ([], "stable"),
        ([3, 3, 3, 3, 3, 3, 6, 6, 6], "worsening"),
        ([3, 3, 3, 3, 3, 3, 5, 5, 5], "stable"),  # +2 under 5 standard errors
        ([5, 6, 5, 4, 6, 5, 4, 5], "stable"),
        ([7, 7, 7, 7, 7, 7, 4, 4, 4], "improving"),
        ([7, 7, 7, 7, 7, 7, 5, 5, 5], "stable"),
        ([3, 3, 3, 3, 3, 3, 0, 0, 0], "improving"),  # -3 points, -100 %
        ([1, 1, 1, 1, 1, 1, 1, 9, 9, 1], "stable"),  # the latest report is back at the baseline
    ],
)
def test_trend_label(build, values, label):
    assert trend_label(build.sessions(values)) == label


def test_trend_label_ignores_arrival_order(build):
    reports = build.sessions([3, 3, 3, 3, 3, 3, 6, 6, 6])
    assert trend_label(reversed(reports)) == "worsening"


def test_trend_label_uses_the_last_trend_window_reports(build):
    assert trend_label(build.sessions([1] * 6 + [5] * 14)) == "stable"
    assert trend_label(build.sessions([1] * 6 + [5] * 11)) == "worsening"


def test_trend_label_counts_checkins_and_skips_reports_without_pain(build):
    # Two days apart, so every check-in is past the post-session soreness window.
    reports = [
        build.session(2, 2, at=build.at(days=0)),
        build.checkin(2, at=build.at(days=2)),
        build.checkin(None, at=build.at(days=3)),
        build.session(2, at=build.at(days=4)),
        build.checkin(2, at=build.at(days=6)),
        build.session(2, at=build.at(days=8)),
        build.checkin(2, at=build.at(days=10)),
        build.session(5, at=build.at(days=12)),
        build.checkin(5, at=build.at(days=14)),
        build.session(5, at=build.at(days=16)),
    ]
    assert trend_label(reports) == "worsening"


def test_trend_label_follows_the_config(build):
    reports = build.sessions([3, 3, 3, 3, 3, 3, 6, 6, 6])
    assert trend_label(reports) == "worsening"
    assert trend_label(reports, AnalyzerConfig(trend_min_points=3.5)) == "stable"
