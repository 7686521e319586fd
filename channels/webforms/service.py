"""Web-form actions: defining forms, turning a valid submission into an ``InboundEvent``,
and the intake threader that finishes the job inside the intake transaction (customer by
phone, ticket, confirmation e-mail)."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlparse

from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.webforms.models import WebForm
from channels.webforms.schema import SLUG_RE, CleanSubmission, clean_definition
from crm_core.errors import N_, NotFound, ValidationFailed
from crm_core.models import Interaction
from crm_core.models.tickets import TICKET_TYPES
from crm_core.services import audit
from crm_core.services.customers import do_create_customer
from crm_core.services.identify import identify_by_phone
from crm_core.services.tickets import do_create_ticket
from hub.forms import ProvidedForm, provided_form
from hub.intake import InboundAttachment, InboundEvent
from hub.models import Queue, RoutingRule
from hub.ports import OutboundEmail, email_sender
from hub.routing import do_create_routing_rule

log = logging.getLogger(__name__)

# Form rules go before the hub's general rules: the form's own choice wins.
FORM_RULE_POSITION = 10


def get_form(session: Session, slug: str, *, active_only: bool = True) -> WebForm:
    """The stored form ``slug``, else one a package provides through ``hub.forms`` (a
    transient ``WebForm`` that is never added to a session)."""
    form = session.scalar(select(WebForm).where(WebForm.slug == slug))
    if form is None:
        provided = provided_form(session, slug)
        if provided is not None:
            return _from_provider(provided)
    if form is None or (active_only and not form.active):
        raise NotFound(N_("no form '%(slug)s'"), slug=slug)
    return form


_PROVIDED = "_provided_by"


def _from_provider(provided: ProvidedForm) -> WebForm:
    form = WebForm(
        slug=provided.slug,
        title=provided.title,
        description=provided.description,
        fields=clean_definition(provided.fields),
        queue_id=None,
        routing_rule_id=None,
        open_ticket=False,
        ticket_type="question",
        confirmation_text=provided.confirmation_text,
        confirmation_email=False,
        allowed_origins=[],
        rate_limit_per_minute=None,
        active=True,
    )
    setattr(form, _PROVIDED, provided)
    return form


def provided_of(form: WebForm) -> ProvidedForm | None:
    """The provider's definition behind ``form``, None for a stored form."""
    provided: ProvidedForm | None = getattr(form, _PROVIDED, None)
    return provided


def provider_errors(form: WebForm, values: dict[str, Any]) -> dict[str, str]:
    """The provider's checks across fields (field name -> message); {} for stored forms."""
    provided = provided_of(form)
    if provided is None or provided.validate is None:
        return {}
    return provided.validate(values)


def _origins(value: Any) -> list[str]:
    out: list[str] = []
    for raw in value or []:
        parsed = urlparse(str(raw).strip())
        if (
            parsed.scheme not in ("http", "https")
            or not parsed.netloc
            or parsed.path not in ("", "/")
        ):
            raise ValidationFailed(
                N_("'%(value)s' is not an origin like https://www.example.com"),
                field="allowed_origins",
                value=raw,
            )
        out.append(f"{parsed.scheme}://{parsed.netloc.lower()}")
    return out


def do_save_form(
    session: Session,
    *,
    slug: str,
    title: str,
    fields: list[dict[str, Any]],
    description: str | None = None,
    queue_id: int | None = None,
    open_ticket: bool = False,
    ticket_type: str = "question",
    confirmation_text: str | None = None,
    confirmation_email: bool = False,
    confirmation_email_subject: str | None = None,
    confirmation_email_body: str | None = None,
    allowed_origins: list[str] | None = None,
    rate_limit_per_minute: int | None = None,
    active: bool = True,
    user_id: int | None = None,
) -> WebForm:
    """Create the form ``slug`` or replace its definition; audited.

    The form's queue becomes a hub routing rule (channel ``webform``, form ``slug``), so the
    router, not this channel, puts submissions into the queue.
    """
    slug = slug.strip().lower()
    if not SLUG_RE.match(slug):
        raise ValidationFailed(N_("a slug is lower-case letters, digits and -"), field="slug")
    title = title.strip()
    if not title:
        raise ValidationFailed(N_("a form needs a title"), field="title")
    if ticket_type not in TICKET_TYPES:
        raise ValidationFailed(
            N_("ticket type must be one of %(types)s"),
            types=", ".join(TICKET_TYPES),
            field="ticket_type",
        )
    if rate_limit_per_minute is not None and not 0 < rate_limit_per_minute <= 10000:
        raise ValidationFailed(N_("rate limit must be 1..10000 a minute"), field="rate_limit")
    clean_fields = clean_definition(fields)
    if confirmation_email and not any(f["type"] == "email" for f in clean_fields):
        raise ValidationFailed(
            N_("a confirmation e-mail needs an e-mail field"), field="confirmation_email"
        )
    queue = None
    if queue_id is not None:
        queue = session.get(Queue, queue_id)
        if queue is None:
            raise NotFound(N_("queue %(id)s not found"), id=queue_id, field="queue_id")
    form = session.scalar(select(WebForm).where(WebForm.slug == slug))
    before: dict[str, Any] | None = None
    if form is None:
        form = WebForm(slug=slug)
        session.add(form)
    else:
        before = {"title": form.title, "fields": form.fields, "queue_id": form.queue_id}
    form.title = title[:200]
    form.description = description
    form.fields = clean_fields
    form.queue_id = queue_id
    form.open_ticket = open_ticket
    form.ticket_type = ticket_type
    form.confirmation_text = confirmation_text
    form.confirmation_email = confirmation_email
    form.confirmation_email_subject = confirmation_email_subject
    form.confirmation_email_body = confirmation_email_body
    form.allowed_origins = _origins(allowed_origins)
    form.rate_limit_per_minute = rate_limit_per_minute
    form.active = active
    session.flush()
    _sync_rule(session, form, queue)
    audit.record(
        session,
        user_id=user_id,
        action="webform.saved" if before else "webform.created",
        entity_type="webform",
        entity_id=form.id,
        before=before,
        after={"title": form.title, "fields": form.fields, "queue_id": form.queue_id},
    )
    return form


