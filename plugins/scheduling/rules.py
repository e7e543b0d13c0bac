"""Weekly availability rules: checking one, and turning it into concrete slot times.

A rule speaks in the practitioner's local wall-clock time ("Mondays 09:00 to 17:00 in
Africa/Lagos"); slots are instants. Each day's slots are laid out in local time and then
converted to UTC through ``zoneinfo``, so a rule in ``Europe/London`` keeps starting at 09:00
local across the daylight-saving changes (08:00 UTC in summer, 09:00 UTC in winter). Local
times that do not exist (the hour skipped when clocks go forward) produce no slot; local
times that happen twice (when clocks go back) take their first occurrence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MODES = ("in-person", "video")
MAX_VALIDITY_DAYS = 731
_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


class RuleError(ValueError):
    """A rule that cannot be used; ``field`` names the part to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Rule:
    """A checked availability rule (see :class:`~plugins.scheduling.schema.RuleRow`)."""

    practitioner_id: str
    service_code: str
    service_display: str
    modes: tuple[str, ...]
    time_zone: str
    weekdays: frozenset[int]
    """ISO weekday numbers, 1 = Monday."""
    start_minute: int
    end_minute: int
    slot_minutes: int
    buffer_minutes: int
    valid_from: date
    valid_until: date | None
    location_id: str | None = None
    price_amount: int | None = None
    price_currency: str | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def windows(self, first: date, last: date) -> Iterator[tuple[datetime, datetime]]:
        """The rule's whole daily windows (start, end in UTC) on local days first..last."""
        day = max(first, self.valid_from)
        end_day = min(last, self.valid_until) if self.valid_until else last
        zone = self.zone
        while day <= end_day:
            if day.isoweekday() in self.weekdays:
                start = _local(day, self.start_minute, zone)
                end = _local(day, self.end_minute, zone)
                length = timedelta(minutes=self.end_minute - self.start_minute)
                if start is None and end is not None:
                    start = end - length
                if start is not None:
                    yield start, end if end is not None else start + length
            day += timedelta(days=1)

    def slots(self, first: date, last: date) -> Iterator[tuple[datetime, datetime]]:
        """Every slot (start, end in UTC) on local days first..last."""
        step = self.slot_minutes + self.buffer_minutes
        length = timedelta(minutes=self.slot_minutes)
        zone = self.zone
        day = max(first, self.valid_from)
        end_day = min(last, self.valid_until) if self.valid_until else last
        while day <= end_day:
            if day.isoweekday() in self.weekdays:
                minute = self.start_minute
                while minute + self.slot_minutes <= self.end_minute:
                    start = _local(day, minute, zone)
                    if start is not None:  # a slot lasts its length in real time
                        yield start, start + length
                    minute += step
            day += timedelta(days=1)


