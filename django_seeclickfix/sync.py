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
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.core.cache import caches
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from .client import parsing
from .conf import app_settings
from .exceptions import ReauthRequired, SeeClickFixError, TransientError
from .models import MAX_ERROR_LENGTH, SeeClickFixAccount, SeeClickFixIssue
from .signals import account_synced

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .client import Issue, SeeClickFixClient

logger = logging.getLogger(__name__)

# The columns a sync rewrites on an existing row (first_synced_at and the key stay).
UPSERT_FIELDS = [
    "account",
    "reporter_scf_id",
    "status",
    "summary",
    "description",
    "address",
    "lat",
    "lng",
    "html_url",
    "rating",
    "scf_created_at",
    "scf_updated_at",
    "raw",
    "last_synced_at",
]
# A pass queues accounts for this share of the rate budget until the next pass, at one request
# per account (what an unchanged account costs). The rest is for profile refreshes, accounts
# with several pages and the host project's own jobs.
PASS_BUDGET_SHARE = 0.5
LOCK_PREFIX = "scf:sync-lock"

# Outcomes of run_sync() (the task's result and the command's counters).
SYNCED = "synced"
UNCHANGED = "unchanged"
SKIPPED = "skipped"
LOCKED = "locked"
REAUTH_REQUIRED = "reauth_required"


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
        return UNCHANGED if self.unchanged else SYNCED

    def as_summary(self) -> dict[str, Any]:
        """JSON-friendly counts: the ``summary`` of ``account_synced`` and the task result."""
        summary = asdict(self)
        summary["cursor"] = self.cursor.isoformat() if self.cursor else None
        summary["outcome"] = self.outcome
        return summary


def requests_made(client: SeeClickFixClient) -> int:
    """API requests ``client`` has made so far (its budget's count): a sync's or a feed pass's
    ``requests`` is the difference over its run."""
    return int(client.session.budget.stats.acquired)


def profile_is_stale(account: SeeClickFixAccount, now: datetime) -> bool:
    synced = account.profile_synced_at
    return synced is None or now - synced >= timedelta(seconds=app_settings.PROFILE_MAX_AGE)


def _clip(value: str | None, length: int) -> str:
    return (value or "")[:length]


def _issue_row(account: SeeClickFixAccount, issue: Issue, now: datetime) -> SeeClickFixIssue:
    reporter = parsing.bigint(issue.reporter.id) if issue.reporter is not None else None
    return SeeClickFixIssue(
        environment=account.environment,
        scf_id=issue.id,
        account=account,
        reporter_scf_id=reporter if reporter is not None else account.scf_user_id,
        status=_clip(issue.status, 40),
        summary=_clip(issue.summary, 500),
        description=issue.description or "",
        address=_clip(issue.address, 500),
        lat=issue.lat,
        lng=issue.lng,
        html_url=_clip(issue.html_url, 500),
        rating=issue.rating if issue.rating is None or abs(issue.rating) < 2**31 else None,
        scf_created_at=issue.created_at,
        scf_updated_at=issue.updated_at,
        raw=dict(issue.raw),
        first_synced_at=now,
        last_synced_at=now,
    )


def upsert_issues(account: SeeClickFixAccount, issues: Iterable[Issue], now: datetime) -> int:
    """Insert or update ``issues`` of ``account`` in one statement (per database batch)."""
    return upsert_issue_rows(((account, issue) for issue in issues), now)


def upsert_issue_rows(pairs: Iterable[tuple[SeeClickFixAccount, Issue]], now: datetime) -> int:
    """Insert or update each issue under its account in one statement (per database batch);
    returns how many. The one write path of issues: the per-user sync and the area feed
    (``feed.py``, whose pages mix accounts) both come through here."""
    rows: dict[tuple[str, int], SeeClickFixIssue] = {}
    for account, issue in pairs:
        # A repeated id: the last one wins.
        rows[(account.environment, issue.id)] = _issue_row(account, issue, now)
    if not rows:
        return 0
    SeeClickFixIssue.objects.bulk_create(
        list(rows.values()),
        update_conflicts=True,
        unique_fields=["environment", "scf_id"],
        update_fields=UPSERT_FIELDS,
    )
    return len(rows)


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
    from .tokens import mark_reauth_required

    profile = client.get_profile()
    if profile.id != account.scf_user_id:
        # The token now speaks for someone else: never file their issues under this account.
        reason = "SeeClickFix answered with another user's profile for this link."
        mark_reauth_required(account, reason)
        raise ReauthRequired(reason)
    SeeClickFixAccount.objects.filter(pk=account.pk).update(
        profile=dict(profile.raw), profile_synced_at=now
    )
    account.profile = dict(profile.raw)
    account.profile_synced_at = now


