"""The ``switchboard`` command line, for real.

Most commands run through Click's runner against the test app (so they hit the test
database, SQLite or PostgreSQL); ``db upgrade`` on a fresh file and ``serve`` run as
subprocesses of the installed console script, the way a user starts them.
"""

from __future__ import annotations

import datetime as dt
import http.cookiejar
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine, func, inspect, select
from sqlalchemy.orm import Session

from crm_core.models import Customer, Interaction, Ticket, User
from crm_core.services.identify import identify_by_email, identify_by_phone
from crm_core.services.users import authenticate
from hub.cli import main
from hub.db import db as database
from hub.demo import DEMO_PASSWORD, DEMO_USERS, KNOWN_CUSTOMERS, KNOWN_ORGANISATION
from hub.models import Queue, QueueMember

SWITCHBOARD = Path(sys.executable).with_name("switchboard")


def run_cli(runner: FlaskCliRunner, *args: str) -> Result:
    return runner.invoke(main, list(args))


def assert_one_line_error(result: Result, fragment: str) -> None:
    """A CLI error: non-zero exit, one line on stderr naming the problem, no traceback."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("switchboard: ")
    assert fragment in lines[0]
    assert "Traceback" not in result.output


def clean_env(var_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a user's shell: no SWITCHBOARD_* of the developer's or the suite's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env["SWITCHBOARD_VAR_DIR"] = str(var_dir)
    env.update(extra)
    return env


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture(scope="module")
def switchboard_script() -> Path:
    if not SWITCHBOARD.exists():
        pytest.fail(f"{SWITCHBOARD} is missing: install the project (make venv / pip install -e .)")
    return SWITCHBOARD


# --------------------------------------------------------------------------- db


def test_db_upgrade_creates_a_fresh_sqlite_file_and_check_agrees(
    tmp_path: Path, switchboard_script: Path
) -> None:
    path = tmp_path / "data" / "fresh.sqlite3"
    env = clean_env(tmp_path / "var", SWITCHBOARD_DATABASE_URL=f"sqlite:///{path}")

    def sb(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(switchboard_script), *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    upgraded = sb("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "database at head" in upgraded.stdout
    assert path.exists()
    engine = create_engine(f"sqlite:///{path}")
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"alembic_version", "customers", "contact_points", "interactions", "tickets"} <= tables

    checked = sb("db", "check")
    assert checked.returncode == 0, checked.stderr
    assert "agree" in checked.stdout

    again = sb("db", "upgrade")
    assert again.returncode == 0, again.stderr


def test_db_check_on_the_test_database(runner: FlaskCliRunner) -> None:
    result = run_cli(runner, "db", "check")
    assert result.exit_code == 0, result.output
    assert "models and migrations agree" in result.stdout


# --------------------------------------------------------------------------- demo


def test_demo_loads_a_believable_data_set_and_prints_the_logins(
    runner: FlaskCliRunner, app: Flask
) -> None:
    result = run_cli(runner, "demo", "--customers", "60")
    assert result.exit_code == 0, result.output
    assert DEMO_PASSWORD in result.stdout
    for email, role, _name, _teams in DEMO_USERS:
        assert re.search(rf"^\s+{role}\s+{re.escape(email)}$", result.stdout, re.M), email

    with app.app_context():
        session = database.session
        assert count(session, Customer) == 60
        kinds = set(session.scalars(select(Customer.kind)))
        countries = set(session.scalars(select(Customer.country)))
        assert kinds == {"person", "organisation"}
        assert countries == {"PL", "GB", "US"}
        assert set(session.scalars(select(Ticket.status))) == {
            "new",
            "open",
            "pending",
            "solved",
            "closed",
        }
        channels = set(session.scalars(select(Interaction.channel)))
        assert {"voice", "email", "webform", "fax", "note"} <= channels
        # The documented cards answer to their documented numbers and addresses, in the
        # formats people type them.
        for known in KNOWN_CUSTOMERS:
            by_phone = identify_by_phone(session, known.phone, known.country)
            assert by_phone is not None
            assert by_phone.display_name == f"{known.first_name} {known.last_name}"
            by_email = identify_by_email(session, known.email.upper())
            assert by_email is not None and by_email.id == by_phone.id
        anna = identify_by_phone(session, "+48 601 234 567")
        assert anna is not None and anna.vip
        org = identify_by_phone(session, KNOWN_ORGANISATION["fax"], "PL")
        assert org is not None and org.display_name == KNOWN_ORGANISATION["name"]
        # Queues with agents in them (those the demo IVR menus name), so a simulated call
        # has somewhere to go.
        queues = {q.name: q for q in session.scalars(select(Queue))}
        assert set(queues) == {"Sales", "Service", "General", "Voicemail"}
        for queue in queues.values():
            members = session.scalars(
                select(QueueMember.user_id).where(QueueMember.queue_id == queue.id)
            ).all()
            assert members, queue.name
        # Every demo login works with the printed password.
        for email, role, _name, _teams in DEMO_USERS:
            user = authenticate(session, email, DEMO_PASSWORD)
            assert user is not None and user.role == role


def test_demo_if_empty_is_idempotent_and_a_second_load_fails_cleanly(
    runner: FlaskCliRunner, app: Flask
) -> None:
    first = run_cli(runner, "demo", "--customers", "20", "--if-empty")
    assert first.exit_code == 0, first.output

    def totals() -> tuple[int, int, int, int]:
        with app.app_context():
            s = database.session
            return count(s, Customer), count(s, User), count(s, Interaction), count(s, Ticket)

    before = totals()
    assert before[0] == 20

    again = run_cli(runner, "demo", "--customers", "20", "--if-empty")
    assert again.exit_code == 0, again.output
    assert "skipping" in again.stdout
    assert totals() == before

    forced = run_cli(runner, "demo", "--customers", "20")
    assert_one_line_error(forced, "loaded already")
    assert totals() == before


def test_demo_is_the_same_for_the_same_seed() -> None:
    from hub.demo import _Generator, _plan_cards

    now = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)

    def plan(seed: int) -> list[tuple[object, ...]]:
        cards = _plan_cards(_Generator(seed, now), 80)
        return [
            (c.kind, c.first_name, c.last_name, c.organisation_name, c.address, c.phones, c.emails)
            for c in cards
        ]

    assert plan(7) == plan(7)
    assert plan(7) != plan(8)


# --------------------------------------------------------------------------- users and tokens


def test_user_create(runner: FlaskCliRunner, app: Flask) -> None:
    result = run_cli(
        runner,
        "user",
        "create",
        "--email",
        "Jan.Kowalski@Example.com",
        "--name",
        "Jan Kowalski",
        "--role",
        "supervisor",
        "--team",
        "Service",
        "--password",
        "long enough password",
    )
    assert result.exit_code == 0, result.output
    assert "created supervisor jan.kowalski@example.com" in result.stdout
    with app.app_context():
        user = authenticate(database.session, "jan.kowalski@example.com", "long enough password")
        assert user is not None
        assert [t.name for t in user.teams] == ["Service"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--email", "not-an-email", "--password", "long enough password"], "e-mail address"),
        (["--email", "short@example.com", "--password", "short"], "at least 8 characters"),
        (["--email", "taken@example.com", "--password", "long enough password"], "exists"),
        (["--email", "nopassword@example.com"], "--password"),
    ],
    ids=["bad-email", "short-password", "duplicate", "no-password-no-terminal"],
)
def test_user_create_refuses_bad_input_in_one_line(
    runner: FlaskCliRunner, app: Flask, args: list[str], fragment: str
) -> None:
    first = run_cli(
        runner,
        "user",
        "create",
        "--email",
        "taken@example.com",
        "--name",
        "Taken",
        "--password",
        "long enough password",
    )
    assert first.exit_code == 0, first.output
    with app.app_context():
        users_before = count(database.session, User)

    result = runner.invoke(main, ["user", "create", "--name", "Someone", *args], input="")
    assert_one_line_error(result, fragment)
    with app.app_context():
        assert count(database.session, User) == users_before


def test_token_create_prints_a_token_that_opens_the_api(
    runner: FlaskCliRunner, client: FlaskClient
) -> None:
    created = run_cli(
        runner,
        "user",
        "create",
        "--email",
        "integrator@example.com",
        "--name",
        "Integrator",
        "--password",
        "long enough password",
    )
    assert created.exit_code == 0, created.output
    run_cli(runner, "demo", "--customers", "10")

    issued = run_cli(runner, "token", "create", "--email", "integrator@example.com")
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip()
    assert re.fullmatch(r"sbt_\S{20,}", token), issued.stdout

    assert client.get("/api/v1/customers").status_code == 401
    assert (
        client.get("/api/v1/customers", headers={"Authorization": "Bearer sbt_wrong"}).status_code
        == 401
    )
    response = client.get("/api/v1/customers", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_json()
    names = {c["display_name"] for c in response.get_json()["items"]}
    assert "Anna Kowalska" in names

    unknown = run_cli(runner, "token", "create", "--email", "nobody@example.com")
    assert_one_line_error(unknown, "no user nobody@example.com")


# --------------------------------------------------------------------------- serve


def free_port() -> int:
    """A port below the Linux ephemeral range (32768+), so no outgoing connection holds it."""
    rng = random.Random()
    for _ in range(500):
        port = rng.randrange(20000, 32768)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail("no free TCP port between 20000 and 32767")


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    base: str
    log_dir: Path

    def output(self) -> tuple[str, str]:
        """What the server printed so far: (stdout, stderr)."""
        return (
            (self.log_dir / "stdout.txt").read_text(errors="replace"),
            (self.log_dir / "stderr.txt").read_text(errors="replace"),
        )


@pytest.fixture
def served(tmp_path: Path, switchboard_script: Path) -> Iterator[Served]:
    """``switchboard serve`` on the embedded default (SQLite under a temporary var dir)."""
    port = free_port()
    smtp_port = free_port()
    while smtp_port == port:
        smtp_port = free_port()
    # Output goes to files, not pipes: a server that logs more than a pipe holds must not
    # block on a full pipe while the test waits for it.
    with (tmp_path / "stdout.txt").open("wb") as out, (tmp_path / "stderr.txt").open("wb") as err:
        proc = subprocess.Popen(
            [str(switchboard_script), "serve", "--port", str(port)],
            # Its own port for the in-process SMTP listener too, so that a developer's running
            # `make run` (which holds 2525) cannot make this test fail.
            env=clean_env(
                tmp_path / "var", PYTHONUNBUFFERED="1", SWITCHBOARD_SMTPD_PORT=str(smtp_port)
            ),
            cwd=tmp_path,
            stdout=out,
            stderr=err,
            # A shell without job control starts background jobs with SIGINT ignored, and the
            # child would inherit that; give it the default so Ctrl-C (our SIGINT) reaches it.
            preexec_fn=_default_sigint,
        )
    try:
        yield Served(proc, f"http://127.0.0.1:{port}", tmp_path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)


def wait_until_healthy(served: Served) -> None:
    # A safety net against hanging forever, not a performance assertion: first start migrates
    # and loads the demo data set on two shared cores.
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if served.proc.poll() is not None:
            out, err = served.output()
            pytest.fail(f"serve exited with {served.proc.returncode}:\n{out}\n{err}")
        try:
            with urllib.request.urlopen(f"{served.base}/healthz", timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    pytest.fail("serve did not answer /healthz")


def test_serve_starts_logs_an_agent_in_and_stops_cleanly_on_sigint(served: Served) -> None:
    proc, base = served.proc, served.base
    wait_until_healthy(served)

    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    # Anonymous visitors are sent to the login page.
    with browser.open(f"{base}/console", timeout=30) as resp:
        assert urllib.parse.urlsplit(resp.url).path == "/login"

    with browser.open(f"{base}/login", timeout=30) as resp:
        form = resp.read().decode()
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form)
    assert match, "the login form carries a CSRF token"

    email, _role, _name, _teams = next(u for u in DEMO_USERS if u[1] == "agent")
    # Without the token the form is refused: CSRF protection is on in this mode.
    no_token = urllib.parse.urlencode({"email": email, "password": DEMO_PASSWORD}).encode()
    with pytest.raises(urllib.error.HTTPError) as refused:
        browser.open(f"{base}/login", data=no_token, timeout=30)
    assert refused.value.code == 400
    refused.value.close()

    data = urllib.parse.urlencode(
        {"email": email, "password": DEMO_PASSWORD, "csrf_token": match.group(1)}
    ).encode()
    with browser.open(f"{base}/login", data=data, timeout=30) as resp:
        assert resp.status == 200
        assert urllib.parse.urlsplit(resp.url).path == "/console"

    # Logged in now: /console answers instead of sending us back to /login.
    with browser.open(f"{base}/console", timeout=30) as resp:
        assert resp.status == 200
        assert urllib.parse.urlsplit(resp.url).path == "/console"
        resp.read()

    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    out, err = served.output()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert f"Switchboard is running at {base}/console" in out
    assert f"password {DEMO_PASSWORD!r}" in out
    for demo_email, role, _name, _teams in DEMO_USERS:
        assert re.search(rf"^\s+{role}\s+{re.escape(demo_email)}$", out, re.M), demo_email
