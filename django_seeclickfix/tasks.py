"""Celery tasks: thin wrappers over ``sync.py``, ``feed.py``, ``posting.py``, ``revocation.py``
and ``tokens.py``.

Arguments are ids only. Every task uses :class:`~django_seeclickfix.task_base.SeeClickFixTask`
(``acks_late``, ``reject_on_worker_lost``, time limits and retry policy from settings). Queue
them from views and signal handlers with ``delay_on_commit``. See ``docs/jobs.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.utils import timezone

from . import feed, outbox, posting, revocation, scheduling, sync, tokens
from .exceptions import ActionInFlight
from .models import ActionKind, SeeClickFixAction, SeeClickFixRevocation
from .task_base import SeeClickFixTask, backoff_cap

logger = logging.getLogger(__name__)


class SyncAccountTask(SeeClickFixTask):
    """Keeps the account's queued mark in step with the task's life."""

    def on_retry(self, exc: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # Still queued: the mark counts from the latest attempt.
        scheduling.mark_queued(_account_ids(args, kwargs))

    def on_failure(self, exc: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # Out of retries, or a permanent error: the account waits SYNC_QUEUE_TIMEOUT before a
        # pass queues it again, so a broken account does not take every pass's first places.
        scheduling.mark_queued(_account_ids(args, kwargs))


def _account_ids(args: Any, kwargs: Any) -> list[int]:
    account_id = kwargs.get("account_id") if kwargs else None
    if account_id is None and args:
        account_id = args[0]
    return [int(account_id)] if account_id is not None else []


@shared_task(bind=True, base=SyncAccountTask, name="django_seeclickfix.tasks.sync_account")
def sync_account(self: SyncAccountTask, account_id: int) -> dict[str, Any]:
    """Sync one account (profile when stale, reported issues since the cursor) under its lock.

    Returns the summary of :func:`django_seeclickfix.sync.run_sync`; ``account_synced`` is sent
    after a sync that ran.
    """
    return sync.run_sync(account_id, owner=self.request.id)


@shared_task(bind=True, base=SeeClickFixTask, name="django_seeclickfix.tasks.sync_all_accounts")
def sync_all_accounts(self: SeeClickFixTask) -> dict[str, Any]:
    """Plan the per-user syncs the rate budget serves until the next pass (``scheduling``:
    most overdue first, each at its expected cost, the interactive reserve and the area feed
    left out) and queue them, spread over the interval. Accounts already queued are not
    queued again. Returns ``queued``, ``planned_requests`` and ``capacity`` (requests the
    pass could plan), and with ``AREAS`` whether the feed covers the accounts
    (``covered_by_feed``)."""
    plan = scheduling.plan_pass()
    queue_syncs(plan.planned)
    logger.info(
        "sync_all_accounts queued %d account(s), %d request(s) planned of %.0f",
        len(plan.planned),
        plan.requests,
        plan.capacity,
    )
    return {**plan.summary(), **feed.coverage().summary()}


def queue_syncs(planned: Sequence[scheduling.Planned]) -> int:
    """Send ``sync_account`` for each planned account (already marked queued), at its
    countdown; returns how many. When the broker refuses, what was not sent is unmarked (so
    the next pass takes it at once) and the error raised."""
    sent = 0
    try:
        for item in planned:
            sync_account.apply_async(args=(item.account_id,), countdown=item.countdown)
            sent += 1
    except BaseException:
        scheduling.clear_queued([item.account_id for item in planned[sent:]])
        raise
    return sent


@shared_task(bind=True, base=SeeClickFixTask, name="django_seeclickfix.tasks.sync_area_feed")
def sync_area_feed(self: SeeClickFixTask) -> dict[str, Any]:
    """Read each area's changes (``SEECLICKFIX["AREAS"]``) since its cursor and store those of
    linked users' issues (``feed.run_feed``; see ``docs/feed.md``). Returns per-area summaries."""
    return feed.run_feed(owner=self.request.id)


@shared_task(
    bind=True, base=SeeClickFixTask, name="django_seeclickfix.tasks.refresh_expiring_tokens"
)
def refresh_expiring_tokens(self: SeeClickFixTask) -> dict[str, int]:
    """Keep the links usable that no planned request keeps alive (``tokens.keep_links_alive``):
    links whose token expired without a refresh token are marked as needing reconnection (no
    request), and with ``REFRESH_TOKEN_MAX_AGE`` refresh tokens about to expire are refreshed.
    Access tokens are otherwise refreshed when a planned request needs them, not here. Returns
    the counts of ``refreshed`` (really refreshed), ``reauth_required`` and ``failed``."""
    return tokens.keep_links_alive()


