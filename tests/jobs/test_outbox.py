"""The outbox: owed work is a row; a broker message only wakes a worker; the sweeper sends again
what a broker lost; every kind of act-as-user action is posted once, and ends visibly."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError

from django_seeclickfix import actions, outbox, tasks
from django_seeclickfix.conf import app_settings
from django_seeclickfix.models import (
    ActionKind,
    ActionStatus,
    SeeClickFixAction,
    SeeClickFixRevocation,
)
from django_seeclickfix.posting import EXPIRED
from django_seeclickfix.revocation import queue_revocation
from django_seeclickfix.signals import action_finished

from .conftest import link_emulator_user

pytestmark = pytest.mark.django_db


def broker_down(*args, **kwargs):
    raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def after_grace():
    return timezone.now() + outbox.UNSENT_GRACE + timedelta(seconds=1)


@pytest.fixture
def account(make_account, fake_scf):
    return make_account(user_scf_id=fake_scf.user_id)


# the broker down -----------------------------------------------------------------------------


def test_queue_comment_with_the_broker_down_keeps_the_row_and_the_sweeper_sends_it_once(
    account, published, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    monkeypatch.setattr(tasks.add_comment, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        action = actions.queue_comment(account, 77, "Hello")  # no exception for the caller
    action.refresh_from_db()
    assert (action.status, action.message_due_at) == (ActionStatus.PENDING, None)
    assert "the outbox sweeper sends it later" in caplog.text
    monkeypatch.undo()  # the broker is back

    assert outbox.sweep(timezone.now()).actions == 0  # the on-commit send may still be running
    assert outbox.sweep(after_grace()).actions == 1
    assert published == [("django_seeclickfix.tasks.add_comment", [action.pk])]
    assert outbox.sweep(after_grace()).actions == 0  # sent once: its message is not lost
    assert len(published) == 1


def test_the_sweeper_wakes_only_what_lost_its_message(account, published):
    now = timezone.now()
    old = now - timedelta(seconds=app_settings.OUTBOX_REQUEUE_AFTER + 1)
    recent = now - timedelta(seconds=app_settings.OUTBOX_REQUEUE_AFTER - 60)

    def row(name, **fields):
        return SeeClickFixAction.objects.create(
            request_id=name, kind=ActionKind.COMMENT, account=account, issue_scf_id=1, **fields
        )

    lost_pending = row("lost-pending", message_due_at=old)
    row("waiting", message_due_at=recent)  # its message (or retry) is not overdue
    row(
        "posting",
        status=ActionStatus.IN_FLIGHT,
        message_due_at=old,
        lease_until=now + timedelta(60),
    )
    lost_in_flight = row(
        "died", status=ActionStatus.IN_FLIGHT, message_due_at=old, lease_until=now - timedelta(1)
    )
    for status in (ActionStatus.SUCCEEDED, ActionStatus.FAILED, ActionStatus.CANCELLED):
        row(f"done-{status}", status=status, message_due_at=old)

    result = outbox.sweep(now)
    assert result.as_dict() == {"actions": 2, "revocations": 0}
    assert sorted(args[0] for _name, args in published) == sorted(
        [lost_pending.pk, lost_in_flight.pk]
    )


def test_the_sweeper_wakes_an_owed_revocation_whose_message_was_lost(account, published):
    owed = queue_revocation(account, access_token="old", refresh_token=None, reason="relink")
    assert published == []  # inside the test's transaction: nothing sent yet
    assert outbox.sweep(after_grace()).revocations == 1
    assert published == [("django_seeclickfix.tasks.revoke_tokens", [owed.pk])]


# every act-as-user kind ----------------------------------------------------------------------


@pytest.fixture
def emulator_account(scf_emulator_settings, django_user_model):
    emulator = scf_emulator_settings
    scf_user = emulator.generate_users(1, prefix="outbox")[0]
    account = link_emulator_user(
        emulator, scf_user, django_user_model.objects.create_user("outbox")
    )
    other = emulator.generate_users(1, prefix="reporter")[0]
    return emulator, account, emulator.add_issue(other), emulator.add_issue(scf_user)


def posts(emulator, path_end):
    return [r for r in emulator.requests() if r.method == "POST" and r.path.endswith(path_end)]


def test_a_follow_whose_answer_was_lost_is_not_sent_twice(emulator_account):
    emulator, account, issue, _own = emulator_account
    emulator.faults.add(r"/follow$", "error", status=502, count=1, after_processing=True)
    action = actions.queue_action(account, "follow", issue.id)
    result = tasks.perform_action.apply(args=[action.pk]).get()
    assert result["status"] == ActionStatus.SUCCEEDED
    assert account.user_scf_id in emulator.issue(issue.id).followers
    assert len(posts(emulator, "/follow")) == 1  # the retry looked, found it followed


@pytest.mark.parametrize(
    ("kind", "status"), [("close", "Closed"), ("reopen", "Open")], ids=["close", "reopen"]
)
def test_close_and_reopen_post_their_comment_once(emulator_account, kind, status):
    emulator, account, _other, issue = emulator_account  # a reporter may close their own
    if kind == "reopen":
        emulator.update_issue(issue.id, status="Closed")
    text = f"{kind} it, please"
    emulator.faults.add(
        rf"/{'close' if kind == 'close' else 'open'}$",
        "error",
        status=502,
        count=1,
        after_processing=True,
    )
    action = actions.queue_action(account, kind, issue.id, text=text)
    result = tasks.perform_action.apply(args=[action.pk]).get()
    assert result["status"] == ActionStatus.SUCCEEDED, result["error"]
    assert emulator.issue(issue.id).status == status
    mine = [c for c in emulator.issue(issue.id).comments if c.body == text]
    assert len(mine) == 1


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("teleport", None, "Unknown SeeClickFix action"),
        ("close", None, "needs a text"),
        ("close", "  ", "needs a text"),
        ("vote", "why", "takes no text"),
    ],
)
def test_queue_action_refuses_what_it_cannot_post(account, kind, text, message):
    with pytest.raises(ValueError, match=message):
        actions.queue_action(account, kind, 1, text=text)
    assert not SeeClickFixAction.objects.exists()


# how actions end -----------------------------------------------------------------------------


def test_an_action_never_sent_within_the_max_age_fails_without_a_request(account, fake_scf):
    action = actions.queue_comment(account, 77, "Too late")
    SeeClickFixAction.objects.filter(pk=action.pk).update(
        created_at=timezone.now() - timedelta(seconds=app_settings.OUTBOX_MAX_AGE + 1)
    )
    result = tasks.add_comment.apply(args=[action.pk]).get()
    assert (result["status"], result["error"]) == (ActionStatus.FAILED, EXPIRED)
    assert fake_scf.posts == []


def test_an_expired_action_that_may_have_been_sent_is_looked_up_first(account, fake_scf):
    fake_scf.fail_posts_after_sending = 1  # the comment lands, the answer is a 502
    action = actions.queue_comment(account, 77, "Made it")
    first = tasks.add_comment.apply(args=[action.pk], retries=app_settings.TASK_MAX_RETRIES)
    assert first.failed()  # out of retries: left in flight, not "failed"
    SeeClickFixAction.objects.filter(pk=action.pk).update(
        created_at=timezone.now() - timedelta(seconds=app_settings.OUTBOX_MAX_AGE + 1)
    )
    result = tasks.add_comment.apply(args=[action.pk]).get()
    assert result["status"] == ActionStatus.SUCCEEDED  # found on SeeClickFix
    assert len(fake_scf.posts) == 1


def test_action_finished_is_sent_once_when_an_action_ends(
    account, fake_scf, django_capture_on_commit_callbacks
):
    ended = []
    action_finished.connect(
        lambda **kw: ended.append((kw["action"].pk, kw["status"])), weak=False, dispatch_uid="t"
    )
    try:
        action = actions.queue_comment(account, 77, "Done")
        with django_capture_on_commit_callbacks(execute=True):
            tasks.add_comment.apply(args=[action.pk])
            tasks.add_comment.apply(args=[action.pk])  # a second delivery changes nothing
    finally:
        action_finished.disconnect(dispatch_uid="t")
    assert ended == [(action.pk, "succeeded")]


def test_revocations_and_actions_are_separate_outboxes(account):
    queue_revocation(account, access_token="x", refresh_token=None, reason="refresh")
    later = after_grace()
    assert list(outbox.lost(SeeClickFixAction, later)) == []
    assert [r.reason for r in outbox.lost(SeeClickFixRevocation, later)] == ["refresh"]
