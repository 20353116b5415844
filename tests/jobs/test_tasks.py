"""The tasks and their policy: retries, locks, the pass over all accounts, token refresh."""

from __future__ import annotations

import json
from datetime import timedelta
from unittest import mock

import pytest
import responses
from celery import Celery
from django.test import override_settings
from django.utils import timezone

from django_seeclickfix import locks, scheduling, sync, tasks, tokens
from django_seeclickfix.exceptions import RateLimited, TransientError
from django_seeclickfix.models import (
    AccountStatus,
    SeeClickFixAccount,
    SeeClickFixIssue,
    SeeClickFixRevocation,
)
from django_seeclickfix.task_base import (
    SeeClickFixTask,
    backoff_cap,
    broker_visibility_timeout,
    retry_countdown,
    seeclickfix_task,
)
from tests.celery_app import app as celery_app
from tests.conftest import FormEndpoint

from .conftest import BASE, jobs_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(make_account, fake_scf):
    return make_account(user_scf_id=fake_scf.user_id)


# retry policy --------------------------------------------------------------------------------


def test_rate_limited_waits_its_retry_after_plus_jitter():
    err = RateLimited("busy", retry_after=30)
    assert retry_countdown(err, 0, cap=600, rng=lambda a, b: a) == 30
    assert retry_countdown(err, 0, cap=600, rng=lambda a, b: b) == 45
    assert retry_countdown(err, 0, cap=20, rng=lambda a, b: b) == 20


def test_transient_errors_back_off_exponentially_with_jitter_up_to_the_cap():
    err = TransientError("502")
    low = [retry_countdown(err, n, cap=600, rng=lambda a, b: a) for n in range(12)]
    high = [retry_countdown(err, n, cap=600, rng=lambda a, b: b) for n in range(12)]
    assert low[:4] == [1, 2, 4, 8]
    assert high[:4] == [2, 4, 8, 16]
    assert high[-1] == 600
    assert low[-1] == 300  # equal jitter: never below half the ceiling


def test_countdowns_stay_below_the_brokers_visibility_timeout():
    redis_app = Celery("vt", broker="redis://localhost:6379/0", set_as_current=False)
    assert broker_visibility_timeout(redis_app) == 3600
    redis_app.conf.broker_transport_options = {"visibility_timeout": 400}
    amqp_app = Celery("amqp", broker="amqp://localhost//", set_as_current=False)
    assert broker_visibility_timeout(amqp_app) is None
    with override_settings(
        SEECLICKFIX=jobs_settings(TASK_TIME_LIMIT=100, TASK_RETRY_BACKOFF_MAX=600)
    ):
        assert backoff_cap(redis_app) == 300
        assert backoff_cap(amqp_app) == 600


def test_tasks_use_settings_for_limits_and_late_acks():
    task = tasks.sync_account
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True
    with override_settings(
        SEECLICKFIX=jobs_settings(TASK_TIME_LIMIT=99, TASK_SOFT_TIME_LIMIT=77, TASK_MAX_RETRIES=3)
    ):
        assert (task.time_limit, task.soft_time_limit, task.max_retries) == (99, 77, 3)


@seeclickfix_task(name="tests.jobs.flaky")
def flaky(self, fail_with: str, times: int) -> str:
    if self.request.retries < times:
        raise {"rate": RateLimited("429", retry_after=7), "5xx": TransientError("503")}[fail_with]
    return f"ok after {self.request.retries}"


def test_a_host_task_is_retried_and_honours_retry_after():
    countdowns = []
    real_retry = SeeClickFixTask.retry

    def spy(self, *args, **kwargs):
        countdowns.append(kwargs["countdown"])
        return real_retry(self, *args, **kwargs)

    with mock.patch.object(SeeClickFixTask, "retry", spy):
        assert flaky.apply(args=["rate", 2]).get() == "ok after 2"
    assert len(countdowns) == 2
    assert all(7 <= c <= 10.5 for c in countdowns)


def test_retries_stop_at_task_max_retries():
    with override_settings(SEECLICKFIX=jobs_settings(TASK_MAX_RETRIES=2)):
        result = flaky.apply(args=["5xx", 5])
    assert isinstance(result.result, TransientError)
    with override_settings(SEECLICKFIX=jobs_settings(TASK_MAX_RETRIES=2)):
        assert flaky.apply(args=["5xx", 2]).get() == "ok after 2"


def test_called_as_a_plain_function_errors_propagate():
    with pytest.raises(TransientError):
        flaky("5xx", 1)


@seeclickfix_task(name="tests.jobs.profile_name")
def profile_name(self, user_id: int) -> str | None:
    return self.client_for_user(user_id).get_profile().name