def _local(day: date, minute: int, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of local wall time ``minute`` on ``day``; None when that local time
    does not exist (skipped by a daylight-saving change). 24:00 is the next midnight."""
    if minute >= 24 * 60:
        day, minute = day + timedelta(days=1), minute - 24 * 60
    wall = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
    instant = wall.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall.replace(tzinfo=None):
        return None  # the wall time does not exist in this zone on this day
    return instant


def _minute(value: Any, field: str) -> int:
    if value == "24:00":
        return 24 * 60
    if not isinstance(value, str) or not (m := _TIME_RE.match(value)):
        raise RuleError(field, f"{field} must be a local time HH:MM, such as 09:00")
    return int(m.group(1)) * 60 + int(m.group(2))


def _int(body: dict[str, Any], field: str, low: int, high: int, default: int | None = None) -> int:
    value = body.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RuleError(field, f"{field} must be a whole number from {low} to {high}")
    return value


def _date(value: Any, field: str) -> date:
    if not isinstance(value, str):
        raise RuleError(field, f"{field} must be a date YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RuleError(field, f"{field} must be a real date YYYY-MM-DD") from None


def parse_rule(body: Any, practitioner_id: str, today: date) -> Rule:
    """A :class:`Rule` from an API body; :class:`RuleError` naming the first bad field."""
    if not isinstance(body, dict):
        raise RuleError("body", "The body must be a JSON object")
    service = body.get("service")
    if not isinstance(service, dict):
        raise RuleError("service", "service must be an object with code and display")
    code, display = service.get("code"), service.get("display")
    if not isinstance(code, str) or not _CODE_RE.match(code):
        raise RuleError("service.code", "service.code must be a code such as general-consult")
    if not isinstance(display, str) or not display.strip() or len(display) > 200:
        raise RuleError("service.display", "service.display must be 1 to 200 characters")
    modes = body.get("modes", ["in-person"])
    if (
        not isinstance(modes, list)
        or not modes
        or any(m not in MODES for m in modes)
        or len(set(modes)) != len(modes)
    ):
        raise RuleError("modes", "modes must list in-person and/or video")
    zone = body.get("time_zone")
    if not isinstance(zone, str) or not zone:
        raise RuleError("time_zone", "time_zone must be an IANA zone such as Africa/Lagos")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise RuleError("time_zone", f"{zone!r} is not a known IANA time zone") from None
    days = body.get("days")
    if not isinstance(days, list) or not days or any(d not in DAY_NAMES for d in days):
        raise RuleError("days", "days must list weekdays: mon, tue, wed, thu, fri, sat, sun")
    start, end = _minute(body.get("start"), "start"), _minute(body.get("end"), "end")
    if end <= start:
        raise RuleError("end", "end must be after start (a rule covers one local day)")
    slot = _int(body, "slot_minutes", 5, 480)
    buffer = _int(body, "buffer_minutes", 0, 240, default=0)
    if slot > end - start:
        raise RuleError("slot_minutes", "slot_minutes is longer than the day's availability")
    valid_from = _date(body.get("valid_from", today.isoformat()), "valid_from")
    valid_until = body.get("valid_until")
    until = _date(valid_until, "valid_until") if valid_until is not None else None
    if until is not None and until < valid_from:
        raise RuleError("valid_until", "valid_until is before valid_from")
    if until is not None and (until - valid_from).days > MAX_VALIDITY_DAYS:
        raise RuleError("valid_until", f"a rule may span at most {MAX_VALIDITY_DAYS} days")
    location = body.get("location")
    if location is not None and (not isinstance(location, str) or not _ID_RE.match(location)):
        raise RuleError("location", "location must be the id of a Location resource")
    amount = currency = None
    price = body.get("price")
    if price is not None:
        if not isinstance(price, dict):
            raise RuleError("price", "price must be {amount (minor units), currency}")
        amount = price.get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise RuleError(
                "price.amount", "price.amount must be a whole number of minor units, >= 0"
            )
        currency = price.get("currency")
        if not isinstance(currency, str) or not _CURRENCY_RE.match(currency):
            raise RuleError("price.currency", "price.currency must be an ISO 4217 code (NGN)")
    return Rule(
        practitioner_id=practitioner_id,
        service_code=code,
        service_display=display.strip(),
        modes=tuple(modes),
        time_zone=zone,
        weekdays=frozenset(DAY_NAMES.index(d) + 1 for d in days),
        start_minute=start,
        end_minute=end,
        slot_minutes=slot,
        buffer_minutes=buffer,
        valid_from=valid_from,
        valid_until=until,
        location_id=location,
        price_amount=amount,
        price_currency=currency,
    )


def overlap(a: Rule, b: Rule, first: date, days: int = 366) -> tuple[datetime, datetime] | None:
    """The first window (UTC) in which two rules of one practitioner both offer time over
    the next ``days`` days from ``first``; None when they never do. Compared as instants,
    so rules in different time zones are checked correctly."""
    last = first + timedelta(days=days)
    theirs = sorted(b.windows(first - timedelta(days=1), last + timedelta(days=1)))
    for start, end in a.windows(first, last):
        for other_start, other_end in theirs:
            if other_start >= end:
                break
            if other_end > start:
                return max(start, other_start), min(end, other_end)
    return None


def rule_json(rule: Rule) -> dict[str, Any]:
    """The API form of a rule (the inverse of :func:`parse_rule`)."""

    def hhmm(minute: int) -> str:
        return f"{minute // 60:02d}:{minute % 60:02d}"

    body: dict[str, Any] = {
        "practitioner": rule.practitioner_id,
        "service": {"code": rule.service_code, "display": rule.service_display},
        "modes": list(rule.modes),
        "time_zone": rule.time_zone,
        "days": [DAY_NAMES[d - 1] for d in sorted(rule.weekdays)],
        "start": hhmm(rule.start_minute),
        "end": hhmm(rule.end_minute),
        "slot_minutes": rule.slot_minutes,
        "buffer_minutes": rule.buffer_minutes,
        "valid_from": rule.valid_from.isoformat(),
        "valid_until": rule.valid_until.isoformat() if rule.valid_until else None,
        "location": rule.location_id,
        "price": None,
    }
    if rule.price_amount is not None:
        body["price"] = {"amount": rule.price_amount, "currency": rule.price_currency}
    return body
