from __future__ import annotations

import pytest

from crm_core.services.identify import identify_by_email, identify_by_phone, match_phone
from crm_core.services.phones import format_phone, normalize_phone
from tests.factories import make_customer

WITHHELD = [
    "Anonymous",
    "Restricted",
    "Unavailable",
    "+266696687",
    "+7378742833",
    "+2562533",
    "+8656696",
    "+86282452253",
    "anonymous",
    " +266 696 687 ",
    "UNKNOWN",
]
GARBAGE = [
    "",
    "   ",
    "abc",
    "++48",
    "12",
    "0" * 70,
    "+48 601 234 567 ext",
    "\x00\x01",
    "☎️",
    "+999 123",
    "DROP TABLE customers;",
    None,
]


def test_one_customer_found_from_every_format(session):
    pl = make_customer(session, phones=("+48 601 234 567",))
    gb = make_customer(session, first_name="Oliver", phones=("+44 20 7946 0018",))
    session.commit()
    for raw in ("+48 601 234 567", "0048601234567", "+48601234567"):
        assert identify_by_phone(session, raw).id == pl.id, raw
    assert identify_by_phone(session, "601-234-567", region="PL").id == pl.id
    assert identify_by_phone(session, "(020) 7946 0018", region="GB").id == gb.id
    assert identify_by_phone(session, "+44 (0)20 7946 0018").id == gb.id


@pytest.mark.parametrize("raw", WITHHELD + GARBAGE)
def test_withheld_and_garbage_identify_nobody(session, raw):
    make_customer(session, phones=("+48 601 234 567",))
    session.commit()
    assert identify_by_phone(session, raw, region="PL") is None
    assert match_phone(session, raw) == []


@pytest.mark.parametrize("raw", WITHHELD)
def test_withheld_never_normalises(raw):
    assert normalize_phone(raw, "US") is None


def test_shared_line_prefers_most_recently_updated(session):
    first = make_customer(session, phones=("+48 22 123 45 67",))
    second = make_customer(session, phones=("+48 22 123 45 67",))
    session.commit()
    assert {c.id for c in match_phone(session, "22 123 45 67", "PL")} == {first.id, second.id}
    assert identify_by_phone(session, "22 123 45 67", "PL") is not None


def test_email_identification_ignores_case_and_display_name(session):
    c = make_customer(session, emails=("Anna.Nowak@Example.PL",))
    session.commit()
    assert identify_by_email(session, '"Anna N." <anna.nowak@example.pl>').id == c.id
    assert identify_by_email(session, "ANNA.NOWAK@EXAMPLE.PL").id == c.id
    assert identify_by_email(session, "not an address") is None
    assert identify_by_email(session, None) is None


def test_phone_display_national_at_home_international_abroad():
    assert format_phone("+48601234567", "PL") == "601 234 567"
    assert format_phone("+442079460018", "PL") == "+44 20 7946 0018"
