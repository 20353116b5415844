"""The area change feed: every linked user's public issues in an area, from one listing.

Syncing each linked user separately costs at least one request per user per pass; at
SeeClickFix's 20 requests a minute, 10,000 users take more than eight hours even when nothing
changed. Public issues carry their reporter's SeeClickFix id, so one walk over an area's
changes (``GET /issues`` filtered by ``place_url`` or a bounding box, all four statuses,
``updated_at`` ascending from the area's cursor, 100 per page) finds the changes of every
linked user there, for ``ceil(changes / 100)`` requests (one ``304`` when nothing changed).

* Only issues whose reporter is a usable linked account of this environment are kept, through
  the per-user sync's write path (:func:`~django_seeclickfix.sync.upsert_issue_rows`). Every
  other issue is dropped as soon as its page is processed: never stored, never logged (other
  residents' data is not ours to keep). Logs carry counts only.
* Each page is one transaction: the linked users' issues of the page and the area's cursor
  (``SeeClickFixAreaFeed.cursor``, moved forward only: to the page's newest change, or past its
  second once the walk is complete, see ``Page.cursor``). A pass stopped anywhere resumes after the
  last committed page; the boundary issue comes again (the bound is inclusive) and is
  rewritten unchanged.
* The feed never moves an account's own ``sync_cursor``: the per-user sync still reads
  everything the feed cannot see (private issues, issues outside the areas), only less often
  while the feed covers the accounts (:func:`coverage`, ``SYNC_INTERVAL_WITH_FEED``).
* Requests are anonymous (public data), or the service account's (``SERVICE_ACCOUNT``).

See ``docs/feed.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .client.client import ALL_STATUSES, MAX_PER_PAGE, SeeClickFixClient
from .client.service import service_client
from .conf import app_settings
from .exceptions import RateLimited, ReauthRequired, SeeClickFixError, error_text
from .locks import AreaLock
from .mirror import upsert_issue_rows
from .models import SeeClickFixAccount, SeeClickFixAreaFeed
from .outcomes import Outcome

if TYPE_CHECKING:
    from .client import Issue, Page

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Area:
    """One entry of ``SEECLICKFIX["AREAS"]`` as ``/issues`` filters."""

    name: str
    filters: Mapping[str, Any]

    @classmethod
    def from_setting(cls, value: Mapping[str, Any]) -> Area:
        if value.get("PLACE_URL"):
            return cls(str(value["NAME"]), {"place_url": str(value["PLACE_URL"]).strip()})
        min_lat, min_lng, max_lat, max_lng = (float(x) for x in value["BBOX"])
        box = {"min_lat": min_lat, "min_lng": min_lng, "max_lat": max_lat, "max_lng": max_lng}
        return cls(str(value["NAME"]), box)

    @property
    def definition(self) -> str:
        """The filters as stable text: stored with the cursor, so editing an area restarts it
        instead of reading a new area from the old area's cursor."""
        return "&".join(f"{key}={value}" for key, value in sorted(self.filters.items()))


def configured_areas() -> list[Area]:
    return [Area.from_setting(value) for value in app_settings.AREAS]


def feed_client(**options: Any) -> SeeClickFixClient:
    """The service account's client when ``SERVICE_ACCOUNT`` is set, else an anonymous one
    (the feed reads public data only). ``options`` go to :class:`SeeClickFixClient`."""
    if app_settings.SERVICE_ACCOUNT:
        return service_client(**options)
    return SeeClickFixClient(app_settings.base_url, None, **options)


@dataclass(frozen=True)
class AreaResult:
    """What one area's walk did. ``changes``: issues newer than the previous cursor (the
    boundary issue read again is not one; nor is a change made within the cursor's own second,
    which is stored all the same: the count feeds logs and summaries only, and the feed keeps
    no copy of other residents' issues to tell the two apart); ``stored``: rows written for
    linked users; ``requests``: API requests (redirect hops included)."""

    area: str
    pages: int
    changes: int
    stored: int
    requests: int
    not_modified: bool
    cursor: datetime

    @property
    def outcome(self) -> str:
        return Outcome.SYNCED if self.changes else Outcome.UNCHANGED

    def as_summary(self) -> dict[str, Any]:
        summary = asdict(self)
        summary["cursor"] = self.cursor.isoformat()
        summary["outcome"] = self.outcome
        return summary