def test_a_host_task_acts_as_the_user_and_ends_cleanly_without_a_link(
    account, fake_scf, django_user_model
):
    assert profile_name.apply(args=[account.user_id]).get() == "Jo Resident"
    assert fake_scf.authorizations == [f"Bearer {account.access_token}"]
    unlinked = django_user_model.objects.create_user("nobody")
    assert profile_name.apply(args=[unlinked.pk]).get() is None
    assert profile_name.apply(args=[987654]).get() is None


# sync_account --------------------------------------------------------------------------------


def test_sync_account_task_syncs_and_clears_the_queued_mark(account, fake_scf):
    fake_scf.add_many(3)
    scheduling.mark_queued([account.pk])

    summary = tasks.sync_account.apply(args=[account.pk]).get()

    assert summary["outcome"] == "synced"
    assert summary["issues"] == 3
    account.refresh_from_db()
    assert account.sync_queued_at is None
    assert account.last_synced_at is not None
    assert json.dumps(summary)  # a plain JSON result


def test_sync_account_retries_transient_errors_then_gives_up_and_backs_off(account, fake_scf):
    fake_scf.add_many(3)
    fake_scf.fail_issue_requests = set(range(1, 100))

    with override_settings(SEECLICKFIX=jobs_settings(TASK_MAX_RETRIES=2)):
        result = tasks.sync_account.apply(args=[account.pk])

    assert isinstance(result.result, TransientError)
    assert fake_scf.issue_requests == 3  # first run + 2 retries
    account.refresh_from_db()
    assert account.last_sync_error.startswith("TransientError")
    # A failed account waits SYNC_QUEUE_TIMEOUT before a pass takes it again.
    assert account.sync_queued_at is not None
    assert scheduling.plan_pass().planned == ()


def test_reauth_required_is_not_retried(account, fake_scf):
    fake_scf.token_valid = False

    summary = tasks.sync_account.apply(args=[account.pk]).get()

    assert summary == {"account_id": account.pk, "outcome": "reauth_required"}
    assert len(fake_scf.mock.calls) == 1
    account.refresh_from_db()
    assert account.status == AccountStatus.REAUTH_REQUIRED
    assert "ReauthRequired" in account.last_sync_error


@pytest.mark.parametrize("change", ["revoked", "reauth", "inactive", "environment", "deleted"])
def test_unusable_accounts_are_skipped_without_a_request(account, fake_scf, change):
    if change == "revoked":
        account.status = AccountStatus.REVOKED
        account.save()
    elif change == "reauth":
        account.status = AccountStatus.REAUTH_REQUIRED
        account.save()
    elif change == "inactive":
        account.user.is_active = False
        account.user.save()
    elif change == "environment":
        account.environment = "test"
        account.save()
    else:
        account.delete()

    summary = tasks.sync_account.apply(args=[account.pk]).get()

    assert summary["outcome"] == "skipped"
    assert len(fake_scf.mock.calls) == 0


def test_one_sync_at_a_time_per_account(account, fake_scf):
    fake_scf.add_many(2)
    other = locks.SyncLock(account.pk, owner="another-task")
    assert other.acquire()

    assert sync.run_sync(account.pk, owner="this-task")["outcome"] == "locked"
    assert len(fake_scf.mock.calls) == 0
    # A message delivered again after its worker died carries the same id: it takes over.
    assert sync.run_sync(account.pk, owner="another-task")["outcome"] == "synced"
    assert locks.SyncLock(account.pk, owner="third").acquire()  # released in finally


def test_the_lock_is_released_when_the_sync_fails(account, fake_scf):
    fake_scf.fail_issue_requests = {1}
    with pytest.raises(TransientError):
        sync.run_sync(account.pk, owner="first")
    assert locks.SyncLock(account.pk, owner="second").acquire()


def test_a_broken_lock_cache_is_a_transient_error(account):
    with mock.patch("django_seeclickfix.locks.caches") as caches:
        caches.__getitem__.return_value.add.side_effect = ConnectionError("down")
        with pytest.raises(TransientError, match="RATE_LIMIT_CACHE"):
            locks.SyncLock(account.pk).acquire()


# sync_all_accounts ---------------------------------------------------------------------------


@pytest.fixture
def many(make_account):
    now = timezone.now()
    made = []
    for n in range(8):
        account = make_account()
        # Most overdue first: 0 never synced, then 1 (oldest) ... 7 (most recent but still due).
        if n:
            account.last_synced_at = now - timedelta(days=10 - n)
            account.save()
        made.append(account)
    for n, account in enumerate(made):
        SeeClickFixAccount.objects.filter(pk=account.pk).update(
            next_sync_at=now - timedelta(days=20 - n)
        )
    return made


