"""One patient's course over a window: summary numbers, breakdowns, chart and printable page."""

import io
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from statistics import fmean

from flask import render_template
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

import analyzer
from api.services import access, analysis, audit
from models import Alert, AlertTrigger, CheckIn, MassageSession, User

IMPROVED = -2  # change <= -2 points: improved; >= +2: worsened (the MCID on the 0-10 scale)
WORSENED = 2
SEVERITY_COLOURS = {
    "urgent": "#b3261e",
    "warning": "#e8710a",
    "caution": "#f2c94c",
    "info": "#5f6368",
}


@dataclass(frozen=True)
class Window:
    start: datetime | None
    end: datetime | None

    def where(self, column):
        clauses = []
        if self.start is not None:
            clauses.append(column >= self.start)
        if self.end is not None:
            clauses.append(column < self.end)
        return clauses


@dataclass
class Course:
    """The raw rows a report is computed from."""

    patient: User
    window: Window
    sessions: list[MassageSession]
    checkins: list[CheckIn]
    alerts: list[Alert]
    trend: str


def _mean(values: list[float]) -> float | None:
    return round(fmean(values), 3) if values else None


def _share(values: list[int], test) -> float | None:
    return round(sum(1 for v in values if test(v)) / len(values), 3) if values else None


def _changes(sessions: list[MassageSession]) -> list[int]:
    return [s.pain_after - s.pain_before for s in sessions if s.pain_after is not None]


def effect(sessions: list[MassageSession]) -> dict:
    """n, mean change and the shares improved and worsened, over sessions with both pains."""
    changes = _changes(sessions)
    return {
        "sessions": len(sessions),
        "with_pain_after": len(changes),
        "mean_change": _mean(changes),
        "improved_share": _share(changes, lambda c: c <= IMPROVED),
        "worsened_share": _share(changes, lambda c: c >= WORSENED),
    }


def load(*, db_session: Session, user: User, patient_id: uuid.UUID, window: Window) -> Course:
    """The patient's sessions, check-ins and alerts felt in the window (404 if not visible)."""
    patient = access.get_patient_or_raise(db_session=db_session, user=user, patient_id=patient_id)
    sessions = list(
        db_session.scalars(
            select(MassageSession)
            .where(
                MassageSession.patient_id == patient.id,
                MassageSession.deleted_at.is_(None),
                *window.where(MassageSession.started_at),
            )
            .order_by(MassageSession.started_at, MassageSession.id)
        )
    )
    checkins = list(
        db_session.scalars(
            select(CheckIn)
            .where(
                CheckIn.patient_id == patient.id,
                CheckIn.deleted_at.is_(None),
                *window.where(CheckIn.recorded_at),
            )
            .order_by(CheckIn.recorded_at, CheckIn.id)
        )
    )
    felt_in_window = select(AlertTrigger.alert_id).where(
        AlertTrigger.patient_id == patient.id, *window.where(AlertTrigger.felt_at)
    )
    alerts = list(
        db_session.scalars(
            select(Alert)
            .where(Alert.patient_id == patient.id, Alert.id.in_(felt_in_window))
            .order_by(Alert.severity_rank.desc(), Alert.last_seen_at.desc())
        )
    )
    reports = [analysis.to_report(r) for r in (*sessions, *checkins)]
    trend = analyzer.trend_label(reports, analysis.config())
    audit.record_read(
        db_session,
        user=user,
        resource_type="patient_report",
        resource_id=patient.id,
        patient_id=patient.id,
    )
    return Course(patient, window, sessions, checkins, alerts, trend)


def summary(course: Course) -> dict:
    sessions = course.sessions
    by_technique: dict[str, list] = defaultdict(list)
    by_pressure: dict[str, list] = defaultdict(list)
    for s in sessions:
        by_technique[s.technique].append(s)
        by_pressure[s.pressure].append(s)
    return {
        "patient_id": course.patient.id,
        "from": course.window.start,
        "to": course.window.end,
        "session_count": len(sessions),
        "checkin_count": len(course.checkins),
        "mean_pain_before": _mean([s.pain_before for s in sessions]),
        "mean_pain_after": _mean([s.pain_after for s in sessions if s.pain_after is not None]),
        "mean_checkin_pain": _mean([c.pain for c in course.checkins]),
        **{k: v for k, v in effect(sessions).items() if k not in ("sessions",)},
        "trend": course.trend,
        "by_technique": [{"technique": k, **effect(v)} for k, v in sorted(by_technique.items())],
        "by_pressure": [{"pressure": k, **effect(v)} for k, v in sorted(by_pressure.items())],
        "alerts": course.alerts,
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
        chart=Markup(svg[svg.index("<svg") :]),  # noqa: S704 - matplotlib escapes its text
        period=period,
        generated=generated.strftime("%Y-%m-%d %H:%M"),
        fmt=_number,
        pct=_percent,
        when=lambda value: value.strftime("%Y-%m-%d %H:%M"),
    )


def _day(value: datetime) -> str:
    return value.strftime("%Y-%m-%d")


def _number(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f} %"