def sync_account(
    account: SeeClickFixAccount,
    *,
    client: SeeClickFixClient | None = None,
    full: bool = False,
) -> SyncResult:
    """Sync ``account`` now (no lock: see :func:`run_sync`). Errors propagate unchanged:
    ``ReauthRequired``, ``TransientError``, ``RateLimited`` and the ``APIError`` family.
    Committed pages stay committed, so calling it again continues where it stopped."""
    from .tokens import client_for_account

    if client is None:
        client = client_for_account(account)
    started = timezone.now()
    before = requests_made(client)
    previous_cursor = None if full else account.sync_cursor

    profile_refreshed = full or profile_is_stale(account, started)
    if profile_refreshed:
        _refresh_profile(account, client, started)

    pages = issues = 0
    unchanged = not full
    for page in client.my_issue_pages(updated_after=previous_cursor):
        if page.not_modified:
            continue
        pages += 1
        if not page.items:
            continue
        now = timezone.now()
        with transaction.atomic():
            if unchanged and _brings_changes(account, page.items, previous_cursor):
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
        requests=requests_made(client) - before,
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


def error_text(error: BaseException) -> str:
    """A failure as stored on its row (``last_sync_error``, ``AreaFeed.last_error``): its type
    and message, cut to the column (no secrets: error texts never hold tokens)."""
    return f"{type(error).__name__}: {error}"[:MAX_ERROR_LENGTH]


def record_failure(account_id: int, error: BaseException) -> None:
    """Keep the reason of the last failed sync on the account."""
    SeeClickFixAccount.objects.filter(pk=account_id).update(last_sync_error=error_text(error))


# one sync at a time per account --------------------------------------------------------------


class CacheLock:
    """A lock on ``key`` in the shared cache (``RATE_LIMIT_CACHE``) with a time-to-live
    (``SYNC_LOCK_TTL``).

    ``owner`` is the Celery task id: a message delivered again after its worker died carries the
    same id and may take over the lock its first delivery left behind, instead of waiting for
    ``SYNC_LOCK_TTL`` to pass.
    """

    def __init__(self, key: str, owner: str | None = None) -> None:
        self.key = key
        self.owner = owner or uuid.uuid4().hex
        self.held = False

    def _cache(self) -> Any:
        return caches[app_settings.RATE_LIMIT_CACHE]

    def acquire(self) -> bool:
        ttl = app_settings.SYNC_LOCK_TTL
        try:
            cache = self._cache()
            if cache.add(self.key, self.owner, ttl):
                self.held = True
            elif cache.get(self.key) == self.owner:
                cache.set(self.key, self.owner, ttl)
                self.held = True
        except Exception as err:
            raise TransientError(
                f"The sync lock's cache is unavailable ({type(err).__name__}). Check the cache "
                "in SEECLICKFIX['RATE_LIMIT_CACHE']."
            ) from err
        return self.held

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        try:
            cache = self._cache()
            # Not atomic, but the worst case is deleting a lock whose TTL ran out and which
            # another sync took in between: two syncs of one account, both idempotent.
            if cache.get(self.key) == self.owner:
                cache.delete(self.key)
        except Exception:
            logger.warning("Could not release %s; it expires by itself", self.key, exc_info=True)


class SyncLock(CacheLock):
    """One sync at a time per account."""

    def __init__(self, account_id: int, owner: str | None = None) -> None:
        super().__init__(f"{LOCK_PREFIX}:{account_id}", owner)


def load_account(account_id: int) -> SeeClickFixAccount | None:
    return SeeClickFixAccount.objects.select_related("user").filter(pk=account_id).first()


def can_sync(account: SeeClickFixAccount) -> bool:
    return account.is_usable and account.environment == app_settings.ENVIRONMENT


def run_sync(account_id: int, *, owner: str | None = None, full: bool = False) -> dict[str, Any]:
    """Sync one account under its lock: what the task and the command run.

    Returns a summary whose ``outcome`` is ``synced``, ``unchanged``, ``skipped`` (gone,
    disconnected, user inactive, other environment), ``locked`` (another sync is running) or
    ``reauth_required``. Failures (``TransientError``, ``RateLimited``, other API errors) are
    recorded on the account and raised.
    """
    account = load_account(account_id)
    if account is None or not can_sync(account):
        clear_queued([account_id])
        return {"account_id": account_id, "outcome": SKIPPED}
    lock = SyncLock(account_id, owner)
    if not lock.acquire():
        # Another sync of this account is running; it does what this one would.
        clear_queued([account_id])
        return {"account_id": account_id, "outcome": LOCKED}
    started = timezone.now()
    try:
        result = sync_account(account, full=full)
    except ReauthRequired as err:
        record_failure(account_id, err)
        clear_queued([account_id])
        return {"account_id": account_id, "outcome": REAUTH_REQUIRED}
    except SeeClickFixError as err:
        record_failure(account_id, err)
        raise
    finally:
        lock.release()
    clear_queued([account_id], queued_before=started)
    return result.as_summary()


# the pass over all accounts ------------------------------------------------------------------


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
        .for_environment()
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
    "LOCKED",
    "REAUTH_REQUIRED",
    "SKIPPED",
    "SYNCED",
    "UNCHANGED",
    "CacheLock",
    "SyncLock",
    "SyncResult",
    "claim_due_accounts",
    "clear_queued",
    "due_accounts",
    "mark_queued",
    "pass_batch_size",
    "profile_is_stale",
    "record_failure",
    "run_sync",
    "sync_account",
    "upsert_issue_rows",
    "upsert_issues",
]
