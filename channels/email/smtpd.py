"""The SMTP listener (aiosmtpd): in-process for ``switchboard serve``, ``switchboard smtpd``
behind the MX in production.

- ``RCPT TO``: only the addresses and ``@domains`` of ``email_addresses`` (each maps to a
  queue); anything else is ``550`` at once, before the client sends the data.
- ``SIZE`` is advertised (``smtpd_max_message_bytes``) and enforced (``552``).
- ``SMTPUTF8`` and ``8BITMIME`` are on; ``STARTTLS`` is offered when ``smtpd_tls_cert`` and
  ``smtpd_tls_key`` are set.
- Lines longer than the RFC 5321 limit of 998 octets are accepted (up to 1 MiB): real MTAs
  relay such mail, and refusing it would lose customers' mail for a formality.
- ``250`` after ``DATA`` only once the message (as a ticket, a reply, or in the quarantine)
  is committed; when nothing could be committed the answer is ``451`` and the sender
  retries. We never answer ``5xx`` for a failure of ours.

A message for several of our addresses becomes one ticket, in the first recipient's queue.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from aiosmtpd.smtp import Session as SmtpSession
from flask import Flask

from channels.email.ingest import Envelope, TemporaryFailure, ingest, route_recipient
from hub.settings import ConfigurationError, Settings

log = logging.getLogger(__name__)

LONGEST_LINE = 1 << 20


class _SMTP(SMTP):
    # aiosmtpd refuses DATA lines over 1001 octets with a permanent 500; we accept them.
    line_length_limit = LONGEST_LINE


class IntakeHandler:
    """aiosmtpd handler: recipients checked at RCPT, the message committed before 250."""

    def __init__(self, app: Flask, workers: int = 4) -> None:
        self.app = app
        self.settings: Settings = app.extensions["switchboard.settings"]
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smtpd")
        self.in_flight = 0  # messages between DATA and our reply (graceful stop waits)
        self._count_lock = threading.Lock()

    async def handle_RCPT(
        self,
        server: SMTP,
        session: SmtpSession,
        envelope: SmtpEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        accepted, _queue = route_recipient(self.settings, address)
        if not accepted:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: SmtpEnvelope) -> str:
        raw = envelope.original_content
        if raw is None:
            content = envelope.content
            raw = content if isinstance(content, bytes) else (content or "").encode()
        _, queue = route_recipient(self.settings, envelope.rcpt_tos[0])
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        meta = Envelope(
            source=f"smtp:{peer}",
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            queue=queue,
        )
        loop = asyncio.get_running_loop()
        with self._count_lock:
            self.in_flight += 1
        try:
            result = await loop.run_in_executor(self.executor, self._ingest, bytes(raw), meta)
        except TemporaryFailure as exc:
            log.warning("451 to %s: %s", peer, exc)
            return "451 4.3.0 Temporary failure, please try again later"
        except Exception:  # a bug of ours must never become a 5xx (or a 250)
            log.exception("unexpected failure while taking a message from %s", peer)
            return "451 4.3.0 Temporary failure, please try again later"
        finally:
            with self._count_lock:
                self.in_flight -= 1
        ref = result.interaction_id or f"Q{result.quarantine_id}"
        return f"250 2.0.0 OK {result.outcome} {ref}"

    def _ingest(self, raw: bytes, meta: Envelope) -> Any:
        with self.app.app_context():
            return ingest(raw, meta)

    def close(self) -> None:
        self.executor.shutdown(wait=True)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _SMTP(self.handler, **self.SMTP_kwargs)


def tls_context(conf: Settings) -> ssl.SSLContext | None:
    """A server TLS context from the configured certificate, or None (no STARTTLS)."""
    if not conf.smtpd_tls_cert:
        return None
    if not conf.smtpd_tls_key:
        raise ConfigurationError("SWITCHBOARD_SMTPD_TLS_KEY must be set with SMTPD_TLS_CERT")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(str(conf.smtpd_tls_cert), str(conf.smtpd_tls_key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"cannot load the SMTP TLS certificate: {exc}") from exc
    return context


class Listener:
    """A running SMTP listener (a thread with its own event loop)."""

    def __init__(self, controller: Controller, handler: IntakeHandler) -> None:
        self.controller = controller
        self.handler = handler

    @property
    def host(self) -> str:
        return str(self.controller.hostname)

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def drain(self, timeout: float = 30.0) -> None:
        """Stop accepting connections and wait (up to ``timeout`` seconds) until no message
        is between DATA and our reply, so a graceful stop answers what it has taken."""
        server = getattr(self.controller, "server", None)
        if server is not None:
            self.controller.loop.call_soon_threadsafe(server.close)
        deadline = time.monotonic() + timeout
        while self.handler.in_flight and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # the last replies are written by the event loop

    def stop(self) -> None:
        self.controller.stop()
        self.handler.close()


def start_listener(app: Flask, *, host: str | None = None, port: int | None = None) -> Listener:
    """Start the listener in a background thread; ``Listener.stop()`` ends it."""
    conf: Settings = app.extensions["switchboard.settings"]
    handler = IntakeHandler(app)
    context = tls_context(conf)
    controller = _Controller(
        handler,
        hostname=host or conf.smtpd_host,
        port=port if port is not None else conf.smtpd_port,
        server_hostname=socket.getfqdn(),
        ident="Switchboard ESMTP",
        data_size_limit=conf.smtpd_max_message_bytes,
        enable_SMTPUTF8=True,
        decode_data=False,
        tls_context=context,
        require_starttls=False,
    )
    controller.start()
    log.info("SMTP listener on %s:%s", controller.hostname, controller.port)
    return Listener(controller, handler)


def run_forever(app: Flask, *, host: str | None = None, port: int | None = None) -> None:
    """``switchboard smtpd``: listen until SIGINT/SIGTERM."""
    listener = start_listener(app, host=host, port=port)
    done = threading.Event()

    def _stop(_signum: int, _frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        done.wait()
    finally:
        listener.drain()
        listener.stop()
