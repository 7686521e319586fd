"""The e-mail channel's commands: ``switchboard smtpd``, ``switchboard simulate email`` and
``switchboard email ...`` (quarantine, re-process, IMAP poller, mailbox status, redelivery)."""

from __future__ import annotations

import smtplib
import sys
from email.message import EmailMessage as MimeMessage

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from hub.db import db
from hub.i18n import in_cli_language


def _fail(message: str) -> None:
    click.echo(f"switchboard: {message}", err=True)
    sys.exit(1)


@click.command("smtpd")
@click.option("--host", default=None, help="default: SWITCHBOARD_SMTPD_HOST (127.0.0.1)")
@click.option("--port", default=None, type=int, help="default: SWITCHBOARD_SMTPD_PORT (2525)")
@with_appcontext
def smtpd_command(host: str | None, port: int | None) -> None:
    """Run the SMTP listener (put it behind your MX); every 250 follows a commit."""
    from channels.email.smtpd import run_forever
    from hub.settings import ConfigurationError

    conf = current_app.extensions["switchboard.settings"]
    where = f"{host or conf.smtpd_host}:{port or conf.smtpd_port}"
    click.echo(_("SMTP listener on %(where)s", where=where))
    try:
        run_forever(current_app._get_current_object(), host=host, port=port)  # type: ignore[attr-defined]
    except ConfigurationError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(_("cannot listen: %(error)s", error=exc))


@click.command("email")
@click.option("--from", "sender", required=True, help='e.g. "Ann <ann@example.org>"')
@click.option("--to", "recipient", default=None, help="default: the first configured address")
@click.option("--subject", required=True)
@click.option("--body", required=True)
@click.option("--in-reply-to", default=None, help="Message-ID this answers")
@click.option("--host", default=None)
@click.option("--port", default=None, type=int)
@with_appcontext
@in_cli_language
def simulate_email(
    sender: str,
    recipient: str | None,
    subject: str,
    body: str,
    in_reply_to: str | None,
    host: str | None,
    port: int | None,
) -> None:
    """Send a real e-mail over SMTP to the running listener."""
    conf = current_app.extensions["switchboard.settings"]
    to = recipient or next((a for a in conf.email_addresses if not a.startswith("@")), None)
    if to is None:
        _fail(_("give --to: no e-mail address is configured (SWITCHBOARD_EMAIL_ADDRESSES)"))
        return
    msg = MimeMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    target = (host or conf.smtpd_host, port or conf.smtpd_port)
    try:
        with smtplib.SMTP(*target, timeout=60) as client:
            client.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        _fail(
            _("could not send to %(where)s: %(error)s", where=f"{target[0]}:{target[1]}", error=exc)
        )
    click.echo(_("sent to %(to)s via %(where)s", to=to, where=f"{target[0]}:{target[1]}"))


@click.group("email")
def email_group() -> None:
    """The e-mail channel: quarantine, IMAP mailboxes, outbound delivery."""


@email_group.command("quarantine")
@click.option("--all", "show_all", is_flag=True, help="also released and discarded mail")
@with_appcontext
@in_cli_language
def quarantine_list(show_all: bool) -> None:
    """List quarantined messages (raw bytes kept; see `email reprocess`)."""
    from channels.email.models import QuarantinedEmail

    with db.transaction() as session:
        stmt = select(QuarantinedEmail).order_by(QuarantinedEmail.id)
        if not show_all:
            stmt = stmt.where(QuarantinedEmail.status == "held")
        rows = list(session.scalars(stmt))
        for row in rows:
            click.echo(
                f"{row.id:>6}  {row.status:<8} {row.created_at:%Y-%m-%d %H:%M}  {row.size:>9} B"
                f"  {row.source}  {row.reason}"
            )
    if not rows:
        click.echo(_("the quarantine is empty"))


