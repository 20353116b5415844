"""Post a queued action to SeeClickFix, at most once: what the ``add_comment``,
``create_issue`` and ``perform_action`` tasks run (queueing is :mod:`~django_seeclickfix.actions`).

1. :func:`perform` locks the row and marks it ``in_flight`` (with its task id and a lease of
   ``TASK_TIME_LIMIT`` seconds) and commits, *then* posts.
2. The outcome is stored: ``succeeded`` (with the created id when SeeClickFix sent one),
   ``moderated`` (a 202: SeeClickFix holds it for review; a success, not a retry) or ``failed``
   (refused: 404, 403, 422 with the field errors, or the link needs reconnecting).

A run that finds the row ``in_flight`` cannot know whether the earlier POST arrived, so it first
looks on SeeClickFix: for a comment, one on that issue by this user with this text made since
the row was created; for an issue, one this user reported since then at the same spot with the
same description; for a follow or a vote (or their undoing), whether the issue already shows
the state asked for. Found: stored as the result, nothing posted. Not found: posted. A row
``in_flight`` under another task id whose lease has not run out belongs to a run that may still
be posting; this run waits (retries) until the lease ends.

A row older than ``OUTBOX_MAX_AGE`` is not posted any more: one that was never sent fails with
that reason; one that may have been sent is looked up first. A run that gives up on retries
fails a row that was never sent, but leaves one that may have been sent ``in_flight``: the
outbox sweeper wakes it again, and the next run looks before anything else.

Limits: a moderated submission is invisible until a moderator approves it, so if a worker dies
between SeeClickFix's 202 and the row's update, the re-run cannot see it and posts again (the
moderator gets two). The lease assumes the prefork pool's hard time limit (a worker past its
lease is dead); with thread or gevent pools Celery cannot enforce hard limits.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from .conf import app_settings
from .exceptions import (
    MAX_ERROR_LENGTH,
    ActionInFlight,
    APIError,
    RateLimited,
    ReauthRequired,
    TransientError,
    error_text,
)
from .models import ActionKind, ActionStatus, SeeClickFixAction
from .signals import action_finished
from .tokens import client_for_account

if TYPE_CHECKING:
    from .client import Comment, Created, Issue, SeeClickFixClient

logger = logging.getLogger(__name__)

EXPIRED = "Not sent within OUTBOX_MAX_AGE; given up rather than posted late."

# How far back a re-run looks for its earlier attempt: clocks of this site and SeeClickFix
# may disagree a little.
CLOCK_SKEW = timedelta(minutes=5)
# Coordinates that differ by less than this are the same spot (about a metre).
SAME_SPOT = 1e-5
# Kinds whose outcome is a comment with the action's text.
COMMENTING = frozenset(
    {ActionKind.COMMENT, ActionKind.CLOSE, ActionKind.REOPEN, ActionKind.ACKNOWLEDGE}
)
# Kinds that set the user's relationship to the issue: (relationship key, wanted value).
RELATIONSHIPS = {
    ActionKind.FOLLOW: ("following", True),
    ActionKind.UNFOLLOW: ("following", False),
    ActionKind.VOTE: ("voted", True),
    ActionKind.UNVOTE: ("voted", False),
}


@dataclass(frozen=True)
class ActionResult:
    """What the task returns (also readable from the row)."""

    action_id: int
    request_id: str
    status: str
    result_scf_id: int | None
    error: str

    @classmethod
    def of(cls, action: SeeClickFixAction) -> ActionResult:
        return cls(
            action_id=action.pk,
            request_id=action.request_id,
            status=action.status,
            result_scf_id=action.result_scf_id,
            error=action.error,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _claim(action_id: int, task_id: str, kind: str | None) -> tuple[SeeClickFixAction, bool]:
    """Lock the row and take the lease. Returns the row and whether an earlier run may have
    posted (the row was ``in_flight``)."""
    with transaction.atomic():
        action = (
            SeeClickFixAction.objects.select_for_update()
            .select_related("account__user")
            .get(pk=action_id)
        )
        if kind is not None and action.kind != kind:
            raise ValueError(f"Action {action_id} is a {action.kind!r}, not a {kind!r}.")
        if action.is_final:
            return action, False
        now = timezone.now()
        maybe_sent = action.status == ActionStatus.IN_FLIGHT
        if (
            maybe_sent
            and action.task_id != task_id
            and action.lease_until is not None
            and action.lease_until > now
        ):
            raise ActionInFlight((action.lease_until - now).total_seconds())
        action.status = ActionStatus.IN_FLIGHT
        action.task_id = task_id
        action.lease_until = now + timedelta(seconds=app_settings.TASK_TIME_LIMIT)
        action.attempts += 1
        if action.sent_at is None:
            action.sent_at = now
        action.save(
            update_fields=["status", "task_id", "lease_until", "attempts", "sent_at", "updated_at"]
        )
    return action, maybe_sent


def _finish(
    action: SeeClickFixAction,
    status: str,
    *,
    result_id: int | None = None,
    result: Mapping[str, Any] | None = None,
    error: str = "",
) -> SeeClickFixAction:
    action.status = status
    action.result_scf_id = result_id
    action.result = dict(result or {})
    action.error = error[:MAX_ERROR_LENGTH]
    action.lease_until = None
    action.completed_at = timezone.now() if status in SeeClickFixAction.FINAL else None
    action.save(
        update_fields=[
            "status",
            "result_scf_id",
            "result",
            "error",
            "lease_until",
            "completed_at",
            "updated_at",
        ]
    )
    if action.is_final:
        announce_finished(action)
    return action


def announce_finished(action: SeeClickFixAction) -> None:
    """Send ``action_finished`` once the current transaction commits."""
    transaction.on_commit(
        lambda: action_finished.send(
            sender=SeeClickFixAction, action=action, status=str(action.status)
        )
    )


def _same_text(a: str | None, b: str | None) -> bool:
    return " ".join((a or "").split()) == " ".join((b or "").split())


def _since(action: SeeClickFixAction) -> datetime:
    return action.created_at - CLOCK_SKEW


def find_posted_comment(client: SeeClickFixClient, action: SeeClickFixAction) -> Comment | None:
    """This user's comment with this text on the issue, made since the action was created."""
    assert action.issue_scf_id is not None
    since = _since(action)
    matches = [
        comment
        for comment in client.list_comments(action.issue_scf_id)
        if comment.commenter is not None
        and comment.commenter.id == action.account.user_scf_id
        and _same_text(comment.text, action.payload.get("text"))
        and (comment.created_at is None or comment.created_at >= since)
    ]
    return matches[-1] if matches else None


