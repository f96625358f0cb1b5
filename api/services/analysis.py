"""Re-analysis of one patient after a write: a bounded window of reports in, alert changes out."""

import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from sqlalchemy import bindparam, cast, func, literal, null, select, union_all
from sqlalchemy.orm import Session

import analyzer
from api import metrics
from api.errors import NotFound
from api.services import alerts
from models import Alert, CheckIn, MassageSession, PatientProfile, PatientSummary, User, utcnow
from models.base import column_rows, conflict_insert
from models.report import felt_column

# How many reports felt after the written one are re-evaluated (a late sync lands in the
# middle of the history); beyond it, older findings are left as they are.
AFTER_LIMIT = 30
LOOKBACK_CAP = 500
# How far the re-evaluation reaches to the nerve rules' triggers: a report that graded a
# nerve symptom is part of the usual grade of the next reports that graded it, however many
# pain-only check-ins came between (_window_statement).
REACH_CAP = 500
# The precision of stored times: the span judged ends this much before a report left out.
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Window:
    reports: list[analyzer.Report]
    focus: datetime | None
    horizon: datetime | None  # last felt time re-evaluated; None: the whole history
    after: dict = field(default_factory=dict)  # model -> reports felt at or after the focus


@dataclass(frozen=True)
class Judgement:
    """What the analyzer made of a patient's reports from a focus on."""

    findings: list[analyzer.Finding]
    horizon: datetime | None  # as Window.horizon
    summary: analyzer.Summary


@dataclass(frozen=True)
class Prepared:
    """The judgement of a report about to be written, made before the write's transaction
    from the patient's history as it was then (on SQLite, outside the writer's lock).

    The write uses it only when the patient's reports, alerts and profile are still as they
    were (``state``) and the report was written as foreseen (``report``); otherwise the
    write judges again in its own transaction. Either way the same judgement comes out.
    What planning the alert changes reads (``stored``) was read with it, on the same
    state.
    """

    patient_id: uuid.UUID
    report: analyzer.Report
    state: tuple
    judgement: Judgement
    stored: alerts.StoredAlerts


def config(db_session: Session) -> analyzer.AnalyzerConfig:
    """The thresholds in force: the edge that opened the session put them in its ``info``."""
    return db_session.info.get("analyzer_config", analyzer.DEFAULT_CONFIG)


_SYMPTOMS = (
    "numbness",
    "tingling",
    "weakness",
    "symptom_side",
    "bladder_bowel_change",
    "saddle_numbness",
)
# The columns the analyzer reads, selected as plain rows: loading ORM objects (identity
# map, change tracking) for a window of reports cost more than the analysis itself.
_COLUMNS = {
    MassageSession: (
        "id",
        "started_at",
        "pain_before",
        "pain_after",
        "technique",
        "pressure",
        "areas",
        "acute_flare",
        *_SYMPTOMS,
    ),
    CheckIn: ("id", "recorded_at", "pain", *_SYMPTOMS),
}


def foreseen(report) -> analyzer.Report:
    """The analyzer's report of a session or check-in object as the database will give it
    back: its felt time in UTC."""
    found = to_report(report)
    return replace(found, felt_at=found.felt_at.astimezone(UTC))


def to_report(row, model: type[MassageSession] | type[CheckIn] | None = None) -> analyzer.Report:
    """An analyzer report from a session or check-in: an ORM object, or a row holding
    ``model``'s columns of _COLUMNS (a window row holds both kinds': _window_part)."""
    model = model or type(row)
    symptoms = analyzer.Symptoms(
        numbness=row.numbness,
        tingling=row.tingling,
        weakness=row.weakness,
        side=row.symptom_side,
        bladder_bowel_change=row.bladder_bowel_change,
        saddle_numbness=row.saddle_numbness,
    )
    if model is MassageSession:
        return analyzer.Report(
            id=str(row.id),
            kind="session",
            felt_at=row.started_at,
            pain_before=row.pain_before,
            pain_after=row.pain_after,
            symptoms=symptoms,
            technique=row.technique,
            pressure=row.pressure,
            areas=tuple(row.areas or ()),
            acute_flare=row.acute_flare,
        )
    return analyzer.Report(
        id=str(row.id), kind="checkin", felt_at=row.recorded_at, pain=row.pain, symptoms=symptoms
    )


