"""Real-time fan-out to browsers: the only place that emits over Socket.IO.

``socketio`` is bound by :func:`init_app` (``async_mode`` from settings, threading by
default; ``message_queue=settings.redis_url`` when set, so Celery workers and other
processes can emit through Redis). Committed domain events (``hub.events``) become
Socket.IO events in namespace ``/console``, each to explicit rooms:

=====================  ==========================================  =======================
event                  payload                                      rooms
=====================  ==========================================  =======================
``offer``              :func:`offer_payload` (with the whole card)  ``agent:<id>``
``screen_pop``         ``{"interaction": …, "card": …}``            ``agent:<id>``
``interaction_updated`` :func:`interaction_payload` + ``"event"``   ``agent:<id>``,
                                                                    ``supervisors``
``agent_state``        :func:`agent_state_payload`                  ``agent:<id>``,
                                                                    ``supervisors``
``queue_stats``        ``{"queues": [hub.routing.queue_stats…]}``   ``queue:<id>``,
                                                                    ``supervisors``
``sla_breach``         the ``sla.breached`` event data              ``supervisors``
``campaign_import``    ``campaigns.imports.progress`` (per batch)   ``supervisors``
``reminder``           :func:`reminder_payload`                     ``agent:<id>``
``task_overdue``       ``{"task_id", "title", "due_at", …}``        ``agent:<id>``,
                                                                    ``supervisors``
``task_changed``       ``{"task_id"}``                              ``agent:<id>``
=====================  ==========================================  =======================

Every room emit carries ``room`` and ``seq``: a per-room sequence number (Redis ``INCR``
when Redis is configured, so it is shared by every process; an in-process counter
otherwise). The console's ``snapshot`` holds the current numbers; a client that sees a gap
asks for a ``resync``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app, has_app_context
from flask_socketio import SocketIO
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.db import utcnow
from crm_core.errors import NotFound
from crm_core.events import DomainEvent
from crm_core.models import Customer, Interaction, User
from hub import events
from hub.agents import PAUSE_CODES, agent_status_dict
from hub.models import AgentStatus, Offer, Queue, QueueEntry

log = logging.getLogger(__name__)

NAMESPACE = "/console"
socketio = SocketIO()

_seq_lock = threading.Lock()
_local_seq: dict[str, int] = {}
_SEQ_KEY = "switchboard:seq:"


def init_app(app: Flask) -> None:
    settings = app.extensions["switchboard.settings"]
    kwargs: dict[str, Any] = {
        "async_mode": settings.socketio_async_mode or "threading",
        "logger": False,
        "engineio_logger": False,
    }
    if settings.redis_url:
        kwargs["message_queue"] = settings.redis_url
        kwargs["channel"] = settings.socketio_channel
        import redis

        app.extensions["switchboard.redis"] = redis.Redis.from_url(settings.redis_url)
    socketio.init_app(app, **kwargs)
    app.extensions["switchboard.socketio"] = socketio
    dispatcher.configure(
        maxsize=settings.realtime_queue_size, stats_seconds=settings.realtime_stats_seconds
    )
    _subscribe_once()


# ------------------------------------------------------------------ sequence numbers


def next_seq(room: str) -> int:
    client = _redis()
    if client is not None:
        return int(client.incr(_SEQ_KEY + room))
    with _seq_lock:
        _local_seq[room] = _local_seq.get(room, 0) + 1
        return _local_seq[room]


def current_seqs(rooms: Iterable[str]) -> dict[str, int]:
    rooms = list(rooms)
    client = _redis()
    if client is not None:
        values = client.mget([_SEQ_KEY + r for r in rooms]) if rooms else []
        return {r: int(v or 0) for r, v in zip(rooms, values, strict=True)}
    with _seq_lock:
        return {r: _local_seq.get(r, 0) for r in rooms}


def _redis() -> Any:
    if has_app_context():
        return current_app.extensions.get("switchboard.redis")
    return None


# --------------------------------------------------------------------------- emitting


def emit_to_room(event: str, data: dict[str, Any], room: str) -> int:
    """Emit ``event`` to one room with the room's next sequence number. Returns it."""
    seq = next_seq(room)
    socketio.emit(event, {**data, "room": room, "seq": seq}, to=room, namespace=NAMESPACE)
    return seq


def emit_to_rooms(event: str, data: dict[str, Any], rooms: Iterable[str]) -> None:
    for room in dict.fromkeys(rooms):
        emit_to_room(event, data, room)


