"""The production process roles behind ``switchboard web``, ``worker`` and ``beat``
(``switchboard smtpd`` is the e-mail channel's; ``switchboard serve`` is all of them in one
process for the embedded default). See docs/operations.md.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from flask import Flask

from hub.settings import Settings

log = logging.getLogger(__name__)

BEAT_LEASE = "beat"


def gunicorn_argv(
    settings: Settings,
    *,
    host: str,
    port: int,
    worker_connections: int | None = None,
    graceful_timeout: int | None = None,
    access_log: bool = False,
) -> list[str]:
    """The gunicorn command line of one web node: ONE gevent worker process.

    One worker because Socket.IO's long-polling needs every request of a client on the
    process that holds its session, and gunicorn's balancing is not sticky: scale out with
    more ``switchboard web`` processes (one per core, own ports) behind a load balancer with
    sticky sessions (deploy/nginx.conf), joined by Redis.
    """
    connections = worker_connections or settings.web_worker_connections
    graceful = graceful_timeout if graceful_timeout is not None else settings.web_graceful_timeout
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--worker-class",
        "hub.gunicorn_worker.SwitchboardWorker",
        "--workers",
        "1",
        # Each websocket is a greenlet holding one connection: the default of 1,000 would
        # leave the 1,001st client hanging without an error.
        "--worker-connections",
        str(connections),
        "--graceful-timeout",
        str(graceful),
        "--timeout",
        "60",
        "--keep-alive",
        "5",
        "--bind",
        f"{host}:{port}",
        "--log-level",
        settings.log_level.lower(),
    ]
    if _gunicorn_has("control_socket_disable"):
        # gunicorn 25+ opens a control socket at one fixed path per user: several web nodes
        # on one machine would fight over it, and nothing of ours uses it.
        argv.append("--no-control-socket")
    if access_log:
        argv += ["--access-logfile", "-"]
    return [*argv, "hub.wsgi:app"]


def _gunicorn_has(setting: str) -> bool:
    from gunicorn.config import KNOWN_SETTINGS

    return any(s.name == setting for s in KNOWN_SETTINGS)


def exec_web(argv: Sequence[str]) -> None:
    """Replace this process with gunicorn (its master then forks the gevent worker, which
    monkey-patches before it imports the app)."""
    os.execv(argv[0], list(argv))  # noqa: S606 - our own interpreter, fixed arguments


def _seconds(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return None


def run_beat(app: Flask, *, ttl: float, stop: threading.Event, holder: str = "") -> None:
    """The single-leader scheduler: every ``switchboard beat`` runs this loop, the one
    holding lease ``beat`` sends the periodic tasks of the Celery beat schedule (the tick:
    offer time-outs, wrap-ups, the disconnect grace, SLA escalation, routing; IMAP polls)
    to the workers. Without a broker it runs the tick itself. A second beat takes over
    within ``ttl`` seconds when the leader dies, never while it lives."""
    from hub.db import db
    from hub.leases import node_id, run_singleton

    holder = holder or node_id("beat")
    settings = app.extensions["switchboard.settings"]
    celery_app = app.extensions["celery"]
    broker = bool(settings.broker_url)
    entries: dict[str, tuple[str, float]] = {}
    for name, entry in dict(celery_app.conf.beat_schedule or {}).items():
        seconds = _seconds(entry.get("schedule"))
        if seconds is None or seconds <= 0:
            log.warning("beat: %s has a schedule this beat cannot run (%r)", name, entry)
            continue
        entries[name] = (str(entry["task"]), seconds)
    due: dict[str, float] = {}

    def work(token: int) -> None:
        now = time.monotonic()
        for name, (task, every) in entries.items():
            if now < due.get(name, 0.0):
                continue
            due[name] = now + every
            if broker:
                # A tick nobody ran in time is replaced by the next one, not piled up.
                celery_app.send_task(task, expires=max(every * 2, 10.0))
            elif task == "hub.tick":
                from hub.tasks import run_tick

                with app.app_context():
                    run_tick()
            else:
                continue
            print(f"beat {holder} token={token} sent {task} at {time.time():.3f}", flush=True)  # noqa: T201

    interval = min((every for _task, every in entries.values()), default=1.0)
    print(f"beat {holder}: {len(entries)} periodic task(s), lease ttl {ttl:g}s", flush=True)  # noqa: T201
    run_singleton(
        db.engine_for(app),
        BEAT_LEASE,
        work,
        interval=min(1.0, interval),
        stop=stop,
        ttl=ttl,
        holder=holder,
    )


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT (graceful stop)."""
    stop = threading.Event()

    def _set(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _set)
    signal.signal(signal.SIGINT, _set)
    return stop
