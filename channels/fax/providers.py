"""Fax providers behind one interface.

A provider knows how its webhooks are signed, how it names the fields of an inbound fax
and of a status callback, how its media URLs look, and how to send a fax through its REST
API. :class:`TwilioCompatibleProvider` covers the Twilio Programmable Fax shape that
SignalWire and other providers kept (``FaxSid``, ``From``, ``To``, ``NumPages``,
``MediaUrl``, ``FaxStatus``; ``X-Twilio-Signature`` or ``X-SignalWire-Signature``). A
second provider is one new class registered in :data:`PROVIDER_TYPES`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlparse

import requests
from twilio.request_validator import RequestValidator

SID_RE = re.compile(r"^[A-Za-z0-9_-]{2,64}$")
INBOUND_STATUSES = ("received", "receiving", "failed", "no-answer", "busy", "canceled")
OUTBOUND_STATUSES = (
    "queued",
    "processing",
    "sending",
    "delivered",
    "receiving",
    "received",
    "no-answer",
    "busy",
    "failed",
    "canceled",
)
# Provider status -> our document status.
STATUS_MAP = {
    "queued": "queued",
    "processing": "sending",
    "sending": "sending",
    "delivered": "delivered",
    "no-answer": "failed",
    "busy": "failed",
    "failed": "failed",
    "canceled": "failed",
}


class BadWebhook(ValueError):
    """A webhook whose fields are missing or malformed (answered 400)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ProviderError(RuntimeError):
    """The provider's API refused or could not be reached (retried)."""


@dataclass(frozen=True)
class InboundFax:
    sid: str
    from_number: str | None
    to_number: str | None
    num_pages: int | None
    media_url: str | None
    status: str
    account_sid: str | None


@dataclass(frozen=True)
class StatusUpdate:
    sid: str
    status: str  # our document status
    provider_status: str
    error: str | None


class FaxProvider(Protocol):
    name: str

    def is_signed(self, url: str, params: dict[str, str], headers: Any) -> bool: ...

    def parse_inbound(self, params: dict[str, str]) -> InboundFax: ...

    def parse_status(self, params: dict[str, str]) -> StatusUpdate: ...

    def media_allowed(self, url: str) -> bool: ...

    def send(self, *, to: str, from_: str, media_url: str, status_callback: str) -> str: ...


def _text(params: dict[str, str], key: str, *, required: bool = False, max_len: int = 300) -> Any:
    value = params.get(key)
    if value is None or value == "":
        if required:
            raise BadWebhook(f"{key} is required", key)
        return None
    if len(value) > max_len or "\x00" in value:
        raise BadWebhook(f"{key} is too long or malformed", key)
    return value


