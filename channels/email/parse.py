"""Raw e-mail bytes → what the hub needs: addresses, subject, bodies, attachments, threading
ids, and whether the message was sent by a machine.

Parsing is the stdlib ``email`` package with ``policy.default``; nothing here parses MIME by
hand. Real mail is often broken (wrong or unknown charsets, raw 8-bit headers, missing
boundaries, NUL bytes): every value is read defensively and cleaned so that it can be stored
in PostgreSQL text columns. What cannot be read at all raises :class:`Unparseable` and the
caller quarantines the raw bytes.

The dedupe key
--------------
Message-IDs are neither unique (clients reuse them, test tools copy them) nor always present,
so a Message-ID alone would merge different messages and a hash of the raw bytes alone would
split one message that reached us twice by different paths (SMTP and IMAP add different
``Received:`` lines). The key is ``<message-id>#<content digest>``: the digest is SHA-256 of
the message with line ends made LF, a leading mbox ``From `` line dropped, the trace header
fields (``Received``, ``Return-Path``, ``Delivered-To``, ``X-Original-To``...) removed, and
trailing blank lines stripped. The same message delivered twice (a retried SMTP transaction,
an IMAP re-scan after a UIDVALIDITY change, a copy by SMTP and by IMAP) has the same key; two
different messages that share a Message-ID do not.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from typing import Any

import nh3

log = logging.getLogger(__name__)

TRACE_FIELDS = frozenset(
    {
        b"received",
        b"return-path",
        b"delivered-to",
        b"x-original-to",
        b"x-envelope-from",
        b"x-envelope-to",
        b"x-rcpt-to",
        b"x-switchboard-source",
    }
)
SYSTEM_LOCAL_PARTS = frozenset(
    {"mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply", "do-not-reply"}
)
FALLBACK_CHARSETS = ("utf-8", "gb18030", "shift_jis", "cp1252")
MAX_IDS = 50
_MSGID = re.compile(r"<([^<>\s]{1,998})>")
_OBS_COLON = re.compile(rb"(?m)^([!-9;-~]+)[ \t]+:")
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class Unparseable(ValueError):
    """The bytes are not an e-mail we can make a ticket of; ``str(exc)`` says why."""


@dataclass(frozen=True)
class Part:
    filename: str | None
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False


@dataclass
class ParsedMail:
    dedupe_key: str
    message_id: str | None
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    from_address: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    subject: str | None = None
    date: dt.datetime | None = None
    body_text: str | None = None
    body_html: str | None = None
    attachments: list[Part] = field(default_factory=list)
    # Why this message must not get an auto-reply (RFC 3834), or None.
    auto_reason: str | None = None
    is_dsn: bool = False
    # Message-IDs a bounce reports about (the original message's), for matching our mail.
    dsn_message_ids: list[str] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)


# --- cleaning ------------------------------------------------------------------------------


def clean_text(value: str | None) -> str | None:
    """``value`` made storable: undecodable bytes decoded by guess, NUL bytes removed."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = _decode_bytes(value.encode("utf-8", "surrogateescape"), None)
    return value.replace("\x00", "")


def _decode_bytes(data: bytes, charset: str | None) -> str:
    tried = [charset] if charset else []
    for cs in (*tried, *FALLBACK_CHARSETS):
        try:
            return data.decode(cs)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")


def normalize_message_id(value: str | None) -> str | None:
    """``<abc@x>`` → ``abc@x``; ids too long for the index become ``sha256:<hex>``."""
    if not value:
        return None
    found = _MSGID.search(value)
    ident = found.group(1) if found else value.strip().strip("<>").strip()
    ident = clean_text(ident) or ""
    if not ident or any(c.isspace() for c in ident):
        return None
    if len(ident) > 250:
        return "sha256:" + hashlib.sha256(ident.encode()).hexdigest()
    return ident


