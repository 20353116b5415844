"""The planner's rules, counted: capacity, expected costs, priorities, pacing, no starvation."""

from __future__ import annotations

import itertools
import math
from datetime import timedelta
from typing import Any

import pytest
from celery.exceptions import Retry
from django.test import override_settings
from django.utils import timezone

from django_seeclickfix import scheduling, tokens
from django_seeclickfix.exceptions import RateLimited
from django_seeclickfix.models import SeeClickFixAccount
from django_seeclickfix.task_base import seeclickfix_task
from tests.celery_app import app as celery_app

from .conftest import jobs_settings

pytestmark = pytest.mark.django_db

# SeeClickFix's own limit: what the planner's defaults are sized for.
REAL_BUDGET = {"RATE_LIMIT_REQUESTS": 20, "RATE_LIMIT_PERIOD": 60}


def real_budget(**extra: Any) -> Any:
    return override_settings(SEECLICKFIX=jobs_settings(**REAL_BUDGET, **extra))


@pytest.fixture
def settled(make_account):
    """Accounts synced before, profile fresh, token valid for days: each sync costs its
    listing pages only. ``settled(n, changes=…)`` makes ``n``, most overdue first."""

    def make(n: int, *, changes: int = 0, **fields: Any) -> list[SeeClickFixAccount]:
        now = timezone.now()
        made = []
        for i in range(n):
            account = make_account(
                last_synced_at=now - timedelta(hours=2),
                profile_synced_at=now,
                expires_at=now + timedelta(days=5),
                last_sync_changes=changes,
                **fields,
            )
            SeeClickFixAccount.objects.filter(pk=account.pk).update(
                next_sync_at=now - timedelta(seconds=n - i)
            )
            made.append(account)
        return made

    return make


def test_the_default_budget_less_the_reserve_is_what_a_pass_plans():
    with real_budget():
        # 20 a minute, 5 % kept for interactive work, over a 300 s pass.
        assert scheduling.pass_capacity() == pytest.approx(95.0)
        assert scheduling.rate() == pytest.approx(20 / 60 * 0.95)
    with real_budget(RATE_LIMIT_RESERVE=0.25):
        assert scheduling.pass_capacity() == pytest.approx(75.0)


def test_a_pass_fills_the_budget_at_each_accounts_cost(settled):
    settled(60, changes=150)  # 150 changes last time: 2 pages of 100 each
    with real_budget():
        plan = scheduling.plan_pass()
    assert len(plan.planned) == 47
    assert plan.requests == 94
    assert plan.requests / plan.capacity >= 0.95
    assert {p.cost for p in plan.planned} == {2}


def test_a_pass_does_not_overspend_when_syncs_cost_more_than_one_request(settled):
    # The 0.1 pass sized its batch at one request per account and spent 2-3x its budget.
    settled(200)
    now = timezone.now()
    SeeClickFixAccount.objects.update(expires_at=now + timedelta(minutes=1), profile_synced_at=None)
    with real_budget():
        plan = scheduling.plan_pass(now)
    assert {p.cost for p in plan.planned} == {3}  # refresh + profile + one listing page
    assert len(plan.planned) == 31
    assert plan.requests == 93 <= plan.capacity


def test_the_expected_cost_counts_refresh_profile_and_pages(make_account):
    now = timezone.now()
    account = make_account(
        last_synced_at=now - timedelta(hours=1),
        profile_synced_at=now,
        expires_at=now + timedelta(days=1),
        last_sync_changes=0,
    )
    with real_budget():
        assert scheduling.expected_cost(account, now) == 1
        account.last_sync_changes = 250
        assert scheduling.expected_cost(account, now) == 3  # ceil(250 / 100)
        account.profile_synced_at = now - timedelta(days=2)
        assert scheduling.expected_cost(account, now) == 4  # older than PROFILE_MAX_AGE
        account.expires_at = now + timedelta(seconds=30)
        assert scheduling.expected_cost(account, now) == 5  # within TOKEN_REFRESH_MARGIN
        account.expires_at = None  # a token that never expires is never refreshed
        assert scheduling.expected_cost(account, now) == 4


def test_a_short_lived_token_is_costed_with_the_margin_its_refresh_uses(make_account):
    # A 4-minute token: the refresh clamps the 300 s margin to half its lifetime (120 s), so
    # one minute on it needs no refresh; the raw setting would have counted one.
    now = timezone.now()
    account = make_account(
        last_synced_at=now - timedelta(hours=1),
        profile_synced_at=now,
        token_issued_at=now,
        expires_at=now + timedelta(minutes=4),
        last_sync_changes=0,
    )
    soon, later = now + timedelta(minutes=1), now + timedelta(seconds=150)
    with real_budget(TOKEN_REFRESH_MARGIN=300):
        assert tokens.refresh_margin(account) == timedelta(minutes=2)
        assert (tokens.refresh_due(account, soon), tokens.refresh_due(account, later)) == (
            False,
            True,
        )
        assert scheduling.expected_cost(account, soon) == 1
        assert scheduling.expected_cost(account, later) == 2  # its refresh, then the listing


def test_a_pass_plans_short_lived_tokens_without_a_refresh_each(settled):
    now = timezone.now()
    settled(10)
    SeeClickFixAccount.objects.update(token_issued_at=now, expires_at=now + timedelta(minutes=10))
    # 10-minute tokens and a 900 s margin: the refresh waits until 5 minutes are left, after
    # this 60 s pass; planned at the raw margin, every sync would have counted a refresh.
    with real_budget(SYNC_PASS_INTERVAL=60, TOKEN_REFRESH_MARGIN=900):
        plan = scheduling.plan_pass(now)
    assert {p.cost for p in plan.planned} == {1}


