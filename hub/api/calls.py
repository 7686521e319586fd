"""Click-to-call from a customer card, a ticket or search results."""

from __future__ import annotations

from pydantic import BaseModel, Field

from hub.api import bp
from hub.api.common import settings
from hub.api.schemas import Strict
from hub.api.spec import operation
from hub.auth import current
from hub.calls import do_click_to_call
from hub.db import db


class CallIn(Strict):
    number: str | None = Field(None, max_length=64, description="default: the primary phone")
    ticket_id: int | None = Field(None, ge=1, le=2**31 - 1)


class CallOut(BaseModel):
    interaction_id: int
    status: str
    to: str
    placed: bool = Field(description="false when no telephony is configured (recorded only)")


@operation(
    bp,
    "/customers/<int:customer_id>/calls",
    "POST",
    summary="Call a customer (the agent's phone rings first)",
    tags=["calls"],
    body=CallIn,
    response=CallOut,
    status=202,
    errors=(404, 409, 422),
)
def call_customer(customer_id: int, body: CallIn) -> CallOut:
    """Click-to-call: refused (409) when the customer asked not to be called."""
    interaction = do_click_to_call(
        db.session,
        current(),
        customer_id=customer_id,
        number=body.number,
        ticket_id=body.ticket_id,
        region=settings().default_region,
    )
    return CallOut(
        interaction_id=interaction.id,
        status=interaction.status,
        to=interaction.to_address or "",
        placed=interaction.status != "closed",
    )
