"""Knowledge base of solutions: articles with categories, keywords, versions and
visibility; full-text search; suggestions for a ticket; usage counts.

Search works on ``kb_articles.search_text``: title, keywords and body *folded* by
:func:`fold` (lower case, diacritics removed, so "łódź", "Lodz" and "LÓDŹ" meet; Ukrainian
letters with a breve or diaeresis fold to their base letter). Queries are folded the same
way, so both backends agree on what matches:

- SQLite: the FTS5 table ``kb_articles_fts`` (external content, kept in sync by triggers
  that the migration creates), ranked by ``bm25``;
- PostgreSQL: ``search_vector``, a stored generated column
  ``to_tsvector('simple', search_text)`` with a GIN index, ranked by ``ts_rank``.
  'simple' because PostgreSQL has no Polish or Ukrainian stemmer; folding in Python
  replaces the ``unaccent`` extension, which would need a superuser to install.

Every word is a prefix ("drukark" finds "drukarka"). Keyword search needs all words;
suggestions for a ticket need any of them and let the ranking order the results.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_core.db import utcnow
from crm_core.errors import N_, Conflict, NotFound, ValidationFailed
from crm_core.models import Interaction, Ticket
from crm_core.models.kb import KB_VISIBILITIES, KbArticle, KbArticleVersion, KbCategory
from crm_core.services import audit
from crm_core.services.text import required_text

MAX_QUERY_WORDS = 12
SUGGESTION_WORDS = 30
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Letters NFKD does not split into base + mark.
_EXTRA_FOLD = str.maketrans({"ł": "l", "đ": "d", "ø": "o", "ß": "ss", "æ": "ae", "œ": "oe"})
# Words too common to say anything about a ticket (folded), English, Polish, Ukrainian.


def fold(value: str) -> str:
    """Lower case without diacritics: what the index stores and queries are matched with."""
    decomposed = unicodedata.normalize("NFKD", value.lower().translate(_EXTRA_FOLD))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_STOP_EN = (
    "the and for with that this from have has had was were are you your our not but all any "
    "can could would should will just when what which who how why there their they them its "
    "into out about after before please thanks thank hello dear regards also some"
)
_STOP_PL = (
    "oraz ale jak jest nie czy ktory ktora ktore sie mam mamy jestem byl bylo bedzie tego tym "
    "jego jej dla przez przy pod nad bez albo lub dzien dobry prosze pozdrawiam witam "
    "dziekuje moj moja moje nasz nasza tak juz teraz kiedy gdzie tylko bardzo"
)
_STOP_UK = (
    "ще так як але або для при над під без вже коли тому цей ця це мене мені мій моя моє "  # noqa: RUF001
    "наш наша його її вона воно вони добрий день будь ласка дякую вітаю привіт"
)
STOP_WORDS = frozenset(fold(w) for w in f"{_STOP_EN} {_STOP_PL} {_STOP_UK}".split())


def words(value: str) -> list[str]:
    return _WORD.findall(fold(value))


def _search_text(title: str, keywords: str, body: str) -> str:
    return " ".join(words(f"{title} {keywords} {body}"))


def _keywords(value: str | Sequence[str] | None) -> str:
    items = value.split(",") if isinstance(value, str) else list(value or [])
    seen: dict[str, None] = {}
    for item in items:
        item = " ".join(str(item).split())
        if item:
            seen.setdefault(item, None)
    joined = ", ".join(seen)
    if len(joined) > 500:
        raise ValidationFailed(N_("keywords are at most 500 characters together"), field="keywords")
    return joined


def _category(session: Session, category_id: int | None) -> int | None:
    if category_id is not None and session.get(KbCategory, category_id) is None:
        raise ValidationFailed(
            N_("category %(id)s does not exist"), field="category_id", id=category_id
        )
    return category_id


def do_create_category(session: Session, *, name: str, user_id: int | None = None) -> KbCategory:
    name_ = required_text(name, "name", 120)
    category = KbCategory(name=name_)
    session.flush()
    try:
        with session.begin_nested():
            session.add(category)
            session.flush()
    except IntegrityError:
        raise Conflict(
            N_("a category named '%(name)s' exists already"), field="name", name=name_
        ) from None
    audit.record(
        session,
        user_id=user_id,
        action="kb_category.created",
        entity_type="kb_category",
        entity_id=category.id,
        after={"name": name_},
    )
    return category


def _snapshot(article: KbArticle, user_id: int | None) -> KbArticleVersion:
    return KbArticleVersion(
        article_id=article.id,
        version=article.version,
        title=article.title,
        body=article.body,
        keywords=article.keywords,
        visibility=article.visibility,
        category_id=article.category_id,
        edited_by_id=user_id,
        edited_at=article.updated_at,
    )


def do_create_article(
    session: Session,
    *,
    title: str,
    body: str,
    keywords: str | Sequence[str] | None = None,
    visibility: str = "internal",
    category_id: int | None = None,
    user_id: int | None = None,
) -> KbArticle:
    if visibility not in KB_VISIBILITIES:
        raise ValidationFailed(
            N_("%(name)s must be one of %(allowed)s"),
            field="visibility",
            name="visibility",
            allowed=", ".join(KB_VISIBILITIES),
        )
    title_ = required_text(title, "title", 300)
    body_ = required_text(body, "body", 200_000)
    keywords_ = _keywords(keywords)
    now = utcnow()
    article = KbArticle(
        title=title_,
        body=body_,
        keywords=keywords_,
        visibility=visibility,
        category_id=_category(session, category_id),
        version=1,
        search_text=_search_text(title_, keywords_, body_),
        view_count=0,
        insert_count=0,
        created_by_id=user_id,
        updated_by_id=user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(article)
    session.flush()
    session.add(_snapshot(article, user_id))
    session.flush()
    audit.record(
        session,
        user_id=user_id,
        action="kb_article.created",
        entity_type="kb_article",
        entity_id=article.id,
        after={"title": title_, "visibility": visibility},
    )
    return article


def do_update_article(
    session: Session, article: KbArticle, changes: dict[str, Any], *, user_id: int | None = None
) -> KbArticle:
    """Edit an article: a changed article gets the next version number and a history row;
    earlier versions stay as they were."""
    allowed = {"title", "body", "keywords", "visibility", "category_id"}
    unknown = set(changes) - allowed
    if unknown:
        key = sorted(unknown)[0]
        raise ValidationFailed(N_("unknown field '%(key)s'"), field=key, key=key)
    new: dict[str, Any] = {}
    if "title" in changes:
        new["title"] = required_text(changes["title"], "title", 300)
    if "body" in changes:
        new["body"] = required_text(changes["body"], "body", 200_000)
    if "keywords" in changes:
        new["keywords"] = _keywords(changes["keywords"])
    if "visibility" in changes:
        if changes["visibility"] not in KB_VISIBILITIES:
            raise ValidationFailed(
                N_("%(name)s must be one of %(allowed)s"),
                field="visibility",
                name="visibility",
                allowed=", ".join(KB_VISIBILITIES),
            )
        new["visibility"] = changes["visibility"]
    if "category_id" in changes:
        new["category_id"] = _category(session, changes["category_id"])
    changed = {k: v for k, v in new.items() if getattr(article, k) != v}
    if not changed:
        return article
    before = {k: getattr(article, k) for k in changed if k != "body"}
    for key, value in changed.items():
        setattr(article, key, value)
    article.version += 1
    article.updated_at = utcnow()
    article.updated_by_id = user_id
    article.search_text = _search_text(article.title, article.keywords, article.body)
    session.flush()
    session.add(_snapshot(article, user_id))
    session.flush()
    audit.record(
        session,
        user_id=user_id,
        action="kb_article.updated",
        entity_type="kb_article",
        entity_id=article.id,
        before=before,
        after={**{k: v for k, v in changed.items() if k != "body"}, "version": article.version},
    )
    return article


def get_article(session: Session, article_id: int) -> KbArticle:
    article = session.get(KbArticle, article_id)
    if article is None:
        raise NotFound(N_("article %(id)s not found"), id=article_id)
    return article


def versions_of(session: Session, article_id: int) -> list[KbArticleVersion]:
    return list(
        session.scalars(
            select(KbArticleVersion)
            .where(KbArticleVersion.article_id == article_id)
            .order_by(KbArticleVersion.version.desc())
        )
    )


def do_count_use(session: Session, article: KbArticle, how: str) -> None:
    """Count a view or an insertion into a reply (one atomic increment in the database)."""
    if how not in ("view", "insert"):
        raise ValidationFailed(N_("use is 'view' or 'insert'"), field="use")
    column = KbArticle.view_count if how == "view" else KbArticle.insert_count
    session.execute(
        update(KbArticle)
        .where(KbArticle.id == article.id)
        .values({column: column + 1})
        .execution_options(synchronize_session=False)
    )
    session.refresh(article, ["view_count", "insert_count"])


def query_words(
    value: str, *, drop_common: bool = False, limit: int = MAX_QUERY_WORDS
) -> list[str]:
    out: dict[str, None] = {}
    for word in words(value):
        if drop_common and (len(word) < 3 or word in STOP_WORDS or word.isdigit()):
            continue
        out.setdefault(word, None)
        if len(out) >= limit:
            break
    return list(out)


def search(
    session: Session,
    terms: Sequence[str],
    *,
    match_all: bool = True,
    prefix: bool = True,
    visibility: str | None = None,
    category_id: int | None = None,
    exclude_ids: Sequence[int] = (),
    limit: int = 20,
    offset: int = 0,
) -> list[tuple[KbArticle, float]]:
    """Articles matching folded ``terms`` (each a prefix), best first, with a score where
    higher is better. ``match_all``: every term must match (keyword search) or any may
    (suggestions). ``prefix``: each term also matches longer words (a search box); without
    it only whole words (suggestions from a ticket's many words: fewer, cheaper matches).
    Terms must come from :func:`query_words`."""
    terms = [t for t in terms if _WORD.fullmatch(t)]
    if not terms:
        return []
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    filters = ""
    if visibility is not None:
        filters += " AND a.visibility = :visibility"
        params["visibility"] = visibility
    if category_id is not None:
        filters += " AND a.category_id = :category_id"
        params["category_id"] = category_id
    for n, article_id in enumerate(exclude_ids):
        filters += f" AND a.id != :x{n}"
        params[f"x{n}"] = article_id
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        params["q"] = (" & " if match_all else " | ").join(f"{t}:*" if prefix else t for t in terms)
        sql = (
            "SELECT a.id, ts_rank(a.search_vector, q) AS score "
            "FROM kb_articles a, to_tsquery('simple'::regconfig, :q) q "
            "WHERE a.search_vector @@ q" + filters + " "
            "ORDER BY score DESC, a.insert_count DESC, a.id DESC LIMIT :limit OFFSET :offset"
        )
    else:
        params["q"] = (" AND " if match_all else " OR ").join(
            f'"{t}"*' if prefix else f'"{t}"' for t in terms
        )
        # bm25() is lower for better matches; negate it so that higher is better everywhere.
        sql = (
            "SELECT a.id, -bm25(kb_articles_fts) AS score "
            "FROM kb_articles_fts JOIN kb_articles a ON a.id = kb_articles_fts.rowid "
            "WHERE kb_articles_fts MATCH :q" + filters + " "
            "ORDER BY score DESC, a.insert_count DESC, a.id DESC LIMIT :limit OFFSET :offset"
        )
    rows = session.execute(text(sql), params).all()
    articles = {
        a.id: a
        for a in session.scalars(select(KbArticle).where(KbArticle.id.in_([r[0] for r in rows])))
    }
    return [(articles[r[0]], float(r[1])) for r in rows if r[0] in articles]


def ticket_text(session: Session, ticket: Ticket, first_messages: int = 1) -> str:
    """The ticket's subject and its first message(s) from the customer (or anyone)."""
    first = list(
        session.scalars(
            select(Interaction)
            .where(Interaction.ticket_id == ticket.id, Interaction.direction == "inbound")
            .order_by(Interaction.created_at, Interaction.id)
            .limit(first_messages)
        )
    )
    if not first:
        first = list(
            session.scalars(
                select(Interaction)
                .where(Interaction.ticket_id == ticket.id)
                .order_by(Interaction.created_at, Interaction.id)
                .limit(first_messages)
            )
        )
    parts = [ticket.subject]
    for item in first:
        parts.append(item.subject or "")
        parts.append((item.body_text or item.summary or "")[:5000])
    return "\n".join(parts)


def suggest_for_ticket(
    session: Session, ticket: Ticket, *, limit: int = 5, visibility: str | None = None
) -> list[tuple[KbArticle, float]]:
    """Articles that match words of the ticket's subject and first message, best first."""
    terms = query_words(ticket_text(session, ticket), drop_common=True, limit=SUGGESTION_WORDS)
    return search(session, terms, match_all=False, prefix=False, visibility=visibility, limit=limit)


def article_summary(article: KbArticle, score: float | None = None) -> dict[str, Any]:
    return {
        "id": article.id,
        "title": article.title,
        "excerpt": " ".join(article.body.split())[:240],
        "keywords": article.keywords,
        "visibility": article.visibility,
        "category_id": article.category_id,
        "category": article.category.name if article.category else None,
        "version": article.version,
        "view_count": article.view_count,
        "insert_count": article.insert_count,
        "updated_at": article.updated_at.astimezone(dt.UTC).isoformat(),
        "score": score,
    }
