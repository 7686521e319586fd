"""reports: saved reports, and the time indexes the report queries range over

Revision ID: r3p0rt5a11d0
Revises: 5a1c0ffee9b1
Create Date: 2026-11-23 17:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm_core.db

revision: str = "r3p0rt5a11d0"
down_revision: str | Sequence[str] | None = "5a1c0ffee9b1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_report_queue_entries_enqueued_at", "queue_entries", "enqueued_at"),
    ("ix_report_queue_entries_answered_at", "queue_entries", "answered_at"),
    ("ix_report_interactions_created_at", "interactions", "created_at"),
    ("ix_report_tickets_created_at", "tickets", "created_at"),
    ("ix_report_customers_created_at", "customers", "created_at"),
    ("ix_report_agent_state_changes_at", "agent_state_changes", "at"),
)


def upgrade() -> None:
    op.create_table(
        "report_saved_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column(
            "definition",
            sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("created_at", crm_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_report_saved_reports_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_report_saved_reports_team_id_teams"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_saved_reports")),
    )
    with op.batch_alter_table("report_saved_reports", schema=None) as batch_op:
        batch_op.create_index("ix_report_saved_reports_owner", ["owner_id", "name"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_report_saved_reports_team_id"), ["team_id"], unique=False
        )
    for name, table, column in INDEXES:
        op.create_index(name, table, [column], unique=False)


def downgrade() -> None:
    for name, table, _column in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("report_saved_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_saved_reports_team_id"))
        batch_op.drop_index("ix_report_saved_reports_owner")
    op.drop_table("report_saved_reports")
