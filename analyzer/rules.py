"""The rules of SPEC section 2, each judging one trigger report against its history.

A rule's history is the window described on AnalyzerConfig, in felt order: the
SPEC's "earlier reports" and "last sessions" are those in that window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, timedelta
from typing import Any

from analyzer.config import RULES, AnalyzerConfig
from analyzer.domain import Finding, PatientContext, Report
from analyzer.texts import render
from analyzer.trend import at_least, baseline_window, trend_test

Rule = Callable[[Report, Sequence[Report], PatientContext, AnalyzerConfig], "Finding | None"]


def make_finding(
    rule: str,
    trigger: Report,
    evidence_reports: Sequence[Report],
    evidence: dict[str, Any],
    key_reports: Sequence[Report] | None = None,
) -> Finding:
    """A finding of ``rule`` felt at the trigger; its key names the reports that caused it."""
    ids = tuple(r.id for r in evidence_reports)
    key_ids = [r.id for r in key_reports] if key_reports else [trigger.id]
    full = {"report_ids": list(ids), **evidence}
    text = render(rule, full)
    return Finding(
        rule=rule,
        severity=RULES[rule],
        key=":".join([rule, *key_ids]),
        report_ids=ids,
        felt_at=trigger.felt_at,
        evidence=full,
        title=text.title,
        message=text.message,
        clinician_message=text.clinician_message,
        recommendation=text.recommendation,
    )


def red_flag_bladder_bowel(
    trigger: Report, history: Sequence[Report], context: PatientContext, config: AnalyzerConfig
) -> Finding | None:
    s = trigger.symptoms
    if not (s.bladder_bowel_change or s.saddle_numbness):
        return None
    evidence = {
        "kind": trigger.kind,
        "bladder_bowel_change": s.bladder_bowel_change,
        "saddle_numbness": s.saddle_numbness,
    }
    return make_finding("red_flag_bladder_bowel", trigger, [trigger], evidence)


def progressive_weakness(
    trigger: Report, history: Sequence[Report], context: PatientContext, config: AnalyzerConfig
) -> Finding | None:
    grade = trigger.symptoms.weakness
    previous_max = max((r.symptoms.weakness for r in history), default=None)
    new_grade = grade >= config.weakness_min_grade and (
        previous_max is None or previous_max < grade
    )
    rise = (
        len(history) >= 2 and history[-2].symptoms.weakness < history[-1].symptoms.weakness < grade
    )
    if not (new_grade or rise):
        return None
    evidence = {
        "weakness": grade,
        "previous_max": previous_max,
        "previous_grades": [r.symptoms.weakness for r in history[-2:]],
        "pattern": "rise in two consecutive reports" if rise else "new grade",
    }
    reports = [*history[-2:], trigger] if rise else [trigger]
    return make_finding("progressive_weakness", trigger, reports, evidence)


def significant_numbness(
    trigger: Report, history: Sequence[Report], context: PatientContext, config: AnalyzerConfig
) -> Finding | None:
    grade = trigger.symptoms.numbness
    previous = history[-1].symptoms.numbness if history else None
    severe = grade >= config.numbness_severe_grade
    rising = previous is not None and previous < grade and grade >= config.numbness_rising_grade
    if not (severe or rising):
        return None
    evidence = {
        "numbness": grade,
        "previous_numbness": previous,
        "pattern": "rising from the previous report" if rising else "severe",
    }
    reports = [history[-1], trigger] if rising else [trigger]
    return make_finding("significant_numbness", trigger, reports, evidence)


def bilateral_symptoms(
    trigger: Report, history: Sequence[Report], context: PatientContext, config: AnalyzerConfig
) -> Finding | None:
    if trigger.symptoms.side != "both":
        return None
    sided = [r for r in history if r.symptoms.side is not None]
    if not sided or any(r.symptoms.side == "both" for r in sided):
        return None
    evidence = {"side": "both", "earlier_sides": sorted({r.symptoms.side for r in sided})}
    return make_finding("bilateral_symptoms", trigger, [sided[-1], trigger], evidence)


def session_change(report: Report) -> int | None:
    """pain_after - pain_before of a session that has both, else None."""
    if not report.is_session or report.pain_before is None or report.pain_after is None:
        return None
    return report.pain_after - report.pain_before


def worsened_after_session(report: Report, config: AnalyzerConfig) -> bool:
    """The post_session_worsening condition: a rise of at least the MCID."""
    change = session_change(report)
    if change is None or change < config.post_session_min_points:
        return False
    return report.pain_before == 0 or at_least(
        change, config.post_session_min_fraction * report.pain_before
    )


def post_session_worsening(
    trigger: Report, history: Sequence[Report], context: PatientContext, config: AnalyzerConfig
) -> Finding | None:
    if not worsened_after_session(trigger, config):
        return None
    change = session_change(trigger)
    evidence = {
        "pain_before": trigger.pain_before,
        "pain_after": trigger.pain_after,
        "change": change,
        "percent_of_before": _percent(change, trigger.pain_before),
        "technique": trigger.technique,
        "pressure": trigger.pressure,
    }
    return make_finding("post_session_worsening", trigger, [trigger], evidence)


def _percent(change: int, before: int) -> float | None:
    return round(100 * change / before, 1) if before else None


def repeated_worsening(
    trigger: Report, history: Sequence[Report], context: PatientContext, config: AnalyzerConfig
) -> Finding | None:
    """Keyed on the trigger, which must itself be worsened: the latest qualifying session.

    Sessions without pain_after (not ended yet) are not counted among the last
    sessions: they carry no post-session change to judge.
    """
    if not worsened_after_session(trigger, config):
        return None
    keep = config.repeated_window_sessions - 1
    completed = [r for r in history if session_change(r) is not None]
    considered = [*(completed[-keep:] if keep else []), trigger]
    worsened = [r for r in considered if worsened_after_session(r, config)]
    if len(worsened) < config.repeated_min_count:
        return None
    evidence = {
        "worsened_count": len(worsened),
        "window": config.repeated_window_sessions,
        "sessions_considered": [r.id for r in considered],
        "changes": [session_change(r) for r in considered],
    }
    return make_finding("repeated_worsening", trigger, worsened, evidence)


def persistent_worsening(
    trigger: Report, history: Sequence[Report], context: PatientContext, config: AnalyzerConfig
) -> Finding | None:
    """A check-in compared with the most recent session felt before it."""
    if trigger.kind != "checkin" or trigger.pain is None:
        return None
    session = next((r for r in reversed(history) if r.is_session), None)
    if session is None or session.pain_before is None:
        return None
    delay = trigger.felt_at - session.felt_at
    change = trigger.pain - session.pain_before
    if not config.persistent_min_delay <= delay <= config.persistent_max_delay:
        return None
    if change < config.persistent_min_points:
        return None
    evidence = {
        "pain": trigger.pain,
        "pain_before": session.pain_before,
        "change": change,
        "hours_after": delay // timedelta(hours=1),
    }
    reports = [session, trigger]
    return make_finding("persistent_worsening", trigger, reports, evidence, key_reports=reports)


def worsening_trend(
    trigger: Report, history: Sequence[Report], context: PatientContext, config: AnalyzerConfig
) -> Finding | None:
    if trigger.baseline_pain is None:
        return None
    window = baseline_window([*history, trigger], config)
    if window[-1] is not trigger:
        return None  # a sore check-in right after a session is not a baseline report
    result = trend_test([r.baseline_pain for r in window], +1, config)
    if result is None:
        return None
    return make_finding("worsening_trend", trigger, window, {"count": len(window), **result})


def severe_pain(
    trigger: Report, history: Sequence[Report], context: PatientContext, config: AnalyzerConfig
) -> Finding | None:
    fields = ("pain_before", "pain_after", "pain")
    scores = [(getattr(trigger, f), f) for f in fields if getattr(trigger, f) is not None]
    if not scores:
        return None
    pain, field = max(scores)
    if pain < config.severe_pain_min:
        return None
    evidence = {"pain": pain, "field": field, "kind": trigger.kind}
    return make_finding("severe_pain", trigger, [trigger], evidence)


def deep_pressure_in_flare(
    trigger: Report, history: Sequence[Report], context: PatientContext, config: AnalyzerConfig
) -> Finding | None:
    if not (trigger.is_session and trigger.acute_flare):
        return None
    strong = trigger.pressure in config.flare_pressures
    on_nerve = sorted(set(trigger.areas) & set(config.flare_protected_areas))
    if not (strong or on_nerve):
        return None
    evidence = {
        "acute_flare": True,
        "pressure": trigger.pressure,
        "areas": list(trigger.areas),
        "protected_areas_treated": on_nerve,
    }
    return make_finding("deep_pressure_in_flare", trigger, [trigger], evidence)


def not_medically_cleared(
    trigger: Report, history: Sequence[Report], context: PatientContext, config: AnalyzerConfig
) -> Finding | None:
    """A session felt (UTC date) before the consultation date on file, or with none on file.

    A clearance recorded later does not erase what the earlier sessions were:
    re-analysis keeps their findings (same keys, so no new alert), and sessions
    on or after the clearance date raise nothing.
    """
    if not trigger.is_session:
        return None
    cleared = context.medically_cleared_at
    session_date = trigger.felt_at.astimezone(UTC).date()
    if cleared is not None and session_date >= cleared:
        return None
    evidence = {
        "session_date": session_date.isoformat(),
        "medically_cleared_at": cleared.isoformat() if cleared else None,
    }
    return make_finding("not_medically_cleared", trigger, [trigger], evidence)


ALL_RULES: tuple[Rule, ...] = (
    red_flag_bladder_bowel,
    progressive_weakness,
    significant_numbness,
    bilateral_symptoms,
    post_session_worsening,
    repeated_worsening,
    persistent_worsening,
    worsening_trend,
    severe_pain,
    deep_pressure_in_flare,
    not_medically_cleared,
)
