"""Inbound-call benchmark: from Twilio's signed webhook to the agent's screen pop.

Starts the real app (voice channel on, Twilio credentials set, PostgreSQL) on a local
socket and acts as Twilio: ``--concurrency`` calls arrive at once, each a signed
``POST /webhooks/twilio/voice`` from a known customer's number to a company number without
an IVR, so the call goes straight to the queue. Agents are available, so the router offers
the call (the screen pop) after intake commits.

Measured per call:

* ``webhook``: from sending the request to having Twilio's TwiML answer (what Twilio waits
  for; its limit is 15 s, our goal is p99 < 200 ms);
* ``pop``: from sending the request to the ``interaction.offered`` event (the offer and the
  customer's card leaving for the agent's browser).

Prints one JSON line; exits 1 when the goal (webhook p99 < 200 ms) is missed. Usage::

    .venv/bin/python bench/voice_webhook.py [--url postgresql://postgres@127.0.0.1:5432/switchboard_bench_voice]
        [--concurrency 50] [--rounds 6] [--customers 2000]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from crm_core.events import DomainEvent  # noqa: E402
from crm_core.models import Interaction  # noqa: E402
from hub import events  # noqa: E402
from hub.app import create_app  # noqa: E402
from hub.db import db  # noqa: E402
from hub.migrate import upgrade  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/switchboard_bench_voice"
ACCOUNT = "AC" + "0" * 31 + "1"
TOKEN = "b" * 32
COMPANY = "+48223070009"
GOAL_P99_MS = 200.0
MENUS = f"""
[numbers."{COMPANY}"]
greeting = "Hello."
default_queue = "General"
"""


def _fresh_database(url: str) -> None:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    upgrade(url)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument(
        "--agents", type=int, default=None, help="available agents (default: one per call)"
    )
    parser.add_argument(
        "--routing",
        choices=["background", "inline"],
        default="background",
        help="routing pass on the server's router thread (as switchboard serve) or inline",
    )
    args = parser.parse_args()

    _fresh_database(args.url)
    var = Path(tempfile.mkdtemp(prefix="sb-bench-voice-"))
    menus = var / "menus.toml"
    menus.write_text(MENUS)
    holder: dict[str, Any] = {}
    server = make_server("127.0.0.1", 0, lambda e, s: holder["app"](e, s), threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app = create_app(
        {
            "database_url": args.url,
            "var_dir": str(var),
            "env": "test",
            "secret_key": "s" * 64,
            "log_level": "WARNING",
            "db_pool_size": 20,
            "twilio_account_sid": ACCOUNT,
            "twilio_auth_token": TOKEN,
            "twilio_menus_file": str(menus),
            "public_base_url": base,
        }
    )
    holder["app"] = app
    if args.routing == "background":
        try:  # as `switchboard serve` does (hub.serve.run_all_in_one)
            from hub.routing import route_in_background

            route_in_background(app)
        except ImportError:  # a tree from before the background router
            pass
    threading.Thread(target=server.serve_forever, daemon=True).start()

    from crm_core.services.customers import do_create_customer
    from crm_core.services.users import do_create_user
    from hub.agents import do_set_agent_state
    from hub.routing import do_add_queue_member, do_create_queue

    numbers = [f"+48601{n:06d}" for n in range(args.customers)]
    agents = []
    with app.app_context(), db.transaction() as session:
        for i, number in enumerate(numbers):
            do_create_customer(
                session,
                fields={"kind": "person", "first_name": "Bench", "last_name": f"Caller {i}"},
                contact_points=[{"kind": "phone", "value": number}],
            )
        queue = do_create_queue(session, name="General", channels=["voice"])
        n_agents = args.concurrency * args.rounds if args.agents is None else args.agents
        for i in range(n_agents):
            agent = do_create_user(
                session,
                email=f"benchagent{i}@example.com",
                name=f"Agent {i}",
                password="bench password 1",
                role="agent",
                teams=[],
            )
            do_add_queue_member(session, queue, agent)
            agents.append(agent)
    with app.app_context(), db.transaction() as session:
        for agent in agents:
            do_set_agent_state(session, agent, "available", actor=agent)

    offered: dict[int, float] = {}

    def on_offer(evt: DomainEvent) -> None:
        offered.setdefault(int(evt.data["interaction_id"]), time.perf_counter())

    receiver = events.subscribe(events.INTERACTION_OFFERED, on_offer)
    validator = RequestValidator(TOKEN)
    url = base + "/webhooks/twilio/voice"
    sent: dict[str, float] = {}
    webhook_ms: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    call_no = iter(range(10**9))

    def one_call(barrier: threading.Barrier) -> None:
        n = next(call_no)
        sid = f"CA{n:032x}"
        params = {
            "AccountSid": ACCOUNT,
            "CallSid": sid,
            "From": numbers[n % len(numbers)],
            "To": COMPANY,
            "CallStatus": "ringing",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }
        req = urllib.request.Request(
            url,
            data=urlencode(params).encode(),
            headers={
                "X-Twilio-Signature": validator.compute_signature(url, params),
                "Content-Type": "application/x-www-form-urlencoded",
            },
            method="POST",
        )
        barrier.wait()
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:
                resp.read()
                ok = resp.status == 200
        except Exception as exc:  # a benchmark reports, it does not stop
            ok = False
            failures.append(f"{sid}: {exc}")
        elapsed = (time.perf_counter() - start) * 1000
        with lock:
            sent[sid] = start
            if ok:
                webhook_ms.append(elapsed)

    for _ in range(args.rounds):
        barrier = threading.Barrier(args.concurrency)
        threads = [
            threading.Thread(target=one_call, args=(barrier,)) for _ in range(args.concurrency)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    time.sleep(1.0)  # let the last routing passes publish
    try:
        from hub.routing import wait_idle

        wait_idle(60)
    except ImportError:
        pass
    events.unsubscribe(receiver)

    pop_ms: list[float] = []
    with app.app_context(), db.transaction() as session:
        rows = session.execute(
            select(Interaction.id, Interaction.external_id).where(Interaction.channel == "voice")
        ).all()
        identified = session.scalar(
            select(text("count(*)"))
            .select_from(Interaction)
            .where(Interaction.customer_id.is_not(None))
        )
    for interaction_id, sid in rows:
        if interaction_id in offered and sid in sent:
            pop_ms.append((offered[interaction_id] - sent[sid]) * 1000)
    server.shutdown()

    result = {
        "benchmark": "voice_webhook",
        "calls": args.concurrency * args.rounds,
        "concurrency": args.concurrency,
        "answered": len(webhook_ms),
        "failures": len(failures),
        "identified": int(identified or 0),
        "agents": len(agents),
        "offered": len(pop_ms),
        "webhook_ms": {
            "p50": round(statistics.median(webhook_ms), 1) if webhook_ms else None,
            "p99": round(_pct(webhook_ms, 99), 1) if webhook_ms else None,
            "max": round(max(webhook_ms), 1) if webhook_ms else None,
        },
        "pop_ms": {
            "p50": round(statistics.median(pop_ms), 1) if pop_ms else None,
            "p99": round(_pct(pop_ms, 99), 1) if pop_ms else None,
        },
        "goal_webhook_p99_ms": GOAL_P99_MS,
        "database": "postgresql",
        "python": platform.python_version(),
        "cpus": __import__("os").cpu_count(),
    }
    print(json.dumps(result))
    if failures:
        print("\n".join(failures[:5]), file=sys.stderr)
    ok = bool(webhook_ms) and not failures and _pct(webhook_ms, 99) < GOAL_P99_MS
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
