"""Engine and per-request SQLAlchemy session for the app."""

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache, wraps
from itertools import count

try:
    import fcntl
except ImportError:  # not on Windows: writers poll SQLite's busy timeout instead
    fcntl = None

from flask import Flask, Response, current_app, g, has_request_context, request
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

import analyzer
from api import metrics

# PostgreSQL's deadlock_detected and serialization_failure: the database gave up on this
# transaction in favour of another, and running the whole of it again is the remedy.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
WRITE_ATTEMPTS = 3
# Requests whose transaction only reads: it begins deferred on SQLite.
READ_METHODS = frozenset({"GET", "HEAD"})
# In a session's info, the transaction its reads apart began; in a connection's, whether its
# transaction (or savepoint) holds a write request's reads apart (read_apart).
_READS_APART = "reads_apart"
_WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


def make_engine(
    url: str, *, busy_timeout_ms: int = 5000, statement_timeout_ms: int | None = None
) -> Engine:
    """An engine; on PostgreSQL each statement is cancelled after `statement_timeout_ms`
    (None: the server's setting, as migrations want)."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": busy_timeout_ms / 1000}, hide_parameters=True
        )
        _tune_sqlite(engine, busy_timeout_ms)
        return engine
    connect_args = {}
    if statement_timeout_ms is not None:
        connect_args["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
    # hide_parameters: an error's message never carries bound values (pain, notes, symptoms).
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, hide_parameters=True)


def _tune_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not pysqlite, decide where transactions begin (savepoints work).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        if engine.url.database not in (None, "", ":memory:"):
            # WAL with synchronous=NORMAL: a commit is not synced to disk by itself, only at
            # checkpoints. A crash of the process (or of every worker) loses nothing
            # committed; a power cut or OS crash can lose the last transactions before
            # the checkpoint. Use PostgreSQL where that is not acceptable.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    queue = _writer_queue(engine)

    @event.listens_for(engine, "savepoint")  # as tests run the app's transactions
    def _mark_reads_apart(connection, *_args) -> bool:  # type: ignore[no-untyped-def]
        # Whether this transaction holds a write request's reads apart (read_apart): they
        # begin outside the writers' queue, and a write must not run in them.
        marked = has_request_context() and g.get("reading_first", False)
        connection.info[_READS_APART] = marked
        return marked

    @event.listens_for(engine, "release_savepoint")
    @event.listens_for(engine, "rollback_savepoint")
    def _unmark_reads_apart(connection, *_args) -> None:  # type: ignore[no-untyped-def]
        connection.info[_READS_APART] = False

    @event.listens_for(engine, "begin")
    def _on_begin(connection):  # type: ignore[no-untyped-def]
        # Writers take the lock up front so they queue instead of failing on upgrade; reads
        # (GET, and a write request's reads apart: read_apart) begin deferred and, in WAL
        # mode, never wait for a writer.
        reads_apart = _mark_reads_apart(connection)
        only_reads = (
            has_request_context()
            and request.method in READ_METHODS
            and not g.get("writing_after_read", False)
        )
        if reads_apart or only_reads:
            connection.exec_driver_sql("BEGIN")
            return
        if queue is not None:
            queue.enter(connection)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if queue is not None:
                queue.leave(connection)
            raise

    @event.listens_for(engine, "before_cursor_execute")
    def _no_write_while_reading_apart(connection, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        # A write in the reads apart could find another writer's commit since and fail.
        if connection.info.get(_READS_APART) and _WRITES.match(statement):
            raise RuntimeError(
                "A write in the reads apart (api.db.read_apart): write with the session "
                "get_session gives after the read block."
            )

    if queue is not None:
        # Just before COMMIT or ROLLBACK: the next writer's BEGIN IMMEDIATE then waits
        # (busy timeout) only for the end of this one.
        event.listen(engine, "commit", queue.leave)
        event.listen(engine, "rollback", queue.leave)
        event.listen(engine, "close", queue.forget)
        # A connection back in the pool without a commit or rollback event (dropped
        # unclosed, then reset by the pool) gives back the lock it held.
        event.listen(engine, "checkin", queue.release)


class _WriterQueue:
    """Writers of one SQLite file wait their turn on a file lock, across threads and workers.

    Without it, a writer that finds the database locked polls with SQLite's growing
    back-off (up to 100 ms a sleep), and under load some writes wait far longer than the
    others (a p99 of seconds). A blocking ``flock`` hands the turn over at once. Each
    connection holds its own open file, so threads of one process queue as well.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def enter(self, connection) -> None:  # type: ignore[no-untyped-def]
        handle = connection.info.get("writer_queue")
        if handle is None:
            handle = connection.info["writer_queue"] = open(self.path, "a+b")  # noqa: SIM115
        asked = time.perf_counter()
        fcntl.flock(handle, fcntl.LOCK_EX)
        connection.info["writer_queue_held"] = given = time.perf_counter()
        metrics.WRITER_WAIT.observe(given - asked)

    def leave(self, connection) -> None:  # type: ignore[no-untyped-def]
        if not connection.invalidated:  # else its record is gone: forget released it
            self._release(connection.info)

    def release(self, _dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
        """A connection is back in the pool: whatever it still held is given back."""
        self._release(record.info)

    def _release(self, info: dict) -> None:
        """Give back the lock if held (twice is harmless)."""
        given = info.pop("writer_queue_held", None)
        if given is not None:
            fcntl.flock(info["writer_queue"], fcntl.LOCK_UN)
            metrics.WRITER_HELD.observe(time.perf_counter() - given)

    def forget(self, _dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
        """The database connection closes: so does its lock file (and any lock it held)."""
        record.info.pop("writer_queue_held", None)
        handle = record.info.pop("writer_queue", None)
        if handle is not None:
            handle.close()


def _writer_queue(engine: Engine) -> _WriterQueue | None:
    database = engine.url.database
    if database in (None, "", ":memory:") or fcntl is None:
        return None
    return _WriterQueue(database + "-writers.lock")


def init_app(app: Flask) -> None:
    engine = make_engine(
        app.config["DATABASE_URL"],
        busy_timeout_ms=app.config["SQLITE_BUSY_TIMEOUT_MS"],
        statement_timeout_ms=app.config["DB_STATEMENT_TIMEOUT_MS"],
    )
    app.extensions["db_engine"] = engine
    app.extensions["db_sessionmaker"] = sessionmaker(bind=engine, expire_on_commit=False)
    app.after_request(finish_request)
    app.teardown_appcontext(_close_session)


def get_session() -> Session:
    """The session of the current request, opened on first use; outside a read block it
    first ends the request's reads apart, if open (read_apart), so that a write begins in a
    transaction of its own.

    Services take what they need of the request from the session's ``info`` (the
    analyzer's thresholds, the request id and address for the audit trail, the signed-in
    user once known), so that they import nothing from Flask.
    """
    session = request_session()
    if not g.get("reading_first") and _reading_apart(session):
        session.commit()  # the reads before the write end here: a read-only transaction
    return session


def request_session() -> Session:
    """The session of the current request as it is: unlike get_session, a transaction of
    reads apart stays open (read_apart)."""
    if "db_session" not in g:
        session = current_app.extensions["db_sessionmaker"]()
        _fill_info(session, current_app)
        if has_request_context():
            session.info.update(request_id=g.get("request_id"), ip=request.remote_addr)
        g.db_session = session
    return g.db_session


def _reading_apart(session: Session) -> bool:
    """Whether the session's transaction is the one its reads apart began (read_apart)."""
    transaction = session.info.get(_READS_APART)
    return transaction is not None and transaction is session.get_transaction()


@contextmanager
def read_apart() -> Iterator[Session | None]:
    """The request's session in a read-only transaction apart from its write, for reads a
    write request makes before it (who is signing in, a stored response, the analysis of
    the report to write): on SQLite the writer's lock is then held only for the write.

    The reads apart of one request share one transaction: it stays open after the block
    and ends (a commit that writes nothing) when the request's session is next asked for
    outside such a block (get_session), as a view does to write, or at the end of the
    request. A write in it is refused (_no_write_while_reading_apart). None where they
    would share the request's transaction anyway: PostgreSQL, where readers and writers
    do not block each other; a GET or HEAD, whose transaction only reads (the sign-in and
    the page are then read in one); another transaction already begun; or changes
    pending."""
    db_session = request_session()
    pending = db_session.new or db_session.dirty or db_session.deleted
    if (
        db_session.get_bind().dialect.name != "sqlite"
        or (has_request_context() and request.method in READ_METHODS)
        or (db_session.in_transaction() and not _reading_apart(db_session))
        or pending
    ):
        yield None
        return
    if not db_session.in_transaction():
        db_session.info[_READS_APART] = db_session.begin()
    outer, g.reading_first = g.get("reading_first", False), True
    try:
        yield db_session
    finally:
        g.reading_first = outer


@contextmanager
def read_first() -> Iterator[Session]:
    """The request's session for reads made before its write: apart on SQLite (read_apart),
    else in the request's one transaction."""
    with read_apart() as db_session:
        yield db_session or get_session()


def _fill_info(session: Session, app: Flask) -> None:
    session.info["analyzer_config"] = analyzer_config(app.config.get("ANALYZER_OVERRIDES"))


def analyzer_config(overrides: dict | None) -> analyzer.AnalyzerConfig:
    """The analyzer's thresholds: the defaults with the configured overrides."""
    if not overrides:
        return analyzer.DEFAULT_CONFIG
    return _config_from(json.dumps(overrides, sort_keys=True))


@lru_cache(maxsize=8)
def _config_from(overrides: str) -> analyzer.AnalyzerConfig:
    return analyzer.AnalyzerConfig.from_mapping(json.loads(overrides))


def _settle(session: Session, *, succeeded: bool) -> None:
    """Commit a request's work, or roll it back when it failed, unless a service said that
    what it wrote stands even so (a refused sign-in is audited; a reused refresh token's
    family stays revoked)."""
    if succeeded or session.info.pop("keep_on_error", False):
        session.commit()
    else:
        session.rollback()


def finish_request(response: Response) -> Response:
    """The edge of every request's unit of work: commit once, or roll back on an error.

    Views under ``transactional`` have committed already, and this finds nothing to do.
    Audit events of reads (``after_read``) are written after the read's transaction ends:
    on SQLite a read transaction may not turn into a write once another writer has
    committed since it began. They are committed before the response (or the first byte
    of a streamed one) leaves.
    """
    session = g.get("db_session")
    if session is None:
        return response
    after_read = session.info.pop("after_read", [])
    if response.status_code >= 400:
        after_read = []
    _settle(session, succeeded=response.status_code < 400)
    if after_read:
        # A write, even in a GET: it queues with the writers and takes the lock up front,
        # instead of polling SQLite's busy timeout behind them (a therapist's read starved,
        # or failed with "database is locked", while a phone flushed its queue).
        g.writing_after_read = True
        try:
            session.add_all(after_read)
            session.commit()
        finally:
            # A streamed body (an export) reads on after this: those reads stay reads.
            g.writing_after_read = False
    return response


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def is_retryable(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def transactional(func):
    """Make a write view the one owner of its request's transaction.

    Services flush and never commit; this commits once, after the view has built its
    response (an idempotent write stores that response in the same transaction), or rolls
    everything back when the view raises or answers an error. A deadlock or serialization
    failure runs the whole view again, up to ``WRITE_ATTEMPTS`` times.
    """

    @wraps(func)
    def wrapper(*args, **kwargs):
        # Not get_session(): the view's reads before its write share the sign-in's
        # transaction of reads apart (read_apart).
        db_session = request_session()
        for attempt in count(1):
            try:
                response = current_app.make_response(func(*args, **kwargs))
                _settle(db_session, succeeded=response.status_code < 400)
                return response
            except DBAPIError as exc:
                db_session.rollback()
                db_session.info.pop("after_read", None)  # the next attempt reads again
                if attempt == WRITE_ATTEMPTS or not is_retryable(exc):
                    raise
            except BaseException:
                _settle(db_session, succeeded=False)
                raise

    return wrapper


@contextmanager
def session_scope(app: Flask) -> Iterator[Session]:
    """A session for CLI commands: committed on success, rolled back on error."""
    with app.extensions["db_sessionmaker"]() as session:
        _fill_info(session, app)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
