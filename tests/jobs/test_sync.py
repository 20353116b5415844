"""sync.py against a fake SeeClickFix over real HTTP (responses): what a site would notice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_seeclickfix import sync
from django_seeclickfix.exceptions import ReauthRequired, TransientError
from django_seeclickfix.models import AccountStatus, SeeClickFixAccount, SeeClickFixIssue
from django_seeclickfix.signals import account_synced

from .conftest import T0, jobs_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(make_account, fake_scf):
    return make_account(user_scf_id=fake_scf.user_id)


def rows(account):
    return {i.scf_id: i for i in SeeClickFixIssue.objects.filter(account=account)}


def test_cold_sync_stores_profile_every_issue_and_the_cursor(account, fake_scf):
    fake_scf.add_many(150)

    result = sync.sync_now(account)

    stored = rows(account)
    assert sorted(stored) == list(range(1, 151))
    assert SeeClickFixIssue.objects.count() == 150
    newest = T0 + timedelta(minutes=149)
    assert result.cursor == newest
    account.refresh_from_db()
    assert account.sync_cursor == newest
    assert account.profile["name"] == "Jo Resident"
    assert account.profile_synced_at is not None
    assert account.last_synced_at is not None
    issue = stored[7]
    assert issue.summary == "Pothole"
    assert issue.status == "open"
    assert issue.scf_updated_at == T0 + timedelta(minutes=6)
    assert issue.reporter_scf_id == fake_scf.user_id
    assert issue.raw["id"] == 7
    assert (result.pages, result.issues, result.requests) == (2, 150, 3)
    assert result.profile_refreshed
    assert not result.unchanged


def test_unchanged_account_costs_exactly_one_request(account, fake_scf):
    fake_scf.add_many(30)
    sync.sync_now(account)

    for _ in range(2):  # a short page with the boundary issue, then a 304
        before = len(fake_scf.mock.calls)
        result = sync.sync_now(account)
        assert len(fake_scf.mock.calls) - before == 1
        assert result.requests == 1
        assert result.unchanged
        assert not result.profile_refreshed
    assert SeeClickFixIssue.objects.count() == 30


def test_incremental_sync_asks_from_the_cursor_and_picks_up_scf_side_changes(account, fake_scf):
    fake_scf.add_many(20)
    sync.sync_now(account)
    later = T0 + timedelta(days=2)
    fake_scf.issues[3].updated_at = later
    fake_scf.issues[3].status = "Closed"
    fake_scf.issues[5].updated_at = later + timedelta(seconds=1)
    fake_scf.issues[5].summary = "Pothole (bigger)"
    fake_scf.add(99, later + timedelta(seconds=2))

    result = sync.sync_now(account)

    last_url = fake_scf.mock.calls[-1].request.url
    assert "updated_at_after=2024-03-01T12%3A19%3A00Z" in last_url
    assert "sort=updated_at" in last_url
    assert "sort_direction=ASC" in last_url
    stored = rows(account)
    assert stored[3].status == "closed"
    assert stored[5].summary == "Pothole (bigger)"
    assert 99 in stored
    assert len(stored) == 21
    assert result.cursor == later + timedelta(seconds=2)
    assert not result.unchanged


def test_boundary_issue_comes_again_and_is_stored_once(account, fake_scf):
    fake_scf.add_many(5)
    sync.sync_now(account)
    boundary = fake_scf.issues[5]
    # Changed again within the same second as the cursor: only the boundary repeat shows it.
    boundary.summary = "Edited in the same second"

    sync.sync_now(account)

    assert SeeClickFixIssue.objects.filter(scf_id=5).count() == 1
    assert rows(account)[5].summary == "Edited in the same second"


def test_an_issue_changed_exactly_at_the_cursor_is_new_the_boundary_repeat_is_not(
    account, fake_scf
):
    """``updated_after`` is inclusive, so a listing from the cursor holds issues changed in
    the cursor's own second. The boundary issue read again is nothing new; but after a
    complete walk the cursor is one second past the last change (``Page.cursor``), and an
    issue changed exactly in that second is new."""
    fake_scf.add_many(3)
    sync.sync_now(account)
    boundary = T0 + timedelta(minutes=2)  # issue 3, the newest: the cursor
    assert SeeClickFixAccount.objects.get(pk=account.pk).sync_cursor == boundary

    repeat = sync.sync_now(account)  # the boundary issue alone, read again
    assert (repeat.pages, repeat.issues) == (1, 1)
    assert repeat.unchanged

    past = boundary + timedelta(seconds=1)  # where a complete walk leaves the cursor
    SeeClickFixAccount.objects.filter(pk=account.pk).update(sync_cursor=past)
    account.refresh_from_db()
    fake_scf.add(4, past)
    at_cursor = sync.sync_now(account)
    assert at_cursor.issues == 1
    assert not at_cursor.unchanged
    assert rows(account)[4].scf_updated_at == past
    assert sync.sync_now(account).unchanged  # now stored as listed (a 304 here)


def test_a_change_later_in_the_cursors_second_is_new(account, fake_scf):
    fake_scf.add_many(3)
    sync.sync_now(account)
    fake_scf.add(4, T0 + timedelta(minutes=2))  # the cursor's second, after issue 3
    result = sync.sync_now(account)
    assert result.issues == 2
    assert not result.unchanged


def test_running_a_sync_twice_changes_nothing(account, fake_scf):
    fake_scf.add_many(12)
    sync.sync_now(account)
    first = {
        i.scf_id: (i.summary, i.status, i.scf_updated_at, i.raw, i.first_synced_at)
        for i in SeeClickFixIssue.objects.all()
    }
    cursor = SeeClickFixAccount.objects.get(pk=account.pk).sync_cursor

    sync.sync_now(account)

    again = {
        i.scf_id: (i.summary, i.status, i.scf_updated_at, i.raw, i.first_synced_at)
        for i in SeeClickFixIssue.objects.all()
    }
    assert again == first
    assert SeeClickFixAccount.objects.get(pk=account.pk).sync_cursor == cursor


def test_5xx_mid_pagination_keeps_committed_pages_and_the_retry_resumes(account, fake_scf):
    fake_scf.add_many(250)
    fake_scf.fail_issue_requests = {2}

    with pytest.raises(TransientError):
        sync.sync_now(account)

    account.refresh_from_db()
    assert SeeClickFixIssue.objects.count() == 100  # page one committed with its cursor
    assert account.sync_cursor == T0 + timedelta(minutes=99)
    assert account.last_synced_at is None

    result = sync.sync_now(account)

    assert SeeClickFixIssue.objects.count() == 250
    assert sorted(rows(account)) == list(range(1, 251))
    assert "updated_at_after=2024-03-01T13%3A39%3A00Z" in fake_scf.mock.calls[-3].request.url
    assert result.cursor == T0 + timedelta(minutes=249)


def test_revoked_token_marks_the_link_and_stores_nothing(account, fake_scf):
    fake_scf.add_many(3)
    fake_scf.token_valid = False

    with pytest.raises(ReauthRequired):
        sync.sync_now(account)

    account.refresh_from_db()
    assert account.status == AccountStatus.REAUTH_REQUIRED
    assert SeeClickFixIssue.objects.count() == 0


def test_profile_is_refreshed_only_when_older_than_profile_max_age(account, fake_scf):
    account.profile_synced_at = timezone.now() - timedelta(seconds=50)
    account.save()
    with override_settings(SEECLICKFIX=jobs_settings(PROFILE_MAX_AGE=60)):
        assert not sync.sync_now(account).profile_refreshed
        assert fake_scf.calls_to("/profile") == 0
        account.profile_synced_at = timezone.now() - timedelta(seconds=61)
        account.save()
        assert sync.sync_now(account).profile_refreshed
        assert fake_scf.calls_to("/profile") == 1


def test_a_profile_of_another_user_stops_the_sync(account, fake_scf):
    fake_scf.user_id = account.user_scf_id + 1
    fake_scf.add_many(2)

    with pytest.raises(ReauthRequired):
        sync.sync_now(account)

    account.refresh_from_db()
    assert account.status == AccountStatus.REAUTH_REQUIRED
    assert SeeClickFixIssue.objects.count() == 0


def test_issues_gone_from_scf_are_kept_and_counted_by_a_full_sync(account, fake_scf):
    fake_scf.add_many(6)
    sync.sync_now(account)
    del fake_scf.issues[2]

    incremental = sync.sync_now(account)
    assert incremental.missing is None
    full = sync.sync_now(account, full=True)

    assert full.missing == 1
    assert 2 in rows(account)  # never deleted
    assert SeeClickFixIssue.objects.get(scf_id=2).last_synced_at < (
        SeeClickFixIssue.objects.get(scf_id=3).last_synced_at
    )
    assert fake_scf.mock.calls[-1].request.url.count("updated_at_after") == 0


def test_a_full_sync_of_an_unchanged_account_reads_everything_and_reports_nothing_gone(
    account, fake_scf
):
    fake_scf.add_many(5)
    sync.sync_now(account)
    assert sync.sync_now(account).unchanged  # the incremental walk's 304 or short page

    full = sync.sync_now(account, full=True)

    assert full.missing == 0
    assert full.issues == 5
    assert full.unchanged  # everything read again, nothing new
    assert full.outcome == "unchanged"
    assert "If-None-Match" not in fake_scf.mock.calls[-1].request.headers


def test_a_full_sync_that_brings_a_change_is_synced(account, fake_scf):
    fake_scf.add_many(3)
    sync.sync_now(account)
    fake_scf.add(9, T0 + timedelta(hours=1))

    full = sync.sync_now(account, full=True)

    assert (full.outcome, full.missing, full.issues) == ("synced", 0, 4)


def test_an_anonymous_own_report_is_stored_with_the_account_user_as_reporter(account, fake_scf):
    # The real service lists a user's own anonymous report with the placeholder reporter 0.
    fake_scf.add(1, T0).reporter_id = 0
    sync.sync_now(account)
    assert SeeClickFixIssue.objects.get(scf_id=1).reporter_scf_id == account.user_scf_id


def test_account_synced_is_sent_with_the_summary(
    account, fake_scf, django_capture_on_commit_callbacks
):
    fake_scf.add_many(4)
    received = []

    def receiver(sender, account, summary, **kwargs):
        received.append((account.pk, summary))

    account_synced.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            sync.sync_now(account)
    finally:
        account_synced.disconnect(receiver)
    assert received == [(account.pk, received[0][1])]
    summary = received[0][1]
    assert summary["issues"] == 4
    assert summary["outcome"] == "synced"
    assert summary["cursor"] == (T0 + timedelta(minutes=3)).isoformat()


def _queries_for_one_page(account, fake_scf, size: int, *, at_cursor: bool = False) -> int:
    """Queries of a sync reading one page of ``size`` new issues: a cold one, or (``at_cursor``)
    one whose issues all changed in the cursor's second (each checked against stored rows)."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    SeeClickFixIssue.objects.all().delete()
    SeeClickFixAccount.objects.filter(pk=account.pk).update(
        sync_cursor=start if at_cursor else None, profile_synced_at=timezone.now()
    )
    account.refresh_from_db()
    fake_scf.issues.clear()
    if at_cursor:
        for n in range(size):
            fake_scf.add(size * 1000 + n, start)
    else:
        fake_scf.add_many(size, start=start, first_id=size * 1000)
    with CaptureQueriesContext(connection) as captured:
        result = sync.sync_now(account)
    assert result.pages == 1
    assert result.issues == size
    assert not result.unchanged
    return len(captured.captured_queries)


def test_queries_per_page_do_not_grow_with_the_page_size(account, fake_scf):
    # 10 and 50: one statement on SQLite too (Django splits inserts at 999 parameters there,
    # which 100 issues of 17 columns pass; PostgreSQL has no such split: see the next test).
    cold = _queries_for_one_page(account, fake_scf, 10)
    assert cold == _queries_for_one_page(account, fake_scf, 50)
    # Issues in the cursor's second cost one more query (are they stored as listed?), once.
    at_cursor = _queries_for_one_page(account, fake_scf, 10, at_cursor=True)
    assert at_cursor == _queries_for_one_page(account, fake_scf, 50, at_cursor=True)
    assert at_cursor == cold + 1 <= 10


@pytest.mark.postgres
def test_queries_per_page_are_the_same_for_10_and_100_issues_on_postgresql(account, fake_scf):
    cold = _queries_for_one_page(account, fake_scf, 10)
    assert cold == _queries_for_one_page(account, fake_scf, 100)
    at_cursor = _queries_for_one_page(account, fake_scf, 10, at_cursor=True)
    assert at_cursor == _queries_for_one_page(account, fake_scf, 100, at_cursor=True)
    assert at_cursor == cold + 1 <= 10
