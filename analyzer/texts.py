"""Every patient- and clinician-facing text of the ruleset, with the guidance it follows.

Texts say what was observed and what the guidance recommends, never what the
patient has. Templates are filled from a finding's evidence: None reads
"not recorded", booleans "yes"/"no", lists comma-separated values ("none" when
empty).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

# The founding guidance of the product: massage must stop and medical attention
# be sought at once on progressive neurological deficits or bladder/bowel change.
STOP_NOW = "Stop massage and seek medical attention now."
_NEURO_GUIDANCE = (
    "The massage guidance followed by this app says to stop massage and seek medical "
    "attention at once when leg weakness increases, numbness becomes significant, or "
    "bladder or bowel control changes."
)
_MCID = "Farrar 2001; Ostelo 2008"
_CLINICIAN_NEURO = (
    "Progressive neurological signs per the massage guidance this product follows: stop "
    "massage and refer for prompt medical assessment."
)


@dataclass(frozen=True)
class RuleText:
    """The four texts of one rule; each may hold ``{field}`` placeholders from the evidence."""

    title: str
    message: str
    clinician_message: str
    recommendation: str


RULE_TEXTS: Mapping[str, RuleText] = MappingProxyType(
    {
        "red_flag_bladder_bowel": RuleText(
            title="Bladder, bowel or saddle-area change reported",
            message=(
                "You reported a change in bladder or bowel control, or numbness in the saddle "
                "area (between the legs). " + _NEURO_GUIDANCE
            ),
            clinician_message=(
                "Red-flag symptoms on a {kind} report: bladder/bowel change "
                "{bladder_bowel_change}, saddle numbness {saddle_numbness}. Guidance: "
                "stop massage, urgent medical assessment."
            ),
            recommendation=STOP_NOW,
        ),
        "progressive_weakness": RuleText(
            title="Increasing leg weakness reported",
            message=(
                "You reported leg weakness of grade {weakness} on a 0-3 scale (the grades "
                "you reported before: {previous_grades}). " + _NEURO_GUIDANCE
            ),
            clinician_message=(
                "Leg weakness grade {weakness}/3 ({pattern}); usual grade {usual_grade} "
                "({usual_basis}), last grades {previous_grades}. " + _CLINICIAN_NEURO
            ),
            recommendation=STOP_NOW,
        ),
        "significant_numbness": RuleText(
            title="Significant numbness reported",
            message=(
                "You reported numbness of grade {numbness} on a 0-3 scale (the grades you "
                "reported before: {previous_grades}). " + _NEURO_GUIDANCE
            ),
            clinician_message=(
                "Numbness grade {numbness}/3 ({pattern}); usual grade {usual_grade} "
                "({usual_basis}), last grades {previous_grades}. " + _CLINICIAN_NEURO
            ),
            recommendation=STOP_NOW,
        ),
        "neuro_recheck": RuleText(
            title="Nerve symptoms a little stronger than usual",
            message=(
                "You reported {symptom} of grade {grade} on a 0-3 scale (the grades you "
                "reported before: {previous_grades}). A one-grade change can be ordinary "
                "day-to-day variation; a check-in within the next 24 hours shows whether it "
                "stays."
            ),
            clinician_message=(
                "{symptom} grade {grade}/3, one above the patient's usual grade {usual_grade} "
                "({usual_basis}; raised: {symptoms_raised}). Re-check nerve symptoms before the "
                "next massage; a further rise is an urgent referral per the massage guidance "
                "this product follows."
            ),
            recommendation=(
                "Send a check-in within 24 hours, and tell your therapist before the next "
                "session. If weakness or numbness increases further, or bladder or bowel control "
                "changes: " + STOP_NOW
            ),
        ),
        "bilateral_symptoms": RuleText(
            title="Symptoms reported on both sides",
            message=(
                "You reported symptoms on both sides, while your earlier reports gave one side "
                "only ({earlier_sides}). " + _NEURO_GUIDANCE
            ),
            clinician_message=(
                "Symptoms now bilateral after one-sided reports ({earlier_sides}): spreading "
                "neurological symptoms. " + _CLINICIAN_NEURO
            ),
            recommendation=STOP_NOW,
        ),
        "post_session_worsening": RuleText(
            title="Pain higher after the session",
            message=(
                "Your pain went from {pain_before} before the session to {pain_after} after it "
                "(+{change} points). A rise of 2 points or more, and of at least 30 %, is the "
                "smallest change people notice as a real difference."
            ),
            clinician_message=(
                "Pain {pain_before} -> {pain_after} (+{change} points) after technique "
                "{technique} with {pressure} pressure: at or above the minimal clinically "
                "important difference on the 0-10 scale (" + _MCID + ")."
            ),
            recommendation=(
                "Tell your therapist before the next session. The guidance favours gentle "
                "techniques with light pressure, applied away from the sciatic nerve path."
            ),
        ),
        "repeated_worsening": RuleText(
            title="Pain higher after several sessions",
            message=(
                "Your pain rose by a noticeable amount (2 points or more) after {worsened_count} "
                "of your last {window} sessions."
            ),
            clinician_message=(
                "Post-session worsening at or above the MCID (" + _MCID + ") in "
                "{worsened_count} of the last {window} sessions (changes {changes}); by chance "
                "about 6 % with 1-point noise. Review technique and pressure."
            ),
            recommendation=(
                "Pause massage and review the approach with your therapist and a healthcare "
                "professional before the next session."
            ),
        ),
        "persistent_worsening": RuleText(
            title="Pain still higher days after a session",
            message=(
                "{hours_after} hours after your session, your pain was {pain}. Your usual pain in "
                "recent reports was about {baseline:.1f}, and this is beyond your ordinary "
                "day-to-day variation. Ordinary soreness after massage usually fades within 36 "
                "hours."
            ),
            clinician_message=(
                "Pain {pain} {hours_after} h after a session (pain before it {pain_before}); "
                "personal baseline {baseline} (spread {spread}, {baseline_reports} reports), "
                "threshold {threshold}; confirmed by {confirmed_by}. Beyond the 36 h post-massage "
                "soreness window (Cambron 2007)."
            ),
            recommendation=(
                "Contact your therapist or a healthcare professional before another session."
            ),
        ),
        "worsening_trend": RuleText(
            title="Pain rising over recent reports",
            message=(
                "Your pain before sessions and in check-ins has been higher lately: your last "
                "{recent_count} reports were {recent_values}, against about {baseline:.1f} "
                "before."
            ),
            clinician_message=(
                "Baseline pain over the last {count} reports ({values}) by {method}: the last "
                "{recent_count} at {recent_level} vs personal baseline {baseline} (spread "
                "{spread}), threshold {threshold}; a sustained rise beyond the MCID ("
                + _MCID
                + ") and the patient's own variation, confirmed by the report before."
            ),
            recommendation=(
                "Review the care plan with your therapist and a healthcare professional."
            ),
        ),
        "severe_pain": RuleText(
            title="Severe pain reported",
            message="You reported pain of {pain} out of 10.",
            clinician_message="Pain {pain}/10 reported ({field}) on a {kind} report.",
            recommendation=(
                "Avoid massage while pain is this strong. Contact a healthcare professional if "
                "it does not ease, and seek medical attention now if weakness, numbness, or "
                "bladder or bowel changes come with it."
            ),
        ),
        "deep_pressure_in_flare": RuleText(
            title="Strong pressure or nerve-path work during a flare-up",
            message=(
                "This session was recorded during an acute flare-up with {pressure} pressure "
                "(areas: {areas}). The guidance warns that deep or firm pressure, and any "
                "pressure directly on the sciatic nerve path, can aggravate symptoms during a "
                "flare-up."
            ),
            clinician_message=(
                "Acute flare with {pressure} pressure on {areas}: the massage guidance this "
                "product follows advises gentle techniques away from the inflamed nerve."
            ),
            recommendation=(
                "During a flare-up, keep to light, gentle techniques away from the sciatic "
                "nerve path."
            ),
        ),
        "not_medically_cleared": RuleText(
            title="No medical consultation on file",
            message=(
                "No consultation with a healthcare professional was on file for this session. "
                "The guidance recommends consulting one before starting massage."
            ),
            clinician_message=(
                "Session on {session_date} with no healthcare-professional consultation on file "
                "(cleared at: {medically_cleared_at})."
            ),
            recommendation=(
                "Consult a healthcare professional and record the consultation date in your "
                "profile."
            ),
        ),
    }
)

# Texts of a rule escalated above its usual severity because later reports confirmed it.
ESCALATED_TEXTS: Mapping[str, RuleText] = MappingProxyType(
    {
        "neuro_recheck": RuleText(
            title="Nerve symptoms stronger than usual on several reports",
            message=(
                "You reported {symptom} of grade {grade} on a 0-3 scale, one grade above your "
                "usual {usual_grade}, on {confirming_reports} earlier reports as well."
            ),
            clinician_message=(
                "{symptom} grade {grade}/3 sustained one above the usual grade {usual_grade} "
                "over {confirming_reports} more reports. Re-assess nerve symptoms before any "
                "further massage; a further rise is an urgent referral per the massage "
                "guidance this product follows."
            ),
            recommendation=(
                "Do not book another massage until a healthcare professional or your therapist "
                "has re-checked your nerve symptoms. If weakness or numbness increases further, "
                "or bladder or bowel control changes: " + STOP_NOW
            ),
        ),
    }
)

# Pre-session screening reasons, keyed by the rule they come from (with `_rise`: a grade
# above the patient's usual one; `_now`: a re-check asked by the symptoms screened).
SCREENING_TEXTS: Mapping[str, str] = MappingProxyType(
    {
        "red_flag_bladder_bowel": (
            "A change in bladder or bowel control, or saddle-area numbness, was reported. "
            "Do not start the session. " + STOP_NOW
        ),
        "significant_numbness": (
            "Numbness of grade {numbness} on a 0-3 scale was reported. Do not start the "
            "session. " + STOP_NOW
        ),
        "progressive_weakness": (
            "Leg weakness of grade {weakness} on a 0-3 scale was reported. Do not start the "
            "session. " + STOP_NOW
        ),
        "significant_numbness_rise": (
            "Numbness of grade {numbness} on a 0-3 scale was reported, {rise} grades above "
            "the usual grade of {usual_grade} in earlier reports. Do not start the session. "
            + STOP_NOW
        ),
        "progressive_weakness_rise": (
            "Leg weakness of grade {weakness} on a 0-3 scale was reported, {rise} grades above "
            "the usual grade of {usual_grade} in earlier reports. Do not start the session. "
            + STOP_NOW
        ),
        "bilateral_symptoms": (
            "Symptoms on both sides were reported, while earlier reports gave one side only "
            "({earlier_sides}). Do not start the session. " + STOP_NOW
        ),
        "neuro_recheck_now": (
            "One grade above the usual grade in earlier reports was reported for {raised}, on "
            "a 0-3 scale. Re-check nerve symptoms before the session and keep to gentle "
            "techniques with light pressure."
        ),
        "deep_pressure_in_flare": (
            "During an acute flare-up the guidance advises against firm or deep pressure and "
            "any pressure on the sciatic nerve path: use light, gentle techniques away from it."
        ),
        "open_urgent_alert": (
            "An urgent alert is still open ({title}). Do not start massage until it has been "
            "reviewed by a healthcare professional."
        ),
        "neuro_recheck": (
            "Numbness or weakness was recently reported one grade above the usual level and "
            "has not been re-checked yet. Re-check nerve symptoms before the session and keep to "
            "gentle techniques with light pressure."
        ),
        "open_warning_alert": (
            "A warning alert is open ({title}). Review it with the therapist before the session "
            "and prefer gentle techniques with light pressure."
        ),
        "not_medically_cleared": (
            "No consultation with a healthcare professional is on file. The guidance recommends "
            "consulting one before starting massage; record the consultation date in the "
            "profile once it has taken place."
        ),
    }
)


def render(rule: str, evidence: Mapping[str, Any], *, escalated: bool = False) -> RuleText:
    """The rule's texts filled with the evidence; ``escalated`` picks the confirmed variant."""
    template = ESCALATED_TEXTS[rule] if escalated else RULE_TEXTS[rule]
    values = _displayable(evidence)
    return RuleText(
        **{f.name: getattr(template, f.name).format_map(values) for f in fields(RuleText)}
    )


def screening_text(code: str, **values: Any) -> str:
    return SCREENING_TEXTS[code].format_map(_displayable(values))


def _displayable(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _display(value) for key, value in values.items()}


def _display(value: Any) -> Any:
    if value is None:
        return "not recorded"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(_display(v)) for v in value) or "none"
    if isinstance(value, str):
        return _WORDS.get(value, value.replace("_", " "))  # codes read as words
    return value


_WORDS = {"checkin": "check-in"}
