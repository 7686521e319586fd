"""``switchboard simulate call``: an inbound call played through the signed webhooks."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_babel import gettext as _
from sqlalchemy import select

from channels.twilio_voice.config import VoiceConfig
from channels.twilio_voice.simulate import SimulationError, simulate_call
from hub.i18n import in_cli_language


def _fail(message: str) -> None:
    click.echo(f"switchboard: {message}", err=True)
    sys.exit(1)


def _describe(twiml: str) -> str:
    try:
        root = ET.fromstring(twiml)  # noqa: S314
    except ET.ParseError:
        return twiml[:120]
    parts = []
    for node in root.iter():
        if node.tag == "Say" and node.text:
            parts.append(_('says "%(text)s"', text=node.text))
        elif node.tag == "Gather":
            parts.append(_("waits for a key"))
        elif node.tag == "Conference":
            parts.append(_("waits in conference %(name)s for an agent", name=node.text))
        elif node.tag == "Record":
            parts.append(_("records a voicemail"))
        elif node.tag == "Hangup":
            parts.append(_("hangs up"))
    return "; ".join(parts) or _("(nothing)")


def _home_number(cfg: VoiceConfig) -> str:
    """The first company number of the home region (the demo's Polish line in PL)."""
    import phonenumbers

    for number in cfg.company_numbers:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(number))
        if region == cfg.default_region:
            return number
    return cfg.company_numbers[0]


@click.command("call")
@click.option("--from", "caller", required=True, help="the caller's number, e.g. +48601234567")
@click.option("--to", "called", default=None, help="a company number (default: the first one)")
@click.option("--press", default=None, help="key(s) to press in the IVR menu")
@click.option(
    "--hangup-after",
    type=float,
    default=None,
    help="hang up after this many seconds (default: stay on the line)",
)
@click.option(
    "--url",
    "base_url",
    default=None,
    help="post over HTTP to a running server at this URL (default: through this process)",
)
@with_appcontext
@in_cli_language
def simulate_call_command(
    caller: str,
    called: str | None,
    press: str | None,
    hangup_after: float | None,
    base_url: str | None,
) -> None:
    """Act as Twilio: post the signed webhooks of an incoming call, follow the IVR."""
    from crm_core.models import Customer, Interaction
    from hub.db import db

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    cfg: VoiceConfig | None = app.extensions.get("switchboard.voice")
    if cfg is None or not cfg.enabled:
        _fail(
            _(
                "the voice channel is off: set SWITCHBOARD_TWILIO_SIMULATOR=1"
                " (or Twilio credentials)"
            )
        )
        return
    if called is None:
        if not cfg.company_numbers:
            _fail(_("no company numbers configured (SWITCHBOARD_TWILIO_MENUS_FILE)"))
            return
        called = _home_number(cfg)
    if hangup_after is not None and hangup_after < 0:
        _fail(_("--hangup-after must be 0 or more seconds"))
    try:
        sim = simulate_call(
            app,
            caller=caller,
            called=called,
            press=press,
            hangup_after=hangup_after,
            base_url=base_url,
        )
    except (SimulationError, OSError) as exc:
        _fail(str(exc))
        return
    click.echo(
        _(
            "call %(sid)s from %(caller)s to %(called)s",
            sid=sim.call_sid,
            caller=caller,
            called=called,
        )
    )
    for step in sim.steps:
        if step.status == 200:
            what = _describe(step.twiml)
        else:
            what = "ok" if step.status == 204 else f"HTTP {step.status}"
        click.echo(f"  {step.what}: {what}")
    if any(step.status >= 400 for step in sim.steps):
        _fail(_("the app refused a webhook (see above)"))
    if base_url is None:
        with db.transaction() as session:
            interaction = session.scalar(
                select(Interaction).where(
                    Interaction.channel == "voice", Interaction.external_id == sim.call_sid
                )
            )
            if interaction is not None:
                who = _("unknown caller")
                if interaction.customer_id is not None:
                    customer = session.get(Customer, interaction.customer_id)
                    who = customer.display_name if customer else who
                click.echo(
                    _(
                        "interaction %(id)s (%(who)s): %(status)s",
                        id=interaction.id,
                        who=who,
                        status=interaction.status,
                    )
                )
