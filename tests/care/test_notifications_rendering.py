"""Message rendering: every template renders, times in the reader's zone, money in their
language, and payload text that cannot reshape a message."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from plugins.notifications.catalog import CHANNELS, EVENTS, LANGUAGES
from plugins.notifications.fanout import Notice, bounded_key, variables
from plugins.notifications.rendering import (
    SMS_MAX_CHARS,
    TEMPLATES,
    format_money,
    format_when,
    human_name,
    parse_instant,
    render,
)

FULL = {
    "patient_name": "Tobi Okafor",
    "practitioner_name": "Dr Amina Bello",
    "service": "General consultation",
    "mode": "video",
    "video_url": "https://meet.fireside.health/r/abc",
    "start": datetime(2030, 12, 3, 9, tzinfo=UTC),
    "previous_start": datetime(2030, 12, 2, 9, tzinfo=UTC),
    "price": {"amount": 1500000, "currency": "NGN"},
    "total": {"amount": 1500000, "currency": "NGN"},
    "reason": "Doctor unavailable",
    "medication": "Amoxicillin 250 mg",
    "invoice": "inv-1",
    "reminder": "24h",
    "base_url": "https://fireside.example",
}
SPARSE = {key: None for key in FULL} | {"base_url": "https://fireside.example"}
"""Every optional value missing (resources that could not be read, no price...)."""


def test_every_event_has_a_template_per_channel_and_language():
    for language in LANGUAGES:
        for event in EVENTS:
            for channel in CHANNELS:
                assert (TEMPLATES / language / f"{event}.{channel}.j2").is_file()


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("event", EVENTS)
@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("facts", [FULL, SPARSE], ids=["full", "sparse"])
@pytest.mark.parametrize("audience", ["patient", "practitioner", "account"])
def test_every_template_renders(language, event, channel, facts, audience):
    values = variables(Notice(event, "X/1", "", facts), audience, language, ZoneInfo("UTC"))
    message = render(event, channel, language, values)
    assert message.body.strip()
    assert "{{" not in message.body and "{%" not in message.body
    if channel == "sms":
        assert message.title is None
        assert "\n" not in message.body and len(message.body) <= SMS_MAX_CHARS
    else:
        assert message.title and "\n" not in message.title
    if channel == "email":
        assert message.body.endswith("Fireside\n")


def test_an_unsupported_language_falls_back_to_english():
    values = variables(
        Notice("invoice.issued", "Invoice/1", "", FULL), "patient", "de", ZoneInfo("UTC")
    )
    assert render("invoice.issued", "email", "de", values).title == "Your invoice (NGN 15,000.00)"


def test_payload_text_cannot_break_out_of_its_line():
    facts = FULL | {"practitioner_name": "Dr X\nSubject: pwned", "medication": "A\r\nB\x00C"}
    values = variables(
        Notice("prescription.issued", "MedicationRequest/1", "", facts),
        "patient",
        "en",
        ZoneInfo("UTC"),
    )
    email = render("prescription.issued", "email", "en", values)
    assert email.title == "New prescription for Tobi Okafor"
    assert "Dr X Subject: pwned prescribed A B C for Tobi Okafor." in email.body
    assert all(not line.startswith("Subject:") for line in email.body.splitlines())


def test_a_long_sms_is_cut():
    facts = FULL | {"medication": "x" * 1000}
    values = variables(
        Notice("prescription.issued", "MedicationRequest/1", "", facts),
        "patient",
        "en",
        ZoneInfo("UTC"),
    )
    sms = render("prescription.issued", "sms", "en", values)
    assert len(sms.body) == SMS_MAX_CHARS and sms.body.endswith("…")


@pytest.mark.parametrize(
    ("zone", "language", "long", "short"),
    [
        ("UTC", "en", "Tuesday 3 December 2030 at 09:00 (UTC)", "3 Dec 09:00 UTC"),
        (
            "Africa/Lagos",
            "en",
            "Tuesday 3 December 2030 at 10:00 (Africa/Lagos, UTC+01:00)",
            "3 Dec 10:00 WAT",
        ),
        (
            "America/New_York",
            "en",
            "Tuesday 3 December 2030 at 04:00 (America/New_York, UTC-05:00)",
            "3 Dec 04:00 EST",
        ),
        (
            "Asia/Kolkata",
            "fr",
            "mardi 3 décembre 2030 à 14h30 (Asia/Kolkata, UTC+05:30)",
            "3 déc. 14h30 IST",
        ),
        (
            "Asia/Dubai",
            "en",
            "Tuesday 3 December 2030 at 13:00 (Asia/Dubai, UTC+04:00)",
            "3 Dec 13:00 UTC+04:00",
        ),
    ],
)
def test_times_are_shown_in_the_readers_zone_with_its_offset(zone, language, long, short):
    start = datetime(2030, 12, 3, 9, tzinfo=UTC)
    assert format_when(start, ZoneInfo(zone), language) == (long, short)


def test_summer_time_is_taken_into_account():
    start = datetime(2030, 7, 1, 9, tzinfo=UTC)
    assert format_when(start, ZoneInfo("Europe/Paris"), "fr") == (
        "lundi 1 juillet 2030 à 11h00 (Europe/Paris, UTC+02:00)",
        "1 juil. 11h00 CEST",
    )


@pytest.mark.parametrize(
    ("money", "language", "text"),
    [
        ({"amount": 1500000, "currency": "NGN"}, "en", "NGN 15,000.00"),
        ({"amount": 1500000, "currency": "NGN"}, "fr", "15 000,00 NGN"),
        ({"amount": 25000, "currency": "XOF"}, "en", "XOF 25,000"),
        ({"amount": 12345, "currency": "KWD"}, "en", "KWD 12.345"),
        ({"amount": -705, "currency": "EUR"}, "fr", "-7,05 EUR"),
        ({"amount": 5, "currency": "USD"}, "en", "USD 0.05"),
        ({"amount": 1.5, "currency": "USD"}, "en", ""),
        ({"amount": True, "currency": "USD"}, "en", ""),
        ({"currency": "USD"}, "en", ""),
        (None, "en", ""),
    ],
)
def test_money_is_written_in_the_readers_language(money, language, text):
    assert format_money(money, language) == text


def test_instants_and_names_are_read_leniently():
    assert parse_instant("2030-12-03T09:00:00Z") == datetime(2030, 12, 3, 9, tzinfo=UTC)
    assert parse_instant("2030-12-03T09:00:00") is None  # no offset: not an instant
    assert parse_instant("soon") is None and parse_instant(None) is None
    assert human_name({"name": [{"text": "Ada O."}]}) == "Ada O."
    assert human_name({"name": [{"given": ["Ada"]}, {"use": "official", "family": "Obi"}]}) == "Obi"
    assert human_name({"resourceType": "Patient"}) == "" and human_name(None) == ""


def test_long_keys_are_bounded_but_stay_distinct():
    short = "appointment.booked:a1:x:u:email"
    assert bounded_key(short) == short
    first, second = bounded_key("k" * 300 + "1"), bounded_key("k" * 300 + "2")
    assert len(first) == 255 and first != second
