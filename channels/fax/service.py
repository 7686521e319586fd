"""Fax actions: the intake hook, fetching and rendering documents, the annotation layer,
flattened export, outbound faxes and their status callbacks, and the e-mail-to-fax gateway.

The original document is stored once, content-addressed, and never rewritten: annotations
are rows of their own (audited), and every "annotated" view or export is drawn on demand.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

from flask import current_app, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.fax.models import ANNOTATION_KINDS, FaxAnnotation, FaxDocument
from channels.fax.providers import StatusUpdate, TwilioCompatibleProvider, provider_from_settings
from channels.fax.render import (
    CorruptDocument,
    draw_annotations,
    kind_of,
    pages_to_pdf,
    png_bytes,
    render_pages,
)
from crm_core.db import utcnow
from crm_core.errors import N_, NotFound, ValidationFailed
from crm_core.events import DomainEvent, publish_on_commit
from crm_core.models import Interaction, User
from crm_core.services import audit
from crm_core.services.blobs import BlobStore, do_attach_file
from crm_core.services.phones import normalize_phone
from hub.events import INTERACTION_CONTENT_CHANGED
from hub.intake import InboundAttachment, InboundEvent, receive
from hub.ports import OutboundFax, record_outbound_fax

log = logging.getLogger(__name__)

FAX_DOCUMENT_READY = "fax.document_ready"
FAX_STATUS_CHANGED = "fax.status_changed"
FAX_ANNOTATIONS_CHANGED = "fax.annotations_changed"
FAX_TYPES = ("application/pdf", "image/tiff")
MAX_TEXT = 500


def settings() -> Any:
    return current_app.extensions["switchboard.settings"]


def blob_store() -> BlobStore:
    return BlobStore(settings().effective_blob_dir)


def provider() -> TwilioCompatibleProvider | None:
    found: TwilioCompatibleProvider | None = current_app.extensions.get("switchboard.fax_provider")
    return found


def configured_provider(app: Any) -> TwilioCompatibleProvider | None:
    return provider_from_settings(app.extensions["switchboard.settings"])


# --------------------------------------------------------------------------- intake


def thread_fax(session: Session, event: InboundEvent, interaction: Interaction) -> None:
    """Intake's hook for faxes: the document row, in the intake transaction.

    Webhook faxes wait for their media (``fetching``); gateway faxes arrive with the file
    attached, which intake has stored already, so only rendering is left.
    """
    if event.direction != "inbound":
        return
    payload = event.payload or {}
    doc = FaxDocument(
        interaction_id=interaction.id,
        direction="inbound",
        provider=str(payload.get("provider") or "unknown")[:40],
        fax_sid=str(payload.get("FaxSid"))[:255] if payload.get("FaxSid") else None,
        media_url=payload.get("MediaUrl"),
        num_pages=payload.get("NumPages") if isinstance(payload.get("NumPages"), int) else None,
        status="fetching",
        attempts=0,
    )
    for att in event.attachments:
        if kind_of(att.data) in FAX_TYPES or (att.content_type or "").lower() in FAX_TYPES:
            doc.sha256 = hashlib.sha256(att.data).hexdigest()
            doc.size = len(att.data)
            doc.content_type = kind_of(att.data) or att.content_type
            break
    session.add(doc)
    session.flush()


def document_for_interaction(session: Session, interaction_id: int) -> FaxDocument | None:
    return session.scalar(select(FaxDocument).where(FaxDocument.interaction_id == interaction_id))


def _content_changed(session: Session, doc: FaxDocument) -> None:
    """After the commit, consoles showing this fax refresh it (pages, layer, status)."""
    publish_on_commit(
        session,
        DomainEvent(INTERACTION_CONTENT_CHANGED, {"interaction_id": doc.interaction_id}),
    )


def console_extra(session: Session, interaction: Interaction) -> dict[str, Any] | None:
    """What the console shows of a fax interaction: its pages (with annotations drawn on
    them) and links to the annotator and the original (``hub.cards`` interaction extra)."""
    doc = document_for_interaction(session, interaction.id)
    if doc is None:
        return None
    total = len(doc.page_images or [])
    return {
        "fax": {
            "document_id": doc.id,
            "status": doc.status,
            "error": doc.error,
            "pages": [
                url_for("fax.page_png", document_id=doc.id, page=n, annotated=1)
                for n in range(1, total + 1)
            ],
            "viewer_url": url_for("fax.document", document_id=doc.id),
            "original_url": url_for("fax.original", document_id=doc.id) if doc.sha256 else None,
        }
    }


def get_document(session: Session, document_id: int) -> FaxDocument:
    doc = session.get(FaxDocument, document_id)
    if doc is None:
        raise NotFound(N_("fax document %(id)s not found"), id=document_id)
    return doc


# ------------------------------------------------------------------- fetch and render


def store_fetched(session: Session, doc: FaxDocument, data: bytes) -> None:
    """Keep the fetched bytes (content-addressed) and attach them to the interaction."""
    interaction = session.get(Interaction, doc.interaction_id)
    att = do_attach_file(
        session,
        blob_store(),
        data=data,
        filename=f"fax-{doc.fax_sid or doc.id}.{'tif' if kind_of(data) == 'image/tiff' else 'pdf'}",
        max_size=settings().max_upload_bytes,
        customer_id=interaction.customer_id if interaction else None,
        interaction_id=doc.interaction_id,
        category="fax",
    )
    doc.sha256 = att.sha256
    doc.size = len(data)
    doc.content_type = kind_of(data) or att.content_type


def render_to_blobs(data: bytes) -> tuple[str, str | None, list[str]]:
    """Render ``data`` and store the page PNGs: (status, error, page hashes). Runs outside
    any transaction: rendering takes a while and SQLite has one writer."""
    store = blob_store()
    try:
        pages = render_pages(data, dpi=settings().fax_render_dpi)
    except CorruptDocument as exc:
        return "corrupt", str(exc)[:500], []
    return "ready", None, [store.put(png_bytes(page)) for page in pages]


def apply_render(
    session: Session, doc: FaxDocument, result: tuple[str, str | None, list[str]]
) -> None:
    """Record a rendering; a corrupt document is kept (bytes and attachment) and flagged."""
    status, error, page_hashes = result
    doc.status = status
    doc.error = error
    doc.page_images = page_hashes
    if status == "ready":
        doc.num_pages = len(page_hashes)
    else:
        log.warning("fax document %s is corrupt: %s", doc.id, error)
    interaction = session.get(Interaction, doc.interaction_id)
    if interaction is not None:
        payload = dict(interaction.payload or {})
        payload["fax"] = {
            "document_id": doc.id,
            "status": doc.status,
            "pages": doc.num_pages,
            "url": f"/fax/documents/{doc.id}",  # the console's fax view (annotations)
        }
        interaction.payload = payload
    _content_changed(session, doc)
    publish_on_commit(
        session,
        DomainEvent(
            FAX_DOCUMENT_READY,
            {
                "document_id": doc.id,
                "interaction_id": doc.interaction_id,
                "status": doc.status,
                "customer_id": interaction.customer_id if interaction else None,
            },
        ),
    )


def page_image(doc: FaxDocument, page: int, annotations: list[FaxAnnotation] | None) -> bytes:
    """PNG of ``page`` (1-based), with ``annotations`` drawn on it when given."""
    if not doc.page_images or not 1 <= page <= len(doc.page_images):
        raise NotFound(N_("fax document %(id)s has no page %(page)s"), id=doc.id, page=page)
    data = blob_store().get(doc.page_images[page - 1])
    if not annotations:
        return data
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return png_bytes(
            draw_annotations(image.convert("RGB"), [a for a in annotations if a.page == page])
        )


def flattened_pdf(session: Session, doc: FaxDocument) -> bytes:
    """The document with its current annotations burnt in, as a new PDF (the original
    is left exactly as it was)."""
    if doc.sha256 is None or doc.status == "corrupt":
        raise ValidationFailed(N_("this fax has no readable document to export"))
    dpi = settings().fax_render_dpi
    pages = render_pages(blob_store().get(doc.sha256), dpi=dpi)
    notes = active_annotations(session, doc)
    drawn = [
        draw_annotations(p, [a for a in notes if a.page == i + 1]) for i, p in enumerate(pages)
    ]
    return pages_to_pdf(drawn, dpi=dpi)


# --------------------------------------------------------------------------- annotations


def active_annotations(session: Session, doc: FaxDocument) -> list[FaxAnnotation]:
    return list(
        session.scalars(
            select(FaxAnnotation)
            .where(FaxAnnotation.document_id == doc.id, FaxAnnotation.removed_at.is_(None))
            .order_by(FaxAnnotation.page, FaxAnnotation.id)
        )
    )


def _fraction(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationFailed(
            N_("%(name)s must be a number between 0 and 1"), name=name, field=name
        ) from None
    if not 0.0 <= number <= 1.0:
        raise ValidationFailed(N_("%(name)s must be between 0 and 1"), name=name, field=name)
    return number


def annotation_dict(ann: FaxAnnotation) -> dict[str, Any]:
    return {
        "id": ann.id,
        "page": ann.page,
        "kind": ann.kind,
        "x": ann.x,
        "y": ann.y,
        "width": ann.width,
        "height": ann.height,
        "text": ann.text,
        "color": ann.color,
        "created_by_id": ann.created_by_id,
        "created_at": ann.created_at.isoformat(),
    }


def do_add_annotation(
    session: Session,
    doc: FaxDocument,
    *,
    user: User,
    page: Any,
    kind: str,
    x: Any,
    y: Any,
    width: Any = 0,
    height: Any = 0,
    text: str | None = None,
    now: dt.datetime | None = None,
) -> FaxAnnotation:
    """Put a stamp, highlight or comment on a page; audited.

    A stamp's text is the stamp's word ("RECEIVED", "APPROVED"), to which the date and the
    agent's name are added.
    """
    if doc.status != "ready" or not doc.page_images:
        raise ValidationFailed(N_("only a rendered fax can be annotated"))
    if kind not in ANNOTATION_KINDS:
        raise ValidationFailed(
            N_("kind must be one of %(kinds)s"), field="kind", kinds=", ".join(ANNOTATION_KINDS)
        )
    try:
        page_no = int(page)
    except (TypeError, ValueError):
        raise ValidationFailed(N_("page must be a page number"), field="page") from None
    if not 1 <= page_no <= len(doc.page_images):
        raise ValidationFailed(
            N_("page must be 1 to %(pages)s"), field="page", pages=len(doc.page_images)
        )
    fx, fy = _fraction("x", x), _fraction("y", y)
    fw, fh = _fraction("width", width), _fraction("height", height)
    if fx + fw > 1.0001 or fy + fh > 1.0001:
        raise ValidationFailed(N_("the annotation must stay on the page"), field="width")
    clean = (text or "").strip()
    if "\x00" in clean or len(clean) > MAX_TEXT:
        raise ValidationFailed(N_("text is at most %(max)s characters"), max=MAX_TEXT, field="text")
    if kind in ("stamp", "comment") and not clean:
        raise ValidationFailed(N_("a %(kind)s needs text"), kind=kind, field="text")
    if kind == "stamp":
        when = (now or utcnow()).date().isoformat()
        clean = f"{clean.upper()}\n{when} {user.name}"
    ann = FaxAnnotation(
        document_id=doc.id,
        page=page_no,
        kind=kind,
        x=fx,
        y=fy,
        width=fw,
        height=fh,
        text=clean or None,
        created_by_id=user.id,
    )
    session.add(ann)
    session.flush()
    audit.record(
        session,
        user_id=user.id,
        action="fax.annotation_added",
        entity_type="fax_annotation",
        entity_id=ann.id,
        after={"document_id": doc.id, **annotation_dict(ann)},
    )
    _content_changed(session, doc)
    publish_on_commit(
        session,
        DomainEvent(
            FAX_ANNOTATIONS_CHANGED, {"document_id": doc.id, "interaction_id": doc.interaction_id}
        ),
    )
    return ann


def do_remove_annotation(session: Session, doc: FaxDocument, ann_id: int, *, user: User) -> None:
    """Take an annotation off the layer (kept as removed, with who and when; audited)."""
    ann = session.get(FaxAnnotation, ann_id)
    if ann is None or ann.document_id != doc.id or ann.removed_at is not None:
        raise NotFound(
            N_("annotation %(ann_id)s not found on fax document %(id)s"), ann_id=ann_id, id=doc.id
        )
    ann.removed_at = utcnow()
    ann.removed_by_id = user.id
    audit.record(
        session,
        user_id=user.id,
        action="fax.annotation_removed",
        entity_type="fax_annotation",
        entity_id=ann.id,
        before={"document_id": doc.id, **annotation_dict(ann)},
    )
    _content_changed(session, doc)
    publish_on_commit(
        session,
        DomainEvent(
            FAX_ANNOTATIONS_CHANGED, {"document_id": doc.id, "interaction_id": doc.interaction_id}
        ),
    )


# --------------------------------------------------------------------------- outbound


class ProviderFaxSender:
    """The send-fax port over the configured provider: records the interaction and the
    document now; the provider is called by a task after the commit."""

    def send_fax(self, session: Session, fax: OutboundFax) -> Interaction:
        data = blob_store().get(fax.sha256)
        if kind_of(data) not in FAX_TYPES:
            raise ValidationFailed(N_("only PDF or TIFF documents can be faxed"), field="file")
        number = normalize_phone(fax.to, settings().default_region)
        if number is None:
            raise ValidationFailed(N_("not a fax number we can dial"), field="to")
        interaction = record_outbound_fax(
            session,
            OutboundFax(
                to=number,
                sha256=fax.sha256,
                filename=fax.filename,
                author_id=fax.author_id,
                customer_id=fax.customer_id,
                ticket_id=fax.ticket_id,
            ),
            status="queued",
        )
        interaction.from_address = settings().fax_from_number or None
        prov = provider()
        doc = FaxDocument(
            interaction_id=interaction.id,
            direction="outbound",
            provider=prov.name if prov else "none",
            status="queued",
            sha256=fax.sha256,
            size=len(data),
            content_type=kind_of(data),
            attempts=0,
        )
        session.add(doc)
        session.flush()
        return interaction


def do_send_fax(
    session: Session,
    *,
    data: bytes,
    filename: str | None,
    to: str,
    user: User,
    customer_id: int | None = None,
    ticket_id: int | None = None,
) -> Interaction:
    """Store ``data`` and hand it to the hub's send-fax port (whichever is registered)."""
    from hub.ports import fax_sender

    if kind_of(data) not in FAX_TYPES:
        raise ValidationFailed(N_("only PDF or TIFF documents can be faxed"), field="file")
    if len(data) > settings().max_upload_bytes:
        raise ValidationFailed(N_("the document is too large"), field="file")
    sha = blob_store().put(data)
    return fax_sender().send_fax(
        session,
        OutboundFax(
            to=to,
            sha256=sha,
            filename=filename,
            author_id=user.id,
            customer_id=customer_id,
            ticket_id=ticket_id,
        ),
    )