class OutboxTask(SeeClickFixTask):
    """A task that works off one outbox row (``model``, its id the first argument): a retry
    pushes the row's ``message_due_at`` to the retry's time, so the sweeper does not send a
    second message for a retry that is merely waiting."""

    model: type[SeeClickFixAction] | type[SeeClickFixRevocation]
    id_argument = "row_id"

    def row_id(self, args: Any, kwargs: Any) -> int | None:
        row_id = (kwargs or {}).get(self.id_argument, args[0] if args else None)
        return row_id if isinstance(row_id, int) else None

    def before_retry(self, countdown: float, args: Any, kwargs: Any) -> None:
        row_id = self.row_id(args, kwargs)
        if row_id is not None:
            outbox.mark_due(self.model, row_id, timezone.now() + timedelta(seconds=countdown))


class RevokeTokensTask(OutboxTask):
    model = SeeClickFixRevocation
    id_argument = "revocation_id"


@shared_task(bind=True, base=RevokeTokensTask, name="django_seeclickfix.tasks.revoke_tokens")
def revoke_tokens(self: RevokeTokensTask, revocation_id: int | str) -> str:
    """Revoke at SeeClickFix what revocation row ``revocation_id`` owes (see
    :mod:`~django_seeclickfix.revocation`); returns the row's status. The message carries the
    id only: the tokens stay in the database, encrypted. (A sealed bundle, what 0.1 sent, is
    turned into a row first.)"""
    if isinstance(revocation_id, str):
        revocation_id = revocation.queue_legacy_revocation(revocation_id).pk
    return revocation.revoke(revocation_id)


class ActionTask(OutboxTask):
    """Waits for another run's lease; records the give-up when retries run out."""

    model = SeeClickFixAction
    id_argument = "action_id"
    action_kind: str | None = None  # None: any kind

    def run_action(self, action_id: int) -> dict[str, Any]:
        try:
            result = posting.perform(
                action_id, task_id=self.request.id or "", kind=self.action_kind
            )
        except ActionInFlight as busy:
            if self.request.called_directly:
                raise
            countdown = min(backoff_cap(self.app), max(1.0, busy.retry_after))
            self.before_retry(countdown, (action_id,), {})
            raise self.retry(exc=busy, countdown=countdown) from busy
        return result.as_dict()

    def on_failure(self, exc: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        if isinstance(exc, ActionInFlight):
            return  # the run holding the lease stores the outcome
        action_id = self.row_id(args, kwargs)
        if action_id is not None:
            posting.give_up(action_id, exc)


class AddCommentTask(ActionTask):
    action_kind = ActionKind.COMMENT


class CreateIssueTask(ActionTask):
    action_kind = ActionKind.ISSUE


@shared_task(bind=True, base=AddCommentTask, name="django_seeclickfix.tasks.add_comment")
def add_comment(self: AddCommentTask, action_id: int) -> dict[str, Any]:
    """Post the comment of action ``action_id`` (see
    :func:`~django_seeclickfix.actions.queue_comment`), once."""
    return self.run_action(action_id)


@shared_task(bind=True, base=CreateIssueTask, name="django_seeclickfix.tasks.create_issue")
def create_issue(self: CreateIssueTask, action_id: int) -> dict[str, Any]:
    """Report the issue of action ``action_id`` (see
    :func:`~django_seeclickfix.actions.queue_issue`), once."""
    return self.run_action(action_id)


@shared_task(bind=True, base=ActionTask, name="django_seeclickfix.tasks.perform_action")
def perform_action(self: ActionTask, action_id: int) -> dict[str, Any]:
    """Perform action ``action_id`` of any kind (close, reopen, acknowledge, follow, vote...;
    see :func:`~django_seeclickfix.actions.queue_action`), once."""
    return self.run_action(action_id)


@shared_task(bind=True, base=SeeClickFixTask, name="django_seeclickfix.tasks.sweep_outbox")
def sweep_outbox(self: SeeClickFixTask) -> dict[str, int]:
    """Send again the messages of owed posts and revocations that a broker lost (see
    :mod:`~django_seeclickfix.outbox`); returns how many of each were sent."""
    return outbox.sweep().as_dict()


__all__ = [
    "add_comment",
    "create_issue",
    "perform_action",
    "queue_syncs",
    "refresh_expiring_tokens",
    "revoke_tokens",
    "sweep_outbox",
    "sync_account",
    "sync_all_accounts",
    "sync_area_feed",
]
