"""The frozen thresholds, their overrides, and the rule and severity catalogue."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import pytest

from analyzer import DEFAULT_CONFIG, RULES, RULESET_VERSION, SEVERITIES, AnalyzerConfig


def test_defaults_are_the_spec_thresholds():
    c = DEFAULT_CONFIG
    assert (c.post_session_min_points, c.post_session_min_fraction) == (2, 0.30)
    assert (c.repeated_min_count, c.repeated_window_sessions) == (2, 3)
    assert (c.persistent_min_delay, c.persistent_max_delay) == (
        timedelta(hours=36),
        timedelta(days=7),
    )
    assert (c.persistent_min_points, c.persistent_noise_z) == (2, 2.5)
    assert (c.persistent_alone_points, c.persistent_alone_z) == (6, 3.5)
    assert (c.baseline_reports, c.baseline_min_reports) == (10, 5)
    assert (c.spread_floor, c.new_patient_spread) == (1.0, 1.25)
    assert c.repeated_min_excess == 2
    assert (c.trend_window, c.trend_min_reports, c.trend_recent) == (14, 6, 3)
    assert (c.trend_min_points, c.trend_min_fraction, c.trend_noise_z) == (2.0, 0.30, 5.0)
    assert c.trend_slope_z == 2.9
    assert (c.neuro_severe_grade, c.neuro_urgent_rise, c.neuro_confirm_reports) == (3, 2, 2)
    assert (c.neuro_confirm_span, c.neuro_min_reports) == (timedelta(hours=12), 3)
    assert (c.new_patient_grade, c.screening_weakness_grade) == (1, 2)
    assert c.severe_pain_min == 8
    assert c.flare_pressures == ("firm", "deep")
    assert c.flare_protected_areas == ("sciatic_nerve_path",)


def test_history_window_for_the_service():
    assert DEFAULT_CONFIG.history_reports == 20
    assert DEFAULT_CONFIG.lookback == timedelta(days=7)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_CONFIG.severe_pain_min = 7


@pytest.mark.parametrize(
    ("values", "field", "expected"),
    [
        ({"severe_pain_min": 7}, "severe_pain_min", 7),
        ({"trend_min_points": 2}, "trend_min_points", 2.0),
        ({"persistent_min_delay": 86400}, "persistent_min_delay", timedelta(days=1)),
        ({"lookback": timedelta(days=10)}, "lookback", timedelta(days=10)),
        ({"flare_pressures": ["deep"]}, "flare_pressures", ("deep",)),
    ],
)
def test_from_mapping_overrides_one_threshold(values, field, expected):
    config = AnalyzerConfig.from_mapping(values)
    assert getattr(config, field) == expected
    assert dataclasses.replace(config, **{field: getattr(DEFAULT_CONFIG, field)}) == DEFAULT_CONFIG


def test_from_mapping_of_nothing_is_the_default():
    assert AnalyzerConfig.from_mapping({}) == DEFAULT_CONFIG


def test_from_mapping_rejects_unknown_keys():
    with pytest.raises(ValueError, match="severe_pain_threshold"):
        AnalyzerConfig.from_mapping({"severe_pain_threshold": 7})


@pytest.mark.parametrize(
    "values",
    [
        {"severe_pain_min": "8"},
        {"severe_pain_min": True},
        {"severe_pain_min": 7.5},
        {"trend_min_points": "1.75"},
        {"lookback": "7d"},
        {"flare_pressures": "deep"},
    ],
)
def test_from_mapping_rejects_values_of_the_wrong_type(values):
    with pytest.raises(ValueError, match="invalid value"):
        AnalyzerConfig.from_mapping(values)


@pytest.mark.parametrize(
    "values",
    [
        {"lookback": timedelta(days=3)},  # would miss the session of a persistent_worsening
        {"history_reports": 5},  # would miss the trend window
        {"trend_recent": 6},
        {"repeated_min_count": 4},
        {"trend_slope_z": 0},
        {"persistent_min_delay": timedelta(days=8)},
    ],
)
def test_inconsistent_configs_are_rejected(values):
    with pytest.raises(ValueError):
        AnalyzerConfig(**values)


def test_rules_cover_the_spec_table_with_its_severities():
    assert dict(RULES) == {
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


def test_rules_cannot_be_changed_at_runtime():
    with pytest.raises(TypeError):
        RULES["severe_pain"] = "info"


def test_severities_increase():
    assert SEVERITIES == ("info", "caution", "warning", "urgent")


def test_ruleset_version_is_a_dated_revision():
    assert re.fullmatch(r"\d{4}\.\d{2}-\d+", RULESET_VERSION)
