"""An in-memory SeeClickFix listing sorted by update time, for driving the walk directly.

It answers like the real service: ``updated_at_after`` inclusive, ``updated_at_before``
exclusive, whole-second filters, a page cap with its three answers, and a clock that moves on
with every request. ``before_request`` lets a test change issues at any request of a walk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django_seeclickfix.client.pagination import Fetched, walk_updates
from django_seeclickfix.client.types import Page
from django_seeclickfix.exceptions import NotFound

Row = tuple[int, datetime]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Listing:
    stamps: dict[int, datetime]
    per_page: int = 100
    page_cap: int = 0
    page_cap_answer: str = "404"
    send_date: bool = True
    send_entries: bool = True
    ignore_after: bool = False  # a broken server: updated_at_after has no effect
    now: datetime = EPOCH + timedelta(hours=1)
    tick: timedelta = timedelta(milliseconds=300)
    before_request: Callable[[int], None] = lambda _n: None
    requests: list[dict[str, Any]] = field(default_factory=list)

    def change(self, issue_id: int) -> None:
        """An issue changed now: it moves to the end of the listing."""
        self.stamps[issue_id] = self.now

    def insert(self) -> int:
        new_id = max(self.stamps, default=0) + 1
        self.stamps[new_id] = self.now
        return new_id

    def fetch(self, params: dict[str, Any], _conditional: bool) -> Fetched:
        self.before_request(len(self.requests))
        self.requests.append(dict(params))
        self.now += self.tick
        after = None if self.ignore_after else _time(params.get("updated_at_after"))
        before = _time(params.get("updated_at_before"))
        rows = sorted(
            (stamp, issue_id)
            for issue_id, stamp in self.stamps.items()
            if (after is None or stamp >= after) and (before is None or stamp < before)
        )
        size = min(int(params.get("per_page") or self.per_page), self.per_page)
        page = int(params["page"])
        pages = -(-len(rows) // size)
        if self.page_cap and page > self.page_cap:
            if self.page_cap_answer == "404":
                raise NotFound("Not found on SeeClickFix: GET /issues.", status=404)
            if self.page_cap_answer == "repeat":
                page = self.page_cap
        chosen = rows[(page - 1) * size : page * size]
        if self.page_cap and page > self.page_cap:
            chosen = []  # "empty": no issues, the counts as before
        body = {
            "metadata": {
                "pagination": {
                    "entries": len(rows),
                    "page": page,
                    "per_page": size,
                    "pages": pages,
                    "next_page": page + 1 if page < pages else None,
                }
            },
            "issues": [{"id": i, "updated_at": s.isoformat()} for s, i in chosen],
        }
        if not self.send_entries:
            del body["metadata"]["pagination"]["entries"]
        served = self.now.replace(microsecond=0) - timedelta(seconds=1)
        return Fetched(False, body, server_time=served if self.send_date else None)


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _parse(raw: Any) -> Row:
    return raw["id"], datetime.fromisoformat(raw["updated_at"])


def walk(listing: Listing, since: datetime | None) -> Iterator[Page[Row]]:
    return walk_updates(
        listing.fetch,
        {"per_page": listing.per_page, "sort": "updated_at", "sort_direction": "ASC"},
        updated_after=since,
        items_key="issues",
        parse=_parse,
        updated_at=lambda row: row[1],
        identity=lambda row: row[0],
        where="the test listing",
    )


def sync(listing: Listing, mirror: dict[int, datetime], cursor: datetime | None) -> datetime | None:
    """One pass: what a sync does with the pages (store them, keep the cursor)."""
    for page in walk(listing, cursor):
        for issue_id, stamp in page.items:
            if issue_id not in mirror or mirror[issue_id] <= stamp:
                mirror[issue_id] = stamp
        cursor = page.cursor or cursor
    return cursor


def same_second(count: int, second: datetime = EPOCH) -> dict[int, datetime]:
    return dict.fromkeys(range(1, count + 1), second)