def _live(model, patient_id):
    """The analyzer's columns (_COLUMNS) of live reports of one kind: of a patient (an id or
    a bind), or, with None, of everyone."""
    columns = [getattr(model, name) for name in _COLUMNS[model]]
    live = select(*columns).where(model.deleted_at.is_(None))
    return live if patient_id is None else live.where(model.patient_id == patient_id)


# The columns of a window row: those of both kinds, in one shape (a kind's row holds NULL in
# the other kind's own columns), so that one statement reads both kinds.
_WINDOW_COLUMNS = tuple(dict.fromkeys((*_COLUMNS[MassageSession], *_COLUMNS[CheckIn])))
_KINDS = (MassageSession, CheckIn)
_PARTS = 6  # per kind; see _window_statement


def _window_part(model):
    """The live reports of one kind of the bound patient, in the window's shape. The other
    kind's columns are NULLs of their own type: a union's rows are read with the types of
    its first part (untyped, a check-in's time would come back from SQLite as text)."""
    own = _COLUMNS[model]
    other = next(m for m in _KINDS if m is not model)
    columns = [
        getattr(model, name) if name in own else cast(null(), getattr(other, name).type).label(name)
        for name in _WINDOW_COLUMNS
    ]
    return _live(model, bindparam("patient_id")).with_only_columns(*columns)


def _reach(nerve_reports: int):
    """The felt time of the last of the first ``nerve_reports`` + 1 reports at or after the
    focus that graded each nerve symptom, the latest over both kinds (NULL without one): the
    written report (one of them, if it grades) is in the nerve window of the reports that
    graded a symptom up to that time."""
    firsts = [
        _live(model, bindparam("patient_id"))
        .with_only_columns(felt_column(model).label("felt"))
        .where(felt_column(model) >= bindparam("focus"), getattr(model, name).is_not(None))
        .order_by(felt_column(model))
        .limit(nerve_reports + 1)
        for model in _KINDS
        for name in analyzer.NERVE_SYMPTOMS
    ]
    graded = union_all(*(select(first.subquery()) for first in firsts)).subquery()
    return select(func.max(graded.c.felt)).scalar_subquery()


@lru_cache
def _window_statement(history_reports: int, nerve_reports: int):
    """One statement for both kinds of report, built once: a union of marked parts, six
    per kind (part ``6 * k + i``, ``k`` the kind's place in _KINDS).

    The last ``history_reports`` reports felt before the focus (i = 0), those felt in the
    lookback before it (i = 1, up to ``LOOKBACK_CAP``), up to ``AFTER_LIMIT`` + 1 felt at
    or after it (i = 2: one more than are judged, to tell where the span judged ends), the
    last ``nerve_reports`` felt before it that graded weakness (i = 3) and numbness (i = 4):
    the nerve rules' window (analyzer.engine.nerve_window), and every report felt from the
    focus to the reach (_reach), up to ``REACH_CAP`` + 1 (i = 5): the triggers whose nerve
    window holds the written report, with all the reports their windows need.
    """
    reach = _reach(nerve_reports)
    marked = []
    for kind, model in enumerate(_KINDS):
        felt = felt_column(model)
        live = _window_part(model)
        before = live.where(felt < bindparam("focus"))
        latest = before.order_by(felt.desc(), model.id.desc())
        after = live.where(felt >= bindparam("focus")).order_by(felt, model.id)
        parts = (
            latest.limit(history_reports),
            before.where(felt >= bindparam("since")).limit(LOOKBACK_CAP),
            after.limit(AFTER_LIMIT + 1),
            *(
                latest.where(getattr(model, name).is_not(None)).limit(nerve_reports)
                for name in analyzer.NERVE_SYMPTOMS
            ),
            after.where(felt <= reach).limit(REACH_CAP + 1),
        )
        marked += [
            select(part.subquery(), literal(_PARTS * kind + index).label("part"))
            for index, part in enumerate(parts)
        ]
    return union_all(*marked)


