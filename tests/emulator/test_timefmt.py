"""Eastern-time offsets without tzdata, and the filter/HTTP date parsers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from django_seeclickfix.testing.emulator.timefmt import (
    eastern,
    format_eastern,
    format_utc_z,
    http_date,
    parse_filter_time,
    parse_http_date,
)

NEW_YORK = ZoneInfo("America/New_York")


def test_offsets_agree_with_the_tz_database_around_every_switch():
    moment = datetime(1995, 1, 1, tzinfo=UTC)
    end = datetime(2031, 1, 1, tzinfo=UTC)
    while moment < end:  # every 6 hours over 36 years, including each switch's hour
        assert eastern(moment).utcoffset() == moment.astimezone(NEW_YORK).utcoffset(), moment
        moment += timedelta(hours=6)
    for switch in (
        datetime(2024, 3, 10, 7, tzinfo=UTC),
        datetime(2024, 11, 3, 6, tzinfo=UTC),
        datetime(2006, 4, 2, 7, tzinfo=UTC),
        datetime(2006, 10, 29, 6, tzinfo=UTC),
    ):
        for delta in (timedelta(seconds=-1), timedelta(0)):
            instant = switch + delta
            assert eastern(instant).utcoffset() == instant.astimezone(NEW_YORK).utcoffset()


def test_formats():
    winter = datetime(2015, 2, 12, 15, 32, 30, 123456, tzinfo=UTC)
    assert format_eastern(winter) == "2015-02-12T10:32:30-05:00"
    assert format_eastern(datetime(2015, 7, 1, 12, tzinfo=UTC)) == "2015-07-01T08:00:00-04:00"
    assert format_utc_z(winter) == "2015-02-12T15:32:30Z"
    assert format_eastern(None) is None
    assert format_utc_z(None) is None


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-31T12:00:00Z",
        "2024-01-31T07:00:00-05:00",
        "2024-01-31T12:00:00",
        " 2024-01-31T12:00:00z",
    ],
)
def test_filter_times(text):
    assert parse_filter_time(text) == datetime(2024, 1, 31, 12, tzinfo=UTC)


def test_bad_filter_time():
    with pytest.raises(ValueError, match="Invalid isoformat"):
        parse_filter_time("last tuesday")


def test_http_dates():
    moment = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert http_date(moment) == "Mon, 06 May 2024 07:08:09 GMT"
    assert parse_http_date(http_date(moment)) == moment
    assert parse_http_date("not a date") is None
    assert parse_http_date("Mon, 06 May 2024 07:08:09 -0000") == moment