def message_ids(value: str | None) -> list[str]:
    """Every ``<id>`` in a References/In-Reply-To value, in order, at most :data:`MAX_IDS`."""
    if not value:
        return []
    found = [normalize_message_id(f"<{m}>") for m in _MSGID.findall(value)]
    if not found:
        single = normalize_message_id(value)
        found = [single] if single else []
    ids = [i for i in dict.fromkeys(found) if i]
    return ids[-MAX_IDS:]


# --- the dedupe key ------------------------------------------------------------------------


def content_digest(raw: bytes) -> str:
    """SHA-256 of ``raw`` without what transport changes (line ends, trace fields)."""
    data = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if data.startswith(b"From "):
        data = data.split(b"\n", 1)[1] if b"\n" in data else b""
    head, sep, body = data.rstrip(b"\n").partition(b"\n\n")
    kept: list[bytes] = []
    skipping = False
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and kept is not None:
            if not skipping:
                kept.append(line)
            continue
        name = line.split(b":", 1)[0].strip().lower()
        skipping = name in TRACE_FIELDS
        if not skipping:
            kept.append(line)
    digest = hashlib.sha256(b"\n".join(kept) + sep + body)
    return digest.hexdigest()


def dedupe_key(raw: bytes, message_id: str | None) -> str:
    """``<message-id>#<content digest>`` (see the module docstring); at most 255 characters."""
    mid = message_id or ""
    if len(mid) > 180:
        mid = "sha256:" + hashlib.sha256(mid.encode()).hexdigest()[:32]
    return f"{mid}#{content_digest(raw)}"


def raw_message_id(raw: bytes) -> str | None:
    """The Message-ID of ``raw`` read without a full parse (quarantine of broken mail)."""
    try:
        msg = BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True)
        return normalize_message_id(str(msg.get("Message-ID") or ""))
    except Exception:  # the caller quarantines; this is only a label
        return None


# --- parsing -------------------------------------------------------------------------------


def parse(raw: bytes, *, envelope_from: str | None = None) -> ParsedMail:
    """Parse ``raw``. Raises :class:`Unparseable` for bytes that are not an e-mail message."""
    if not raw.strip():
        raise Unparseable("empty message")
    if raw.startswith(_OLE2):
        raise Unparseable("an Outlook .msg (OLE2) file, not an RFC 5322 message")
    data = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark from an editor
    if data.startswith(b"From "):  # an mbox separator line, not a header
        data = data.split(b"\n", 1)[1] if b"\n" in data else b""
    head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    if b"\x00" in head:
        raise Unparseable("NUL bytes in the header")
    msg = BytesParser(policy=policy.default).parsebytes(data)
    if not msg.keys():
        # RFC 5322 obsolete syntax allows blanks before the colon ("From  : ..."), which the
        # stdlib does not read: close the gap and try once more.
        head, sep, body = data.partition(b"\n\n" if b"\r\n\r\n" not in data else b"\r\n\r\n")
        head = _OBS_COLON.sub(rb"\1:", head)
        msg = BytesParser(policy=policy.default).parsebytes(head + sep + body)
    if not isinstance(msg, EmailMessage) or not msg.keys():
        raise Unparseable("no header fields: not an e-mail message")
    message_id = normalize_message_id(_header(msg, "Message-ID"))
    parsed = ParsedMail(dedupe_key=dedupe_key(raw, message_id), message_id=message_id)
    parsed.defects = [type(d).__name__ for d in msg.defects][:20]
    parsed.in_reply_to = message_ids(_header(msg, "In-Reply-To"))
    parsed.references = message_ids(_header(msg, "References"))
    parsed.from_name, parsed.from_address = _first_address(msg, "From")
    _, parsed.reply_to = _first_address(msg, "Reply-To")
    parsed.to = _addresses(msg, "To")
    parsed.cc = _addresses(msg, "Cc")
    subject = _header(msg, "Subject")
    parsed.subject = " ".join(subject.split()) if subject else None
    parsed.date = _date(msg)
    _bodies(msg, parsed)
    _dsn(msg, parsed)
    parsed.auto_reason = auto_reason(msg, parsed, envelope_from)
    return parsed


