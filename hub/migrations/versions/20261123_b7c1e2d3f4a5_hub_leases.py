"""hub_leases: leases for the singletons of a multi-node deployment

Revision ID: b7c1e2d3f4a5
Revises: e37d9d1d2e08
Create Date: 2026-11-23 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm_core.db

revision: str = "b7c1e2d3f4a5"
down_revision: str | Sequence[str] | None = "e37d9d1d2e08"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hub_leases",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", crm_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("renewed_at", crm_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", crm_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_hub_leases")),
    )


def downgrade() -> None:
    op.drop_table("hub_leases")
