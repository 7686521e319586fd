"""Prometheus metrics (``prometheus_client``), served by :mod:`hub.health` at ``/metrics``.

Two kinds:

- **Read from the database at scrape time** (the same on every node): waiting
  interactions and the oldest wait per queue, agents per state. Scrape any one web node.
- **Counted where they happen** (the process that committed the event): interactions
  ingested per channel (``interaction.created``), offers with the time from enqueue to the
  offer (histogram), abandoned interactions. Each process counts its own; the web nodes,
  workers and SMTP listeners of one machine share them through prometheus_client's
  multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set (one empty directory per
  machine, wiped before the processes start): then ``/metrics`` of a web node on that
  machine sums every process of the machine. Without it the counters are per process.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterator
from typing import Any

from flask import Flask
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from crm_core.db import utcnow
from crm_core.events import DomainEvent
from hub import events

log = logging.getLogger(__name__)

INGESTED = Counter("switchboard_ingested", "Inbound interactions stored by intake", ["channel"])
OFFER_LATENCY = Histogram(
    "switchboard_offer_latency_seconds",
    "Seconds from an interaction's enqueue to each offer to an agent",
    ["channel"],
    buckets=(0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600),
)
ABANDONED = Counter("switchboard_abandoned", "Interactions abandoned while waiting", ["channel"])


def _on_created(evt: DomainEvent) -> None:
    INGESTED.labels(channel=str(evt.data.get("channel") or "unknown")).inc()


def _on_offered(evt: DomainEvent) -> None:
    raw = evt.data.get("enqueued_at")
    if not raw:
        return
    try:
        enqueued = dt.datetime.fromisoformat(str(raw))
    except ValueError:
        return
    if enqueued.tzinfo is None:
        enqueued = enqueued.replace(tzinfo=dt.UTC)
    seconds = max(0.0, (utcnow() - enqueued).total_seconds())
    OFFER_LATENCY.labels(channel=str(evt.data.get("channel") or "unknown")).observe(seconds)


def _on_abandoned(evt: DomainEvent) -> None:
    ABANDONED.labels(channel=str(evt.data.get("channel") or "unknown")).inc()


class DatabaseCollector(Collector):
    """Queue and agent figures read from the database at each scrape."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Any]:
        from hub.db import db
        from hub.models import AgentStatus, Queue, QueueEntry

        waiting = GaugeMetricFamily(
            "switchboard_queue_waiting", "Interactions waiting or being offered", labels=["queue"]
        )
        oldest = GaugeMetricFamily(
            "switchboard_queue_oldest_wait_seconds",
            "Age of the oldest waiting one",
            labels=["queue"],
        )
        agents = GaugeMetricFamily("switchboard_agents", "Agents per state", labels=["state"])
        now = utcnow()
        with db.sessionmaker_for(self.app)() as session:
            names: dict[int, str] = dict(session.execute(select(Queue.id, Queue.name)).all())
            rows = session.execute(
                select(QueueEntry.queue_id, func.count(), func.min(QueueEntry.enqueued_at))
                .where(QueueEntry.state.in_(("waiting", "offered")))
                .group_by(QueueEntry.queue_id)
            ).all()
            seen = set()
            for queue_id, count, first in rows:
                label = names.get(queue_id, str(queue_id))
                seen.add(queue_id)
                waiting.add_metric([label], float(count))
                if first is not None:
                    first = first if first.tzinfo else first.replace(tzinfo=dt.UTC)
                    oldest.add_metric([label], max(0.0, (now - first).total_seconds()))
            for queue_id, label in names.items():
                if queue_id not in seen:
                    waiting.add_metric([label], 0.0)
                    oldest.add_metric([label], 0.0)
            for state, count in session.execute(
                select(AgentStatus.state, func.count()).group_by(AgentStatus.state)
            ):
                agents.add_metric([state], float(count))
        yield waiting
        yield oldest
        yield agents


def render(app: Flask) -> tuple[bytes, str]:
    """The scrape: this machine's counters (all processes in multiprocess mode, this
    process otherwise), then the database figures."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    db_registry = CollectorRegistry()
    db_registry.register(DatabaseCollector(app))
    try:
        figures = generate_latest(db_registry)
    except Exception as exc:  # the counters are still worth having
        log.warning("metrics: database figures unavailable (%s)", exc.__class__.__name__)
        figures = b""
    return generate_latest(counted) + figures, CONTENT_TYPE_LATEST


_subscribed = False


def init_app(app: Flask) -> None:
    global _subscribed
    if _subscribed:  # blinker signals are process-wide
        return
    events.subscribe(events.INTERACTION_CREATED, _on_created)
    events.subscribe(events.INTERACTION_OFFERED, _on_offered)
    events.subscribe(events.INTERACTION_ABANDONED, _on_abandoned)
    _subscribed = True
