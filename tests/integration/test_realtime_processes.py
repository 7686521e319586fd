"""Real processes: a Celery worker (own process, Redis broker, ``--pool=solo``) runs a task
that emits through the Socket.IO message queue (Redis); the event reaches a python-socketio
client connected to a separate ``switchboard serve`` process. Also: that server answers a
websocket upgrade (engine.io over websocket), so browsers get websockets.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
from celery import Celery

from hub.routing import do_create_queue
from tests.factories import PASSWORD, make_user

IN_CI = os.environ.get("CI") == "true"
REDIS = os.environ.get("SWITCHBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379")
SWITCHBOARD = Path(sys.executable).with_name("switchboard")


def redis_or_skip() -> None:
    import redis

    try:
        ok = redis.Redis.from_url(f"{REDIS}/0", socket_timeout=2).ping()
    except Exception as exc:
        ok = False
        reason = f"{exc.__class__.__name__}: {exc}"
    else:
        reason = "no PONG"
    if not ok:
        message = f"Redis at {REDIS} does not answer PING ({reason})"
        if IN_CI:
            pytest.fail(f"{message}; CI needs it")
        print(f"\n*** SKIPPED: {message} ***", file=sys.stderr)
        pytest.skip(message)


def free_port() -> int:
    """A free TCP port below the ephemeral range (32768+), where clients don't collide."""
    for port in range(20000 + os.getpid() % 5000, 32000, 7):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below 32768")


def wait_for(predicate: Any, timeout: float, what: str, proc: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: process exited with {proc.returncode}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
    if proc.stdout is None:
        return ""
    with proc.stdout:
        return proc.stdout.read()


@pytest.fixture
def processes(app, database_url, tmp_path) -> Iterator[dict[str, Any]]:
    redis_or_skip()
    tag = uuid.uuid4().hex[:10]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "CELERY_"))}
    env.update(
        SWITCHBOARD_DATABASE_URL=database_url,
        SWITCHBOARD_VAR_DIR=str(tmp_path / "var"),
        SWITCHBOARD_SECRET_KEY="p" * 64,
        SWITCHBOARD_REDIS_URL=f"{REDIS}/0",
        SWITCHBOARD_BROKER_URL=f"{REDIS}/0",
        # Our own pub/sub channel and task queue: other Switchboards on this Redis stay out.
        SWITCHBOARD_SOCKETIO_CHANNEL=f"switchboard-test-{tag}",
        SWITCHBOARD_LOG_LEVEL="WARNING",
    )
    port = free_port()
    server = subprocess.Popen(
        [str(SWITCHBOARD), "serve", "--no-setup", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    queue_name = f"test-{tag}"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from hub.app import create_app; app = create_app(); "
            "app.extensions['celery'].worker_main(sys.argv[1:])",
            "worker",
            "--pool=solo",
            "-Q",
            queue_name,
            "--loglevel=INFO",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            try:
                return requests.get(f"{base}/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for(healthy, 90, "the server to answer /healthz", server)
        yield {
            "base": base,
            "port": port,
            "queue": queue_name,
            "broker": f"{REDIS}/0",
            "worker": worker,
            "server": server,
        }
    finally:
        out_w = stop(worker)
        out_s = stop(server)
        if "Traceback" in out_s:
            print(out_s[-4000:], file=sys.stderr)
        if "Traceback" in out_w:
            print(out_w[-4000:], file=sys.stderr)


def logged_in(base: str, email: str) -> requests.Session:
    http = requests.Session()
    form = http.get(f"{base}/login", timeout=10).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form)
    data = {"email": email, "password": PASSWORD}
    if token:
        data["csrf_token"] = token.group(1)
    response = http.post(f"{base}/login", data=data, timeout=10, allow_redirects=False)
    assert response.status_code in (302, 303), response.status_code
    return http


def test_worker_emit_reaches_a_client_of_the_web_process(app, session, processes):
    supervisor = make_user(session, role="supervisor")
    queue = do_create_queue(
        session, name=f"Cross-process {uuid.uuid4().hex[:6]}", channels=["voice"]
    )
    session.commit()
    http = logged_in(processes["base"], supervisor.email)

    got: list[dict[str, Any]] = []
    snapshot = threading.Event()
    arrived = threading.Event()
    client = socketio.Client(http_session=http, reconnection=False)

    @client.on("snapshot", namespace="/console")
    def _snapshot(data: dict[str, Any]) -> None:
        got.append({"snapshot": data})
        snapshot.set()

    @client.on("queue_stats", namespace="/console")
    def _stats(data: dict[str, Any]) -> None:
        got.append(data)
        if any(q["name"] == queue.name for q in data.get("queues", [])):
            arrived.set()

    client.connect(
        processes["base"], namespaces=["/console"], transports=["polling"], wait_timeout=10
    )
    try:
        assert snapshot.wait(30), "no snapshot after connecting"
        snap = got[0]["snapshot"]
        assert "supervisors" in snap["rooms"]
        before = snap["seq"]["supervisors"]
        # The task is sent from here (a third process, as the web tier would) to the worker.
        sender = Celery("sender", broker=processes["broker"])
        sender.send_task("hub.broadcast_queue_stats", queue=processes["queue"])
        assert arrived.wait(60), f"no queue_stats from the worker; got {got[-3:]}"
        event = next(
            d for d in got if any(q.get("name") == queue.name for q in d.get("queues", []))
        )
        assert event["room"] == "supervisors"
        assert event["seq"] > before
    finally:
        client.disconnect()


def test_the_server_speaks_websocket(processes):
    import simple_websocket

    ws = simple_websocket.Client.connect(
        f"ws://127.0.0.1:{processes['port']}/socket.io/?EIO=4&transport=websocket"
    )
    try:
        opening = ws.receive(timeout=30)
        assert isinstance(opening, str) and opening.startswith("0{"), opening
        assert '"sid"' in opening
    finally:
        ws.close()
