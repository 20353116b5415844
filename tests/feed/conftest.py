"""Fixtures for the area feed: the emulator with AREAS set, and linked emulator users.

The demo seed's issues were all last updated in 2025; the feed starts ``FEED_BACKFILL`` (a day)
before its first pass, so a test sees exactly the changes it makes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core.cache import caches
from django.utils import timezone

from django_seeclickfix.models import SeeClickFixAccount
from tests.celery_app import app as celery_app
from tests.jobs.conftest import link_emulator_user

assert celery_app.main == "scf_tests"  # tasks are sent through its memory:// broker

# Inside New Haven's bounding box (place "new-haven"), and inside Hartford's.
NEW_HAVEN = (41.30, -72.93)
HARTFORD = (41.76, -72.68)
LISTING = "/api/v2/issues"
NEW_HAVEN_AREA = {"NAME": "new-haven", "PLACE_URL": "new-haven"}


@dataclass
class FeedWorld:
    """The emulator and helpers to make SeeClickFix users, links and changes."""

    emulator: Any
    settings: Any
    django_user_model: Any

    def configure(self, **seeclickfix: Any) -> None:
        self.settings.SEECLICKFIX = {**self.settings.SEECLICKFIX, **seeclickfix}

    def resident(self, prefix: str = "resident") -> Any:
        return self.emulator.generate_users(1, prefix=prefix)[0]

    def link(self, scf_user: Any, **fields: Any) -> SeeClickFixAccount:
        user = fields.pop("user", None) or self.django_user_model.objects.create_user(
            f"site-{scf_user.id}"
        )
        return link_emulator_user(self.emulator, scf_user, user, **fields)

    def linked_resident(self, prefix: str = "linked", **fields: Any) -> tuple[Any, Any]:
        scf_user = self.resident(prefix)
        return scf_user, self.link(scf_user, **fields)

    def report(
        self,
        scf_user: Any,
        where: tuple[float, float] = NEW_HAVEN,
        *,
        updated_at: datetime | None = None,
        **fields: Any,
    ) -> Any:
        """An issue created long ago, changed at ``updated_at`` (default: a minute ago; whole
        seconds, as SeeClickFix shows them)."""
        lat, lng = where
        fields.setdefault("created_at", timezone.now() - timedelta(days=90))
        when = (updated_at or timezone.now() - timedelta(minutes=1)).replace(microsecond=0)
        return self.emulator.add_issue(scf_user, lat=lat, lng=lng, updated_at=when, **fields)

    def many_changes(self, reporters: list[Any], count: int) -> list[Any]:
        """``count`` changes in New Haven, one a second two hours ago, by turns of
        ``reporters``."""
        base = timezone.now() - timedelta(hours=2)
        return [
            self.report(reporters[n % len(reporters)], updated_at=base + timedelta(seconds=n))
            for n in range(count)
        ]

    def listing_requests(self, since: int = 0) -> list[Any]:
        return [r for r in self.emulator.requests(LISTING) if r.seq > since and r.path == LISTING]

    def last_seq(self) -> int:
        log = self.emulator.requests()
        return log[-1].seq if log else 0


@pytest.fixture
def world(scf_emulator_settings, settings, django_user_model):
    settings.SEECLICKFIX = {
        **settings.SEECLICKFIX,
        "RATE_LIMIT_REQUESTS": 100000,
        "RATE_LIMIT_PERIOD": 1,
        "AREAS": [NEW_HAVEN_AREA],
    }
    caches["default"].clear()  # ETags, locks and the budget of earlier tests
    yield FeedWorld(scf_emulator_settings, settings, django_user_model)
    caches["default"].clear()