def _header(msg: Message, name: str) -> str | None:
    """One header as text; raw 8-bit and broken encoded-words are decoded as well as can be."""
    try:
        value = msg.get(name)
    except Exception:  # policy.default can fail on pathological values: fall back to raw
        value = None
        for key, raw in msg.raw_items() if isinstance(msg, EmailMessage) else []:
            if key.lower() == name.lower():
                value = raw
                break
    if value is None:
        return None
    return clean_text(str(value))


def _first_address(msg: Message, name: str) -> tuple[str | None, str | None]:
    values = _address_pairs(msg, name)
    for display, addr in values:
        if addr:
            return (display or None), addr
    return None, None


def _addresses(msg: Message, name: str) -> list[str]:
    return [addr for _, addr in _address_pairs(msg, name) if addr][:100]


def _address_pairs(msg: Message, name: str) -> list[tuple[str, str]]:
    try:
        header = msg.get(name)
        if header is not None and hasattr(header, "addresses"):
            pairs = []
            for a in header.addresses:
                if isinstance(a, Address) and a.username and a.domain:
                    pairs.append((clean_text(a.display_name) or "", clean_text(a.addr_spec) or ""))
            if pairs or not str(header).strip():
                return pairs
    except Exception:  # fall back to the permissive compat parser below
        log.debug("%s: structured address parse failed", name)
    raw = _header(msg, name)
    if not raw:
        return []
    return [(n, a) for n, a in getaddresses([raw]) if "@" in a][:100] or (
        [parseaddr(raw)] if "@" in parseaddr(raw)[1] else []
    )


def _date(msg: Message) -> dt.datetime | None:
    raw = _header(msg, "Date")
    if not raw:
        return None
    try:
        value = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "application/octet-stream"


