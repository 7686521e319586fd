"""The single intake door: exactly once, all or nothing, events only after commit."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from crm_core.models import Customer, Interaction
from hub import intake
from hub.db import db
from hub.events import INTERACTION_CREATED, subscribe, unsubscribe
from hub.intake import InboundAttachment, InboundEvent, IntakeError, receive
from tests.factories import make_customer


def _count(session, model) -> int:
    session.rollback()  # a fresh snapshot
    n = session.scalar(select(func.count()).select_from(model))
    session.rollback()  # and no transaction left open to block intake's writer (SQLite)
    return n


@pytest.fixture
def events():
    seen = []
    receiver = subscribe(None, seen.append)
    yield seen
    unsubscribe(receiver)


def call(sid: str = "CA" + "1" * 32, number: str = "+48 601 234 567") -> InboundEvent:
    return InboundEvent(
        channel="voice", external_id=sid, from_address=number, to_address="+48221234567"
    )


def test_repeat_delivery_creates_nothing_new(app, session, events):
    customer = make_customer(session, phones=("+48601234567",))
    session.commit()
    with app.app_context():
        first = receive(call(number="0048 601-234-567"))
        again = receive(call(number="0048 601-234-567"))
    assert first.was_duplicate is False and again.was_duplicate is True
    assert again.id == first.id
    assert first.customer_id == customer.id
    assert first.status == "queued"
    assert _count(session, Interaction) == 1
    assert [e.type for e in events if e.type == INTERACTION_CREATED] == [INTERACTION_CREATED]


def test_unknown_caller_stays_unidentified_with_number_kept(app, session):
    with app.app_context():
        got = receive(call(number="+44 20 7946 0999"))
    assert got.customer_id is None
    assert got.from_address == "+44 20 7946 0999"
    assert _count(session, Customer) == 0


@pytest.mark.parametrize("number", ["Anonymous", "+266696687", "Restricted", ""])
def test_withheld_caller_is_never_matched(app, session, number):
    make_customer(session, phones=("+48601234567",))
    session.commit()
    with app.app_context():
        got = receive(call(number=number))
    assert got.customer_id is None


def test_unknown_email_sender_becomes_a_customer(app, session):
    evt = InboundEvent(
        channel="email",
        external_id="<a1@example.org>",
        from_address="Jan Nowak <Jan.Nowak@Example.org>",
        from_name="Jan Nowak",
        subject="Zamówienie 123",
        body_text="Dzień dobry",
    )
    with app.app_context():
        got = receive(evt)
        again = receive(
            InboundEvent(
                channel="email",
                external_id="<a2@example.org>",
                from_address="jan.nowak@example.org",
            )
        )
    assert got.customer_id is not None and again.customer_id == got.customer_id
    customer = session.get(Customer, got.customer_id)
    assert customer.display_name == "Jan Nowak"
    assert [c.value for c in customer.contact_points] == ["jan.nowak@example.org"]


def test_attachments_and_raw_bytes_are_stored(app, session):
    evt = InboundEvent(
        channel="email",
        external_id="<att@example.org>",
        from_address="a@example.org",
        raw=b"Subject: x\r\n\r\nbody\r\n",
        attachments=(InboundAttachment("scan.pdf", "application/pdf", b"%PDF-1.4 minimal"),),
    )
    with app.app_context():
        got = receive(evt)
        store_root = app.extensions["switchboard.settings"].effective_blob_dir
    assert got.raw_sha256 is not None
    assert (store_root / got.raw_sha256[:2] / got.raw_sha256[2:4] / got.raw_sha256).exists()
    from crm_core.models import Attachment

    att = session.scalar(select(Attachment).where(Attachment.interaction_id == got.id))
    assert att.content_type == "application/pdf" and att.filename == "scan.pdf"


def test_failure_inside_receive_leaves_nothing_and_publishes_nothing(
    app, session, events, monkeypatch
):
    def broken_threader(sess, event, interaction):
        raise RuntimeError("threading bug")

    monkeypatch.setitem(intake._threaders, "email", broken_threader)
    evt = InboundEvent(
        channel="email",
        external_id="<boom@example.org>",
        from_address="new.person@example.org",
        subject="hello",
    )
    with app.app_context(), pytest.raises(IntakeError):
        receive(evt)
    assert _count(session, Interaction) == 0
    assert _count(session, Customer) == 0  # the new sender's card went with the rollback
    assert events == []
    monkeypatch.undo()
    with app.app_context():
        assert receive(evt).was_duplicate is False  # a retry then succeeds, once


def test_event_arrives_after_commit_is_visible(app, events):
    seen_rows = []

    def check_visible(evt):
        # A brand-new connection must already see the row: the event came after COMMIT.
        with app.app_context(), db.transaction() as other:
            seen_rows.append(other.get(Interaction, evt.data["interaction_id"]) is not None)

    receiver = subscribe(INTERACTION_CREATED, check_visible)
    try:
        with app.app_context():
            receive(call())
    finally:
        unsubscribe(receiver)
    assert seen_rows == [True]


def test_bad_events_are_refused_before_touching_anything():
    with pytest.raises(ValueError, match="channel"):
        InboundEvent(channel="pigeon", external_id="x")
    with pytest.raises(ValueError, match="external_id"):
        InboundEvent(channel="voice", external_id="x" * 300)


def test_concurrent_delivery_of_one_event_creates_one_interaction(
    app, session, postgres_only, events
):
    make_customer(session, phones=("+48601234567",))
    session.commit()
    barrier = threading.Barrier(8)
    results, errors = [], []

    def deliver():
        try:
            with app.app_context():
                barrier.wait()
                results.append(receive(call(sid="CA" + "9" * 32)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({r.id for r in results}) == 1
    assert sum(not r.was_duplicate for r in results) == 1
    assert _count(session, Interaction) == 1
    assert len([e for e in events if e.type == INTERACTION_CREATED]) == 1


def test_concurrent_new_senders_share_one_customer(app, session, postgres_only):
    barrier = threading.Barrier(6)
    results, errors = [], []

    def deliver(n: int):
        try:
            with app.app_context():
                barrier.wait()
                results.append(
                    receive(
                        InboundEvent(
                            channel="email",
                            external_id=f"<m{n}@example.org>",
                            from_address="same.sender@example.org",
                        )
                    )
                )
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({r.customer_id for r in results}) == 1
    assert _count(session, Customer) == 1
