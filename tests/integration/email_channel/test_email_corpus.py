"""Every one of the 465 real-world messages of the shared corpus through the real listener.

Each must be answered 250 and end as a ticket, a reply on one, or in the quarantine with its
raw bytes kept; none may crash the listener. Counts are checked per unique message (the
dedupe key: Message-ID + content digest, see ``channels.email.parse``), because the corpus
repeats Message-IDs and even whole files.
"""

from __future__ import annotations

import re
import smtplib
from collections import Counter

import pytest
from sqlalchemy import func, select

from channels.email.models import EmailMessage, QuarantinedEmail
from channels.email.parse import dedupe_key, normalize_message_id, raw_message_id
from channels.email.smtpd import start_listener
from crm_core.models import Interaction, Ticket
from crm_core.services.blobs import BlobStore
from hub.db import db
from hub.sanitize import safe_email_html
from tests.conftest import _empty_tables, make_test_app
from tests.integration.email_channel.conftest import CORPUS, EMAIL_SETTINGS, free_port, need
from tests.integration.email_channel.mail import send_raw, wire

REPLY = re.compile(r"^2\.0\.0 OK (ticket|reply|duplicate|quarantined) (Q?\d+)$")
MUST_QUARANTINE = {"mail-parser/mail_outlook_1", "flanker/dkim/email.01"}


def corpus_files() -> list[tuple[str, bytes]]:
    skip = ("index.tsv", "README.md")
    files = [p for p in sorted(CORPUS.rglob("*")) if p.is_file() and p.name not in skip]
    return [(str(p.relative_to(CORPUS)), p.read_bytes()) for p in files]


@pytest.fixture
def corpus_app(database_url, tmp_path):
    # Acknowledgements have their own tests; without them the run stays well under 2 min.
    app = make_test_app(database_url, tmp_path / "var", **EMAIL_SETTINGS, email_autoack=False)
    yield app
    _empty_tables(app)
    db.engine_for(app).dispose()


@pytest.fixture
def corpus_listener(corpus_app):
    running = start_listener(corpus_app, host="127.0.0.1", port=free_port())
    yield running
    running.stop()


def test_every_corpus_message_becomes_a_ticket_or_is_quarantined(corpus_app, corpus_listener):
    email_app, listener = corpus_app, corpus_listener
    need(CORPUS, "the shared mail corpus (../shared/corpora/mail)")
    files = corpus_files()
    assert len(files) == 465
    outcomes: dict[str, tuple[str, str]] = {}
    client = smtplib.SMTP(listener.host, listener.port, timeout=300)
    client.ehlo()
    try:
        for name, raw in files:
            code, reply = send_raw(listener, raw, client=client, mail_from="corpus@example.org")
            assert code == 250, f"{name}: {code} {reply}"
            found = REPLY.match(reply)
            assert found, f"{name}: {reply}"
            outcomes[name] = (found.group(1), found.group(2))
            client.rset()
    finally:
        client.quit()

    by_outcome = Counter(o for o, _ in outcomes.values())
    print(f"\ncorpus outcomes per file: {dict(by_outcome)}")
    assert set(by_outcome) <= {"ticket", "reply", "duplicate", "quarantined"}
    for name in MUST_QUARANTINE:
        assert outcomes[name][0] == "quarantined", name

    conf = email_app.extensions["switchboard.settings"]
    store = BlobStore(conf.effective_blob_dir)
    with db.sessionmaker_for(email_app)() as s:
        inbound = {
            i.external_id: i
            for i in s.scalars(
                select(Interaction).where(
                    Interaction.channel == "email", Interaction.direction == "inbound"
                )
            )
        }
        held = {q.dedupe_key: q for q in s.scalars(select(QuarantinedEmail))}
        tickets = s.scalar(select(func.count()).select_from(Ticket))
        message_rows = s.scalar(
            select(func.count())
            .select_from(EmailMessage)
            .where(EmailMessage.direction == "inbound")
        )

    # Each file is stored exactly where its reply said, under its own dedupe key.
    keys_in, keys_q = set(), set()
    for name, raw in files:
        outcome, ref = outcomes[name]
        if outcome == "quarantined":
            key = dedupe_key(wire(raw), raw_message_id(wire(raw)))
            row = held[key]
            assert f"Q{row.id}" == ref
            assert store.get(row.raw_sha256) == wire(raw), name  # the bytes as received
            keys_q.add(key)
        else:
            match = [i for i in inbound.values() if str(i.id) == ref]
            assert len(match) == 1, name
            got = match[0]
            assert got.ticket_id is not None, name
            assert store.get(got.raw_sha256) == wire(raw) or outcome == "duplicate", name
            keys_in.add(got.external_id)
            mid = (got.payload or {}).get("message_id")
            assert mid == normalize_message_id(raw_message_id(raw)) or mid is not None, name
    # Counts per unique message: one interaction per key, one quarantine row per key.
    assert len(inbound) == len(keys_in) == message_rows
    assert len(held) == len(keys_q)
    assert by_outcome["ticket"] == tickets
    assert by_outcome["ticket"] + by_outcome["reply"] == len(inbound)
    assert by_outcome["duplicate"] == len(files) - len(keys_in) - by_outcome["quarantined"]
    # More unique messages than unique Message-IDs: shared ids did not merge messages.
    assert len(keys_in | keys_q) > 259
    print(
        f"unique messages: {len(keys_in) + len(keys_q)}; tickets {tickets}, "
        f"replies {by_outcome['reply']}, quarantined {len(held)}, "
        f"repeat deliveries {by_outcome['duplicate']}"
    )

    # HTML is stored as sent and neutralised for display.
    for got in inbound.values():
        if got.body_html:
            shown = safe_email_html(got.body_html).lower()
            assert "<script" not in shown and "javascript:" not in shown
            assert not re.search(r"<[^>]+\son\w+\s*=", shown)
