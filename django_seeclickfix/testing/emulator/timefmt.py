"""Timestamps the way SeeClickFix writes them: US-Eastern wall time with its offset, no ``Z``.

The US daylight-saving rules are computed here rather than read from the system's tz database,
so the emulator gives the same answers on machines without tzdata (Windows, slim containers).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime

EST = timezone(timedelta(hours=-5))
EDT = timezone(timedelta(hours=-4))


def _nth_sunday(year: int, month: int, n: int) -> date:
    first = date(year, month, 1)
    first_sunday = first + timedelta(days=(6 - first.weekday()) % 7)
    return first_sunday + timedelta(weeks=n - 1)


def _last_sunday(year: int, month: int) -> date:
    following = date(year + (month == 12), month % 12 + 1, 1)
    last = following - timedelta(days=1)
    return last - timedelta(days=(last.weekday() + 1) % 7)


def _dst_bounds_utc(year: int) -> tuple[datetime, datetime]:
    # Both switches happen at 02:00 local time: 07:00 UTC in spring, 06:00 UTC in autumn.
    if year >= 2007:
        start, end = _nth_sunday(year, 3, 2), _nth_sunday(year, 11, 1)
    else:  # the 1987-2006 rule; older dates are out of scope for an emulator
        start, end = _nth_sunday(year, 4, 1), _last_sunday(year, 10)
    return (
        datetime(start.year, start.month, start.day, 7, tzinfo=UTC),
        datetime(end.year, end.month, end.day, 6, tzinfo=UTC),
    )


def eastern(moment: datetime) -> datetime:
    """``moment`` (aware) as US-Eastern wall time with the right offset."""
    utc = moment.astimezone(UTC)
    start, end = _dst_bounds_utc(utc.year)
    return utc.astimezone(EDT if start <= utc < end else EST)


def format_eastern(moment: datetime | None) -> str | None:
    """``2015-02-12T10:32:30-05:00``: seconds precision, Eastern offset, like the live service."""
    if moment is None:
        return None
    return eastern(moment).replace(microsecond=0).isoformat()


def format_utc_z(moment: datetime | None) -> str | None:
    """``2011-04-22T13:33:48Z``: the format the documentation promises."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def parse_filter_time(value: str) -> datetime:
    """A filter value such as ``2024-01-31T12:00:00Z`` (offsets accepted too) as aware UTC.

    A value without an offset is read as UTC. Raises ``ValueError`` when unparseable.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def http_date(moment: datetime) -> str:
    """RFC 9110 IMF-fixdate, for ``Last-Modified`` and ``Retry-After``."""
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


def parse_http_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
