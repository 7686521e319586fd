"""A small production cluster on this machine: two ``switchboard web`` nodes (gunicorn,
gevent worker), two ``switchboard worker`` processes (Celery) and one ``switchboard smtpd``
against PostgreSQL and Redis (Socket.IO message queue and Celery broker).

- An agent whose console is connected to web node 1 gets the offer with the caller's card
  (the screen pop) for a call whose signed Twilio webhook hit web node 2: node 2 stored
  the call, a worker routed it, the worker's emit went through Redis to node 1.
- An e-mail taken by the SMTP listener reaches an agent connected to node 2 the same way.
- A Celery task's emit reaches the consoles of both nodes.
- ``/readyz`` of each node is 200, ``/metrics`` counts what the other processes ingested.
- SIGTERM of a web node drains its Socket.IO clients and the node exits cleanly.

PostgreSQL only (SQLite is the single-machine default).
"""

from __future__ import annotations

import json
import smtplib
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
from celery import Celery
from twilio.request_validator import RequestValidator

from hub.agents import do_set_agent_state
from tests.factories import make_customer
from tests.multiprocess.procs import (
    Proc,
    base_env,
    drop_redis_keys,
    free_port,
    http_ok,
    logged_in,
    redis_or_skip,
    redis_url,
    smtp_ready,
    start,
    stop_all,
    tag,
    wait_for,
)
from tests.routing_helpers import make_agent, make_queue

ACCOUNT = "AC" + "5c" * 16
TOKEN = "9e" * 16
PUBLIC = "http://switchboard.test"
DIRECT = "+48223070002"
CALLER = "+48601234567"
MENUS = f"""
[numbers."{DIRECT}"]
greeting = "Hello, connecting you."
default_queue = "General"
"""


