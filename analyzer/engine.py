"""Runs every rule over a patient's reports in the order they were felt."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from datetime import datetime

from analyzer.config import DEFAULT_CONFIG, AnalyzerConfig
from analyzer.domain import Finding, PatientContext, Report
from analyzer.rules import (
    ALL_RULES,
    bilateral_symptoms,
    neuro_recheck,
    progressive_weakness,
    significant_numbness,
)

# The rules that judge nerve symptoms against the patient's own earlier reports of them,
# and the symptoms graded: they see the nerve window (nerve_window), so that pain-only
# check-ins (no grade, no side) cannot push those earlier reports out.
NERVE_RULES = (progressive_weakness, significant_numbness, neuro_recheck, bilateral_symptoms)
NERVE_SYMPTOMS = ("weakness", "numbness")


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
    graded = graded_positions(ordered)
    findings = [
        finding
        for index, trigger in enumerate(ordered)
        if focus_from is None or trigger.felt_at >= focus_from
        for finding in _evaluate(trigger, ordered, index, graded, context, config)
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


def graded_positions(ordered: Sequence[Report]) -> dict[str, list[int]]:
    """For each nerve symptom, the positions in ``ordered`` of the reports that graded it."""
    return {
        name: [i for i, r in enumerate(ordered) if getattr(r.symptoms, name) is not None]
        for name in NERVE_SYMPTOMS
    }


def nerve_window(
    ordered: Sequence[Report],
    index: int,
    window: Sequence[Report],
    graded: dict[str, list[int]],
    config: AnalyzerConfig,
) -> Sequence[Report]:
    """The trigger's history ``window``, after the older of the last ``nerve_reports``
    reports before it that graded each nerve symptom (``graded``: graded_positions of
    ``ordered``).

    A run of check-ins giving pain only fills the history window without a grade; the
    nerve rules still see the grades the patient gave before it."""
    start = index - len(window)
    older = set()
    for positions in graded.values():
        end = bisect_left(positions, index)
        older.update(p for p in positions[max(0, end - config.nerve_reports) : end] if p < start)
    return [*(ordered[p] for p in sorted(older)), *window] if older else window


def _evaluate(
    trigger: Report,
    ordered: Sequence[Report],
    index: int,
    graded: dict[str, list[int]],
    context: PatientContext,
    config: AnalyzerConfig,
) -> list[Finding]:
    window = history_window(ordered, index, config)
    nerve = nerve_window(ordered, index, window, graded, config)
    results = (
        rule(trigger, history_for(rule, window, nerve), context, config) for rule in ALL_RULES
    )
    return [finding for finding in results if finding is not None]


def history_for(rule, window: Sequence[Report], nerve: Sequence[Report]) -> Sequence[Report]:
    """The history a rule judges a trigger against: the nerve window for NERVE_RULES."""
    return nerve if rule in NERVE_RULES else window