def queued(published):
    return [args[0] for name, args in published if name == tasks.sync_account.name]


def test_the_pass_queues_the_most_overdue_first_in_batches(many, published):
    with override_settings(SEECLICKFIX=jobs_settings(SYNC_BATCH_SIZE=3)):
        counts = [tasks.sync_all_accounts.apply().get()["queued"] for _ in range(4)]
    assert counts == [3, 3, 2, 0]
    assert queued(published) == [a.pk for a in many]  # each once, most overdue first


def test_the_pass_skips_accounts_not_due_and_unusable_ones(many, published, make_account):
    many[1].status = AccountStatus.REAUTH_REQUIRED
    many[1].save()
    many[2].user.is_active = False
    many[2].user.save()
    SeeClickFixAccount.objects.filter(pk=many[3].pk).update(
        next_sync_at=timezone.now() + timedelta(minutes=5)
    )
    make_account(environment="test")

    tasks.sync_all_accounts.apply().get()

    assert set(queued(published)) == {a.pk for a in many} - {many[1].pk, many[2].pk, many[3].pk}


def test_accounts_whose_message_was_lost_are_queued_again_after_the_queue_timeout(many, published):
    now = timezone.now()
    assert len(scheduling.plan_pass(now).planned) == 8  # marked, then the broker lost them
    assert scheduling.plan_pass(now + timedelta(seconds=1799)).planned == ()
    assert len(scheduling.plan_pass(now + timedelta(seconds=1801)).planned) == 8


def test_a_broker_failure_unmarks_what_was_not_sent(many):
    calls = []

    def failing_send(*args, **kwargs):
        calls.append(args)
        if len(calls) == 3:
            raise ConnectionError("broker down")

    with (
        mock.patch.object(tasks.sync_account, "apply_async", failing_send),
        pytest.raises(ConnectionError),
    ):
        tasks.sync_all_accounts.apply(throw=True)

    marked = set(
        SeeClickFixAccount.objects.filter(sync_queued_at__isnull=False).values_list("pk", flat=True)
    )
    assert marked == {many[0].pk, many[1].pk}
    # The rest is due again at once, not after SYNC_QUEUE_TIMEOUT.
    assert len(scheduling.plan_pass().planned) == 6


def test_a_pass_then_its_syncs_store_every_accounts_issues(make_account, published, fake_scf):
    accounts = [make_account(user_scf_id=fake_scf.user_id + n) for n in range(1)]
    fake_scf.add_many(4)
    tasks.sync_all_accounts.apply().get()
    for name, args in published:
        assert name == tasks.sync_account.name
        tasks.sync_account.apply(args=args).get()
    assert SeeClickFixIssue.objects.filter(account=accounts[0]).count() == 4
    assert SeeClickFixAccount.objects.filter(sync_queued_at__isnull=False).count() == 0


# refresh_expiring_tokens ---------------------------------------------------------------------


def test_refresh_expiring_tokens_refreshes_nothing_a_planned_request_will_refresh(make_account):
    """Tokens are refreshed when a planned request needs them; the timer only marks links that
    can never be used again (no request) and, with REFRESH_TOKEN_MAX_AGE, saves refresh tokens
    about to die."""
    now = timezone.now()
    soon = make_account(refresh_token="refresh-soon", expires_at=now + timedelta(seconds=60))
    expired = make_account(expires_at=now - timedelta(seconds=1))  # no refresh token
    expired_too = make_account(expires_at=now - timedelta(seconds=5))
    elsewhere = make_account(environment="test", expires_at=now - timedelta(seconds=1))

    with responses.RequestsMock() as rsps:  # no request at all
        counts = tasks.refresh_expiring_tokens.apply().get()

    assert counts == {"refreshed": 0, "reauth_required": 2, "failed": 0}
    for dead in (expired, expired_too):
        dead.refresh_from_db()
        assert dead.status == AccountStatus.REAUTH_REQUIRED
    for untouched in (soon, elsewhere):
        before = (untouched.token_version, untouched.status)
        untouched.refresh_from_db()
        assert (untouched.token_version, untouched.status) == before
    assert len(rsps.calls) == 0


