"""``switchboard simulate fax --from ... --file doc.pdf``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_babel import gettext as _

from hub.i18n import in_cli_language


@click.command("fax")
@click.option("--from", "from_number", required=True, help="the sender's fax number")
@click.option("--file", "path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--to", "to_number", default=None, help="our fax number (default: the setting)")
@click.option("--url", "base_url", default=None, help="post to a running server at this URL")
@click.option("--media-port", default=0, show_default=True, help="port of the media server")
@with_appcontext
@in_cli_language
def simulate_fax_command(
    from_number: str, path: Path, to_number: str | None, base_url: str | None, media_port: int
) -> None:
    """Act as the fax provider: serve the file and post the signed webhook."""
    from channels.fax.simulate import SimulationError, simulate_fax

    try:
        data = path.read_bytes()
    except OSError as exc:
        message = _("cannot read %(path)s: %(error)s", path=path, error=exc.strerror)
        click.echo(f"switchboard: {message}", err=True)
        sys.exit(1)
    try:
        result = simulate_fax(
            current_app._get_current_object(),  # type: ignore[attr-defined]
            from_number=from_number,
            data=data,
            to_number=to_number,
            base_url=base_url,
            media_port=media_port,
        )
    except SimulationError as exc:
        click.echo(f"switchboard: {exc}", err=True)
        sys.exit(1)
    if result["status"] != 200:
        message = _(
            "the webhook answered %(status)s: %(body)s",
            status=result["status"],
            body=result["body"],
        )
        click.echo(f"switchboard: {message}", err=True)
        sys.exit(1)
    if result["fetched"]:
        done = _(
            "fax %(sid)s from %(number)s delivered (media fetched)",
            sid=result["sid"],
            number=from_number,
        )
    else:
        done = _(
            "fax %(sid)s from %(number)s delivered (media not fetched yet)",
            sid=result["sid"],
            number=from_number,
        )
    click.echo(done)
