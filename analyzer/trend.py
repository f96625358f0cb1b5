"""Trend tests over the baseline pain series, and the patient's trend label."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import fmean

from analyzer.config import DEFAULT_CONFIG, AnalyzerConfig
from analyzer.domain import Report

# Float fractions such as 0.30 * 10 must not miss an exact boundary by rounding.
_EPSILON = 1e-9


@dataclass(frozen=True)
class Shift:
    """How the last reports of a window compare with the earlier ones."""

    earlier_mean: float
    recent_mean: float

    @property
    def change(self) -> float:
        return self.recent_mean - self.earlier_mean


def at_least(value: float, threshold: float) -> bool:
    return value >= threshold - _EPSILON


def shift(values: Sequence[int], config: AnalyzerConfig) -> Shift:
    """Split the series into the last ``trend_recent`` values and the earlier ones."""
    recent, earlier = values[-config.trend_recent :], values[: -config.trend_recent]
    return Shift(fmean(earlier), fmean(recent))


def trend_test(values: Sequence[int], direction: int, config: AnalyzerConfig) -> dict | None:
    """Evidence that ``values`` (the window ending at the trigger) trends in ``direction``.

    ``direction`` is +1 for worsening, -1 for improving. Besides the SPEC
    conditions, the last value itself must lie beyond the earlier mean in that
    direction, so that a report that is no worse than the earlier baseline never
    carries a worsening trend (and vice versa).
    """
    if len(values) < config.trend_min_reports:
        return None
    s = shift(values, config)
    if direction * (values[-1] - s.earlier_mean) <= 0:
        return None
    evidence = {
        "values": list(values),
        "earlier_mean": round(s.earlier_mean, 3),
        "recent_mean": round(s.recent_mean, 3),
        "change": round(s.change, 3),
    }
    if _means_moved(s, direction, config):
        return evidence | {"method": "means"}
    mk = _mann_kendall(values, direction, config)
    return evidence | mk if mk else None


def _means_moved(s: Shift, direction: int, config: AnalyzerConfig) -> bool:
    moved = direction * s.change
    if not at_least(moved, config.trend_min_points):
        return False
    return s.earlier_mean == 0 or at_least(moved, config.trend_min_fraction * s.earlier_mean)


def _mann_kendall(values: Sequence[int], direction: int, config: AnalyzerConfig) -> dict | None:
    # scipy is imported on first use: most writes never reach 8 reports' worth of test, and
    # a web worker that never runs it stays ~40 MB lighter.
    from scipy.stats import kendalltau, theilslopes

    # A constant series has no ranking to test (scipy answers NaN).
    if len(values) < config.trend_mk_min_reports or len(set(values)) == 1:
        return None
    alternative = "greater" if direction > 0 else "less"
    p_value = float(kendalltau(range(len(values)), values, alternative=alternative).pvalue)
    if not p_value < config.trend_mk_alpha:
        return None
    slope = float(theilslopes(values).slope)
    rise = slope * (len(values) - 1)
    if not at_least(direction * rise, config.trend_mk_min_rise):
        return None
    return {
        "method": "mann_kendall",
        "p_value": round(p_value, 5),
        "slope_per_report": round(slope, 3),
        "rise_over_span": round(rise, 3),
    }


def baseline_window(reports: Sequence[Report], config: AnalyzerConfig) -> list[Report]:
    """The last ``trend_window`` baseline reports, in felt order.

    Baseline pains are each session's pain_before and each check-in's pain, except a
    check-in felt within ``soreness_window`` after a session: ordinary post-massage
    soreness colours it (Cambron 2007), so it is not the patient's baseline.
    """
    baseline: list[Report] = []
    last_session_at = None
    for report in reports:
        if report.baseline_pain is None:
            continue
        if report.is_session:
            last_session_at = report.felt_at
        elif (
            last_session_at is not None
            and report.felt_at - last_session_at < config.soreness_window
        ):
            continue
        baseline.append(report)
    return baseline[-config.trend_window :]


def trend_label(reports: Iterable[Report], config: AnalyzerConfig = DEFAULT_CONFIG) -> str:
    """'worsening', 'improving' or 'stable' from the baseline pain of the last reports.

    'worsening' exactly when a worsening_trend finding would be keyed on the last
    report that carries a baseline pain; 'improving' is its mirror image; fewer
    than ``trend_min_reports`` such reports give 'stable'.
    """
    ordered = sorted(reports, key=lambda r: (r.felt_at, r.id))
    values = [r.baseline_pain for r in baseline_window(ordered, config)]
    if trend_test(values, +1, config):
        return "worsening"
    if trend_test(values, -1, config):
        return "improving"
    return "stable"