def area_state(area: Area, now: datetime) -> SeeClickFixAreaFeed:
    """The area's row, made on first use with its cursor ``FEED_BACKFILL`` before ``now``.

    A row whose filters differ from the settings' starts again the same way: its cursor
    belongs to another area.
    """
    # Whole seconds, like SeeClickFix's times and the ``updated_at_after`` filter.
    start = (now - timedelta(seconds=app_settings.FEED_BACKFILL)).replace(microsecond=0)
    state, created = SeeClickFixAreaFeed.objects.get_or_create(
        environment=app_settings.ENVIRONMENT,
        name=area.name,
        defaults={"definition": area.definition, "cursor": start},
    )
    if not created and state.definition != area.definition:
        logger.info("SeeClickFix area %r has new filters; its feed starts again", area.name)
        state.definition = area.definition
        state.cursor = start
        state.last_pass_at = None
        state.save(update_fields=["definition", "cursor", "last_pass_at", "updated_at"])
    return state


def linked_accounts(user_scf_ids: Iterable[int | None]) -> dict[int, SeeClickFixAccount]:
    """The usable accounts of this environment among ``user_scf_ids``, by SeeClickFix id.

    Only the columns the upsert needs are read (no tokens are decrypted here)."""
    wanted = {scf_id for scf_id in user_scf_ids if scf_id is not None}
    if not wanted:
        return {}
    accounts = (
        SeeClickFixAccount.objects.usable()
        .filter(user_scf_id__in=wanted)
        .only("pk", "environment", "user_scf_id")
    )
    return {account.user_scf_id: account for account in accounts}


def _reporter_id(issue: Issue) -> int | None:
    return issue.reporter.id if issue.reporter is not None else None


def _store_page(state: SeeClickFixAreaFeed, page: Page[Issue], now: datetime) -> int:
    """The linked users' issues of ``page`` and the area's cursor, in one transaction."""
    with transaction.atomic():
        accounts = linked_accounts(_reporter_id(issue) for issue in page.items)
        stored = upsert_issue_rows(
            (
                (accounts[reporter], issue)
                for issue in page.items
                if (reporter := _reporter_id(issue)) in accounts
            ),
            now,
        )
        # The page's newest change, or the second after it once the walk is complete (then
        # SeeClickFix's clock has left that second and nothing is read twice).
        cursor = page.cursor
        if cursor is not None:
            # Forward only: a late retry or a concurrent pass must not rewind it.
            SeeClickFixAreaFeed.objects.filter(pk=state.pk, cursor__lt=cursor).update(
                cursor=cursor, updated_at=now
            )
            state.cursor = max(state.cursor, cursor)
    return stored


def sync_area(area: Area, *, client: SeeClickFixClient) -> AreaResult:
    """Read ``area``'s changes since its cursor and keep the linked users' (no lock: see
    :func:`run_feed`). Errors propagate; committed pages stay committed."""
    started = timezone.now()
    state = area_state(area, started)
    previous = state.cursor
    before = client.requests_made
    pages = changes = stored = 0
    not_modified = False
    walk = client.issue_pages(
        updated_after=previous,
        per_page=MAX_PER_PAGE,
        conditional=True,
        status=ALL_STATUSES,
        **area.filters,
    )
    for page in walk:
        if page.not_modified:
            not_modified = True
            continue
        pages += 1
        changes += sum(
            1 for issue in page.items if issue.updated_at is None or issue.updated_at > previous
        )
        if page.items:
            stored += _store_page(state, page, timezone.now())
    # The walk reached the end: every change made before ``started`` has been read.
    SeeClickFixAreaFeed.objects.filter(pk=state.pk).update(last_pass_at=started, last_error="")
    result = AreaResult(
        area=area.name,
        pages=pages,
        changes=changes,
        stored=stored,
        requests=client.requests_made - before,
        not_modified=not_modified,
        cursor=state.cursor,
    )
    logger.info(
        "SeeClickFix area %r: %d change(s) in %d page(s), %d issue(s) of linked users stored, "
        "%d request(s)",
        area.name,
        changes,
        pages,
        stored,
        result.requests,
    )
    return result


