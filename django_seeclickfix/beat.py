"""The periodic tasks for ``celery beat``.

In ``settings.py``, after ``SEECLICKFIX`` (Django is not set up yet there, so pass the dict)::

    from django_seeclickfix.beat import beat_schedule

    CELERY_BEAT_SCHEDULE = {**beat_schedule(SEECLICKFIX), **your_own_entries}

or in the module that creates the Celery app, once Django is configured::

    app.conf.beat_schedule = beat_schedule()

Three entries: ``sync_all_accounts`` every ``SYNC_PASS_INTERVAL`` seconds (a pass sizes its
batch to the budget until the next one, so keep the two equal), ``refresh_expiring_tokens``
every ``TOKEN_REFRESH_MARGIN / 2`` seconds (so every token gets at least one chance inside its
margin) and ``sweep_outbox`` every ``OUTBOX_SWEEP_INTERVAL`` seconds (owed posts and revocations
whose message a broker lost). With ``AREAS`` set, a fourth: ``sync_area_feed`` every
``FEED_INTERVAL`` seconds. Each message expires after one interval: a pass that waited that long
in a backed-up queue would only repeat the next one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings

from .conf import SETTINGS, app_settings

SYNC_ALL = "django_seeclickfix.tasks.sync_all_accounts"
REFRESH_TOKENS = "django_seeclickfix.tasks.refresh_expiring_tokens"
SYNC_AREA_FEED = "django_seeclickfix.tasks.sync_area_feed"
SWEEP_OUTBOX = "django_seeclickfix.tasks.sweep_outbox"


def _value(name: str, config: Mapping[str, Any] | None) -> Any:
    spec = SETTINGS[name]
    if config is not None:
        return spec.validate(name, config.get(name, spec.default))
    if settings.configured:
        return getattr(app_settings, name)
    return spec.validate(name, spec.default)


def _entry(task: str, every: float) -> dict[str, Any]:
    # The message expires after one interval (see the module docstring).
    return {"task": task, "schedule": every, "options": {"expires": every}}


def beat_schedule(
    config: Mapping[str, Any] | None = None, *, prefix: str = "seeclickfix"
) -> dict[str, dict[str, Any]]:
    """``CELERY_BEAT_SCHEDULE`` entries for the library's periodic tasks.

    ``config`` is your ``SEECLICKFIX`` dict (needed when called from ``settings.py``); without it
    the configured settings are read, or the documented defaults before Django is configured.
    """
    sync_every = float(_value("SYNC_PASS_INTERVAL", config))
    refresh_every = max(1.0, float(_value("TOKEN_REFRESH_MARGIN", config)) / 2)
    schedule = {
        f"{prefix}-sync-all-accounts": _entry(SYNC_ALL, sync_every),
        f"{prefix}-refresh-expiring-tokens": _entry(REFRESH_TOKENS, refresh_every),
        f"{prefix}-sweep-outbox": _entry(
            SWEEP_OUTBOX, float(_value("OUTBOX_SWEEP_INTERVAL", config))
        ),
    }
    if _value("AREAS", config):
        schedule[f"{prefix}-sync-area-feed"] = _entry(
            SYNC_AREA_FEED, float(_value("FEED_INTERVAL", config))
        )
    return schedule


__all__ = ["REFRESH_TOKENS", "SWEEP_OUTBOX", "SYNC_ALL", "SYNC_AREA_FEED", "beat_schedule"]
