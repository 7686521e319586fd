"""Knowledge base through the API on both backends (SQLite FTS5, PostgreSQL tsvector):
search by keyword and by the words of a ticket, accents and case folded, versions kept,
usage counted, and the index following edits."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from crm_core.models import Interaction
from crm_core.services import kb as kb_svc
from crm_core.services.tickets import do_create_ticket
from crm_core.services.users import get_or_create_team
from tests.factories import bearer, make_customer, make_user

API = "/api/v1"


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.json


@pytest.fixture
def heads(session: Session) -> dict[str, dict[str, str]]:
    get_or_create_team(session, "Service")
    agent = make_user(session, role="agent", teams=("Service",))
    outsider = make_user(session, role="agent", teams=("Sales",))
    out = {"agent": bearer(session, agent), "outsider": bearer(session, outsider)}
    session.commit()
    return out


ARTICLES = [
    {
        "title": "Router keeps rebooting",
        "body": "Unplug the router for ten seconds, then update the firmware from the admin page.",
        "keywords": ["router", "reboot", "firmware"],
        "visibility": "public",
    },
    {
        "title": "Drukarka nie drukuje",
        "body": "Sprawdź, czy w podajniku jest papier i czy kabel USB jest podłączony.",
        "keywords": ["drukarka", "papier"],
    },
    {
        "title": "Пральна машина не зливає воду",
        "body": "Очистіть фільтр зливного насоса та перевірте шланг.",
        "keywords": ["пральна машина", "фільтр"],
    },
    {
        "title": "Invoice copy",
        "body": "A copy of an invoice can be downloaded from the customer portal.",
        "keywords": ["invoice", "billing"],
    },
]


def _seed(client: FlaskClient, h: dict[str, str]) -> list[dict[str, Any]]:
    return [_ok(client.post(f"{API}/kb/articles", json=a, headers=h), 201) for a in ARTICLES]


def _titles(page: dict[str, Any]) -> list[str]:
    return [a["title"] for a in page["items"]]


def test_search_by_keyword_words_prefixes_case_and_accents(
    client: FlaskClient, heads: dict[str, dict[str, str]]
) -> None:
    h = heads["agent"]
    _seed(client, h)
    assert _titles(_ok(client.get(f"{API}/kb/articles?q=firmware", headers=h))) == [
        "Router keeps rebooting"
    ]
    # Every word must match; prefixes match whole words.
    assert _titles(_ok(client.get(f"{API}/kb/articles?q=ROUTER+unplug", headers=h))) == [
        "Router keeps rebooting"
    ]
    assert _titles(_ok(client.get(f"{API}/kb/articles?q=router+invoice", headers=h))) == []
    # Polish without diacritics finds the accented text, and the other way round.
    assert _titles(_ok(client.get(f"{API}/kb/articles?q=podlaczony", headers=h))) == [
        "Drukarka nie drukuje"
    ]
    assert _titles(_ok(client.get(f"{API}/kb/articles?q=Sprawdź+drukark", headers=h))) == [
        "Drukarka nie drukuje"
    ]
    # Ukrainian, by a keyword and by a word of the body.
    assert _titles(_ok(client.get(f"{API}/kb/articles?q=фільтр", headers=h))) == [
        "Пральна машина не зливає воду"
    ]
    assert _titles(_ok(client.get(f"{API}/kb/articles?q=насоса", headers=h))) == [
        "Пральна машина не зливає воду"
    ]
    # Filters; punctuation and FTS operators in the query are just text.
    assert (
        _titles(_ok(client.get(f"{API}/kb/articles?q=router&visibility=internal", headers=h))) == []
    )
    for nasty in ('"', "a OR b", "NEAR(x y)", "*", "-router", "router:*", "&|!()'"):
        r = client.get(f"{API}/kb/articles", query_string={"q": nasty}, headers=h)
        assert r.status_code == 200, nasty


def test_edits_keep_versions_and_move_the_index(
    client: FlaskClient, heads: dict[str, dict[str, str]]
) -> None:
    h = heads["agent"]
    router = _seed(client, h)[0]
    edited = _ok(
        client.patch(
            f"{API}/kb/articles/{router['id']}",
            json={"body": "Replace the power adapter.", "keywords": ["router", "adapter"]},
            headers=h,
        )
    )
    assert edited["version"] == 2
    assert _titles(_ok(client.get(f"{API}/kb/articles?q=firmware", headers=h))) == []
    assert _titles(_ok(client.get(f"{API}/kb/articles?q=adapter", headers=h))) == [
        "Router keeps rebooting"
    ]
    versions = _ok(client.get(f"{API}/kb/articles/{router['id']}/versions", headers=h))["items"]
    assert [v["version"] for v in versions] == [2, 1]
    assert "firmware" in versions[1]["body"] and versions[0]["body"] == "Replace the power adapter."
    # An unchanged edit makes no version.
    same = _ok(
        client.patch(
            f"{API}/kb/articles/{router['id']}", json={"title": router["title"]}, headers=h
        )
    )
    assert same["version"] == 2
    bad = client.patch(f"{API}/kb/articles/{router['id']}", json={"title": " "}, headers=h)
    assert bad.status_code == 422


def test_usage_is_counted(client: FlaskClient, heads: dict[str, dict[str, str]]) -> None:
    h = heads["agent"]
    article = _seed(client, h)[3]
    _ok(client.get(f"{API}/kb/articles/{article['id']}", headers=h))
    counted = _ok(
        client.post(f"{API}/kb/articles/{article['id']}/uses", json={"use": "insert"}, headers=h)
    )
    assert counted["view_count"] == 1 and counted["insert_count"] == 1
    r = client.post(f"{API}/kb/articles/{article['id']}/uses", json={"use": "x"}, headers=h)
    assert r.status_code == 422


def test_suggestions_from_a_tickets_subject_and_first_message(
    client: FlaskClient, heads: dict[str, dict[str, str]], session: Session
) -> None:
    h = heads["agent"]
    _seed(client, h)
    customer = make_customer(session, emails=("jan@example.com",))
    team = get_or_create_team(session, "Service")
    ticket = do_create_ticket(
        session, subject="Help please", customer_id=customer.id, team_id=team.id
    )
    # The customer's first message (seeded as a row: the channel does not matter here).
    session.add(
        Interaction(
            channel="email",
            direction="inbound",
            status="closed",
            customer_id=customer.id,
            ticket_id=ticket.id,
            subject="Help please",
            body_text="Hello, my router reboots every hour since the last firmware update.",
        )
    )
    session.commit()
    got = _ok(client.get(f"{API}/tickets/{ticket.id}/kb-suggestions", headers=h))
    assert _titles(got)[0] == "Router keeps rebooting"
    assert "router" in got["words"] and "hello" not in got["words"]
    assert "Invoice copy" not in _titles(got)
    # The ticket's record rule applies.
    r = client.get(f"{API}/tickets/{ticket.id}/kb-suggestions", headers=heads["outsider"])
    assert r.status_code == 404


def test_fold_and_query_words() -> None:
    assert kb_svc.fold("Łódź ŻÓŁW") == "lodz zolw"
    assert kb_svc.query_words("Dzień dobry, moja DRUKARKA nie drukuje!", drop_common=True) == [
        "drukarka",
        "drukuje",
    ]
