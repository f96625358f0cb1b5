"""The personal baseline: winsorised level and spread, floors, usual nerve grades."""

from __future__ import annotations

import pytest

from analyzer import DEFAULT_CONFIG, Symptoms
from analyzer.baseline import grade_baseline, pain_baseline


def test_one_bad_day_moves_neither_level_nor_spread():
    calm = pain_baseline([4, 5, 4, 5, 4, 5], DEFAULT_CONFIG)
    with_bad_day = pain_baseline([4, 5, 4, 9, 4, 5], DEFAULT_CONFIG)
    assert with_bad_day == calm
    assert (calm.level, calm.count) == (4.5, 6)


def test_a_noisy_patients_spread_is_their_own():
    noisy = pain_baseline([2, 6, 3, 7, 2, 6, 4, 7], DEFAULT_CONFIG)
    assert noisy.spread > 1.5
    assert noisy.threshold(2, 2.5) == pytest.approx(noisy.level + 2.5 * noisy.spread)


@pytest.mark.parametrize(
    ("values", "spread"),
    [
        ([4, 4, 4, 4, 4], 1.0),  # the floor
        ([4, 4, 4, 4], 1.25),  # fewer than 5 reports: the new-patient floor
        ([4], 1.25),
    ],
)
def test_spread_floors(values, spread):
    assert pain_baseline(values, DEFAULT_CONFIG).spread == spread


def test_only_the_last_ten_reports_count():
    baseline = pain_baseline([9] * 5 + [3] * 10, DEFAULT_CONFIG)
    assert (baseline.level, baseline.count) == (3, 10)


def test_no_reports_no_baseline():
    assert pain_baseline([], DEFAULT_CONFIG) is None


@pytest.mark.parametrize(
    ("grades", "usual"),
    [
        ([], 1),  # a new patient counts as mild
        ([0], 0),  # the one report there is
        ([1, 0], 1),  # a 1 and a 0 disagree: the 0 may be a mild grade read low
        ([0, 0], 0),
        ([0, 0, 1, 1], 1),  # the reports so far disagree: a plateau at 1 after two 0s
        ([0, 1, 0, 0], 1),  # the 0 and 1 before the last two disagree
        ([0, 0, 0, 0, 0], 0),  # the last two are left out: 3 reports known
        ([0, 0, 0, 2, 2], 0),  # a short run of raised grades does not raise its own baseline
        ([2, 2, 2, 2, 2], 2),
        ([1, 0, 1, 0, 1, 1], 0),  # the low median
    ],
)
def test_usual_nerve_grade(build, grades, usual):
    history = [build.checkin(3, symptoms=Symptoms(numbness=g)) for g in grades]
    assert grade_baseline(history, "numbness", DEFAULT_CONFIG) == usual