def _sync_rule(session: Session, form: WebForm, queue: Queue | None) -> None:
    rule = session.get(RoutingRule, form.routing_rule_id) if form.routing_rule_id else None
    if queue is None:
        if rule is not None:
            rule.active = False
        return
    if rule is None:
        rule = do_create_routing_rule(
            session,
            name=f"form {form.slug}",
            queue=queue,
            position=FORM_RULE_POSITION,
            channel="webform",
            form=form.slug,
        )
        form.routing_rule_id = rule.id
    else:
        rule.queue_id = queue.id
        rule.active = True
    session.flush()


def external_id(form: WebForm, submission_id: str) -> str:
    """The dedupe key: the same submission id twice is one interaction."""
    return f"{form.slug}:{submission_id}"


def build_event(
    form: WebForm,
    clean: CleanSubmission,
    *,
    submission_id: str,
    remote_addr: str | None,
    user_agent: str | None,
    origin: str | None,
) -> InboundEvent:
    labels = {f["name"]: f["label"] for f in form.fields}
    lines = []
    for name, value in clean.values.items():
        shown = ("yes" if value else "no") if isinstance(value, bool) else value
        lines.append(f"{labels.get(name, name)}: {shown}")
    for name, upload in clean.files:
        lines.append(f"{labels.get(name, name)}: {upload.filename or 'file'}")
    payload: dict[str, Any] = {
        "form": form.slug,
        "form_id": form.id,
        "submission_id": submission_id,
        "fields": clean.values,
        "labels": labels,
        "phone": clean.phone,
        "remote_addr": remote_addr,
        "user_agent": (user_agent or "")[:300] or None,
        "origin": origin,
    }
    return InboundEvent(
        channel="webform",
        external_id=external_id(form, submission_id),
        from_address=clean.email,
        to_address=form.slug,
        from_name=clean.name,
        subject=(clean.subject or form.title)[:998],
        body_text="\n".join(lines),
        attachments=tuple(
            InboundAttachment(filename=u.filename, content_type=u.content_type, data=u.data)
            for _, u in clean.files
        ),
        payload=payload,
    )


def thread_submission(session: Session, event: InboundEvent, interaction: Interaction) -> None:
    """Intake's hook for web forms, inside the intake transaction.

    A sender who left only a phone number is identified by it, or becomes a new customer;
    the form may open a ticket and send a confirmation e-mail (through the hub's port,
    delivered after the commit by the e-mail channel).
    """
    payload = event.payload or {}
    try:
        form = get_form(session, str(payload.get("form")), active_only=False)
    except NotFound:
        return
    phone = payload.get("phone")
    if interaction.customer_id is None and phone:
        from flask import current_app

        region = current_app.extensions["switchboard.settings"].default_region
        customer = identify_by_phone(session, phone, region)
        if customer is None:
            name = (event.from_name or "").strip()
            first, _, last = name.partition(" ")
            with session.begin_nested():
                customer = do_create_customer(
                    session,
                    fields={
                        "kind": "person",
                        "first_name": first[:120] or phone,
                        "last_name": last[:120] or None,
                    },
                    contact_points=[{"kind": "phone", "value": phone, "is_primary": True}],
                    region=region,
                )
        interaction.customer_id = customer.id
        session.flush()
    if form.open_ticket:
        ticket = do_create_ticket(
            session,
            subject=event.subject or form.title,
            customer_id=interaction.customer_id,
            ticket_type=form.ticket_type,
            queue_id=form.queue_id,
        )
        interaction.ticket_id = ticket.id
        session.flush()
    if form.confirmation_email and event.from_address:
        # The visitor's language (the form's switch or Accept-Language) when the form has no text.
        body = form.confirmation_email_body or form.confirmation_text or gettext("Thank you.")
        email_sender().send_email(
            session,
            OutboundEmail(
                to=event.from_address,
                subject=form.confirmation_email_subject or form.title,
                body_text=body,
                customer_id=interaction.customer_id,
                ticket_id=interaction.ticket_id,
                in_reply_to_id=interaction.id,
                headers={"Auto-Submitted": "auto-replied"},
            ),
        )
    provided = provided_of(form)
    if provided is not None and provided.on_intake is not None:
        provided.on_intake(session, interaction, dict(payload.get("fields") or {}))
