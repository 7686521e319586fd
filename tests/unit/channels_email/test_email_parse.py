"""Parsing of hand-written fixtures in the shapes real clients produce (no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels.email.parse import (
    Unparseable,
    content_digest,
    dedupe_key,
    normalize_message_id,
    parse,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "email"


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_outlook_latin2_with_tnef():
    got = parse(load("outlook-tnef-latin2.eml"))
    assert got.subject == "Zamówienie nr 55 - brak faktury"
    assert got.from_name == "Kowalski, Piotr"
    assert got.from_address == "Piotr.Kowalski@firma.example.pl"
    assert got.body_text.startswith(
        "Dzień dobry,\r\nproszę o fakturę."
    ) or got.body_text.startswith("Dzień dobry,\nproszę o fakturę.")
    assert "onmouseover" in got.body_html  # stored as sent; sanitised only for display
    assert [(a.filename, a.content_type) for a in got.attachments] == [
        ("winmail.dat", "application/ms-tnef")
    ]
    assert got.auto_reason is None


def test_gmail_reply_threads_by_our_message_id():
    got = parse(load("gmail-reply.eml"))
    assert got.in_reply_to == ["sb.1.abcdef0123456789@example.test"]
    assert got.references == ["sb.1.abcdef0123456789@example.test"]
    assert got.body_text.startswith("Dziękuję, działa.")
    assert got.message_id == "CAF=abc123+def@mail.gmail.example"


def test_apple_mail_inline_image_is_an_attachment_with_its_content_id():
    got = parse(load("apple-mail-inline-image.eml"))
    (image,) = got.attachments
    assert image.filename == "shot.png" and image.content_type == "image/png"
    assert image.content_id == "shot@icloud" and image.inline
    assert image.data.startswith(b"\x89PNG")
    assert "cid:shot@icloud" in got.body_html


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("mailing-list.eml", "Precedence: bulk"),
        ("out-of-office.eml", "Auto-Submitted: auto-replied"),
        ("bounce.eml", "delivery or disposition report"),
    ],
)
def test_machine_mail_is_recognised(name, reason):
    assert parse(load(name)).auto_reason == reason


def test_html_only_mail_gets_a_text_body():
    got = parse(load("mailing-list.eml"))
    assert got.body_text.startswith("Buy now!")


def test_bounce_names_our_original_message():
    got = parse(load("bounce.eml"))
    assert got.is_dsn
    assert got.dsn_message_ids == ["sb.7.0011223344556677@example.test"]
    assert any(a.content_type == "message/rfc822" for a in got.attachments)


def test_wrong_and_unknown_charsets_still_give_text():
    got = parse(load("wrong-charset.eml"))
    assert got.from_name == "Jiří"
    assert "den" in got.body_text and "\x00" not in got.body_text
    got.body_text.encode("utf-8")  # storable
    got.subject.encode("utf-8")


def test_missing_boundary_and_raw_utf8_header():
    broken = parse(load("broken-mime.eml"))
    assert broken.subject == "missing boundary"
    raw = parse(load("raw-utf8-header.eml"))
    assert raw.subject == "Zażółć gęślą jaźń"
    assert raw.body_text.strip() == "Treść."


def test_empty_in_reply_to_and_folded_references():
    got = parse(load("iphone-empty-in-reply-to.eml"))
    assert got.in_reply_to == []
    assert got.references == ["first@example.org", "sb.3.ffeeddccbbaa9988@example.test"]


def test_dedupe_key_survives_transport_but_not_a_different_body():
    raw = load("gmail-reply.eml")
    relayed = b"Received: from mx by us; Tue, 21 Nov 2026\r\n" + raw.replace(b"\n", b"\r\n")
    assert dedupe_key(relayed, "x") == dedupe_key(raw, "x")
    assert content_digest(b"From someone Tue Nov 21\n" + raw) == content_digest(raw)
    assert content_digest(raw.replace(b"unplug", b"plug")) != content_digest(raw)
    long_id = "a" * 300 + "@x"
    assert len(dedupe_key(raw, long_id)) <= 255
    assert normalize_message_id("<" + long_id + ">").startswith("sha256:")


@pytest.mark.parametrize(
    "raw", [b"", b"   \r\n", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", b"Subject: a\x00b\n\nx"]
)
def test_not_an_email(raw):
    with pytest.raises(Unparseable):
        parse(raw)
