"""The jobs in a real Celery worker process, with a real Redis, against the emulator.

Crashes are real: SIGKILL of a pool process or of the whole worker, and a Redis restart that
loses every queued message.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError

from django_seeclickfix import actions, tasks
from django_seeclickfix.models import (
    ActionStatus,
    SeeClickFixAccount,
    SeeClickFixAction,
    SeeClickFixIssue,
)
from tests.workers import wait_for

from .conftest import assert_no_duplicates, link_emulator_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def link(emulator, django_user_model, count: int, issues: int = 3) -> list[SeeClickFixAccount]:
    """``count`` emulator users with ``issues`` open issues each, linked to site users."""
    linked = []
    for scf_user in emulator.generate_users(count, prefix="worker"):
        for n in range(issues):
            emulator.add_issue(
                scf_user,
                summary=f"Issue {n} of {scf_user.id}",
                created_at=timezone.now() - timedelta(days=30, minutes=n),
                updated_at=timezone.now() - timedelta(days=20, minutes=n),
            )
        site_user = django_user_model.objects.create_user(f"site-{scf_user.id}")
        linked.append(link_emulator_user(emulator, scf_user, site_user))
    return linked


def synced_count() -> int:
    return SeeClickFixAccount.objects.filter(last_synced_at__isnull=False).count()


def sync_slowly_in(worker, emulator, django_user_model) -> SeeClickFixAccount:
    """An account of 250 issues whose sync runs in ``worker`` at 1.5 s a page (until the test
    clears the emulator's faults); returns once its first page is committed."""
    (account,) = link(emulator, django_user_model, 1, issues=250)
    emulator.faults.add(r"^/api/v2/profile/issues", "latency", delay=1.5)
    tasks.sync_account.delay(account.pk)
    wait_for(
        lambda: SeeClickFixAccount.objects.get(pk=account.pk).sync_cursor,
        timeout=20,
        what="the first page to be committed",
        worker=worker,
    )
    return account


def test_a_pass_over_many_accounts_completes(scf_emulator_settings, scf_worker, django_user_model):
    accounts = link(scf_emulator_settings, django_user_model, 30, issues=4)

    assert tasks.sync_all_accounts.delay().get(timeout=20)["queued"] == 30

    wait_for(lambda: synced_count() == 30, timeout=60, what="30 synced accounts", worker=scf_worker)
    assert SeeClickFixIssue.objects.count() == 120
    for account in accounts:
        assert SeeClickFixIssue.objects.filter(account=account).count() == 4
    assert not SeeClickFixAccount.objects.filter(sync_queued_at__isnull=False).exists()
    # Each account: one /profile and one page of issues.
    assert len(scf_emulator_settings.requests("/api/v2/profile/issues")) == 30
    # Synced just now: the next pass has nothing to do.
    assert tasks.sync_all_accounts.delay().get(timeout=20)["queued"] == 0


def test_a_pool_process_killed_mid_sync_leaves_no_duplicates_and_the_account_completes(
    scf_emulator_settings, scf_worker_factory, django_user_model
):
    emulator = scf_emulator_settings
    worker = scf_worker_factory(concurrency=1)
    account = sync_slowly_in(worker, emulator, django_user_model)
    stored_before = SeeClickFixIssue.objects.count()
    assert 0 < stored_before < 250
    requests_before = len(emulator.requests("/api/v2/profile/issues"))
    worker.kill_child()
    emulator.faults.clear()

    wait_for(
        lambda: SeeClickFixAccount.objects.get(pk=account.pk).last_synced_at,
        timeout=30,
        what="the re-delivered sync to finish",
        worker=worker,
    )
    assert SeeClickFixIssue.objects.count() == 250
    assert_no_duplicates()
    assert "WorkerLostError" in worker.log()
    # The re-delivered run went on from the committed cursor, not from the start.
    resumed = emulator.requests("/api/v2/profile/issues")[requests_before:]
    assert resumed
    assert all("updated_at_after" in entry.query for entry in resumed)


def test_a_worker_killed_outright_is_recovered_by_redelivery_after_a_restart(
    scf_emulator_settings, scf_worker_factory, django_user_model
):
    emulator = scf_emulator_settings
    worker = scf_worker_factory(concurrency=1, visibility_timeout=4)
    account = sync_slowly_in(worker, emulator, django_user_model)
    worker.kill()  # main process and pool: the message stays unacknowledged in Redis
    emulator.faults.clear()
    worker.start()

    wait_for(
        lambda: SeeClickFixAccount.objects.get(pk=account.pk).last_synced_at,
        timeout=30,
        what="the sync to finish after the visibility timeout",
        worker=worker,
    )
    assert SeeClickFixIssue.objects.count() == 250
    assert_no_duplicates()


def test_a_redis_restart_during_a_pass_loses_no_account(
    scf_emulator_settings, scf_worker_factory, redis_server, django_user_model
):
    emulator = scf_emulator_settings
    accounts = link(emulator, django_user_model, 40, issues=2)
    emulator.faults.add(r"^/api/v2/profile/issues", "latency", delay=0.3)
    worker = scf_worker_factory(concurrency=2, seeclickfix={"SYNC_QUEUE_TIMEOUT": 3})

    assert tasks.sync_all_accounts.delay().get(timeout=20)["queued"] == 40
    wait_for(lambda: synced_count() >= 4, timeout=30, what="a few synced accounts", worker=worker)
    redis_server.restart()  # no persistence: every queued and unacknowledged message is gone
    lost = 40 - synced_count()
    assert lost > 10
    emulator.faults.clear()

    def beat() -> bool:
        # What celery beat would do every few minutes (here: every second); like beat, a tick
        # that finds the broker still reconnecting is skipped, not fatal.
        with contextlib.suppress(OperationalError):
            tasks.sync_all_accounts.delay()
        return synced_count() == 40

    wait_for(beat, timeout=90, interval=1.0, what="every account synced", worker=worker)
    assert SeeClickFixIssue.objects.count() == 80
    for account in accounts:
        assert SeeClickFixIssue.objects.filter(account=account).count() == 2
    assert_no_duplicates()


def _comments_by(emulator, issue_id: int, user_scf_id: int, text: str) -> int:
    issue = emulator.issue_json(issue_id)
    return sum(
        1
        for c in issue.get("comments") or []
        if c["commenter"]["id"] == user_scf_id and c["comment"] == text
    )


def test_a_retried_comment_task_posts_once(scf_emulator_settings, scf_worker, django_user_model):
    emulator = scf_emulator_settings
    (account,) = link(emulator, django_user_model, 1, issues=1)
    issue_id = emulator.state.issues_by_reporter[account.user_scf_id][0].id
    # SeeClickFix stores the comment, then the client sees a 502: the task retries.
    emulator.faults.add(
        rf"^/api/v2/issues/{issue_id}/comments$",
        "error",
        method="POST",
        status=502,
        count=1,
        after_processing=True,
    )

    action = actions.queue_comment(account, issue_id, "The pothole is back", request_id="r-1")

    done = wait_for(
        lambda: (
            SeeClickFixAction.objects.filter(pk=action.pk, status=ActionStatus.SUCCEEDED)
            .values_list("attempts", flat=True)
            .first()
        ),
        timeout=30,
        what="the comment action to succeed",
        worker=scf_worker,
    )
    assert done == 2
    assert _comments_by(emulator, issue_id, account.user_scf_id, "The pothole is back") == 1
    posts = emulator.requests(f"/api/v2/issues/{issue_id}/comments", method="POST")
    assert len(posts) == 1


def test_a_comment_whose_worker_died_after_posting_is_not_posted_again(
    scf_emulator_settings, scf_worker_factory, django_user_model
):
    emulator = scf_emulator_settings
    (account,) = link(emulator, django_user_model, 1, issues=1)
    issue_id = emulator.state.issues_by_reporter[account.user_scf_id][0].id
    # The comment is stored at once; its answer takes 30 s: the worker dies waiting for it.
    emulator.faults.add(
        rf"^/api/v2/issues/{issue_id}/comments$", "latency", method="POST", delay=30, count=1
    )
    worker = scf_worker_factory(concurrency=1)

    action = actions.queue_comment(account, issue_id, "Streetlight out again")
    wait_for(
        lambda: _comments_by(emulator, issue_id, account.user_scf_id, "Streetlight out again"),
        timeout=20,
        what="the comment to reach the emulator",
        worker=worker,
    )
    worker.kill_child()

    wait_for(
        lambda: SeeClickFixAction.objects.get(pk=action.pk).is_final,
        timeout=30,
        what="the re-delivered task to finish",
        worker=worker,
    )
    action.refresh_from_db()
    assert action.status == ActionStatus.SUCCEEDED
    assert _comments_by(emulator, issue_id, account.user_scf_id, "Streetlight out again") == 1
    assert len(emulator.requests(f"/api/v2/issues/{issue_id}/comments", method="POST")) == 1
