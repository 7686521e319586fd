"""The auto-acknowledgement speaks the customer's preferred language (customers.language)."""

from __future__ import annotations

from typing import Any

from flask import Flask

from hub.db import db
from hub.routing import do_create_queue
from tests.factories import make_customer
from tests.integration.email_channel.mail import message, outbox, send


def setup(app: Flask, *, language: str | None, days: int) -> None:
    with app.app_context(), db.transaction() as session:
        # support@ is delivered to the queue named "Support" (EMAIL_SETTINGS).
        do_create_queue(
            session,
            name="Support",
            channels=["email"],
            sla_targets={"email": {"seconds": days * 86400, "percent": 80}},
        )
        make_customer(session, first_name="Olena", emails=("olena@example.org",), language=language)


def ack_for(app: Flask, listener: Any) -> Any:
    code, _ = send(listener, message(sender="Olena <olena@example.org>", subject="Замовлення"))
    assert code == 250
    (ack,) = outbox(app.extensions["switchboard.settings"].var_dir)
    return ack


def test_a_ukrainian_customer_gets_the_acknowledgement_in_ukrainian(
    email_app: Flask, listener: Any
) -> None:
    setup(email_app, language="uk", days=2)
    ack = ack_for(email_app, listener)
    body = ack.get_content()
    assert ack["To"] == "olena@example.org"
    assert body.startswith("Добрий день, Olena,")
    assert "дякуємо за ваше повідомлення" in body
    assert "Зазвичай ми відповідаємо за 2 дні." in body
    assert "ticket" not in body.lower()


def test_without_a_preferred_language_the_acknowledgement_is_english(
    email_app: Flask, listener: Any
) -> None:
    setup(email_app, language=None, days=5)
    body = ack_for(email_app, listener).get_content()
    assert body.startswith("Hello Olena,")
    assert "We usually answer within 5 days." in body


def test_the_command_line_speaks_the_shells_language(email_app):
    """CLI output follows SWITCHBOARD_LANGUAGE, else the POSIX locale; English otherwise."""
    from hub.cli import main

    runner = email_app.test_cli_runner()
    cases = [
        ({"SWITCHBOARD_LANGUAGE": "pl"}, "kwarantanna jest pusta"),
        ({"LANG": "uk_UA.UTF-8"}, "карантин порожній"),
        ({"LANG": "de_DE.UTF-8"}, "the quarantine is empty"),
    ]
    unset = {"SWITCHBOARD_LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": "", "LANG": ""}
    for env, expected in cases:
        result = runner.invoke(main, ["email", "quarantine"], env={**unset, **env})
        assert result.exit_code == 0, result.output
        assert result.output.strip() == expected
