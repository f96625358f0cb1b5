"""Drawing a patient's course: the SVG chart and the printable HTML page."""

import io
from datetime import datetime

from flask import render_template
from markupsafe import Markup

from api.services.patient_report import Course, summary

SEVERITY_COLOURS = {
    "urgent": "#b3261e",
    "warning": "#e8710a",
    "caution": "#f2c94c",
    "info": "#5f6368",
}


def chart_svg(course: Course) -> str:
    """Pain before and after each session over time, check-ins, and alerts marked."""
    # Imported on first use: a worker that never draws a chart stays ~30 MB lighter.
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    # Text stays text (small, selectable, readable by screen readers); ids are stable.
    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "sciatica-care"})
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.2), dpi=100, layout="constrained")
    axes = figure.subplots()
    sessions = course.sessions
    if sessions:
        times = [s.started_at for s in sessions]
        axes.plot(
            times,
            [s.pain_before for s in sessions],
            "o-",
            color="#1a73e8",
            label="Pain before session",
        )
        after = [(s.started_at, s.pain_after) for s in sessions if s.pain_after is not None]
        if after:
            axes.plot(*zip(*after, strict=True), "s--", color="#188038", label="Pain after session")
    if course.checkins:
        axes.plot(
            [c.recorded_at for c in course.checkins],
            [c.pain for c in course.checkins],
            "^",
            color="#9334e6",
            linestyle="none",
            label="Check-in",
        )
    for severity, colour in SEVERITY_COLOURS.items():
        marks = [a.first_seen_at for a in course.alerts if a.severity == severity]
        for index, moment in enumerate(_alert_times(course, severity) or marks):
            axes.axvline(
                moment,
                color=colour,
                alpha=0.7,
                linewidth=1.2,
                label=f"Alert ({severity})" if index == 0 else None,
            )
    axes.set_ylim(-0.5, 10.5)
    axes.set_yticks(range(0, 11, 2))
    axes.set_ylabel("Pain (0-10)")
    axes.set_xlabel("Date (UTC)")
    # Names are text, never matplotlib math ("$...$" would be parsed or fail).
    axes.set_title(f"Pain over time: {course.patient.display_name}", parse_math=False)
    axes.grid(True, alpha=0.3)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(mdates.AutoDateLocator()))
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
        figure.legend(loc="outside lower center", ncols=3, fontsize="small", frameon=False)
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _alert_times(course: Course, severity: str) -> list[datetime]:
    times = []
    for alert in course.alerts:
        if alert.severity != severity:
            continue
        for item in alert.evidence.get("items", []):
            felt = datetime.fromisoformat(item["felt_at"])
            if (course.window.start is None or felt >= course.window.start) and (
                course.window.end is None or felt < course.window.end
            ):
                times.append(felt)
    return times


def html(course: Course, *, generated: datetime) -> str:
    """A self-contained printable page: summary, chart inline, alerts, sessions."""
    svg = chart_svg(course)
    start = course.window
    period = " to ".join(
        _day(value) if value else ("the start" if i == 0 else "now")
        for i, value in enumerate((start.start, start.end))
    )
    return render_template(
        "report.html",
        patient=course.patient,
        s=summary(course),
        sessions=course.sessions,
        checkins=course.checkins,
        pressing=course.pressing,
        label=label,
        chart=Markup(svg[svg.index("<svg") :]),  # noqa: S704 - matplotlib escapes its text
        period=period,
        generated=generated.strftime("%Y-%m-%d %H:%M"),
        fmt=_number,
        pct=_percent,
        when=lambda value: value.strftime("%Y-%m-%d %H:%M"),
    )


def label(code: str | None) -> str:
    """A code as people read it: "deep_tissue" -> "Deep tissue"."""
    return code.replace("_", " ").capitalize() if code else ""


def _day(value: datetime) -> str:
    return value.strftime("%Y-%m-%d")


def _number(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f} %"