def load_window(
    *,
    db_session: Session,
    patient_id: uuid.UUID,
    focus: datetime | None,
    cfg: analyzer.AnalyzerConfig,
) -> Window:
    """The reports the analyzer needs to re-judge every trigger felt at or after `focus`."""
    if focus is None:
        reports = [
            to_report(row, model)
            for model in _KINDS
            for row in column_rows(db_session, _live(model, patient_id))
        ]
        return Window(reports=reports, focus=None, horizon=None)
    rows: dict = {}
    after: dict = {model: [] for model in _KINDS}
    reached: dict = {model: [] for model in _KINDS}
    params = {"patient_id": patient_id, "focus": focus, "since": focus - cfg.lookback}
    statement = _window_statement(cfg.history_reports, cfg.nerve_reports)
    for row in column_rows(db_session, statement, params):
        kind, index = divmod(row.part, _PARTS)
        model = _KINDS[kind]
        # By kind and id: a session and a check-in stored before such ids were refused
        # (reports.create) may carry the same id.
        rows[model, row.id] = (row, model)
        if index in (2, 5):
            (after if index == 2 else reached)[model].append(getattr(row, felt_column(model).key))
    horizon = _horizon(focus, after, reached)
    reports = [to_report(row, model) for row, model in rows.values()]
    if horizon is not None:
        # One kind was cut short: judge only up to where both kinds are complete.
        reports = [r for r in reports if r.felt_at <= horizon]
    counts = {model: len(felt) for model, felt in after.items()}
    return Window(reports=reports, focus=focus, horizon=horizon, after=counts)


def _horizon(focus: datetime, after: dict, reached: dict) -> datetime | None:
    """The last felt time up to which every report of both kinds was read (None: all were).

    A kind is complete to its end when its first AFTER_LIMIT + 1 reports after the focus
    were all it had; otherwise up to just before the first report not read (so that
    reports felt at the same time as it are all left out, and their triggers with them: a
    trigger in the span judged but not found again is withdrawn), or up to the reach, the
    latest time part 5 read, when that is later and part 5 was not cut short itself. Only
    more than AFTER_LIMIT + 1 reports felt at the focus itself would still be cut."""
    reach = max((felt for kind in reached.values() for felt in kind), default=None)
    horizon: datetime | None = None
    for model, felt in after.items():
        if len(felt) <= AFTER_LIMIT:
            continue
        complete = max(focus, max(felt) - _TICK)
        more = reached[model]
        if reach is not None:
            complete = max(complete, max(more) - _TICK if len(more) > REACH_CAP else reach)
        horizon = complete if horizon is None else min(horizon, complete)
    return horizon


def recent_reports(
    *, db_session: Session, patient_ids: list[uuid.UUID], cfg: analyzer.AnalyzerConfig
) -> dict[uuid.UUID, list[analyzer.Report]]:
    """The last ``history_reports`` live reports of each kind of these patients: what a
    summary is computed from. One statement per kind, whatever the number of patients."""
    found: dict[uuid.UUID, list[analyzer.Report]] = {pid: [] for pid in patient_ids}
    if not patient_ids:
        return found
    for model in (MassageSession, CheckIn):
        felt = felt_column(model)
        ranked = (
            _live(model, None)
            .where(model.patient_id.in_(patient_ids))
            .add_columns(
                model.patient_id,
                func.row_number()
                .over(partition_by=model.patient_id, order_by=(felt.desc(), model.id.desc()))
                .label("rank"),
            )
            .subquery()
        )
        query = select(ranked).where(ranked.c.rank <= cfg.history_reports)
        for row in column_rows(db_session, query):
            found[row.patient_id].append(to_report(row, model))
    return found


def store_summary(
    *,
    db_session: Session,
    patient_id: uuid.UUID,
    summary: analyzer.Summary,
    cfg: analyzer.AnalyzerConfig,
) -> None:
    """Store the patient's summary: one upsert."""
    values = {
        **asdict(summary),
        "basis": analyzer.summary_basis(cfg),
        "updated_at": utcnow(),
        "patient_id": patient_id,
    }
    statement = conflict_insert(PatientSummary, tuple(values), key="patient_id", update=True)
    db_session.execute(statement, values)


def patients(*, db_session: Session, patient_id: uuid.UUID | None = None) -> list[User]:
    """Every patient, or the one named; raises NotFound for an unknown id."""
    query = select(User).where(User.role == "patient").order_by(User.created_at, User.id)
    if patient_id is not None:
        query = query.where(User.id == patient_id)
    found = list(db_session.scalars(query))
    if patient_id is not None and not found:
        raise NotFound("No such patient.")
    return found


