"""Pure clinical rules for massage in sciatica: reports in, findings out.

The web service imports only from here. ``analyze`` turns a patient's reports
into findings; ``screen`` judges a planned session; ``trend_label`` summarises
the baseline pain series; ``summarize`` gives the latest values and the trend that a
list of patients shows. Nothing here touches Flask, a database or the clock.
"""

from analyzer.config import DEFAULT_CONFIG, RULES, RULESET_VERSION, SEVERITIES, AnalyzerConfig
from analyzer.domain import Finding, PatientContext, Report, Symptoms
from analyzer.engine import NERVE_SYMPTOMS, analyze
from analyzer.screening import Screening, screen
from analyzer.summary import Summary, summarize, summary_basis
from analyzer.trend import trend_label

__all__ = [
    "DEFAULT_CONFIG",
    "NERVE_SYMPTOMS",
    "RULES",
    "RULESET_VERSION",
    "SEVERITIES",
    "AnalyzerConfig",
    "Finding",
    "PatientContext",
    "Report",
    "Screening",
    "Summary",
    "Symptoms",
    "analyze",
    "screen",
    "summarize",
    "summary_basis",
    "trend_label",
]
