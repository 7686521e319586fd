"""Two ``switchboard beat`` processes: one holds the ``beat`` lease and runs the tick (SLA
escalation, offer time-outs…), the other stands by; ``kill -9`` of the holder hands the
lease to the other, with the next fencing token, and the two never tick at once.

Runs on both backends (the lease is a table row). Without a broker each beat runs the
tick itself, so nothing but the database is needed.
"""

from __future__ import annotations

import re

from crm_core.db import utcnow
from hub.db import db
from hub.leases import current
from tests.multiprocess.procs import base_env, start, wait_for

TICK = re.compile(r"^beat (\S+) token=(\d+) sent hub\.tick at ([\d.]+)$")


def ticks(*procs) -> list[tuple[float, str, int, str]]:
    """Every tick line of the processes: (time, holder, token, process name), by time."""
    out = []
    for proc in procs:
        for line in list(proc.lines):
            m = TICK.match(line)
            if m:
                out.append((float(m.group(3)), m.group(1), int(m.group(2)), proc.name))
    return sorted(out)


def test_kill_9_of_the_leader_hands_over_and_never_two_at_once(app, database_url, tmp_path):
    env = base_env(
        database_url,
        tmp_path / "var",
        SWITCHBOARD_TICK_SECONDS="1",
        SWITCHBOARD_EMAIL_IMAP_ACCOUNTS="[]",
    )
    ttl = "3"
    # Both start together: whichever takes the lease first leads, the other stands by.
    procs = [start(f"beat-{i}", ["beat", "--lease-ttl", ttl], env) for i in (1, 2)]
    try:
        wait_for(lambda: ticks(*procs), 120, "a beat to take the lease and tick", *procs)
        first, second = procs if ticks(procs[0]) else procs[::-1]
        wait_for(lambda: any("periodic task" in ln for ln in second.lines), 120, "beat 2", second)
        # Both alive for several of the leader's ticks: only the leader ticks.
        count = len(ticks(first))
        wait_for(lambda: len(ticks(first)) >= count + 4, 120, "more ticks of the leader", first)
        assert ticks(second) == [], "the stand-by ticked while the leader held the lease"
        first_holders = {(h, t) for _, h, t, _ in ticks(first)}
        assert len(first_holders) == 1
        [(leader, token)] = first_holders
        lease = current(db.engine_for(app), "beat")
        assert lease is not None and lease.holder == leader and lease.token == token

        first.kill9()
        last_of_first = ticks(first)[-1][0]
        wait_for(lambda: ticks(second), 120, "the stand-by to take over", second)
        took_over = ticks(second)
        holders = {(h, t) for _, h, t, _ in took_over}
        assert len(holders) == 1
        [(new_holder, new_token)] = holders
        assert new_holder != leader
        assert new_token == token + 1
        assert took_over[0][0] > last_of_first
        lease = current(db.engine_for(app), "beat")
        assert lease is not None and lease.holder == new_holder and lease.token == new_token
        # Never two at once: ordered by time, the tokens never go back.
        seq = [t for _, _, t, _ in ticks(first, second)]
        assert seq == sorted(seq)

        # A graceful stop releases the lease at once.
        assert second.terminate() == 0
        lease = current(db.engine_for(app), "beat")
        assert lease is not None and lease.expires_at <= utcnow()
    finally:
        for proc in procs:
            proc.terminate()
            proc.report()
