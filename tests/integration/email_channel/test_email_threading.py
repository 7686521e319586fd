"""Threading of replies, auto-acknowledgement with loop protection, and agents' replies."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from channels.email.models import EmailMessage
from channels.email.outbound import deliver
from crm_core.models import Interaction, Ticket, User
from crm_core.services.tickets import do_update_ticket
from hub.db import db
from hub.replies import do_send_reply
from tests.factories import make_user
from tests.integration.email_channel.conftest import free_port
from tests.integration.email_channel.mail import SUPPORT, message, outbox, send

CUSTOMER = "Jan Nowak <jan.nowak@example.org>"


def var_dir(app):
    return app.extensions["switchboard.settings"].var_dir


def tickets(app) -> list[Ticket]:
    with db.sessionmaker_for(app)() as s:
        return list(s.scalars(select(Ticket).order_by(Ticket.id)))


def inbound(app) -> list[Interaction]:
    with db.sessionmaker_for(app)() as s:
        return list(
            s.scalars(
                select(Interaction)
                .where(Interaction.direction == "inbound")
                .order_by(Interaction.id)
            )
        )


def first_mail(listener, **kw) -> None:
    code, reply = send(listener, message(sender=CUSTOMER, message_id="<first@example.org>", **kw))
    assert code == 250 and " ticket " in reply


def test_reply_threads_by_in_reply_to_and_references(email_app, listener):
    first_mail(listener)
    by_irt = message(
        sender=CUSTOMER,
        subject="Re: Printer on fire",
        headers={"In-Reply-To": "<first@example.org>"},
    )
    assert " reply " in send(listener, by_irt)[1]
    # A client that dropped In-Reply-To but kept References (and rewrote the subject).
    by_refs = message(
        sender=CUSTOMER,
        subject="AW: something else entirely",
        headers={"References": "<unknown@elsewhere> <first@example.org>"},
    )
    assert " reply " in send(listener, by_refs)[1]
    assert len(tickets(email_app)) == 1
    assert {i.ticket_id for i in inbound(email_app)} == {tickets(email_app)[0].id}


def test_reply_threads_by_subject_tag(email_app, listener):
    first_mail(listener)
    number = tickets(email_app)[0].number
    assert number.startswith("SB-")
    tagged = message(sender="jan.nowak@example.org", subject=f"Still burning [{number}]")
    assert " reply " in send(listener, tagged)[1]
    short = message(sender=CUSTOMER, subject=f"again [#{int(number[3:])}]")
    assert " reply " in send(listener, short)[1]
    assert len(tickets(email_app)) == 1


def test_a_stranger_does_not_join_someone_elses_ticket(email_app, listener):
    first_mail(listener)
    number = tickets(email_app)[0].number
    # A newsletter reader answering a quoted message, from another address: its own ticket.
    stranger = message(
        sender="Eve <eve@example.net>",
        subject=f"Re: Printer on fire [{number}]",
        headers={"In-Reply-To": "<first@example.org>", "References": "<first@example.org>"},
    )
    assert " ticket " in send(listener, stranger)[1]
    assert len(tickets(email_app)) == 2
    # Someone who was copied on the first mail may join.
    copied = message(
        sender=CUSTOMER,
        subject="Copy",
        message_id="<second@example.org>",
        headers={"Cc": "boss@example.org"},
    )
    send(listener, copied)
    boss = message(
        sender="boss@example.org",
        subject="Re: Copy",
        headers={"In-Reply-To": "<second@example.org>"},
    )
    assert " reply " in send(listener, boss)[1]


def test_reply_to_a_closed_ticket_reopens_it_or_opens_a_follow_up(email_app, listener):
    first_mail(listener)
    with db.sessionmaker_for(email_app)() as s:
        ticket = s.scalars(select(Ticket)).one()
        do_update_ticket(s, ticket, {"status": "closed"})
        s.commit()
    reply = message(sender=CUSTOMER, subject="Re", headers={"In-Reply-To": "<first@example.org>"})
    assert " reply " in send(listener, reply)[1]
    assert tickets(email_app)[0].status == "open"
    with db.sessionmaker_for(email_app)() as s:
        ticket = s.scalars(select(Ticket)).one()
        do_update_ticket(s, ticket, {"status": "closed"})
        ticket.closed_at = ticket.closed_at - dt.timedelta(days=31)
        s.commit()
    late = message(sender=CUSTOMER, subject="Re 2", headers={"In-Reply-To": "<first@example.org>"})
    assert " ticket " in send(listener, late)[1]
    old, new = tickets(email_app)
    assert old.status == "closed" and new.status == "new"
    assert inbound(email_app)[-1].payload["follow_up_of"] == old.id


def test_new_ticket_is_acknowledged_and_the_customers_reply_threads_back(email_app, listener):
    first_mail(listener)
    (ack,) = outbox(var_dir(email_app))
    ticket = tickets(email_app)[0]
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["In-Reply-To"] == "<first@example.org>"
    assert ack["To"] == "jan.nowak@example.org"
    assert f"[{ticket.number}]" in ack["Subject"] and ticket.number in ack.get_content()
    # The customer answers the acknowledgement: the reply joins the ticket, with no new ack.
    answer = message(
        sender=CUSTOMER,
        subject=str(ack["Subject"]),
        headers={"In-Reply-To": ack["Message-ID"], "References": ack["References"]},
    )
    assert " reply " in send(listener, answer)[1]
    assert len(outbox(var_dir(email_app))) == 1


@pytest.mark.parametrize(
    ("sender", "headers", "mail_from"),
    [
        (CUSTOMER, {"Auto-Submitted": "auto-replied"}, "x@example.org"),
        (CUSTOMER, {"Auto-Submitted": "auto-generated"}, "x@example.org"),
        (CUSTOMER, {"Precedence": "bulk"}, "x@example.org"),
        (CUSTOMER, {"Precedence": "junk"}, "x@example.org"),
        (CUSTOMER, {"Precedence": "list"}, "x@example.org"),
        (CUSTOMER, {"List-Id": "<news.example.org>"}, "x@example.org"),
        (CUSTOMER, {"X-Autoreply": "yes"}, "x@example.org"),
        ("MAILER-DAEMON@example.org", {}, "x@example.org"),
        ("noreply@example.org", {}, "x@example.org"),
        (CUSTOMER, {}, ""),  # null envelope sender: a bounce
        (f"Us <{SUPPORT}>", {}, "x@example.org"),  # our own address
    ],
)
def test_no_acknowledgement_to_machines_lists_bounces_or_ourselves(
    email_app, listener, sender, headers, mail_from
):
    code, reply = send(listener, message(sender=sender, headers=headers), mail_from=mail_from)
    assert code == 250 and " ticket " in reply  # filed as a ticket, quietly
    assert outbox(var_dir(email_app)) == []


def test_acknowledgements_are_rate_limited_per_sender(email_app, listener):
    for n in range(5):
        send(listener, message(sender=CUSTOMER, subject=f"Question {n}"))
    assert len(tickets(email_app)) == 5
    assert len(outbox(var_dir(email_app))) == 3  # email_autoack_limit
    send(listener, message(sender="other@example.org", subject="Mine"))
    assert len(outbox(var_dir(email_app))) == 4


def test_an_auto_responder_answering_our_ack_gets_no_second_ack(email_app, listener):
    first_mail(listener)
    (ack,) = outbox(var_dir(email_app))
    # A vacation responder that even drops In-Reply-To and sets no Auto-Submitted still
    # quotes our subject tag: it joins the ticket and gets nothing back.
    responder = message(sender=CUSTOMER, subject=f"Out of office: {ack['Subject']}")
    assert " reply " in send(listener, responder)[1]
    # One with a new subject and no tag, but RFC 3834 headers: a ticket, no ack.
    polite = message(
        sender="robot@example.net", subject="I am away", headers={"Auto-Submitted": "auto-replied"}
    )
    assert " ticket " in send(listener, polite)[1]
    assert len(outbox(var_dir(email_app))) == 1


def test_agents_reply_goes_out_with_threading_headers_and_the_answer_threads_back(
    email_app, listener
):
    first_mail(listener)
    with email_app.app_context(), db.sessionmaker_for(email_app)() as s:
        agent = make_user(s, role="supervisor")
        ticket = s.scalars(select(Ticket)).one()
        out = do_send_reply(s, ticket, author=agent, body="Please unplug it.")
        s.commit()
        out_id = out.id
    sent = outbox(var_dir(email_app))[-1]
    assert sent["In-Reply-To"] == "<first@example.org>"
    assert "<first@example.org>" in sent["References"]
    assert f"[{ticket.number}]" in sent["Subject"]
    assert sent.get_content().strip() == "Please unplug it."
    with db.sessionmaker_for(email_app)() as s:
        stored = s.get(Interaction, out_id)
        assert stored.direction == "outbound" and stored.status == "closed"
        assert stored.payload["delivery"]["status"] == "sent"
        assert f"<{stored.payload['message_id']}>" == sent["Message-ID"]
    answer = message(
        sender=CUSTOMER, subject="Re: done", headers={"In-Reply-To": sent["Message-ID"]}
    )
    assert " reply " in send(listener, answer)[1]
    assert len(tickets(email_app)) == 1


class _Sink:
    """A stand-in smarthost: an aiosmtpd server that keeps what it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.fail = False
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        if self.fail:
            return "451 4.3.0 try later"
        with self.lock:
            self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content))
        return "250 OK"


