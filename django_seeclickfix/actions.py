"""Act on SeeClickFix as a user from a task, at most once: the queueing side.

A task can run more than once: Celery retries it after a timeout, and delivers it again when
its worker died (``acks_late``). For a POST that would mean two comments. So every request the
site owes SeeClickFix is a :class:`~django_seeclickfix.models.SeeClickFixAction` row keyed by
the caller's ``request_id``, written in the caller's transaction (an outbox row, see
:mod:`~django_seeclickfix.outbox`): :func:`queue_comment`, :func:`queue_issue` and
:func:`queue_action` store the row (``pending``) and wake a worker when the transaction commits.
They never raise because the broker is down: the row is kept and sent by the sweeper. The same
``request_id`` again returns the same row. The task posts it through
:mod:`~django_seeclickfix.posting`, which explains how a re-run finds out whether an earlier
run already posted.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .exceptions import AccountUnavailable, ActionConflict
from .models import ActionKind, SeeClickFixAccount, SeeClickFixAction
from .outbox import wake_on_commit

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


def _account_of(who: SeeClickFixAccount | AbstractBaseUser) -> SeeClickFixAccount:
    if isinstance(who, SeeClickFixAccount):
        return who
    account = SeeClickFixAccount.objects.for_user(who)
    if account is None:
        raise AccountUnavailable("This user has not connected SeeClickFix.")
    return account


def _queue(
    kind: str,
    who: SeeClickFixAccount | AbstractBaseUser,
    *,
    issue_scf_id: int | None,
    payload: dict[str, Any],
    request_id: str | None,
) -> SeeClickFixAction:
    account = _account_of(who)
    request_id = request_id or uuid.uuid4().hex
    action, created = SeeClickFixAction.objects.get_or_create(
        request_id=request_id,
        defaults={
            "kind": kind,
            "account": account,
            "issue_scf_id": issue_scf_id,
            "payload": payload,
        },
    )
    if not created and (
        action.kind != kind
        or action.account_id != account.pk
        or action.issue_scf_id != issue_scf_id
        or action.payload != payload
    ):
        raise ActionConflict(
            f"request_id {request_id!r} was already used for a different SeeClickFix action."
        )
    if not action.is_final:
        # A second queueing of an unfinished action is harmless (the runs coordinate through
        # the row) and recovers a message a broker restart lost.
        wake_on_commit(action)
    return action


def queue_comment(
    who: SeeClickFixAccount | AbstractBaseUser,
    issue_id: int,
    text: str,
    *,
    request_id: str | None = None,
) -> SeeClickFixAction:
    """Comment on SeeClickFix issue ``issue_id`` as ``who`` (a user or a linked account), from
    a task queued when the current transaction commits. Returns the row to read the outcome
    from; ``request_id`` (any unique string, e.g. a UUID from the form) makes it idempotent."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("A comment needs a text.")
    return queue_action(who, ActionKind.COMMENT, issue_id, text=text, request_id=request_id)


def queue_issue(
    who: SeeClickFixAccount | AbstractBaseUser,
    *,
    lat: float,
    lng: float,
    request_type_id: int | str,
    answers: Mapping[str, Any] | None = None,
    address: str | None = None,
    summary: str | None = None,
    description: str | None = None,
    request_id: str | None = None,
) -> SeeClickFixAction:
    """Report an issue on SeeClickFix as ``who``; the arguments are those of
    :meth:`SeeClickFixClient.create_issue`. Otherwise like :func:`queue_comment`."""
    payload: dict[str, Any] = {
        "lat": float(lat),
        "lng": float(lng),
        "request_type_id": request_type_id,
        "answers": dict(answers or {}),
    }
    for name, value in (("address", address), ("summary", summary), ("description", description)):
        if value is not None:
            payload[name] = value
    return _queue(ActionKind.ISSUE, who, issue_scf_id=None, payload=payload, request_id=request_id)


# What each kind needs: a comment text, or nothing but the issue.
WITH_TEXT = frozenset(
    {ActionKind.COMMENT, ActionKind.CLOSE, ActionKind.REOPEN, ActionKind.ACKNOWLEDGE}
)
WITHOUT_TEXT = frozenset(
    {ActionKind.FOLLOW, ActionKind.UNFOLLOW, ActionKind.VOTE, ActionKind.UNVOTE}
)


def queue_action(
    who: SeeClickFixAccount | AbstractBaseUser,
    kind: str,
    issue_id: int,
    *,
    text: str | None = None,
    request_id: str | None = None,
) -> SeeClickFixAction:
    """Act on SeeClickFix issue ``issue_id`` as ``who``: ``kind`` is ``"comment"``,
    ``"close"``, ``"reopen"``, ``"acknowledge"`` (each with a ``text``, which SeeClickFix shows
    as a comment), ``"follow"``, ``"unfollow"``, ``"vote"`` or ``"unvote"``. Like
    :func:`queue_comment` otherwise (reports go through :func:`queue_issue`)."""
    if kind not in WITH_TEXT | WITHOUT_TEXT:
        allowed = ", ".join(sorted(WITH_TEXT | WITHOUT_TEXT))
        raise ValueError(f"Unknown SeeClickFix action {kind!r}; one of: {allowed}.")
    payload: dict[str, Any] = {}
    if kind in WITH_TEXT:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"A {kind} needs a text (SeeClickFix shows it as a comment).")
        payload["text"] = text
    elif text is not None:
        raise ValueError(f"A {kind} takes no text.")
    return _queue(kind, who, issue_scf_id=int(issue_id), payload=payload, request_id=request_id)


def get_action(request_id: str) -> SeeClickFixAction | None:
    """The row for ``request_id``: ``status``, ``result_scf_id``, ``error``, ``result``."""
    return SeeClickFixAction.objects.filter(request_id=request_id).first()


__all__ = ["get_action", "queue_action", "queue_comment", "queue_issue"]
