"""Builders of analyzer inputs for the analyzer tests (no app, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analyzer import Report, Symptoms

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Build:
    """Reports with readable ids (s1, c2, ...) placed relative to T0."""

    t0 = T0

    def __init__(self) -> None:
        self.count = 0

    def at(self, *, days: float = 0, hours: float = 0) -> datetime:
        return T0 + timedelta(days=days, hours=hours)

    def session(self, before=5, after=None, *, at=None, id=None, **fields) -> Report:
        return self._report("session", at, id, pain_before=before, pain_after=after, **fields)

    def checkin(self, pain=5, *, at=None, id=None, **fields) -> Report:
        return self._report("checkin", at, id, pain=pain, **fields)

    def symptoms(self, **fields) -> Symptoms:
        return Symptoms(**fields)

    def sessions(self, values, *, every_days: float = 3, start_days: float = 0) -> list[Report]:
        """One session per baseline value, ``every_days`` apart, no pain_after."""
        return [
            self.session(v, at=self.at(days=start_days + i * every_days))
            for i, v in enumerate(values)
        ]

    def _report(self, kind, at, id, **fields) -> Report:
        self.count += 1
        at = at if at is not None else self.at(days=self.count)
        return Report(id=id or f"{kind[0]}{self.count}", kind=kind, felt_at=at, **fields)


@pytest.fixture
def build() -> Build:
    return Build()
