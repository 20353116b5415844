"""A sync under every fault the emulator can inject, and the run after it.

One linked account with 250 issues (three pages of 100). Each fault strikes in the middle of
a sync (after the first page was stored) or at its start (the token refresh). For each:

* the sync ends complete, or in a clear, visible state: an error of the retryable kind with
  ``last_sync_error`` set, or the link marked ``reauth_required`` (and the signal sent once);
* it sends a bounded number of requests (no busy loop): the client never retries on its own,
  and while SeeClickFix's ``Retry-After`` runs, nothing is sent at all;
* the next run (after the fault passed, the pause ended, or the user reconnected) completes;
* at the end every issue is stored exactly once: nothing lost, nothing duplicated.

``sync.run_sync`` is what the ``sync_account`` task runs; how the task turns these errors into
retries is tested in ``tests/jobs/test_tasks.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.test import override_settings
from django.utils import timezone

from django_seeclickfix import linking, sync, tokens
from django_seeclickfix.exceptions import RateLimited, TransientError
from django_seeclickfix.models import AccountStatus, SeeClickFixAccount, SeeClickFixIssue
from django_seeclickfix.signals import reauth_required
from django_seeclickfix.task_base import RETRYABLE
from django_seeclickfix.testing.configure import emulator_settings
from tests.jobs.conftest import assert_no_duplicates, link_emulator_user

from .conftest import fresh_grant

pytestmark = pytest.mark.django_db

ISSUES = 250
LISTING = r"^/api/v2/profile/issues"
TOKEN = r"^/oauth/token$"


@dataclass
class Linked:
    emulator: Any
    scf_user: Any
    account: SeeClickFixAccount
    on_commit: Any  # pytest-django's django_capture_on_commit_callbacks

    def requests(self, since: int) -> list[Any]:
        return [r for r in self.emulator.requests() if r.seq > since]

    def last_seq(self) -> int:
        log = self.emulator.requests()
        return log[-1].seq if log else 0

    def fresh(self) -> SeeClickFixAccount:
        return SeeClickFixAccount.objects.select_related("user").get(pk=self.account.pk)

    def expire_soon(self, seconds: float) -> None:
        # A 7200 s token near its end (the refresh margin is clamped to the token's lifetime).
        expires_at = timezone.now() + timedelta(seconds=seconds)
        SeeClickFixAccount.objects.filter(pk=self.account.pk).update(
            expires_at=expires_at, token_issued_at=expires_at - timedelta(seconds=7200)
        )

    def reconnect(self) -> None:
        """The user connects SeeClickFix again: fresh tokens on the same row."""
        linking.link_account(
            user=self.account.user,
            social_account=None,
            tokens=fresh_grant(self.emulator, self.scf_user),
            profile={"id": self.scf_user.id, "name": self.scf_user.name},
        )


@pytest.fixture
def linked(scf_emulator, django_user_model, django_capture_on_commit_callbacks):
    configured = emulator_settings(
        scf_emulator,
        READ_TIMEOUT=0.4,
        REQUEST_DEADLINE=2,
        RATE_LIMIT_MAX_WAIT=0.1,  # a pause longer than this refuses at once instead of waiting
        PER_PAGE=100,
    )
    with override_settings(**configured):
        scf_user = scf_emulator.generate_users(1, prefix="faults")[0]
        now = timezone.now()
        for n in range(ISSUES):
            scf_emulator.add_issue(
                scf_user,
                summary=f"Issue {n}",
                status=("open", "acknowledged", "closed", "archived")[n % 4],
                created_at=now - timedelta(days=400, minutes=n),
                updated_at=now - timedelta(days=300, minutes=ISSUES - n),
            )
        account = link_emulator_user(
            scf_emulator, scf_user, django_user_model.objects.create_user("faults")
        )
        scf_emulator.clear_log()
        yield Linked(scf_emulator, scf_user, account, django_capture_on_commit_callbacks)


def after_first_page(action: Callable[[], None]) -> Any:
    """Patch the upsert so that ``action`` (the fault) happens once page 1 is stored."""
    real = sync.upsert_issues
    calls: list[int] = []

    def upsert(*args: Any, **kwargs: Any) -> int:
        stored = real(*args, **kwargs)
        calls.append(stored)
        if len(calls) == 1:
            action()
        return stored

    return mock.patch.object(sync, "upsert_issues", upsert)


def assert_every_issue_once(linked: Linked) -> None:
    stored = SeeClickFixIssue.objects.filter(account=linked.account)
    assert stored.count() == ISSUES
    assert_no_duplicates()
    expected = {i.id for i in linked.emulator.state.issues_by_reporter[linked.scf_user.id]}
    assert set(stored.values_list("scf_id", flat=True)) == expected


def run(linked: Linked) -> tuple[dict[str, Any] | BaseException, list[Any]]:
    """One sync as the task runs it: its outcome (or error) and the requests it sent."""
    since = linked.last_seq()
    # The test runs in one transaction: run what would run on commit (signals) at the end.
    with linked.on_commit(execute=True):
        try:
            outcome: dict[str, Any] | BaseException = sync.run_sync(linked.account.pk)
        except Exception as err:
            outcome = err
    return outcome, linked.requests(since)


def complete(outcome: Any) -> bool:
    return isinstance(outcome, dict) and outcome.get("outcome") in ("synced", "unchanged")


MID_SYNC_FAULTS = {
    "slow-beyond-timeout": ("latency", {"delay": 1.0}),
    "connection-reset": ("reset", {}),
    "truncated-body": ("truncate", {}),
    "malformed-json": ("malformed_json", {}),
    "5xx": ("error", {"status": 503}),
}


@pytest.mark.parametrize("name", sorted(MID_SYNC_FAULTS))
def test_a_fault_mid_sync_stops_visibly_and_the_next_run_completes(linked, name):
    kind, params = MID_SYNC_FAULTS[name]
    with after_first_page(lambda: linked.emulator.faults.add(LISTING, kind, count=1, **params)):
        outcome, sent = run(linked)
    assert isinstance(outcome, TransientError), outcome
    assert isinstance(outcome, RETRYABLE)  # the task retries it with backoff
    assert len(sent) == 3  # /profile, page 1, the page that failed: never a retry in place
    account = linked.fresh()
    assert account.status == AccountStatus.ACTIVE
    assert account.last_sync_error.startswith("TransientError")
    assert account.sync_cursor is not None  # page 1 stays stored
    assert SeeClickFixIssue.objects.count() == 100

    outcome, sent = run(linked)
    assert complete(outcome), outcome
    assert all("updated_at_after" in r.query for r in sent if "/profile/issues" in r.path)
    assert linked.fresh().last_sync_error == ""
    assert_every_issue_once(linked)


def test_a_burst_of_5xx_fails_one_request_per_run_until_it_passes(linked):
    with after_first_page(lambda: linked.emulator.faults.add(LISTING, "error", count=5)):
        runs = [run(linked)]
        while not complete(runs[-1][0]):
            assert len(runs) <= 6, "the burst of five should be over by the sixth run"
            runs.append(run(linked))
    failed = runs[:-1]
    assert len(failed) == 5
    assert all(isinstance(outcome, TransientError) for outcome, _ in failed)
    # Each later failing run spent one request: the first listing page, refused.
    assert [len(sent) for _, sent in failed[1:]] == [1, 1, 1, 1]
    assert_every_issue_once(linked)


@pytest.mark.parametrize("retry_after_format", ["seconds", "http-date"])
def test_429_pauses_everything_for_retry_after_then_the_next_run_completes(
    linked, retry_after_format
):
    wait = 2
    with after_first_page(
        lambda: linked.emulator.faults.add(
            LISTING,
            "rate_limit",
            count=1,
            retry_after=wait,
            retry_after_format=retry_after_format,
        )
    ):
        outcome, sent = run(linked)
    hit = time.monotonic()
    assert isinstance(outcome, RateLimited), outcome
    assert 1 <= outcome.retry_after <= wait + 1  # an HTTP date has whole seconds
    assert len(sent) == 3
    assert linked.fresh().last_sync_error.startswith("RateLimited")

    # While the pause lasts, a run sends nothing at all: no busy loop against a 429.
    outcome, sent = run(linked)
    assert isinstance(outcome, RateLimited)
    assert sent == []

    time.sleep(max(0.0, outcome.retry_after - (time.monotonic() - hit)) + 0.1)
    outcome, sent = run(linked)
    assert complete(outcome), outcome
    assert_every_issue_once(linked)


def test_an_expired_token_mid_sync_is_refreshed_and_the_sync_completes_in_one_run(linked):
    with after_first_page(lambda: linked.emulator.advance(7201)):
        outcome, sent = run(linked)
    assert complete(outcome), outcome
    assert [r.path for r in sent].count("/oauth/token") == 1
    assert linked.emulator.token_requests("refresh_token") == 1
    assert_every_issue_once(linked)


class ReauthSignals:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def __call__(self, sender: Any, account: Any, reason: str, **kwargs: Any) -> None:
        self.sent.append(reason)


@pytest.fixture
def reauth_signals() -> Any:
    receiver = ReauthSignals()
    reauth_required.connect(receiver, dispatch_uid="security-faults")
    yield receiver
    reauth_required.disconnect(dispatch_uid="security-faults")


def assert_needs_reconnecting_then_recovers(linked: Linked, outcome: Any) -> None:
    assert outcome == {"account_id": linked.account.pk, "outcome": "reauth_required"}
    account = linked.fresh()
    assert account.status == AccountStatus.REAUTH_REQUIRED
    assert account.last_sync_error.startswith("ReauthRequired")
    # Until the user reconnects, runs send nothing.
    outcome, sent = run(linked)
    assert outcome["outcome"] == "skipped"
    assert sent == []
    linked.reconnect()
    outcome, _ = run(linked)
    assert complete(outcome), outcome
    assert_every_issue_once(linked)


def test_a_token_revoked_mid_sync_marks_the_link_and_a_reconnect_completes_it(
    linked, reauth_signals
):
    with after_first_page(lambda: linked.emulator.revoke(linked.account.access_token)):
        outcome, sent = run(linked)
    # The refused page, one refresh attempt (refused: revoking a token revokes its pair).
    assert [r.path for r in sent].count("/oauth/token") == 1
    assert len(sent) <= 4
    assert len(reauth_signals.sent) == 1
    assert SeeClickFixIssue.objects.count() == 100
    assert_needs_reconnecting_then_recovers(linked, outcome)


def test_refresh_refused_with_invalid_grant_marks_the_link_once(linked, reauth_signals):
    linked.expire_soon(30)
    linked.emulator.faults.add(TOKEN, "status", status=400, body={"error": "invalid_grant"})
    outcome, sent = run(linked)
    assert [r.path for r in sent] == ["/oauth/token"]
    assert len(reauth_signals.sent) == 1
    outcome_again, _ = run(linked)
    assert outcome_again["outcome"] == "skipped"
    assert len(reauth_signals.sent) == 1  # once, however many runs notice
    linked.emulator.faults.clear()
    assert_needs_reconnecting_then_recovers(linked, outcome)


def _revoked_on_use(emulator: Any) -> None:
    """Doorkeeper's refresh_token_revoked_on_use on the app: the old pair lives until the new
    access token is first used."""
    from django_seeclickfix.testing.emulator import CODE_APP_ID, CODE_APP_SECRET

    app = emulator.app(CODE_APP_ID)
    emulator.register_app(
        CODE_APP_ID, CODE_APP_SECRET, app.redirect_uris, refresh_token_revoked_on_use=True
    )


# (regime, token, fault) -> the outcome of each run until it is settled. A timed-out refresh
# was still processed by SeeClickFix (latency delays the real answer): under rotation the
# stored pair is then dead and only the user can fix it, which the link says; with
# refresh_token_revoked_on_use (or a reset before SeeClickFix processed anything) the next
# run recovers on its own.
REFRESH_FAULTS = {
    ("rotation", "expired", "timeout"): ["TransientError", "reauth_required"],
    ("rotation", "valid", "timeout"): ["reauth_required"],
    ("rotation", "expired", "reset"): ["TransientError", "synced"],
    ("revoked-on-use", "expired", "timeout"): ["TransientError", "synced"],
    ("revoked-on-use", "valid", "timeout"): ["synced"],
}


@pytest.mark.parametrize(
    ("regime", "token", "fault"),
    sorted(REFRESH_FAULTS),
    ids=["-".join(case) for case in sorted(REFRESH_FAULTS)],
)
def test_a_refresh_that_times_out_ends_complete_or_visible_and_then_recovers(
    linked, reauth_signals, regime, token, fault
):
    if regime == "revoked-on-use":
        _revoked_on_use(linked.emulator)
    linked.expire_soon(-5 if token == "expired" else 60)  # expired, or due but still valid
    params = {"delay": 1.0} if fault == "timeout" else {}
    linked.emulator.faults.add(
        TOKEN, "latency" if fault == "timeout" else "reset", count=1, **params
    )
    outcomes = []
    for _ in REFRESH_FAULTS[(regime, token, fault)]:
        outcome, sent = run(linked)
        outcomes.append(outcome if isinstance(outcome, dict) else type(outcome).__name__)
        assert [r.path for r in sent].count("/oauth/token") <= 2  # no refresh loop
        if isinstance(outcome, TransientError):
            assert linked.fresh().status == AccountStatus.ACTIVE  # retry, not reconnect
            assert linked.fresh().last_sync_error.startswith("TransientError")
    names = [o["outcome"] if isinstance(o, dict) else o for o in outcomes]
    assert names == REFRESH_FAULTS[(regime, token, fault)]
    if names[-1] == "reauth_required":
        assert len(reauth_signals.sent) == 1
        assert_needs_reconnecting_then_recovers(linked, outcomes[-1])
    else:
        assert reauth_signals.sent == []
        assert_every_issue_once(linked)


class Crash(BaseException):
    """The worker dies (SIGKILL, OOM) between SeeClickFix's answer and the commit."""


def test_a_crash_between_a_rotating_refresh_and_its_commit_ends_in_reauth_not_a_loop(
    linked, reauth_signals
):
    """With rotation, SeeClickFix retires the old refresh token when it answers; if the worker
    dies before committing the new pair, the stored refresh token is dead. The next run must
    end visibly (reauth_required), not retry for ever; reconnecting recovers."""
    linked.expire_soon(30)
    with mock.patch.object(tokens, "write_tokens", side_effect=Crash), pytest.raises(Crash):
        sync.run_sync(linked.account.pk)
    assert linked.fresh().refresh_token == linked.account.refresh_token  # rolled back
    outcome, sent = run(linked)
    assert [r.path for r in sent] == ["/oauth/token"]
    assert linked.emulator.counters.get("oauth.refresh_reuse", 0) == 1
    assert len(reauth_signals.sent) == 1
    assert_needs_reconnecting_then_recovers(linked, outcome)
