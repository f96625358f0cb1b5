"""Rule codes, severities and the thresholds of the ruleset, held in one frozen config."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Any

# Every finding's consumer stores this next to the alert, so a changed rule or
# default threshold must bump it.
RULESET_VERSION = "2026.12-2"

SEVERITIES = ("info", "caution", "warning", "urgent")

RULES: Mapping[str, str] = MappingProxyType(
    {
        "red_flag_bladder_bowel": "urgent",
        "progressive_weakness": "urgent",
        "significant_numbness": "urgent",
        "bilateral_symptoms": "urgent",
        "neuro_recheck": "caution",
        "post_session_worsening": "caution",
        "repeated_worsening": "warning",
        "persistent_worsening": "warning",
        "worsening_trend": "warning",
        "severe_pain": "caution",
        "deep_pressure_in_flare": "caution",
        "not_medically_cleared": "info",
    }
)


@dataclass(frozen=True)
class AnalyzerConfig:
    """Thresholds of every rule (SPEC section 2 defaults).

    History window: a trigger is evaluated against the reports felt before it,
    limited to the last ``history_reports`` of them plus every one felt within
    ``lookback`` before it; the nerve rules also see the last ``nerve_reports``
    reports before it that graded each nerve symptom (weakness, numbness), so that
    check-ins giving pain only cannot push a patient's grades out. ``analyze``
    applies this window itself, so a caller that passes, for a written report felt
    at ``t``, the last ``history_reports`` reports before ``t``, the last
    ``nerve_reports`` before ``t`` that graded each nerve symptom, every report felt
    in ``[t - lookback, t)``, and every report felt at or after ``t`` (with
    ``focus_from=t``) gets exactly the findings a full-history run gives for those
    triggers.

    Pain is on the 0-10 numeric rating scale; grades are 0-3; fractions are
    relative to the earlier value (0.30 = 30 %).
    """

    history_reports: int = 20
    lookback: timedelta = timedelta(days=7)

    # The personal baseline (analyzer/baseline.py): winsorised mean and spread of the last
    # baseline_reports baseline pains; the spread never falls below spread_floor, nor below
    # new_patient_spread while fewer than baseline_min_reports are known.
    baseline_reports: int = 10
    baseline_min_reports: int = 5
    spread_floor: float = 1.0
    new_patient_spread: float = 1.25

    # post_session_worsening: pain_after - pain_before, the MCID (Farrar 2001; Ostelo 2008).
    post_session_min_points: int = 2
    post_session_min_fraction: float = 0.30

    # repeated_worsening: post_session_worsening in >= min_count of the last window sessions,
    # and their mean change at least repeated_min_excess above the patient's usual change
    # (the median change of up to baseline_reports earlier sessions, floored at 0).
    repeated_min_count: int = 2
    repeated_window_sessions: int = 3
    repeated_min_excess: float = 2.0

    # persistent_worsening: reports felt persistent_min_delay to persistent_max_delay after a
    # session, above the baseline before it by max(min_points, noise_z x spread), confirmed by
    # a second such report unless above max(alone_points, alone_z x spread) (Cambron 2007).
    persistent_min_delay: timedelta = timedelta(hours=36)
    persistent_max_delay: timedelta = timedelta(days=7)
    persistent_min_points: float = 2.0
    persistent_noise_z: float = 2.5
    persistent_alone_points: float = 6.0
    persistent_alone_z: float = 3.5

    # worsening_trend over the baseline pain series; check-ins felt within soreness_window
    # after a session are left out of it (post-massage soreness, Cambron 2007). For some k
    # from trend_recent on, the last k reports (their highest counted as the next highest)
    # must exceed the personal baseline of the earlier ones by trend_min_points, by
    # trend_min_fraction of it and by trend_noise_z standard errors; or they must climb
    # steadily after a flat stretch (a broken-stick fit, robust to one bad day) by that
    # much, with a slope of trend_slope_z standard errors. trend_confirm_reports more
    # reports must agree before it fires.
    soreness_window: timedelta = timedelta(hours=36)
    trend_window: int = 14
    trend_min_reports: int = 6
    trend_recent: int = 3
    trend_min_points: float = 2.0
    trend_min_fraction: float = 0.30
    trend_noise_z: float = 5.0
    trend_confirm_reports: int = 0
    trend_slope_z: float = 2.9

    # Neurological grades (0-3), against the patient's own typical grade (grade_baseline):
    # severe_grade or a rise of urgent_rise grades is urgent; a one-grade rise is
    # neuro_recheck (caution), a warning once neuro_confirm_reports more reports over at
    # least neuro_confirm_span confirm it (after baseline_min_reports earlier reports). A
    # patient with no earlier report counts as new_patient_grade, and so does one with
    # fewer than neuro_min_reports whose reports disagree (one that agree give their grade).
    neuro_severe_grade: int = 3
    neuro_urgent_rise: int = 2
    neuro_confirm_reports: int = 2
    neuro_confirm_span: timedelta = timedelta(hours=12)
    neuro_min_reports: int = 3
    new_patient_grade: int = 1
    # Pre-session screening stops a session at this weakness grade reported now.
    screening_weakness_grade: int = 2

    severe_pain_min: int = 8

    # deep_pressure_in_flare
    flare_pressures: tuple[str, ...] = ("firm", "deep")
    flare_protected_areas: tuple[str, ...] = ("sciatic_nerve_path",)

    @property
    def nerve_reports(self) -> int:
        """The graded reports a nerve rule looks back on: those its usual grade rests on
        and those that confirm a rise (analyzer.baseline.grade_baseline)."""
        return self.baseline_reports + self.neuro_confirm_reports

    def __post_init__(self) -> None:
        for problem in _problems(self):
            raise ValueError(problem)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> AnalyzerConfig:
        """Build a config from plain values (durations in seconds), the rest defaults.

        Raises ValueError on an unknown key or a value of the wrong type.
        """
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(f"unknown analyzer settings: {', '.join(unknown)}")
        return cls(
            **{name: _coerce(name, fields[name].type, value) for name, value in values.items()}
        )


def _coerce(name: str, kind: str, value: Any) -> Any:
    coerced = _COERCERS[kind.split("[")[0]](value)
    if coerced is None:
        raise ValueError(f"analyzer setting {name}: invalid value {value!r}")
    return coerced


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_timedelta(value: Any) -> timedelta | None:
    if isinstance(value, timedelta):
        return value
    return timedelta(seconds=value) if _is_number(value) else None


def _as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _as_float(value: Any) -> float | None:
    return float(value) if _is_number(value) else None


def _as_names(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


_COERCERS = {"timedelta": _as_timedelta, "int": _as_int, "float": _as_float, "tuple": _as_names}


def _problems(c: AnalyzerConfig) -> list[str]:
    checks = [
        (
            c.history_reports >= c.trend_window + c.trend_confirm_reports - 1,
            "history_reports must cover trend_window + trend_confirm_reports - 1 reports",
        ),
        (
            c.history_reports >= c.baseline_reports + c.neuro_confirm_reports,
            "history_reports must cover baseline_reports + neuro_confirm_reports",
        ),
        (c.baseline_reports >= 1, "baseline_reports must be at least 1"),
        (c.neuro_confirm_reports >= 1, "neuro_confirm_reports must be at least 1"),
        (
            0 <= c.new_patient_grade < c.neuro_severe_grade <= 3,
            "neuro grades out of order",
        ),
        (c.neuro_urgent_rise >= 2, "neuro_urgent_rise must be at least 2"),
        (
            min(c.spread_floor, c.new_patient_spread) > 0,
            "spreads must be positive",
        ),
        (
            min(c.trend_noise_z, c.persistent_noise_z, c.persistent_alone_z) >= 0,
            "noise multipliers must not be negative",
        ),
        (
            c.persistent_alone_points >= c.persistent_min_points,
            "persistent_alone_points must be at least persistent_min_points",
        ),
        (c.lookback >= c.persistent_max_delay, "lookback must cover persistent_max_delay"),
        (c.lookback >= c.soreness_window, "lookback must cover soreness_window"),
        (
            timedelta(0) <= c.persistent_min_delay <= c.persistent_max_delay,
            "persistent delays out of order",
        ),
        (
            1 <= c.trend_recent < c.trend_min_reports <= c.trend_window,
            "trend window sizes out of order",
        ),
        (c.trend_slope_z > 0, "trend_slope_z must be positive"),
        (
            1 <= c.repeated_min_count <= c.repeated_window_sessions,
            "repeated_min_count out of range",
        ),
        (
            c.post_session_min_fraction >= 0 and c.trend_min_fraction >= 0,
            "fractions must not be negative",
        ),
    ]
    return [message for ok, message in checks if not ok]


DEFAULT_CONFIG = AnalyzerConfig()