def _record_error(area: Area, error: BaseException) -> None:
    SeeClickFixAreaFeed.objects.filter(environment=app_settings.ENVIRONMENT, name=area.name).update(
        last_error=error_text(error)
    )


def run_feed(*, owner: str | None = None) -> dict[str, Any]:
    """One pass over every configured area, each under its lock: what ``sync_area_feed`` runs.

    An area that fails (its reason kept in ``SeeClickFixAreaFeed.last_error``) does not stop
    the others; the first such error is raised at the end, so the task's retry policy applies.
    A rate limit or refused service-account credentials stop the pass at once (every area
    would meet them).
    """
    summaries: list[dict[str, Any]] = []
    first_error: SeeClickFixError | None = None
    areas = configured_areas()
    if not areas:
        return {"areas": summaries}
    with feed_client() as client:
        for area in areas:
            lock = AreaLock(area.name, owner)
            if not lock.acquire():
                summaries.append({"area": area.name, "outcome": Outcome.LOCKED})
                continue
            try:
                summaries.append(sync_area(area, client=client).as_summary())
            except SeeClickFixError as err:
                _record_error(area, err)
                if isinstance(err, RateLimited | ReauthRequired):
                    raise
                logger.warning("SeeClickFix area %r failed: %s", area.name, type(err).__name__)
                first_error = first_error or err
            finally:
                lock.release()
    if first_error is not None:
        raise first_error
    return {"areas": summaries}


# what the per-user pass may skip ----------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """Whether the feed covers the linked accounts now, and what that means for their syncs.

    ``covered``: ``AREAS`` is set and every area's feed (with its current filters) completed a
    pass that started within the last ``SYNC_INTERVAL``, so every public change in the areas
    older than that has been read, as promptly as the per-user sync would have. Then an account
    is next due ``interval`` = ``SYNC_INTERVAL_WITH_FEED`` seconds after its sync instead of
    ``SYNC_INTERVAL`` (``scheduling.sync_ended``).
    """

    configured: bool
    covered: bool
    interval: int

    def summary(self) -> dict[str, Any]:
        """Keys for ``sync_all_accounts``'s result (none without ``AREAS``)."""
        if not self.configured:
            return {}
        return {"covered_by_feed": self.covered}


def feed_is_fresh(now: datetime | None = None) -> bool:
    """Every configured area completed a pass started within ``SYNC_INTERVAL``."""
    areas = configured_areas()
    if not areas:
        return False
    now = now or timezone.now()
    current = Q()
    for area in areas:
        current |= Q(name=area.name, definition=area.definition)
    fresh = SeeClickFixAreaFeed.objects.filter(
        current,
        environment=app_settings.ENVIRONMENT,
        last_pass_at__gte=now - timedelta(seconds=app_settings.SYNC_INTERVAL),
    ).count()
    return fresh == len(areas)


def coverage(now: datetime | None = None) -> Coverage:
    """The per-user sync interval that applies now (see :class:`Coverage`)."""
    now = now or timezone.now()
    interval = int(app_settings.SYNC_INTERVAL)
    if not app_settings.AREAS:
        return Coverage(configured=False, covered=False, interval=interval)
    if not feed_is_fresh(now):
        return Coverage(configured=True, covered=False, interval=interval)
    return Coverage(
        configured=True, covered=True, interval=int(app_settings.SYNC_INTERVAL_WITH_FEED)
    )


__all__ = [
    "Area",
    "AreaResult",
    "Coverage",
    "area_state",
    "configured_areas",
    "coverage",
    "feed_client",
    "feed_is_fresh",
    "linked_accounts",
    "run_feed",
    "sync_area",
]
