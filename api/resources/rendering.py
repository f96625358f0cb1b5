"""Drawing a patient's course: the SVG chart and the printable HTML page."""

import io
import re
import uuid
import warnings
from datetime import UTC, datetime, tzinfo
from html import escape

from flask import render_template
from markupsafe import Markup

from api.services.patient_report import Course, summary
from models.report import GRADES

# Each at least 4.5:1 against white (WCAG AA for text; markers carry their number too).
SEVERITY_COLOURS = {
    "urgent": "#b3261e",
    "warning": "#a14e00",
    "caution": "#7a5900",
    "info": "#5f6368",
}
SEVERITY_MARKERS = {"urgent": "X", "warning": "D", "caution": "v", "info": "o"}
PAIN_BEFORE, PAIN_AFTER, CHECKIN = "#1967d2", "#137333", "#8430ce"


def chart_svg(course: Course, *, zone: tzinfo = UTC, include_info: bool = False) -> str:
    """Pain before and after each session over time, check-ins, and each alert as a numbered
    marker (its number in the report's alert list) at the reports that raised it."""
    # Imported on first use: a worker that never draws a chart stays ~30 MB lighter.
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    # Text stays text (small, selectable, readable by screen readers); ids are stable.
    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "sciatica-care"})
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    def local(moment: datetime) -> datetime:
        return moment.astimezone(zone)

    figure = Figure(figsize=(6.4, 4.4), dpi=100, layout="constrained")
    axes = figure.subplots()
    sessions = course.sessions
    drawn: list[datetime] = []  # every moment on the time axis
    if sessions:
        times = [local(s.started_at) for s in sessions]
        drawn += times
        axes.plot(
            times,
            [s.pain_before for s in sessions],
            "o-",
            color=PAIN_BEFORE,
            label="Pain before session",
        )
        after = [(local(s.started_at), s.pain_after) for s in sessions if s.pain_after is not None]
        if after:
            axes.plot(
                *zip(*after, strict=True), "s--", color=PAIN_AFTER, label="Pain after session"
            )
    if course.checkins:
        recorded = [local(c.recorded_at) for c in course.checkins]
        drawn += recorded
        axes.plot(
            recorded,
            [c.pain for c in course.checkins],
            "^",
            color=CHECKIN,
            linestyle="none",
            label="Check-in",
        )
    shown = _shown_alerts(course, include_info)
    stacked: dict[str, int] = {}
    for number, alert in shown:
        colour, first = SEVERITY_COLOURS[alert.severity], True
        for moment in _alert_times(course, alert) or [alert.first_seen_at]:
            moment = local(moment)
            drawn.append(moment)
            # Alerts on the same day stack upwards instead of hiding one another.
            level = stacked.get(moment.date().isoformat(), 0)
            stacked[moment.date().isoformat()] = level + 1
            height = 10.9 + 0.75 * level
            axes.axvline(moment, color=colour, alpha=0.35, linewidth=1, linestyle=":")
            axes.plot(
                [moment],
                [height],
                SEVERITY_MARKERS[alert.severity],
                color=colour,
                markersize=9,
                label=f"Alert ({alert.severity})" if first else None,
            )
            axes.annotate(
                str(number),
                (moment, height),
                xytext=(6, -4),
                textcoords="offset points",
                color=colour,
                fontsize="small",
                fontweight="bold",
            )
            first = False
    top = 11.5 + 0.75 * max(stacked.values(), default=0)
    axes.set_ylim(-0.5, top)
    axes.set_yticks(range(0, 11, 2))
    axes.set_ylabel("Pain (0-10)")
    axes.set_xlabel(f"Date ({zone}){_period(drawn)}")
    # Names are text, never matplotlib math ("$...$" would be parsed or fail).
    axes.set_title(f"Pain over time: {_xml_text(course.patient.display_name)}", parse_math=False)
    axes.grid(True, alpha=0.3)
    locator = mdates.AutoDateLocator(tz=zone)
    axes.xaxis.set_major_locator(locator)
    # The ticks name days and months; the year is in the axis label (no "2026-Dec" offset).
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=zone, show_offset=False))
    if not (sessions or course.checkins):
        axes.text(
            0.5,
            0.5,
            "No reports in this period",
            ha="center",
            va="center",
            transform=axes.transAxes,
        )
    else:
        # One legend entry per kind: repeated alerts of one severity are labelled once.
        handles, labels = axes.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))
        figure.legend(
            unique.values(),
            unique.keys(),
            loc="outside lower center",
            ncols=3,
            fontsize="small",
            frameon=False,
        )
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return _accessible(buffer.getvalue(), course, shown, zone)


