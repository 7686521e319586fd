"""Celery tasks of the hub. Each takes ids (or nothing), opens its own transaction and is
safe to run twice. In the embedded default they run in-process (eager); with a broker on
workers, and ``hub.tick`` runs on Celery beat every ``tick_seconds``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from celery import shared_task
from flask import Flask, current_app

from crm_core.db import utcnow
from crm_core.models import Ticket

log = logging.getLogger(__name__)


@shared_task(name="hub.route_pending", ignore_result=True)
def route_pending_task() -> int:
    """One routing pass (see :func:`hub.routing.route_pending`)."""
    from hub.db import db
    from hub.routing import route_pending

    with db.transaction() as session:
        return len(route_pending(session))


def run_tick(now: dt.datetime | None = None) -> dict[str, int]:
    """The periodic housekeeping, each step in its own transaction: offers that rang out,
    wrap-ups whose time is up, consoles gone past the grace period, SLA breaches, and a
    routing pass; then the planning steps: due reminders (each sent once, also with two
    nodes ticking) and overdue tasks. Needs an app context."""
    from hub.agents import apply_disconnect_grace
    from hub.db import db
    from hub.routing import expire_offers, finish_due_wrap_ups, route_pending
    from hub.sla import check_breaches

    now = now or utcnow()
    grace = int(current_app.extensions["switchboard.settings"].agent_grace_seconds)
    out: dict[str, int] = {}
    with db.transaction() as session:
        out["expired_offers"] = len(expire_offers(session, now=now))
    with db.transaction() as session:
        out["finished_wrap_ups"] = len(finish_due_wrap_ups(session, now=now))
    with db.transaction() as session:
        out["agents_offline"] = len(apply_disconnect_grace(session, grace_seconds=grace, now=now))
    with db.transaction() as session:
        out["sla_breaches"] = len(check_breaches(session, now=now))
    with db.transaction() as session:
        out["offers"] = len(route_pending(session, now=now))
    out.update(run_planning_steps(now))
    for name, step in current_app.extensions.get(TICK_STEPS, {}).items():
        try:
            out[name] = step(now)
        except Exception:  # one package's step must not stop the others' housekeeping
            log.exception("tick step %s failed", name)
            out[name] = -1
    return out


TICK_STEPS = "switchboard.tick_steps"
TickStep = Callable[[dt.datetime], int]


def register_tick_step(app: Flask, name: str, step: TickStep) -> None:
    """Run ``step(now)`` on every tick of ``app`` after the hub's own steps (channels and
    packages add their housekeeping this way; hub imports none of them). The step opens its
    own transactions and returns how many things it did; its failure is logged, not raised."""
    app.extensions.setdefault(TICK_STEPS, {})[name] = step


def run_planning_steps(now: dt.datetime) -> dict[str, int]:
    """Due reminders and overdue tasks at ``now`` (``hub.planning``), one transaction each."""
    from crm_core.services.tasks import flag_overdue
    from hub.db import db
    from hub.planning import send_due_reminders

    out: dict[str, int] = {}
    with db.transaction() as session:
        out["reminders"] = send_due_reminders(session, now=now)
    with db.transaction() as session:
        out["overdue_tasks"] = len(flag_overdue(session, now=now))
    return out


@shared_task(name="hub.tick", ignore_result=True)
def tick_task() -> dict[str, int]:
    return run_tick()


@shared_task(name="hub.sync_ticket_sla", ignore_result=True)
def sync_ticket_sla_task(ticket_id: int) -> None:
    from hub.db import db
    from hub.sla import sync_ticket_sla

    with db.transaction() as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is not None:
            sync_ticket_sla(session, ticket)


@shared_task(name="hub.broadcast_queue_stats", ignore_result=True)
def broadcast_queue_stats_task() -> int:
    """Send fresh queue figures to the wallboards (and each queue's room). From a worker
    this goes out through the Socket.IO message queue (Redis)."""
    from hub import realtime

    return realtime.broadcast_queue_stats()


def init_app(app: Flask) -> None:
    """Schedule the tick on Celery beat (used when a broker is configured)."""
    celery_app: Any = app.extensions["celery"]
    settings = app.extensions["switchboard.settings"]
    schedule = dict(celery_app.conf.beat_schedule or {})
    schedule["hub-tick"] = {"task": "hub.tick", "schedule": float(settings.tick_seconds)}
    celery_app.conf.beat_schedule = schedule
    # Routing and fan-out are latency-sensitive: they go to the "realtime" queue.
    routes = dict(celery_app.conf.task_routes or {})
    for name in ("hub.route_pending", "hub.tick", "hub.broadcast_queue_stats"):
        routes.setdefault(name, {"queue": "realtime"})
    celery_app.conf.task_routes = routes
