"""The ``switchboard`` command line."""

from __future__ import annotations

import getpass
import sys
from typing import Any

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from flask_babel import gettext as _
from sqlalchemy import func, select

from crm_core.errors import DomainError
from hub.app import create_app
from hub.errors import domain_message
from hub.i18n import in_cli_language


def _fail(message: str) -> None:
    click.echo(f"switchboard: {message}", err=True)
    sys.exit(1)


def _make_app() -> Any:
    from hub.settings import ConfigurationError

    try:
        return create_app()
    except ConfigurationError as exc:
        _fail(str(exc))


@click.group(
    cls=FlaskGroup,
    create_app=_make_app,
    add_version_option=False,
    load_dotenv=False,
    set_debug_flag=False,
)
def main() -> None:
    """Switchboard: contact centre and communications hub."""


@main.group()
def db() -> None:
    """Database schema."""


def _url() -> str:
    return str(current_app.extensions["switchboard.settings"].effective_database_url)


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
@in_cli_language
def db_upgrade(revision: str) -> None:
    """Apply the migrations (creates the SQLite file on first use)."""
    from hub.migrate import upgrade

    upgrade(_url(), revision)
    click.echo(_("database at %(revision)s", revision=revision))


@db.command("check")
@with_appcontext
@in_cli_language
def db_check() -> None:
    """Fail if the models and the migrations disagree."""
    from hub.migrate import check

    check(_url())
    click.echo(_("models and migrations agree"))


@main.command("demo")
@click.option("--customers", default=300, show_default=True, help="how many customers")
@click.option("--if-empty", is_flag=True, help="do nothing when there are customers already")
@click.option("--seed", default=20261123, show_default=True)
@with_appcontext
@in_cli_language
def demo(customers: int, if_empty: bool, seed: int) -> None:
    """Load a believable demo data set and print the logins."""
    from crm_core.models import Customer
    from hub.db import db as database
    from hub.demo import DEMO_PASSWORD, load_demo

    try:
        with database.transaction() as session:
            count = session.scalar(select(func.count()).select_from(Customer)) or 0
            if if_empty and count:
                click.echo(_("demo data present (customers: %(count)s); skipping", count=count))
                return
            logins = load_demo(session, customers=customers, seed=seed)
    except DomainError as exc:
        _fail(domain_message(exc))
        return
    click.echo(
        _(
            "demo customers loaded: %(count)s. Logins (password '%(password)s'):",
            count=customers,
            password=DEMO_PASSWORD,
        )
    )
    for email, role in logins:
        click.echo(f"  {role:<10} {email}")


@main.group()
def user() -> None:
    """Users."""


@user.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["agent", "supervisor", "admin"]), default="agent")
@click.option("--team", "teams", multiple=True, help="team name (created if new); repeatable")
@click.option("--password", default=None, help="omit to be asked")
@with_appcontext
@in_cli_language
def user_create(
    email: str, name: str, role: str, teams: tuple[str, ...], password: str | None
) -> None:
    """Create a user who can log in to the console."""
    from crm_core.services.users import do_create_user, get_or_create_team
    from hub.db import db as database

    if password is None:
        if not sys.stdin.isatty():
            _fail(_("give --password, or run in a terminal to be asked"))
        password = getpass.getpass(_("password: "))
    try:
        with database.transaction() as session:
            team_rows = [get_or_create_team(session, t) for t in teams]
            created = do_create_user(
                session, email=email, name=name, password=password, role=role, teams=team_rows
            )
            click.echo(
                _(
                    "created %(role)s %(email)s (id %(id)s)",
                    role=created.role,
                    email=created.email,
                    id=created.id,
                )
            )
    except DomainError as exc:
        _fail(domain_message(exc))


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.option("--email", required=True, help="the user the token acts as")
@click.option("--name", default="cli", show_default=True)
@with_appcontext
@in_cli_language
def token_create(email: str, name: str) -> None:
    """Issue a bearer token for the REST API; it is shown once."""
    from crm_core.models import User
    from crm_core.services.users import do_issue_token
    from hub.db import db as database

    with database.transaction() as session:
        found = session.scalar(select(User).where(User.email == email.strip().lower()))
        if found is None:
            _fail(_("no user %(email)s", email=email))
            return
        _token, text = do_issue_token(session, found, name)
    click.echo(text)


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--setup/--no-setup", default=True, help="migrate and load demo data first")
@with_appcontext
def serve(host: str, port: int, setup: bool) -> None:
    """All-in-one server for the embedded default: web console, API, real-time, tasks."""
    from hub.serve import run_all_in_one

    run_all_in_one(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        host=host,
        port=port,
        setup=setup,
    )


@main.group()
def simulate() -> None:
    """Send test traffic to a running Switchboard the way the outside world would."""


