"""Languages: the login page and the console in Polish and Ukrainian, the language choice of
visitors and users, the settings page, plural forms, error pages, IVR prompts, catalogues."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale, ngettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.models import AuditEntry, Interaction, User
from crm_core.services.preferences import do_set_user_preferences
from hub.db import db
from hub.i18n import TRANSLATIONS, compile_catalogues, plural_forms
from hub.routing import do_create_queue
from tests.factories import PASSWORD, make_customer, make_user


def login(client: FlaskClient, user: User) -> None:
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)


def user_with(session: Session, language: str, timezone: str = "UTC", **kw: Any) -> User:
    user = make_user(session, **kw)
    do_set_user_preferences(session, user, language=language, timezone=timezone)
    session.commit()
    return user


def text(response: Any) -> str:
    return response.get_data(as_text=True)


# --- the login page --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ["Log in", "Password", "Stay logged in"]),
        ("pl", ["Zaloguj się", "Hasło", "Nie wylogowuj mnie", 'lang="pl"']),
        ("uk", ["Увійти", "Пароль", "Залишатися в системі", 'lang="uk"']),
    ],
)
def test_login_page_in_each_language_by_accept_language(
    client: FlaskClient, lang: str, words: list[str]
) -> None:
    page = text(client.get("/login", headers={"Accept-Language": f"{lang},en;q=0.5"}))
    for word in words:
        assert word in page


def test_language_switch_on_the_login_page_is_remembered(client: FlaskClient) -> None:
    page = text(client.get("/login?next=/console", headers={"Accept-Language": "pl"}))
    # Every language offered in its own name, the current one marked.
    assert 'aria-current="true">Polski</a>' in page
    assert re.search(r'href="/login\?next=/console&amp;lang=uk"[^>]*>Українська<', page)
    assert "Zaloguj się" in page
    assert "Увійти" in text(client.get("/login?lang=uk", headers={"Accept-Language": "pl"}))
    # The choice outlives the link: the next page (and a failed login) stay Ukrainian.
    assert "Увійти" in text(client.get("/login", headers={"Accept-Language": "pl"}))
    failed = client.post("/login", data={"email": "x@example.org", "password": "nope"})
    assert failed.status_code == 401
    assert "Неправильна ел. пошта або пароль." in text(failed)  # noqa: RUF001


# --- the console --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "words", "js"),
    [
        (
            "pl",
            ["Moje kolejki", "Moje zgłoszenia", "Brak przychodzącej pracy.", "Wyloguj się"],
            {"accept": "Odbierz", "wrap_up_left": "Obsługa po rozmowie: zostało %(time)s"},
        ),
        (
            "uk",
            ["Мої черги", "Мої заявки", "Немає вхідних завдань.", "Вийти"],
            {"accept": "Прийняти", "wrap_up_left": "Завершення обробки: лишилося %(time)s"},
        ),
    ],
)
def test_console_renders_in_the_users_language(
    client: FlaskClient, session: Session, lang: str, words: list[str], js: dict[str, str]
) -> None:
    user = user_with(session, lang, "Europe/Warsaw")
    login(client, user)
    # The user's own language wins over what the browser asks for.
    page = text(client.get("/console", headers={"Accept-Language": "en"}))
    assert f'<html lang="{lang}">' in page
    for word in words:
        assert word in page
    raw = re.search(r'<script type="application/json" id="console-config">(.*?)</script>', page)
    assert raw is not None
    config = json.loads(raw.group(1))
    assert config["locale"] == lang and config["timezone"] == "Europe/Warsaw"
    for key, value in js.items():
        assert config["strings"]["t"][key] == value
    # The JS picks the plural form by Intl.PluralRules: one, few and many are all there.
    forms = config["strings"]["plurals"]["birthday_in"]
    assert set(forms) >= {"one", "few", "many"}
    assert len({forms["one"], forms["few"], forms["many"]}) >= 2


def test_wallboard_renders_in_ukrainian(client: FlaskClient, session: Session) -> None:
    boss = user_with(session, "uk", "Europe/Kyiv", role="supervisor")
    login(client, boss)
    page = text(client.get("/wallboard"))
    for word in ["Табло", "Оператори", "Взаємодії в очікуванні", "Режим ТБ"]:
        assert word in page
    strings = re.search(r'id="wallboard-strings">(.*?)</script>', page, re.S)
    assert strings is not None
    assert json.loads(strings.group(1))["target"] == "ціль %(time)s"


# --- settings ------------------------------------------------------------------------------


def test_settings_save_language_and_time_zone(app: Flask, client: FlaskClient) -> None:
    # No test-wide app context here: each request gets its own, as in production, so
    # nothing (Flask-Babel's locale in ``g``) carries over from one request to the next.
    with app.app_context(), db.transaction() as setup:
        user = user_with(setup, "pl", "Europe/Warsaw")
    login(client, user)
    page = text(client.get("/console/settings"))
    assert "Moje ustawienia" in page
    assert "<option selected>Europe/Warsaw</option>" in page
    response = client.post("/console/settings", data={"language": "uk", "timezone": "Europe/Kyiv"})
    assert response.status_code == 302
    # The confirmation is already in the new language.
    page = text(client.get(response.headers["Location"]))
    assert "Налаштування збережено." in page and "Мої налаштування" in page
    with app.app_context(), db.transaction() as check:
        fresh = check.get(User, user.id)
        assert fresh is not None and (fresh.language, fresh.timezone) == ("uk", "Europe/Kyiv")
        entry = check.scalars(
            select(AuditEntry).where(AuditEntry.action == "user.preferences_changed")
        ).all()[-1]
        assert entry.after == {"language": "uk", "timezone": "Europe/Kyiv"}


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"language": "de", "timezone": "UTC"}, "Wybierz jeden z języków z listy."),
        ({"language": "pl", "timezone": "Mars/Olympus"}, "Wybierz strefę czasową z listy."),
    ],
)
def test_settings_refuse_what_is_not_on_the_lists(
    client: FlaskClient, session: Session, form: dict[str, str], message: str
) -> None:
    user = user_with(session, "pl")
    login(client, user)
    response = client.post("/console/settings", data=form)
    assert response.status_code == 422
    assert message in text(response)
    session.expire_all()
    fresh = session.get(User, user.id)
    assert fresh is not None and (fresh.language, fresh.timezone) == ("pl", "UTC")


def test_settings_need_a_login(client: FlaskClient) -> None:
    assert client.get("/console/settings").status_code == 302


# --- formats in the user's zone ------------------------------------------------------------


def test_dates_and_numbers_follow_the_users_language_and_zone(app: Flask, session: Session) -> None:
    from flask_babel import format_datetime, format_decimal, refresh
    from flask_login import login_user

    at = dt.datetime(2026, 11, 20, 10, 5, tzinfo=dt.UTC)
    agent = user_with(session, "pl", "Europe/Warsaw")
    boss = user_with(session, "uk", "Europe/Kyiv", role="supervisor")
    seen = {}
    for user in (agent, boss):
        with app.test_request_context():
            login_user(user)
            refresh()  # the test's app context is shared: forget the last user's locale
            seen[user.language] = (format_datetime(at, "short"), format_decimal(1234.5))
    assert seen["pl"][0] == "20.11.2026, 11:05"
    assert seen["uk"][0].endswith("12:05") and "20.11" in seen["uk"][0]
    assert seen["pl"][1].replace("\xa0", "") == seen["uk"][1].replace("\xa0", "") == "1234,5"


# --- plural forms ---------------------------------------------------------------------------

DAYS = {
    "pl": {1: "1 dzień", 2: "2 dni", 5: "5 dni", 22: "22 dni"},
    "uk": {1: "1 день", 2: "2 дні", 5: "5 днів", 22: "22 дні"},
}
HOURS = {
    "pl": {1: "1 godzinę", 2: "2 godziny", 5: "5 godzin", 22: "22 godziny"},
    "uk": {1: "1 годину", 2: "2 години", 5: "5 годин", 22: "22 години"},
}


@pytest.mark.parametrize("lang", ["pl", "uk"])
@pytest.mark.parametrize("n", [1, 2, 5, 22])
def test_plural_forms(app: Flask, lang: str, n: int) -> None:
    with app.test_request_context(), force_locale(lang):
        days = ngettext(
            "We usually answer within %(num)d day.", "We usually answer within %(num)d days.", n
        )
        hours = ngettext(
            "We usually answer within %(num)d hour.",
            "We usually answer within %(num)d hours.",
            n,
        )
        pages = ngettext("%(num)s page", "%(num)s pages", n)
    assert DAYS[lang][n] + "." in days
    assert HOURS[lang][n] + "." in hours
    assert pages.startswith(f"{n} ") and "page" not in pages


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", {"one": "in 1 day", "other": "in 5 days"}),
        ("pl", {"one": "za 1 dzień", "few": "za 2 dni", "many": "za 5 dni"}),
        ("uk", {"one": "через 1 день", "few": "через 2 дні", "many": "через 5 днів"}),
    ],
)
def test_plural_forms_for_the_browser(app: Flask, lang: str, expected: dict[str, str]) -> None:
    samples = {"one": 1, "few": 2, "many": 5, "other": 5}
    with app.test_request_context(), force_locale(lang):
        forms = plural_forms(
            "Birthday in %(num)s day (%(date)s)", "Birthday in %(num)s days (%(date)s)"
        )
    for category, words in expected.items():
        filled = forms[category].replace("%(num)s", str(samples[category]))
        assert words in filled, (category, filled)


# --- the auto-acknowledgement ---------------------------------------------------------------


@pytest.mark.parametrize("lang", ["pl", "uk"])
@pytest.mark.parametrize("days", [1, 2, 5, 22])
def test_autoack_in_the_customers_language_with_plural_days(
    app: Flask, session: Session, lang: str, days: int
) -> None:
    from channels.email.outbound import autoack_text
    from crm_core.services.tickets import do_create_ticket

    queue = do_create_queue(
        session,
        name=f"Mail {lang} {days}",
        channels=["email"],
        sla_targets={"email": {"seconds": days * 86400}},
    )
    customer = make_customer(session, first_name="Olena", language=lang)
    ticket = do_create_ticket(
        session, subject="Zamówienie", customer_id=customer.id, queue_id=queue.id
    )
    inbound = Interaction(channel="email", direction="inbound", customer_id=customer.id)
    conf = app.extensions["switchboard.settings"]
    with app.test_request_context():
        body = autoack_text(session, conf, ticket, inbound)
    greeting = {"pl": "Dzień dobry, Olena,", "uk": "Добрий день, Olena,"}[lang]
    assert body.startswith(greeting)
    assert DAYS[lang][days] in body
    assert f"[{ticket.number}]" in body
    assert "ticket" not in body and "thank you" not in body


def test_autoack_in_english_for_an_unknown_or_unsupported_language(
    app: Flask, session: Session
) -> None:
    from channels.email.outbound import autoack_text
    from crm_core.services.tickets import do_create_ticket

    queue = do_create_queue(
        session, name="Mail", channels=["email"], sla_targets={"email": {"seconds": 3 * 3600}}
    )
    customer = make_customer(session, first_name="Hans", language="de")
    ticket = do_create_ticket(session, subject="X", customer_id=customer.id, queue_id=queue.id)
    inbound = Interaction(channel="email", direction="inbound", customer_id=customer.id)
    with app.app_context():
        body = autoack_text(session, app.extensions["switchboard.settings"], ticket, inbound)
    assert body.startswith("Hello Hans,")
    assert "within 3 hours." in body


# --- error pages and the IVR ------------------------------------------------------------------


def test_error_page_in_the_visitors_language(client: FlaskClient) -> None:
    response = client.get("/no/such/page", headers={"Accept-Language": "pl"})
    assert response.status_code == 404
    assert "Nie ma takiej strony." in text(response) and "Błąd 404" in text(response)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "'not-an-address' is not an e-mail address"),
        ("pl", "„not-an-address” nie jest adresem e-mail"),
        ("uk", "«not-an-address» не є адресою електронної пошти"),
    ],
)
def test_api_domain_errors_speak_the_users_language(
    client: FlaskClient, session: Session, language: str, expected: str
) -> None:
    """crm_core raises in English with parameters; the answer is in the caller's language."""
    from tests.factories import bearer

    user = user_with(session, language, role="agent")
    response = client.post(
        "/api/v1/customers",
        json={
            "kind": "person",
            "last_name": "Nowak",
            "contact_points": [{"kind": "email", "value": "not-an-address"}],
        },
        headers=bearer(session, user),
    )
    assert response.status_code == 422, text(response)
    assert response.get_json()["message"] == expected


