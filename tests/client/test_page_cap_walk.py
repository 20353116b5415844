"""A page cap (SeeClickFix serves about 25 pages of a listing) ends no walk by update time,
and a plain listing says so instead of truncating or repeating (issue 15)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from django_seeclickfix.client.pagination import Fetched, walk_pages
from django_seeclickfix.exceptions import PageCapReached, TransientError

from .listing_service import EPOCH, Listing, sync, walk

BEFORE = EPOCH - timedelta(seconds=5)
ANSWERS = ["404", "empty", "repeat"]


def spread(count: int) -> dict[int, object]:
    """``count`` issues, a few per second, as a real area's history looks."""
    return {n: EPOCH + timedelta(seconds=n // 3) for n in range(1, count + 1)}


@pytest.mark.parametrize("answer", ANSWERS)
@pytest.mark.parametrize(("count", "cap"), [(3000, 25), (700, 4), (95, 2)])
def test_the_walk_gets_every_issue_past_the_cap(answer, count, cap):
    listing = Listing(spread(count), per_page=100 if cap == 25 else 20)
    listing.page_cap, listing.page_cap_answer = cap, answer
    mirror: dict[int, object] = {}
    sync(listing, mirror, BEFORE)
    assert mirror == listing.stamps
    boundaries = -(-count // (listing.per_page * cap))
    least = -(-count // listing.per_page)
    # 25 pages is known; a smaller cap costs its answer once, then the walk stops before it
    learning = 0 if cap == 25 else 1
    assert len(listing.requests) <= least + boundaries + learning


@pytest.mark.parametrize("answer", ANSWERS)
def test_a_plain_listing_past_the_cap_raises_instead_of_truncating(answer):
    listing = Listing(spread(100), per_page=20)
    listing.page_cap, listing.page_cap_answer = 2, answer

    def fetch(params, conditional):
        fetched = listing.fetch({**params, "sort": "updated_at"}, conditional)
        return Fetched(False, fetched.body)

    pages = walk_pages(
        fetch,
        {"per_page": 20},
        items_key="issues",
        parse=lambda raw: raw["id"],
        where="GET /issues",
    )
    with pytest.raises(PageCapReached, match="page cap") as caught:
        list(pages)
    assert isinstance(caught.value, TransientError)


@pytest.mark.parametrize("answer", ANSWERS)
def test_one_second_holding_more_than_the_cap_raises_a_clear_error(answer):
    listing = Listing(dict.fromkeys(range(1, 31), EPOCH), per_page=3)
    listing.page_cap, listing.page_cap_answer = 2, answer
    with pytest.raises(PageCapReached, match="Narrow the listing's filters"):
        sync(listing, {}, BEFORE)
    assert len(listing.requests) < 10


@pytest.mark.parametrize("answer", ANSWERS)
def test_a_crowded_second_across_the_cap_is_handed_out_once(answer):
    # 50 issues a second at 20 a page: the page at the cap ends inside a second whose first
    # issues came on the pages before it, and the walk goes on from that second (inclusive).
    stamps = {n: EPOCH + timedelta(seconds=n // 50) for n in range(1, 701)}
    listing = Listing(stamps, per_page=20)
    listing.page_cap, listing.page_cap_answer = 4, answer
    handed_out = [row[0] for page in walk(listing, BEFORE) for row in page.items]
    assert sorted(handed_out) == sorted(stamps)
