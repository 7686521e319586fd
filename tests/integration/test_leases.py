"""Leases (``hub/leases.py``) against the real test database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading

from crm_core.db import utcnow
from hub.db import db
from hub.leases import LeaseKeeper, current, release, run_singleton, try_acquire


def test_one_holder_until_expiry_then_takeover_with_a_new_token(app):
    engine = db.engine_for(app)
    now = utcnow()
    assert try_acquire(engine, "tick", "a", 10, now=now) == 1
    # b cannot take a live lease; a renews it and keeps its token
    assert try_acquire(engine, "tick", "b", 10, now=now + dt.timedelta(seconds=5)) is None
    assert try_acquire(engine, "tick", "a", 10, now=now + dt.timedelta(seconds=6)) == 1
    assert try_acquire(engine, "tick", "b", 10, now=now + dt.timedelta(seconds=15)) is None
    # a stops renewing (dies): once it has expired, b takes it over with the next token
    later = now + dt.timedelta(seconds=16, milliseconds=1)
    assert try_acquire(engine, "tick", "b", 10, now=later) == 2
    assert try_acquire(engine, "tick", "a", 10, now=later) is None
    row = current(engine, "tick")
    assert row is not None and row.holder == "b" and row.token == 2
    # leases are independent of each other
    assert try_acquire(engine, "pacer:7", "a", 10, now=later) == 1


def test_release_lets_the_next_node_in_at_once(app):
    engine = db.engine_for(app)
    assert try_acquire(engine, "beat", "a", 60) == 1
    assert try_acquire(engine, "beat", "b", 60) is None
    assert release(engine, "beat", "a")
    assert not release(engine, "beat", "a-other")
    assert try_acquire(engine, "beat", "b", 60) == 2


def test_concurrent_contenders_get_exactly_one_holder(app):
    engine = db.engine_for(app)
    barrier = threading.Barrier(8)
    won: list[str] = []

    def contend(name: str) -> None:
        barrier.wait()
        if try_acquire(engine, "race", name, 30) is not None:
            won.append(name)

    threads = [threading.Thread(target=contend, args=(f"n{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(won) == 1, won


def test_keeper_and_singleton_loop(app):
    engine = db.engine_for(app)
    first = LeaseKeeper(engine, "pacer:1", ttl=30, holder="first")
    second = LeaseKeeper(engine, "pacer:1", ttl=30, holder="second")
    assert first.tick() and first.held() and first.token == 1
    assert not second.tick() and not second.held()
    first.release()
    assert not first.held()
    assert second.tick() and second.token == 2

    stop = threading.Event()
    tokens: list[int] = []

    def work(token: int) -> None:
        tokens.append(token)
        stop.set()

    # "second" holds pacer:1, so a loop for another holder must wait; on its own lease
    # it works at once and releases on the way out.
    run_singleton(engine, "pacer:2", work, interval=0.1, stop=stop, holder="loop")
    assert tokens == [1]
    row = current(engine, "pacer:2")
    assert row is not None and row.expires_at <= utcnow()