def test_ivr_system_prompts_speak_the_menus_language(app: Flask) -> None:
    from channels.twilio_voice import twiml
    from channels.twilio_voice.config import Menu

    menus = {
        "pl-PL": "Przepraszamy, nie ma takiej opcji.",
        "uk-UA": "Вибачте, такого варіанта немає.",
        "en-GB": "Sorry, that is not one of the options.",
    }
    for language, words in menus.items():
        menu = Menu(language=language, default_queue="General")
        with app.test_request_context():
            xml = str(twiml.menu_prompt(menu, "https://x.test/a", attempt=2, sorry=True))
        assert f'language="{language}">{words}</Say>' in xml


def test_agents_whisper_in_the_agents_language(app: Flask) -> None:
    from channels.twilio_voice import twiml
    from channels.twilio_voice.webhooks import _whisper

    for language, words in {
        "pl": "Połączenie od nieznanego rozmówcy.",
        "uk": "Дзвінок від невідомого абонента.",
    }.items():
        with app.test_request_context(), force_locale(language):
            whisper = _whisper(db.session, None)
        speech = twiml.SPEECH_LANGUAGES[language]
        xml = str(twiml.join_conference("room", whisper=whisper, speech=speech))
        assert f'<Say language="{speech}">{words}</Say>' in xml


