"""Customer cards: custom fields by type, segments over them, merging, ticket states."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from crm_core.errors import Conflict, InvalidTransition, ValidationFailed
from crm_core.models import AuditEntry, ContactPoint, Interaction, Ticket
from crm_core.services.custom_fields import custom_field_dict, define_field, set_custom_fields
from crm_core.services.customers import do_add_relation, do_merge_customers, relations_of
from crm_core.services.history import customer_history
from crm_core.services.search import search_customers
from crm_core.services.segments import segment_stmt
from crm_core.services.tickets import do_create_ticket, do_update_ticket
from tests.factories import make_customer


@pytest.fixture
def fields(session):
    define_field(session, key="loyalty_points", label="Loyalty points", field_type="number")
    define_field(session, key="contract_end", label="Contract end", field_type="date")
    define_field(
        session,
        key="preferred",
        label="Preferred contact",
        field_type="choice",
        choices=["phone", "email", "letter"],
    )
    define_field(session, key="newsletter", label="Newsletter", field_type="boolean")
    define_field(session, key="manager", label="Account manager", field_type="text")
    session.flush()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("loyalty_points", "many"),
        ("loyalty_points", True),
        ("contract_end", "31.12.2026"),
        ("preferred", "fax"),
        ("newsletter", "yes"),
        ("manager", 12),
        ("nope", 1),
    ],
)
def test_wrong_custom_value_is_refused_naming_the_field(session, fields, key, value):
    c = make_customer(session)
    with pytest.raises(ValidationFailed) as err:
        set_custom_fields(session, c, {key: value})
    assert err.value.field == f"custom_fields.{key}"
    assert err.value.status_code == 422


def test_custom_values_round_trip_typed(session, fields):
    c = make_customer(
        session,
        custom_fields={
            "loyalty_points": 120,
            "contract_end": "2027-01-31",
            "preferred": "email",
            "newsletter": True,
            "manager": "Ewa",
        },
    )
    session.commit()
    assert custom_field_dict(c) == {
        "loyalty_points": 120,
        "contract_end": dt.date(2027, 1, 31),
        "preferred": "email",
        "newsletter": True,
        "manager": "Ewa",
    }
    set_custom_fields(session, c, {"manager": None})
    assert "manager" not in custom_field_dict(c)


def test_segments_combine_fields_tags_and_custom_fields(session, fields):
    make_customer(
        session,
        first_name="Gold",
        tags=["newsletter"],
        custom_fields={"loyalty_points": 500, "preferred": "email"},
    )
    make_customer(
        session, first_name="Low", tags=["newsletter"], custom_fields={"loyalty_points": 5}
    )
    make_customer(
        session,
        first_name="Quiet",
        no_calls=True,
        custom_fields={"loyalty_points": 900, "newsletter": False},
    )
    session.commit()

    def names(flt):
        return sorted(c.first_name for c in session.scalars(segment_stmt(session, flt)))

    assert names({"field": "custom.loyalty_points", "op": "gte", "value": 100}) == ["Gold", "Quiet"]
    assert names(
        {
            "all": [
                {"field": "custom.loyalty_points", "op": "gte", "value": 100},
                {"not": {"field": "no_calls", "op": "eq", "value": True}},
            ]
        }
    ) == ["Gold"]
    assert names({"field": "tag", "op": "has", "value": "newsletter"}) == ["Gold", "Low"]
    assert names({"field": "custom.preferred", "op": "in", "value": ["email", "letter"]}) == [
        "Gold"
    ]
    assert names({"field": "custom.newsletter", "op": "eq", "value": False}) == ["Quiet"]
    assert names({"field": "custom.contract_end", "op": "not_set"}) == ["Gold", "Low", "Quiet"]
    with pytest.raises(ValidationFailed) as err:
        names({"all": [{"field": "custom.loyalty_points", "op": "gte", "value": "lots"}]})
    assert err.value.field == "filter.all[0].value"
    with pytest.raises(ValidationFailed) as err:
        names({"any": [{"field": "shoe_size", "op": "eq", "value": 1}]})
    assert err.value.field == "filter.any[0].field"


def test_merge_keeps_every_interaction_and_contact_point(session, fields):
    a = make_customer(
        session,
        first_name="Anna",
        phones=("+48601000001",),
        emails=("anna@example.pl",),
        custom_fields={"manager": "Ewa"},
    )
    b = make_customer(
        session,
        first_name="Ania",
        phones=("+48601000002", "+48601000001"),
        emails=("ania@example.pl",),
        custom_fields={"loyalty_points": 7},
        tags=["vip-prospect"],
    )
    org = make_customer(session, kind="organisation", organisation_name="Acme")
    session.flush()
    do_add_relation(session, b, "works_for", org)
    for who, n in ((a, 3), (b, 4)):
        for i in range(n):
            session.add(Interaction(channel="email", customer_id=who.id, subject=f"{who.id}-{i}"))
    ticket = do_create_ticket(session, subject="Broken", customer_id=b.id)
    session.commit()

    do_merge_customers(session, a, b, user_id=None)
    session.commit()

    assert b.merged_into_id == a.id
    history = customer_history(session, a.id, limit=100).items
    assert len(history) == 7
    assert session.get(Ticket, ticket.id).customer_id == a.id
    values = sorted(
        session.scalars(select(ContactPoint.value).where(ContactPoint.customer_id == a.id))
    )
    assert values == ["+48601000001", "+48601000002", "ania@example.pl", "anna@example.pl"]
    assert custom_field_dict(a) == {"manager": "Ewa", "loyalty_points": 7}
    assert [t.name for t in a.tags] == ["vip-prospect"]
    assert [r["customer_name"] for r in relations_of(session, a.id)] == ["Acme"]
    assert search_customers(session, "Ania") == []  # the tombstone is not found any more
    assert (
        session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "customer.merged")
        )
        == 1
    )
    with pytest.raises(Conflict):
        do_merge_customers(session, a, b)


def test_history_pages_newest_first_without_gaps(session):
    c = make_customer(session)
    base = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
    for i in range(25):
        # Pairs share a timestamp, so the cursor must order by id as well.
        session.add(
            Interaction(
                channel="voice",
                customer_id=c.id,
                subject=str(i),
                created_at=base + dt.timedelta(minutes=i // 2),
            )
        )
    session.commit()
    seen, cursor = [], None
    while True:
        page = customer_history(session, c.id, cursor=cursor, limit=7)
        seen += [int(i.subject) for i in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 25 and len(set(seen)) == 25
    assert seen[0] in (23, 24) and seen[-1] in (0, 1)


def test_ticket_states_follow_the_table(session):
    t = do_create_ticket(session, subject="Printer on fire")
    assert t.number == f"SB-{t.id:06d}"
    do_update_ticket(session, t, {"status": "pending"})
    do_update_ticket(session, t, {"status": "solved"})
    assert t.solved_at is not None
    do_update_ticket(session, t, {"status": "closed"})
    with pytest.raises(InvalidTransition) as err:
        do_update_ticket(session, t, {"status": "pending"})
    assert err.value.status_code == 409
    assert "closed ticket cannot become pending" in err.value.message
    do_update_ticket(session, t, {"status": "open"})
    assert t.closed_at is None


def test_search_finds_by_number_in_any_format_email_and_ticket(session, fields):
    c = make_customer(
        session,
        first_name="Zofia",
        last_name="Wiśniewska",
        phones=("+48 601 234 567",),
        emails=("zofia@example.pl",),
        custom_fields={"manager": "Krzysztof"},
    )
    t = do_create_ticket(session, subject="Faktura", customer_id=c.id)
    session.commit()
    for q in (
        "wiśniewska",
        "ZOFIA",
        "601 234 567",
        "0048601234567",
        "zofia@example.pl",
        t.number,
        f"#{t.number}",
        "Krzysztof",
    ):
        assert [x.id for x in search_customers(session, q, region="PL")] == [c.id], q
    assert search_customers(session, "100%_", region="PL") == []