def apply_status(session: Session, update: StatusUpdate) -> FaxDocument | None:
    """A provider's status callback for an outbound fax. Returns the document, or None when
    the fax is unknown. A failure is retried until ``fax_send_attempts`` is used up (the
    caller queues the resend when the returned document is ``queued`` again)."""
    doc = session.scalar(
        select(FaxDocument)
        .where(FaxDocument.fax_sid == update.sid, FaxDocument.direction == "outbound")
        .with_for_update()
    )
    if doc is None:
        return None
    if doc.status in ("delivered", "failed"):
        return doc  # a late or repeated callback changes nothing final
    interaction = session.get(Interaction, doc.interaction_id)
    assert interaction is not None
    payload = dict(interaction.payload or {})
    history = list(payload.get("fax_status", []))
    history.append(
        {"status": update.provider_status, "error": update.error, "at": utcnow().isoformat()}
    )
    payload["fax_status"] = history
    interaction.payload = payload
    if update.status == "failed":
        doc.error = (update.error or update.provider_status)[:500]
        if doc.attempts < settings().fax_send_attempts:
            doc.status = "queued"
            doc.fax_sid = None
            interaction.summary = f"fax to {interaction.to_address}: retrying ({doc.error})"
        else:
            doc.status = "failed"
            interaction.status = "closed"
            interaction.ended_at = utcnow()
            interaction.summary = f"fax to {interaction.to_address} failed: {doc.error}"[:500]
    elif update.status == "delivered":
        doc.status = "delivered"
        doc.error = None
        interaction.status = "closed"
        interaction.ended_at = utcnow()
        interaction.summary = f"fax to {interaction.to_address} delivered"
    else:
        doc.status = update.status
        interaction.summary = f"fax to {interaction.to_address}: {update.provider_status}"
    _content_changed(session, doc)
    publish_on_commit(
        session,
        DomainEvent(
            FAX_STATUS_CHANGED,
            {"document_id": doc.id, "interaction_id": doc.interaction_id, "status": doc.status},
        ),
    )
    return doc


