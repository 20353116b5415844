"""Lazy page iteration driven by ``metadata.pagination``.

Two walks:

- **By page number** (plain listings): follow ``next_page`` numbers (never ``next_page_url``,
  which the docs show with a doubled ``/api/api/v2``), stop when it is ``null``, ``"null"`` or
  missing, and refuse to request a page twice.
- **By update time** (incremental sync: ``sort=updated_at&sort_direction=ASC``): after each page
  the next request moves ``updated_at_after`` up to the greatest ``updated_at`` seen and starts
  again at page 1. Offsets are unsafe here: an issue that changes during the walk jumps to the
  end of the list and every later issue shifts one place left, so page 2 would silently skip
  one. ``updated_at_after`` is inclusive, so the boundary issues come again; they are dropped.
  Only when a whole page shares the bound's second does the walk fall back to the next page
  number under the same bound. No (bound, page) pair is requested twice, and a page that repeats
  the previous one (a server or proxy ignoring ``page``) stops the walk with ``TransientError``.

Metadata decides whether there is more; one page at a time is held in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from ..exceptions import TransientError
from . import parsing
from .types import Page

logger = logging.getLogger("django_seeclickfix.client")

T = TypeVar("T")


@dataclass(frozen=True)
class Fetched:
    """What the client hands the walk for one request: a 304, or a parsed JSON body."""

    not_modified: bool
    body: Any = None


@dataclass(frozen=True)
class PaginationInfo:
    page: int | None
    per_page: int | None
    pages: int | None
    entries: int | None
    next_page: int | None

    @property
    def has_next(self) -> bool:
        if self.next_page is None:
            return False
        return not (self.pages is not None and self.page is not None and self.page >= self.pages)


def read_pagination(body: Any) -> PaginationInfo:
    data = parsing.mapping(parsing.mapping(parsing.mapping(body).get("metadata")).get("pagination"))
    return PaginationInfo(
        page=parsing.page_number(data.get("page")),
        per_page=parsing.page_number(data.get("per_page")),
        pages=parsing.integer(data.get("pages")),
        entries=parsing.integer(data.get("entries")),
        next_page=parsing.page_number(data.get("next_page")),
    )


def items_of(body: Any, key: str, where: str) -> list[Any]:
    """The resource-named array (``issues``, ``comments``…); missing means a broken body."""
    if not isinstance(body, Mapping) or not isinstance(body.get(key), list):
        raise TransientError(f"SeeClickFix's answer to {where} has no '{key}' list.")
    return list(body[key])


def _parse_all(raw_items: list[Any], parse: Callable[[Any], T | None], where: str) -> list[T]:
    parsed: list[T] = []
    for raw in raw_items:
        item = parse(raw)
        if item is None:
            logger.warning("Skipped an entry without an id in SeeClickFix's %s", where)
            continue
        parsed.append(item)
    return parsed


def walk_pages(
    fetch: Callable[[dict[str, Any], bool], Fetched],
    params: Mapping[str, Any],
    *,
    items_key: str,
    parse: Callable[[Any], T | None],
    where: str,
    on_complete: Callable[[], None] | None = None,
) -> Iterator[Page[T]]:
    """Pages by ``next_page`` number. Only the first request may be conditional."""
    requested: set[int] = set()
    number = parsing.page_number(params.get("page")) or 1
    while True:
        requested.add(number)
        fetched = fetch({**params, "page": number}, not (len(requested) > 1))
        if fetched.not_modified:
            yield Page.unchanged(number)
            return
        raw_items = items_of(fetched.body, items_key, where)
        info = read_pagination(fetched.body)
        has_next = info.has_next and bool(raw_items)
        page = Page(
            items=tuple(_parse_all(raw_items, parse, where)),
            number=number,
            per_page=info.per_page,
            total_pages=info.pages,
            total_entries=info.entries,
            has_next=has_next,
        )
        del fetched, raw_items  # hold one page, not the page and the body it came from
        yield page
        del page
        if not has_next:
            break
        assert info.next_page is not None
        if info.next_page in requested:
            raise TransientError(
                f"SeeClickFix's pagination for {where} pointed back to page {info.next_page}; "
                "stopped instead of fetching it twice."
            )
        number = info.next_page
    if on_complete is not None:
        on_complete()


def walk_updates(
    fetch: Callable[[dict[str, Any], bool], Fetched],
    params: Mapping[str, Any],
    *,
    updated_after: datetime | None,
    items_key: str,
    parse: Callable[[Any], T | None],
    updated_at: Callable[[T], datetime | None],
    identity: Callable[[T], Any],
    where: str,
    on_complete: Callable[[], None] | None = None,
) -> Iterator[Page[T]]:
    """Pages of an ``updated_at`` ascending listing, moving the lower bound forward."""
    bound = updated_after
    number = 1
    first = True
    # (id, updated_at) of the items at or after the bound's second on the page that moved the
    # bound: the next request (inclusive bound, page 1) brings them again.
    at_bound: set[tuple[Any, datetime]] = set()
    # The ids of the previous page while paging on by number under one bound: a server that
    # ignores ``page`` sends the same page again, and the walk must not page on forever.
    previous_ids: frozenset[Any] | None = None
    while True:
        request = dict(params)
        request["page"] = number
        if bound is not None:
            request["updated_at_after"] = parsing.format_timestamp(bound)
        fetched = fetch(request, first)
        first = False
        if fetched.not_modified:
            yield Page.unchanged(number)
            return
        raw_items = items_of(fetched.body, items_key, where)
        info = read_pagination(fetched.body)
        parsed = _parse_all(raw_items, parse, where)
        page_ids = frozenset(identity(item) for item in parsed)
        if previous_ids is not None and page_ids and page_ids == previous_ids:
            raise TransientError(
                f"SeeClickFix's listing for {where} sent the same issues for page {number} as "
                f"for page {number - 1}; stopped instead of paging on forever."
            )
        fresh: list[T] = []
        for item in parsed:
            stamp = updated_at(item)
            if stamp is not None and (identity(item), stamp) in at_bound:
                continue
            fresh.append(item)
        has_next = info.has_next and bool(raw_items)
        page = Page(
            items=tuple(fresh),
            number=number,
            per_page=info.per_page,
            total_pages=info.pages,
            total_entries=info.entries,
            has_next=has_next,
        )
        stamps = [s for s in (updated_at(item) for item in parsed) if s is not None]
        newest = max(stamps) if stamps else None
        if newest is not None and (bound is None or _second(newest) > _second(bound)):
            bound = newest
            number = 1
            previous_ids = None
            floor = _second(bound)
            # The next request starts at this second again: remember who was already seen
            # there (at most one page of them).
            at_bound = {
                (identity(item), stamp)
                for item in parsed
                if (stamp := updated_at(item)) is not None and stamp >= floor
            }
        else:
            # A whole page within one second: page on by number under the same bound. Those
            # pages do not overlap, so the set stays as it was (memory stays one page).
            number += 1
            previous_ids = page_ids
        del fetched, raw_items, parsed, fresh, stamps  # hold one page, nothing more
        yield page
        del page
        if not has_next:
            break
    if on_complete is not None:
        on_complete()


def _second(value: datetime) -> datetime:
    return value.replace(microsecond=0)
