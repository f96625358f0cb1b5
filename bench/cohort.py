"""Simulates stable, worsening and red-flag patients and prints the analyzer's signal quality.

Usage: python bench/cohort.py [--patients N] [--seed S]

Goals (SPEC section 2): <= 5 % of stable patients with any warning or urgent
finding over 10 sessions; >= 80 % of true worsening caught by a warning-level
finding within 4 sessions of its onset; 100 % of red flags at the first report.

The model: each patient has a latent pain level. A session's pain_before is the
level plus Gaussian noise (sd 0.8), rounded and clipped to 0-10; pain_after adds
the immediate effect of the massage (mean -0.8 points, sd 1.0: usually slightly
better). Sessions are 3-4 days apart; after half of them the patient logs a
next-morning check-in (12-20 h later, inside the 36 h soreness window). A
worsening patient's level rises 0.8 points per session after an onset session
(3.2 points four sessions later). The sensitivity lines vary one assumption each.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analyzer import RULES, Finding, PatientContext, Report, Symptoms, analyze  # noqa: E402

SESSIONS = 10
NOISE_SD = 0.8
RISE_PER_SESSION = 0.8
DETECTION_SESSIONS = 4
WORSENING_RULES = {"worsening_trend", "repeated_worsening", "persistent_worsening"}
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TECHNIQUES = ("swedish", "myofascial_release", "trigger_point", "deep_tissue", "sports", "shiatsu")
AREAS = ("lower_back", "buttock", "piriformis", "hip", "hamstring", "calf", "foot")


@dataclass(frozen=True)
class Scenario:
    """Assumptions of one simulated cohort."""

    next_morning_checkin: float = 0.5
    midweek_checkin: float = 0.0
    numbness_wobble: float = 0.0
    session_effect_mean: float = -0.8
    session_effect_sd: float = 1.0


@dataclass(frozen=True)
class Patient:
    reports: list[Report]
    sessions: list[Report]
    onset: int | None = None
    red_flag_id: str | None = None


class Simulator:
    """Draws patients' reports from one random generator under one scenario."""

    def __init__(self, rng: random.Random, scenario: Scenario) -> None:
        self.rng = rng
        self.scenario = scenario

    def patient(self, level_at: Callable[[int], float]) -> Patient:
        side = self.rng.choice(("left", "right"))
        numbness = self.rng.choice((0, 1))
        reports, sessions, clock = [], [], START + timedelta(hours=self.rng.uniform(0, 72))
        for index in range(SESSIONS):
            session = self.session(clock, level_at(index), side, numbness)
            reports.append(session)
            sessions.append(session)
            reports.extend(self.checkins(clock, level_at(index), side, numbness))
            clock += timedelta(hours=self.rng.uniform(72, 96))
        return Patient(reports, sessions)

    def session(self, at: datetime, level: float, side: str, numbness: int) -> Report:
        latent = level + self.rng.gauss(0, NOISE_SD)
        effect = self.rng.gauss(self.scenario.session_effect_mean, self.scenario.session_effect_sd)
        flare = self.rng.random() < 0.1
        return Report(
            id=str(uuid.UUID(int=self.rng.getrandbits(128))),
            kind="session",
            felt_at=at,
            pain_before=_score(latent),
            pain_after=_score(latent + effect),
            symptoms=self.symptoms(side, numbness),
            technique=self.rng.choice(TECHNIQUES),
            pressure=self.rng.choices(("light", "moderate", "firm", "deep"), (35, 45, 15, 5))[0],
            areas=tuple(self.rng.sample(AREAS, 2))
            + (("sciatic_nerve_path",) if self.rng.random() < 0.1 else ()),
            acute_flare=flare,
        )

    def checkins(
        self, session_at: datetime, level: float, side: str, numbness: int
    ) -> list[Report]:
        delays = []
        if self.rng.random() < self.scenario.next_morning_checkin:
            delays.append(self.rng.uniform(12, 20))
        if self.rng.random() < self.scenario.midweek_checkin:
            delays.append(self.rng.uniform(40, 70))
        return [
            Report(
                id=str(uuid.UUID(int=self.rng.getrandbits(128))),
                kind="checkin",
                felt_at=session_at + timedelta(hours=hours),
                pain=_score(level + self.rng.gauss(0, NOISE_SD)),
                symptoms=self.symptoms(side, numbness),
            )
            for hours in delays
        ]

    def symptoms(self, side: str, numbness: int) -> Symptoms:
        # A patient's neurological picture is stable; the wobble scenario lets a
        # grade-1 numbness read as 2 on some reports, as self-rating does.
        if numbness == 1 and self.rng.random() < self.scenario.numbness_wobble:
            numbness = 2
        return Symptoms(numbness=numbness, tingling=self.rng.choice((0, 1, 1, 2)), side=side)

    def with_red_flag(self, patient: Patient) -> Patient:
        """The patient with one report, any one, carrying the first red flag."""
        index = self.rng.randrange(len(patient.reports))
        report = patient.reports[index]
        flag = self.rng.choice(("bladder_bowel_change", "saddle_numbness"))
        flagged = replace(report, symptoms=replace(report.symptoms, **{flag: True}))
        reports = [*patient.reports[:index], flagged, *patient.reports[index + 1 :]]
        return replace(patient, reports=reports, red_flag_id=flagged.id)


