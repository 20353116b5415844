"""Defaults for the client: from ``SEECLICKFIX`` when Django is configured, else built-ins.

The client must work in a plain script without Django settings (it imports no models). Then the
documented defaults of ``conf.SETTINGS`` apply and the rate budget lives in this process only.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings

from .. import __version__
from ..conf import SETTINGS, app_settings
from .ratelimit import MemoryStore, RateBudget

PROJECT_URL = "https://github.com/django-seeclickfix/django-seeclickfix"
DEFAULT_USER_AGENT = f"django-seeclickfix/{__version__} (+{PROJECT_URL})"

_local_budget: Any = None
_local_lock = threading.Lock()


def django_configured() -> bool:
    return bool(settings.configured)


def setting(name: str) -> Any:
    """``app_settings.<name>`` when Django is configured, else the documented default."""
    if django_configured():
        return getattr(app_settings, name)
    return SETTINGS[name].default


def user_agent() -> str:
    configured = setting("USER_AGENT")
    return str(configured) if configured else DEFAULT_USER_AGENT


def default_budget() -> Any:
    """The shared budget from settings, or one process-wide in-memory budget without Django."""
    if django_configured():
        return RateBudget.from_settings()
    global _local_budget
    with _local_lock:
        if _local_budget is None:
            _local_budget = RateBudget.from_values(
                lambda name: SETTINGS[name].default, store=MemoryStore()
            )
        return _local_budget