def send_to_client(event: str, data: dict[str, Any], sid: str) -> None:
    """A reply to one connection (snapshot, error): no sequence number of its own."""
    socketio.emit(event, data, to=sid, namespace=NAMESPACE)


def agent_room(agent_id: int) -> str:
    return f"agent:{agent_id}"


def queue_room(queue_id: int) -> str:
    return f"queue:{queue_id}"


SUPERVISORS = "supervisors"


def rooms_for(session: Session, user: User) -> list[str]:
    """The rooms a console of ``user`` joins: their own, their queues', supervisors'."""
    from hub.routing import agent_queue_ids

    rooms = [agent_room(user.id)] + [queue_room(q) for q in agent_queue_ids(session, user.id)]
    if user.is_supervisor:
        rooms.append(SUPERVISORS)
    return rooms


# --------------------------------------------------------------------------- payloads


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


def card_for(session: Session, interaction: Interaction) -> dict[str, Any]:
    """The screen-pop card: the customer's, or the unknown caller's."""
    from hub.cards import customer_card, unknown_caller_card

    if interaction.customer_id is not None:
        try:
            return customer_card(session, interaction.customer_id)
        except NotFound:
            pass
    return unknown_caller_card(interaction.from_address)


def interaction_payload(
    session: Session, interaction_id: int, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    now = now or utcnow()
    interaction = session.get(Interaction, interaction_id)
    if interaction is None:
        return {"interaction_id": interaction_id, "status": "gone"}
    entry = session.get(QueueEntry, interaction_id)
    queue = session.get(Queue, entry.queue_id) if entry is not None else None
    customer = session.get(Customer, interaction.customer_id) if interaction.customer_id else None
    waited = None
    if entry is not None:
        end = entry.answered_at or entry.abandoned_at or now
        waited = max(0, int((end - entry.enqueued_at).total_seconds()))
    return {
        "interaction_id": interaction.id,
        "channel": interaction.channel,
        "direction": interaction.direction,
        "status": interaction.status,
        "state": entry.state if entry is not None else interaction.status,
        "queue_id": entry.queue_id if entry is not None else interaction.queue_id,
        "queue_name": queue.name if queue is not None else None,
        "agent_id": entry.agent_id if entry is not None else interaction.agent_id,
        "customer_id": interaction.customer_id,
        "customer_name": customer.display_name if customer is not None else None,
        "vip": bool(customer is not None and customer.vip),
        "ticket_id": interaction.ticket_id,
        "from": interaction.from_address,
        "to": interaction.to_address,
        "subject": interaction.subject,
        "summary": interaction.summary,
        "disposition": interaction.disposition,
        "priority": entry.priority if entry is not None else None,
        "enqueued_at": _iso(entry.enqueued_at) if entry is not None else None,
        "answered_at": _iso(entry.answered_at) if entry is not None else None,
        "wrap_up_until": _iso(entry.wrap_up_until) if entry is not None else None,
        "waited_seconds": waited,
    }


def offer_payload(
    session: Session, offer: Offer, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """An offer with everything the console shows at once, the customer card included."""
    now = now or utcnow()
    interaction = session.get(Interaction, offer.interaction_id)
    queue = session.get(Queue, offer.queue_id)
    assert interaction is not None
    inner = interaction_payload(session, offer.interaction_id, now=now)
    return {
        "offer_id": offer.id,
        "interaction_id": offer.interaction_id,
        "channel": inner["channel"],
        "from": inner["from"],
        "subject": inner["subject"],
        "enqueued_at": inner["enqueued_at"],
        "waited_seconds": inner["waited_seconds"],
        "agent_id": offer.agent_id,
        "queue_id": offer.queue_id,
        "queue_name": queue.name if queue is not None else None,
        "status": offer.status,
        "offered_at": _iso(offer.created_at),
        "expires_at": _iso(offer.expires_at),
        "timeout_seconds": queue.offer_timeout_seconds if queue is not None else None,
        "interaction": inner,
        "card": card_for(session, interaction),
    }


def agent_state_payload(
    session: Session, agent_id: int, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    status = session.get(AgentStatus, agent_id)
    user = session.get(User, agent_id)
    if status is None:
        now = now or utcnow()
        base: dict[str, Any] = {
            "agent_id": agent_id,
            "state": "offline",
            "pause_code": None,
            "since": None,
            "seconds_in_state": None,
            "connected": False,
        }
    else:
        base = agent_status_dict(status, now)
    base["name"] = user.name if user is not None else None
    return base


def snapshot_for(session: Session, user: User, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything a console needs after (re)connecting; deltas follow with ``seq``."""
    from hub.routing import agent_board, agent_queue_ids, open_work, queue_stats, volume_today

    now = now or utcnow()
    work = open_work(session, user.id)
    offers = session.scalars(
        select(Offer).where(Offer.agent_id == user.id, Offer.status == "pending")
    ).all()
    queue_ids = None if user.is_supervisor else agent_queue_ids(session, user.id)
    rooms = rooms_for(session, user)
    snap: dict[str, Any] = {
        "agent": {**agent_state_payload(session, user.id, now=now), "role": user.role},
        "offers": [offer_payload(session, o, now=now) for o in offers],
        "interactions": [
            {**interaction_payload(session, i, now=now), "card": card_for(session, it)}
            for i in work["interactions"]
            if (it := session.get(Interaction, i)) is not None
        ],
        "queues": queue_stats(session, now=now, queue_ids=queue_ids),
        "pause_codes": list(PAUSE_CODES),
        "rooms": rooms,
        "seq": current_seqs(rooms),
        "server_time": now.isoformat(),
    }
    if user.is_supervisor:
        snap["agents"] = agent_board(session, now=now)
        snap["volume_today"] = volume_today(session, now=now)
    return snap


# ------------------------------------------------------------ domain events → emits


@contextmanager
def _read_session(app: Flask) -> Iterator[Session]:
    from hub.db import db

    with db.read_session(app) as session:
        yield session


def _emit_queue_stats(
    session: Session, queue_ids: Iterable[int | None], *, to_agents: bool = True
) -> None:
    """Fresh figures of ``queue_ids`` to the wallboards and, unless ``to_agents`` is False,
    to every agent serving those queues (at once: the fan-out thread coalesces instead)."""
    from hub.routing import queue_stats

    ids = sorted({q for q in queue_ids if q is not None})
    if not ids:
        return
    stats = queue_stats(session, queue_ids=ids)
    if to_agents:
        for item in stats:
            emit_to_room("queue_stats", {"queues": [item]}, queue_room(item["queue_id"]))
    emit_to_room("queue_stats", {"queues": stats}, SUPERVISORS)


_AGENT_KEYS = ("agent_id", "declined_by", "missed_by", "from_agent_id", "previous_agent_id")


def dispatch(session: Session, evt: DomainEvent) -> None:
    """Turn one committed domain event into Socket.IO emits (explicit rooms only), the
    queue figures included (sent at once; the fan-out thread coalesces them instead)."""
    for queue_ids, to_agents in _dispatch_event(session, evt):
        _emit_queue_stats(session, queue_ids, to_agents=to_agents)


def _dispatch_event(session: Session, evt: DomainEvent) -> list[tuple[list[int], bool]]:
    """The event's own emits. Returns the queues whose figures it changed, each with
    whether the queue's agents (not only the wallboards) need them."""
    data = evt.data
    if evt.type == events.AGENT_STATE_CHANGED:
        agent_id = int(data["agent_id"])
        payload = {
            **agent_state_payload(session, agent_id),
            "previous": data.get("previous"),
            "reason": data.get("reason"),
        }
        emit_to_rooms("agent_state", payload, [agent_room(agent_id), SUPERVISORS])
        from hub.routing import agent_queue_ids

        # The wallboard's tiles count agents by state. Agents' consoles show only waiting
        # and longest wait, which a state change does not move: sending them the figures
        # too cost every state change a frame to every agent of the queue (N² per shift
        # start; see bench/README.md, "Wallboard").
        return [(agent_queue_ids(session, agent_id), False)]
    if evt.type == events.SLA_BREACHED:
        emit_to_room("sla_breach", dict(data), SUPERVISORS)
        return []
    if evt.type == events.AGENT_MESSAGE:
        emit_to_room(
            "agent_message",
            {
                "from": data.get("from_name"),
                "text": data.get("text"),
                "at": _iso(dt.datetime.now(dt.UTC)),
            },
            agent_room(int(data["agent_id"])),
        )
        return []
    if evt.type == events.INTERACTION_CONTENT_CHANGED:
        changed = session.get(Interaction, int(data["interaction_id"]))
        if changed is not None:
            rooms = [agent_room(changed.agent_id)] if changed.agent_id else []
            emit_to_rooms(
                "interaction_updated",
                {**interaction_payload(session, changed.id), "event": evt.type},
                [*rooms, SUPERVISORS],
            )
        return []
    if "interaction_id" not in data or "queue_id" not in data:
        return []
    interaction_id = int(data["interaction_id"])
    if evt.type == events.INTERACTION_OFFERED:
        offer = session.get(Offer, int(data["offer_id"]))
        if offer is not None and offer.status == "pending":
            emit_to_room("offer", offer_payload(session, offer), agent_room(offer.agent_id))
    elif evt.type == events.INTERACTION_ACCEPTED:
        interaction = session.get(Interaction, interaction_id)
        if interaction is not None and data.get("agent_id"):
            emit_to_room(
                "screen_pop",
                {
                    "interaction": interaction_payload(session, interaction_id),
                    "card": card_for(session, interaction),
                },
                agent_room(int(data["agent_id"])),
            )
    if evt.type != events.INTERACTION_ENQUEUED:
        payload = {**interaction_payload(session, interaction_id), "event": evt.type}
        agents = {int(data[k]) for k in _AGENT_KEYS if data.get(k)}
        emit_to_rooms(
            "interaction_updated", payload, [agent_room(a) for a in sorted(agents)] + [SUPERVISORS]
        )
    queues = [q for q in (data.get("queue_id"), data.get("from_queue_id")) if q is not None]
    return [([int(q) for q in queues], True)]


# ------------------------------------------------------------------ the fan-out thread


class _AppStats:
    """Queues of one app whose figures changed since they were last sent."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.for_agents: set[int] = set()  # the queue's room needs them too
        self.for_supervisors: set[int] = set()
        self.last_sent = 0.0  # monotonic time of the last send (0: never)


class Dispatcher:
    """Committed events become emits on one background thread per process, not in the
    thread that committed (a webhook, an SMTP session, a socket handler).

    - ``submit`` appends to a bounded queue and returns; when the queue is full the
      committing thread waits for room (back-pressure) and, should the thread stay stuck,
      dispatches the event itself: an event is never dropped.
    - One thread keeps the order of the events, so a room's ``seq`` numbers go out in order.
    - A batch of events is read in one read-only session (one connection).
    - Queue figures are coalesced: an event only marks its queues dirty; the figures of all
      dirty queues of an app go out in one computation at most once per
      ``realtime_stats_seconds`` (at once when the last send is older than that).
    """

    def __init__(self, maxsize: int = 10_000, stats_seconds: float = 1.0) -> None:
        self.maxsize = maxsize
        self.stats_seconds = stats_seconds
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[tuple[Flask, DomainEvent]] = deque()
        self._stats: dict[int, _AppStats] = {}
        self._busy = False
        self._flush_now = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.dispatched = 0
        self.stats_sends = 0
        self.inline = 0

    def configure(self, *, maxsize: int, stats_seconds: float) -> None:
        with self._cond:
            self.maxsize = max(1, int(maxsize))
            self.stats_seconds = max(0.0, float(stats_seconds))

    # ------------------------------------------------------------------ producers

    def submit(self, app: Flask, evt: DomainEvent, *, block_seconds: float = 10.0) -> None:
        """Queue ``evt`` (already committed) for the fan-out thread."""
        self._ensure_thread()
        if threading.current_thread() is self._thread:
            self._run_inline(app, evt)  # an emit's own side effect: keep it in order
            return
        deadline = time.monotonic() + block_seconds
        with self._cond:
            while len(self._queue) >= self.maxsize:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            else:
                self._queue.append((app, evt))
                self._cond.notify_all()
                return
        # The fan-out thread is stuck: deliver from here rather than lose the event.
        log.warning(
            "real-time queue full for %.0f s: %s dispatched inline", block_seconds, evt.type
        )
        self._run_inline(app, evt)

    def mark_dirty(self, app: Flask, queue_ids: Iterable[int], *, to_agents: bool) -> None:
        ids = {int(q) for q in queue_ids}
        if not ids:
            return
        self._ensure_thread()
        with self._cond:
            stats = self._stats.get(id(app))
            if stats is None:
                stats = self._stats[id(app)] = _AppStats(app)
            stats.for_supervisors |= ids
            if to_agents:
                stats.for_agents |= ids
            self._cond.notify_all()

    def wait_idle(self, timeout: float = 30.0, *, flush_stats: bool = True) -> bool:
        """Wait until every submitted event is emitted (and, with ``flush_stats``, the dirty
        queue figures sent without waiting for their interval). True when idle."""
        if self._thread is None or not self._thread.is_alive():
            return not self._queue
        deadline = time.monotonic() + timeout
        with self._cond:
            if flush_stats:
                self._flush_now = True
                self._cond.notify_all()
            while self._queue or self._busy or (flush_stats and self._has_dirty()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    # ------------------------------------------------------------------ the thread

    def _ensure_thread(self) -> None:
        if self._pid != os.getpid():  # forked (a Celery worker child): start afresh
            self._reset()
        thread = self._thread
        if thread is not None and thread.is_alive():
            return
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="switchboard-realtime", daemon=True
                )
                self._thread.start()

    def _has_dirty(self) -> bool:
        return any(s.for_supervisors for s in self._stats.values())

    def _next_stats_due(self, now: float) -> float | None:
        due = [s.last_sent + self.stats_seconds for s in self._stats.values() if s.for_supervisors]
        if not due:
            return None
        return now if self._flush_now else min(due)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while True:
                    now = time.monotonic()
                    due = self._next_stats_due(now)
                    if self._queue or (due is not None and due <= now):
                        break
                    self._cond.wait(None if due is None else due - now)
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), 256))]
                self._busy = True
                self._cond.notify_all()  # producers waiting for room
            try:
                self._process(batch)
                self._send_due_stats()
            except Exception:  # never let the thread die
                log.exception("real-time fan-out thread")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _process(self, batch: list[tuple[Flask, DomainEvent]]) -> None:
        i = 0
        while i < len(batch):
            app = batch[i][0]
            j = i
            while j < len(batch) and batch[j][0] is app:
                j += 1
            with app.app_context():
                try:
                    with _read_session(app) as session:
                        for _, evt in batch[i:j]:
                            self._dispatch_one(app, session, evt)
                except Exception:
                    log.exception("real-time fan-out failed")
            i = j

    def _dispatch_one(self, app: Flask, session: Session, evt: DomainEvent) -> None:
        # Events of one batch share the session: read every row afresh for each.
        session.expire_all()
        try:
            changed = _dispatch_event(session, evt)
        except Exception:  # a failed emit must not stop the others
            log.exception("real-time fan-out failed for %s", evt.type)
            return
        self.dispatched += 1
        for queue_ids, to_agents in changed:
            self.mark_dirty(app, queue_ids, to_agents=to_agents)

    def _run_inline(self, app: Flask, evt: DomainEvent) -> None:
        self.inline += 1
        try:
            with app.app_context(), _read_session(app) as session:
                dispatch(session, evt)
        except Exception:
            log.exception("real-time fan-out failed for %s", evt.type)

    def _send_due_stats(self) -> None:
        now = time.monotonic()
        todo: list[tuple[Flask, set[int], set[int]]] = []
        with self._cond:
            flush_all = self._flush_now
            self._flush_now = False
            for key, stats in list(self._stats.items()):
                if not stats.for_supervisors:
                    if now >= stats.last_sent + self.stats_seconds:
                        del self._stats[key]  # quiet for a while: forget the app
                    continue
                if not flush_all and now < stats.last_sent + self.stats_seconds:
                    continue
                todo.append((stats.app, stats.for_supervisors, stats.for_agents))
                stats.for_supervisors, stats.for_agents = set(), set()
                stats.last_sent = now
        for app, for_supervisors, for_agents in todo:
            try:
                with app.app_context():
                    self._send_stats(app, for_supervisors, for_agents)
            except Exception:
                log.exception("queue figures not sent")

    def _send_stats(self, app: Flask, for_supervisors: set[int], for_agents: set[int]) -> None:
        from hub.routing import queue_stats

        with _read_session(app) as session:
            stats = queue_stats(session, queue_ids=sorted(for_supervisors))
        for item in stats:
            if item["queue_id"] in for_agents:
                emit_to_room("queue_stats", {"queues": [item]}, queue_room(item["queue_id"]))
        if stats:
            emit_to_room("queue_stats", {"queues": stats}, SUPERVISORS)
        self.stats_sends += 1


dispatcher = Dispatcher()


def wait_idle(timeout: float = 30.0, *, flush_stats: bool = True) -> bool:
    """Block until the committed events so far have gone out (tests, benchmarks, shutdown):
    see :meth:`Dispatcher.wait_idle`."""
    return dispatcher.wait_idle(timeout, flush_stats=flush_stats)


def reminder_payload(session: Session, data: dict[str, Any]) -> dict[str, Any] | None:
    """A task reminder as the console shows it (the task's title, times in UTC)."""
    from crm_core.models import PlanningTask

    task = session.get(PlanningTask, int(data["task_id"]))
    if task is None or task.status != "open":
        return None
    customer = session.get(Customer, task.customer_id) if task.customer_id else None
    return {
        "reminder_id": data.get("reminder_id"),
        "task_id": task.id,
        "kind": task.kind,
        "title": task.title,
        "priority": task.priority,
        "occurrence_at": data.get("occurrence_at"),
        "minutes_before": data.get("minutes_before"),
        "customer_id": task.customer_id,
        "customer_name": customer.display_name if customer is not None else None,
    }


def dispatch_planning(session: Session, evt: DomainEvent) -> None:
    """Planning events (``crm_core.services.tasks``) to the people concerned."""
    from crm_core.models import PlanningTask

    data = evt.data
    if evt.type == "task.reminder":
        payload = reminder_payload(session, data)
        if payload is not None:
            emit_to_room("reminder", payload, agent_room(int(data["user_id"])))
        return
    users = [int(u) for u in data.get("user_ids") or []]
    if evt.type == "task.overdue":
        task = session.get(PlanningTask, int(data["task_id"]))
        if task is None:
            return
        payload = {
            "task_id": task.id,
            "title": task.title,
            "due_at": _iso(task.due_at),
            "assignee_id": task.assignee_id or task.owner_id,
        }
        emit_to_rooms("task_overdue", payload, [agent_room(u) for u in users] + [SUPERVISORS])
    elif evt.type == "task.changed":
        emit_to_rooms("task_changed", {"task_id": data["task_id"]}, [agent_room(u) for u in users])


def _on_planning_event(evt: DomainEvent) -> None:
    if not has_app_context():
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if "switchboard.socketio" not in app.extensions:
        return
    try:
        with _read_session(app) as session:
            dispatch_planning(session, evt)
    except Exception:  # a failed emit must not disturb the committed write
        log.exception("real-time fan-out failed for %s", evt.type)


def _on_event(evt: DomainEvent) -> None:
    """After a commit: hand the event to the fan-out thread (no query, no emit here)."""
    if not has_app_context():
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if "switchboard.socketio" not in app.extensions:
        return
    dispatcher.submit(app, evt)


_HANDLED = (
    events.AGENT_STATE_CHANGED,
    events.SLA_BREACHED,
    events.INTERACTION_ENQUEUED,
    events.INTERACTION_OFFERED,
    events.INTERACTION_ACCEPTED,
    events.INTERACTION_DECLINED,
    events.INTERACTION_OFFER_EXPIRED,
    events.INTERACTION_REQUEUED,
    events.INTERACTION_TRANSFERRED,
    events.INTERACTION_WRAP_UP,
    events.INTERACTION_CLOSED,
    events.INTERACTION_ABANDONED,
    events.INTERACTION_CONTENT_CHANGED,
    events.AGENT_MESSAGE,
)
_subscribed = False


def _subscribe_once() -> None:
    global _subscribed
    if _subscribed:
        return
    for kind in _HANDLED:
        events.subscribe(kind, _on_event)
    for kind in ("task.reminder", "task.overdue", "task.changed"):
        events.subscribe(kind, _on_planning_event)
    _subscribed = True


def broadcast_queue_stats() -> int:
    """Fresh figures for every queue to the wallboards and the queues' rooms (needs an app
    context). Returns how many queues were sent."""
    from hub.routing import queue_stats

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with _read_session(app) as session:
        stats = queue_stats(session)
        for item in stats:
            emit_to_room("queue_stats", {"queues": [item]}, queue_room(item["queue_id"]))
        emit_to_room("queue_stats", {"queues": stats}, SUPERVISORS)
    return len(stats)


def emit_campaign_import(data: dict[str, Any]) -> None:
    """Progress of a campaign list import (``campaigns.imports.progress``) to the
    supervisors' room as ``campaign_import``; sent by the import task after each committed
    batch. Needs an app context; does nothing before Socket.IO is set up."""
    if not has_app_context() or "switchboard.socketio" not in current_app.extensions:
        return
    emit_to_room("campaign_import", data, SUPERVISORS)
