"""A local stand-in for Twilio: its REST API (enough of it) and its webhooks.

- :class:`StandInHttpClient` is the SDK's own ``TwilioHttpClient`` with the scheme and host
  of every request rewritten to the stand-in (the path is kept), so the real ``Client``
  builds and sends exactly what it would send to api.twilio.com.
- :class:`TwilioStandIn` answers like Twilio (201 and a call resource for
  ``POST .../Calls.json``, audio for ``GET .../Recordings/RE....wav``), records every
  request, and posts signed callbacks to the app as Twilio does.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator

# A few bytes of a real RIFF/WAVE header plus silence: what a recording download returns.
WAV = (
    b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00@\x1f\x00\x00\x80>\x00\x00"
    b"\x02\x00\x10\x00data\x00\x00\x00\x00" + bytes(range(256))
)


@dataclass
class Received:
    method: str
    path: str
    form: dict[str, list[str]]
    auth: tuple[str, str] | None


class StandInHttpClient(TwilioHttpClient):
    """The SDK's HTTP client, pointed at the stand-in."""

    def __init__(self, base_url: str) -> None:
        super().__init__(pool_connections=False, timeout=10)
        self.base = urlsplit(base_url)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(url)
        local = urlunsplit((self.base.scheme, self.base.netloc, parts.path, parts.query, ""))
        return super().request(method, local, *args, **kwargs)


class TwilioStandIn:
    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.received: list[Received] = []
        self.fail_next_call: int | None = None
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _auth(self) -> tuple[str, str] | None:
                header = self.headers.get("Authorization", "")
                if not header.startswith("Basic "):
                    return None
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                return user, password

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
                standin.received.append(Received("POST", self.path, form, self._auth()))
                if self.path.endswith("/Calls.json"):
                    if standin.fail_next_call is not None:
                        code, standin.fail_next_call = standin.fail_next_call, None
                        return self._json(
                            code,
                            {"code": 21211, "message": "Invalid 'To' Phone Number", "status": code},
                        )
                    return self._json(201, standin.call_resource(form))
                if "/Calls/CA" in self.path and self.path.endswith("/Recordings.json"):
                    call_sid = self.path.split("/Calls/")[1].split("/")[0]
                    return self._json(
                        201,
                        {
                            "sid": "RE" + secrets.token_hex(16),
                            "call_sid": call_sid,
                            "account_sid": standin.account_sid,
                            "status": "in-progress",
                        },
                    )
                self._json(404, {"code": 20404, "message": "not found", "status": 404})

            def do_GET(self) -> None:
                standin.received.append(Received("GET", self.path, {}, self._auth()))
                if "/Recordings/RE" in self.path and self.path.endswith(".wav"):
                    body = WAV
                    self.send_response(200)
                    self.send_header("Content-Type", "audio/x-wav")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self._json(404, {"code": 20404, "message": "not found", "status": 404})

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def start(self) -> TwilioStandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def http_client(self) -> StandInHttpClient:
        return StandInHttpClient(self.url)

    def call_resource(self, form: dict[str, list[str]]) -> dict[str, Any]:
        sid = "CA" + secrets.token_hex(16)
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": form.get("To", [""])[0],
            "from": form.get("From", [""])[0],
            "status": "queued",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{sid}.json",
        }

    def calls_created(self) -> list[Received]:
        return [r for r in self.received if r.method == "POST" and r.path.endswith("/Calls.json")]

    # ------------------------------------------------------------------ callbacks

    def post_signed(
        self, url: str, params: dict[str, str], headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """POST a webhook to ``url`` signed as Twilio signs it."""
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        req = urllib.request.Request(
            url,
            data=urlencode(params).encode(),
            headers={
                "X-Twilio-Signature": signature,
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": "TwilioProxy/1.1",
                **(headers or {}),
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
