"""Wallboard benchmark: from an agent's state change to every supervisor's client.

Starts the real server process on a copy of the 1,000,000-customer database of
``bench/lookup.py`` (see ``bench/socket_harness.py``), ``--agents`` agents (default 1,000,
spread over ``--queues`` voice queues) and ``--supervisors`` supervisors, all logged in and
connected as python-socketio clients over the websocket transport in ``/console``. At a
steady ``--rate``, one agent after another sends ``set_state`` from their own socket
(offline -> available -> break -> available ...: ``do_set_agent_state`` through the
console's handler). Measured per change: from just before the agent's client emits
``set_state`` to the ``agent_state`` event for that agent and state arriving at each
supervisor's client; ``all_supervisors`` is the time until the last of them has it.

The floor, in the same run and in alternating blocks: a bare Flask-SocketIO app in the same
async mode with the same clients (agents each in their own room, supervisors in
``supervisors``); its ``set_state`` handler emits an ``agent_state`` of the same size to
``supervisors``.

Prints one JSON line; exits 1 when our ``all_supervisors`` p99 is not under ``--goal-ms``
(default 250) or a change was lost, 2 when the run could not be made. Usage::

    .venv/bin/python bench/wallboard.py [--agents 1000] [--supervisors 5] [--rate 5]
        [--duration 30] [--blocks 2] [--queues 10] [--keep-db]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

import socket_harness as h

DEFAULT_SOURCE = "postgresql://postgres@127.0.0.1:5432/switchboard_bench"
TARGET_DB = "switchboard_bench_rt_wall"


class Run:
    def __init__(self, args: argparse.Namespace, n_supervisors: int) -> None:
        self.args = args
        self.n_sup = n_supervisors
        # agent key -> (change id, target state, t0)
        self.pending: dict[Any, tuple[int, str, float]] = {}
        self.sent: dict[int, float] = {}
        self.arrivals: dict[int, dict[Any, float]] = {}
        self.side_of: dict[int, str] = {}
        self.state: dict[Any, str] = {}
        self.ack_errors: list[str] = []
        self.tasks: set[asyncio.Task[Any]] = set()
        self.ids = iter(range(10**9))
        self.payload_bytes: list[int] = []

    def on_agent_state(self, key: Any, data: Any) -> None:
        now = time.perf_counter()
        if not key[1].startswith("sup") or not data:
            return
        agent = (key[0], data.get("agent_id"))
        want = self.pending.get(agent)
        if want is None or data.get("state") != want[1]:
            return
        if key[0] == "ours" and len(self.payload_bytes) < 200:
            self.payload_bytes.append(len(json.dumps(data)))
        self.arrivals.setdefault(want[0], {}).setdefault(key, now)

    async def change(self, side: str, sio: Any, agent_id: int, counting: bool) -> None:
        current = self.state.get((side, agent_id), "offline")
        target = "break" if current == "available" else "available"
        body: dict[str, Any] = {"state": target}
        if target == "break":
            body["pause_code"] = random.choice(("coffee", "lunch", "training"))
        if side == "floor":
            body = {
                "payload": {
                    "agent_id": agent_id, "state": target, "pause_code": body.get("pause_code"),
                    "name": f"Agent {agent_id}", "pad": "x" * self.args.floor_payload_bytes,
                }
            }  # fmt: skip
        cid = next(self.ids)
        t0 = time.perf_counter()
        self.pending[(side, agent_id)] = (cid, target, t0)
        if counting:
            self.sent[cid] = t0
            self.side_of[cid] = side
        self.state[(side, agent_id)] = target
        try:
            ack = await sio.call("set_state", body, namespace=h.NAMESPACE, timeout=60)
            if not (ack or {}).get("ok"):
                self.ack_errors.append(str(ack)[:200])
        except Exception as exc:  # a benchmark reports, it does not stop
            self.ack_errors.append(f"{type(exc).__name__}: {exc}")

    async def phase(
        self, side: str, agents: list[tuple[int, Any]], seconds: float, counting: bool
    ) -> None:
        n = max(1, round(seconds * self.args.rate))
        start = time.perf_counter()
        for i in range(n):
            delay = start + i / self.args.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            agent_id, sio = agents[self.cursor[side] % len(agents)]
            self.cursor[side] += 1
            task = asyncio.create_task(self.change(side, sio, agent_id, counting))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        deadline = time.perf_counter() + self.args.drain_seconds
        while time.perf_counter() < deadline:
            done = all(
                len(self.arrivals.get(c, {})) >= self.n_sup
                for c, s in self.side_of.items()
                if s == side
            )
            if done and not self.tasks:
                break
            await asyncio.sleep(0.1)

    cursor: dict[str, int]


async def drive(args: argparse.Namespace, setup: dict[str, Any], bases: dict[str, str]) -> dict:
    agents, sups = setup["agents"], setup["supervisors"]
    run = Run(args, len(sups))
    run.cursor = {"ours": 0, "floor": 0}
    handlers = {"agent_state": run.on_agent_state}
    specs_ours = [
        {"key": ("ours", f"agent{uid}"), "headers": {"Cookie": setup["cookies"][uid]}}
        for uid in agents
    ] + [{"key": ("ours", f"sup{uid}"), "headers": {"Cookie": setup["cookies"][uid]}}
         for uid in sups]  # fmt: skip
    specs_floor = [
        {"key": ("floor", f"agent{i}"), "auth": {"rooms": [f"agent:{i}"]}} for i in agents
    ] + [{"key": ("floor", f"sup{i}"), "auth": {"rooms": ["supervisors"]}} for i in sups]
    h.log(f"connecting {len(specs_floor)} clients to the floor")
    floor_clients = await h.connect_all(bases["floor"], specs_floor, handlers)
    h.log(f"connecting {len(specs_ours)} clients to ours")
    t0 = time.perf_counter()
    ours_clients = await h.connect_all(bases["ours"], specs_ours, handlers)
    connect_s = time.perf_counter() - t0
    order = list(range(len(agents)))
    random.Random(args.seed).shuffle(order)
    by_side = {
        "ours": [(agents[i], ours_clients[i]) for i in order],
        "floor": [(agents[i], floor_clients[i]) for i in order],
    }
    lag = h.LoopLag()
    h.log("warm-up")
    for side in ("floor", "ours"):
        await run.phase(side, by_side[side], args.warmup_seconds, counting=False)
    loads: list[list[float]] = []
    lag.start()
    for block in range(args.blocks):
        for side in ("floor", "ours") if block % 2 == 0 else ("ours", "floor"):
            h.log(f"block {block + 1}/{args.blocks}: {side}, {args.duration} s at {args.rate}/s")
            await run.phase(side, by_side[side], args.duration, counting=True)
            loads.append(h.loadavg())
    lag_stats = await lag.stop()
    await h.disconnect_all(ours_clients + floor_clients)

    def side_stats(side: str) -> dict[str, Any]:
        ids = [c for c, s in run.side_of.items() if s == side]
        each: list[float] = []
        last: list[float] = []
        lost = 0
        for c in ids:
            got = run.arrivals.get(c, {})
            each += [(t - run.sent[c]) * 1000 for t in got.values()]
            if len(got) >= len(sups):
                last.append((max(got.values()) - run.sent[c]) * 1000)
            else:
                lost += 1
        return {
            "changes": len(ids),
            "lost": lost,
            "all_supervisors": h.stats(last),
            "each_delivery": h.stats(each),
        }

    return {
        "ours": side_stats("ours"),
        "floor": side_stats("floor"),
        "ack_errors": len(run.ack_errors),
        "ack_error_examples": run.ack_errors[:3],
        "agent_state_bytes_mean": round(sum(run.payload_bytes) / len(run.payload_bytes))
        if run.payload_bytes
        else None,
        "client_loop_lag": lag_stats,
        "connect_seconds": round(connect_s, 1),
        "loadavg_per_phase": loads,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--url",
        default=os.environ.get("SWITCHBOARD_BENCH_URL", DEFAULT_SOURCE),
        help="the lookup benchmark's database (built if missing), copied for each run",
    )
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--supervisors", type=int, default=5)
    p.add_argument("--queues", type=int, default=10)
    p.add_argument("--rate", type=float, default=5.0, help="state changes per second")
    p.add_argument("--duration", type=float, default=30.0, help="seconds per measured block")
    p.add_argument("--blocks", type=int, default=2, help="alternating floor/ours block pairs")
    p.add_argument("--warmup-seconds", type=float, default=5.0)
    p.add_argument("--drain-seconds", type=float, default=20.0)
    p.add_argument("--real-logins", type=int, default=2, help="users who use /login")
    p.add_argument("--floor-payload-bytes", type=int, default=150)
    p.add_argument("--goal-ms", type=float, default=250.0)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--rebuild", action="store_true")
    p.add_argument("--keep-db", action="store_true", help="keep the copied database")
    args = p.parse_args(argv)
    if not (1 <= args.agents <= 3000 and 1 <= args.supervisors <= 50 and args.blocks >= 1):
        p.error("--agents 1..3000, --supervisors 1..50, --blocks >= 1")
    if not (0.1 <= args.rate <= 200 and 1 <= args.queues <= args.agents):
        p.error("--rate 0.1..200, --queues 1..agents")

    load_before = h.loadavg()
    started = time.monotonic()
    result: dict[str, Any] = {
        "bench": "wallboard",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "goal": f"ours all_supervisors p99 < {args.goal_ms} ms, no change lost",
        "agents": args.agents,
        "supervisors": args.supervisors,
        "queues": args.queues,
        "rate_per_s": args.rate,
        "async_mode": "threading",
    }
    code = 2
    db_url = None
    try:
        db_url = h.prepare_database(args.url, TARGET_DB, rebuild=args.rebuild)
        var = tempfile.mkdtemp(prefix="sb-bench-wall-")
        app = h.bench_app(db_url, var)
        users = h.create_users(
            app, args.agents, args.supervisors, args.queues, uuid.uuid4().hex[:6]
        )
        port_ours = h.free_port()
        with h.server("serve-ours", port_ours, h.ours_env(db_url, var)) as ours:
            port_floor = h.free_port() + 1
            with h.server("serve-floor", port_floor) as floor:
                everyone = users["supervisors"] + users["agents"]
                cookies: dict[int, str] = {}
                for uid in everyone[: args.real_logins]:
                    cookies[uid] = h.real_login_cookie(ours, users["emails"][uid])
                for uid in everyone[args.real_logins :]:
                    cookies[uid] = h.cookie_for(ours, uid)
                setup = {
                    "agents": users["agents"],
                    "supervisors": users["supervisors"],
                    "cookies": cookies,
                }
                result.update(asyncio.run(drive(args, setup, {"ours": ours, "floor": floor})))
        o, f = result["ours"]["all_supervisors"], result["floor"]["all_supervisors"]
        result["ratio_p99"] = (
            round(o["p99_ms"] / f["p99_ms"], 2) if o["count"] and f["count"] else None
        )
        ok = (
            o["count"] > 0
            and o["p99_ms"] < args.goal_ms
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
