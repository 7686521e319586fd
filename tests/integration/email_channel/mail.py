"""Helpers of the e-mail tests: build messages, send them over real SMTP, read the outbox."""

from __future__ import annotations

import re
import smtplib
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

SUPPORT = "support@example.test"
SALES = "sales@example.test"

_EOL = re.compile(rb"\r\n|\r|\n")


def crlf(raw: bytes) -> bytes:
    """What an MTA puts on the wire: every line end CRLF (dot-stuffing is smtplib's)."""
    return _EOL.sub(b"\r\n", raw)


def message(
    *,
    sender: str = "Jan Nowak <jan.nowak@example.org>",
    to: str = SUPPORT,
    subject: str = "Printer on fire",
    body: str = "Hello, the printer is on fire.\n",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    if message_id:
        msg["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg


def wire(raw: bytes) -> bytes:
    """The bytes the listener receives for ``raw``: CRLF line ends, ending in CRLF."""
    data = crlf(raw)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def send_raw(
    listener: Any,
    raw: bytes,
    *,
    rcpt: str = SUPPORT,
    mail_from: str = "sender@example.org",
    client: smtplib.SMTP | None = None,
) -> tuple[int, str]:
    """MAIL, RCPT, DATA over a real socket; returns the reply to DATA."""
    own = client is None
    smtp = client or smtplib.SMTP(listener.host, listener.port, timeout=120)
    try:
        if own:
            smtp.ehlo()
        options = [] if raw.isascii() else ["BODY=8BITMIME"]
        code, reply = smtp.mail(mail_from, options)
        assert code == 250, reply
        code, reply = smtp.rcpt(rcpt)
        assert code == 250, reply
        try:
            code, reply = smtp.data(crlf(raw))
        except smtplib.SMTPDataError as exc:
            code, reply = exc.smtp_code, exc.smtp_error
        return code, reply.decode("utf-8", "replace")
    finally:
        if own:
            smtp.quit()


def send(listener: Any, msg: EmailMessage, **kwargs: Any) -> tuple[int, str]:
    return send_raw(listener, msg.as_bytes(policy=policy.SMTP), **kwargs)


def outbox(var_dir: Path) -> list[EmailMessage]:
    """The messages the embedded default 'sent' (written to <var>/outbox/)."""
    folder = var_dir / "outbox"
    if not folder.exists():
        return []
    files = sorted(folder.glob("*.eml"), key=lambda p: int(p.stem))
    return [BytesParser(policy=policy.default).parsebytes(p.read_bytes()) for p in files]
