"""Screen-pop benchmark: from an inbound call to the offer on the agent's Socket.IO client.

One command builds (or reuses) the 1,000,000-customer PostgreSQL database of
``bench/lookup.py`` (migrated to head), copies it, starts the real server process
(``bench/socket_harness.py serve-ours``: ``create_app`` + ``hub.serve.run_all_in_one``,
as ``switchboard serve``, Socket.IO in threading mode) and ``--agents`` agents who log in
(a few through the real ``/login`` form, the rest through Flask-Login's ``login_user`` on a
bench-only route), connect as python-socketio clients over the websocket transport in
``/console``, go available with ``set_state`` and serve one voice queue.

Calls arrive at a steady ``--rate`` from numbers of the loaded customers, either straight
into ``hub.intake.receive`` inside the server (``--via intake``, the default: a bench-only
``POST /_bench/call``) or as Twilio's signed ``POST /webhooks/twilio/voice``
(``--via webhook``). Measured per call, from just before the HTTP request to the ``offer``
event (which carries the customer card) arriving at the agent's client; the agent then
accepts (``screen_pop``), wraps up and finishes, and is available again.

The floor, in the same run and in alternating blocks: a bare Flask-SocketIO app in the same
async mode with the same number of idle websocket clients, each in its own room; an HTTP
``POST /emit`` emits an offer-sized payload to one client's room; from the POST to arrival.

Prints one JSON line; exits 1 when our p99 > ``--goal-ratio`` x the floor's p99 (or calls
were lost), 2 when the run could not be made. Usage::

    .venv/bin/python bench/screen_pop.py [--agents 500] [--rate 1] [--duration 30]
        [--blocks 2] [--via intake|webhook] [--real-logins 3] [--keep-db]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import socket_harness as h

DEFAULT_SOURCE = "postgresql://postgres@127.0.0.1:5432/switchboard_bench"
TARGET_DB = "switchboard_bench_rt_pop"
ACCOUNT = "AC" + "0" * 31 + "1"
TOKEN = "b" * 32
COMPANY = "+48223070009"


def pick_numbers(db_url: str, n: int, seed: int) -> list[str]:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT setseed(%s)", ((seed % 1000) / 1000.0,))
        rows = conn.execute(
            "SELECT DISTINCT value FROM (SELECT value FROM contact_points TABLESAMPLE "
            "SYSTEM (1) WHERE kind = 'phone') s LIMIT %s",
            (n,),
        ).fetchall()
    numbers = [r[0] for r in rows]
    random.Random(seed).shuffle(numbers)
    return numbers


class Run:
    def __init__(self, args: argparse.Namespace, agents: list[int], numbers: list[str]) -> None:
        self.args = args
        self.agents = agents
        self.numbers = iter(numbers)
        self.sent: dict[str, float] = {}
        self.http_ms: dict[str, float] = {}
        self.offer_at: dict[str, float] = {}
        self.pop_at: dict[str, float] = {}
        self.http_errors: list[str] = []
        self.agent_errors: list[str] = []
        self.offer_bytes: list[int] = []
        self.clients: dict[Any, Any] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.counting = False

    # ------------------------------------------------------------ client handlers

    def on_offer(self, key: Any, data: Any) -> None:
        now = time.perf_counter()
        number = (data or {}).get("from")
        if number is not None:
            self.offer_at.setdefault(number, now)
        if key[0] == "ours" and data:
            if len(self.offer_bytes) < 200:
                self.offer_bytes.append(len(json.dumps(data)))
            task = asyncio.get_running_loop().create_task(self.work(key, data))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def on_pop(self, key: Any, data: Any) -> None:
        number = ((data or {}).get("interaction") or {}).get("from")
        if number is not None:
            self.pop_at.setdefault(number, time.perf_counter())

    async def work(self, key: Any, offer: dict[str, Any]) -> None:
        """Accept, wrap up and finish: the agent comes back for the next call."""
        sio = self.clients[key]
        iid = offer["interaction_id"]
        try:
            for event, body in (
                ("accept", {"interaction_id": iid}),
                ("wrap_up", {"interaction_id": iid, "disposition": "resolved"}),
                ("finish_wrap_up", {"interaction_id": iid}),
            ):
                if event == "wrap_up" and self.args.talk_seconds:
                    await asyncio.sleep(self.args.talk_seconds)
                ack = await sio.call(event, body, namespace=h.NAMESPACE, timeout=60)
                if not (ack or {}).get("ok"):
                    self.agent_errors.append(f"{event}: {ack}")
                    return
        except Exception as exc:  # a benchmark reports, it does not stop
            self.agent_errors.append(f"{type(exc).__name__}: {exc}")

    # ------------------------------------------------------------ calls

    async def call_ours(self, http: Any, base: str, number: str, sid: str) -> None:
        if self.args.via == "webhook":
            from twilio.request_validator import RequestValidator

            url = base + "/webhooks/twilio/voice"
            params = {
                "AccountSid": ACCOUNT, "CallSid": sid, "From": number, "To": COMPANY,
                "CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01",
            }  # fmt: skip
            headers = {
                "X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, params),
                "Content-Type": "application/x-www-form-urlencoded",
            }
            return await self._post(http, url, number, data=urlencode(params), headers=headers)
        await self._post(http, base + "/_bench/call", number, json={"sid": sid, "from": number})

    async def call_floor(self, http: Any, base: str, number: str, i: int) -> None:
        data = {
            "from": number,
            "interaction_id": i,
            "card": {"pad": "x" * self.args.floor_payload_bytes},
        }
        body = {"event": "offer", "room": f"agent:{i % len(self.agents)}", "data": data}
        await self._post(http, base + "/emit", number, json=body)

    async def _post(self, http: Any, url: str, number: str, **kw: Any) -> None:
        t0 = time.perf_counter()
        if self.counting:
            self.sent[number] = t0
        try:
            async with http.post(url, timeout=60, **kw) as resp:
                await resp.read()
                if resp.status != 200:
                    self.http_errors.append(f"HTTP {resp.status}")
        except Exception as exc:
            self.http_errors.append(f"{type(exc).__name__}: {exc}")
        if self.counting:
            self.http_ms[number] = (time.perf_counter() - t0) * 1000

    async def phase(self, side: str, base: str, seconds: float, counting: bool) -> list[str]:
        """Calls at a steady rate for ``seconds``; returns the numbers used."""
        import aiohttp

        self.counting = counting
        used: list[str] = []
        n = max(1, round(seconds * self.args.rate))
        start = time.perf_counter()
        pending: set[asyncio.Task[Any]] = set()
        async with aiohttp.ClientSession() as http:
            for i in range(n):
                delay = start + i / self.args.rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                number = next(self.numbers)
                used.append(number)
                if side == "ours":
                    coro = self.call_ours(http, base, number, f"CA{uuid.uuid4().hex}")
                else:
                    coro = self.call_floor(http, base, number, i)
                task = asyncio.create_task(coro)
                pending.add(task)
                task.add_done_callback(pending.discard)
            if pending:
                await asyncio.wait(pending, timeout=120)
        # Let the last offers arrive and the agents finish (bounded).
        deadline = time.perf_counter() + self.args.drain_seconds
        while time.perf_counter() < deadline:
            if all(u in self.offer_at for u in used) and not self.tasks:
                break
            await asyncio.sleep(0.1)
        self.counting = False
        return used


async def drive(args: argparse.Namespace, setup: dict[str, Any], bases: dict[str, str]) -> dict:
    agents = setup["agents"]
    run = Run(args, agents, setup["numbers"])
    specs_ours = [
        {"key": ("ours", uid), "headers": {"Cookie": setup["cookies"][uid]}} for uid in agents
    ]
    specs_floor = [
        {"key": ("floor", i), "auth": {"rooms": [f"agent:{i}"]}} for i in range(len(agents))
    ]
    handlers = {"offer": run.on_offer, "screen_pop": run.on_pop}
    h.log(f"connecting {len(agents)} clients to the floor")
    floor_clients = await h.connect_all(bases["floor"], specs_floor, handlers)
    h.log(f"connecting {len(agents)} agents to ours")
    t0 = time.perf_counter()
    ours_clients = await h.connect_all(bases["ours"], specs_ours, handlers)
    connect_s = time.perf_counter() - t0
    for spec, c in zip(specs_ours, ours_clients, strict=True):
        run.clients[spec["key"]] = c
    h.log("agents go available")
    t0 = time.perf_counter()
    bad = []
    for start in range(0, len(ours_clients), 10):
        acks = await asyncio.gather(
            *(
                c.call("set_state", {"state": "available"}, namespace=h.NAMESPACE, timeout=120)
                for c in ours_clients[start : start + 10]
            )
        )
        bad += [a for a in acks if not (a or {}).get("ok")]
    available_s = time.perf_counter() - t0
    if bad:
        raise RuntimeError(f"{len(bad)} agents could not go available: {bad[:3]}")

    lag = h.LoopLag()
    h.log("warm-up")
    await run.phase("floor", bases["floor"], args.warmup_seconds, counting=False)
    await run.phase("ours", bases["ours"], args.warmup_seconds, counting=False)
    used: dict[str, list[str]] = {"ours": [], "floor": []}
    loads: list[list[float]] = []
    lag.start()
    for block in range(args.blocks):
        for side in ("floor", "ours") if block % 2 == 0 else ("ours", "floor"):
            h.log(f"block {block + 1}/{args.blocks}: {side}, {args.duration} s at {args.rate}/s")
            used[side] += await run.phase(side, bases[side], args.duration, counting=True)
            loads.append(h.loadavg())
    lag_stats = await lag.stop()
    await h.disconnect_all(ours_clients + floor_clients)

    def side_stats(side: str, arrived: dict[str, float]) -> dict[str, Any]:
        ms = [(arrived[u] - run.sent[u]) * 1000 for u in used[side] if u in arrived]
        out = h.stats(ms)
        out["sent"] = len(used[side])
        out["lost"] = sum(1 for u in used[side] if u not in arrived)
        out["http"] = h.stats([run.http_ms[u] for u in used[side] if u in run.http_ms])
        return out

    return {
        "ours": side_stats("ours", run.offer_at),
        "ours_screen_pop": side_stats("ours", run.pop_at),
        "floor": side_stats("floor", run.offer_at),
        "http_errors": len(run.http_errors),
        "http_error_examples": run.http_errors[:3],
        "agent_errors": len(run.agent_errors),
        "agent_error_examples": run.agent_errors[:3],
        "offer_bytes_mean": round(sum(run.offer_bytes) / len(run.offer_bytes))
        if run.offer_bytes
        else None,
        "client_loop_lag": lag_stats,
        "connect_seconds": round(connect_s, 1),
        "go_available_seconds": round(available_s, 1),
        "loadavg_per_phase": loads,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--url",
        default=os.environ.get("SWITCHBOARD_BENCH_URL", DEFAULT_SOURCE),
        help="the lookup benchmark's database (built if missing), copied for each run",
    )
    p.add_argument("--agents", type=int, default=500)
    p.add_argument("--rate", type=float, default=1.0, help="calls per second")
    p.add_argument("--duration", type=float, default=30.0, help="seconds per measured block")
    p.add_argument("--blocks", type=int, default=2, help="alternating floor/ours block pairs")
    p.add_argument("--warmup-seconds", type=float, default=5.0)
    p.add_argument("--drain-seconds", type=float, default=20.0)
    p.add_argument("--talk-seconds", type=float, default=0.0)
    p.add_argument("--via", choices=["intake", "webhook"], default="intake")
    p.add_argument("--real-logins", type=int, default=3, help="agents who use /login")
    p.add_argument("--floor-payload-bytes", type=int, default=2500)
    p.add_argument("--goal-ratio", type=float, default=1.5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--rebuild", action="store_true")
    p.add_argument("--keep-db", action="store_true", help="keep the copied database")
    args = p.parse_args(argv)
    if not (1 <= args.agents <= 2000 and 0.1 <= args.rate <= 100 and args.blocks >= 1):
        p.error("--agents 1..2000, --rate 0.1..100, --blocks >= 1")

    load_before = h.loadavg()
    started = time.monotonic()
    result: dict[str, Any] = {
        "bench": "screen_pop",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "goal": f"ours p99 <= {args.goal_ratio}x floor p99, no call lost",
        "agents": args.agents,
        "rate_per_s": args.rate,
        "via": args.via,
        "async_mode": "threading",
    }
    code = 2
    db_url = None
    try:
        db_url = h.prepare_database(args.url, TARGET_DB, rebuild=args.rebuild)
        var = tempfile.mkdtemp(prefix="sb-bench-pop-")
        app = h.bench_app(db_url, var)
        tag = uuid.uuid4().hex[:6]
        users = h.create_users(app, args.agents, 0, 1, tag)
        total_calls = int(args.rate * (args.duration * args.blocks + args.warmup_seconds) * 2) + 50
        numbers = pick_numbers(db_url, total_calls, args.seed)
        if len(numbers) < total_calls:
            raise RuntimeError(f"only {len(numbers)} numbers for {total_calls} calls")
        extra: dict[str, str] = {}
        if args.via == "webhook":
            menus = Path(var) / "menus.toml"
            menus.write_text(
                f'[numbers."{COMPANY}"]\ngreeting = "Hello."\ndefault_queue = "Bench {tag} 0"\n'
            )
            extra = {
                # Production refuses Twilio credentials with a plain-http public URL (the
                # signatures are checked against it); this server is on 127.0.0.1.
                "SWITCHBOARD_ENV": "test",
                "SWITCHBOARD_TWILIO_ACCOUNT_SID": ACCOUNT,
                "SWITCHBOARD_TWILIO_AUTH_TOKEN": TOKEN,
                "SWITCHBOARD_TWILIO_MENUS_FILE": str(menus),
            }
        port_ours, port_floor = h.free_port(), None
        with h.server("serve-ours", port_ours, {
            **h.ours_env(db_url, var, extra),
            "SWITCHBOARD_PUBLIC_BASE_URL": f"http://127.0.0.1:{port_ours}",
        }) as ours:  # fmt: skip
            while port_floor is None or port_floor == port_ours:
                port_floor = h.free_port() + 1
            with h.server("serve-floor", port_floor) as floor:
                cookies: dict[int, str] = {}
                for uid in users["agents"][: args.real_logins]:
                    cookies[uid] = h.real_login_cookie(ours, users["emails"][uid])
                for uid in users["agents"][args.real_logins :]:
                    cookies[uid] = h.cookie_for(ours, uid)
                setup = {"agents": users["agents"], "cookies": cookies, "numbers": numbers}
                result.update(asyncio.run(drive(args, setup, {"ours": ours, "floor": floor})))
        op99, fp99 = result["ours"]["p99_ms"], result["floor"]["p99_ms"]
        ratio = round(op99 / fp99, 2) if op99 and fp99 else None
        result["ratio_p99"] = ratio
        result["ratio_p50"] = (
            round(result["ours"]["p50_ms"] / result["floor"]["p50_ms"], 2) if ratio else None
        )
        ok = (
            ratio is not None
            and ratio <= args.goal_ratio
            and result["ours"]["lost"] == 0
            and result["floor"]["lost"] == 0
        )
        result["goal_met"] = ok
        code = 0 if ok else 1
    except Exception as exc:  # still print the line
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["goal_met"] = False
    finally:
        h.finish(
            result,
            url=args.url,
            target_db=TARGET_DB,
            drop=db_url is not None and not args.keep_db,
            started=started,
            load_before=load_before,
        )
    return code


if __name__ == "__main__":
    sys.exit(main())
