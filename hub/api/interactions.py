"""Interactions: the one history table, filtered and read.

Record rule for agents: an interaction that belongs to a ticket is visible only when the
ticket is (``visible_tickets_clause``), unless the agent handled it themselves
(``agent_id``); interactions outside any ticket (a call in the queue, a lone e-mail) are
visible to every agent, as the customer's card is. Supervisors and admins see everything.
An interaction an agent may not see answers 404.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel
from sqlalchemy import select

from crm_core.errors import N_, NotFound
from crm_core.models import Interaction, User
from crm_core.services.tickets import visible_interactions_clause
from hub.api import bp
from hub.api.common import Moment
from hub.api.schemas import Id, InteractionOut, PageQuery
from hub.api.spec import operation
from hub.auth import current
from hub.db import db

TAGS = ["interactions"]

Channel = Literal["voice", "email", "fax", "webform", "sms", "chat", "note", "task"]
Direction = Literal["inbound", "outbound", "internal"]
InteractionStatus = Literal["new", "queued", "offered", "active", "wrap_up", "closed", "abandoned"]


class InteractionQuery(PageQuery):
    channel: list[Channel] | None = None
    direction: list[Direction] | None = None
    status: list[InteractionStatus] | None = None
    customer_id: Id | None = None
    ticket_id: Id | None = None
    agent_id: Id | None = None
    since: Moment | None = None
    until: Moment | None = None


class InteractionPage(BaseModel):
    items: list[InteractionOut]
    limit: int
    offset: int
    has_more: bool


@operation(
    bp,
    "/interactions",
    "GET",
    summary="List interactions",
    tags=TAGS,
    query=InteractionQuery,
    response=InteractionPage,
)
def list_interactions(query: InteractionQuery) -> InteractionPage:
    """Newest first. ``since`` (inclusive) and ``until`` (exclusive) bound ``created_at``;
    several values of ``channel``, ``direction`` or ``status`` match any of them.

    Agents do not see interactions of tickets they cannot see (another team's), unless they
    handled the interaction themselves; interactions outside any ticket are visible to all.
    Supervisors and admins see everything."""
    stmt = select(Interaction).where(visible_interactions_clause(current()))
    if query.channel:
        stmt = stmt.where(Interaction.channel.in_(query.channel))
    if query.direction:
        stmt = stmt.where(Interaction.direction.in_(query.direction))
    if query.status:
        stmt = stmt.where(Interaction.status.in_(query.status))
    if query.customer_id is not None:
        stmt = stmt.where(Interaction.customer_id == query.customer_id)
    if query.ticket_id is not None:
        stmt = stmt.where(Interaction.ticket_id == query.ticket_id)
    if query.agent_id is not None:
        stmt = stmt.where(Interaction.agent_id == query.agent_id)
    if query.since is not None:
        stmt = stmt.where(Interaction.created_at >= query.since)
    if query.until is not None:
        stmt = stmt.where(Interaction.created_at < query.until)
    stmt = stmt.order_by(Interaction.created_at.desc(), Interaction.id.desc())
    rows = list(db.session.scalars(stmt.limit(query.limit + 1).offset(query.offset)))
    return InteractionPage(
        items=[InteractionOut.model_validate(i) for i in rows[: query.limit]],
        limit=query.limit,
        offset=query.offset,
        has_more=len(rows) > query.limit,
    )


def get_visible_interaction(user: User, interaction_id: int) -> Interaction:
    found = db.session.scalar(
        select(Interaction).where(
            Interaction.id == interaction_id, visible_interactions_clause(user)
        )
    )
    if found is None:
        raise NotFound(N_("interaction %(id)s not found"), id=interaction_id)
    return found


@operation(
    bp,
    "/interactions/<int:interaction_id>",
    "GET",
    summary="Read an interaction",
    tags=TAGS,
    response=InteractionOut,
)
def get_interaction(interaction_id: int) -> InteractionOut:
    return InteractionOut.model_validate(get_visible_interaction(current(), interaction_id))
