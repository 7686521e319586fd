"""Helpers for tests that start real Switchboard processes (``switchboard web``,
``worker``, ``beat``, ``smtpd``) on this machine."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.factories import PASSWORD

IN_CI = os.environ.get("CI") == "true"
REDIS = os.environ.get("SWITCHBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379")
# A database number of its own: other users of this Redis keep theirs.
REDIS_DB = int(os.environ.get("SWITCHBOARD_TEST_REDIS_DB", "13"))
SWITCHBOARD = Path(sys.executable).with_name("switchboard")

_ports_lock = threading.Lock()
_ports_taken: set[int] = set()


def missing(what: str) -> None:
    """Skip loudly (fail in CI) when a service the test needs is not there."""
    if IN_CI:
        pytest.fail(f"{what}; CI needs it")
    print(f"\n*** SKIPPED: {what} ***", file=sys.stderr)
    pytest.skip(what)


def redis_url() -> str:
    return f"{REDIS}/{REDIS_DB}"


def redis_or_skip() -> None:
    import redis

    try:
        ok = redis.Redis.from_url(redis_url(), socket_timeout=2).ping()
        reason = "no PONG"
    except Exception as exc:
        ok, reason = False, f"{exc.__class__.__name__}: {exc}"
    if not ok:
        missing(f"Redis at {REDIS} does not answer PING ({reason})")


def free_port() -> int:
    """A free TCP port below the ephemeral range (32768+), never handed out twice."""
    start = 21000 + (os.getpid() * 13) % 9000
    with _ports_lock:
        for port in [*range(start, 31000), *range(21000, start)]:
            if port in _ports_taken:
                continue
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _ports_taken.add(port)
            return port
    raise RuntimeError("no free port below 32768")


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, *procs: Any) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        for proc in procs:
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"{what}: {proc.args[1:3]} exited with {proc.returncode}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Proc:
    """A child process whose output is collected in a thread (so pipes never fill)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.lines: list[str] = []
        self.popen = subprocess.Popen(
            argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.args = argv
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def poll(self) -> int | None:
        return self.popen.poll()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def kill9(self) -> None:
        os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)
        self._close()

    def _close(self) -> None:
        self._reader.join(timeout=10)
        if self.popen.stdout is not None:
            self.popen.stdout.close()

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM (graceful), then SIGKILL if it does not end in ``timeout`` seconds."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=30)
        self._close()
        return int(self.popen.returncode)

    def report(self) -> None:
        if "Traceback" in self.output:
            print(f"--- {self.name} ---\n{self.output[-4000:]}", file=sys.stderr)


def stop_all(procs: Any) -> None:
    """SIGTERM to every process at once, then wait for each (graceful stops overlap)."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.popen.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.terminate()
        proc.report()


def base_env(database_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "CELERY_"))}
    env.update(
        SWITCHBOARD_DATABASE_URL=database_url,
        SWITCHBOARD_VAR_DIR=str(var_dir),
        SWITCHBOARD_SECRET_KEY="m" * 64,
        SWITCHBOARD_LOG_LEVEL="WARNING",
        SWITCHBOARD_EMAIL_AUTOACK="false",
    )
    env.update(extra)
    return env


def start(name: str, args: list[str], env: dict[str, str]) -> Proc:
    return Proc(name, [str(SWITCHBOARD), *args], env)


def http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=3).status_code == 200
    except requests.RequestException:
        return False


def smtp_ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
            return s.recv(100).startswith(b"220")
    except OSError:
        return False


def logged_in(base: str, email: str) -> requests.Session:
    http = requests.Session()
    form = http.get(f"{base}/login", timeout=30).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form)
    data = {"email": email, "password": PASSWORD}
    if token:
        data["csrf_token"] = token.group(1)
    response = http.post(f"{base}/login", data=data, timeout=30, allow_redirects=False)
    assert response.status_code in (302, 303), response.status_code
    return http


def tag() -> str:
    return uuid.uuid4().hex[:10]


def drop_redis_keys(prefix: str) -> None:
    """Remove this test's Celery queues (and kombu's bindings naming them)."""
    import redis

    client = redis.Redis.from_url(redis_url(), socket_timeout=5)
    try:
        for pattern in (f"{prefix}*", f"_kombu.binding.{prefix}*"):
            keys = list(client.scan_iter(match=pattern, count=500))
            if keys:
                client.delete(*keys)
    finally:
        client.close()
