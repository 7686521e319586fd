from __future__ import annotations

import datetime as dt
import json

import pytest

from crm_core.errors import NotFound
from crm_core.models import Interaction
from crm_core.services.custom_fields import define_field
from crm_core.services.customers import do_add_relation, do_merge_customers
from crm_core.services.tickets import do_add_note, do_create_ticket
from crm_core.services.users import do_create_user
from hub.cards import customer_card, next_birthday, unknown_caller_card, upcoming_birthday
from tests.factories import PASSWORD, make_customer


def _at(minutes: int) -> dt.datetime:
    return dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)


def test_card_gathers_the_screen_pop(session):
    define_field(session, key="contract", label="Contract no.", field_type="text", position=1)
    define_field(session, key="since", label="Customer since", field_type="date", position=2)
    define_field(session, key="seats", label="Seats", field_type="number", position=3)
    org = make_customer(session, kind="organisation", organisation_name="Acme sp. z o.o.")
    anna = make_customer(
        session,
        first_name="Anna",
        last_name="Nowak",
        phones=("+48 601 234 567", "+44 20 7946 0018"),
        emails=("Anna@Example.org",),
        vip=True,
        no_calls=True,
        customer_class="gold",
        tags=("reseller", "warsaw"),
        birthday=dt.date(1980, 11, 20),
        custom_fields={"contract": "C-42", "since": "2020-01-02", "seats": 12},
    )
    do_add_relation(session, anna, "works_for", org)
    user = do_create_user(
        session, email="card-agent@example.com", name="Card Agent", password=PASSWORD
    )
    do_create_ticket(session, subject="Broken router", customer_id=anna.id)
    closed = do_create_ticket(session, subject="Old thing", customer_id=anna.id)
    closed.status = "closed"
    for n, (channel, summary) in enumerate(
        [
            ("voice", "call 1"),
            ("email", "Invoice question"),
            ("fax", "fax in"),
            ("webform", "form"),
            ("voice", "call 2"),
            ("email", "latest mail"),
        ]
    ):
        session.add(
            Interaction(
                channel=channel,
                direction="inbound",
                status="closed",
                customer_id=anna.id,
                summary=summary,
                created_at=_at(n),
            )
        )
    session.flush()
    note = do_add_note(session, body="Promised a callback", author=user, customer_id=anna.id)
    note.created_at = _at(100)
    session.commit()

    card = customer_card(session, anna.id, today=dt.date(2026, 11, 10))
    json.dumps(card)  # JSON-ready as it is: the offer event carries it whole

    assert card["known"] is True
    assert card["name"] == "Anna Nowak"
    assert card["kind"] == "person"
    assert card["organisation"] == {"id": org.id, "name": "Acme sp. z o.o.", "vip": False}
    assert card["customer_class"] == "gold"
    assert card["tags"] == ["reseller", "warsaw"]
    assert card["vip"] is True
    assert card["consent"] == {"no_calls": True, "no_mail": False}
    phones = {c["value"]: c["display"] for c in card["contact_points"] if c["kind"] == "phone"}
    # Home-region numbers national, foreign ones international.
    assert phones == {"+48601234567": "601 234 567", "+442079460018": "+44 20 7946 0018"}
    emails = [c["value"] for c in card["contact_points"] if c["kind"] == "email"]
    assert emails == ["anna@example.org"]
    fields = {f["key"]: (f["label"], f["value"]) for f in card["custom_fields"]}
    assert fields == {
        "contract": ("Contract no.", "C-42"),
        "since": ("Customer since", "2020-01-02"),
        "seats": ("Seats", 12),
    }
    assert [t["subject"] for t in card["open_tickets"]] == ["Broken router"]
    assert card["open_tickets"][0]["number"].startswith("SB-")
    recent = card["recent_interactions"]
    assert [r["summary"] for r in recent] == [
        "Promised a callback",
        "latest mail",
        "call 2",
        "form",
        "fax in",
    ]
    assert recent[0]["channel"] == "note" and recent[0]["direction"] == "internal"
    assert recent[1]["at"] == "2026-11-01T09:05:00+00:00"
    assert card["birthday"] == "1980-11-20"
    assert card["upcoming_birthday"] == {"date": "2026-11-20", "in_days": 10, "age": 46}
    assert card["relations"][0]["label"] == "works for"


def test_card_of_a_merged_customer_is_the_survivor(session):
    keep = make_customer(session, first_name="Keep")
    gone = make_customer(session, first_name="Gone")
    do_merge_customers(session, keep, gone)
    session.commit()
    assert customer_card(session, gone.id, region="PL")["id"] == keep.id


def test_unknown_customer_id(session):
    with pytest.raises(NotFound):
        customer_card(session, 999_999, region="PL")


def test_organisation_card_has_no_employer(session):
    org = make_customer(session, kind="organisation", organisation_name="Beta S.A.")
    session.commit()
    card = customer_card(session, org.id, region="PL")
    assert card["organisation"] is None
    assert card["name"] == "Beta S.A."
    assert card["upcoming_birthday"] is None


def test_unknown_caller_card(app):
    with app.app_context():  # the app's default region (PL) formats home numbers
        card = unknown_caller_card("0048 601-234-567")
    assert card == {
        "known": False,
        "withheld": False,
        "number": "+48601234567",
        "display": "601 234 567",
        "raw": "0048 601-234-567",
    }
    foreign = unknown_caller_card("+44 20 7946 0018", region="PL")
    assert foreign["display"] == "+44 20 7946 0018"
    for withheld in ("Anonymous", "+266696687", "", None):
        card = unknown_caller_card(withheld, region="PL")
        assert card["withheld"] is True and card["number"] is None


@pytest.mark.parametrize(
    ("born", "today", "expected"),
    [
        (dt.date(1990, 3, 5), dt.date(2026, 3, 5), dt.date(2026, 3, 5)),
        (dt.date(1990, 3, 5), dt.date(2026, 3, 6), dt.date(2027, 3, 5)),
        (dt.date(2000, 2, 29), dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
        (dt.date(2000, 2, 29), dt.date(2027, 12, 31), dt.date(2028, 2, 29)),
    ],
)
def test_next_birthday(born, today, expected):
    assert next_birthday(born, today) == expected


def test_birthday_outside_window_is_not_upcoming():
    assert upcoming_birthday(dt.date(1990, 6, 1), dt.date(2026, 1, 1)) is None
    assert upcoming_birthday(dt.date(1990, 1, 1), dt.date(2026, 12, 31))["in_days"] == 1
