"""Health, readiness and metrics endpoints of every web node.

- ``GET /healthz``: the process is alive and serving (no dependency is touched), for a
  supervisor's liveness probe.
- ``GET /readyz``: the database answers ``SELECT 1``, and Redis (Socket.IO message queue)
  and the Celery broker answer, each within ``readiness_timeout`` seconds; 503 with the
  name of what failed otherwise, so the load balancer stops sending clients to a node
  that cannot serve them.
- ``GET /metrics``: Prometheus text format (``hub.metrics``). With ``metrics_token`` set it
  needs ``Authorization: Bearer <token>``; without, it answers only to the same machine
  (a loopback peer, also before any ``X-Forwarded-For``), so a proxy in front does not
  publish it.
"""

from __future__ import annotations

import hmac
import ipaddress
import threading
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from sqlalchemy import text

bp = Blueprint("health", __name__)


def _with_timeout(check: Callable[[], None], timeout: float) -> str:
    """Run ``check`` in a helper thread (a greenlet under gevent); "ok", or why not."""
    outcome: list[str] = []

    def run() -> None:
        try:
            check()
        except Exception as exc:  # the answer is the point: say what is down
            outcome.append(exc.__class__.__name__)
        else:
            outcome.append("ok")

    worker = threading.Thread(target=run, name="readyz-check", daemon=True)
    worker.start()
    worker.join(timeout)
    return outcome[0] if outcome else "timeout"


def _check_database(app: Flask) -> None:
    from hub.db import db

    with db.engine_for(app).connect() as conn:
        conn.execute(text("SELECT 1"))


def _check_redis(url: str, timeout: float) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        if not client.ping():
            raise ConnectionError("no PONG")
    finally:
        client.close()


def _check_broker(url: str, timeout: float) -> None:
    if url.startswith(("redis://", "rediss://", "unix://")):
        _check_redis(url, timeout)
        return
    from kombu import Connection

    with Connection(url, connect_timeout=timeout) as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout)


def readiness(app: Flask) -> dict[str, str]:
    """Each dependency of this node: "ok", "timeout" or the error's class name."""
    settings = app.extensions["switchboard.settings"]
    timeout = float(settings.readiness_timeout)
    checks: dict[str, Callable[[], None]] = {"database": lambda: _check_database(app)}
    if settings.redis_url:
        checks["redis"] = lambda: _check_redis(settings.redis_url, timeout)
    if settings.broker_url and settings.broker_url != settings.redis_url:
        checks["broker"] = lambda: _check_broker(settings.broker_url, timeout)
    return {name: _with_timeout(check, timeout) for name, check in checks.items()}


@bp.get("/healthz")
def healthz() -> Any:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Any:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    results = readiness(app)
    ready = all(v == "ok" for v in results.values())
    return jsonify(status="ok" if ready else "unavailable", **results), 200 if ready else 503


def _is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _metrics_allowed(token: str) -> bool:
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    # ProxyFix has replaced REMOTE_ADDR with X-Forwarded-For: both must be this machine.
    original = request.environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR")
    peers = [request.remote_addr, original or request.remote_addr]
    return all(_is_loopback(p) for p in peers)


@bp.get("/metrics")
def metrics() -> Any:
    from hub.metrics import render

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not _metrics_allowed(app.extensions["switchboard.settings"].metrics_token):
        abort(404)
    body, content_type = render(app)
    return Response(body, content_type=content_type)


def init_app(app: Flask) -> None:
    from hub import metrics

    app.register_blueprint(bp)
    metrics.init_app(app)