def context_of(patient: User) -> analyzer.PatientContext:
    """What the analyzer knows of the patient besides their reports (their profile)."""
    profile = patient.profile
    if profile is None:
        return analyzer.PatientContext()
    return analyzer.PatientContext(
        medically_cleared_at=profile.medically_cleared_at, affected_side=profile.affected_side
    )


def _context_in(state: tuple) -> analyzer.PatientContext:
    """The analyzer's context from a state row (_STATE): no need to load the profile."""
    *_, affected_side, cleared_at = state
    if affected_side is None:  # no profile
        return analyzer.PatientContext()
    return analyzer.PatientContext(medically_cleared_at=cleared_at, affected_side=affected_side)


# What a prepared judgement rests on: the patient's reports and alerts (every committed
# change to one has a higher change number than any before, deletions included; the report
# being written counts 0 until the commit numbers it; on PostgreSQL every row a transaction
# writes keeps its earlier number until that commit, models.changes; a trigger changes
# only with a report or its alert) and what the analyzer reads of their profile (None for
# both when there is no profile). One statement, on indexes.
_STATE = select(
    *(
        select(func.coalesce(func.max(model.change_seq), 0))
        .where(model.patient_id == bindparam("patient_id"))
        .scalar_subquery()
        for model in (MassageSession, CheckIn, Alert)
    ),
    *(
        select(column).where(PatientProfile.user_id == bindparam("patient_id")).scalar_subquery()
        for column in (PatientProfile.affected_side, PatientProfile.medically_cleared_at)
    ),
)


def _state(db_session: Session, patient_id: uuid.UUID) -> tuple:
    return tuple(column_rows(db_session, _STATE, {"patient_id": patient_id}).one())


def prepare(
    *, db_session: Session, patient: User, report: MassageSession | CheckIn
) -> Prepared | None:
    """Judge `report`, not yet written, against the patient's history as it is now, with
    the state of that history (see analyze_new). None as for ``_foresee``."""
    state = _state(db_session, patient.id)
    judgement = _foresee(db_session, _context_in(state), report, config(db_session))
    if judgement is None:
        return None
    stored = alerts.read_stored(
        db_session,
        patient.id,
        judgement.findings,
        report.felt_at,
        judgement.horizon,
        corrected=None,
    )
    return Prepared(
        patient_id=patient.id,
        report=foreseen(report),
        state=state,
        judgement=judgement,
        stored=stored,
    )


def _foresee(
    db_session: Session,
    context: analyzer.PatientContext,
    report: MassageSession | CheckIn,
    cfg: analyzer.AnalyzerConfig,
) -> Judgement | None:
    """The judgement of `report`, not in the database, from the stored history and it.

    None when the reports felt after it nearly fill the window (which of them are re-judged
    depends on the report being there), or when its id is one of theirs (a check-in's id
    sent for a session): the report is then judged once written, as an edit is.
    """
    new = foreseen(report)
    window = load_window(
        db_session=db_session, patient_id=report.patient_id, focus=new.felt_at, cfg=cfg
    )
    if window.horizon is not None or window.after.get(type(report), 0) > AFTER_LIMIT - 2:
        return None
    if any(r.id == new.id for r in window.reports):
        return None
    reports = [*window.reports, new]
    return _judgement(context, reports, reports, new.felt_at, None, cfg)


def _judge(
    db_session: Session, patient: User, focus: datetime | None, cfg: analyzer.AnalyzerConfig
) -> Judgement:
    window = load_window(db_session=db_session, patient_id=patient.id, focus=focus, cfg=cfg)
    # The window holds the patient's latest reports unless a kind was cut short after focus.
    latest = window.reports
    if window.horizon is not None:
        found = recent_reports(db_session=db_session, patient_ids=[patient.id], cfg=cfg)
        latest = found[patient.id]
    return _judgement(context_of(patient), window.reports, latest, focus, window.horizon, cfg)


def _judgement(
    context: analyzer.PatientContext,
    reports: list[analyzer.Report],
    latest: list[analyzer.Report],
    focus: datetime | None,
    horizon: datetime | None,
    cfg: analyzer.AnalyzerConfig,
) -> Judgement:
    """The findings of `reports` from `focus` on, and the summary of the `latest` ones."""
    with metrics.ANALYZER.time():
        findings = analyzer.analyze(reports, context, config=cfg, focus_from=focus)
    return Judgement(findings, horizon, analyzer.summarize(latest, cfg))