def _period(moments: list[datetime]) -> str:
    """The days the chart spans, in words, for the axis label: ", 28 Oct - 2 Dec 2026"."""
    if not moments:
        return ""
    first, last = min(moments), max(moments)
    end = f"{last.day} {last:%b %Y}"
    if first.date() == last.date():
        return f", {end}"
    start = f"{first.day} {first:%b}" + ("" if first.year == last.year else f" {first:%Y}")
    return f", {start} \N{EN DASH} {end}"


def _shown_alerts(course: Course, include_info: bool) -> list[tuple[int, object]]:
    """(number in the report's alert list, alert) for the alerts the chart marks."""
    return [
        (number, alert)
        for number, alert in enumerate(course.alerts, start=1)
        if include_info or alert.severity != "info"
    ]


def _accessible(svg: str, course: Course, shown: list, zone: tzinfo) -> str:
    """A <title> and a <desc> that say in words what the chart shows (screen readers)."""
    sessions, checkins = course.sessions, course.checkins
    parts = [f"{len(sessions)} sessions and {len(checkins)} check-ins."]
    if sessions:
        befores = [s.pain_before for s in sessions]
        parts.append(
            f"Pain before sessions ranged from {min(befores)} to {max(befores)}; "
            f"the latest was {befores[-1]}."
        )
    for number, alert in shown:
        since = first_felt(alert).astimezone(zone).strftime("%Y-%m-%d")
        parts.append(f"Alert {number} ({alert.severity}): {alert.title}, since {since}.")
    title = escape(f"Pain over time: {_xml_text(course.patient.display_name)}")
    desc = escape(" ".join(parts))
    head_end = svg.index(">", svg.index("<svg")) + 1
    opening = svg[:head_end].replace(
        "<svg ", '<svg role="img" aria-labelledby="chart-title chart-desc" ', 1
    )
    return (
        f'{opening}\n<title id="chart-title">{title}</title>\n'
        f'<desc id="chart-desc">{desc}</desc>{svg[head_end:]}'
    )


def _felt_times(alert) -> list[datetime]:
    """When the reports behind the alert were felt."""
    return [datetime.fromisoformat(item["felt_at"]) for item in alert.evidence.get("items", [])]


def _alert_times(course: Course, alert) -> list[datetime]:
    """When the reports behind the alert were felt, within the course's window."""
    start, end = course.window.start, course.window.end
    return [
        felt
        for felt in _felt_times(alert)
        if (start is None or felt >= start) and (end is None or felt < end)
    ]


def first_felt(alert) -> datetime:
    """When the earliest report behind the alert was felt (a report synced late, or data
    entered afterwards, raises the alert later than that); when it was raised, failing that."""
    return min(_felt_times(alert), default=alert.first_seen_at)


def html(course: Course, *, generated: datetime, zone: tzinfo = UTC) -> str:
    """A self-contained printable page: summary, chart inline, alerts, sessions."""
    svg = chart_svg(course, zone=zone)

    def when(value: datetime) -> str:
        return value.astimezone(zone).strftime("%d %b %Y %H:%M")

    return render_template(
        "report.html",
        patient=course.patient,
        s=summary(course),
        sessions=course.sessions,
        checkins=course.checkins,
        pressing=course.pressing,
        evidence={alert.id: evidence_rows(course, alert, when) for alert in course.alerts},
        label=label,
        red_flags=red_flags,
        grades=grades,
        first_felt=first_felt,
        chart=Markup(svg[svg.index("<svg") :]),  # noqa: S704 - matplotlib escapes its text
        period=period(course.window.start, course.window.end, zone),
        zone=str(zone),
        generated=when(generated),
        fmt=_number,
        pct=_percent,
        when=when,
    )


