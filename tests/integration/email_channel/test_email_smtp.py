"""The SMTP listener over real sockets: 250 only after commit, the right codes otherwise."""

from __future__ import annotations

import smtplib
import ssl
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from channels.email.models import EmailMessage, QuarantinedEmail
from channels.email.smtpd import start_listener
from crm_core.models import Customer, Interaction, Ticket
from crm_core.services.blobs import BlobStore
from hub.cli import main
from hub.db import db
from hub.models import Queue
from tests.integration.email_channel.conftest import EMAIL_SETTINGS, free_port
from tests.integration.email_channel.mail import SALES, message, send, send_raw, wire


def count(app, model, *where) -> int:
    with db.sessionmaker_for(app)() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def one(app, model, *where):
    with db.sessionmaker_for(app)() as s:
        return s.scalars(select(model).where(*where)).one()


def test_new_mail_becomes_a_ticket_in_the_recipients_queue(email_app, listener):
    with db.sessionmaker_for(email_app)() as s:
        s.add(Queue(name="Sales", channels=["email"]))
        s.commit()
    code, reply = send(listener, message(subject="Offer please"), rcpt=SALES)
    assert code == 250 and " ticket " in reply
    got = one(email_app, Interaction, Interaction.direction == "inbound")
    ticket = one(email_app, Ticket)
    queue = one(email_app, Queue, Queue.name == "Sales")
    assert got.ticket_id == ticket.id and ticket.subject == "Offer please"
    assert got.queue_id == queue.id and ticket.queue_id == queue.id
    assert got.from_address == "jan.nowak@example.org"
    customer = one(email_app, Customer)
    assert got.customer_id == customer.id == ticket.customer_id
    assert customer.first_name == "Jan"
    raw = BlobStore(email_app.extensions["switchboard.settings"].effective_blob_dir).get(
        got.raw_sha256
    )
    assert b"Subject: Offer please" in raw


def test_unknown_recipient_is_refused_at_rcpt(listener):
    with smtplib.SMTP(listener.host, listener.port) as client:
        client.ehlo()
        client.mail("someone@example.org")
        code, _ = client.rcpt("nobody@elsewhere.test")
        assert code == 550
        assert client.rcpt("anything@help.example.test")[0] == 250


def test_size_is_advertised_and_enforced(email_app, listener):
    limit = EMAIL_SETTINGS["smtpd_max_message_bytes"]
    big = message(body="x" * 70 + "\n")
    big.add_attachment(b"\0" * (limit + 10), maintype="application", subtype="octet-stream")
    with smtplib.SMTP(listener.host, listener.port) as client:
        client.ehlo()
        assert int(client.esmtp_features["size"]) == limit
        assert "8bitmime" in client.esmtp_features and "smtputf8" in client.esmtp_features
        # A client that declares the size is refused at MAIL ...
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.send_message(big)
        assert refused.value.smtp_code == 552
        client.rset()
        # ... and one that does not is refused after DATA.
        code, _ = send_raw(listener, big.as_bytes(), client=client)
    assert code == 552
    assert count(email_app, Interaction) == 0


def test_utf8_headers_8bit_body_and_long_lines(email_app, listener):
    msg = message(
        sender="Józef Żółć <józef@przykład.pl>",
        subject="Zażółć gęślą jaźń — ☎",
        body="Dzień dobry,\n" + "ą" * 3000 + "\n",
    )
    msg.replace_header("Content-Transfer-Encoding", "8bit") if False else None
    with smtplib.SMTP(listener.host, listener.port) as client:
        refused = client.send_message(msg)  # adds SMTPUTF8 + 8BITMIME as needed
    assert refused == {}
    got = one(email_app, Interaction, Interaction.direction == "inbound")
    assert got.subject == "Zażółć gęślą jaźń — ☎"
    assert got.body_text.startswith("Dzień dobry") and "ą" * 3000 in got.body_text
    long_line = b"Subject: wide\r\nFrom: a@example.org\r\n\r\n" + b"y" * 30000 + b"\r\n"
    code, _ = send_raw(listener, long_line)
    assert code == 250


