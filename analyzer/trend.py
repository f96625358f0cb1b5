"""Trend tests over the baseline pain series, and the patient's trend label."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from statistics import fmean

from analyzer.baseline import baseline_series, pain_baseline
from analyzer.config import DEFAULT_CONFIG, AnalyzerConfig
from analyzer.domain import Report

# Float fractions such as 0.30 * 10 must not miss an exact boundary by rounding.
_EPSILON = 1e-9


def at_least(value: float, threshold: float) -> bool:
    return value >= threshold - _EPSILON


def trend_test(values: Sequence[int], direction: int, config: AnalyzerConfig) -> dict | None:
    """Evidence that ``values`` (the series ending at the trigger) trends in ``direction``.

    The window test must hold at the trigger and at each of the
    ``trend_confirm_reports`` baseline reports before it (each against its own window of
    ``trend_window`` values): a second report confirms the rise before it is a warning.
    """
    confirmations = config.trend_confirm_reports
    results = [
        window_test(values[: len(values) - back][-config.trend_window :], direction, config)
        for back in range(confirmations + 1)
    ]
    if not all(results):
        return None
    return results[0] | {"confirmed_by_previous": confirmations}


def window_test(values: Sequence[int], direction: int, config: AnalyzerConfig) -> dict | None:
    """Evidence that ``values`` (one window ending at a report) trends in ``direction``.

    ``direction`` is +1 for worsening, -1 for improving. For each k from
    ``trend_recent`` on, the last k values are compared with the patient's baseline of
    the earlier ones (analyzer/baseline.py, see ``_shift``) and the k with the widest
    margin is kept; or, when no k clears its threshold but the recent level moved by
    ``trend_min_points``, a one-sided Mann-Kendall test with a Theil-Sen rise of the
    needed size. The last value itself must
    lie beyond the baseline level, so that a report no worse than the baseline never
    carries a worsening trend (and vice versa).
    """
    if len(values) < config.trend_min_reports:
        return None
    min_earlier = config.trend_min_reports - config.trend_recent
    candidates = [
        _shift(values, k, direction, config)
        for k in range(config.trend_recent, len(values) - min_earlier + 1)
    ]
    best = max(candidates, key=lambda c: c["margin"])
    if direction * (values[-1] - best["baseline"]) <= 0:
        return None
    evidence = {"values": list(values), **best}
    if best["margin"] >= -_EPSILON:
        return evidence | {"method": "mean_shift"}
    moved = direction * (best["recent_level"] - best["baseline"])
    if not at_least(moved, config.trend_min_points):
        return None
    mk = _mann_kendall(values, direction, best["needed"], config)
    return evidence | mk if mk else None


def _shift(values: Sequence[int], k: int, direction: int, config: AnalyzerConfig) -> dict:
    """The last ``k`` values against the patient's baseline of the values before them.

    The recent level is their mean with the most extreme value (in ``direction``)
    counted as its neighbour, so that one bad day cannot carry it; it must move by the
    MCID-sized ``trend_min_points``, by ``trend_min_fraction`` of the baseline and by
    ``trend_noise_z`` standard errors of the difference of two means.
    """
    recent, earlier = sorted(values[-k:], key=lambda v: direction * v), values[:-k]
    recent[-1] = recent[-2]
    baseline = pain_baseline(earlier, config)
    recent_level = fmean(recent)
    standard_error = baseline.spread * (1 / k + 1 / baseline.count) ** 0.5
    needed = max(
        config.trend_min_points,
        config.trend_min_fraction * baseline.level,
        config.trend_noise_z * standard_error,
    )
    return {
        "recent_count": k,
        "recent_values": list(values[-k:]),
        "recent_level": round(recent_level, 2),
        "needed": round(needed, 2),
        "margin": round(direction * (recent_level - baseline.level) - needed, 3),
        **baseline.evidence(baseline.level + direction * needed),
    }


def _mann_kendall(
    values: Sequence[int], direction: int, needed: float, config: AnalyzerConfig
) -> dict | None:
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
    if not at_least(direction * rise, max(config.trend_mk_min_rise, needed)):
        return None
    return {
        "method": "mann_kendall",
        "p_value": round(p_value, 5),
        "slope_per_report": round(slope, 3),
        "rise_over_span": round(rise, 3),
    }


def baseline_window(reports: Sequence[Report], config: AnalyzerConfig) -> list[Report]:
    """The last baseline reports (analyzer/baseline.py) a trend test needs, in felt order."""
    return baseline_series(reports, config)[-(config.trend_window + config.trend_confirm_reports) :]


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
