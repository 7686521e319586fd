"""The all-in-one server of the embedded default (``switchboard serve`` / ``make run``):
web console, API, Socket.IO (websockets) and the periodic tick (offer timeouts, wrap-up
timers, the disconnect grace, SLA breaches) in a background thread."""

from __future__ import annotations

import logging
import os
import threading

from flask import Flask
from sqlalchemy import func, select

log = logging.getLogger(__name__)


def run_all_in_one(app: Flask, *, host: str, port: int, setup: bool) -> None:
    from crm_core.models import Customer
    from hub.db import db
    from hub.demo import DEMO_PASSWORD, DEMO_USERS, load_demo
    from hub.migrate import upgrade

    settings = app.extensions["switchboard.settings"]
    if setup:
        upgrade(settings.effective_database_url)
        with db.transaction() as session:
            if not session.scalar(select(func.count()).select_from(Customer)):
                print("loading demo data (first run)…", flush=True)
                load_demo(session, customers=300)
    print(f"\nSwitchboard is running at http://{host}:{port}/console", flush=True)
    print(f"  API docs: http://{host}:{port}/api/v1/docs", flush=True)
    print(f"  demo logins (password {DEMO_PASSWORD!r}):", flush=True)
    for email, role, _name, _teams in DEMO_USERS:
        print(f"    {role:<10} {email}", flush=True)
    print("  press Ctrl-C to stop\n", flush=True)
    stop = threading.Event()
    if settings.routing_background:
        from hub.routing import route_in_background

        route_in_background(app)  # requests answer without waiting for the routing pass
    # Also with a broker: the tick is idempotent (row locks), so this and Celery beat may
    # both run it, and the all-in-one server never depends on a beat being started.
    start_ticker(app, stop, float(settings.tick_seconds))
    # Channels' in-process services (the SMTP listener, IMAP pollers): each start returns
    # its stop. Registered by the channels' init_app in app.extensions["switchboard.background"].
    stoppers = [start(app) for start in app.extensions.get("switchboard.background", [])]
    try:
        serve_http(app, host=host, port=port)
    finally:
        stop.set()
        for stop_service in reversed(stoppers):
            stop_service()


def serve_http(app: Flask, *, host: str, port: int) -> None:
    """Serve HTTP and Socket.IO (websocket and polling) through ``socketio.run``.

    ``socketio.run`` ends in ``app.run`` for the threading mode, which Flask skips inside a
    ``flask``-style CLI command (``FLASK_RUN_FROM_CLI``), as ``switchboard serve`` is: the
    marker is lifted for this call. Ctrl-C ends serve_forever and closes the socket.
    """
    from hub.realtime import socketio

    marker = os.environ.pop("FLASK_RUN_FROM_CLI", None)
    try:
        socketio.run(
            app,
            host=host,
            port=port,
            use_reloader=False,
            log_output=False,
            allow_unsafe_werkzeug=True,
        )
    finally:
        if marker is not None:
            os.environ["FLASK_RUN_FROM_CLI"] = marker


def start_ticker(app: Flask, stop: threading.Event, interval: float) -> threading.Thread:
    """Run ``hub.tasks.run_tick`` every ``interval`` seconds until ``stop`` is set (the
    embedded default has no Celery beat)."""
    from hub.tasks import run_tick

    def loop() -> None:
        while not stop.wait(interval):
            with app.app_context():
                try:
                    run_tick()
                except Exception:  # keep ticking: the next round retries
                    log.exception("periodic tick failed")

    thread = threading.Thread(target=loop, name="switchboard-tick", daemon=True)
    thread.start()
    return thread