@email_group.command("reprocess")
@click.argument("quarantine_id", type=int)
@with_appcontext
@in_cli_language
def reprocess(quarantine_id: int) -> None:
    """Try a quarantined message again; on success it becomes a ticket (or reply)."""
    from channels.email.ingest import do_reprocess_quarantined

    try:
        result = do_reprocess_quarantined(quarantine_id)
    except LookupError as exc:
        _fail(str(exc))
        return
    if result.outcome == "quarantined":
        _fail(_("still quarantined: %(reason)s", reason=result.details.get("reason")))
    click.echo(
        _(
            "%(outcome)s: interaction %(interaction)s, ticket %(ticket)s",
            outcome=result.outcome,
            interaction=result.interaction_id,
            ticket=result.ticket_id,
        )
    )


@email_group.command("raw")
@click.argument("quarantine_id", type=int)
@with_appcontext
@in_cli_language
def raw(quarantine_id: int) -> None:
    """Write a quarantined message's raw bytes to stdout."""
    from channels.email.models import QuarantinedEmail
    from crm_core.services.blobs import BlobStore

    with db.transaction() as session:
        row = session.get(QuarantinedEmail, quarantine_id)
        if row is None:
            _fail(_("no quarantined message %(id)s", id=quarantine_id))
            return
        conf = current_app.extensions["switchboard.settings"]
        data = BlobStore(conf.effective_blob_dir).get(row.raw_sha256)
    sys.stdout.buffer.write(data)


@email_group.command("status")
@with_appcontext
@in_cli_language
def status() -> None:
    """IMAP mailboxes: position, imported count, and the last error of a failing one."""
    from channels.email.models import ImapMailbox

    with db.transaction() as session:
        rows = list(session.scalars(select(ImapMailbox).order_by(ImapMailbox.account)))
        for row in rows:
            state = (
                _("OK")
                if not row.failures
                else ngettext("FAILING (%(num)d time)", "FAILING (%(num)d times)", row.failures)
            )
            click.echo(
                _(
                    "%(mailbox)s: %(state)s; UIDVALIDITY %(uidvalidity)s, last UID %(uid)s,"
                    " imported %(imported)s",
                    mailbox=f"{row.account}/{row.mailbox}",
                    state=state,
                    uidvalidity=row.uidvalidity,
                    uid=row.last_uid,
                    imported=row.imported,
                )
            )
            if row.last_error:
                click.echo("  " + _("last error: %(error)s", error=row.last_error))
    if not rows:
        click.echo(_("no IMAP mailbox has been polled yet"))


@email_group.command("imap")
@click.option("--once", is_flag=True, help="one pass over every mailbox, then exit")
@with_appcontext
def imap(once: bool) -> None:
    """Poll the IMAP mailboxes of SWITCHBOARD_EMAIL_IMAP_ACCOUNTS (IDLE where offered)."""
    import signal
    import threading

    from channels.email.imap import accounts, poll_imap_task, run_all
    from hub.settings import ConfigurationError

    conf = current_app.extensions["switchboard.settings"]
    try:
        configured = accounts(conf)
    except ConfigurationError as exc:
        _fail(str(exc))
        return
    if not configured:
        _fail(_("no IMAP account configured (SWITCHBOARD_EMAIL_IMAP_ACCOUNTS)"))
    if once:
        for mailbox, result in poll_imap_task.run().items():
            click.echo(f"{mailbox}: {result}")
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threads = run_all(current_app._get_current_object(), stop)  # type: ignore[attr-defined]
    click.echo(
        ngettext(
            "polling %(num)d IMAP mailbox; Ctrl-C to stop",
            "polling %(num)d IMAP mailboxes; Ctrl-C to stop",
            len(threads),
        )
    )
    stop.wait()
    for thread in threads:
        thread.join(timeout=30)


@email_group.command("redeliver")
@click.argument("interaction_id", type=int)
@with_appcontext
@in_cli_language
def redeliver(interaction_id: int) -> None:
    """Try again to deliver an outbound e-mail whose delivery failed."""
    from channels.email.outbound import deliver

    state, error = deliver(interaction_id)
    if error:
        _fail(_("delivery failed again: %(error)s", error=error))
    click.echo(state)
