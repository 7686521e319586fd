"""psycopg 3 under gevent (what ``switchboard web`` runs): with the standard library
monkey-patched, a query waiting on the server yields to the other greenlets, so one slow
query does not stall every console of the node. Checked in a fresh interpreter (patching
must come before any other import)."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy.engine import make_url

SCRIPT = r"""
from gevent import monkey
monkey.patch_all()

import sys
import gevent
from sqlalchemy import create_engine, text

engine = create_engine(sys.argv[1], pool_size=2, max_overflow=0)
order = []
started = gevent.event.Event()


def slow():
    with engine.connect() as conn:
        started.set()
        conn.execute(text("SELECT pg_sleep(3)"))
        order.append("slow")


def fast():
    started.wait()
    with engine.connect() as conn:
        # Only once the slow query is running on the server (if the slow one blocked the
        # whole process, this runs after it and never sees it).
        for _ in range(400):
            if conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(3)'")
            ).scalar():
                break
            gevent.sleep(0.05)
        else:
            order.append("never saw the slow query running")
            return
        conn.execute(text("SELECT 1"))
        order.append("fast")


gevent.joinall([gevent.spawn(slow), gevent.spawn(fast)], raise_error=True)
print(",".join(order))
"""


def test_a_slow_query_does_not_block_the_other_greenlets(database_url, postgres_only):
    url = make_url(database_url).render_as_string(hide_password=False)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, url], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # Cooperative: the fast query ran and finished while the slow one was still waiting.
    assert done.stdout.strip() == "fast,slow"