def test_delivery_through_a_relay_and_a_failure_visible_on_the_interaction(database_url, tmp_path):
    from tests.conftest import _empty_tables, make_test_app
    from tests.integration.email_channel.conftest import EMAIL_SETTINGS

    sink = _Sink()
    port = free_port()
    relay = Controller(sink, hostname="127.0.0.1", port=port)
    relay.start()
    app = make_test_app(
        database_url,
        tmp_path / "var",
        **EMAIL_SETTINGS,
        email_relay_host="127.0.0.1",
        email_relay_port=port,
        email_relay_security="none",
    )
    try:
        with app.app_context(), db.sessionmaker_for(app)() as s:
            agent: User = make_user(s, role="supervisor")
            ticket = Ticket(subject="Call me", status="open", number="SB-000777")
            s.add(ticket)
            s.flush()
            sink.fail = True
            failed_id = do_send_reply(s, ticket, author=agent, body="Hi", to="ann@example.org").id
            s.commit()  # delivery runs after the commit (Celery eager here) and fails
        with db.sessionmaker_for(app)() as s:
            failed = s.get(Interaction, failed_id)
            assert failed.payload["delivery"]["status"] == "failed"
            assert "451" in failed.payload["delivery"]["error"]
        sink.fail = False
        with app.app_context():
            assert deliver(failed_id) == ("sent", None)
            assert deliver(failed_id) == ("sent", None)  # idempotent: not sent twice
        assert len(sink.messages) == 1
        mail_from, rcpts, content = sink.messages[0]
        assert mail_from == SUPPORT and rcpts == ["ann@example.org"]
        assert b"[SB-000777]" in content and b"Message-ID: <sb." in content
        with db.sessionmaker_for(app)() as s:
            n = s.scalar(select(func.count()).select_from(EmailMessage))
            assert n == 1
    finally:
        relay.stop()
        _empty_tables(app)
        db.engine_for(app).dispose()


