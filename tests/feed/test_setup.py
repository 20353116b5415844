"""Settings, the beat entry and the admin of the area feed."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from django_seeclickfix import feed
from django_seeclickfix.beat import SYNC_AREA_FEED, beat_schedule
from django_seeclickfix.conf import app_settings
from django_seeclickfix.models import SeeClickFixAreaFeed

BOX = [41.2466, -72.9975, 41.3504, -72.86]


@pytest.mark.parametrize(
    ("areas", "expected"),
    [
        ([{"NAME": "", "PLACE_URL": "x"}], r"NAME: at most 100 characters"),
        ([{"NAME": "x" * 101, "PLACE_URL": "x"}], r"NAME: at most 100 characters"),
        (["new-haven"], r"got 'new-haven'"),
        ([{"NAME": "x", "PLACE_URL": "x", "ZOOM": 3}], r"unknown keys \['ZOOM'\]"),
        ([{"NAME": "x", "PLACE_URL": 3039}], r"has PLACE_URL 3039"),
        ([{"NAME": "x", "PLACE_URL": "p" * 201}], r"has PLACE_URL"),
        ([{"NAME": "x", "BBOX": [41.4, -73.0, 41.2, -72.8]}], r"minimum before maximum"),
        ([{"NAME": "x", "BBOX": [41.2, -73.0, 91, -72.8]}], r"within ±90"),
        ([{"NAME": "x", "BBOX": [41.2, -73.0, 41.4, True]}], r"has BBOX"),
        ([{"NAME": "x", "PLACE_URL": "a", "BBOX": BOX}], r"needs exactly one of them"),
    ],
)
def test_bad_areas_say_what_to_fix(areas, expected):
    with (
        override_settings(SEECLICKFIX={"AREAS": areas}),
        pytest.raises(ImproperlyConfigured, match=expected),
    ):
        _ = app_settings.AREAS


@pytest.mark.parametrize("key", ["FEED_INTERVAL", "FEED_BACKFILL", "SYNC_INTERVAL_WITH_FEED"])
def test_feed_intervals_are_positive_integers(key):
    with (
        override_settings(SEECLICKFIX={key: 0}),
        pytest.raises(ImproperlyConfigured, match=rf'SEECLICKFIX\["{key}"\] must be a positive'),
    ):
        getattr(app_settings, key)


def test_areas_become_issue_filters():
    with override_settings(
        SEECLICKFIX={
            "AREAS": [
                {"NAME": "city", "PLACE_URL": " new-haven "},
                {"NAME": "box", "BBOX": [41, -73, 41.5, -72.5]},
            ]
        }
    ):
        city, box = feed.configured_areas()
    assert city.filters == {"place_url": "new-haven"}
    assert box.definition == "max_lat=41.5&max_lng=-72.5&min_lat=41.0&min_lng=-73.0"


def test_beat_runs_the_feed_only_with_areas():
    assert not any(e["task"] == SYNC_AREA_FEED for e in beat_schedule({}).values())

    schedule = beat_schedule(
        {"AREAS": [{"NAME": "city", "PLACE_URL": "new-haven"}], "FEED_INTERVAL": 120}
    )

    assert schedule["seeclickfix-sync-area-feed"] == {
        "task": "django_seeclickfix.tasks.sync_area_feed",
        "schedule": 120.0,
        "options": {"expires": 120.0},
    }


def test_beat_reads_the_configured_settings():
    with override_settings(SEECLICKFIX={"AREAS": [{"NAME": "box", "BBOX": BOX}]}):
        entry = beat_schedule()["seeclickfix-sync-area-feed"]
    assert entry["schedule"] == 300.0  # FEED_INTERVAL's default


@pytest.mark.django_db
def test_the_admin_shows_the_cursor_read_only(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(admin)
    now = timezone.now()
    state = SeeClickFixAreaFeed.objects.create(
        environment="production",
        name="new-haven",
        definition="place_url=new-haven",
        cursor=now,
        last_pass_at=now,
    )
    listing = client.get(reverse("admin:seeclickfix_seeclickfixareafeed_changelist"))

    assert listing.status_code == 200
    assert "place_url=new-haven" in listing.content.decode()
    assert client.get(reverse("admin:seeclickfix_seeclickfixareafeed_add")).status_code == 403
    change_url = reverse("admin:seeclickfix_seeclickfixareafeed_change", args=[state.pk])
    assert client.get(change_url).status_code == 200  # viewable
    assert client.post(change_url, {"cursor": "2000-01-01 00:00:00"}).status_code == 403
    state.refresh_from_db()
    assert state.cursor == now
    assert repr(state).startswith("<SeeClickFixAreaFeed pk=")
    assert str(state) == "new-haven (production)"
