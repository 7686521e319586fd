"""Fax webhooks (signed by the provider), the signed media URL outbound faxes are fetched
from, and the console's fax pages: pages with or without the annotation layer, adding and
removing annotations, flattened export, sending a fax.

Views never commit: the request's unit of work is committed by ``hub.db.commit_request``
and inbound faxes by ``hub.intake.receive``.
"""

from __future__ import annotations

import logging
from typing import Any
from xml.sax.saxutils import quoteattr

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from channels.fax import service
from channels.fax.providers import BadWebhook
from channels.fax.render import text_to_pdf
from channels.fax.tasks import queue_processing, read_media_token
from crm_core.errors import DomainError, ValidationFailed
from hub.auth import current
from hub.db import db
from hub.errors import domain_message, problem
from hub.intake import InboundEvent, IntakeError, receive

log = logging.getLogger(__name__)

webhooks = Blueprint("fax_webhooks", __name__)
bp = Blueprint("fax", __name__, template_folder="templates")


def _provider_for(name: str) -> Any:
    prov = service.provider()
    if prov is None or prov.name != name:
        abort(404, description=f"no fax provider {name!r} is configured")
    return prov


def _signed(prov: Any) -> dict[str, str] | Response:
    params = request.form.to_dict()
    if not prov.is_signed(request.url, params, request.headers):
        log.warning("fax webhook with a bad signature from %s", request.remote_addr)
        return problem(403, "forbidden", "the request signature is missing or wrong")
    if prov.account_sid and params.get("AccountSid") and params["AccountSid"] != prov.account_sid:
        return problem(403, "forbidden", "the fax belongs to another account")
    return params


@webhooks.post("/webhooks/fax/<provider_name>")
def inbound(provider_name: str) -> Any:
    prov = _provider_for(provider_name)
    params = _signed(prov)
    if isinstance(params, Response):
        return params
    try:
        fax = prov.parse_inbound(params)
    except BadWebhook as exc:
        return problem(400, "bad_request", str(exc), field=exc.field)
    if fax.status == "receiving":
        # The first webhook of a fax asks what to do: receive it, and post the result here.
        action = quoteattr(request.url)
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?><Response><Receive action={action}/></Response>'
        )
        return Response(xml, mimetype="application/xml")
    if fax.status != "received":
        log.info("fax %s not received (%s); nothing to store", fax.sid, fax.status)
        return Response("", status=200)
    event = InboundEvent(
        channel="fax",
        external_id=fax.sid,
        from_address=fax.from_number,
        to_address=fax.to_number,
        payload={
            "provider": prov.name,
            "FaxSid": fax.sid,
            "From": fax.from_number,
            "To": fax.to_number,
            "NumPages": fax.num_pages,
            "MediaUrl": fax.media_url,
        },
    )
    try:
        interaction = receive(event)
    except IntakeError:
        log.exception("intake failed for fax %s", fax.sid)
        return problem(503, "unavailable", "could not store the fax; retry")
    # A repeated webhook re-queues a fetch that has not finished (a lost task is retried).
    queue_processing(interaction.id)
    return Response("", status=200)


@webhooks.post("/webhooks/fax/<provider_name>/status")
def status(provider_name: str) -> Any:
    prov = _provider_for(provider_name)
    params = _signed(prov)
    if isinstance(params, Response):
        return params
    try:
        update = prov.parse_status(params)
    except BadWebhook as exc:
        return problem(400, "bad_request", str(exc), field=exc.field)
    doc = service.apply_status(db.session, update)
    if doc is None:
        return problem(404, "not_found", f"no outbound fax {update.sid}")
    return Response("", status=200)


@webhooks.get("/fax/media/<token>")
def media(token: str) -> Any:
    found = read_media_token(token)
    if found is None:
        abort(404)
    doc = db.session.get(service.FaxDocument, found[0])
    if doc is None or doc.sha256 != found[1]:
        abort(404)
    data = service.blob_store().get(found[1])
    return Response(data, mimetype=doc.content_type or "application/pdf")


# ---------------------------------------------------------------------------- console


def _doc(document_id: int) -> Any:
    return service.get_document(db.session, document_id)


@bp.get("/fax/documents/<int:document_id>")
@login_required
def document(document_id: int) -> Any:
    doc = _doc(document_id)
    show = request.args.get("annotations", "1") != "0"
    return render_template(
        "fax/document.html",
        doc=doc,
        interaction=db.session.get(service.Interaction, doc.interaction_id),
        annotations=service.active_annotations(db.session, doc),
        show=show,
        pages=range(1, len(doc.page_images or []) + 1),
        kinds=(("stamp", _("Stamp")), ("highlight", _("Highlight")), ("comment", _("Comment"))),
    )


