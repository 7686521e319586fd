"""``switchboard simulate fax``: act as the fax provider. Serves the document from a local
media server and posts the signed "fax received" webhook, exactly as a provider would."""

from __future__ import annotations

import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from flask import Flask
from twilio.request_validator import RequestValidator


class SimulationError(RuntimeError):
    """The simulation cannot run (channel off, host not allowed, server unreachable)."""


class MediaServer:
    """Serves one document at ``/media/<name>`` on 127.0.0.1 and notes when it is fetched."""

    def __init__(self, data: bytes, content_type: str, port: int = 0) -> None:
        self.name = f"{uuid.uuid4().hex}.{'tif' if content_type == 'image/tiff' else 'pdf'}"
        self.fetched = threading.Event()
        media = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path != f"/media/{media.name}":
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                media.fetched.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/media/{self.name}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> MediaServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def simulate_fax(
    app: Flask,
    *,
    from_number: str,
    data: bytes,
    to_number: str | None = None,
    base_url: str | None = None,
    media_port: int = 0,
    wait_seconds: float = 60.0,
) -> dict[str, Any]:
    """Post a signed inbound-fax webhook for ``data`` and serve its media until fetched.

    Without ``base_url`` the webhook goes through this process (the app's test client);
    with it, over HTTP to a running server. Returns the fax sid and the HTTP status.
    """
    from channels.fax.providers import provider_from_settings
    from channels.fax.render import kind_of

    settings = app.extensions["switchboard.settings"]
    provider = provider_from_settings(settings)
    if provider is None:
        raise SimulationError(
            "the fax channel is off: set SWITCHBOARD_FAX_AUTH_TOKEN (and the other "
            "SWITCHBOARD_FAX_* settings, see docs/fax.md)"
        )
    content_type = kind_of(data)
    if content_type is None:
        raise SimulationError("the file is neither a PDF nor a TIFF")
    sid = "FX" + uuid.uuid4().hex
    with MediaServer(data, content_type, media_port) as media:
        if not provider.media_allowed(media.url):
            raise SimulationError(
                f"{media.url.split('/media/')[0]} is not a fax media host: add 127.0.0.1 to "
                "SWITCHBOARD_FAX_MEDIA_HOSTS to simulate"
            )
        params = {
            "AccountSid": settings.fax_account_sid,
            "FaxSid": sid,
            "From": from_number,
            "To": to_number or settings.fax_from_number or "",
            "NumPages": "",
            "FaxStatus": "received",
            "MediaUrl": media.url,
        }
        params = {k: v for k, v in params.items() if v}
        path = f"/webhooks/fax/{provider.name}"
        if base_url is None:
            url = f"http://localhost{path}"
            signature = RequestValidator(settings.fax_auth_token).compute_signature(url, params)
            response = app.test_client().post(
                path, data=params, headers={"X-Twilio-Signature": signature}
            )
            status = response.status_code
            body = response.get_data(as_text=True)
        else:
            import requests

            url = f"{base_url.rstrip('/')}{path}"
            signature = RequestValidator(settings.fax_auth_token).compute_signature(url, params)
            try:
                answer = requests.post(
                    url, data=params, headers={"X-Twilio-Signature": signature}, timeout=60
                )
            except requests.RequestException as exc:
                raise SimulationError(f"cannot reach {url}: {exc}") from exc
            status, body = answer.status_code, answer.text
            if status == 200:
                # A server with a Celery worker fetches later: keep serving until it does.
                media.fetched.wait(wait_seconds)
        return {"sid": sid, "status": status, "body": body[:500], "fetched": media.fetched.is_set()}
