"""Admin pages for web forms: list, create, edit (fields as JSON), the embed snippet.

Separate from the public blueprint so that Flask-WTF's CSRF protection (session-bound,
right for logged-in admins) applies here.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from channels.webforms.models import WebForm
from channels.webforms.service import do_save_form
from crm_core.errors import N_, DomainError, ValidationFailed
from hub.auth import current, require_role
from hub.db import db
from hub.errors import domain_message
from hub.models import Queue

bp = Blueprint("webforms_admin", __name__, template_folder="templates")

EXAMPLE_FIELDS = [
    {"name": "name", "label": "Your name", "type": "text", "required": True},
    {"name": "email", "label": "E-mail", "type": "email", "required": True},
    {"name": "phone", "label": "Phone", "type": "phone"},
    {"name": "message", "label": "Message", "type": "textarea", "required": True},
]


def _queues() -> list[Queue]:
    return list(db.session.scalars(select(Queue).order_by(Queue.name)))


@bp.get("/admin/forms")
@require_role("admin")
def index() -> Any:
    forms = db.session.scalars(select(WebForm).order_by(WebForm.slug)).all()
    return render_template("webforms/admin_list.html", forms=forms)


def _editor(form: WebForm | None, values: dict[str, Any], error: str | None, status: int) -> Any:
    return (
        render_template(
            "webforms/admin_edit.html",
            form=form,
            values=values,
            error=error,
            queues=_queues(),
            ticket_types=("question", "complaint", "incident", "request"),
        ),
        status,
    )


def _values_of(form: WebForm | None) -> dict[str, Any]:
    if form is None:
        return {
            "slug": "",
            "title": "",
            "fields": json.dumps(EXAMPLE_FIELDS, indent=2, ensure_ascii=False),
            "active": True,
            "open_ticket": False,
            "confirmation_email": False,
        }
    return {
        "slug": form.slug,
        "title": form.title,
        "description": form.description or "",
        "fields": json.dumps(form.fields, indent=2, ensure_ascii=False),
        "queue_id": form.queue_id,
        "open_ticket": form.open_ticket,
        "ticket_type": form.ticket_type,
        "confirmation_text": form.confirmation_text or "",
        "confirmation_email": form.confirmation_email,
        "confirmation_email_subject": form.confirmation_email_subject or "",
        "confirmation_email_body": form.confirmation_email_body or "",
        "allowed_origins": "\n".join(form.allowed_origins or []),
        "rate_limit_per_minute": form.rate_limit_per_minute or "",
        "active": form.active,
    }


@bp.route("/admin/forms/new", methods=["GET", "POST"])
@bp.route("/admin/forms/<slug>/edit", methods=["GET", "POST"])
@require_role("admin")
def edit(slug: str | None = None) -> Any:
    form = None
    if slug is not None:
        form = db.session.scalar(select(WebForm).where(WebForm.slug == slug))
        if form is None:
            return _editor(None, _values_of(None), _("This form does not exist."), 404)
    if request.method == "GET":
        return _editor(form, _values_of(form), None, 200)
    data = request.form
    values = {
        **data.to_dict(),
        "active": "active" in data,
        "open_ticket": "open_ticket" in data,
        "confirmation_email": "confirmation_email" in data,
    }
    try:
        try:
            fields = json.loads(data.get("fields", ""))
        except ValueError as exc:
            raise ValidationFailed(
                N_("fields are not valid JSON: %(exc)s"), exc=exc, field="fields"
            ) from None
        queue_raw = data.get("queue_id", "")
        rate_raw = data.get("rate_limit_per_minute", "").strip()
        if rate_raw and not rate_raw.isdigit():
            raise ValidationFailed(N_("the rate limit is a whole number"), field="rate_limit")
        saved = do_save_form(
            db.session,
            slug=form.slug if form is not None else data.get("slug", ""),
            title=data.get("title", ""),
            description=data.get("description") or None,
            fields=fields,
            queue_id=int(queue_raw) if queue_raw.isdigit() else None,
            open_ticket="open_ticket" in data,
            ticket_type=data.get("ticket_type", "question"),
            confirmation_text=data.get("confirmation_text") or None,
            confirmation_email="confirmation_email" in data,
            confirmation_email_subject=data.get("confirmation_email_subject") or None,
            confirmation_email_body=data.get("confirmation_email_body") or None,
            allowed_origins=[o for o in data.get("allowed_origins", "").split() if o],
            rate_limit_per_minute=int(rate_raw) if rate_raw else None,
            active="active" in data,
            user_id=current().id,
        )
    except DomainError as exc:
        db.session.rollback()
        return _editor(form, values, domain_message(exc), exc.status_code)
    return redirect(url_for("webforms_admin.index", saved=saved.slug), 303)
