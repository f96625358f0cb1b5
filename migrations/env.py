"""Alembic environment: the database comes from DATABASE_URL, like the app's."""

import os
from pathlib import Path

from alembic import context

from api.config import default_database_url
from api.db import make_engine
from models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    instance = Path(__file__).resolve().parent.parent / "instance"
    instance.mkdir(exist_ok=True)
    return os.environ.get("DATABASE_URL") or default_database_url(str(instance))


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = make_engine(_url())
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    # SQLite alters a table by copying it, dropping the old one and renaming the copy: with
    # foreign keys enforced, the drop would cascade into every row that references it (the
    # deliveries of the outbox's events, say). They are off while migrating (the pragma only
    # takes effect outside a transaction) and checked before they are on again.
    sqlite = connection.dialect.name == "sqlite"
    if sqlite and connection.in_transaction():
        raise RuntimeError(
            "migrate SQLite on a connection outside any transaction: foreign keys can only be "
            "switched off there, and a table rebuilt with them on cascades into its references"
        )
    if sqlite:
        _pragma(connection, "foreign_keys=OFF")
    try:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        if sqlite and connection.in_transaction():
            connection.commit()
    finally:
        if sqlite:
            broken = _pragma(connection, "foreign_key_check")
            _pragma(connection, "foreign_keys=ON")
            if broken:
                raise RuntimeError(f"migrations left rows whose references are gone: {broken}")


def _pragma(connection, pragma: str) -> list:  # type: ignore[no-untyped-def]
    """A pragma on the driver's connection itself, outside any transaction SQLAlchemy opens."""
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(f"PRAGMA {pragma}")
        return cursor.fetchall()
    finally:
        cursor.close()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
