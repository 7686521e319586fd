"""Leases: one holder at a time for the singletons of a multi-node deployment.

Some work must run on exactly one node even when several run the same role: the
scheduler of the periodic tick (offer timeouts, SLA escalation), the dialer's pacer per
campaign. Each takes a **lease**: a row in ``hub_leases`` (name, holder, fencing token,
expiry). The holder renews it well before it expires; when the holder dies (kill -9, a
lost machine) its lease runs out and the next node that asks takes it over, with the
token incremented. It works the same on SQLite and PostgreSQL:

- **take or renew** is one ``UPDATE … WHERE name = :n AND (holder = :me OR expires_at <
  :now) RETURNING token``: on PostgreSQL the row lock makes a concurrent second updater
  re-check the condition against the first one's committed row (so it sees a fresh
  lease and matches nothing); on SQLite ``BEGIN IMMEDIATE`` serialises writers. When
  the row does not exist yet, ``INSERT … ON CONFLICT DO NOTHING`` creates it; a loser of
  that race inserts nothing and does not hold the lease.
- **a holder acts only while its lease is valid by its own clock**: ``valid_until`` is
  the local monotonic time of the last successful renewal plus the time to live minus a
  safety margin, so a holder that cannot reach the database stops before anyone else
  may start. Expiry times in the table come from the nodes' wall clocks: keep them in
  NTP sync (skew must stay far below ``ttl`` minus the renewal interval).
- the **token** (fencing token) grows by one each time the lease changes hands; work
  that writes somewhere can carry it so a stale holder's late write can be recognised.

``release`` ends a lease at once on a graceful shutdown, so the next node does not wait
for the expiry. The IMAP poller keeps its own lease on its mailbox row
(``channels/email/imap.py``), on the same principle.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import BigInteger, Engine, String, Table, case, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.db import Base, UTCDateTime, utcnow

log = logging.getLogger(__name__)


class Lease(Base):
    """One named lease: who holds it, until when, and its fencing token."""

    __tablename__ = "hub_leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    token: Mapped[int] = mapped_column(BigInteger)
    acquired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    renewed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


def node_id(role: str = "node") -> str:
    """A holder id unique to this process: role, host, pid and a random part."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def try_acquire(
    engine: Engine, name: str, holder: str, ttl: float, *, now: dt.datetime | None = None
) -> int | None:
    """Take the lease ``name`` for ``holder`` (or renew it if ``holder`` has it) for ``ttl``
    seconds. Returns the fencing token, or None when someone else holds a live lease."""
    now = now or utcnow()
    expires = now + dt.timedelta(seconds=ttl)
    table: Table = Lease.__table__  # type: ignore[assignment]
    with engine.begin() as conn:
        stmt = (
            update(table)
            .where(
                table.c.name == name,
                (table.c.holder == holder) | (table.c.expires_at < now),
            )
            .values(
                token=case((table.c.holder == holder, table.c.token), else_=table.c.token + 1),
                acquired_at=case((table.c.holder == holder, table.c.acquired_at), else_=now),
                holder=holder,
                renewed_at=now,
                expires_at=expires,
            )
            .returning(table.c.token)
        )
        token = conn.execute(stmt).scalar_one_or_none()
        if token is not None:
            return int(token)
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        insert = (
            dialect.insert(table)
            .values(
                name=name,
                holder=holder,
                token=1,
                acquired_at=now,
                renewed_at=now,
                expires_at=expires,
            )
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(table.c.token)
        )
        created = conn.execute(insert).scalar_one_or_none()
        return int(created) if created is not None else None


def release(engine: Engine, name: str, holder: str, *, now: dt.datetime | None = None) -> bool:
    """End ``holder``'s lease at once (graceful shutdown). False if it held none."""
    now = now or utcnow()
    table: Table = Lease.__table__  # type: ignore[assignment]
    with engine.begin() as conn:
        result = conn.execute(
            update(table)
            .where(table.c.name == name, table.c.holder == holder)
            .values(expires_at=now)
        )
    return bool(result.rowcount)


def current(engine: Engine, name: str) -> Lease | None:
    """The lease row as it is now (for status pages and tests)."""
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        row = session.get(Lease, name)
        if row is not None:
            session.expunge(row)
        return row


@dataclass
class LeaseKeeper:
    """Hold one lease from one process: call :meth:`tick` regularly (at least every
    ``ttl / 3`` seconds); :meth:`held` says whether this process may act now.

    A failed renewal (database unreachable) is not fatal: :meth:`held` turns False once
    the last successful renewal is older than ``ttl - margin``, before another node can
    take over (it must wait for the full ``ttl`` after our last renewal).
    """

    engine: Engine
    name: str
    ttl: float = 15.0
    holder: str = ""
    margin: float = 2.0
    token: int | None = None
    _valid_until: float = 0.0

    def __post_init__(self) -> None:
        if not self.holder:
            self.holder = node_id()
        if self.margin >= self.ttl:
            raise ValueError("the lease margin must be shorter than its time to live")

    def tick(self) -> bool:
        """Take or renew the lease; returns :meth:`held` afterwards."""
        started = time.monotonic()
        try:
            token = try_acquire(self.engine, self.name, self.holder, self.ttl)
        except Exception as exc:  # the database is away: keep what we have until it runs out
            log.warning("lease %s: renewal failed (%s)", self.name, exc.__class__.__name__)
            return self.held()
        if token is None:
            if self.token is not None:
                log.warning("lease %s: lost to another holder", self.name)
            self.token = None
            self._valid_until = 0.0
            return False
        if self.token != token:
            log.info("lease %s: taken by %s (token %s)", self.name, self.holder, token)
        self.token = token
        # Counted from before the round trip: the row's expiry is at least this late.
        self._valid_until = started + self.ttl - self.margin
        return True

    def held(self) -> bool:
        return self.token is not None and time.monotonic() < self._valid_until

    def release(self) -> None:
        if self.token is None:
            return
        try:
            release(self.engine, self.name, self.holder)
        except Exception:  # it runs out by itself
            log.warning("lease %s: could not release; it expires in %ss", self.name, self.ttl)
        self.token = None
        self._valid_until = 0.0


def run_singleton(
    engine: Engine,
    name: str,
    work: Callable[[int], None],
    *,
    interval: float,
    stop: threading.Event,
    ttl: float | None = None,
    holder: str = "",
) -> None:
    """Run ``work(token)`` every ``interval`` seconds on whichever node holds lease
    ``name``, until ``stop`` is set; every node runs this loop, one of them works. The
    lease is released on the way out. ``work`` must take far less than ``ttl``."""
    ttl = ttl if ttl is not None else max(3 * interval, 10.0)
    keeper = LeaseKeeper(engine, name, ttl=ttl, holder=holder, margin=min(2.0, ttl / 4))
    period = min(interval, ttl / 3)
    next_work = 0.0
    try:
        while not stop.is_set():
            if keeper.tick() and time.monotonic() >= next_work:
                next_work = time.monotonic() + interval
                try:
                    work(keeper.token or 0)
                except Exception:
                    log.exception("singleton %s: work failed", name)
            stop.wait(period)
    finally:
        keeper.release()
