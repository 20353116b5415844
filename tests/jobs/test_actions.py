"""Posting as a user from tasks: once, whatever retries and re-deliveries happen."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from django_seeclickfix import actions, exceptions, outbox, posting, tasks
from django_seeclickfix.conf import app_settings
from django_seeclickfix.exceptions import AccountUnavailable, RateLimited, TransientError
from django_seeclickfix.models import ActionStatus, SeeClickFixAction
from django_seeclickfix.task_base import SeeClickFixTask

from .conftest import jobs_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(make_account, fake_scf):
    return make_account(user_scf_id=fake_scf.user_id)


def queued_ids(published, task):
    return [args[0] for name, args in published if name == task.name]


# queueing ------------------------------------------------------------------------------------


def test_queue_comment_stores_the_action_and_queues_it_on_commit(
    account, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        action = actions.queue_comment(account.user, 77, "Still there", request_id="form-1")
        assert published == []  # nothing before the commit

    assert action.status == ActionStatus.PENDING
    assert (action.kind, action.issue_scf_id, action.payload) == (
        "comment",
        77,
        {"text": "Still there"},
    )
    assert queued_ids(published, tasks.add_comment) == [action.pk]
    assert actions.get_action("form-1") == action


def test_a_rolled_back_transaction_queues_nothing(account, published):
    with transaction.atomic():
        actions.queue_comment(account, 77, "Never mind", request_id="rolled-back")
        transaction.set_rollback(True)
    assert published == []
    assert actions.get_action("rolled-back") is None


def test_the_same_request_id_is_one_action(account, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = actions.queue_comment(account, 77, "Once", request_id="dup")
        again = actions.queue_comment(account, 77, "Once", request_id="dup")
    assert first.pk == again.pk
    assert SeeClickFixAction.objects.count() == 1
    with pytest.raises(exceptions.ActionConflict):
        actions.queue_comment(account, 77, "Something else", request_id="dup")

    SeeClickFixAction.objects.filter(pk=first.pk).update(status=ActionStatus.SUCCEEDED)
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        done = actions.queue_comment(account, 77, "Once", request_id="dup")
    assert done.status == ActionStatus.SUCCEEDED
    assert published == []  # finished: not queued again


def test_queueing_needs_a_linked_user_and_a_text(account, django_user_model):
    with pytest.raises(AccountUnavailable):
        actions.queue_comment(django_user_model.objects.create_user("x"), 1, "hi")
    with pytest.raises(ValueError, match="text"):
        actions.queue_comment(account, 1, "  ")


# posting comments ----------------------------------------------------------------------------


def test_add_comment_posts_once_and_stores_the_result(account, fake_scf):
    action = actions.queue_comment(account, 77, "Pothole is deeper")

    result = tasks.add_comment.apply(args=[action.pk]).get()

    action.refresh_from_db()
    assert fake_scf.posts == [("comment", "Pothole is deeper")]
    assert action.status == ActionStatus.SUCCEEDED
    assert action.result_scf_id == 5001
    assert action.result["comment"] == "Pothole is deeper"
    assert action.completed_at is not None
    assert result == {
        "action_id": action.pk,
        "request_id": action.request_id,
        "status": "succeeded",
        "result_scf_id": 5001,
        "error": "",
    }
    # Delivered again later (a duplicate message): nothing is posted.
    tasks.add_comment.apply(args=[action.pk]).get()
    assert len(fake_scf.posts) == 1


def test_a_moderated_comment_is_a_success_not_a_retry(account, fake_scf):
    fake_scf.moderate = True
    action = actions.queue_comment(account, 77, "Please check")

    assert tasks.add_comment.apply(args=[action.pk]).get()["status"] == "moderated"

    action.refresh_from_db()
    assert action.status == ActionStatus.MODERATED
    assert action.result_scf_id is None
    assert len(fake_scf.posts) == 1


def test_a_post_that_arrived_but_whose_answer_was_lost_is_not_sent_again(account, fake_scf):
    fake_scf.fail_posts_after_sending = 1  # SeeClickFix stored it; we saw a 502
    action = actions.queue_comment(account, 77, "Water main leak")

    result = tasks.add_comment.apply(args=[action.pk]).get()  # eager: the retry runs at once

    assert len(fake_scf.posts) == 1
    assert result["status"] == "succeeded"
    assert result["result_scf_id"] == 5001
    action.refresh_from_db()
    assert action.attempts == 2


def test_a_run_that_died_after_claiming_is_reconciled_before_posting(account, fake_scf):
    action = actions.queue_comment(account, 77, "Streetlight out")
    posting._claim(action.pk, "task-1", None)  # the worker died here, before the POST

    first = posting.perform(action.pk, task_id="task-1")
    again = posting.perform(action.pk, task_id="task-1")

    assert first.status == again.status == "succeeded"
    assert len(fake_scf.posts) == 1
    assert fake_scf.calls_to("/issues/77/comments") == 2  # looked (GET), then posted once


def test_an_older_identical_comment_does_not_count_as_this_one(account, fake_scf):
    fake_scf.comments[77] = [
        {
            "id": 1,
            "comment": "+1",
            "commenter": {"id": fake_scf.user_id},
            "created_at": "2020-01-01T10:00:00-05:00",
        }
    ]
    action = actions.queue_comment(account, 77, "+1")
    posting._claim(action.pk, "task-1", None)

    assert posting.perform(action.pk, task_id="task-1").result_scf_id == 5001
    assert len(fake_scf.posts) == 1


def test_another_run_holding_the_lease_makes_this_one_wait(account, fake_scf):
    action = actions.queue_comment(account, 77, "Hello")
    posting._claim(action.pk, "the-other-task", None)

    with pytest.raises(exceptions.ActionInFlight) as waited:
        posting.perform(action.pk, task_id="this-task")
    assert 290 < waited.value.retry_after <= 300  # TASK_TIME_LIMIT
    assert fake_scf.posts == []

    countdowns = []
    real_retry = SeeClickFixTask.retry

    def spy(self, *args, **kwargs):
        countdowns.append(kwargs["countdown"])
        SeeClickFixAction.objects.filter(pk=action.pk).update(
            lease_until=timezone.now() - timedelta(seconds=1)
        )
        return real_retry(self, *args, **kwargs)

    with mock.patch.object(SeeClickFixTask, "retry", spy):
        result = tasks.add_comment.apply(args=[action.pk]).get()
    assert len(countdowns) == 1
    assert countdowns[0] > 200
    assert result["status"] == "succeeded"  # lease over: reconciled, then posted once
    assert len(fake_scf.posts) == 1


def test_rate_limited_before_sending_goes_back_to_pending(account, fake_scf):
    action = actions.queue_comment(account, 77, "Later")
    with (
        mock.patch(
            "django_seeclickfix.client.SeeClickFixClient.add_comment",
            side_effect=RateLimited("budget", retry_after=3),
        ),
        pytest.raises(RateLimited),
    ):
        posting.perform(action.pk, task_id="t")
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING
    assert action.lease_until is None

    posting.perform(action.pk, task_id="t")
    assert fake_scf.calls_to("/issues/77/comments") == 1  # pending: no need to look first


def test_a_link_needing_reconnection_fails_the_action(account, fake_scf):
    fake_scf.token_valid = False
    action = actions.queue_comment(account, 77, "Hi")

    result = tasks.add_comment.apply(args=[action.pk]).get()

    assert result["status"] == "failed"
    assert "ReauthRequired" in result["error"]
    assert fake_scf.posts == []  # refused with 401
    assert fake_scf.calls_to("/issues/77/comments") == 1  # and not retried


def test_running_out_of_retries_after_sending_leaves_the_post_for_the_sweeper(account, fake_scf):
    """The POST may have reached SeeClickFix: never "failed" for a post that may be there. The
    row stays in flight, lease freed, reason kept, so the sweeper wakes it and the next run
    looks on SeeClickFix first."""
    fake_scf.fail_posts_after_sending = 0
    action = actions.queue_comment(account, 77, "Flaky")
    with (
        mock.patch(
            "django_seeclickfix.client.SeeClickFixClient.add_comment",
            side_effect=TransientError("502", status=502),
        ),
        override_settings(SEECLICKFIX=jobs_settings(TASK_MAX_RETRIES=2)),
    ):
        outcome = tasks.add_comment.apply(args=[action.pk])
    assert isinstance(outcome.result, TransientError)
    action.refresh_from_db()
    assert action.status == ActionStatus.IN_FLIGHT
    assert action.attempts == 3
    assert action.sent_at is not None  # it may have reached SeeClickFix
    assert action.lease_until is None
    assert "502" in action.error
    assert action.message_due_at is not None  # the last retry's time
    assert list(outbox.lost(SeeClickFixAction, timezone.now())) == []  # its retry is due
    later = action.message_due_at + timedelta(seconds=app_settings.OUTBOX_REQUEUE_AFTER)
    assert list(outbox.lost(SeeClickFixAction, later)) == [action]


def test_running_out_of_retries_before_sending_fails_the_action(account, fake_scf):
    action = actions.queue_comment(account, 77, "Never sent")
    with (
        mock.patch(
            "django_seeclickfix.client.SeeClickFixClient.add_comment",
            side_effect=RateLimited("budget", retry_after=1),
        ),
        override_settings(SEECLICKFIX=jobs_settings(TASK_MAX_RETRIES=2)),
    ):
        tasks.add_comment.apply(args=[action.pk])
    action.refresh_from_db()
    assert action.status == ActionStatus.FAILED
    assert action.attempts == 3
    assert action.error.startswith("RateLimited")


def test_the_task_refuses_an_action_of_the_other_kind(account, fake_scf):
    action = actions.queue_comment(account, 77, "Hi")
    with pytest.raises(ValueError, match="comment"):
        tasks.create_issue.apply(args=[action.pk], throw=True)


# reporting issues ----------------------------------------------------------------------------


def issue_fields(**extra):
    return {
        "lat": 41.30712,
        "lng": -72.92501,
        "request_type_id": 12,
        "answers": {"q1": "Large"},
        "description": "Deep pothole by the bus stop",
        **extra,
    }


def test_create_issue_posts_once_and_stores_the_new_id(account, fake_scf):
    action = actions.queue_issue(account, **issue_fields())

    result = tasks.create_issue.apply(args=[action.pk]).get()

    assert result["status"] == "succeeded"
    assert result["result_scf_id"] == 9001
    kind, body = fake_scf.posts[0]
    assert kind == "issue"
    assert body["answers"] == {"q1": "Large"}
    assert body["request_type_id"] == 12


def test_an_issue_whose_answer_was_lost_is_found_instead_of_reported_twice(account, fake_scf):
    fake_scf.fail_posts_after_sending = 1
    action = actions.queue_issue(account, **issue_fields())

    result = tasks.create_issue.apply(args=[action.pk]).get()

    assert len(fake_scf.posts) == 1
    assert result == result | {"status": "succeeded", "result_scf_id": 9001}


def test_a_refused_issue_keeps_the_field_errors(account, fake_scf):
    action = actions.queue_issue(account, **issue_fields(request_type_id="bad"))

    result = tasks.create_issue.apply(args=[action.pk]).get()

    assert result["status"] == "failed"
    assert "request_type_id: is invalid" in result["error"]
    action.refresh_from_db()
    assert action.result == {"errors": {"request_type_id": ["is invalid"]}}
    assert len(fake_scf.posts) == 1


def test_reconciling_an_issue_matches_spot_time_and_description(account, fake_scf):
    from datetime import UTC, datetime

    action = actions.queue_issue(account, **issue_fields())
    now = datetime.now(UTC)
    fake_scf.add(1, now, created_at=now - timedelta(days=3), lat=41.30712, lng=-72.92501)  # old
    fake_scf.add(2, now, created_at=now, lat=41.4, lng=-72.92501)  # elsewhere
    fake_scf.add(3, now, created_at=now, lat=41.30712, lng=-72.1)  # elsewhere
    fake_scf.add(4, now, created_at=now, lat=41.30712, lng=-72.92501, description="Other")
    fake_scf.add(
        5,
        now,
        created_at=now,
        lat=41.307121,
        lng=-72.925011,
        description=issue_fields()["description"],
    )
    posting._claim(action.pk, "t", None)

    result = posting.perform(action.pk, task_id="t")

    assert result.result_scf_id == 5
    assert fake_scf.posts == []
