"""Knowledge base: categories, articles (versions kept on every edit), full-text search,
suggestions for a ticket, usage counts.

Every signed-in user may read and write articles (the edit history says who changed what);
``visibility`` marks what may be shown to customers (``public``) and what stays with staff
(``internal``). Suggestions follow the ticket's record rule (404 for a ticket the caller
cannot see).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import select

from crm_core.models.kb import KbArticle, KbCategory
from crm_core.services import kb as svc
from crm_core.services.tickets import get_visible_ticket
from hub.api import bp
from hub.api.common import SearchText, not_null
from hub.api.schemas import Id, Out, PageQuery, Strict
from hub.api.spec import operation
from hub.auth import current
from hub.db import db

TAGS = ["knowledge base"]
Visibility = Literal["internal", "public"]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200_000)]
Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class CategoryIn(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


class CategoryOut(Out):
    id: int
    name: str


class CategoryList(BaseModel):
    items: list[CategoryOut]


class ArticleIn(Strict):
    title: Title
    body: Body
    keywords: list[Keyword] = Field(default_factory=list, max_length=50)
    visibility: Visibility = "internal"
    category_id: Id | None = None


class ArticleUpdate(Strict):
    """Send only what changes; a change makes a new version, the old one stays readable."""

    title: Title = not_null()
    body: Body = not_null()
    keywords: Annotated[list[Keyword], Field(max_length=50)] = not_null()
    visibility: Visibility = not_null()
    category_id: Id | None = None


class ArticleSummary(BaseModel):
    id: int
    title: str
    excerpt: str
    keywords: str
    visibility: str
    category_id: int | None
    category: str | None
    version: int
    view_count: int
    insert_count: int
    updated_at: str
    score: float | None


class ArticleOut(ArticleSummary):
    body: str


class ArticlePage(BaseModel):
    items: list[ArticleSummary]
    limit: int
    offset: int
    has_more: bool


class ArticleQuery(PageQuery):
    q: SearchText | None = Field(
        None, description="words that must all appear (each as a prefix), any case or accents"
    )
    category_id: Id | None = None
    visibility: Visibility | None = None


class VersionOut(Out):
    version: int
    title: str
    body: str
    keywords: str
    visibility: str
    category_id: int | None
    edited_by_id: int | None
    edited_at: dt.datetime


class VersionList(BaseModel):
    items: list[VersionOut]


class UseIn(Strict):
    use: Literal["view", "insert"]


class SuggestionList(BaseModel):
    words: list[str]
    items: list[ArticleOut]


def article_out(article: KbArticle, score: float | None = None) -> ArticleOut:
    return ArticleOut(**svc.article_summary(article, score), body=article.body)


@operation(
    bp,
    "/kb/categories",
    "GET",
    summary="List knowledge base categories",
    tags=TAGS,
    response=CategoryList,
)
def list_categories() -> CategoryList:
    rows = db.session.scalars(select(KbCategory).order_by(KbCategory.name))
    return CategoryList(items=[CategoryOut.model_validate(c) for c in rows])


@operation(
    bp,
    "/kb/categories",
    "POST",
    summary="Add a category",
    tags=TAGS,
    body=CategoryIn,
    response=CategoryOut,
    status=201,
    errors=(409,),
)
def create_category(body: CategoryIn) -> CategoryOut:
    category = svc.do_create_category(db.session, name=body.name, user_id=current().id)
    return CategoryOut.model_validate(category)


@operation(
    bp,
    "/kb/articles",
    "GET",
    summary="Search or list articles",
    tags=TAGS,
    query=ArticleQuery,
    response=ArticlePage,
)
def list_articles(query: ArticleQuery) -> ArticlePage:
    """With ``q``: full-text search over title, keywords and body, best match first
    (``score``, higher is better). Without: most recently updated first."""
    if query.q:
        terms = svc.query_words(query.q)
        found = svc.search(
            db.session,
            terms,
            match_all=True,
            visibility=query.visibility,
            category_id=query.category_id,
            limit=query.limit + 1,
            offset=query.offset,
        )
        items = [ArticleSummary(**svc.article_summary(a, s)) for a, s in found]
    else:
        stmt = select(KbArticle)
        if query.visibility is not None:
            stmt = stmt.where(KbArticle.visibility == query.visibility)
        if query.category_id is not None:
            stmt = stmt.where(KbArticle.category_id == query.category_id)
        stmt = stmt.order_by(KbArticle.updated_at.desc(), KbArticle.id.desc())
        rows = db.session.scalars(stmt.limit(query.limit + 1).offset(query.offset))
        items = [ArticleSummary(**svc.article_summary(a)) for a in rows]
    return ArticlePage(
        items=items[: query.limit],
        limit=query.limit,
        offset=query.offset,
        has_more=len(items) > query.limit,
    )


@operation(
    bp,
    "/kb/articles",
    "POST",
    summary="Write an article",
    tags=TAGS,
    body=ArticleIn,
    response=ArticleOut,
    status=201,
)
def create_article(body: ArticleIn) -> ArticleOut:
    article = svc.do_create_article(db.session, **body.model_dump(), user_id=current().id)
    return article_out(article)


@operation(
    bp,
    "/kb/articles/<int:article_id>",
    "GET",
    summary="Read an article",
    tags=TAGS,
    response=ArticleOut,
)
def get_article(article_id: int) -> ArticleOut:
    """Reading counts as a view (``view_count``)."""
    article = svc.get_article(db.session, article_id)
    svc.do_count_use(db.session, article, "view")
    return article_out(article)


@operation(
    bp,
    "/kb/articles/<int:article_id>",
    "PATCH",
    summary="Edit an article",
    tags=TAGS,
    body=ArticleUpdate,
    response=ArticleOut,
)
def update_article(article_id: int, body: ArticleUpdate) -> ArticleOut:
    article = svc.get_article(db.session, article_id)
    svc.do_update_article(
        db.session, article, body.model_dump(exclude_unset=True), user_id=current().id
    )
    return article_out(article)


@operation(
    bp,
    "/kb/articles/<int:article_id>/versions",
    "GET",
    summary="An article's versions, newest first",
    tags=TAGS,
    response=VersionList,
)
def article_versions(article_id: int) -> VersionList:
    svc.get_article(db.session, article_id)
    rows = svc.versions_of(db.session, article_id)
    return VersionList(items=[VersionOut.model_validate(v) for v in rows])


@operation(
    bp,
    "/kb/articles/<int:article_id>/uses",
    "POST",
    summary="Count a use of an article (inserted into a reply, or viewed)",
    tags=TAGS,
    body=UseIn,
    response=ArticleOut,
)
def count_use(article_id: int, body: UseIn) -> ArticleOut:
    article = svc.get_article(db.session, article_id)
    svc.do_count_use(db.session, article, body.use)
    return article_out(article)


@operation(
    bp,
    "/tickets/<int:ticket_id>/kb-suggestions",
    "GET",
    summary="Articles suggested by a ticket's subject and first message",
    tags=TAGS,
    response=SuggestionList,
)
def ticket_suggestions(ticket_id: int) -> SuggestionList:
    ticket = get_visible_ticket(db.session, current(), ticket_id)
    words = svc.query_words(
        svc.ticket_text(db.session, ticket), drop_common=True, limit=svc.SUGGESTION_WORDS
    )
    found = svc.search(db.session, words, match_all=False, prefix=False, limit=5)
    return SuggestionList(words=words, items=[article_out(a, s) for a, s in found])
