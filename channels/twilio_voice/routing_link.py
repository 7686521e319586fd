"""Where a call meets the hub's routing (``hub.routing``): enqueue in the queue the IVR chose,
abandon when the caller hangs up while waiting, create a callback task.

Intake runs the hub's enqueuer for every inbound interaction; the voice channel marks its
calls ``defer_routing`` (the hub then leaves them alone) and enqueues them itself once the
IVR has chosen a queue. Should the hub have routed one already, it keeps that queue entry.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.db import utcnow
from crm_core.errors import DomainError
from crm_core.models import Interaction

log = logging.getLogger(__name__)


def _routing():  # type: ignore[no-untyped-def]
    try:
        from hub import models, routing
    except ImportError:  # the hub's routing is not installed: calls wait unrouted
        return None, None
    return routing, models


def enqueue(
    session: Session, interaction: Interaction, queue_name: str, *, now: dt.datetime
) -> None:
    """Put the call in the hub queue named ``queue_name`` (the rules' choice if none)."""
    interaction.status = "queued"
    routing, models = _routing()
    if routing is None:
        return
    if session.get(models.QueueEntry, interaction.id) is not None:
        log.info("call %s was routed by the hub's rules already", interaction.id)
        return
    queue = session.scalar(
        select(models.Queue).where(models.Queue.name == queue_name, models.Queue.active.is_(True))
    )
    priority = None
    if queue is None:
        choice = routing.choose_queue(session, interaction)
        if choice is None:
            log.warning(
                "no queue %r and no queue serves voice: call %s waits unrouted",
                queue_name,
                interaction.id,
            )
            return
        log.warning(
            "no queue %r: call %s goes where the routing rules say", queue_name, interaction.id
        )
        queue, priority = choice
    routing.do_enqueue_interaction(session, interaction, queue, priority=priority, now=now)


def is_enqueued(session: Session, interaction: Interaction) -> bool:
    routing, models = _routing()
    return routing is not None and session.get(models.QueueEntry, interaction.id) is not None


def abandon(session: Session, interaction: Interaction, *, now: dt.datetime) -> None:
    """The caller hung up before an agent answered."""
    routing, models = _routing()
    if routing is not None and session.get(models.QueueEntry, interaction.id) is not None:
        try:
            with session.begin_nested():
                routing.do_abandon_interaction(session, interaction.id, now=now)
            return
        except DomainError as exc:  # answered meanwhile, or finished: nothing to abandon
            log.info("call %s not abandoned: %s", interaction.id, exc)
            return
    if interaction.status in ("new", "queued", "offered"):
        interaction.status = "abandoned"
        interaction.ended_at = interaction.ended_at or now


def callback_task(session: Session, interaction: Interaction) -> Interaction:
    """A task to call the customer back, in the queue the call waited in."""
    task = Interaction(
        channel="task",
        direction="internal",
        status="new",
        customer_id=interaction.customer_id,
        parent_id=interaction.id,
        to_address=interaction.from_address,
        subject=f"Call back {interaction.from_address}",
        summary=f"Call back {interaction.from_address} (hung up while waiting)",
        received_at=utcnow(),
    )
    session.add(task)
    session.flush()
    routing, models = _routing()
    if routing is not None and interaction.queue_id is not None:
        queue = session.get(models.Queue, interaction.queue_id)
        if queue is not None:
            routing.do_enqueue_interaction(session, task, queue)
    return task
