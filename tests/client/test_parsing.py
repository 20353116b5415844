from datetime import UTC, datetime, timedelta, timezone

import pytest

from django_seeclickfix.client import parsing


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2011-04-22T13:33:48Z", datetime(2011, 4, 22, 13, 33, 48, tzinfo=UTC)),
        ("2015-02-12T10:32:30-05:00", datetime(2015, 2, 12, 15, 32, 30, tzinfo=UTC)),
        ("2008-03-25T12:32:41-04:00", datetime(2008, 3, 25, 16, 32, 41, tzinfo=UTC)),
        ("2011-04-22T13:33:48.250Z", datetime(2011, 4, 22, 13, 33, 48, 250000, tzinfo=UTC)),
        ("2011-04-22T13:33:48", datetime(2011, 4, 22, 13, 33, 48, tzinfo=UTC)),
        (1700000000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("null", None),
        ("", None),
        (None, None),
        ("yesterday", None),
        (True, None),
        ({"at": 1}, None),
    ],
)
def test_timestamps_become_aware_utc_or_none(raw, expected):
    parsed = parsing.timestamp(raw)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() == timedelta(0)


def test_filters_are_sent_in_utc_with_z_and_whole_seconds():
    eastern = timezone(timedelta(hours=-5))
    assert (
        parsing.format_timestamp(datetime(2024, 1, 5, 9, 0, 7, 999999, tzinfo=eastern))
        == "2024-01-05T14:00:07Z"
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        parsing.format_timestamp(datetime(2024, 1, 5, 9, 0))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (5, 5),
        ("5", 5),
        (" 18 ", 18),
        (2.0, 2),
        ("2.0", 2),
        (2.5, None),
        ("null", None),
        (None, None),
        (True, None),
        ("five", None),
        ([], None),
    ],
)
def test_integers_from_ints_and_strings(raw, expected):
    assert parsing.integer(raw) == expected


def test_identifiers_keep_other_and_numbers():
    assert parsing.identifier("12") == 12
    assert parsing.identifier("other") == "other"
    assert parsing.identifier("null") is None


def test_nullish_text_and_numbers():
    assert parsing.text("null") is None
    assert parsing.text(7) == "7"
    assert parsing.text(False) == "false"
    assert parsing.text({"a": 1}) is None
    assert parsing.number_or_none("42.5") == 42.5
    assert parsing.number_or_none("nan") is None
    assert parsing.number_or_none("x") is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(True, True), (0, False), ("true", True), ("F", False), ("maybe", None), (None, None)],
)
def test_booleans(raw, expected):
    assert parsing.boolean(raw) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(2, 2), ("3", 3), ("null", None), (None, None), (0, None), (-1, None), ("", None)],
)
def test_page_numbers(raw, expected):
    assert parsing.page_number(raw) == expected


def test_status_is_lower_case_like_the_filters():
    assert parsing.status("Acknowledged") == "acknowledged"
    assert parsing.status(None) is None
