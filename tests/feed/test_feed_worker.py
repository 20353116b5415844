"""The feed task in a real Celery worker (Redis broker and cache, PostgreSQL): a pool process
killed mid-pass, and a worker restarted between passes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from django_seeclickfix import tasks
from django_seeclickfix.client.parsing import format_timestamp
from django_seeclickfix.models import SeeClickFixAreaFeed, SeeClickFixIssue
from tests.jobs.conftest import assert_no_duplicates
from tests.workers import wait_for

from .conftest import LISTING

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_pool_process_killed_mid_pass_resumes_without_duplicate_or_gap(world, scf_worker_factory):
    linked = [world.linked_resident(f"linked{n}")[0] for n in range(2)]
    strangers = [world.resident(f"stranger{n}") for n in range(2)]
    issues = world.many_changes([*linked, *strangers], 250)
    base = issues[0].updated_at
    expected = {i.id for i in issues if i.reporter_id in {u.id for u in linked}}
    world.emulator.faults.add(rf"^{LISTING}$", "latency", delay=1.5)
    worker = scf_worker_factory(concurrency=1)

    tasks.sync_area_feed.delay()
    wait_for(
        lambda: SeeClickFixAreaFeed.objects.filter(cursor__gte=base).exists(),
        timeout=20,
        what="the first page to be committed",
        worker=worker,
    )
    committed = SeeClickFixAreaFeed.objects.get().cursor
    assert 0 < SeeClickFixIssue.objects.count() < len(expected)
    requests_before = len(world.listing_requests())
    worker.kill_child()
    world.emulator.faults.clear()

    wait_for(
        lambda: SeeClickFixAreaFeed.objects.filter(last_pass_at__isnull=False).exists(),
        timeout=30,
        what="the re-delivered pass to finish",
        worker=worker,
    )
    assert set(SeeClickFixIssue.objects.values_list("scf_id", flat=True)) == expected
    assert_no_duplicates()
    assert "WorkerLostError" in worker.log()
    # The re-delivered pass went on from the committed cursor, not from the start.
    resumed = world.listing_requests()[requests_before:]
    assert resumed
    assert all(r.query["updated_at_after"] >= format_timestamp(committed) for r in resumed)
    assert SeeClickFixAreaFeed.objects.get().cursor == issues[-1].updated_at + timedelta(seconds=1)


def test_the_cursor_survives_a_worker_restart(world, scf_worker_factory):
    rita, _account = world.linked_resident("rita")
    world.report(rita, summary="Before")
    worker = scf_worker_factory(concurrency=1)
    first = tasks.sync_area_feed.delay().get(timeout=20)
    assert first["areas"][0]["stored"] == 1
    cursor = SeeClickFixAreaFeed.objects.get().cursor

    worker.restart(kill=False)
    later = world.report(rita, summary="After", updated_at=timezone.now())
    since = world.last_seq()
    second = tasks.sync_area_feed.delay().get(timeout=20)

    (request,) = world.listing_requests(since)
    assert request.query["updated_at_after"] == format_timestamp(cursor)
    assert second["areas"][0]["changes"] == 1
    assert SeeClickFixIssue.objects.get(scf_id=later.id).summary == "After"
