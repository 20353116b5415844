"""Sync one linked account: its profile snapshot and the issues its user reported.

Plain functions, usable without Celery (the tasks and ``seeclickfix_sync`` call them).

* The profile is fetched only when the snapshot is older than ``PROFILE_MAX_AGE``.
* Issues come from ``/profile/issues`` oldest change first, from ``sync_cursor`` (the greatest
  ``updated_at`` stored so far; inclusive, so the boundary issue comes again and is rewritten
  unchanged). An account with nothing new costs one request: a 304, or one short page.
* Each page is one transaction: one bulk upsert of its issues (the number of statements does not
  grow with the page size) and the cursor moved to the page's newest ``updated_at``. A sync
  stopped anywhere (an error, a killed worker) resumes after the last committed page, and
  running a sync twice rewrites the same values.
* Issues are never deleted here. One that disappears from SeeClickFix (deleted, hidden, moved
  to another reporter) keeps its row with the last state seen; a full sync (``full=True``)
  reads everything again and reports how many of the account's rows it did not see
  (``SyncResult.missing``: rows whose ``last_synced_at`` is older than that sync).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .conf import app_settings
from .exceptions import ReauthRequired, SeeClickFixError, error_text
from .feed import coverage
from .locks import SyncLock
from .mirror import upsert_issues
from .models import SeeClickFixAccount, SeeClickFixIssue
from .outcomes import Outcome
from .scheduling import clear_queued, sync_ended
from .signals import account_synced
from .tokens import client_for_account, mark_reauth_required

if TYPE_CHECKING:
    from .client import Issue, SeeClickFixClient

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncResult:
    """What one sync did. ``requests`` counts API requests (redirect hops included, token
    refreshes not); ``unchanged`` means nothing new arrived: no issue newer than the previous
    cursor, and every issue at or before it (the boundary second, read again) identical in
    ``scf_id`` and ``updated_at`` to its stored row (see :func:`_brings_changes`); ``missing``
    is set by full syncs only (see the module docstring)."""

    account_id: int
    pages: int
    issues: int
    requests: int
    unchanged: bool
    profile_refreshed: bool
    cursor: datetime | None
    full: bool = False
    missing: int | None = None

    @property
    def outcome(self) -> str:
        return Outcome.UNCHANGED if self.unchanged else Outcome.SYNCED

    def as_summary(self) -> dict[str, Any]:
        """JSON-friendly counts: the ``summary`` of ``account_synced`` and the task result."""
        summary = asdict(self)
        summary["cursor"] = self.cursor.isoformat() if self.cursor else None
        summary["outcome"] = self.outcome
        return summary


def profile_is_stale(account: SeeClickFixAccount, now: datetime) -> bool:
    synced = account.profile_synced_at
    return synced is None or now - synced >= timedelta(seconds=app_settings.PROFILE_MAX_AGE)


def _brings_changes(
    account: SeeClickFixAccount, items: Iterable[Issue], previous_cursor: datetime | None
) -> bool:
    """Whether a page holds anything the previous syncs did not store.

    An issue newer than ``previous_cursor`` is new. One at (or before) it is not necessarily
    the boundary issue read again: the cursor's second may have gained a change after that
    issue, and after a complete walk the cursor is the second *after* the last change
    (``Page.cursor``), so an issue changed exactly then is new too. Those are new unless a row
    with the same ``scf_id`` and ``scf_updated_at`` is stored: one query, whatever the page
    size, and none when an issue is plainly newer. Call it before the page is written.
    """
    if previous_cursor is None:
        return True
    doubtful: dict[int, datetime | None] = {}
    for item in items:
        if item.updated_at is not None and item.updated_at > previous_cursor:
            return True
        doubtful[item.id] = item.updated_at  # a repeated id: the last one, as the upsert
    if not doubtful:
        return False
    stored = dict(
        SeeClickFixIssue.objects.filter(
            environment=account.environment, scf_id__in=list(doubtful)
        ).values_list("scf_id", "scf_updated_at")
    )
    return any(
        scf_id not in stored or stored[scf_id] != updated_at
        for scf_id, updated_at in doubtful.items()
    )


def _advance_cursor(account: SeeClickFixAccount, high_water: datetime) -> None:
    """Move the cursor forward (never back: a full sync or a late retry must not rewind it)."""
    SeeClickFixAccount.objects.filter(pk=account.pk).filter(
        Q(sync_cursor__isnull=True) | Q(sync_cursor__lt=high_water)
    ).update(sync_cursor=high_water)
    if account.sync_cursor is None or account.sync_cursor < high_water:
        account.sync_cursor = high_water


def _refresh_profile(account: SeeClickFixAccount, client: SeeClickFixClient, now: datetime) -> None:
    profile = client.get_profile()
    if profile.id != account.user_scf_id:
        # The token now speaks for someone else: never file their issues under this account.
        reason = "SeeClickFix answered with another user's profile for this link."
        mark_reauth_required(account, reason)
        raise ReauthRequired(reason)
    SeeClickFixAccount.objects.filter(pk=account.pk).update(
        profile=dict(profile.raw), profile_synced_at=now
    )
    account.profile = dict(profile.raw)
    account.profile_synced_at = now


def sync_now(
    account: SeeClickFixAccount,
    *,
    client: SeeClickFixClient | None = None,
    full: bool = False,
) -> SyncResult:
    """Sync ``account`` now (no lock: see :func:`run_sync`). Errors propagate unchanged:
    ``ReauthRequired``, ``TransientError``, ``RateLimited`` and the ``APIError`` family.
    Committed pages stay committed, so calling it again continues where it stopped."""
    if client is None:
        client = client_for_account(account)
    started = timezone.now()
    before = client.requests_made
    known_cursor = account.sync_cursor
    previous_cursor = None if full else known_cursor

    profile_refreshed = full or profile_is_stale(account, started)
    if profile_refreshed:
        _refresh_profile(account, client, started)

    pages = issues = 0
    # A full walk compares against what is stored too: re-reading unchanged rows is no change.
    unchanged = True
    # A full walk must read every row to say which are gone: a 304 would count them all unseen.
    for page in client.my_issue_pages(updated_after=previous_cursor, conditional=not full):
        if page.not_modified:
            continue
        pages += 1
        if not page.items:
            continue
        now = timezone.now()
        with transaction.atomic():
            if unchanged and _brings_changes(account, page.items, known_cursor):
                unchanged = False
            issues += upsert_issues(account, page.items, now)
            cursor = page.cursor  # past the last second when the walk is complete
            if cursor is not None:
                _advance_cursor(account, cursor)

    finished = timezone.now()
    SeeClickFixAccount.objects.filter(pk=account.pk).update(
        last_synced_at=finished, last_sync_error=""
    )
    account.last_synced_at = finished
    account.last_sync_error = ""
    missing = None
    if full:
        missing = SeeClickFixIssue.objects.filter(
            account=account, last_synced_at__lt=started
        ).count()
    result = SyncResult(
        account_id=account.pk,
        pages=pages,
        issues=issues,
        requests=client.requests_made - before,
        unchanged=unchanged,
        profile_refreshed=profile_refreshed,
        cursor=account.sync_cursor,
        full=full,
        missing=missing,
    )
    pk, summary = account.pk, result.as_summary()
    transaction.on_commit(
        lambda: account_synced.send(
            sender=SeeClickFixAccount,
            account=SeeClickFixAccount.objects.get(pk=pk),
            summary=summary,
        )
    )
    logger.info(
        "SeeClickFix account %s synced: %d page(s), %d issue(s), %d request(s)%s",
        pk,
        pages,
        issues,
        result.requests,
        " (unchanged)" if unchanged else "",
    )
    return result


def record_failure(account_id: int, error: BaseException) -> None:
    """Keep the reason of the last failed sync on the account."""
    SeeClickFixAccount.objects.filter(pk=account_id).update(last_sync_error=error_text(error))


def run_sync(account_id: int, *, owner: str | None = None, full: bool = False) -> dict[str, Any]:
    """Sync one account under its lock: what the task and the command run.

    Returns a summary whose ``outcome`` is ``synced``, ``unchanged``, ``skipped`` (gone,
    disconnected, user inactive, other environment), ``locked`` (another sync is running) or
    ``reauth_required``. Failures (``TransientError``, ``RateLimited``, other API errors) are
    recorded on the account and raised.
    """
    account = SeeClickFixAccount.objects.select_related("user").filter(pk=account_id).first()
    if account is None or not account.is_usable:
        clear_queued([account_id])
        return {"account_id": account_id, "outcome": Outcome.SKIPPED}
    lock = SyncLock(account_id, owner)
    if not lock.acquire():
        # Another sync of this account is running; it does what this one would, and the
        # account is due again after SYNC_QUEUE_TIMEOUT at the latest.
        return {"account_id": account_id, "outcome": Outcome.LOCKED}
    started = timezone.now()
    # A first or full walk reads the whole history: no sign of how active the account is.
    whole_history = full or account.last_synced_at is None
    try:
        result = sync_now(account, full=full)
    except ReauthRequired as err:
        record_failure(account_id, err)
        clear_queued([account_id])
        return {"account_id": account_id, "outcome": Outcome.REAUTH_REQUIRED}
    except SeeClickFixError as err:
        record_failure(account_id, err)
        raise
    finally:
        lock.release()
    sync_ended(
        account_id,
        started=started,
        changes=0 if result.unchanged or whole_history else result.issues,
        interval=coverage().interval,
    )
    return result.as_summary()


__all__ = ["SyncResult", "profile_is_stale", "record_failure", "run_sync", "sync_now"]
