"""The fan-out and the feed: per-user syncs slow down only while the feed is fresh.

While the feed covers the accounts, a sync that ends sets the account's next one
``SYNC_INTERVAL_WITH_FEED`` ahead instead of ``SYNC_INTERVAL`` (``scheduling.sync_ended``).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from django_seeclickfix import feed, sync, tasks
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


def next_due_in(account_pk: int) -> timedelta:
    return SeeClickFixAccount.objects.get(pk=account_pk).next_sync_at - timezone.now()


def test_without_areas_the_pass_says_nothing_of_the_feed(world, accounts):
    world.configure(AREAS=[])

    result = tasks.sync_all_accounts.apply().get()

    assert result["queued"] == 9
    assert "covered_by_feed" not in result
    assert not feed.coverage().configured


def test_a_feed_that_never_ran_covers_nobody(world, accounts):
    result = tasks.sync_all_accounts.apply().get()

    assert result["queued"] == 9
    assert result["covered_by_feed"] is False
    assert feed.coverage().interval == 900


def test_a_sync_under_a_fresh_feed_is_next_due_after_the_longer_interval(world, accounts):
    fresh_pass(NEW_HAVEN_AREA, ago=timedelta(minutes=10))
    account = accounts["1h"][0]

    sync.run_sync(account)

    # SYNC_INTERVAL_WITH_FEED is 6 h; nothing changed, so the interval is not halved.
    assert timedelta(hours=5, minutes=59) < next_due_in(account) <= timedelta(hours=6)
    assert tasks.sync_all_accounts.apply().get()["covered_by_feed"] is True
    assert account not in queued_ids()


def test_a_sync_under_a_stale_feed_keeps_the_per_user_cadence(world, accounts):
    fresh_pass(NEW_HAVEN_AREA, ago=timedelta(seconds=901))  # SYNC_INTERVAL is 900
    account = accounts["7h"][0]

    sync.run_sync(account)

    assert timedelta(minutes=14) < next_due_in(account) <= timedelta(minutes=15)


def test_a_sync_that_brought_changes_is_due_twice_as_soon(world, accounts):
    fresh_pass(NEW_HAVEN_AREA)
    scf_user, account = world.linked_resident("busy")
    world.report(scf_user)
    assert sync.run_sync(account.pk)["issues"] == 1  # the first sync: the whole history
    assert timedelta(hours=5, minutes=59) < next_due_in(account.pk) <= timedelta(hours=6)

    world.report(scf_user, updated_at=timezone.now())
    assert sync.run_sync(account.pk)["issues"] == 1

    assert timedelta(hours=2, minutes=59) < next_due_in(account.pk) <= timedelta(hours=3)


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
    account = accounts["never"][0]

    sync.run_sync(account)

    assert feed.coverage().interval == 8 * 3600
    assert timedelta(hours=7, minutes=59) < next_due_in(account) <= timedelta(hours=8)


def test_a_real_feed_pass_makes_the_accounts_covered(world, accounts):
    rita = world.resident("rita")
    world.link(rita)
    world.report(rita)

    assert feed.run_feed()["areas"][0]["stored"] == 1
    coverage = feed.coverage()

    assert coverage.covered
    assert coverage.interval == 6 * 3600