@simulate.command("form")
@click.option(
    "--from",
    "sender",
    default="anna.nowak@example.pl",
    show_default=True,
    help="the submitter's e-mail address",
)
@click.option("--to", "form", default="contact", show_default=True, help="the form (slug)")
@click.option("--subject", default="Question from the contact form", show_default=True)
@click.option("--body", default="Hello, please call me back about my order.", show_default=True)
@click.option("--name", default=None, help="the submitter's name")
@with_appcontext
@in_cli_language
def simulate_form(sender: str, form: str, subject: str, body: str, name: str | None) -> None:
    """A web-form submission, straight into intake: it is queued, routed and offered."""
    import uuid

    from hub.intake import InboundEvent, IntakeError, receive

    event = InboundEvent(
        channel="webform",
        external_id=f"sim-{uuid.uuid4().hex}",
        from_address=sender,
        to_address=form,
        subject=subject,
        body_text=body,
        from_name=name,
        payload={"form": form, "fields": {"email": sender, "name": name, "message": body}},
    )
    from contextlib import nullcontext

    from hub.routing import routing_deferred

    settings = current_app.extensions["switchboard.settings"]
    # Without Redis this process's emits reach no browser: let the running server's tick
    # route it, so that its offer pops up in the console.
    deferred = not settings.redis_url
    try:
        with routing_deferred() if deferred else nullcontext():
            interaction = receive(event)
    except (IntakeError, ValueError) as exc:
        _fail(str(exc))
        return
    click.echo(
        _(
            "form received as interaction %(id)s (customer %(customer)s, queue %(queue)s)",
            id=interaction.id,
            customer=interaction.customer_id or "-",
            queue=interaction.queue_id or "-",
        )
    )
    if deferred:
        click.echo(
            _("the running server offers it within %(seconds)s s", seconds=settings.tick_seconds)
        )


def _add_channel_commands() -> None:
    from channels.email.cli import email_group, simulate_email, smtpd_command

    main.add_command(smtpd_command)
    main.add_command(email_group)
    simulate.add_command(simulate_email)
    from channels.twilio_voice.cli import simulate_call_command

    simulate.add_command(simulate_call_command)
    from channels.fax.cli import simulate_fax_command

    simulate.add_command(simulate_fax_command)


_add_channel_commands()


@main.command("web")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--worker-connections",
    default=None,
    type=int,
    help="open connections (websockets) per node; default SWITCHBOARD_WEB_WORKER_CONNECTIONS",
)
@click.option("--graceful-timeout", default=None, type=int, help="seconds to drain on SIGTERM")
@click.option("--access-log", is_flag=True, help="log every request to stdout")
@click.option("--print-command", is_flag=True, help="print the gunicorn command and exit")
def web(
    host: str,
    port: int,
    worker_connections: int | None,
    graceful_timeout: int | None,
    access_log: bool,
    print_command: bool,
) -> None:
    """A web node: console, API, webhooks and Socket.IO on gunicorn's gevent worker.

    Run one per core on its own port behind a load balancer with sticky sessions, with
    SWITCHBOARD_REDIS_URL set so that every node and worker reaches every console.
    """
    from hub.roles import exec_web, gunicorn_argv
    from hub.settings import ConfigurationError, load_settings

    try:
        settings = load_settings()
        settings.check()
    except (ConfigurationError, ValueError) as exc:
        _fail(str(exc))
        return
    argv = gunicorn_argv(
        settings,
        host=host,
        port=port,
        worker_connections=worker_connections,
        graceful_timeout=graceful_timeout,
        access_log=access_log,
    )
    if print_command:
        click.echo(" ".join(argv))
        return
    if not settings.redis_url:
        click.echo(
            "switchboard: warning: SWITCHBOARD_REDIS_URL is not set; events raised by other "
            "processes will not reach this node's consoles",
            err=True,
        )
    exec_web(argv)


@main.command("worker")
@click.option(
    "--queues",
    default="realtime,default,bulk,dialer",
    show_default=True,
    help="comma-separated; SWITCHBOARD_CELERY_QUEUE_PREFIX is added to each",
)
@click.option("--concurrency", default=2, show_default=True, type=int)
@click.option("--pool", default="prefork", show_default=True, help="prefork | threads | solo")
@click.option("--name", "node_name", default=None, help="Celery node name (default unique)")
@click.option(
    "--beat/--no-beat",
    default=False,
    help="also run Celery's own beat; prefer `switchboard beat` (leased, one leader)",
)
@with_appcontext
def worker(queues: str, concurrency: int, pool: str, node_name: str | None, beat: bool) -> None:
    """A Celery worker (needs SWITCHBOARD_BROKER_URL). SIGTERM is a warm shutdown: the
    running tasks finish; tasks of a killed worker are re-queued (acks late)."""
    import os

    from hub.celery import QUEUES, queue_name

    settings = current_app.extensions["switchboard.settings"]
    if not settings.broker_url:
        _fail("SWITCHBOARD_BROKER_URL is not set: without a broker tasks run in-process")
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = [q for q in wanted if q not in QUEUES]
    if unknown or not wanted:
        _fail(f"unknown queue(s) {', '.join(unknown) or '(none)'}; known: {', '.join(QUEUES)}")
    prefix = settings.celery_queue_prefix
    celery_app = current_app.extensions["celery"]
    celery_app.worker_main(
        [
            "worker",
            "-Q",
            ",".join(queue_name(prefix, q) for q in wanted),
            "--concurrency",
            str(concurrency),
            "--pool",
            pool,
            "--hostname",
            node_name or f"worker-{os.getpid()}@%h",
            "--loglevel",
            settings.log_level,
            *(["--beat"] if beat else []),
        ]
    )


@main.command("beat")
@click.option(
    "--lease-ttl",
    default=15.0,
    show_default=True,
    type=float,
    help="seconds after which another beat takes over from a dead leader",
)
@with_appcontext
def beat(lease_ttl: float) -> None:
    """The periodic scheduler (the tick, SLA escalation, IMAP polls). Run two or more: one
    holds the lease and schedules, the others stand by and take over when it dies."""
    from hub.roles import run_beat, stop_on_signals

    if lease_ttl < 3:
        _fail("--lease-ttl must be at least 3 seconds")
    run_beat(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        ttl=lease_ttl,
        stop=stop_on_signals(),
    )
