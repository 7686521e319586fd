"""Helpers for routing tests: queues, agents with skills, inbound events through intake.

The readers end their transaction (commit) before returning: on SQLite every transaction
starts with BEGIN IMMEDIATE, so a test session left open would block intake and the router.
Objects stay loaded (``expire_on_commit=False``).
"""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.models import User
from hub.agents import do_set_agent_state
from hub.intake import InboundEvent, receive
from hub.models import AgentStatus, Offer, Queue, QueueEntry
from hub.routing import do_create_queue
from hub.skills import do_set_agent_skill
from tests.factories import make_user

_ext = itertools.count(1)


def make_queue(session: Session, name: str = "Support", **kwargs: Any) -> Queue:
    kwargs.setdefault("channels", ["voice", "email", "webform"])
    kwargs.setdefault("wrap_up_seconds", 30)
    kwargs.setdefault("offer_timeout_seconds", 20)
    return do_create_queue(session, name=name, **kwargs)


def make_agent(
    session: Session,
    queues: tuple[Queue, ...] = (),
    skills: dict[str, int] | None = None,
    *,
    role: str = "agent",
    name: str | None = None,
    teams: tuple[str, ...] = (),
) -> User:
    from hub.routing import do_add_queue_member

    agent = make_user(session, role=role, name=name, teams=teams)
    for queue in queues:
        do_add_queue_member(session, queue, agent)
    for skill, level in (skills or {}).items():
        do_set_agent_skill(session, agent, skill, level)
    return agent


def available(session: Session, *agents: User) -> None:
    """Agents go available (each commits: the router runs after each)."""
    for agent in agents:
        do_set_agent_state(session, agent, "available", actor=agent)
        session.commit()


def call(app: Any, from_number: str = "+48 601 234 567", **kwargs: Any) -> int:
    with app.app_context():
        interaction = receive(
            InboundEvent(
                channel=kwargs.pop("channel", "voice"),
                external_id=kwargs.pop("external_id", f"CA{next(_ext):032d}"),
                from_address=from_number,
                to_address=kwargs.pop("to_address", "+48 22 100 20 30"),
                **kwargs,
            )
        )
        return interaction.id


def email(app: Any, sender: str = "anna@example.pl", subject: str = "Help", **kwargs: Any) -> int:
    return call(
        app,
        sender,
        channel="email",
        external_id=f"<{next(_ext)}@example.pl>",
        subject=subject,
        to_address=kwargs.pop("to_address", "support@switchboard.test"),
        body_text="Please help",
        **kwargs,
    )


def state_of(session: Session, agent: User) -> tuple[str, str | None]:
    status = session.get(AgentStatus, agent.id, populate_existing=True)
    assert status is not None
    result = (status.state, status.pause_code)
    session.commit()  # end the read: on SQLite an open transaction holds the write lock
    return result


def pending_offer(session: Session, interaction_id: int) -> Offer | None:
    offer = session.scalar(
        select(Offer)
        .where(Offer.interaction_id == interaction_id, Offer.status == "pending")
        .execution_options(populate_existing=True)
    )
    session.commit()
    return offer


def entry_of(session: Session, interaction_id: int) -> QueueEntry:
    entry = session.get(QueueEntry, interaction_id, populate_existing=True)
    assert entry is not None
    session.commit()
    return entry


class Db:
    """Short transactions outside any long-lived app context.

    Socket.IO handlers under test reuse an app context that is already pushed (Flask
    pushes a new one only when none is active), so socket tests must not hold one open:
    each ``with db() as s`` pushes a context, yields its session, commits and pops.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self) -> Any:
        from contextlib import contextmanager

        from hub.db import db as database

        @contextmanager
        def _cm() -> Any:
            with self.app.app_context():
                session = database.session
                try:
                    yield session
                    session.commit()
                except Exception:
                    session.rollback()
                    raise

        return _cm()
