"""The update-time walk never skips an issue, whatever changes while it pages through one
crowded second, and what that costs against the minimum (issue 15)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from django_seeclickfix.exceptions import TransientError

from .listing_service import EPOCH, Listing, same_second, sync

BEFORE = EPOCH - timedelta(seconds=5)


def minimum(issues: int, per_page: int) -> int:
    return -(-issues // per_page)


def unchanged_cost(count: int, per_page: int, send_date: bool) -> int:
    listing = Listing(same_second(count), per_page=per_page, send_date=send_date)
    sync(listing, {}, BEFORE)
    return len(listing.requests)


@pytest.mark.parametrize("send_date", [True, False], ids=["date", "no-date"])
@pytest.mark.parametrize(("count", "per_page"), [(21, 20), (100, 20), (250, 20), (250, 100)])
def test_a_change_at_any_request_of_the_walk_loses_no_issue(count, per_page, send_date):
    requests_unchanged = unchanged_cost(count, per_page, send_date)
    for changed_at in range(requests_unchanged + 1):
        listing = Listing(same_second(count), per_page=per_page, send_date=send_date)
        listing.before_request = lambda n, at=changed_at, lst=listing: (
            lst.change(count // 2) if n == at else None
        )
        mirror: dict[int, object] = {}
        sync(listing, mirror, BEFORE)
        assert mirror == listing.stamps, f"change before request {changed_at}"
        # at most two more than unchanged: the page the issue left is read again from where
        # the first unseen issue can be now, and its new version may need a page of its own
        assert len(listing.requests) <= requests_unchanged + 2


@pytest.mark.parametrize(("count", "per_page"), [(21, 20), (100, 20), (250, 100)])
def test_an_unchanged_crowded_second_costs_the_minimum_with_a_date(count, per_page):
    assert unchanged_cost(count, per_page, send_date=True) == minimum(count, per_page)


@pytest.mark.parametrize(("count", "per_page"), [(21, 20), (250, 100)])
def test_without_a_date_a_crowded_second_costs_three_more(count, per_page):
    # the second is read under a closed range: its page 1 again (the count to check against),
    # then its pages, then the listing past it
    assert unchanged_cost(count, per_page, send_date=False) == minimum(count, per_page) + 3


def test_inserts_during_the_walk_are_seen_in_the_same_pass():
    listing = Listing(same_second(250), per_page=20)
    inserted: list[int] = []
    listing.before_request = lambda n: inserted.append(listing.insert()) if n % 3 == 1 else None
    mirror: dict[int, object] = {}
    sync(listing, mirror, BEFORE)
    assert inserted
    assert mirror == listing.stamps


def test_many_changes_at_every_request_lose_nothing_within_two_passes():
    listing = Listing(same_second(250), per_page=20, send_date=False)
    listing.before_request = lambda n: [listing.change(i) for i in range(1 + n, 250, 37)]
    mirror: dict[int, object] = {}
    cursor = sync(listing, mirror, BEFORE)
    listing.before_request = lambda n: None
    sync(listing, mirror, cursor)
    assert mirror == listing.stamps


@pytest.mark.parametrize(("count", "per_page"), [(21, 20), (250, 20), (250, 100)])
def test_without_counts_a_crowded_second_is_read_to_its_end(count, per_page):
    listing = Listing(same_second(count), per_page=per_page, send_date=False, send_entries=False)
    mirror: dict[int, object] = {}
    sync(listing, mirror, BEFORE)
    assert mirror == listing.stamps
    assert len(listing.requests) <= minimum(count, per_page) + 3


def test_a_server_ignoring_updated_at_after_is_not_followed_second_by_second():
    # every answer starts at the oldest issue, whatever the bound: paging on by the second
    # would never end
    stamps = {i: EPOCH + timedelta(seconds=i % 2) for i in range(1, 41)}
    listing = Listing(stamps, per_page=20, send_date=False, ignore_after=True)
    with pytest.raises(TransientError, match="ignored updated_at_after"):
        sync(listing, {}, BEFORE)
    assert len(listing.requests) < 10
