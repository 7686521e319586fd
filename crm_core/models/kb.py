"""Knowledge base of solutions: categories, articles, their versions.

``kb_articles.search_text`` is the article's title, keywords and body folded for search
(lower case, diacritics removed, see ``crm_core.services.kb.fold``); the full-text index is
built over it: an FTS5 table kept in sync by triggers on SQLite; on PostgreSQL a stored
generated column ``search_vector`` (``to_tsvector('simple', search_text)``) with a GIN
index. Both are created by the migrations and are invisible to the models
(``hub/migrations/env.py`` leaves them out of the comparison).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_core.db import Base, utcnow

KB_VISIBILITIES = ("internal", "public")
# Objects of the full-text index that the migration creates outside the models.
KB_FTS_TABLE = "kb_articles_fts"
KB_PG_SEARCH_INDEX = "ix_kb_articles_search_fts"
KB_PG_SEARCH_COLUMN = "search_vector"


class KbCategory(Base):
    __tablename__ = "kb_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class KbArticle(Base):
    __tablename__ = "kb_articles"
    __table_args__ = (CheckConstraint("visibility IN ('internal', 'public')", name="visibility"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("kb_categories.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    keywords: Mapped[str] = mapped_column(String(500), default="")
    visibility: Mapped[str] = mapped_column(String(10), default="internal")
    version: Mapped[int] = mapped_column(Integer, default=1)
    search_text: Mapped[str] = mapped_column(Text, default="")
    view_count: Mapped[int] = mapped_column(Integer, default=0)
    insert_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    category: Mapped[KbCategory | None] = relationship()


class KbArticleVersion(Base):
    """Every saved state of an article, the current one included (history is never edited)."""

    __tablename__ = "kb_article_versions"
    __table_args__ = (UniqueConstraint("article_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("kb_articles.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    keywords: Mapped[str] = mapped_column(String(500))
    visibility: Mapped[str] = mapped_column(String(10))
    category_id: Mapped[int | None] = mapped_column(Integer)
    edited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    edited_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