def test_refresh_tokens_about_to_reach_their_max_age_are_used_before_they_die(make_account):
    now = timezone.now()
    aging = make_account(refresh_token="refresh-aging", expires_at=now + timedelta(days=1))
    young = make_account(refresh_token="refresh-young", expires_at=now + timedelta(days=1))
    SeeClickFixAccount.objects.filter(pk=aging.pk).update(
        refresh_token_issued_at=now - timedelta(days=29, hours=23, minutes=58)
    )
    SeeClickFixAccount.objects.filter(pk=young.pk).update(
        refresh_token_issued_at=now - timedelta(days=1)
    )
    body = {"access_token": "fresh", "refresh_token": "rotated", "expires_in": 7200}
    settings = jobs_settings(REFRESH_TOKEN_MAX_AGE=30 * 86400)
    with override_settings(SEECLICKFIX=settings), responses.RequestsMock() as rsps:
        token = rsps.add(responses.POST, f"{BASE}/oauth/token", json=body)
        counts = tasks.refresh_expiring_tokens.apply().get()
    assert counts == {"refreshed": 1, "reauth_required": 0, "failed": 0}
    assert token.call_count == 1
    aging.refresh_from_db()
    assert (aging.refresh_token, aging.previous_refresh_token) == ("rotated", None)
    # No request uses the new token now: the grant it replaced is owed its revocation.
    assert SeeClickFixRevocation.objects.get().reason == "refresh"


def test_celery_app_of_the_tests_knows_the_tasks():
    celery_app.loader.import_default_modules()
    for name in (
        "sync_account",
        "sync_all_accounts",
        "refresh_expiring_tokens",
        "add_comment",
        "create_issue",
    ):
        assert f"django_seeclickfix.tasks.{name}" in celery_app.tasks


def test_revoke_tokens_carries_a_row_id_only_and_revokes_both_tokens(
    make_account, published, django_capture_on_commit_callbacks
):
    from celery.signals import before_task_publish

    from django_seeclickfix.revocation import queue_revocation

    account = make_account()
    headers = []

    def record(**kwargs):
        headers.append(kwargs["headers"])

    before_task_publish.connect(record, weak=False)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            row = queue_revocation(
                account,
                access_token="access-secret",
                refresh_token="refresh-secret",
                reason="disconnect",
            )
    finally:
        before_task_publish.disconnect(record)
    assert published == [("django_seeclickfix.tasks.revoke_tokens", [row.pk])]
    assert "secret" not in headers[0]["argsrepr"]
    with responses.RequestsMock() as rsps:
        endpoint = FormEndpoint(rsps, f"{BASE}/oauth/revoke")
        assert tasks.revoke_tokens.apply(args=[row.pk]).get() == "revoked"
    assert [(f["token"], f["token_type_hint"]) for f in endpoint.forms] == [
        ("refresh-secret", "refresh_token"),
        ("access-secret", "access_token"),
    ]


def test_a_sealed_bundle_from_a_0_1_message_is_still_revoked():
    from django_seeclickfix.fields import encrypt

    sealed = encrypt(json.dumps({"v": 1, "a": "access-secret", "r": "refresh-secret"}))
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, f"{BASE}/oauth/revoke", json={})
        rsps.add(responses.POST, f"{BASE}/oauth/revoke", json={})
        assert tasks.revoke_tokens.apply(args=[sealed]).get() == "revoked"
        assert len(rsps.calls) == 2


@seeclickfix_task(name="tests.jobs.limited", max_retries=1, time_limit=60)
def limited(self) -> None:
    return None


def test_decorator_options_take_precedence_over_settings():
    assert (limited.max_retries, limited.time_limit) == (1, 60)
    assert limited.soft_time_limit == 240  # from settings


@seeclickfix_task(name="tests.jobs.account_name")
def account_name(self, account_id: int) -> str | None:
    return self.client_for_account(account_id).get_profile().name


def test_a_host_task_can_act_as_an_account(account, fake_scf):
    assert account_name.apply(args=[account.pk]).get() == "Jo Resident"
    assert account_name.apply(args=[987654]).get() is None


def test_refresh_expiring_tokens_stops_at_the_rate_limit_and_counts_failures(make_account):
    now = timezone.now()
    for n in range(3):
        account = make_account(refresh_token=f"r{n}", expires_at=now + timedelta(days=1))
        SeeClickFixAccount.objects.filter(pk=account.pk).update(
            refresh_token_issued_at=now - timedelta(days=40, seconds=n)
        )
    answers = iter([TransientError("503"), RateLimited("budget", retry_after=5)])

    def fake_refresh(account, **kwargs):
        raise next(answers)

    settings = jobs_settings(REFRESH_TOKEN_MAX_AGE=30 * 86400)
    with (
        override_settings(SEECLICKFIX=settings),
        mock.patch.object(tokens, "_refresh", fake_refresh),
    ):
        counts = tasks.refresh_expiring_tokens.apply().get()
    assert counts == {"refreshed": 0, "reauth_required": 0, "failed": 1}
