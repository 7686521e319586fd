"""The admins' page of the e-mail channel: the quarantine with its raw copy, re-process and
discard; IMAP mailboxes with their last error; outbound mail not sent yet, sent again."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from channels.email.ingest import Envelope, quarantine
from channels.email.models import ImapMailbox, QuarantinedEmail
from crm_core.models import AuditEntry, Ticket
from hub.db import db
from tests.factories import bearer, make_user
from tests.integration.email_channel.mail import SUPPORT, message, send_raw


def _clients(app: Flask) -> tuple[Any, dict[str, str], dict[str, str]]:
    from tests.conftest import _Client

    with app.app_context(), db.transaction() as session:
        admin = bearer(session, make_user(session, role="admin"))
        agent = bearer(session, make_user(session, role="agent"))
    app.test_client_class = _Client
    return app.test_client(use_cookies=False), admin, agent


def test_admins_see_and_handle_the_quarantine(email_app: Flask, listener: Any) -> None:
    hostile = b"<script>alert(1)</script> not a message\r\n"
    code, _reply = send_raw(listener, hostile)
    assert code == 250
    good = message(subject="Kept safe", message_id="<kept-admin@example.org>").as_bytes()
    with email_app.app_context():
        kept = quarantine(good, Envelope(source="smtp:old", rcpt_tos=(SUPPORT,)), "old bug")
        bad = db.session.scalar(select(QuarantinedEmail.id).where(QuarantinedEmail.id != kept))
    client, admin, agent = _clients(email_app)

    assert client.get("/admin/email", headers=agent).status_code == 403
    assert client.get(f"/admin/email/quarantine/{bad}/raw", headers=agent).status_code == 403
    page = client.get("/admin/email", headers=admin)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'id="q-{bad}"' in html and f'id="q-{kept}"' in html
    assert "old bug" in html and "<script>alert(1)</script>" not in html

    raw = client.get(f"/admin/email/quarantine/{bad}/raw", headers=admin)
    assert raw.status_code == 200 and raw.data == hostile
    assert raw.headers["Content-Disposition"].startswith("attachment;")
    assert raw.headers["X-Content-Type-Options"] == "nosniff"

    # Re-processing the good one makes its ticket; the bad one stays held with its reason.
    done = client.post(f"/admin/email/quarantine/{kept}/reprocess", headers=admin)
    assert done.status_code == 303
    still = client.post(f"/admin/email/quarantine/{bad}/reprocess", headers=admin)
    assert still.status_code == 303
    # Discarding keeps the raw copy and is audited.
    gone = client.post(f"/admin/email/quarantine/{bad}/discard", headers=admin)
    assert gone.status_code == 303
    assert client.get(f"/admin/email/quarantine/{bad}/raw", headers=admin).data == hostile
    with email_app.app_context():
        found = db.session.execute(select(QuarantinedEmail.id, QuarantinedEmail.status))
        statuses = {row.id: row.status for row in found}
        assert statuses == {kept: "released", bad: "discarded"}
        assert db.session.scalar(select(Ticket.subject)) == "Kept safe"
        audited = select(AuditEntry.action).where(
            AuditEntry.entity_type == "email_quarantine", AuditEntry.entity_id == bad
        )
        assert db.session.scalar(audited) == "email.quarantine_discarded"
    held_only = client.get("/admin/email", headers=admin).get_data(as_text=True)
    assert 'id="quarantine-empty"' in held_only
    everything = client.get("/admin/email?all=1", headers=admin).get_data(as_text=True)
    assert f'id="q-{bad}"' in everything and f'id="q-{kept}"' in everything
    assert client.post("/admin/email/quarantine/999999/discard", headers=admin).status_code == 404


def test_a_failing_mailbox_shows_its_error(email_app: Flask) -> None:
    with email_app.app_context(), db.transaction() as session:
        session.add(
            ImapMailbox(
                account="support@imap.example.test",
                mailbox="INBOX",
                failures=3,
                last_error="LOGIN failed: <b>authentication</b> failed",
            )
        )
    client, admin, _agent = _clients(email_app)
    html = client.get("/admin/email", headers=admin).get_data(as_text=True)
    assert "support@imap.example.test / INBOX" in html
    assert "failing (3 attempts)" in html
    assert "LOGIN failed: &lt;b&gt;authentication&lt;/b&gt; failed" in html
