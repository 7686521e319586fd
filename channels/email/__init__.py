"""The e-mail channel: customers' e-mails become tickets, agents' replies go back by e-mail.

Owns the SMTP listener (``smtpd``), the IMAP poller (``imap``), parsing (``parse``), the
path from raw bytes to a ticket or the quarantine (``ingest``), threading, and the
send-e-mail port of the hub (``outbound``: SMTP relay or the outbox of the embedded default,
auto-acknowledgements). See docs/email.md.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

_subscribed = False


def init_app(app: Flask) -> None:
    """Register the threader, the send-e-mail port and the after-commit delivery hook."""
    global _subscribed
    from channels.email import models  # noqa: F401  (tables on the metadata)
    from channels.email.admin import bp as admin_bp
    from channels.email.ingest import thread_email
    from channels.email.outbound import SmtpEmailSender, on_outbound_recorded
    from hub.events import subscribe
    from hub.intake import register_threader
    from hub.ports import EMAIL_OUTBOUND_RECORDED, register_email_sender

    register_threader("email", thread_email)
    app.register_blueprint(admin_bp)  # /admin/email: quarantine, mailboxes, undelivered mail
    register_email_sender(app, SmtpEmailSender())
    app.extensions.setdefault("switchboard.background", []).append(start_in_process)
    conf = app.extensions["switchboard.settings"]
    celery_app = app.extensions.get("celery")
    if conf.email_imap_accounts and celery_app is not None:
        # With a broker, Celery beat polls every mailbox too; the lease lock on each mailbox
        # keeps this and a long-running `switchboard email imap` from overlapping.
        schedule = dict(celery_app.conf.beat_schedule or {})
        schedule["email-poll-imap"] = {
            "task": "channels.email.poll_imap",
            "schedule": float(conf.email_imap_poll_seconds),
        }
        celery_app.conf.beat_schedule = schedule
    if not _subscribed:  # blinker signals are process-wide: one subscription serves all apps
        subscribe(EMAIL_OUTBOUND_RECORDED, on_outbound_recorded)
        _subscribed = True


def start_in_process(app: Flask) -> Callable[[], None]:
    """``switchboard serve``: the SMTP listener (``smtpd_in_process``) and the IMAP pollers
    run inside the all-in-one process. Returns the function that stops them."""
    import logging
    import threading

    from channels.email.imap import run_all
    from channels.email.smtpd import start_listener

    conf = app.extensions["switchboard.settings"]
    stoppers: list[Callable[[], None]] = []
    if conf.smtpd_in_process:
        try:
            listener = start_listener(app)
        except OSError as exc:  # the web console still runs; say why mail does not
            logging.getLogger(__name__).error("SMTP listener not started: %s", exc)
        else:
            print(f"  SMTP listener: {listener.host}:{listener.port}", flush=True)  # noqa: T201
            stoppers.append(listener.stop)
    if conf.email_imap_accounts:
        stop = threading.Event()
        threads = run_all(app, stop)
        stoppers.append(stop.set)
        print(f"  IMAP: polling {len(threads)} mailbox(es)", flush=True)  # noqa: T201

    def stop_all() -> None:
        for stop_one in stoppers:
            stop_one()

    return stop_all
