"""Attachments through the API: upload, type sniffing, size limit, links, search, download."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from crm_core.services.tickets import do_create_ticket
from crm_core.services.users import get_or_create_team
from hub.db import db as database
from tests.conftest import _empty_tables, make_test_app
from tests.factories import bearer, make_customer, make_user

API = "/api/v1"
LIMIT = 2048
# The first bytes of a real PNG: enough for the sniffer, whatever the client claims.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app with a small upload limit, so that 'too large' is cheap to reach."""
    application = make_test_app(database_url, tmp_path / "var", max_upload_bytes=LIMIT)
    yield application
    _empty_tables(application)
    database.engine_for(application).dispose()


def _upload(
    client: FlaskClient,
    url: str,
    headers: dict[str, str],
    data: bytes,
    name: str = "file.bin",
    mimetype: str = "application/octet-stream",
    **fields: str,
) -> object:
    form = {"file": (io.BytesIO(data), name, mimetype), **fields}
    return client.post(url, data=form, headers=headers, content_type="multipart/form-data")


def test_upload_sniff_download(client: FlaskClient, session: Session, app: Flask) -> None:
    headers = bearer(session, make_user(session))
    customer = make_customer(session)
    session.commit()
    url = f"{API}/customers/{customer.id}/attachments"
    r = _upload(
        client,
        url,
        headers,
        PNG,
        name="invoice.html",
        mimetype="text/html",
        category="scan",
        keywords="invoice march 2026",
    )
    assert r.status_code == 201, r.json
    att = r.json
    assert att["content_type"] == "image/png"  # what the bytes are, not what we were told
    assert att["filename"] == "invoice.html" and att["size"] == len(PNG)
    assert att["category"] == "scan" and att["customer_id"] == customer.id

    got = client.get(att["content_url"], headers=headers)
    assert got.status_code == 200
    assert got.data == PNG
    assert got.headers["Content-Disposition"].startswith("attachment;")
    assert "invoice.html" in got.headers["Content-Disposition"]
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.mimetype == "image/png"

    # Same bytes again: a second row, one stored file, addressed by its hash.
    again = _upload(client, url, headers, PNG, name="copy.png").json
    assert again["sha256"] == att["sha256"] and again["id"] != att["id"]
    blob_dir = app.extensions["switchboard.settings"].effective_blob_dir
    assert [p.name for p in Path(blob_dir).rglob("*") if p.is_file()] == [att["sha256"]]

    text = _upload(
        client, url, headers, "zażółć gęślą jaźń".encode(), name="notes.txt", mimetype="text/plain"
    ).json
    assert text["content_type"] == "text/plain"


def test_upload_limits_and_bad_uploads(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_user(session))
    customer = make_customer(session)
    session.commit()
    url = f"{API}/customers/{customer.id}/attachments"
    exact = _upload(client, url, headers, b"a" * LIMIT)
    assert exact.status_code == 201, exact.json
    # Over the file limit, inside the request limit: the action refuses it.
    r = _upload(client, url, headers, b"a" * (LIMIT + 1))
    assert r.status_code == 413
    assert r.json["error"] == "too_large" and r.json["field"] == "file"
    # Far over: Flask stops reading the request; still a JSON problem on the API.
    r = _upload(client, url, headers, b"a" * (LIMIT + 200 * 1024))
    assert r.status_code == 413
    assert r.is_json and r.json["error"] == "request_entity_too_large"
    # The same for a JSON body.
    r = client.post(
        f"{API}/customers", headers=headers, json={"last_name": "x", "notes": "n" * (200 * 1024)}
    )
    assert r.status_code == 413 and r.is_json

    r = client.post(url, headers=headers, json={"file": "not a file"})
    assert r.status_code == 415 and r.is_json
    r = client.post(
        url, headers=headers, data={"category": "x"}, content_type="multipart/form-data"
    )
    assert r.status_code == 422 and r.json["field"] == "file"
    r = _upload(client, url, headers, b"abc", category="c" * 81)
    assert r.status_code == 422 and r.json["field"] == "category"
    assert (
        _upload(client, f"{API}/customers/999999/attachments", headers, b"abc").status_code == 404
    )


def test_links_search_and_record_rule(client: FlaskClient, session: Session) -> None:
    support = get_or_create_team(session, "Support")
    get_or_create_team(session, "Sales")
    agent = make_user(session, role="agent", teams=("Sales",))
    supervisor = make_user(session, role="supervisor")
    customer = make_customer(session)
    hidden_ticket = do_create_ticket(
        session, subject="Outage", team_id=support.id, customer_id=customer.id
    )
    agent_h, super_h = bearer(session, agent), bearer(session, supervisor)
    session.commit()

    r = client.post(
        f"{API}/customers/{customer.id}/links",
        headers=agent_h,
        json={
            "url": "https://docs.example.com/contract.pdf",
            "title": "Contract",
            "category": "contract",
            "keywords": "signed 2026 annex",
        },
    )
    assert r.status_code == 201, r.json
    link = r.json
    assert link["kind"] == "link" and link["content_url"] is None
    assert client.get(f"{API}/attachments/{link['id']}/content", headers=agent_h).status_code == 404
    for bad in ("javascript:alert(1)", "file:///etc/passwd", "https://"):
        r = client.post(f"{API}/customers/{customer.id}/links", headers=agent_h, json={"url": bad})
        assert r.status_code == 422 and r.json["field"] == "url", bad

    # The agent cannot attach to, nor see attachments of, another team's ticket.
    assert (
        _upload(
            client, f"{API}/tickets/{hidden_ticket.id}/attachments", agent_h, b"log"
        ).status_code
        == 404
    )
    r = _upload(
        client,
        f"{API}/tickets/{hidden_ticket.id}/attachments",
        super_h,
        b"router log",
        name="router.log",
        category="log",
        keywords="outage router",
    )
    assert r.status_code == 201, r.json
    hidden = r.json
    assert hidden["ticket_id"] == hidden_ticket.id and hidden["customer_id"] == customer.id

    def ids(query: str, headers: dict[str, str]) -> set[int]:
        r = client.get(f"{API}/attachments{query}", headers=headers)
        assert r.status_code == 200, r.json
        return {a["id"] for a in r.json["items"]}

    assert ids("", super_h) == {link["id"], hidden["id"]}
    assert ids("", agent_h) == {link["id"]}
    # The ticket's rights are its attachments': 403 for a case the agent may not see.
    assert client.get(f"{API}/attachments/{hidden['id']}", headers=agent_h).status_code == 403
    assert (
        client.get(f"{API}/attachments/{hidden['id']}/content", headers=agent_h).status_code == 403
    )
    assert ids("?category=contract", super_h) == {link["id"]}
    assert ids("?q=ANNEX signed", super_h) == {link["id"]}
    assert ids("?q=annex outage", super_h) == set()
    assert ids("?q=router.log", super_h) == {hidden["id"]}
    assert ids("?kind=file", super_h) == {hidden["id"]}
    assert ids(f"?ticket_id={hidden_ticket.id}", super_h) == {hidden["id"]}
    assert ids(f"?customer_id={customer.id}", super_h) == {link["id"], hidden["id"]}