def test_starttls_when_a_certificate_is_configured(database_url, tmp_path):
    from tests.integration.email_channel.conftest import _empty_tables, make_test_app

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    app = make_test_app(
        database_url,
        tmp_path / "var",
        **EMAIL_SETTINGS,
        smtpd_tls_cert=str(cert),
        smtpd_tls_key=str(key),
    )
    running = start_listener(app, host="127.0.0.1", port=free_port())
    try:
        with smtplib.SMTP(running.host, running.port) as client:
            client.ehlo()
            assert client.has_extn("starttls")
            context = ssl.create_default_context(cafile=str(cert))
            context.check_hostname = False
            client.starttls(context=context)
            client.ehlo()
            assert client.send_message(message(subject="over TLS")) == {}
        assert one(app, Interaction, Interaction.direction == "inbound").subject == "over TLS"
    finally:
        running.stop()
        _empty_tables(app)
        db.engine_for(app).dispose()


def test_garbage_is_quarantined_with_its_bytes(email_app, listener):
    raw = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00\x01binary outlook file" * 10
    code, reply = send_raw(listener, raw)
    assert code == 250 and "quarantined" in reply
    row = one(email_app, QuarantinedEmail)
    store = BlobStore(email_app.extensions["switchboard.settings"].effective_blob_dir)
    assert store.get(row.raw_sha256) == wire(raw)
    assert "OLE2" in row.reason and row.status == "held"
    assert count(email_app, Interaction) == 0


def _fail_writes(app, on: bool) -> None:
    """Make the real database refuse every insert of a message (a full disk, a bad failover)."""
    engine = db.engine_for(app)
    tables = ("interactions", "email_quarantine")
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            if on:
                conn.execute(
                    text(
                        "CREATE FUNCTION sb_test_refuse() RETURNS trigger AS $$ BEGIN "
                        "RAISE EXCEPTION 'disk full (test)'; END $$ LANGUAGE plpgsql"
                    )
                )
            for table in tables:
                if on:
                    conn.execute(
                        text(
                            f"CREATE TRIGGER sb_test_refuse BEFORE INSERT ON {table} "
                            "FOR EACH ROW EXECUTE FUNCTION sb_test_refuse()"
                        )
                    )
                else:
                    conn.execute(text(f"DROP TRIGGER sb_test_refuse ON {table}"))
            if not on:
                conn.execute(text("DROP FUNCTION sb_test_refuse()"))
        else:
            for table in tables:
                if on:
                    conn.execute(
                        text(
                            f"CREATE TRIGGER sb_test_refuse_{table} BEFORE INSERT ON {table} "
                            "BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END"
                        )
                    )
                else:
                    conn.execute(text(f"DROP TRIGGER sb_test_refuse_{table}"))


def test_database_failure_answers_451_and_the_retry_loses_nothing(email_app, listener):
    msg = message(subject="Please call me back", message_id="<retry-1@example.org>")
    with smtplib.SMTP(listener.host, listener.port) as client:
        client.ehlo()
        _fail_writes(email_app, True)
        try:
            code, reply = send(listener, msg, client=client)
        finally:
            _fail_writes(email_app, False)
        assert code == 451, reply
        client.rset()
        # The same session, once the database is back: the sender's retry is accepted ...
        code, reply = send(listener, msg, client=client)
        assert code == 250, reply
        # ... and a second retry (the sender never saw our 250) makes no duplicate.
        code, reply = send(listener, msg, client=client)
        assert code == 250 and "duplicate" in reply
    assert count(email_app, Interaction, Interaction.direction == "inbound") == 1
    assert count(email_app, Ticket) == 1
    assert count(email_app, QuarantinedEmail) == 0
    assert count(email_app, EmailMessage, EmailMessage.direction == "inbound") == 1


def test_simulate_email_cli_sends_over_smtp(email_app, listener):
    runner = email_app.test_cli_runner()
    result = runner.invoke(
        main,
        [
            "simulate", "email", "--from", "Ann <ann@example.org>", "--subject", "From the CLI",
            "--body", "hello", "--host", listener.host, "--port", str(listener.port),
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert one(email_app, Interaction, Interaction.direction == "inbound").subject == "From the CLI"


def test_own_outbox_is_written_under_var(email_app, listener):
    send(listener, message())
    assert (Path(email_app.extensions["switchboard.settings"].var_dir) / "outbox").is_dir()
