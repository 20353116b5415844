"""The fan-out and the feed: per-user syncs slow down only while the feed is fresh."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from django_seeclickfix import feed, tasks
from django_seeclickfix.models import SeeClickFixAccount, SeeClickFixAreaFeed

from .conftest import NEW_HAVEN_AREA

pytestmark = pytest.mark.django_db

HARTFORD_AREA = {"NAME": "hartford", "PLACE_URL": "hartford"}


@pytest.fixture
def accounts(world):
    """Three accounts per age of their last per-user sync."""
    now = timezone.now()
    ages = {"never": None, "1h": timedelta(hours=1), "7h": timedelta(hours=7)}
    made: dict[str, list[int]] = {}
    for label, age in ages.items():
        for scf_user in world.emulator.generate_users(3, prefix=f"age{label}"):
            account = world.link(scf_user)
            if age is not None:
                SeeClickFixAccount.objects.filter(pk=account.pk).update(last_synced_at=now - age)
            made.setdefault(label, []).append(account.pk)
    return made


def fresh_pass(area: dict, ago: timedelta = timedelta(0)) -> SeeClickFixAreaFeed:
    """The area's row as after a complete pass that started ``ago``."""
    state = feed.area_state(feed.Area.from_setting(area), timezone.now())
    SeeClickFixAreaFeed.objects.filter(pk=state.pk).update(last_pass_at=timezone.now() - ago)
    return state


def queued_ids() -> set[int]:
    return set(
        SeeClickFixAccount.objects.filter(sync_queued_at__isnull=False).values_list("pk", flat=True)
    )


def test_without_areas_the_pass_is_unchanged(world, accounts):
    world.configure(AREAS=[])

    assert tasks.sync_all_accounts.apply().get() == {"queued": 9}
    assert not feed.coverage().configured


def test_a_feed_that_never_ran_covers_nobody(world, accounts):
    assert tasks.sync_all_accounts.apply().get() == {
        "queued": 9,
        "covered_by_feed": False,
        "deferred_by_feed": 0,
    }


def test_a_fresh_feed_lets_recently_synced_accounts_wait(world, accounts):
    fresh_pass(NEW_HAVEN_AREA, ago=timedelta(minutes=10))

    result = tasks.sync_all_accounts.apply().get()

    # Never synced: the first per-user sync brings the history. 7 h ago: past
    # SYNC_INTERVAL_WITH_FEED (6 h), for what the feed cannot see. 1 h ago: the feed has it.
    assert result == {"queued": 6, "covered_by_feed": True, "deferred_by_feed": 3}
    assert queued_ids() == {*accounts["never"], *accounts["7h"]}


def test_a_stale_feed_hands_the_accounts_back_to_the_per_user_cadence(world, accounts):
    fresh_pass(NEW_HAVEN_AREA, ago=timedelta(seconds=901))  # SYNC_INTERVAL is 900

    assert tasks.sync_all_accounts.apply().get()["queued"] == 9


def test_every_area_must_be_fresh(world, accounts):
    world.configure(AREAS=[NEW_HAVEN_AREA, HARTFORD_AREA])
    fresh_pass(NEW_HAVEN_AREA)
    assert not feed.feed_is_fresh()

    fresh_pass(HARTFORD_AREA)
    assert feed.feed_is_fresh()


def test_a_pass_under_other_filters_does_not_count(world, accounts):
    fresh_pass({"NAME": "new-haven", "PLACE_URL": "old-haven"})

    assert not feed.feed_is_fresh()
    assert tasks.sync_all_accounts.apply().get()["covered_by_feed"] is False


def test_a_pass_of_another_environment_does_not_count(world, accounts):
    fresh_pass(NEW_HAVEN_AREA)
    SeeClickFixAreaFeed.objects.update(environment="production")

    assert not feed.feed_is_fresh()


def test_the_intervals_are_settings(world, accounts):
    fresh_pass(NEW_HAVEN_AREA)
    world.configure(SYNC_INTERVAL_WITH_FEED=8 * 3600)

    assert feed.coverage().interval == 8 * 3600
    assert tasks.sync_all_accounts.apply().get()["queued"] == 3  # only the never-synced


def test_a_real_feed_pass_makes_the_fan_out_skip_covered_accounts(world, accounts):
    rita = world.resident("rita")
    world.link(rita)
    world.report(rita)

    assert feed.run_feed()["areas"][0]["stored"] == 1
    coverage = feed.coverage()

    assert coverage.covered
    assert coverage.deferred == 3
