"""Shared parts of the real-time benchmarks (``screen_pop.py``, ``wallboard.py``).

* the database: a copy (``CREATE DATABASE ... TEMPLATE``) of the 1,000,000-customer
  database that ``bench/lookup.py`` builds and migrates to head, so that every run starts
  from the same data and leaves the lookup benchmark's database untouched;
* two server processes, started from this file:

  - ``serve-ours``: the real app (``create_app`` from ``SWITCHBOARD_*`` variables) served
    by ``hub.serve.run_all_in_one`` as ``switchboard serve`` does (Socket.IO in threading
    mode, the periodic tick), plus a bench-only blueprint: ``GET /_bench/login/<id>``
    (Flask-Login's ``login_user``, the same session cookie as ``/login`` without 0.2 s of
    argon2 per agent) and ``POST /_bench/call`` (an inbound call through
    ``hub.intake.receive``, inside the server, as a channel adapter calls it);
  - ``serve-floor``: a bare Flask-SocketIO app in the same async mode: clients join the
    room named in their auth; ``POST /emit`` emits to one room, the ``set_state`` event
    emits to ``supervisors``;

* asyncio python-socketio clients over the websocket transport, percentile helpers, the
  load average and the versions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
for p in (str(ROOT), str(BENCH)):
    if p not in sys.path:
        sys.path.insert(0, p)

SECRET = "bench-secret-" + "k" * 51
PASSWORD = "bench password 1"
NAMESPACE = "/console"
# Flask-Login's "strong" session protection ties the session to the User-Agent (and the
# address): the logins and the sockets must present the same one.
USER_AGENT = "switchboard-bench/1"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def free_port() -> int:
    """A free TCP port below the ephemeral range (32768+)."""
    start = 21000 + (os.getpid() * 7) % 9000
    for port in range(start, start + 2000, 3):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below 32768")


# ------------------------------------------------------------------------ database


def prepare_database(source_url: str, target: str, *, rebuild: bool = False) -> str:
    """Build/migrate ``source_url`` as ``bench/lookup.py`` does, then copy it to ``target``.

    Returns the SQLAlchemy URL of the copy.
    """
    import lookup  # bench/lookup.py
    import psycopg
    from sqlalchemy.engine import make_url

    args = argparse.Namespace(customers=1_000_000, phones_per_customer=1.5, seed=42)
    want = lookup.wanted_build(args, source_url)
    have = lookup.existing_build(source_url)
    same = have is not None and all(
        have.get(k) == v for k, v in want.items() if k != "alembic_head"
    )
    if rebuild or not same:
        lookup.build(source_url, want)
    elif have is not None and have.get("alembic_head") != want["alembic_head"]:
        log(f"migrating {make_url(source_url).database} to head {want['alembic_head']}")
        lookup.upgrade(lookup.sqlalchemy_url(source_url))
        lookup.record_build(source_url, want, lookup.build_stats(source_url))
    source = make_url(source_url).database
    t0 = time.monotonic()
    with psycopg.connect(lookup.libpq_url(source_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        for attempt in range(20):  # the template must have no other sessions
            try:
                conn.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 19:
                    raise
                log(f"{source} is in use; retrying the copy in 3 s")
                time.sleep(3)
    log(f"copied {source} to {target} in {time.monotonic() - t0:.1f} s")
    return lookup.sqlalchemy_url(lookup.libpq_url(source_url, target))


def drop_database(source_url: str, target: str) -> None:
    import lookup
    import psycopg

    with psycopg.connect(lookup.libpq_url(source_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')


def bench_app(database_url: str, var_dir: str) -> Any:
    """The app in this (the driving) process: for creating users and queues only."""
    from hub.app import create_app

    return create_app(
        {
            "database_url": database_url,
            "var_dir": var_dir,
            "env": "test",
            "secret_key": SECRET,
            "log_level": "WARNING",
            "smtpd_in_process": False,
        }
    )


def create_users(app: Any, n_agents: int, n_supervisors: int, n_queues: int, tag: str) -> dict:
    """Agents spread over ``n_queues`` voice queues, supervisors; all share one argon2
    hash (as the demo does) so that a few can also log in through ``/login``."""
    from crm_core.services.users import do_create_user, hash_password
    from hub.db import db
    from hub.routing import do_add_queue_member, do_create_queue

    shared = hash_password(PASSWORD)
    out: dict[str, Any] = {"agents": [], "supervisors": [], "queues": [], "emails": {}}
    with app.app_context(), db.transaction() as session:
        queues = [
            do_create_queue(session, name=f"Bench {tag} {q}", channels=["voice"])
            for q in range(n_queues)
        ]
        for i in range(n_agents):
            email = f"agent{i}.{tag}@bench.example.com"
            user = do_create_user(
                session, email=email, name=f"Agent {i}", password=None, role="agent"
            )
            user.password_hash = shared
            do_add_queue_member(session, queues[i % n_queues], user)
            out["agents"].append(user.id)
            out["emails"][user.id] = email
        for i in range(n_supervisors):
            email = f"super{i}.{tag}@bench.example.com"
            user = do_create_user(
                session, email=email, name=f"Supervisor {i}", password=None, role="supervisor"
            )
            user.password_hash = shared
            out["supervisors"].append(user.id)
            out["emails"][user.id] = email
        session.flush()
        out["queues"] = [q.id for q in queues]
    return out


# ------------------------------------------------------------------------ servers


def _serve_ours(port: int) -> None:
    from flask import Blueprint, abort, jsonify, request
    from flask_login import login_user

    from crm_core.models import User
    from hub.app import create_app
    from hub.db import db
    from hub.intake import InboundEvent, receive
    from hub.serve import run_all_in_one

    app = create_app()
    bp = Blueprint("bench", __name__, url_prefix="/_bench")

    @bp.get("/login/<int:user_id>")
    def bench_login(user_id: int) -> Any:
        user = db.session.get(User, user_id)
        if user is None:
            abort(404)
        login_user(user)
        return "", 204

    @bp.post("/call")
    def bench_call() -> Any:
        body = request.get_json(force=True)
        interaction = receive(
            InboundEvent(
                channel="voice",
                external_id=body["sid"],
                from_address=body["from"],
                to_address=body.get("to", "+48223070009"),
            )
        )
        return jsonify({"interaction_id": interaction.id})

    app.extensions["csrf"].exempt(bp)
    app.register_blueprint(bp)
    run_all_in_one(app, host="127.0.0.1", port=port, setup=False)


def _serve_floor(port: int, async_mode: str) -> None:
    from flask import Flask, request
    from flask_socketio import SocketIO, emit, join_room

    app = Flask("floor")
    app.secret_key = SECRET
    sio = SocketIO(app, async_mode=async_mode, logger=False, engineio_logger=False)

    @sio.on("connect", namespace=NAMESPACE)
    def connect(auth: Any = None) -> None:
        for room in (auth or {}).get("rooms", []):
            join_room(room)

    @sio.on("set_state", namespace=NAMESPACE)
    def set_state(data: Any) -> dict[str, Any]:
        payload = {**data.get("payload", {}), "room": "supervisors", "seq": 0}
        sio.emit("agent_state", payload, to="supervisors", namespace=NAMESPACE)
        emit("agent_state", payload)
        return {"ok": True}

    @app.post("/emit")
    def emit_route() -> Any:
        body = request.get_json(force=True)
        sio.emit(body["event"], body["data"], to=body["room"], namespace=NAMESPACE)
        return {"ok": True}

    @app.get("/healthz")
    def healthz() -> Any:
        return {"ok": True}

    os.environ.pop("FLASK_RUN_FROM_CLI", None)
    sio.run(app, host="127.0.0.1", port=port, use_reloader=False, log_output=False,
            allow_unsafe_werkzeug=True)  # fmt: skip


@contextlib.contextmanager
def server(kind: str, port: int, env: dict[str, str] | None = None) -> Iterator[str]:
    """Start ``serve-ours`` or ``serve-floor`` on ``port``; yield its base URL; stop it."""
    import requests

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    full_env.update(env or {})
    logf = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below
        prefix=f"sb-bench-{kind}-", suffix=".log", delete=False
    )
    proc = subprocess.Popen(
        [sys.executable, __file__, kind, "--port", str(port)],
        env=full_env,
        stdout=logf,
        stderr=subprocess.STDOUT,
        cwd=str(ROOT),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{kind} exited with {proc.returncode}; see {logf.name}")
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kind} did not answer /healthz in 120 s; see {logf.name}")
            time.sleep(0.3)
        log(f"{kind} (pid {proc.pid}) up at {base}; log {logf.name}")
        yield base
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)
        logf.close()
        text = Path(logf.name).read_text(errors="replace")
        if "Traceback" in text:
            log(f"{kind} log has tracebacks; the last part:\n{text[-3000:]}")


def ours_env(database_url: str, var_dir: str, extra: dict[str, str] | None = None) -> dict:
    env = {
        "SWITCHBOARD_DATABASE_URL": database_url,
        "SWITCHBOARD_VAR_DIR": var_dir,
        "SWITCHBOARD_SECRET_KEY": SECRET,
        "SWITCHBOARD_ENV": "production",
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
        "SWITCHBOARD_SMTPD_IN_PROCESS": "false",
        "SWITCHBOARD_DB_POOL_SIZE": "20",
    }
    env.update(extra or {})
    return env


# ------------------------------------------------------------------------ logins


def cookie_for(base: str, user_id: int) -> str:
    import requests

    with requests.Session() as http:
        http.headers["User-Agent"] = USER_AGENT
        r = http.get(f"{base}/_bench/login/{user_id}", timeout=30)
        r.raise_for_status()
        return "; ".join(f"{k}={v}" for k, v in http.cookies.items())


def real_login_cookie(base: str, email: str) -> str:
    """Through the login form, as a browser: CSRF token, argon2 check, session cookie."""
    import requests

    with requests.Session() as http:
        http.headers["User-Agent"] = USER_AGENT
        form = http.get(f"{base}/login", timeout=30).text
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form)
        data = {"email": email, "password": PASSWORD}
        if token:
            data["csrf_token"] = token.group(1)
        r = http.post(f"{base}/login", data=data, timeout=30, allow_redirects=False)
        if r.status_code not in (302, 303):
            raise RuntimeError(f"/login answered {r.status_code} for {email}")
        return "; ".join(f"{k}={v}" for k, v in http.cookies.items())


# ------------------------------------------------------------------------ clients


async def connect_all(
    base: str,
    specs: list[dict[str, Any]],
    on: dict[str, Any],
    *,
    batch: int = 10,
    timeout: float = 60,
) -> list[Any]:
    """Connect one AsyncClient per spec (``headers``, ``auth``, ``key``) over websocket.

    ``on`` maps event names to ``handler(key, data)``. Returns the clients in order.
    """
    import logging

    import aiohttp
    import socketio

    # engineio logs every socket the server closed ("packet queue is empty") as an error.
    logging.getLogger("engineio.client").setLevel(logging.CRITICAL)
    clients: list[Any] = []

    def make(spec: dict[str, Any]) -> Any:
        # aiohttp's default cookie jar drops cookies of IP-address hosts (127.0.0.1): the
        # session cookie would never reach the server.
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        sio = socketio.AsyncClient(reconnection=False, request_timeout=timeout, http_session=http)
        sio.bench_http = http
        for event, handler in on.items():

            def bound(data: Any = None, _h: Any = handler, _k: Any = spec["key"]) -> Any:
                return _h(_k, data)

            sio.on(event, bound, namespace=NAMESPACE)
        return sio

    for start in range(0, len(specs), batch):
        chunk = specs[start : start + batch]
        made = [make(s) for s in chunk]
        await asyncio.gather(
            *(
                c.connect(
                    base,
                    headers={"User-Agent": USER_AGENT, **s.get("headers", {})},
                    auth=s.get("auth"),
                    transports=["websocket"],
                    namespaces=[NAMESPACE],
                    wait_timeout=timeout,
                )
                for c, s in zip(made, chunk, strict=True)
            )
        )
        clients.extend(made)
        if (start // batch) % 10 == 0:
            log(f"  connected {len(clients)}/{len(specs)}")
    return clients


async def disconnect_all(clients: list[Any]) -> None:
    for start in range(0, len(clients), 50):
        await asyncio.gather(
            *(c.disconnect() for c in clients[start : start + 50]), return_exceptions=True
        )
    for c in clients:
        await c.bench_http.close()


class LoopLag:
    """How late this process's event loop runs a 10 ms timer: the clients' own delay."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(0.01)
            self.samples.append((time.perf_counter() - t0 - 0.01) * 1000)

    def start(self) -> None:
        self.samples.clear()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> dict[str, float | None]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return stats(self.samples)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "count": len(values),
        "p50_ms": round(pct(values, 50), 1),
        "p90_ms": round(pct(values, 90), 1),
        "p99_ms": round(pct(values, 99), 1),
        "max_ms": round(max(values), 1),
        "mean_ms": round(sum(values) / len(values), 1),
    }


def versions() -> dict[str, str]:
    from importlib.metadata import version

    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    return {
        "python": platform.python_version(),
        **{
            name: version(name)
            for name in (
                "flask",
                "flask-socketio",
                "python-socketio",
                "python-engineio",
                "simple-websocket",
                "aiohttp",
                "sqlalchemy",
                "psycopg",
            )
        },
        "git": commit,
    }


def machine(load_before: list[float]) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
    }


def _main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["serve-ours", "serve-floor"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--async-mode", default="threading")
    a = p.parse_args()
    if a.kind == "serve-ours":
        _serve_ours(a.port)
    else:
        _serve_floor(a.port, a.async_mode)


if __name__ == "__main__":
    _main()


def finish(
    result: dict[str, Any],
    *,
    url: str,
    target_db: str,
    drop: bool,
    started: float,
    load_before: list[float],
) -> None:
    """Drop the run's database copy (unless kept) and print the one JSON line."""
    if drop:
        try:
            drop_database(url, target_db)
        except Exception as exc:
            log(f"could not drop {target_db}: {exc}")
    result["seconds"] = round(time.monotonic() - started, 1)
    result["machine"] = machine(load_before)
    result["versions"] = versions()
    print(json.dumps(result, ensure_ascii=False), flush=True)
