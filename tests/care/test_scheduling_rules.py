"""Availability rules as pure values: checking them, laying out slots across daylight-saving
changes, and finding overlaps between rules in different time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from plugins.scheduling.rules import RuleError, overlap, parse_rule, rule_json

TODAY = date(2026, 3, 1)


def rule(**changes):
    body = {
        "service": {"code": "general-consult", "display": "General consultation"},
        "time_zone": "Europe/London",
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "start": "09:00",
        "end": "12:00",
        "slot_minutes": 30,
        "buffer_minutes": 0,
        "valid_from": "2026-03-01",
        **changes,
    }
    return parse_rule({k: v for k, v in body.items() if v is not None}, "d1", TODAY)


def test_slots_keep_local_time_across_the_spring_change():
    r = rule(days=["fri", "mon"])
    friday = [s for s, _ in r.slots(date(2026, 3, 27), date(2026, 3, 27))]
    monday = [s for s, _ in r.slots(date(2026, 3, 30), date(2026, 3, 30))]
    assert friday[0] == datetime(2026, 3, 27, 9, 0, tzinfo=UTC)  # GMT
    assert monday[0] == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # BST: 09:00 local
    assert len(friday) == len(monday) == 6


def test_the_skipped_hour_has_no_slots_and_slots_last_their_length():
    r = rule(days=["sun"], start="00:30", end="03:00")
    slots = list(r.slots(date(2026, 3, 29), date(2026, 3, 29)))
    starts = [s.strftime("%H:%M") for s, _ in slots]
    assert starts == ["00:30", "01:00", "01:30"]  # 01:00 and 01:30 local never happen
    assert all((e - s).seconds == 1800 for s, e in slots)


def test_the_repeated_hour_in_autumn_takes_its_first_occurrence():
    r = rule(days=["sun"], start="01:00", end="02:00", slot_minutes=60)
    [(start, end)] = list(r.slots(date(2026, 10, 25), date(2026, 10, 25)))
    assert start == datetime(2026, 10, 25, 0, 0, tzinfo=UTC)  # 01:00 BST
    assert end == datetime(2026, 10, 25, 1, 0, tzinfo=UTC)


def test_buffer_and_validity():
    r = rule(slot_minutes=40, buffer_minutes=20, valid_until="2026-03-03")
    slots = list(r.slots(date(2026, 3, 1), date(2026, 3, 31)))
    assert [s.strftime("%d %H:%M") for s, _ in slots] == [
        "02 09:00",
        "02 10:00",
        "02 11:00",
        "03 09:00",
        "03 10:00",
        "03 11:00",
    ]


def test_overlaps_are_found_across_time_zones():
    london = rule()
    lagos_late = rule(time_zone="Africa/Lagos", start="12:30", end="14:00")  # 11:30 UTC
    lagos_later = rule(time_zone="Africa/Lagos", start="13:00", end="14:00")  # 12:00 UTC
    assert overlap(london, lagos_late, TODAY) is not None
    assert overlap(london, lagos_later, TODAY) is None  # GMT until the end of March...
    # ...but from British Summer Time London's 09:00-12:00 is 08:00-11:00 UTC: still apart
    assert overlap(rule(days=["sat"]), rule(days=["sun"]), TODAY) is None


def test_round_trip():
    body = rule_json(rule(price={"amount": 1500000, "currency": "NGN"}, modes=["video"]))
    assert body["price"] == {"amount": 1500000, "currency": "NGN"}
    assert body["days"] == ["mon", "tue", "wed", "thu", "fri"] and body["start"] == "09:00"
    assert rule_json(parse_rule(body, "d1", TODAY)) == body


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"service": None}, "service"),
        ({"service": {"code": "bad code!", "display": "x"}}, "service.code"),
        ({"service": {"code": "ok", "display": ""}}, "service.display"),
        ({"modes": ["phone"]}, "modes"),
        ({"modes": []}, "modes"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"days": ["monday"]}, "days"),
        ({"days": []}, "days"),
        ({"start": "9am"}, "start"),
        ({"start": "25:00"}, "start"),
        ({"end": "08:00"}, "end"),
        ({"slot_minutes": 0}, "slot_minutes"),
        ({"slot_minutes": "30"}, "slot_minutes"),
        ({"slot_minutes": True}, "slot_minutes"),
        ({"slot_minutes": 240}, "slot_minutes"),
        ({"buffer_minutes": -5}, "buffer_minutes"),
        ({"valid_from": "2026-02-30"}, "valid_from"),
        ({"valid_until": "2026-02-01"}, "valid_until"),
        ({"valid_until": "2030-01-01"}, "valid_until"),
        ({"location": "no spaces allowed"}, "location"),
        ({"price": {"amount": 10.5, "currency": "NGN"}}, "price.amount"),
        ({"price": {"amount": -1, "currency": "NGN"}}, "price.amount"),
        ({"price": {"amount": 100, "currency": "naira"}}, "price.currency"),
    ],
)
def test_bad_rules_name_the_field(changes, field):
    with pytest.raises(RuleError) as caught:
        rule(**changes)
    assert caught.value.field == field