def _part_bytes(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return b""


def _part_text(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, str):
            if "\ufffd" in content:
                # Undeclared 8-bit text (the default charset is us-ascii): the bytes are
                # most often UTF-8, else a Windows code page.
                data = _part_bytes(part)
                for guess in ("utf-8", "cp1252"):
                    try:
                        return clean_text(data.decode(guess)) or ""
                    except UnicodeDecodeError:
                        continue
            return clean_text(content) or ""
    except Exception:  # unknown charset, bad encoding: decode the bytes ourselves
        log.debug("get_content failed; decoding the bytes")
    declared: str | None
    try:
        declared = part.get_content_charset()
    except Exception:
        declared = None
    return clean_text(_decode_bytes(_part_bytes(part), declared)) or ""


def _walk_leaves(part: Message, depth: int = 0) -> Iterator[Message]:
    """Leaf parts in order; a ``message/rfc822`` part is one leaf (kept whole)."""
    if depth > 40:
        return
    ctype = _content_type(part)
    if part.is_multipart() and ctype.startswith("multipart/"):
        payload = part.get_payload()
        for sub in payload if isinstance(payload, list) else []:
            if isinstance(sub, Message):
                yield from _walk_leaves(sub, depth + 1)
        return
    yield part


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    return clean_text(str(name)) if name else None


def _bodies(msg: EmailMessage, parsed: ParsedMail) -> None:
    body_parts: list[Message] = []
    for prefs in (("plain",), ("html",)):
        try:
            found = msg.get_body(preferencelist=prefs)
        except Exception:
            found = None
        if found is not None and _content_type(found) in ("text/plain", "text/html"):
            body_parts.append(found)
            if prefs == ("plain",):
                parsed.body_text = _part_text(found)
            else:
                parsed.body_html = _part_text(found)
    if parsed.body_text is None and parsed.body_html:
        parsed.body_text = html_to_text(parsed.body_html)
    for leaf in _walk_leaves(msg):
        if any(leaf is b for b in body_parts):
            continue
        ctype = _content_type(leaf)
        if ctype == "message/rfc822" or ctype.startswith("message/"):
            inner = leaf.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                try:
                    data = inner[0].as_bytes(policy=policy.compat32)
                except Exception:
                    data = str(inner[0]).encode("utf-8", "surrogateescape")
            else:
                data = _part_bytes(leaf)
            name = _filename(leaf) or ("message.eml" if ctype == "message/rfc822" else None)
        else:
            data = _part_bytes(leaf)
            name = _filename(leaf)
        if not data and name is None:
            continue
        cid = _header(leaf, "Content-ID")
        try:
            disposition = leaf.get_content_disposition()
        except Exception:
            disposition = None
        parsed.attachments.append(
            Part(
                filename=name or _default_name(ctype),
                content_type=ctype,
                data=data,
                content_id=normalize_message_id(cid) if cid else None,
                inline=disposition == "inline" or (disposition is None and cid is not None),
            )
        )


def _default_name(ctype: str) -> str:
    sub = ctype.split("/", 1)[-1].split("+")[0][:40] or "bin"
    return f"part.{sub}"


def html_to_text(html: str) -> str:
    """The text of an HTML body (no markup) for previews and search."""
    text = nh3.clean(re.sub(r"(?i)<br\s*/?>|</p>|</div>|</tr>", "\n", html), tags=set())
    text = re.sub(r"&nbsp;", " ", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()


def _dsn(msg: EmailMessage, parsed: ParsedMail) -> None:
    ctype = _content_type(msg)
    report_type = ""
    try:
        report_type = str(msg.get_param("report-type", "") or "")
    except Exception:
        report_type = ""
    leaves = list(_walk_leaves(msg))
    if ctype == "multipart/report" or any(
        _content_type(p) in ("message/delivery-status", "message/feedback-report") for p in leaves
    ):
        parsed.is_dsn = True
    if report_type.lower() == "disposition-notification":
        parsed.is_dsn = True
    if not parsed.is_dsn:
        return
    ids: list[str] = []
    for part in leaves:
        pct = _content_type(part)
        if pct == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                ids += message_ids(_header(inner[0], "Message-ID"))
        elif pct in ("text/rfc822-headers", "message/rfc822-headers"):
            text = _part_text(part)
            found = re.search(r"(?im)^message-id:\s*(<[^>]+>)", text)
            if found:
                ids += message_ids(found.group(1))
    parsed.dsn_message_ids = list(dict.fromkeys(ids))


def auto_reason(msg: Message, parsed: ParsedMail, envelope_from: str | None) -> str | None:
    """Why no automatic reply may go to this message (RFC 3834, loops), or None."""
    auto = (_header(msg, "Auto-Submitted") or "").strip().lower()
    if auto and not auto.startswith("no"):
        return f"Auto-Submitted: {auto[:40]}"
    precedence = (_header(msg, "Precedence") or "").strip().lower()
    if precedence in ("bulk", "junk", "list"):
        return f"Precedence: {precedence}"
    for name in ("List-Id", "List-Unsubscribe", "X-Autoreply", "X-Autorespond"):
        if _header(msg, name) is not None:
            return f"{name} present"
    suppress = (_header(msg, "X-Auto-Response-Suppress") or "").lower()
    if any(word in suppress for word in ("all", "autoreply", "oof")):
        return f"X-Auto-Response-Suppress: {suppress[:40]}"
    if parsed.is_dsn:
        return "delivery or disposition report"
    if envelope_from is not None and envelope_from.strip() in ("", "<>"):
        return "null envelope sender"
    if not parsed.from_address:
        return "no sender address"
    if parsed.from_address.split("@", 1)[0].lower() in SYSTEM_LOCAL_PARTS:
        return "system sender"
    return None


def summary_payload(parsed: ParsedMail) -> dict[str, Any]:
    """What the interaction's payload keeps about the e-mail (JSON-safe)."""
    return {
        "message_id": parsed.message_id,
        "in_reply_to": parsed.in_reply_to[:10],
        "references": parsed.references[-10:],
        "from": parsed.from_address,
        "reply_to": parsed.reply_to,
        "to": parsed.to[:50],
        "cc": parsed.cc[:50],
        "date": parsed.date.isoformat() if parsed.date else None,
        "auto": parsed.auto_reason,
        "dsn": parsed.is_dsn,
        "defects": parsed.defects,
    }
