"""The planner: which owed work spends SeeClickFix's shared budget, in what order, and when.

SeeClickFix allows ``RATE_LIMIT_REQUESTS`` per ``RATE_LIMIT_PERIOD`` for everything behind one
address. Every ``SYNC_PASS_INTERVAL`` a pass (``sync_all_accounts``) plans the requests until the
next pass, by priority:

1. **Interactive work** (a user's post, "sync now", the OAuth callback's requests) is never
   planned: ``RATE_LIMIT_RESERVE`` of the budget is left for it, so it finds budget at once
   instead of queueing behind background work.
2. **The area feed** (``AREAS``): one request per area and feed pass, planned next.
3. **Per-user syncs** fill the rest, most overdue first (``next_sync_at``), each at its
   *expected cost*: its listing pages (as many as its last sync's changes need, or, for a
   first sync, as its profile's issue count needs, plus one), one more when its profile will be
   older than ``PROFILE_MAX_AGE``, one more when its access token will be within its refresh margin
   (``tokens.refresh_margin``; a token is refreshed when a planned request needs it, not on a
   timer).

Each planned sync is queued with a countdown that spreads the plan over the interval at the
budget's rate, so the tasks arrive as the budget frees instead of all waiting at once; one that
still finds the budget used up waits again without using up its retries (``task_base``).

An account's ``next_sync_at`` says when it is due: the pass that queues it moves it
``SYNC_QUEUE_TIMEOUT`` ahead (so it is never queued twice, and is due again if its message was
lost); the sync sets it one interval after the sync ends: ``SYNC_INTERVAL``, or
``SYNC_INTERVAL_WITH_FEED`` while the feed covers the accounts, halved when the sync brought
changes (an active account is looked at twice as often). The claim reads the due accounts
through an index in that order and stops after the plan's worth (``LIMIT``): its cost does not
grow with the number of accounts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from .conf import app_settings
from .models import SeeClickFixAccount
from .tokens import refresh_margin

# Without a shared budget (RATE_LIMIT_SCOPE = "token") nothing limits a pass but this.
UNSHARED_PASS_LIMIT = 1000
# What the expected cost of an account's sync is read from (its profile too, for a first sync).
COSTED_FIELDS = (
    "pk",
    "expires_at",
    "token_issued_at",
    "profile_synced_at",
    "last_synced_at",
    "last_sync_changes",
)


def rate() -> float:
    """Requests per second the planner may plan (the budget's, less the interactive reserve)."""
    per_second = app_settings.RATE_LIMIT_REQUESTS / app_settings.RATE_LIMIT_PERIOD
    return float(per_second * (1 - app_settings.RATE_LIMIT_RESERVE))


def pass_capacity() -> float:
    """Requests a pass may plan until the next one (the interactive reserve left out)."""
    return rate() * float(app_settings.SYNC_PASS_INTERVAL)


def feed_cost() -> int:
    """The area feed's requests until the next pass: one per area and feed pass."""
    areas = len(app_settings.AREAS)
    if not areas:
        return 0
    return areas * math.ceil(int(app_settings.SYNC_PASS_INTERVAL) / int(app_settings.FEED_INTERVAL))


def expected_cost(row: Any, at: datetime, profile: Any = None) -> int:
    """Requests the sync of ``row`` (an account, or its ``COSTED_FIELDS`` values) will make if
    it runs at ``at``; ``profile`` is the account's profile snapshot for a first sync."""
    per_page = max(1, int(app_settings.PER_PAGE))
    if row.last_synced_at is None:
        reported = profile.get("reported_issue_count") if isinstance(profile, dict) else None
        count = reported if isinstance(reported, int) and reported > 0 else 0
        listing = 1 + math.ceil(count / per_page)
    else:
        listing = max(1, math.ceil(row.last_sync_changes / per_page))
    profile_due = row.profile_synced_at is None or at - row.profile_synced_at >= timedelta(
        seconds=app_settings.PROFILE_MAX_AGE
    )
    # The margin the refresh itself applies (at most half the token's lifetime): a plan that
    # used the raw setting would count a refresh for every short-lived token, always.
    refresh_due = row.expires_at is not None and row.expires_at - refresh_margin(row) <= at
    return listing + int(profile_due) + int(refresh_due)


@dataclass(frozen=True)
class Planned:
    """One sync of a pass's plan: its account, expected cost and queueing countdown."""

    account_id: int
    cost: int
    countdown: float


@dataclass(frozen=True)
class PassPlan:
    planned: tuple[Planned, ...]
    capacity: float  # requests the pass could plan
    feed: int  # of them, the feed's

    @property
    def requests(self) -> int:
        return sum(p.cost for p in self.planned)

    def summary(self) -> dict[str, Any]:
        return {
            "queued": len(self.planned),
            "planned_requests": self.requests,
            "capacity": round(self.capacity, 1),
        }


def due(now: datetime) -> Any:
    """Usable accounts of this environment that are due, most overdue first."""
    return (
        SeeClickFixAccount.objects.usable()
        .filter(next_sync_at__lte=now)
        .order_by("next_sync_at", "pk")
    )


def pace(costs: Sequence[int], *, offset: float = 0.0) -> list[float]:
    """Countdowns that spread work of these costs at the planner's rate, after ``offset``
    requests' worth already planned."""
    per_second = rate()
    countdowns = []
    spent = offset
    for cost in costs:
        countdowns.append(round(spent / per_second, 3))
        spent += cost
    return countdowns


def plan_pass(now: datetime | None = None) -> PassPlan:
    """Claim what this pass can afford (see the module docstring) and mark it queued. Two
    queries whatever the number of accounts: the locking, index-ordered, limited read of the
    candidates, and the update that marks those planned."""
    now = now or timezone.now()
    at = now + timedelta(seconds=app_settings.SYNC_PASS_INTERVAL)
    shared = app_settings.RATE_LIMIT_SCOPE != "token"
    capacity = pass_capacity() if shared else float("inf")
    feed = feed_cost()
    budget = capacity - feed
    limit = app_settings.SYNC_BATCH_SIZE or (
        max(0, math.floor(budget)) if shared else UNSHARED_PASS_LIMIT
    )
    planned: list[tuple[int, int]] = []
    with transaction.atomic():
        query = due(now)
        if connection.features.has_select_for_update_skip_locked:
            query = query.select_for_update(skip_locked=True, of=("self",))
        spent = 0
        for row in query.only(*COSTED_FIELDS, "profile")[:limit]:
            cost = expected_cost(row, at, row.profile)
            if planned and spent + cost > budget:
                break  # the rest waits, in order, for the next pass
            planned.append((row.pk, cost))
            spent += cost
        mark_queued([pk for pk, _cost in planned], now=now)
    countdowns = pace([cost for _pk, cost in planned], offset=feed) if shared else []
    return PassPlan(
        planned=tuple(
            Planned(pk, cost, countdowns[i] if countdowns else 0.0)
            for i, (pk, cost) in enumerate(planned)
        ),
        capacity=capacity,
        feed=feed,
    )


def plan_accounts(account_ids: Sequence[int], now: datetime | None = None) -> list[Planned]:
    """Plan syncs of these accounts (a command's choice, not a pass's), paced like a pass so
    they do not all wait for budget at once; marks them queued."""
    now = now or timezone.now()
    rows = SeeClickFixAccount.objects.filter(pk__in=list(account_ids)).only(
        *COSTED_FIELDS, "profile"
    )
    costs = {row.pk: expected_cost(row, now, row.profile) for row in rows}
    ids = [pk for pk in account_ids if pk in costs]
    mark_queued(ids, now=now)
    countdowns = pace([costs[pk] for pk in ids])
    return [
        Planned(pk, costs[pk], countdown) for pk, countdown in zip(ids, countdowns, strict=True)
    ]


def mark_queued(account_ids: Iterable[int], *, now: datetime | None = None) -> None:
    """The accounts are queued (or a retry of theirs is): due again only if their sync does
    not end within ``SYNC_QUEUE_TIMEOUT`` (its message was lost)."""
    now = now or timezone.now()
    SeeClickFixAccount.objects.filter(pk__in=list(account_ids)).update(
        sync_queued_at=now, next_sync_at=now + timedelta(seconds=app_settings.SYNC_QUEUE_TIMEOUT)
    )


def clear_queued(account_ids: Iterable[int], *, queued_before: datetime | None = None) -> None:
    """Remove the queued mark, due at once (a pass that could not send its message), or only
    marks set before ``queued_before``, when given."""
    query = SeeClickFixAccount.objects.filter(pk__in=list(account_ids))
    if queued_before is not None:
        query = query.filter(sync_queued_at__lte=queued_before)
    query.update(sync_queued_at=None, next_sync_at=timezone.now())


def sync_ended(
    account_id: int, *, started: datetime, changes: int, interval: int | None = None
) -> None:
    """A sync that started at ``started`` ended: next due one interval from now (half of one
    when it brought changes), unless a pass queued the account again meanwhile."""
    now = timezone.now()
    seconds = interval or app_settings.SYNC_INTERVAL
    if changes:
        seconds /= 2
    SeeClickFixAccount.objects.filter(pk=account_id).filter(
        Q(sync_queued_at__isnull=True) | Q(sync_queued_at__lte=started)
    ).update(
        sync_queued_at=None,
        next_sync_at=now + timedelta(seconds=seconds),
        last_sync_changes=min(changes, 2**31 - 1),
    )


__all__ = [
    "PassPlan",
    "Planned",
    "clear_queued",
    "due",
    "expected_cost",
    "feed_cost",
    "mark_queued",
    "pace",
    "pass_capacity",
    "plan_accounts",
    "plan_pass",
    "rate",
    "sync_ended",
]
