"""Lazy page iteration driven by ``metadata.pagination``.

Two walks:

- **By page number** (plain listings): follow ``next_page`` numbers (never ``next_page_url``,
  which the docs show with a doubled ``/api/api/v2``), stop when it is ``null``, ``"null"`` or
  missing, and refuse to request a page twice.
- **By update time** (incremental sync: ``sort=updated_at&sort_direction=ASC``). Plain
  offsets are unsafe here: an issue that changes during the walk jumps to the end of the list
  and every later issue shifts one place left, so page 2 would silently skip one. Two ways
  around it:

  - *Offsets under a fixed upper bound* (when SeeClickFix sends a ``Date``): after a full page
    1, pages 2, 3… carry ``updated_at_before`` = a time the server's clock had passed when it
    read page 1. No issue can enter that range during the walk (a change moves an issue to
    now, past the bound), so an unchanged ``entries`` count proves the offsets did not move,
    and page n+1 starts right after page n: n issues cost ceil(n / per_page) requests. The
    last page goes without the upper bound; its issues below the bound check the count once
    more, and what changed since page 1 follows them. A page on which the count or the page
    size changed, or an issue of the previous page reappears, is dropped, and the walk goes
    on by update time from the last page handed out.
  - *By update time*: the next request moves ``updated_at_after`` up to the greatest
    ``updated_at`` seen and starts again at page 1. The bound is inclusive, so the boundary
    issues come again; they are dropped. Only when a whole page shares the bound's second does
    the walk go on to the next page number under the same bound. No (bound, page) pair is
    requested twice, and a page that repeats the previous one (a server or proxy ignoring
    ``page``) stops the walk with ``TransientError``.

  The last page of a walk that reached the end carries ``complete_before`` (see
  ``Page.cursor``: the next walk need not read the last second again once it is over).

Metadata decides whether there is more; one page at a time is held in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from ..exceptions import NotFound, PageCapReached, TransientError
from . import parsing
from .types import Page

logger = logging.getLogger("django_seeclickfix.client")

T = TypeVar("T")

# Live clients report that SeeClickFix serves at most 25 pages of one listing, whatever
# ``pages`` says; past it a page is a 404, empty, or page 25 again.
PAGE_CAP = 25
ONE_SECOND = timedelta(seconds=1)
# How often a crowded second is read again from its start (an issue came into it, the page
# size changed) before the walk gives up on a listing that does not settle.
MAX_RESTARTS = 3


@dataclass(frozen=True)
class Fetched:
    """What the client hands the walk for one request: a 304, or a parsed JSON body."""

    not_modified: bool
    body: Any = None
    # A time the server's clock had certainly passed when it read the listing (its ``Date``
    # header minus the round trip), when known: the update-time walk then reads by offset.
    server_time: datetime | None = None


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
    previous: tuple[T, ...] | None = None
    while True:
        requested.add(number)
        try:
            fetched = fetch({**params, "page": number}, len(requested) == 1)
        except NotFound as err:
            if len(requested) == 1:
                raise
            raise _cap_reached(where, number) from err
        if fetched.not_modified:
            yield Page.unchanged(number)
            return
        raw_items = items_of(fetched.body, items_key, where)
        info = read_pagination(fetched.body)
        items = tuple(_parse_all(raw_items, parse, where))
        if previous is not None and (not raw_items or items == previous):
            # ``pages`` promised this page, but it is empty or the previous one again: the
            # service's page cap. Ending here would silently truncate or duplicate.
            raise _cap_reached(where, number)
        previous = items
        has_next = info.has_next and bool(raw_items)
        page = Page(
            items=items,
            number=number,
            per_page=info.per_page,
            total_pages=info.pages,
            total_entries=info.entries,
            has_next=has_next,
        )
        del fetched, raw_items, items  # hold one page, not the page and the body it came from
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


def _cap_reached(where: str, number: int) -> PageCapReached:
    return PageCapReached(
        f"SeeClickFix stopped serving {where} at page {number} (its page cap) although more "
        "was promised; narrow the filters or walk by update time (iter_updates), which goes on "
        "past the cap."
    )


@dataclass(frozen=True)
class _Position:
    """Where the update-time walk reads next: page ``number`` under the lower ``bound``.

    ``at_bound``: (id, updated_at) of the issues already handed out at the bound's second (the
    bound is inclusive, so they come again and are dropped). ``previous_ids``: the previous
    page's ids while paging on by number under one bound (a repeat means ``page`` is ignored).
    """

    bound: datetime | None
    number: int
    at_bound: frozenset[tuple[Any, datetime]] = frozenset()
    previous_ids: frozenset[Any] | None = None
    # the previous page (``number - 1``) lay wholly within the bound's second: the walk reads
    # that second on its own next (see _read_second)
    whole_second: bool = False
    # the page read under ``bound`` held only older issues: the server ignores the filter
    ignored_bound: bool = False


@dataclass(frozen=True)
class _Run:
    """Pages 2, 3… of one bound's listing read by offset under a fixed upper bound ``before``.

    ``before`` is a time the server's clock had passed when it read page 1, so no issue can
    enter the range ``[bound, before)`` while the run lasts (a change moves an issue to now,
    past ``before``); the range can only lose issues, and then its count drops. So while the
    count stays ``entries`` the offsets stand still, and page n+1 starts right after page n:
    no boundary issue is read twice. The ``last`` page is read without ``before``: its issues
    below ``before`` check the count once more, and whatever changed since page 1 follows them.
    ``resume`` is where the walk goes on by update time if a check fails (after the last page
    handed out, as if the run never started).
    """

    before: datetime
    per_page: int
    entries: int
    last: int
    resume: _Position
    previous_ids: frozenset[Any]
    # the ids handed out by the run (ids only), so that pages read again after the range
    # lost issues hand out nothing twice
    seen: frozenset[tuple[Any, datetime | None]] = frozenset()

    @classmethod
    def start(
        cls,
        server_time: datetime | None,
        info: PaginationInfo,
        stamps: list[datetime | None],
        resume: _Position,
        page_ids: frozenset[Any],
        versions: frozenset[tuple[Any, datetime | None]],
    ) -> _Run | None:
        """A run after a full page 1, or ``None`` when it cannot be checked (no server time, no
        counts) or page 1 already reaches ``before`` (then there is nothing to run over)."""
        if server_time is None or not info.per_page or info.entries is None:
            return None
        before = _second(server_time)
        if not stamps or any(stamp is None or stamp >= before for stamp in stamps):
            return None
        last = -(-info.entries // info.per_page)
        if last < 2:
            return None
        return cls(before, info.per_page, info.entries, last, resume, page_ids, versions)

    def shrunk(
        self, number: int, info: PaginationInfo, size: int, stamps: list[datetime | None]
    ) -> tuple[_Run, int] | None:
        """After issues left the range (a change moved them past ``before``): the run with the
        new count and the page to read next, or ``None`` when that cannot be told.

        ``d`` issues leaving moves every later one at most ``d`` places forward, so pages
        from the one holding offset ``(number - 1) * per_page - d`` on are read again."""
        if info.per_page != self.per_page or info.entries is None or size == 0:
            return None
        if number < self.last:
            lost = self.entries - info.entries
        else:
            lost = self._below_expected() - _below(stamps, self.before)
        if lost <= 0:
            return None
        entries = self.entries - lost
        complete = max(0, (number - 1) * self.per_page - lost)
        last = max(1, -(-entries // self.per_page))
        again = min(complete // self.per_page + 1, last)
        shrunk = replace(self, entries=entries, last=last, previous_ids=frozenset())
        return shrunk, again

    def holds(
        self,
        number: int,
        info: PaginationInfo,
        size: int,
        stamps: list[datetime | None],
        page_ids: frozenset[Any],
    ) -> bool:
        """Whether page ``number`` still lines up with the pages handed out before it."""
        if info.per_page != self.per_page or page_ids & self.previous_ids:
            return False  # another page size, or an issue on two pages: the offsets moved
        if number < self.last:
            return info.entries == self.entries and size == self.per_page
        return _below(stamps, self.before) == self._below_expected()

    def leave(self, position: _Position) -> _Position:
        """``position`` (by update time) once the run ends: the run's issues in the bound's
        second were handed out too, on earlier pages than the one ``position`` came from, and
        the inclusive bound would hand them out again (a page cap inside a crowded second)."""
        if position.bound is None:
            return position
        floor = _second(position.bound)
        carried = frozenset(
            (key, stamp) for key, stamp in self.seen if stamp is not None and stamp >= floor
        )
        return replace(position, at_bound=position.at_bound | carried)

    def _below_expected(self) -> int:
        """How many issues of the last page lie below ``before`` while the count holds."""
        return self.entries - (self.last - 1) * self.per_page


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
    position = _Position(updated_after, 1)
    run: _Run | None = None
    first = True
    cap = PAGE_CAP  # lowered when the service stops answering earlier
    per_page: int | None = None
    while True:
        if position.ignored_bound and position.bound is not None:
            raise TransientError(
                f"SeeClickFix's listing for {where} ignored updated_at_after "
                f"{parsing.format_timestamp(position.bound)} (its newest issue is older); "
                "stopped instead of paging on forever."
            )
        if position.whole_second and position.bound is not None:
            # More issues share the bound's second than a page holds: read it on its own.
            yield from _read_second(
                fetch,
                params,
                second=_second(position.bound),
                verify_page=position.number - 1,
                verify=position.previous_ids or frozenset(),
                per_page=per_page,
                items_key=items_key,
                parse=parse,
                identity=identity,
                seen=frozenset(key for key, _stamp in position.at_bound)
                | (position.previous_ids or frozenset()),
                where=where,
            )
            after = _next_second(position.bound)
            if after is None:
                return  # the last second a timestamp can hold: nothing can come after it
            position = _Position(after, 1)
        request = dict(params)
        request["page"] = position.number
        if position.bound is not None:
            request["updated_at_after"] = parsing.format_timestamp(position.bound)
        if run is not None and position.number < run.last:
            request["updated_at_before"] = parsing.format_timestamp(run.before)
        try:
            fetched = fetch(request, first)
        except NotFound:
            if run is None or position.number == 1:
                raise
            # A page cap: go on by update time from the last page handed out.
            logger.info("%s stopped at page %s; going on by update time", where, position.number)
            cap = min(cap, position.number - 1)
            position, run = run.leave(run.resume), None
            continue
        first = False
        if fetched.not_modified:
            yield Page.unchanged(position.number)
            return
        raw_items = items_of(fetched.body, items_key, where)
        info = read_pagination(fetched.body)
        parsed = _parse_all(raw_items, parse, where)
        page_ids = frozenset(identity(item) for item in parsed)
        stamps = [updated_at(item) for item in parsed]
        per_page = info.per_page or per_page
        if run is not None and not run.holds(
            position.number, info, len(raw_items), stamps, page_ids
        ):
            # The listing changed under the offsets, or a page cap answered (an empty page,
            # or the previous page again): drop this page. Issues left the range: read again
            # from where the first unseen one can be now. Otherwise go on by update time from
            # the last page handed out.
            shrunk = run.shrunk(position.number, info, len(raw_items), stamps)
            if shrunk is not None:
                run = shrunk[0]
                position = replace(position, number=shrunk[1])
                continue
            logger.info("%s changed during the walk; going on by update time", where)
            if not raw_items or page_ids == run.previous_ids:
                cap = min(cap, position.number - 1)
            position, run = run.leave(run.resume), None
            continue
        at_cap = run is not None and position.number >= cap and position.number < run.last
        if run is not None and position.number < run.last and not at_cap:
            has_next = True  # the run's last page is still to come
        else:
            has_next = (info.has_next or at_cap) and bool(raw_items)
        page = Page(
            items=tuple(
                item
                for item, stamp in zip(parsed, stamps, strict=True)
                if (stamp is None or (identity(item), stamp) not in position.at_bound)
                and (run is None or (identity(item), stamp) not in run.seen)
            ),
            number=position.number,
            per_page=info.per_page,
            total_pages=info.pages,
            total_entries=info.entries,
            has_next=has_next,
            complete_before=None if has_next else fetched.server_time,
        )
        following = _following(position, parsed, stamps, page_ids, identity)
        if run is None and position.number == 1 and has_next and cap > 1:
            run = _Run.start(
                fetched.server_time,
                info,
                stamps,
                following,
                page_ids,
                _versions(parsed, stamps, identity),
            )
        elif run is not None:
            run = replace(
                run,
                resume=following,
                previous_ids=page_ids,
                seen=run.seen | _versions(parsed, stamps, identity),
            )
        if run is not None and position.number < run.last and not at_cap:
            position = replace(position, number=position.number + 1)
        elif run is not None and not at_cap and _below(stamps, run.before) == len(stamps):
            # The run read all of [bound, before): what changed since lies at or past before.
            position, run = _Position(run.before, 1), None
        else:
            position, run = (following if run is None else run.leave(following)), None
        del fetched, raw_items, parsed, stamps, following  # hold one page, nothing more
        yield page
        del page
        if not has_next:
            break
    if on_complete is not None:
        on_complete()


def _following(
    position: _Position,
    parsed: list[T],
    stamps: list[datetime | None],
    page_ids: frozenset[Any],
    identity: Callable[[T], Any],
) -> _Position:
    """The next request by update time: from the page's newest second, page 1 again. When the
    whole page lies within the bound's second, ``whole_second``: the walk then reads that
    second on its own (see :func:`_read_second`) and goes on from the next second."""
    newest = max((stamp for stamp in stamps if stamp is not None), default=None)
    if newest is not None and position.bound is not None and newest < _second(position.bound):
        # Nothing at or past the bound: the server ignored ``updated_at_after``; reading on
        # second by second would never end.
        return replace(position, ignored_bound=True)
    if newest is not None and (position.bound is None or _second(newest) > _second(position.bound)):
        floor = _second(newest)
        seen = frozenset(
            (identity(item), stamp)
            for item, stamp in zip(parsed, stamps, strict=True)
            if stamp is not None and stamp >= floor
        )
        return _Position(newest, 1, seen)
    return replace(position, number=position.number + 1, previous_ids=page_ids, whole_second=True)


def _read_second(
    fetch: Callable[[dict[str, Any], bool], Fetched],
    params: Mapping[str, Any],
    *,
    second: datetime,
    verify_page: int,
    verify: frozenset[Any],
    per_page: int | None,
    items_key: str,
    parse: Callable[[Any], T | None],
    identity: Callable[[T], Any],
    seen: frozenset[Any],
    where: str,
) -> Iterator[Page[T]]:
    """Every issue of one ``updated_at`` second that holds more than a page, by page number
    under the closed range ``[second, second + 1s)``.

    Issues can only leave that range while it is read (a change moves an issue to now, past
    it), and then its ``entries`` drop; so ``complete``, the offset up to which every issue
    has been handed out, is moved back by the drop, and the walk reads on from the page that
    holds it. The first read repeats the page the open listing ended on: the same issues
    there prove that the offsets had not moved since (one request, the floor without a time
    the server's clock had passed). ``seen`` drops the issues already handed out."""
    size = per_page or 1
    request = {**params, "updated_at_after": parsing.format_timestamp(second)}
    end = _next_second(second)
    if end is not None:
        request["updated_at_before"] = parsing.format_timestamp(end)
    number = max(1, verify_page)
    count: int | None = None
    complete = 0
    expected: frozenset[Any] | None = verify
    restarts = stalls = 0
    previous: tuple[int, frozenset[Any]] = (0, frozenset())
    while True:
        page_number = complete // size + 1 if count is not None else number
        try:
            fetched = fetch({**request, "page": page_number}, False)
        except NotFound as err:
            raise _crowded(where, second, page_number) from err
        raw_items = items_of(fetched.body, items_key, where)
        info = read_pagination(fetched.body)
        parsed = _parse_all(raw_items, parse, where)
        ids = frozenset(identity(item) for item in parsed)
        if ids and previous == (page_number - 1, ids):
            # page n-1 again: a page cap (or a server ignoring ``page``) inside one second;
            # there is no finer bound to go on by.
            raise _crowded(where, second, page_number)
        previous = (page_number, ids)
        state = (count, complete)
        if info.entries is None:
            # No counts: the second holds what has been read, and more while the listing
            # says it goes on.
            more = 1 if info.has_next and raw_items else 0
            entries = (page_number - 1) * size + len(raw_items) + more
            count = entries if count is not None else None
        else:
            entries = info.entries
        restart = False
        if info.per_page and info.per_page != size:
            size, count, expected = info.per_page, None, None
            restart = page_number != 1  # a page 1 starts the second under any page size
        elif count is None and page_number != 1 and ids != expected:
            expected, restart = None, True  # moved since: read the second from its start
        if restart:
            number, restarts = 1, restarts + 1
            if restarts > MAX_RESTARTS:
                raise _unsettled(where, second)
            continue
        if count is None:
            count, complete, expected = entries, (page_number - 1) * size + len(raw_items), None
        elif entries == count and not raw_items:
            raise _crowded(where, second, page_number)
        elif entries == count and (page_number - 1) * size <= complete:
            complete = max(complete, (page_number - 1) * size + len(raw_items))
        elif entries < count:
            complete = max(0, min(complete, (page_number - 1) * size) - (count - entries))
            count = entries
        else:
            count, number = None, 1  # an issue came into the second: read it from its start
            restarts += 1
        # Every read moves on a page, sees an issue fewer or starts the second again; a server
        # whose answers do none of these (a short page, the same answer again) is not followed.
        stalls = stalls + 1 if (count, complete) == state else 0
        if stalls > 1 or restarts > MAX_RESTARTS:
            raise _unsettled(where, second)
        fresh = tuple(item for item in parsed if identity(item) not in seen)
        seen = seen | ids
        done = count is not None and complete >= count
        del fetched, raw_items, parsed
        if fresh or done:
            yield Page(
                items=fresh,
                number=page_number,
                per_page=size,
                total_pages=info.pages,
                total_entries=info.entries,
                has_next=True,  # the listing goes on after this second
            )
        if done:
            return


def _unsettled(where: str, second: datetime) -> TransientError:
    return TransientError(
        f"SeeClickFix's listing for {where} did not settle while the issues updated in the "
        f"second {parsing.format_timestamp(second)} were read (its counts and pages disagree, "
        "or it kept changing); stopped instead of paging on forever."
    )


def _crowded(where: str, second: datetime, number: int) -> PageCapReached:
    return PageCapReached(
        f"SeeClickFix stopped serving {where} at page {number} of the issues updated in the "
        f"second {parsing.format_timestamp(second)} (its page cap); more issues share that "
        "second than the cap lets through. Narrow the listing's filters (place, status)."
    )


def _below(stamps: list[datetime | None], before: datetime) -> int:
    return sum(1 for stamp in stamps if stamp is not None and stamp < before)


def _versions(
    parsed: list[T], stamps: list[datetime | None], identity: Callable[[T], Any]
) -> frozenset[tuple[Any, datetime | None]]:
    return frozenset((identity(item), stamp) for item, stamp in zip(parsed, stamps, strict=True))


def _second(value: datetime) -> datetime:
    return value.replace(microsecond=0)


def _next_second(value: datetime) -> datetime | None:
    """The start of the second after ``value``'s, or ``None`` past the last one there is."""
    try:
        return _second(value) + ONE_SECOND
    except OverflowError:
        return None
