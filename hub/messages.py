"""Supervisors' messages to agents ("take the next call in Polish", "wrap up, queue is
long"): written from the wallboard, shown at once in the agent's console, audited.

A message is not an interaction (it is not customer work) and is not stored beyond the audit
log: it is for the moment. It goes out after the commit, like every other real-time event.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from crm_core.errors import N_, NotFound, PermissionDenied, ValidationFailed
from crm_core.events import DomainEvent, publish_on_commit
from crm_core.models import User
from crm_core.services import audit
from hub.events import AGENT_MESSAGE

MESSAGE_MAX = 500


def do_message_agent(session: Session, sender: User, agent_id: int, text: str) -> None:
    """Send ``text`` from ``sender`` (a supervisor or admin) to agent ``agent_id``'s console."""
    if not sender.is_supervisor:
        raise PermissionDenied(N_("only supervisors may message agents"))
    body = " ".join(text.split())
    if not body:
        raise ValidationFailed(N_("a message needs some text"), field="text")
    if len(body) > MESSAGE_MAX:
        raise ValidationFailed(
            N_("a message is at most %(max)s characters"), field="text", max=MESSAGE_MAX
        )
    agent = session.get(User, agent_id)
    if agent is None or not agent.active:
        raise NotFound(N_("user %(id)s not found"), id=agent_id)
    audit.record(
        session,
        user_id=sender.id,
        action="agent.messaged",
        entity_type="user",
        entity_id=agent.id,
        after={"text": body},
    )
    publish_on_commit(
        session,
        DomainEvent(
            AGENT_MESSAGE,
            {"agent_id": agent.id, "from_id": sender.id, "from_name": sender.name, "text": body},
        ),
    )