def find_reported_issue(client: SeeClickFixClient, action: SeeClickFixAction) -> Issue | None:
    """An issue this user reported since the action was created, at the same spot, with the
    same description (when one was given)."""
    payload = action.payload
    since = _since(action)
    for issue in client.iter_my_issues(updated_after=since):
        if issue.created_at is not None and issue.created_at < since:
            continue
        if issue.lat is None or issue.lng is None:
            continue
        if abs(issue.lat - float(payload["lat"])) > SAME_SPOT:
            continue
        if abs(issue.lng - float(payload["lng"])) > SAME_SPOT:
            continue
        if "description" in payload and not _same_text(issue.description, payload["description"]):
            continue
        return issue
    return None


def relationship_holds(client: SeeClickFixClient, action: SeeClickFixAction) -> bool:
    """Whether the issue already shows what a follow/vote (or its undoing) asks for."""
    assert action.issue_scf_id is not None
    key, wanted = RELATIONSHIPS[ActionKind(action.kind)]
    relationship = client.get_issue(action.issue_scf_id, details=True).current_user_relationship
    return relationship is not None and relationship.get(key) is wanted


def _post(client: SeeClickFixClient, action: SeeClickFixAction) -> Created[Any] | None:
    """Send the action; a follow or a vote answers nothing to keep (``None``)."""
    payload = action.payload
    issue_id = action.issue_scf_id
    kind = ActionKind(action.kind)
    if kind in COMMENTING:
        assert issue_id is not None
        text = str(payload["text"])
        post = {
            ActionKind.COMMENT: client.add_comment,
            ActionKind.CLOSE: client.close_issue,
            ActionKind.REOPEN: client.reopen_issue,
            ActionKind.ACKNOWLEDGE: client.acknowledge_issue,
        }[kind]
        return post(issue_id, text)
    if kind in RELATIONSHIPS:
        assert issue_id is not None
        {
            ActionKind.FOLLOW: client.follow,
            ActionKind.UNFOLLOW: client.unfollow,
            ActionKind.VOTE: client.vote,
            ActionKind.UNVOTE: client.unvote,
        }[kind](issue_id)
        return None
    return client.create_issue(
        lat=float(payload["lat"]),
        lng=float(payload["lng"]),
        request_type_id=payload["request_type_id"],
        answers=payload.get("answers") or {},
        address=payload.get("address"),
        summary=payload.get("summary"),
        description=payload.get("description"),
    )