def _still_holds(
    db_session: Session, prepared: Prepared | None, patient: User, report: MassageSession | CheckIn
) -> bool:
    return (
        prepared is not None
        and prepared.patient_id == patient.id
        and prepared.report == foreseen(report)
        and prepared.state == _state(db_session, patient.id)
    )


def analyze_new(
    *,
    db_session: Session,
    patient: User,
    report: MassageSession | CheckIn,
    prepared: Prepared | None = None,
) -> alerts.Changes:
    """Judge a new report, added to the session but not yet written, and plan the alert
    changes: the report, the alerts and their triggers are then written by one flush (the
    caller's ``stamp``), and the changes announced after it (``alerts.announce``).

    `prepared` (made before the write's transaction) is used when the patient's history is
    still as it was then; else the judgement is made here the same way, from the stored
    history and the report. Where that cannot be (see ``_foresee``) the report is written
    first and judged in place.
    """
    cfg = config(db_session)
    alerts.lock_patient(db_session=db_session, patient_id=patient.id)
    if _still_holds(db_session, prepared, patient, report):
        judgement, stored = prepared.judgement, prepared.stored
        return _plan(db_session, patient, judgement, report.felt_at, cfg, None, stored)
    with db_session.no_autoflush:  # the report stays pending: the profile may load
        judgement = _foresee(db_session, context_of(patient), report, cfg)
    if judgement is None:
        db_session.flush()
        judgement = _judge(db_session, patient, report.felt_at, cfg)
    return _plan(db_session, patient, judgement, report.felt_at, cfg, None)


def correction_of(
    *, db_session: Session, report: MassageSession | CheckIn, moved_to: datetime | None = None
) -> alerts.Correction:
    """Before an edit or deletion of `report` (its patient's lock held): what the rules find
    from the earlier of its felt time and `moved_to` (its new one) on, as the history still
    is, judged as ``reanalyze`` judges. What the correction takes away of it is withdrawn,
    and what it changes is updated (``alerts.plan_changes``)."""
    patient = db_session.get(User, report.patient_id)
    cfg = config(db_session)
    focus = min(report.felt_at, moved_to) if moved_to is not None else report.felt_at
    window = load_window(db_session=db_session, patient_id=patient.id, focus=focus, cfg=cfg)
    findings = analyzer.analyze(window.reports, context_of(patient), config=cfg, focus_from=focus)
    found = {f.key: alerts.stored_item(f) for f in findings}
    return alerts.Correction(report.id, found, foreseen(report))


def after_change(
    correction: alerts.Correction, report: MassageSession | CheckIn
) -> alerts.Correction:
    """The correction once `report` is changed: whether what the analyzer reads of it did."""
    changed = report.deleted_at is not None or foreseen(report) != correction.was
    return replace(correction, changed=changed)


def reanalyze(
    *,
    db_session: Session,
    patient: User,
    focus: datetime | None,
    corrected: alerts.Correction | None,
) -> alerts.Changes:
    """Re-judge the patient from `focus` on (None: everything) and apply it to their alerts;
    `corrected` after an edit or deletion, whose firings gone are withdrawn (see
    ``alerts.plan_changes``).

    Runs inside the caller's transaction; the caller commits the write and the alerts together.
    """
    cfg = config(db_session)
    alerts.lock_patient(db_session=db_session, patient_id=patient.id)
    judgement = _judge(db_session, patient, focus, cfg)
    changes = _plan(db_session, patient, judgement, focus, cfg, corrected)
    db_session.flush()
    alerts.announce(db_session, changes)
    return changes


def _plan(
    db_session: Session,
    patient: User,
    judgement: Judgement,
    focus: datetime | None,
    cfg: analyzer.AnalyzerConfig,
    corrected: alerts.Correction | None,
    stored: alerts.StoredAlerts | None = None,
) -> alerts.Changes:
    """Store the judgement's summary and plan its alert changes (written by the caller), from
    `stored` when it was read with a prepared judgement that still holds."""
    store_summary(db_session=db_session, patient_id=patient.id, summary=judgement.summary, cfg=cfg)
    return alerts.plan_changes(
        db_session=db_session,
        patient_id=patient.id,
        findings=judgement.findings,
        judged_from=focus,
        judged_to=judgement.horizon,
        corrected=corrected,
        stored=stored,
    )
