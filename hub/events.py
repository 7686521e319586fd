"""Domain event types of the hub, and subscription helpers.

Events are :class:`crm_core.events.DomainEvent` instances (a dotted type and ids), queued on
the session and sent on the ``domain_event`` blinker signal only after COMMIT. Within one
process, listeners connect with :func:`subscribe`; across processes the real-time layer
relays them through the Socket.IO message queue.
"""

from __future__ import annotations

from collections.abc import Callable

from crm_core.events import DomainEvent, domain_event, publish_on_commit

INTERACTION_CREATED = "interaction.created"
INTERACTION_ENQUEUED = "interaction.enqueued"
INTERACTION_OFFERED = "interaction.offered"
INTERACTION_ACCEPTED = "interaction.accepted"
INTERACTION_CLOSED = "interaction.closed"
AGENT_STATE_CHANGED = "agent.state_changed"
QUEUE_STATS = "queue.stats"
# Routing details (hub.routing) and service levels (hub.sla).
INTERACTION_DECLINED = "interaction.declined"
INTERACTION_OFFER_EXPIRED = "interaction.offer_expired"
INTERACTION_REQUEUED = "interaction.requeued"
INTERACTION_TRANSFERRED = "interaction.transferred"
INTERACTION_WRAP_UP = "interaction.wrap_up"
INTERACTION_ABANDONED = "interaction.abandoned"
SLA_BREACHED = "sla.breached"
# A channel changed what an interaction shows (a fax's pages arrived, its annotations):
# data {"interaction_id"}; the agent on it and the supervisors refresh their view.
INTERACTION_CONTENT_CHANGED = "interaction.content_changed"
# A supervisor's message to an agent (hub/messages.py): data {agent_id, from_name, text}.
AGENT_MESSAGE = "agent.message"

Listener = Callable[[DomainEvent], None]


def subscribe(event_type: str | None, listener: Listener) -> Callable[[object], None]:
    """Call ``listener(event)`` for every committed event of ``event_type`` (None: all).

    Returns the receiver actually connected, for :func:`unsubscribe`.
    """

    def receiver(sender: object, **_: object) -> None:
        assert isinstance(sender, DomainEvent)
        if event_type is None or sender.type == event_type:
            listener(sender)

    domain_event.connect(receiver, weak=False)
    return receiver


def unsubscribe(receiver: Callable[[object], None]) -> None:
    domain_event.disconnect(receiver)


__all__ = [
    "AGENT_STATE_CHANGED",
    "INTERACTION_ABANDONED",
    "INTERACTION_ACCEPTED",
    "INTERACTION_CLOSED",
    "INTERACTION_CREATED",
    "INTERACTION_DECLINED",
    "INTERACTION_ENQUEUED",
    "INTERACTION_OFFERED",
    "INTERACTION_OFFER_EXPIRED",
    "INTERACTION_REQUEUED",
    "INTERACTION_TRANSFERRED",
    "INTERACTION_WRAP_UP",
    "QUEUE_STATS",
    "SLA_BREACHED",
    "DomainEvent",
    "publish_on_commit",
    "subscribe",
    "unsubscribe",
]
