"""Pre-session safety screening: symptoms and plan now, open alerts, to a verdict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from analyzer.config import DEFAULT_CONFIG, SEVERITIES, AnalyzerConfig
from analyzer.domain import Finding, PatientContext, Report, Symptoms
from analyzer.engine import graded_positions, history_for, history_window, nerve_window
from analyzer.rules import (
    bilateral_symptoms,
    neuro_recheck,
    progressive_weakness,
    significant_numbness,
)
from analyzer.texts import RULE_TEXTS, screening_text

VERDICTS = ("proceed", "caution", "do_not_proceed")


@dataclass(frozen=True)
class Screening:
    """A verdict from VERDICTS and its (rule, message) reasons, stopping ones first."""

    verdict: str
    reasons: tuple[tuple[str, str], ...]


def screen(
    *,
    symptoms: Symptoms,
    acute_flare: bool,
    planned_pressure: str | None,
    planned_areas: Sequence[str],
    open_alert_rules: Sequence[tuple[str, str]] = (),
    config: AnalyzerConfig = DEFAULT_CONFIG,
    history: Sequence[Report] = (),
    at: datetime | None = None,
    medically_cleared: bool = True,
) -> Screening:
    """Red-flag symptoms or open urgent alerts stop the session; a risky plan, open warnings or
    a nerve re-check not yet done call for caution. ``open_alert_rules`` holds the (rule,
    severity) of open alerts.

    With ``at`` (when the session would start), the symptoms are also judged against the
    patient's ``history`` as a report of them felt then would be (the nerve rules of SPEC
    section 2): a grade two above the patient's usual one, or symptoms on both sides after
    one-sided reports, stop the session as the alert they would raise is urgent; one grade
    above the usual one calls for a re-check first.

    Without a healthcare professional's consultation on file (``medically_cleared``
    False), the guidance's "consult one before starting massage" calls for caution."""
    for _, severity in open_alert_rules:
        if severity not in SEVERITIES:
            raise ValueError(f"unknown severity {severity!r}")
    symptom_stop = _symptom_reasons(symptoms, config)
    stop = symptom_stop + _alert_reasons(open_alert_rules, "urgent")
    caution = _plan_reasons(acute_flare, planned_pressure, planned_areas, config)
    caution += _alert_reasons(open_alert_rules, "warning")
    if not medically_cleared:
        caution.append(("not_medically_cleared", screening_text("not_medically_cleared")))
    if at is not None:
        rising, recheck = _against_history(symptoms, history, at, config)
        stopped = {rule for rule, _ in symptom_stop}  # said already, with the grade
        stop += [reason for reason in rising if reason[0] not in stopped]
        stopping = {rule for rule, _ in stop}
        # A one-grade rise is re-checked, unless that symptom stops the session already.
        raised = [
            f"{name} (grade {getattr(symptoms, name)})"
            for name in (recheck.evidence["symptoms_raised"] if recheck else ())
            if _URGENT_RULES[name] not in stopping
        ]
        if raised:
            caution.append(("neuro_recheck", screening_text("neuro_recheck_now", raised=raised)))
    if ("neuro_recheck", "caution") in open_alert_rules and all(
        rule != "neuro_recheck" for rule, _ in caution
    ):
        caution.append(("neuro_recheck", screening_text("neuro_recheck")))
    verdict = "do_not_proceed" if stop else "caution" if caution else "proceed"
    return Screening(verdict, tuple(dict.fromkeys(stop + caution)))


# The rules that judge nerve symptoms against the patient's own earlier reports, and the
# urgent rule of each symptom neuro_recheck names.
_URGENT_RULES = {"weakness": "progressive_weakness", "numbness": "significant_numbness"}
_STOP_RULES = (progressive_weakness, significant_numbness, bilateral_symptoms)


def _against_history(
    symptoms: Symptoms, history: Sequence[Report], at: datetime, config: AnalyzerConfig
) -> tuple[list[tuple[str, str]], Finding | None]:
    """For a report of `symptoms` felt `at`, after the patient's reports felt before it (the
    analyzer's window of them): the stopping reasons of the urgent nerve rules, and the
    neuro_recheck finding of a one-grade rise (None without one)."""
    planned = Report(id="screening", kind="checkin", felt_at=at, symptoms=symptoms)
    earlier = sorted((r for r in history if r.felt_at < at), key=lambda r: (r.felt_at, r.id))
    ordered = [*earlier, planned]
    window = history_window(ordered, len(earlier), config)
    nerve = nerve_window(ordered, len(earlier), window, graded_positions(ordered), config)
    context = PatientContext()
    stop = [
        (finding.rule, _rise_text(finding))
        for rule in _STOP_RULES
        if (finding := rule(planned, history_for(rule, window, nerve), context, config)) is not None
    ]
    return stop, neuro_recheck(planned, history_for(neuro_recheck, window, nerve), context, config)


def _rise_text(finding) -> str:
    if finding.rule == "bilateral_symptoms":
        return screening_text("bilateral_symptoms", **finding.evidence)
    return screening_text(f"{finding.rule}_rise", **finding.evidence)


def _symptom_reasons(symptoms: Symptoms, config: AnalyzerConfig) -> list[tuple[str, str]]:
    reasons = []
    if symptoms.bladder_bowel_change or symptoms.saddle_numbness:
        reasons.append(("red_flag_bladder_bowel", screening_text("red_flag_bladder_bowel")))
    # A grade not given (None) is not judged.
    if (symptoms.numbness or 0) >= config.neuro_severe_grade:
        text = screening_text("significant_numbness", numbness=symptoms.numbness)
        reasons.append(("significant_numbness", text))
    if (symptoms.weakness or 0) >= config.screening_weakness_grade:
        text = screening_text("progressive_weakness", weakness=symptoms.weakness)
        reasons.append(("progressive_weakness", text))
    return reasons


def _plan_reasons(
    acute_flare: bool, pressure: str | None, areas: Sequence[str], config: AnalyzerConfig
) -> list[tuple[str, str]]:
    on_nerve = set(areas) & set(config.flare_protected_areas)
    if acute_flare and (pressure in config.flare_pressures or on_nerve):
        return [("deep_pressure_in_flare", screening_text("deep_pressure_in_flare"))]
    return []


def _alert_reasons(open_alerts: Sequence[tuple[str, str]], severity: str) -> list[tuple[str, str]]:
    code = f"open_{severity}_alert"
    return [
        (rule, screening_text(code, title=_title(rule)))
        for rule, alert_severity in sorted(set(open_alerts))
        if alert_severity == severity
    ]


def _title(rule: str) -> str:
    return RULE_TEXTS[rule].title if rule in RULE_TEXTS else rule
