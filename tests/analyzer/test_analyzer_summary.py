"""The patient summary: latest session values and trend, the same from any window that
holds the last reports of each kind."""

import dataclasses

import analyzer
from analyzer import DEFAULT_CONFIG, summarize, summary_basis


def test_summary_has_the_latest_session_and_the_trend(build):
    reports = build.sessions((3, 3, 4, 3, 3, 3, 4, 3, 6, 6, 7, 7))
    reports.append(build.checkin(3, at=build.at(days=4)))
    summary = summarize(reversed(reports))
    assert summary.latest_pain_before == 7
    assert summary.last_session_at == build.at(days=33)
    assert summary.trend == analyzer.trend_label(reports) == "worsening"


def test_summary_without_sessions_has_no_latest_values(build):
    summary = summarize([build.checkin(4, at=build.at(days=d)) for d in range(3)])
    assert summary == analyzer.Summary(trend="stable")


def test_summary_of_a_window_equals_the_summary_of_the_whole_history(build):
    # Many sore check-ins and sessions: only the last history_reports of each kind count,
    # so a write's window (which holds them, and more) gives the stored summary exactly.
    history = []
    for i in range(60):
        history.append(build.session(4 + (i % 3), 5, at=build.at(days=2 * i)))
        history.append(build.checkin(7, at=build.at(days=2 * i, hours=6)))
        history.append(build.checkin(4, at=build.at(days=2 * i + 1.8)))
    sessions = [r for r in history if r.is_session][-DEFAULT_CONFIG.history_reports :]
    checkins = [r for r in history if not r.is_session][-DEFAULT_CONFIG.history_reports :]
    window = sessions + checkins + history[100:130]
    assert summarize(window) == summarize(history)
    assert summarize(history[:-3]).last_session_at != summarize(history).last_session_at


def test_summary_basis_changes_with_the_thresholds():
    changed = dataclasses.replace(DEFAULT_CONFIG, trend_window=12)
    assert summary_basis(changed) != summary_basis(DEFAULT_CONFIG)
    assert summary_basis(DEFAULT_CONFIG).startswith(analyzer.RULESET_VERSION + "/")