@pytest.fixture
def cluster(app, database_url, postgres_only, tmp_path) -> Iterator[dict[str, Any]]:
    redis_or_skip()
    run = tag()
    prefix = f"sbt{run}-"
    menus = tmp_path / "menus.toml"
    menus.write_text(MENUS)
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = base_env(
        database_url,
        tmp_path / "var",
        SWITCHBOARD_REDIS_URL=redis_url(),
        SWITCHBOARD_BROKER_URL=redis_url(),
        SWITCHBOARD_CELERY_QUEUE_PREFIX=prefix,
        SWITCHBOARD_SOCKETIO_CHANNEL=f"sbt-{run}",
        SWITCHBOARD_TWILIO_ACCOUNT_SID=ACCOUNT,
        SWITCHBOARD_TWILIO_AUTH_TOKEN=TOKEN,
        SWITCHBOARD_TWILIO_MENUS_FILE=str(menus),
        SWITCHBOARD_PUBLIC_BASE_URL=PUBLIC,
        SWITCHBOARD_EMAIL_ADDRESSES=json.dumps({"help@switchboard.test": "Mail"}),
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    ports = {"web1": free_port(), "web2": free_port(), "smtp": free_port()}
    procs: dict[str, Proc] = {}
    try:
        for name in ("web1", "web2"):
            procs[name] = start(
                name, ["web", "--port", str(ports[name]), "--graceful-timeout", "10"], env
            )
        for name in ("worker1", "worker2"):
            procs[name] = start(name, ["worker", "--pool", "solo", "--name", f"{name}@t"], env)
        procs["smtpd"] = start("smtpd", ["smtpd", "--port", str(ports["smtp"])], env)
        for name in ("web1", "web2"):
            url = f"http://127.0.0.1:{ports[name]}/healthz"
            wait_for(lambda url=url: http_ok(url), 180, f"{name} /healthz", procs[name])
        wait_for(lambda: smtp_ready(ports["smtp"]), 180, "the SMTP listener", procs["smtpd"])
        # The workers need no waiting for: tasks wait in Redis until they consume them.
        for name in ("worker1", "worker2"):
            assert procs[name].poll() is None, procs[name].output[-2000:]
        yield {
            "web1": f"http://127.0.0.1:{ports['web1']}",
            "web2": f"http://127.0.0.1:{ports['web2']}",
            "smtp": ports["smtp"],
            "prefix": prefix,
            "procs": procs,
        }
    finally:
        stop_all(procs.values())
        drop_redis_keys(prefix)


class Console:
    """A python-socketio client logged in on one node, recording what it receives."""

    def __init__(self, base: str, email: str) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.snapshot = threading.Event()
        self.disconnected = threading.Event()
        self.client = socketio.Client(http_session=logged_in(base, email), reconnection=False)
        for name in ("offer", "queue_stats", "snapshot"):
            self.client.on(name, self._recorder(name), namespace="/console")
        self.client.on("disconnect", self.disconnected.set, namespace="/console")
        self.client.connect(base, namespaces=["/console"], transports=["polling"], wait_timeout=30)
        assert self.snapshot.wait(60), f"no snapshot from {base}"

    def _recorder(self, name: str) -> Any:
        def record(data: dict[str, Any]) -> None:
            self.events.append((name, data))
            if name == "snapshot":
                self.snapshot.set()

        return record

    def got(self, name: str, match: Any) -> list[dict[str, Any]]:
        return [d for n, d in list(self.events) if n == name and match(d)]

    def close(self) -> None:
        if self.client.connected:
            self.client.disconnect()


def test_events_cross_nodes_through_redis(cluster, app, session, tmp_path: Path):
    general = make_queue(session, "General", channels=["voice"])
    mail = make_queue(session, "Mail", channels=["email"])
    on_node1 = make_agent(session, (general,), name="Agent One")
    on_node2 = make_agent(session, (mail,), name="Agent Two")
    supervisor = make_agent(session, role="supervisor", name="Sue Pervisor")
    customer = make_customer(session, first_name="Zofia", last_name="Wrzos", phones=(CALLER,))
    session.commit()

    consoles = {
        "one": Console(cluster["web1"], on_node1.email),
        "two": Console(cluster["web2"], on_node2.email),
        "sup1": Console(cluster["web1"], supervisor.email),
        "sup2": Console(cluster["web2"], supervisor.email),
    }
    try:
        for agent in (on_node1, on_node2):
            do_set_agent_state(session, agent, "available", actor=agent)
            session.commit()

        # 1. A signed Twilio webhook to node 2; the agent on node 1 gets the screen pop.
        params = {
            "AccountSid": ACCOUNT,
            "CallSid": "CA" + tag() * 3 + "ab",
            "CallStatus": "ringing",
            "Direction": "inbound",
            "From": CALLER,
            "Caller": CALLER,
            "To": DIRECT,
            "Called": DIRECT,
        }
        path = "/webhooks/twilio/voice"
        signature = RequestValidator(TOKEN).compute_signature(PUBLIC + path, params)
        answer = requests.post(
            cluster["web2"] + path,
            data=params,
            headers={"X-Twilio-Signature": signature},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text[:500]
        assert "<Response>" in answer.text

        def call_offer() -> list[dict[str, Any]]:
            return consoles["one"].got("offer", lambda d: d.get("channel") == "voice")

        [offer] = wait_for(call_offer, 120, "the call's offer on node 1's console")
        assert offer["card"]["name"] == customer.display_name
        assert offer["agent_id"] == on_node1.id
        assert consoles["two"].got("offer", lambda d: d.get("channel") == "voice") == []

        # 2. An e-mail through the SMTP listener; the agent on node 2 gets it.
        message = EmailMessage()
        message["From"] = "Jan Kos <jan.kos@example.pl>"
        message["To"] = "help@switchboard.test"
        message["Subject"] = "Invoice question"
        message["Message-ID"] = f"<{tag()}@example.pl>"
        message.set_content("Hello, a question about my invoice.")
        with smtplib.SMTP("127.0.0.1", cluster["smtp"], timeout=60) as smtp:
            smtp.send_message(message)

        def mail_offer() -> list[dict[str, Any]]:
            return consoles["two"].got("offer", lambda d: d.get("channel") == "email")

        [mail_offered] = wait_for(mail_offer, 120, "the e-mail's offer on node 2's console")
        assert mail_offered["subject"] == "Invoice question"
        assert mail_offered["agent_id"] == on_node2.id

        # 3. A task run by a worker: its emit reaches the supervisors on both nodes.
        sender = Celery("sender", broker=redis_url())
        try:
            sender.send_task("hub.broadcast_queue_stats", queue=f"{cluster['prefix']}realtime")
        finally:
            sender.close()
        for name in ("sup1", "sup2"):

            def figures(name: str = name) -> list[dict[str, Any]]:
                return consoles[name].got(
                    "queue_stats",
                    lambda d: {q["name"] for q in d.get("queues", [])} >= {"General", "Mail"},
                )

            wait_for(figures, 120, f"the worker's queue figures on {name}")

        # 4. Every node is ready; /metrics sums the machine's processes.
        for node in ("web1", "web2"):
            ready = requests.get(cluster[node] + "/readyz", timeout=30)
            assert ready.status_code == 200, ready.text
            assert ready.json() == {"status": "ok", "database": "ok", "redis": "ok"}
        scrape = requests.get(cluster["web1"] + "/metrics", timeout=30).text
        assert 'switchboard_ingested_total{channel="voice"} 1.0' in scrape
        assert 'switchboard_ingested_total{channel="email"} 1.0' in scrape
        assert 'switchboard_queue_waiting{queue="General"} 1.0' in scrape

        # 5. SIGTERM of node 1: its consoles are told to go (they reconnect elsewhere),
        # and it exits cleanly.
        web1 = cluster["procs"]["web1"]
        web1.popen.terminate()
        assert consoles["one"].disconnected.wait(60), "node 1 did not drain its sockets"
        assert web1.popen.wait(timeout=60) == 0
    finally:
        for console in consoles.values():
            console.close()
