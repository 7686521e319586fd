"""Admins' page for the e-mail channel: the quarantine (download the raw copy, re-process,
discard), the IMAP mailboxes' health with their last error, and outbound mail that has not
gone out yet, with a "send again" action.

Nothing here deletes mail: a discarded message keeps its raw bytes in the blob store and
its row (status ``discarded``), so a wrong click can be undone with "re-process".
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.email.ingest import do_reprocess_quarantined, settings
from channels.email.models import ImapMailbox, QuarantinedEmail
from channels.email.outbound import deliver
from crm_core.models import Interaction
from crm_core.services import audit
from crm_core.services.blobs import BlobStore
from hub.auth import current, require_role
from hub.db import db

bp = Blueprint("email_admin", __name__, template_folder="templates")

PAGE = 200  # rows shown per list; the CLI (`switchboard email quarantine --all`) has them all


def _undelivered() -> list[dict[str, Any]]:
    """Outbound e-mails whose delivery has not succeeded (queued or failed), newest first."""
    rows = db.session.scalars(
        select(Interaction)
        .where(
            Interaction.channel == "email",
            Interaction.direction == "outbound",
            Interaction.status != "closed",
        )
        .order_by(Interaction.id.desc())
        .limit(PAGE)
    )
    found = []
    for row in rows:
        delivery = (row.payload or {}).get("delivery") or {}
        if not delivery or delivery.get("status") == "sent":
            continue
        found.append(
            {
                "interaction": row,
                "status": str(delivery.get("status") or "queued"),
                "attempts": int(delivery.get("attempts") or 0),
                "error": delivery.get("error"),
            }
        )
    return found


@bp.get("/admin/email")
@require_role("admin")
def index() -> Any:
    show_all = request.args.get("all") == "1"
    stmt = select(QuarantinedEmail).order_by(QuarantinedEmail.id.desc()).limit(PAGE)
    if not show_all:
        stmt = stmt.where(QuarantinedEmail.status == "held")
    return render_template(
        "email/admin.html",
        quarantine=list(db.session.scalars(stmt)),
        show_all=show_all,
        mailboxes=list(
            db.session.scalars(
                select(ImapMailbox).order_by(ImapMailbox.account, ImapMailbox.mailbox)
            )
        ),
        undelivered=_undelivered(),
    )


def _held(quarantine_id: int) -> QuarantinedEmail:
    row = db.session.get(QuarantinedEmail, quarantine_id)
    if row is None:
        abort(404)
    return row


@bp.get("/admin/email/quarantine/<int:quarantine_id>/raw")
@require_role("admin")
def raw(quarantine_id: int) -> Response:
    """The raw bytes as a download, never rendered: the message may be hostile."""
    row = _held(quarantine_id)
    data = BlobStore(settings().effective_blob_dir).get(row.raw_sha256)
    response = Response(data, mimetype="message/rfc822")
    response.headers["Content-Disposition"] = f'attachment; filename="quarantine-{row.id}.eml"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox"
    return response


@bp.post("/admin/email/quarantine/<int:quarantine_id>/reprocess")
@require_role("admin")
def reprocess(quarantine_id: int) -> Any:
    _held(quarantine_id)
    db.end_request_transaction()  # re-processing goes through intake, which commits itself
    result = do_reprocess_quarantined(quarantine_id)
    if result.outcome == "quarantined":
        flash(
            _(
                "Message %(id)s is still quarantined: %(reason)s",
                id=quarantine_id,
                reason=str(result.details.get("reason") or ""),
            ),
            "error",
        )
    elif result.ticket_id:
        flash(
            _(
                "Message %(id)s was re-processed: ticket %(ticket)s.",
                id=quarantine_id,
                ticket=result.ticket_id,
            ),
            "ok",
        )
    else:
        flash(_("Message %(id)s was re-processed.", id=quarantine_id), "ok")
    return redirect(url_for("email_admin.index"), 303)


def do_discard_quarantined(session: Session, row: QuarantinedEmail, *, user_id: int) -> bool:
    """Take a held message off the admins' list (status ``discarded``, audited). The raw
    copy stays in the blob store, so "re-process" can still bring it back. Returns whether
    anything changed (a released or discarded message is left as it is)."""
    if row.status != "held":
        return False
    row.status = "discarded"
    audit.record(
        session,
        user_id=user_id,
        action="email.quarantine_discarded",
        entity_type="email_quarantine",
        entity_id=row.id,
        before={"status": "held"},
        after={"status": "discarded"},
    )
    return True


@bp.post("/admin/email/quarantine/<int:quarantine_id>/discard")
@require_role("admin")
def discard(quarantine_id: int) -> Any:
    row = _held(quarantine_id)
    if do_discard_quarantined(db.session, row, user_id=current().id):
        flash(_("Message %(id)s was discarded; its raw copy is kept.", id=row.id), "ok")
    return redirect(url_for("email_admin.index"), 303)


@bp.post("/admin/email/outbound/<int:interaction_id>/send")
@require_role("admin")
def send_again(interaction_id: int) -> Any:
    db.end_request_transaction()  # delivery records its outcome in a session of its own
    status, error = deliver(interaction_id)
    if status == "sent":
        flash(_("E-mail %(id)s was sent.", id=interaction_id), "ok")
    elif status == "missing":
        abort(404)
    else:
        flash(
            _("E-mail %(id)s was not sent: %(error)s", id=interaction_id, error=error or status),
            "error",
        )
    return redirect(url_for("email_admin.index"), 303)
