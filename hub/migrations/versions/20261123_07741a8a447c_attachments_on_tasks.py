"""attachments on tasks: files and links on a planning task, with the task's rights

Revision ID: 07741a8a447c
Revises: r3p0rt5a11d0
Create Date: 2026-11-23 17:21:27.104394
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "07741a8a447c"
down_revision: str | Sequence[str] | None = "r3p0rt5a11d0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("task_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_attachments_task_id"), ["task_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_attachments_task_id_planning_tasks"),
            "planning_tasks",
            ["task_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_attachments_task_id_planning_tasks"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_attachments_task_id"))
        batch_op.drop_column("task_id")