class TwilioCompatibleProvider:
    """Twilio-shaped fax webhooks and REST API (SignalWire's LaML fax API, among others)."""

    SIGNATURE_HEADERS = ("X-Twilio-Signature", "X-SignalWire-Signature")

    def __init__(
        self,
        *,
        name: str,
        account_sid: str,
        auth_token: str,
        api_base_url: str,
        media_hosts: list[str],
        timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.api_base_url = api_base_url.rstrip("/")
        self.media_hosts = {h.lower() for h in media_hosts}
        self.timeout = timeout
        self._validator = RequestValidator(auth_token)

    def is_signed(self, url: str, params: dict[str, str], headers: Any) -> bool:
        signature = next((headers.get(h) for h in self.SIGNATURE_HEADERS if headers.get(h)), None)
        if not signature:
            return False
        return bool(self._validator.validate(url, params, signature))

    def parse_inbound(self, params: dict[str, str]) -> InboundFax:
        sid = _text(params, "FaxSid", required=True, max_len=64)
        if not SID_RE.match(sid):
            raise BadWebhook("FaxSid is malformed", "FaxSid")
        status = (_text(params, "FaxStatus") or _text(params, "Status") or "received").lower()
        if status not in INBOUND_STATUSES:
            raise BadWebhook(f"unknown FaxStatus {status!r}", "FaxStatus")
        pages_raw = _text(params, "NumPages", max_len=6)
        pages = None
        if pages_raw is not None:
            if not pages_raw.isdigit():
                raise BadWebhook("NumPages must be a whole number", "NumPages")
            pages = int(pages_raw)
        media = _text(params, "MediaUrl", max_len=2000)
        if status == "received" and media is None:
            raise BadWebhook("MediaUrl is required for a received fax", "MediaUrl")
        if media is not None and not self.media_allowed(media):
            raise BadWebhook("MediaUrl is not on the provider's media host", "MediaUrl")
        return InboundFax(
            sid=sid,
            from_number=_text(params, "From", max_len=64),
            to_number=_text(params, "To", max_len=64),
            num_pages=pages,
            media_url=media,
            status=status,
            account_sid=_text(params, "AccountSid", max_len=64),
        )

    def parse_status(self, params: dict[str, str]) -> StatusUpdate:
        sid = _text(params, "FaxSid", required=True, max_len=64)
        if not SID_RE.match(sid):
            raise BadWebhook("FaxSid is malformed", "FaxSid")
        status = (_text(params, "FaxStatus", required=True) or "").lower()
        if status not in OUTBOUND_STATUSES:
            raise BadWebhook(f"unknown FaxStatus {status!r}", "FaxStatus")
        error = _text(params, "ErrorMessage", max_len=500) or _text(params, "ErrorCode", max_len=20)
        return StatusUpdate(
            sid=sid,
            status=STATUS_MAP.get(status, "sending"),
            provider_status=status,
            error=error,
        )

    def media_allowed(self, url: str) -> bool:
        """Only http(s) URLs on a configured media host (never an arbitrary URL)."""
        try:
            parsed = urlparse(url)
            host = (parsed.hostname or "").lower()
            port = parsed.port
        except ValueError:
            return False
        if parsed.scheme not in ("http", "https") or not host or parsed.username:
            return False
        netloc = f"{host}:{port}" if port else host
        return host in self.media_hosts or netloc in self.media_hosts

    def fetch(self, url: str, *, max_bytes: int) -> tuple[bytes, str | None]:
        """Download ``url`` (redirects followed only to allowed hosts). Raises
        :class:`ProviderError` for anything retryable, ValueError for a refused URL."""
        for _ in range(4):
            if not self.media_allowed(url):
                raise ValueError(f"media URL {url!r} is not on an allowed media host")
            try:
                response = requests.get(
                    url,
                    auth=(self.account_sid, self.auth_token) if self.account_sid else None,
                    timeout=self.timeout,
                    allow_redirects=False,
                    stream=True,
                )
            except requests.RequestException as exc:
                raise ProviderError(f"media fetch failed: {exc}") from exc
            with response:
                if response.is_redirect:
                    url = requests.compat.urljoin(url, response.headers.get("Location", ""))
                    continue
                if response.status_code != 200:
                    raise ProviderError(f"media fetch answered {response.status_code}")
                chunks: list[bytes] = []
                total = 0
                for chunk in response.iter_content(64 * 1024):
                    total += len(chunk)
                    if total > max_bytes:
                        raise ValueError(f"media is larger than {max_bytes} bytes")
                    chunks.append(chunk)
                return b"".join(chunks), response.headers.get("Content-Type")
        raise ProviderError("too many redirects")

    def send(self, *, to: str, from_: str, media_url: str, status_callback: str) -> str:
        if not self.api_base_url:
            raise ProviderError("no fax API URL configured (SWITCHBOARD_FAX_API_BASE_URL)")
        url = f"{self.api_base_url}/2010-04-01/Accounts/{self.account_sid}/Faxes.json"
        try:
            response = requests.post(
                url,
                data={
                    "To": to,
                    "From": from_,
                    "MediaUrl": media_url,
                    "StatusCallback": status_callback,
                },
                auth=(self.account_sid, self.auth_token),
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise ProviderError(f"fax API unreachable: {exc}") from exc
        if response.status_code not in (200, 201):
            raise ProviderError(f"fax API answered {response.status_code}: {response.text[:200]}")
        sid = response.json().get("sid")
        if not isinstance(sid, str) or not SID_RE.match(sid):
            raise ProviderError("fax API answered without a fax sid")
        return sid


PROVIDER_TYPES: dict[str, type[TwilioCompatibleProvider]] = {
    "signalwire": TwilioCompatibleProvider,
    "twilio": TwilioCompatibleProvider,
}


def provider_from_settings(settings: Any) -> TwilioCompatibleProvider | None:
    """The configured provider, or None when the fax channel is off (no token)."""
    if not settings.fax_auth_token:
        return None
    kind = PROVIDER_TYPES.get(settings.fax_provider, TwilioCompatibleProvider)
    return kind(
        name=settings.fax_provider,
        account_sid=settings.fax_account_sid,
        auth_token=settings.fax_auth_token,
        api_base_url=settings.fax_api_base_url,
        media_hosts=list(settings.fax_media_hosts),
    )
