"""The update-time walk when SeeClickFix sends a ``Date``: pages by offset under a fixed upper
bound, so a listing of n issues costs ceil(n / per_page) requests, checked so that nothing is
skipped when the listing changes during the walk."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from django_seeclickfix.client.types import Page

from .conftest import API, issue_json, issues_page

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Listing:
    """``/profile/issues`` as SeeClickFix pages it: ``updated_at`` ascending (ties by id),
    ``updated_at_after`` inclusive, ``updated_at_before`` exclusive, page offsets, and a
    ``Date`` header. ``before_request(n)`` may change the issues before the n-th request."""

    issues: dict[int, datetime]
    clock: datetime = NOW
    before_request: Callable[[int], None] = lambda n: None
    queries: list[dict[str, str]] = field(default_factory=list)

    def __call__(self, request):
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        self.queries.append(query)
        self.before_request(len(self.queries))
        after = query.get("updated_at_after")
        before = query.get("updated_at_before")
        rows = sorted(
            (when, issue_id)
            for issue_id, when in self.issues.items()
            if (after is None or stamp(when) >= after) and (before is None or stamp(when) < before)
        )
        per_page, page = int(query["per_page"]), int(query["page"])
        chunk = rows[(page - 1) * per_page : page * per_page]
        more = len(rows) > page * per_page
        body = issues_page(
            [issue_json(i, stamp(when)) for when, i in chunk],
            page=page,
            next_page=page + 1 if more else None,
            per_page=per_page,
        )
        body["metadata"]["pagination"]["entries"] = len(rows)
        headers = {"Date": format_datetime(self.clock, usegmt=True)}
        return 200, headers, json.dumps(body)

    def change(self, issue_id: int) -> None:
        """Someone changes the issue now: it moves to the end of the listing."""
        self.issues[issue_id] = self.clock


def minutes_ago(count: int) -> dict[int, datetime]:
    """``count`` issues changed a minute apart, the newest an hour ago."""
    return {n: NOW - timedelta(hours=1, minutes=count - n) for n in range(1, count + 1)}


def walk(rsps, client, listing: Listing, per_page: int = 100, after=None) -> list[Page]:
    rsps.add_callback("GET", f"{API}/profile/issues", callback=listing)
    return list(client.my_issue_pages(after, per_page=per_page))


def ids(pages: list[Page]) -> list[int]:
    return [issue.id for page in pages for issue in page.items]


@pytest.mark.parametrize("count", [100, 101, 200, 250, 1000])
def test_n_issues_cost_ceil_n_over_100_requests_and_come_once(rsps, client, count):
    listing = Listing(minutes_ago(count))
    pages = walk(rsps, client, listing)
    assert len(listing.queries) == -(-count // 100)
    assert ids(pages) == list(range(1, count + 1))
    # page 1 as usual (conditional, no upper bound); then a fixed upper bound from the server's
    # clock, except on the last page, which shows whatever changed since too
    before = [q.get("updated_at_before") for q in listing.queries]
    assert before[0] is None
    assert before[-1] is None
    assert all(b is not None and b <= stamp(NOW) for b in before[1:-1])
    assert len(set(before[1:-1])) <= 1
    assert all(q.get("updated_at_after") is None for q in listing.queries)


def test_ties_across_page_boundaries_are_read_once(rsps, client):
    same = NOW - timedelta(days=1)
    listing = Listing(dict.fromkeys(range(1, 251), same))
    pages = walk(rsps, client, listing)
    assert len(listing.queries) == 3
    assert sorted(ids(pages)) == list(range(1, 251))


@pytest.mark.parametrize("on_request", [2, 3])
def test_an_issue_changed_during_the_walk_is_not_skipped(rsps, client, on_request):
    listing = Listing(minutes_ago(300))
    # Issue 5 (on page 1) changes: with plain offsets every later issue would move one place
    # left, and the first issue of the next page would never be read.
    listing.before_request = lambda n: listing.change(5) if n == on_request else None
    pages = walk(rsps, client, listing)
    seen = ids(pages)
    assert set(seen) == set(range(1, 301))
    assert seen.count(5) == 2  # old, then new: upserted in order, the newest wins
    assert pages[-1].items[-1].id == 5


def test_an_issue_that_disappears_during_the_walk_skips_nothing(rsps, client):
    listing = Listing(minutes_ago(300))
    listing.before_request = lambda n: listing.issues.pop(7) if n == 2 else None
    pages = walk(rsps, client, listing)
    assert set(ids(pages)) == set(range(1, 301))


def test_changes_in_the_last_second_before_the_walk_are_read_too(rsps, client):
    issues = minutes_ago(250)
    issues[251] = NOW  # changed in the very second the walk starts
    listing = Listing(issues)
    pages = walk(rsps, client, listing)
    assert set(ids(pages)) == set(range(1, 252))
    assert ids(pages)[-1] == 251


def test_an_incremental_walk_starts_at_the_cursor(rsps, client):
    issues = minutes_ago(400)
    listing = Listing(issues)
    cursor = issues[201]
    pages = walk(rsps, client, listing, after=cursor)
    assert ids(pages) == list(range(201, 401))
    assert len(listing.queries) == 2
    assert {q["updated_at_after"] for q in listing.queries} == {stamp(cursor)}


def test_without_a_date_the_walk_goes_by_update_time(rsps, client):
    class NoDate(Listing):
        def __call__(self, request):
            status, _headers, body = super().__call__(request)
            return status, {}, body

    listing = NoDate(minutes_ago(200))
    pages = walk(rsps, client, listing)
    assert ids(pages) == list(range(1, 201))
    assert len(listing.queries) == 3  # the boundary issue of each page comes again
    assert all("updated_at_before" not in q for q in listing.queries)


def test_the_cursor_moves_past_the_last_second_once_the_walk_is_complete(rsps, client):
    issues = minutes_ago(150)
    pages = walk(rsps, client, Listing(issues))
    newest = issues[150]
    assert pages[0].cursor == pages[0].high_water  # more to come: the boundary comes again
    assert pages[-1].complete_before is not None
    assert pages[-1].high_water == newest
    assert pages[-1].cursor == newest + timedelta(seconds=1)


def test_the_cursor_stays_on_a_second_the_server_clock_has_not_left(rsps, client):
    listing = Listing({1: NOW})
    pages = walk(rsps, client, listing)
    assert pages[-1].cursor == NOW  # a change later in this second must still be read