# --- catalogues --------------------------------------------------------------------------------


def test_catalogues_compile_when_missing_or_older(tmp_path: Path) -> None:
    written = compile_catalogues(TRANSLATIONS, out=tmp_path)
    assert {p.parent.parent.name for p in written} == {"en", "pl", "uk"}
    assert compile_catalogues(TRANSLATIONS, out=tmp_path) == []
    pl = tmp_path / "pl" / "LC_MESSAGES" / "messages.mo"
    os.utime(pl, (0, 0))  # older than its .po: compiled again
    assert compile_catalogues(TRANSLATIONS, out=tmp_path) == [pl]


def test_template_check_finds_literal_text(tmp_path: Path) -> None:
    from tools.check_i18n import template_literals

    page = tmp_path / "page.html"
    page.write_text(
        '{% extends "base.html" %}{% block body_class %}x-page{% endblock %}\n'
        '<h1>{{ _("Fine") }}</h1>\n'
        "<p>Not wrapped</p>\n"
        '<input placeholder="Search here" aria-label="{{ _(\'Fine\') }}">\n'
        '<button title="Close">\u00d7</button>\n'
        "<option{% if a %} selected{% endif %}>{{ name }}</option> · Switchboard\n"
        '<script>var s = "ignored";</script><textarea>{{ v }} kept</textarea>\n'
    )
    assert template_literals(page) == [(3, "Not wrapped"), (4, "Search here"), (5, "Close")]
