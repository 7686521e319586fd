"""kb: a stored tsvector column for the knowledge base's search on PostgreSQL

Revision ID: 6b2d4e8f0a13
Revises: 07741a8a447c
Create Date: 2026-11-23 18:15:00

The GIN index on the expression ``to_tsvector('simple', search_text)`` made the planner
choose a sequential scan that recomputed the vector of every row (it underestimates what
``to_tsvector`` costs), and ranking recomputed it again: about a second for 2,000
articles under load, against 40 ms through the index (bench/kb_search.py). A generated,
stored column is computed once per write; both the match and ``ts_rank`` read it. Like the
index, it exists on PostgreSQL only and no model describes it (``hub/migrations/env.py``
leaves it out of ``switchboard db check``). SQLite keeps its FTS5 table.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "6b2d4e8f0a13"
down_revision: str | Sequence[str] | None = "07741a8a447c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_kb_articles_search_fts")
    op.execute(
        "ALTER TABLE kb_articles ADD COLUMN search_vector tsvector "
        "GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, search_text)) STORED"
    )
    op.execute("CREATE INDEX ix_kb_articles_search_fts ON kb_articles USING gin (search_vector)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_kb_articles_search_fts")
    op.execute("ALTER TABLE kb_articles DROP COLUMN IF EXISTS search_vector")
    op.execute(
        "CREATE INDEX ix_kb_articles_search_fts ON kb_articles "
        "USING gin (to_tsvector('simple'::regconfig, search_text))"
    )
