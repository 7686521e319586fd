"""Reports benchmark: the contact-centre daily report for one month and the agent report,
on 1,000,000 interactions over a year in PostgreSQL.

Data set (its own database, ``--url``; built once in SQL with ``generate_series`` and
reused while its ``COMMENT`` matches the sizes): the schema migrated to head, 5 queues
(answer targets for voice and e-mail), 50 agents, ``--rows`` inbound interactions spread
over 2026 (voice, e-mail, web form), one ``queue_entries`` row each (60 % answered with
wait and handle times, 20 % abandoned, the rest left waiting), an ``answer`` SLA clock per
voice contact (breached when the wait passed 20 s), and every agent's state history (a
change every 30 minutes all year: about 876,000 ``agent_state_changes``); then ``VACUUM
ANALYZE``.

Measured, ``--repeat`` times each after one warm-up, in a fresh transaction:

- ``contact_centre``: ``hub.reports`` kind ``contact_centre``, June 2026 by day in
  Europe/Warsaw (the SQL per UTC hour and the fold into local days, the same code the page
  runs);
- ``agents``: kind ``agents`` over the same month (handled, AHT, occupancy from the state
  history);
- floors: ``SELECT count(*)`` over the same month of ``queue_entries`` (by
  ``enqueued_at``) and of ``agent_state_changes`` (by ``at``).

Prints one JSON line (milliseconds, median and best); exits 1 when a report's median is
not under ``--goal-ms`` (default 1000), 2 when the run could not be made. Usage::

    .venv/bin/python bench/reports.py [--url postgresql://postgres@127.0.0.1:5432/switchboard_bench_reports]
        [--rows 1000000] [--repeat 5] [--rebuild]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from hub.db import make_engine  # noqa: E402
from hub.migrate import upgrade  # noqa: E402
from hub.reports import get_kind, parse_filters  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/switchboard_bench_reports"
GENERATOR = "reports-v1"
AGENTS = 50


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _sa_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def _admin(url: str) -> tuple[str, str]:
    base, _, name = url.rpartition("/")
    return base.replace("postgresql+psycopg://", "postgresql://") + "/postgres", name


def ensure_database(url: str, rows: int, rebuild: bool) -> None:
    admin, name = _admin(url)
    stamp = f"{GENERATOR} rows={rows}"
    with psycopg.connect(admin, autocommit=True) as conn:
        found = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
        if found is not None and found[0] == stamp and not rebuild:
            log(f"reusing {name} ({stamp})")
            upgrade(_sa_url(url))
            return
        if found is not None:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    log(f"building {name}: migrate")
    upgrade(_sa_url(url))
    t0 = time.perf_counter()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        load(conn, rows)
        conn.commit()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{stamp}'")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    log(f"built in {time.perf_counter() - t0:.0f} s")


def load(conn: Any, rows: int) -> None:
    ex = conn.execute
    log("users, queues")
    ex(
        """INSERT INTO users (email, name, role, active, language, timezone, created_at)
           SELECT 'agent' || g || '@bench.example', 'Agent ' || g, 'agent', true, 'en',
                  'Europe/Warsaw', now()
           FROM generate_series(1, %s) g""",
        (AGENTS,),
    )
    first_agent = ex("SELECT min(id) FROM users").fetchone()[0]
    ex(
        """INSERT INTO queues (name, channels, priority, timezone, sla_targets,
                                wrap_up_seconds, offer_timeout_seconds, active, created_at)
           SELECT 'Queue ' || g, '["voice", "email", "webform"]'::jsonb, 0, 'Europe/Warsaw',
                  '{"voice": {"seconds": 20, "percent": 80},
                    "email": {"seconds": 3600, "percent": 90}}'::jsonb, 60, 20, true, now()
           FROM generate_series(1, 5) g"""
    )
    first_queue = ex("SELECT min(id) FROM queues").fetchone()[0]
    log(f"{rows} interactions")
    ex(
        """INSERT INTO interactions (channel, direction, status, external_id, queue_id, agent_id,
                                     from_address, subject, created_at, updated_at)
           SELECT (ARRAY['voice', 'voice', 'email', 'webform'])[1 + g %% 4], 'inbound',
                  CASE WHEN g %% 5 < 3 THEN 'closed' WHEN g %% 5 = 3 THEN 'abandoned'
                       ELSE 'queued' END,
                  'bench-' || g, %(q)s + g %% 5,
                  CASE WHEN g %% 5 < 3 THEN %(a)s + (g * 7) %% %(n)s END,
                  '+48601' || lpad((g %% 1000000)::text, 6, '0'), 'Bench ' || g, ts, ts
           FROM (SELECT g, timestamptz '2026-01-01 00:00+00'
                        + (g::float8 / %(rows)s) * interval '365 days'
                        + ((g * 7919) %% 3600) * interval '1 second' AS ts
                 FROM generate_series(1::bigint, %(rows)s::bigint) g) s""",
        {"q": first_queue, "a": first_agent, "n": AGENTS, "rows": rows},
    )
    log("queue entries")
    ex(
        """INSERT INTO queue_entries (interaction_id, queue_id, channel, state, priority,
                enqueued_at, rank_at, agent_id, attempts, answered_at, wait_seconds,
                finished_at, abandoned_at, updated_at)
           SELECT id, queue_id, channel,
                  CASE status WHEN 'closed' THEN 'done' WHEN 'abandoned' THEN 'abandoned'
                              ELSE 'waiting' END,
                  0, created_at, created_at, agent_id, 1,
                  CASE WHEN agent_id IS NOT NULL
                       THEN created_at + (id %% 60) * interval '1 second' END,
                  CASE WHEN agent_id IS NOT NULL THEN id %% 60 END,
                  CASE WHEN agent_id IS NOT NULL
                       THEN created_at + (60 + id %% 60 + id %% 600) * interval '1 second' END,
                  CASE WHEN status = 'abandoned'
                       THEN created_at + (id %% 90) * interval '1 second' END,
                  created_at
           FROM interactions""",
        {},
    )
    log("SLA clocks")
    ex(
        """INSERT INTO sla_clocks (kind, interaction_id, queue_id, target_seconds,
                                   elapsed_seconds, started_at, stopped_at, breached_at)
           SELECT 'answer', e.interaction_id, e.queue_id, 20, coalesce(e.wait_seconds, 0),
                  e.enqueued_at, coalesce(e.answered_at, e.abandoned_at),
                  CASE WHEN coalesce(e.wait_seconds, 0) > 20
                         OR e.abandoned_at > e.enqueued_at + interval '20 seconds'
                       THEN e.enqueued_at + interval '20 seconds' END
           FROM queue_entries e WHERE e.channel = 'voice'"""
    )
    log("agent state history")
    ex(
        """INSERT INTO agent_state_changes (user_id, from_state, to_state, seconds_in_previous, at)
           SELECT %(a)s + u, st[1 + (k + u) %% 6], st[1 + (k + u + 1) %% 6], 1800,
                  timestamptz '2026-01-01 00:00+00' + k * interval '30 minutes'
                  + u * interval '7 seconds'
           FROM generate_series(0, %(n)s - 1) u,
                generate_series(1, 17520) k,
                (SELECT ARRAY['available', 'busy', 'wrap_up', 'available', 'break',
                              'offline'] AS st) s""",
        {"a": first_agent, "n": AGENTS},
    )


def measure(fn: Any, repeat: int) -> dict[str, float]:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return {"median_ms": round(statistics.median(times), 1), "best_ms": round(min(times), 1)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default=DEFAULT_URL)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--goal-ms", type=float, default=1000.0)
    p.add_argument("--rebuild", action="store_true")
    args = p.parse_args()
    try:
        ensure_database(args.url, args.rows, args.rebuild)
    except psycopg.Error as exc:
        print(json.dumps({"error": str(exc)}))
        return 2
    engine = make_engine(_sa_url(args.url))
    filters = parse_filters(
        {"from": "2026-06-01", "to": "2026-06-30", "unit": "day"},
        timezone="Europe/Warsaw",
        now=dt.datetime(2026, 12, 31, tzinfo=dt.UTC),
    )
    start, end = filters.period.start, filters.period.end
    results: dict[str, Any] = {}
    checks: dict[str, Any] = {}

    def report(kind: str) -> Any:
        def run() -> Any:
            with Session(engine) as session:
                result = get_kind(kind).run(session, filters)
                checks[kind] = result.totals
                return result

        return run

    def floor(table: str, column: str) -> Any:
        def run() -> Any:
            with engine.connect() as conn:
                n = conn.execute(
                    text(f"SELECT count(*) FROM {table} WHERE {column} >= :s AND {column} < :e"),
                    {"s": start, "e": end},
                ).scalar()
                checks[f"count_{table}"] = n
                return n

        return run

    results["contact_centre"] = measure(report("contact_centre"), args.repeat)
    results["floor_count_queue_entries"] = measure(
        floor("queue_entries", "enqueued_at"), args.repeat
    )
    results["agents"] = measure(report("agents"), args.repeat)
    results["floor_count_state_changes"] = measure(floor("agent_state_changes", "at"), args.repeat)
    ok = (
        results["contact_centre"]["median_ms"] < args.goal_ms
        and results["agents"]["median_ms"] < args.goal_ms
        and checks["contact_centre"]["contacts"] == checks["count_queue_entries"]
    )
    print(
        json.dumps(
            {
                "bench": "reports",
                "rows": args.rows,
                "month": "2026-06 Europe/Warsaw, by day",
                "goal_ms": args.goal_ms,
                "ok": ok,
                **results,
                "month_contacts": checks["contact_centre"]["contacts"],
                "month_state_changes": checks["count_agent_state_changes"],
                "agents_handled": checks["agents"]["handled"],
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
