"""FHIR instants and date search values: parsing, formatting and precision ranges.

Inside the server every timestamp is a timezone-aware UTC ``datetime``. On the wire
``meta.lastUpdated`` is written in UTC with millisecond precision (``2024-01-02T03:04:05.678Z``);
client-supplied instants keep their own offsets because stored JSON is never rewritten.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta

_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(-(?P<m>\d{2})(-(?P<d>\d{2})"
    r"(T(?P<H>\d{2}):(?P<M>\d{2})(:(?P<S>\d{2})(?P<f>\.\d+)?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def now_utc() -> datetime:
    """The current time in UTC, truncated to milliseconds (the precision of lastUpdated)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=(now.microsecond // 1000) * 1000)


def format_instant(value: datetime) -> str:
    """Format a UTC datetime as a FHIR instant with milliseconds and ``Z``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def http_date(value: datetime) -> str:
    """Format for ``Last-Modified`` (RFC 9110 IMF-fixdate)."""
    return value.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def parse_http_date(text: str) -> datetime | None:
    """Parse an ``If-Modified-Since`` value; None when it is not a valid HTTP date."""
    from email.utils import parsedate_to_datetime

    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


def _utc(value: datetime) -> datetime:
    """``value`` in UTC, clamped to the calendar (``0001-01-01T00:00+14:00`` is before year 1)."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return _EARLIEST if value.year == 1 else _LATEST


def _after(value: datetime, step: timedelta) -> datetime:
    """``value + step`` in UTC, clamped to the last instant of year 9999 (the range of ``9999``
    ends there rather than in a year Python cannot represent)."""
    try:
        return _utc(value + step)
    except OverflowError:
        return _LATEST


def date_range(text: str) -> tuple[datetime, datetime] | None:
    """The half-open UTC range ``[low, high)`` a FHIR date/dateTime/instant value covers.

    ``2024`` covers the whole year, ``2024-05-01T10:00`` the whole minute. A value without a
    zone is taken as UTC (the server's zone; R4 leaves this to the server). Returns None for
    text that is not a valid date.
    """
    m = _DATE_RE.match(text.strip())
    if not m:
        return None
    try:
        year = int(m["y"])
        if m["m"] is None:
            low = datetime(year, 1, 1, tzinfo=UTC)
            return low, _after(low, timedelta(days=366 if calendar.isleap(year) else 365))
        month = int(m["m"])
        if m["d"] is None:
            low = datetime(year, month, 1, tzinfo=UTC)
            days = calendar.monthrange(year, month)[1]
            return low, _after(low, timedelta(days=days))
        day = int(m["d"])
        if m["H"] is None:
            low = datetime(year, month, day, tzinfo=UTC)
            return low, _after(low, timedelta(days=1))
        tz = UTC
        if m["tz"] and m["tz"] != "Z":
            sign = 1 if m["tz"][0] == "+" else -1
            hours, minutes = int(m["tz"][1:3]), int(m["tz"][4:6])
            from datetime import timezone

            tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
        hour, minute = int(m["H"]), int(m["M"])
        if m["S"] is None:
            low = datetime(year, month, day, hour, minute, tzinfo=tz)
            return _utc(low), _after(low, timedelta(minutes=1))
        second = int(m["S"])
        frac = m["f"] or ""
        micro = int((frac[1:] + "000000")[:6]) if frac else 0
        low = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
        step = timedelta(microseconds=10 ** max(0, 6 - (len(frac) - 1))) if frac else None
        return _utc(low), _after(low, step or timedelta(seconds=1))
    except ValueError:
        return None
