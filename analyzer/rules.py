"""The rules of SPEC section 2, each judging one trigger report against its history.

A rule's history is the window described on AnalyzerConfig, in felt order: the
SPEC's "earlier reports" and "last sessions" are those in that window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, timedelta
from statistics import fmean, median
from typing import Any

from analyzer.baseline import (
    baseline_series,
    early_rise_start,
    grade_baseline,
    grade_basis,
    graded,
    pain_baseline,
)
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
    *,
    key_suffix: str | None = None,
    severity: str | None = None,
) -> Finding:
    """A finding of ``rule`` felt at the trigger; its key names the reports that caused it.

    ``severity`` escalates a rule above its usual one (RULES) when the data confirm it.
    """
    ids = tuple(r.id for r in evidence_reports)
    key_ids = [r.id for r in key_reports] if key_reports else [trigger.id]
    full = {"report_ids": list(ids), **evidence}
    severity = severity or RULES[rule]
    text = render(rule, full, escalated=severity != RULES[rule])
    return Finding(
        rule=rule,
        severity=severity,
        key=":".join([rule, *key_ids, *([key_suffix] if key_suffix else [])]),
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


def _nerve_rise(
    name: str, trigger: Report, history: Sequence[Report], config: AnalyzerConfig
) -> dict[str, Any] | None:
    """Evidence when the grade of ``name`` is severe, >= urgent_rise above the baseline, or
    >= urgent_rise above where a new patient's rising reports started."""
    grade = getattr(trigger.symptoms, name)
    if grade is None:
        return None
    history = graded(history, name)
    baseline = grade_baseline(history, name, config)
    basis = None
    if grade >= config.neuro_severe_grade:
        pattern = "severe"
    elif grade - baseline >= config.neuro_urgent_rise:
        pattern = "rise above the usual grade"
    elif grade >= config.neuro_urgent_rise and (
        # A new patient's own reports rising on each since their lowest (grades below
        # urgent_rise cannot be urgent_rise above it: the common case skips the look).
        (start := early_rise_start(history, name, config)) is not None
        and grade - start >= config.neuro_urgent_rise
    ):
        pattern = "rising since the first reports"
        baseline, basis = start, "their lowest report, rising on each since"
    else:
        return None
    return {
        name: grade,
        "usual_grade": baseline,
        "usual_basis": basis or grade_basis(history, name, config),
        "rise": grade - baseline,
        "previous_grades": _previous_grades(history, name),
        "pattern": pattern,
    }


def _previous_grades(history: Sequence[Report], name: str) -> list[int]:
    """The last three grades of ``name`` reported (``history``: graded)."""
    return [getattr(r.symptoms, name) for r in history[-3:]]


def progressive_weakness(
    trigger: Report, history: Sequence[Report], context: PatientContext, config: AnalyzerConfig
) -> Finding | None:
    evidence = _nerve_rise("weakness", trigger, history, config)
    if evidence is None:
        return None
    return make_finding("progressive_weakness", trigger, [trigger], evidence)


def significant_numbness(
    trigger: Report, history: Sequence[Report], context: PatientContext, config: AnalyzerConfig
) -> Finding | None:
    evidence = _nerve_rise("numbness", trigger, history, config)
    if evidence is None:
        return None
    return make_finding("significant_numbness", trigger, [trigger], evidence)


