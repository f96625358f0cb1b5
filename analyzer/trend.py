"""Trend tests over the baseline pain series, and the patient's trend label."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from copy import deepcopy
from functools import lru_cache
from statistics import fmean
from typing import NamedTuple

from analyzer.baseline import Baseline, baseline_series, pain_baseline
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
        _window_test_once(
            tuple(values[: len(values) - back][-config.trend_window :]), direction, config
        )
        for back in range(confirmations + 1)
    ]
    if not all(results):
        return None
    # A copy: the cached evidence must not change under a caller's hands.
    return deepcopy(results[0]) | {"confirmed_by_previous": confirmations}


@lru_cache(maxsize=256)
def _window_test_once(values: tuple[int, ...], direction: int, config: AnalyzerConfig):
    """window_test, computed once for the same series: a write judges the trend of its
    report and then labels the patient's trend from the same values (a pure function)."""
    return window_test(values, direction, config)


def window_test(values: Sequence[int], direction: int, config: AnalyzerConfig) -> dict | None:
    """Evidence that ``values`` (one window ending at a report) trends in ``direction``.

    ``direction`` is +1 for worsening, -1 for improving. For each k from
    ``trend_recent`` on, the last k values are compared with the patient's baseline of
    the earlier ones (analyzer/baseline.py): first as a shift of their mean (``_shift``),
    then, when no k clears that, as a steady climb (``_slope``); the k with the widest
    margin is kept. The last value itself must lie beyond the baseline level, so that a
    report no worse than the baseline never carries a worsening trend (and vice versa).
    """
    if len(values) < config.trend_min_reports:
        return None
    lengths = range(
        config.trend_recent, len(values) - config.trend_min_reports + config.trend_recent + 1
    )
    # The baseline of the reports before the last k, shared by both tests.
    baselines = {k: pain_baseline(values[:-k], config) for k in lengths}
    for method, test in (("mean_shift", _shift), ("slope", _slope)):
        best = max(
            (test(values, k, baselines[k], direction, config) for k in lengths),
            key=lambda c: c["margin"],
        )
        if best["margin"] >= -_EPSILON and direction * (values[-1] - best["baseline"]) > 0:
            return {"values": list(values), **best, "method": method}
    return None


def _shift(
    values: Sequence[int], k: int, baseline: Baseline, direction: int, config: AnalyzerConfig
) -> dict:
    """The last ``k`` values against ``baseline``, that of the values before them.

    The recent level is their mean with the most extreme value (in ``direction``)
    counted as its neighbour, so that one bad day cannot carry it; it must move by the
    MCID-sized ``trend_min_points``, by ``trend_min_fraction`` of the baseline and by
    ``trend_noise_z`` standard errors of the difference of two means.
    """
    recent = sorted(values[-k:], key=lambda v: direction * v)
    recent[-1] = recent[-2]
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


def _slope(
    values: Sequence[int], k: int, baseline: Baseline, direction: int, config: AnalyzerConfig
) -> dict:
    """A steady climb over the last ``k`` values after a flat stretch (a broken-stick fit).

    The series is fitted as level + slope x max(0, position - start of the climb); the
    climb over the last k reports must reach the MCID-sized ``trend_min_points`` and
    ``trend_min_fraction`` of the baseline, and the slope ``trend_slope_z`` standard
    errors, with the larger of the patient's spread and the fit's own residual spread.
    The fit is repeated without the recent report that lies furthest above it and the
    weaker of the two counts, so that one bad day cannot carry the climb.
    """
    start = len(values) - k
    steps = [max(0, i - start + 1) for i in range(len(values))]
    full = _broken_stick(values, steps, baseline.spread)
    worst = max(range(start, len(values)), key=lambda i: direction * full.residuals[i])
    kept = [i for i in range(len(values)) if i != worst]
    dropped = _broken_stick([values[i] for i in kept], [steps[i] for i in kept], baseline.spread)
    fit = min(full, dropped, key=lambda f: direction * f.slope / f.standard_error)
    rise = direction * fit.slope * k
    z_score = direction * fit.slope / fit.standard_error
    needed = max(config.trend_min_points, config.trend_min_fraction * baseline.level)
    margin = min(rise - needed, (z_score - config.trend_slope_z) * fit.standard_error * k)
    return {
        "recent_count": k,
        "recent_values": list(values[-k:]),
        "recent_level": round(baseline.level + direction * rise, 2),
        "slope_per_report": round(fit.slope, 3),
        "rise": round(rise, 2),
        "z_score": round(z_score, 2),
        "needed": round(needed, 2),
        "margin": round(margin, 3),
        **baseline.evidence(baseline.level + direction * needed),
    }


class _Fit(NamedTuple):
    slope: float
    standard_error: float
    residuals: list[float]


def _broken_stick(values: Sequence[int], steps: Sequence[int], spread: float) -> _Fit:
    """Least squares of ``values`` on ``steps``; the error uses at least ``spread``."""
    mean_step, mean_value = fmean(steps), fmean(values)
    sxx = sum((s - mean_step) ** 2 for s in steps)
    slope = (
        sum((s - mean_step) * (v - mean_value) for s, v in zip(steps, values, strict=True)) / sxx
    )
    residuals = [
        v - mean_value - slope * (s - mean_step) for s, v in zip(steps, values, strict=True)
    ]
    residual_spread = (sum(r * r for r in residuals) / (len(values) - 2)) ** 0.5
    return _Fit(slope, max(spread, residual_spread) / sxx**0.5, residuals)


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
