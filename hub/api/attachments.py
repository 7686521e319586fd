"""Attachments: files uploaded to a customer or a ticket, links (URLs), search, download.

Files are stored content-addressed (``crm_core.services.blobs``) under the blob directory;
their type is sniffed from the bytes, never taken from the client (plain text aside).
Downloads are always served as ``Content-Disposition: attachment`` with
``X-Content-Type-Options: nosniff`` and a sandboxing CSP, so an uploaded file can never run
as a page of ours.

Record rule: attachments of a customer are visible to every user (as the card is); those of
a ticket (a complaint is a ticket), of an interaction on a ticket, or of a task, only to
users who can see that ticket or task: the case's rights are inherited, and reading an
attachment of a case the caller may not see answers 403 (lists leave such attachments out).
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Annotated, Literal

from flask import Response, request, send_file
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import ColumnElement, and_, or_, select, true

from crm_core.errors import N_, NotFound, PermissionDenied, ValidationFailed
from crm_core.models import Attachment, Interaction, PlanningTask, Ticket, User
from crm_core.services import blobs
from crm_core.services.customers import get_customer
from crm_core.services.tasks import get_visible_task, visible_tasks_clause
from crm_core.services.text import optional_text
from crm_core.services.tickets import get_visible_ticket, visible_tickets_clause
from hub.api import bp
from hub.api.common import SearchText, blob_store, like_pattern, settings
from hub.api.schemas import Id, Out, PageQuery, Strict
from hub.api.spec import operation
from hub.auth import current
from hub.db import db
from hub.errors import problem

TAGS = ["attachments"]
Category = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
Keywords = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class AttachmentOut(Out):
    id: int
    kind: str
    filename: str | None
    content_type: str | None
    size: int | None
    sha256: str | None
    url: str | None
    category: str | None
    keywords: str | None
    customer_id: int | None
    ticket_id: int | None
    interaction_id: int | None
    task_id: int | None
    uploaded_by_id: int | None
    created_at: dt.datetime
    content_url: str | None = None


class AttachmentPage(BaseModel):
    items: list[AttachmentOut]
    limit: int
    offset: int
    has_more: bool


class AttachmentQuery(PageQuery):
    customer_id: Id | None = None
    ticket_id: Id | None = None
    interaction_id: Id | None = None
    task_id: Id | None = None
    kind: Literal["file", "link"] | None = None
    category: Category | None = None
    q: SearchText | None = Field(
        None, description="words that must all appear in the keywords, category, file name or URL"
    )


class LinkIn(Strict):
    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    title: Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)] | None = None
    category: Category | None = None
    keywords: Keywords | None = None


def attachment_out(att: Attachment) -> AttachmentOut:
    out = AttachmentOut.model_validate(att)
    if att.kind == "file":
        out.content_url = f"{bp.url_prefix}/attachments/{att.id}/content"
    return out


def visible_attachments_clause(user: User) -> ColumnElement[bool]:
    if user.is_supervisor:
        return true()
    tickets = select(Ticket.id).where(visible_tickets_clause(user))
    interactions = select(Interaction.id).where(
        or_(
            Interaction.ticket_id.is_(None),
            Interaction.agent_id == user.id,
            Interaction.ticket_id.in_(tickets),
        )
    )
    tasks = select(PlanningTask.id).where(visible_tasks_clause(user))
    return and_(
        or_(Attachment.ticket_id.is_(None), Attachment.ticket_id.in_(tickets)),
        or_(Attachment.task_id.is_(None), Attachment.task_id.in_(tasks)),
        or_(Attachment.interaction_id.is_(None), Attachment.interaction_id.in_(interactions)),
    )


def _form_text(name: str, max_length: int) -> str | None:
    return optional_text(request.form.get(name), name, max_length)


def _upload(
    customer_id: int | None, ticket_id: int | None, task_id: int | None = None
) -> Response | AttachmentOut:
    if request.mimetype != "multipart/form-data":
        return problem(
            415,
            "unsupported_media_type",
            "upload the file as multipart/form-data in a part named 'file'",
        )
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed(N_("send the file in a multipart part named 'file'"), field="file")
    limit = settings().max_upload_bytes
    # One byte more than allowed is enough to know it is too large.
    data = upload.stream.read(limit + 1)
    att = blobs.do_attach_file(
        db.session,
        blob_store(),
        data=data,
        filename=upload.filename,
        max_size=limit,
        declared_type=upload.mimetype,
        customer_id=customer_id,
        ticket_id=ticket_id,
        task_id=task_id,
        category=_form_text("category", 80),
        keywords=_form_text("keywords", 500),
        user_id=current().id,
    )
    return attachment_out(att)


@operation(
    bp,
    "/customers/<int:customer_id>/attachments",
    "POST",
    summary="Upload a file to a customer",
    tags=TAGS,
    response=AttachmentOut,
    status=201,
    upload=True,
    errors=(413, 415, 422),
)
def upload_customer_file(customer_id: int) -> Response | AttachmentOut:
    """Multipart form: ``file`` (required), ``category``, ``keywords``. Larger than the
    configured limit: 413."""
    get_customer(db.session, customer_id)
    return _upload(customer_id, None)


@operation(
    bp,
    "/tickets/<int:ticket_id>/attachments",
    "POST",
    summary="Upload a file to a ticket",
    tags=TAGS,
    response=AttachmentOut,
    status=201,
    upload=True,
    errors=(413, 415, 422),
)
def upload_ticket_file(ticket_id: int) -> Response | AttachmentOut:
    """Multipart form: ``file`` (required), ``category``, ``keywords``. Larger than the
    configured limit: 413."""
    ticket = get_visible_ticket(db.session, current(), ticket_id)
    return _upload(ticket.customer_id, ticket.id)


def _link(
    body: LinkIn, customer_id: int | None, ticket_id: int | None, task_id: int | None = None
) -> AttachmentOut:
    att = blobs.do_attach_link(
        db.session,
        url=body.url,
        title=body.title,
        customer_id=customer_id,
        ticket_id=ticket_id,
        task_id=task_id,
        category=body.category,
        keywords=body.keywords,
        user_id=current().id,
    )
    return attachment_out(att)


@operation(
    bp,
    "/customers/<int:customer_id>/links",
    "POST",
    summary="Attach a link (URL) to a customer",
    tags=TAGS,
    body=LinkIn,
    response=AttachmentOut,
    status=201,
)
def link_customer(customer_id: int, body: LinkIn) -> AttachmentOut:
    get_customer(db.session, customer_id)
    return _link(body, customer_id, None)


@operation(
    bp,
    "/tickets/<int:ticket_id>/links",
    "POST",
    summary="Attach a link (URL) to a ticket",
    tags=TAGS,
    body=LinkIn,
    response=AttachmentOut,
    status=201,
)
def link_ticket(ticket_id: int, body: LinkIn) -> AttachmentOut:
    ticket = get_visible_ticket(db.session, current(), ticket_id)
    return _link(body, ticket.customer_id, ticket.id)


@operation(
    bp,
    "/attachments",
    "GET",
    summary="List and search attachments",
    tags=TAGS,
    query=AttachmentQuery,
    response=AttachmentPage,
)
def list_attachments(query: AttachmentQuery) -> AttachmentPage:
    """Filter by owner, kind and category; ``q`` matches words in the keywords or file name.
    Newest first."""
    stmt = select(Attachment).where(visible_attachments_clause(current()))
    if query.customer_id is not None:
        stmt = stmt.where(Attachment.customer_id == query.customer_id)
    if query.ticket_id is not None:
        stmt = stmt.where(Attachment.ticket_id == query.ticket_id)
    if query.interaction_id is not None:
        stmt = stmt.where(Attachment.interaction_id == query.interaction_id)
    if query.task_id is not None:
        stmt = stmt.where(Attachment.task_id == query.task_id)
    if query.kind is not None:
        stmt = stmt.where(Attachment.kind == query.kind)
    if query.category is not None:
        stmt = stmt.where(Attachment.category == query.category)
    for word in (query.q or "").split()[:10]:
        pattern = like_pattern(word)
        stmt = stmt.where(
            or_(
                Attachment.keywords.ilike(pattern, escape="\\"),
                Attachment.filename.ilike(pattern, escape="\\"),
                Attachment.url.ilike(pattern, escape="\\"),
                Attachment.category.ilike(pattern, escape="\\"),
            )
        )
    stmt = stmt.order_by(Attachment.created_at.desc(), Attachment.id.desc())
    rows = list(db.session.scalars(stmt.limit(query.limit + 1).offset(query.offset)))
    return AttachmentPage(
        items=[attachment_out(a) for a in rows[: query.limit]],
        limit=query.limit,
        offset=query.offset,
        has_more=len(rows) > query.limit,
    )


def _visible(attachment_id: int) -> Attachment:
    att = db.session.scalar(
        select(Attachment).where(
            Attachment.id == attachment_id, visible_attachments_clause(current())
        )
    )
    if att is None:
        if db.session.get(Attachment, attachment_id) is not None:
            # The case's rights are the attachment's: it exists, on a case not theirs.
            raise PermissionDenied(
                N_("attachment %(id)s belongs to a case you may not see"), id=attachment_id
            )
        raise NotFound(N_("attachment %(id)s not found"), id=attachment_id)
    return att


@operation(
    bp,
    "/attachments/<int:attachment_id>",
    "GET",
    summary="Read an attachment's facts",
    tags=TAGS,
    response=AttachmentOut,
)
def get_attachment(attachment_id: int) -> AttachmentOut:
    return attachment_out(_visible(attachment_id))


@operation(
    bp,
    "/attachments/<int:attachment_id>/content",
    "GET",
    summary="Download an attached file",
    tags=TAGS,
)
def download_attachment(attachment_id: int) -> Response:
    """The file's bytes, always as a download (``Content-Disposition: attachment``) with
    the sniffed type and ``X-Content-Type-Options: nosniff``. Links have no content (404)."""
    att = _visible(attachment_id)
    if att.kind != "file" or att.sha256 is None:
        raise NotFound(
            N_("attachment %(attachment_id)s is a link; it has no stored content"),
            attachment_id=attachment_id,
        )
    store = blob_store()
    if not store.exists(att.sha256):
        raise NotFound(
            N_("the stored content of attachment %(attachment_id)s is missing"),
            attachment_id=attachment_id,
        )
    # Read whole (uploads are capped by max_upload_bytes): no file handle outlives the request.
    response = send_file(
        io.BytesIO(store.get(att.sha256)),
        mimetype=att.content_type or "application/octet-stream",
        as_attachment=True,
        download_name=att.filename or "attachment",
        etag=att.sha256,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@operation(
    bp,
    "/tasks/<int:task_id>/attachments",
    "POST",
    summary="Upload a file to a task",
    tags=TAGS,
    response=AttachmentOut,
    status=201,
    upload=True,
    errors=(413, 415, 422),
)
def upload_task_file(task_id: int) -> Response | AttachmentOut:
    """Multipart form: ``file`` (required), ``category``, ``keywords``. The task's rights
    are the file's (404 for a task the caller may not see)."""
    task = get_visible_task(db.session, current(), task_id)
    return _upload(task.customer_id, None, task.id)


@operation(
    bp,
    "/tasks/<int:task_id>/links",
    "POST",
    summary="Attach a link (URL) to a task",
    tags=TAGS,
    body=LinkIn,
    response=AttachmentOut,
    status=201,
)
def link_task(task_id: int, body: LinkIn) -> AttachmentOut:
    task = get_visible_task(db.session, current(), task_id)
    return _link(body, task.customer_id, None, task.id)