def test_a_first_sync_is_costed_from_the_profiles_issue_count(make_account):
    now = timezone.now()
    account = make_account(expires_at=now + timedelta(days=1), profile_synced_at=now)
    with real_budget():
        assert scheduling.expected_cost(account, now, {"reported_issue_count": 0}) == 1
        # 340 issues: 4 pages, and one more to learn nothing changed since.
        assert scheduling.expected_cost(account, now, {"reported_issue_count": 340}) == 5
        assert scheduling.expected_cost(account, now, {"reported_issue_count": "many"}) == 1


def test_the_area_feed_is_planned_before_the_per_user_syncs(settled):
    settled(100)
    areas = [{"NAME": f"area {n}", "PLACE_URL": f"town-{n}"} for n in range(3)]
    with real_budget(AREAS=areas, FEED_INTERVAL=100):
        assert scheduling.feed_cost() == 9  # 3 areas, 3 feed passes until the next pass
        plan = scheduling.plan_pass()
        per_request = 1 / scheduling.rate()
    assert plan.feed == 9
    assert len(plan.planned) == 95 - 9
    # The first sync waits for the feed's requests: 9 of them at the planner's rate.
    assert plan.planned[0].countdown == pytest.approx(9 * per_request, abs=0.01)


def test_the_most_overdue_accounts_go_first(settled):
    accounts = settled(120)
    with real_budget():
        plan = scheduling.plan_pass()
    assert [p.account_id for p in plan.planned] == [a.pk for a in accounts[:95]]


def test_countdowns_spread_the_plan_over_the_pass_at_the_budgets_rate(settled):
    settled(60, changes=150)
    with real_budget():
        plan = scheduling.plan_pass()
        per_request = 1 / scheduling.rate()
    gaps = [b.countdown - a.countdown for a, b in itertools.pairwise(plan.planned)]
    assert gaps == pytest.approx([2 * per_request] * len(gaps), abs=0.01)
    assert plan.planned[0].countdown == 0
    assert plan.planned[-1].countdown < 300  # every planned sync starts before the next pass


def test_no_account_starves_over_repeated_passes(settled):
    """Each pass takes the most overdue; a synced account goes to the back of the line, so
    every one of 300 accounts is served within ceil(300 / 95) passes, and none twice first."""
    accounts = settled(300)
    served: dict[int, int] = {}
    now = timezone.now()
    with real_budget(SYNC_INTERVAL=3600):
        for pass_number in range(math.ceil(300 / 95)):
            plan = scheduling.plan_pass(now)
            for item in plan.planned:
                assert item.account_id not in served
                served[item.account_id] = pass_number
                scheduling.sync_ended(item.account_id, started=now, changes=0)
            now += timedelta(seconds=300)
        assert set(served) == {a.pk for a in accounts}
        # Synced an hour apart: the next passes have nothing to do.
        assert scheduling.plan_pass(now).planned == ()


def test_an_account_with_changes_comes_back_twice_as_soon(settled):
    quiet, busy = settled(2)
    started = timezone.now()
    with real_budget(SYNC_INTERVAL=3600):
        scheduling.sync_ended(quiet.pk, started=started, changes=0)
        scheduling.sync_ended(busy.pk, started=started, changes=7)
    quiet.refresh_from_db()
    busy.refresh_from_db()
    assert (quiet.next_sync_at - started).total_seconds() == pytest.approx(3600, abs=5)
    assert (busy.next_sync_at - started).total_seconds() == pytest.approx(1800, abs=5)
    assert busy.last_sync_changes == 7


def test_a_pass_plans_nothing_already_queued(settled):
    settled(10)
    with real_budget():
        first = scheduling.plan_pass()
        second = scheduling.plan_pass()
    assert len(first.planned) == 10
    assert second.planned == ()


@seeclickfix_task(name="tests.planner.budget_loser", max_retries=1)
def budget_loser(self: Any) -> None:
    raise RateLimited("budget used up", retry_after=4.0)


def test_a_task_that_loses_the_race_for_budget_is_sent_again_without_using_a_retry(published):
    """Not a failure of the task: it keeps its retries, however often it has to wait."""
    budget_loser.push_request(
        id="t-1", retries=1, is_eager=False, called_directly=False, args=(), kwargs={}
    )
    try:
        with pytest.raises(Retry):  # scheduled again, not failed
            budget_loser()
    finally:
        budget_loser.pop_request()
    resent = [args for name, args in published if name == budget_loser.name]
    assert resent == [[]]
    assert celery_app.main == "scf_tests"


def test_a_429_from_seeclickfix_does_use_a_retry(published):
    @seeclickfix_task(name="tests.planner.answered_429", max_retries=0)
    def answered_429(self: Any) -> None:
        raise RateLimited("429", retry_after=4.0, status=429)

    answered_429.push_request(
        id="t-2", retries=0, is_eager=False, called_directly=False, args=(), kwargs={}
    )
    try:
        with pytest.raises(RateLimited):
            answered_429()  # max_retries=0: the retry is refused, the error stands
    finally:
        answered_429.pop_request()
    assert [name for name, _args in published if name == answered_429.name] == []