@bp.get("/fax/interactions/<int:interaction_id>")
@login_required
def for_interaction(interaction_id: int) -> Any:
    doc = service.document_for_interaction(db.session, interaction_id)
    if doc is None:
        abort(404, description="this interaction has no fax document")
    return redirect(url_for("fax.document", document_id=doc.id))


@bp.get("/fax/documents/<int:document_id>/pages/<int:page>.png")
@login_required
def page_png(document_id: int, page: int) -> Any:
    doc = _doc(document_id)
    notes = service.active_annotations(db.session, doc) if request.args.get("annotated") else None
    data = service.page_image(doc, page, notes)
    return Response(data, mimetype="image/png", headers={"Cache-Control": "private, no-cache"})


@bp.get("/fax/documents/<int:document_id>/original")
@login_required
def original(document_id: int) -> Any:
    doc = _doc(document_id)
    if doc.sha256 is None:
        abort(404, description="the document has not been fetched")
    ext = "tif" if doc.content_type == "image/tiff" else "pdf"
    return Response(
        service.blob_store().get(doc.sha256),
        mimetype=doc.content_type or "application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="fax-{doc.id}-original.{ext}"'},
    )


@bp.get("/fax/documents/<int:document_id>/flattened.pdf")
@login_required
def flattened(document_id: int) -> Any:
    doc = _doc(document_id)
    return Response(
        service.flattened_pdf(db.session, doc),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="fax-{doc.id}-annotated.pdf"'},
    )


@bp.get("/fax/documents/<int:document_id>/annotations")
@login_required
def list_annotations(document_id: int) -> Any:
    doc = _doc(document_id)
    return {
        "annotations": [
            service.annotation_dict(a) for a in service.active_annotations(db.session, doc)
        ]
    }


@bp.post("/fax/documents/<int:document_id>/annotations")
@login_required
def add_annotation(document_id: int) -> Any:
    doc = _doc(document_id)
    data: Any = request.get_json(silent=True) if request.is_json else request.form
    if not hasattr(data, "get"):
        return problem(400, "bad_request", "send an annotation object")
    try:
        ann = service.do_add_annotation(
            db.session,
            doc,
            user=current(),
            page=data.get("page"),
            kind=str(data.get("kind") or ""),
            x=data.get("x"),
            y=data.get("y"),
            width=data.get("width") or 0,
            height=data.get("height") or 0,
            text=data.get("text") if isinstance(data.get("text"), str) else None,
        )
    except DomainError as exc:
        if request.is_json:
            return problem(exc.status_code, exc.code, domain_message(exc), field=exc.field)
        raise
    if request.is_json:
        return service.annotation_dict(ann), 201
    return redirect(url_for("fax.document", document_id=doc.id), 303)


@bp.route("/fax/documents/<int:document_id>/annotations/<int:ann_id>", methods=["DELETE"])
@bp.post("/fax/documents/<int:document_id>/annotations/<int:ann_id>/remove")
@login_required
def remove_annotation(document_id: int, ann_id: int) -> Any:
    doc = _doc(document_id)
    service.do_remove_annotation(db.session, doc, ann_id, user=current())
    if request.method == "DELETE":
        return Response(status=204)
    return redirect(url_for("fax.document", document_id=doc.id), 303)


@bp.route("/fax/send", methods=["GET", "POST"])
@login_required
def send() -> Any:
    if request.method == "GET":
        return render_template("fax/send.html", error=None, to="")
    to = request.form.get("to", "").strip()
    upload = request.files.get("file")
    customer_raw = request.form.get("customer_id", "").strip()
    message = request.form.get("message", "").strip()
    try:
        if upload is not None and upload.filename:
            data, filename = upload.read(), upload.filename
        elif message:
            # Generated from the agent's text: the template is a plain A4 letter.
            if len(message) > 20000:
                raise ValidationFailed(_("The text is too long for a fax."), field="message")
            subject = request.form.get("subject", "").strip()[:200] or None
            data, filename = text_to_pdf(message, title=subject), "letter.pdf"
        else:
            raise ValidationFailed(_("Choose a PDF or TIFF file, or type a text."), field="file")
        customer_id = int(customer_raw) if customer_raw.isdigit() else None
        interaction = service.do_send_fax(
            db.session,
            data=data,
            filename=filename,
            to=to,
            user=current(),
            customer_id=customer_id,
        )
    except DomainError as exc:
        return render_template("fax/send.html", error=domain_message(exc), to=to), exc.status_code
    db.session.flush()
    doc = service.document_for_interaction(db.session, interaction.id)
    if doc is None:  # no provider: the null sender recorded it in the history only
        return render_template("fax/send.html", error=None, to="", sent=interaction.summary)
    return redirect(url_for("fax.document", document_id=doc.id), 303)
