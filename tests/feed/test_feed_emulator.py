"""The area feed against the emulator: real HTTP, real place filter, pagination and ETags."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import caches
from django.utils import timezone

from django_seeclickfix import feed, locks, sync, tasks
from django_seeclickfix.client.parsing import format_timestamp
from django_seeclickfix.exceptions import RateLimited, TransientError
from django_seeclickfix.models import AccountStatus, SeeClickFixAreaFeed, SeeClickFixIssue
from tests.jobs.conftest import assert_no_duplicates

from .conftest import HARTFORD, LISTING, NEW_HAVEN_AREA

pytestmark = pytest.mark.django_db


def stored_ids() -> set[int]:
    return set(SeeClickFixIssue.objects.values_list("scf_id", flat=True))


def test_changes_by_linked_users_arrive_through_the_feed(world):
    rita, rita_account = world.linked_resident("rita")
    sam, sam_account = world.linked_resident("sam")
    potholes = [world.report(rita, summary=f"Pothole {n}") for n in range(3)]
    archived = world.report(sam, summary="Old sofa", status="archived")
    since = world.last_seq()

    result = feed.run_feed()

    assert result["areas"][0]["outcome"] == "synced"
    assert stored_ids() == {i.id for i in potholes} | {archived.id}
    assert SeeClickFixIssue.objects.get(scf_id=archived.id).account == sam_account
    assert SeeClickFixIssue.objects.get(scf_id=archived.id).status == "archived"
    assert {i.account for i in SeeClickFixIssue.objects.filter(reporter_scf_id=rita.id)} == {
        rita_account
    }
    # One anonymous listing request for the whole area; no per-user request at all.
    sent = [r for r in world.emulator.requests() if r.seq > since]
    assert [(r.path, r.auth) for r in sent] == [(LISTING, "none")]
    query = sent[0].query
    assert query["place_url"] == "new-haven"
    assert query["status"] == "open,acknowledged,closed,archived"
    assert (query["sort"], query["sort_direction"], query["per_page"]) == (
        "updated_at",
        "ASC",
        "100",
    )
    state = SeeClickFixAreaFeed.objects.get(name="new-haven")
    # Past the newest change's second: the walk was complete, nothing is read twice.
    assert state.cursor == max(i.updated_at for i in [*potholes, archived]) + timedelta(seconds=1)
    assert state.last_pass_at is not None
    assert state.last_error == ""

    world.emulator.update_issue(potholes[0].id, status="closed", summary="Filled, thanks")
    since = world.last_seq()
    again = feed.run_feed()["areas"][0]

    stored = SeeClickFixIssue.objects.get(scf_id=potholes[0].id)
    assert (stored.status, stored.summary) == ("closed", "Filled, thanks")
    assert (again["changes"], again["requests"]) == (1, 1)
    request = world.listing_requests(since)[0]
    assert request.query["updated_at_after"] == format_timestamp(state.cursor)

    # Nothing new: the new cursor's first listing (empty), then its 304.
    for status in (200, 304):
        since = world.last_seq()
        quiet = feed.run_feed()["areas"][0]
        assert [r.status for r in world.listing_requests(since)] == [status]
        assert (quiet["outcome"], quiet["requests"]) == ("unchanged", 1)
    assert quiet["not_modified"]
    assert_no_duplicates()


def test_changes_by_others_are_not_stored_anywhere(world, caplog):
    caplog.set_level(logging.DEBUG)
    linked, linked_account = world.linked_resident("linked")
    mine = world.report(linked, summary="Broken swing")
    strangers = [world.resident(f"stranger{n}") for n in range(3)]
    base = timezone.now() - timedelta(hours=1)
    theirs = [
        world.report(
            strangers[n % 3],
            summary=f"SECRET-{n} at my house",
            description="private",
            updated_at=base + timedelta(seconds=n),
        )
        for n in range(150)
    ]
    # Linked, but not usable here: their changes are not ours to keep either.
    for status in (AccountStatus.REVOKED, AccountStatus.REAUTH_REQUIRED):
        scf_user, _account = world.linked_resident(str(status), status=status)
        theirs.append(world.report(scf_user, summary=f"SECRET-{status}"))
    inactive, inactive_account = world.linked_resident("inactive")
    inactive_account.user.is_active = False
    inactive_account.user.save()
    theirs.append(world.report(inactive, summary="SECRET-inactive"))
    elsewhere = world.resident("elsewhere")  # linked in another environment
    world.link(elsewhere, environment="production")
    theirs.append(world.report(elsewhere, summary="SECRET-other-environment"))

    result = feed.run_feed()["areas"][0]

    assert result["changes"] == len(theirs) + 1
    assert result["pages"] == -(-result["changes"] // 20)  # anonymous: 20 per page
    assert stored_ids() == {mine.id}
    row = SeeClickFixIssue.objects.get()
    assert row.account == linked_account
    assert "SECRET" not in str(row.raw)
    assert row.raw["reporter"]["id"] == linked.id
    for text in [*(f"SECRET-{n}" for n in range(150)), "at my house", "SECRET-"]:
        assert text not in caplog.text
    assert "SeeClickFix area 'new-haven': 155 change(s)" in caplog.text  # logs were captured
    for number in [*(i.id for i in theirs), *(s.id for s in strangers)]:
        assert not re.search(rf"\b{number}\b", caplog.text)
    for stranger in strangers:
        assert stranger.name not in caplog.text
    # The area moved on past them: the next pass does not read them again.
    newest = max(i.updated_at for i in [mine, *theirs])
    assert SeeClickFixAreaFeed.objects.get().cursor == newest + timedelta(seconds=1)


def test_an_issue_outside_the_area_arrives_through_the_per_user_sync(world):
    rita, account = world.linked_resident("rita")
    at_home = world.report(rita, summary="Pothole in New Haven")
    away = world.report(rita, HARTFORD, summary="Pothole in Hartford")

    feed.run_feed()
    assert stored_ids() == {at_home.id}
    through_feed = SeeClickFixIssue.objects.values().get(scf_id=at_home.id)

    result = sync.sync_now(account)

    assert result.issues == 2
    assert stored_ids() == {at_home.id, away.id}
    assert SeeClickFixIssue.objects.get(scf_id=away.id).account == account
    # The same write path: the per-user sync rewrote the feed's row with the same values.
    through_sync = SeeClickFixIssue.objects.values().get(scf_id=at_home.id)
    for column in ("id", "first_synced_at", "last_synced_at"):
        through_feed.pop(column)
        through_sync.pop(column)
    assert through_sync == through_feed
    assert_no_duplicates()


def test_a_crash_mid_page_then_a_rerun_leaves_no_duplicate_and_no_gap(world):
    world.emulator.configure(anonymous_per_page=100)  # pages of 100, as the test counts
    linked = [world.linked_resident(f"linked{n}")[0] for n in range(2)]
    strangers = [world.resident(f"stranger{n}") for n in range(3)]
    issues = world.many_changes([*linked, *strangers], 250)
    expected = {i.id for i in issues if i.reporter_id in {u.id for u in linked}}
    real_upsert = feed.upsert_issue_rows
    calls = []

    def write_then_crash(pairs, now):
        calls.append(1)
        written = real_upsert(pairs, now)
        if len(calls) == 2:
            raise RuntimeError("worker lost mid-page")  # the page's transaction never commits
        return written

    with (
        mock.patch.object(feed, "upsert_issue_rows", write_then_crash),
        pytest.raises(RuntimeError),
    ):
        feed.run_feed()

    first_page = issues[:100]
    assert stored_ids() == {i.id for i in first_page} & expected
    assert SeeClickFixAreaFeed.objects.get().cursor == first_page[-1].updated_at
    assert SeeClickFixAreaFeed.objects.get().last_pass_at is None  # not a complete pass

    result = feed.run_feed()["areas"][0]

    assert stored_ids() == expected
    assert_no_duplicates()
    assert result["changes"] == 150  # from the committed cursor on; page 1 is not read again
    assert SeeClickFixAreaFeed.objects.get().cursor == issues[-1].updated_at + timedelta(seconds=1)


def test_a_server_error_mid_walk_keeps_committed_pages_and_the_task_retries(world):
    world.emulator.configure(anonymous_per_page=100)  # pages of 100, as the test counts
    linked = [world.linked_resident("linked")[0]]
    issues = world.many_changes([*linked, world.resident("stranger")], 250)
    real_store = feed._store_page

    def store_then_fail_the_next_request(state, page, now):
        stored = real_store(state, page, now)
        if page.number == 1 and not world.emulator.faults.list():
            world.emulator.faults.add(rf"^{LISTING}$", "error", status=503, count=1)
        return stored

    with (
        mock.patch.object(feed, "_store_page", store_then_fail_the_next_request),
        pytest.raises(TransientError),
    ):
        feed.run_feed()

    state = SeeClickFixAreaFeed.objects.get()
    assert state.cursor == issues[99].updated_at
    assert state.last_error.startswith("TransientError: SeeClickFix failed with 503")

    # The task (its retry policy: a 503 is retried) continues from the committed cursor.
    world.emulator.faults.add(rf"^{LISTING}$", "error", status=503, count=1)
    since = world.last_seq()
    assert tasks.sync_area_feed.apply().get()["areas"][0]["changes"] == 150
    assert [r.status for r in world.listing_requests(since)][:2] == [503, 200]

    assert stored_ids() == {i.id for i in issues if i.reporter_id == linked[0].id}
    assert_no_duplicates()
    assert SeeClickFixAreaFeed.objects.get().last_error == ""


def test_the_cursor_survives_a_restart(world):
    rita, _account = world.linked_resident("rita")
    first = world.report(rita, summary="Before the restart")
    feed.run_feed()
    cursor = SeeClickFixAreaFeed.objects.get().cursor

    # A restart: no ETags, no locks, no budget state, new clients; only the database remains.
    caches["default"].clear()
    later = world.report(rita, summary="After the restart", updated_at=timezone.now())
    since = world.last_seq()
    result = feed.run_feed()["areas"][0]

    (request,) = world.listing_requests(since)
    assert request.query["updated_at_after"] == format_timestamp(cursor)
    assert result["changes"] == 1
    assert stored_ids() == {first.id, later.id}


def test_the_service_account_reads_the_feed_when_configured(world):
    official = world.emulator.user("official")
    world.configure(SERVICE_ACCOUNT={"TOKEN": world.emulator.personal_access_token(official)})
    rita, _account = world.linked_resident("rita")
    world.report(rita)
    since = world.last_seq()

    feed.run_feed()

    (request,) = world.listing_requests(since)
    assert (request.auth, request.user_id) == ("bearer", official.id)
    assert SeeClickFixIssue.objects.count() == 1


@pytest.mark.parametrize(("service_account", "requests"), [(False, 8), (True, 2)])
def test_150_changes_cost_pages_of_20_anonymously_and_of_100_as_the_service_account(
    world, service_account, requests
):
    # SeeClickFix serves anonymous listings 20 per page whatever per_page asks; a token's
    # listings 100: the service account is what makes a busy area cheap.
    if service_account:
        official = world.emulator.user("official")
        world.configure(SERVICE_ACCOUNT={"TOKEN": world.emulator.personal_access_token(official)})
    rita, _account = world.linked_resident("rita")
    changed = world.many_changes([rita, world.resident("stranger")], 150)
    since = world.last_seq()

    result = feed.run_feed()["areas"][0]

    sent = world.listing_requests(since)
    assert (result["changes"], result["requests"], len(sent)) == (150, requests, requests)
    assert {r.query["per_page"] for r in sent} == {"100"}
    assert stored_ids() == {i.id for i in changed if i.reporter_id == rita.id}


def test_a_bounding_box_area_and_several_areas(world):
    world.configure(
        AREAS=[NEW_HAVEN_AREA, {"NAME": "hartford", "BBOX": [41.7237, -72.718, 41.8074, -72.6415]}]
    )
    rita, _account = world.linked_resident("rita")
    here, there = world.report(rita), world.report(rita, HARTFORD)
    outside = world.report(rita, (40.7, -74.0))  # New York: in no area
    since = world.last_seq()

    result = feed.run_feed()

    assert [a["stored"] for a in result["areas"]] == [1, 1]
    assert stored_ids() == {here.id, there.id}
    assert outside.id not in stored_ids()
    box = world.listing_requests(since)[1].query
    assert (box["min_lat"], box["max_lng"]) == ("41.7237", "-72.6415")
    assert set(SeeClickFixAreaFeed.objects.values_list("name", flat=True)) == {
        "new-haven",
        "hartford",
    }


def test_new_filters_restart_the_area(world):
    rita, _account = world.linked_resident("rita")
    world.report(rita)
    feed.run_feed()
    old = SeeClickFixAreaFeed.objects.get()
    world.configure(AREAS=[{"NAME": "new-haven", "BBOX": [41.2466, -72.9975, 41.3504, -72.86]}])

    restarted = feed.run_feed()["areas"][0]

    new = SeeClickFixAreaFeed.objects.get()
    assert new.definition.startswith("max_lat=41.3504")
    # Read from FEED_BACKFILL before now again, not from the old filters' cursor.
    assert restarted["changes"] == 1
    assert new.cursor == old.cursor
    assert new.last_pass_at > old.last_pass_at


def test_a_failing_area_does_not_stop_the_others(world):
    world.configure(AREAS=[NEW_HAVEN_AREA, {"NAME": "hartford", "PLACE_URL": "hartford"}])
    rita, _account = world.linked_resident("rita")
    there = world.report(rita, HARTFORD)
    world.emulator.faults.add(rf"^{LISTING}$", "error", status=500, count=1)

    with pytest.raises(TransientError):
        feed.run_feed()

    assert SeeClickFixAreaFeed.objects.get(name="new-haven").last_error.startswith("TransientError")
    assert SeeClickFixAreaFeed.objects.get(name="hartford").last_pass_at is not None
    assert stored_ids() == {there.id}


def test_a_rate_limit_stops_the_pass(world):
    world.configure(AREAS=[NEW_HAVEN_AREA, {"NAME": "hartford", "PLACE_URL": "hartford"}])
    world.emulator.faults.add(rf"^{LISTING}$", "rate_limit", retry_after=1, count=1)
    since = world.last_seq()

    with pytest.raises(RateLimited):
        feed.run_feed()

    assert len(world.listing_requests(since)) == 1
    assert not SeeClickFixAreaFeed.objects.filter(name="hartford").exists()


def test_a_locked_area_is_left_to_the_pass_holding_it(world):
    lock = locks.AreaLock("new-haven", owner="another-pass")
    assert lock.acquire()
    since = world.last_seq()

    assert feed.run_feed() == {"areas": [{"area": "new-haven", "outcome": "locked"}]}
    assert world.listing_requests(since) == []

    lock.release()
    assert feed.run_feed()["areas"][0]["outcome"] == "unchanged"


def test_no_areas_no_requests(world):
    world.configure(AREAS=[])
    since = world.last_seq()
    assert tasks.sync_area_feed.apply().get() == {"areas": []}
    assert world.emulator.requests(since=since) == []
