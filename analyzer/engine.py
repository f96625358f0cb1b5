"""Runs every rule over a patient's reports in the order they were felt."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from datetime import datetime

from analyzer.config import DEFAULT_CONFIG, AnalyzerConfig
from analyzer.domain import Finding, PatientContext, Report
from analyzer.rules import ALL_RULES


def analyze(
    reports: Iterable[Report],
    context: PatientContext,
    *,
    config: AnalyzerConfig = DEFAULT_CONFIG,
    focus_from: datetime | None = None,
) -> list[Finding]:
    """Findings of every rule, each report taken as a trigger against the reports felt before it.

    Reports are ordered by (felt_at, id) whatever order they arrive in. With
    ``focus_from``, only reports felt at or after it are triggers; earlier ones
    are history. Each trigger sees the history window described on
    ``AnalyzerConfig``. Findings come sorted by (felt_at, rule, key).
    """
    ordered = _in_felt_order(reports)
    if focus_from is not None and focus_from.utcoffset() is None:
        raise ValueError("focus_from must be timezone-aware")
    findings = [
        finding
        for index, trigger in enumerate(ordered)
        if focus_from is None or trigger.felt_at >= focus_from
        for finding in _evaluate(trigger, history_window(ordered, index, config), context, config)
    ]
    return sorted(findings, key=lambda f: (f.felt_at, f.rule, f.key))


def _in_felt_order(reports: Iterable[Report]) -> list[Report]:
    ordered = sorted(reports, key=lambda r: (r.felt_at, r.id))
    ids = [r.id for r in ordered]
    if len(set(ids)) != len(ids):
        raise ValueError("report ids must be unique")
    return ordered


def history_window(
    ordered: Sequence[Report], index: int, config: AnalyzerConfig
) -> Sequence[Report]:
    """The last ``history_reports`` reports before the trigger, plus those within ``lookback``."""
    since = ordered[index].felt_at - config.lookback
    within_lookback = bisect_left(ordered, since, hi=index, key=lambda r: r.felt_at)
    start = min(max(index - config.history_reports, 0), within_lookback)
    return ordered[start:index]


def _evaluate(
    trigger: Report, history: Sequence[Report], context: PatientContext, config: AnalyzerConfig
) -> list[Finding]:
    results = (rule(trigger, history, context, config) for rule in ALL_RULES)
    return [finding for finding in results if finding is not None]
