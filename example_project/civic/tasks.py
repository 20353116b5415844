"""The site's own job: send one queued comment or report to SeeClickFix as its user.

This is the pattern the library's guide describes for jobs of your own: take ids, build the
client with ``client_for_user`` (token refresh, the shared rate budget and error mapping happen
below it), retry what is transient, and record what the user must see.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from django.utils.translation import gettext

from django_seeclickfix.client import client_for_user
from django_seeclickfix.exceptions import (
    APIError,
    RateLimited,
    ReauthRequired,
    SeeClickFixError,
    TransientError,
    ValidationError,
)

from .models import Submission

logger = logging.getLogger(__name__)

MAX_RETRIES = 6


def _validation_message(err: ValidationError) -> str:
    parts = [f"{field}: {'; '.join(msgs)}" for field, msgs in err.errors.items()]
    return gettext("SeeClickFix refused it: %(reasons)s") % {"reasons": ", ".join(parts)}


@shared_task(bind=True, max_retries=MAX_RETRIES, acks_late=True)
def send_submission(self: Task[Any, Any], submission_id: int) -> None:
    submission = Submission.objects.select_related("user").filter(pk=submission_id).first()
    if submission is None or submission.status != Submission.Status.QUEUED:
        return  # deleted, or already done by an earlier delivery of this message
    try:
        client = client_for_user(submission.user)
        if submission.kind == Submission.Kind.COMMENT:
            assert submission.issue_scf_id is not None
            created: Any = client.add_comment(submission.issue_scf_id, submission.text)
        else:
            details = submission.details
            created = client.create_issue(
                lat=details["lat"],
                lng=details["lng"],
                request_type_id=details["request_type_id"],
                answers=details.get("answers") or {},
                address=details.get("address"),
                description=submission.text,
            )
    except RateLimited as err:
        if self.request.retries >= MAX_RETRIES:
            submission.finish(Submission.Status.FAILED, error=gettext("SeeClickFix is busy."))
            return
        raise self.retry(countdown=max(1, int(err.retry_after)), exc=err) from err
    except TransientError as err:
        if self.request.retries >= MAX_RETRIES:
            submission.finish(
                Submission.Status.FAILED, error=gettext("SeeClickFix did not answer.")
            )
            return
        raise self.retry(countdown=2 ** (self.request.retries + 1), exc=err) from err
    except ReauthRequired:
        submission.finish(
            Submission.Status.FAILED,
            error=gettext("Your SeeClickFix connection needs to be renewed: reconnect it."),
        )
        return
    except ValidationError as err:
        submission.finish(Submission.Status.FAILED, error=_validation_message(err))
        return
    except APIError as err:
        submission.finish(
            Submission.Status.FAILED,
            error=gettext("SeeClickFix refused it (HTTP %(status)s).") % {"status": err.status},
        )
        return
    except SeeClickFixError as err:
        logger.warning("Submission %s failed: %s", submission.pk, type(err).__name__)
        submission.finish(Submission.Status.FAILED, error=gettext("It could not be sent."))
        return
    if created.moderated:
        submission.finish(Submission.Status.MODERATED)
    else:
        submission.finish(Submission.Status.POSTED, result_id=created.id)
    if submission.kind == Submission.Kind.ISSUE:
        submission.issue_scf_id = created.id
        submission.save(update_fields=["issue_scf_id"])
    logger.info("Submission %s: %s", submission.pk, submission.status)
