"""Which accounts a ``sync_all_accounts`` pass queues, and the durable "queued" mark.

An account is due when it was not synced for ``SYNC_INTERVAL`` seconds (``SYNC_INTERVAL_WITH_FEED``
while the area feed covers it) and is not queued already, or was queued longer than
``SYNC_QUEUE_TIMEOUT`` ago (its message was lost). A pass marks the accounts it takes before it
sends anything to the broker, so two passes never queue the same account.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from .conf import app_settings
from .models import SeeClickFixAccount

# A pass queues accounts for this share of the rate budget until the next pass, at one request
# per account (what an unchanged account costs). The rest is for profile refreshes, accounts
# with several pages and the host project's own jobs.
PASS_BUDGET_SHARE = 0.5


def pass_batch_size() -> int | None:
    """How many accounts one ``sync_all_accounts`` run queues (``None``: every due account).

    ``SYNC_BATCH_SIZE`` when set. Otherwise the share of the global budget that accrues until
    the next pass, at one request per account; with a per-token budget (``RATE_LIMIT_SCOPE =
    'token'``) accounts do not compete, so every due account is queued.
    """
    if app_settings.SYNC_BATCH_SIZE:
        return int(app_settings.SYNC_BATCH_SIZE)
    if app_settings.RATE_LIMIT_SCOPE == "token":
        return None
    per_pass = (
        app_settings.RATE_LIMIT_REQUESTS
        * app_settings.SYNC_PASS_INTERVAL
        / app_settings.RATE_LIMIT_PERIOD
    )
    return max(1, int(per_pass * PASS_BUDGET_SHARE))


def due_accounts(now: datetime, interval: int | None = None) -> Any:
    """Usable accounts of this environment not synced for ``interval`` seconds (default
    ``SYNC_INTERVAL``) and not queued (or queued longer than ``SYNC_QUEUE_TIMEOUT`` ago), least
    recently synced first."""
    due_before = now - timedelta(seconds=interval or app_settings.SYNC_INTERVAL)
    stale_before = now - timedelta(seconds=app_settings.SYNC_QUEUE_TIMEOUT)
    return (
        SeeClickFixAccount.objects.usable()
        .filter(Q(last_synced_at__isnull=True) | Q(last_synced_at__lte=due_before))
        .filter(Q(sync_queued_at__isnull=True) | Q(sync_queued_at__lte=stale_before))
        .order_by(F("last_synced_at").asc(nulls_first=True), "pk")
    )


def claim_due_accounts(
    limit: int | None, *, now: datetime | None = None, interval: int | None = None
) -> list[int]:
    """Mark up to ``limit`` due accounts as queued and return their ids, oldest sync first.

    The mark is committed before anything is sent to the broker, so two passes never take the
    same account (on PostgreSQL, rows another pass is claiming are skipped, not waited for).
    """
    now = now or timezone.now()
    with transaction.atomic():
        query = due_accounts(now, interval)
        if connection.features.has_select_for_update_skip_locked:
            query = query.select_for_update(skip_locked=True, of=("self",))
        ids_query = query.values_list("pk", flat=True)
        ids = list(ids_query[:limit] if limit is not None else ids_query)
        if ids:
            SeeClickFixAccount.objects.filter(pk__in=ids).update(sync_queued_at=now)
    return ids


def mark_queued(account_ids: Iterable[int], *, now: datetime | None = None) -> None:
    """Set the queued mark (a retry keeps its account marked from its latest attempt)."""
    SeeClickFixAccount.objects.filter(pk__in=list(account_ids)).update(
        sync_queued_at=now or timezone.now()
    )


def clear_queued(account_ids: Iterable[int], *, queued_before: datetime | None = None) -> None:
    """Remove the queued mark (only marks set before ``queued_before``, when given, so a pass
    that queued the account again during this sync keeps its mark)."""
    query = SeeClickFixAccount.objects.filter(pk__in=list(account_ids))
    if queued_before is not None:
        query = query.filter(sync_queued_at__lte=queued_before)
    query.update(sync_queued_at=None)


__all__ = [
    "claim_due_accounts",
    "clear_queued",
    "due_accounts",
    "mark_queued",
    "pass_batch_size",
]
