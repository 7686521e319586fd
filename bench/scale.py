"""Scale-out benchmark: how many websockets one ``switchboard web`` node holds at once.

gunicorn's default ``worker_connections`` (1,000) is the floor: with it the 1,001st
console hangs without an error. The run starts two web nodes (gevent worker, the same
code and database, a scratch SQLite file): one with ``--worker-connections 1000`` (the
floor) and one as ``switchboard web`` configures itself (``SWITCHBOARD_WEB_WORKER_
CONNECTIONS``, 10,000), then opens ``--clients`` engine.io websockets at once to each from
a gevent client process, and counts how many got the server's open packet within
``--wait`` seconds while all are held open.

Prints one JSON line; exits 1 when our node opened fewer than all, or the floor did not
stop at its limit (the measurement would then show nothing), 2 when the run failed.

    .venv/bin/python bench/scale.py [--clients 1500] [--wait 60]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

SWITCHBOARD = Path(sys.executable).with_name("switchboard")

CLIENT = r"""
from gevent import monkey
monkey.patch_all()

import os
import sys
import time
import gevent
import simple_websocket

url, count, wait = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
held = []
opened_at = []
start = time.monotonic()


def one():
    # A connection the server never accepts hangs in the handshake: bound every step.
    try:
        with gevent.Timeout(wait):
            ws = simple_websocket.Client.connect(url)
            held.append(ws)
            first = ws.receive(timeout=wait)
    except BaseException:  # gevent.Timeout is one; a refused or reset connection too
        return False
    if isinstance(first, str) and first.startswith("0{"):
        opened_at.append(time.monotonic() - start)
        return True
    return False


jobs = [gevent.spawn(one) for _ in range(count)]
gevent.joinall(jobs, timeout=wait + 30)
print(len(opened_at), round(max(opened_at or [0]), 2), flush=True)
os._exit(0)  # the held sockets and their reader threads go with the process
"""


def free_port() -> int:
    for port in range(24000 + os.getpid() % 4000, 32000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as r:
            return r.status == 200
    except OSError:
        return False


def measure(env: dict[str, str], extra: list[str], clients: int, wait: float) -> dict[str, float]:
    port = free_port()
    node = subprocess.Popen(
        [str(SWITCHBOARD), "web", "--port", str(port), "--graceful-timeout", "2", *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        while not healthy(port):
            if node.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the web node did not start")
            time.sleep(0.2)
        url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
        out = subprocess.run(
            [sys.executable, "-c", CLIENT, url, str(clients), str(wait)],
            capture_output=True,
            text=True,
            timeout=wait + 120,
            check=True,
        ).stdout.split()
        return {"opened": int(out[0]), "last_open_s": float(out[1])}
    finally:
        node.terminate()
        node.wait(timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1500)
    parser.add_argument("--wait", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
        env.update(
            SWITCHBOARD_VAR_DIR=tmp,
            SWITCHBOARD_DATABASE_URL=f"sqlite:///{tmp}/bench.sqlite3",
            SWITCHBOARD_SECRET_KEY="b" * 64,
            SWITCHBOARD_LOG_LEVEL="WARNING",
        )
        try:
            subprocess.run(
                [str(SWITCHBOARD), "db", "upgrade"], env=env, check=True, capture_output=True
            )
            print("floor: --worker-connections 1000", file=sys.stderr)
            floor = measure(env, ["--worker-connections", "1000"], args.clients, args.wait)
            print("ours: configured", file=sys.stderr)
            ours = measure(env, [], args.clients, args.wait)
        except (RuntimeError, subprocess.SubprocessError) as exc:
            print(json.dumps({"bench": "scale_web_connections", "error": str(exc)}))
            return 2
    result = {
        "bench": "scale_web_connections",
        "clients": args.clients,
        "floor_worker_connections_1000": floor,
        "ours_worker_connections_default": ours,
        "ok": ours["opened"] == args.clients and floor["opened"] <= 1000,
    }
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
