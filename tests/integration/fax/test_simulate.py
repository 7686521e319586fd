"""``switchboard simulate fax``: the signed webhook and a local media server, end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from channels.fax.models import FaxDocument
from crm_core.models import Interaction
from hub.cli import main
from hub.db import db as database
from tests.conftest import _empty_tables, make_test_app
from tests.integration.fax.conftest import ACCOUNT, TOKEN, make_pdf


@pytest.fixture
def sim_app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    app = make_test_app(
        database_url,
        tmp_path / "var",
        fax_auth_token=TOKEN,
        fax_account_sid=ACCOUNT,
        fax_media_hosts=["127.0.0.1"],  # any port on this host: the simulator picks one
    )
    yield app
    _empty_tables(app)
    database.engine_for(app).dispose()


def test_simulate_fax_delivers_a_rendered_fax(sim_app: Flask, tmp_path: Path) -> None:
    doc = tmp_path / "order.pdf"
    doc.write_bytes(make_pdf(2))
    result = sim_app.test_cli_runner().invoke(
        main, args=["simulate", "fax", "--from", "+48 22 123 45 67", "--file", str(doc)]
    )
    assert result.exit_code == 0, result.output
    assert "delivered (media fetched)" in result.output
    with sim_app.app_context():
        row = database.session.scalars(select(FaxDocument)).one()
        assert row.status == "ready" and row.num_pages == 2
        interaction = database.session.get(Interaction, row.interaction_id)
        assert interaction is not None and interaction.from_address == "+48 22 123 45 67"
        database.session.rollback()


def test_simulate_fax_explains_what_is_missing(app: Flask, tmp_path: Path) -> None:
    doc = tmp_path / "order.pdf"
    doc.write_bytes(make_pdf(1))
    runner = app.test_cli_runner()
    result = runner.invoke(
        main, args=["simulate", "fax", "--from", "+48221234567", "--file", str(doc)]
    )
    assert result.exit_code == 1
    assert "SWITCHBOARD_FAX_AUTH_TOKEN" in result.output
    missing = runner.invoke(
        main,
        args=["simulate", "fax", "--from", "+48221234567", "--file", str(tmp_path / "nope.pdf")],
    )
    assert missing.exit_code == 1 and "cannot read" in missing.output
