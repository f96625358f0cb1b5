"""The texts: one entry per rule, non-diagnostic, citing their guidance."""

from __future__ import annotations

import re
from dataclasses import fields

import pytest

from analyzer import RULES, Symptoms, analyze, screen
from analyzer.domain import PatientContext
from analyzer.texts import RULE_TEXTS, SCREENING_TEXTS, STOP_NOW, RuleText

# Words that name a condition or claim one: the product observes and recommends.
DIAGNOSTIC = re.compile(
    r"you have|you've got|you are suffering|diagnos|herniat|stenosis|cauda equina|syndrome|"
    r"disease|disorder|nerve damage|compress|impinge|tumou?r|infection|fracture",
    re.IGNORECASE,
)


def all_texts():
    for rule, text in RULE_TEXTS.items():
        for f in fields(RuleText):
            yield f"{rule}.{f.name}", getattr(text, f.name)
    for code, text in SCREENING_TEXTS.items():
        yield f"screening.{code}", text


@pytest.mark.parametrize(("where", "text"), list(all_texts()))
def test_no_text_is_diagnostic(where, text):
    assert not DIAGNOSTIC.search(text), where


def test_every_rule_has_its_texts():
    assert set(RULE_TEXTS) == set(RULES)


@pytest.mark.parametrize("rule", [r for r, severity in RULES.items() if severity == "urgent"])
def test_urgent_rules_recommend_stopping_massage_and_seeking_attention(rule):
    assert (
        RULE_TEXTS[rule].recommendation
        == STOP_NOW
        == "Stop massage and seek medical attention now."
    )


@pytest.mark.parametrize(
    ("rule", "citation"),
    [
        ("post_session_worsening", "Farrar 2001; Ostelo 2008"),
        ("repeated_worsening", "Ostelo 2008"),
        ("worsening_trend", "Ostelo 2008"),
        ("persistent_worsening", "Cambron 2007"),
    ],
)
def test_texts_cite_the_guidance_they_follow(rule, citation):
    text = RULE_TEXTS[rule]
    assert citation in text.message + text.clinician_message


def test_rendered_findings_are_non_diagnostic_and_fully_filled(build):
    reports = [
        build.session(
            3,
            6,
            symptoms=Symptoms(side="left"),
            pressure="deep",
            acute_flare=True,
            areas=("sciatic_nerve_path",),
        ),
        build.session(3, 6),
        build.checkin(
            8,
            at=build.at(days=4),
            symptoms=Symptoms(numbness=3, weakness=2, side="both", saddle_numbness=True),
        ),
        *build.sessions([1, 1, 1, 1, 1, 1, 9, 9, 9], start_days=10),
        *[
            build.session(4, 6, at=build.at(days=40 + 3 * i), symptoms=Symptoms(weakness=w))
            for i, w in enumerate([0, 0, 0, 0, 0, 1, 1, 1, 3])
        ],
    ]
    findings = analyze(reports, PatientContext())
    assert {f.rule for f in findings} == set(RULES)
    for finding in findings:
        for text in (
            finding.title,
            finding.message,
            finding.clinician_message,
            finding.recommendation,
        ):
            assert not DIAGNOSTIC.search(text)
            assert "{" not in text and "}" not in text
            assert "_" not in text  # codes read as words ("sciatic nerve path")
        # Patients read plain words: no citations, no scores to the hundredth.
        assert not re.search(r"\(\w+ (19|20)\d\d|\d\.\d\d", finding.message), finding.message


def test_screening_reasons_are_non_diagnostic():
    result = screen(
        symptoms=Symptoms(numbness=3, weakness=3, bladder_bowel_change=True),
        acute_flare=True,
        planned_pressure="deep",
        planned_areas=["sciatic_nerve_path"],
        open_alert_rules=[("worsening_trend", "warning"), ("progressive_weakness", "urgent")],
    )
    assert len(result.reasons) == 6
    assert not any(DIAGNOSTIC.search(message) for _, message in result.reasons)