def neuro_recheck(
    trigger: Report, history: Sequence[Report], context: PatientContext, config: AnalyzerConfig
) -> Finding | None:
    """Numbness or weakness one grade above the patient's usual grade: re-check within 24 h.

    A warning once the ``neuro_confirm_reports`` reports before the trigger, spanning at
    least ``neuro_confirm_span``, were raised too (a one-in-ten wobble rarely repeats
    three times in a row), and the usual grade rests on at least ``baseline_min_reports``
    reports before them (two early low readings must not make a usual grade look raised);
    a further rise is for the urgent rules.
    """
    raised = []
    for name in ("weakness", "numbness"):
        grade = getattr(trigger.symptoms, name)
        if grade is None:
            continue
        reports = graded(history, name)
        baseline = grade_baseline(reports, name, config)
        # One grade up, unless the urgent rules take it (severe, or a new patient's rise).
        if grade - baseline == 1 and _nerve_rise(name, trigger, reports, config) is None:
            run = reports[-config.neuro_confirm_reports :]
            sustained = (
                len(run) == config.neuro_confirm_reports
                and len(reports) >= config.neuro_confirm_reports + config.baseline_min_reports
                and all(getattr(r.symptoms, name) > baseline for r in run)
                and trigger.felt_at - run[0].felt_at >= config.neuro_confirm_span
            )
            rank = (not sustained, name != "weakness")
            raised.append((rank, name, grade, baseline, reports, run if sustained else []))
    if not raised:
        return None
    # A sustained rise first, then weakness before numbness.
    _, name, grade, baseline, reports, run = min(raised, key=lambda r: r[0])
    evidence = {
        "symptom": name,
        "grade": grade,
        "usual_grade": baseline,
        "usual_basis": grade_basis(reports, name, config),
        "previous_grades": _previous_grades(reports, name),
        "sustained": bool(run),
        "confirming_reports": len(run),
        "symptoms_raised": sorted(r[1] for r in raised),
    }
    return make_finding(
        "neuro_recheck",
        trigger,
        [*run, trigger],
        evidence,
        key_suffix="sustained" if run else None,
        severity="warning" if run else None,
    )


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
    sessions: they carry no post-session change to judge. A full window of sessions
    is needed, and their mean change must stand ``repeated_min_excess`` above the
    patient's usual change (floored at no change), so that a patient who seldom feels
    immediate relief is judged against their own sessions, not against everyone's.
    """
    if not worsened_after_session(trigger, config):
        return None
    keep = config.repeated_window_sessions - 1
    completed = [r for r in history if session_change(r) is not None]
    earlier, recent = (completed[:-keep], completed[-keep:]) if keep else (completed, [])
    considered = [*recent, trigger]
    if len(considered) < config.repeated_window_sessions:
        return None  # too few sessions yet to tell a pattern from two unlucky ones
    worsened = [r for r in considered if worsened_after_session(r, config)]
    if len(worsened) < config.repeated_min_count:
        return None
    changes = [session_change(r) for r in considered]
    usual_changes = [session_change(r) for r in earlier[-config.baseline_reports :]]
    # A patient who usually improves is not held to a lower bar than one who does not.
    usual = max(0, median(usual_changes)) if usual_changes else 0
    mean_change = fmean(changes)
    if not at_least(mean_change - usual, config.repeated_min_excess):
        return None
    evidence = {
        "worsened_count": len(worsened),
        "window": config.repeated_window_sessions,
        "sessions_considered": [r.id for r in considered],
        "changes": changes,
        "mean_change": round(mean_change, 2),
        "usual_change": usual,
        "usual_sessions": len(usual_changes),
    }
    return make_finding("repeated_worsening", trigger, worsened, evidence)


def _last_session(history: Sequence[Report]) -> int | None:
    """The position of the latest session in ``history``."""
    return next((i for i in range(len(history) - 1, -1, -1) if history[i].is_session), None)


def persistent_worsening(
    trigger: Report, history: Sequence[Report], context: PatientContext, config: AnalyzerConfig
) -> Finding | None:
    """Pain that has not settled 36 h to 7 days after a session, against the patient's baseline.

    The trigger is a baseline pain (a check-in, or the next session's pain_before) felt in
    that span after the latest session before it. It must reach the baseline of the
    reports up to that session plus max(MCID, noise); a second such report after the same
    session confirms it, unless the trigger alone is far enough above to stand alone.
    """
    pain = trigger.baseline_pain
    position = _last_session(history)
    if pain is None or position is None:
        return None
    session = history[position]
    delay = trigger.felt_at - session.felt_at
    if not config.persistent_min_delay <= delay <= config.persistent_max_delay:
        return None
    baseline = pain_baseline(
        [r.baseline_pain for r in baseline_series(history[: position + 1], config)], config
    )
    if baseline is None:
        return None
    threshold = baseline.threshold(config.persistent_min_points, config.persistent_noise_z)
    alone = baseline.threshold(config.persistent_alone_points, config.persistent_alone_z)
    if not at_least(pain, threshold):
        return None
    confirming = [
        r
        for r in history[position + 1 :]
        if r.baseline_pain is not None
        and r.felt_at - session.felt_at >= config.persistent_min_delay
        and at_least(r.baseline_pain, threshold)
    ]
    if not confirming and not at_least(pain, alone):
        return None
    evidence = {
        "pain": pain,
        "pain_before": session.pain_before,
        "change": pain - session.pain_before,
        "hours_after": delay // timedelta(hours=1),
        "confirmed_by": [r.id for r in confirming[-1:]],
        "stands_alone_at": round(alone, 2),
        **baseline.evidence(threshold),
    }
    reports = [session, *confirming[-1:], trigger]
    return make_finding(
        "persistent_worsening", trigger, reports, evidence, key_reports=[session, trigger]
    )


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
    count = len(result["values"])
    return make_finding("worsening_trend", trigger, window[-count:], {"count": count, **result})


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
    if context.cleared_on(trigger.felt_at):
        return None
    cleared = context.medically_cleared_at
    evidence = {
        "session_date": trigger.felt_at.astimezone(UTC).date().isoformat(),
        "medically_cleared_at": cleared.isoformat() if cleared else None,
    }
    return make_finding("not_medically_cleared", trigger, [trigger], evidence)


ALL_RULES: tuple[Rule, ...] = (
    red_flag_bladder_bowel,
    progressive_weakness,
    significant_numbness,
    bilateral_symptoms,
    neuro_recheck,
    post_session_worsening,
    repeated_worsening,
    persistent_worsening,
    worsening_trend,
    severe_pain,
    deep_pressure_in_flare,
    not_medically_cleared,
)
