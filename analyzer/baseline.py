"""A patient's own baseline: the robust level and spread of their recent reports.

Pain rules ask whether a report lies beyond the minimal clinically important
difference **and** beyond this patient's own day-to-day noise (the reliable-change
idea, Jacobson & Truax 1991), rather than comparing one noisy value with another.
Level and spread are the mean and standard deviation of the recent reports winsorised
at both ends, so that one bad day moves neither; a floor keeps the spread honest for
new patients.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from statistics import fmean, median_low

from analyzer.config import AnalyzerConfig
from analyzer.domain import Report


@dataclass(frozen=True)
class Baseline:
    """The robust level and spread of a patient's baseline pain over ``count`` reports."""

    level: float
    spread: float
    count: int

    def threshold(self, min_points: float, noise_z: float) -> float:
        """The pain a report must reach to lie beyond both the MCID and the patient's noise."""
        return self.level + max(min_points, noise_z * self.spread)

    def evidence(self, threshold: float) -> dict:
        return {
            "baseline": round(self.level, 2),
            "spread": round(self.spread, 2),
            "baseline_reports": self.count,
            "threshold": round(threshold, 2),
        }


def pain_baseline(values: Sequence[int], config: AnalyzerConfig) -> Baseline | None:
    """Level and spread of ``values`` (the most recent ``baseline_reports`` of them)."""
    values = sorted(list(values)[-config.baseline_reports :])
    if not values:
        return None
    settled = len(values) >= config.baseline_min_reports
    if settled:
        # Winsorise: the highest and lowest report count as their neighbours, so that one
        # bad day (or one unusually good one) moves neither the level nor the spread.
        values = [values[1], *values[1:-1], values[-2]]
    level = fmean(values)
    # The sample standard deviation in floats (statistics.stdev computes it exactly, in
    # fractions, at many times the cost on every write).
    squares = sum((v - level) ** 2 for v in values)
    spread = (squares / (len(values) - 1)) ** 0.5 if len(values) > 1 else 0.0
    floor = config.spread_floor if settled else config.new_patient_spread
    return Baseline(level=level, spread=max(floor, spread), count=len(values))


def baseline_series(reports: Iterable[Report], config: AnalyzerConfig) -> list[Report]:
    """The reports that carry the patient's baseline pain, in felt order.

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
        elif in_soreness_window(report, last_session_at, config):
            continue
        baseline.append(report)
    return baseline


def in_soreness_window(report: Report, session_at, config: AnalyzerConfig) -> bool:
    return session_at is not None and report.felt_at - session_at < config.soreness_window


def graded(reports: Iterable[Report], name: str) -> list[Report]:
    """The reports that graded the nerve symptom ``name``: a check-in that gave pain only
    says nothing of it, so it neither lowers the usual grade nor breaks a run of raised ones.
    The grade functions below take a history of these."""
    return [r for r in reports if getattr(r.symptoms, name) is not None]


def grade_baseline(history: Sequence[Report], name: str, config: AnalyzerConfig) -> int:
    """The patient's typical grade of a nerve symptom before the last few reports that
    graded it (``history``: graded).

    The low median of the ``baseline_reports`` reports before the last
    ``neuro_confirm_reports`` (so that a short run of raised grades, the very thing
    being judged, does not raise its own baseline); with fewer reports, all of them.
    While it rests on fewer than ``neuro_min_reports`` reports, it is at least
    ``new_patient_grade`` unless every report so far agrees: of a mild grade read 1, 0, 1,
    the 0 must not make the patient's usual grade look lower than it is. Reports that all
    agree are the usual grade as SPEC defines it (the typical grade of the earlier
    reports), however few.
    """
    pool = _grade_pool(history, config)
    grade = median_low(getattr(r.symptoms, name) for r in pool) if pool else 0
    if len(pool) < config.neuro_min_reports and not _agreed(history, name):
        # Too few reports, and they disagree: a mild grade counts as usual.
        grade = max(grade, config.new_patient_grade)
    return grade


def grade_basis(history: Sequence[Report], name: str, config: AnalyzerConfig) -> str:
    """What the usual grade of grade_baseline rests on, as a clinician reads it."""
    if len(_grade_pool(history, config)) >= config.neuro_min_reports:
        return "earlier reports"
    if _agreed(history, name):
        count = "1 report" if len(history) == 1 else f"{len(history)} reports, all at this grade"
        return f"few reports yet: {count}"
    return f"few reports yet: at least grade {config.new_patient_grade} counts as usual"


def _agreed(history: Sequence[Report], name: str) -> bool:
    """The reports so far (at least one) all give the same grade of ``name``."""
    return len({getattr(r.symptoms, name) for r in history}) == 1


def _grade_pool(history: Sequence[Report], config: AnalyzerConfig) -> Sequence[Report]:
    recent = history[-config.nerve_reports :]
    return recent[: -config.neuro_confirm_reports] or recent


def early_rise_start(history: Sequence[Report], name: str, config: AnalyzerConfig) -> int | None:
    """While a new patient's usual grade still rests on fewer than ``neuro_min_reports``
    reports: their lowest grade, when every report since the last one at it has been higher
    than the report before (0, then 1): a rise under way in their own reports, which
    counting a mild grade as usual must not hide. None otherwise."""
    if len(history) < 2 or len(_grade_pool(history, config)) >= config.neuro_min_reports:
        return None
    grades = [getattr(r.symptoms, name) for r in history]
    low = min(grades)
    run = grades[len(grades) - 1 - grades[::-1].index(low) :]
    if len(run) < 2 or any(later <= earlier for earlier, later in pairwise(run)):
        return None
    return low
