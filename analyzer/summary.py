"""A patient's summary for lists of patients: latest session values and the trend label."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from analyzer.config import DEFAULT_CONFIG, RULESET_VERSION, AnalyzerConfig
from analyzer.domain import Report
from analyzer.trend import trend_label


@dataclass(frozen=True)
class Summary:
    latest_pain_before: int | None = None
    latest_pain_after: int | None = None
    last_session_at: datetime | None = None
    trend: str = "stable"


def recent(reports: Iterable[Report], config: AnalyzerConfig = DEFAULT_CONFIG) -> list[Report]:
    """The last ``history_reports`` reports of each kind, in felt order.

    A summary is computed from exactly these, so the same summary comes out whether the
    caller holds the patient's whole history or only a window that contains them.
    """
    ordered = sorted(reports, key=lambda r: (r.felt_at, r.id))
    kept: list[Report] = []
    for kind in ("session", "checkin"):
        kept += [r for r in ordered if r.kind == kind][-config.history_reports :]
    return sorted(kept, key=lambda r: (r.felt_at, r.id))


def summarize(reports: Iterable[Report], config: AnalyzerConfig = DEFAULT_CONFIG) -> Summary:
    """The summary of a patient's reports (see ``recent`` for which of them count)."""
    kept = recent(reports, config)
    sessions = [r for r in kept if r.is_session]
    if not sessions:
        return Summary(trend=trend_label(kept, config))
    latest = sessions[-1]
    return Summary(
        latest_pain_before=latest.pain_before,
        latest_pain_after=latest.pain_after,
        last_session_at=latest.felt_at,
        trend=trend_label(kept, config),
    )


@lru_cache(maxsize=32)
def summary_basis(config: AnalyzerConfig = DEFAULT_CONFIG) -> str:
    """What a stored summary was computed under: the ruleset version and the thresholds.

    A summary stored under another basis (a new ruleset, changed thresholds) is stale.
    """
    digest = hashlib.sha256(repr(config).encode()).hexdigest()[:12]
    return f"{RULESET_VERSION}/{digest}"