def period(start: datetime | None, end: datetime | None, zone: tzinfo) -> str:
    """The report's window as a person says it ('to' is exclusive: "before")."""

    def day(value: datetime) -> str:
        return value.astimezone(zone).strftime("%d %b %Y").lstrip("0")

    if start and end:
        return f"from {day(start)}, before {day(end)}"
    if start:
        return f"from {day(start)} to now"
    if end:
        return f"everything before {day(end)}"
    return "everything recorded"


def evidence_rows(course: Course, alert, when) -> list[str]:
    """The reports an alert points to, in the order they were felt, as a reader checks them:
    when, what, the values."""
    sessions = {s.id: s for s in course.sessions}
    checkins = {c.id: c for c in course.checkins}
    rows = []
    for raw in alert.evidence.get("report_ids", []):
        key = uuid.UUID(str(raw))
        if key in sessions:
            s = sessions[key]
            after = "not yet given" if s.pain_after is None else s.pain_after
            rows.append(
                (
                    s.started_at,
                    f"Session {when(s.started_at)}: {label(s.technique)}, {label(s.pressure)} "
                    f"pressure{', in a flare' if s.acute_flare else ''}; pain {s.pain_before} "
                    f"before, {after} after; {_nerve_symptoms(s)}",
                )
            )
        elif key in checkins:
            c = checkins[key]
            rows.append(
                (
                    c.recorded_at,
                    f"Check-in {when(c.recorded_at)}: pain {c.pain}; {_nerve_symptoms(c)}",
                )
            )
    if rows:
        return [text for _, text in sorted(rows, key=lambda row: row[0])]
    felt = sorted(item["felt_at"] for item in alert.evidence.get("items", []))
    return [f"Reports felt {', '.join(when(datetime.fromisoformat(f)) for f in felt)}"]


# Characters XML 1.0 does not allow (an SVG with one does not open); names stored before
# the API refused them may hold some.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _red_flags(report) -> list[str]:
    """The red-flag symptoms a session or check-in reported."""
    return [
        name
        for name, present in (
            ("bladder or bowel change", report.bladder_bowel_change),
            ("saddle numbness", report.saddle_numbness),
        )
        if present
    ]


def red_flags(report) -> str:
    """The red-flag symptoms as a table cell shows them: named, or "none"."""
    return ", ".join(_red_flags(report)) or "none"


def grades(report) -> str:
    """The nerve grades as a table cell shows them: "1 / – / 0", a dash not reported."""
    return " / ".join(
        "–" if getattr(report, name) is None else str(getattr(report, name)) for name in GRADES
    )


def _nerve_symptoms(report) -> str:
    given = [n for n in GRADES if getattr(report, n) is not None]
    missing = [n for n in GRADES if n not in given]
    grades = ", ".join(f"{name} {getattr(report, name)}" for name in given)
    if not given:
        grades = "nerve grades not reported"
    elif missing:
        grades += f" ({', '.join(missing)} not reported)"
    side = f", {report.symptom_side} side" if report.symptom_side else ""
    flags = "".join(f"; {flag}" for flag in _red_flags(report))
    return f"{grades}{side}{flags}"


def label(code: str | None) -> str:
    """A code as people read it: "deep_tissue" -> "Deep tissue"."""
    return code.replace("_", " ").capitalize() if code else ""


def _number(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f} %"


def pdf(course: Course, *, generated: datetime, zone: tzinfo = UTC) -> bytes:
    """The printable page as PDF (WeasyPrint: the same HTML and print CSS a browser prints).

    It may fetch nothing: the page is self-contained, so a crafted note cannot make the
    renderer reach a file or a host.
    """
    # Imported on first use, like matplotlib: a worker that never renders a PDF stays lighter.
    with warnings.catch_warnings():
        # Without the optional harfbuzz-subset library, fonts are embedded whole: larger
        # files, same pages. WeasyPrint 70 only announces that a later version will need it.
        warnings.filterwarnings("ignore", "HarfBuzz-Subset", DeprecationWarning)
        import weasyprint

    page = html(course, generated=generated, zone=zone)
    fetcher = weasyprint.URLFetcher(allowed_protocols={"data"})
    return weasyprint.HTML(string=page, url_fetcher=fetcher).write_pdf()