def _score(latent: float) -> int:
    return min(10, max(0, round(latent)))


def stable_patient(sim: Simulator) -> Patient:
    level = sim.rng.uniform(3, 6)
    return sim.patient(lambda index: level)


def worsening_patient(sim: Simulator) -> Patient:
    level = sim.rng.uniform(3, 6)
    # Sessions 0..onset are at the baseline level; each later one is 0.8 higher.
    onset = sim.rng.randint(3, SESSIONS - 1 - DETECTION_SESSIONS)
    patient = sim.patient(lambda index: level + RISE_PER_SESSION * max(0, index - onset))
    return replace(patient, onset=onset)


def red_flag_patient(sim: Simulator) -> Patient:
    return sim.with_red_flag(stable_patient(sim))


Results = list[tuple[Patient, list[Finding]]]
CONTEXT = PatientContext(medically_cleared_at=date(2025, 12, 1), affected_side="left")


def findings_of(patient: Patient) -> list[Finding]:
    return analyze(patient.reports, CONTEXT)


def has_alarm(findings: list[Finding]) -> bool:
    return any(f.severity in ("warning", "urgent") for f in findings)


def has_alarm_of(patient: Patient, findings: list[Finding]) -> bool:
    return has_alarm(findings)


def detected_in_time(patient: Patient, findings: list[Finding]) -> bool:
    onset_at = patient.sessions[patient.onset].felt_at
    deadline = patient.sessions[patient.onset + DETECTION_SESSIONS].felt_at
    return any(f.rule in WORSENING_RULES and onset_at < f.felt_at <= deadline for f in findings)


def red_flag_at_first_report(patient: Patient, findings: list[Finding]) -> bool:
    return f"red_flag_bladder_bowel:{patient.red_flag_id}" in {f.key for f in findings}


def run_group(make: Callable[[Simulator], Patient], sim: Simulator, count: int) -> Results:
    patients = [make(sim) for _ in range(count)]
    return [(p, findings_of(p)) for p in patients]


def share(results: Results, predicate: Callable[[Patient, list[Finding]], bool]) -> float:
    return sum(predicate(p, f) for p, f in results) / len(results)


def rule_counts(results: Results) -> Counter:
    """Patients with at least one finding of each rule."""
    return Counter(rule for _, findings in results for rule in {f.rule for f in findings})


def print_rule_table(groups: dict[str, Results]) -> None:
    counts = {name: rule_counts(results) for name, results in groups.items()}
    print(
        f"\npatients with >= 1 finding, per rule (of {len(next(iter(groups.values())))} per group)"
    )
    print(f"  {'rule':<24} {'sev':<8}" + "".join(f"{name:>11}" for name in groups))
    for rule, severity in RULES.items():
        row = "".join(f"{counts[name][rule]:>11}" for name in groups)
        print(f"  {rule:<24} {severity:<8}{row}")


def sensitivity(rng: random.Random, count: int) -> None:
    print("\nsensitivity (one assumption changed at a time)")
    variants = {
        "stable, sessions only (no check-ins, 10 reports)": Scenario(next_morning_checkin=0.0),
        "stable, + mid-week check-in (40-70 h) after 30 % of sessions": Scenario(
            midweek_checkin=0.3
        ),
        "stable, no immediate relief (pain_after mean change 0, sd 1.0)": Scenario(
            session_effect_mean=0.0
        ),
        "stable, numbness grade 1 read as 2 on 10 % of reports": Scenario(numbness_wobble=0.1),
    }
    for label, scenario in variants.items():
        results = run_group(stable_patient, Simulator(rng, scenario), count)
        alarm = share(results, has_alarm_of)
        alarms = {
            r: n for r, n in rule_counts(results).most_common() if RULES[r] in ("warning", "urgent")
        }
        print(f"  {label}: false alarms {alarm:.1%}  patients per alarm rule {alarms}")
    results = run_group(
        worsening_patient, Simulator(rng, Scenario(next_morning_checkin=0.0)), count
    )
    detection = share(results, detected_in_time)
    print(f"  worsening, sessions only (no check-ins): detection {detection:.1%}")


def print_headline(groups: dict[str, Results]) -> None:
    figures = [
        ("false alarms: stable, any warning/urgent", has_alarm_of, "stable", "<= 5 %"),
        ("detection: worsening within 4 sessions", detected_in_time, "worsening", ">= 80 %"),
        ("red flags caught at their first report", red_flag_at_first_report, "red_flag", "100 %"),
    ]
    for label, predicate, group, goal in figures:
        print(f"{label:<42} {share(groups[group], predicate):6.1%}  (goal {goal})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000, help="patients per group")
    parser.add_argument("--seed", type=int, default=20261)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    sim = Simulator(rng, Scenario())
    began = time.perf_counter()
    groups = {
        "stable": run_group(stable_patient, sim, args.patients),
        "worsening": run_group(worsening_patient, sim, args.patients),
        "red_flag": run_group(red_flag_patient, sim, args.patients),
    }
    print(f"cohort: {args.patients} patients per group, seed {args.seed}, {SESSIONS} sessions each")
    print_headline(groups)
    print_rule_table(groups)
    sensitivity(rng, args.patients)
    print(f"\nran in {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()
