"""nerve grades may be not reported: numbness, tingling and weakness become nullable

A report that did not grade a symptom (a check-in that gives pain only) keeps it as NULL
instead of 0. Rows stored before keep their grades: which of their zeros were left out
cannot be told any more. Downgrading stores NULL as 0 again, the old meaning. Partial
indexes find a patient's last reports that graded weakness or numbness (the analyzer's
nerve window) without walking past their pain-only check-ins.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 03:19:28.711697
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = {"sessions": "started_at", "checkins": "recorded_at"}
GRADES = ("numbness", "tingling", "weakness")
INDEXED = ("weakness", "numbness")


def _nullable(nullable: bool) -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            for grade in GRADES:
                batch_op.alter_column(grade, existing_type=sa.SmallInteger(), nullable=nullable)


def upgrade() -> None:
    _nullable(True)
    for table, felt in TABLES.items():
        for grade in INDEXED:
            where = sa.text(f"{grade} IS NOT NULL")
            op.create_index(
                f"ix_{table}_patient_{grade}",
                table,
                ["patient_id", felt],
                sqlite_where=where,
                postgresql_where=where,
            )


def downgrade() -> None:
    for table in TABLES:
        for grade in INDEXED:
            op.drop_index(f"ix_{table}_patient_{grade}", table_name=table)
    for table in TABLES:
        for grade in GRADES:
            op.execute(sa.text(f"UPDATE {table} SET {grade} = 0 WHERE {grade} IS NULL"))
    _nullable(False)
