"""The IMAP poller against a real, private Dovecot."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest
from imapclient.exceptions import LoginError
from sqlalchemy import func, select

from channels.email.imap import ImapAccount, MailboxPoller, accounts, poll_imap_task
from channels.email.ingest import TemporaryFailure
from channels.email.models import ImapMailbox
from crm_core.models import Interaction, Ticket
from hub.db import db
from tests.conftest import _empty_tables, make_test_app
from tests.integration.email_channel.conftest import EMAIL_SETTINGS, IN_CI, free_port
from tests.integration.email_channel.dovecot import PASSWORD, USERS, Dovecot
from tests.integration.email_channel.mail import SUPPORT, message
from tests.integration.email_channel.test_email_smtp import _fail_writes

USER = USERS[0]


@pytest.fixture(scope="module")
def dovecot():
    if shutil.which("dovecot") is None:
        reason = "dovecot is not installed (apt-get install dovecot-imapd)"
        if IN_CI:
            pytest.fail(f"{reason}: CI must have it")
        print(f"SKIPPED: {reason}")
        pytest.skip(reason)
    server = Dovecot(Path(tempfile.mkdtemp(prefix="sb-dovecot-", dir="/tmp")), free_port())
    server.start()
    yield server
    server.stop()
    shutil.rmtree(server.base, ignore_errors=True)


def account_setting(server: Dovecot, **extra) -> dict:
    return {
        "name": "support",
        "host": server.host,
        "port": server.port,
        "security": "none",
        "username": USER,
        "password": PASSWORD,
        "address": SUPPORT,
        **extra,
    }


@pytest.fixture
def imap_settings(dovecot):
    return {"email_imap_accounts": [account_setting(dovecot)], "email_imap_poll_seconds": 30}


@pytest.fixture
def imap_app(database_url, tmp_path, dovecot, imap_settings):
    dovecot.wipe(USER)
    app = make_test_app(database_url, tmp_path / "var", **EMAIL_SETTINGS, **imap_settings)
    yield app
    _empty_tables(app)
    db.engine_for(app).dispose()


def poller(app, **kw) -> MailboxPoller:
    (account,) = accounts(app.extensions["switchboard.settings"])
    return MailboxPoller(app, account, "INBOX", **kw)


def append(server: Dovecot, subject: str, mid: str) -> int:
    client = server.client()
    try:
        reply = client.append("INBOX", message(subject=subject, message_id=mid).as_bytes())
        return int(reply.split(b"]")[0].split()[-1])  # [APPENDUID <validity> <uid>]
    finally:
        client.logout()


def flags(server: Dovecot, uid: int, folder: str = "INBOX") -> tuple:
    client = server.client()
    try:
        client.select_folder(folder, readonly=True)
        return client.get_flags([uid]).get(uid, ())
    finally:
        client.logout()


def count(app, model, *where) -> int:
    with db.sessionmaker_for(app)() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def mailbox(app) -> ImapMailbox:
    with db.sessionmaker_for(app)() as s:
        return s.scalars(select(ImapMailbox)).one()


def inbound(app) -> int:
    return count(app, Interaction, Interaction.direction == "inbound")


def test_new_message_is_imported_once_and_marked_seen_after_commit(imap_app, dovecot):
    uid = append(dovecot, "Invoice missing", "<imap-1@example.org>")
    first = poller(imap_app)
    try:
        result = first.poll_once()
        assert result.imported == 1
        assert b"\\Seen" in flags(dovecot, uid)
        assert first.poll_once().imported == 0
    finally:
        first.disconnect()
    assert inbound(imap_app) == 1 and count(imap_app, Ticket) == 1
    got = mailbox(imap_app)
    assert got.last_uid == uid and got.imported == 1 and got.last_error is None
    # A restarted poller (another process) continues from the stored position.
    again = poller(imap_app)
    try:
        assert again.poll_once().imported == 0
    finally:
        again.disconnect()
    assert inbound(imap_app) == 1


def test_uidvalidity_change_rescans_without_duplicates(imap_app, dovecot):
    append(dovecot, "One", "<imap-a@example.org>")
    append(dovecot, "Two", "<imap-b@example.org>")
    p = poller(imap_app)
    try:
        assert p.poll_once().imported == 2
    finally:
        p.disconnect()
    before = mailbox(imap_app).uidvalidity
    # The mailbox is rebuilt: new UIDVALIDITY, UIDs from 1 again. Dovecot derives
    # UIDVALIDITY from the clock in seconds, so rebuild until it really differs.
    while True:
        dovecot.wipe(USER)
        client = dovecot.client()
        try:
            fresh = client.select_folder("INBOX")[b"UIDVALIDITY"]
        finally:
            client.logout()
        if fresh != before:
            break
        time.sleep(0.2)
    append(dovecot, "One", "<imap-a@example.org>")
    append(dovecot, "Two", "<imap-b@example.org>")
    append(dovecot, "Three", "<imap-c@example.org>")
    p = poller(imap_app)
    try:
        result = p.poll_once()
    finally:
        p.disconnect()
    assert result.rescanned and result.imported == 1 and result.duplicates == 2
    assert mailbox(imap_app).uidvalidity != before
    assert inbound(imap_app) == 3


def test_a_failed_commit_leaves_the_message_unseen_for_the_next_pass(imap_app, dovecot):
    uid = append(dovecot, "Urgent", "<imap-db@example.org>")
    p = poller(imap_app)
    try:
        _fail_writes(imap_app, True)
        try:
            with pytest.raises(TemporaryFailure):
                p.poll_once()
        finally:
            _fail_writes(imap_app, False)
        assert b"\\Seen" not in flags(dovecot, uid)
        row = mailbox(imap_app)
        assert row.failures == 1 and "could not store" in row.last_error and row.last_uid == 0
        assert p.poll_once().imported == 1
    finally:
        p.disconnect()
    assert b"\\Seen" in flags(dovecot, uid)
    row = mailbox(imap_app)
    assert row.failures == 0 and row.last_error is None
    assert inbound(imap_app) == 1


def test_move_to_processed_folder(database_url, tmp_path, dovecot):
    dovecot.wipe(USER)
    settings = {"email_imap_accounts": [account_setting(dovecot, processed="move")]}
    app = make_test_app(database_url, tmp_path / "var", **EMAIL_SETTINGS, **settings)
    try:
        append(dovecot, "Move me", "<imap-move@example.org>")
        p = poller(app)
        try:
            assert p.poll_once().imported == 1
        finally:
            p.disconnect()
        client = dovecot.client()
        try:
            assert client.select_folder("INBOX")[b"EXISTS"] == 0
            assert client.select_folder("Processed")[b"EXISTS"] == 1
        finally:
            client.logout()
    finally:
        _empty_tables(app)
        db.engine_for(app).dispose()


def test_wrong_password_is_shown_on_the_mailbox(database_url, tmp_path, dovecot):
    settings = {"email_imap_accounts": [account_setting(dovecot, password="wrong")]}
    app = make_test_app(database_url, tmp_path / "var", **EMAIL_SETTINGS, **settings)
    try:
        p = poller(app)
        with pytest.raises(LoginError):
            p.poll_once()
        row = mailbox(app)
        assert row.failures == 1 and row.last_error.startswith("login failed")
        with app.app_context():
            result = poll_imap_task.run("support")
        assert result["support/INBOX"]["error"].startswith("login failed")
        assert mailbox(app).failures == 2
        runner = app.test_cli_runner()
        from hub.cli import main

        shown = runner.invoke(main, ["email", "status"])
        assert "login failed" in shown.output
    finally:
        _empty_tables(app)
        db.engine_for(app).dispose()


def test_one_poller_per_mailbox(imap_app, dovecot):
    append(dovecot, "Locked", "<imap-lock@example.org>")
    holder, other = poller(imap_app), poller(imap_app)
    other.worker = "another-host:1:1"
    with imap_app.app_context():
        assert holder._lock()
    try:
        assert other.poll_once().locked_out
        assert inbound(imap_app) == 0
    finally:
        with imap_app.app_context():
            holder._unlock()
        other.disconnect()
    assert other.poll_once().imported == 1
    other.disconnect()


def wait_for(predicate, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_idle_imports_new_mail_and_survives_a_server_restart(imap_app, dovecot):
    p = poller(imap_app)
    stop = threading.Event()
    thread = threading.Thread(target=p.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: count(imap_app, ImapMailbox, ImapMailbox.last_ok_at.is_not(None)))
        append(dovecot, "While idling", "<imap-idle-1@example.org>")
        # The poll interval is 30 s: this arrives through IDLE.
        assert wait_for(lambda: inbound(imap_app) == 1)
        dovecot.stop()
        dovecot.start()
        append(dovecot, "After restart", "<imap-idle-2@example.org>")
        assert wait_for(lambda: inbound(imap_app) == 2, seconds=60)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert inbound(imap_app) == 2


def test_account_settings_are_checked():
    from hub.settings import ConfigurationError

    with pytest.raises(ConfigurationError, match="password"):
        ImapAccount.from_setting({"name": "x", "host": "h", "username": "u"})
    with pytest.raises(ConfigurationError, match="security"):
        ImapAccount.from_setting(
            {"name": "x", "host": "h", "username": "u", "password": "p", "security": "tls1"}
        )


def test_the_same_message_by_smtp_and_by_imap_is_one_interaction(imap_app, dovecot):
    from channels.email.smtpd import start_listener
    from tests.integration.email_channel.mail import send

    msg = message(subject="Sent to both", message_id="<both@example.org>")
    running = start_listener(imap_app, host="127.0.0.1", port=free_port())
    try:
        assert send(running, msg)[0] == 250
    finally:
        running.stop()
    # The mailbox copy went through other MTAs: trace fields and line ends differ.
    relayed = (
        b"Return-Path: <sender@example.org>\r\nDelivered-To: agent@example.test\r\n"
        b"Received: from mx.example.org by imap.example.test; Tue, 21 Nov 2026 10:00:00 +0000\r\n"
        + msg.as_bytes().replace(b"\n", b"\r\n")
    )
    client = dovecot.client()
    try:
        client.append("INBOX", relayed)
    finally:
        client.logout()
    p = poller(imap_app)
    try:
        result = p.poll_once()
    finally:
        p.disconnect()
    assert result.duplicates == 1 and result.imported == 0
    assert inbound(imap_app) == 1
