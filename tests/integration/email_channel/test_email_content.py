"""Attachments, inline images, hostile HTML, bounces of our own mail, and the quarantine's
re-process action."""

from __future__ import annotations

from email.message import EmailMessage as Mime

from sqlalchemy import select

from channels.email.ingest import Envelope, quarantine
from channels.email.models import QuarantinedEmail
from crm_core.models import Attachment, Interaction, Ticket
from crm_core.services.blobs import BlobStore
from hub.cli import main
from hub.db import db
from hub.replies import do_send_reply
from hub.sanitize import safe_email_html
from tests.factories import make_user
from tests.integration.email_channel.mail import SUPPORT, message, outbox, send, send_raw

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)
HOSTILE = (
    '<p onclick="steal()">Hi <b>there</b></p><script>alert(1)</script>'
    '<a href="javascript:alert(2)">click</a><img src="http://tracker.example/p.gif">'
    '<div style="width: expression(alert(3))">x</div><img src="cid:logo@x">'
    '<iframe src="http://evil.example"></iframe><form action="http://evil"><input></form>'
)


def rows(app, model, *where):
    with db.sessionmaker_for(app)() as s:
        return list(s.scalars(select(model).where(*where).order_by(model.id)))


def test_attachments_inline_images_and_hostile_html(email_app, listener):
    msg = Mime()
    msg["From"] = "Ann <ann@example.org>"
    msg["To"] = SUPPORT
    msg["Subject"] = "Invoice and logo"
    msg.set_content("See attached.")
    msg.add_alternative(HOSTILE, subtype="html")
    html_part = msg.get_payload()[1]
    html_part.add_related(PNG, "image", "png", cid="<logo@x>", filename="logo.png")
    msg.add_attachment(b"%PDF-1.4\n%fake\n", maintype="application", subtype="pdf",
                       filename="Faktura 1/2024.pdf")  # fmt: skip
    msg.add_attachment(b"\x78\x9f\x3e\x22binary", maintype="application", subtype="ms-tnef",
                       filename="winmail.dat")  # fmt: skip
    code, _ = send(listener, msg)
    assert code == 250
    (got,) = rows(email_app, Interaction, Interaction.direction == "inbound")
    assert got.body_text.strip() == "See attached."
    assert got.body_html.strip() == HOSTILE  # the original is kept ...
    shown = safe_email_html(got.body_html)  # ... and neutralised for display
    for bad in ("<script", "onclick", "javascript:", "expression(", "<iframe", "<form", "<img"):
        assert bad not in shown
    assert "<b>there</b>" in shown
    files = {a.filename: a for a in rows(email_app, Attachment)}
    assert set(files) == {"logo.png", "Faktura 1_2024.pdf", "winmail.dat"}
    assert files["logo.png"].content_type == "image/png"
    store = BlobStore(email_app.extensions["switchboard.settings"].effective_blob_dir)
    assert store.get(files["logo.png"].sha256) == PNG
    assert all(a.interaction_id == got.id for a in files.values())


def test_a_bounce_of_our_reply_is_shown_on_its_ticket(email_app, listener):
    send(listener, message(message_id="<orig@example.org>"))
    with email_app.app_context(), db.sessionmaker_for(email_app)() as s:
        agent = make_user(s, role="supervisor")
        ticket = s.scalars(select(Ticket)).one()
        out_id = do_send_reply(s, ticket, author=agent, body="Answer").id
        s.commit()
    ours = outbox(email_app.extensions["switchboard.settings"].var_dir)[-1]
    dsn = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
        f"To: {SUPPORT}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nThe mailbox is full.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        "Final-Recipient: rfc822; jan.nowak@example.org\r\n"
        "Action: failed\r\nStatus: 5.2.2\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: {SUPPORT}\r\nMessage-ID: {ours['Message-ID']}\r\nSubject: {ours['Subject']}\r\n"
        "\r\n--B--\r\n"
    ).encode()
    code, reply = send_raw(listener, dsn, mail_from="")
    assert code == 250 and " reply " in reply
    with db.sessionmaker_for(email_app)() as s:
        bounce = s.scalars(select(Interaction).order_by(Interaction.id.desc())).first()
        out = s.get(Interaction, out_id)
        assert bounce.ticket_id == out.ticket_id
        assert out.payload["bounced"] is True and out.payload["bounce_interaction_id"] == bounce.id
    assert len(rows(email_app, Ticket)) == 1


def test_quarantine_list_and_reprocess(email_app, listener):
    code, reply = send_raw(listener, b"this is not an e-mail at all\r\n")
    assert code == 250 and "quarantined" in reply
    runner = email_app.test_cli_runner()
    listed = runner.invoke(main, ["email", "quarantine"])
    assert "no header fields" in listed.output
    (held,) = rows(email_app, QuarantinedEmail)
    again = runner.invoke(main, ["email", "reprocess", str(held.id)])
    assert again.exit_code == 1 and "still quarantined" in again.output
    raw_out = runner.invoke(main, ["email", "raw", str(held.id)])
    assert raw_out.stdout_bytes == b"this is not an e-mail at all\r\n"
    # A good message quarantined by an older bug is released once re-processed.
    good = message(subject="Kept safe", message_id="<kept@example.org>").as_bytes()
    with email_app.app_context():
        qid = quarantine(good, Envelope(source="smtp:old", rcpt_tos=(SUPPORT,)), "old bug")
    done = runner.invoke(main, ["email", "reprocess", str(qid)])
    assert done.exit_code == 0 and done.output.startswith("ticket:"), done.output
    row = rows(email_app, QuarantinedEmail, QuarantinedEmail.id == qid)[0]
    assert row.status == "released" and row.interaction_id is not None
    (ticket,) = rows(email_app, Ticket)
    assert ticket.subject == "Kept safe"


def test_mail_for_the_fax_gateway_becomes_a_fax(database_url, tmp_path):
    from channels.email.smtpd import start_listener
    from tests.conftest import _empty_tables, make_test_app
    from tests.integration.email_channel.conftest import EMAIL_SETTINGS, free_port

    gateway = "fax@example.test"
    conf = dict(EMAIL_SETTINGS)
    conf["email_addresses"] = {**EMAIL_SETTINGS["email_addresses"], gateway: ""}
    app = make_test_app(
        database_url, tmp_path / "var", **conf, fax_email_gateway_addresses=[gateway]
    )
    running = start_listener(app, host="127.0.0.1", port=free_port())
    try:
        msg = message(sender="+48221234567@fax.example.net", to=gateway, subject="Fax")
        msg.add_attachment(b"%PDF-1.4\n%not really\n", maintype="application", subtype="pdf",
                           filename="fax.pdf")  # fmt: skip
        code, reply = send(running, msg, rcpt=gateway)
        assert code == 250 and " gateway " in reply
        again = send(running, msg, rcpt=gateway)
        assert again[0] == 250 and " duplicate " in again[1]
        (fax,) = rows(app, Interaction)
        assert fax.channel == "fax" and fax.from_address == "+48221234567"
        assert rows(app, Ticket) == []
        # Plain mail to the same address (no fax document) is an ordinary ticket.
        code, reply = send(running, message(to=gateway, subject="Question"), rcpt=gateway)
        assert code == 250 and " ticket " in reply
    finally:
        running.stop()
        _empty_tables(app)
        db.engine_for(app).dispose()