def _reconcile(client: SeeClickFixClient, action: SeeClickFixAction) -> SeeClickFixAction | None:
    """The row finished as succeeded if SeeClickFix shows the earlier run's post, else
    ``None``."""
    found: Comment | Issue | None
    kind = ActionKind(action.kind)
    if kind in RELATIONSHIPS:
        if not relationship_holds(client, action):
            return None
        found = None
    elif kind in COMMENTING:
        if (found := find_posted_comment(client, action)) is None:
            return None
    elif (found := find_reported_issue(client, action)) is None:
        return None
    logger.info(
        "SeeClickFix action %s (%s) was posted by an earlier run; not posting again",
        action.pk,
        action.request_id,
    )
    if found is None:
        return _finish(action, ActionStatus.SUCCEEDED)
    return _finish(action, ActionStatus.SUCCEEDED, result_id=found.id, result=found.raw)


def _expired(action: SeeClickFixAction) -> bool:
    return action.created_at < timezone.now() - timedelta(seconds=app_settings.OUTBOX_MAX_AGE)


def perform(
    action_id: int,
    *,
    task_id: str,
    kind: str | None = None,
    client: SeeClickFixClient | None = None,
) -> ActionResult:
    """Post action ``action_id`` unless it is done, or was posted by an earlier run.

    Raises ``ActionInFlight`` (another run holds the lease), ``TransientError`` and
    ``RateLimited`` (retry the task); everything else ends in a stored outcome.
    """
    action, maybe_sent = _claim(action_id, task_id, kind)
    if action.is_final:
        return ActionResult.of(action)
    expired = _expired(action)
    if expired and not maybe_sent:
        _finish(action, ActionStatus.FAILED, error=EXPIRED)
        return ActionResult.of(action)
    try:
        if client is None:
            client = client_for_account(action.account)
        if maybe_sent and _reconcile(client, action) is not None:
            return ActionResult.of(action)
        if expired:
            _finish(action, ActionStatus.FAILED, error=EXPIRED)
            return ActionResult.of(action)
        try:
            created = _post(client, action)
        except RateLimited:
            # Refused before anything was created (the budget, a 429): nothing to look for
            # next time.
            _finish(action, ActionStatus.PENDING)
            raise
    except ReauthRequired as err:
        _finish(action, ActionStatus.FAILED, error=error_text(err))
        return ActionResult.of(action)
    except (TransientError, RateLimited):
        # The row stays in_flight (or pending) for the retry; free the lease for it.
        SeeClickFixAction.objects.filter(pk=action.pk).update(lease_until=None)
        raise
    except APIError as err:
        _finish(action, ActionStatus.FAILED, result=_body(err), error=error_text(err))
        return ActionResult.of(action)
    if created is None:
        _finish(action, ActionStatus.SUCCEEDED)
    else:
        status = ActionStatus.MODERATED if created.moderated else ActionStatus.SUCCEEDED
        _finish(action, status, result_id=created.id, result=created.raw)
    return ActionResult.of(action)


def _body(err: APIError) -> dict[str, Any]:
    return dict(err.body) if isinstance(err.body, Mapping) else {}


def cancel_action(action_id: int, *, reason: str) -> bool:
    """Cancel an action no run has started (``True`` if this call did): one that may be on
    its way to SeeClickFix is never cancelled."""
    with transaction.atomic():
        action = (
            SeeClickFixAction.objects.select_for_update()
            .filter(pk=action_id, status=ActionStatus.PENDING, sent_at__isnull=True)
            .first()
        )
        if action is None:
            return False
        _finish(action, ActionStatus.CANCELLED, error=reason)
    return True


def give_up(action_id: int, error: BaseException) -> None:
    """A run ran out of retries (or met an unexpected error). A row that was never sent fails
    with the reason; one that may have been sent (``in_flight``) keeps its status, with the
    reason and without its lease, so the sweeper wakes it and the next run looks on
    SeeClickFix before anything else: a post that reached SeeClickFix never shows "failed"."""
    with transaction.atomic():
        action = SeeClickFixAction.objects.select_for_update().filter(pk=action_id).first()
        if action is None or action.is_final:
            return
        if action.status == ActionStatus.IN_FLIGHT:
            action.error = error_text(error)
            action.lease_until = None
            action.save(update_fields=["error", "lease_until", "updated_at"])
            return
        _finish(action, ActionStatus.FAILED, error=error_text(error))


__all__ = [
    "ActionResult",
    "cancel_action",
    "find_posted_comment",
    "find_reported_issue",
    "give_up",
    "perform",
]