def test_a_retried_ack_task_sends_one_ack(email_app, listener):
    from channels.email.outbound import send_autoack

    first_mail(listener)
    assert len(outbox(var_dir(email_app))) == 1
    (got,) = inbound(email_app)
    with email_app.app_context():
        assert send_autoack(got.id) is False
    assert len(outbox(var_dir(email_app))) == 1


def test_queue_signature_and_a_custom_ack_template(database_url, tmp_path):
    from channels.email.smtpd import start_listener
    from hub.models import Queue
    from tests.conftest import _empty_tables, make_test_app
    from tests.integration.email_channel.conftest import EMAIL_SETTINGS
    from tests.integration.email_channel.mail import SALES

    app = make_test_app(
        database_url,
        tmp_path / "var",
        **EMAIL_SETTINGS,
        email_signatures={"Sales": "Sales team\nExample Ltd", "": "Support"},
        email_autoack_template="Dear {first_name} {last_name}: {number} ({subject}). {signature}",
    )
    running = start_listener(app, host="127.0.0.1", port=free_port())
    try:
        with db.sessionmaker_for(app)() as s:
            s.add(Queue(name="Sales", channels=["email"]))
            s.commit()
        send(running, message(sender="Jan Nowak <jan@example.org>", subject="Offer"), rcpt=SALES)
        (ack,) = outbox(var_dir(app))
        assert (
            ack.get_content().strip()
            == "Dear Jan Nowak: SB-000001 (Offer). Sales team\nExample Ltd"
        )
        with app.app_context(), db.sessionmaker_for(app)() as s:
            agent = make_user(s, role="supervisor")
            ticket = s.scalars(select(Ticket)).one()
            out_id = do_send_reply(s, ticket, author=agent, body="Here it is.").id
            s.commit()
        sent = outbox(var_dir(app))[-1]
        assert sent.get_content() == "Here it is.\n\n-- \nSales team\nExample Ltd\n"
        with db.sessionmaker_for(app)() as s:
            assert s.get(Interaction, out_id).body_text.endswith("Example Ltd")
    finally:
        running.stop()
        _empty_tables(app)
        db.engine_for(app).dispose()
