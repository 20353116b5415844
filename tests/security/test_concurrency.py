"""Concurrency on PostgreSQL: real row locks, real connections, a real worker on real Redis.

What the other suites already prove (and SECURITY.md lists): a pool process or a whole worker
SIGKILLed mid-sync (tests/jobs/test_worker.py), a Redis restart mid-pass (same file), 16
threads asking for one expiring token at once (tests/linking/test_emulator.py), a stale copy
of a row or a stale writer never putting an older token back (tests/linking/test_tokens.py,
test_fields.py, test_rotate_keys.py). Here: the same single flight across processes, and the
races between a refresh in flight and the user disconnecting or reconnecting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from django_seeclickfix import actions, linking, tokens, unlinking
from django_seeclickfix.exceptions import ReauthRequired
from django_seeclickfix.models import (
    AccountStatus,
    ActionStatus,
    SeeClickFixAccount,
    SeeClickFixAction,
)
from tests.jobs.conftest import link_emulator_user
from tests.workers import wait_for

from .conftest import fresh_grant

TOKEN = r"^/oauth/token$"


def linked_account(emulator: Any, user: Any, *, expires_in: float) -> SeeClickFixAccount:
    scf_user = emulator.user("resident")
    return link_emulator_user(
        emulator,
        scf_user,
        user,
        expires_at=timezone.now() + timedelta(seconds=expires_in),
        profile={"id": scf_user.id, "name": scf_user.name},
    )


class RefreshInFlight:
    """A worker refreshing ``account``'s token, held up at SeeClickFix's token endpoint (and so
    holding the row lock) when the constructor returns."""

    def __init__(self, emulator: Any, account: SeeClickFixAccount) -> None:
        emulator.faults.add(TOKEN, "latency", delay=1.0, count=1)
        self.done = threading.Event()
        self.outcome: list[Any] = []
        self.thread = threading.Thread(target=self._refresh, args=(account.pk,))
        self.thread.start()
        wait_for(lambda: emulator.requests("/oauth/token"), timeout=10, what="the refresh")

    def _refresh(self, pk: int) -> None:
        try:
            mine = SeeClickFixAccount.objects.select_related("user").get(pk=pk)
            self.outcome.append(tokens.get_access_token(mine))
        except BaseException as err:
            self.outcome.append(err)
        finally:
            self.done.set()
            connection.close()

    def result(self) -> str:
        self.thread.join(10)
        (outcome,) = self.outcome
        if isinstance(outcome, BaseException):
            raise outcome
        return str(outcome)


def in_threads(count: int, work: Callable[[], Any]) -> tuple[list[Any], list[BaseException]]:
    """Run ``work`` in ``count`` threads released together; each has its own connection."""
    barrier = threading.Barrier(count)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=20)
            results.append(work())
        except BaseException as err:
            errors.append(err)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results, errors


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_sixteen_askers_in_four_worker_processes_and_twelve_threads_cause_one_refresh(
    scf_emulator_settings, scf_worker_factory, django_user_model
):
    emulator = scf_emulator_settings
    account = linked_account(emulator, django_user_model.objects.create_user("ada"), expires_in=60)
    issue_id = emulator.state.issues_by_reporter[account.user_scf_id][0].id
    worker = scf_worker_factory(concurrency=4)
    # A slow token endpoint keeps the one refresh in flight while every other asker piles up
    # on the row lock, in this process and in the worker's four.
    emulator.faults.add(TOKEN, "latency", delay=2.0)
    emulator.clear_log()
    posted = [
        actions.queue_comment(account, issue_id, f"Comment {n}", request_id=f"race-{n}")
        for n in range(4)
    ]

    def ask() -> str:
        mine = SeeClickFixAccount.objects.select_related("user").get(pk=account.pk)
        return tokens.get_access_token(mine)

    results, errors = in_threads(12, ask)
    assert not errors, errors
    wait_for(
        lambda: SeeClickFixAction.objects.filter(status=ActionStatus.SUCCEEDED).count() == 4,
        timeout=30,
        what="the four comments",
        worker=worker,
    )
    assert emulator.token_requests("refresh_token") == 1
    stored = SeeClickFixAccount.objects.get(pk=account.pk)
    assert set(results) == {stored.access_token}
    assert stored.token_version == account.token_version + 1
    assert emulator.token_state(stored.refresh_token) == "active"
    comments = emulator.requests(f"/api/v2/issues/{issue_id}/comments", method="POST")
    assert [r.status for r in comments] == [201] * 4  # every process used the new token
    assert {a.pk for a in posted} == set(SeeClickFixAction.objects.values_list("pk", flat=True))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_disconnect_racing_a_refresh_in_flight_leaves_no_live_grant(
    scf_emulator_settings, django_user_model, eager_tasks
):
    """The refresh holds the row lock while SeeClickFix answers; the disconnect waits for it,
    then deletes and revokes the *new* tokens. Nothing usable survives anywhere."""
    emulator = scf_emulator_settings
    user = django_user_model.objects.create_user("ada")
    account = linked_account(emulator, user, expires_in=60)
    old_access, old_refresh = account.access_token, account.refresh_token
    in_flight = RefreshInFlight(emulator, account)
    result = unlinking.unlink_account(SeeClickFixAccount.objects.get(pk=account.pk))
    assert in_flight.done.is_set()  # the disconnect waited for the refresh's row lock
    new_access = in_flight.result()
    assert result.unlinked
    assert new_access != old_access
    stored = SeeClickFixAccount.objects.get(pk=account.pk)
    assert stored.status == AccountStatus.REVOKED
    assert stored.__dict__["access_token"] is None
    assert stored.__dict__["refresh_token"] is None
    for token in (old_access, old_refresh, new_access):
        assert emulator.token_state(token) != "active", token
    with pytest.raises(ReauthRequired):
        tokens.client_for_user(user)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_reconnect_racing_a_refresh_in_flight_keeps_the_reconnects_tokens(
    scf_emulator_settings, django_user_model
):
    """The user reconnects while a worker refreshes the old link: whichever order the row
    lock imposes, the stored tokens are the newest grant, and the token version only grows."""
    emulator = scf_emulator_settings
    user = django_user_model.objects.create_user("ada")
    account = linked_account(emulator, user, expires_in=60)
    in_flight = RefreshInFlight(emulator, account)
    grant = fresh_grant(emulator, "resident")  # what the reconnect's code exchange returned
    linking.link_account(user=user, social_account=None, tokens=grant, profile=account.profile)
    in_flight.result()
    stored = SeeClickFixAccount.objects.get(pk=account.pk)
    assert stored.access_token == grant.access_token  # the reconnect came last: it wins
    assert stored.refresh_token == grant.refresh_token
    assert stored.token_version == account.token_version + 2  # refresh, then reconnect
    assert stored.status == AccountStatus.ACTIVE