# ------------------------------------------------------------------ e-mail-to-fax gateway


def _address(raw: str | None) -> str:
    # Plain lower-casing, not normalize_email: gateway addresses are often on internal or
    # special-use domains (fax@pbx.localhost) that a strict validator refuses.
    from email.utils import parseaddr

    return parseaddr(raw or "")[1].strip().lower()


def is_fax_gateway_address(address: str | None) -> bool:
    """Is ``address`` one of the configured e-mail-to-fax gateway addresses?"""
    addr = _address(address)
    return bool(addr) and addr in {_address(a) for a in settings().fax_email_gateway_addresses}


def sender_fax_number(from_address: str | None, subject: str | None) -> str | None:
    """The sending fax number, as gateways give it: in the subject ("Fax from +48 22 …")
    or as the local part of the sender ("+48221234567@fax.example.net")."""
    import re

    region = settings().default_region
    for text in (subject or "", (from_address or "").split("@", 1)[0]):
        for candidate in re.findall(r"\+?\d[\d \-./]{5,20}\d", text):
            number = normalize_phone(candidate, region)
            if number is not None:
                return number
    return None


def receive_emailed_fax(
    *,
    to_address: str,
    from_address: str | None,
    message_id: str,
    subject: str | None,
    attachments: list[tuple[str | None, str | None, bytes]],
) -> Interaction | None:
    """The e-mail-to-fax gateway: the e-mail channel calls this for mail sent to a
    configured gateway address (``SWITCHBOARD_FAX_EMAIL_GATEWAY_ADDRESSES``).

    ``attachments`` are ``(filename, content_type, bytes)``; the first PDF or TIFF is the
    fax. Returns the fax interaction (a repeat ``message_id`` returns the first one), or
    None when ``to_address`` is no gateway address or no attachment is a fax document, in
    which case the e-mail channel handles the message as ordinary mail. Needs an app
    context; commits its own transaction (through ``hub.intake.receive``) and renders the
    pages with a task afterwards. Raises ``hub.intake.IntakeError`` when the commit fails
    (answer SMTP 451).
    """
    if not is_fax_gateway_address(to_address):
        return None
    fax = next(
        ((name, ctype, data) for name, ctype, data in attachments if kind_of(data) in FAX_TYPES),
        None,
    )
    if fax is None:
        return None
    number = sender_fax_number(from_address, subject)
    event = InboundEvent(
        channel="fax",
        external_id=f"email:{message_id}"[:255],
        from_address=number,
        to_address=to_address,
        subject=subject,
        attachments=(InboundAttachment(filename=fax[0], content_type=fax[1], data=fax[2]),),
        payload={
            "provider": "email-gateway",
            "email_from": from_address,
            "message_id": message_id,
        },
    )
    interaction = receive(event)
    if not interaction.was_duplicate:
        from channels.fax.tasks import queue_processing

        queue_processing(interaction.id)
    return interaction
