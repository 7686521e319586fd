"""The wallboard's JSON (``/console/api/wallboard``) and the supervisor's actions on it.

The figures come from :mod:`hub.routing` (``queue_stats``, ``agent_board``); this module
adds what the screen needs around them: the waiting interactions (to re-assign), who each
agent is talking to, and today's volume per hour per channel in the supervisor's zone.
Socket.IO events tell the page when to read again; this endpoint is the whole truth.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, jsonify
from flask_babel import gettext as _
from sqlalchemy import func, select

from agent_console import bp
from agent_console.console_api import API, _body, _int, _text
from crm_core.db import utcnow
from crm_core.errors import NotFound, ValidationFailed
from crm_core.models import Customer, Interaction, User
from hub.agents import do_set_agent_state
from hub.auth import current, require_role
from hub.cards import unknown_caller_card
from hub.db import db
from hub.messages import do_message_agent
from hub.models import Queue, QueueEntry, SlaClock
from hub.planning import overdue_count
from hub.routing import agent_board, do_assign_interaction, queue_stats


def _zone(name: str | None) -> dt.tzinfo:
    try:
        return ZoneInfo(name or "UTC")
    except Exception:  # an unknown zone name on the user: fall back, do not fail the board
        return dt.UTC


def local_day_start(now: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    local = now.astimezone(tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)


def volume_by_hour(
    session: Any, *, tz: dt.tzinfo, now: dt.datetime | None = None
) -> dict[str, list[int]]:
    """Interactions that entered a queue today (in ``tz``), per channel: 24 hourly counts."""
    now = now or utcnow()
    start = local_day_start(now, tz)
    out: dict[str, list[int]] = {}
    rows = session.execute(
        select(QueueEntry.channel, QueueEntry.enqueued_at).where(
            QueueEntry.enqueued_at >= start, QueueEntry.enqueued_at <= now
        )
    )
    for channel, at in rows:
        hour = at.astimezone(tz).hour
        out.setdefault(channel, [0] * 24)[hour] += 1
    return out


def _who(interaction: Interaction, customer: Customer | None, region: str) -> str:
    if customer is not None:
        return customer.display_name
    if interaction.channel in ("voice", "sms", "fax"):
        card = unknown_caller_card(interaction.from_address, region=region)
        return str(card["display"] or _("Withheld number"))
    return interaction.from_address or _("Unknown caller")


def _interaction_lines(session: Any, ids: list[int], region: str) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    rows = session.execute(
        select(Interaction, Customer)
        .outerjoin(Customer, Customer.id == Interaction.customer_id)
        .where(Interaction.id.in_(ids))
    )
    return {
        i.id: {
            "id": i.id,
            "channel": i.channel,
            "who": _who(i, c, region),
            "subject": i.subject,
            "status": i.status,
        }
        for i, c in rows
    }


@bp.get(f"{API}/wallboard")
@require_role("supervisor")
def api_wallboard() -> Any:
    session = db.session
    now = utcnow()
    user = current()
    tz = _zone(user.timezone)
    region = str(current_app.extensions["switchboard.settings"].default_region)
    agents = agent_board(session, now=now)
    waiting_rows = session.execute(
        select(QueueEntry, Queue.name)
        .join(Queue, Queue.id == QueueEntry.queue_id)
        .where(QueueEntry.state.in_(("waiting", "offered")))
        .order_by(QueueEntry.rank_at, QueueEntry.interaction_id)
        .limit(200)
    ).all()
    held = [i for a in agents for i in a["interactions"]]
    lines = _interaction_lines(
        session, held + [e.interaction_id for e, _name in waiting_rows], region
    )
    for agent in agents:
        agent["current"] = [lines[i] for i in agent["interactions"] if i in lines]
    waiting = [
        {
            **lines.get(entry.interaction_id, {"id": entry.interaction_id}),
            "queue_id": entry.queue_id,
            "queue": name,
            "state": entry.state,
            "enqueued_at": entry.enqueued_at.isoformat(),
            "priority": entry.priority,
        }
        for entry, name in waiting_rows
    ]
    breaches = session.scalar(
        select(func.count())
        .select_from(SlaClock)
        .where(SlaClock.breached_at >= local_day_start(now, tz))
    )
    return jsonify(
        queues=queue_stats(session, now=now),
        agents=agents,
        waiting=waiting,
        volume=volume_by_hour(session, tz=tz, now=now),
        sla_breaches_today=int(breaches or 0),
        overdue_tasks=overdue_count(session, now=now),
        as_of=now.isoformat(),
    )


@bp.post(f"{API}/agents/<int:agent_id>/state")
@require_role("supervisor")
def api_set_agent_state(agent_id: int) -> Any:
    """A supervisor sets an agent's state (available, break with a pause code, offline)."""
    data = _body()
    agent = db.session.get(User, agent_id)
    if agent is None:
        raise NotFound(_("Agent %(id)s not found.", id=agent_id))
    state = _text(data, "state", max_len=20)
    code = data.get("pause_code")
    if code is not None and not isinstance(code, str):
        raise ValidationFailed(_("pause_code must be text."), field="pause_code")
    status = do_set_agent_state(db.session, agent, state, code or None, actor=current())
    return jsonify(agent_id=agent.id, state=status.state, pause_code=status.pause_code)


@bp.post(f"{API}/agents/<int:agent_id>/message")
@require_role("supervisor")
def api_message_agent(agent_id: int) -> Any:
    """A supervisor writes to an agent; it shows at once in the agent's console."""
    data = _body()
    do_message_agent(db.session, current(), agent_id, _text(data, "text", max_len=2000))
    return jsonify(agent_id=agent_id, sent=True), 201


@bp.post(f"{API}/interactions/<int:interaction_id>/assign")
@require_role("supervisor")
def api_assign(interaction_id: int) -> Any:
    """A supervisor sends a waiting interaction to a given agent."""
    data = _body()
    do_assign_interaction(db.session, current(), interaction_id, _int(data, "agent_id"))
    return jsonify(interaction_id=interaction_id, agent_id=data["agent_id"])
