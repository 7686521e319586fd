"""Domain events published only after the transaction that caused them commits.

A service calls :func:`publish_on_commit` with a small frozen dataclass; the event waits on
the session and goes out on the ``domain_event`` blinker signal after COMMIT, or is dropped
on ROLLBACK. Subscribers (the hub's real-time fan-out, routing, channel hooks) connect to
:data:`domain_event`. Nothing here knows who listens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from blinker import Signal
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger(__name__)

domain_event = Signal("switchboard domain event")

_PENDING = "switchboard.pending_events"


@dataclass(frozen=True)
class DomainEvent:
    """Base of every event: a dotted type string and ids, never ORM objects."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)


def publish_on_commit(session: Session, evt: DomainEvent) -> None:
    """Queue ``evt`` to be sent once ``session`` commits its outermost transaction.

    The event remembers the (possibly nested) transaction it was raised in: rolling back a
    savepoint drops the events raised inside it, and only those.
    """
    # Begin the transaction now if nothing has run yet: an event queued on a session with
    # no transaction would otherwise outlive a rollback (there is nothing to roll back, so
    # no rollback hook fires) and go out with whatever commits next.
    txn = session.get_nested_transaction() or session.get_transaction() or session.begin()
    session.info.setdefault(_PENDING, []).append((txn, evt))


def pending_events(session: Session) -> list[DomainEvent]:
    return [evt for _, evt in session.info.get(_PENDING, [])]


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint was released: the outer transaction may still roll back
    entries = session.info.pop(_PENDING, [])
    for _, evt in entries:
        try:
            domain_event.send(evt)
        except Exception:  # a listener's bug must not undo a committed write
            log.exception("listener failed for %s", evt.type)


def _within(txn: SessionTransaction | None, boundary: SessionTransaction) -> bool:
    while txn is not None:
        if txn is boundary:
            return True
        txn = txn.parent
    return False


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    entries = session.info.get(_PENDING)
    if not entries:
        return
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)
        return
    session.info[_PENDING] = [
        (txn, evt) for txn, evt in entries if not _within(txn, previous_transaction)
    ]
