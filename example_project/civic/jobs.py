"""Queueing the site's background work (always after the transaction commits)."""

from __future__ import annotations

from django.db import transaction

from .models import Submission


def queue(submission: Submission) -> None:
    """Send a comment or a report to SeeClickFix in the background."""
    from .tasks import send_submission

    submission_id = submission.pk
    transaction.on_commit(lambda: send_submission.delay(submission_id))


def sync(account_id: int) -> None:
    """Fetch the account's profile and reported issues again, now."""
    from django_seeclickfix.tasks import sync_account

    sync_account.delay(account_id)
