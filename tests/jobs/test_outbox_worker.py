"""The outbox with a real broker that goes away: queueing never fails, nothing is lost."""

from __future__ import annotations

import contextlib

import pytest
from kombu.exceptions import OperationalError

from django_seeclickfix import actions, tasks
from django_seeclickfix.models import ActionStatus, SeeClickFixAction
from tests.workers import wait_for

from .conftest import link_emulator_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_comment_queued_while_the_broker_is_down_is_posted_once_when_it_is_back(
    scf_emulator_settings, scf_worker_factory, redis_server, django_user_model
):
    emulator = scf_emulator_settings
    scf_user = emulator.generate_users(1, prefix="broker")[0]
    issue = emulator.add_issue(scf_user)
    account = link_emulator_user(emulator, scf_user, django_user_model.objects.create_user("b"))
    worker = scf_worker_factory(concurrency=1, seeclickfix={"OUTBOX_REQUEUE_AFTER": 2})

    redis_server.kill()
    action = actions.queue_comment(account, issue.id, "Queued while Redis was down")
    action.refresh_from_db()  # the caller got its row; nothing was raised
    assert (action.status, action.message_due_at) == (ActionStatus.PENDING, None)
    redis_server.start()

    def swept() -> bool:
        with contextlib.suppress(OperationalError):  # the producer reconnecting
            tasks.sweep_outbox.delay()
        return SeeClickFixAction.objects.get(pk=action.pk).is_final

    wait_for(swept, timeout=60, interval=1.0, what="the sweeper to send it", worker=worker)
    action.refresh_from_db()
    assert action.status == ActionStatus.SUCCEEDED
    posts = emulator.requests(f"/api/v2/issues/{issue.id}/comments", method="POST")
    assert len(posts) == 1
