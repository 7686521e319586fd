"""E-mail ingest benchmark: committed tickets per second through the real SMTP listener.

Starts the real app (PostgreSQL, default durability) with its aiosmtpd listener and sends
``--messages`` e-mails of about 4 KB from ``--clients`` concurrent smtplib clients (one
connection each, MAIL/RCPT/DATA per message), from a pool of ``--senders`` customer
addresses (so auto-acknowledgements are written, and rate-limited, as in production). Each
message is a new ticket. Then the floor: an aiosmtpd handler that does one committed INSERT
of the message per DATA, same clients, same messages, same thread pool size.

Prints one JSON line; exits 1 when ours is below ``--goal`` (0.5) times the floor. Usage::

    .venv/bin/python bench/email_ingest.py [--url postgresql+psycopg://postgres@127.0.0.1:5432/switchboard_bench_email]
        [--messages 5000] [--clients 8] [--senders 1000] [--no-autoack]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import smtplib
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aiosmtpd.controller import Controller  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from crm_core.models import Ticket  # noqa: E402
from hub.app import create_app  # noqa: E402
from hub.db import db  # noqa: E402
from hub.migrate import upgrade  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/switchboard_bench_email"
SUPPORT = "support@bench.example"
BODY = ("Dzień dobry, the parcel 12345 has not arrived yet; please check. " * 60)[:3600]


def _fresh_database(url: str) -> None:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    upgrade(url)


def _port() -> int:
    for port in range(12700, 12800):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def _messages(n: int, senders: int) -> list[bytes]:
    out = []
    for i in range(n):
        msg = EmailMessage()
        msg["From"] = f"Customer {i % senders} <customer{i % senders}@bench.example.org>"
        msg["To"] = SUPPORT
        msg["Subject"] = f"Where is my parcel #{i}"
        msg["Message-ID"] = f"<bench-{i}@bench.example.org>"
        msg.set_content(BODY)
        out.append(msg.as_bytes())
    return out


def _blast(port: int, messages: list[bytes], clients: int) -> tuple[float, int]:
    """Send everything; returns (seconds, failures)."""
    failures = 0
    lock = threading.Lock()
    chunks = [messages[i::clients] for i in range(clients)]

    def run(chunk: list[bytes]) -> None:
        nonlocal failures
        with smtplib.SMTP("127.0.0.1", port, timeout=300) as client:
            client.ehlo()
            for raw in chunk:
                client.mail("bench@bench.example.org")
                client.rcpt(SUPPORT)
                code, _ = client.data(raw.replace(b"\n", b"\r\n"))
                if code != 250:
                    with lock:
                        failures += 1

    start = time.perf_counter()
    threads = [threading.Thread(target=run, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, failures


class _FloorHandler:
    """One committed INSERT per message, on the same kind of thread pool as ours."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, pool_size=8, max_overflow=8)
        with self.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS bench_floor"))
            conn.execute(text("CREATE TABLE bench_floor (id serial PRIMARY KEY, raw bytea)"))
        self.executor = ThreadPoolExecutor(max_workers=4)

    def _insert(self, raw: bytes) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("INSERT INTO bench_floor (raw) VALUES (:raw)"), {"raw": raw})

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.executor, self._insert, envelope.original_content)
        return "250 OK"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--senders", type=int, default=1000)
    parser.add_argument("--goal", type=float, default=0.5)
    parser.add_argument("--no-autoack", action="store_true")
    parser.add_argument(
        "--inline-routing",
        action="store_true",
        help="run routing passes in the SMTP threads (not on the router thread as serve does)",
    )
    args = parser.parse_args()

    from channels.email.smtpd import start_listener

    print("preparing the database…", file=sys.stderr)
    _fresh_database(args.url)
    messages = _messages(args.messages, args.senders)
    var = Path(tempfile.mkdtemp(prefix="sb-bench-email-"))
    app = create_app(
        {
            "database_url": args.url,
            "var_dir": str(var),
            "secret_key": "b" * 64,
            "log_level": "WARNING",
            "email_addresses": {SUPPORT: ""},
            "email_from_address": SUPPORT,
            "email_autoack": not args.no_autoack,
        }
    )
    if not args.inline_routing:
        try:  # as `switchboard serve` does: routing passes leave the SMTP threads
            from hub.routing import route_in_background

            route_in_background(app)
        except ImportError:  # a tree from before the background router
            pass
    listener = start_listener(app, host="127.0.0.1", port=_port())
    print(f"ours: {args.messages} messages, {args.clients} clients…", file=sys.stderr)
    try:
        ours_s, ours_fail = _blast(listener.port, messages, args.clients)
    finally:
        listener.stop()
    with db.sessionmaker_for(app)() as s:
        tickets = s.scalar(select(func.count()).select_from(Ticket)) or 0
    db.engine_for(app).dispose()

    print("floor…", file=sys.stderr)
    handler = _FloorHandler(args.url)
    floor = Controller(handler, hostname="127.0.0.1", port=_port())
    floor.start()
    try:
        floor_s, floor_fail = _blast(floor.port, messages, args.clients)
    finally:
        floor.stop()
        with handler.engine.connect() as conn:
            floor_rows = conn.execute(text("SELECT count(*) FROM bench_floor")).scalar() or 0
        handler.engine.dispose()

    ours_rate = tickets / ours_s
    floor_rate = floor_rows / floor_s
    result = {
        "bench": "email_ingest",
        "messages": args.messages,
        "clients": args.clients,
        "autoack": not args.no_autoack,
        "routing": "inline" if args.inline_routing else "background",
        "tickets": tickets,
        "ours_failures": ours_fail,
        "ours_seconds": round(ours_s, 2),
        "tickets_per_second": round(ours_rate, 1),
        "floor_rows": floor_rows,
        "floor_failures": floor_fail,
        "floor_per_second": round(floor_rate, 1),
        "ratio": round(ours_rate / floor_rate, 3) if floor_rate else None,
        "goal_ratio": args.goal,
        "python": platform.python_version(),
    }
    print(json.dumps(result))
    ok = tickets == args.messages and ours_fail == 0 and ours_rate >= args.goal * floor_rate
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
