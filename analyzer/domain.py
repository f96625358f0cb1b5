"""The analyzer's inputs (reports, patient context) and its output (findings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

KINDS = ("session", "checkin")
SIDES = ("left", "right", "both")
PRESSURES = ("light", "moderate", "firm", "deep")


@dataclass(frozen=True)
class Symptoms:
    """Neurological symptoms on a session or check-in; grades are 0-3 (none to severe), or
    None when the report did not grade the symptom (a check-in that gives pain only)."""

    numbness: int | None = 0
    tingling: int | None = 0
    weakness: int | None = 0
    side: str | None = None
    bladder_bowel_change: bool = False
    saddle_numbness: bool = False

    def __post_init__(self) -> None:
        for name in ("numbness", "tingling", "weakness"):
            if getattr(self, name) is not None:
                _check_range(name, getattr(self, name), 0, 3)
        if self.side is not None and self.side not in SIDES:
            raise ValueError(f"side must be one of {SIDES} or None, not {self.side!r}")


@dataclass(frozen=True)
class Report:
    """A session (pain before/after) or a check-in (pain), placed at the time it was felt."""

    id: str
    kind: str
    felt_at: datetime
    pain_before: int | None = None
    pain_after: int | None = None
    pain: int | None = None
    symptoms: Symptoms = field(default_factory=Symptoms)
    technique: str | None = None
    pressure: str | None = None
    areas: tuple[str, ...] = ()
    acute_flare: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        if self.felt_at.utcoffset() is None:
            raise ValueError("felt_at must be timezone-aware")
        for name in ("pain_before", "pain_after", "pain"):
            if getattr(self, name) is not None:
                _check_range(name, getattr(self, name), 0, 10)
        if self.pressure is not None and self.pressure not in PRESSURES:
            raise ValueError(f"pressure must be one of {PRESSURES} or None, not {self.pressure!r}")
        # Callers often hold areas as a list; a tuple keeps the report hashable.
        object.__setattr__(self, "areas", tuple(self.areas))

    @property
    def is_session(self) -> bool:
        return self.kind == "session"

    @property
    def baseline_pain(self) -> int | None:
        """Pain before any treatment effect: a session's pain_before, a check-in's pain."""
        return self.pain_before if self.is_session else self.pain


@dataclass(frozen=True)
class PatientContext:
    """What the analyzer knows about the patient besides their reports.

    ``affected_side`` is informative only: bilateral_symptoms compares against
    the patient's own earlier reports, not the profile.
    """

    medically_cleared_at: date | None = None
    affected_side: str = "unknown"

    def cleared_on(self, moment: datetime) -> bool:
        """A healthcare professional's consultation on file by `moment`'s UTC date."""
        cleared = self.medically_cleared_at
        return cleared is not None and moment.astimezone(UTC).date() >= cleared


@dataclass(frozen=True)
class Finding:
    """One trigger of one rule; ``key`` is stable for the same data, for de-duplication."""

    rule: str
    severity: str
    key: str
    report_ids: tuple[str, ...]
    felt_at: datetime
    evidence: dict[str, Any]
    title: str
    message: str
    clinician_message: str
    recommendation: str


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, not {value!r}")
