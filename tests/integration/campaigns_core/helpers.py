"""Helpers for the campaign tests: an active campaign with an agent, leads."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from campaigns.models import Campaign, Lead
from campaigns.service import do_create_campaign, do_set_agents, do_set_status
from tests.factories import make_customer, make_user


def active_campaign(session: Session, **fields: Any) -> Campaign:
    agent = make_user(session)
    data: dict[str, Any] = {"name": "Autumn offer", "caller_id": "+48223070000"}
    data.update(fields)
    campaign = do_create_campaign(session, fields=data)
    do_set_agents(session, campaign, user_ids=[agent.id])
    do_set_status(session, campaign, "active")
    return campaign


def add_lead(
    session: Session,
    campaign: Campaign,
    phone: str,
    *,
    customer_fields: dict[str, Any] | None = None,
) -> Lead:
    customer = make_customer(session, phones=(phone,), **(customer_fields or {}))
    lead = Lead(
        campaign_id=campaign.id,
        customer_id=customer.id,
        phone=phone,
        state="pending",
        priority=0,
        attempts=0,
    )
    session.add(lead)
    session.flush()
    return lead


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)
