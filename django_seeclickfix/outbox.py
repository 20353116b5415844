"""Owed work is data: the row first, the broker message second.

Every request the site owes SeeClickFix as a user (:class:`SeeClickFixAction`: a comment, an
issue, a follow...) and every revocation of tokens (:class:`SeeClickFixRevocation`) is a row
written in the caller's transaction. A broker message only wakes a worker for a row:

* :func:`wake_on_commit` sends it once the caller's transaction commits. A broker that is down
  is logged, never raised into the caller: the work is queued all the same, because the row is.
* :func:`sweep` (the ``sweep_outbox`` task, every ``OUTBOX_SWEEP_INTERVAL`` seconds) wakes
  every unfinished row whose message was lost: never sent (the broker was down), or due more
  than ``OUTBOX_REQUEUE_AFTER`` seconds ago (a Redis restart, a killed worker, a lost retry).
  So a lost message is recovered within ``OUTBOX_REQUEUE_AFTER + OUTBOX_SWEEP_INTERVAL``.

A message sent twice is harmless: the task locks the row, and a row that is finished, or being
posted under a live lease, is not posted again (``posting.py``, ``revocation.py``).

Tasks are addressed by their registered names, as beat addresses them, through the Celery app's
registry: the token layer, below the tasks, queues the revocation of a token a refresh replaced
without importing the tasks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from .conf import app_settings
from .models import ActionKind, ActionStatus, SeeClickFixAction, SeeClickFixRevocation

logger = logging.getLogger(__name__)

ACTION_TASKS = {
    ActionKind.COMMENT: "django_seeclickfix.tasks.add_comment",
    ActionKind.ISSUE: "django_seeclickfix.tasks.create_issue",
}
ANY_ACTION_TASK = "django_seeclickfix.tasks.perform_action"
REVOKE_TASK = "django_seeclickfix.tasks.revoke_tokens"
# The on-commit send of a new row normally lands within milliseconds; a row still unsent after
# this long met a broker that was down.
UNSENT_GRACE = timedelta(seconds=10)
# Rows woken per sweep and kind: a sweep stays short however much a broker outage left behind.
SWEEP_BATCH = 500

OwedRow = SeeClickFixAction | SeeClickFixRevocation


def task_name(row: OwedRow) -> str:
    if isinstance(row, SeeClickFixRevocation):
        return REVOKE_TASK
    return ACTION_TASKS.get(ActionKind(row.kind), ANY_ACTION_TASK)


def wake(row: OwedRow) -> bool:
    """Send the row's task now; ``True`` if the broker took the message. A refusal is logged
    (without secrets: the message is the row's id) and left to the sweeper."""
    name = task_name(row)
    try:
        # One quick retry: a broker that is down must not hold up the caller (the sweeper is the
        # backstop), but a dropped pooled connection deserves a second try.
        current_app.tasks[name].apply_async(
            args=(row.pk,), retry=True, retry_policy={"max_retries": 1, "interval_start": 0}
        )
    except Exception as err:  # the broker (or its client library) refused, however it fails
        logger.warning(
            "Could not send %s for %s %s (%s); the outbox sweeper sends it later",
            name,
            type(row).__name__,
            row.pk,
            type(err).__name__,
        )
        return False
    mark_due(type(row), row.pk, timezone.now())
    return True


def wake_on_commit(row: OwedRow) -> None:
    """:func:`wake` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: wake(row))


def mark_due(model: type[OwedRow], pk: int, due: datetime) -> None:
    """Record when the row's latest message should reach a worker (a retry's countdown pushes
    it out, so the sweeper does not count a message waiting for its retry as lost)."""
    model.objects.filter(pk=pk).update(message_due_at=due)


@dataclass(frozen=True)
class SweepResult:
    actions: int
    revocations: int

    def as_dict(self) -> dict[str, int]:
        return {"actions": self.actions, "revocations": self.revocations}


def lost(model: type[OwedRow], now: datetime) -> Any:
    """Unfinished rows of ``model`` whose message was lost (see the module docstring), oldest
    first. An action a run is posting right now (a live lease) is not lost."""
    due_before = now - timedelta(seconds=app_settings.OUTBOX_REQUEUE_AFTER)
    unfinished = [s for s in model.Status.values if s not in model.FINAL]
    query = (
        model._default_manager.filter(status__in=unfinished)
        .annotate(due=Coalesce("message_due_at", "created_at"))
        .filter(
            Q(message_due_at__isnull=True, created_at__lte=now - UNSENT_GRACE)
            | Q(message_due_at__lte=due_before)
        )
    )
    if model is SeeClickFixAction:
        query = query.exclude(Q(status=ActionStatus.IN_FLIGHT) & Q(lease_until__gt=now))
    return query.order_by("due", "pk")


def sweep(now: datetime | None = None) -> SweepResult:
    """Wake every owed row whose message was lost (at most ``SWEEP_BATCH`` of each kind)."""
    now = now or timezone.now()
    woken = {}
    for model in (SeeClickFixAction, SeeClickFixRevocation):
        rows = list(lost(model, now)[:SWEEP_BATCH])
        woken[model] = sum(wake(row) for row in rows)
        if rows:
            logger.info("outbox: %d lost %s message(s) sent again", woken[model], model.__name__)
    return SweepResult(actions=woken[SeeClickFixAction], revocations=woken[SeeClickFixRevocation])


__all__ = [
    "SweepResult",
    "lost",
    "mark_due",
    "sweep",
    "task_name",
    "wake",
    "wake_on_commit",
]
